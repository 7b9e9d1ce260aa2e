"""Where one training step spends its time: torch.profiler over the real stage-1 and stage-2 loops.

Each step is one profiler step. The parts of the step are labelled (record_function) by wrapping the host's
methods and the stage module's helpers, so the table shows our own pieces (tokenising and encoding the prompts,
the UNet, the probe, the loss) next to the top torch operators and the host syncs (aten::item,
aten::_local_scalar_dense) they cause.

    python benchmarks/profile_step.py                           # tiny model on the CPU
    python benchmarks/profile_step.py --model sd15 --steps 1 --batch 1 --resolution 256   # a CPU-sized run
"""

from __future__ import annotations

import argparse
import functools
import sys
import tempfile
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile, record_function, schedule

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "extension"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from step import make_host  # noqa: E402
from interinv.engine import stages  # noqa: E402
from interinv.config import TrainConfig  # noqa: E402
from interinv.data.demo import write_demo_set  # noqa: E402
from interinv.data.exemplars import load_interaction, load_subject_images  # noqa: E402
from interinv.job import Job  # noqa: E402
from interinv.core.tokens import new_word  # noqa: E402

HOST_PARTS = ("encode_prompts", "token_positions", "predict")  # Host methods a step calls
STAGE_PARTS = ("draw_captions", "sample_latents", "noisy_batch", "denoising_mse", "attention_loss",
               "cross_attention_loss", "relation_target", "steering_term")  # helpers the stage module calls by name
SYNC_OPS = ("aten::item", "aten::_local_scalar_dense")


class ProfilerSteps(Job):
    """Advances the profiler's schedule once per training step."""

    def __init__(self, profiler):
        self.profiler = profiler

    def update(self, stage, step, losses):
        self.profiler.step()


def labelled(function, label: str):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with record_function(label):
            return function(*args, **kwargs)
    return wrapper


def label_parts(host) -> list[str]:
    """Wrap the step's parts in record_function ranges; the names found (the code may have moved on)."""
    found = []
    for name in HOST_PARTS:
        if hasattr(host, name):
            setattr(host, name, labelled(getattr(host, name), f"host.{name}"))
            found.append(f"host.{name}")
    for name in STAGE_PARTS:
        if hasattr(stages, name):
            setattr(stages, name, labelled(getattr(stages, name), f"stages.{name}"))
            found.append(f"stages.{name}")
    return found


def profile_stage(stage: str, host, data: Path, cfg: TrainConfig, steps: int):
    """Profile `steps` steps of one stage after one warm-up step (stage 2 on random pose words)."""
    getattr(cfg, stage).steps, getattr(cfg, stage).save_every = steps + 1, 0
    interaction = load_interaction(data / "exemplars")
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if host.device.type == "cuda" else [])
    with tempfile.TemporaryDirectory() as work, profile(activities=activities,
                                                         schedule=schedule(wait=0, warmup=1, active=steps, repeat=1),
                                                         acc_events=True) as profiler:
        job, cache = ProfilerSteps(profiler), Path(work) / "latents"
        if stage == "stage1":
            subjects = dict(zip(("p1", "p2"), interaction.exemplars[0].subjects))
            stages.train_stage1(host, load_subject_images(data / "stage1", subjects), cfg, workdir=Path(work), job=job,
                                cache_dir=cache)
        else:
            poses = {role: new_word(f"bench_{role}", {key: torch.randn(width) for key, width in host.embedding_dims.items()},
                                    1, None) for role in ("p1", "p2")}
            stages.train_stage2(host, interaction.exemplars, poses, cfg, workdir=Path(work), job=job, cache_dir=cache)
    return profiler.key_averages()


def report(stage: str, averages, parts: list[str], steps: int, rows: int) -> str:
    """Markdown: the step and our labelled parts, the top operators by self time, and the host syncs, per step."""
    ms = lambda us: f"{us / steps / 1000:.2f}"  # noqa: E731 - microseconds over all steps -> ms per step
    by_key = {e.key: e for e in averages}
    step = next(e for e in averages if e.key.startswith("ProfilerStep"))
    device = any(e.self_device_time_total for e in averages)
    lines = [f"### {stage}: {ms(step.cpu_time_total)} ms per step (CPU), {steps} profiled steps", "",
             "| part (ours) | calls/step | CPU ms/step, inclusive | share of the step |", "|---|---|---|---|",
             f"| Python outside the labelled parts and operators | | {ms(step.self_cpu_time_total)} | "
             f"{step.self_cpu_time_total / step.cpu_time_total:.0%} |"]
    for name in sorted((n for n in parts if n in by_key), key=lambda n: -by_key[n].cpu_time_total):
        e = by_key[name]
        lines.append(f"| {name} | {e.count / steps:g} | {ms(e.cpu_time_total)} | {e.cpu_time_total / step.cpu_time_total:.0%} |")
    lines += ["", "| top operators by self time | calls/step | self CPU ms/step |" + (" self device ms/step |" if device else ""),
              "|---|---|---|" + ("---|" if device else "")]
    operators = [e for e in averages if e.key not in parts and not e.key.startswith("ProfilerStep")]
    for e in sorted(operators, key=lambda e: -e.self_cpu_time_total)[:rows]:
        lines.append(f"| {e.key} | {e.count / steps:g} | {ms(e.self_cpu_time_total)} |"
                     + (f" {ms(e.self_device_time_total)} |" if device else ""))
    syncs = {name: by_key[name].count / steps for name in SYNC_OPS if name in by_key}
    lines += ["", f"host syncs per step: {syncs or 'none'}", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=("tiny", "sd15"), default="tiny")
    parser.add_argument("--cuda", action="store_true")
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "fp16", "bf16"))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--resolution", type=int, help="training side in pixels (default: 32 tiny, 512 sd15)")
    parser.add_argument("--steps", type=int, default=10, help="profiled steps per stage, after one warm-up step")
    parser.add_argument("--rows", type=int, default=12, help="operators listed per stage")
    args = parser.parse_args()
    torch.manual_seed(0)
    host, resolution = make_host(args.model, "cuda" if args.cuda else "cpu", args.precision)
    parts = label_parts(host)
    cfg = TrainConfig(name="bench", resolution=args.resolution or resolution)
    cfg.stage1.batch_size = cfg.stage2.batch_size = args.batch
    with tempfile.TemporaryDirectory() as folder:
        data = write_demo_set(Path(folder), count=6, singles=4)
        for stage in ("stage1", "stage2"):
            print(report(stage, profile_stage(stage, host, data, cfg, args.steps), parts, args.steps, args.rows),
                  flush=True)


if __name__ == "__main__":
    main()
