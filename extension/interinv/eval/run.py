"""The eval run: read the manifest and the images, get the pose classifiers and CLIP, score, report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import InterInvError
from ..formats.manifest import load_manifest
from .clip import CLIP_BATCH_SIZE, DEFAULT_CLIP_ARCH, load_clip
from .evaluate import EvalReport, evaluate
from .pose_classifiers import POSE_KP_KIND, POSE_S_KIND, load_classifier, train_from_folder
from .samples import collect_samples


@dataclass(frozen=True)
class EvalRequest:
    """What to score and with which models; every model is read from a local path."""

    images: Path  # generated images; each prompt from its PNG infotext or <image>.txt
    embeddings: Path  # the export folder, or its .interaction.json
    clip: Path | None = None  # CLIP for CLIP-T and CLIP-S; None = no CLIP scores
    clip_arch: str = DEFAULT_CLIP_ARCH  # open_clip architecture of a checkpoint file
    description: str | None = None  # the interaction in words for CLIP-T; None = the manifest's
    pose_s: Path | None = None  # Pose-S classifier file
    pose_kp: Path | None = None  # Pose-KP classifier file
    train_classifiers: Path | None = None  # train both on <folder>/<interaction>/ exemplar folders instead
    classifiers_out: Path = Path("pose-classifiers")  # where trained classifiers are saved
    pose_detector: str | None = None  # detector for images without <image>.json poses
    pose_detector_path: str | None = None  # its weights: a local folder or hub id; None = its default
    device: str | None = None  # None = cuda when available
    batch_size: int = CLIP_BATCH_SIZE  # images per CLIP batch


def run_eval(request: EvalRequest, log: Callable[[str], None] = print) -> EvalReport:
    """Score the images of a request; `log` hears what was trained on the way."""
    if request.train_classifiers and (request.pose_s or request.pose_kp):
        raise InterInvError("Give either --train-classifiers FOLDER or --pose-s/--pose-kp files, not both.")
    if not (request.clip or request.pose_s or request.pose_kp or request.train_classifiers):
        raise InterInvError(
            "Nothing to score. Give --clip PATH for CLIP-T and CLIP-S, and --pose-s/--pose-kp FILE or "
            "--train-classifiers FOLDER for Pose-S and Pose-KP."
        )
    import torch

    from ..data.pose_detectors import get_detector

    device = request.device or ("cuda" if torch.cuda.is_available() else "cpu")
    manifest = load_manifest(request.embeddings)
    detector = (get_detector(request.pose_detector, request.pose_detector_path, device)
                if request.pose_detector else None)
    samples = collect_samples(request.images, manifest, detector)
    classifiers = {POSE_S_KIND: request.pose_s, POSE_KP_KIND: request.pose_kp}
    if request.train_classifiers:
        classifiers = train_from_folder(request.train_classifiers, request.classifiers_out, detector)
        log(f"Trained the pose classifiers on '{request.train_classifiers}': "
            + ", ".join(str(path) for path in classifiers.values()))
    loaded = {kind: load_classifier(path) for kind, path in classifiers.items() if path}
    clip = load_clip(request.clip, request.clip_arch, device) if request.clip else None
    return evaluate(samples, manifest, clip=clip, pose_s=loaded.get(POSE_S_KIND), pose_kp=loaded.get(POSE_KP_KIND),
                    description=request.description, batch_size=request.batch_size)
