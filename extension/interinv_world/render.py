"""Seeded renderer of the world: articulated OpenPose-18 figures of four species, alone or interacting.

A figure is placed by forward kinematics in world units (a person is about 1 tall, x right, y down,
points are complex numbers x + iy). Its angles are in degrees, measured from straight down and
positive towards the figure's facing side `f` (+1 right, -1 left); in the front view `f` is the image
side of the figure's first arm and leg. Each angle gets N(0, 6°) jitter. An interaction builds two
figures from the pose words of its roles, then moves one onto an anchor of the other (for example the
hand of B at the nose of A) and bends arms onto their targets with two-link inverse kinematics.
Scenes are drawn at twice the size and downsampled with LANCZOS.
"""

from __future__ import annotations

import cmath
import math
import random
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw

from interinv.errors import InterInvError
from interinv.data.pose import Person, PoseImage

SPECIES = ("person", "robot", "bear", "cat")
ANGLE_JITTER = 6.0  # degrees, std of the jitter on every pose angle
SUPERSAMPLE = 2  # drawn at this multiple of the output size, then downsampled
MARGIN = 0.04  # fraction of the frame kept free on every side
PAIR_SCALE = (0.50, 0.62)  # pixels per world unit, as a fraction of the frame, for pair scenes
SINGLE_SCALE = (0.58, 0.72)  # the same for single-figure scenes
POSE_PAIR_GAP = (0.2, 0.45)  # world units between the joints of two posed figures that stand apart
BODY_SCALE_JITTER = 0.06  # uniform +-fraction on each figure's size
FAR_SHADE = 0.78  # far-side limbs are drawn this much darker
OUTLINE = 1.0  # pixels of dark rim around every shape, at the supersampled size
OUTLINE_SHADE = 0.45  # the rim is its shape's colour times this


@dataclass(frozen=True)
class Style:
    """How boldly figures are drawn: `thickness` scales every segment's width and disc's radius (limbs, torso,
    joints, heads), `size` the figures' size in the frame (still fitted into it). World v1 draws both at 1.
    `backdrop` names the one background family to draw ("studio": a plain two-tone backdrop); "" draws them all."""

    thickness: float = 1.0
    size: float = 1.0
    backdrop: str = ""

    def __post_init__(self) -> None:
        if self.backdrop:
            require(self.backdrop, tuple(BACKGROUNDS), "backdrop")

    def backgrounds(self) -> tuple[str, ...]:
        return (self.backdrop,) if self.backdrop else tuple(BACKGROUNDS)


# ---- bodies -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Build:
    """Body proportions in world units (a person is about 1 tall)."""

    head: float  # head radius (half side for a square head)
    neck: float
    torso: float  # hip centre to shoulder line
    torso_w: float  # torso width seen from the front
    torso_d: float  # torso depth seen from the side
    shoulder: float  # half distance between the shoulders, front view
    hip: float  # half distance between the hips, front view
    upper_arm: float
    forearm: float
    thigh: float
    shin: float
    arm_w: float  # limb thickness
    leg_w: float
    foot: float

    def scaled(self, k: float) -> "Build":
        """The same body, k times as large."""
        return Build(*(k * getattr(self, name) for name in self.__dataclass_fields__))


BUILDS = {
    "person": Build(0.075, 0.035, 0.30, 0.15, 0.11, 0.085, 0.055, 0.16, 0.15, 0.23, 0.22, 0.048, 0.058, 0.06),
    "robot": Build(0.085, 0.05, 0.31, 0.21, 0.16, 0.11, 0.07, 0.16, 0.16, 0.22, 0.22, 0.062, 0.07, 0.07),
    "bear": Build(0.11, 0.02, 0.36, 0.30, 0.23, 0.13, 0.09, 0.17, 0.16, 0.17, 0.16, 0.10, 0.115, 0.07),
    "cat": Build(0.09, 0.02, 0.22, 0.13, 0.11, 0.06, 0.045, 0.12, 0.11, 0.14, 0.14, 0.04, 0.046, 0.05),
}
SPECIES_SCALE = {"person": 1.0, "robot": 1.06, "bear": 1.12, "cat": 0.86}  # overall size, on top of BUILDS


# ---- poses ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PoseSpec:
    """Mean angles of a pose, in degrees (see the module docstring for the conventions)."""

    view: str  # "side" or "front"
    lean: float = 0.0  # torso from vertical: forward (side view) or towards side f (front view)
    head: float = 0.0  # head tilt relative to the torso, same sense as lean
    arm1: tuple[float, float] = (10.0, 5.0)  # near (side) or f-side (front) arm: upper arm angle, elbow bend
    arm2: tuple[float, float] = (10.0, 5.0)  # the other arm; in the front view its angle points away from f
    leg1: tuple[float, float] = (3.0, 0.0)  # thigh angle, knee flexion (bends the shin backwards)
    leg2: tuple[float, float] = (-3.0, 0.0)
    rot: float = 0.0  # the whole body about the hip, tipping forward


POSES: dict[str, PoseSpec] = {
    "standing": PoseSpec("side", arm1=(8, 6), arm2=(-6, 8)),
    "waving": PoseSpec("side", arm1=(150, 25), arm2=(5, 5)),
    "reaching": PoseSpec("side", lean=6, arm1=(80, 5), arm2=(5, 5), leg1=(10, 0), leg2=(-8, 0)),
    "hugging": PoseSpec("side", lean=8, head=8, arm1=(75, 45), arm2=(70, 50)),
    "pushing": PoseSpec("side", lean=28, arm1=(85, 0), arm2=(78, 0), leg1=(38, 40), leg2=(-32, 0)),
    "falling": PoseSpec("side", lean=-28, head=12, arm1=(150, 25), arm2=(120, 30), leg1=(30, 15), leg2=(-5, 0)),
    "kneeling": PoseSpec("side", lean=6, head=28, arm1=(35, 35), arm2=(10, 15), leg1=(90, 90), leg2=(0, 90)),
    "sitting": PoseSpec("side", lean=-4, arm1=(30, 25), arm2=(22, 25), leg1=(88, 5), leg2=(84, 5)),
    "bending": PoseSpec("side", lean=58, head=-25, arm1=(2, 5), arm2=(12, 5), leg1=(-4, 0), leg2=(6, 0)),
    "lying": PoseSpec("side", arm1=(6, 0), arm2=(2, 0), leg1=(2, 0), leg2=(-2, 0), rot=-90),
    "stretching": PoseSpec("front", arm1=(168, 5), arm2=(168, 5), leg1=(6, 0), leg2=(6, 0)),
    "walking": PoseSpec("side", lean=6, arm1=(30, 20), arm2=(-28, 10), leg1=(24, 12), leg2=(-22, 6)),
    "carrying": PoseSpec("front", arm1=(28, -110), arm2=(28, -110), leg1=(6, 0), leg2=(6, 0)),
    "leaning": PoseSpec("front", lean=24, head=14, arm1=(12, 5), arm2=(10, 5), leg1=(-6, 0), leg2=(12, 0)),
}
SINGLE_POSES = tuple(POSES)


@dataclass
class Figure:
    """One posed body: its joints in world units and the frame it was built in."""

    species: str
    body: Build
    view: str
    f: int
    joints: dict[str, complex]
    up: complex  # unit vector along the torso, hip to neck
    head_up: complex  # unit vector along the head axis
    grounded: bool = True  # stands on the floor (gets a shadow)

    @property
    def fwd(self) -> complex:
        """Unit vector the torso's front faces (towards side f in the front view)."""
        return self.up * 1j * self.f

    @property
    def head_fwd(self) -> complex:
        """Unit vector the face looks along."""
        return self.head_up * 1j * self.f

    @property
    def arm(self) -> float:
        """Length of a straight arm."""
        return self.body.upper_arm + self.body.forearm

    @property
    def right_is_1(self) -> bool:
        """Whether arm1/leg1 are the body's right limbs (the near side faces right when it looks right)."""
        return (self.view == "side") == (self.f == 1)


def _down(angle: float, side: int) -> complex:
    """Unit vector `angle` degrees from straight down, turned towards `side` (+1 right)."""
    return 1j * cmath.exp(-1j * side * math.radians(angle))


def _up(angle: float, side: int) -> complex:
    """Unit vector `angle` degrees from straight up, tipped towards `side`."""
    return -1j * cmath.exp(1j * side * math.radians(angle))


def _jitter(rng: random.Random, spec: PoseSpec) -> PoseSpec:
    def j(value: float) -> float:
        return value + rng.gauss(0.0, ANGLE_JITTER)

    return PoseSpec(
        spec.view, j(spec.lean), j(spec.head),
        (j(spec.arm1[0]), j(spec.arm1[1])), (j(spec.arm2[0]), j(spec.arm2[1])),
        (j(spec.leg1[0]), j(spec.leg1[1])), (j(spec.leg2[0]), j(spec.leg2[1])), j(spec.rot),
    )


def _pose_figure(rng: random.Random, species: str, pose: str, f: int, **changes: object) -> Figure:
    """A figure of `species` in pose word `pose` (its PoseSpec with `changes`), facing f, jittered, on the floor."""
    spec = _jitter(rng, replace(POSES[pose], **changes))
    body = BUILDS[species].scaled(SPECIES_SCALE[species] * rng.uniform(1 - BODY_SCALE_JITTER, 1 + BODY_SCALE_JITTER))
    f2 = f if spec.view == "side" else -f  # the second arm and leg point away from f in the front view
    up = _up(spec.lean, f)
    across = up * 1j * f  # towards side f, perpendicular to the torso
    front = spec.view == "front"
    hip = 0j
    neck = hip + body.torso * up
    head_up = _up(spec.lean + spec.head, f)
    head = neck + (body.neck + body.head) * head_up
    j = {"hip": hip, "neck": neck, "head": head}
    j["sh1"] = neck + (body.shoulder * across if front else 0)
    j["sh2"] = neck - (body.shoulder * across if front else 0)
    j["hp1"] = hip + (body.hip * across if front else 0)
    j["hp2"] = hip - (body.hip * across if front else 0)
    for k, (upper, bend), side in (("1", spec.arm1, f), ("2", spec.arm2, f2)):
        j["el" + k] = j["sh" + k] + body.upper_arm * _down(upper, side)
        j["wr" + k] = j["el" + k] + body.forearm * _down(upper + bend, side)
    for k, (thigh, knee), side in (("1", spec.leg1, f), ("2", spec.leg2, f2)):
        j["kn" + k] = j["hp" + k] + body.thigh * _down(thigh, side)
        j["an" + k] = j["kn" + k] + body.shin * _down(thigh - knee, side)
    figure = Figure(species, body, spec.view, f, j, up, head_up)
    _face(figure)
    _rotate(figure, spec.rot)
    _ground(figure)
    return figure


def _face(fig: Figure) -> None:
    """Nose, eyes and ears from the head centre and axis."""
    j, r, up, fwd = fig.joints, fig.body.head, fig.head_up, fig.head_fwd
    head = j["head"]
    if fig.view == "side":
        j["nose"] = head + 0.95 * r * fwd - 0.1 * r * up
        j["eye1"] = head + 0.5 * r * fwd + 0.25 * r * up
        j["ear1"] = head - 0.25 * r * fwd
    else:
        j["nose"] = head - 0.25 * r * up
        for k, side in (("1", 1), ("2", -1)):
            j["eye" + k] = head + side * 0.38 * r * fwd + 0.15 * r * up
            j["ear" + k] = head + side * 0.95 * r * fwd


def _rotate(fig: Figure, angle: float) -> None:
    """Turn the whole figure about its hip, tipping forward by `angle` degrees."""
    turn = cmath.exp(1j * fig.f * math.radians(angle))
    hip = fig.joints["hip"]
    fig.joints = {name: hip + (p - hip) * turn for name, p in fig.joints.items()}
    fig.up *= turn
    fig.head_up *= turn


def _shift(fig: Figure, delta: complex) -> None:
    """Move the whole figure by delta."""
    fig.joints = {name: p + delta for name, p in fig.joints.items()}


def _ground(fig: Figure) -> None:
    """Move the figure vertically so that its lowest point touches the floor (y = 0)."""
    lowest = max(p.imag for p in fig.joints.values()) + 0.5 * fig.body.leg_w
    _shift(fig, -1j * lowest)


def _torso_point(fig: Figure, t: float, surface: float = 0.0) -> complex:
    """The point at fraction t from hip to neck, moved `surface` x half the torso thickness to the front."""
    j = fig.joints
    thickness = fig.body.torso_d if fig.view == "side" else fig.body.torso_w
    return j["hip"] + t * (j["neck"] - j["hip"]) + surface * 0.5 * thickness * fig.fwd


def _reach(fig: Figure, arm: str, target: complex, elbow_towards: complex = 1j) -> None:
    """Bend arm "1" or "2" so that its wrist is at target (two-link IK); out of reach it points straight at it."""
    a, b = fig.body.upper_arm, fig.body.forearm
    root = fig.joints["sh" + arm]
    d = target - root
    dist = min(max(abs(d), abs(a - b) + 1e-6), a + b - 1e-6)
    u = d / abs(d) if abs(d) > 1e-9 else 1j
    cos_a = (a * a + dist * dist - b * b) / (2 * a * dist)
    bend = cmath.exp(1j * math.acos(max(-1.0, min(1.0, cos_a))))
    elbows = (root + a * u * bend, root + a * u / bend)
    score = [((e - root) * elbow_towards.conjugate()).real for e in elbows]
    fig.joints["el" + arm] = elbows[0] if score[0] >= score[1] else elbows[1]
    fig.joints["wr" + arm] = root + dist * u


def _level_reach(length: float, dy: float) -> float:
    """Horizontal distance at which a point dy below the shoulder is `length` away (at least a quarter of it)."""
    return math.sqrt(max(length * length - dy * dy, (0.25 * length) ** 2))


def _arm_towards(fig: Figure, side: int) -> str:
    """Which arm ("1" or "2") of a front-view figure is on image side `side`."""
    return "1" if fig.f == side else "2"


# ---- interactions -----------------------------------------------------------------------------
# Each returns (A, B, drawing order); A is built facing s (+1 or -1, the scene's mirror sign).
# The drawing order lists (figure, layer); layers: 0 far limbs, 1 torso and head, 2 near leg, 3 near arm.

Order = tuple[tuple[int, int], ...]
DEFAULT_ORDER: Order = ((0, 0), (1, 0), (0, 1), (1, 1), (0, 2), (1, 2), (0, 3), (1, 3))
# B in front of A's body, A's arms over B:
HELD_ORDER: Order = ((0, 0), (1, 0), (0, 1), (0, 2), (1, 1), (1, 2), (1, 3), (0, 3))


def _high_five(rng: random.Random, sa: str, sb: str, s: int) -> tuple[Figure, Figure, Order]:
    a, b = _pose_figure(rng, sa, "waving", s), _pose_figure(rng, sb, "waving", -s)
    raise_by = rng.uniform(0.35, 0.6)  # of an arm's length above the shoulder, for the shorter figure
    meet_y = max(a.joints["sh1"].imag - raise_by * a.arm, b.joints["sh1"].imag - raise_by * b.arm)
    meet = a.joints["sh1"].real + s * _level_reach(a.arm * rng.uniform(0.9, 0.98), meet_y - a.joints["sh1"].imag)
    b_shoulder = meet + s * _level_reach(b.arm * rng.uniform(0.9, 0.98), meet_y - b.joints["sh1"].imag)
    _shift(b, b_shoulder - b.joints["sh1"].real)
    palm = 0.3 * min(a.body.arm_w, b.body.arm_w)
    _reach(a, "1", complex(meet - s * palm, meet_y), 1j - s)
    _reach(b, "1", complex(meet + s * palm, meet_y), 1j + s)
    return a, b, DEFAULT_ORDER


def _hug(rng: random.Random, sa: str, sb: str, s: int) -> tuple[Figure, Figure, Order]:
    a, b = _pose_figure(rng, sa, "hugging", s), _pose_figure(rng, sb, "hugging", -s)
    gap = rng.uniform(0.4, 0.48) * (a.body.torso_d + b.body.torso_d)
    _shift(b, _torso_point(a, 0.7).real + s * gap - _torso_point(b, 0.7).real)
    for hugger, held in ((a, b), (b, a)):
        _reach(hugger, "1", _torso_point(held, 0.75, -0.9))
        _reach(hugger, "2", _torso_point(held, 0.55, -0.9))
    return a, b, DEFAULT_ORDER


def _push(rng: random.Random, sa: str, sb: str, s: int) -> tuple[Figure, Figure, Order]:
    a, b = _pose_figure(rng, sa, "pushing", s), _pose_figure(rng, sb, "falling", -s)
    chest = _torso_point(b, 0.6, 1.0)
    dx = _level_reach(a.arm * rng.uniform(0.88, 0.98), chest.imag - a.joints["sh1"].imag)
    _shift(b, a.joints["sh1"].real + s * dx - chest.real)
    _reach(a, "1", _torso_point(b, 0.65, 1.0))
    _reach(a, "2", _torso_point(b, 0.5, 1.0))
    return a, b, DEFAULT_ORDER


def _kiss_hand(rng: random.Random, sa: str, sb: str, s: int) -> tuple[Figure, Figure, Order]:
    a, b = _pose_figure(rng, sa, "kneeling", s), _pose_figure(rng, sb, "reaching", -s)
    lips = a.joints["nose"] + s * 0.3 * a.body.head + 0.15j * a.body.head
    dx = _level_reach(b.arm * rng.uniform(0.8, 0.92), lips.imag - b.joints["sh1"].imag)
    _shift(b, lips.real + s * dx - b.joints["sh1"].real)
    _reach(b, "1", lips)
    _reach(a, "1", lips + 0.6j * b.body.arm_w + s * 0.3 * b.body.arm_w)
    return a, b, DEFAULT_ORDER


def _piggyback(rng: random.Random, sa: str, sb: str, s: int) -> tuple[Figure, Figure, Order]:
    a = _pose_figure(rng, sa, "bending", s, lean=42.0, head=-32.0)
    b = _pose_figure(rng, sb, "sitting", s, lean=14.0, leg1=(80.0, 55.0), leg2=(75.0, 60.0))
    b.grounded = False
    seat = _torso_point(a, rng.uniform(0.45, 0.6), -1.0) - 0.35 * b.body.torso_d * a.fwd
    _shift(b, seat - b.joints["hip"])
    neck = _torso_point(a, 1.0, 0.5)
    _reach(b, "1", neck)
    _reach(b, "2", neck)
    _reach(a, "1", b.joints["kn1"] + 0.5j * b.body.leg_w, -1j)
    _reach(a, "2", b.joints["kn2"] + 0.5j * b.body.leg_w, -1j)
    order = ((1, 0), (0, 0), (1, 1), (0, 1), (0, 2), (1, 2), (0, 3), (1, 3))
    return a, b, order


def _carry(rng: random.Random, sa: str, sb: str, s: int) -> tuple[Figure, Figure, Order]:
    a = _pose_figure(rng, sa, "carrying", s)
    fb = rng.choice((-1, 1))
    b = _pose_figure(rng, sb, "lying", fb, leg1=(25.0, 110.0), leg2=(20.0, 105.0), arm2=(60.0, 40.0))
    b.grounded = False
    _shift(b, _torso_point(a, rng.uniform(0.4, 0.55)) - _torso_point(b, 0.4))
    _reach(a, _arm_towards(a, fb), b.joints["kn1"] * 0.5 + b.joints["hp1"] * 0.5 + 0.5j * b.body.leg_w)
    _reach(a, _arm_towards(a, -fb), _torso_point(b, 0.8, -1.0))
    _reach(b, "1", a.joints["sh1"] * 0.5 + a.joints["sh2"] * 0.5 - 0.05j, -1j)
    return a, b, HELD_ORDER


def _lift_overhead(rng: random.Random, sa: str, sb: str, s: int) -> tuple[Figure, Figure, Order]:
    a = _pose_figure(rng, sa, "stretching", s)
    face_up = rng.random() < 0.5
    arms_out = {"arm1": (165.0, 5.0), "arm2": (160.0, 5.0)}
    b = _pose_figure(rng, sb, "lying", rng.choice((-1, 1)), rot=-90.0 if face_up else 90.0, **arms_out)
    b.grounded = False
    hands_y = a.joints["neck"].imag - a.arm * rng.uniform(0.82, 0.92)
    thickness = max(b.body.torso_d, b.body.leg_w)
    _shift(b, complex(a.joints["hip"].real, hands_y - 0.5 * thickness) - _torso_point(b, 0.45))
    chest, hips = _torso_point(b, 0.7), _torso_point(b, 0.15)
    left, right = sorted((chest, hips), key=lambda p: p.real)
    under = 0.5j * thickness
    _reach(a, _arm_towards(a, -1), left + under, -1)
    _reach(a, _arm_towards(a, 1), right + under, 1)
    return a, b, HELD_ORDER


def _back_to_back(rng: random.Random, sa: str, sb: str, s: int) -> tuple[Figure, Figure, Order]:
    # Arms folded, each leaning back a little onto the other, so the pair makes an inverted V.
    folded = {"arm1": (25.0, 85.0), "arm2": (20.0, 90.0), "lean": -15.0, "leg1": (16.0, 0.0), "leg2": (8.0, 0.0)}
    a, b = _pose_figure(rng, sa, "standing", -s, **folded), _pose_figure(rng, sb, "standing", s, **folded)
    back_a, back_b = _torso_point(a, 0.8, -1.0), _torso_point(b, 0.8, -1.0)
    _shift(b, back_a.real - back_b.real - s * 0.01)
    return a, b, DEFAULT_ORDER


def _pull_hand(rng: random.Random, sa: str, sb: str, s: int) -> tuple[Figure, Figure, Order]:
    a = _pose_figure(rng, sa, "walking", -s, lean=16.0, arm1=(-70.0, 0.0), arm2=(35.0, 25.0))
    b = _pose_figure(rng, sb, "reaching", -s, lean=-16.0, leg1=(28.0, 8.0), leg2=(16.0, 4.0))
    meet_y = max(a.joints["sh1"].imag, b.joints["sh1"].imag) + rng.uniform(0.15, 0.35) * min(a.arm, b.arm)
    meet = a.joints["sh1"].real + s * _level_reach(a.arm * 0.95, meet_y - a.joints["sh1"].imag)
    b_shoulder = meet + s * _level_reach(b.arm * rng.uniform(0.88, 0.96), meet_y - b.joints["sh1"].imag)
    _shift(b, b_shoulder - b.joints["sh1"].real)
    _reach(a, "1", complex(meet, meet_y))
    _reach(b, "1", complex(meet, meet_y))
    return a, b, DEFAULT_ORDER


def _lean_shoulder(rng: random.Random, sa: str, sb: str, s: int) -> tuple[Figure, Figure, Order]:
    b = _pose_figure(rng, sb, "standing", -s, view="front", arm1=(10.0, 5.0), arm2=(8.0, 5.0))
    rest = b.joints["sh1"] - 0.9j * BUILDS[sa].head * SPECIES_SCALE[sa]
    tilt = _tilt_to_reach(sa, -rest.imag)
    a = _pose_figure(rng, sa, "leaning", s, lean=tilt)
    _shift(a, rest.real - s * 0.8 * a.body.head - a.joints["head"].real)
    _reach(b, "1", a.joints["sh2"] - 0.3j * a.body.arm_w, -1j)
    order = ((1, 0), (0, 0), (1, 1), (0, 1), (0, 2), (1, 2), (0, 3), (1, 3))
    return a, b, order


def _tilt_to_reach(species: str, height: float) -> float:
    """The lean (degrees, 10..50) that brings the head of a leaning `species` closest to `height` above the floor."""
    k, body, head_tilt = SPECIES_SCALE[species], BUILDS[species], POSES["leaning"].head

    def head_height(lean: float) -> float:
        hip = k * (body.thigh + body.shin + 0.5 * body.leg_w)
        neck = k * body.torso * math.cos(math.radians(lean))
        return hip + neck + k * (body.neck + body.head) * math.cos(math.radians(lean + head_tilt))

    return min(range(10, 51), key=lambda lean: abs(head_height(lean) - height))


_PLACERS: dict[str, Callable[[random.Random, str, str, int], tuple[Figure, Figure, Order]]] = {
    "high_five": _high_five,
    "hug": _hug,
    "push": _push,
    "kiss_hand": _kiss_hand,
    "piggyback": _piggyback,
    "carry": _carry,
    "lift_overhead": _lift_overhead,
    "back_to_back": _back_to_back,
    "pull_hand": _pull_hand,
    "lean_shoulder": _lean_shoulder,
}
INTERACTIONS = tuple(_PLACERS)
ROLE_POSES: dict[str, tuple[str, str]] = {
    "high_five": ("waving", "waving"),
    "hug": ("hugging", "hugging"),
    "push": ("pushing", "falling"),
    "kiss_hand": ("kneeling", "reaching"),
    "piggyback": ("bending", "sitting"),
    "carry": ("carrying", "lying"),
    "lift_overhead": ("stretching", "lying"),
    "back_to_back": ("standing", "standing"),
    "pull_hand": ("walking", "reaching"),
    "lean_shoulder": ("leaning", "standing"),
}


# ---- looks ------------------------------------------------------------------------------------

Colour = tuple[int, int, int]


@dataclass(frozen=True)
class Look:
    """The colours of one figure."""

    torso: Colour
    upper_arm: Colour
    forearm: Colour
    hand: Colour
    thigh: Colour
    shin: Colour
    foot: Colour
    head: Colour
    detail: Colour  # hair, stripes, joints, nose
    accent: Colour  # robot light, pale belly and muzzle
    eye: Colour


def _tone(rng: random.Random, base: Colour, spread: int = 16) -> Colour:
    return tuple(max(0, min(255, c + rng.randint(-spread, spread))) for c in base)  # type: ignore[return-value]


def _shade(colour: Colour, k: float) -> Colour:
    return tuple(int(c * k) for c in colour)  # type: ignore[return-value]


SKIN_TONES: tuple[Colour, ...] = ((241, 194, 160), (224, 172, 128), (198, 134, 90), (141, 85, 54))
HAIR_COLOURS: tuple[Colour, ...] = ((40, 25, 15), (85, 52, 22), (20, 20, 20), (160, 110, 45))


def _look(rng: random.Random, species: str) -> Look:
    """Random colours of a species, each within its family."""
    if species == "person":
        skin, hair = _tone(rng, rng.choice(SKIN_TONES), 10), _tone(rng, rng.choice(HAIR_COLOURS), 8)
        shirt, trousers = _tone(rng, (45, 95, 205), 25), _tone(rng, (45, 45, 62), 12)
        return Look(torso=shirt, upper_arm=shirt, forearm=skin, hand=skin, thigh=trousers, shin=trousers,
                    foot=(25, 25, 25), head=skin, detail=hair, accent=skin, eye=(20, 20, 30))
    if species == "robot":
        metal = _tone(rng, (162, 166, 174), 14)
        return Look(torso=metal, upper_arm=metal, forearm=metal, hand=_shade(metal, 0.7), thigh=metal, shin=metal,
                    foot=_shade(metal, 0.6), head=_shade(metal, 1.12), detail=_shade(metal, 0.55),
                    accent=_tone(rng, (230, 30, 30), 15), eye=(60, 230, 250))
    if species == "bear":
        fur = _tone(rng, (118, 74, 40), 14)
        return Look(torso=fur, upper_arm=fur, forearm=fur, hand=_shade(fur, 0.8), thigh=fur, shin=fur,
                    foot=_shade(fur, 0.8), head=fur, detail=(30, 20, 15), accent=_tone(rng, (214, 184, 140), 12),
                    eye=(15, 10, 10))
    fur = _tone(rng, (236, 140, 42), 14)
    return Look(torso=fur, upper_arm=fur, forearm=fur, hand=fur, thigh=fur, shin=fur, foot=fur, head=fur,
                detail=(45, 28, 12), accent=(250, 240, 228), eye=(30, 70, 25))


# ---- figure drawing ---------------------------------------------------------------------------
# An op is a tuple: ("cap", p0, p1, width, colour) a thick line with round ends, ("box", ...) the same
# with square ends, ("disc", centre, radius, colour), ("poly", points, colour); world units.

Op = tuple
TAIL = (0.11, 0.1, 0.09)  # cat tail segment lengths, as a fraction of the cat's height scale
FAR, BODY, NEAR_LEG, NEAR_ARM = 0, 1, 2, 3  # drawing layers


def _figure_ops(fig: Figure, look: Look) -> list[tuple[int, Op]]:
    """The drawing ops of a figure, each with its layer."""
    j, b, side = fig.joints, fig.body, fig.view == "side"
    seg = "box" if fig.species == "robot" else "cap"
    ops: list[tuple[int, Op]] = []
    if fig.species == "cat":
        ops += [(FAR, op) for op in _tail_ops(fig, look)]
    for k in ("2", "1"):
        layer = (FAR if k == "2" else NEAR_LEG) if side else BODY
        shade = FAR_SHADE if side and k == "2" else 1.0
        ops += [(layer, op) for op in _leg_ops(fig, look, k, seg, shade)]
    thickness = b.torso_d if side else b.torso_w
    ops.append((BODY, (seg, j["hip"], j["neck"], thickness, look.torso)))
    ops += [(BODY, op) for op in _torso_extras(fig, look)]
    ops.append((BODY, ("cap", j["neck"], j["head"], min(b.arm_w, b.head), look.head)))
    ops += [(BODY, op) for op in _head_ops(fig, look)]
    for k in ("2", "1"):
        layer = (FAR if k == "2" else NEAR_ARM) if side else NEAR_ARM
        shade = FAR_SHADE if side and k == "2" else 1.0
        ops += [(layer, op) for op in _arm_ops(fig, look, k, seg, shade)]
    return ops


def _leg_ops(fig: Figure, look: Look, k: str, seg: str, shade: float) -> list[Op]:
    j, b = fig.joints, fig.body
    knee, ankle = j["kn" + k], j["an" + k]
    ops = _limb_ops(fig, (j["hp" + k], knee, ankle), b.leg_w, (look.thigh, look.shin, look.detail), seg, shade)
    if fig.view == "side":
        shin = (ankle - knee) / max(abs(ankle - knee), 1e-9)
        ops.append((seg, ankle, ankle + shin * -1j * fig.f * b.foot, 0.7 * b.leg_w, _shade(look.foot, shade)))
    else:
        ops.append(("disc", ankle, 0.6 * b.leg_w, _shade(look.foot, shade)))
    return ops


def _arm_ops(fig: Figure, look: Look, k: str, seg: str, shade: float) -> list[Op]:
    j, b = fig.joints, fig.body
    points = (j["sh" + k], j["el" + k], j["wr" + k])
    ops = _limb_ops(fig, points, b.arm_w, (look.upper_arm, look.forearm, look.detail), seg, shade)
    return ops + [("disc", points[2], 0.62 * b.arm_w, _shade(look.hand, shade))]


def _limb_ops(
    fig: Figure, points: tuple[complex, complex, complex], width: float, colours: tuple[Colour, Colour, Colour],
    seg: str, shade: float,
) -> list[Op]:
    """Upper and lower segment of a limb (root, joint, end), with the robot's joint disc or the cat's stripe."""
    root, joint, end = points
    upper, lower, detail = (_shade(c, shade) for c in colours)
    ops: list[Op] = [(seg, root, joint, width, upper), (seg, joint, end, 0.9 * width, lower)]
    if fig.species == "robot":
        ops.append(("disc", joint, 0.5 * width, detail))
    if fig.species == "cat":
        ops += _stripes(root, joint, width, (0.5,), detail)
    return ops


def _stripes(p0: complex, p1: complex, width: float, at: tuple[float, ...], colour: Colour) -> list[Op]:
    """Short dark bands across the segment p0-p1, at the given fractions of its length."""
    d = p1 - p0
    across = d / max(abs(d), 1e-9) * 1j * 0.5 * width
    return [("line", p0 + t * d - across, p0 + t * d + across, 0.3 * width, colour) for t in at]


def _torso_extras(fig: Figure, look: Look) -> list[Op]:
    b, side = fig.body, fig.view == "side"
    if fig.species == "robot":
        light = ("disc", _torso_point(fig, 0.72, 0.45 if side else 0.0), 0.22 * b.torso_d, look.accent)
        corners = [_torso_point(fig, t, e) for t in (0.12, 0.9) for e in (-0.75, 0.75)]
        rivets = [("disc", corner, 0.05 * b.torso_d, look.detail) for corner in corners]
        return [light] + rivets
    if fig.species == "bear":
        front = 0.35 if side else 0.0
        thickness = b.torso_d if side else b.torso_w
        return [("cap", _torso_point(fig, 0.15, front), _torso_point(fig, 0.7, front), 0.55 * thickness, look.accent)]
    if fig.species == "cat":
        back = -1.0 if side else 1.0
        bands = [(_torso_point(fig, t, back), _torso_point(fig, t, 0.25 * back)) for t in (0.3, 0.55, 0.8)]
        return [("line", p0, p1, 0.03, look.detail) for p0, p1 in bands]
    return []


def _around(fig: Figure, angle: float, distance: float) -> complex:
    """The point `distance` from the head centre, `angle` degrees from the head's top towards its face."""
    return fig.joints["head"] + distance * fig.head_up * cmath.exp(1j * fig.f * math.radians(angle))


def _head_ops(fig: Figure, look: Look) -> list[Op]:
    j, r, side = fig.joints, fig.body.head, fig.view == "side"
    head, up, fwd = j["head"], fig.head_up, fig.head_fwd
    eyes = [j["eye1"]] if side else [j["eye1"], j["eye2"]]
    snout = head + (0.6 * r * fwd - 0.25 * r * up if side else -0.32 * r * up)
    if fig.species == "person":
        arc = range(-115, 60, 20) if side else range(-95, 96, 19)
        hair = [_around(fig, a, 1.08 * r) for a in arc] + [head + 0.15 * r * up]
        ops: list[Op] = [("disc", head, r, look.head), ("poly", hair, look.detail)]
        eye_r = 0.15 * r
    elif fig.species == "robot":
        square = [head + r * c * up / -1j for c in (-1 - 1j, 1 - 1j, 1 + 1j, -1 + 1j)]
        tip = head + 1.8 * r * up
        ops = [("line", head + r * up, tip, 0.16 * r, look.detail), ("disc", tip, 0.25 * r, look.accent)]
        ops.append(("poly", square, look.head))
        eye_r = 0.2 * r
    elif fig.species == "bear":
        ops = [("disc", _around(fig, a, 0.85 * r), 0.38 * r, look.head) for a in ((-35, 25) if side else (-42, 42))]
        nose = head + (0.95 * r * fwd - 0.1 * r * up if side else -0.22 * r * up)
        ops += [("disc", head, r, look.head), ("disc", snout, 0.42 * r, look.accent)]
        ops.append(("disc", nose, 0.16 * r, look.detail))
        eye_r = 0.13 * r
    else:
        ops = [("poly", [_around(fig, a + d, h * r) for d, h in ((-24, 0.9), (0, 1.7), (24, 0.9))], look.head)
               for a in ((-30, 22) if side else (-38, 38))]
        ops += [("disc", head, r, look.head), ("disc", snout, 0.3 * r, look.accent)]
        eye_r = 0.15 * r
    return ops + [("disc", e, eye_r, look.eye) for e in eyes]


def _tail_ops(fig: Figure, look: Look) -> list[Op]:
    back, up = -fig.fwd, fig.up
    directions = (back * 0.8 - up * 0.6, back * 0.8 + up * 0.3, back * 0.2 + up)
    scale = fig.body.torso / BUILDS["cat"].torso
    point, ops = _torso_point(fig, 0.08, -0.8), []
    for length, d in zip(TAIL, directions):
        end = point + scale * length * d / abs(d)
        ops.append(("cap", point, end, 0.75 * fig.body.arm_w, look.torso))
        ops += _stripes(point, end, 0.75 * fig.body.arm_w, (0.6,), look.detail)
        point = end
    return ops


# ---- rasterising ------------------------------------------------------------------------------


def _op_points(op: Op) -> tuple[list[complex], float]:
    """The points of an op and how far its paint reaches beyond them."""
    kind = op[0]
    if kind == "disc":
        return [op[1]], op[2]
    if kind == "poly":
        return list(op[1]), 0.0
    return [op[1], op[2]], 0.5 * op[3] * (1.42 if kind == "box" else 1.0)


def _extent(ops: list[Op]) -> tuple[float, float, float, float]:
    """World (x0, y0, x1, y1) that all ops paint inside."""
    x0 = y0 = math.inf
    x1 = y1 = -math.inf
    for op in ops:
        points, pad = _op_points(op)
        for p in points:
            x0, y0, x1, y1 = min(x0, p.real - pad), min(y0, p.imag - pad), max(x1, p.real + pad), max(y1, p.imag + pad)
    return x0, y0, x1, y1


def _raster(draw: ImageDraw.ImageDraw, op: Op, fill: object, scale: float, origin: complex, grow: float = 0.0) -> None:
    """Paint one op, `grow` pixels fatter on every side; points go to pixels as p * scale + origin."""
    kind = op[0]
    if kind == "disc":
        c, r = op[1] * scale + origin, op[2] * scale + grow
        draw.ellipse((c.real - r, c.imag - r, c.real + r, c.imag + r), fill=fill)
        return
    if kind in ("poly", "box"):
        corners = [p * scale + origin for p in op[1]] if kind == "poly" else _box_corners(op, scale, origin)
        points = [(c.real, c.imag) for c in corners]
        draw.polygon(points, fill=fill)
        if grow > 0:
            draw.line(points + points[:1], fill=fill, width=round(2 * grow), joint="curve")
        return
    p0, p1, width = op[1] * scale + origin, op[2] * scale + origin, op[3] * scale + 2 * grow
    draw.line(((p0.real, p0.imag), (p1.real, p1.imag)), fill=fill, width=max(1, round(width)))
    if kind == "cap" and width >= 2:
        r = 0.5 * width
        for c in (p0, p1):
            draw.ellipse((c.real - r, c.imag - r, c.real + r, c.imag + r), fill=fill)


def _box_corners(op: Op, scale: float, origin: complex) -> list[complex]:
    """Corners of a square-ended segment, a little longer than its ends so that joints close."""
    p0, p1 = op[1] * scale + origin, op[2] * scale + origin
    d = p1 - p0
    along = d / max(abs(d), 1e-9) * 0.5 * op[3] * scale
    across = along * 1j
    return [p0 - 0.3 * along + across, p1 + 0.3 * along + across, p1 + 0.3 * along - across, p0 - 0.3 * along - across]


# ---- backgrounds ------------------------------------------------------------------------------


def _vertical(top: Colour, bottom: Colour, width: int, height: int) -> np.ndarray:
    t = np.linspace(0.0, 1.0, height)[:, None]
    column = (1 - t) * np.array(top, float) + t * np.array(bottom, float)
    return np.broadcast_to(column[:, None, :], (height, width, 3))


def _meadow(rng: random.Random, side: int, horizon: int) -> tuple[Image.Image, Colour]:
    grass = _tone(rng, (84, 150, 62), 20)
    pixels = np.empty((side, side, 3))
    pixels[:horizon] = _vertical(_tone(rng, (105, 165, 230)), _tone(rng, (200, 225, 245), 10), side, horizon)
    pixels[horizon:] = _vertical(_shade(grass, 0.85), grass, side, side - horizon)
    image = Image.fromarray(pixels.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    if rng.random() < 0.6:
        x, y, r = rng.uniform(0.1, 0.9) * side, rng.uniform(0.05, 0.25) * side, 0.06 * side
        draw.ellipse((x - r, y - r, x + r, y + r), fill=_tone(rng, (250, 228, 120), 5))
    for _ in range(rng.randint(1, 3)):
        x, r = rng.uniform(0, side), rng.uniform(0.05, 0.12) * side
        draw.ellipse((x - 2 * r, horizon - r, x + 2 * r, horizon + r), fill=_shade(grass, 0.7))
    return image, grass


def _room(rng: random.Random, side: int, horizon: int) -> tuple[Image.Image, Colour]:
    wall = _tone(rng, rng.choice(((222, 205, 175), (190, 210, 200), (215, 190, 200), (200, 200, 215))), 12)
    floor = _tone(rng, (150, 104, 68), 16)
    image = Image.new("RGB", (side, side), wall)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, horizon, side, side), fill=floor)
    draw.rectangle((0, horizon - 0.02 * side, side, horizon), fill=_shade(wall, 0.7))
    x, w, top = rng.uniform(0.05, 0.65) * side, rng.uniform(0.2, 0.3) * side, rng.uniform(0.08, 0.2) * side
    bottom = max(top + 0.1 * side, horizon - 0.12 * side)
    draw.rectangle((x, top, x + w, bottom), fill=(245, 245, 240))
    frame = 0.02 * side
    draw.rectangle((x + frame, top + frame, x + w - frame, bottom - frame), fill=_tone(rng, (160, 200, 235)))
    return image, floor


def _beach(rng: random.Random, side: int, horizon: int) -> tuple[Image.Image, Colour]:
    sand = _tone(rng, (226, 206, 150), 12)
    pixels = np.empty((side, side, 3))
    pixels[:horizon] = _vertical(_tone(rng, (90, 160, 225)), _tone(rng, (185, 215, 240), 10), side, horizon)
    shore = min(side, horizon + int(rng.uniform(0.05, 0.12) * side))
    pixels[horizon:shore] = _tone(rng, (40, 110, 175), 15)
    pixels[shore:] = sand
    return Image.fromarray(pixels.astype(np.uint8)), sand


def _night(rng: random.Random, side: int, horizon: int) -> tuple[Image.Image, Colour]:
    street = _tone(rng, (58, 58, 68), 8)
    pixels = np.empty((side, side, 3))
    pixels[:horizon] = _vertical(_tone(rng, (14, 18, 48), 8), _tone(rng, (48, 46, 88), 10), side, horizon)
    pixels[horizon:] = street
    image = Image.fromarray(pixels.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(10):
        x, y = rng.uniform(0, side), rng.uniform(0, 0.8) * horizon
        draw.rectangle((x, y, x + 1, y + 1), fill=(235, 235, 200))
    x = 0.0
    while x < side:
        w, h = rng.uniform(0.08, 0.2) * side, rng.uniform(0.08, 0.3) * side
        draw.rectangle((x, horizon - h, x + w, horizon), fill=_tone(rng, (26, 26, 40), 6))
        x += w + rng.uniform(0, 0.05) * side
    return image, street


def _studio(rng: random.Random, side: int, horizon: int) -> tuple[Image.Image, Colour]:
    backdrop = _tone(rng, rng.choice(((200, 200, 200), (235, 215, 190), (190, 215, 235), (225, 200, 225))), 14)
    floor = _shade(backdrop, 0.82)
    pixels = np.empty((side, side, 3))
    pixels[:horizon] = _vertical(_shade(backdrop, 0.92), backdrop, side, horizon)
    pixels[horizon:] = _vertical(backdrop, floor, side, side - horizon)
    return Image.fromarray(pixels.astype(np.uint8)), floor


BACKGROUNDS: dict[str, Callable[[random.Random, int, int], tuple[Image.Image, Colour]]] = {
    "meadow": _meadow, "room": _room, "beach": _beach, "night": _night, "studio": _studio,
}
V1_STYLE = Style()


# ---- scenes -----------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)  # compared by identity: the masks are arrays
class Scene:
    """One render: the picture, the OpenPose keypoints and visible-pixel mask of each figure (A first)."""

    image: Image.Image  # RGB, size x size
    people: tuple[Person, ...]
    masks: tuple[np.ndarray, ...]  # bool, size x size, the pixels where each figure is in front
    species: tuple[str, ...]
    label: str  # interaction slug, pose word, or two pose words joined by "+" (render_pose_pair)


def _keypoints(fig: Figure, scale: float, origin: complex, side: int) -> Person:
    """The figure's 18 OpenPose keypoints, normalised to the canvas."""
    r, l = ("1", "2") if fig.right_is_1 else ("2", "1")
    names = ("nose", "neck", "sh" + r, "el" + r, "wr" + r, "sh" + l, "el" + l, "wr" + l, "hp" + r, "kn" + r, "an" + r,
             "hp" + l, "kn" + l, "an" + l, "eye" + r, "eye" + l, "ear" + r, "ear" + l)

    def point(name: str) -> tuple[float, float] | None:
        if name not in fig.joints:
            return None  # the far eye and ear of a figure seen from the side
        p = (fig.joints[name] * scale + origin) / side
        return (p.real, p.imag)

    return Person(tuple(point(n) for n in names))


def _shadow(draw: ImageDraw.ImageDraw, fig: Figure, colour: Colour, scale: float, origin: complex) -> None:
    """A flat ellipse on the floor under the joints that are near it."""
    near_floor = [p.real for p in fig.joints.values() if p.imag > -0.2] or [fig.joints["hip"].real]
    left, right = (min(near_floor) - 0.08) * scale + origin.real, (max(near_floor) + 0.08) * scale + origin.real
    draw.ellipse((left, origin.imag - 0.025 * scale, right, origin.imag + 0.025 * scale), fill=colour)


def _thicker(op: Op, factor: float) -> Op:
    """The op with its width (segments) or radius (discs) times factor; polygons keep their outline."""
    if factor == 1.0 or op[0] == "poly":
        return op
    if op[0] == "disc":
        return (op[0], op[1], op[2] * factor, *op[3:])
    return (op[0], op[1], op[2], op[3] * factor, *op[4:])


def _compose(
    rng: random.Random, figures: list[Figure], order: Order, size: int, label: str, scale_range: tuple[float, float],
    style: Style = V1_STYLE,
) -> Scene:
    """Fit the figures into the frame, draw them over a background and measure their masks."""
    side = size * SUPERSAMPLE
    ops = [[(layer, _thicker(op, style.thickness)) for layer, op in _figure_ops(fig, _look(rng, fig.species))]
           for fig in figures]
    x0, y0, x1, y1 = _extent([op for fig_ops in ops for _, op in fig_ops])
    room = (1 - 2 * MARGIN) * side
    scale = min(rng.uniform(*scale_range) * style.size * side, room / (x1 - x0), room / (y1 - y0))
    low, high = MARGIN * side, (1 - MARGIN) * side
    ox = rng.uniform(low - x0 * scale, high - x1 * scale)
    oy_low, oy_high = low - y0 * scale, high - y1 * scale
    # The floor goes in the lower quarter when the figures leave room for that.
    oy = rng.uniform(max(oy_low, min(oy_high, 0.74 * side - y1 * scale)), oy_high)
    origin = complex(ox, oy)
    horizon = int(max(0.15 * side, min(0.8 * side, oy - rng.uniform(0.1, 0.35) * side)))
    image, floor = BACKGROUNDS[rng.choice(style.backgrounds())](rng, side, horizon)
    draw, ids = ImageDraw.Draw(image), Image.new("L", (side, side), 0)
    draw_ids = ImageDraw.Draw(ids)
    for fig in figures:
        if fig.grounded:
            _shadow(draw, fig, _shade(floor, 0.7), scale, origin)
    for index, layer in order:
        group = [op for op_layer, op in ops[index] if op_layer == layer]
        for op in group:  # a dark rim first, so that touching figures of one colour stay apart
            _raster(draw, op, _shade(op[-1], OUTLINE_SHADE), scale, origin, OUTLINE)
            _raster(draw_ids, op, index + 1, scale, origin, OUTLINE)
        for op in group:
            _raster(draw, op, op[-1], scale, origin)
    picture = image.resize((size, size), Image.LANCZOS)
    id_map = np.asarray(ids).reshape(size, SUPERSAMPLE, size, SUPERSAMPLE)
    masks = tuple((id_map == k + 1).mean(axis=(1, 3)) >= 0.5 for k in range(len(figures)))
    people = tuple(_keypoints(fig, scale, origin, side) for fig in figures)
    return Scene(picture, people, masks, tuple(fig.species for fig in figures), label)


def presence(species: tuple[str, ...]) -> list[int]:
    """0/1 per entry of SPECIES: which species a scene shows (the species scorer's label)."""
    return [int(s in species) for s in SPECIES]


def require(value: str, options: tuple[str, ...], what: str) -> None:
    """Raise a user-facing error unless value is one of the world's options."""
    if value not in options:
        raise InterInvError(f"Unknown {what} '{value}'. The world has: {', '.join(options)}.")


V2_STYLE = Style(size=1.5, backdrop="studio")  # figures that fill the 16x16 latent (docs/world.md, M1 and V2b)


def render_pair(seed: int, interaction: str, species: tuple[str, str], size: int = 64, style: Style = V1_STYLE) -> Scene:
    """A two-figure scene of `interaction`, A (species[0]) and B (species[1]); the same seed gives the same pixels."""
    require(interaction, INTERACTIONS, "interaction")
    for kind in species:
        require(kind, SPECIES, "species")
    rng = random.Random(f"pair:{seed}:{interaction}:{species[0]}:{species[1]}:{size}")
    a, b, order = _PLACERS[interaction](rng, species[0], species[1], rng.choice((-1, 1)))
    return _compose(rng, [a, b], order, size, interaction, PAIR_SCALE, style)


def render_single(seed: int, pose: str, species: str, size: int = 64, style: Style = V1_STYLE) -> Scene:
    """A one-figure scene of `species` in pose word `pose`; the same seed gives the same pixels."""
    require(pose, SINGLE_POSES, "pose")
    require(species, SPECIES, "species")
    rng = random.Random(f"single:{seed}:{pose}:{species}:{size}")
    figure = _pose_figure(rng, species, pose, rng.choice((-1, 1)))
    return _compose(rng, [figure], ((0, FAR), (0, BODY), (0, NEAR_LEG), (0, NEAR_ARM)), size, pose, SINGLE_SCALE,
                    style)


def render_pose_pair(seed: int, poses: tuple[str, str], species: tuple[str, str], size: int = 64,
                     style: Style = V1_STYLE) -> Scene:
    """Two figures apart, each in its own pose word and facing either way, A (species[0]) on a random side; they do
    not interact. The gap is between joints, so thick outlines touch in about 2% of scenes. The same seed gives the
    same pixels."""
    for pose in poses:
        require(pose, SINGLE_POSES, "pose")
    for kind in species:
        require(kind, SPECIES, "species")
    rng = random.Random(f"pose_pair:{seed}:{poses[0]}:{poses[1]}:{species[0]}:{species[1]}:{size}")
    a, b = (_pose_figure(rng, kind, pose, rng.choice((-1, 1))) for pose, kind in zip(poses, species))
    if rng.random() < 0.5:  # B on the right of A
        _shift(b, _x_extent(a)[1] - _x_extent(b)[0] + rng.uniform(*POSE_PAIR_GAP))
    else:
        _shift(b, _x_extent(a)[0] - _x_extent(b)[1] - rng.uniform(*POSE_PAIR_GAP))
    return _compose(rng, [a, b], DEFAULT_ORDER, size, f"{poses[0]}+{poses[1]}", PAIR_SCALE, style)


def _x_extent(fig: Figure) -> tuple[float, float]:
    xs = [p.real for p in fig.joints.values()]
    return min(xs), max(xs)


def pose_image(scene: Scene) -> PoseImage:
    """The scene's keypoints as a PoseImage, ready for pose.write_openpose_json."""
    width, height = scene.image.size
    return PoseImage(width, height, scene.people)
