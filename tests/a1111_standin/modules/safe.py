"""modules/safe.py: the WebUI replaces `torch.load` with `load`, which checks a checkpoint's zip before unpickling.

Kept: the check knows only the zip entries older torch wrote (data.pkl, data/<n>, version, byteorder,
.data/serialization_id); on anything else (newer torch adds .format_version and .storage_alignment) it logs and
returns None instead of raising. `unsafe_torch_load` is the original. The unpickler's class allow-list is left out.
`boot` does not install it: tests that need it monkeypatch `torch.load = safe.load`.
"""

import zipfile

import torch

unsafe_torch_load = torch.load
KNOWN_ENTRIES = ("data.pkl", "version", "byteorder", ".data/serialization_id")


def _known(name: str) -> bool:
    inner = name.split("/", 1)[1] if "/" in name else ""
    return inner in KNOWN_ENTRIES or (inner.startswith("data/") and inner[5:].isdigit())


def load(filename, *args, **kwargs):
    try:
        with zipfile.ZipFile(filename) as archive:
            unknown = [n for n in archive.namelist() if not _known(n)]
    except zipfile.BadZipFile:
        unknown = []  # the legacy format: the real check unpickles it with its allow-list
    if unknown:
        print(f"Error verifying pickled file from {filename}: bad file inside it: {unknown[0]}")
        return None
    return unsafe_torch_load(filename, *args, **kwargs)
