"""The bundled default: a small synthetic exemplar set of one interaction, drawn in code.

Two stick figures, one kneeling before the other and reaching for its hand, on plain backgrounds.
It exercises every file format and both stages on the tiny model; its images are not meaningful.
"""

from __future__ import annotations

import random
from pathlib import Path

from PIL import Image, ImageDraw

from ..formats.interaction_file import (EXEMPLARS_FOLDER, STAGE1_FOLDER, InteractionFile, Stage1Entry,
                                        write_interaction_file, write_stage1_file)
from .masks import hull_mask, union_mask, write_mask
from .pose import LIMBS, Person, PoseImage, write_openpose_json
from ..formats.infotext import save_png

CANVAS = 64
BODY_LIMBS = tuple(limb for limb in LIMBS if max(limb) < 14)  # a stick figure: no eyes and ears
STANDING = ((0.5, 0.1), (0.5, 0.22), (0.4, 0.22), (0.36, 0.38), (0.34, 0.52), (0.6, 0.22), (0.64, 0.38),
            (0.66, 0.52), (0.45, 0.55), (0.45, 0.75), (0.45, 0.95), (0.55, 0.55), (0.55, 0.75), (0.55, 0.95),
            (0.48, 0.08), (0.52, 0.08), (0.46, 0.09), (0.54, 0.09))
KNEELING = ((0.5, 0.35), (0.5, 0.45), (0.4, 0.45), (0.55, 0.5), (0.75, 0.48), (0.6, 0.45), (0.62, 0.6),
            (0.6, 0.7), (0.45, 0.72), (0.55, 0.85), (0.3, 0.95), (0.55, 0.72), (0.7, 0.8), (0.7, 0.95),
            (0.48, 0.33), (0.52, 0.33), (0.46, 0.34), (0.54, 0.34))
SUBJECTS = (("man", (40, 60, 200)), ("woman", (200, 40, 80)))
BACKGROUNDS = ((235, 230, 210), (200, 225, 240), (210, 240, 205), (240, 215, 225))


def _place(points, x0: float, y0: float, scale: float, rng: random.Random) -> Person:
    jitter = lambda: rng.uniform(-0.015, 0.015)  # noqa: E731 - a small per-joint wobble
    return Person(tuple((x0 + (x + jitter()) * scale, y0 + (y + jitter()) * scale) for x, y in points))


def _draw(image: Image.Image, person: Person, colour: tuple[int, int, int]) -> None:
    draw, side = ImageDraw.Draw(image), image.size[0]
    pts = [(x * side, y * side) for x, y in person.keypoints]
    for a, b in BODY_LIMBS:
        draw.line([pts[a], pts[b]], fill=colour, width=max(2, side // 24))
    r = side / 18
    draw.ellipse([pts[0][0] - r, pts[0][1] - r, pts[0][0] + r, pts[0][1] + r], fill=colour)


def write_demo_set(folder: str | Path, count: int = 6, singles: int = 4, seed: int = 0) -> Path:
    """Write exemplars/ (two-subject images, interaction.json, pose JSON, masks) and stage1/ into folder."""
    folder, rng = Path(folder), random.Random(seed)
    exemplars, stage1 = folder / EXEMPLARS_FOLDER, folder / STAGE1_FOLDER
    for index in range(count):
        scale = rng.uniform(0.5, 0.6)
        kneeler = _place(KNEELING, rng.uniform(0.0, 0.08), 1.0 - scale - 0.02, scale, rng)
        stander = _place(STANDING, rng.uniform(0.38, 0.45), 1.0 - scale - 0.02, scale, rng)
        image = Image.new("RGB", (CANVAS, CANVAS), rng.choice(BACKGROUNDS))
        for person, (_, colour) in zip((kneeler, stander), SUBJECTS):
            _draw(image, person, colour)
        stem = exemplars / f"{index:02d}"
        save_png(stem.with_suffix(".png"), image)
        write_openpose_json(stem.with_suffix(".json"), PoseImage(CANVAS, CANVAS, (kneeler, stander)))
        write_mask(stem.with_name(f"{index:02d}.mask.png"), union_mask([hull_mask(p, CANVAS, CANVAS) for p in (kneeler, stander)]))
    write_interaction_file(exemplars, InteractionFile(name="demo_kneel", subjects=tuple(s for s, _ in SUBJECTS),
                                                      description="kneels before and holds the hand of"))
    entries: dict[str, list[Stage1Entry]] = {"p1": [], "p2": []}
    for role, points, (subject, colour) in (("p1", KNEELING, SUBJECTS[0]), ("p2", STANDING, SUBJECTS[1])):
        for index in range(singles):
            image = Image.new("RGB", (CANVAS, CANVAS), rng.choice(BACKGROUNDS))
            _draw(image, _place(points, 0.1, 0.05, 0.9, rng), colour)
            save_png(stage1 / role / f"{index:02d}.png", image)
            entries[role].append(Stage1Entry(file=f"{role}/{index:02d}.png", subject=subject, source="demo"))
    write_stage1_file(stage1, entries)
    return folder
