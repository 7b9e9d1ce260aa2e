"""Stand-in of backend/patcher/vae.py: VAE.encode takes NHWC pixels in [0, 1], decode gives them back."""

import torch

from backend import memory_management
from backend.patcher.base import ModelPatcher


class VAE:
    def __init__(self, model=None, device=None, dtype=None, no_init=False):
        if no_init:
            return
        self.downscale_ratio = int(2 ** (len(model.config.down_block_types) - 1))
        self.latent_channels = int(model.config.latent_channels)
        self.first_stage_model = model.eval()
        self.device = device or memory_management.vae_device()
        self.vae_dtype = dtype or memory_management.vae_dtype()
        self.first_stage_model.to(self.vae_dtype)
        self.output_device = memory_management.intermediate_device()
        self.patcher = ModelPatcher(self.first_stage_model, load_device=self.device,
                                    offload_device=memory_management.vae_offload_device())

    def encode(self, pixel_samples):
        memory_management.load_models_gpu([self.patcher])
        regulation = self.patcher.model_options.get("model_vae_regulation", None)
        pixels = (2.0 * pixel_samples.movedim(-1, 1) - 1.0).to(self.vae_dtype).to(self.device)
        return self.first_stage_model.encode(pixels, regulation).to(self.output_device).float()

    def decode(self, samples_in):
        memory_management.load_models_gpu([self.patcher])
        pixels = self.first_stage_model.decode(samples_in.to(self.vae_dtype).to(self.device)).float()
        return torch.clamp((pixels + 1.0) / 2.0, min=0.0, max=1.0).to(self.output_device).movedim(1, -1)
