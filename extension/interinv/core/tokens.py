"""Pseudo-words: names, trainable vectors, and where they sit in a tokenized prompt."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import torch

from ..errors import InterInvError
from .prior import VocabStats, adain

ROLES = ("p1", "r", "p2")
POSE_ROLES = ("p1", "p2")  # the roles learned in stage 1, one per subject
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def check_slug(slug: str, field_name: str = "name") -> str:
    """A name that becomes file stems and trigger words: lowercase [a-z0-9_-], no brackets or paths."""
    if not isinstance(slug, str) or not _SLUG.fullmatch(slug):
        raise InterInvError(
            f"Invalid {field_name} '{slug}': use 1-63 characters from a-z, 0-9, '_' and '-', starting with a "
            "letter or digit (no capitals, spaces, brackets or path separators), e.g. 'kisshand'."
        )
    return slug


def token_names(slug: str) -> dict[str, str]:
    """The three trigger words of an interaction, one per role."""
    check_slug(slug)
    return {role: f"{slug}_{role}" for role in ROLES}


@dataclass
class PseudoWord:
    """A trainable word: raw vectors per text encoder, optionally passed through an AdaIN prior."""

    name: str
    raw: dict[str, torch.nn.Parameter]  # encoder key -> [n_vectors, D]
    prior: dict[str, VocabStats] | None = None

    @property
    def num_vectors(self) -> int:
        return next(iter(self.raw.values())).shape[0]

    def effective(self) -> dict[str, torch.Tensor]:
        """P': the vectors the text encoder sees (and that are exported)."""
        if self.prior is None:
            return dict(self.raw)
        return {key: adain(vec, self.prior[key]) for key, vec in self.raw.items()}

    def parameters(self) -> list[torch.nn.Parameter]:
        return list(self.raw.values())


def new_word(name: str, init: Mapping[str, torch.Tensor], num_vectors: int, prior: dict[str, VocabStats] | None):
    """A PseudoWord whose every vector starts at `init` (a [D] or [n, D] tensor per encoder)."""
    raw = {}
    for key, value in init.items():
        value = value.detach().float().reshape(-1, value.shape[-1])
        rows = value if value.shape[0] == num_vectors else value.mean(dim=0, keepdim=True).repeat(num_vectors, 1)
        raw[key] = torch.nn.Parameter(rows.clone())
    return PseudoWord(name=name, raw=raw, prior=prior)


@dataclass(frozen=True)
class TokenizedPrompt:
    """Token ids padded to the model length, and the positions of each pseudo-word's vectors."""

    ids: list[int]
    positions: dict[str, list[int]] = field(default_factory=dict)


def tokenize_with_words(
    prompt: str,
    words: Mapping[str, int],
    encode: Callable[[str], list[int]],
    *,
    bos: int,
    eos: int,
    pad: int,
    placeholder: int,
    max_length: int,
) -> TokenizedPrompt:
    """Tokenize text around pseudo-words; each word takes `words[name]` placeholder slots."""
    if not words:
        pieces: Sequence[str] = [prompt]
    else:
        names = sorted(words, key=len, reverse=True)
        pattern = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, names)) + r")(?![\w-])")
        pieces = pattern.split(prompt)
    ids, positions = [bos], {}
    for index, piece in enumerate(pieces):
        if index % 2 == 1:
            positions.setdefault(piece, []).extend(range(len(ids), len(ids) + words[piece]))
            ids.extend([placeholder] * words[piece])
        elif piece.strip():
            ids.extend(encode(piece))
    if len(ids) + 1 > max_length:
        if any(p >= max_length - 1 for pos in positions.values() for p in pos):
            raise InterInvError(
                f"The prompt '{prompt[:80]}...' is longer than the text encoder's {max_length} tokens and "
                "a trained word would be cut off. Shorten the caption template or the subject words."
            )
        ids = ids[: max_length - 1]
    ids.append(eos)
    ids.extend([pad] * (max_length - len(ids)))
    return TokenizedPrompt(ids=ids, positions=positions)


def slot_table(tokenized: Sequence[TokenizedPrompt], order: Sequence[str], n_vectors: Mapping[str, int]):
    """Per prompt position, the row of the concatenated vector table to splice in (-1 = keep)."""
    offsets, total = {}, 0
    for name in order:
        offsets[name] = total
        total += n_vectors[name]
    slots = torch.full((len(tokenized), len(tokenized[0].ids)), -1, dtype=torch.long)
    for row, prompt in enumerate(tokenized):
        for name, positions in prompt.positions.items():
            index = torch.arange(len(positions)) % n_vectors[name]  # a word used twice repeats its rows
            slots[row, positions] = offsets[name] + index
    return slots


def splice(embeds: torch.Tensor, slots: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Replace token embeddings at slots >= 0 with rows of `table`; gradients flow into `table` only."""
    rows = table.to(embeds.dtype)[slots.clamp(min=0)]
    return torch.where((slots >= 0).unsqueeze(-1).to(embeds.device), rows, embeds)
