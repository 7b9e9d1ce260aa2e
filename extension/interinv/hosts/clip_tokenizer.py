"""The real CLIP tokenizer, built offline from the BPE vocabulary that open_clip ships."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

from ..atomic import write_text_atomic

_MERGES = 49152 - 256 - 2  # merges used by CLIP's 49,408-token vocabulary


def default_cache_dir() -> Path:
    return Path(os.environ.get("INTERINV_CACHE", Path.home() / ".cache" / "interinv"))


def clip_tokenizer_files(folder: Path | None = None) -> Path:
    """Write CLIP's vocab.json and merges.txt, built from open_clip's bundled BPE file, into `folder`."""
    folder = Path(folder or default_cache_dir() / "clip-tokenizer")
    if (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file():
        return folder
    from open_clip.tokenizer import bytes_to_unicode, default_bpe

    merges = gzip.open(default_bpe()).read().decode("utf-8").split("\n")[1 : _MERGES + 1]
    vocab = list(bytes_to_unicode().values())
    vocab += [token + "</w>" for token in vocab]
    vocab += ["".join(merge.split()) for merge in merges] + ["<|startoftext|>", "<|endoftext|>"]
    write_text_atomic(folder / "merges.txt", "#version: 0.2\n" + "\n".join(merges) + "\n")
    write_text_atomic(folder / "vocab.json", json.dumps({token: i for i, token in enumerate(vocab)}))
    return folder


def clip_tokenizer(folder: Path | None = None):
    """The real CLIP tokenizer, built offline."""
    from transformers import CLIPTokenizer

    folder = clip_tokenizer_files(folder)
    # transformers 5 ignores vocab_file=/merges_file= keywords; the paths must be positional
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), pad_token="<|endoftext|>", model_max_length=77)
