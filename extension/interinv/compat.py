"""Third-party version differences and import noise, handled in one place.

The warnings silenced here are about parts of those libraries that InterInv does not use; each filter
matches one message, and only while the import that raises it runs.
"""

from __future__ import annotations

import importlib
import warnings
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

# What importing controlnet_aux warns about: its mediapipe face detector, timm's moved modules, its own
# copy of TinyViT, torch.jit.script decorators in models we never load, scipy's old namespace.
CONTROLNET_AUX_NOISE = (
    (UserWarning, r"The module 'mediapipe' is not installed"),
    (FutureWarning, r"Importing from timm\.models\.\w+ is deprecated"),
    (UserWarning, r"Overwriting tiny_vit_\w+ in registry"),
    (FutureWarning, r"`torch\.jit\.script` is deprecated"),
    (DeprecationWarning, r"Please import `gaussian_filter` from the `scipy\.ndimage` namespace"),
)


def import_controlnet_aux(module: str = "controlnet_aux.open_pose") -> ModuleType:
    """A controlnet_aux module, imported without the warnings about the parts we do not use."""
    with warnings.catch_warnings():
        for category, message in CONTROLNET_AUX_NOISE:
            warnings.filterwarnings("ignore", message=message, category=category)
        return importlib.import_module(module)


def diffusers_load_kwargs(dtype: "torch.dtype") -> dict:
    """Keywords for diffusers' `from_pretrained` (not `from_single_file`) that it reads without a warning.

    diffusers 0.40 renamed `torch_dtype` to `dtype` and warns on the old name, which older versions only
    know. Low-memory loading needs accelerate: without it diffusers warns and turns it off, so ask for it
    only when accelerate is installed.
    """
    import diffusers
    from diffusers.utils import is_accelerate_available

    major, minor = (int(part) for part in diffusers.__version__.split(".")[:2])
    name = "dtype" if (major, minor) >= (0, 40) else "torch_dtype"
    return {name: dtype, "low_cpu_mem_usage": is_accelerate_available()}
