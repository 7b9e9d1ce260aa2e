"""An export: the three embedding files of trained words, their metadata, previews and the manifest."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from . import __version__
from .data.contact_sheet import contact_sheet
from .errors import InterInvError
from .formats.embedding_files import read_embedding, write_a1111_pt, write_embedding
from .formats.hashes import file_sha256
from .formats.families import architecture
from .formats.infotext import a1111_infotext, save_png
from .formats.manifest import MANIFEST_FORMAT, load_manifest, write_manifest
from .hosts.base import Host
from .core.tokens import ROLES, PseudoWord, check_slug

PREVIEW_CFG = 7.5  # classifier-free guidance scale of the preview sidecars


@dataclass(frozen=True)
class ExportInfo:
    """What the files say about the interaction besides the vectors."""

    slug: str
    subjects: tuple[str, str]
    template: str  # the three trigger words, with {o1} and {o2} slots for the subjects
    description: str = ""
    training: Mapping[str, Any] | None = None


def embedding_metadata(host: Host, info: ExportInfo, role: str, names: Mapping[str, str]) -> dict[str, str]:
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


def export_interaction(out_dir: Path, words: Mapping[str, PseudoWord], host: Host, info: ExportInfo, *,
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
    return write_manifest(out_dir, manifest)


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


def write_previews(out_dir: Path, words: Mapping[str, PseudoWord], host: Host, info: ExportInfo, settings: PreviewSettings,
                   seed: int = 0) -> None:
    """One `<name>.preview.png` per word, whose `parameters` chunk is an infotext that A1111 reads."""
    names = {role: words[role].name for role in ROLES}
    vectors = {w.name: w.effective() for w in words.values()}
    captions = role_captions(info, names)
    images = host.generate_batch(list(captions.values()), seeds=[seed] * len(captions), steps=settings.steps,
                                 guidance_scale=PREVIEW_CFG, vectors=vectors,
                                 size=(settings.size, settings.size) if settings.size else None)
    for (role, caption), image in zip(captions.items(), images):
        params = {"Steps": settings.steps, "CFG scale": PREVIEW_CFG, "Seed": seed,
                  "Size": f"{image.width}x{image.height}", "Model": host.model_name, "Version": f"InterInv {__version__}"}
        save_png(out_dir / f"{names[role]}.preview.png", image, a1111_infotext(caption, "", params))


# --- A1111 infotext (the `parameters` text chunk of a PNG) -------------------------------------------
def write_snapshot(out_dir: Path, words: Mapping[str, PseudoWord], family: str, step: int) -> None:
    """Numbered copies of the current vectors, e.g. snapshots/kisshand_r-step000500.safetensors."""
    for word in words.values():
        vectors = {k: v.detach() for k, v in word.effective().items()}
        write_embedding(out_dir / f"{word.name}-step{step:06d}.safetensors", vectors, family,
                        {"interinv.step": str(step), "interinv.word": word.name})


def preview_grid(host: Host, export_dir: Path, prompt: str, *, seeds: Sequence[int], steps: int,
                 target: Path | None = None) -> Path:
    """Install an export's files in the host, render the prompt ({p1} {r} {p2} slots) per seed, save one PNG grid."""
    manifest = load_manifest(export_dir)
    host.install_embeddings([str(manifest.file(role)) for role in manifest.tokens])
    text = prompt.format(**manifest.names)
    images = host.generate_batch([text] * len(seeds), seeds=seeds, steps=steps)
    return save_png(target or Path(export_dir) / "preview-grid.png", contact_sheet([("", images)]),
                    f"{text}\nSeeds: {list(seeds)}")
