"""What the export previews cost next to training, on the tiny model: seconds per training step (both stages, the
default batch; the median step) against the three preview sidecars, at the training resolution with
`preview_steps`, and at the old fixed 512 px. The ratio is to a training of the default step counts (1000 + 2000).

    python benchmarks/previews.py                  # 64 px, 20 training steps per stage timed
    python benchmarks/previews.py --resolution 128 --steps 40
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "extension"))

from interinv.config import TrainConfig  # noqa: E402
from interinv.data.demo import write_demo_set  # noqa: E402
from interinv.export import PreviewSettings, write_previews  # noqa: E402
from interinv.data.exemplars import load_interaction  # noqa: E402
from interinv.job import Job  # noqa: E402
from interinv.testing import tiny_host  # noqa: E402
from interinv.engine.run import TrainRequest, export_info, run  # noqa: E402
from interinv.core.tokens import new_word  # noqa: E402


class StepClock(Job):
    """The wall time of every training step after each stage's first."""

    def __init__(self):
        self.times, self.last = [], None

    def begin(self, stage, total_steps, first_step):
        self.last = None

    def update(self, stage, step, losses):
        now = time.perf_counter()
        if self.last is not None:
            self.times.append(now - self.last)
        self.last = now


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20, help="training steps timed per stage")
    args = parser.parse_args()
    host, defaults = tiny_host(), TrainConfig()
    with tempfile.TemporaryDirectory() as tmp:
        data = write_demo_set(Path(tmp) / "demo", count=4, singles=3)
        cfg = TrainConfig(name="bench", resolution=args.resolution)
        for stage in (cfg.stage1, cfg.stage2):
            stage.steps, stage.save_every = args.steps, 0
        request = TrainRequest(exemplars=data / "exemplars", out=Path(tmp) / "out", config=cfg, name=cfg.name,
                               stage1_images=data / "stage1", previews=False)
        clock = StepClock()
        run(host, request, clock)
        info = export_info(load_interaction(data / "exemplars"), cfg)
        words = {role: new_word(f"bench_{role}", {"clip_l": host.token_rows(["a"])["clip_l"][0][0]}, 1, None)
                 for role in ("p1", "r", "p2")}
        settings = {"new": PreviewSettings(steps=cfg.preview_steps, size=cfg.resolution),
                    "old": PreviewSettings(steps=20, size=512)}
        previews = {name: seconds(lambda s=s: write_previews(Path(tmp) / "out", words, host, info, s))
                    for name, s in settings.items()}
    per_step = statistics.median(clock.times)
    default_train = per_step * (defaults.stage1.steps + defaults.stage2.steps)
    print(json.dumps({
        "resolution": args.resolution, "batch": defaults.stage1.batch_size, "steps_timed": len(clock.times),
        "train_s_per_step": round(per_step, 4), "default_training_s": round(default_train, 1),
        "previews_s": {name: round(value, 2) for name, value in previews.items()},
        "preview_over_default_training": {name: round(value / default_train, 4) for name, value in previews.items()},
    }, indent=1))


if __name__ == "__main__":
    main()
