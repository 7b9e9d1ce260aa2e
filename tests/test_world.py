import dataclasses
import json

import pytest
import torch

from interinv.world import grammar, render
from interinv.world.bench import QUICK, RELATION_ONLY, TABLE, bootstrap_ci, method_config, novel_pairs, run_bench
from interinv.world.models import WEIGHTS_DIR, load_world
from interinv.world.pretrain import QUICK as QUICK_PRETRAIN, lr_lambda, pretrain


@pytest.fixture(scope="module")
def quick_world(tmp_path_factory):
    """A world pretrained for a few steps: the whole pretraining path, not a useful model."""
    out = tmp_path_factory.mktemp("world")
    pretrain(out, QUICK_PRETRAIN, log=lambda _: None)
    return out


def test_quick_pretraining_writes_a_loadable_world_with_its_model_card(quick_world):
    models = load_world(quick_world)
    assert type(models.pipe).__name__ == "StableDiffusionPipeline"
    assert models.pipe.unet.config.cross_attention_dim == models.pipe.text_encoder.config.hidden_size
    assert not (quick_world / "tokenizer").exists()  # rebuilt offline at load time
    metrics = json.loads((quick_world / "metrics.json").read_text())
    assert set(metrics["sanity_gate"]) >= {"interaction_accuracy", "chance", "per_interaction", "samples"}
    assert 0.0 <= metrics["scorers_on_renders"]["interaction"] <= 1.0
    card = (quick_world / "README.md").read_text()
    assert all(name in card for name in grammar.HELD_OUT)


def test_weights_are_stored_in_half_precision(quick_world):
    from safetensors import safe_open

    with safe_open(str(quick_world / "unet" / "diffusion_pytorch_model.safetensors"), "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}


def test_learning_rate_warms_up_then_decays_to_the_floor():
    factor = lr_lambda(10, 100, 0.1)
    assert factor(0) == pytest.approx(0.1)
    assert factor(9) == pytest.approx(1.0)
    assert factor(100) == pytest.approx(0.1)
    assert factor(10) > factor(50) > factor(99)


def test_bootstrap_interval_brackets_the_mean():
    hits = torch.tensor([1] * 30 + [0] * 34)
    mean, low, high = bootstrap_ci(hits, 1000, 0)
    assert mean == pytest.approx(30 / 64)
    assert low < mean < high
    assert 0.05 < high - low < 0.35  # about ±1.96·sqrt(p(1-p)/n) = ±0.12


def test_methods_differ_only_where_the_issue_says(tmp_path):
    cfg = dataclasses.replace(QUICK, steps=10)
    configs = {m: method_config(m, cfg, ("v.txt", "p.txt")) for m in QUICK.methods}
    ours, ti, rev = configs["ours"], configs["ti"], configs["reversion"]
    assert ours.prior.enabled and ours.stage2.ca_weight == 0.01 and ours.stage1.steps + ours.stage2.steps == 10
    assert (ti.prior.enabled, ti.stage2.r_init, ti.stage2.timesteps, ti.stage2.steer_weight) == (False, "word:and", "uniform", 0.0)
    assert (rev.stage2.timesteps, rev.stage2.steer_weight, rev.stage2.steer_positives, rev.stage2.steer_temperature) == (
        "importance", 0.01, 4, 0.07)
    assert configs["ours_no_stage1"].stage2.r_vectors == 3 and configs["ours_no_stage1"].stage2.steps == 10
    assert not configs["ours_no_prior"].prior.enabled and configs["ours_no_ca"].stage2.ca_weight == 0.0
    assert all(configs[m].stage2.steps == 10 for m in RELATION_ONLY)


def test_evaluation_pairs_exclude_the_exemplar_pair():
    pairs = novel_pairs(("person", "person"))
    assert len(pairs) == len(render.SPECIES) ** 2 - 1 and ("person", "person") not in pairs


def test_quick_bench_runs_every_method_end_to_end(quick_world, tmp_path):
    cfg = dataclasses.replace(QUICK, interactions=TABLE[:1])
    results = run_bench(load_world(quick_world), tmp_path, cfg, log=lambda _: None)
    assert set(results["pooled"]) == set(QUICK.methods)
    for method, summary in results["pooled"].items():
        for mean, low, high in summary.values():
            assert 0.0 <= low <= mean <= high <= 1.0
        assert (tmp_path / "grids" / f"{method}.png").is_file()
    table = (tmp_path / "table.md").read_text()
    assert table.count("\n| ") >= len(QUICK.methods)
    assert json.loads((tmp_path / "results.json").read_text())["eval_pairs"]


def test_demo_exports_three_words_and_a_comparison_grid(quick_world, tmp_path):
    from interinv.job import Job
    from interinv.world.demo import DemoConfig, run_demo

    report = run_demo(load_world(quick_world), tmp_path, DemoConfig(steps=4, samples=2), Job())
    assert len(list(tmp_path.glob("*.safetensors"))) == 3
    assert (tmp_path / "comparison.png").is_file()
    assert set(report["accuracy"]) == {"prompt", "ours"}


def test_the_committed_world_loads():
    models = load_world(WEIGHTS_DIR)
    assert models.interaction_scorer.head_sizes["interaction"] == len(render.INTERACTIONS)
