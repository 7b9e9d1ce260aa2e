"""Every training option, with its documented default, in one place."""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, TypeVar

from .errors import InterInvError

C = TypeVar("C")

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
    log_every: int = 10  # loss terms read back from the device and checked every N steps (and at saves); 0 = at saves
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


def config_from_dict(data: Mapping[str, Any], source: str = "config", base: TrainConfig | None = None) -> TrainConfig:
    """A TrainConfig (over `base`, else the defaults) from nested dicts; unknown keys are errors that name the field."""
    return with_overrides(base or TrainConfig(), _dotted(data, source), source)


# --- the one override mechanism: dotted keys (stage2.ca_weight=0.02) ------------------------------------
class Text(str):
    """A value typed on a command line: parsed as its option's type. Other strings (JSON) must already be of it."""


def parse_settings(settings: Iterable[str], flag: str = "--set") -> dict[str, Text]:
    """KEY=VALUE strings (a command line's --set) as {dotted key: value text}."""
    parsed = {}
    for setting in settings:
        key, sep, text = setting.partition("=")
        if not sep or not key.strip():
            raise InterInvError(f"{flag} '{setting}': expected KEY=VALUE, e.g. stage2.ca_weight=0.02.")
        parsed[key.strip()] = Text(text)
    return parsed


def with_overrides(cfg: C, overrides: Mapping[str, Any], source: str = "--set") -> C:
    """A copy of the dataclass `cfg` with each dotted key set, checked against the field's declared type."""
    for key, value in overrides.items():
        cfg = _replaced(cfg, key.split("."), value, key, source)
    return cfg


def _label(source: str, key: str) -> str:
    """`config.stage2.lr` for a JSON object's option, `stage2.lr (--set)` for a command line's."""
    return f"{source}.{key}" if source.isidentifier() else f"{key} ({source})"


def _dotted(data: Mapping[str, Any], where: str, prefix: str = "") -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise InterInvError(f"{where}{'.' + prefix[:-1] if prefix else ''} must be a JSON object, got "
                            f"{type(data).__name__}.")
    flat = {}
    for key, value in data.items():
        flat.update(_dotted(value, where, f"{prefix}{key}.") if isinstance(value, Mapping) else {prefix + key: value})
    return flat


def _replaced(cfg, path: list[str], value: Any, key: str, source: str):
    fields = [f.name for f in dataclasses.fields(cfg)]
    if path[0] not in fields:
        group = key[: -len(".".join(path))].rstrip(".")
        raise InterInvError(f"Unknown option '{_label(source, key)}'. Known options{' of ' + group if group else ''}: "
                            f"{', '.join(fields)}.")
    current = getattr(cfg, path[0])
    if dataclasses.is_dataclass(current):
        if len(path) == 1:
            raise InterInvError(f"'{_label(source, key)}' is a group of options: set its fields, e.g. {key}."
                                f"{dataclasses.fields(current)[0].name}=..., or give a JSON object.")
        return dataclasses.replace(cfg, **{path[0]: _replaced(current, path[1:], value, key, source)})
    if len(path) > 1:
        raise InterInvError(f"Unknown option '{_label(source, key)}': '{path[0]}' has no fields.")
    kind = typing.get_type_hints(type(cfg))[path[0]]
    return dataclasses.replace(cfg, **{path[0]: _typed(value, kind, _label(source, key))})


def _typed(value: Any, hint: Any, where: str) -> Any:
    """`value` as the option's declared type (a list for a tuple, an int for a float); else an error naming it.

    Command-line `Text` is parsed first: true/false, numbers, `a,b` or JSON lists, none/null.
    """
    kinds = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    kind = next(k for k in kinds if k is not type(None))
    if isinstance(value, Text):
        value = _parsed(value, kind, nullable=type(None) in kinds)
    if value is None and type(None) in kinds:
        return None
    if typing.get_origin(kind) is tuple:
        element = (typing.get_args(kind) or (str,))[0]
        if isinstance(value, (list, tuple)) and all(isinstance(v, element) and not isinstance(v, bool) for v in value):
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


def _parsed(text: Text, kind: Any, nullable: bool) -> Any:
    """Command-line text as a value of `kind`, or the text itself when it does not parse (the check then says so)."""
    if nullable and text.lower() in ("none", "null"):
        return None
    if typing.get_origin(kind) is tuple:
        items = json.loads(text) if text.lstrip().startswith("[") else text.split(",")
        element = (typing.get_args(kind) or (str,))[0]
        return [_parsed(Text(item), element, nullable=False) if isinstance(item, str) else item for item in items]
    if kind is bool:
        return {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}.get(text.lower(), str(text))
    try:
        return kind(text) if kind in (int, float) else str(text)
    except ValueError:
        return str(text)
