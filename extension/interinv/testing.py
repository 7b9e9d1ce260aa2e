"""Tiny, randomly initialised SD components for tests and benchmarks; no product module imports this.

The tiny model has the architecture of Stable Diffusion (CLIP text encoder, VAE, UNet with
cross-attention, optional openpose ControlNet), so every code path that serves real weights runs on it.
The CLI reaches it only through `--model interinv:tiny` (or `interinv:tiny-sdxl`), imported when that value
is given.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .hosts.clip_tokenizer import clip_tokenizer


def tiny_unet(cross_attention_dim: int, **extra):
    """The tiny UNet (16x16 latents, cross-attention in its lower block); `extra` adds SDXL's parts."""
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=16, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=cross_attention_dim, attention_head_dim=4, norm_num_groups=8, **extra)


def tiny_pipeline(seed: int = 0, width: int = 32, prediction_type: str = "epsilon", tokenizer_dir: Path | None = None):
    """A StableDiffusionPipeline of tiny random components (32 px images, 16x16 latents)."""
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    unet = tiny_unet(width)
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


SDXL_TINY_WIDTHS = {"clip_l": 32, "clip_g": 48}  # two encoders of different widths, as in SDXL (768, 1280)
SDXL_TIME_EMBED = 8  # width of each of the six add_time_ids' embeddings


def _tiny_clip_config(width: int, pad_token_id: int = 49407):
    from transformers import CLIPTextConfig

    return CLIPTextConfig(hidden_size=width, intermediate_size=2 * width, num_attention_heads=4, num_hidden_layers=2,
                          vocab_size=49408, max_position_embeddings=77, bos_token_id=49406, eos_token_id=49407,
                          pad_token_id=pad_token_id, projection_dim=width)


def tiny_sdxl_pipeline(seed: int = 0, tokenizer_dir: Path | None = None):
    """A StableDiffusionXLPipeline of tiny random components (32 px images, 16x16 latents): CLIP-L- and
    CLIP-G-like encoders of different widths (the second with a projection, for the pooled embedding), the real
    tokenizer twice (the second pads with "!", as SDXL's does), and a UNet with SDXL's text_time embedding."""
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(seed)
    widths = SDXL_TINY_WIDTHS
    unet = tiny_unet(widths["clip_l"] + widths["clip_g"], use_linear_projection=True, addition_embed_type="text_time",
                      addition_time_embed_dim=SDXL_TIME_EMBED,
                      projection_class_embeddings_input_dim=6 * SDXL_TIME_EMBED + widths["clip_g"])
    vae = AutoencoderKL(block_out_channels=(16, 32), in_channels=3, out_channels=3,
                        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                        latent_channels=4, norm_num_groups=8, layers_per_block=1, scaling_factor=0.13025)
    tokenizer_2 = clip_tokenizer(tokenizer_dir)
    tokenizer_2.pad_token = "!"
    scheduler = EulerDiscreteScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                                       prediction_type="epsilon", steps_offset=1, timestep_spacing="leading")
    return StableDiffusionXLPipeline(
        vae=vae, text_encoder=CLIPTextModel(_tiny_clip_config(widths["clip_l"])),
        text_encoder_2=CLIPTextModelWithProjection(_tiny_clip_config(widths["clip_g"], pad_token_id=0)),
        tokenizer=clip_tokenizer(tokenizer_dir), tokenizer_2=tokenizer_2, unet=unet, scheduler=scheduler)


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


def tiny_sdxl_host(seed: int = 0, with_controlnet: bool = False, gradient_checkpointing: bool = False):
    """A DiffusersHost on the tiny SDXL pipeline, on the CPU, in fp32."""
    from .hosts.diffusers_host import DiffusersHost

    pipe = tiny_sdxl_pipeline(seed=seed)
    control = tiny_controlnet(pipe.unet, seed) if with_controlnet else None
    return DiffusersHost(pipe, device="cpu", controlnet=control, model_name=f"interinv-tiny-sdxl-{seed}",
                         gradient_checkpointing=gradient_checkpointing)


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


# SDXL base 1.0's UNet (unet/config.json of stabilityai/stable-diffusion-xl-base-1.0), the keys that differ from
# UNet2DConditionModel's defaults; `depth` replaces transformer_layers_per_block for a reduced CPU shape.
SDXL_UNET = dict(sample_size=128, block_out_channels=(320, 640, 1280), layers_per_block=2,
                 down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                 up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
                 attention_head_dim=(5, 10, 20), transformer_layers_per_block=(1, 2, 10), cross_attention_dim=2048,
                 use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=256,
                 projection_class_embeddings_input_dim=2816)
SDXL_TEXT = {"clip_l": dict(hidden_size=768, intermediate_size=3072, num_attention_heads=12, num_hidden_layers=12,
                            hidden_act="quick_gelu", projection_dim=768),
             "clip_g": dict(hidden_size=1280, intermediate_size=5120, num_attention_heads=20, num_hidden_layers=32,
                            hidden_act="gelu", projection_dim=1280)}


def sdxl_unet(reduced: bool = False):
    """A UNet2DConditionModel with SDXL base's shape (2.6B parameters) and random weights; `reduced`: one
    transformer block per attention and half the channels (172M parameters) for CPU runs."""
    from diffusers import UNet2DConditionModel

    config = dict(SDXL_UNET)
    if reduced:
        config.update(block_out_channels=(160, 320, 640), transformer_layers_per_block=(1, 1, 1))
    return UNet2DConditionModel(**config)


def sdxl_shaped_pipeline(seed: int = 0, dtype=torch.float32, reduced: bool = False):
    """A StableDiffusionXLPipeline with SDXL base's shapes (or the reduced UNet and 2-layer encoders of the real
    widths) and random weights."""
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(seed)
    layers = {"num_hidden_layers": 2} if reduced else {}
    text = {key: CLIPTextConfig(**{**shape, **layers}) for key, shape in SDXL_TEXT.items()}
    vae = AutoencoderKL(block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
                        up_block_types=("UpDecoderBlock2D",) * 4, latent_channels=4, layers_per_block=2,
                        scaling_factor=0.13025)
    scheduler = EulerDiscreteScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                                       steps_offset=1, timestep_spacing="leading")
    tokenizer_2 = clip_tokenizer()
    tokenizer_2.pad_token = "!"
    pipe = StableDiffusionXLPipeline(
        vae=vae, text_encoder=CLIPTextModel(text["clip_l"]), text_encoder_2=CLIPTextModelWithProjection(text["clip_g"]),
        tokenizer=clip_tokenizer(), tokenizer_2=tokenizer_2, unet=sdxl_unet(reduced), scheduler=scheduler)
    return pipe.to(dtype=dtype)
