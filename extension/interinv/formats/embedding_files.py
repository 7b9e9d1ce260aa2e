"""Embedding files (one per pseudo-word) in every common layout: read safely, written atomically."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import torch

from ..atomic import write_atomic
from ..errors import InterInvError
from .families import ENCODERS, FAMILY_BY_WIDTH, SDXL_WIDTHS

SD_KEY = "emb_params"  # the kohya/Civitai key of SD1/SD2 files
EMBEDDING_SUFFIXES = (".safetensors", ".pt", ".bin")


@dataclass(frozen=True)
class EmbeddingFile:
    """An embedding read from any of the common layouts, with its tensors by encoder."""

    path: Path
    format: str  # "safetensors-emb_params", "sdxl", "a1111-pt", "diffusers"
    tensors: dict[str, torch.Tensor]  # "clip_l"/"clip_g" for SDXL, else the single key -> [n, D]
    metadata: dict[str, str]

    @property
    def vectors(self) -> dict[str, torch.Tensor]:
        return self.tensors

    @property
    def num_vectors(self) -> int:
        return next(iter(self.tensors.values())).shape[0]

    @property
    def widths(self) -> dict[str, int]:
        return {key: t.shape[-1] for key, t in self.tensors.items()}

    def for_model(self, family: str, embedding_dims: Mapping[str, int]) -> dict[str, torch.Tensor]:
        """The tensors keyed by a model's encoders, refused when the widths don't match."""
        keys = ENCODERS[family]
        if family == "sdxl":
            tensors = {k: self.tensors.get(k) for k in keys}
        else:
            tensors = {keys[0]: next(iter(self.tensors.values())) if len(self.tensors) == 1 else None}
        for key, tensor in tensors.items():
            expected = embedding_dims[key]
            if tensor is None or tensor.shape[-1] != expected:
                found = ", ".join(f"{k}: {w}" for k, w in self.widths.items())
                raise InterInvError(
                    f"'{self.path}' has width {found}, but the loaded {family} model expects {key}: {expected}. "
                    "Use an embedding trained for this model family (768 = SD1.x, 1024 = SD2.x, SDXL = clip_l+clip_g)."
                )
        return tensors


def read_embedding(path: str | Path) -> EmbeddingFile:
    """Read an A1111 .pt, a kohya/Civitai or SDXL .safetensors, or a diffusers concept file. Never unpickles."""
    path = Path(path)
    if not path.is_file():
        raise InterInvError(f"Embedding file '{path}' does not exist.")
    if path.suffix.lower() == ".safetensors":
        tensors, metadata = _read_safetensors(path)
    elif path.suffix.lower() in (".pt", ".bin"):
        tensors, metadata = _read_pickle_free(path)
    else:
        raise InterInvError(f"'{path}' is not an embedding file; expected .safetensors, .pt or .bin.")
    return _classify(path, tensors, metadata)


def _read_safetensors(path: Path):
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            return {k: handle.get_tensor(k) for k in handle.keys()}, dict(handle.metadata() or {})
    except (SafetensorError, OSError) as exc:
        raise InterInvError(f"'{path}' is not a valid safetensors file ({exc}).") from exc


def _read_pickle_free(path: Path):
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:  # torch's text advises loading it unsafely: it is not relayed
        raise InterInvError(
            f"'{path}' was refused: it could not be read safely, because it holds objects other than tensors, "
            "numbers and strings, and loading those can run code. Only if you trust where it came from, convert "
            "it to .safetensors (an A1111 embedding: load it once with torch.load and save its "
            "'string_to_param' tensor with safetensors' save_file as 'emb_params'), then use that file."
        ) from exc
    except Exception as exc:  # a damaged or foreign file; torch's own text may hold terminal escapes
        raise InterInvError(
            f"'{path}' could not be read safely: it is not a readable PyTorch embedding ({type(exc).__name__}). "
            "Copy or download it again, or use its .safetensors version."
        ) from exc
    if isinstance(data, torch.Tensor):
        return {"embedding": data}, {}
    if not isinstance(data, dict):
        raise InterInvError(f"'{path}' holds a {type(data).__name__}, not an embedding dictionary.")
    if "string_to_param" in data:
        params = data["string_to_param"]
        meta = {k: str(data[k]) for k in ("name", "step", "sd_checkpoint", "sd_checkpoint_name") if k in data}
        return {"string_to_param": next(iter(params.values()))} if len(params) == 1 else dict(params), meta
    return {k: v for k, v in data.items() if isinstance(v, torch.Tensor)}, {}


def _classify(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> EmbeddingFile:
    tensors = {k: (v.unsqueeze(0) if v.dim() == 1 else v).float() for k, v in tensors.items()}
    if {"clip_l", "clip_g"} <= set(tensors):
        return EmbeddingFile(path, "sdxl", {k: tensors[k] for k in ("clip_l", "clip_g")}, metadata)
    if len(tensors) != 1:
        raise InterInvError(
            f"'{path}' holds {len(tensors)} tensors ({', '.join(tensors)}); an embedding file holds one "
            "(or clip_l + clip_g for SDXL). Split it into one file per trigger word."
        )
    key, tensor = next(iter(tensors.items()))
    if tensor.dim() != 2:
        raise InterInvError(f"'{path}': tensor '{key}' has shape {tuple(tensor.shape)}; expected [vectors, width].")
    kind = {"emb_params": "safetensors-emb_params", "string_to_param": "a1111-pt"}.get(key, "diffusers")
    return EmbeddingFile(path, kind, {key: tensor}, metadata)


def embedding_problems(emb: EmbeddingFile) -> list[str]:
    """What would make the file useless in a WebUI: NaN or all-zero vectors, a width of no model family."""
    problems = []
    for key, tensor in emb.tensors.items():
        nan = torch.isnan(tensor).all(dim=-1)
        zero = (tensor == 0).all(dim=-1)
        for rows, what in ((nan, "all NaN (the training diverged)"), (zero, "all zero (it was never trained)")):
            if rows.any():
                which = "every vector" if rows.all() else f"vector(s) {rows.nonzero().flatten().tolist()}"
                problems.append(f"tensor {key}: {which} {'is' if which == 'every vector' else 'are'} {what}; "
                                "prompts that use this word will break")
    if emb.format == "sdxl":
        if emb.widths != SDXL_WIDTHS:
            problems.append(f"widths {emb.widths} match no model family (SDXL: clip_l 768 + clip_g 1280)")
    elif next(iter(emb.widths.values())) not in FAMILY_BY_WIDTH:
        problems.append(f"width {next(iter(emb.widths.values()))} matches no model family "
                        "(768: SD1.x, 1024: SD2.x, 768 + 1280: SDXL); no WebUI will load this file")
    return problems


# --- writing ---------------------------------------------------------------------------------------
def file_tensors(vectors: Mapping[str, torch.Tensor], family: str) -> dict[str, torch.Tensor]:
    """The tensors of a file: emb_params for SD1/SD2, clip_l + clip_g for SDXL."""
    clean = {k: v.detach().float().cpu().contiguous() for k, v in vectors.items()}
    return clean if family == "sdxl" else {SD_KEY: next(iter(clean.values()))}


def write_embedding(path: Path, vectors: Mapping[str, torch.Tensor], family: str, metadata: Mapping[str, str]) -> Path:
    from safetensors.torch import save_file

    tensors = file_tensors(vectors, family)
    return write_atomic(path, lambda tmp: save_file(tensors, str(tmp), metadata=dict(metadata)))


def write_a1111_pt(path: Path, vectors: Mapping[str, torch.Tensor], family: str, step: int, model_name: str) -> Path:
    """A1111's .pt layout, in torch's legacy (non-zip) format that A1111 1.10's safe unpickler accepts.

    SDXL's is the bare {clip_l, clip_g} dict: A1111 reads an SDXL embedding only from a dict of exactly those
    tensors, and takes string_to_param (one tensor) for SD1/SD2.
    """
    tensors = file_tensors(vectors, family)
    if family == "sdxl":
        return write_atomic(path, lambda tmp: torch.save(tensors, tmp, _use_new_zipfile_serialization=False))
    data = {"string_to_token": {"*": 265}, "string_to_param": {"*": next(iter(tensors.values()))}, "name": path.stem,
            "step": step, "sd_checkpoint": None, "sd_checkpoint_name": model_name}
    return write_atomic(path, lambda tmp: torch.save(data, tmp, _use_new_zipfile_serialization=False))
