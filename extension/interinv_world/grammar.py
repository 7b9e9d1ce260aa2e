"""Captions of the world: a small English grammar of subjects, verbs and prepositions.

Pair captions put subject A first ("a bear hugs a robot"). Held-out interactions are captioned only
neutrally in pretraining ("a bear and a robot"), so that the model can draw them but no words call
them up. Pose-pair scenes, two figures that stand apart, name each figure's pose ("a bear kneeling and a
robot reaching"). Every word is one CLIP token, except the pose word "kneeling" (see SPLIT_WORDS).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from interinv.errors import InterInvError

from .render import INTERACTIONS, SINGLE_POSES, SPECIES, require

# World v1's held-out interactions (a world's own are its CaptionPlan.held_out): the table's four, then the tuning one.
HELD_OUT = ("kiss_hand", "piggyback", "lift_overhead", "pull_hand", "back_to_back")

# Several phrasings per interaction; {a} is subject A (the one who acts), {b} subject B.
NAMED: dict[str, tuple[str, ...]] = {
    "high_five": ("a {a} gives a {b} a high five", "a {a} high fives a {b}", "a {a} slaps hands with a {b}"),
    "hug": ("a {a} hugs a {b}", "a {a} embraces a {b}", "a {a} hugging a {b}"),
    "push": ("a {a} pushes a {b}", "a {a} pushes a {b} away", "a {a} pushing a {b}"),
    "kiss_hand": (
        "a {a} kisses the hand of a {b}", "a {a} kisses a {b} on the hand", "a {a} kissing the hand of a {b}",
    ),
    "piggyback": (
        "a {a} carries a {b} on its back", "a {a} gives a {b} a ride on its back", "a {a} carrying a {b} on its back",
    ),
    "carry": ("a {a} carries a {b} in its arms", "a {a} holds a {b} in its arms", "a {a} carrying a {b} in its arms"),
    "lift_overhead": (
        "a {a} lifts a {b} over its head", "a {a} raises a {b} above its head", "a {a} lifting a {b} over its head",
    ),
    "back_to_back": (
        "a {a} stands back to back with a {b}", "a {a} standing back to back with a {b}",
        "a {a} stands with its back to a {b}",
    ),
    "pull_hand": ("a {a} pulls a {b} by the hand", "a {a} leads a {b} by the hand", "a {a} pulling a {b} by the hand"),
    "lean_shoulder": (
        "a {a} leans on the shoulder of a {b}", "a {a} rests its head on the shoulder of a {b}",
        "a {a} leaning on the shoulder of a {b}",
    ),
}
NEUTRAL = ("a {a} and a {b}", "a photo of a {a} and a {b}", "a picture of a {a} and a {b}")
SINGLE = ("a {s} {pose}", "a photo of a {s} {pose}", "a picture of a {s} {pose}")
POSE_PAIR = ("a {a} {pa} and a {b} {pb}", "a photo of a {a} {pa} and a {b} {pb}", "a picture of a {a} {pa} and a {b} {pb}")

# The verbs of NAMED (finite and -ing forms), then the pose words, which are verbs in -ing.
_NAMED_VERBS = (
    "gives", "fives", "slaps", "hugs", "embraces", "hugging", "pushes", "pushing", "kisses", "kissing",
    "carries", "carrying", "holds", "lifts", "raises", "lifting", "stands", "standing", "pulls", "leads",
    "pulling", "leans", "rests", "leaning",
)
VERBS: tuple[str, ...] = tuple(dict.fromkeys(_NAMED_VERBS + SINGLE_POSES))
PREPOSITIONS: tuple[str, ...] = ("with", "on", "of", "in", "over", "above", "to", "by")
# The rest of the grammar's words: articles, nouns, pronouns and the neutral conjunction.
OTHER_WORDS = (
    "a", "the", "and", "away", "photo", "picture", "high", "five", "hands", "hand", "ride", "back", "its", "arms", "head",
    "shoulder",
)
SPLIT_WORDS = ("kneeling",)  # words that the CLIP tokenizer splits; no one-piece word names the pose


@dataclass(frozen=True)
class CaptionPlan:
    """How pretraining draws and captions its pair scenes.

    held_out: the interactions captioned only neutrally; the last is for tuning only, the others are the table's.
    named_share: the share of a non-held-out interaction's scenes whose caption names it (the rest are neutral).
    held_out_share: the share of pair scenes that show a held-out interaction; None draws every interaction
    equally often (5 of 10 held out: 0.5).
    """

    named_share: float = 0.8
    held_out_share: float | None = None
    held_out: tuple[str, ...] = HELD_OUT

    def __post_init__(self) -> None:
        for name, value in (("named_share", self.named_share), ("held_out_share", self.held_out_share)):
            if value is not None and not 0.0 <= value <= 1.0:
                raise InterInvError(f"World setting '{name}' must be a share from 0 to 1, got {value}; "
                                    f"e.g. --set {name}=0.3.")
        for name in self.held_out:
            require(name, INTERACTIONS, "held-out interaction")
        if len(set(self.held_out)) != len(self.held_out) or not 2 <= len(self.held_out) < len(INTERACTIONS):
            raise InterInvError(f"World setting 'held_out' must name at least 2 different interactions and leave at "
                                f"least one named, got {','.join(self.held_out)}; e.g. --set held_out={','.join(HELD_OUT)}.")

    @property
    def named(self) -> tuple[str, ...]:
        """The interactions that captions name."""
        return tuple(name for name in INTERACTIONS if name not in self.held_out)

    @property
    def table(self) -> tuple[str, ...]:
        """The held-out interactions of the benchmark's table."""
        return self.held_out[:-1]

    @property
    def tuning(self) -> str:
        """The held-out interaction that only settings are chosen on."""
        return self.held_out[-1]

    def interaction_weights(self) -> dict[str, float]:
        """Each interaction's share among the pair scenes."""
        if self.held_out_share is None:
            return {name: 1 / len(INTERACTIONS) for name in INTERACTIONS}
        return {name: self.held_out_share / len(self.held_out) if name in self.held_out else
                (1 - self.held_out_share) / len(self.named) for name in INTERACTIONS}

    def draw_interaction(self, rng: random.Random) -> str:
        if self.held_out_share is None:  # the draw of world v1, kept so that its data can be rendered again
            return rng.choice(INTERACTIONS)
        return rng.choice(self.held_out if rng.random() < self.held_out_share else self.named)


def neutral_shares(plan: CaptionPlan) -> dict[str, float]:
    """Each interaction's share among the neutral pair captions of pretraining: held-out interactions are always
    captioned neutrally, the others with probability 1 - named_share."""
    weights = {name: weight * (1.0 if name in plan.held_out else 1.0 - plan.named_share)
               for name, weight in plan.interaction_weights().items()}
    total = sum(weights.values())
    return {name: weight / total for name, weight in weights.items()}


def pair_caption(rng: random.Random, interaction: str, species: tuple[str, str], named: bool) -> str:
    """A caption of the pair: one phrasing of the interaction when named, else one neutral phrasing."""
    require(interaction, INTERACTIONS, "interaction")
    a, b = (_species(s) for s in species)
    return rng.choice(NAMED[interaction] if named else NEUTRAL).format(a=a, b=b)


def single_caption(rng: random.Random, pose: str, species: str) -> str:
    """A caption of one figure in a pose: "a robot kneeling", "a photo of a robot kneeling"."""
    require(pose, SINGLE_POSES, "pose")
    return rng.choice(SINGLE).format(s=_species(species), pose=pose)


def pose_pair_caption(rng: random.Random, poses: tuple[str, str], species: tuple[str, str]) -> str:
    """A caption of two figures that stand apart, each with its pose word: "a bear kneeling and a robot reaching"."""
    for pose in poses:
        require(pose, SINGLE_POSES, "pose")
    a, b = (_species(s) for s in species)
    return rng.choice(POSE_PAIR).format(a=a, pa=poses[0], b=b, pb=poses[1])


def neutral_caption(species: tuple[str, str]) -> str:
    """The canonical neutral caption, the prompt-only baseline: "a bear and a robot"."""
    a, b = (_species(s) for s in species)
    return NEUTRAL[0].format(a=a, b=b)


def _species(name: str) -> str:
    require(name, SPECIES, "species")
    return name

