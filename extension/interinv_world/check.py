"""`interinv world check`: measure a pretrained world against the targets of a trustworthy instrument.

Four measurements, each on generations of the world's own pipeline:
- the gate: captions that name an interaction, judged by the interaction and species scorers;
- neutral faithfulness: under neutral captions, how often each interaction is drawn, against its share
  among the neutral training captions;
- scorer agreement: a second interaction scorer (other seed, other architecture) on the same images;
- inversion is possible: plain Textual Inversion of the tuning interaction against the neutral caption,
  on the exemplars' own subject pair, through the benchmark's machinery.
`interinv world pretrain` stores the same measurements in its metrics.json.
"""

from __future__ import annotations

import random
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch

from . import grammar, render
from .models import WorldModels
from .sampling import classify, sample_images

Log = Callable[[str], None]
CHECK_FILE = "check.json"  # in a world's folder: the last full `interinv world check` (pretrain writes it too)

# What a world must reach (issue 11); "min" targets are lower bounds, "max" upper bounds.
TARGETS = {
    "gate_interaction": ("min", 0.90),
    "gate_species": ("min", 0.85),
    "neutral_min_ratio": ("min", 0.60),
    "neutral_tv_distance": ("max", 0.20),
    "scorer_agreement": ("min", 0.90),
    "ti_ratio": ("min", 2.0),
    "ti_ci_separated": ("min", 1.0),
}


@dataclass
class CheckConfig:
    gate_samples: int = 300
    neutral_samples: int = 300
    guidance: float = 3.0
    sampling_steps: int = 20
    ti_steps: int = 400  # 0 skips the inversion measurement
    ti_lr: float = 5e-3  # the benchmark's rate, chosen on the tuning interaction
    ti_samples: int = 64
    bootstrap: int = 2000
    seed: int = 0


QUICK = CheckConfig(gate_samples=8, neutral_samples=8, sampling_steps=4, ti_steps=2, ti_samples=4, bootstrap=50)


def named_jobs(count: int, seed: int, named: tuple[str, ...]) -> list[tuple[str, tuple[str, str], str]]:
    """(interaction, species pair, caption) for captions that name one of the `named` interactions."""
    rng = random.Random(seed)
    jobs = []
    for _ in range(count):
        name, pair = rng.choice(named), (rng.choice(render.SPECIES), rng.choice(render.SPECIES))
        jobs.append((name, pair, grammar.pair_caption(rng, name, pair, True)))
    return jobs


def neutral_jobs(count: int, seed: int) -> list[tuple[tuple[str, str], str]]:
    """(species pair, caption) for neutral captions in the training phrasings."""
    rng = random.Random(seed)
    jobs = []
    for _ in range(count):
        pair = (rng.choice(render.SPECIES), rng.choice(render.SPECIES))
        jobs.append((pair, rng.choice(grammar.NEUTRAL).format(a=pair[0], b=pair[1])))
    return jobs


def measure_gate(models: WorldModels, cfg: CheckConfig) -> tuple[dict, torch.Tensor, list]:
    """Accuracy of interaction and species on generations of named captions; returns the images too."""
    jobs = named_jobs(cfg.gate_samples, cfg.seed + 2, models.design.plan.named)
    images = sample_images(models.pipe, [c for _, _, c in jobs], [cfg.seed * 100_000 + i for i in range(len(jobs))],
                           cfg.sampling_steps, cfg.guidance)
    verdict = classify(models, images)
    truth = torch.tensor([render.INTERACTIONS.index(name) for name, _, _ in jobs])
    hits = verdict["interaction"] == truth
    species = (verdict["species"] == torch.tensor([render.presence(p) for _, p, _ in jobs])).all(dim=1)
    per = {name: float(hits[[i for i, job in enumerate(jobs) if job[0] == name]].float().mean())
           for name in dict.fromkeys(job[0] for job in jobs)}
    gate = {"interaction_accuracy": float(hits.float().mean()), "species_set_accuracy": float(species.float().mean()),
            "chance": 1 / len(render.INTERACTIONS), "per_interaction": per, "samples": len(jobs),
            "guidance": cfg.guidance, "steps": cfg.sampling_steps}
    return gate, images, jobs


def measure_neutral(models: WorldModels, cfg: CheckConfig) -> tuple[dict, torch.Tensor, torch.Tensor]:
    """Histogram of the interactions drawn under neutral captions against the training captions' histogram."""
    plan = models.design.plan
    jobs = neutral_jobs(cfg.neutral_samples, cfg.seed + 3)
    seeds = [cfg.seed * 100_000 + 50_000 + i for i in range(len(jobs))]
    images = sample_images(models.pipe, [c for _, c in jobs], seeds, cfg.sampling_steps, cfg.guidance)
    drawn = classify(models, images)["interaction"]
    counts = torch.bincount(drawn, minlength=len(render.INTERACTIONS)).float()
    generated = (counts / counts.sum()).tolist()
    training = grammar.neutral_shares(plan)
    shares = dict(zip(render.INTERACTIONS, generated))
    ratios = {name: shares[name] / training[name] for name in plan.held_out}
    tv = 0.5 * sum(abs(shares[name] - training[name]) for name in render.INTERACTIONS)
    neutral = {"generated": shares, "training": training, "held_out_ratio": ratios,
               "min_ratio": min(ratios.values()), "tv_distance": tv, "samples": len(jobs)}
    return neutral, images, drawn


def scorer_agreement(models: WorldModels, images: torch.Tensor) -> dict:
    """Share of images on which the second interaction scorer names the same interaction as the first."""
    if models.second_scorer is None:
        return {"agreement": None, "samples": 0, "note": "this world has no second interaction scorer"}
    first = classify(models, images)["interaction"]
    second = classify(models, images, models.second_scorer)["interaction"]
    return {"agreement": float((first == second).float().mean()), "samples": len(images)}


def measure_inversion(models: WorldModels, cfg: CheckConfig, work: Path, log: Log) -> dict:
    """Plain TI of the tuning interaction on its exemplars, against the neutral caption, both rendered for the
    exemplars' own subject pair: if TI learns nothing here, no method comparison on this world means anything."""
    from interinv.job import Job
    from .bench import (BenchConfig, bootstrap_ci, eval_prompts, learn_words, method_config, render_method, score,
                        world_host, write_exemplars, write_vocabularies)

    interaction = models.design.plan.tuning
    bench = BenchConfig(steps=cfg.ti_steps, lr=cfg.ti_lr, samples=cfg.ti_samples, guidance=cfg.guidance,
                        sampling_steps=cfg.sampling_steps, seed=cfg.seed)
    host = world_host(models)
    folder = write_exemplars(work / "exemplars", interaction, bench.exemplar_species, bench.exemplars,
                             cfg.seed + render.INTERACTIONS.index(interaction), models.design.style)
    train = method_config("ti", bench, write_vocabularies(work / "vocab"))
    pairs = [tuple(bench.exemplar_species)] * cfg.ti_samples
    seeds = [cfg.seed * 100_000 + 90_000 + i for i in range(cfg.ti_samples)]
    rates = {}
    for method in ("prompt", "ti"):
        vectors = learn_words(host, method, folder, None, train, work / method, Job())
        images = render_method(host, eval_prompts(method, train, pairs), vectors, seeds, bench)
        hits = score(models, images, interaction, pairs)["interaction"]
        rates[method] = list(bootstrap_ci(hits, cfg.bootstrap, cfg.seed))
        log(f"inversion of {interaction}: {method} {rates[method][0]:.2f}")
    prompt, ti = rates["prompt"], rates["ti"]
    return {"interaction": interaction, "exemplar_pair": list(bench.exemplar_species), "steps": cfg.ti_steps,
            "lr": cfg.ti_lr, "samples": cfg.ti_samples, "prompt_only": prompt, "ti": ti,
            "ratio": ti[0] / max(prompt[0], 1 / cfg.ti_samples), "ci_separated": ti[1] > prompt[2]}


def measure(models: WorldModels, cfg: CheckConfig, log: Log = print, pictures: Path | None = None) -> dict:
    """Every measurement of the world by its own design, and its verdict against TARGETS; `pictures`: a folder for
    the PNGs."""
    log(f"gate: {cfg.gate_samples} generations of named captions")
    gate, gate_images, jobs = measure_gate(models, cfg)
    log(f"neutral: {cfg.neutral_samples} generations of neutral captions")
    neutral, neutral_images, drawn = measure_neutral(models, cfg)
    agreement = scorer_agreement(models, torch.cat([gate_images, neutral_images]))
    inversion = None
    if cfg.ti_steps > 0:
        with tempfile.TemporaryDirectory(prefix="interinv-check-") as work:
            inversion = measure_inversion(models, cfg, Path(work), log)
    values = {"gate_interaction": gate["interaction_accuracy"], "gate_species": gate["species_set_accuracy"],
              "neutral_min_ratio": neutral["min_ratio"], "neutral_tv_distance": neutral["tv_distance"],
              "scorer_agreement": agreement["agreement"],
              "ti_ratio": inversion["ratio"] if inversion else None,
              "ti_ci_separated": float(inversion["ci_separated"]) if inversion else None}
    if pictures is not None:
        write_pictures(pictures, models.design.style, gate_images, [j[0] for j in jobs], neutral_images, drawn, neutral)
    return {"gate": gate, "neutral": neutral, "scorer_agreement": agreement, "inversion": inversion,
            "targets": verdicts(values), "config": asdict(cfg)}


def verdicts(values: dict) -> dict:
    """{target: {value, bound, kind, met}}; a value of None (not measured) is not met."""
    out = {}
    for name, (kind, bound) in TARGETS.items():
        value = values.get(name)
        met = value is not None and (value >= bound if kind == "min" else value <= bound)
        out[name] = {"value": value, "kind": kind, "bound": bound, "met": met}
    return out


def table(result: dict) -> str:
    """The verdicts as a markdown table."""
    lines = ["| target | measured | required | met |", "|---|---|---|---|"]
    for name, row in result["targets"].items():
        value = "not measured" if row["value"] is None else f"{row['value']:.3f}"
        sign = ">=" if row["kind"] == "min" else "<="
        lines.append(f"| {name} | {value} | {sign} {row['bound']} | {'yes' if row['met'] else 'NO'} |")
    neutral = result["neutral"]
    lines += ["", "| held-out interaction | generated share | training share | ratio |", "|---|---|---|---|"]
    for name in neutral["held_out_ratio"]:
        lines.append(f"| {name} | {neutral['generated'][name]:.3f} | {neutral['training'][name]:.3f} | "
                     f"{neutral['held_out_ratio'][name]:.2f} |")
    if result["inversion"]:
        inv = result["inversion"]
        cell = lambda v: f"{v[0]:.2f} [{v[1]:.2f}, {v[2]:.2f}]"
        lines += ["", f"Inversion of {inv['interaction']} on {'/'.join(inv['exemplar_pair'])}: prompt only "
                  f"{cell(inv['prompt_only'])}, TI {cell(inv['ti'])} ({inv['steps']} steps, lr {inv['lr']})."]
    return "\n".join(lines) + "\n"


# --- pictures ----------------------------------------------------------------------------------------
def write_pictures(folder: Path, style: render.Style, gate_images: torch.Tensor, gate_names: list[str],
                   neutral_images: torch.Tensor, drawn: torch.Tensor, neutral: dict, per_row: int = 6) -> None:
    """docs/world/: for every interaction a row of fresh renders beside a row of generations (from named captions,
    or for a held-out interaction the neutral generations the scorer assigns to it), and the neutral histogram."""
    from interinv.formats.infotext import save_png
    from .bench import image_grid
    from .models import IMAGE_SIDE, pixels

    folder.mkdir(parents=True, exist_ok=True)
    blank = torch.full((3, IMAGE_SIDE, IMAGE_SIDE), 255, dtype=torch.uint8)
    for index, name in enumerate(render.INTERACTIONS):
        pairs = [(a, b) for a in render.SPECIES for b in render.SPECIES]
        renders = torch.stack([pixels(render.render_pair(10_000 + i, name, pairs[i % len(pairs)], IMAGE_SIDE, style).image)
                               for i in range(per_row)])
        if name in neutral["held_out_ratio"]:
            chosen = neutral_images[drawn == index]
        else:
            chosen = gate_images[[i for i, n in enumerate(gate_names) if n == name]]
        chosen = list(chosen[:per_row]) + [blank] * max(0, per_row - len(chosen))
        save_png(folder / f"{name}.png", image_grid([renders, torch.stack(chosen)]).resize(
            (per_row * IMAGE_SIDE * 2, 4 * IMAGE_SIDE), resample=0))
    save_png(folder / "neutral_histogram.png", histogram_chart(neutral))


def histogram_chart(neutral: dict, bar: int = 18, height: int = 220):
    """Bars of the training share (grey) and the generated share (blue) of every interaction."""
    from PIL import Image, ImageDraw

    names, top = list(render.INTERACTIONS), max(max(neutral["training"].values()), max(neutral["generated"].values()))
    width = 60 + len(names) * (2 * bar + 16)
    canvas = Image.new("RGB", (width, height + 110), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((8, 4), "neutral captions: training share (grey) vs generated share (blue)", fill="black")
    for i, name in enumerate(names):
        x = 50 + i * (2 * bar + 16)
        for k, (key, colour) in enumerate((("training", (150, 150, 150)), ("generated", (40, 90, 200)))):
            h = int(height * neutral[key][name] / top)
            draw.rectangle((x + k * bar, 20 + height - h, x + (k + 1) * bar - 2, 20 + height), fill=colour)
        label = name + (" *" if name in neutral["held_out_ratio"] else "")
        for j, line in enumerate((label[:9], label[9:18])):
            draw.text((x, height + 26 + 12 * j), line, fill="black")
    draw.text((8, height + 80), f"* held out; total-variation distance {neutral['tv_distance']:.2f}", fill="black")
    return canvas
