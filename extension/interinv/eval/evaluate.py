"""The evaluation of samples against an interaction: the four metrics per image, their summaries, the report.

The conventions of each metric are in `metrics`; CLIP is loaded in `clip`, the pose classifiers in `pose_classifiers`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np

from ..data.pose import assign_subjects
from ..errors import InterInvError
from ..formats.manifest import Manifest
from .clip import CLIP_BATCH_SIZE, ClipEncoder, clip_scores
from .metrics import (CLIP_S, CLIP_T, CONFIDENCE, POSE_KP, POSE_S, SUBJECTS_TEXT, MetricSummary, accuracy_scores,
                      clip_s_text, clip_t_text, mean_ci95)
from .pose_classifiers import PoseKPClassifier, PoseSVM, classifier_identity, keypoint_array, pose_features
from .samples import EvalSample


@dataclass
class EvalReport:
    interaction: str
    metrics: dict[str, MetricSummary]
    rows: list[dict[str, Any]]  # one per image
    models: dict[str, Any]  # the CLIP model and each classifier's identity
    two_people_found: int | None = None  # images with exactly two people, when poses were scored
    conventions: dict[str, str] = field(default_factory=lambda: {
        "scale": "x100",
        "interval": f"{CONFIDENCE:.0%} Student-t over images",
        "clip_t_text": "prompt with R -> description, P1/P2 removed",
        "clip_s_text": SUBJECTS_TEXT,
        "pose_failure": "an image without exactly two people counts as wrong",
    })

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["metrics"] = {k: _finite_or_none(asdict(v)) for k, v in self.metrics.items()}
        return data


def _finite_or_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in values.items()}


def evaluate(
    samples: Sequence[EvalSample],
    manifest: Manifest,
    clip: ClipEncoder | None = None,
    pose_s: PoseSVM | None = None,
    pose_kp: PoseKPClassifier | None = None,
    description: str | None = None,
    batch_size: int = CLIP_BATCH_SIZE,
) -> EvalReport:
    """CLIP-T and CLIP-S when `clip` is given, Pose-S and Pose-KP when their classifiers are given."""
    slug, names = manifest.slug, manifest.names
    rows: list[dict[str, Any]] = [{"image": s.image.name, "prompt": s.prompt} for s in samples]
    metrics: dict[str, MetricSummary] = {}
    models: dict[str, Any] = {}
    if clip is not None:
        description = description if description is not None else manifest.description
        if not description:
            raise InterInvError(
                f"CLIP-T needs the interaction in words, and the manifest of '{slug}' has no 'description'. "
                "Pass --description \"kneels and kisses the hand of\" or export with a description."
            )
        texts = {
            CLIP_T: [clip_t_text(s.prompt, names, description) for s in samples],
            CLIP_S: [clip_s_text(*s.subjects) for s in samples],
        }
        scores = clip_scores(clip, [s.image for s in samples], texts, batch_size)
        for metric, values in scores.items():
            metrics[metric] = mean_ci95(values)
            for row, text, value in zip(rows, texts[metric], values, strict=True):
                row[metric] = value
                row[f"{metric} text"] = text
        models["clip"] = clip.name
    two_people = None
    classifiers = {POSE_S: pose_s, POSE_KP: pose_kp}
    if any(classifiers.values()):
        keypoints = _subject_keypoints(samples)
        two_people = sum(k is not None for k in keypoints)
        for metric, classifier in classifiers.items():
            if classifier is None:
                continue
            if slug not in classifier.classes:
                raise InterInvError(
                    f"The {metric} classifier knows {', '.join(classifier.classes)}, not '{slug}'. "
                    f"Train it with a folder of '{slug}' exemplars among the others."
                )
            predicted = _predict(classifier, keypoints)
            metrics[metric] = mean_ci95(accuracy_scores(predicted, slug))
            for row, label in zip(rows, predicted, strict=True):
                row[metric] = label
            models[metric] = classifier_identity(classifier)
    return EvalReport(slug, metrics, rows, models, two_people)


def _subject_keypoints(samples: Sequence[EvalSample]) -> list[np.ndarray | None]:
    """Keypoints of O1 (left) and O2 (right) per image; None where there are not exactly two people."""
    unknown = [s.image.name for s in samples if s.pose is None]
    if unknown:
        raise InterInvError(
            "Pose metrics need the people in each image, and these have no '<image>.json' pose and no detector was "
            "given:\n  " + "\n  ".join(unknown)
            + "\nChoose a pose detector (--pose-detector openpose), or add the OpenPose JSON files."
        )
    return [
        keypoint_array(*assign_subjects(s.pose.people), size=(s.pose.canvas_width, s.pose.canvas_height))
        if len(s.pose.people) == 2 else None
        for s in samples
    ]


def _predict(classifier: PoseSVM | PoseKPClassifier, keypoints: Sequence[np.ndarray | None]) -> list[str | None]:
    found = [k for k in keypoints if k is not None]
    if not found:
        return [None] * len(keypoints)
    stacked = np.stack(found)
    labels = iter(classifier.predict(pose_features(stacked) if isinstance(classifier, PoseSVM) else stacked))
    return [next(labels) if k is not None else None for k in keypoints]


def format_report(report: EvalReport) -> str:
    """A small table: each metric as mean ± 95% CI (n), then the models used."""
    lines = [f"Interaction '{report.interaction}' — scores x100, mean ± 95% CI over images"]
    for metric, summary in report.metrics.items():
        ci = "n/a" if math.isnan(summary.ci95) else f"{summary.ci95:.2f}"
        lines.append(f"  {metric:<8} {summary.mean:6.2f} ± {ci:<6} (n={summary.n})")
    if report.two_people_found is not None:
        lines.append(f"  two people found in {report.two_people_found} of {len(report.rows)} images")
    for key, value in report.models.items():
        shown = value if isinstance(value, str) else (
            f"{value['kind']}, data {value['data_sha256'][:10]}, weights {value['content_sha256'][:10]}"
        )
        lines.append(f"  {key}: {shown}")
    return "\n".join(lines)
