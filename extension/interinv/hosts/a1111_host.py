"""The Host protocol on the checkpoint AUTOMATIC1111's WebUI has loaded (SD1.x, SD2.x and SDXL, eps and v).

The only module that imports the WebUI's `modules`. Every model call goes through the WebUI's own
entry points (the prompt wrappers, `encode_first_stage`, `apply_model`, `process_images`), so that
--medvram's offload hooks fire and A1111's embedding mechanism splices our vectors into prompts.
On SDXL the prompt wrappers are the conditioner's two text embedders (CLIP-L, CLIP-G). sgm's
GeneralConditioner runs every embedder that is not trainable under no_grad, so the WebUI's own
get_learned_conditioning gives no gradients; the host runs the conditioner itself, its embedders marked
trainable for the call (the weights stay frozen), so that --medvram's hook on it still fires.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import math
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import torch
from PIL import Image

from ..core.attention import ProbedLayer
from ..errors import InterInvError
from ..formats import families
from ..formats.families import ENCODERS, check_family
from .base import ImageSize, Vectors
from .images import encode_in_batches

SDP_TITLE = "sdp - scaled dot product"  # apply_optimizations matches full titles; unknown ones fall back silently
SDP_NAME = "sdp"
OPENPOSE = "openpose"
# Substrings that mark a ControlNet model's base family in its file name, e.g. control_v11p_sd15_openpose
FAMILY_TAGS = {"sd1": ("sd15", "sd14", "sd1.5", "sd_15"), "sd2": ("sd21", "sd20", "sd2.1", "sd2"), "sdxl": ("xl",)}
SAMPLER = "Euler a"
MAX_INIT_TOKENS = 75  # one prompt chunk: every word of a vocabulary fits
DOWNSAMPLES = tuple(2**i for i in range(8))  # spatial factors a UNet level can have
OPENPOSE_WANTED = {"sd1": "control_v11p_sd15_openpose", "sd2": "an SD2.1 openpose ControlNet",
                   "sdxl": "an SDXL openpose ControlNet (thibaud_xl_openpose, or xinsir's controlnet-openpose-sdxl-1.0)"}


SDXL_REFINER_REFUSAL = ("The loaded checkpoint is the SDXL refiner: it has only the CLIP-G text encoder (no CLIP-L) "
                        "and conditions on an aesthetic score, so SDXL words cannot be trained on it. Load the SDXL "
                        "base checkpoint, or a model made from it (Pony, Illustrious, NoobAI), and train again.")


def _modules():
    from modules import devices, sd_hijack, shared

    return shared, devices, sd_hijack


def is_forge() -> bool:
    """Forge (any version) keeps `modules` but runs its own backend, which this adapter cannot drive."""
    shared, _, _ = _modules()
    if hasattr(shared.sd_model, "forge_objects"):
        return True
    try:
        return importlib.util.find_spec("modules_forge") is not None
    except (ImportError, ValueError):
        return False


def refusal() -> str | None:
    """Why training cannot run on this WebUI, written for the user; None when it can."""
    shared, devices, _ = _modules()
    if is_forge():
        return ("Training needs AUTOMATIC1111's WebUI for now: Forge runs its own backend, which InterInv cannot "
                "train on yet. Interactions trained elsewhere (CLI or A1111) work in Forge's prompts as usual.")
    if getattr(shared.cmd_opts, "lowvram", False):
        return ("Training cannot run with --lowvram: it moves every UNet block on and off the GPU per call, which "
                "breaks gradients. Restart the WebUI without --lowvram (--medvram works).")
    if getattr(devices, "fp8", False):
        return ("Training cannot run while the checkpoint is stored in FP8 (Settings > Optimizations > FP8 weight). "
                "Turn FP8 off, reload the checkpoint, and train again.")
    model = shared.sd_model
    if model is None:
        return "No checkpoint is loaded. Pick an SD1.x, SD2.x or SDXL checkpoint at the top of the WebUI."
    if getattr(model, "is_sd3", False):
        return ("The loaded checkpoint is SD3, which InterInv cannot train. Load an SD1.x, SD2.x or SDXL checkpoint "
                "and train again.")
    if getattr(model, "is_sdxl", False):
        return _sdxl_refusal(model)
    return None


def _sdxl_refusal(model) -> str | None:
    """Why an SDXL-family checkpoint cannot be trained on (the refiner, inpainting models); None for a base model."""
    if len(_text_embedders(model)) != len(ENCODERS["sdxl"]):  # the refiner conditions on CLIP-G alone
        return SDXL_REFINER_REFUSAL
    if getattr(model, "is_sdxl_inpaint", False):
        return ("The loaded checkpoint is an SDXL inpainting model: its UNet takes 9 input channels (latents, mask "
                "and masked image), which training cannot feed. Load the SDXL base checkpoint, or another SDXL "
                "text-to-image model, and train again; the trained files load in the inpainting model as well.")
    return None


def loaded_family() -> str:
    """The family of the checkpoint the WebUI has loaded: "sd1", "sd2" or "sdxl"."""
    return family_of(_modules()[0].sd_model)


def family_of(model) -> str:
    """"sd1", "sd2" or "sdxl" from the WebUI model's flags (A1111's and Forge's engines set the same ones)."""
    family = "sdxl" if getattr(model, "is_sdxl", False) else "sd2" if getattr(model, "is_sd2", False) else "sd1"
    return check_family(family, "the loaded checkpoint")


def default_resolution() -> int:
    """The training side the loaded checkpoint's family is made for: 1024 on SDXL, else TrainConfig's."""
    return families.default_resolution(loaded_family())


def _text_embedders(model) -> list:
    """SDXL: the conditioner's text embedders as the WebUI's hijack wrapped them (CLIP-L, then CLIP-G)."""
    return [embedder for embedder in model.conditioner.embedders if hasattr(embedder, "tokenize_line")]


def prompt_encoders(model, family: str) -> dict[str, Any]:
    """Encoder key -> the WebUI's prompt wrapper of that text encoder (its chunking, embedding splice, emphasis)."""
    if family == "sdxl":
        return dict(zip(ENCODERS["sdxl"], _text_embedders(model), strict=True))
    return {ENCODERS[family][0]: model.cond_stage_model}


def size_conditioning(sizes: Sequence[ImageSize], dtype: torch.dtype, device: torch.device) -> dict[str, torch.Tensor]:
    """sgm's size inputs, one row per prompt: original and target (height, width), crop (top, left)."""
    columns = {"original_size_as_tuple": [s.original for s in sizes], "crop_coords_top_left": [s.crop_top_left for s in sizes],
               "target_size_as_tuple": [s.target for s in sizes]}
    return {key: torch.tensor(rows, dtype=dtype, device=device) for key, rows in columns.items()}


@contextlib.contextmanager
def with_gradients(conditioner) -> Iterator[None]:
    """GeneralConditioner.forward without its no_grad: every embedder marked trainable while the block runs, and
    without caption dropout (ucg_rate 0, as the WebUI's get_learned_conditioning sets it)."""
    flags = [(embedder, embedder.is_trainable) for embedder in conditioner.embedders]
    try:
        for embedder, _ in flags:
            embedder.is_trainable, embedder.ucg_rate = True, 0.0
        yield
    finally:
        for embedder, flag in flags:
            embedder.is_trainable = flag


# --- what the shells use of the WebUI: its options, its progress state and its queue ----------------------------
def command_line_option(name: str) -> Any:
    """A WebUI command-line flag (ours are added by preload.py); None when it is not set."""
    return getattr(_modules()[0].cmd_opts, name, None)


def setting(name: str, default: Any) -> Any:
    """A value of the WebUI's Settings page; `default` until the user saves one."""
    return getattr(_modules()[0].opts, name, default)


def data_dir() -> Path:
    """The WebUI's data folder (--data-dir, else its install folder)."""
    shared = _modules()[0]
    return Path(getattr(shared.cmd_opts, "data_dir", None) or shared.data_path)


def embeddings_dir() -> Path:
    return Path(_modules()[0].cmd_opts.embeddings_dir)


def show_progress(*, job_count: int | None = None, job_no: int | None = None, text: str | None = None) -> None:
    """Progress into shared.state, what the WebUI's progress bar and /internal/progress report; text None clears it."""
    state = _modules()[0].state
    if job_count is not None:
        state.job_count = job_count
    if job_no is not None:
        state.job_no = job_no
    state.textinfo = text


def show_image(image: Image.Image) -> None:
    """The WebUI's live preview."""
    _modules()[0].state.assign_current_image(image)


def interrupted() -> bool:
    """Whether the user pressed the WebUI's Interrupt."""
    return bool(_modules()[0].state.interrupted)


def interrupt() -> None:
    _modules()[0].state.interrupt()


@contextlib.contextmanager
def queue_slot(task_id: str) -> Iterator[None]:
    """Wait in the WebUI's queue as its own tasks do, and hold its lock inside (listed in /internal/progress)."""
    from modules import call_queue, progress

    progress.add_task_to_queue(task_id)
    try:
        with call_queue.queue_lock:
            yield
    finally:
        progress.finish_task(task_id)


@contextlib.contextmanager
def running(task_id: str) -> Iterator[None]:
    """The WebUI's job state of a running task, inside a queue_slot."""
    from modules import progress

    shared = _modules()[0]
    shared.state.begin(job=task_id)
    progress.start_task(task_id)
    try:
        yield
    finally:
        shared.state.end()


@contextlib.contextmanager
def weights_only_loads() -> Iterator[None]:
    """Send our own `torch.load(..., weights_only=True)` calls to torch's loader rather than the WebUI's checker.

    The WebUI replaces torch.load with modules.safe.load, which logs "may be malicious" and returns None for any zip
    holding entries it does not know, such as the `.format_version` that newer torch releases write (torch 2.14 here;
    A1111 ships 2.1.2). Our resume state would then be unreadable. torch's weights_only unpickler allows only tensors
    and plain containers, so nothing is lost; every other call still goes through the WebUI's check.
    """
    try:
        from modules import safe
    except ImportError:  # not inside the WebUI
        yield
        return
    checked = torch.load

    def load(*args, **kwargs):
        if kwargs.get("weights_only") is True:
            return safe.unsafe_torch_load(*args, **kwargs)
        return checked(*args, **kwargs)

    torch.load = load
    try:
        yield
    finally:
        torch.load = checked


def _spatial(length: int, latent: tuple[int, int]) -> tuple[int, int]:
    """The (h, w) of an attention layer from its query length: the latent downsampled 2^k times (ceil)."""
    for factor in DOWNSAMPLES:
        size = (math.ceil(latent[0] / factor), math.ceil(latent[1] / factor))
        if size[0] * size[1] == length:
            return size
    raise InterInvError(f"A cross-attention layer has {length} queries, which matches no level of a {latent} latent.")


class TrainingWords:
    """The WebUI's embedding database as the prompt tokenizer sees it, plus the words being trained.

    Only the tokenizer meets these file-less embeddings: the Extra Networks pages, /sdapi/v1/embeddings and the Train
    tab read the shared database (every other attribute is the shared one's), which never holds them.
    """

    def __init__(self, db):
        self.db = db
        self.embeddings: dict[str, Any] = {}  # name -> Embedding
        self.ids: dict[str, list[int]] = {}  # name -> its token ids

    def find_embedding_at_position(self, tokens, offset):
        """The longest match; a word being trained wins over an installed file of the same name (retraining with
        Overwrite), whose frozen vectors would otherwise be spliced in and give no gradient."""
        found, length = self.db.find_embedding_at_position(tokens, offset)
        for name, ids in self.ids.items():
            if tokens[offset : offset + len(ids)] == ids and len(ids) >= (length or 0):
                found, length = self.embeddings[name], len(ids)
        return found, length

    def __getattr__(self, name):
        return getattr(self.db, name)


class A1111Host:
    """`shared.sd_model` as an InterInv host; construct it inside the WebUI's queue lock."""

    def __init__(self, preview_size: int | None = None):
        problem = refusal()
        if problem:
            raise InterInvError(problem)
        shared, devices, _ = _modules()
        self.sd_model = shared.sd_model
        self.family = loaded_family()
        self._encoders = prompt_encoders(self.sd_model, self.family)
        self.device = torch.device(devices.device)
        self.embedding_dims = {key: int(encoder.encode_embedding_init_text(",", 1).shape[1])
                               for key, encoder in self._encoders.items()}
        self.prediction_type = "v_prediction" if self.sd_model.parameterization == "v" else "epsilon"
        self.alphas_cumprod = self.sd_model.alphas_cumprod.detach().float().cpu()
        info = getattr(self.sd_model, "sd_checkpoint_info", None)
        self.model_name = f"{info.model_name} [{info.shorthash}]" if info is not None else type(self.sd_model).__name__
        self.grad_scaling = self.device.type == "cuda" and devices.dtype_unet == torch.float16
        self.preview_size = preview_size or default_resolution()  # side of generated images when no size is given
        self._words = TrainingWords(self._hijack.embedding_db)

    @property
    def _prompt(self):
        """The first text encoder's wrapper: its tokenize_line places the words (every encoder chunks alike)."""
        return next(iter(self._encoders.values()))

    @property
    def _hijack(self):
        return _modules()[2].model_hijack

    @contextlib.contextmanager
    def with_training_words(self) -> Iterator[None]:
        """The prompt tokenizer finds the words being trained while the block runs (the WebUI's hijack reads
        `model_hijack.embedding_db` at each call)."""
        hijack = self._hijack
        if hijack.embedding_db is self._words:
            yield
            return
        self._words.db, hijack.embedding_db = hijack.embedding_db, self._words
        try:
            yield
        finally:
            hijack.embedding_db = self._words.db

    # --- text: A1111's own embedding mechanism -------------------------------------------------
    def token_rows(self, words: Sequence[str]) -> dict[str, list[torch.Tensor]]:
        with torch.no_grad():
            return {key: [encoder.encode_embedding_init_text(word, MAX_INIT_TOKENS).detach().float().cpu() for word in words]
                    for key, encoder in self._encoders.items()}

    def _register(self, name: str, vectors: Mapping[str, torch.Tensor] | None, count: int) -> None:
        """An in-memory Embedding under `name` whose `vec` is ours (zeros until vectors are given).

        Its vec is what A1111 v1.10.1 loads from a file: one tensor for SD1/SD2, and on SDXL the dict
        {"clip_l", "clip_g"}, from which each encoder's EmbeddingsWithFixes takes its own key.
        """
        from modules.textual_inversion.textual_inversion import Embedding

        embedding = self._words.embeddings.get(name)
        if vectors is None and (embedding is None or embedding.vectors != count):
            vectors = {key: torch.zeros(count, dim) for key, dim in self.embedding_dims.items()}
        if embedding is None:
            embedding = self._words.embeddings[name] = Embedding(None, name)
            self._words.ids[name] = self._prompt.tokenize([name])[0]
        if vectors is not None:
            on_device = {key: vectors[key].to(self.device) for key in self.embedding_dims}
            embedding.vec = on_device if self.family == "sdxl" else next(iter(on_device.values()))
            embedding.vectors = int(next(iter(on_device.values())).shape[0])
        embedding.shape = sum(self.embedding_dims.values())  # A1111's width: 2048 on SDXL (768 + 1280)

    def _unregister(self) -> None:
        self._words.embeddings.clear()
        self._words.ids.clear()

    def token_positions(self, prompt: str, words: Mapping[str, int]) -> dict[str, list[int]]:
        for name, count in words.items():
            self._register(name, None, count)
        with self.with_training_words():
            chunks, _ = self._prompt.tokenize_line(prompt)
        return embedding_positions(chunks, words)

    def encode_prompts(self, prompts: Sequence[str], vectors: Vectors, sizes: Sequence[ImageSize] | None = None) -> Any:
        """SD1/SD2: the prompt wrapper's [B, 77k, D]; SDXL: {"crossattn", "vector"}, its vector from `sizes`."""
        self._register_all(vectors)
        with self._autocast(), self.with_training_words():
            if self.family != "sdxl":
                return self._prompt(list(prompts))
            side = (self.preview_size, self.preview_size)
            sizes = sizes or [ImageSize(original=side, target=side)] * len(prompts)
            batch = {"txt": list(prompts), **size_conditioning(sizes, _modules()[1].dtype_inference, self.device)}
            with with_gradients(self.sd_model.conditioner):
                # {"crossattn": [B, 77k, 768 + 1280] (CLIP-L, CLIP-G), "vector": [B, 1280 + 3 * 512] (pooled, sizes)}
                return self.sd_model.conditioner(batch)

    def _register_all(self, vectors: Vectors) -> None:
        for name, per_encoder in vectors.items():
            self._register(name, per_encoder, next(iter(per_encoder.values())).shape[0])

    # --- images and the UNet ---------------------------------------------------------------------
    def encode_images(self, images: Sequence[Image.Image], size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        return encode_in_batches(images, size, self._posterior)

    def _posterior(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _, devices, _ = _modules()
        scale = float(self.sd_model.scale_factor)
        with devices.autocast():
            pixels = pixels.to(self.device, devices.dtype_vae)
            if self.family == "sdxl":
                mean, std = self._sdxl_posterior(pixels)
                return mean * scale, std * scale
            posterior = self.sd_model.encode_first_stage(pixels)
            std = posterior.std * scale
            posterior.std = 0  # A1111's "deterministic" latents: the encoding is the scaled mean
            return self.sd_model.get_first_stage_encoding(posterior), std

    def _sdxl_posterior(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """sgm's encode_first_stage returns a scaled *sample*; the posterior's moments are read off its quant_conv."""
        moments = []
        handle = self.sd_model.first_stage_model.quant_conv.register_forward_hook(lambda _m, _i, out: moments.append(out))
        try:
            self.sd_model.encode_first_stage(pixels)
        finally:
            handle.remove()
        if not torch.isfinite(moments[-1]).all():  # the WebUI's own NaN retry lives in processing, not here
            raise InterInvError("The VAE encoded the training images to NaN: SDXL's original VAE overflows in half "
                                "precision. Start the WebUI with --no-half-vae (or choose the fp16-fix SDXL VAE in "
                                "Settings > VAE) and train again.")
        mean, logvar = torch.chunk(moments[-1], 2, dim=1)
        return mean, torch.exp(0.5 * logvar.clamp(-30.0, 20.0))  # DiagonalGaussianDistribution's clamp

    def predict(self, x_t: torch.Tensor, t: torch.Tensor, cond: Any) -> torch.Tensor:
        with self._autocast():
            return self.sd_model.apply_model(x_t.to(self.device), t.to(self.device), cond)

    def cross_attention_layers(self, latent_size: tuple[int, int]) -> list[ProbedLayer]:
        """Every attn2 module, its spatial size measured by one forward pass at this latent size."""
        channels = int(getattr(self.sd_model, "latent_channels", 4))

        @torch.no_grad()
        def forward() -> None:
            x = torch.zeros(1, channels, *latent_size, device=self.device)
            self.predict(x, torch.zeros(1, dtype=torch.long), self.encode_prompts([""], {}))

        return [ProbedLayer(name=name, module=module, size=size)
                for name, module, size in attn2_sizes(self.sd_model.model.diffusion_model, forward, latent_size)]

    @contextlib.contextmanager
    def training(self) -> Iterator[None]:
        """Frozen weights in eval mode, SDP attention; the user's optimization and flags come back afterwards."""
        _, devices, sd_hijack = _modules()
        model = self.sd_model
        grads = [(p, p.requires_grad) for p in model.parameters()]
        modes = [(m, m.training) for m in model.modules()]
        try:
            model.requires_grad_(False)
            model.eval()
            sd_hijack.model_hijack.apply_optimizations(SDP_TITLE)
            if sd_hijack.model_hijack.optimization_method != SDP_NAME:
                sd_hijack.undo_optimizations()  # plain attention: slower, but its gradients are right
            yield
        finally:
            sd_hijack.model_hijack.apply_optimizations()
            for param, flag in grads:
                param.requires_grad_(flag)
            for module, mode in modes:
                module.training = mode
            self._unregister()
            devices.torch_gc()

    def _autocast(self):
        return _modules()[1].autocast()

    # --- generation --------------------------------------------------------------------------------
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
        shared, _, _ = _modules()
        self._register_all({name: {k: v.detach() for k, v in per_encoder.items()} for name, per_encoder in (vectors or {}).items()})
        p = new_txt2img(self.sd_model, prompt=prompt, negative_prompt=negative_prompt, seed=seed, steps=steps,
                        guidance_scale=guidance_scale, size=size or (self.preview_size, self.preview_size))
        if pose_image is not None:
            controlnet_units(p, pose_image.convert("RGB").resize((p.width, p.height)), self.family)
        with self.with_training_words():
            return render_txt2img(p, posed=pose_image is not None, cleanup=shared.total_tqdm.clear)

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
        """Reload the WebUI's embeddings; each file must come back loaded, else the reason is raised."""
        self._unregister()
        self._hijack.embedding_db.load_textual_inversion_embeddings(force_reload=True)
        return check_loaded(paths, self._hijack.embedding_db)


def reload_embeddings() -> None:
    """Reload the WebUI's embeddings folder, e.g. after a run that stopped with temporary words registered."""
    _modules()[2].model_hijack.embedding_db.load_textual_inversion_embeddings(force_reload=True)


def check_loaded(paths: Sequence[str], db) -> list[str]:
    names, problems = [], []
    for path in paths:
        name = Path(path).stem
        if name in db.word_embeddings:
            names.append(name)
        elif name in db.skipped_embeddings:
            width = db.skipped_embeddings[name].shape
            problems.append(f"'{name}' was skipped: its width is {width}, the loaded checkpoint expects {db.expected_shape}")
        else:
            problems.append(f"'{name}' was not loaded: '{path}' is not inside the WebUI's embeddings folder")
    if problems:
        raise InterInvError("; ".join(problems) + ". Load a checkpoint of the family the interaction was trained on.")
    return names


# --- the ControlNet bridge (sd-webui-controlnet) ------------------------------------------------------
def external_code():
    """sd-webui-controlnet's external_code, or None when the extension is not installed."""
    for name in ("internal_controlnet.external_code", "scripts.external_code"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if hasattr(module, "find_cn_script"):
            return module
    return None


def _model_family(name: str) -> str | None:
    """The family a ControlNet's name says it was trained for; None when it names none (SDXL tags win: 'sdxl')."""
    lowered = name.lower()
    return next((family for family in ("sdxl", "sd2", "sd1") if any(t in lowered for t in FAMILY_TAGS[family])), None)


def openpose_model(models: Sequence[str], family: str) -> str | None:
    """The openpose ControlNet of get_models() for the model family.

    A name tagged with the family wins; for SD1, which most untagged openpose models are made for, an
    untagged name is accepted next. A model tagged for another family is never used.
    """
    poses = [m for m in models if OPENPOSE in m.lower()]
    tagged = next((m for m in poses if _model_family(m) == family), None)
    untagged = next((m for m in poses if _model_family(m) is None), None)
    return tagged or (untagged if family == "sd1" else None)


def controlnet_missing(family: str) -> str | None:
    """What to install for stage-1 synthesis; None when ControlNet and an openpose model are there."""
    code = external_code()
    if code is None:
        return ("Stage-1 synthesis needs the sd-webui-controlnet extension. Install it from Extensions > Available "
                "(or https://github.com/Mikubill/sd-webui-controlnet), restart, or choose the crop fallback.")
    models = code.get_models()
    if openpose_model(models, family) is None:
        others = [m for m in models if OPENPOSE in m.lower()]
        found = (f" The openpose models installed ({', '.join(others)}) are made for another family and do not work "
                 f"on a {family} checkpoint." if others else "")
        return (f"No openpose ControlNet model for {family} was found.{found} Download {OPENPOSE_WANTED[family]} into "
                "models/ControlNet, press refresh in the ControlNet panel, or choose the crop fallback.")
    return None


def controlnet_units(p, pose_image: Image.Image, family: str) -> None:
    """Attach txt2img's always-on scripts with their defaults and one openpose unit on the skeleton image."""
    from modules import scripts

    problem = controlnet_missing(family)
    if problem:
        raise InterInvError(problem)
    code = external_code()
    runner = scripts.scripts_txt2img
    p.is_api = True  # before the scripts: otherwise the UI scripts' setup() overwrites seed, steps and sampler
    p.scripts = runner
    p.script_args = [0] + [getattr(c, "value", None) for c in runner.inputs[1:]]
    unit = code.ControlNetUnit(enabled=True, module="none", model=openpose_model(code.get_models(), family),
                               image=np.array(pose_image), weight=1.0, resize_mode="Crop and Resize",
                               control_mode="Balanced", pixel_perfect=False)
    code.update_cn_script_in_processing(p, [unit])


# --- txt2img through the WebUI's processing (A1111 and Forge share it) -------------------------------
def new_txt2img(sd_model, *, prompt: str, negative_prompt: str, seed: int, steps: int, guidance_scale: float,
                size: tuple[int, int]):
    """A one-image txt2img job that saves nothing and leaves the embedding database as it is."""
    from modules import processing

    width, height = size
    p = processing.StableDiffusionProcessingTxt2Img(
        sd_model=sd_model, prompt=prompt, negative_prompt=negative_prompt, seed=seed, steps=steps,
        cfg_scale=guidance_scale, width=width, height=height, sampler_name=SAMPLER, batch_size=1, n_iter=1,
        do_not_save_samples=True, do_not_save_grid=True, do_not_reload_embeddings=True,
    )
    p.scheduler = "Automatic"  # v1.9+ logs a warning for every image that names none
    return p


def render_txt2img(p, *, posed: bool, cleanup: Callable[[], None] = lambda: None) -> Image.Image:
    """The job's image, with the WebUI's progress counters put back afterwards.

    The WebUI reports a script that fails (e.g. ControlNet cannot load its model) and renders without it: a posed
    image would then ignore the pose, so this stops instead of training on it.
    """
    from modules import errors, processing, shared

    counters = {k: getattr(shared.state, k) for k in ("job", "job_no", "job_count", "sampling_step", "sampling_steps", "textinfo")}
    last_error = errors.exception_records[-1] if errors.exception_records else None
    # One image while it renders: the console's total bar counts job_count x sampling steps, and txt2img closes it
    shared.state.job_count, shared.state.job_no = 1, 0
    try:
        with contextlib.closing(p), torch.no_grad():
            processed = processing.process_images(p)
    finally:
        cleanup()
        for key, value in counters.items():
            setattr(shared.state, key, value)
    if posed and errors.exception_records and errors.exception_records[-1] is not last_error:
        raise InterInvError(f"A WebUI script failed while rendering a stage-1 image in its pose "
                            f"({errors.exception_records[-1]['exception']}); see the console. Fix it (often the "
                            "openpose ControlNet model), or choose the crop fallback.")
    return processed.images[0]


def one_per_image(generate: Callable[..., Image.Image], prompts: Sequence[str], seeds: Sequence[int],
                  **settings) -> list[Image.Image]:
    """generate() once per (prompt, seed)."""
    return [generate(prompt, seed=int(seed), **settings) for prompt, seed in zip(prompts, seeds, strict=True)]


# --- what A1111 and Forge share below their backends ---------------------------------------------------
def embedding_positions(chunks, words: Mapping[str, int]) -> dict[str, list[int]]:
    """Key indices of each training word in a prompt the WebUI tokenized into chunks (each with its BOS)."""
    positions: dict[str, list[int]] = {}
    start = 0
    for chunk in chunks:
        for fix in chunk.fixes:
            if fix.embedding.name in words:
                first = start + fix.offset + 1
                positions.setdefault(fix.embedding.name, []).extend(range(first, first + int(fix.embedding.vectors)))
        start += len(chunk.tokens)
    return positions


def attn2_sizes(root: torch.nn.Module, forward: Callable[[], None],
                latent_size: tuple[int, int]) -> list[tuple[str, torch.nn.Module, tuple[int, int]]]:
    """Every attn2 module under `root` and its spatial size, measured on its queries during one forward()."""
    modules = [(name, module) for name, module in root.named_modules()
               if name.endswith("attn2") and hasattr(module, "to_q") and hasattr(module, "to_k")]
    lengths: dict[str, int] = {}

    def measure(name: str):
        def hook(_module, _inputs, output) -> None:
            lengths.setdefault(name, output.shape[1])

        return hook

    handles = [module.to_q.register_forward_hook(measure(name)) for name, module in modules]
    try:
        forward()
    finally:
        for handle in handles:
            handle.remove()
    return [(name, module, _spatial(lengths[name], latent_size)) for name, module in modules if name in lengths]
