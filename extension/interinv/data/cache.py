"""Derived files keyed by a content hash of their inputs and settings: a re-run redoes only what changed."""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from pathlib import Path
from typing import Callable, Iterable

from ..formats.hashes import file_sha256


KEY_LENGTH = 12  # hex digits of a key in file names: collisions stay negligible for any exemplar set


def content_key(*parts: object) -> str:
    """A short hex digest of parts: bytes as they are, Paths by their file's contents, the rest as JSON."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):
            part = bytes.fromhex(file_sha256(part))
        data = part if isinstance(part, bytes) else json.dumps(part, sort_keys=True, default=str).encode()
        digest.update(len(data).to_bytes(8, "little") + data)
    return digest.hexdigest()[:KEY_LENGTH]


def file_identity(path: str | os.PathLike) -> list:
    """Where, how big and how recent a file is: a cheap stand-in for hashing large weight files."""
    stat = Path(path).stat()
    return [str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns]


def cached_file(path: Path, make: Callable[[Path], object], made: Counter | None = None, kind: str = "") -> Path:
    """path when it exists already; else make(path) writes it (atomically) and made[kind] counts it."""
    if not path.is_file():
        make(path)
        if made is not None:
            made[kind] += 1
    return path


def prune(folder: Path, keep: Iterable[Path], pattern: str = "*") -> None:
    """Delete files in folder that match pattern and are not kept: outputs of settings no longer in use."""
    kept = {Path(p).resolve() for p in keep}
    for path in folder.glob(pattern) if folder.is_dir() else ():
        if path.is_file() and path.resolve() not in kept:
            path.unlink()
