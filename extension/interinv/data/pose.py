"""OpenPose-18 keypoints: JSON in/out, people to subjects, recentre, draw.

Coordinates are normalised to the canvas (0..1, x right, y down). The JSON format is the one
of the ControlNet openpose editor, so users can fix a detection there and feed it back.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

from PIL import Image

from ..atomic import write_text_atomic
from ..compat import import_controlnet_aux
from ..errors import InterInvError

if TYPE_CHECKING:  # controlnet_aux costs ~4 s to import; only the drawing and conversions need it
    from controlnet_aux.open_pose import BodyResult, PoseResult

KEYPOINT_NAMES = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder",
    "left_elbow", "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip",
    "left_knee", "left_ankle", "right_eye", "left_eye", "right_ear", "left_ear",
)
NUM_KEYPOINTS = len(KEYPOINT_NAMES)
# OpenPose-18 limbs (0-based joint pairs), as the ControlNet openpose editor connects them
LIMBS = ((0, 1), (1, 2), (2, 3), (3, 4), (1, 5), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12),
         (12, 13), (0, 14), (14, 16), (0, 15), (15, 17))
# Markers that the editor and ControlNet write for an invisible joint.
MISSING_MARKERS = ((0.0, 0.0), (-1.0, -1.0))
ASPECT_TOLERANCE = 0.02  # a canvas or mask of another shape than its image belongs to another image

Point = tuple[float, float]
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Person:
    """One body: 18 keypoints in OpenPose order, each (x, y) normalised, or None when missing."""

    keypoints: tuple[Point | None, ...]

    def __post_init__(self) -> None:
        if len(self.keypoints) != NUM_KEYPOINTS:
            raise ValueError(f"Person needs {NUM_KEYPOINTS} keypoints, got {len(self.keypoints)}")
        # Store plain float tuples so that equality and hashing do not depend on the input types.
        points = tuple(None if p is None else (float(p[0]), float(p[1])) for p in self.keypoints)
        object.__setattr__(self, "keypoints", points)

    @property
    def visible(self) -> list[Point]:
        """The keypoints that are present."""
        return [p for p in self.keypoints if p is not None]


@dataclass(frozen=True)
class PoseImage:
    """The people found on one canvas of canvas_width x canvas_height pixels."""

    canvas_width: int
    canvas_height: int
    people: tuple[Person, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "people", tuple(self.people))


class PeopleCountError(InterInvError):
    """Some exemplars do not have exactly two usable people; `problems` maps image to reason."""

    def __init__(self, problems: Mapping[str, str]):
        self.problems = dict(problems)
        lines = "\n".join(f"  {image}: {reason}" for image, reason in self.problems.items())
        super().__init__(
            "Each exemplar needs exactly two people (the two subjects), but these images do not "
            f"have them:\n{lines}\n"
            "To fix an image, either provide its OpenPose JSON with the two subjects (the format "
            "of the ControlNet openpose editor; the detected poses are exported in that format so "
            "you can correct them), or pick the two people for that image in interaction.json with "
            "\"people\": [i, j], their 0-based positions in the pose JSON's `people` list (O1 first)."
        )


# ---- JSON -------------------------------------------------------------------------------------


def read_openpose_json(path: str | os.PathLike, canvas_size: tuple[int, int] | None = None) -> PoseImage:
    """Read an OpenPose JSON file (ControlNet openpose editor format) into normalised keypoints.

    As in ControlNet, a joint with c < 1 or at (0, 0) or (-1, -1) is missing. canvas_size
    (width, height) is the size of the pose's image: used when the file has no canvas_width/canvas_height,
    and otherwise checked to have the canvas's shape.
    """
    data = _load_json(Path(path))
    width, height = _canvas(data, path, canvas_size)
    if canvas_size is not None and not same_aspect((width, height), canvas_size):
        raise InterInvError(
            f"Pose file '{path}' was drawn on a {width}x{height} canvas, but its image is "
            f"{canvas_size[0]}x{canvas_size[1]}: the poses would land in the wrong place. Make the pose on this "
            "image (in the openpose editor, the canvas takes the image's size), or fix `canvas_width`/`canvas_height`."
        )
    triples = [_body_triples(entry, path, i) for i, entry in enumerate(_people_list(data, path))]
    values = [v for person in triples for x, y, _ in person for v in (x, y)]
    # The editor's rule: if every coordinate is within [-1, 1] the file is normalised.
    scale = (1.0, 1.0) if all(abs(v) <= 1.0 for v in values) else (float(width), float(height))
    people = (_person_from_triples(t, scale) for t in triples)
    # A person without a single visible joint has nothing to draw or mask.
    return PoseImage(width, height, tuple(p for p in people if p.visible))


def write_openpose_json(path: str | os.PathLike, pose_image: PoseImage) -> Path:
    """Write pose_image as ControlNet-editor JSON: normalised x, y with c=1; missing as 0, 0, 0.

    read_openpose_json gives back an equal PoseImage. Joints outside the canvas cannot be
    written normalised (the reader would take the file for pixels), so such a file is written
    in pixels, and reads back equal up to float rounding.
    """
    coords = [v for person in pose_image.people for p in person.visible for v in p]
    normalised = all(abs(v) <= 1.0 for v in coords)
    scale = (1.0, 1.0) if normalised else (pose_image.canvas_width, pose_image.canvas_height)
    data = {
        "canvas_width": pose_image.canvas_width,
        "canvas_height": pose_image.canvas_height,
        "people": [{"pose_keypoints_2d": _triples_from_person(p, scale)} for p in pose_image.people],
    }
    return write_text_atomic(path, json.dumps(data, indent=1) + "\n")


def _load_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InterInvError(f"Pose file '{path}' does not exist.") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InterInvError(
            f"Pose file '{path}' is not valid JSON ({exc}). Export it again from the openpose "
            "editor, or delete it to let InterInv detect the poses."
        ) from exc
    if isinstance(data, list) and len(data) == 1:
        data = data[0]  # ControlNet's /controlnet/detect and some editors wrap one pose in a list
    if not isinstance(data, dict):
        raise InterInvError(f"Pose file '{path}' must hold a JSON object with a `people` list.")
    return data


def _canvas(data: dict, path: object, canvas_size: tuple[int, int] | None) -> tuple[int, int]:
    if "canvas_width" not in data or "canvas_height" not in data:
        if canvas_size is None:
            raise InterInvError(
                f"Pose file '{path}' has no `canvas_width`/`canvas_height`. Add both fields with "
                "the size in pixels of the image the pose was made for."
            )
        return int(canvas_size[0]), int(canvas_size[1])
    width, height = data["canvas_width"], data["canvas_height"]
    if not all(isinstance(v, (int, float)) and v > 0 for v in (width, height)):
        raise InterInvError(
            f"Pose file '{path}': `canvas_width` and `canvas_height` must be positive numbers "
            f"(pixels), got {width!r} and {height!r}."
        )
    return int(width), int(height)


def _people_list(data: dict, path: object) -> list:
    people = data.get("people")
    if not isinstance(people, list):
        raise InterInvError(f"Pose file '{path}' has no `people` list; expected `\"people\": [...]`.")
    return people


def _body_triples(entry: object, path: object, index: int) -> list[tuple[float, float, float]]:
    flat = entry.get("pose_keypoints_2d") if isinstance(entry, dict) else None
    if not isinstance(flat, list) or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in flat):
        bad = next((v for v in flat if isinstance(v, float) and not math.isfinite(v)), None) if isinstance(flat, list) else None
        raise InterInvError(
            f"Pose file '{path}', people[{index}]: `pose_keypoints_2d` must be a list of finite numbers "
            f"(x, y, c triples){f', got {bad}' if bad is not None else ''}. Mark a missing joint as 0, 0, 0."
        )
    triples = [tuple(float(v) for v in flat[i : i + 3]) for i in range(0, len(flat), 3)]
    if len(flat) % 3 or len(triples) != NUM_KEYPOINTS:
        raise InterInvError(
            f"Pose file '{path}', people[{index}]: `pose_keypoints_2d` has {len(flat)} numbers; "
            f"expected {3 * NUM_KEYPOINTS} (18 OpenPose body keypoints as x, y, c triples)."
        )
    return triples


def _person_from_triples(triples: Sequence[tuple[float, float, float]], scale: tuple[float, float]) -> Person:
    def point(x: float, y: float, c: float) -> Point | None:
        if c < 1.0 or (x, y) in MISSING_MARKERS:
            return None
        return (x / scale[0], y / scale[1])

    return Person(tuple(point(*t) for t in triples))


def _triples_from_person(person: Person, scale: tuple[float, float]) -> list[float]:
    flat: list[float] = []
    for p in person.keypoints:
        flat += [0.0, 0.0, 0.0] if p is None else [p[0] * scale[0], p[1] * scale[1], 1.0]
    return flat


# ---- geometry ---------------------------------------------------------------------------------


def same_aspect(size: tuple[int, int], other: tuple[int, int]) -> bool:
    """True when two (width, height) sizes have one shape, up to the rounding of editors that resize."""
    a, b = size[0] * other[1], size[1] * other[0]
    return abs(a - b) <= ASPECT_TOLERANCE * max(a, b)


def person_box(person: Person, pad: float = 0.0) -> Box:
    """Normalised (x0, y0, x1, y1) around the visible joints, grown by pad x its size, clipped to 0..1."""
    points = person.visible
    if not points:
        raise InterInvError("This person has no visible joints, so it has no box.")
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    dx, dy = pad * (max(xs) - min(xs)), pad * (max(ys) - min(ys))
    return (
        max(0.0, min(xs) - dx),
        max(0.0, min(ys) - dy),
        min(1.0, max(xs) + dx),
        min(1.0, max(ys) + dy),
    )


def recentre(
    person: Person,
    margin: float = 0.1,
    source_size: tuple[int, int] = (1, 1),
    target_size: tuple[int, int] = (1, 1),
) -> Person:
    """Scale and move the person to fill a target canvas, with `margin` (fraction) on each side.

    source_size and target_size (width, height) keep the aspect in pixels when the canvases are
    not square. Missing joints stay missing.
    """
    sw, sh = source_size
    tw, th = target_size
    pixels = [None if p is None else (p[0] * sw, p[1] * sh) for p in person.keypoints]
    x0, y0, x1, y1 = person_box(person)
    box_w, box_h = (x1 - x0) * sw, (y1 - y0) * sh
    room = 1.0 - 2.0 * margin
    fits = [room * t / b for t, b in ((tw, box_w), (th, box_h)) if b > 0]
    scale = min(fits) if fits else 1.0  # a single visible joint just moves to the centre
    cx, cy = (x0 + x1) / 2 * sw, (y0 + y1) / 2 * sh

    def place(p: Point | None) -> Point | None:
        if p is None:
            return None
        return (((p[0] - cx) * scale + tw / 2) / tw, ((p[1] - cy) * scale + th / 2) / th)

    return Person(tuple(place(p) for p in pixels))


def assign_subjects(
    people: Sequence[Person], order: tuple[int, int] | None = None, image: str = "this image"
) -> tuple[Person, Person]:
    """The people that play O1 and O2: order=(i, j) picks them; by default left to right."""
    return assign_all({image: people}, {image: order} if order else None)[image]


def assign_all(
    people_by_image: Mapping[str, Sequence[Person]],
    orders: Mapping[str, tuple[int, int] | None] | None = None,
) -> dict[str, tuple[Person, Person]]:
    """assign_subjects for every image; one PeopleCountError lists all images that fail."""
    orders = orders or {}
    problems = {
        image: reason
        for image, people in people_by_image.items()
        if (reason := _assignment_problem(people, orders.get(image)))
    }
    if problems:
        raise PeopleCountError(problems)
    return {image: _pick(people, orders.get(image)) for image, people in people_by_image.items()}


def _assignment_problem(people: Sequence[Person], order: tuple[int, int] | None) -> str | None:
    count = len(people)
    found = f"{count} {'person' if count == 1 else 'people'} found"
    if count < 2:
        return f"{found}; provide a pose JSON with both subjects"
    if order is None:
        return None if count == 2 else f"{found}; pick the two subjects, or provide a pose JSON"
    valid = len(order) == 2 and len(set(order)) == 2
    if not (valid and all(isinstance(k, int) and 0 <= k < count for k in order)):
        return f"{found}, but the chosen people {list(order)} are not two different indices in 0..{count - 1}"
    return None


def _pick(people: Sequence[Person], order: tuple[int, int] | None) -> tuple[Person, Person]:
    if order is not None:
        return people[order[0]], people[order[1]]
    left, right = sorted(people, key=_box_centre_x)
    return left, right


def _box_centre_x(person: Person) -> float:
    x0, _, x1, _ = person_box(person)
    return (x0 + x1) / 2


# ---- controlnet_aux ---------------------------------------------------------------------------


def to_pose_result(person: Person) -> "PoseResult":
    """The controlnet_aux PoseResult of a person (body only)."""
    open_pose = import_controlnet_aux("controlnet_aux.open_pose")
    keypoints = [None if p is None else open_pose.Keypoint(p[0], p[1]) for p in person.keypoints]
    parts = len(person.visible)  # every joint we keep counts with score 1
    body = open_pose.BodyResult(keypoints, total_score=float(parts), total_parts=parts)
    return open_pose.PoseResult(body, None, None, None)


def from_pose_result(result: "PoseResult | BodyResult") -> Person:
    """A Person from a controlnet_aux PoseResult or BodyResult with normalised keypoints."""
    body = getattr(result, "body", result)
    return Person(tuple(None if k is None else (k.x, k.y) for k in body.keypoints))


def draw_skeleton(people: Sequence[Person], width: int, height: int) -> Image.Image:
    """The people drawn in ControlNet openpose colours on black (controlnet_aux's draw_poses)."""
    draw_poses = import_controlnet_aux("controlnet_aux.open_pose").draw_poses
    poses = [to_pose_result(p) for p in people]
    return Image.fromarray(draw_poses(poses, height, width, draw_hand=False, draw_face=False))


def subject_skeleton(person: Person, source_size: tuple[int, int], side: int, margin: float = 0.1) -> Image.Image:
    """One subject alone, recentred to fill a side x side skeleton map."""
    return draw_skeleton([recentre(person, margin, source_size, (side, side))], side, side)
