"""Stand-in of backend/modules/k_model.py: KModel (diffusion_model, predictor, apply_model(x, sigma, ...) -> x0)."""

import torch

from backend.modules.k_prediction import k_prediction_from_diffusers_scheduler


class KModel(torch.nn.Module):
    def __init__(self, model, diffusers_scheduler, k_predictor=None, config=None):
        super().__init__()
        self.config = config
        self.storage_dtype = model.storage_dtype
        self.computation_dtype = model.computation_dtype
        self.diffusion_model = model
        self.predictor = k_predictor or k_prediction_from_diffusers_scheduler(diffusers_scheduler)

    def apply_model(self, x, t, c_concat=None, c_crossattn=None, control=None, transformer_options={}, **kwargs):
        sigma = t
        xc = self.predictor.calculate_input(sigma, x).to(self.computation_dtype)
        t = self.predictor.timestep(t).float()
        context = c_crossattn.to(self.computation_dtype)
        extra = {key: value.to(self.computation_dtype) for key, value in kwargs.items()}
        model_output = self.diffusion_model(xc, t, context=context, control=control,
                                            transformer_options=transformer_options, **extra).float()
        return self.predictor.calculate_denoised(sigma, model_output, x)
