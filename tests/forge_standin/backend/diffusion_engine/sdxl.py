"""Stand-in of backend/diffusion_engine/sdxl.py: StableDiffusionXL: CLIP-L and CLIP-G, each in its own
ClassicTextProcessingEngine (keys clip_l and clip_g, clip skip 2, no final LayerNorm; CLIP-G's returns the projected
pooled output), the Timestep(256) size embedder, and get_learned_conditioning's {"crossattn", "vector"} under
torch.inference_mode, as in Forge. Both engines expect a width of 2048 (768 + 1280) in Forge; the tiny encoders' sum
here. The refiner (StableDiffusionXLRefiner, CLIP-G's engine only) is not modelled: a test removes the CLIP-L engine."""

import torch

from backend import memory_management
from backend.args import dynamic_args
from backend.diffusion_engine.base import ForgeDiffusionEngine, ForgeObjects
from backend.diffusion_engine.sd15 import StableDiffusion
from backend.nn.unet import Timestep
from backend.patcher.clip import CLIP
from backend.patcher.unet import UnetPatcher
from backend.patcher.vae import VAE
from backend.text_processing.classic_engine import ClassicTextProcessingEngine
from modules import shared


class StableDiffusionXL(ForgeDiffusionEngine):
    def __init__(self, estimated_config, huggingface_components):
        super().__init__(estimated_config, huggingface_components)
        clip = CLIP(model_dict={"clip_l": huggingface_components["text_encoder"],
                                "clip_g": huggingface_components["text_encoder_2"]},
                    tokenizer_dict={"clip_l": huggingface_components["tokenizer"],
                                    "clip_g": huggingface_components["tokenizer_2"]})
        vae = VAE(model=huggingface_components["vae"])
        unet = UnetPatcher.from_model(model=huggingface_components["unet"],
                                      diffusers_scheduler=huggingface_components["scheduler"], config=estimated_config)
        width = sum(huggingface_components[part].transformer.text_model.config.hidden_size
                    for part in ("text_encoder", "text_encoder_2"))
        engine = lambda key, pooled: ClassicTextProcessingEngine(  # noqa: E731
            text_encoder=getattr(clip.cond_stage_model, key), tokenizer=getattr(clip.tokenizer, key),
            embedding_dir=dynamic_args["embedding_dir"], embedding_key=key, embedding_expected_shape=width,
            emphasis_name=dynamic_args["emphasis_name"], text_projection=pooled, minimal_clip_skip=2, clip_skip=2,
            return_pooled=pooled, final_layer_norm=False)
        self.text_processing_engine_l = engine("clip_l", False)
        self.text_processing_engine_g = engine("clip_g", True)
        self.embedder = Timestep(256)
        self.forge_objects = ForgeObjects(unet=unet, clip=clip, vae=vae, clipvision=None)
        self.forge_objects_original = self.forge_objects.shallow_copy()
        self.forge_objects_after_applying_lora = self.forge_objects.shallow_copy()
        self.is_sdxl = True

    def set_clip_skip(self, clip_skip):
        self.text_processing_engine_l.clip_skip = clip_skip
        self.text_processing_engine_g.clip_skip = clip_skip

    @torch.inference_mode()
    def get_learned_conditioning(self, prompt: list[str]):
        memory_management.load_model_gpu(self.forge_objects.clip.patcher)
        cond_l = self.text_processing_engine_l(prompt)
        cond_g, clip_pooled = self.text_processing_engine_g(prompt)
        width = getattr(prompt, "width", 1024) or 1024
        height = getattr(prompt, "height", 1024) or 1024
        sizes = [height, width, shared.opts.sdxl_crop_top, shared.opts.sdxl_crop_left, height, width]
        flat = torch.flatten(torch.cat([self.embedder(torch.Tensor([value])) for value in sizes]))
        flat = flat.unsqueeze(dim=0).repeat(clip_pooled.shape[0], 1).to(clip_pooled)
        if getattr(prompt, "is_negative_prompt", False) and all(x == "" for x in prompt):
            clip_pooled, cond_l, cond_g = (torch.zeros_like(t) for t in (clip_pooled, cond_l, cond_g))
        return {"crossattn": torch.cat([cond_l, cond_g], dim=2), "vector": torch.cat([clip_pooled, flat], dim=1)}

    @torch.inference_mode()
    def get_prompt_lengths_on_ui(self, prompt):
        _, token_count = self.text_processing_engine_l.process_texts([prompt])
        return token_count, self.text_processing_engine_l.get_target_prompt_token_count(token_count)

    # Forge's SDXL encodes and decodes with the same code as its SD1 engine
    encode_first_stage = StableDiffusion.encode_first_stage
    decode_first_stage = StableDiffusion.decode_first_stage
