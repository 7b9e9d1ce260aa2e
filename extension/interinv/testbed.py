"""An offline test bed: the real CLIP tokenizer and tiny, randomly initialised SD components.

The tiny model has the architecture of Stable Diffusion (CLIP text encoder, VAE, UNet with
cross-attention, optional openpose ControlNet), so every code path that serves real weights runs on it.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import torch

_MERGES = 49152 - 256 - 2  # merges used by CLIP's 49,408-token vocabulary


def default_cache_dir() -> Path:
    return Path(os.environ.get("INTERINV_CACHE", Path.home() / ".cache" / "interinv"))


def clip_tokenizer_files(folder: Path | None = None) -> Path:
    """Write CLIP's vocab.json and merges.txt, built from open_clip's bundled BPE file, into `folder`."""
    folder = Path(folder or default_cache_dir() / "clip-tokenizer")
    if (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file():
        return folder
    from open_clip.tokenizer import bytes_to_unicode, default_bpe

    from .atomic import write_text_atomic

    merges = gzip.open(default_bpe()).read().decode("utf-8").split("\n")[1 : _MERGES + 1]
    vocab = list(bytes_to_unicode().values())
    vocab += [token + "</w>" for token in vocab]
    vocab += ["".join(merge.split()) for merge in merges] + ["<|startoftext|>", "<|endoftext|>"]
    write_text_atomic(folder / "merges.txt", "#version: 0.2\n" + "\n".join(merges) + "\n")
    write_text_atomic(folder / "vocab.json", json.dumps({token: i for i, token in enumerate(vocab)}))
    return folder


def clip_tokenizer(folder: Path | None = None):
    """The real CLIP tokenizer, built offline."""
    from transformers import CLIPTokenizer

    folder = clip_tokenizer_files(folder)
    # transformers 5 ignores vocab_file=/merges_file= keywords; the paths must be positional
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), pad_token="<|endoftext|>", model_max_length=77)


def tiny_pipeline(seed: int = 0, width: int = 32, prediction_type: str = "epsilon", tokenizer_dir: Path | None = None):
    """A StableDiffusionPipeline of tiny random components (32 px images, 16x16 latents)."""
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=16,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=width,
        attention_head_dim=4,
        norm_num_groups=8,
    )
    vae = AutoencoderKL(
        block_out_channels=(16, 32),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        latent_channels=4,
        norm_num_groups=8,
        layers_per_block=1,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            hidden_size=width,
            intermediate_size=2 * width,
            num_attention_heads=4,
            num_hidden_layers=2,
            vocab_size=49408,
            max_position_embeddings=77,
            bos_token_id=49406,
            eos_token_id=49407,
            pad_token_id=49407,
        )
    )
    scheduler = DDIMScheduler(
        beta_schedule="scaled_linear",
        beta_start=0.00085,
        beta_end=0.012,
        prediction_type=prediction_type,
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    return StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=clip_tokenizer(tokenizer_dir),
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def tiny_controlnet(unet, seed: int = 0):
    """An openpose-shaped ControlNet matched to the tiny UNet and the tiny VAE's factor of 2."""
    from diffusers import ControlNetModel

    torch.manual_seed(seed)
    return ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(16, 32))


def tiny_host(seed: int = 0, prediction_type: str = "epsilon", with_controlnet: bool = False):
    """A DiffusersHost on the tiny pipeline, on the CPU, in fp32."""
    from .hosts.diffusers_host import DiffusersHost

    pipe = tiny_pipeline(seed=seed, prediction_type=prediction_type)
    control = tiny_controlnet(pipe.unet, seed) if with_controlnet else None
    return DiffusersHost(pipe, family="sd1", device="cpu", controlnet=control, model_name=f"interinv-tiny-{seed}")


def sd15_shaped_pipeline(seed: int = 0, dtype=torch.float32):
    """A StableDiffusionPipeline with SD1.5's shapes (860M UNet, CLIP ViT-L/14 text) and random weights."""
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(sample_size=64, cross_attention_dim=768, attention_head_dim=8)
    vae = AutoencoderKL(
        block_out_channels=(128, 256, 512, 512),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        layers_per_block=2,
        scaling_factor=0.18215,
    )
    text_encoder = CLIPTextModel(CLIPTextConfig(hidden_size=768, intermediate_size=3072, num_attention_heads=12,
                                                num_hidden_layers=12, projection_dim=768, hidden_act="quick_gelu"))
    scheduler = DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, clip_sample=False,
                              set_alpha_to_one=False, steps_offset=1)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=clip_tokenizer(), unet=unet,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    return pipe.to(dtype=dtype)
