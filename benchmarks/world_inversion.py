"""Plain TI of a world's tuning interaction at several step budgets and learning rates (docs/world.md, O1).

Each setting runs `world check`'s own inversion measurement (exemplars, prompt-only and TI on the exemplars'
subject pair, bootstrap intervals), so its numbers are the ones the `ti_ratio` target reads. Choose settings with
a tuning seed (--seed 1 and up); the committed check uses seed 0.

    python benchmarks/world_inversion.py --seed 1 --setting 400:5e-3 --setting 400:2e-2 --setting 1200:2e-2

Results are printed and appended as JSON lines to --out.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

import torch

from interinv.errors import InterInvError
from interinv_world.check import CheckConfig, measure_inversion
from interinv_world.models import load_world


def parse_setting(text: str) -> tuple[int, float]:
    """STEPS:LR, e.g. 400:5e-3."""
    try:
        steps, lr = text.split(":")
        return int(steps), float(lr)
    except ValueError:
        raise InterInvError(f"--setting '{text}': expected STEPS:LR, e.g. 400:5e-3.") from None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", type=Path, default=None, help="a pretrained world folder (default: the bundled one)")
    parser.add_argument("--seed", type=int, default=1, help="seed of exemplars, training and samples (default 1)")
    parser.add_argument("--setting", action="append", type=parse_setting, required=True, help="STEPS:LR (repeatable)")
    parser.add_argument("--samples", type=int, default=CheckConfig.ti_samples)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=Path("world-inversion.jsonl"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    models = load_world(args.world) if args.world else load_world()
    for steps, lr in args.setting:
        cfg = dataclasses.replace(CheckConfig(), ti_steps=steps, ti_lr=lr, ti_samples=args.samples, seed=args.seed)
        started = time.time()
        with tempfile.TemporaryDirectory() as work:
            result = measure_inversion(models, cfg, Path(work), print)
        row = {"seed": args.seed, **result, "wall_s": round(time.time() - started, 1)}
        print(json.dumps(row))
        with args.out.open("a") as out:
            out.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
