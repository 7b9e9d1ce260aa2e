"""An exemplar folder to everything the two stages need: poses, subject skeletons, masks, stage-1 images.

Per exemplar: the user's OpenPose JSON or a detection (exported for fixing) -> the two people as O1
and O2 -> a skeleton map per subject -> subject masks (SAM, or a hull around the skeleton) -> N
stage-1 images per subject. Every derived file is named by a content hash of its inputs and settings,
so a re-run redoes only what changed, and an interrupted run continues where it stopped. A contact
sheet shows all of it at a glance before GPU time is spent on training.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw

from ..atomic import write_text_atomic
from .contact_sheet import SheetLayout, contact_sheet
from .cache import cached_file, content_key, file_identity, prune
from ..errors import InterInvError, TrainingInterrupted
from .exemplars import Exemplar, Interaction, load_image, load_interaction
from ..core.tokens import POSE_ROLES
from ..formats.interaction_file import STAGE1_FOLDER, Stage1Entry, write_stage1_file
from ..formats.infotext import save_png
from ..hosts.base import Host
from ..job import Job
from .masks import (
    HULL_DILATION,
    box_mask,
    check_sam_checkpoint,
    hull_mask,
    load_sam,
    read_mask,
    sam_masks,
    union_mask,
    write_mask,
)
from .pose import (
    PeopleCountError,
    Person,
    PoseImage,
    assign_all,
    draw_skeleton,
    person_box,
    read_openpose_json,
    subject_skeleton,
    write_openpose_json,
)
from .synth import SubjectPose, SynthOptions, require_pose_generation, synthesize

PREPARED_FOLDER = "prepared"  # default output folder inside the exemplar folder
MANIFEST_FILE = "prepare.json"  # what prepare made for each exemplar; train reads the masks from it
CONTACT_SHEET = "contact_sheet.png"
STAGE = "prepare"  # the stage name the Job sees
SKELETON_MARGIN = 0.1  # free border of a skeleton map, as a fraction of its side
SAM_BOX_PAD = 0.15  # grow each skeleton box by this fraction: the joints stop short of the head top and the feet
CONTACT_CELL = 160  # side of one contact-sheet panel in pixels
CONTACT_SAMPLES = 2  # stage-1 images per subject shown on the contact sheet
CONTACT_WORK = 2 * CONTACT_CELL  # longer side at which overlays are drawn, so skeleton lines stay visible
# panels padded into squares, 4 pixels apart, under an 18-pixel caption strip, on dark grey
CONTACT_LAYOUT = SheetLayout(cell=(CONTACT_CELL, CONTACT_CELL), gap=4, label_height=18, background=(24, 24, 24))
SUBJECT_TINTS = ((255, 90, 90), (90, 150, 255))  # O1, O2 on the mask panel


@dataclass(frozen=True)
class PrepareOptions(SynthOptions):
    detector: str = "openpose"  # pose detector for images without an OpenPose JSON (pose_detectors registry)
    annotator: str | None = None  # the detector's weights: a local folder or hub id; None = its default
    sam: str | None = None  # SAM checkpoint file; None = masks drawn around the skeletons (no weights)
    sam_type: str = "vit_b"  # the SAM model type of that checkpoint
    skeleton_side: int = 512  # side of the single-subject skeleton maps in pixels
    device: str | None = None  # device of the detector and SAM; None = the host's (the CPU without a host)

    def check(self) -> None:
        super().check()
        if self.sam:
            check_sam_checkpoint(self.sam, self.sam_type)


@dataclass(frozen=True)
class Prepared:
    """What prepare wrote; every dict is keyed by the exemplar's file name."""

    out: Path
    stage1: Path  # p1/, p2/ and stage1.json, as exemplars.load_subject_images reads them
    contact_sheet: Path
    poses: dict[str, Path]  # the OpenPose JSON used: the user's, or the exported detection
    masks: dict[str, Path]  # union mask of the two subjects
    skeletons: dict[str, tuple[Path, Path]]  # skeleton map of O1, O2
    subject_masks: dict[str, tuple[Path, Path]]  # mask of O1, O2
    made: dict[str, int]  # files made by this run per kind; everything else came from the cache


@dataclass(frozen=True)
class _Analysis:
    """One exemplar's subjects with their skeleton maps and masks."""

    exemplar: Exemplar
    image: Image.Image
    pair: tuple[Person, Person]
    skeletons: tuple[Path, Path]
    subject_masks: tuple[Path, Path]
    mask: Path
    mask_source: str  # "file", "sam" or "hull"


def default_out(folder: str | os.PathLike) -> Path:
    """Where prepare writes when no output folder is given."""
    return Path(folder) / PREPARED_FOLDER


def prepare(host: Host | None, folder: str | os.PathLike, options: PrepareOptions = PrepareOptions(), job: Job | None = None,
            out: str | os.PathLike | None = None) -> Prepared:
    """Poses, skeleton maps, masks, stage-1 images and a contact sheet for an exemplar folder, in out.

    host may be None with source="crops". Raises PeopleCountError listing every image that does not
    have exactly two people, and TrainingInterrupted when the job asks to stop (finished files are kept).
    """
    options.check()
    folder, job = Path(folder), job or Job()
    out = Path(out) if out is not None else default_out(folder)
    if out.resolve() == folder.resolve():
        raise InterInvError(f"The output folder must not be the exemplar folder '{folder}' itself: prepare prunes "
                            f"the files it no longer needs there. Leave it out to use {default_out(folder)}.")
    interaction = load_interaction(folder)
    if options.source == "controlnet":
        require_pose_generation(host)
    exemplars = interaction.exemplars
    made: Counter = Counter()
    progress = _Progress(job, len(exemplars) * (2 + 2 * options.per_subject), out)
    device = options.device or str(getattr(host, "device", "cpu"))

    images = {e.image.name: load_image(e.image) for e in exemplars}
    image_keys = {e.image.name: content_key(e.image) for e in exemplars}
    detector = functools.cache(lambda: _load_detector(options, device, job))
    poses = {}
    for exemplar in exemplars:
        name = exemplar.image.name
        poses[name] = _pose(exemplar, images[name], image_keys[name], options, out, detector, made)
        progress.advance()
    pairs = _assign(poses, exemplars)

    sam = functools.cache(lambda: _load_sam(options, device, job))
    analyses = []
    for exemplar in exemplars:
        name = exemplar.image.name
        analyses.append(_analyse(exemplar, images[name], image_keys[name], pairs[name], options, out, sam, made))
        progress.advance()

    stage1 = out / STAGE1_FOLDER
    entries: dict[str, list[Stage1Entry]] = {role: [] for role in POSE_ROLES}
    for item in analyses:
        for role, subject, skeleton, mask in zip(POSE_ROLES, item.exemplar.subjects, item.skeletons, item.subject_masks):
            pose = SubjectPose(item.exemplar.image.name, role, subject, skeleton, item.exemplar.image, mask)
            for entry, was_made in synthesize(host, pose, options, stage1):
                entries[role].append(entry)
                if was_made:
                    made["images"] += 1
                progress.advance()
    write_stage1_file(stage1, entries)

    _prune(out, analyses, entries, poses)
    sheet = out / CONTACT_SHEET
    rows = [_contact_row(item, poses[item.exemplar.image.name][2], entries, stage1) for item in analyses]
    save_png(sheet, contact_sheet(rows, _contact_titles(options.per_subject), CONTACT_LAYOUT))
    _write_manifest(out, folder, options, analyses, poses, image_keys)
    job.log(f"prepare: made {_count_text(made)}; the rest came from the cache. Contact sheet: {sheet}")
    return Prepared(
        out=out,
        stage1=stage1,
        contact_sheet=sheet,
        poses={name: path for name, (_, path, _) in poses.items()},
        masks={a.exemplar.image.name: a.mask for a in analyses},
        skeletons={a.exemplar.image.name: a.skeletons for a in analyses},
        subject_masks={a.exemplar.image.name: a.subject_masks for a in analyses},
        made={kind: count for kind, count in made.items() if count},
    )


class _Progress:
    """The run's steps, reported to the Job; a stop request ends the run between two steps."""

    def __init__(self, job: Job, total: int, out: Path):
        self.job, self.total, self.out, self.step = job, total, out, 0
        job.begin(STAGE, total, 0)

    def advance(self) -> None:
        self.step += 1
        self.job.update(STAGE, self.step, {})
        if self.step < self.total and self.job.stop_requested():
            raise TrainingInterrupted(
                f"Prepare stopped after {self.step} of {self.total} steps. Run it again to continue: the poses, "
                f"masks and images finished so far are kept in '{self.out}'.",
                str(self.out),
                self.step,
            )


# ---- poses ------------------------------------------------------------------------------------


def _load_detector(options: PrepareOptions, device: str, job: Job):
    from .pose_detectors import get_detector

    job.log(f"loading the {options.detector} pose detector")
    return get_detector(options.detector, options.annotator, device)


def _pose(exemplar: Exemplar, image: Image.Image, image_key: str, options: PrepareOptions, out: Path, detector,
          made: Counter) -> tuple[PoseImage, Path, str]:
    """The exemplar's people, the JSON they come from, and "json" (the user's) or "detected"."""
    if exemplar.pose is not None:
        return read_openpose_json(exemplar.pose, image.size), exemplar.pose, "json"
    key = content_key("detect", image_key, options.detector, options.annotator)
    detection = out / "cache" / "detections" / f"{key}.json"
    cached_file(detection, lambda p: write_openpose_json(p, PoseImage(*image.size, tuple(detector()(image)))),
                made, "detections")
    # The export sits at a stable name that the user can fix in the openpose editor and put beside the image.
    export = out / "poses" / f"{exemplar.image.stem}.json"
    if not export.is_file() or export.read_bytes() != detection.read_bytes():
        write_text_atomic(export, detection.read_text(encoding="utf-8"))
    return read_openpose_json(detection), export, "detected"


def _assign(poses: dict[str, tuple[PoseImage, Path, str]], exemplars: Sequence[Exemplar]):
    """O1 and O2 of every exemplar; one error lists every image without two people, and its pose file."""
    people = {name: pose.people for name, (pose, _, _) in poses.items()}
    try:
        return assign_all(people, {e.image.name: e.people for e in exemplars})
    except PeopleCountError as exc:
        where = {"json": "poses read from", "detected": "detected poses saved in"}
        raise PeopleCountError({
            name: f"{reason} ({where[poses[name][2]]} {poses[name][1]})" for name, reason in exc.problems.items()
        }) from None


# ---- skeleton maps and masks --------------------------------------------------------------------


def _analyse(exemplar: Exemplar, image: Image.Image, image_key: str, pair: tuple[Person, Person],
             options: PrepareOptions, out: Path, sam, made: Counter) -> _Analysis:
    stem, size = exemplar.image.stem, image.size
    skeletons = []
    for role, person in zip(POSE_ROLES, pair):
        key = content_key("skeleton", person.keypoints, size, options.skeleton_side, SKELETON_MARGIN)
        draw = functools.partial(subject_skeleton, person, size, options.skeleton_side, SKELETON_MARGIN)
        path = out / "skeletons" / f"{stem}-{role}-{key}.png"
        skeletons.append(cached_file(path, lambda p, draw=draw: save_png(p, draw()), made, "skeletons"))
    source, key, subject_mask = _mask_recipe(exemplar, image, image_key, pair, options, sam)
    subject_masks = tuple(
        cached_file(out / "masks" / f"{stem}-{role}-{key}.png", lambda p, i=i: write_mask(p, subject_mask(i)),
                    made, "masks")
        for i, role in enumerate(POSE_ROLES)
    )
    mask = exemplar.mask or cached_file(
        out / "masks" / f"{stem}-union-{key}.png",
        lambda p: write_mask(p, union_mask([read_mask(m) for m in subject_masks])), made, "masks")
    return _Analysis(exemplar, image, pair, tuple(skeletons), subject_masks, mask, source)


def _mask_recipe(exemplar: Exemplar, image: Image.Image, image_key: str, pair: tuple[Person, Person],
                 options: PrepareOptions, sam):
    """(source, content key, mask of subject i): the user's mask split by the subjects' boxes, SAM, or the hull."""
    width, height = image.size
    boxes = [person_box(p, SAM_BOX_PAD) for p in pair]
    if exemplar.mask is not None:
        key = content_key("file", exemplar.mask, image.size, boxes)
        return "file", key, lambda i: read_mask(exemplar.mask, image.size) & box_mask(boxes[i], width, height)
    if options.sam:
        key = content_key("sam", image_key, file_identity(options.sam), options.sam_type, boxes)
        found = functools.cache(lambda: sam_masks(image, boxes, sam()))
        return "sam", key, lambda i: found()[i]
    key = content_key("hull", [p.keypoints for p in pair], image.size, HULL_DILATION)
    return "hull", key, lambda i: hull_mask(pair[i], width, height)


def _load_sam(options: PrepareOptions, device: str, job: Job):
    job.log(f"loading SAM {options.sam_type} from {options.sam}")
    return load_sam(options.sam, options.sam_type, device)


# ---- bookkeeping --------------------------------------------------------------------------------


def _prune(out: Path, analyses: Sequence[_Analysis], entries: dict[str, list[Stage1Entry]], poses) -> None:
    """Remove derived files of earlier settings that this run no longer uses."""
    prune(out / "skeletons", [p for a in analyses for p in a.skeletons], "*.png")
    prune(out / "masks", [p for a in analyses for p in (*a.subject_masks, a.mask)], "*.png")
    for role in POSE_ROLES:
        prune(out / STAGE1_FOLDER / role, [out / STAGE1_FOLDER / e.file for e in entries[role]], "*.png")
    detections = [p for _, p, source in poses.values() if source == "detected"]
    prune(out / "poses", detections, "*.json")


def _write_manifest(out: Path, folder: Path, options: PrepareOptions, analyses: Sequence[_Analysis], poses,
                    image_keys: dict[str, str]) -> Path:
    def rel(path: Path) -> str:
        return Path(os.path.relpath(path, out)).as_posix()

    exemplars = {}
    for item in analyses:
        name = item.exemplar.image.name
        _, pose_path, pose_source = poses[name]
        exemplars[name] = {
            "image_key": image_keys[name],
            "pose": rel(pose_path), "pose_source": pose_source,
            "skeletons": [rel(p) for p in item.skeletons],
            "subject_masks": [rel(p) for p in item.subject_masks],
            "mask": rel(item.mask), "mask_source": item.mask_source,
        }
    data = {"folder": str(folder), "options": dataclasses.asdict(options), "stage1": rel(out / STAGE1_FOLDER),
            "contact_sheet": CONTACT_SHEET, "exemplars": exemplars}
    return write_text_atomic(out / MANIFEST_FILE, json.dumps(data, indent=1) + "\n")


def with_prepared(interaction: Interaction, out: str | os.PathLike) -> Interaction:
    """The exemplars with the masks and poses prepare made in out, where they have none of their own.

    An exemplar whose image changed since prepare ran keeps what it had.
    """
    manifest = Path(out) / MANIFEST_FILE
    if not manifest.is_file():
        return interaction
    try:
        entries = json.loads(manifest.read_text(encoding="utf-8"))["exemplars"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise InterInvError(f"'{manifest}' is damaged ({exc}). Delete it and run 'interinv prepare' again.") from exc

    def update(exemplar: Exemplar) -> Exemplar:
        entry = entries.get(exemplar.image.name)
        if not entry or entry.get("image_key") != content_key(exemplar.image):
            return exemplar
        return dataclasses.replace(exemplar, mask=exemplar.mask or Path(out) / entry["mask"],
                                   pose=exemplar.pose or Path(out) / entry["pose"])

    return dataclasses.replace(interaction, exemplars=tuple(update(e) for e in interaction.exemplars))


def _count_text(made: Counter) -> str:
    return ", ".join(f"{count} {kind}" for kind, count in sorted(made.items()) if count) or "nothing new"


# ---- contact sheet ------------------------------------------------------------------------------


def _contact_row(item: _Analysis, pose_source: str, entries: dict[str, list[Stage1Entry]],
                 stage1: Path) -> tuple[str, list[Image.Image]]:
    name = item.exemplar.image.name
    samples = [stage1 / e.file for role in POSE_ROLES for e in [e for e in entries[role] if e.exemplar == name][:CONTACT_SAMPLES]]
    label = (f"{name}   O1 {item.exemplar.subjects[0]} / O2 {item.exemplar.subjects[1]}   pose: {pose_source}   "
             f"mask: {item.mask_source}")
    panels = [_overlay(item.image, item.pair), *(_open(p) for p in item.skeletons),
              _mask_panel(item.image, item.subject_masks), *(_open(p) for p in samples)]
    return label, panels


def _contact_titles(per_subject: int) -> list[str]:
    shown = min(per_subject, CONTACT_SAMPLES)
    return ["poses", "O1 skeleton", "O2 skeleton", "masks: O1 red, O2 blue", *[f"O1 stage-1 #{i + 1}" for i in range(shown)],
            *[f"O2 stage-1 #{i + 1}" for i in range(shown)]]


def _open(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


def _working_copy(image: Image.Image) -> Image.Image:
    scale = CONTACT_WORK / max(image.size)
    return image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.Resampling.LANCZOS)


def _overlay(image: Image.Image, pair: tuple[Person, Person]) -> Image.Image:
    """The exemplar with both skeletons drawn over it and O1, O2 written at their boxes."""
    base = _working_copy(image)
    skeleton = np.asarray(draw_skeleton(pair, *base.size))
    pixels = np.where(skeleton.any(axis=2, keepdims=True), skeleton, np.asarray(base))
    overlay = Image.fromarray(pixels.astype(np.uint8))
    draw = ImageDraw.Draw(overlay)
    for label, person in zip(("O1", "O2"), pair):
        x0, y0, _, _ = person_box(person)
        x, y = x0 * base.width, max(0.0, y0 * base.height - 12)
        draw.rectangle((x, y, x + 16, y + 11), fill=(0, 0, 0))
        draw.text((x + 2, y), label, fill=(255, 255, 255))
    return overlay


def _mask_panel(image: Image.Image, subject_masks: Sequence[Path]) -> Image.Image:
    """The exemplar dimmed, with O1's mask tinted red and O2's blue."""
    base = np.asarray(_working_copy(image), dtype=np.float32)
    panel = base * 0.3
    for path, tint in zip(subject_masks, SUBJECT_TINTS):
        mask = read_mask(path, (base.shape[1], base.shape[0]))[..., None]
        panel = np.where(mask, base * 0.5 + np.array(tint, dtype=np.float32) * 0.5, panel)
    return Image.fromarray(panel.clip(0, 255).astype(np.uint8))
