"""An exported interaction on disk: three embedding files (`<slug>_p1`, `<slug>_r`, `<slug>_p2`), the manifest
`<slug>.interaction.json` and optional `<name>.preview.png` sidecars, checked against the manifest, and how it
reads in words. The bundle, the Hub push, the install and the WebUI's library all open it here.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from ..core.tokens import ROLES
from ..data.exemplars import fill_template
from ..errors import InterInvError
from ..formats.hashes import file_sha256
from ..formats.manifest import Manifest, load_manifest

PREVIEW_SUFFIX = ".preview.png"
EMBEDDING_SUFFIX = ".safetensors"
SHORTHASH_LENGTH = 10  # A1111's short hash: the first 10 hex digits of the file's sha256
INSTALL_FOLDER = "interactions"  # installs go to <embeddings_dir>/interactions/<slug>/
REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")  # a Hub model repo, user/name


@dataclass(frozen=True)
class SharedInteraction:
    """An exported interaction on disk: its manifest, with every file present and matching its hash."""

    manifest: Manifest
    files: dict[str, Path]  # role -> embedding file
    previews: dict[str, Path]  # role -> preview sidecar, for the roles that have one

    @property
    def folder(self) -> Path:
        return self.manifest.folder

    @property
    def manifest_path(self) -> Path:
        return self.manifest.path

    @property
    def slug(self) -> str:
        return self.manifest.slug

    @property
    def names(self) -> dict[str, str]:
        """Role -> trigger word (the file stem)."""
        return self.manifest.names

    @property
    def base_architecture(self) -> str:
        """The ModelSpec id of the base model, without the `/textual-inversion` suffix."""
        return self.manifest.architecture.split("/")[0]

    def example_prompt(self) -> str:
        """The template filled with the trained subjects."""
        return example_prompt(self.manifest)


def example_prompt(manifest: Manifest) -> str:
    """The template filled with the trained subjects."""
    o1, o2 = manifest.subjects
    return fill_template(manifest.template, o1=o1, o2=o2)


def a1111_shorthash(path: str | os.PathLike) -> str:
    """The short hash that A1111 shows for an embedding and writes into `TI hashes`."""
    return file_sha256(path)[:SHORTHASH_LENGTH]


def open_export(source: str | os.PathLike) -> SharedInteraction:
    """An export folder (or its manifest file), with every file present and matching its hash."""
    source = Path(source)
    if not source.exists():
        raise InterInvError(f"'{source}' does not exist. Give the folder that `interinv export` wrote.")
    manifest = load_manifest(source)
    files = {}
    for role in ROLES:
        entry, path = manifest.tokens[role], manifest.file(role)
        if not path.is_file():
            raise InterInvError(
                f"{manifest.path}: tokens.{role}.file names '{entry.file}', which is not in {manifest.folder}. "
                "Export the interaction again, or copy the missing file next to the manifest."
            )
        actual = file_sha256(path)
        if actual != entry.sha256:
            raise InterInvError(
                f"'{path}' does not match its manifest: sha256 {actual[:12]}... but {manifest.file_name} "
                f"records {entry.sha256[:12]}... (tokens.{role}.sha256). The file was changed or damaged; "
                "export the interaction again."
            )
        files[role] = path
    previews = {role: manifest.folder / f"{path.stem}{PREVIEW_SUFFIX}" for role, path in files.items()}
    previews = {role: path for role, path in previews.items() if path.is_file()}
    return SharedInteraction(manifest, files, previews)


def description_line(manifest: Manifest) -> str:
    """One sentence that says the interaction in plain words, for READMEs, cards and the WebUI."""
    if not manifest.description:
        return "An interaction between two subjects."
    return f"The interaction: {plain_prompt(example_prompt(manifest), manifest.names, manifest.description)}."


def word_pattern(word: str) -> re.Pattern[str]:
    """`word` standing alone, not as part of a longer word."""
    return re.compile(rf"(?<!\w){re.escape(word)}(?!\w)")


def plain_prompt(prompt: str, names: Mapping[str, str], description: str) -> str:
    """The prompt in plain words: the R trigger becomes the description, the pose triggers go away."""
    for role, name in names.items():
        replacement = description if role == "r" else ""
        prompt = word_pattern(name).sub(lambda _, text=replacement: text, prompt)
    return re.sub(r"\s+([,.;:!?])", r"\1", " ".join(prompt.split()))
