"""interaction.json and stage1.json: the one reader and the one writer of each, with typed records.

interaction.json names the subjects O1 and O2 of an exemplar folder's images and their caption templates, with
optional per-image fields; stage1.json lists the single-subject stage-1 images per pose role. The readers check
every field and name the file and the field when one is wrong; whether the files they name exist is for the
caller, which knows the folder.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..atomic import write_text_atomic
from ..config import STAGE2_TEMPLATES
from ..core.tokens import POSE_ROLES
from ..errors import InterInvError

INTERACTION_FILE = "interaction.json"
STAGE1_FILE = "stage1.json"
EXEMPLARS_FOLDER = "exemplars"  # an interaction folder, in the layouts that InterInv writes
STAGE1_FOLDER = "stage1"  # the stage-1 images: p1/, p2/ and stage1.json
STAGE2_SLOTS = ("o1", "o2", "p1", "r", "p2")
MAX_SUBJECT_CHARS = 60  # a subject is a few words; captions must fit CLIP's 77 tokens
PROMPT_SYNTAX = "()[]{}<>:|,\\"  # A1111/Forge emphasis, LoRA tags, alternation, our slots; commas split captions
STAGE1_FIELDS = ("file", "subject", "exemplar", "source")


@dataclass(frozen=True)
class ImageEntry:
    """The per-image fields of interaction.json; None = the folder's default."""

    subjects: tuple[str, str] | None = None
    templates: tuple[str, ...] | None = None
    pose: str | None = None  # OpenPose JSON file in the folder
    mask: str | None = None  # mask PNG in the folder
    people: tuple[int, int] | None = None  # which detected people are O1 and O2


@dataclass(frozen=True)
class InteractionFile:
    """interaction.json: the folder's defaults and the images that differ from them."""

    name: str | None = None
    description: str = ""
    subjects: tuple[str, str] | None = None
    templates: tuple[str, ...] | None = None  # None = the default templates
    images: Mapping[str, ImageEntry] = field(default_factory=dict)


@dataclass(frozen=True)
class Stage1Entry:
    """One stage-1 image of stage1.json: its file (relative to the folder) and the subject word of its caption."""

    file: str
    subject: str
    exemplar: str | None = None  # the exemplar whose pose it shows
    source: str | None = None  # what made it: "controlnet", "crops", "demo"
    settings: Mapping[str, Any] = field(default_factory=dict)  # what shaped it (prompt, seed, ...), for the record


# ---- checks of the fields ------------------------------------------------------------------------


def check_template(template: str, slots: Sequence[str], where: str) -> str:
    """A caption template must use exactly the named slots, each at least once."""
    try:
        used = {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}
    except ValueError as exc:
        raise InterInvError(f"{where}: the template '{template}' is malformed ({exc}).") from exc
    missing, unknown = [s for s in slots if s not in used], sorted(used - set(slots))
    if missing or unknown:
        raise InterInvError(
            f"{where}: the template '{template}' "
            + (f"lacks the slots {', '.join('{' + s + '}' for s in missing)}" if missing else "")
            + (" and " if missing and unknown else "")
            + (f"uses unknown slots {', '.join('{' + s + '}' for s in unknown)}" if unknown else "")
            + f". Use each of {', '.join('{' + s + '}' for s in slots)}, e.g. '{STAGE2_TEMPLATES[0]}'."
        )
    return template


def check_subjects(value: Any, where: str) -> tuple[str, str]:
    """The two subject words O1 and O2 of an interaction (see check_subject)."""
    if not (isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, str) and v.strip() for v in value)):
        raise InterInvError(f"{where}: 'subjects' must be two words, e.g. [\"man\", \"woman\"], got {value!r}.")
    return (check_subject(value[0], f"{where} subjects[0]"), check_subject(value[1], f"{where} subjects[1]"))


def check_subject(word: str, where: str) -> str:
    """A subject word, stripped: plain text, since it goes into captions, prompts and infotexts as it is.

    The one validator of subjects: interaction.json, stage1.json, `init`, the API and the tab all call it.
    """
    word = word.strip()
    if len(word) > MAX_SUBJECT_CHARS:
        raise InterInvError(
            f"{where}: the subject is {len(word)} characters long ('{word[:40]}...'); a subject is a few words "
            f"of at most {MAX_SUBJECT_CHARS} characters, e.g. 'man in a red coat', so that captions fit the text "
            "encoder's 77 tokens."
        )
    syntax = next((c for c in word if c in PROMPT_SYNTAX or not c.isprintable()), None)
    if syntax is not None:
        raise InterInvError(
            f"{where}: the subject '{word}' contains {syntax!r}, which the WebUIs read as prompt syntax (weights, "
            "LoRAs, alternation, template slots, or a break between prompt parts). Use plain words, e.g. "
            "'man in a red coat'."
        )
    return word


def _templates(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(t, str) for t in value):
        raise InterInvError(f"{where}: 'templates' must be a list of caption templates, e.g. [\"{STAGE2_TEMPLATES[0]}\"].")
    return tuple(check_template(t, STAGE2_SLOTS, f"{where} 'templates'") for t in value)


def read_json_object(path: Path) -> dict[str, Any]:
    """The JSON object in a file, or an InterInvError that names the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InterInvError(f"'{path}' is not valid JSON: {exc}. Fix the file or run 'interinv init'.") from exc
    if not isinstance(data, dict):
        raise InterInvError(f"'{path}' must hold a JSON object.")
    return data


# ---- interaction.json ----------------------------------------------------------------------------


def read_interaction_file(folder: Path) -> InteractionFile:
    """The checked interaction.json of an exemplar folder."""
    path = folder / INTERACTION_FILE
    if not path.is_file():
        raise InterInvError(
            f"'{path}' is missing. It names the two subjects of each image; "
            f"create it with 'interinv init {folder}' and fill in the subject words."
        )
    data, where = read_json_object(path), str(path)
    images = data.get("images", {})
    if not isinstance(images, dict):
        raise InterInvError(f"{where}: 'images' must be an object of file name -> fields, got {images!r}.")
    name = data.get("name")
    if name is not None and not isinstance(name, str):
        raise InterInvError(f"{where}: 'name' must be a string, e.g. \"kisshand\", got {name!r}.")
    return InteractionFile(
        name=name,
        description=str(data.get("description", "")),
        subjects=check_subjects(data["subjects"], where) if "subjects" in data else None,
        templates=_templates(data["templates"], where) if "templates" in data else None,
        images={image: _image_entry(entry, f"{where} images['{image}']") for image, entry in images.items()},
    )


def _image_entry(entry: Any, where: str) -> ImageEntry:
    if not isinstance(entry, dict):
        raise InterInvError(f"{where}: expected an object of per-image fields, e.g. {{\"people\": [1, 0]}}, got {entry!r}.")
    people = entry.get("people")
    if people is not None and not (isinstance(people, list) and len(people) == 2 and all(isinstance(i, int) for i in people)):
        raise InterInvError(f"{where}: 'people' must be two person indices, e.g. [1, 0], got {people!r}.")
    for key in ("pose", "mask"):
        if entry.get(key) is not None and not isinstance(entry[key], str):
            raise InterInvError(f"{where}: '{key}' must be a file name in the folder, got {entry[key]!r}.")
    return ImageEntry(
        subjects=check_subjects(entry["subjects"], where) if "subjects" in entry else None,
        templates=_templates(entry["templates"], where) if "templates" in entry else None,
        pose=entry.get("pose"),
        mask=entry.get("mask"),
        people=tuple(people) if people else None,
    )


def write_interaction_file(folder: Path, record: InteractionFile, *, help_text: str | None = None) -> Path:
    """Write folder/interaction.json (atomically); `help_text` goes into a '_help' note for people editing it."""
    data: dict[str, Any] = {"_help": help_text} if help_text else {}
    if record.name is not None:
        data["name"] = record.name
    data["description"] = record.description
    if record.subjects is not None:
        data["subjects"] = list(record.subjects)
    if record.templates is not None:
        data["templates"] = list(record.templates)
    if record.images:
        data["images"] = {image: _image_fields(entry) for image, entry in record.images.items()}
    return write_text_atomic(folder / INTERACTION_FILE, json.dumps(data, indent=2))


def _image_fields(entry: ImageEntry) -> dict[str, Any]:
    fields = {"subjects": entry.subjects, "templates": entry.templates, "pose": entry.pose, "mask": entry.mask,
              "people": entry.people}
    return {key: list(value) if isinstance(value, tuple) else value for key, value in fields.items() if value is not None}


# ---- stage1.json ---------------------------------------------------------------------------------


def read_stage1_file(folder: Path) -> dict[str, list[Stage1Entry]]:
    """The checked stage1.json of a stage-1 folder: pose role ("p1", "p2") -> its images."""
    path = folder / STAGE1_FILE
    data = read_json_object(path)
    return {role: [_stage1_entry(item, path, role) for item in _list(data.get(role, []), path, role)] for role in POSE_ROLES}


def _list(value: Any, path: Path, role: str) -> list:
    if not isinstance(value, list):
        raise InterInvError(f"{path} '{role}': expected a list of {{\"file\", \"subject\"}} entries, got {value!r}.")
    return value


def _stage1_entry(item: Any, path: Path, role: str) -> Stage1Entry:
    if not (isinstance(item, dict) and isinstance(item.get("file"), str) and isinstance(item.get("subject"), str)):
        raise InterInvError(f"{path} '{role}': each entry needs 'file' and 'subject' strings, got {item!r}.")
    return Stage1Entry(file=item["file"], subject=check_subject(item["subject"], f"{path} '{role}' '{item['file']}'"),
                       exemplar=item.get("exemplar"), source=item.get("source"),
                       settings={k: v for k, v in item.items() if k not in STAGE1_FIELDS})


def write_stage1_file(folder: Path, entries: Mapping[str, Sequence[Stage1Entry]]) -> Path:
    """Write folder/stage1.json (atomically) from the images of each pose role."""
    data = {role: [_stage1_fields(entry) for entry in entries.get(role, ())] for role in POSE_ROLES}
    return write_text_atomic(folder / STAGE1_FILE, json.dumps(data, indent=1) + "\n")


def _stage1_fields(entry: Stage1Entry) -> dict[str, Any]:
    fields = {"file": entry.file, "subject": entry.subject, "exemplar": entry.exemplar, "source": entry.source}
    return {**{key: value for key, value in fields.items() if value is not None}, **entry.settings}
