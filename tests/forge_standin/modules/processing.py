"""Stand-in of Forge's modules/processing.py: the same StableDiffusionProcessingTxt2Img as A1111's (the A1111
stand-in's class), and a process_images that works as Forge's does: it loads the chosen checkpoint first
(sd_models.forge_model_reload, into `p.sd_model`), runs the scripts, encodes the prompts through the engine (under
inference_mode, through Forge's class-level prompt cache), samples with the UnetPatcher's KModel in sigmas (a few Euler steps), decodes with the engine's VAE,
and writes the engines' "TI" names (classic_engine.last_extra_generation_params) into the infotext. The prompts go
to the engine as Forge's SdConditioning (a list with the image's width and height, which SDXL conditions on); an SDXL
conditioning's "vector" reaches the UNet as `y`.
"""

import importlib.util
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import backend.text_processing.classic_engine
from modules import sd_models, shared

_spec = importlib.util.spec_from_file_location(
    "a1111_standin_processing", Path(__file__).resolve().parents[2] / "a1111_standin" / "modules" / "processing.py")
_a1111 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_a1111)


class StableDiffusionProcessingTxt2Img(_a1111.StableDiffusionProcessingTxt2Img):
    """A1111's class plus Forge's prompt cache: conditionings are kept across generations (class level), keyed by
    the prompt and checkpoint, until clear_prompt_cache()."""

    cached_c = [None, None, None]
    cached_uc = [None, None, None]

    def clear_prompt_cache(self):
        self.cached_c = [None, None, None]
        self.cached_uc = [None, None, None]
        StableDiffusionProcessingTxt2Img.cached_c = [None, None, None]
        StableDiffusionProcessingTxt2Img.cached_uc = [None, None, None]

    def get_conds_with_caching(self, prompt, cache, is_negative_prompt=False):
        key = (prompt, self.sd_model.sd_checkpoint_info.title)
        if cache[0] == key:
            backend.text_processing.classic_engine.last_extra_generation_params.update(cache[2])
            return cache[1]
        before = dict(backend.text_processing.classic_engine.last_extra_generation_params)
        cond = self.sd_model.get_learned_conditioning(SdConditioning([prompt], self.width, self.height, is_negative_prompt))
        added = {k: v for k, v in backend.text_processing.classic_engine.last_extra_generation_params.items() if before.get(k) != v}
        cache[:] = [key, cond, added]
        return cond


class SdConditioning(list):
    """Real: modules/prompt_parser.py SdConditioning: the prompts, and the image size they are for."""

    def __init__(self, prompts, width, height, is_negative_prompt=False):
        super().__init__(prompts)
        self.width, self.height, self.is_negative_prompt = width, height, is_negative_prompt


def batched(uncond, cond):
    """The UNet's inputs for [uncond, cond]: c_crossattn, and SDXL's vector as y."""
    if not isinstance(cond, dict):
        return {"c_crossattn": torch.cat([uncond, cond])}
    return {"c_crossattn": torch.cat([uncond["crossattn"], cond["crossattn"]]), "y": torch.cat([uncond["vector"], cond["vector"]])}


class Processed(_a1111.Processed):
    def __init__(self, p, images, seed, extra_generation_params):
        super().__init__(p, images, seed)
        extra = "".join(f", {key}: {value}" for key, value in extra_generation_params.items())
        self.infotexts = [text + extra for text in self.infotexts]


def process_images(p):
    p.sd_model, _just_reloaded = sd_models.forge_model_reload()
    if p.scripts is not None:
        p.scripts.process(p)
    state = shared.state
    if state.job_count == -1:
        state.job_count = p.n_iter
    state.sampling_steps, state.sampling_step = p.steps, 0
    model = p.sd_model
    seed = p.seed if p.seed >= 0 else int(np.random.randint(0, 2**31))
    generator = torch.Generator().manual_seed(seed)
    backend.text_processing.classic_engine.last_extra_generation_params = {}
    cond = p.get_conds_with_caching(p.prompt, StableDiffusionProcessingTxt2Img.cached_c)
    uncond = p.get_conds_with_caching(p.negative_prompt, StableDiffusionProcessingTxt2Img.cached_uc, True)
    extra = backend.text_processing.classic_engine.last_extra_generation_params.copy()
    unet = model.forge_objects.unet
    predictor = unet.model.predictor
    ratio = model.forge_objects.vae.downscale_ratio
    sigmas = torch.cat([predictor.sigma(torch.linspace(len(predictor.sigmas) - 1, 0, p.steps)), torch.zeros(1)])
    with torch.inference_mode():
        x = torch.randn((1, 4, p.height // ratio, p.width // ratio), generator=generator) * sigmas[0]
        for index in range(p.steps):
            sigma = sigmas[index].expand(2)
            denoised = unet.model.apply_model(torch.cat([x, x]), sigma, **batched(uncond, cond))
            d_u, d_c = denoised.chunk(2)
            denoised = d_u + p.cfg_scale * (d_c - d_u)
            x = x + (x - denoised) / sigmas[index] * (sigmas[index + 1] - sigmas[index])
            state.sampling_step = index + 1
        pixels = ((model.decode_first_stage(x) + 1) * 127.5).clamp(0, 255).round().byte()
    state.nextjob()
    image = Image.fromarray(pixels[0].permute(1, 2, 0).cpu().numpy())
    return Processed(p, [image], seed, extra)
