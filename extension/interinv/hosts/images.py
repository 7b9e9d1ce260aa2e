"""Images into a VAE, shared by the hosts: resized pixels in [-1, 1], encoded a few at a time."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image

ENCODE_BATCH = 4  # images per VAE call: bounds the memory of encoding a large set

Posterior = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]  # pixels -> the scaled latent (mean, std)


def image_tensor(images: Sequence[Image.Image], size: tuple[int, int]) -> torch.Tensor:
    """RGB images resized to `size` (bicubic) as one fp32 batch [n, 3, H, W] in [-1, 1]."""
    arrays = [np.asarray(img.convert("RGB").resize(size, Image.BICUBIC), dtype=np.float32) for img in images]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2) / 127.5 - 1.0


@torch.no_grad()
def encode_in_batches(images: Sequence[Image.Image], size: tuple[int, int], posterior: Posterior) -> tuple[torch.Tensor, torch.Tensor]:
    """The latent (mean, std) of every image, fp32 on the CPU, from `posterior` applied ENCODE_BATCH images at a time."""
    means, stds = [], []
    for start in range(0, len(images), ENCODE_BATCH):
        mean, std = posterior(image_tensor(images[start : start + ENCODE_BATCH], size))
        means.append(mean.float().cpu())
        stds.append(std.float().cpu())
    return torch.cat(means), torch.cat(stds)
