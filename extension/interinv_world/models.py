"""The world's models: a small Stable Diffusion (real diffusers classes), its openpose ControlNet, and the scorers.

Sizes follow the measured feasibility study: 64 px images, a VAE with factor 4 (16x16x4 latents),
a 3-layer CLIP text encoder of width 128 on the real CLIP tokenizer, and a UNet whose cross-attention
sits at 8x8 and 4x4.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from interinv.atomic import write_text_atomic
from interinv.compat import diffusers_load_kwargs
from interinv.errors import InterInvError
from interinv.hosts.clip_tokenizer import clip_tokenizer
from .design import WorldDesign, load_design
from .settings import WEIGHTS_DIR

IMAGE_SIDE = 64  # pixels
TEXT_WIDTH = 128  # CLIP hidden size = UNet cross-attention dim
SECOND_SCORER = "interaction_second"  # file stem of the second interaction scorer
SECOND_SCORER_SHAPE = {"width": 16, "kernel": 3, "stages": 3}  # another architecture than SceneClassifier's default


def new_vae():
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        block_out_channels=(16, 32, 64),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        latent_channels=4,
        norm_num_groups=8,  # the default 32 groups cannot split 16 channels
        layers_per_block=1,
        mid_block_add_attention=False,
        sample_size=IMAGE_SIDE,
    )


def new_text_encoder(positions: int = 77):
    """`positions` is the caption length in tokens: captions are padded to it, and cross-attention reads them all."""
    from transformers import CLIPTextConfig, CLIPTextModel

    return CLIPTextModel(CLIPTextConfig(
        hidden_size=TEXT_WIDTH, intermediate_size=4 * TEXT_WIDTH, num_attention_heads=4, num_hidden_layers=3,
        vocab_size=49408, max_position_embeddings=positions, bos_token_id=49406, eos_token_id=49407,
        pad_token_id=49407,
    ))


def fit_tokenizer(pipe) -> None:
    """Pad captions to the text encoder's positions (77 in world v1)."""
    pipe.tokenizer.model_max_length = pipe.text_encoder.config.max_position_embeddings


def new_unet(channels: tuple[int, ...] = (64, 128, 128)):
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=IMAGE_SIDE // 4,
        in_channels=4,
        out_channels=4,
        block_out_channels=tuple(channels),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        layers_per_block=1,
        cross_attention_dim=TEXT_WIDTH,
        attention_head_dim=4,
    )


def new_scheduler():
    from diffusers import DDIMScheduler

    return DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, clip_sample=False,
                         set_alpha_to_one=False, steps_offset=1, prediction_type="epsilon")


def assemble_pipeline(vae, text_encoder, unet):
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=clip_tokenizer(), unet=unet,
                                   scheduler=new_scheduler(), safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    fit_tokenizer(pipe)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def new_controlnet(unet):
    from diffusers import ControlNetModel

    return ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(16, 32, 64))


# --- scorers --------------------------------------------------------------------------------------
class SceneClassifier(nn.Module):
    """A small CNN on 64 px renders with one linear head per label set.

    `width`, `kernel` and `stages` shape the network, so that a second scorer can differ in architecture.
    """

    def __init__(self, heads: dict[str, int], width: int = 32, kernel: int = 3, stages: int = 4):
        super().__init__()
        layers, channels = [], 3
        for stage in range(stages):
            out = width * min(2**stage, 4)
            layers += [nn.Conv2d(channels, out, kernel, padding=kernel // 2), nn.BatchNorm2d(out), nn.ReLU(),
                       nn.Conv2d(out, out, kernel, padding=kernel // 2), nn.BatchNorm2d(out), nn.ReLU(), nn.MaxPool2d(2)]
            channels = out
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2))
        self.heads = nn.ModuleDict({name: nn.Linear(channels, n) for name, n in heads.items()})
        self.head_sizes = dict(heads)
        self.shape = {"width": width, "kernel": kernel, "stages": stages}

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.features(images * 2 - 1)
        return {name: head(features) for name, head in self.heads.items()}


def pixels(image) -> torch.Tensor:
    """One PIL image as uint8 [3, H, W]."""
    import numpy as np

    return torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.uint8).copy()).permute(2, 0, 1)


def images_to_tensor(images) -> torch.Tensor:
    """PIL images (any size) as a [N, 3, 64, 64] float tensor in [0, 1]."""
    import numpy as np

    arrays = [np.asarray(image.convert("RGB").resize((IMAGE_SIDE, IMAGE_SIDE)), dtype=np.float32) for image in images]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2) / 255.0


@dataclass
class WorldModels:
    """Everything `interinv world pretrain` produces."""

    pipe: object  # StableDiffusionPipeline
    controlnet: object  # ControlNetModel
    interaction_scorer: SceneClassifier  # head "interaction"
    species_scorer: SceneClassifier  # head "species": 4 presence logits
    second_scorer: SceneClassifier | None = None  # head "interaction"; other seed and architecture, for agreement
    design: WorldDesign = field(default_factory=WorldDesign)  # what it holds out, how it captions and draws


def save_scorer(model: SceneClassifier, path: Path) -> None:
    from safetensors.torch import save_file

    from interinv.atomic import atomic_path

    meta = {f"head.{k}": str(v) for k, v in model.head_sizes.items()}
    meta.update({f"shape.{k}": str(v) for k, v in model.shape.items()})
    with atomic_path(path) as tmp:
        state = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(tmp), metadata=meta)


def load_scorer(path: Path) -> SceneClassifier:
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        meta = f.metadata() or {}
        state = {k: f.get_tensor(k) for k in f.keys()}
    heads = {k.split(".", 1)[1]: int(v) for k, v in meta.items() if k.startswith("head.")}
    model = SceneClassifier(heads, **{k.split(".", 1)[1]: int(v) for k, v in meta.items() if k.startswith("shape.")})
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return model.eval()


def load_world(folder: Path = WEIGHTS_DIR, device: str = "cpu") -> WorldModels:
    """The pretrained world from its folder (a diffusers pipeline, a ControlNet, the scorers and its design)."""
    from diffusers import ControlNetModel, StableDiffusionPipeline

    if not (folder / "model_index.json").is_file():
        raise InterInvError(
            f"No pretrained world in '{folder}'. Run 'interinv world pretrain --out {folder}' (about an hour on "
            "two CPU cores) or check out the committed weights."
        )
    load_kwargs = diffusers_load_kwargs(torch.float32)
    pipe = StableDiffusionPipeline.from_pretrained(folder, tokenizer=clip_tokenizer(), safety_checker=None, **load_kwargs)
    fit_tokenizer(pipe)
    controlnet = ControlNetModel.from_pretrained(folder / "controlnet", **load_kwargs)
    pipe.set_progress_bar_config(disable=True)
    scorers = [load_scorer(folder / "scorers" / f"{name}.safetensors").to(device) for name in ("interaction", "species")]
    second = folder / "scorers" / f"{SECOND_SCORER}.safetensors"
    scorers.append(load_scorer(second).to(device) if second.is_file() else None)
    return WorldModels(pipe.to(device), controlnet.to(device), *scorers, design=load_design(folder))


def round_to_stored_precision(models: WorldModels) -> None:
    """Every weight as `save_world` stores it (fp16, computed in fp32), so that what a pretraining run measures
    is what `world check` measures on the saved folder."""
    for module in (models.pipe, models.controlnet, models.interaction_scorer, models.species_scorer, models.second_scorer):
        if module is not None:
            module.to(torch.float16).to(torch.float32)


def save_world(models: WorldModels, folder: Path) -> None:
    """fp16 safetensors in the diffusers layout; the tokenizer is rebuilt offline, so it is not stored."""
    import shutil

    models.pipe.to(torch.float16).save_pretrained(folder, safe_serialization=True)
    models.controlnet.to(torch.float16).save_pretrained(folder / "controlnet", safe_serialization=True)
    models.pipe.to(torch.float32)
    models.controlnet.to(torch.float32)
    shutil.rmtree(folder / "tokenizer", ignore_errors=True)
    _drop_load_paths(folder)
    (folder / "scorers").mkdir(parents=True, exist_ok=True)
    save_scorer(models.interaction_scorer, folder / "scorers" / "interaction.safetensors")
    save_scorer(models.species_scorer, folder / "scorers" / "species.safetensors")
    if models.second_scorer is not None:
        save_scorer(models.second_scorer, folder / "scorers" / f"{SECOND_SCORER}.safetensors")


def _drop_load_paths(folder: Path) -> None:
    """diffusers records where a reused component was loaded from; that path names the trainer's machine."""
    import json

    for config in folder.glob("*/config.json"):
        values = json.loads(config.read_text())
        if values.pop("_name_or_path", None) is not None:
            write_text_atomic(config, json.dumps(values, indent=2, sort_keys=True) + "\n")


def species_logits_to_sets(logits: torch.Tensor) -> torch.Tensor:
    """Presence logits [N, S] as a 0/1 matrix of the species judged present."""
    return (torch.sigmoid(logits) > 0.5).long()


def classifier_loss(outputs: dict[str, torch.Tensor], labels: dict[str, torch.Tensor]) -> torch.Tensor:
    """Cross-entropy for single-label heads, binary cross-entropy for the multi-label species head."""
    total = 0.0
    for name, logits in outputs.items():
        target = labels[name]
        if target.dim() == 2:
            total = total + F.binary_cross_entropy_with_logits(logits, target.float())
        else:
            total = total + F.cross_entropy(logits, target)
    return total
