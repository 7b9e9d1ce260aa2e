"""A world's design: which interactions it holds out, how it captions its scenes, and how it draws them.

Pretraining stores the design in the world's metrics.json (its config), so that `world check`, `world bench` and
`interinv demo` measure a world by the design it was trained on. World v1's metrics predate these keys; a missing
key means v1's value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from interinv.errors import InterInvError

from . import grammar, render

METRICS_FILE = "metrics.json"  # in a world's folder, written by `interinv world pretrain`


@dataclass(frozen=True)
class WorldDesign:
    plan: grammar.CaptionPlan = field(default_factory=grammar.CaptionPlan)
    style: render.Style = render.V1_STYLE


def design_from_config(config: Mapping[str, Any], where: str = "config") -> WorldDesign:
    """The design of a pretraining config: `PretrainConfig` as a dict, e.g. metrics.json's "config"."""
    style = config.get("style") or {}
    known = {f.name for f in fields(render.Style)}
    if not isinstance(style, Mapping) or set(style) - known:
        raise InterInvError(f"{where}: 'style' must be an object with the keys {', '.join(sorted(known))}, got "
                            f"{json.dumps(style)[:80]}.")
    plan = {f.name: config[f.name] for f in fields(grammar.CaptionPlan) if f.name in config}
    held_out = plan.pop("held_out", None)  # a JSON list in metrics.json; absent or null: v1's
    if held_out is not None:
        plan["held_out"] = tuple(held_out)
    return WorldDesign(grammar.CaptionPlan(**plan), render.Style(**style))


def load_design(folder: Path) -> WorldDesign:
    """The design of the world in `folder`, from its metrics.json; v1's without one."""
    path = folder / METRICS_FILE
    if not path.is_file():
        return WorldDesign()
    try:
        config = json.loads(path.read_text(encoding="utf-8"))["config"]
    except (ValueError, KeyError, TypeError) as error:
        raise InterInvError(f"'{path}' is not a metrics file of 'interinv world pretrain' ({error}); "
                            "run the pretraining again or restore the file.") from error
    return design_from_config(config, str(path))
