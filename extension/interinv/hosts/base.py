"""The Host protocol: everything the engine needs from a model, and nothing more."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ContextManager, Mapping, Protocol, Sequence

import torch
from PIL import Image

from ..core.attention import ProbedLayer

Vectors = Mapping[str, Mapping[str, torch.Tensor]]  # word name -> encoder key -> [n, D]


@dataclass(frozen=True)
class ImageSize:
    """The size conditioning of one training image (SDXL's micro-conditioning), each as (height, width)."""

    original: tuple[int, int]  # the image file's size, before it was resized for training
    target: tuple[int, int]  # the size it is trained at
    crop_top_left: tuple[int, int] = (0, 0)  # training resizes whole images: nothing is cropped


class Host(Protocol):
    family: str  # "sd1", "sd2" or "sdxl"
    embedding_dims: dict[str, int]  # encoder key -> token embedding width
    prediction_type: str  # "epsilon" or "v_prediction"
    alphas_cumprod: torch.Tensor  # [T], fp32, on the CPU
    device: torch.device
    model_name: str  # a readable identity for manifests and cache keys
    grad_scaling: bool  # whether the loss needs a GradScaler (fp16 autocast)
    can_generate_poses: bool  # whether generate_batch() can follow a pose_image (an openpose ControlNet is available)

    def token_rows(self, words: Sequence[str]) -> dict[str, list[torch.Tensor]]:
        """Per encoder, each word's input token-embedding rows [n_tokens, D] (no BOS/EOS)."""

    def encode_images(self, images: Sequence[Image.Image], size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Latent posterior (mean, std), scaled for the UNet, on the CPU."""

    def token_positions(self, prompt: str, words: Mapping[str, int]) -> dict[str, list[int]]:
        """Key indices of each pseudo-word (name -> vector count) in the tokenized prompt."""

    def encode_prompts(self, prompts: Sequence[str], vectors: Vectors, sizes: Sequence[ImageSize] | None = None) -> Any:
        """Conditioning for the UNet, with gradients flowing into `vectors` spliced at their positions.

        `sizes` gives, per prompt, the image it is trained on (SDXL conditions on it; SD1/SD2 ignore it);
        None: generation at the host's default size."""

    def predict(self, x_t: torch.Tensor, t: torch.Tensor, cond: Any) -> torch.Tensor:
        """The UNet's prediction (eps or v) for noisy latents at timesteps t."""

    def cross_attention_layers(self, latent_size: tuple[int, int]) -> list[ProbedLayer]:
        """Every cross-attention (attn2) module with its spatial size at this latent size."""

    def training(self) -> ContextManager[None]:
        """Freeze weights, switch attention to SDPA and eval mode; restore all of it on exit."""

    def generate_batch(
        self,
        prompts: Sequence[str],
        *,
        seeds: Sequence[int],
        pose_image: Image.Image | None = None,
        steps: int = 20,
        guidance_scale: float = 7.5,
        negative_prompt: str = "",
        size: tuple[int, int] | None = None,
        vectors: Vectors | None = None,
    ) -> list[Image.Image]:
        """One image per (prompt, seed), for previews and stage-1 synthesis (ControlNet when pose_image is given);
        each image is the one the host would make alone, batched where the host can."""

    def install_embeddings(self, paths: Sequence[str]) -> list[str]:
        """Make exported embedding files usable in prompts right away; returns the trigger words."""
