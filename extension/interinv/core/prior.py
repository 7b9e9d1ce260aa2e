"""Language priors: vocabulary statistics and the AdaIN reparameterisation (Eq. 3 and 5)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch

from ..errors import InterInvError

STD_EPS = 1e-6  # keeps the division finite for a constant vector
VOCABULARIES = ("swig_verbs", "prepositions", "psg_predicates")


@dataclass(frozen=True)
class VocabStats:
    """Per-dimension mean and std of a vocabulary's token-embedding rows."""

    mean: torch.Tensor  # [D]
    std: torch.Tensor  # [D]
    words_used: int
    words_total: int


def load_vocabulary(name: str) -> list[str]:
    """The words of a shipped vocabulary, or of a text file given by path (one word per line, # comments)."""
    if name in VOCABULARIES:
        text = resources.files("interinv.vocab").joinpath(f"{name}.txt").read_text(encoding="utf-8")
    elif name.endswith(".txt"):
        try:
            text = Path(name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InterInvError(f"Cannot read the vocabulary file '{name}': {exc}.") from exc
    else:
        raise InterInvError(
            f"Unknown vocabulary '{name}'. Expected one of: {', '.join(VOCABULARIES)}, or a path to a .txt file "
            "with one word per line."
        )
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def word_vectors(rows_per_word: list[torch.Tensor], subwords: str) -> torch.Tensor:
    """One vector per word: single-token words only ("single"), or the mean of sub-token rows ("mean")."""
    if subwords == "single":
        kept = [rows[0] for rows in rows_per_word if rows.shape[0] == 1]
    elif subwords == "mean":
        kept = [rows.mean(dim=0) for rows in rows_per_word if rows.shape[0] > 0]
    else:
        raise InterInvError(f"prior.subwords must be 'single' or 'mean', got '{subwords}'.")
    if len(kept) < 2:
        raise InterInvError(
            f"Only {len(kept)} vocabulary words are usable with prior.subwords='{subwords}'; "
            "the prior needs at least 2. Try prior.subwords='mean'."
        )
    return torch.stack(kept).float()


def vocab_stats(rows_per_word: list[torch.Tensor], subwords: str = "single") -> VocabStats:
    """μ(S) and σ(S): per-dimension mean and population std over the vocabulary's word vectors."""
    vectors = word_vectors(rows_per_word, subwords)
    return VocabStats(
        mean=vectors.mean(dim=0),
        std=vectors.std(dim=0, correction=0),
        words_used=vectors.shape[0],
        words_total=len(rows_per_word),
    )


def adain(raw: torch.Tensor, stats: VocabStats) -> torch.Tensor:
    """P' = σ(S) ⊙ (P − mean(P)) / std(P) + μ(S), with mean(P), std(P) scalars over each row's dims."""
    centred = raw - raw.mean(dim=-1, keepdim=True)
    scaled = centred / (raw.std(dim=-1, keepdim=True, correction=0) + STD_EPS)
    return stats.std.to(raw) * scaled + stats.mean.to(raw)


def steering_loss(vector: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor, temperature: float) -> torch.Tensor:
    """ReVersion's relation-steering InfoNCE: −log Σ_pos e^{cos/τ} / Σ_all e^{cos/τ}, cosines to R's vector."""
    candidates = torch.cat([positives, negatives]).to(vector)
    logits = torch.nn.functional.cosine_similarity(vector.unsqueeze(0), candidates, dim=-1) / temperature
    return torch.logsumexp(logits, dim=0) - torch.logsumexp(logits[: positives.shape[0]], dim=0)
