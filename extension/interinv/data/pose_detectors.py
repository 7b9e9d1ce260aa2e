"""Pose detectors behind one small registry: a name maps to a factory of detectors.

A detector is called on an RGB image and returns the people it found as OpenPose-18 `Person`s.
Adding ViTPose or DWPose means registering one more factory; nothing else changes.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Callable, Protocol

import numpy as np
from PIL import Image

from ..compat import import_controlnet_aux
from ..errors import InterInvError
from .pose import Person, from_pose_result

OPENPOSE_HUB_ID = "lllyasviel/Annotators"  # where controlnet_aux's annotator weights live
OPENPOSE_FILES = ("body_pose_model.pth", "hand_pose_model.pth", "facenet.pth")
DETECT_RESOLUTION = 512  # shorter side the image is resized to before detection


class PoseDetector(Protocol):
    def __call__(self, image: Image.Image) -> list[Person]: ...


# factory(location, device): location is a local folder or hub id, None for the detector's default.
DetectorFactory = Callable[[str | None, str], PoseDetector]

_REGISTRY: dict[str, DetectorFactory] = {}


def register_detector(name: str, factory: DetectorFactory) -> None:
    """Make a detector available under `name`."""
    if name in _REGISTRY:
        raise ValueError(f"A pose detector named '{name}' is already registered.")
    _REGISTRY[name] = factory


def detector_names() -> list[str]:
    """The names that get_detector accepts."""
    return sorted(_REGISTRY)


def get_detector(name: str, location: str | os.PathLike | None = None, device: str = "cpu") -> PoseDetector:
    """Build the detector registered as `name` from a local folder or hub id."""
    if name not in _REGISTRY:
        raise InterInvError(
            f"Unknown pose detector '{name}'. Choose one of: {', '.join(detector_names())}."
        )
    return _REGISTRY[name](None if location is None else str(location), device)


class OpenposeBodyDetector:
    """controlnet_aux's OpenposeDetector, body only, giving Persons with normalised keypoints."""

    def __init__(self, detector: object, detect_resolution: int = DETECT_RESOLUTION):
        self.detector = detector
        self.detect_resolution = detect_resolution

    def __call__(self, image: Image.Image) -> list[Person]:
        util = import_controlnet_aux("controlnet_aux.util")
        pixels = util.resize_image(util.HWC3(np.asarray(image.convert("RGB"))), self.detect_resolution)
        return [from_pose_result(result) for result in self.detector.detect_poses(pixels)]


def load_openpose(location: str | None, device: str = "cpu") -> OpenposeBodyDetector:
    """The OpenPose body detector from an annotator folder or hub id (default lllyasviel/Annotators)."""
    open_pose = import_controlnet_aux("controlnet_aux.open_pose")
    location = location or OPENPOSE_HUB_ID
    try:
        detector = open_pose.OpenposeDetector.from_pretrained(location)
    except (OSError, EOFError, ValueError, KeyError, RuntimeError, pickle.UnpicklingError) as exc:
        raise InterInvError(_openpose_help(location, exc)) from exc
    return OpenposeBodyDetector(detector.to(device))


def _openpose_help(location: str, exc: Exception) -> str:
    if Path(location).is_dir():
        missing = [f for f in OPENPOSE_FILES if not (Path(location) / f).is_file()]
        problem = f"is missing {', '.join(missing)}" if missing else f"could not be loaded ({exc})"
    else:
        problem = f"is not a folder and could not be fetched from the Hugging Face Hub ({type(exc).__name__})"
    return (
        f"OpenPose weights at '{location}' {problem}. Point the pose detector location at a folder "
        f"holding {', '.join(OPENPOSE_FILES)} (the annotator files of sd-webui-controlnet or "
        f"{OPENPOSE_HUB_ID}), or provide an OpenPose JSON for each image so no detection is needed."
    )


register_detector("openpose", load_openpose)
