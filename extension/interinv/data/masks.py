"""Subject masks: SAM with box prompts, a weight-free hull around the skeleton, and the union
at the resolution of the cross-attention loss.

A mask is a bool numpy array of shape (height, width), in the frame of its exemplar image.
"""

from __future__ import annotations

import math
import os
import pickle
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from ..atomic import write_atomic
from ..errors import InterInvError
from .exemplars import Exemplar, eight_bit, load_image, open_still_image
from .pose import Box, Person, Point, assign_subjects, person_box, read_openpose_json, same_aspect

if TYPE_CHECKING:  # segment-anything is only needed when a SAM checkpoint is given
    from segment_anything import SamPredictor

SAM_CHECKPOINTS = {"vit_b": "sam_vit_b_01ec64.pth", "vit_l": "sam_vit_l_0b3195.pth", "vit_h": "sam_vit_h_4b8939.pth"}
HULL_DILATION = 0.08  # grow the skeleton hull by this fraction of the person's longer box side
CIRCLE_STEPS = 32  # vertices of the polygon that stands in for the dilation disc


def load_sam(checkpoint_path: str | os.PathLike, model_type: str = "vit_b", device: str = "cpu") -> "SamPredictor":
    """A SamPredictor with the weights of the official SAM checkpoint at checkpoint_path."""
    from segment_anything import SamPredictor, sam_model_registry

    path = check_sam_checkpoint(checkpoint_path, model_type)
    model = sam_model_registry[model_type]()  # no checkpoint: we load it ourselves with weights_only
    try:
        model.load_state_dict(_read_state_dict(path))
    except (RuntimeError, OSError, EOFError, pickle.UnpicklingError) as exc:
        raise InterInvError(
            f"SAM checkpoint '{path}' does not hold SAM {model_type} weights. The official file for "
            f"{model_type} is {SAM_CHECKPOINTS[model_type]}; for another file set the SAM model type "
            f"to match it ({', '.join(f'{k}: {v}' for k, v in SAM_CHECKPOINTS.items())})."
        ) from exc
    return SamPredictor(model.to(device).eval())


def check_sam_checkpoint(checkpoint_path: str | os.PathLike, model_type: str = "vit_b") -> Path:
    """The checkpoint's path, once the model type is known and the file exists; else what to give instead."""
    path = Path(checkpoint_path)
    if model_type not in SAM_CHECKPOINTS:
        raise InterInvError(f"Unknown SAM model type '{model_type}'. Choose one of: {', '.join(SAM_CHECKPOINTS)}.")
    if not path.is_file():
        raise InterInvError(
            f"SAM checkpoint '{path}' does not exist. Give the path of {SAM_CHECKPOINTS[model_type]} "
            "(or leave the SAM checkpoint empty to use masks drawn around the skeletons)."
        )
    return path


def _read_state_dict(path: Path) -> dict:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    return torch.load(path, map_location="cpu", weights_only=True)


def sam_masks(
    image: Image.Image,
    boxes: Sequence[Box],
    checkpoint_path: "str | os.PathLike | SamPredictor",
    model_type: str = "vit_b",
) -> list[np.ndarray]:
    """One SAM mask per normalised box prompt, kept inside its box.

    checkpoint_path may also be a SamPredictor from load_sam, so several images share one model.
    The box bounds the mask because SAM can spill onto the touching partner or the background.
    """
    is_path = isinstance(checkpoint_path, (str, os.PathLike))
    predictor = load_sam(checkpoint_path, model_type) if is_path else checkpoint_path
    rgb = np.asarray(image.convert("RGB"))
    height, width = rgb.shape[:2]
    predictor.set_image(rgb)
    masks = []
    for box in boxes:
        pixels = np.array([box[0] * width, box[1] * height, box[2] * width, box[3] * height])
        found, _, _ = predictor.predict(box=pixels, multimask_output=False)
        masks.append(found[0] & box_mask(box, width, height))
    return masks


def box_mask(box: Box, width: int, height: int) -> np.ndarray:
    """True inside the normalised box, on a width x height grid."""
    x0, x1 = math.floor(box[0] * width), math.ceil(box[2] * width)
    y0, y1 = math.floor(box[1] * height), math.ceil(box[3] * height)
    mask = np.zeros((height, width), dtype=bool)
    mask[max(y0, 0) : y1, max(x0, 0) : x1] = True
    return mask


def hull_mask(person: Person, width: int, height: int, dilation: float = HULL_DILATION) -> np.ndarray:
    """The convex hull of the visible joints, grown by dilation x the person's longer box side.

    Needs no weights; a coarse stand-in for SAM. Missing joints do not count.
    """
    x0, y0, x1, y1 = person_box(person)
    radius = dilation * max((x1 - x0) * width, (y1 - y0) * height)
    hull = convex_hull([(x * width, y * height) for x, y in person.visible])
    if radius > 0:
        # Hull grown by a disc = hull of discs around its corners.
        steps = [2 * math.pi * k / CIRCLE_STEPS for k in range(CIRCLE_STEPS)]
        hull = convex_hull([(x + radius * math.cos(a), y + radius * math.sin(a)) for x, y in hull for a in steps])
    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    if len(hull) >= 3:
        draw.polygon(hull, fill=255)
    else:
        draw.line(hull + hull[:1], fill=255)  # a single joint or a straight line of joints
    return np.asarray(canvas) > 0


def convex_hull(points: Sequence[Point]) -> list[Point]:
    """The hull's corners in counter-clockwise order (Andrew's monotone chain)."""
    unique = sorted(set(points))
    if len(unique) <= 2:
        return unique

    def half(pts: list[Point]) -> list[Point]:
        chain: list[Point] = []
        for p in pts:
            while len(chain) >= 2 and _cross(chain[-2], chain[-1], p) <= 0:
                chain.pop()
            chain.append(p)
        return chain[:-1]

    return half(unique) + half(unique[::-1])


def _cross(o: Point, a: Point, b: Point) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def union_mask(masks: Sequence[np.ndarray]) -> np.ndarray:
    """True wherever any mask is True."""
    if not masks:
        raise ValueError("union_mask needs at least one mask")
    shapes = {m.shape for m in masks}
    if len(shapes) != 1:
        raise InterInvError(f"Subject masks must all have the same size, got {sorted(shapes)}.")
    return np.logical_or.reduce([np.asarray(m, dtype=bool) for m in masks])


def mask_at_resolution(mask: np.ndarray | Image.Image | torch.Tensor, side: int) -> torch.Tensor:
    """The mask averaged onto a side x side grid (area interpolation): the covered fraction, 0..1."""
    values = torch.as_tensor(_as_unit_array(mask), dtype=torch.float32)
    return F.interpolate(values[None, None], size=(side, side), mode="area")[0, 0].clamp(0.0, 1.0)


def _as_unit_array(mask: np.ndarray | Image.Image | torch.Tensor) -> np.ndarray:
    if isinstance(mask, Image.Image):
        return np.asarray(mask.convert("L"), dtype=np.float32) / 255.0
    if isinstance(mask, torch.Tensor):
        mask = mask.detach().cpu().numpy()
    if mask.dtype == np.uint8:
        return mask.astype(np.float32) / 255.0
    return mask.astype(np.float32)


def read_mask(path: str | os.PathLike, size: tuple[int, int] | None = None) -> np.ndarray:
    """A mask image (white = subject) as bool; resized to size (width, height) of its image when given."""
    gray = eight_bit(open_still_image(Path(path), what="Mask")).convert("L")
    if size is not None and gray.size != tuple(size):
        if not same_aspect(gray.size, size):
            raise InterInvError(
                f"Mask '{path}' is {gray.size[0]}x{gray.size[1]}, but its image is {size[0]}x{size[1]}; stretched, it "
                "would cover the wrong pixels. Make the mask at the image's size (white = the two subjects)."
            )
        gray = gray.resize(tuple(size), Image.Resampling.BILINEAR)
    return np.asarray(gray) >= 128


def write_mask(path: str | os.PathLike, mask: np.ndarray) -> Path:
    """Save a mask as a black and white PNG, atomically."""
    image = Image.fromarray(np.asarray(mask, dtype=np.uint8) * 255)
    return write_atomic(path, lambda tmp: image.save(tmp, format="PNG"))


def probe_mask(exemplar: Exemplar, side: int) -> torch.Tensor:
    """The subjects' union mask at the probe's side (area-averaged, 0..1).

    From the mask PNG; else the union of the subjects' boxes in the pose JSON; else the whole image.
    """
    if exemplar.mask is None and exemplar.pose is None:
        return torch.ones(side, side)
    size = load_image(exemplar.image).size
    if exemplar.mask is not None:
        return mask_at_resolution(read_mask(exemplar.mask, size), side)
    pose = read_openpose_json(exemplar.pose, size)
    subjects = assign_subjects(pose.people, exemplar.people, image=str(exemplar.image))
    boxes = [box_mask(person_box(p), pose.canvas_width, pose.canvas_height) for p in subjects]
    return mask_at_resolution(union_mask(boxes), side)
