"""The world's names and defaults that its commands show in their help: importable without torch."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

WEIGHTS_DIR = Path(__file__).parent / "weights"  # the committed, pretrained world
METHODS = ("prompt", "ti", "reversion", "ours", "ours_no_prior", "ours_no_stage1", "ours_no_ca")
METHOD_TITLES = {
    "prompt": "prompt only (neutral caption)",
    "ti": "Textual Inversion ([R], init 'and', no prior, uniform t)",
    "reversion": "ReVersion-style ([R] + steering loss, importance t)",
    "ours": "ours, full",
    "ours_no_prior": "ours without the priors",
    "ours_no_stage1": "ours without stage 1 ([R] of three vectors)",
    "ours_no_ca": "ours without L_CA",
}
RELATION_ONLY = ("ti", "reversion", "ours_no_stage1")


@dataclass
class DemoConfig:
    interaction: str = ""  # a held-out one (no words call it up); "": the world's first table interaction
    steps: int = 300  # optimizer steps over both stages
    samples: int = 16  # images per row of the comparison grid
    seed: int = 0
