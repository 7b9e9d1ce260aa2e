import copy

import pytest
import torch
import torch.nn.functional as F

from conftest import RecordingJob
from interinv.errors import InterInvError, TrainingInterrupted
from interinv.data.exemplars import load_interaction, load_subject_images
from interinv.engine.stages import noisy_batch, train_stage1, train_stage2


def _state(host):
    return {name: p.detach().clone() for m in (host.pipe.unet, host.pipe.vae, host.pipe.text_encoder)
            for name, p in m.named_parameters(prefix=type(m).__name__)}


def test_training_leaves_weights_bitwise_unchanged_and_restores_flags(fresh_host, demo_data, small_config, tmp_path, job):
    host = fresh_host
    host.pipe.text_encoder.requires_grad_(True)
    host.pipe.unet.requires_grad_(False)
    before, processors = _state(host), {k: type(v) for k, v in host.pipe.unet.attn_processors.items()}
    poses = train_stage1(host, load_subject_images(demo_data / "stage1"), small_config, workdir=tmp_path, job=job)
    train_stage2(host, load_interaction(demo_data / "exemplars").exemplars, poses, small_config, workdir=tmp_path, job=job)
    after = _state(host)
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.requires_grad for p in host.pipe.text_encoder.parameters())
    assert not any(p.requires_grad for p in host.pipe.unet.parameters())
    assert {k: type(v) for k, v in host.pipe.unet.attn_processors.items()} == processors


def test_gradients_reach_only_the_pseudo_word_vectors(host):
    vec = torch.nn.Parameter(torch.randn(1, 32))
    with host.training():
        cond = host.encode_prompts(["a man kh_r a woman"], {"kh_r": {"clip_l": vec}})
        host.predict(torch.randn(1, 4, 16, 16), torch.tensor([100]), cond).pow(2).mean().backward()
        weights_with_grad = [n for m in (host.pipe.unet, host.pipe.text_encoder) for n, p in m.named_parameters()
                             if p.grad is not None]
    assert vec.grad is not None and vec.grad.abs().sum() > 0
    assert weights_with_grad == []


def test_stage2_logs_each_loss_term_and_weights_ca_by_lambda(host, demo_data, small_config, tmp_path):
    job = RecordingJob()
    poses = train_stage1(host, load_subject_images(demo_data / "stage1"), small_config, workdir=tmp_path, job=job)
    job.losses.clear()
    small_config.stage2.ca_weight = 0.5
    train_stage2(host, load_interaction(demo_data / "exemplars").exemplars, poses, small_config, workdir=tmp_path, job=job)
    for losses in job.losses:
        assert set(losses) == {"loss", "mse", "ca"}
        assert losses["loss"] == pytest.approx(losses["mse"] + 0.5 * losses["ca"], rel=1e-5)


def _fixed_batch_loss(host, images, words, seed=123):
    from interinv.data.exemplars import cached_latents, fill_template
    from interinv.core.noise import timestep_weights

    g = torch.Generator().manual_seed(seed)
    mean, _ = cached_latents(host, [i.image for i in images["p1"]], (32, 32), None)
    x0 = mean.repeat(4, 1, 1, 1)
    x_t, t, target = noisy_batch(host, x0, g, timestep_weights(1000, "uniform"))
    prompts = [fill_template("a photo of a {o} {p}", o=images["p1"][0].subject, p=words["p1"].name)] * len(x0)
    with torch.no_grad():
        cond = host.encode_prompts(prompts, {w.name: w.effective() for w in words.values()})
        return F.mse_loss(host.predict(x_t, t, cond), target).item()


def test_loss_falls_in_an_overfit_run(host, demo_data, small_config, tmp_path):
    images = load_subject_images(demo_data / "stage1")
    images = {role: items[:1] for role, items in images.items()}
    small_config.stage1.steps, small_config.stage1.lr, small_config.stage1.batch_size = 0, 5e-2, 8
    start = _fixed_batch_loss(host, images, train_stage1(host, images, small_config, workdir=tmp_path / "a", job=RecordingJob()))
    small_config.stage1.steps = 60
    trained = train_stage1(host, images, small_config, workdir=tmp_path / "b", job=RecordingJob())
    assert _fixed_batch_loss(host, images, trained) < start


def test_resume_after_interrupt_gives_bitwise_equal_vectors(host, demo_data, small_config, tmp_path):
    images = load_subject_images(demo_data / "stage1")
    small_config.stage1.steps, small_config.stage1.save_every = 8, 100
    straight = train_stage1(host, images, small_config, workdir=tmp_path / "straight", job=RecordingJob())
    with pytest.raises(TrainingInterrupted) as stopped:
        train_stage1(host, images, small_config, workdir=tmp_path / "resumed", job=RecordingJob(stop_after=3))
    assert stopped.value.step == 3 and "--resume" in str(stopped.value)
    with pytest.raises(InterInvError, match="--resume"):
        train_stage1(host, images, small_config, workdir=tmp_path / "resumed", job=RecordingJob())
    resumed = train_stage1(host, images, small_config, workdir=tmp_path / "resumed", job=RecordingJob(), resume=True)
    for role in ("p1", "p2"):
        assert torch.equal(straight[role].raw["clip_l"], resumed[role].raw["clip_l"])


def test_a_state_from_other_settings_is_refused(host, demo_data, small_config, tmp_path):
    images = load_subject_images(demo_data / "stage1")
    train_stage1(host, images, small_config, workdir=tmp_path, job=RecordingJob())
    small_config.stage1.lr = 1.0
    with pytest.raises(InterInvError, match=r"other settings or images: stage1.lr \(was 0.005, now 1.0\)"):
        train_stage1(host, images, small_config, workdir=tmp_path, job=RecordingJob(), resume=True)


def test_snapshots_carry_the_step_in_their_name(host, demo_data, small_config, tmp_path):
    from interinv.export import write_snapshot

    images = load_subject_images(demo_data / "stage1")
    train_stage1(host, images, small_config, workdir=tmp_path, job=RecordingJob(),
                 snapshot=lambda words, step: write_snapshot(tmp_path / "snapshots", words, "sd1", step))
    names = sorted(p.name for p in (tmp_path / "snapshots").iterdir())
    assert names == ["demo_kneel_p1-step000003.safetensors", "demo_kneel_p1-step000006.safetensors",
                     "demo_kneel_p2-step000003.safetensors", "demo_kneel_p2-step000006.safetensors"]


def test_previews_reach_the_job(host, demo_data, small_config, tmp_path):
    job = RecordingJob()
    small_config.stage1.preview_every = 3
    train_stage1(host, load_subject_images(demo_data / "stage1"), small_config, workdir=tmp_path, job=job)
    assert [(stage, step) for stage, step, _, _ in job.previews] == [("stage1", 3), ("stage1", 6)]
    assert job.previews[0][2][0].size == (32, 32) and "demo_kneel_p1" in job.previews[0][3][0]


def nan_from_the_fourth_prediction(host, monkeypatch):
    calls, real = {"n": 0}, host.predict

    def predict(x_t, t, cond):
        calls["n"] += 1
        out = real(x_t, t, cond)
        return out * float("nan") if calls["n"] >= 4 else out

    monkeypatch.setattr(host, "predict", predict)


def test_nan_loss_is_reported_with_its_step(fresh_host, demo_data, small_config, tmp_path, monkeypatch):
    nan_from_the_fourth_prediction(fresh_host, monkeypatch)
    with pytest.raises(InterInvError, match="at step 4.*learning rate"):
        train_stage1(fresh_host, load_subject_images(demo_data / "stage1"), small_config, workdir=tmp_path, job=RecordingJob())


def test_a_loss_that_turns_nan_between_reads_is_never_saved(fresh_host, demo_data, small_config, tmp_path, monkeypatch):
    nan_from_the_fourth_prediction(fresh_host, monkeypatch)
    small_config.stage1.log_every = 0  # read back only at the saves (steps 3 and 6)
    with pytest.raises(InterInvError, match="became nan at step 4"):
        train_stage1(fresh_host, load_subject_images(demo_data / "stage1"), small_config, workdir=tmp_path,
                     job=RecordingJob())
    state = torch.load(tmp_path / "state" / "stage1.pt", weights_only=True)
    assert state["step"] == 3
    assert all(torch.isfinite(v).all() for vectors in state["vectors"].values() for v in vectors.values())


def test_out_of_memory_is_reported_with_suggestions(fresh_host, demo_data, small_config, tmp_path, monkeypatch):
    def predict(*_args):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(fresh_host, "predict", predict)
    with pytest.raises(InterInvError, match="out of memory.*--batch-size.*--resolution"):
        train_stage1(fresh_host, load_subject_images(demo_data / "stage1"), small_config, workdir=tmp_path, job=RecordingJob())


def test_v_prediction_models_train(demo_data, small_config, tmp_path):
    from interinv.testing import tiny_host

    host = tiny_host(prediction_type="v_prediction")
    assert host.prediction_type == "v_prediction"
    job = RecordingJob()
    train_stage1(host, load_subject_images(demo_data / "stage1"), small_config, workdir=tmp_path, job=job)
    assert len(job.losses) == 6 and all(l["loss"] > 0 for l in job.losses)


def test_relation_only_baseline_trains_a_widened_r_with_steering(host, demo_data, small_config, tmp_path):
    job = RecordingJob()
    small_config.stage2.ca_weight = 0.0
    small_config.stage2.steer_weight = 0.5
    small_config.stage2.r_vectors = 3
    small_config.stage2.r_init = "word:and"
    exemplars = load_interaction(demo_data / "exemplars").exemplars
    relation = train_stage2(host, exemplars, None, small_config, workdir=tmp_path, job=job)
    assert relation.num_vectors == 3
    for losses in job.losses:
        assert set(losses) == {"loss", "mse", "steer"}
        assert losses["loss"] == pytest.approx(losses["mse"] + 0.5 * losses["steer"], rel=1e-5)


def test_relation_only_training_refuses_the_cross_attention_loss(host, demo_data, small_config, tmp_path, job):
    exemplars = load_interaction(demo_data / "exemplars").exemplars
    with pytest.raises(InterInvError, match="ca_weight"):
        train_stage2(host, exemplars, None, small_config, workdir=tmp_path, job=job)


def test_relation_only_captions_leave_the_pose_slots_empty():
    from interinv.data.exemplars import Exemplar
    from interinv.engine.stages import stage2_caption

    exemplar = Exemplar(image=None, subjects=("cat", "dog"), templates=("a photo of a {o1} {p1} {r} a {o2} {p2}",))
    assert stage2_caption(exemplar, 0, {"p1": "", "p2": ""}, "kh_r") == "a photo of a cat kh_r a dog"
