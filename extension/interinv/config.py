"""Every training option, with its documented default, in one place."""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from .errors import InterInvError

STAGE1_TEMPLATES = ("a photo of a {o} {p}", "a {o} {p}", "a picture of a {o} {p}", "a close photo of a {o} {p}")
STAGE2_TEMPLATES = ("a photo of a {o1} {p1} {r} a {o2} {p2}", "a {o1} {p1} {r} a {o2} {p2}")


@dataclass
class PriorConfig:
    enabled: bool = True  # AdaIN onto vocabulary statistics (Eq. 3, 5); False is the ablation
    verbs: str = "swig_verbs"  # vocabulary of the verb prior for P1, P2
    prepositions: str = "prepositions"  # vocabulary of the preposition prior for R ("psg_predicates" also works)
    subwords: str = "single"  # "single": single-token words only; "mean": mean of each word's sub-token rows


@dataclass
class ProbeConfig:
    divisor: int = 32  # probe the attn2 layers whose side is image side / divisor (16x16 at 512 px)
    side: int | None = None  # an explicit side in cells, overriding `divisor`


@dataclass
class StageConfig:
    steps: int = 1000  # optimizer steps
    lr: float = 5e-3  # Adam learning rate (weight decay is 0: AdaIN makes the raw scale irrelevant)
    batch_size: int = 8  # samples per step
    timesteps: str = "uniform"  # "uniform" or "importance" (p(t) ∝ 1 − α·cos(πt/T))
    importance_alpha: float = 0.5  # α of the importance density
    save_every: int = 100  # resumable state (and a numbered snapshot) every N steps; 0 = only at the end
    preview_every: int = 0  # preview images every N steps; 0 = none
    seed: int = 0  # seeds every random draw of the stage


@dataclass
class Stage1Config(StageConfig):
    templates: tuple[str, ...] = STAGE1_TEMPLATES  # captions with {o} (subject word) and {p} (pose token)


@dataclass
class Stage2Config(StageConfig):
    steps: int = 2000
    lr: float = 3e-3
    timesteps: str = "importance"
    ca_weight: float = 0.01  # λ of the cross-attention loss (Eq. 8); 0 turns it off
    r_init: str = "poses"  # "poses": mean of the raw P1, P2; "prepositions": the preposition mean; "word:and": a word
    r_vectors: int = 0  # vectors of R; 0 = num_vectors
    steer_weight: float = 0.0  # ReVersion's relation-steering loss (a baseline; our method uses the AdaIN prior)
    steer_positives: int = 4  # prepositions drawn per step as the steering loss's positives
    steer_temperature: float = 0.07  # τ of the steering loss
    templates: tuple[str, ...] = STAGE2_TEMPLATES  # default captions with {o1} {p1} {r} {o2} {p2}


@dataclass
class TrainConfig:
    name: str = "interaction"  # the slug: files are <name>_p1, <name>_r, <name>_p2
    num_vectors: int = 1  # vectors per pseudo-word
    resolution: int = 512  # training image side in pixels (images are resized to a square)
    pose_init: str = ""  # a word whose embedding starts P1 and P2 (e.g. "kneeling"); "" = the verb mean
    preview_steps: int = 20  # sampling steps of each preview image (rendered at `resolution`)
    prior: PriorConfig = field(default_factory=PriorConfig)
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    stage1: Stage1Config = field(default_factory=Stage1Config)
    stage2: Stage2Config = field(default_factory=Stage2Config)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def config_from_dict(data: dict[str, Any], source: str = "config") -> TrainConfig:
    """A TrainConfig from nested dicts; unknown keys are errors that name the field."""
    return _build(TrainConfig, data, source)


def _build(cls, data: dict[str, Any], where: str):
    if not isinstance(data, dict):
        raise InterInvError(f"{where} must be a JSON object, got {type(data).__name__}.")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in data.items():
        if key not in fields:
            raise InterInvError(f"Unknown option '{where}.{key}'. Known options: {', '.join(fields)}.")
        default = fields[key].default_factory() if fields[key].default_factory is not dataclasses.MISSING else None
        if dataclasses.is_dataclass(default):
            kwargs[key] = _build(type(default), value, f"{where}.{key}")
        else:
            kwargs[key] = _typed(value, hints[key], f"{where}.{key}")
    return cls(**kwargs)


def _typed(value: Any, hint: Any, where: str) -> Any:
    """`value` as the option's declared type (a list for a tuple, an int for a float); else an error naming it."""
    kinds = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    if value is None and type(None) in kinds:
        return None
    kind = next(k for k in kinds if k is not type(None))
    if typing.get_origin(kind) is tuple:
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return tuple(value)
    elif kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    elif isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    names = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}
    expected = "a list of strings" if typing.get_origin(kind) is tuple else names.get(kind, kind.__name__)
    raise InterInvError(f"Option '{where}' must be {expected}{' or null' if type(None) in kinds else ''}, "
                        f"got {json.dumps(value)[:80]}.")
