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
import tempfile
import time
from pathlib import Path

from interinv.errors import InterInvError
from interinv_world.check import CheckConfig, measure_inversion
from world_runs import add_world_options, log_row, world_from_options


def parse_setting(text: str) -> tuple[int, float]:
    """STEPS:LR, e.g. 400:5e-3."""
    try:
        steps, lr = text.split(":")
        return int(steps), float(lr)
    except ValueError:
        raise InterInvError(f"--setting '{text}': expected STEPS:LR, e.g. 400:5e-3.") from None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_world_options(parser, "world-inversion.jsonl")
    parser.add_argument("--setting", action="append", type=parse_setting, required=True, help="STEPS:LR (repeatable)")
    parser.add_argument("--samples", type=int, default=CheckConfig.ti_samples)
    args = parser.parse_args()
    models = world_from_options(args)
    for steps, lr in args.setting:
        cfg = dataclasses.replace(CheckConfig(), ti_steps=steps, ti_lr=lr, ti_samples=args.samples, seed=args.seed)
        started = time.time()
        with tempfile.TemporaryDirectory() as work:
            result = measure_inversion(models, cfg, Path(work), print)
        log_row(args.out, {"seed": args.seed, **result, "wall_s": round(time.time() - started, 1)})


if __name__ == "__main__":
    main()
