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

This module holds the metric arithmetic: pure functions on embeddings, labels and prompts.
"""

from __future__ import annotations

import math
import re
import string
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import torch

from ..errors import InterInvError
from ..share.exported import plain_prompt

SUBJECTS_TEXT = "a photo of {o1} and {o2}"  # the CLIP-S text
SCORE_SCALE = 100.0  # cosines and accuracies are reported x100
CONFIDENCE = 0.95  # the level of the reported intervals
CLIP_T, CLIP_S, POSE_S, POSE_KP = "CLIP-T", "CLIP-S", "Pose-S", "Pose-KP"


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
