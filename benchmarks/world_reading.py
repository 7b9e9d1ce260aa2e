"""Where does the world's UNet read a named interaction from: the caption's words, or the end-of-text positions
after them? (docs/world.md, O4)

Under CLIP's causal mask every end-of-text position sees the whole caption, so an interaction can reach
cross-attention from the words or from that summary. Each named caption's hidden states are spliced with those of
the neutral caption of the same pair at the named caption's first end-of-text token:
- `caption`: the named caption's own (the gate);
- `words`: its start token and words, then the neutral caption's positions;
- `summary`: the neutral caption's positions up to there, then the named caption's end-of-text positions;
- `neutral`: the neutral caption's own.
Each is sampled with CFG against the empty caption and judged by the world's interaction scorer.

    python benchmarks/world_reading.py --seed 1 --samples 200

Results are printed and appended as JSON lines to --out.
"""

from __future__ import annotations

import argparse
import time

import torch

from interinv_world import grammar, render
from interinv_world.bench import bootstrap_ci
from interinv_world.check import named_jobs
from interinv_world.pretrain import end_of_text_positions, tokenize
from interinv_world.sampling import BATCH, classify
from world_oracle import encode, sample
from world_runs import add_world_options, log_row, world_from_options

VARIANTS = ("caption", "words", "summary", "neutral")


@torch.no_grad()
def conditionings(pipe, named: list[str], neutral: list[str]) -> dict[str, torch.Tensor]:
    """Each variant's hidden states [N, positions, D] for the named captions and their neutral twins."""
    ids = tokenize(pipe.tokenizer, named)
    named_states = pipe.text_encoder(ids)[0]
    neutral_states = pipe.text_encoder(tokenize(pipe.tokenizer, neutral))[0]
    summary = end_of_text_positions(ids, pipe.tokenizer.eos_token_id).unsqueeze(-1)
    return {"caption": named_states, "words": torch.where(summary, neutral_states, named_states),
            "summary": torch.where(summary, named_states, neutral_states), "neutral": neutral_states}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_world_options(parser, "world-reading.jsonl")
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--sampling-steps", type=int, default=20)
    parser.add_argument("--guidance", type=float, default=3.0)
    args = parser.parse_args()
    models = world_from_options(args)
    pipe = models.pipe
    jobs = named_jobs(args.samples, args.seed + 2, models.design.plan.named)
    conds = conditionings(pipe, [c for _, _, c in jobs], [grammar.neutral_caption(p) for _, p, _ in jobs])
    empty = encode(pipe, "")
    seeds = [args.seed * 100_000 + i for i in range(len(jobs))]
    truth = torch.tensor([render.INTERACTIONS.index(name) for name, _, _ in jobs])
    for variant in VARIANTS:
        started = time.time()
        images = torch.cat([sample(pipe, conds[variant][i:i + BATCH], empty, seeds[i:i + BATCH], args.sampling_steps,
                                   args.guidance) for i in range(0, len(seeds), BATCH)])
        hits = classify(models, images)["interaction"] == truth
        log_row(args.out, {"variant": variant, "seed": args.seed, "samples": len(jobs),
                           "gate": list(bootstrap_ci(hits, 2000, args.seed)), "wall_s": round(time.time() - started, 1)})


if __name__ == "__main__":
    main()
