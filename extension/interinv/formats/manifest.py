"""The interaction manifest (<slug>.interaction.json): what an export holds, read and checked in one place."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ..atomic import write_text_atomic
from ..core.tokens import ROLES, check_slug
from ..errors import InterInvError
from .interaction_file import check_template

MANIFEST_FORMAT = "interinv.interaction/1"
MANIFEST_SUFFIX = ".interaction.json"
EMBEDDING_SUFFIXES = (".safetensors", ".pt")
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class TokenEntry:
    """One trained word of an export: its trigger word, its file (named after it), the file's hash, its vectors."""

    name: str
    file: str
    sha256: str
    vectors: int


@dataclass(frozen=True)
class Manifest:
    """A checked manifest and the folder that holds it; `data` is the JSON object as it was read."""

    folder: Path
    file_name: str  # the manifest's file name in folder
    slug: str
    family: str
    architecture: str  # the ModelSpec id, e.g. stable-diffusion-v1/textual-inversion
    embedding_dims: Mapping[str, int]
    template: str  # with the slots {o1} and {o2} and the three trigger words
    subjects: tuple[str, str]
    description: str
    tokens: Mapping[str, TokenEntry]  # role -> word
    base_model: Mapping[str, Any]
    data: Mapping[str, Any]

    @property
    def path(self) -> Path:
        return self.folder / self.file_name

    @property
    def names(self) -> dict[str, str]:
        """Role -> trigger word (the file stem)."""
        return {role: entry.name for role, entry in self.tokens.items()}

    def file(self, role: str) -> Path:
        """The embedding file of a role."""
        return self.folder / self.tokens[role].file

    def to_dict(self) -> dict[str, Any]:
        """A copy of the manifest's JSON object, to change or to send."""
        return copy.deepcopy(dict(self.data))


def load_manifest(path: str | Path) -> Manifest:
    """The interaction manifest of an output folder (or the .interaction.json itself), checked."""
    path = Path(path)
    if path.is_dir():
        found = sorted(path.glob("*" + MANIFEST_SUFFIX))
        if len(found) != 1:
            raise InterInvError(
                f"'{path}' holds {len(found)} *{MANIFEST_SUFFIX} manifests; expected exactly one. Point to the file."
            )
        path = found[0]
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InterInvError(f"Manifest '{path}' could not be read: {exc}.") from exc
    return check_manifest(data, path)


def write_manifest(folder: Path, data: Mapping[str, Any]) -> Path:
    """Write <slug>.interaction.json into folder (atomically), checked first as every reader checks it."""
    path = Path(folder) / f"{data.get('slug')}{MANIFEST_SUFFIX}"
    check_manifest(data, path)
    return write_text_atomic(path, json.dumps(data, indent=2) + "\n")


def check_manifest(data: Any, path: Path) -> Manifest:
    """The one validator of a manifest: every field that a reader relies on, since a shared one may come from a
    stranger."""
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        found = (f"format {data.get('format')!r}" if isinstance(data, dict) else
                 {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(data), "a number"))
        raise InterInvError(
            f"'{path}' is not an InterInv manifest: expected a JSON object with format '{MANIFEST_FORMAT}', "
            f"found {found}. Point to the .interaction.json that `interinv export` wrote."
        )
    for key, kind in (("slug", str), ("template", str), ("tokens", dict), ("family", str), ("architecture", str),
                      ("subjects", list), ("embedding_dims", dict)):
        if not isinstance(data.get(key), kind):
            raise InterInvError(
                f"Manifest '{path}': field '{key}' is missing or not a {kind.__name__}; re-export the interaction."
            )
    slug = check_slug(data["slug"], f"slug in {path}")
    subjects = data["subjects"]
    if len(subjects) != 2 or not all(isinstance(s, str) for s in subjects):
        raise InterInvError(f"Manifest '{path}': 'subjects' must be two words, e.g. [\"man\", \"woman\"].")
    template = check_template(data["template"], ("o1", "o2"), f"{path} 'template'")
    base_model = data.get("base_model") or {}
    if not isinstance(base_model, dict):
        raise InterInvError(f"Manifest '{path}': field 'base_model' must be an object; re-export the interaction.")
    return Manifest(
        folder=path.parent, file_name=path.name, slug=slug, family=data["family"], architecture=data["architecture"],
        embedding_dims=dict(data["embedding_dims"]), template=template, subjects=(subjects[0], subjects[1]),
        description=data["description"] if isinstance(data.get("description"), str) else "",
        tokens={role: _token(data["tokens"].get(role), role, slug, template, path) for role in ROLES},
        base_model=base_model, data=copy.deepcopy(data),
    )


def _token(entry: Any, role: str, slug: str, template: str, path: Path) -> TokenEntry:
    if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) for k in ("name", "file")):
        raise InterInvError(
            f"Manifest '{path}': tokens.{role} must be an object with 'name' and 'file'; re-export the interaction."
        )
    name = f"{slug}_{role}"
    if entry["name"] != name:
        raise InterInvError(f"Manifest '{path}': tokens.{role}.name must be '{name}'.")
    if entry["file"] not in tuple(name + suffix for suffix in EMBEDDING_SUFFIXES):
        raise InterInvError(
            f"Manifest '{path}': tokens.{role}.file must be '{name}{EMBEDDING_SUFFIXES[0]}' (the trigger word is the "
            f"file stem), got {entry['file']!r}."
        )
    if not isinstance(entry.get("sha256"), str) or not _SHA256.fullmatch(entry["sha256"]):
        raise InterInvError(f"Manifest '{path}': tokens.{role}.sha256 must be 64 lowercase hex digits.")
    if not isinstance(entry.get("vectors"), int) or isinstance(entry["vectors"], bool) or entry["vectors"] < 1:
        raise InterInvError(f"Manifest '{path}': tokens.{role}.vectors must be a positive integer.")
    if name not in template.split():
        raise InterInvError(f"Manifest '{path}': the template '{template}' does not use the trigger '{name}'.")
    return TokenEntry(name=name, file=entry["file"], sha256=entry["sha256"], vectors=entry["vectors"])
