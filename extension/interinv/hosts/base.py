"""The Host protocol: everything the engine needs from a model, and nothing more."""

from __future__ import annotations

from typing import Any, ContextManager, Mapping, Protocol, Sequence

import torch
from PIL import Image

from ..core.attention import ProbedLayer
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

Vectors = Mapping[str, Mapping[str, torch.Tensor]]  # word name -> encoder key -> [n, D]


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


class Host(Protocol):
    family: str  # "sd1", "sd2" or "sdxl"
    embedding_dims: dict[str, int]  # encoder key -> token embedding width
    prediction_type: str  # "epsilon" or "v_prediction"
    alphas_cumprod: torch.Tensor  # [T], fp32, on the CPU
    device: torch.device
    model_name: str  # a readable identity for manifests and cache keys
    latent_factor: int  # image side / latent side
    grad_scaling: bool  # whether the loss needs a GradScaler (fp16 autocast)
    can_generate_poses: bool  # whether generate() can follow a pose_image (an openpose ControlNet is available)

    def token_rows(self, words: Sequence[str]) -> dict[str, list[torch.Tensor]]:
        """Per encoder, each word's input token-embedding rows [n_tokens, D] (no BOS/EOS)."""

    def encode_images(self, images: Sequence[Image.Image], size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Latent posterior (mean, std), scaled for the UNet, on the CPU."""

    def token_positions(self, prompt: str, words: Mapping[str, int]) -> dict[str, list[int]]:
        """Key indices of each pseudo-word (name -> vector count) in the tokenized prompt."""

    def encode_prompts(self, prompts: Sequence[str], vectors: Vectors) -> Any:
        """Conditioning for the UNet, with gradients flowing into `vectors` spliced at their positions."""

    def predict(self, x_t: torch.Tensor, t: torch.Tensor, cond: Any) -> torch.Tensor:
        """The UNet's prediction (eps or v) for noisy latents at timesteps t."""

    def cross_attention_layers(self, latent_size: tuple[int, int]) -> list[ProbedLayer]:
        """Every cross-attention (attn2) module with its spatial size at this latent size."""

    def training(self) -> ContextManager[None]:
        """Freeze weights, switch attention to SDPA and eval mode; restore all of it on exit."""

    def autocast(self) -> ContextManager[None]:
        """Mixed precision for a forward pass (a no-op in fp32)."""

    def generate(
        self,
        prompt: str,
        *,
        pose_image: Image.Image | None = None,
        seed: int = 0,
        steps: int = 20,
        guidance_scale: float = 7.5,
        negative_prompt: str = "",
        size: tuple[int, int] | None = None,
        vectors: Vectors | None = None,
    ) -> Image.Image:
        """One image, for previews and stage-1 synthesis (ControlNet when pose_image is given)."""

    def install_embeddings(self, paths: Sequence[str]) -> list[str]:
        """Make exported embedding files usable in prompts right away; returns the trigger words."""
