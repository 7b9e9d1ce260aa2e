"""Resumable training state: vectors, optimizer, step and RNG, saved atomically."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from ..atomic import write_atomic
from ..errors import InterInvError


def save_state(path: Path, *, step: int, vectors: dict[str, dict[str, torch.Tensor]], optimizer, generator, scaler, fingerprint: str) -> None:
    """Write everything needed to continue bit-for-bit from `step`."""
    state = {
        "step": step,
        "vectors": {name: {k: v.detach().cpu().clone() for k, v in enc.items()} for name, enc in vectors.items()},
        "optimizer": optimizer.state_dict(),
        "generator": generator.get_state(),
        "scaler": scaler.state_dict() if scaler is not None else {},
        "fingerprint": fingerprint,
    }
    write_atomic(path, lambda tmp: torch.save(state, tmp))


def load_state(path: Path, fingerprint: str) -> dict[str, Any]:
    """A saved state, refused when it was made with other settings or data."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for damaged files
        raise InterInvError(f"The saved training state '{path}' is damaged ({exc}). Delete it to start over.") from exc
    if state.get("fingerprint") != fingerprint:
        raise InterInvError(
            f"The saved state '{path}' was made with other settings or images. Resume with the same options, "
            "or delete the file (or use a new --out folder) to start over."
        )
    return state


def fingerprint(*parts: Any) -> str:
    """A stable digest of what a stage's result depends on (tensors by their exact bytes)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=_encode).encode()).hexdigest()


def _encode(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return hashlib.sha256(value.detach().cpu().float().numpy().tobytes()).hexdigest()
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    return str(value)
