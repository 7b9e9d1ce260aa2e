"""Score generated images with the paper's four metrics: CLIP-T, CLIP-S, Pose-S and Pose-KP.

Conventions, fixed so that numbers compare across runs:
- CLIP is OpenAI's ViT-L/14 unless another model is given, and it is always loaded from a local path
  (a transformers CLIP folder, an open_clip folder, or an open_clip checkpoint file). Nothing is downloaded.
- CLIP-T = 100 x cos(image, text), where the text is the image's prompt in plain words: the R trigger
  word is replaced by the manifest's `description` and the P1/P2 trigger words are removed
  ("a man kisshand_p1 kisshand_r a woman kisshand_p2" -> "a man kneels and kisses the hand of a woman").
- CLIP-S = 100 x cos(image, "a photo of O1 and O2"), with the subject words of the image's prompt.
- Neither CLIP score is clamped at 0 (torchmetrics' CLIPScore clamps; it rarely matters).
- Pose-S and Pose-KP = 100 x top-1 accuracy of a pose classifier (see `pose_classifiers`) against the
  interaction the image was made for. Pose-S is a linear SVM on features computed from the two people's
  keypoints (the paper's SVM used features of a pose network; `train_pose_svm` takes any [N, F] features,
  but `evaluate` computes keypoint features). Pose-KP is a 2-layer GCN on the keypoints themselves.
  O1 is the left person and O2 the right one, in training and in evaluation alike. An image in which
  exactly two people are not found counts as wrong; the report also gives how many images had two people.
- Every metric is the mean over images with a 95% confidence interval, mean ± t(0.975, n-1) · s / √n.

The metric arithmetic (pure functions on embeddings and labels) is kept apart from model loading.
"""

from __future__ import annotations

import math
import os
import re
import string
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Protocol, Sequence

import numpy as np
import torch
from PIL import Image

from ..errors import InterInvError
from ..data.exemplars import check_template, image_files, load_image
from ..formats.infotext import png_prompt
from ..data.pose import PoseImage, assign_subjects
from .pose_classifiers import (
    PoseKPClassifier,
    PoseSVM,
    classifier_identity,
    image_pose,
    keypoint_array,
    pose_features,
)
from ..data.pose_detectors import PoseDetector
from ..share.bundle import plain_prompt
from ..core.tokens import ROLES

DEFAULT_CLIP_ARCH = "ViT-L-14-quickgelu"  # OpenAI's ViT-L/14 (QuickGELU) in open_clip's naming
SUBJECTS_TEXT = "a photo of {o1} and {o2}"  # the CLIP-S text
SCORE_SCALE = 100.0  # cosines and accuracies are reported x100
CONFIDENCE = 0.95  # the level of the reported intervals
CLIP_BATCH_SIZE = 8  # images encoded by CLIP at once
CLIP_T, CLIP_S, POSE_S, POSE_KP = "CLIP-T", "CLIP-S", "Pose-S", "Pose-KP"


# ---- metric arithmetic (pure) -------------------------------------------------------------------


@dataclass(frozen=True)
class MetricSummary:
    mean: float
    ci95: float  # half-width of the 95% interval; nan for a single value
    n: int


def pair_scores(image_embeds: torch.Tensor, text_embeds: torch.Tensor) -> torch.Tensor:
    """100 x cos(image_i, text_i) for each row pair: [N, D], [N, D] -> [N]."""
    if image_embeds.shape != text_embeds.shape:
        raise ValueError(f"one text per image needed, got {tuple(image_embeds.shape)} and {tuple(text_embeds.shape)}")
    cosine = torch.nn.functional.cosine_similarity(image_embeds.double(), text_embeds.double(), dim=-1)
    return SCORE_SCALE * cosine


def accuracy_scores(predicted: Sequence[str | None], target: str) -> list[float]:
    """100 for each prediction equal to the target, else 0 (None, no prediction, is wrong)."""
    return [SCORE_SCALE if p == target else 0.0 for p in predicted]


def mean_ci95(values: Sequence[float]) -> MetricSummary:
    """Mean and the half-width of its 95% Student-t confidence interval."""
    try:
        from scipy.stats import t
    except ImportError as exc:
        raise InterInvError("The confidence intervals need scipy: pip install 'interinv[eval]'.") from exc

    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        raise InterInvError("No images were scored, so there is no mean. Check the image folder.")
    if array.size == 1:
        return MetricSummary(float(array[0]), math.nan, 1)
    half = t.ppf(0.5 + CONFIDENCE / 2, array.size - 1) * array.std(ddof=1) / math.sqrt(array.size)
    return MetricSummary(float(array.mean()), float(half), int(array.size))


def clip_t_text(prompt: str, names: Mapping[str, str], description: str) -> str:
    """The CLIP-T text: the prompt with R as the description and without the P1/P2 words."""
    return plain_prompt(prompt, names, description)


def clip_s_text(o1: str, o2: str) -> str:
    """The CLIP-S text: "a photo of O1 and O2"."""
    return SUBJECTS_TEXT.format(o1=o1, o2=o2)


def subjects_from_prompt(prompt: str, template: str) -> tuple[str, str] | None:
    """(O1, O2) read out of a prompt made from the template, or None if the prompt does not follow it.

    Of several places where the template fits, the last one is taken, so that text before the
    template ("a photo of a man ...") does not end up in O1.
    """
    pattern = r"(?<!\S)"
    for literal, slot, _, _ in string.Formatter().parse(template):
        pattern += r"\s+".join(re.escape(word) for word in literal.split(" "))
        if slot:
            pattern += rf"(?P<{slot}>\S.*?)"
    compiled = re.compile(pattern)
    matches = (compiled.match(prompt, start) for start in range(len(prompt) - 1, -1, -1))
    match = next((m for m in matches if m), None)
    return (match["o1"].strip(), match["o2"].strip()) if match else None


# ---- CLIP models ----------------------------------------------------------------------------------


class ClipEncoder(Protocol):
    name: str  # what the report calls the model (its path or architecture)

    def encode_images(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """[N, D] image embeddings on the CPU."""

    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor:
        """[N, D] text embeddings on the CPU (texts are cut at CLIP's 77 tokens)."""


class OpenClipEncoder:
    """An open_clip model with its image transform and tokenizer."""

    def __init__(self, model, preprocess, tokenizer, name: str, device: str | torch.device = "cpu"):
        self.model, self.preprocess, self.tokenizer = model.eval().to(device), preprocess, tokenizer
        self.name, self.device = name, torch.device(device)

    @torch.no_grad()
    def encode_images(self, images: Sequence[Image.Image]) -> torch.Tensor:
        batch = torch.stack([self.preprocess(image.convert("RGB")) for image in images]).to(self.device)
        return self.model.encode_image(batch).float().cpu()

    @torch.no_grad()
    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor:
        return self.model.encode_text(self.tokenizer(list(texts)).to(self.device)).float().cpu()


class TransformersClipEncoder:
    """A transformers CLIPModel with its CLIPProcessor."""

    def __init__(self, model, processor, name: str, device: str | torch.device = "cpu"):
        self.model, self.processor = model.eval().to(device), processor
        self.name, self.device = name, torch.device(device)

    @torch.no_grad()
    def encode_images(self, images: Sequence[Image.Image]) -> torch.Tensor:
        inputs = self.processor(images=[image.convert("RGB") for image in images], return_tensors="pt")
        return _features(self.model.get_image_features(pixel_values=inputs["pixel_values"].to(self.device)))

    @torch.no_grad()
    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor:
        inputs = self.processor(text=list(texts), padding=True, truncation=True, max_length=77, return_tensors="pt")
        inputs = {k: v.to(self.device) for k, v in inputs.items() if k in ("input_ids", "attention_mask")}
        return _features(self.model.get_text_features(**inputs))


def _features(output) -> torch.Tensor:
    """transformers 4 returns the projected features; transformers 5 returns them as `pooler_output`."""
    tensor = output if isinstance(output, torch.Tensor) else output.pooler_output
    return tensor.float().cpu()


def load_clip(path: str | os.PathLike, arch: str = DEFAULT_CLIP_ARCH, device: str | torch.device = "cpu") -> ClipEncoder:
    """CLIP from a local path: a transformers folder (config.json), an open_clip folder, or an open_clip file.

    `arch` names the open_clip architecture of a checkpoint file (ViT-L-14-quickgelu for OpenAI's
    weights, ViT-L-14 for LAION's).
    """
    path = Path(path)
    if not path.exists():
        raise InterInvError(
            f"CLIP weights '{path}' do not exist. Give a local folder or file, e.g. a download of "
            "openai/clip-vit-large-patch14 (hf download openai/clip-vit-large-patch14 --local-dir clip-l14)."
        )
    if path.is_dir() and (path / "open_clip_config.json").is_file():
        import open_clip

        model, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{path}", device=device)
        return OpenClipEncoder(model, preprocess, open_clip.get_tokenizer(f"local-dir:{path}"), str(path), device)
    if path.is_dir() and (path / "config.json").is_file():
        from transformers import CLIPModel, CLIPProcessor

        try:
            model = CLIPModel.from_pretrained(path, local_files_only=True)
            processor = CLIPProcessor.from_pretrained(path, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise InterInvError(f"'{path}' is not a transformers CLIP folder ({exc}).") from exc
        return TransformersClipEncoder(model, processor, str(path), device)
    if path.is_file():
        import open_clip

        try:
            model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=str(path), device=device)
        except (RuntimeError, KeyError, ValueError) as exc:
            raise InterInvError(
                f"'{path}' does not hold weights of the open_clip architecture '{arch}' ({exc}). "
                "Pass the matching --clip-arch."
            ) from exc
        return OpenClipEncoder(model, preprocess, open_clip.get_tokenizer(arch), f"{arch} ({path})", device)
    raise InterInvError(f"'{path}' is a folder without config.json or open_clip_config.json; it is not a CLIP model.")


# ---- samples --------------------------------------------------------------------------------------


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
    folder: str | os.PathLike, manifest: Mapping[str, Any], detector: PoseDetector | None = None
) -> list[EvalSample]:
    """The images of a folder, each with its prompt (infotext or .txt), subjects and people.

    People come from `<image>.json` (OpenPose) beside an image, else from `detector`, else are unknown.
    """
    check_template(manifest["template"], ("o1", "o2"), "the manifest's 'template'")
    folder = Path(folder)
    images = image_files(folder) if folder.is_dir() else []
    if not images:
        raise InterInvError(f"'{folder}' holds no images to evaluate (PNG, JPEG, WEBP or BMP).")
    samples, problems = [], []
    for path in images:
        prompt = image_prompt(path)
        subjects = subjects_from_prompt(prompt, manifest["template"]) if prompt else None
        if subjects is None:
            problems.append(f"{path.name}: " + ("no prompt" if not prompt else f"prompt '{prompt}' does not follow the template"))
            continue
        pose_json = path.with_suffix(".json")
        samples.append(EvalSample(path, prompt, subjects, image_pose(path, pose_json if pose_json.is_file() else None, detector)))
    if problems:
        raise InterInvError(
            f"Cannot tell the prompt and subjects of these images (template '{manifest['template']}'):\n  "
            + "\n  ".join(problems)
            + "\nGenerate them with the template, keeping the PNG infotext, or put the prompt in '<image>.txt'."
        )
    return samples


# ---- the evaluation -------------------------------------------------------------------------------


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
    manifest: Mapping[str, Any],
    clip: ClipEncoder | None = None,
    pose_s: PoseSVM | None = None,
    pose_kp: PoseKPClassifier | None = None,
    description: str | None = None,
    batch_size: int = CLIP_BATCH_SIZE,
) -> EvalReport:
    """CLIP-T and CLIP-S when `clip` is given, Pose-S and Pose-KP when their classifiers are given."""
    slug = manifest["slug"]
    names = {role: manifest["tokens"][role]["name"] for role in ROLES}
    rows: list[dict[str, Any]] = [{"image": s.image.name, "prompt": s.prompt} for s in samples]
    metrics: dict[str, MetricSummary] = {}
    models: dict[str, Any] = {}
    if clip is not None:
        description = description if description is not None else manifest.get("description", "")
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


def clip_scores(
    clip: ClipEncoder, images: Sequence[Path], texts: Mapping[str, Sequence[str]], batch_size: int
) -> dict[str, list[float]]:
    """Per metric, 100 x cos(image_i, text_i); images are read and encoded batch by batch."""
    scores: dict[str, list[float]] = {metric: [] for metric in texts}
    for start in range(0, len(images), batch_size):
        batch = [load_image(path) for path in images[start : start + batch_size]]
        image_embeds = clip.encode_images(batch)
        for metric, metric_texts in texts.items():
            text_embeds = clip.encode_texts(metric_texts[start : start + batch_size])
            scores[metric] += pair_scores(image_embeds, text_embeds).tolist()
    return scores


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
