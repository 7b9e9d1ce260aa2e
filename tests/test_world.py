import dataclasses
import json
import shutil

import pytest
import torch
from PIL import Image

from interinv_world import grammar, render
from interinv_world.bench import (QUICK, RELATION_ONLY, bootstrap_ci, merge_bench_runs, method_config, novel_pairs,
                                  run_bench)
from interinv_world.design import WorldDesign, design_from_config, load_design
from interinv_world.models import WEIGHTS_DIR, load_world
from interinv.errors import InterInvError
from interinv.config import parse_settings, with_overrides
from interinv_world.commands import method_overrides
from interinv_world.pretrain import (QUICK as QUICK_PRETRAIN, PretrainConfig, denoising_loss, lr_lambda, pretrain,
                                     render_set, world_design)

TABLE = grammar.CaptionPlan().table  # the default (v1) design's, which the quick world has


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
    assert metrics["device"].startswith("CPU")
    assert set(metrics["sanity_gate"]) >= {"interaction_accuracy", "chance", "per_interaction", "samples"}
    assert 0.0 <= metrics["scorers_on_renders"]["interaction"] <= 1.0
    card = (quick_world / "README.md").read_text()
    assert all(name in card for name in grammar.HELD_OUT)


def test_reusing_a_folder_that_holds_only_a_vae_keeps_it_and_trains_every_scorer(quick_world, tmp_path):
    from safetensors.torch import load_file

    earlier = tmp_path / "earlier"
    shutil.copytree(quick_world / "vae", earlier / "vae")
    pretrain(tmp_path / "again", QUICK_PRETRAIN, log=lambda _: None, reuse=earlier)
    weights = "diffusion_pytorch_model.safetensors"
    kept, before = load_file(tmp_path / "again" / "vae" / weights), load_file(quick_world / "vae" / weights)
    assert kept.keys() == before.keys() and all(torch.equal(kept[k], before[k]) for k in kept)
    assert "_name_or_path" not in json.loads((tmp_path / "again" / "vae" / "config.json").read_text())
    assert {p.stem for p in (tmp_path / "again" / "scorers").glob("*.safetensors")} == {
        "interaction", "species", "interaction_second"}


def test_world_check_of_a_saved_world_regenerates_the_check_its_pretraining_wrote(quick_world):
    from interinv_world.check import CHECK_FILE, measure
    from interinv_world.pretrain import check_config

    written = json.loads((quick_world / CHECK_FILE).read_text())
    assert json.loads(json.dumps(measure(load_world(quick_world), check_config(QUICK_PRETRAIN), log=lambda _: None))) == written


def test_rounding_to_the_stored_precision_is_what_a_save_and_reload_gives(quick_world):
    from interinv_world.models import round_to_stored_precision

    models = load_world(quick_world)
    weight, running_mean = models.pipe.unet.conv_in.weight, models.interaction_scorer.features[1].running_mean
    with torch.no_grad():
        weight.add_(1e-5), running_mean.add_(1e-5)  # values that fp16 cannot hold
    expected = weight.detach().half().float(), running_mean.half().float()
    round_to_stored_precision(models)
    assert torch.equal(models.pipe.unet.conv_in.weight, expected[0]) and models.pipe.unet.dtype == torch.float32
    assert torch.equal(models.interaction_scorer.features[1].running_mean, expected[1])


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


def test_min_snr_weighting_down_weights_only_the_low_noise_steps():
    alphas = torch.linspace(0.999, 0.001, 1000)
    pred, noise = torch.ones(2, 4, 2, 2), torch.zeros(2, 4, 2, 2)
    low_noise, high_noise = torch.tensor([0, 0]), torch.tensor([999, 999])
    assert denoising_loss(pred, noise, high_noise, alphas, 5.0) == pytest.approx(1.0)  # SNR < 5: full weight
    assert denoising_loss(pred, noise, low_noise, alphas, 5.0) == pytest.approx(5 / (0.999 / 0.001), rel=1e-3)
    assert denoising_loss(pred, noise, low_noise, alphas, 0.0) == pytest.approx(1.0)  # weighting off


def test_pretrain_settings_parse_by_field_type_and_reject_unknown_keys():
    cfg = with_overrides(PretrainConfig(), parse_settings(["unet_steps=20", "unet_channels=32,64,128", "vae_kl_weight=1e-4"]))
    assert (cfg.unet_steps, cfg.unet_channels, cfg.vae_kl_weight) == (20, (32, 64, 128), 1e-4)
    with pytest.raises(InterInvError, match="unet_stepz"):
        with_overrides(PretrainConfig(), parse_settings(["unet_stepz=3"]))
    with pytest.raises(InterInvError, match="must be a whole number"):
        with_overrides(PretrainConfig(), parse_settings(["unet_steps=many"]))


def test_method_overrides_reach_only_their_method():
    overrides = method_overrides(["ti:stage2.lr=0.05", "ours:prior.enabled=false"])
    assert overrides == {"ti": {"stage2.lr": "0.05"}, "ours": {"prior.enabled": "false"}}
    cfg = dataclasses.replace(QUICK, overrides=overrides)
    assert method_config("ti", cfg, ("v", "p")).stage2.lr == 0.05
    assert method_config("reversion", cfg, ("v", "p")).stage2.lr == QUICK.lr
    assert not method_config("ours", cfg, ("v", "p")).prior.enabled
    with pytest.raises(InterInvError, match="METHOD:FIELD=VALUE"):
        method_overrides(["tti:stage2.lr=1"])
    with pytest.raises(InterInvError, match="stage2.lrr"):
        method_config("ti", dataclasses.replace(QUICK, overrides={"ti": {"stage2.lrr": 1}}), ("v", "p"))


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


def test_runs_split_by_interaction_merge_into_the_single_run_table(quick_world, tmp_path):
    models = load_world(quick_world)
    cfg = dataclasses.replace(QUICK, methods=("prompt", "ti"), interactions=TABLE[:2])
    whole = run_bench(models, tmp_path / "whole", cfg, log=lambda _: None)
    for number in range(2):
        run_bench(models, tmp_path / f"part{number}", dataclasses.replace(cfg, interactions=TABLE[number:number + 1]),
                  log=lambda _: None)
    merged = merge_bench_runs([tmp_path / "part0", tmp_path / "part1"], tmp_path / "merged")
    assert merged["pooled"] == whole["pooled"]
    assert merged["interactions"] == whole["interactions"]
    assert (tmp_path / "merged" / "table.md").read_text() == (tmp_path / "whole" / "table.md").read_text()
    assert Image.open(tmp_path / "merged" / "grids" / "ti.png").size == Image.open(tmp_path / "whole" / "grids" / "ti.png").size
    run_bench(models, tmp_path / "other", dataclasses.replace(cfg, interactions=TABLE[1:2], lr=0.5), log=lambda _: None)
    with pytest.raises(InterInvError, match="lr"):
        merge_bench_runs([tmp_path / "part0", tmp_path / "other"], tmp_path / "bad")


def test_the_world_host_name_changes_with_the_weights(quick_world):
    """Latent and stage-1 caches are keyed by the host's model name: other weights must not hit them."""
    from interinv_world.bench import world_host

    first, again = load_world(quick_world), load_world(quick_world)
    assert world_host(first).model_name == world_host(again).model_name
    with torch.no_grad():
        again.pipe.vae.encoder.conv_in.weight.add_(0.01)
    assert world_host(first).model_name != world_host(again).model_name


def test_the_committed_world_loads_and_passed_its_sanity_gate():
    models = load_world(WEIGHTS_DIR)
    assert models.interaction_scorer.head_sizes["interaction"] == len(render.INTERACTIONS)
    metrics = json.loads((WEIGHTS_DIR / "metrics.json").read_text())
    gate = metrics["sanity_gate"]
    assert gate["samples"] >= 180 and gate["interaction_accuracy"] >= 3 * gate["chance"]  # far above chance
    assert metrics["scorers_on_renders"]["interaction"] >= 0.95 and metrics["scorers_on_renders"]["species_set"] >= 0.95


def test_cached_tokenizer_files_need_no_open_clip(tmp_path, monkeypatch):
    """GPU images and user machines may lack open_clip; once the files exist it is never imported."""
    import sys

    from interinv.hosts.clip_tokenizer import clip_tokenizer, clip_tokenizer_files

    folder = clip_tokenizer_files(tmp_path / "tok")
    monkeypatch.setitem(sys.modules, "open_clip", None)  # any import of it now fails
    monkeypatch.setitem(sys.modules, "open_clip.tokenizer", None)
    assert clip_tokenizer_files(folder) == folder
    assert clip_tokenizer(folder)("a bear hugs a robot").input_ids[0] == 49406


# --- world check ---------------------------------------------------------------------------------------
def _committed_check() -> dict:
    """The committed world's measurements by `interinv world check` (regenerate with --json <weights>/check.json)."""
    from interinv_world.check import CHECK_FILE

    return json.loads((WEIGHTS_DIR / CHECK_FILE).read_text())


def test_standardised_latents_have_unit_channels_and_decode_to_the_same_images():
    from interinv_world.models import new_vae
    from interinv_world.pretrain import encode_latents, standardise_latents

    torch.manual_seed(0)
    vae = new_vae().eval().requires_grad_(False)
    images = torch.randint(0, 256, (16, 3, 64, 64), dtype=torch.uint8)
    before = encode_latents(vae, images)
    decoded_before = vae.decode(before).sample
    standardise_latents(vae, images)
    after = encode_latents(vae, images) * vae.config.scaling_factor
    assert vae.config.scaling_factor == 1.0
    assert torch.allclose(after.mean(dim=(0, 2, 3)), torch.zeros(4), atol=1e-4)
    assert torch.allclose(after.std(dim=(0, 2, 3)), torch.ones(4), atol=1e-4)
    assert torch.allclose(vae.decode(after / vae.config.scaling_factor).sample, decoded_before, atol=1e-4)


def test_neutral_training_shares_follow_the_caption_plan():
    shares = grammar.neutral_shares(grammar.CaptionPlan(named_share=0.8))
    assert sum(shares.values()) == pytest.approx(1.0)
    named = [n for n in render.INTERACTIONS if n not in grammar.HELD_OUT]
    # a held-out interaction is always neutral, a named one only in 20% of its scenes
    assert shares[grammar.HELD_OUT[0]] == pytest.approx(5 * shares[named[0]])
    fewer = grammar.neutral_shares(grammar.CaptionPlan(named_share=0.9, held_out_share=0.3))
    # 0.3 / 5 held-out scenes against 0.7 / 5 * 0.1 neutral named ones: 0.06 / 0.074 of the neutral captions
    assert sum(fewer[n] for n in grammar.HELD_OUT) == pytest.approx(0.3 / (0.3 + 0.07))


@pytest.mark.parametrize("setting", ["held_out_share=1.5", "named_share=-0.1"])
def test_a_share_outside_0_to_1_is_refused_by_name(setting):
    cfg = with_overrides(PretrainConfig(), parse_settings([setting]))
    with pytest.raises(InterInvError, match=f"'{setting.split('=')[0]}' must be a share from 0 to 1"):
        world_design(cfg)


def test_the_held_out_share_sets_how_often_the_renders_show_a_held_out_interaction():
    plan = grammar.CaptionPlan(named_share=0.9, held_out_share=0.25)
    data = render_set(400, 0, seed=3, design=WorldDesign(plan), log=lambda _: None)
    held = torch.tensor([render.INTERACTIONS[i] in grammar.HELD_OUT for i in data.interaction.tolist()])
    assert 0.18 < float(held.float().mean()) < 0.32  # 100 expected of 400
    captions = [c for c, h in zip(data.captions, held.tolist()) if h]
    assert all(" and a " in c for c in captions)  # held-out scenes stay neutral
    uniform = render_set(40, 0, seed=3, design=WorldDesign(), log=lambda _: None)
    assert len(set(uniform.interaction.tolist())) > 5  # None keeps v1's draw over all ten


SWAPPED = "high_five,hug,push,lean_shoulder,carry"


def test_a_world_holds_out_what_its_config_says_and_captions_them_only_neutrally():
    cfg = with_overrides(PretrainConfig(), parse_settings([f"held_out={SWAPPED}", "held_out_share=0.5",
                                                           "named_share=1.0", "style.size=1"]))
    design = world_design(cfg)
    assert design.plan.held_out == tuple(SWAPPED.split(",")) and design.plan.tuning == "carry"
    assert design.plan.table == ("high_five", "hug", "push", "lean_shoulder") and "kiss_hand" in design.plan.named
    assert design.style == render.Style(backdrop="studio")
    data = render_set(200, 0, seed=5, design=design, log=lambda _: None)
    for caption, index in zip(data.captions, data.interaction.tolist()):
        held = render.INTERACTIONS[index] in design.plan.held_out
        assert (" and a " in caption) == held, caption  # named_share 1: every named scene names its interaction
    assert design_from_config(json.loads(json.dumps(dataclasses.asdict(cfg)))) == design  # as metrics.json keeps it


def test_a_world_without_design_keys_is_world_v1_and_the_committed_world_has_the_defaults_design(tmp_path):
    assert load_design(tmp_path) == WorldDesign()  # no metrics.json
    (tmp_path / "metrics.json").write_text(json.dumps({"config": {"named_share": 0.8}}))
    assert load_design(tmp_path) == WorldDesign() and WorldDesign().plan.held_out == grammar.HELD_OUT
    assert load_design(WEIGHTS_DIR) == world_design(PretrainConfig()) != WorldDesign()  # world v2


@pytest.mark.parametrize("config, match", [
    ({"held_out": ["kiss_hand", "dance"]}, "Unknown held-out interaction 'dance'"),
    ({"held_out": ["kiss_hand"]}, "at least 2 different interactions"),
    ({"held_out": list(render.INTERACTIONS)}, "leave at least one named"),
    ({"style": {"colour": "red"}}, "'style' must be an object with the keys"),
])
def test_a_bad_design_is_refused_by_name(config, match):
    with pytest.raises(InterInvError, match=match):
        design_from_config(config)


def test_an_unreadable_metrics_file_is_named(tmp_path):
    (tmp_path / "metrics.json").write_text("{not json")
    with pytest.raises(InterInvError, match="metrics.json' is not a metrics file"):
        load_design(tmp_path)


def test_the_demo_refuses_an_interaction_that_the_world_names(tmp_path):
    from interinv_world.demo import demo_interaction
    from interinv_world.settings import DemoConfig

    world = load_world(WEIGHTS_DIR)
    assert demo_interaction(world, DemoConfig()) == "kiss_hand"
    with pytest.raises(InterInvError, match="'hug': this world names it"):
        demo_interaction(world, DemoConfig(interaction="hug"))


def test_verdicts_apply_lower_and_upper_bounds_and_fail_what_was_not_measured():
    from interinv_world.check import TARGETS, verdicts

    rows = verdicts({"gate_interaction": 0.95, "neutral_tv_distance": 0.25})
    assert rows["gate_interaction"]["met"] and not rows["neutral_tv_distance"]["met"]
    assert set(rows) == set(TARGETS) and not rows["scorer_agreement"]["met"]  # None: not measured


def test_a_second_scorer_of_another_shape_round_trips(tmp_path):
    from interinv_world.models import SECOND_SCORER_SHAPE, SceneClassifier, load_scorer, save_scorer

    model = SceneClassifier({"interaction": 10}, **SECOND_SCORER_SHAPE).eval()
    save_scorer(model, tmp_path / "s.safetensors")
    loaded = load_scorer(tmp_path / "s.safetensors")
    assert loaded.shape == SECOND_SCORER_SHAPE
    x = torch.rand(2, 3, 64, 64)
    assert torch.allclose(loaded(x)["interaction"], model(x)["interaction"], atol=1e-2)  # fp16 storage


def test_quick_world_check_runs_on_the_committed_world(tmp_path, capsys):
    from interinv.cli import main

    out = tmp_path / "check.json"
    assert main(["world", "check", "--quick", "--json", str(out), "--pictures", str(tmp_path / "pictures")]) == 0
    result = json.loads(out.read_text())
    printed = capsys.readouterr().out
    from interinv_world.check import TARGETS

    assert all(name in printed for name in TARGETS)
    assert set(result["targets"]) == set(TARGETS)
    assert set(result["neutral"]["generated"]) == set(render.INTERACTIONS)
    assert result["inversion"]["interaction"] == "back_to_back"  # the tuning interaction, never a table one
    assert {p.stem for p in (tmp_path / "pictures").glob("*.png")} == {*render.INTERACTIONS, "neutral_histogram"}


@pytest.mark.xfail(strict=True, reason="the committed world (v3) misses 4 of 7 targets of issue 11 "
                   "(weights/check.json): neutral min ratio 0.43 (>= 0.6), scorer agreement 0.84 (>= 0.9), "
                   "TI/prompt 1.43 (>= 2, CIs overlap)")
def test_committed_world_metrics_meet_every_target():
    check = _committed_check()
    assert check["gate"]["samples"] >= 300 and check["neutral"]["samples"] >= 300
    assert check["inversion"]["samples"] >= 64
    missed = {name: row["value"] for name, row in check["targets"].items() if not row["met"]}
    assert not missed, missed


def test_the_denoisers_step_hook_sees_every_step_and_the_returned_ema_pipeline():
    import torch

    from interinv_world.models import new_vae
    from interinv_world.pretrain import encode_latents, train_denoiser

    data = render_set(8, 4, 0, WorldDesign(), lambda _: None)
    vae = new_vae().eval()
    scaled = encode_latents(vae, data.images)
    seen = []
    pipe = train_denoiser(vae, data, scaled, QUICK_PRETRAIN, torch.Generator().manual_seed(0), lambda _: None,
                          lambda step, ema: seen.append((step, ema)))
    assert [step for step, _ in seen] == list(range(1, QUICK_PRETRAIN.unet_steps + 1))
    assert all(ema is pipe for _, ema in seen) and not pipe.unet.training


def test_a_shorter_caption_length_reaches_the_tokenizer_and_survives_a_save(tmp_path):
    from interinv_world.models import assemble_pipeline, new_text_encoder, new_unet, new_vae, save_world
    from interinv_world.pretrain import tokenize

    world = load_world(WEIGHTS_DIR)
    pipe = assemble_pipeline(new_vae(), new_text_encoder(32), new_unet())
    assert tokenize(pipe.tokenizer, ["a bear hugs a robot"]).shape == (1, 32)
    save_world(dataclasses.replace(world, pipe=pipe), tmp_path)
    shutil.copy(WEIGHTS_DIR / "metrics.json", tmp_path)
    assert load_world(tmp_path).pipe.tokenizer.model_max_length == 32
    assert world.pipe.tokenizer.model_max_length == 77  # world v1


def test_summary_dropout_swaps_only_the_chosen_captions_end_of_text_states_for_the_empty_captions():
    from interinv.hosts.clip_tokenizer import clip_tokenizer
    from interinv_world.pretrain import drop_summaries, tokenize

    tokenizer = clip_tokenizer()
    tokens = tokenize(tokenizer, ["a bear hugs a robot", "a cat and a person"])
    first_end = [row.tolist().index(tokenizer.eos_token_id) for row in tokens]
    hidden, empty = torch.randn(2, tokens.shape[1], 8), torch.randn(1, tokens.shape[1], 8)
    dropped = drop_summaries(hidden, tokens, empty, torch.tensor([True, False]), tokenizer.eos_token_id)
    assert torch.equal(dropped[0, :first_end[0]], hidden[0, :first_end[0]])  # the start token and the words stay
    assert torch.equal(dropped[0, first_end[0]:], empty[0, first_end[0]:])  # from the first end-of-text on
    assert torch.equal(dropped[1], hidden[1])  # a caption that was not chosen


def test_the_denoiser_trains_end_to_end_with_summary_dropout_and_it_changes_what_is_learned():
    from interinv_world.models import new_vae
    from interinv_world.pretrain import encode_latents, train_denoiser

    data = render_set(8, 4, 0, WorldDesign(), lambda _: None)
    vae = new_vae().eval()
    scaled = encode_latents(vae, data.images)
    unets = []
    for share in (1e-9, 1.0):  # both draw the same random numbers; only the second drops any summary
        torch.manual_seed(0)  # the same initial weights
        cfg = dataclasses.replace(QUICK_PRETRAIN, summary_dropout=share)
        unets.append(train_denoiser(vae, data, scaled, cfg, torch.Generator().manual_seed(0), lambda _: None).unet)
    plain, dropped = (dict(unet.named_parameters()) for unet in unets)
    assert any(not torch.equal(plain[name], dropped[name]) for name in plain)


def test_pose_pair_scenes_come_after_the_others_with_both_pose_words_and_no_interaction_label():
    plain = render_set(6, 3, 0, WorldDesign(), lambda _: None)
    data = render_set(6, 3, 0, WorldDesign(), lambda _: None, pose_pairs=4)
    assert data.captions[:9] == plain.captions and torch.equal(data.images[:9], plain.images)  # v2's data unchanged
    assert data.interaction[9:].tolist() == [-1] * 4 and len(data.images) == len(data.skeletons) == 13
    for caption in data.captions[9:]:
        assert sum(caption.split().count(pose) for pose in render.SINGLE_POSES) == 2, caption
    assert all(row.sum() in (1, 2) for row in data.species[9:])


def test_training_renders_hold_every_kind_of_scene_the_settings_ask_for():
    from interinv_world.pretrain import training_renders

    cfg = PretrainConfig(pair_scenes=5, single_scenes=2, pose_pair_scenes=3, seed=4)
    data = training_renders(cfg, lambda _: None)
    expected = render_set(5, 2, 4, world_design(cfg), lambda _: None, pose_pairs=3)
    assert len(data.captions) == 10 and data.captions == expected.captions
    assert torch.equal(data.images, expected.images)


def test_the_model_card_states_summary_dropout_only_when_a_world_used_it():
    from interinv_world.pretrain import model_card

    metrics = json.loads((WEIGHTS_DIR / "metrics.json").read_text())  # world v2, from before the setting existed
    assert "end-of-text summary" not in model_card(metrics)
    metrics["config"]["summary_dropout"] = 0.5
    assert "50% of captions lose their end-of-text summary in training." in model_card(metrics)


def test_the_model_card_states_pose_pair_scenes_only_when_a_world_used_them():
    from interinv_world.pretrain import model_card

    metrics = json.loads((WEIGHTS_DIR / "metrics.json").read_text())
    del metrics["config"]["pose_pair_scenes"]  # as in worlds from before the setting existed
    assert "pose-pair" not in model_card(metrics)
    metrics["config"]["pose_pair_scenes"] = 2000
    assert "- 2000 pose-pair scenes: two figures apart" in model_card(metrics)
