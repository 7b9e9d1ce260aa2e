"""Stand-in of lib_controlnet/external_code.py: the ControlNetUnit dataclass (enabled by default, module "None")
and its enums. There is no find_cn_script or update_cn_script_in_processing in Forge's version."""

from dataclasses import dataclass
from enum import Enum
from typing import Any, Optional


class ControlMode(Enum):
    BALANCED = "Balanced"
    PROMPT = "My prompt is more important"
    CONTROL = "ControlNet is more important"


class ResizeMode(Enum):
    RESIZE = "Just Resize"
    INNER_FIT = "Crop and Resize"
    OUTER_FIT = "Resize and Fill"


@dataclass
class ControlNetUnit:
    enabled: bool = True
    module: str = "None"
    model: str = "None"
    weight: float = 1.0
    image: Optional[Any] = None  # GradioImageMaskPair: {"image": np.ndarray, "mask": np.ndarray}
    resize_mode: Any = ResizeMode.INNER_FIT
    processor_res: int = -1
    threshold_a: float = -1
    threshold_b: float = -1
    guidance_start: float = 0.0
    guidance_end: float = 1.0
    pixel_perfect: bool = False
    control_mode: Any = ControlMode.BALANCED
    save_detected_map: bool = True
