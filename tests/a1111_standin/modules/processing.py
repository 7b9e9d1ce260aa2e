"""Stand-in of modules/processing.py: StableDiffusionProcessingTxt2Img and process_images (few-step DDIM).

As in the real class, assigning `scripts` and `script_args` (both non-empty) runs the scripts' setup()
once, with `is_ui=not p.is_api`: `is_api` must be set before them.
"""

import numpy as np
import torch
from PIL import Image

from modules import devices, prompt_parser, shared

opt_f = 8  # latent factor A1111 assumes
opt_C = 4


class Processed:
    def __init__(self, p, images, seed):
        self.images = images
        self.seed = seed
        self.prompt = p.prompt
        self.infotexts = [f"{p.prompt}\nSteps: {p.steps}, Seed: {seed}, Size: {p.width}x{p.height}"] * len(images)


class StableDiffusionProcessingTxt2Img:
    def __init__(self, sd_model=None, prompt="", negative_prompt="", seed=-1, steps=50, cfg_scale=7.0, width=512,
                 height=512, sampler_name=None, batch_size=1, n_iter=1, do_not_save_samples=False,
                 do_not_save_grid=False, override_settings=None, **kwargs):
        self.sd_model = sd_model
        self.prompt, self.negative_prompt = prompt, negative_prompt
        self.seed, self.steps, self.cfg_scale = seed, steps, cfg_scale
        self.width, self.height = width, height
        self.sampler_name = sampler_name
        self.batch_size, self.n_iter = batch_size, n_iter
        self.do_not_save_samples, self.do_not_save_grid = do_not_save_samples, do_not_save_grid
        self.override_settings = dict(override_settings or {})
        self.do_not_reload_embeddings = kwargs.pop("do_not_reload_embeddings", False)
        self.is_api = False
        self.scripts_value = None
        self.script_args_value = []
        self.scripts_setup_complete = False
        self.extra_generation_params = {}
        self.closed = False

    @property
    def scripts(self):
        return self.scripts_value

    @scripts.setter
    def scripts(self, value):
        self.scripts_value = value
        self._maybe_setup_scripts()

    @property
    def script_args(self):
        return self.script_args_value

    @script_args.setter
    def script_args(self, value):
        self.script_args_value = value
        self._maybe_setup_scripts()

    def _maybe_setup_scripts(self):
        if self.scripts_value and self.script_args_value and not self.scripts_setup_complete:
            self.scripts_setup_complete = True
            self.scripts.setup_scrips(self, is_ui=not self.is_api)

    def close(self):
        self.closed = True


def _cat_conditioning(uncond, cond):
    """One batch of both conditionings: tensors (SD1/SD2) or SDXL's {"crossattn", "vector"} dicts."""
    if isinstance(cond, dict):
        return {key: torch.cat([uncond[key], cond[key]]) for key in cond}
    return torch.cat([uncond, cond])


def process_images(p):
    """Counts the job in shared.state (job_count only when begin() left it at -1; sampling_* always) and in the
    console's total progress bar, then samples."""
    if not p.do_not_reload_embeddings:
        from modules import sd_hijack

        sd_hijack.model_hijack.embedding_db.load_textual_inversion_embeddings()
    if p.scripts is not None:
        p.scripts.process(p)
    state = shared.state
    if state.job_count == -1:  # what shared.state.begin() leaves; a caller's own count is kept
        state.job_count = p.n_iter
    state.sampling_steps, state.sampling_step = p.steps, 0
    model = p.sd_model or shared.sd_model
    seed = p.seed if p.seed >= 0 else int(np.random.randint(0, 2**31))
    generator = torch.Generator().manual_seed(seed)
    alphas = model.alphas_cumprod.float().cpu()
    timesteps = torch.linspace(len(alphas) - 1, 0, p.steps).long()
    with torch.no_grad(), devices.autocast():
        cond = model.get_learned_conditioning(prompt_parser.SdConditioning([p.prompt], width=p.width, height=p.height))
        uncond = model.get_learned_conditioning(prompt_parser.SdConditioning(
            [p.negative_prompt], is_negative_prompt=True, width=p.width, height=p.height))
        both = _cat_conditioning(uncond, cond)
        x = torch.randn((1, opt_C, p.height // opt_f, p.width // opt_f), generator=generator).to(devices.device)
        for index, t in enumerate(timesteps):
            a = alphas[t]
            a_prev = alphas[timesteps[index + 1]] if index + 1 < len(timesteps) else torch.tensor(1.0)
            batch_t = torch.full((2,), int(t), dtype=torch.long, device=devices.device)
            out = model.apply_model(torch.cat([x, x]), batch_t, both)
            out_u, out_c = out.chunk(2)
            out = out_u + p.cfg_scale * (out_c - out_u)
            if model.parameterization == "v":
                x0, eps = a.sqrt() * x - (1 - a).sqrt() * out, (1 - a).sqrt() * x + a.sqrt() * out
            else:
                x0, eps = (x - (1 - a).sqrt() * out) / a.sqrt(), out
            x = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps
            state.sampling_step = index + 1
            shared.total_tqdm.update()
        pixels = ((model.decode_first_stage(x) + 1) * 127.5).clamp(0, 255).round().byte()
    state.nextjob()
    image = Image.fromarray(pixels[0].permute(1, 2, 0).cpu().numpy())
    return Processed(p, [image], seed)
