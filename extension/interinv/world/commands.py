"""`interinv world ...`: the shell over pretraining and the benchmark."""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch

from .models import WEIGHTS_DIR


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def cmd_pretrain(args: argparse.Namespace) -> int:
    from .pretrain import QUICK, PretrainConfig, pretrain

    cfg = dataclasses.replace(QUICK if args.quick else PretrainConfig(), seed=args.seed)
    if args.unet_steps:
        cfg.unet_steps = args.unet_steps
    torch.set_num_threads(args.threads or torch.get_num_threads())
    metrics = pretrain(Path(args.out), cfg, _log, Path(args.reuse) if args.reuse else None)
    print(json.dumps(metrics["sanity_gate"], indent=1))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import QUICK, TABLE, BenchConfig, run_bench
    from .models import load_world

    cfg = dataclasses.replace(QUICK if args.quick else BenchConfig(), seed=args.seed)
    if args.interactions:
        cfg.interactions = tuple(args.interactions)
    elif args.quick:
        cfg.interactions = TABLE[:1]
    if args.steps:
        cfg.steps = args.steps
    if args.samples:
        cfg.samples = args.samples
    if args.lr:
        cfg.lr = args.lr
    if args.methods:
        cfg.methods = tuple(args.methods)
    results = run_bench(load_world(Path(args.weights)), Path(args.out), cfg, log=_log)
    print((Path(args.out) / "table.md").read_text(encoding="utf-8"))
    print(f"total {sum(results['timings_s'].values()):.0f} s; results in {args.out}")
    return 0


def add_world_commands(sub) -> None:
    from .bench import METHODS

    world = sub.add_parser("world", help="the interaction world: a small rendered world that measures quality on a CPU")
    commands = world.add_subparsers(dest="world_command", required=True)
    pretrain = commands.add_parser("pretrain", help="render the world and train its models (about an hour on 2 CPUs)")
    pretrain.add_argument("--out", default=str(WEIGHTS_DIR))
    pretrain.add_argument("--quick", action="store_true", help="a few steps of everything (a smoke test)")
    pretrain.add_argument("--seed", type=int, default=0)
    pretrain.add_argument("--unet-steps", type=int, help="override the text encoder + UNet steps")
    pretrain.add_argument("--threads", type=int, help="torch CPU threads")
    pretrain.add_argument("--reuse", help="an earlier run's folder (same seed): keep its VAE and scorers")
    pretrain.set_defaults(run=cmd_pretrain)
    bench = commands.add_parser("bench", help="compare the methods on the held-out interactions")
    bench.add_argument("--weights", default=str(WEIGHTS_DIR), help="a folder written by 'interinv world pretrain'")
    bench.add_argument("--out", default="world-bench")
    bench.add_argument("--quick", action="store_true", help="one interaction, a few steps: checks the pipeline only")
    bench.add_argument("--seed", type=int, default=0)
    bench.add_argument("--interactions", nargs="+")
    bench.add_argument("--methods", nargs="+", choices=METHODS)
    bench.add_argument("--steps", type=int, help="optimizer steps per method")
    bench.add_argument("--samples", type=int, help="evaluation images per method and interaction")
    bench.add_argument("--lr", type=float)
    bench.set_defaults(run=cmd_bench)
