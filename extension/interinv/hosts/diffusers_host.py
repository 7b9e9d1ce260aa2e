"""The Host protocol on a diffusers Stable Diffusion pipeline (SD1.x and SD2.x, eps and v)."""

from __future__ import annotations

import contextlib
import functools
import json
import os
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import torch
from PIL import Image

from ..compat import diffusers_load_kwargs
from ..core.attention import ProbedLayer
from ..errors import InterInvError
from ..core.tokens import TokenizedPrompt, slot_table, splice, tokenize_with_words
from ..formats.families import ENCODERS, FAMILY_BY_WIDTH, check_family
from .base import ImageSize, Vectors
from .images import encode_in_batches

PLACEHOLDER_TEXT = "*"  # any in-vocabulary token; its embedding is replaced before use
RENDER_PIXELS = 64 * 64 * 64  # pixels per pipeline call of generate_batch: 64 world images, one 512 px image


def pick_precision(device: torch.device, precision: str) -> torch.dtype:
    """fp32 on the CPU; on CUDA bf16 where supported, else fp16 ("auto"), or what was asked for."""
    choices = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
    if device.type != "cuda":
        return torch.float32
    if precision == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if precision not in choices:
        raise InterInvError(f"--precision must be auto, fp32, fp16 or bf16, got '{precision}'.")
    return choices[precision]


class DiffusersHost:
    """A StableDiffusionPipeline (and optionally an openpose ControlNet) as an InterInv host."""

    def __init__(
        self,
        pipe,
        *,
        family: str | None = None,
        device: str | torch.device | None = None,
        precision: str = "auto",
        controlnet=None,
        model_name: str = "",
    ):
        if getattr(pipe, "text_encoder_2", None) is not None:
            raise InterInvError(
                f"'{model_name or type(pipe).__name__}' is an SDXL pipeline; SDXL training is not supported yet. "
                "Use an SD1.x or SD2.x model."
            )
        self.pipe = pipe
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.dtype = pick_precision(self.device, precision)
        self.grad_scaling = self.dtype == torch.float16
        self.controlnet = controlnet
        self.model_name = model_name or type(pipe).__name__
        width = pipe.text_encoder.get_input_embeddings().weight.shape[1]
        self.family = check_family(family or FAMILY_BY_WIDTH.get(width, "unknown"), self.model_name)
        self.encoder_key = ENCODERS[self.family][0]
        self.embedding_dims = {self.encoder_key: width}
        self.prediction_type = pipe.scheduler.config.get("prediction_type", "epsilon")
        self.alphas_cumprod = self._alphas_cumprod(pipe.scheduler.config)
        self._latent_factor = 2 ** (len(pipe.vae.config.block_out_channels) - 1)  # image side / latent side
        self._splice_args: tuple[torch.Tensor, torch.Tensor] | None = None
        self._control_pipe = None
        pipe.to(self.device)
        pipe.set_progress_bar_config(disable=True)
        pipe.text_encoder.get_input_embeddings().register_forward_hook(self._splice_hook)

    @staticmethod
    def _alphas_cumprod(scheduler_config) -> torch.Tensor:
        from diffusers import DDPMScheduler

        return DDPMScheduler.from_config(scheduler_config).alphas_cumprod.float().cpu()

    # --- text -------------------------------------------------------------------------------
    def _encode_text(self, text: str) -> list[int]:
        return list(self.pipe.tokenizer(text, add_special_tokens=False).input_ids)

    @functools.lru_cache(maxsize=4096)
    def _tokenize(self, prompt: str, words: tuple[tuple[str, int], ...]) -> TokenizedPrompt:
        tok = self.pipe.tokenizer
        return tokenize_with_words(
            prompt,
            dict(words),
            self._encode_text,
            bos=tok.bos_token_id,
            eos=tok.eos_token_id,
            pad=tok.pad_token_id,
            placeholder=self._encode_text(PLACEHOLDER_TEXT)[0],
            max_length=tok.model_max_length,
        )

    def token_rows(self, words: Sequence[str]) -> dict[str, list[torch.Tensor]]:
        table = self.pipe.text_encoder.get_input_embeddings().weight.detach()
        return {self.encoder_key: [table[self._encode_text(word)].float().cpu() for word in words]}

    def token_positions(self, prompt: str, words: Mapping[str, int]) -> dict[str, list[int]]:
        return self._tokenize(prompt, tuple(sorted(words.items()))).positions

    def _splice_hook(self, _module, _inputs, output):
        if self._splice_args is None:
            return output
        slots, table = self._splice_args
        return splice(output, slots.to(output.device), table.to(output.device))

    @contextlib.contextmanager
    def _spliced(self, slots: torch.Tensor, table: torch.Tensor | None) -> Iterator[None]:
        self._splice_args = None if table is None else (slots, table)
        try:
            yield
        finally:
            self._splice_args = None

    def encode_prompts(self, prompts: Sequence[str], vectors: Vectors,
                       sizes: Sequence[ImageSize] | None = None) -> torch.Tensor:
        counts = {name: vecs[self.encoder_key].shape[0] for name, vecs in vectors.items()}
        key = tuple(sorted(counts.items()))
        tokenized = [self._tokenize(prompt, key) for prompt in prompts]
        order = list(vectors)
        table = torch.cat([vectors[name][self.encoder_key] for name in order]) if order else None
        ids = torch.tensor([t.ids for t in tokenized], device=self.device)
        with self._spliced(slot_table(tokenized, order, counts), table), self._autocast():
            return self.pipe.text_encoder(ids)[0]

    # --- images and the UNet -------------------------------------------------------------------
    def encode_images(self, images: Sequence[Image.Image], size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        return encode_in_batches(images, size, self._posterior)

    def _posterior(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        vae, scale = self.pipe.vae, self.pipe.vae.config.scaling_factor
        posterior = vae.encode(pixels.to(self.device, vae.dtype)).latent_dist
        return posterior.mean * scale, posterior.std * scale

    def predict(self, x_t: torch.Tensor, t: torch.Tensor, cond: Any) -> torch.Tensor:
        unet = self.pipe.unet
        with self._autocast():
            return unet(x_t.to(self.device, unet.dtype), t.to(self.device), encoder_hidden_states=cond.to(unet.dtype)).sample

    def cross_attention_layers(self, latent_size: tuple[int, int]) -> list[ProbedLayer]:
        sizes = _block_sizes(self.pipe.unet, latent_size)
        layers = []
        for name, module in self.pipe.unet.named_modules():
            if name.endswith("attn2") and hasattr(module, "to_k"):
                block = ".".join(name.split(".")[:2]) if not name.startswith("mid_block") else "mid_block"
                layers.append(ProbedLayer(name=name, module=module, size=sizes[block]))
        return layers

    @contextlib.contextmanager
    def training(self) -> Iterator[None]:
        from diffusers.models.attention_processor import AttnProcessor2_0

        modules = [self.pipe.unet, self.pipe.vae, self.pipe.text_encoder]
        grads = [[(p, p.requires_grad) for p in m.parameters()] for m in modules]
        modes = [(m, m.training) for mod in modules for m in mod.modules()]
        processors = self.pipe.unet.attn_processors
        try:
            for module in modules:
                module.requires_grad_(False).eval()
            self.pipe.unet.set_attn_processor(AttnProcessor2_0())
            yield
        finally:
            self.pipe.unet.set_attn_processor(processors)
            for param, flag in (pair for group in grads for pair in group):
                param.requires_grad_(flag)
            for module, mode in modes:
                module.training = mode

    def _autocast(self):
        if self.dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    # --- generation and installation -----------------------------------------------------------
    def generate_batch(
        self,
        prompts: Sequence[str],
        *,
        seeds: Sequence[int],
        pose_image: Image.Image | None = None,
        steps: int = 20,
        guidance_scale: float = 7.5,
        negative_prompt: str = "",
        size: tuple[int, int] | None = None,
        vectors: Vectors | None = None,
    ) -> list[Image.Image]:
        width, height = size or (self.pipe.unet.config.sample_size * self._latent_factor,) * 2
        per_call = max(1, RENDER_PIXELS // (width * height))
        pose = pose_image.convert("RGB").resize((width, height)) if pose_image is not None else None
        settings = dict(pose_image=pose, steps=steps, guidance_scale=guidance_scale,
                        negative_prompt=negative_prompt, size=(width, height), vectors=vectors)
        images = []
        for start in range(0, len(prompts), per_call):
            images += self._pipeline_call(list(prompts[start : start + per_call]),
                                          [int(seed) for seed in seeds[start : start + per_call]], **settings)
        return images

    @torch.no_grad()
    def _pipeline_call(self, prompts: list[str], seeds: list[int], *, pose_image: Image.Image | None, steps: int,
                       guidance_scale: float, negative_prompt: str, size: tuple[int, int],
                       vectors: Vectors | None) -> list[Image.Image]:
        negatives = [negative_prompt] * len(prompts)
        if vectors is None:  # the pipeline's own text path, with installed embeddings
            text = dict(prompt=prompts, negative_prompt=negatives)
        else:
            text = dict(prompt_embeds=self.encode_prompts(prompts, vectors),
                        negative_prompt_embeds=self.encode_prompts(negatives, {}))
        kwargs = dict(
            **text,
            num_inference_steps=steps,
            guidance_scale=guidance_scale,
            width=size[0],
            height=size[1],
            generator=[torch.Generator("cpu").manual_seed(seed) for seed in seeds],  # per image: batching keeps each
        )
        if pose_image is None:
            return self.pipe(**kwargs).images
        return self._controlnet_pipe()(image=pose_image, **kwargs).images

    @property
    def can_generate_poses(self) -> bool:
        return self.controlnet is not None

    def _controlnet_pipe(self):
        if self.controlnet is None:
            raise InterInvError(
                "Stage-1 synthesis needs an openpose ControlNet, and none is loaded. Pass --controlnet with a local "
                "ControlNet folder or hub id (e.g. lllyasviel/control_v11p_sd15_openpose), or choose the crop fallback."
            )
        from diffusers import StableDiffusionControlNetPipeline

        if self._control_pipe is None:  # built once: construction is slow and logs a safety-checker notice
            components = {k: v for k, v in self.pipe.components.items() if k != "image_encoder"}
            self._control_pipe = StableDiffusionControlNetPipeline(
                **components, controlnet=self.controlnet.to(self.device), requires_safety_checker=False)
            self._control_pipe.set_progress_bar_config(disable=True)
        return self._control_pipe

    def install_embeddings(self, paths: Sequence[str]) -> list[str]:
        from ..formats.embedding_files import read_embedding

        names = []
        for path in paths:
            name = Path(path).stem
            vectors = read_embedding(path).for_model(self.family, self.embedding_dims)[self.encoder_key]
            if name in self.pipe.tokenizer.get_vocab():
                raise InterInvError(f"'{name}' is already loaded in this pipeline; load each embedding once.")
            self.pipe.load_textual_inversion(vectors.to(self.device), token=name)
            names.append(name)
        return names


def _block_sizes(unet, latent_size: tuple[int, int]) -> dict[str, tuple[int, int]]:
    """Spatial size at each down/mid/up block of a UNet2DConditionModel for a latent size."""
    h, w = latent_size
    sizes = {}
    down_blocks = unet.down_blocks
    for index, block in enumerate(down_blocks):
        sizes[f"down_blocks.{index}"] = (h, w)
        if getattr(block, "downsamplers", None):
            h, w = (h + 1) // 2, (w + 1) // 2
    sizes["mid_block"] = (h, w)
    for index, block in enumerate(unet.up_blocks):
        sizes[f"up_blocks.{index}"] = (h, w)
        if getattr(block, "upsamplers", None):
            h, w = h * 2, w * 2
    return sizes


def load_host(
    model: str,
    *,
    device: str | None = None,
    precision: str = "auto",
    controlnet: str | None = None,
    family: str | None = None,
    config: str | None = None,
) -> DiffusersHost:
    """A host from a local diffusers folder, a single-file .safetensors/.ckpt, or a hub id."""
    from diffusers import ControlNetModel, StableDiffusionPipeline
    from diffusers.loaders.single_file_utils import SingleFileComponentError

    device_obj = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype = pick_precision(device_obj, precision)
    path = Path(model).expanduser()
    try:
        if path.is_dir():
            _refuse_sdxl_folder(path)
            pipe = StableDiffusionPipeline.from_pretrained(path, safety_checker=None, **diffusers_load_kwargs(dtype))
        elif path.suffix.lower() in (".safetensors", ".ckpt"):
            if not path.is_file():
                raise InterInvError(f"Model file '{path}' does not exist. Check the --model path.")
            pipe = StableDiffusionPipeline.from_single_file(str(path), config=config, torch_dtype=dtype)
        elif os.sep in model or model.startswith("."):
            raise InterInvError(f"Model folder '{model}' does not exist. Check the --model path.")
        else:
            pipe = StableDiffusionPipeline.from_pretrained(model, safety_checker=None, **diffusers_load_kwargs(dtype))
        control = ControlNetModel.from_pretrained(controlnet, **diffusers_load_kwargs(dtype)) if controlnet else None
    except InterInvError:
        raise
    except SingleFileComponentError as exc:  # its advice (load the part yourself) is for diffusers users
        raise InterInvError(
            f"'{model}' is not a whole Stable Diffusion 1.x/2.x checkpoint ({str(exc).split('.')[0]}). A LoRA, VAE, "
            "ControlNet or embedding file cannot serve as --model; give the base model's file or folder."
        ) from exc
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise InterInvError(
            f"Could not load the model '{model}': {' '.join(str(exc).split()).rstrip('.')}. Expected a diffusers folder (with "
            "model_index.json), a Stable Diffusion 1.x/2.x single-file .safetensors/.ckpt checkpoint (offline: add "
            "--config-dir with a diffusers folder of the same family), or a hub id with network access."
        ) from exc
    return DiffusersHost(pipe, family=family, device=device_obj, precision=precision, controlnet=control, model_name=model)


def _refuse_sdxl_folder(path: Path) -> None:
    index = path / "model_index.json"
    if not index.is_file():
        raise InterInvError(f"'{path}' is not a diffusers model folder: model_index.json is missing.")
    try:
        class_name = json.loads(index.read_text()).get("_class_name", "")
    except json.JSONDecodeError as exc:
        raise InterInvError(f"'{index}' is not valid JSON: {exc}.") from exc
    if "XL" in class_name:
        raise InterInvError(f"'{path}' is an SDXL model ({class_name}); SDXL training is not supported yet.")
