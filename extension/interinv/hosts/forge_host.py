"""The Host protocol on the checkpoint Forge has loaded (SD1.x, SD2.x and SDXL).

The only module that imports Forge's `backend`. Forge's engine runs its text encoder, VAE and UNet under
torch.inference_mode and loads every weight as an inference tensor, so training calls the parts themselves, outside
inference mode: the text-processing engine (its embedding splice takes our vectors), the VAE's encoder, and the
UNet's diffusion model, each after Forge's memory manager has loaded it. On SDXL the conditioning is built as Forge's
get_learned_conditioning builds it (CLIP-L and CLIP-G side by side; the pooled CLIP-G vector and the size embeddings
as `y`). Generation goes through process_images.
The shells' WebUI services (options, progress, queue) are A1111's, which Forge kept: see a1111_host.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import torch
from PIL import Image

from ..core.attention import ProbedLayer
from ..errors import InterInvError
from ..formats.families import ENCODERS, default_resolution
from .a1111_host import (OPENPOSE_WANTED, SDXL_REFINER_REFUSAL, attn2_sizes, check_loaded, embedding_positions,
                         family_of, is_forge, new_txt2img, one_per_image, openpose_model, render_txt2img)  # noqa: F401
from .base import ImageSize, Vectors  # is_forge, above: for the shells
from .images import encode_in_batches

ENGINES = ("text_processing_engine", "text_processing_engine_l", "text_processing_engine_g")  # SD1/SD2; SDXL's two
QUANTISED_DTYPES = (torch.float8_e4m3fn, torch.float8_e5m2)
PREDICTIONS = {"epsilon": "epsilon", "v_prediction": "v_prediction"}  # Forge's names are ours; edm/const are refused
MAX_INIT_TOKENS = 75


def _shared():
    from modules import shared

    return shared


def _memory():
    """Forge's memory manager, which loads and offloads the model parts."""
    from backend import memory_management

    return memory_management


# --- which checkpoint, and whether InterInv can train on it ----------------------------------------------------
def loaded() -> bool:
    """Whether Forge has built its engine: before the first generation shared.sd_model is a FakeInitialModel."""
    return hasattr(_shared().sd_model, "forge_objects")


def load_checkpoint():
    """shared.sd_model after Forge's forge_model_reload, which builds the checkpoint chosen at the top of the WebUI
    when it is not the one loaded: before the first generation, and after a switch (Forge applies one only at the
    next generation, so without this, training would use the old model and the export previews the new one)."""
    from modules import sd_models

    was_loaded = loaded()
    try:
        sd_models.forge_model_reload()  # a no-op while the chosen checkpoint is the loaded one
    except (KeyError, ValueError) as exc:
        if was_loaded:
            raise InterInvError(f"Forge could not load the checkpoint chosen at the top of the WebUI ({exc}). Pick "
                                "another one, generate one image, and train again.") from exc
        raise InterInvError(f"Forge has no checkpoint loaded yet and could not load one ({exc}). Pick an SD1.x or "
                            "SDXL checkpoint at the top of the WebUI, generate one image, and train again.") from exc
    return _shared().sd_model


def _linear_weights(model) -> Iterator[torch.Tensor]:
    objects = model.forge_objects
    for module in (objects.unet.model, objects.clip.cond_stage_model):
        for layer in module.modules():
            if isinstance(getattr(layer, "weight", None), torch.Tensor) and "Linear" in type(layer).__name__:
                yield layer.weight


def quantisation(model) -> str | None:
    """The quantisation of the checkpoint's Linear weights (GGUF, bitsandbytes, fp8), None when they are plain."""
    storage = getattr(model.forge_objects.unet.model, "storage_dtype", None)
    if isinstance(storage, str):  # Forge's loader names bnb and GGUF storage: 'nf4', 'fp4', 'gguf'
        return storage
    for weight in _linear_weights(model):
        if getattr(weight, "gguf_cls", None) is not None:
            return "gguf"
        if hasattr(weight, "quant_state") or hasattr(weight, "bnb_quantized"):
            return "bnb"
        if weight.dtype in QUANTISED_DTYPES or storage in QUANTISED_DTYPES:
            return "fp8"
    return None


def model_refusal(model) -> str | None:
    """Why InterInv cannot train on this loaded engine, written for the user; None when it can."""
    if not any(getattr(model, flag, False) for flag in ("is_sd1", "is_sd2", "is_sdxl")):
        kind = "SD3" if getattr(model, "is_sd3", False) else type(model).__name__
        return (f"The loaded checkpoint is {kind}: InterInv trains CLIP-token embeddings of SD1.x, SD2.x and SDXL "
                f"checkpoints, and {kind} conditions on other text encoders (T5) in a transformer, not a "
                "cross-attention UNet. Load an SD1.5 or SDXL checkpoint and train again.")
    if getattr(model, "is_sdxl", False) and getattr(model, "text_processing_engine_l", None) is None:
        return SDXL_REFINER_REFUSAL  # Forge's StableDiffusionXLRefiner has CLIP-G's engine only
    if getattr(model, "is_inpaint", False):
        return ("The loaded checkpoint is an inpainting model: its UNet takes 9 input channels (latents, mask and "
                "masked image), which training cannot feed. Load the text-to-image checkpoint it was made from, and "
                "train again; the trained files load in the inpainting model as well.")
    quantised = quantisation(model)
    if quantised:
        return (f"The loaded checkpoint's weights are quantised ({quantised}): their Linear layers are dequantised per "
                "call and gradients through them are not supported. Load the checkpoint in fp16/fp32 (Diffusion in "
                "Low Bits: Automatic) and train again.")
    prediction = model.forge_objects.unet.model.predictor.prediction_type
    if prediction not in PREDICTIONS:
        return (f"The loaded checkpoint predicts '{prediction}'; InterInv trains eps- and v-prediction checkpoints. "
                "Load an SD1.5 checkpoint and train again.")
    return None


def refusal() -> str | None:
    """Why training cannot run on this Forge, or None; before the first generation nothing can be said yet (the
    checkpoint is loaded when training starts)."""
    return model_refusal(_shared().sd_model) if loaded() else None


def loaded_family() -> str:
    """The family of the checkpoint Forge has loaded: "sd1", "sd2" or "sdxl" ("sd1" before one is loaded)."""
    return family_of(_shared().sd_model)


def engines(model) -> list:
    """Every text-processing engine of the engine: each owns the EmbeddingDatabase its prompts are read with."""
    return [getattr(model, name) for name in ENGINES if getattr(model, name, None) is not None]


def token_embedding(engine) -> torch.nn.Module:
    """An engine's wrapped token embedding (CLIPEmbeddingForTextualInversion.wrapped)."""
    layer = engine.text_encoder.transformer.text_model.embeddings.token_embedding
    return getattr(layer, "wrapped", layer)


def size_vector(embedder, sizes: Sequence[ImageSize]) -> torch.Tensor:
    """SDXL's size conditioning as Forge's get_learned_conditioning makes it, one row per image: the embedder's
    Fourier features of the original (height, width), the crop (top, left) and the target (height, width)."""
    rows = torch.tensor([[*s.original, *s.crop_top_left, *s.target] for s in sizes], dtype=torch.float32)
    return torch.stack([embedder(row).flatten() for row in rows])


# --- embeddings: the engines', the Extra Networks page's and the API's databases --------------------------------
_api_databases: list = []  # the Api objects' EmbeddingDatabase, found on the app when ours is registered


def remember_api(app) -> None:
    """Keep the database of Forge's Api (made with --api) from its /sdapi/v1/embeddings route on this app."""
    for route in getattr(app, "routes", []):
        owner = getattr(getattr(route, "endpoint", None), "__self__", None)
        if getattr(route, "path", None) == "/sdapi/v1/embeddings" and hasattr(owner, "embedding_db"):
            if all(db is not owner.embedding_db for db in _api_databases):
                _api_databases.append(owner.embedding_db)


def reload_embeddings() -> None:
    """Reload the embeddings folder into every database Forge reads it with, and drop Forge's cached prompts."""
    from modules import processing, ui_extra_networks_textual_inversion

    model = _shared().sd_model
    for engine in engines(model):
        engine.embeddings.load_textual_inversion_embeddings()
    for db in [ui_extra_networks_textual_inversion.embedding_db, *_api_databases]:
        db.load_textual_inversion_embeddings(force_reload=True, sync_with_sd_model=False)
    # the class as `self`: clear_prompt_cache empties the class-level caches every later txt2img reads
    processing.StableDiffusionProcessingTxt2Img.clear_prompt_cache(processing.StableDiffusionProcessingTxt2Img)


# --- inference tensors ---------------------------------------------------------------------------------------
@contextlib.contextmanager
def trainable_copies(modules: Sequence[torch.nn.Module]) -> Iterator[None]:
    """Every inference-tensor parameter and buffer replaced by a normal copy (frozen), the originals put back after.

    Forge loads weights under torch.inference_mode; autograd cannot save such tensors for backward ("Inference
    tensors cannot be saved for backward"), so the text encoder and UNet could not pass gradients to the vectors.
    A weight Forge's memory manager moved meanwhile comes back on the device it was moved to.
    """
    swapped = []
    for module in modules:
        for owner in module.modules():
            for store in (owner._parameters, owner._buffers):
                for name, tensor in store.items():
                    if tensor is not None and tensor.is_inference():
                        copy = tensor.detach().clone()
                        store[name] = torch.nn.Parameter(copy, requires_grad=False) if store is owner._parameters else copy
                        swapped.append((store, name, tensor))
    try:
        yield
    finally:
        for store, name, original in reversed(swapped):
            device = store[name].device
            if original.device != device:
                with torch.inference_mode():
                    moved = original.detach().to(device)
                    original = torch.nn.Parameter(moved, requires_grad=False) if isinstance(original, torch.nn.Parameter) else moved
            store[name] = original


@contextlib.contextmanager
def cloned_norm_inputs(module: torch.nn.Module) -> Iterator[None]:
    """Every LayerNorm of `module` normalises a copy of its input while gradients are on.

    Forge's BasicTransformerBlock adds into the tensor its norm1 and norm2 have saved for backward (`x += n`), so a
    backward through its UNet fails ("modified by an inplace operation"); with the copy the add changes only Forge's
    tensor.
    """
    def copy_input(_layer, args):
        return (args[0].clone(), *args[1:]) if torch.is_grad_enabled() else None

    handles = [layer.register_forward_pre_hook(copy_input) for layer in module.modules()
               if isinstance(layer, torch.nn.LayerNorm)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextlib.contextmanager
def frozen(modules: Sequence[torch.nn.Module]) -> Iterator[None]:
    """requires_grad off and eval mode on every module; each flag comes back afterwards."""
    grads = [(p, p.requires_grad) for m in modules for p in m.parameters() if not p.is_inference()]
    modes = [(sub, sub.training) for m in modules for sub in m.modules()]
    try:
        for param, _ in grads:
            param.requires_grad_(False)
        for sub, _ in modes:
            sub.training = False
        yield
    finally:
        for param, flag in grads:
            param.requires_grad_(flag)
        for sub, mode in modes:
            sub.training = mode


class ForgeHost:
    """Forge's loaded checkpoint as an InterInv host; construct it inside the WebUI's queue lock."""

    def __init__(self, preview_size: int | None = None):
        self.sd_model = load_checkpoint()
        problem = model_refusal(self.sd_model)
        if problem:
            raise InterInvError(problem)
        objects = self.sd_model.forge_objects
        self.family = loaded_family()
        self._engines = dict(zip(ENCODERS[self.family], engines(self.sd_model), strict=True))  # encoder key -> engine
        self._engine = next(iter(self._engines.values()))  # tokenises prompts: SDXL's two split them alike
        self._unet, self._clip, self._vae = objects.unet, objects.clip, objects.vae
        self._load(self._clip.patcher)
        self._embeddings_in_fp32()
        self.device = torch.device(self._unet.load_device)
        self.embedding_dims = {key: int(token_embedding(engine).weight.shape[1]) for key, engine in self._engines.items()}
        predictor = self._unet.model.predictor
        self.prediction_type = PREDICTIONS[predictor.prediction_type]
        sigmas = predictor.sigmas.detach().double().cpu()
        self.alphas_cumprod = (1.0 / (1.0 + sigmas**2)).float()  # Forge keeps sigmas; sigma^2 = (1 - a) / a
        info = getattr(self.sd_model, "sd_checkpoint_info", None)
        self.model_name = f"{info.model_name} [{info.shorthash}]" if info is not None else type(self.sd_model).__name__
        self.grad_scaling = self.device.type == "cuda" and self._unet.model.computation_dtype == torch.float16
        self.preview_size = preview_size or default_resolution(self.family)  # side of images when no size is given
        self._registered: set[str] = set()
        self._gradient_check: str = "unchecked"  # -> "pending" after a forward with trainable vectors -> "seen"

    def _load(self, *patchers) -> None:
        _memory().load_models_gpu(list(patchers))

    def _embeddings_in_fp32(self) -> None:
        """Forge's encode_with_transformers turns the token and position embeddings into fp32 modules on its first
        call. Done by our calls, outside inference mode, that leaves normal tensors which Forge's own generations
        (under inference mode) then fail on ("Inference tensors do not track version counter"); so do it first, under
        inference mode, as a generation would."""
        with torch.inference_mode():
            for engine in self._engines.values():
                embeddings = engine.text_encoder.transformer.text_model.embeddings
                for name in ("position_embedding", "token_embedding"):
                    layer = getattr(embeddings, name)
                    if layer.weight.dtype != torch.float32:
                        setattr(embeddings, name, layer.to(dtype=torch.float32))

    # --- text: the engine's own embedding mechanism ----------------------------------------------------------
    def token_rows(self, words: Sequence[str]) -> dict[str, list[torch.Tensor]]:
        self._load(self._clip.patcher)
        return {key: self._rows(engine, words) for key, engine in self._engines.items()}

    @staticmethod
    def _rows(engine, words: Sequence[str]) -> list[torch.Tensor]:
        layer = token_embedding(engine)
        with torch.no_grad():
            return [layer(torch.tensor(engine.tokenize([word])[0][:MAX_INIT_TOKENS], dtype=torch.long)
                          .to(layer.weight.device)).detach().float().cpu() for word in words]

    def _register(self, name: str, per_encoder: Mapping[str, torch.Tensor] | None, count: int | None = None) -> None:
        """An in-memory Embedding under `name` in every engine's database (`count` zero rows until vectors are
        given)."""
        if per_encoder is not None:
            count = next(iter(per_encoder.values())).shape[0]
        for key, engine in self._engines.items():
            vec = None if per_encoder is None else per_encoder[key]
            self._register_in(engine.embeddings, name, vec, count, self.embedding_dims[key])
        self._registered.add(name)

    def _register_in(self, db, name: str, vec: torch.Tensor | None, count: int, width: int) -> None:
        from backend.text_processing.textual_inversion import Embedding

        embedding = db.word_embeddings.get(name) if name in self._registered else None
        if vec is None and (embedding is None or embedding.vec.shape[0] != count):
            vec = torch.zeros(count, width)
        if embedding is None:
            embedding = Embedding(None, name)
            db.register_embedding(embedding)
        if vec is not None:
            embedding.vec = vec.to(self.device)
        embedding.vectors, embedding.shape = int(embedding.vec.shape[0]), int(embedding.vec.shape[1])

    def _unregister(self) -> None:
        """The engines' databases as the embeddings folder has them (a trained word may shadow a file's)."""
        if self._registered:
            for engine in engines(self.sd_model):
                engine.embeddings.load_textual_inversion_embeddings()
            self._registered.clear()

    def token_positions(self, prompt: str, words: Mapping[str, int]) -> dict[str, list[int]]:
        for name, count in words.items():
            self._register(name, None, count)
        chunks, _ = self._engine.tokenize_line(prompt)
        return embedding_positions(chunks, words)

    def encode_prompts(self, prompts: Sequence[str], vectors: Vectors,
                       sizes: Sequence[ImageSize] | None = None) -> torch.Tensor:
        from backend.text_processing import classic_engine

        trainable = [vec for per_encoder in vectors.values() for vec in per_encoder.values()
                     if vec.requires_grad and torch.is_grad_enabled()]
        self._check_gradients_arrived(trainable)
        for name, per_encoder in vectors.items():
            self._register(name, per_encoder)
        self._load(self._clip.patcher)
        used = dict(classic_engine.last_extra_generation_params)  # the engine adds our words to the next infotext
        try:
            cond = self._conditioning(list(prompts), sizes)
        except RuntimeError as exc:
            if "Inference tensors" in str(exc):
                raise InterInvError(f"Forge's text encoder could not pass gradients to the vectors ({exc}). Its weights "
                                    "are inference tensors; encode inside ForgeHost.training().") from exc
            raise
        finally:
            classic_engine.last_extra_generation_params.clear()
            classic_engine.last_extra_generation_params.update(used)
        if trainable:
            self._watch_gradients(cond["crossattn"] if isinstance(cond, dict) else cond, trainable)
        return cond

    def _conditioning(self, prompts: list[str], sizes: Sequence[ImageSize] | None) -> Any:
        """SD1/SD2: the engine's [B, 77k, D]; SDXL: {"crossattn": [B, 77k, L + G], "vector": [B, pooled + sizes]}."""
        if self.family != "sdxl":
            return self._engine(prompts)
        cond_l = self._engines["clip_l"](prompts)
        cond_g, pooled = self._engines["clip_g"](prompts)
        side = (self.preview_size, self.preview_size)
        sizes = sizes or [ImageSize(original=side, target=side)] * len(prompts)
        vector = torch.cat([pooled, size_vector(self.sd_model.embedder, sizes).to(pooled)], dim=1)
        return {"crossattn": torch.cat([cond_l, cond_g], dim=2), "vector": vector}

    def _watch_gradients(self, cond: torch.Tensor, trainable: Sequence[torch.Tensor]) -> None:
        if self._gradient_check != "unchecked":
            return
        if not cond.requires_grad:
            raise InterInvError("Forge's text encoder returned a conditioning without gradients: it ran under "
                                "torch.inference_mode or no_grad, so the vectors cannot train.")
        self._gradient_check = "pending"

        def arrived(grad):
            self._gradient_check = "seen"
            return grad

        for vec in trainable:
            vec.register_hook(arrived)

    def _check_gradients_arrived(self, trainable: Sequence[torch.Tensor]) -> None:
        """After the first backward (seen at the next training encode) the vectors must have had gradients."""
        if trainable and self._gradient_check == "pending":
            raise InterInvError("After the first backward no gradient reached the trained vectors: Forge's text "
                                "encoder did not splice them into the prompt (the engine's embedding layer is not "
                                "CLIPEmbeddingForTextualInversion) or its output was detached.")

    # --- images and the UNet ---------------------------------------------------------------------------
    def encode_images(self, images: Sequence[Image.Image], size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        return encode_in_batches(images, size, self._posterior)

    def _posterior(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The VAE's posterior mean and std, scaled as the UNet sees latents (process_in), as plain tensors."""
        vae = self._vae
        self._load(vae.patcher)
        model = vae.first_stage_model
        posterior = model.encode(pixels.to(vae.device, vae.vae_dtype), regulation=lambda p: p)
        mean = model.process_in(posterior.mean.float()).clone()
        return mean, (posterior.std.float() * model.scaling_factor).clone()

    def predict(self, x_t: torch.Tensor, t: torch.Tensor, cond: Any) -> torch.Tensor:
        """The diffusion model's raw output (eps or v) at integer timesteps: Forge's KModel feeds it
        x / sqrt(sigma^2 + 1), which is our x_t, and predictor.timestep(sigma), which is t (SDXL's vector as `y`)."""
        self._load(self._unet)
        model = self._unet.model
        dtype = model.computation_dtype
        context, extra = (cond["crossattn"], {"y": cond["vector"]}) if isinstance(cond, dict) else (cond, {})
        try:
            out = model.diffusion_model(x_t.to(self.device, dtype), t.to(self.device).float(),
                                        context=context.to(self.device, dtype), transformer_options={},
                                        **{key: value.to(self.device, dtype) for key, value in extra.items()})
        except RuntimeError as exc:
            if "Inference tensors" in str(exc):
                raise InterInvError(f"Forge's UNet could not pass gradients ({exc}): its weights are inference "
                                    "tensors; predict inside ForgeHost.training().") from exc
            raise
        return out.float()

    def cross_attention_layers(self, latent_size: tuple[int, int]) -> list[ProbedLayer]:
        """Every attn2 (Forge's CrossAttention: no `scale`, dim_head**-0.5), sized by one forward pass."""
        @torch.no_grad()
        def forward() -> None:
            self.predict(torch.zeros(1, 4, *latent_size), torch.zeros(1, dtype=torch.long), self.encode_prompts([""], {}))

        return [ProbedLayer(name=name, module=module, size=size, scale=float(getattr(module, "scale", module.dim_head**-0.5)))
                for name, module, size in attn2_sizes(self._unet.model.diffusion_model, forward, latent_size)]

    @contextlib.contextmanager
    def training(self) -> Iterator[None]:
        """Text encoder and UNet loaded by Forge's memory manager, frozen in eval mode as plain tensors, the UNet's
        LayerNorms on copies of their inputs; their weights, flags, hooks and the engines' embeddings come back
        afterwards."""
        parts = [self._clip.cond_stage_model, self._unet.model]
        self._load(self._clip.patcher, self._unet)
        self._embeddings_in_fp32()
        self._gradient_check = "unchecked"
        try:
            with trainable_copies(parts), frozen(parts), cloned_norm_inputs(self._unet.model):
                yield
        finally:
            self._unregister()
            _memory().soft_empty_cache()

    # --- generation --------------------------------------------------------------------------------------
    @property
    def can_generate_poses(self) -> bool:
        return controlnet_missing(self.family) is None

    def generate(
        self,
        prompt: str,
        *,
        pose_image: Image.Image | None = None,
        seed: int = 0,
        steps: int = 20,
        guidance_scale: float = 7.5,
        negative_prompt: str = "",
        size: tuple[int, int] | None = None,
        vectors: Vectors | None = None,
    ) -> Image.Image:
        for name, per_encoder in (vectors or {}).items():
            self._register(name, {key: vec.detach() for key, vec in per_encoder.items()})
        p = new_txt2img(self.sd_model, prompt=prompt, negative_prompt=negative_prompt, seed=seed, steps=steps,
                        guidance_scale=guidance_scale, size=size or (self.preview_size, self.preview_size))
        p.clear_prompt_cache()  # Forge reuses a conditioning by prompt text: the vectors change between previews
        if pose_image is not None:
            controlnet_units(p, pose_image.convert("RGB").resize((p.width, p.height)), self.family)
        return render_txt2img(p, posed=pose_image is not None, cleanup=p.clear_prompt_cache)

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
        """One txt2img call per image: the WebUI's processing renders a batch with consecutive seeds only."""
        return one_per_image(self.generate, prompts, seeds, pose_image=pose_image, steps=steps,
                             guidance_scale=guidance_scale, negative_prompt=negative_prompt, size=size, vectors=vectors)

    def install_embeddings(self, paths: Sequence[str]) -> list[str]:
        """Reload every database Forge reads embeddings with; each file must come back loaded in every engine."""
        self._registered.clear()
        reload_embeddings()
        names = []
        for engine in engines(self.sd_model):
            names = check_loaded(paths, engine.embeddings)
        return names


# --- Forge's built-in ControlNet (extensions-builtin/sd_forge_controlnet) ---------------------------------------
def _controlnet_modules():
    """lib_controlnet's external_code and global_state, or None when the built-in ControlNet is not loaded."""
    try:
        from lib_controlnet import external_code, global_state
    except ImportError:
        return None
    return external_code, global_state


def _controlnet_names() -> list[str]:
    _, global_state = _controlnet_modules()
    global_state.update_controlnet_filenames()
    return list(global_state.get_all_controlnet_names())


def controlnet_script():
    """Forge's always-on ControlNet script in txt2img's runner, or None."""
    from modules import scripts

    runner = getattr(scripts, "scripts_txt2img", None)
    return next((s for s in getattr(runner, "alwayson_scripts", []) if s.title() == "ControlNet"), None)


def controlnet_missing(family: str) -> str | None:
    """What to install for stage-1 synthesis; None when Forge's ControlNet and an openpose model are there."""
    if _controlnet_modules() is None or controlnet_script() is None:
        return ("Stage-1 synthesis needs Forge's built-in ControlNet (extensions-builtin/sd_forge_controlnet), which "
                "is disabled here. Enable it under Extensions, restart, or choose the crop fallback.")
    if openpose_model(_controlnet_names(), family) is None:
        return (f"No openpose ControlNet model for {family} was found. Download {OPENPOSE_WANTED[family]} into "
                "models/ControlNet, or choose the crop fallback.")
    return None


def controlnet_units(p, pose_image: Image.Image, family: str) -> None:
    """txt2img's always-on scripts with their defaults, and one openpose unit on the skeleton in ControlNet's
    arguments (Forge has no update_cn_script_in_processing: the units go into p.script_args[args_from:args_to])."""
    from modules import scripts

    problem = controlnet_missing(family)
    if problem:
        raise InterInvError(problem)
    external_code, _ = _controlnet_modules()
    runner, script = scripts.scripts_txt2img, controlnet_script()
    p.is_api = True  # before the scripts: otherwise the UI scripts' setup() overwrites seed, steps and sampler
    args = [0] + [getattr(c, "value", None) for c in runner.inputs[1:]]
    pixels = np.array(pose_image)
    unit = external_code.ControlNetUnit(enabled=True, module="None", model=openpose_model(_controlnet_names(), family),
                                        image={"image": pixels, "mask": np.zeros_like(pixels)}, weight=1.0,
                                        resize_mode=external_code.ResizeMode.INNER_FIT,
                                        control_mode=external_code.ControlMode.BALANCED, pixel_perfect=False)
    count = script.args_to - script.args_from
    args[script.args_from:script.args_to] = [unit] + [external_code.ControlNetUnit(enabled=False) for _ in range(count - 1)]
    p.scripts = runner
    p.script_args = args
