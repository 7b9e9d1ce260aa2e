"""`interinv world bench`: does inversion learn a held-out interaction? Seven methods, same budget, same seeds.

For each held-out interaction, exemplars of one subject pair are rendered with their pose JSON and
masks; each method learns its words through the real engine (prepare, stage 1, stage 2) on the
pretrained world; then every method renders the same novel subject pairs with the same seeds, and
the world's scorers judge the interaction and the two species.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

from interinv.atomic import write_text_atomic
from interinv.config import TrainConfig, with_overrides
from interinv.errors import InterInvError
from interinv.data.contact_sheet import contact_sheet
from interinv.data.exemplars import fill_template
from interinv.engine.run import TrainRequest, run
from interinv.formats.infotext import save_png
from interinv.formats.interaction_file import InteractionFile, write_interaction_file
from interinv.hosts.base import Host
from interinv.job import Job
from interinv.data.masks import union_mask, write_mask
from interinv.data.pose import write_openpose_json
from interinv.core.tokens import token_names
from . import grammar, render
from .models import IMAGE_SIDE, WorldModels
from .prompts import WORLD_BANK
from .settings import METHOD_TITLES, METHODS, RELATION_ONLY
from .sampling import classify

Log = Callable[[str], None]


@dataclass
class BenchConfig:
    interactions: tuple[str, ...] = ()  # default: the world's table interactions (held out, not for tuning)
    methods: tuple[str, ...] = METHODS
    exemplars: int = 8  # renders of one subject pair per interaction
    exemplar_species: tuple[str, str] = ("person", "person")
    steps: int = 400  # optimizer steps per method; ours splits them evenly over its two stages
    batch_size: int = 8
    lr: float = 5e-3  # tuned on back_to_back: 2e-3..5e-2 tie; from 2e-2 TI vectors reach 10x the vocabulary norm
    stage1_per_subject: int = 8  # ControlNet stage-1 images per subject of each exemplar
    samples: int = 64  # evaluation images per method and interaction
    guidance: float = 3.0
    sampling_steps: int = 20
    bootstrap: int = 2000  # resamples of the 95% confidence intervals
    seed: int = 0
    overrides: dict = field(default_factory=dict)  # per-method dotted TrainConfig keys, e.g. {"ti": {"stage2.lr": 5e-2}}


QUICK = BenchConfig(methods=METHODS, exemplars=2, steps=4, batch_size=2, stage1_per_subject=1, samples=4,
                    sampling_steps=2, bootstrap=50)


# --- data --------------------------------------------------------------------------------------------
def write_exemplars(folder: Path, interaction: str, species: tuple[str, str], count: int, seed: int,
                    style: render.Style) -> Path:
    """Renders of one interaction in the world's style with their pose JSON, masks and interaction.json: a real
    exemplar folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        scene = render.render_pair(seed * 1000 + index, interaction, species, IMAGE_SIDE, style)
        stem = folder / f"{index:02d}"
        save_png(stem.with_suffix(".png"), scene.image)
        write_openpose_json(stem.with_suffix(".json"), render.pose_image(scene))
        write_mask(folder / f"{index:02d}.mask.png", union_mask(list(scene.masks)))
    write_interaction_file(folder, InteractionFile(name=interaction, subjects=species,
                                                   description=grammar.neutral_caption(species)))
    return folder


def write_vocabularies(folder: Path) -> tuple[str, str]:
    """The world's verb and preposition lists as vocabulary files for the priors."""
    paths = []
    for name, words in (("world_verbs", grammar.VERBS), ("world_prepositions", grammar.PREPOSITIONS)):
        path = folder / f"{name}.txt"
        write_text_atomic(path, "# the interaction world's grammar\n" + "\n".join(words) + "\n")
        paths.append(str(path))
    return paths[0], paths[1]


def novel_pairs(exemplar_species: tuple[str, str]) -> list[tuple[str, str]]:
    """Every ordered species pair except the exemplars' own."""
    return [(a, b) for a in render.SPECIES for b in render.SPECIES if (a, b) != tuple(exemplar_species)]


# --- methods -----------------------------------------------------------------------------------------
def method_config(method: str, cfg: BenchConfig, vocab: tuple[str, str]) -> TrainConfig:
    """The engine's settings of one method."""
    train = TrainConfig(name=f"w_{method}", resolution=IMAGE_SIDE)
    train.prior.verbs, train.prior.prepositions = vocab
    train.probe.side = 8  # the world UNet's finest cross-attention grid
    train.stage1.templates = tuple(t.format(s="{o}", pose="{p}") for t in grammar.SINGLE)  # the world's phrasings
    relation_only = method in RELATION_ONLY
    for stage in (train.stage1, train.stage2):
        stage.batch_size, stage.lr, stage.seed, stage.save_every = cfg.batch_size, cfg.lr, cfg.seed, 0
    train.stage1.steps = cfg.steps // 2
    train.stage2.steps = cfg.steps if relation_only else cfg.steps - train.stage1.steps
    if method in ("ti", "reversion"):
        train.prior.enabled = False
        train.stage2.r_init, train.stage2.ca_weight = "word:and", 0.0
        train.stage2.timesteps = "uniform" if method == "ti" else "importance"
        train.stage2.steer_weight = 0.01 if method == "reversion" else 0.0
    elif method == "ours_no_stage1":
        train.stage2.r_init, train.stage2.r_vectors, train.stage2.ca_weight = "prepositions", 3, 0.0
    elif method == "ours_no_prior":
        train.prior.enabled = False
    elif method == "ours_no_ca":
        train.stage2.ca_weight = 0.0
    return with_overrides(train, cfg.overrides.get(method, {}), f"--override {method}:")


def learn_words(host: Host, method: str, exemplar_dir: Path, stage1_dir: Path | None, train: TrainConfig, work: Path,
                job: Job) -> dict[str, dict]:
    """The method's words as {name: {encoder: vectors}}, trained from scratch (caches stay); empty for prompt-only."""
    if method == "prompt":
        return {}
    request = TrainRequest(exemplars=exemplar_dir, out=work, config=train, name=train.name, stage1_images=stage1_dir,
                           work=work, restart=True, phases=("stage1", "stage2"), relation_only=method in RELATION_ONLY)
    words = run(host, request, job).words
    return {w.name: {k: v.detach() for k, v in w.effective().items()} for w in words.values()}


def eval_prompts(method: str, train: TrainConfig, pairs: list[tuple[str, str]]) -> list[str]:
    names = token_names(train.name)
    if method == "prompt":
        return [grammar.neutral_caption(pair) for pair in pairs]
    pose = {"p1": names["p1"], "p2": names["p2"]} if method not in RELATION_ONLY else {"p1": "", "p2": ""}
    return [fill_template("a {o1} {p1} {r} a {o2} {p2}", o1=a, o2=b, r=names["r"], **pose) for a, b in pairs]


def render_method(host: Host, prompts: list[str], vectors: dict, seeds: list[int], cfg: BenchConfig) -> torch.Tensor:
    """uint8 images [N, 3, H, W] of the prompts with the method's words, one per seed, through the Host protocol."""
    images = host.generate_batch(prompts, seeds=seeds, vectors=vectors, steps=cfg.sampling_steps, guidance_scale=cfg.guidance,
                         size=(IMAGE_SIDE, IMAGE_SIDE))
    return torch.stack([torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1) for image in images])


# --- metrics -----------------------------------------------------------------------------------------
def bootstrap_ci(hits: torch.Tensor, resamples: int, seed: int) -> tuple[float, float, float]:
    """Mean and percentile 95% interval of a 0/1 vector."""
    hits = hits.float()
    generator = torch.Generator().manual_seed(seed)
    index = torch.randint(len(hits), (resamples, len(hits)), generator=generator)
    means = hits[index].mean(dim=1)
    return float(hits.mean()), float(means.quantile(0.025)), float(means.quantile(0.975))


def score(models: WorldModels, images: torch.Tensor, interaction: str, pairs: list[tuple[str, str]]) -> dict[str, torch.Tensor]:
    verdict = classify(models, images)
    target = torch.tensor([[int(s in pair) for s in render.SPECIES] for pair in pairs])
    inter = verdict["interaction"] == render.INTERACTIONS.index(interaction)
    subjects = (verdict["species"] == target).all(dim=1)
    return {"interaction": inter, "subjects": subjects, "both": inter & subjects}


def summarise(hits: dict[str, torch.Tensor], resamples: int, seed: int) -> dict[str, list[float]]:
    return {metric: list(bootstrap_ci(values, resamples, seed)) for metric, values in hits.items()}


# --- the run -----------------------------------------------------------------------------------------
def world_host(models: WorldModels):
    """The pretrained world as an engine host, with its ControlNet for stage-1 synthesis."""
    from interinv.hosts.diffusers_host import DiffusersHost

    return DiffusersHost(models.pipe, family="sd1", device=str(models.pipe.device), controlnet=models.controlnet,
                         model_name=f"interinv-world-{weights_fingerprint(models)}")


def weights_fingerprint(models: WorldModels) -> str:
    """A short hash of the first layers' weights: the caches of latents and stage-1 images are keyed by the model's
    name, and a re-pretrained world must not reuse the old world's files."""
    digest = hashlib.sha256()
    for module in (models.pipe.vae.encoder.conv_in, models.pipe.unet.conv_in, models.controlnet.conv_in):
        digest.update(module.weight.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()[:12]


def run_bench(models: WorldModels, out: Path, cfg: BenchConfig = BenchConfig(), job: Job = Job(),
              log: Log = print) -> dict:
    """Every method on every interaction; writes results.json, grids/<method>.png and table.md into out."""
    host = world_host(models)
    vocab = write_vocabularies(out / "vocab")
    pairs = novel_pairs(cfg.exemplar_species)
    eval_pairs = [pairs[i % len(pairs)] for i in range(cfg.samples)]
    seeds = [cfg.seed * 100_000 + i for i in range(cfg.samples)]
    results = {"config": dataclasses.asdict(cfg), "interactions": {}, "timings_s": {}, "eval_pairs": eval_pairs,
               "seeds": seeds}
    results["config"]["interactions"] = list(cfg.interactions or models.design.plan.table)
    grids = {m: [] for m in cfg.methods}
    for interaction in results["config"]["interactions"]:
        # seeded by the interaction, not its place in the list, so that split runs merge into the same table
        folder = write_exemplars(out / interaction / "exemplars", interaction, cfg.exemplar_species, cfg.exemplars,
                                 cfg.seed + render.INTERACTIONS.index(interaction), models.design.style)
        stage1 = stage1_images(host, folder, out / interaction, cfg, job) if set(cfg.methods) - set(RELATION_ONLY) - {"prompt"} else None
        results["interactions"][interaction] = {}
        for method in cfg.methods:
            began = time.time()
            train = method_config(method, cfg, vocab)
            vectors = learn_words(host, method, folder, stage1, train, out / interaction / method, job)
            images = render_method(host, eval_prompts(method, train, eval_pairs), vectors, seeds, cfg)
            hits = score(models, images, interaction, eval_pairs)
            summary = summarise(hits, cfg.bootstrap, cfg.seed)
            results["interactions"][interaction][method] = {"summary": summary,
                                                            "hits": {k: v.int().tolist() for k, v in hits.items()}}
            results["timings_s"][f"{interaction}/{method}"] = round(time.time() - began, 1)
            grids[method].append(images[:16])
            log(f"{interaction} / {method}: " + ", ".join(f"{k} {v[0]:.2f}" for k, v in summary.items()))
    (out / "grids").mkdir(parents=True, exist_ok=True)
    for method, rows in grids.items():
        save_png(out / "grids" / f"{method}.png", image_grid(rows))
    return finish_bench(results, out)


def finish_bench(results: dict, out: Path) -> dict:
    """Pool every interaction's hits per method, then write results.json and table.md."""
    cfg = results["config"]
    results["pooled"] = {}
    for method in cfg["methods"]:
        runs = [results["interactions"][i][method]["hits"] for i in cfg["interactions"]]
        hits = {metric: torch.tensor([h for run in runs for h in run[metric]]) for metric in runs[0]}
        results["pooled"][method] = summarise(hits, cfg["bootstrap"], cfg["seed"])
    write_text_atomic(out / "results.json", json.dumps(results, indent=1))
    write_text_atomic(out / "table.md", results_table(results, cfg["interactions"], cfg["methods"]))
    return results


def merge_bench_runs(folders: list[Path], out: Path) -> dict:
    """One table from several runs of the same settings on different interactions (for example run in parallel)."""
    runs = []
    for folder in folders:
        path = folder / "results.json"
        if not path.is_file():
            raise InterInvError(f"'{folder}' holds no results.json of 'interinv world bench'")
        runs.append(json.loads(path.read_text(encoding="utf-8")))
    first = runs[0]
    settings = {k: v for k, v in first["config"].items() if k != "interactions"}
    merged = {"config": {**first["config"], "interactions": []}, "interactions": {}, "timings_s": {},
              "eval_pairs": first["eval_pairs"], "seeds": first["seeds"]}
    for folder, run in zip(folders, runs):
        differing = sorted(k for k, v in settings.items() if run["config"].get(k) != v)
        if differing:
            raise InterInvError(f"'{folder}' was run with other settings than '{folders[0]}': {', '.join(differing)}")
        repeated = set(run["interactions"]) & set(merged["interactions"])
        if repeated:
            raise InterInvError(f"'{folder}' repeats interactions of an earlier run: {', '.join(sorted(repeated))}")
        merged["config"]["interactions"] += run["config"]["interactions"]
        merged["interactions"].update(run["interactions"])
        merged["timings_s"].update(run["timings_s"])
    (out / "grids").mkdir(parents=True, exist_ok=True)
    for method in settings["methods"]:
        save_png(out / "grids" / f"{method}.png", contact_sheet([("", [Image.open(f / "grids" / f"{method}.png")]) for f in folders]))
    return finish_bench(merged, out)


def stage1_images(host: Host, folder: Path, work: Path, cfg: BenchConfig, job: Job) -> Path:
    """Single-subject images for stage 1 through `interinv prepare` (ControlNet on the exemplars' skeletons)."""
    from interinv.data.prepare import PrepareOptions, prepare

    options = PrepareOptions(per_subject=cfg.stage1_per_subject, resolution=IMAGE_SIDE, steps=cfg.sampling_steps,
                             guidance=cfg.guidance, seed=cfg.seed, prompt_bank=WORLD_BANK, skeleton_side=IMAGE_SIDE)
    return prepare(host, folder, options, job, out=work / "prepared").stage1


def image_grid(rows: list[torch.Tensor]) -> Image.Image:
    """uint8 image rows [n, 3, H, W] as one PNG grid."""
    return contact_sheet([("", [Image.fromarray(image.permute(1, 2, 0).numpy()) for image in row]) for row in rows])


def results_table(results: dict, interactions, methods) -> str:
    def cell(values: list[float]) -> str:
        mean, low, high = values
        return f"{mean:.2f} [{low:.2f}, {high:.2f}]"

    lines = ["| method | interaction acc. | subject acc. | both |", "|---|---|---|---|"]
    for method in methods:
        s = results["pooled"][method]
        lines.append(f"| {METHOD_TITLES[method]} | {cell(s['interaction'])} | {cell(s['subjects'])} | {cell(s['both'])} |")
    lines += ["", "Interaction accuracy per held-out interaction:", "",
              "| method | " + " | ".join(interactions) + " |", "|---|" + "---|" * len(interactions)]
    for method in methods:
        lines.append(f"| {method} | " + " | ".join(
            cell(results["interactions"][i][method]["summary"]["interaction"]) for i in interactions) + " |")
    return "\n".join(lines) + "\n"
