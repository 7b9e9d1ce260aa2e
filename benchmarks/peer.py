"""InterInv against the real diffusers textual-inversion example, side by side on the same model and data.

The peer is diffusers' own `examples/textual_inversion/textual_inversion.py`, run unchanged as a subprocess.
It is not in the diffusers wheel: take it from the diffusers repository at the tag of the installed diffusers
(diffusers 0.42.1 -> tag v0.42.1) and pass its path. It needs `accelerate`, which InterInv does not: that is a
requirement of this benchmark only.

    git clone --depth 1 --branch v$(python -c "import diffusers; print(diffusers.__version__)") \\
        https://github.com/huggingface/diffusers /tmp/diffusers
    pip install accelerate
    python benchmarks/peer.py --script /tmp/diffusers/examples/textual_inversion/textual_inversion.py

Both tools train one Stable Diffusion saved to disk once (`--model tiny`: the test bed's tiny model with the real
CLIP tokenizer; `sd15`: SD1.5 shapes, random weights), on the same exemplar images, at the same resolution and
batch size, for the same number of optimizer steps (ours: half in stage 1 on single-subject images, half in stage 2
on the exemplars). Each run is a new process that loads the model from disk, offline (HF_HUB_OFFLINE=1), and
ends with its files written (ours: the three embeddings, manifest and previews; the peer: learned_embeds).

The two tools run in turn, in rounds, so that changing machine load hits both alike. End-to-end time is a run's wall
time from process start to exit, start-up included. Per-step time is read from the run's own progress bars (both
use tqdm: the peer's "Steps", our "stage1" and "stage2"): the time between the bar's updates, as they arrive, over the
steps they cover, leaving out the first step of each bar (warm-up). CPU seconds of each run are reported as well:
on a shared machine they are steadier than wall time. Ratios are peer / ours: above 1, ours is faster.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

EXTENSION = Path(__file__).resolve().parents[1] / "extension"
sys.path.insert(0, str(EXTENSION))

MODELS = {"tiny": 32, "sd15": 512}  # model -> training resolution


def write_model(kind: str, folder: Path) -> Path:
    """The benchmark's model, saved as a diffusers folder."""
    from interinv.testing import sd15_shaped_pipeline, tiny_pipeline

    (tiny_pipeline(seed=0) if kind == "tiny" else sd15_shaped_pipeline(seed=0)).save_pretrained(folder)
    return folder


def write_data(folder: Path) -> tuple[Path, Path, Path]:
    """Exemplars (with interaction.json), stage-1 images, and a folder of only the exemplar images for the peer."""
    from interinv.data.demo import write_demo_set

    data = write_demo_set(folder, count=6, singles=4)
    images = folder / "peer-images"  # the peer opens every file of its folder as an image
    images.mkdir()
    for path in sorted((data / "exemplars").glob("*.png")):
        if not path.name.endswith(".mask.png"):
            shutil.copy(path, images / path.name)
    return data / "exemplars", data / "stage1", images


def ours_command(model: Path, exemplars: Path, stage1: Path, out: Path, steps: int, args) -> list[str]:
    device = ["--device", "cuda", "--precision", "bf16"] if args.cuda else ["--device", "cpu"]
    return [sys.executable, "-m", "interinv.cli", "train", str(exemplars), "--model", str(model), "--family", "sd1",
            "--out", str(out), "--stage1-images", str(stage1), "--resolution", str(args.resolution),
            "--steps1", str(steps // 2), "--steps2", str(steps - steps // 2), "--batch-size", str(args.batch),
            "--save-every", "0", *device]


def peer_command(model: Path, images: Path, out: Path, steps: int, args) -> list[str]:
    precision = ["--mixed_precision", "bf16"] if args.cuda else []
    return [args.peer_python, str(args.script), "--pretrained_model_name_or_path", str(model),
            "--train_data_dir", str(images), "--placeholder_token", "<bench>", "--initializer_token", "person",
            "--resolution", str(args.resolution), "--train_batch_size", str(args.batch), "--max_train_steps", str(steps),
            "--save_steps", str(steps + 1), "--checkpointing_steps", str(steps + 1), "--seed", "0",
            "--output_dir", str(out), *precision]


# a tqdm bar's update: "stage1:  40%|####      | 4/10 [00:01<00:02, 3.1it/s, loss=...]"
BAR = re.compile(rb"(Steps|stage1|stage2):\s+\d+%\|[^|]*\|\s*(\d+)/(\d+) \[")


@dataclass
class Run:
    wall_s: float  # process start to exit
    cpu_s: float  # user + system time of the process and its children
    step_s: float  # wall time per step, from the progress bars


def timed(command: list[str], env: dict, log: Path) -> Run:
    """Run one training, timing its progress-bar updates as they arrive; a failed run stops the benchmark."""
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    updates: dict[bytes, list[tuple[float, int]]] = {}  # bar -> (arrival time, steps done)
    pending = b""
    with open(log, "wb") as output:
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        while chunk := os.read(process.stdout.fileno(), 65536):
            now = time.perf_counter()
            output.write(chunk)
            *pieces, pending = re.split(rb"[\r\n]", pending + chunk)
            for piece in pieces:
                if (match := BAR.search(piece)) and int(match[2]) >= 1:  # the first step warms up
                    updates.setdefault(match[1], []).append((now, int(match[2])))
        code = process.wait()
    wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
    if code != 0:
        sys.exit(f"{command[1]} exited with {code}; the end of {log}:\n" + log.read_text(errors="replace")[-3000:])
    spans = [(points[-1][0] - points[0][0], points[-1][1] - points[0][1]) for points in updates.values()]
    seconds, steps = sum(s for s, _ in spans), sum(n for _, n in spans)
    if not steps:
        sys.exit(f"{command[1]} showed no progress bar to time its steps by; see {log}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(wall, cpu, seconds / steps)


def child_env(cuda: bool) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(EXTENSION), os.environ.get("PYTHONPATH"))))
    if not cuda:
        env["CUDA_VISIBLE_DEVICES"] = ""  # accelerate would take a GPU it finds
    return env


def summary(runs: dict[str, list[Run]], steps: int) -> dict:
    """Medians per tool (and what is not steps: start-up, data, export), and the peer/ours ratios."""
    result = {tool: {field: round(statistics.median(getattr(r, field) for r in tool_runs), 4)
                     for field in ("wall_s", "cpu_s", "step_s")} for tool, tool_runs in runs.items()}
    for tool in result.values():
        tool["not_steps_s"] = round(tool["wall_s"] - steps * tool["step_s"], 2)
    ours, peer = result["ours"], result["peer"]
    result["peer_over_ours"] = {"per_step": round(peer["step_s"] / ours["step_s"], 3),
                                "end_to_end": round(peer["wall_s"] / ours["wall_s"], 3),
                                "end_to_end_cpu": round(peer["cpu_s"] / ours["cpu_s"], 3)}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--script", type=Path, required=True,
                        help="diffusers' examples/textual_inversion/textual_inversion.py, from the installed version's tag")
    parser.add_argument("--peer-python", default=sys.executable, help="the Python that runs the peer (needs accelerate)")
    parser.add_argument("--model", choices=tuple(MODELS), default="tiny")
    parser.add_argument("--cuda", action="store_true", help="both on the GPU in bf16 (default: both on the CPU in fp32)")
    parser.add_argument("--resolution", type=int, help="training side in pixels (default: 32 tiny, 512 sd15)")
    parser.add_argument("--batch", type=int, default=8, help="samples per optimizer step (default 8)")
    parser.add_argument("--steps", type=int, default=100, help="optimizer steps per run (default 100)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of one run of each tool (default 3)")
    args = parser.parse_args()
    if not args.script.is_file():
        sys.exit(f"--script '{args.script}' is not a file: pass diffusers' examples/textual_inversion/textual_inversion.py")
    args.resolution = args.resolution or MODELS[args.model]
    env = child_env(args.cuda)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        model = write_model(args.model, work / "model")
        exemplars, stage1, images = write_data(work / "data")
        commands = {"ours": lambda out, n: ours_command(model, exemplars, stage1, out, n, args),
                    "peer": lambda out, n: peer_command(model, images, out, n, args)}
        runs: dict[str, list[Run]] = {tool: [] for tool in commands}
        load = [os.getloadavg()[0]]
        for round_no in range(args.rounds):
            for tool, command in commands.items():
                out = work / f"{tool}-{round_no}"
                runs[tool].append(timed(command(out, args.steps), env, work / f"{tool}.log"))
                shutil.rmtree(out, ignore_errors=True)  # every run starts cold, without the last one's caches
            load.append(os.getloadavg()[0])
    import diffusers

    result = {"model": args.model, "device": "cuda" if args.cuda else "cpu", "resolution": args.resolution,
              "batch": args.batch, "steps": args.steps, "rounds": args.rounds, "cpus": os.cpu_count(),
              "load_1min": [round(x, 2) for x in load], "diffusers": diffusers.__version__,
              "script_sha256": hashlib.sha256(args.script.read_bytes()).hexdigest()[:16], **summary(runs, args.steps)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
