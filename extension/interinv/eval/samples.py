"""The generated images to score: each with its prompt (PNG infotext or .txt), subjects and people."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..data.exemplars import image_files
from ..data.pose import PoseImage
from ..errors import InterInvError
from ..formats.infotext import png_prompt
from ..formats.manifest import Manifest
from .metrics import subjects_from_prompt
from .pose_classifiers import image_pose
from ..data.pose_detectors import PoseDetector


@dataclass(frozen=True)
class EvalSample:
    """A generated image with the prompt it was made from, its subjects and the people found in it."""

    image: Path
    prompt: str
    subjects: tuple[str, str]
    pose: PoseImage | None = None  # the people found; None: no pose JSON and no detector


def image_prompt(path: Path) -> str | None:
    """The prompt an image was made with: its PNG `parameters` infotext, or a `<stem>.txt` beside it."""
    prompt = png_prompt(path) if path.suffix.lower() == ".png" else None
    caption = path.with_suffix(".txt")
    if prompt is None and caption.is_file():
        return caption.read_text(encoding="utf-8").strip()
    return prompt


def collect_samples(
    folder: str | os.PathLike, manifest: Manifest, detector: PoseDetector | None = None
) -> list[EvalSample]:
    """The images of a folder, each with its prompt (infotext or .txt), subjects and people.

    People come from `<image>.json` (OpenPose) beside an image, else from `detector`, else are unknown.
    """
    folder = Path(folder)
    images = image_files(folder) if folder.is_dir() else []
    if not images:
        raise InterInvError(f"'{folder}' holds no images to evaluate (PNG, JPEG, WEBP or BMP).")
    samples, problems = [], []
    for path in images:
        prompt = image_prompt(path)
        subjects = subjects_from_prompt(prompt, manifest.template) if prompt else None
        if subjects is None:
            problems.append(f"{path.name}: " + ("no prompt" if not prompt else f"prompt '{prompt}' does not follow the template"))
            continue
        pose_json = path.with_suffix(".json")
        samples.append(EvalSample(path, prompt, subjects, image_pose(path, pose_json if pose_json.is_file() else None, detector)))
    if problems:
        raise InterInvError(
            f"Cannot tell the prompt and subjects of these images (template '{manifest.template}'):\n  "
            + "\n  ".join(problems)
            + "\nGenerate them with the template, keeping the PNG infotext, or put the prompt in '<image>.txt'."
        )
    return samples
