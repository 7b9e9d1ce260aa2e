"""Stand-in of sd-webui-controlnet's internal_controlnet/external_code.py (API version 3)."""

from dataclasses import dataclass, field
from typing import Any

from modules import scripts, shared

models = []  # what get_models() lists, e.g. "control_v11p_sd15_openpose [cab727d4]"


def get_api_version():
    return 3


@dataclass
class ControlNetUnit:
    enabled: bool = False
    module: str = "none"
    model: str = "None"
    weight: float = 1.0
    image: Any = None
    resize_mode: str = "Crop and Resize"
    low_vram: bool = False
    processor_res: int = -1
    threshold_a: float = -1
    threshold_b: float = -1
    guidance_start: float = 0.0
    guidance_end: float = 1.0
    pixel_perfect: bool = False
    control_mode: str = "Balanced"
    save_detected_map: bool = True
    extra: dict = field(default_factory=dict)


def get_models(update=False):
    return list(models)


def find_cn_script(script_runner):
    if script_runner is None:
        return None
    return next((s for s in script_runner.alwayson_scripts if s.title().lower() == "controlnet"), None)


def update_cn_script_in_processing(p, cn_units, **_kwargs):
    """Writes the units into p.script_args[args_from:args_to], padded with disabled units; no-op if too short."""
    script = find_cn_script(p.scripts)
    if script is None or len(p.script_args) < script.args_from:
        return
    count = max(shared.opts.control_net_unit_count, len(cn_units))
    units = list(cn_units) + [ControlNetUnit(enabled=False) for _ in range(count - len(cn_units))]
    args = list(p.script_args)
    args[script.args_from:script.args_to] = units[: script.args_to - script.args_from]
    p.script_args = args


class ControlNetScript(scripts.Script):
    """The alwayson "ControlNet" script: records what each generation received."""

    def __init__(self):
        self.received = []

    def title(self):
        return "ControlNet"

    def process(self, p, *units):
        enabled = [u for u in units if isinstance(u, ControlNetUnit) and u.enabled]
        for unit in enabled:
            if unit.model not in models and not any(m.startswith(unit.model) for m in models):
                raise RuntimeError(f"ControlNet model {unit.model} not found")
        self.received.append({"units": enabled, "seed": p.seed, "steps": p.steps})
