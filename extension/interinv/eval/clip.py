"""CLIP from a local path (transformers or open_clip; nothing is downloaded) and the CLIP scores of images."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Protocol, Sequence

import torch
from PIL import Image

from ..data.exemplars import load_image
from ..errors import InterInvError
from .metrics import pair_scores

DEFAULT_CLIP_ARCH = "ViT-L-14-quickgelu"  # OpenAI's ViT-L/14 (QuickGELU) in open_clip's naming
CLIP_BATCH_SIZE = 8  # images encoded by CLIP at once


class ClipEncoder(Protocol):
    name: str  # what the report calls the model (its path or architecture)

    def encode_images(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """[N, D] image embeddings on the CPU."""

    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor:
        """[N, D] text embeddings on the CPU (texts are cut at CLIP's 77 tokens)."""


class OpenClipEncoder:
    """An open_clip model with its image transform and tokenizer."""

    def __init__(self, model, preprocess, tokenizer, name: str, device: str | torch.device = "cpu"):
        self.model, self.preprocess, self.tokenizer = model.eval().to(device), preprocess, tokenizer
        self.name, self.device = name, torch.device(device)

    @torch.no_grad()
    def encode_images(self, images: Sequence[Image.Image]) -> torch.Tensor:
        batch = torch.stack([self.preprocess(image.convert("RGB")) for image in images]).to(self.device)
        return self.model.encode_image(batch).float().cpu()

    @torch.no_grad()
    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor:
        return self.model.encode_text(self.tokenizer(list(texts)).to(self.device)).float().cpu()


class TransformersClipEncoder:
    """A transformers CLIPModel with its CLIPProcessor."""

    def __init__(self, model, processor, name: str, device: str | torch.device = "cpu"):
        self.model, self.processor = model.eval().to(device), processor
        self.name, self.device = name, torch.device(device)

    @torch.no_grad()
    def encode_images(self, images: Sequence[Image.Image]) -> torch.Tensor:
        inputs = self.processor(images=[image.convert("RGB") for image in images], return_tensors="pt")
        return _features(self.model.get_image_features(pixel_values=inputs["pixel_values"].to(self.device)))

    @torch.no_grad()
    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor:
        inputs = self.processor(text=list(texts), padding=True, truncation=True, max_length=77, return_tensors="pt")
        inputs = {k: v.to(self.device) for k, v in inputs.items() if k in ("input_ids", "attention_mask")}
        return _features(self.model.get_text_features(**inputs))


def _features(output) -> torch.Tensor:
    """transformers 4 returns the projected features; transformers 5 returns them as `pooler_output`."""
    tensor = output if isinstance(output, torch.Tensor) else output.pooler_output
    return tensor.float().cpu()


def load_clip(path: str | os.PathLike, arch: str = DEFAULT_CLIP_ARCH, device: str | torch.device = "cpu") -> ClipEncoder:
    """CLIP from a local path: a transformers folder (config.json), an open_clip folder, or an open_clip file.

    `arch` names the open_clip architecture of a checkpoint file (ViT-L-14-quickgelu for OpenAI's
    weights, ViT-L-14 for LAION's).
    """
    path = Path(path)
    if not path.exists():
        raise InterInvError(
            f"CLIP weights '{path}' do not exist. Give a local folder or file, e.g. a download of "
            "openai/clip-vit-large-patch14 (hf download openai/clip-vit-large-patch14 --local-dir clip-l14)."
        )
    if path.is_dir() and (path / "open_clip_config.json").is_file():
        import open_clip

        model, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{path}", device=device)
        return OpenClipEncoder(model, preprocess, open_clip.get_tokenizer(f"local-dir:{path}"), str(path), device)
    if path.is_dir() and (path / "config.json").is_file():
        from transformers import CLIPModel, CLIPProcessor

        try:
            model = CLIPModel.from_pretrained(path, local_files_only=True)
            processor = CLIPProcessor.from_pretrained(path, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise InterInvError(f"'{path}' is not a transformers CLIP folder ({exc}).") from exc
        return TransformersClipEncoder(model, processor, str(path), device)
    if path.is_file():
        import open_clip

        try:
            model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=str(path), device=device)
        except (RuntimeError, KeyError, ValueError) as exc:
            raise InterInvError(
                f"'{path}' does not hold weights of the open_clip architecture '{arch}' ({exc}). "
                "Pass the matching --clip-arch."
            ) from exc
        return OpenClipEncoder(model, preprocess, open_clip.get_tokenizer(arch), f"{arch} ({path})", device)
    raise InterInvError(f"'{path}' is a folder without config.json or open_clip_config.json; it is not a CLIP model.")


def clip_scores(
    clip: ClipEncoder, images: Sequence[Path], texts: Mapping[str, Sequence[str]], batch_size: int
) -> dict[str, list[float]]:
    """Per metric, 100 x cos(image_i, text_i); images are read and encoded batch by batch."""
    scores: dict[str, list[float]] = {metric: [] for metric in texts}
    for start in range(0, len(images), batch_size):
        batch = [load_image(path) for path in images[start : start + batch_size]]
        image_embeds = clip.encode_images(batch)
        for metric, metric_texts in texts.items():
            text_embeds = clip.encode_texts(metric_texts[start : start + batch_size])
            scores[metric] += pair_scores(image_embeds, text_embeds).tolist()
    return scores
