"""benchmarks/world_inversion.py, world_oracle.py and world_reading.py, the notebook's O1, O2 and O4 harnesses."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from interinv_world import grammar
from interinv_world.models import load_world
from interinv_world.sampling import sample_images

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def run(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True,
                          timeout=600)


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_inversion_harness_appends_one_row_per_setting_with_both_rates(tmp_path):
    out = tmp_path / "o1.jsonl"
    done = run("world_inversion.py", "--setting", "2:5e-3", "--setting", "3:2e-2", "--samples", "2", "--out", str(out))
    assert done.returncode == 0, done.stderr
    found = rows(out)
    assert [(r["steps"], r["lr"], r["seed"]) for r in found] == [(2, 5e-3, 1), (3, 2e-2, 1)]
    assert all(len(r["prompt_only"]) == len(r["ti"]) == 3 and r["interaction"] == "back_to_back" for r in found)


def test_a_malformed_inversion_setting_is_refused_by_name():
    done = run("world_inversion.py", "--setting", "400")
    assert done.returncode != 0 and "--setting '400': expected STEPS:LR" in done.stderr


def test_the_oracle_harness_writes_its_four_variants_or_the_chosen_ones(tmp_path):
    out = tmp_path / "o2.jsonl"
    done = run("world_oracle.py", "--steps", "2", "--samples", "2", "--exemplars", "2", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert [r["variant"] for r in rows(out)] == ["neutral", "poses", "position", "full"]
    chosen = tmp_path / "chosen.jsonl"
    done = run("world_oracle.py", "--samples", "2", "--variants", "poses,neutral", "--out", str(chosen))
    assert done.returncode == 0, done.stderr
    assert [r["variant"] for r in rows(chosen)] == ["poses", "neutral"]


def test_an_unknown_oracle_variant_is_refused_by_name():
    done = run("world_oracle.py", "--variants", "neutral,words")
    assert done.returncode != 0 and "--variants 'neutral,words': expected a comma-separated list of" in done.stderr


@pytest.fixture
def oracle(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import world_oracle

    return world_oracle


def test_sampling_from_the_neutral_hidden_states_is_the_pipelines_own_prompt_path(oracle):
    pipe = load_world().pipe
    caption, seeds = grammar.neutral_caption(("person", "person")), [7, 8]
    direct = oracle.sample(pipe, oracle.encode(pipe, caption), oracle.encode(pipe, ""), seeds, 3, 3.0)
    assert torch.equal(direct, sample_images(pipe, [caption] * 2, seeds, 3, 3.0))


def test_the_oracle_moves_only_the_free_positions(oracle):
    pipe = load_world().pipe
    start = oracle.encode(pipe, "a person and a person")
    latents = torch.randn(2, 4, 16, 16)
    free = torch.zeros(start.shape[1], dtype=torch.bool)
    free[3] = True
    moved = oracle.optimise(pipe, latents, start, free, steps=2, lr=1e-2, batch=2, seed=0)
    assert torch.equal(moved[:, ~free], start[:, ~free]) and not torch.equal(moved[:, free], start[:, free])


def test_the_reading_harness_writes_its_four_variants(tmp_path):
    out = tmp_path / "o4.jsonl"
    done = run("world_reading.py", "--samples", "2", "--sampling-steps", "2", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert [(r["variant"], r["samples"], len(r["gate"])) for r in rows(out)] == [
        ("caption", 2, 3), ("words", 2, 3), ("summary", 2, 3), ("neutral", 2, 3)]


@pytest.fixture
def reading(oracle):
    import world_reading

    return world_reading


def test_the_splice_takes_the_words_from_one_caption_and_the_end_of_text_positions_from_the_other(reading):
    pipe = load_world().pipe
    named, neutral = "a bear stands back to back with a robot", "a bear and a robot"
    conds = reading.conditionings(pipe, [named], [neutral])
    words = 1 + len(pipe.tokenizer.tokenize(named))  # the start token and the caption's words
    own, twin = conds["caption"][0], conds["neutral"][0]
    assert torch.equal(conds["words"][0, :words], own[:words]) and torch.equal(conds["words"][0, words:], twin[words:])
    assert torch.equal(conds["summary"][0, :words], twin[:words]) and torch.equal(conds["summary"][0, words:], own[words:])
    assert not torch.equal(own[words:], twin[words:])  # the end-of-text positions do carry the caption


def test_the_caption_variant_is_the_gates_own_prompt_path(oracle, reading):
    pipe = load_world().pipe
    captions, seeds = ["a bear hugs a robot", "a cat pushes a person"], [3, 4]
    cond = reading.conditionings(pipe, captions, [grammar.neutral_caption(("bear", "robot"))] * 2)["caption"]
    direct = oracle.sample(pipe, cond, oracle.encode(pipe, ""), seeds, 3, 3.0)
    assert torch.equal(direct, sample_images(pipe, captions, seeds, 3, 3.0))
