"""A/B runs of the world's denoiser pretraining, for the lab notebook (docs/world.md).

Each variant trains the text encoder + UNet from scratch for the same number of steps on the same renders
and seed, reusing one VAE and the committed scorers, then measures:
- how much the caption lowers the ε-loss on fresh scenes at mid noise (the text-use symptom of D2);
- the gate on named captions (DDIM 20, CFG 3) and the neutral histogram's smallest held-out ratio.

    python benchmarks/world_ab.py --steps 400 --variant base: --variant perchannel:per_channel_latents=true

A variant is NAME:KEY=VALUE[,KEY=VALUE...] over `interinv_world.pretrain.PretrainConfig`; a list value keeps its
commas (held_out=kiss_hand,piggyback,pull_hand,back_to_back). Results are printed and appended as JSON lines to --out.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from interinv.config import parse_settings, with_overrides
from interinv.core.tokens import check_slug
from interinv_world.check import CheckConfig, measure_gate, measure_neutral, write_pictures
from interinv_world import grammar, render
from interinv_world.design import WorldDesign
from interinv_world.models import WorldModels, load_world, pixels
from interinv_world.pretrain import (PretrainConfig, encode_latents, render_set, scorer_accuracy, scorer_data,
                                     standardise_latents, tokenize, train_denoiser, train_main_scorers, train_vae,
                                     training_renders, world_design)
from interinv_world.settings import WEIGHTS_DIR


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


@torch.no_grad()
def caption_benefit(pipe, data, scaled: torch.Tensor, t_values=(250, 500, 750), seed: int = 7) -> dict:
    """ε-MSE with the caption and with the empty caption, at fixed timesteps, on the same noise."""
    generator = torch.Generator().manual_seed(seed)
    alphas, out = pipe.scheduler.alphas_cumprod.float(), {}
    for t in t_values:
        noise = torch.randn(scaled.shape, generator=generator)
        x_t = alphas[t].sqrt() * scaled + (1 - alphas[t]).sqrt() * noise
        losses = [epsilon_mse(pipe, x_t, t, noise, captions) for captions in (data.captions, [""] * len(data.captions))]
        out[t] = {"caption": losses[0], "empty": losses[1], "benefit": 1 - losses[0] / losses[1]}
    return out


@dataclass(frozen=True)
class NamedScenes:
    """Fresh named scenes as scaled latents, each with its true caption and one naming another interaction."""

    latents: torch.Tensor
    true: list[str]
    swapped: list[str]


def named_scenes(vae, design: WorldDesign, scenes: int = 256, seed: int = 11) -> NamedScenes:
    rng, named = random.Random(seed), design.plan.named
    images, true, swapped = [], [], []
    for index in range(scenes):
        name, pair = rng.choice(named), (rng.choice(render.SPECIES), rng.choice(render.SPECIES))
        images.append(pixels(render.render_pair(seed * 1_000_000 + index, name, pair, 64, design.style).image))
        true.append(grammar.pair_caption(rng, name, pair, True))
        swapped.append(grammar.pair_caption(rng, rng.choice([n for n in named if n != name]), pair, True))
    return NamedScenes(encode_latents(vae, torch.stack(images)) * vae.config.scaling_factor, true, swapped)


@torch.no_grad()
def interaction_benefit(pipe, scenes: NamedScenes, t_values=(500, 750), seed: int = 11) -> dict:
    """1 - ε-MSE(true caption) / ε-MSE(the same caption naming another interaction), on fresh named scenes.

    Unlike the caption benefit, species words are the same in both captions, so this is only the interaction's
    share of the text's use, and it is comparable between caption plans (the scenes are drawn the same way).
    """
    generator = torch.Generator().manual_seed(seed)
    alphas, out = pipe.scheduler.alphas_cumprod.float(), {}
    for t in t_values:
        noise = torch.randn(scenes.latents.shape, generator=generator)
        x_t = alphas[t].sqrt() * scenes.latents + (1 - alphas[t]).sqrt() * noise
        losses = [epsilon_mse(pipe, x_t, t, noise, captions) for captions in (scenes.true, scenes.swapped)]
        out[t] = {"true": losses[0], "swapped": losses[1], "benefit": 1 - losses[0] / losses[1]}
    return out


def epsilon_mse(pipe, x_t: torch.Tensor, t: int, noise: torch.Tensor, captions: list[str], batch: int = 128) -> float:
    ids = tokenize(pipe.tokenizer, captions)
    pred = torch.cat([pipe.unet(x, torch.full((len(x),), t), encoder_hidden_states=pipe.text_encoder(i)[0]).sample
                      for x, i in zip(x_t.split(batch), ids.split(batch))])
    return float((pred - noise).pow(2).mean())


def vae_for(cfg: PretrainConfig, data, reuse_vae: bool):
    if not reuse_vae:
        return train_vae(data, cfg, torch.Generator().manual_seed(cfg.seed), "cpu", log)
    vae = load_world(WEIGHTS_DIR).pipe.vae
    if cfg.per_channel_latents:
        standardise_latents(vae, data.images[:2048])
    return vae


@dataclass(frozen=True)
class Yardstick:
    """What every measurement of a variant uses, made once: the committed world (ControlNet, scorers) with the
    variant's design, and the fresh scenes of the two caption measures."""

    committed: WorldModels
    fresh: object  # Renders drawn with the variant's plan
    fresh_latents: torch.Tensor
    named: NamedScenes


def yardstick(cfg: PretrainConfig, vae, data, own_scorers: bool) -> Yardstick:
    design = world_design(cfg)
    fresh = render_set(400, 112, cfg.seed + 7, design, log)
    committed = dataclasses.replace(load_world(WEIGHTS_DIR), design=design)
    if own_scorers:
        committed = dataclasses.replace(committed, **variant_scorers(cfg, vae, data))
        log(f"variant scorers on fresh renders: {scorer_accuracy(committed, fresh)}")
    return Yardstick(committed, fresh, encode_latents(vae, fresh.images) * vae.config.scaling_factor,
                     named_scenes(vae, design))


def variant_scorers(cfg: PretrainConfig, vae, data) -> dict:
    """Interaction and species scorers trained as pretrain trains them, on this variant's renders, so that a gate
    on another render style is judged by scorers that know that style."""
    interaction, species = train_main_scorers(*scorer_data(vae, data), cfg, torch.Generator().manual_seed(cfg.seed),
                                              "cpu", log)
    return {"interaction_scorer": interaction, "species_scorer": species, "second_scorer": None}


def measure(name: str, cfg: PretrainConfig, pipe, ruler: Yardstick, steps: int, samples: int,
            pictures: Path | None = None) -> dict:
    """Gate, neutral histogram, caption and interaction benefit of one denoiser (the yardstick's scorers);
    `pictures`: a folder for renders beside generations, as `world check` draws them."""
    models = dataclasses.replace(ruler.committed, pipe=pipe)
    benefit = caption_benefit(pipe, ruler.fresh, ruler.fresh_latents)
    interaction = interaction_benefit(pipe, ruler.named)
    check = CheckConfig(gate_samples=samples, neutral_samples=samples, seed=cfg.seed)
    gate, gate_images, jobs = measure_gate(models, check)
    neutral, neutral_images, drawn = measure_neutral(models, check)
    if pictures is not None:
        write_pictures(pictures / f"{name}-step{steps}", cfg.style, gate_images, [j[0] for j in jobs], neutral_images,
                       drawn, neutral)
    return {"variant": name, "steps": steps, "of_steps": cfg.unet_steps, "gate": gate["interaction_accuracy"],
            "species": gate["species_set_accuracy"], "per_interaction": gate["per_interaction"],
            "neutral_min_ratio": neutral["min_ratio"], "neutral_tv": neutral["tv_distance"], "caption_benefit": benefit,
            "interaction_benefit": interaction}


def run_variant(name: str, cfg: PretrainConfig, samples: int, reuse_vae: bool, eval_at: set[int],
                record: Callable[[dict], None], own_scorers: bool, pictures: Path | None = None) -> None:
    """Train one variant and record its measurements at each step of `eval_at` and at the end."""
    started = time.time()
    data = training_renders(cfg, log)
    vae = vae_for(cfg, data, reuse_vae)
    scaled = encode_latents(vae, data.images) * vae.config.scaling_factor
    log(f"{name}: latent std per channel {[round(float(s), 2) for s in scaled.std(dim=(0, 2, 3))]}")
    ruler = yardstick(cfg, vae, data, own_scorers)
    measured = [0.0]  # seconds spent measuring, kept out of the training time

    def measure_at(step: int, pipe) -> None:
        if step in eval_at or step == cfg.unet_steps:
            began = time.time()
            result = measure(name, cfg, pipe, ruler, step, samples, pictures)
            measured[0] += time.time() - began
            record({**result, "train_s": round(time.time() - started - measured[0]),
                    "threads": torch.get_num_threads(), "style": dataclasses.asdict(cfg.style),
                    "own_scorers": own_scorers,
                    "settings": dataclasses.asdict(cfg)})

    train_denoiser(vae, data, scaled, cfg, torch.Generator().manual_seed(cfg.seed), log, measure_at)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", action="append", required=True, help="NAME:KEY=VALUE,KEY=VALUE")
    parser.add_argument("--steps", type=int, default=400, help="denoiser steps of every variant")
    parser.add_argument("--samples", type=int, default=64, help="gate and neutral generations per variant")
    parser.add_argument("--train-vae", action="store_true", help="train each variant's VAE instead of the committed one")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--eval-at", default="", help="also measure at these steps, e.g. 350,700 (always at the end)")
    parser.add_argument("--style", default="", help="render style of every variant, e.g. thickness=1.6,size=1.0 "
                        "(default: world v1's; a variant's style.KEY=VALUE overrides it); the gate's scorers are the "
                        "committed ones, trained on v1 renders, unless --train-scorers")
    parser.add_argument("--train-scorers", action="store_true",
                        help="judge the gate with interaction and species scorers trained on this variant's renders")
    parser.add_argument("--out", default="world_ab.jsonl")
    parser.add_argument("--pictures", type=Path, help="a folder for each measurement's renders beside generations")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    eval_at = {int(step) for step in args.eval_at.split(",") if step.strip()}
    style = with_overrides(render.V1_STYLE, parse_settings([s for s in args.style.split(",") if s]), "--style")

    def record(result: dict) -> None:
        log(json.dumps({k: v for k, v in result.items() if k != "settings"}))
        with open(args.out, "a", encoding="utf-8") as f:
            f.write(json.dumps(result) + "\n")

    variants = [spec.partition(":")[::2] for spec in args.variant]
    for name, _ in variants:
        check_slug(name, "--variant name")  # it names a folder under --pictures; refused before any training
    for name, settings in variants:
        cfg = with_overrides(base_config(args.steps, style), parse_settings(variant_settings(settings)), "--variant")
        torch.manual_seed(cfg.seed)
        run_variant(name, cfg, args.samples, not args.train_vae, eval_at, record, args.train_scorers, args.pictures)


def base_config(steps: int, style: render.Style) -> PretrainConfig:
    """World v1's plan and data at `steps`, which every earlier notebook run varied."""
    return dataclasses.replace(PretrainConfig(), unet_steps=steps, warmup=min(200, steps // 5), style=style,
                               held_out_share=None, single_scenes=4000, pose_pair_scenes=0)


def variant_settings(text: str) -> list[str]:
    """KEY=VALUE settings split at the commas that start a new KEY=, so that a list value keeps its own."""
    return [setting for setting in re.split(r",(?=[\w.]+=)", text) if setting]


if __name__ == "__main__":
    main()
