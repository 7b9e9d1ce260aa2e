"""Exemplar sets on disk: images, subject words, caption templates, poses, masks, cached latents."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from ..atomic import write_atomic
from ..config import STAGE2_TEMPLATES
from ..core.tokens import POSE_ROLES
from ..errors import InterInvError
from ..hosts.base import Host, ImageSize
from ..formats.interaction_file import (INTERACTION_FILE, STAGE1_FILE, ImageEntry, InteractionFile, Stage1Entry,
                                        check_subjects, read_interaction_file, read_stage1_file,
                                        write_interaction_file)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif")  # animated files are refused when read
STAGE1_SLOTS = ("o", "p")
MIN_EXEMPLARS = 2
ORIENTATION_TAG, ROTATED = 0x0112, (5, 6, 7, 8)  # EXIF orientations that swap width and height
SPEC_HELP = ("Subjects are the words O1 and O2 (O1 = the left person unless 'people' says otherwise). "
             "Templates use {o1} {p1} {r} {o2} {p2}. Per image you may set subjects, templates, pose (OpenPose JSON), "
             "mask (PNG) and people ([i, j] = which detected people are O1 and O2).")


@dataclass(frozen=True)
class Exemplar:
    """One two-subject image with its subject words, caption templates and optional pose and mask."""

    image: Path
    subjects: tuple[str, str]
    templates: tuple[str, ...]
    pose: Path | None = None  # OpenPose JSON of the image
    mask: Path | None = None  # union mask of the two subjects
    people: tuple[int, int] | None = None  # which detected people are O1 and O2; None = left to right


@dataclass(frozen=True)
class Interaction:
    folder: Path
    name: str | None
    description: str
    exemplars: tuple[Exemplar, ...]


@dataclass(frozen=True)
class SubjectImage:
    """A single-subject stage-1 image and the subject word in its caption."""

    image: Path
    subject: str


def load_image(path: Path) -> Image.Image:
    """An RGB image with EXIF orientation applied; transparency is flattened onto white."""
    image = eight_bit(open_still_image(path))
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    return image.convert("RGB")


def open_still_image(path: Path, what: str = "Image") -> Image.Image:
    """A single-frame image, fully read, with EXIF orientation applied; unreadable, animated or huge ones refused."""
    try:
        with Image.open(path) as opened:
            frames = getattr(opened, "n_frames", 1)
            opened.load()
            image = ImageOps.exif_transpose(opened)
    except FileNotFoundError as exc:
        raise InterInvError(f"{what} '{path}' does not exist.") from exc
    except Image.DecompressionBombError as exc:
        raise InterInvError(
            f"{what} '{path}' is too large to decode safely ({exc}). It may be a decompression bomb; "
            "if it is a real photo, scale it down (a few megapixels are plenty) and try again."
        ) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InterInvError(
            f"{what} '{path}' cannot be read as an image ({exc}). Use a PNG, JPEG, WEBP, BMP or still GIF file, or remove it."
        ) from exc
    if frames > 1:
        raise InterInvError(
            f"{what} '{path}' is animated ({frames} frames); InterInv reads one still image. "
            "Save the frame you want as a PNG and remove the animation from the folder."
        )
    return image


def eight_bit(image: Image.Image) -> Image.Image:
    """16-bit grayscale scaled to 8 bits ("L"), since Pillow's convert() clips such values to white."""
    if image.mode.startswith("I;16") or image.mode == "I":  # "I" too: older Pillow opens 16-bit PNGs so
        import numpy as np

        values = np.asarray(image, dtype=np.float64)
        return Image.fromarray(np.clip(np.rint(values / 65535.0 * 255.0), 0, 255).astype(np.uint8), mode="L")
    return image


def image_files(folder: Path) -> list[Path]:
    """The exemplar images of a folder: image files that are not masks, skeletons or previews."""
    return sorted(
        p
        for p in folder.iterdir()
        if p.suffix.lower() in IMAGE_SUFFIXES and not any(tag in p.name for tag in (".mask.", ".pose.", ".preview."))
    )


def load_interaction(folder: str | Path) -> Interaction:
    """Read an interaction folder: its images and interaction.json (subjects, templates, poses, masks)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InterInvError(f"Exemplar folder '{folder}' does not exist.")
    spec = read_interaction_file(folder)
    where = str(folder / INTERACTION_FILE)
    for name in spec.images:
        if not (folder / name).is_file():
            raise InterInvError(f"{where}: 'images' names '{name}', which is not in {folder}.")
    _refuse_shadowed_subjects(spec, where)
    exemplars = tuple(_exemplar(folder, path, spec, where) for path in image_files(folder))
    if len(exemplars) < MIN_EXEMPLARS:
        raise InterInvError(
            f"'{folder}' holds {len(exemplars)} exemplar image(s); at least {MIN_EXEMPLARS} are needed "
            "(4-10 works best). Add more images of the same interaction."
        )
    return Interaction(folder, spec.name, spec.description, exemplars)


def _refuse_shadowed_subjects(spec: InteractionFile, where: str) -> None:
    """Files from an older `init` copy the subjects into every image, so an edit of the top-level ones did nothing."""
    per_image = [entry.subjects for entry in spec.images.values()]
    if spec.subjects is None or len(per_image) < MIN_EXEMPLARS or None in per_image:
        return
    if all(s == per_image[0] for s in per_image) and per_image[0] != spec.subjects:
        raise InterInvError(
            f"{where}: the top-level 'subjects' are {list(spec.subjects)}, but every image entry sets "
            f"{list(per_image[0])}, so the top-level ones are used nowhere (older versions of `interinv init` copied "
            "the subjects into each image). Delete the per-image 'subjects' to use the top-level ones, or set the "
            "top-level to match."
        )


def _exemplar(folder: Path, path: Path, spec: InteractionFile, where: str) -> Exemplar:
    where = f"{where} images['{path.name}']"
    entry = spec.images.get(path.name, ImageEntry())
    subjects = entry.subjects or spec.subjects
    if subjects is None:
        raise InterInvError(f"{where}: no 'subjects' given, and no default 'subjects' at the top of the file.")
    templates = entry.templates or spec.templates or STAGE2_TEMPLATES
    pose = _optional_file(folder, entry.pose, path.with_suffix(".json"), where, "pose")
    mask = _optional_file(folder, entry.mask, path.with_name(path.stem + ".mask.png"), where, "mask")
    return Exemplar(path, subjects, templates, pose, mask, entry.people)


def _optional_file(folder: Path, named: str | None, default: Path, where: str, field: str) -> Path | None:
    if named is None:
        return default if default.is_file() else None
    path = folder / named
    if not path.is_file():
        raise InterInvError(f"{where}: '{field}' names '{named}', which does not exist in {folder}.")
    return path


def load_subject_images(folder: str | Path, subjects: dict[str, str] | None = None) -> dict[str, list[SubjectImage]]:
    """Stage-1 images per role ("p1", "p2"): from stage1.json, or from p1/ and p2/ subfolders plus subject words."""
    folder = Path(folder)
    if (folder / STAGE1_FILE).is_file():
        result = {role: [_subject_image(folder, entry, role) for entry in entries]
                  for role, entries in read_stage1_file(folder).items()}
    else:
        if not subjects:
            raise InterInvError(f"'{folder}' has no {STAGE1_FILE}; give the subject word of p1/ and p2/ (--subjects).")
        result = {role: [SubjectImage(p, subjects[role]) for p in _role_images(folder / role)] for role in POSE_ROLES}
    for role, images in result.items():
        if not images:
            raise InterInvError(f"Stage-1 folder '{folder}' has no images for {role}; run 'interinv prepare' first.")
    return result


def _role_images(folder: Path) -> list[Path]:
    return image_files(folder) if folder.is_dir() else []


def _subject_image(folder: Path, entry: Stage1Entry, role: str) -> SubjectImage:
    path = folder / entry.file
    if not path.is_file():
        raise InterInvError(f"{folder / STAGE1_FILE} '{role}': '{entry.file}' does not exist in {folder}.")
    return SubjectImage(path, entry.subject)


def cached_latents(host: Host, paths: Sequence[Path], size: tuple[int, int], cache_dir: Path | None):
    """Latent (mean, std) of each image, computed once per image content, model and size."""
    from safetensors.torch import load_file, save_file

    means, stds, missing = [None] * len(paths), [None] * len(paths), []
    keys = [_latent_key(host, path, size) for path in paths]
    for index, key in enumerate(keys):
        cached = cache_dir / f"{key}.safetensors" if cache_dir else None
        if cached is not None and cached.is_file():
            tensors = load_file(cached)
            means[index], stds[index] = tensors["mean"], tensors["std"]
        else:
            missing.append(index)
    if missing:
        mean, std = host.encode_images([load_image(paths[i]) for i in missing], size)
        for row, index in enumerate(missing):
            means[index], stds[index] = mean[row].contiguous(), std[row].contiguous()
            if cache_dir is not None:
                tensors = {"mean": means[index], "std": stds[index]}
                write_atomic(cache_dir / f"{keys[index]}.safetensors", lambda p, t=tensors: save_file(t, str(p)))
    return torch.stack(means), torch.stack(stds)


def image_sizes(paths: Sequence[Path], size: tuple[int, int]) -> list[ImageSize]:
    """Each image's size conditioning when it is resized whole to `size` (width, height): its upright file size."""
    sizes = []
    for path in paths:
        with Image.open(path) as opened:  # reads the header only
            width, height = opened.size
            if opened.getexif().get(ORIENTATION_TAG, 1) in ROTATED:
                width, height = height, width
        sizes.append(ImageSize(original=(height, width), target=(size[1], size[0])))
    return sizes


def _latent_key(host: Host, path: Path, size: tuple[int, int]) -> str:
    digest = hashlib.sha256(path.read_bytes() if path.is_file() else str(path).encode())
    digest.update(f"{host.model_name}|{size}".encode())
    return digest.hexdigest()[:32]


def fill_template(template: str, **slots: str) -> str:
    """A caption from a template; double spaces from empty slots are folded."""
    return " ".join(template.format(**slots).split())




def write_spec_template(folder: Path, subjects: Sequence[str] = ("person", "person")) -> Path:
    """An interaction.json for a folder of images, with a '_help' note on every field; never overwrites."""
    path = folder / INTERACTION_FILE
    if path.exists():
        raise InterInvError(f"'{path}' already exists; edit it, or delete it to start from a fresh template.")
    if not folder.is_dir():
        raise InterInvError(f"Folder '{folder}' does not exist. Give the folder that holds the exemplar images.")
    subjects = check_subjects(subjects, "--subjects")
    images = image_files(folder)
    if not images:
        raise InterInvError(f"'{folder}' holds no images ({', '.join(IMAGE_SUFFIXES)}).")
    # per-image fields only where an image differs
    spec = InteractionFile(name=check_name_hint(folder.name), subjects=subjects, templates=STAGE2_TEMPLATES,
                           images={p.name: ImageEntry() for p in images})
    return write_interaction_file(folder, spec, help_text=SPEC_HELP)


def check_name_hint(text: str) -> str:
    """A valid interaction name derived from a folder name."""
    cleaned = "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_")[:63]
    return cleaned or "interaction"
