"""Copy a finished interaction from its work folder into the WebUI's embeddings folder.

Training works in a folder outside the embeddings folder: the WebUI loads every file below it,
and the resumable state, snapshots and cached latents must never be mistaken for embeddings.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ..errors import InterInvError
from ..export import load_manifest
from ..tokens import check_slug

INTERACTIONS_FOLDER = "interactions"


def target_folder(embeddings_dir: str | Path, slug: str) -> Path:
    """<embeddings dir>/interactions/<slug>/."""
    return Path(embeddings_dir) / INTERACTIONS_FOLDER / check_slug(slug)


def published_files(work: Path) -> list[Path]:
    """The manifest, the embedding files and their preview sidecars of a finished interaction."""
    manifest = load_manifest(work)
    stems = [token["name"] for token in manifest["tokens"].values()]
    files = [Path(manifest["_folder"]) / f"{manifest['slug']}.interaction.json"]
    for stem in stems:
        files += sorted(p for p in work.glob(f"{stem}.*") if p.is_file())
    return files


def publish(work: str | Path, embeddings_dir: str | Path, slug: str, overwrite: bool = False) -> list[Path]:
    """Copy the interaction's files into the embeddings folder; existing files only with `overwrite`."""
    work, target = Path(work), target_folder(embeddings_dir, slug)
    files = published_files(work)
    clashes = [target / f.name for f in files if (target / f.name).exists()]
    if clashes and not overwrite:
        raise InterInvError(
            f"'{clashes[0]}' already exists ({len(clashes)} file(s) in all). Tick 'Overwrite existing files' to "
            "replace them, or choose another name."
        )
    target.mkdir(parents=True, exist_ok=True)
    copied = []
    for source in files:
        destination = target / source.name
        shutil.copy2(source, destination.with_name(destination.name + ".tmp"))
        destination.with_name(destination.name + ".tmp").replace(destination)
        copied.append(destination)
    return copied
