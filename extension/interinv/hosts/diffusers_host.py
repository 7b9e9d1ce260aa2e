"""The Host protocol on a diffusers Stable Diffusion pipeline (SD1.x and SD2.x, eps and v; SDXL base)."""

from __future__ import annotations

import contextlib
import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import torch
import torch.utils.checkpoint
from PIL import Image

from ..compat import diffusers_load_kwargs
from ..core.attention import ProbedLayer
from ..errors import InterInvError
from ..core.tokens import TokenizedPrompt, slot_table, splice, tokenize_with_words
from ..formats.families import ENCODERS, FAMILY_BY_WIDTH, check_family
from .base import ImageSize, Vectors
from .images import encode_in_batches

PLACEHOLDER_TEXT = "*"  # any in-vocabulary token; its embedding is replaced before use
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")  # owner/name; anything else that is not on disk is a wrong path
OPENPOSE_EXAMPLES = {"sd1": "lllyasviel/control_v11p_sd15_openpose", "sdxl": "xinsir/controlnet-openpose-sdxl-1.0"}
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


@dataclass(frozen=True)
class TextEncoder:
    """One text encoder of a pipeline, with its own tokenizer and token-embedding table."""

    key: str  # "clip_l", "clip_h" or "clip_g"
    tokenizer: Any
    model: Any

    @property
    def table(self) -> torch.Tensor:
        return self.model.get_input_embeddings().weight


@dataclass(frozen=True)
class SdxlCond:
    """SDXL's conditioning: both encoders' penultimate hidden states side by side, the pooled embedding of
    encoder 2, and the size conditioning (add_time_ids) of each prompt's image."""

    hidden: torch.Tensor  # [B, 77, D_l + D_g]
    text_embeds: torch.Tensor  # [B, D_pool]
    time_ids: torch.Tensor  # [B, 6]: original (h, w), crop top-left (y, x), target (h, w)


def text_encoders(pipe, family: str | None, source: str) -> tuple[str, list[TextEncoder]]:
    """The model family and its text encoders in ENCODERS order: one for SD1/SD2, two for SDXL."""
    if getattr(pipe, "text_encoder_2", None) is None:
        width = pipe.text_encoder.get_input_embeddings().weight.shape[1]
        family = check_family(family or FAMILY_BY_WIDTH.get(width, "unknown"), source)
        return family, [TextEncoder(ENCODERS[family][0], pipe.tokenizer, pipe.text_encoder)]
    if getattr(pipe, "text_encoder", None) is None:
        _refuse_refiner(source)
    keys = ENCODERS["sdxl"]
    return "sdxl", [TextEncoder(keys[0], pipe.tokenizer, pipe.text_encoder),
                    TextEncoder(keys[1], pipe.tokenizer_2, pipe.text_encoder_2)]


def _pool_at_eos(encoder: TextEncoder) -> None:
    """Make the pooled embedding come from the EOS token, as it does in training, A1111 and ComfyUI.

    transformers pools CLIP at the highest token id when the config has the legacy eos_token_id 2 (configs
    converted before transformers 4.31, SDXL base's among them); once a word is loaded, its id is the highest.
    Prompts without loaded words pool at the EOS token either way. The pooling module is `text_model`, or the model
    itself where transformers has flattened it (its CLIPTextModel has no `text_model` since 5.x)."""
    text_model = getattr(encoder.model, "text_model", encoder.model)
    if getattr(text_model, "eos_token_id", None) == 2:
        text_model.eos_token_id = encoder.tokenizer.eos_token_id


class DiffusersHost:
    """A StableDiffusionPipeline or StableDiffusionXLPipeline (and optionally an openpose ControlNet) as a host."""

    def __init__(
        self,
        pipe,
        *,
        family: str | None = None,
        device: str | torch.device | None = None,
        precision: str = "auto",
        controlnet=None,
        model_name: str = "",
        gradient_checkpointing: bool = False,
    ):
        self.pipe = pipe
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.dtype = pick_precision(self.device, precision)
        self.grad_scaling = self.dtype == torch.float16
        self.controlnet = controlnet
        self.model_name = model_name or type(pipe).__name__
        self.family, self._encoders = text_encoders(pipe, family, self.model_name)
        if pipe.unet.config.in_channels != pipe.vae.config.latent_channels:
            _refuse_extra_inputs(self.model_name, pipe.unet.config.in_channels, self.family)
        if self.family == "sdxl":
            _pool_at_eos(self._encoders[-1])
        self.embedding_dims = {enc.key: enc.table.shape[1] for enc in self._encoders}
        self.gradient_checkpointing = gradient_checkpointing  # of the frozen UNet, during training() only
        self.prediction_type = pipe.scheduler.config.get("prediction_type", "epsilon")
        self.alphas_cumprod = self._alphas_cumprod(pipe.scheduler.config)
        self._latent_factor = 2 ** (len(pipe.vae.config.block_out_channels) - 1)  # image side / latent side
        self._splice_args: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self._control_pipe = None
        self._probe_modules: dict[torch.nn.Module, list[torch.nn.Module]] = {}
        pipe.to(self.device)
        pipe.set_progress_bar_config(disable=True)
        for encoder in self._encoders:
            encoder.model.get_input_embeddings().register_forward_hook(functools.partial(self._splice_hook, encoder.key))

    @staticmethod
    def _alphas_cumprod(scheduler_config) -> torch.Tensor:
        from diffusers import DDPMScheduler

        return DDPMScheduler.from_config(scheduler_config).alphas_cumprod.float().cpu()

    @property
    def default_size(self) -> tuple[int, int]:
        """The model's native image size, (width, height)."""
        return (self.pipe.unet.config.sample_size * self._latent_factor,) * 2

    # --- text -------------------------------------------------------------------------------
    @staticmethod
    def _encode_text(tokenizer, text: str) -> list[int]:
        return list(tokenizer(text, add_special_tokens=False).input_ids)

    @functools.lru_cache(maxsize=4096)
    def _tokenize(self, prompt: str, words: tuple[tuple[str, int], ...]) -> tuple[TokenizedPrompt, ...]:
        """The prompt in each encoder's tokenizer; the pseudo-words must sit at the same positions in all."""
        tokenized = []
        for encoder in self._encoders:
            tok = encoder.tokenizer
            encode = functools.partial(self._encode_text, tok)
            tokenized.append(tokenize_with_words(
                prompt, dict(words), encode, bos=tok.bos_token_id, eos=tok.eos_token_id, pad=tok.pad_token_id,
                placeholder=encode(PLACEHOLDER_TEXT)[0], max_length=tok.model_max_length))
        if any(t.positions != tokenized[0].positions for t in tokenized[1:]):
            raise InterInvError(
                f"The prompt '{prompt[:80]}' puts the trained words at different token positions in this model's two "
                "tokenizers, so one vector set would condition the wrong tokens. Use a caption of plain words.")
        return tuple(tokenized)

    def token_rows(self, words: Sequence[str]) -> dict[str, list[torch.Tensor]]:
        rows = {}
        for encoder in self._encoders:
            table = encoder.table.detach()
            rows[encoder.key] = [table[self._encode_text(encoder.tokenizer, word)].float().cpu() for word in words]
        return rows

    def token_positions(self, prompt: str, words: Mapping[str, int]) -> dict[str, list[int]]:
        return self._tokenize(prompt, tuple(sorted(words.items())))[0].positions

    def _splice_hook(self, key: str, _module, _inputs, output):
        if key not in self._splice_args:
            return output
        slots, table = self._splice_args[key]
        return splice(output, slots.to(output.device), table.to(output.device))

    @contextlib.contextmanager
    def _spliced(self, slots: torch.Tensor, tables: dict[str, torch.Tensor]) -> Iterator[None]:
        self._splice_args = {key: (slots, table) for key, table in tables.items()}
        try:
            yield
        finally:
            self._splice_args = {}

    def encode_prompts(self, prompts: Sequence[str], vectors: Vectors,
                       sizes: Sequence[ImageSize] | None = None) -> torch.Tensor | SdxlCond:
        first = self._encoders[0].key
        counts = {name: vecs[first].shape[0] for name, vecs in vectors.items()}
        key = tuple(sorted(counts.items()))
        tokenized = [self._tokenize(prompt, key) for prompt in prompts]
        order = list(vectors)
        tables = {enc.key: torch.cat([vectors[name][enc.key] for name in order]) for enc in self._encoders} if order else {}
        slots = slot_table([t[0] for t in tokenized], order, counts)
        with self._spliced(slots, tables), self._autocast():
            outputs = [enc.model(torch.tensor([t[i].ids for t in tokenized], device=self.device),
                                 output_hidden_states=self.family == "sdxl")
                       for i, enc in enumerate(self._encoders)]
        if self.family != "sdxl":
            return outputs[0][0]  # the final layer's normed hidden states
        return SdxlCond(hidden=torch.cat([out.hidden_states[-2] for out in outputs], dim=-1),
                        text_embeds=outputs[-1].text_embeds, time_ids=self._time_ids(sizes, len(prompts)))

    def _time_ids(self, sizes: Sequence[ImageSize] | None, count: int) -> torch.Tensor:
        """SDXL's add_time_ids per prompt, in its order; None: the native size, uncropped."""
        if sizes is None:
            width, height = self.default_size
            sizes = [ImageSize(original=(height, width), target=(height, width))] * count
        return torch.tensor([[*s.original, *s.crop_top_left, *s.target] for s in sizes],
                            dtype=torch.float32, device=self.device)

    # --- images and the UNet -------------------------------------------------------------------
    def encode_images(self, images: Sequence[Image.Image], size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        return encode_in_batches(images, size, self._posterior)

    def _posterior(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        vae, scale = self.pipe.vae, self.pipe.vae.config.scaling_factor
        # SDXL's VAE gives inf/NaN latents in fp16 (its config says force_upcast); the pipeline decodes in fp32 too
        overflows = self.family == "sdxl" and vae.dtype == torch.float16 and vae.config.get("force_upcast", False)
        with _in_fp32(vae) if overflows else contextlib.nullcontext():
            posterior = vae.encode(pixels.to(self.device, vae.dtype)).latent_dist
        return posterior.mean * scale, posterior.std * scale

    def predict(self, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | SdxlCond) -> torch.Tensor:
        unet = self.pipe.unet
        if isinstance(cond, SdxlCond):
            hidden = cond.hidden
            added = {"added_cond_kwargs": {"text_embeds": cond.text_embeds.to(unet.dtype),
                                           "time_ids": cond.time_ids.to(unet.dtype)}}
        else:
            hidden, added = cond, {}
        with self._autocast():
            return unet(x_t.to(self.device, unet.dtype), t.to(self.device), encoder_hidden_states=hidden.to(unet.dtype),
                        **added).sample

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

        unet = self.pipe.unet
        modules = [unet, self.pipe.vae, *(encoder.model for encoder in self._encoders)]
        grads = [[(p, p.requires_grad) for p in m.parameters()] for m in modules]
        modes = [(m, m.training) for mod in modules for m in mod.modules()]
        processors = unet.attn_processors
        checkpointing = unet.is_gradient_checkpointing
        try:
            for module in modules:
                module.requires_grad_(False).eval()
            unet.set_attn_processor(AttnProcessor2_0())
            if self.gradient_checkpointing:  # recompute activations in backward: the input gradients need them
                unet.enable_gradient_checkpointing(self._checkpoint_unless_probed)
            yield
        finally:
            if not checkpointing:
                unet.disable_gradient_checkpointing()
            unet.set_attn_processor(processors)
            for param, flag in (pair for group in grads for pair in group):
                param.requires_grad_(flag)
            for module, mode in modes:
                module.training = mode

    def _checkpoint_unless_probed(self, block, *args):
        """Recompute a UNet block's activations in the backward pass, except in a block where an attention probe
        hooks a layer: the probe's hooks are gone by then, so the recomputation would not repeat the forward."""
        if any(module._forward_hooks for module in self._probe_points(block)):
            return block(*args)
        return torch.utils.checkpoint.checkpoint(block.__call__, *args, use_reentrant=False)

    def _probe_points(self, block) -> list[torch.nn.Module]:
        """The to_q/to_k modules of the attn2 layers inside a block (what AttentionProbe hooks), found once."""
        if block not in self._probe_modules:
            self._probe_modules[block] = [getattr(module, part) for name, module in block.named_modules()
                                          if name.endswith("attn2") for part in ("to_q", "to_k")]
        return self._probe_modules[block]

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
        width, height = size or self.default_size
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
        text = self._pipeline_text(prompts, negative_prompt, vectors)
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

    def _pipeline_text(self, prompts: list[str], negative_prompt: str, vectors: Vectors | None) -> dict:
        """The text arguments of a pipeline call: prompts, or embeddings with `vectors` spliced in.

        An empty negative prompt is what the pipeline makes of none: SDXL base zeroes it
        (force_zeros_for_empty_prompt), SD1/SD2 encode ""."""
        zero_negative = not negative_prompt and self.pipe.config.get("force_zeros_for_empty_prompt", False)
        negatives = None if zero_negative else [negative_prompt] * len(prompts)
        if vectors is None:  # the pipeline's own text path, with installed embeddings
            return dict(prompt=prompts, negative_prompt=negatives)
        cond = self.encode_prompts(prompts, vectors)
        if not isinstance(cond, SdxlCond):
            return dict(prompt_embeds=cond, negative_prompt_embeds=self.encode_prompts(negatives, {}))
        negative = SdxlCond(torch.zeros_like(cond.hidden), torch.zeros_like(cond.text_embeds), cond.time_ids) \
            if zero_negative else self.encode_prompts(negatives, {})
        return dict(prompt_embeds=cond.hidden, pooled_prompt_embeds=cond.text_embeds,
                    negative_prompt_embeds=negative.hidden, negative_pooled_prompt_embeds=negative.text_embeds)

    @property
    def can_generate_poses(self) -> bool:
        return self.controlnet is not None

    def _controlnet_pipe(self):
        if self.controlnet is None:
            raise InterInvError(
                "Stage-1 synthesis needs an openpose ControlNet, and none is loaded. Pass --controlnet with a local "
                f"ControlNet folder or hub id (e.g. {OPENPOSE_EXAMPLES.get(self.family, OPENPOSE_EXAMPLES['sd1'])}), "
                "or choose the crop fallback."
            )
        from diffusers import StableDiffusionControlNetPipeline, StableDiffusionXLControlNetPipeline

        if self._control_pipe is None:  # built once: construction is slow and logs a safety-checker notice
            components = {k: v for k, v in self.pipe.components.items() if k != "image_encoder"}
            if self.family == "sdxl":
                build = functools.partial(StableDiffusionXLControlNetPipeline,
                                          force_zeros_for_empty_prompt=self.pipe.config.force_zeros_for_empty_prompt)
            else:
                build = functools.partial(StableDiffusionControlNetPipeline, requires_safety_checker=False)
            self._control_pipe = build(**components, controlnet=self.controlnet.to(self.device))
            self._control_pipe.set_progress_bar_config(disable=True)
        return self._control_pipe

    def install_embeddings(self, paths: Sequence[str]) -> list[str]:
        from ..formats.embedding_files import read_embedding

        names = []
        for path in paths:
            name = Path(path).stem
            vectors = read_embedding(path).for_model(self.family, self.embedding_dims)
            if name in self.pipe.tokenizer.get_vocab():
                raise InterInvError(f"'{name}' is already loaded in this pipeline; load each embedding once.")
            for encoder in self._encoders:  # one call per encoder, as diffusers documents for SDXL
                self.pipe.load_textual_inversion(vectors[encoder.key].to(self.device), token=name,
                                                 text_encoder=encoder.model, tokenizer=encoder.tokenizer)
            names.append(name)
        return names


@contextlib.contextmanager
def _in_fp32(module: torch.nn.Module) -> Iterator[None]:
    """The module's weights in fp32 while inside, back in their dtype afterwards."""
    dtype = next(module.parameters()).dtype
    module.to(torch.float32)
    try:
        yield
    finally:
        module.to(dtype)


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
    gradient_checkpointing: bool = False,
) -> DiffusersHost:
    """A host from a local diffusers folder, a single-file .safetensors/.ckpt, or a hub id (SD1.x, SD2.x or SDXL)."""
    from diffusers import ControlNetModel
    from diffusers.loaders.single_file_utils import SingleFileComponentError

    device_obj = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype = pick_precision(device_obj, precision)
    path = Path(model).expanduser()
    try:
        if path.is_dir():
            if not (path / "model_index.json").is_file():
                raise InterInvError(f"'{path}' is not a diffusers model folder: model_index.json is missing.")
            pipe = _from_pretrained(str(path), dtype)
        elif path.suffix.lower() in (".safetensors", ".ckpt"):
            if not path.is_file():
                raise InterInvError(f"Model file '{path}' does not exist. Check the --model path.")
            pipe = _single_file_pipeline_class(path).from_single_file(str(path), config=config, torch_dtype=dtype)
        elif not HUB_ID.fullmatch(model) or path.parent.is_dir():  # "models/x" with a local models/: a mistyped path
            raise InterInvError(f"Model folder '{model}' does not exist. Check the --model path.")
        else:
            pipe = _from_pretrained(model, dtype)
        control = ControlNetModel.from_pretrained(controlnet, **diffusers_load_kwargs(dtype)) if controlnet else None
    except InterInvError:
        raise
    except SingleFileComponentError as exc:  # its advice (load the part yourself) is for diffusers users
        raise InterInvError(
            f"'{model}' is not a whole Stable Diffusion 1.x/2.x/XL checkpoint ({str(exc).split('.')[0]}). A LoRA, VAE, "
            "ControlNet or embedding file cannot serve as --model; give the base model's file or folder."
        ) from exc
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise InterInvError(
            f"Could not load the model '{model}': {' '.join(str(exc).split()).rstrip('.')}. Expected a diffusers folder (with "
            "model_index.json), a Stable Diffusion 1.x/2.x/XL single-file .safetensors/.ckpt checkpoint (offline: add "
            "--config-dir with a diffusers folder of the same family), or a hub id with network access."
        ) from exc
    return DiffusersHost(pipe, family=family, device=device_obj, precision=precision, controlnet=control,
                         model_name=model, gradient_checkpointing=gradient_checkpointing)


SDXL_BASE_KEY = "conditioner.embedders.1."  # SDXL base's second text encoder (OpenCLIP-G) in a single file
SDXL_REFINER_KEY = "conditioner.embedders.0.model."  # the refiner's only encoder is OpenCLIP-G
UNET_INPUT_KEY = "model.diffusion_model.input_blocks.0.0.weight"  # [320, in_channels, 3, 3]


def _from_pretrained(model: str, dtype: torch.dtype):
    from diffusers import StableDiffusionPipeline

    pipeline_class = _folder_pipeline_class(model)
    no_checker = {"safety_checker": None} if pipeline_class is StableDiffusionPipeline else {}  # SDXL has none
    return pipeline_class.from_pretrained(model, **no_checker, **diffusers_load_kwargs(dtype))


def _folder_pipeline_class(model: str):
    """The pipeline class for a diffusers folder or hub id, by its model_index.json and its UNet's input channels."""
    from diffusers import DiffusionPipeline, StableDiffusionPipeline, StableDiffusionXLPipeline, UNet2DConditionModel

    index = DiffusionPipeline.load_config(model)  # a folder's file, or the hub's
    class_name = index.get("_class_name", "")
    if "XL" not in class_name:
        return StableDiffusionPipeline
    if (index.get("text_encoder") or [None])[0] is None:
        _refuse_refiner(model)
    if "Inpaint" in class_name or UNet2DConditionModel.load_config(model, subfolder="unet").get("in_channels") == 9:
        _refuse_inpainting(model)
    return StableDiffusionXLPipeline


def _single_file_pipeline_class(path: Path):
    """The pipeline class for a single-file checkpoint; a .safetensors is told apart by its header alone."""
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline
    from safetensors import SafetensorError, safe_open

    if path.suffix.lower() != ".safetensors":
        return StableDiffusionPipeline
    try:
        with safe_open(str(path), framework="pt") as opened:
            keys = list(opened.keys())
            in_channels = opened.get_slice(UNET_INPUT_KEY).get_shape()[1] if UNET_INPUT_KEY in keys else 4
    except SafetensorError:  # not a checkpoint: diffusers' loader says what it expected
        return StableDiffusionPipeline
    if not any(key.startswith(SDXL_BASE_KEY) for key in keys):
        if any(key.startswith(SDXL_REFINER_KEY) for key in keys):
            _refuse_refiner(str(path))
        return StableDiffusionPipeline
    if in_channels == 9:
        _refuse_inpainting(str(path))
    return StableDiffusionXLPipeline


def _refuse_refiner(source: str) -> None:
    raise InterInvError(
        f"'{source}' is an SDXL refiner: it has only the OpenCLIP-G text encoder, no CLIP-L. Textual inversion trains "
        "on the SDXL base model (or a fine-tune of it such as Pony or Illustrious); give that model.")


def _refuse_inpainting(source: str) -> None:
    raise InterInvError(
        f"'{source}' is an SDXL inpainting model (its UNet takes 9 input channels: latents, mask, masked image). "
        "Train on the SDXL base model; the words then also work in inpainting.")


def _refuse_extra_inputs(source: str, channels: int, family: str) -> None:
    """An inpainting (9 channels) or depth model (5) of any family: training feeds the UNet the latents only."""
    raise InterInvError(
        f"'{source}' takes {channels} UNet input channels, not only the latents: it is an inpainting or depth model, "
        f"which training cannot feed. Train on the {family.upper()} base model it was made from; the words then also "
        "work in it.")
