"""Embedding files (one per pseudo-word), their metadata, the interaction manifest and previews."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import pickle
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch
from PIL import Image, PngImagePlugin

from . import __version__
from .atomic import write_atomic, write_text_atomic
from .errors import InterInvError
from .hosts.base import ENCODERS, FAMILY_BY_WIDTH, SDXL_WIDTHS, architecture
from .core.tokens import ROLES, PseudoWord, check_slug

MANIFEST_FORMAT = "interinv.interaction/1"
SD_KEY = "emb_params"  # the kohya/Civitai key of SD1/SD2 files
EMBEDDING_SUFFIXES = (".safetensors", ".pt", ".bin")
# One `Key: value` pair of an A1111 infotext parameter line; quoted values are JSON strings
_INFOTEXT_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
A1111_MIN_PARAMS = 3  # A1111 reads a last line with fewer pairs as part of the prompt
PREVIEW_CFG = 7.5  # classifier-free guidance scale of the preview sidecars


@dataclass(frozen=True)
class EmbeddingFile:
    """An embedding read from any of the common layouts, with its tensors by encoder."""

    path: Path
    format: str  # "safetensors-emb_params", "sdxl", "a1111-pt", "diffusers"
    tensors: dict[str, torch.Tensor]  # "clip_l"/"clip_g" for SDXL, else the single key -> [n, D]
    metadata: dict[str, str]

    @property
    def vectors(self) -> dict[str, torch.Tensor]:
        return self.tensors

    @property
    def num_vectors(self) -> int:
        return next(iter(self.tensors.values())).shape[0]

    @property
    def widths(self) -> dict[str, int]:
        return {key: t.shape[-1] for key, t in self.tensors.items()}

    def for_host(self, host) -> dict[str, torch.Tensor]:
        """The tensors keyed by the host's encoders, refused when the widths don't match."""
        keys = ENCODERS[host.family]
        if host.family == "sdxl":
            tensors = {k: self.tensors.get(k) for k in keys}
        else:
            tensors = {keys[0]: next(iter(self.tensors.values())) if len(self.tensors) == 1 else None}
        for key, tensor in tensors.items():
            expected = host.embedding_dims[key]
            if tensor is None or tensor.shape[-1] != expected:
                found = ", ".join(f"{k}: {w}" for k, w in self.widths.items())
                raise InterInvError(
                    f"'{self.path}' has width {found}, but the loaded {host.family} model expects {key}: {expected}. "
                    "Use an embedding trained for this model family (768 = SD1.x, 1024 = SD2.x, SDXL = clip_l+clip_g)."
                )
        return tensors


def read_embedding(path: str | Path) -> EmbeddingFile:
    """Read an A1111 .pt, a kohya/Civitai or SDXL .safetensors, or a diffusers concept file. Never unpickles."""
    path = Path(path)
    if not path.is_file():
        raise InterInvError(f"Embedding file '{path}' does not exist.")
    if path.suffix.lower() == ".safetensors":
        tensors, metadata = _read_safetensors(path)
    elif path.suffix.lower() in (".pt", ".bin"):
        tensors, metadata = _read_pickle_free(path)
    else:
        raise InterInvError(f"'{path}' is not an embedding file; expected .safetensors, .pt or .bin.")
    return _classify(path, tensors, metadata)


def _read_safetensors(path: Path):
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            return {k: handle.get_tensor(k) for k in handle.keys()}, dict(handle.metadata() or {})
    except (SafetensorError, OSError) as exc:
        raise InterInvError(f"'{path}' is not a valid safetensors file ({exc}).") from exc


def _read_pickle_free(path: Path):
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:  # torch's text advises loading it unsafely: it is not relayed
        raise InterInvError(
            f"'{path}' was refused: it could not be read safely, because it holds objects other than tensors, "
            "numbers and strings, and loading those can run code. Only if you trust where it came from, convert "
            "it to .safetensors (an A1111 embedding: load it once with torch.load and save its "
            "'string_to_param' tensor with safetensors' save_file as 'emb_params'), then use that file."
        ) from exc
    except Exception as exc:  # a damaged or foreign file; torch's own text may hold terminal escapes
        raise InterInvError(
            f"'{path}' could not be read safely: it is not a readable PyTorch embedding ({type(exc).__name__}). "
            "Copy or download it again, or use its .safetensors version."
        ) from exc
    if isinstance(data, torch.Tensor):
        return {"embedding": data}, {}
    if not isinstance(data, dict):
        raise InterInvError(f"'{path}' holds a {type(data).__name__}, not an embedding dictionary.")
    if "string_to_param" in data:
        params = data["string_to_param"]
        meta = {k: str(data[k]) for k in ("name", "step", "sd_checkpoint", "sd_checkpoint_name") if k in data}
        return {"string_to_param": next(iter(params.values()))} if len(params) == 1 else dict(params), meta
    return {k: v for k, v in data.items() if isinstance(v, torch.Tensor)}, {}


def _classify(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> EmbeddingFile:
    tensors = {k: (v.unsqueeze(0) if v.dim() == 1 else v).float() for k, v in tensors.items()}
    if {"clip_l", "clip_g"} <= set(tensors):
        return EmbeddingFile(path, "sdxl", {k: tensors[k] for k in ("clip_l", "clip_g")}, metadata)
    if len(tensors) != 1:
        raise InterInvError(
            f"'{path}' holds {len(tensors)} tensors ({', '.join(tensors)}); an embedding file holds one "
            "(or clip_l + clip_g for SDXL). Split it into one file per trigger word."
        )
    key, tensor = next(iter(tensors.items()))
    if tensor.dim() != 2:
        raise InterInvError(f"'{path}': tensor '{key}' has shape {tuple(tensor.shape)}; expected [vectors, width].")
    kind = {"emb_params": "safetensors-emb_params", "string_to_param": "a1111-pt"}.get(key, "diffusers")
    return EmbeddingFile(path, kind, {key: tensor}, metadata)


def embedding_problems(emb: EmbeddingFile) -> list[str]:
    """What would make the file useless in a WebUI: NaN or all-zero vectors, a width of no model family."""
    problems = []
    for key, tensor in emb.tensors.items():
        nan = torch.isnan(tensor).all(dim=-1)
        zero = (tensor == 0).all(dim=-1)
        for rows, what in ((nan, "all NaN (the training diverged)"), (zero, "all zero (it was never trained)")):
            if rows.any():
                which = "every vector" if rows.all() else f"vector(s) {rows.nonzero().flatten().tolist()}"
                problems.append(f"tensor {key}: {which} {'is' if which == 'every vector' else 'are'} {what}; "
                                "prompts that use this word will break")
    if emb.format == "sdxl":
        if emb.widths != SDXL_WIDTHS:
            problems.append(f"widths {emb.widths} match no model family (SDXL: clip_l 768 + clip_g 1280)")
    elif next(iter(emb.widths.values())) not in FAMILY_BY_WIDTH:
        problems.append(f"width {next(iter(emb.widths.values()))} matches no model family "
                        "(768: SD1.x, 1024: SD2.x, 768 + 1280: SDXL); no WebUI will load this file")
    return problems


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- writing ---------------------------------------------------------------------------------------
def file_tensors(vectors: Mapping[str, torch.Tensor], family: str) -> dict[str, torch.Tensor]:
    """The tensors of a file: emb_params for SD1/SD2, clip_l + clip_g for SDXL."""
    clean = {k: v.detach().float().cpu().contiguous() for k, v in vectors.items()}
    return clean if family == "sdxl" else {SD_KEY: next(iter(clean.values()))}


def write_embedding(path: Path, vectors: Mapping[str, torch.Tensor], family: str, metadata: Mapping[str, str]) -> Path:
    from safetensors.torch import save_file

    tensors = file_tensors(vectors, family)
    return write_atomic(path, lambda tmp: save_file(tensors, str(tmp), metadata=dict(metadata)))


def write_a1111_pt(path: Path, vectors: Mapping[str, torch.Tensor], family: str, step: int, model_name: str) -> Path:
    """A1111's .pt layout, in torch's legacy (non-zip) format that A1111 1.10's safe unpickler accepts."""
    tensor = next(iter(file_tensors(vectors, family).values()))
    data = {"string_to_token": {"*": 265}, "string_to_param": {"*": tensor}, "name": path.stem, "step": step,
            "sd_checkpoint": None, "sd_checkpoint_name": model_name}
    return write_atomic(path, lambda tmp: torch.save(data, tmp, _use_new_zipfile_serialization=False))


@dataclass(frozen=True)
class ExportInfo:
    """What the files say about the interaction besides the vectors."""

    slug: str
    subjects: tuple[str, str]
    template: str  # the three trigger words, with {o1} and {o2} slots for the subjects
    description: str = ""
    training: Mapping[str, Any] | None = None


def embedding_metadata(host, info: ExportInfo, role: str, names: Mapping[str, str]) -> dict[str, str]:
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
    return {
        "modelspec.sai_model_spec": "1.0.0",
        "modelspec.architecture": architecture(host.family, host.prediction_type),
        "modelspec.implementation": "https://github.com/interinv/interinv",
        "modelspec.title": f"{info.slug} {role}",
        "modelspec.trigger_phrase": names[role],
        "modelspec.usage_hint": info.template,
        "modelspec.description": f"Interaction '{info.slug}' ({role}). Use all three words: {info.template}",
        "modelspec.date": now,
        "modelspec.prediction_type": "v" if host.prediction_type == "v_prediction" else "epsilon",
        "interinv.version": __version__,
        "interinv.role": role,
        "interinv.group": info.slug,
        "interinv.siblings": json.dumps([names[r] for r in ROLES]),
        "interinv.template": info.template,
        "interinv.family": host.family,
    }


@dataclass(frozen=True)
class PreviewSettings:
    """How the preview sidecars are rendered."""

    steps: int = 20  # sampling steps of each image
    size: int | None = None  # side in pixels (training passes its resolution); None: the host's default


def export_interaction(out_dir: Path, words: Mapping[str, PseudoWord], host, info: ExportInfo, *,
                       pt: bool = False, previews: bool = True, preview: PreviewSettings = PreviewSettings(),
                       step: int = 0) -> Path:
    """Write <slug>_p1/_r/_p2 files, optional .pt twins, preview sidecars, and <slug>.interaction.json."""
    check_slug(info.slug)
    out_dir = Path(out_dir)
    names = {role: words[role].name for role in ROLES}
    _refuse_clash(out_dir, info.slug)
    tokens = {}
    for role in ROLES:
        vectors = {k: v.detach() for k, v in words[role].effective().items()}
        path = write_embedding(out_dir / f"{names[role]}.safetensors", vectors, host.family,
                               embedding_metadata(host, info, role, names))
        if pt:
            write_a1111_pt(out_dir / f"{names[role]}.pt", vectors, host.family, step, host.model_name)
        tokens[role] = {"name": names[role], "file": path.name, "vectors": words[role].num_vectors,
                        "sha256": file_sha256(path)}
    if previews:
        write_previews(out_dir, words, host, info, preview)
    manifest = {
        "format": MANIFEST_FORMAT,
        "slug": info.slug,
        "family": host.family,
        "architecture": architecture(host.family, host.prediction_type),
        "embedding_dims": dict(host.embedding_dims),
        "template": info.template,
        "subjects": list(info.subjects),
        "description": info.description,
        "tokens": tokens,
        "base_model": {"name": host.model_name, "sha256": None},
        "training": dict(info.training or {}),
        "created": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        "interinv_version": __version__,
    }
    return write_text_atomic(out_dir / f"{info.slug}.interaction.json", json.dumps(manifest, indent=2))


def _refuse_clash(out_dir: Path, slug: str) -> None:
    """Files of another interaction with the same trigger words are never overwritten."""
    for role in ROLES:
        path = out_dir / f"{slug}_{role}.safetensors"
        if path.is_file() and read_embedding(path).metadata.get("interinv.group") != slug:
            raise InterInvError(
                f"'{path}' already exists and belongs to another embedding. Choose another --name or --out folder."
            )


def role_captions(info: ExportInfo, names: Mapping[str, str]) -> dict[str, str]:
    """The caption that shows each word: the full template for R, subject + pose word for P1 and P2."""
    o1, o2 = info.subjects
    return {"p1": f"a photo of a {o1} {names['p1']}", "r": info.template.format(o1=o1, o2=o2),
            "p2": f"a photo of a {o2} {names['p2']}"}


def write_previews(out_dir: Path, words: Mapping[str, PseudoWord], host, info: ExportInfo, settings: PreviewSettings,
                   seed: int = 0) -> None:
    """One `<name>.preview.png` per word, whose `parameters` chunk is an infotext that A1111 reads."""
    names = {role: words[role].name for role in ROLES}
    vectors = {w.name: w.effective() for w in words.values()}
    for role, caption in role_captions(info, names).items():
        image = host.generate(caption, seed=seed, steps=settings.steps, guidance_scale=PREVIEW_CFG, vectors=vectors,
                              size=(settings.size, settings.size) if settings.size else None)
        params = {"Steps": settings.steps, "CFG scale": PREVIEW_CFG, "Seed": seed,
                  "Size": f"{image.width}x{image.height}", "Model": host.model_name, "Version": f"InterInv {__version__}"}
        save_png(out_dir / f"{names[role]}.preview.png", image, a1111_infotext(caption, "", params))


# --- A1111 infotext (the `parameters` text chunk of a PNG) -------------------------------------------
def _infotext_quote(value: object) -> str:
    text = str(value)
    if "," in text or "\n" in text or ":" in text:
        return json.dumps(text, ensure_ascii=False)
    return text


def a1111_infotext(prompt: str, negative_prompt: str, params: Mapping[str, object]) -> str:
    """Generation parameters in A1111's infotext format: prompt, `Negative prompt:` line, `Key: value` line."""
    negative = f"\nNegative prompt: {negative_prompt}" if negative_prompt else ""
    line = ", ".join(f"{key}: {_infotext_quote(value)}" for key, value in params.items() if value is not None)
    return f"{prompt}{negative}\n{line}".strip()


def parse_infotext(text: str, min_params: int = A1111_MIN_PARAMS) -> tuple[str, str, dict[str, str]]:
    """(prompt, negative prompt, parameters) read the way A1111 reads its infotext.

    A1111 takes a last line with fewer than `min_params` pairs for part of the prompt; pass 1 to read
    the short parameter lines that other tools write.
    """
    *lines, last = text.strip().split("\n")
    if not lines or len(_INFOTEXT_PARAM.findall(last)) < min_params:
        lines.append(last)
        last = ""
    prompt, negative, in_negative = [], [], False
    for line in lines:
        line = line.strip()
        if line.startswith("Negative prompt:"):
            in_negative, line = True, line[len("Negative prompt:"):].strip()
        (negative if in_negative else prompt).append(line)
    params = {}
    for key, value in _INFOTEXT_PARAM.findall(last):
        if len(value) > 1 and value[0] == '"' and value[-1] == '"':
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                pass
        params[key.strip()] = value
    return "\n".join(prompt), "\n".join(negative), params


def png_infotext(path: str | os.PathLike) -> str | None:
    """The `parameters` text chunk of a PNG (A1111's infotext), if it has one."""
    with Image.open(path) as image:
        return getattr(image, "text", {}).get("parameters")


def png_prompt(path: str | os.PathLike) -> str | None:
    """The prompt in a PNG's infotext, also when its parameter line is shorter than A1111 expects."""
    infotext = png_infotext(path)
    return parse_infotext(infotext, min_params=1)[0] if infotext else None


def save_png(path: Path, image: Image.Image, parameters: str | None = None) -> Path:
    """A PNG written atomically, with an A1111-style `parameters` text chunk when given."""
    info = PngImagePlugin.PngInfo()
    if parameters:
        info.add_text("parameters", parameters)
    return write_atomic(path, lambda tmp: image.save(tmp, format="PNG", pnginfo=info))


def write_snapshot(out_dir: Path, words: Mapping[str, PseudoWord], family: str, step: int) -> None:
    """Numbered copies of the current vectors, e.g. snapshots/kisshand_r-step000500.safetensors."""
    for word in words.values():
        vectors = {k: v.detach() for k, v in word.effective().items()}
        write_embedding(out_dir / f"{word.name}-step{step:06d}.safetensors", vectors, family,
                        {"interinv.step": str(step), "interinv.word": word.name})


def load_manifest(path: str | Path) -> dict[str, Any]:
    """The interaction manifest of an output folder (or the .interaction.json itself), checked."""
    path = Path(path)
    if path.is_dir():
        found = sorted(path.glob("*.interaction.json"))
        if len(found) != 1:
            raise InterInvError(
                f"'{path}' holds {len(found)} *.interaction.json manifests; expected exactly one. Point to the file."
            )
        path = found[0]
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InterInvError(f"Manifest '{path}' could not be read: {exc}.") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        found = (f"format {manifest.get('format')!r}" if isinstance(manifest, dict) else
                 {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(manifest), "a number"))
        raise InterInvError(
            f"'{path}' is not an InterInv manifest: expected a JSON object with format '{MANIFEST_FORMAT}', "
            f"found {found}. Point to the .interaction.json that `interinv export` wrote."
        )
    for key, kind in (("slug", str), ("template", str), ("tokens", dict)):
        if not isinstance(manifest.get(key), kind):
            raise InterInvError(
                f"Manifest '{path}': field '{key}' is missing or not a {kind.__name__}; re-export the interaction."
            )
    for role in ROLES:
        entry = manifest["tokens"].get(role)
        if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) for k in ("name", "file")):
            raise InterInvError(
                f"Manifest '{path}': tokens.{role} must be an object with 'name' and 'file'; re-export the interaction."
            )
    manifest["_folder"] = str(path.parent)
    return manifest
