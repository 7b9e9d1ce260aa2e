"""Time one training step two ways on the same model and batch, and report the ratio.

(a) InterInv's full stage-2 step (AdaIN prior, cross-attention probe and L_CA, Adam on R);
(b) the bare minimum: text encoder fwd+bwd plus UNet fwd+bwd, gradients only into one input vector.
The comparison with the diffusers textual-inversion example is benchmarks/peer.py, which runs the real one.

    python benchmarks/step.py                      # tiny model on the CPU (target: a/b <= 1.15)
    python benchmarks/step.py --model sd15 --steps 3 --batch 1
    python benchmarks/step.py --model sd15 --cuda --batch 1 8   # also reports peak GPU memory
    python benchmarks/step.py --model sdxl --cuda --batch 1 --checkpointing off on   # SDXL shapes, 1024 px, bf16
    python benchmarks/step.py --model sdxl --steps 2 --rounds 1 --batch 1   # CPU: SDXL's layout, reduced, 256 px
    OMP_NUM_THREADS=1 python benchmarks/step.py --clock cpu    # on a shared machine: CPU time, not waiting
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "extension"))

from interinv.config import TrainConfig  # noqa: E402
from interinv.data.demo import write_demo_set  # noqa: E402
from interinv.data.exemplars import cached_latents, load_interaction  # noqa: E402
from interinv.hosts.diffusers_host import DiffusersHost  # noqa: E402
from interinv.job import Job  # noqa: E402
from interinv.core.noise import timestep_weights  # noqa: E402
from interinv.engine.stages import noisy_batch, train_stage2  # noqa: E402
from interinv.testing import sd15_shaped_pipeline, sdxl_shaped_pipeline, tiny_pipeline  # noqa: E402
from interinv.core.tokens import new_word  # noqa: E402


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}  # cpu: this process's CPU seconds, blind to load


class StepClock(Job):
    """Records the time of every step."""

    def __init__(self, now):
        self.now, self.times, self.last = now, [], None

    def begin(self, stage, total_steps, first_step):
        self.last = self.now()

    def update(self, stage, step, losses):
        now = self.now()
        self.times.append(now - self.last)
        self.last = now


def make_host(model: str, device: str, precision: str, seed: int = 0) -> tuple[DiffusersHost, int]:
    if model == "tiny":
        return DiffusersHost(tiny_pipeline(seed), family="sd1", device=device, precision=precision), 32
    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}.get(precision, torch.float32)
    if device == "cuda" and precision == "auto":
        dtype = torch.bfloat16
    if model == "sdxl":  # the full shape on a GPU (built there: random init of 2.6B weights is slow on a CPU)
        reduced = device != "cuda"
        with torch.device(device):
            pipe = sdxl_shaped_pipeline(seed, dtype, reduced=reduced)
        return DiffusersHost(pipe, device=device, precision=precision), 256 if reduced else 1024
    return DiffusersHost(sd15_shaped_pipeline(seed, dtype), family="sd1", device=device, precision=precision), 512


def bench_vectors(host, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """One random vector for every encoder of the host."""
    return {key: torch.randn(1, width, device=device) for key, width in host.embedding_dims.items()}


def time_full_step(host, data: Path, resolution: int, batch: int, steps: int, now) -> list[float]:
    """(a): the real stage-2 loop, timed per step by its Job."""
    cfg = TrainConfig(name="bench", resolution=resolution)
    cfg.stage2.steps, cfg.stage2.batch_size, cfg.stage2.save_every = steps + 1, batch, 0
    words = {role: new_word(f"bench_{role}", bench_vectors(host), 1, None) for role in ("p1", "p2")}
    clock = StepClock(now)
    with tempfile.TemporaryDirectory() as work:
        train_stage2(host, load_interaction(data / "exemplars").exemplars, words, cfg, workdir=Path(work), job=clock,
                     cache_dir=Path(work) / "latents")
    return clock.times[1:]  # the first step warms up


def time_bare_step(host, data: Path, resolution: int, batch: int, steps: int, now) -> list[float]:
    """(b): text encoder + UNet forward and backward, gradients only into one spliced vector."""
    paths = [e.image for e in load_interaction(data / "exemplars").exemplars]
    mean, _ = cached_latents(host, paths, (resolution, resolution), None)
    vectors = {key: torch.nn.Parameter(value) for key, value in bench_vectors(host, host.device).items()}
    generator, weights, times = torch.Generator().manual_seed(0), timestep_weights(1000, "uniform"), []
    x0 = mean[torch.arange(batch) % len(mean)]
    with host.training():
        for _ in range(steps + 1):
            start = now()
            x_t, t, target = noisy_batch(host, x0, generator, weights)
            cond = host.encode_prompts(["a man and bench_r a woman"] * batch, {"bench_r": vectors})
            F.mse_loss(host.predict(x_t, t, cond).float(), target.float()).backward()
            times.append(now() - start)
    return times[1:]


def interleaved(methods, host, data, resolution, batch, steps, now, rounds) -> dict[str, list[float]]:
    """Step times of each method, measured in alternating rounds so that changing machine load hits all alike."""
    times: dict[str, list[float]] = {}
    per_round = max(1, steps // rounds)
    for _ in range(rounds):
        for label, method in methods.items():
            times.setdefault(label, []).extend(method(host, data, resolution, batch, per_round, now))
    return times


def run(host: DiffusersHost, resolution: int, *, model: str, batch: int, steps: int, rounds: int, clock: str,
        checkpointing: bool) -> dict:
    device = host.device.type
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def now() -> float:
        sync()
        return CLOCKS[clock]()
    with tempfile.TemporaryDirectory() as folder:
        data = write_demo_set(Path(folder), count=6, singles=1)
        host.gradient_checkpointing = checkpointing
        result = {"model": model, "device": device, "batch": batch, "resolution": resolution, "clock": clock,
                  "gradient_checkpointing": checkpointing, "torch_threads": torch.get_num_threads()}
        if device == "cuda":
            result["card"] = torch.cuda.get_device_name()
            torch.cuda.reset_peak_memory_stats()
        methods = {"a_full": time_full_step, "b_bare": time_bare_step}
        times = interleaved(methods, host, data, resolution, batch, steps, now, rounds)
        if device == "cuda":
            result["peak_memory_gb_a_b"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        medians = {label: statistics.median(values) for label, values in times.items()}
    result.update({k: round(v, 5) for k, v in medians.items()})
    result["a_over_b"] = round(medians["a_full"] / medians["b_bare"], 3)
    result["a_steps_per_s"] = round(1.0 / medians["a_full"], 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=("tiny", "sd15", "sdxl"), default="tiny",
                        help="sdxl: SDXL base's shapes on a GPU, a reduced UNet and 2-layer encoders on the CPU")
    parser.add_argument("--cuda", action="store_true")
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "fp16", "bf16"))
    parser.add_argument("--batch", type=int, nargs="+", default=[8])
    parser.add_argument("--steps", type=int, default=20, help="timed steps per method (median reported)")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds the steps are split into")
    parser.add_argument("--clock", choices=tuple(CLOCKS), default="wall",
                        help="wall time, or this process's CPU time (steadier on a shared machine with 1 torch thread)")
    parser.add_argument("--checkpointing", choices=("off", "on"), nargs="+", default=["off"],
                        help="UNet gradient checkpointing, each setting measured in turn (default: off)")
    args = parser.parse_args()
    torch.manual_seed(0)
    host, resolution = make_host(args.model, "cuda" if args.cuda else "cpu", args.precision)
    for batch in args.batch:
        for setting in args.checkpointing:
            print(json.dumps(run(host, resolution, model=args.model, batch=batch, steps=args.steps, rounds=args.rounds,
                                 clock=args.clock, checkpointing=setting == "on")), flush=True)


if __name__ == "__main__":
    main()
