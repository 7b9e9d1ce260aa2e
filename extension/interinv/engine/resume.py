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
        "fingerprint": str(fingerprint),
        "settings": dict(getattr(fingerprint, "settings", {})),
    }
    write_atomic(path, lambda tmp: torch.save(state, tmp))


def load_state(path: Path, fingerprint: str) -> dict[str, Any]:
    """A saved state, refused when it was made with other settings or data."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for damaged files
        raise InterInvError(f"The saved training state '{path}' is damaged ({exc}). Delete it to start over.") from exc
    if state.get("fingerprint") != fingerprint:
        changes = _changes(state.get("settings") or {}, getattr(fingerprint, "settings", {}))
        raise InterInvError(
            f"The saved state '{path}' was made with other settings or images"
            + (f": {changes}" if changes else "") + ". Resume with the same options, "
            "or delete the file (or use a new --out folder) to start over."
        )
    return state


class Fingerprint(str):
    """The digest of what a stage's result depends on; `settings` keeps each part readable, to say what changed."""

    settings: dict[str, str]


def fingerprint(**parts: Any) -> Fingerprint:
    """A stable digest of the named parts (tensors by their exact bytes), with the parts themselves."""
    digest = Fingerprint(hashlib.sha256(json.dumps(list(parts.values()), sort_keys=True, default=_encode).encode()).hexdigest())
    digest.settings = _flatten(parts, "")
    return digest


def _flatten(value: Any, prefix: str) -> dict[str, str]:
    """Dotted key -> JSON text of each leaf: {"stage2": {"steps": 8}} -> {"stage2.steps": "8"}."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, dict) and value:
        return {k: v for key, item in value.items() for k, v in _flatten(item, f"{prefix}.{key}" if prefix else str(key)).items()}
    return {prefix: json.dumps(value, sort_keys=True, default=_encode)}


def _changes(saved: dict[str, str], current: dict[str, str], shown: int = 6) -> str:
    """The settings that differ, as 'key (was A, now B)'; empty for a state saved without its settings."""
    if not saved:
        return ""
    keys = [k for k in sorted(set(saved) | set(current)) if saved.get(k) != current.get(k)]
    listed = ", ".join(f"{key} (was {_short(saved.get(key))}, now {_short(current.get(key))})" for key in keys[:shown])
    return listed + (f" and {len(keys) - shown} more" if len(keys) > shown else "")


def _short(text: str | None) -> str:
    if text is None:
        return "(none)"
    return text if len(text) <= 40 else text[:37] + "..."


def _encode(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return hashlib.sha256(value.detach().cpu().float().numpy().tobytes()).hexdigest()
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    return str(value)
