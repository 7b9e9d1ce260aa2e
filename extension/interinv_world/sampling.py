"""Batched generation with the world's pipeline, and the scorers' verdicts on the results."""

from __future__ import annotations

from typing import Sequence

import torch

from .models import IMAGE_SIDE, WorldModels, species_logits_to_sets

BATCH = 64  # images per pipeline call


@torch.no_grad()
def sample_images(pipe, prompts: Sequence[str], seeds: Sequence[int], steps: int, guidance: float) -> torch.Tensor:
    """uint8 [N, 3, 64, 64] images of the world's own pipeline, one per prompt and seed."""
    out = []
    for start in range(0, len(seeds), BATCH):
        part = slice(start, start + BATCH)
        generators = [torch.Generator().manual_seed(int(s)) for s in seeds[part]]
        text = dict(prompt=list(prompts[part]), negative_prompt=[""] * len(generators))
        kwargs = dict(**text, num_inference_steps=steps, guidance_scale=guidance, generator=generators,
                      height=IMAGE_SIDE, width=IMAGE_SIDE, output_type="pt")
        images = pipe(**kwargs).images
        out.append((images.clamp(0, 1) * 255).round().to(torch.uint8).cpu())
    return torch.cat(out)


@torch.no_grad()
def classify(models: WorldModels, images: torch.Tensor, interaction_scorer=None) -> dict[str, torch.Tensor]:
    """Interaction index [N] and species presence [N, S] of uint8 images [N, 3, H, W].

    `interaction_scorer`: judge the interaction with this scorer instead of the world's first one.
    """
    scorer = interaction_scorer or models.interaction_scorer
    interaction, species = [], []
    device = next(scorer.parameters()).device
    for chunk in images.split(256):
        x = chunk.to(device).float() / 255
        if x.shape[-1] != IMAGE_SIDE:
            x = torch.nn.functional.interpolate(x, size=(IMAGE_SIDE, IMAGE_SIDE), mode="bilinear", antialias=True)
        interaction.append(scorer(x)["interaction"].argmax(dim=1).cpu())
        species.append(species_logits_to_sets(models.species_scorer(x)["species"]).cpu())
    return {"interaction": torch.cat(interaction), "species": torch.cat(species)}
