"""Stand-in of backend/loader.py: forge_loader builds the engine of a checkpoint, its weights made under
torch.inference_mode as Forge's loader makes them (so every parameter is an inference tensor).

The "checkpoint" is a name; its tiny random components come from interinv.testing.tiny_pipeline (seed 0), or for the
SDXL engine tiny_sdxl_pipeline's encoders, tokenizers, VAE and scheduler with a UNet whose `y` is CLIP-G's pooled
width plus the six 256-wide size features (Forge's adm_in_channels); each UNet with Forge's CrossAttention layers
(backend/nn/unet.py).
"""

import torch

from backend.diffusion_engine.sd15 import StableDiffusion
from backend.diffusion_engine.sdxl import StableDiffusionXL
from backend.nn.clip import IntegratedCLIP
from backend.nn.unet import IntegratedUNet2DConditionModel
from backend.nn.vae import IntegratedAutoencoderKL

LAYER_NORM_BIAS = 0.1  # a trained CLIP's final LayerNorm bias is far from zero; the tiny one's starts at zero


class EstimatedConfig:
    def inpaint_model(self):
        return False


def as_inference_tensors(module: torch.nn.Module) -> None:
    """Every parameter and buffer replaced by an inference-mode copy, as loading under inference_mode leaves them."""
    with torch.inference_mode():
        for sub in module.modules():
            for name, param in list(sub.named_parameters(recurse=False)):
                setattr(sub, name, torch.nn.Parameter(param.detach().clone(), requires_grad=False))
            for name, buffer in list(sub.named_buffers(recurse=False)):
                sub.register_buffer(name, buffer.clone())


SIZE_FEATURES = 6 * 256  # the SDXL engine's Timestep(256) of six sizes


def integrated_clip(text_model, seed, text_projection=None):
    clip = IntegratedCLIP(text_model, text_projection)
    with torch.no_grad():
        torch.manual_seed(seed)
        clip.transformer.text_model.final_layer_norm.bias.normal_(0.0, LAYER_NORM_BIAS)
    return clip


def huggingface_components(prediction_type="epsilon", seed=0):
    from interinv.testing import tiny_pipeline

    pipe = tiny_pipeline(seed=seed, prediction_type=prediction_type)
    return {"text_encoder": integrated_clip(pipe.text_encoder, seed), "tokenizer": pipe.tokenizer,
            "vae": IntegratedAutoencoderKL(pipe.vae), "unet": IntegratedUNet2DConditionModel(pipe.unet),
            "scheduler": pipe.scheduler}


def sdxl_components(prediction_type="epsilon", seed=0):
    from interinv.testing import SDXL_TINY_WIDTHS, tiny_sdxl_pipeline, tiny_unet

    pipe = tiny_sdxl_pipeline(seed=seed)
    widths = SDXL_TINY_WIDTHS
    unet = tiny_unet(widths["clip_l"] + widths["clip_g"], use_linear_projection=True, class_embed_type="projection",
                     projection_class_embeddings_input_dim=widths["clip_g"] + SIZE_FEATURES)
    encoder_2 = pipe.text_encoder_2
    return {"text_encoder": integrated_clip(pipe.text_encoder, seed), "tokenizer": pipe.tokenizer,
            "text_encoder_2": integrated_clip(encoder_2, seed + 1, encoder_2.text_projection),
            "tokenizer_2": pipe.tokenizer_2, "vae": IntegratedAutoencoderKL(pipe.vae),
            "unet": IntegratedUNet2DConditionModel(unet), "scheduler": pipe.scheduler}


COMPONENTS = {StableDiffusion: (huggingface_components, ("text_encoder",)),
              StableDiffusionXL: (sdxl_components, ("text_encoder", "text_encoder_2"))}


def forge_loader(sd, additional_state_dicts=None, engine=StableDiffusion, prediction_type="epsilon"):
    build, encoders = COMPONENTS[engine]
    components = build(prediction_type=prediction_type)
    # Forge stores the text encoders in fp16 (text_encoder_dtype() on CPU and GPU); the stand-in keeps only their two
    # embeddings so, which Forge's engine turns into fp32 on its first encode
    for part in encoders:
        embeddings = components[part].transformer.text_model.embeddings
        embeddings.position_embedding.half()
        embeddings.token_embedding.half()
    for part in (*encoders, "vae", "unet"):
        as_inference_tensors(components[part])
    return engine(EstimatedConfig(), components)
