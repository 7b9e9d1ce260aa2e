"""`interinv world ...`: the shell over pretraining and the benchmark."""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from interinv.config import parse_settings, with_overrides
from interinv.errors import InterInvError
from .settings import METHODS, WEIGHTS_DIR


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def cmd_pretrain(args: argparse.Namespace) -> int:
    import torch

    from .pretrain import QUICK, PretrainConfig, pretrain

    base = dataclasses.replace(QUICK if args.quick else PretrainConfig(), seed=args.seed)
    cfg = with_overrides(base, parse_settings(args.set or []), "--set")
    torch.set_num_threads(args.threads or torch.get_num_threads())
    metrics = pretrain(Path(args.out), cfg, _log, Path(args.reuse) if args.reuse else None, args.device)
    print(json.dumps(metrics["sanity_gate"], indent=1))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    import torch

    from .check import QUICK, CheckConfig, measure, table
    from .models import load_world

    cfg = dataclasses.replace(QUICK if args.quick else CheckConfig(), seed=args.seed)
    torch.set_num_threads(args.threads or torch.get_num_threads())
    result = measure(load_world(Path(args.world), args.device), cfg, _log,
                     Path(args.pictures) if args.pictures else None)
    print(table(result))
    if args.json:
        from interinv.atomic import write_text_atomic

        write_text_atomic(Path(args.json), json.dumps(result, indent=1))
    return 0


def method_overrides(settings: list[str]) -> dict[str, dict]:
    """METHOD:KEY=VALUE settings as {method: {dotted key: value text}}, for interinv.config.with_overrides."""
    overrides: dict[str, dict] = {}
    for setting in settings:
        method, _, rest = setting.partition(":")
        if method not in METHODS:
            raise InterInvError(f"--override '{setting}': expected METHOD:FIELD=VALUE with METHOD one of {', '.join(METHODS)}"
                                ", e.g. ti:stage2.lr=0.05")
        overrides.setdefault(method, {}).update(parse_settings([rest], f"--override '{method}:'"))
    return overrides


def cmd_bench(args: argparse.Namespace) -> int:
    import torch

    from .bench import QUICK, BenchConfig, merge_bench_runs, run_bench
    from .models import load_world

    if args.merge:
        merge_bench_runs([Path(f) for f in args.merge], Path(args.out))
        print((Path(args.out) / "table.md").read_text(encoding="utf-8"))
        return 0

    cfg = dataclasses.replace(QUICK if args.quick else BenchConfig(), seed=args.seed)
    if args.interactions:
        cfg.interactions = tuple(args.interactions)
    if args.steps:
        cfg.steps = args.steps
    if args.samples:
        cfg.samples = args.samples
    if args.lr:
        cfg.lr = args.lr
    if args.methods:
        cfg.methods = tuple(args.methods)
    cfg.overrides = method_overrides(args.override or [])
    torch.set_num_threads(args.threads or torch.get_num_threads())
    world = load_world(Path(args.weights), args.device)
    if args.quick and not args.interactions:
        cfg.interactions = world.design.plan.table[:1]
    results = run_bench(world, Path(args.out), cfg, log=_log)
    print((Path(args.out) / "table.md").read_text(encoding="utf-8"))
    print(f"total {sum(results['timings_s'].values()):.0f} s; results in {args.out}")
    return 0


def add_world_commands(sub) -> None:
    text = "the interaction world: a small rendered world that measures quality on a CPU"
    world = sub.add_parser("world", help=text, description=text[0].upper() + text[1:] + ".")
    commands = world.add_subparsers(dest="world_command", required=True)
    text = "render the world and train its models (about an hour on 2 CPUs)"
    pretrain = commands.add_parser("pretrain", help=text, description=text[0].upper() + text[1:] + ".")
    pretrain.add_argument("--out", default=str(WEIGHTS_DIR), help="where the weights go (default: the bundled world)")
    pretrain.add_argument("--quick", action="store_true", help="a few steps of everything, a smoke test (default: off)")
    pretrain.add_argument("--seed", type=int, default=0, help="seed of the renders and the training (default 0)")
    pretrain.add_argument("--set", action="append", metavar="KEY=VALUE",
                          help="override a PretrainConfig field, e.g. unet_steps=3000, unet_channels=32,64,128, "
                               "held_out=kiss_hand,piggyback,pull_hand,back_to_back or style.backdrop=studio "
                               "(repeatable; default: none)")
    pretrain.add_argument("--device", default="cpu", help="torch device to train on, e.g. cuda (default: cpu)")
    pretrain.add_argument("--threads", type=int, help="torch CPU threads (default: torch's own choice)")
    pretrain.add_argument("--reuse", help="an earlier run's folder (same seed): keep its VAE, and its scorers if "
                          "it has a scorers/ folder (default: none)")
    pretrain.set_defaults(run=cmd_pretrain)
    text = "measure a pretrained world against its targets and print a table"
    check = commands.add_parser("check", help=text, description=text[0].upper() + text[1:] + ".")
    check.add_argument("--world", default=str(WEIGHTS_DIR),
                       help="a folder written by 'interinv world pretrain' (default: the bundled world)")
    check.add_argument("--quick", action="store_true",
                       help="a few images of each measurement, checks the path only (default: off)")
    check.add_argument("--json", help="write every measurement and verdict to this JSON file (default: none)")
    check.add_argument("--pictures", help="write renders beside generations and the neutral histogram as PNGs here "
                                          "(default: none)")
    check.add_argument("--seed", type=int, default=0, help="seed of the measurements (default 0)")
    check.add_argument("--device", default="cpu", help="torch device, e.g. cuda (default: cpu)")
    check.add_argument("--threads", type=int, help="torch CPU threads (default: torch's own choice)")
    check.set_defaults(run=cmd_check)
    text = "compare the methods on the held-out interactions"
    bench = commands.add_parser("bench", help=text, description=text[0].upper() + text[1:] + ".")
    bench.add_argument("--weights", default=str(WEIGHTS_DIR),
                       help="a folder written by 'interinv world pretrain' (default: the bundled world)")
    bench.add_argument("--out", default="world-bench", help="output folder (default: world-bench)")
    bench.add_argument("--quick", action="store_true",
                       help="one interaction, a few steps: checks the pipeline only (default: off)")
    bench.add_argument("--seed", type=int, default=0, help="seed of the exemplars, training and samples (default 0)")
    bench.add_argument("--interactions", nargs="+", help="held-out interactions to run (default: the table's)")
    bench.add_argument("--methods", nargs="+", choices=METHODS, help="methods to compare (default: all)")
    bench.add_argument("--steps", type=int, help="optimizer steps per method (default 400)")
    bench.add_argument("--samples", type=int, help="evaluation images per method and interaction (default 64)")
    bench.add_argument("--lr", type=float, help="learning rate of both stages (default 5e-3)")
    bench.add_argument("--device", default="cpu", help="torch device, e.g. cuda (default: cpu)")
    bench.add_argument("--threads", type=int, help="torch CPU threads (default: torch's own choice)")
    bench.add_argument("--merge", nargs="+", metavar="RUN_DIR",
                       help="instead of running: pool finished runs on different interactions into one table in --out "
                            "(default: off)")
    bench.add_argument("--override", action="append", metavar="METHOD:FIELD=VALUE",
                       help="a TrainConfig option of one method by its dotted key, e.g. ti:stage2.lr=0.05 "
                            "(repeatable; default: none)")
    bench.set_defaults(run=cmd_bench)
