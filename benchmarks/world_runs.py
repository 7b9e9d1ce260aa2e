"""What the world's tuning benchmarks share: the world, seed, threads and results-file options, and the row log."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from interinv_world.models import WorldModels, load_world


def add_world_options(parser: argparse.ArgumentParser, results: str) -> None:
    parser.add_argument("--world", type=Path, default=None, help="a pretrained world folder (default: the bundled one)")
    parser.add_argument("--seed", type=int, default=1, help="a tuning seed; the committed check uses 0 (default 1)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's own choice)")
    parser.add_argument("--out", type=Path, default=Path(results), help=f"JSON lines appended here (default {results})")


def world_from_options(args: argparse.Namespace) -> WorldModels:
    if args.threads:
        torch.set_num_threads(args.threads)
    return load_world(args.world) if args.world else load_world()


def log_row(out: Path, row: dict) -> None:
    """Print one result and append it to the results file, so that a run cut short keeps what it measured."""
    print(json.dumps(row), flush=True)
    with out.open("a") as results:
        results.write(json.dumps(row) + "\n")
