"""The content hash of a file: the sha256 of manifests, A1111's short hashes and the cache's keys."""

from __future__ import annotations

import hashlib
import os

BLOCK_BYTES = 1 << 20  # read a file in blocks of this size, so a large one is never held in memory


def file_sha256(path: str | os.PathLike) -> str:
    """The hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(BLOCK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()
