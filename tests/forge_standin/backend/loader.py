"""Stand-in of backend/loader.py: forge_loader builds the engine of a checkpoint, its weights made under
torch.inference_mode as Forge's loader makes them (so every parameter is an inference tensor).

The "checkpoint" is a name; its tiny random components come from interinv.testing.tiny_pipeline (seed 0), the UNet
with Forge's CrossAttention layers (backend/nn/unet.py).
"""

import torch

from backend.diffusion_engine.sd15 import StableDiffusion
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


def huggingface_components(prediction_type="epsilon", seed=0):
    from interinv.testing import tiny_pipeline

    pipe = tiny_pipeline(seed=seed, prediction_type=prediction_type)
    with torch.no_grad():
        pipe.text_encoder.get_input_embeddings()  # built
        final_norm = IntegratedCLIP(pipe.text_encoder).transformer.text_model.final_layer_norm
        torch.manual_seed(seed)
        final_norm.bias.normal_(0.0, LAYER_NORM_BIAS)
    return {"text_encoder": IntegratedCLIP(pipe.text_encoder), "tokenizer": pipe.tokenizer,
            "vae": IntegratedAutoencoderKL(pipe.vae), "unet": IntegratedUNet2DConditionModel(pipe.unet),
            "scheduler": pipe.scheduler}


def forge_loader(sd, additional_state_dicts=None, engine=StableDiffusion, prediction_type="epsilon"):
    components = huggingface_components(prediction_type=prediction_type)
    # Forge stores the text encoder in fp16 (text_encoder_dtype() on CPU and GPU); the stand-in keeps only its two
    # embeddings so, which Forge's engine turns into fp32 on its first encode
    embeddings = components["text_encoder"].transformer.text_model.embeddings
    embeddings.position_embedding.half()
    embeddings.token_embedding.half()
    for part in ("text_encoder", "vae", "unet"):
        as_inference_tensors(components[part])
    return engine(EstimatedConfig(), components)
