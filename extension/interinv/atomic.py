"""Atomic writes: write to a temporary file beside the target, then rename over it."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterator

from .errors import InterInvError

NEARLY_FULL_BYTES = 1 << 20  # a write that fails with less free space than this is taken for a full disk


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto the target on success."""
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise write_error(exc, target.parent) from exc
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes owner-only files; give the usual mode
        os.replace(tmp, target)
    except InterInvError:
        raise
    except Exception as exc:
        # torch.save's zip writer reports a full disk only as "unexpected pos": look at the disk itself too
        if is_disk_full(exc) or _free_bytes(target.parent) < NEARLY_FULL_BYTES:
            raise write_error(exc, target.parent, full=True) from exc
        raise
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def is_disk_full(exc: BaseException) -> bool:
    """True for an out-of-space failure, also from writers that keep only the message (safetensors' Rust core)."""
    if isinstance(exc, OSError) and exc.errno is not None:
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    return os.strerror(errno.ENOSPC) in str(exc) or os.strerror(errno.EDQUOT) in str(exc)


def _free_bytes(folder: Path) -> int:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return NEARLY_FULL_BYTES


def write_error(exc: BaseException, folder: Path, full: bool = False) -> InterInvError:
    """What went wrong writing into folder (`full`: the disk is known to be full), and what to do about it."""
    if full or is_disk_full(exc):
        return InterInvError(
            f"The disk is full: cannot write into '{folder}' ({exc}). Free some space (or choose a folder "
            "on another disk) and run again; a training continues where it stopped with --resume."
        )
    if isinstance(exc, OSError) and exc.errno == errno.EROFS:
        return InterInvError(f"Cannot write into '{folder}': it is on a read-only file system. Choose another folder.")
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return InterInvError(f"Cannot write into '{folder}': {reason}. Choose a folder you can write to, or check its permissions.")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(target: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call write(tmp_path), then move the finished file onto target."""
    with atomic_path(target) as tmp:
        write(tmp)
    return Path(target)


def write_text_atomic(target: str | os.PathLike, text: str) -> Path:
    return write_atomic(target, lambda p: p.write_text(text, encoding="utf-8"))


def write_bytes_atomic(target: str | os.PathLike, data: bytes) -> Path:
    return write_atomic(target, lambda p: p.write_bytes(data))
