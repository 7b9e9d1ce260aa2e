"""An exclusive lock on an output folder, so that two runs never write the same files.

The operating system holds the lock (flock on POSIX, msvcrt on Windows) and drops it when the process
ends, however it ends: a lock left behind by a crash is taken over by the next run. The lock file holds
the PID of its holder, for the message that names it; a clean release removes it.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Callable, Iterator

from ..errors import InterInvError

LOCK_FILE = ".interinv.lock"  # in the output folder; not an embedding suffix, so the WebUI ignores it
_WINDOWS_LOCK_OFFSET = 1 << 20  # msvcrt locks a byte range; one far past the PID keeps the PID readable


def _try_lock(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:
        import msvcrt

        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _holder(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii").strip() or "unknown"
    except (OSError, UnicodeDecodeError):
        return "unknown"


@contextlib.contextmanager
def output_lock(folder: Path, log: Callable[[str], None] = lambda message: None) -> Iterator[Path]:
    """Hold the lock of `folder` for the block; refuse at once, naming the holder's PID, when another run has it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    fd = _locked(path, folder)
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        left = os.read(fd, 64).decode("ascii", "replace").strip()
        if left:
            log(f"took over the lock of '{folder}' left by PID {left}, which is no longer running")
        _write_pid(fd, str(os.getpid()))
        try:
            yield path
        finally:
            with contextlib.suppress(OSError):  # Windows keeps an open file; an empty lock file is a released one
                _write_pid(fd, "")
                path.unlink()
    finally:
        os.close(fd)


def _locked(path: Path, folder: Path) -> int:
    """An open, locked descriptor of the lock file that is still at `path` (a releaser may have unlinked it)."""
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise InterInvError(f"Cannot create the lock file '{path}' ({exc.strerror}). Choose another output "
                                "folder.") from exc
        if not _try_lock(fd):
            os.close(fd)
            raise InterInvError(
                f"Another InterInv run (PID {_holder(path)}) is writing to '{folder}'. Wait for it to finish, "
                "stop it, or choose another output folder."
            )
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)


def _write_pid(fd: int, text: str) -> None:
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, text.encode("ascii"))
    os.fsync(fd)
