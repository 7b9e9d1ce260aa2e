"""Model families, their text-encoder keys and ModelSpec architecture ids."""

from __future__ import annotations

from ..errors import InterInvError

FAMILIES = ("sd1", "sd2", "sdxl")
# ModelSpec architecture ids, by (family, prediction type)
_ARCHITECTURES = {
    ("sd1", "epsilon"): "stable-diffusion-v1",
    ("sd1", "v_prediction"): "stable-diffusion-v1",
    ("sd2", "epsilon"): "stable-diffusion-v2-512",
    ("sd2", "v_prediction"): "stable-diffusion-v2-768-v",
    ("sdxl", "epsilon"): "stable-diffusion-xl-v1-base",
}
# Text encoder keys per family; SDXL files carry one tensor per encoder
ENCODERS = {"sd1": ("clip_l",), "sd2": ("clip_h",), "sdxl": ("clip_l", "clip_g")}
FAMILY_BY_WIDTH = {768: "sd1", 1024: "sd2"}  # token-embedding width of the single-encoder families
SDXL_WIDTHS = {"clip_l": 768, "clip_g": 1280}
NATIVE_SIDES = {"sdxl": 1024}  # families trained at their native side by default; the others at TrainConfig's


def default_resolution(family: str) -> int:
    """The training side a family's checkpoints are made for: 1024 on SDXL, else TrainConfig's default (512)."""
    from ..config import TrainConfig

    return NATIVE_SIDES.get(family, TrainConfig().resolution)


def check_family(family: str, source: str) -> str:
    if family not in FAMILIES:
        raise InterInvError(
            f"Unknown model family '{family}' for {source}. Expected one of {', '.join(FAMILIES)}; "
            "pass --family sd1 or --family sd2 for a model whose family cannot be detected."
        )
    return family


def architecture(family: str, prediction_type: str) -> str:
    """The ModelSpec architecture id of a textual inversion for this base model."""
    return _ARCHITECTURES[(family, prediction_type)] + "/textual-inversion"
