"""Can any conditioning call up a held-out interaction? An upper bound on inversion (docs/world.md, O2).

TI reaches the UNet through one token and the text encoder. Here the encoder's *output* for the neutral caption
is optimised directly on the exemplars' denoising loss, with the UNet frozen:
- `position`: only the hidden state at the word "and" (TI's place, without the text encoder in the way);
- `full`: all 77 hidden states (no conditioning is freer than this).
`poses` is a prompt, not optimised: the interaction's two role poses in a pose-pair caption ("a person standing
and a person standing"), which asks whether naming the parts calls up the whole (docs/world.md, Q1).
Each is sampled with CFG against the empty caption and judged by the world's interaction scorer, beside the
neutral caption's own hidden states. If even `full` stays at the neutral rate, the UNet cannot be steered to the
interaction through cross-attention, and no inversion method can work in this world.

    python benchmarks/world_oracle.py --seed 1 --steps 600 --lr 1e-2

Results are printed and appended as JSON lines to --out.
"""

from __future__ import annotations

import argparse
import random
import time

import torch

from interinv_world import grammar, render
from interinv_world.bench import bootstrap_ci
from interinv_world.models import IMAGE_SIDE, pixels
from interinv_world.pretrain import denoising_loss, encode_latents, tokenize
from interinv_world.sampling import classify
from world_runs import add_world_options, log_row, world_from_options

VARIANTS = ("neutral", "poses", "position", "full")


def exemplar_latents(models, interaction: str, species: tuple[str, str], count: int, seed: int) -> torch.Tensor:
    """Scaled latent means of `count` renders of the interaction, as the denoiser was trained on."""
    images = torch.stack([pixels(render.render_pair(seed * 1000 + i, interaction, species, IMAGE_SIDE,
                                                    models.design.style).image) for i in range(count)])
    vae = models.pipe.vae
    return encode_latents(vae, images) * vae.config.scaling_factor


@torch.no_grad()
def encode(pipe, caption: str) -> torch.Tensor:
    return pipe.text_encoder(tokenize(pipe.tokenizer, [caption]))[0]


def optimise(pipe, latents: torch.Tensor, start: torch.Tensor, free: torch.Tensor, steps: int, lr: float,
             batch: int, seed: int) -> torch.Tensor:
    """The conditioning [1, 77, D] after Adam on the ε-loss of the latents, moving only the positions in `free`."""
    generator = torch.Generator().manual_seed(seed)
    alphas = pipe.scheduler.alphas_cumprod.float()
    delta = torch.zeros_like(start[:, free], requires_grad=True)
    optimiser = torch.optim.Adam([delta], lr=lr)
    pipe.unet.requires_grad_(False)
    for _ in range(steps):
        index = torch.randint(len(latents), (batch,), generator=generator)
        t = torch.randint(len(alphas), (batch,), generator=generator)
        noise = torch.randn(latents[index].shape, generator=generator)
        a = alphas[t].view(-1, 1, 1, 1)
        x_t = a.sqrt() * latents[index] + (1 - a).sqrt() * noise
        cond = start.clone()
        cond[:, free] = start[:, free] + delta
        pred = pipe.unet(x_t, t, encoder_hidden_states=cond.expand(batch, -1, -1)).sample
        loss = denoising_loss(pred, noise, t, alphas, 0.0)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        cond = start.clone()
        cond[:, free] = start[:, free] + delta
    return cond


@torch.no_grad()
def sample(pipe, cond: torch.Tensor, empty: torch.Tensor, seeds: list[int], steps: int, guidance: float) -> torch.Tensor:
    generators = [torch.Generator().manual_seed(s) for s in seeds]
    images = pipe(prompt_embeds=cond.expand(len(seeds), -1, -1), negative_prompt_embeds=empty.expand(len(seeds), -1, -1),
                  num_inference_steps=steps, guidance_scale=guidance, generator=generators, height=IMAGE_SIDE,
                  width=IMAGE_SIDE, output_type="pt").images
    return (images.clamp(0, 1) * 255).round().to(torch.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_world_options(parser, "world-oracle.jsonl")
    parser.add_argument("--interaction", default=None, help="default: the world's tuning interaction")
    parser.add_argument("--species", default="person,person")
    parser.add_argument("--exemplars", type=int, default=8)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS)}")
    args = parser.parse_args()
    variants = args.variants.split(",")
    if not set(variants) <= set(VARIANTS):
        parser.error(f"--variants '{args.variants}': expected a comma-separated list of {', '.join(VARIANTS)}")
    models = world_from_options(args)
    pipe, interaction = models.pipe, args.interaction or models.design.plan.tuning
    species = tuple(args.species.split(","))
    latents = exemplar_latents(models, interaction, species, args.exemplars, args.seed + render.INTERACTIONS.index(interaction))
    caption = grammar.neutral_caption(species)
    start, empty = encode(pipe, caption), encode(pipe, "")
    ids = tokenize(pipe.tokenizer, [caption])[0]
    prompts = {"neutral": start, "poses": encode(pipe, grammar.pose_pair_caption(
        random.Random(args.seed), render.ROLE_POSES[interaction], species))}  # sampled as they are
    free = {"position": ids == pipe.tokenizer.convert_tokens_to_ids("and</w>"),
            "full": torch.ones(len(ids), dtype=torch.bool)}
    seeds = [args.seed * 100_000 + 90_000 + i for i in range(args.samples)]
    target = render.INTERACTIONS.index(interaction)
    for variant in variants:
        started = time.time()
        cond = prompts[variant] if variant in prompts else optimise(
            pipe, latents, start, free[variant], args.steps, args.lr, args.batch, args.seed)
        hits = classify(models, sample(pipe, cond, empty, seeds, 20, 3.0))["interaction"] == target
        row = {"variant": variant, "interaction": interaction, "species": list(species), "seed": args.seed,
               "exemplars": args.exemplars, "steps": args.steps, "lr": args.lr, "samples": args.samples,
               "rate": list(bootstrap_ci(hits, 2000, args.seed)), "wall_s": round(time.time() - started, 1)}
        log_row(args.out, row)


if __name__ == "__main__":
    main()
