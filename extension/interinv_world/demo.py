"""`interinv demo`: our method on one held-out interaction of the pretrained world, in a few CPU minutes.

It runs the product's real path (prepare, both stages, export) and shows what the three words do:
a grid of prompt-only images against images with the learned words, on subject pairs never seen in
the exemplars, each judged by the world's interaction scorer.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from interinv.atomic import write_text_atomic
from interinv.errors import InterInvError
from interinv.formats.infotext import save_png
from interinv.hosts.base import Host
from interinv.job import Job
from interinv.engine.run import TrainRequest, run
from .bench import (BenchConfig, eval_prompts, image_grid, method_config, novel_pairs, render_method, score,
                    stage1_images, world_host, write_exemplars, write_vocabularies)
from .models import WorldModels
from .settings import DemoConfig


def run_demo(models: WorldModels, out: Path, cfg: DemoConfig, job: Job) -> dict:
    """Train ours on rendered exemplars, export the words, and compare against prompt-only."""
    interaction = demo_interaction(models, cfg)
    bench = BenchConfig(steps=cfg.steps, samples=cfg.samples, seed=cfg.seed)
    host = world_host(models)
    exemplars = write_exemplars(out / "data" / "exemplars", interaction, bench.exemplar_species, bench.exemplars,
                                cfg.seed, models.design.style)
    stage1 = stage1_images(host, exemplars, out / "data", bench, job)
    train = method_config("ours", bench, write_vocabularies(out / "data" / "vocab"))
    train.name = interaction
    request = TrainRequest(exemplars=exemplars, out=out, config=train, name=train.name, stage1_images=stage1,
                           work=out / "data" / "work")
    manifest = run(host, request, job).manifest
    vectors = _exported_vectors(host, out, train.name)
    pairs = [novel_pairs(bench.exemplar_species)[i % 15] for i in range(cfg.samples)]
    seeds = list(range(cfg.samples))
    rows, verdicts = [], {}
    for method, words in (("prompt", {}), ("ours", vectors)):
        images = render_method(host, eval_prompts(method, train, pairs), words, seeds, bench)
        hits = score(models, images, interaction, pairs)
        verdicts[method] = {k: float(v.float().mean()) for k, v in hits.items()}
        rows.append((images, hits["interaction"]))
    grid = out / "comparison.png"
    save_png(grid, _labelled(rows, ("prompt only", "with the learned words")))
    report = {"interaction": interaction, "manifest": str(manifest), "grid": str(grid), "pairs": pairs,
              "prompt_only": eval_prompts("prompt", train, pairs[:1])[0], "ours": eval_prompts("ours", train, pairs[:1])[0],
              "accuracy": verdicts}
    write_text_atomic(out / "demo.json", json.dumps(report, indent=1))
    return report


def demo_interaction(models: WorldModels, cfg: DemoConfig) -> str:
    """The interaction to learn: one the world holds out, since the words of a named one are already known."""
    held_out = models.design.plan.held_out
    if cfg.interaction and cfg.interaction not in held_out:
        raise InterInvError(f"--interaction '{cfg.interaction}': this world names it in its captions, so there is "
                            f"nothing to learn; choose a held-out one: {', '.join(held_out)}.")
    return cfg.interaction or models.design.plan.table[0]


def _exported_vectors(host: Host, out: Path, name: str) -> dict:
    """The words as exported: read back from the safetensors files, as a user would load them."""
    from interinv.formats.embedding_files import read_embedding
    from interinv.core.tokens import token_names

    return {word: read_embedding(out / f"{word}.safetensors").for_model(host.family, host.embedding_dims) for word in token_names(name).values()}


def _labelled(rows: list[tuple[torch.Tensor, torch.Tensor]], titles: tuple[str, ...]) -> Image.Image:
    """Rows of images with a title each, and a green (right) or red (wrong) bar under every image."""
    grid = image_grid([images for images, _ in rows])
    side, label_width, bar = grid.height // len(rows), 150, 4
    canvas = Image.new("RGB", (grid.width + label_width, grid.height + bar * len(rows)), "white")
    draw = ImageDraw.Draw(canvas)
    for row, ((images, hits), title) in enumerate(zip(rows, titles)):
        top = row * (side + bar)
        canvas.paste(grid.crop((0, row * side, grid.width, (row + 1) * side)), (label_width, top))
        draw.text((4, top + side // 2 - 6), f"{title}\n{int(hits.sum())}/{len(hits)} judged right", fill="black")
        for index, hit in enumerate(hits.tolist()):
            x = label_width + index * side
            draw.rectangle((x, top + side, x + side - 1, top + side + bar - 1), fill="green" if hit else "red")
    return canvas

