"""InterInv's A1111 adapter on the stand-in WebUI: both stages, files, refusals, restore, ControlNet bridge."""

import pytest
import torch

import a1111_standin  # noqa: F401  (puts the stand-in's `modules` on sys.path)
from standin import a1111_host as host
from standin import boot, demo, tiny_config, webui  # noqa: F401  (fixtures)

from interinv.errors import InterInvError, TrainingInterrupted
from interinv.job import Job
from interinv.engine.run import TrainRequest, run


def request(demo, out, config, **kwargs):
    return TrainRequest(exemplars=demo / "exemplars", out=out, config=config, name=config.name,
                        stage1_images=demo / "stage1", **kwargs)


def test_both_stages_train_on_the_loaded_checkpoint_and_the_files_load(webui, demo):
    from modules import sd_hijack

    embeddings = webui["data_dir"] / "embeddings"
    out, work = embeddings / "interactions" / "demo_kneel", webui["data_dir"] / "interinv" / "work"
    weights = {k: v.clone() for k, v in webui["model"].state_dict().items()}
    h = host()
    manifest = run(h, request(demo, out, tiny_config(), work=work), Job()).manifest
    names = h.install_embeddings([str(p) for p in out.glob("*.safetensors")])
    db = sd_hijack.model_hijack.embedding_db
    assert manifest.parent == out and not db.load_errors
    assert sorted(names) == ["demo_kneel_p1", "demo_kneel_p2", "demo_kneel_r"]
    assert db.word_embeddings["demo_kneel_r"].shape == h.embedding_dims["clip_l"]
    assert not any(embeddings in p.parents for p in work.rglob("*"))  # state, snapshots and latents stay outside
    assert all(torch.equal(weights[k], v) for k, v in webui["model"].state_dict().items())


def test_training_restores_attention_grad_flags_and_modes(webui):
    from modules import sd_hijack

    model = webui["model"]
    model.cond_stage_model.wrapped.transformer.requires_grad_(True)
    model.train()
    before = sd_hijack.model_hijack.optimization_method
    h = host()
    with h.training():
        assert sd_hijack.model_hijack.optimization_method == "sdp"
        assert not any(p.requires_grad for p in model.parameters())
        assert not model.training
    assert before == "Doggettx" and sd_hijack.model_hijack.optimization_method == before
    assert all(p.requires_grad for p in model.cond_stage_model.wrapped.transformer.parameters())
    assert model.training


def test_gradients_reach_the_vector_through_a1111s_embedding_splice(webui):
    h = host()
    vec = torch.randn(2, h.embedding_dims["clip_l"], requires_grad=True)
    cond = h.encode_prompts(["a photo of a man zq_pose"], {"zq_pose": {"clip_l": vec}})
    plain = h.encode_prompts(["a photo of a man zq_pose"], {"zq_pose": {"clip_l": torch.zeros_like(vec)}})
    cond.sum().backward()
    assert vec.grad is not None and vec.grad.abs().sum() > 0
    assert not torch.allclose(cond, plain)


def test_token_positions_come_from_tokenize_line_fixes(webui):
    h = host()
    positions = h.token_positions("a man zq_one zq_two a woman", {"zq_one": 1, "zq_two": 2})
    with h.with_training_words():
        chunks, _ = webui["model"].cond_stage_model.tokenize_line("a man zq_one zq_two a woman")
    assert positions == {"zq_one": [3], "zq_two": [4, 5]}
    assert [f.offset for f in chunks[0].fixes] == [2, 3]


def test_v_parameterization_and_sd2_flags_are_read(tmp_path):
    boot(tmp_path, parameterization="v", family="sd2")
    h = host()
    assert (h.family, h.prediction_type, tuple(h.embedding_dims)) == ("sd2", "v_prediction", ("clip_h",))


def test_cross_attention_layers_have_measured_sizes(webui):
    layers = host().cross_attention_layers((8, 8))
    assert layers and all(hasattr(layer.module, "heads") and hasattr(layer.module, "scale") for layer in layers)
    assert {layer.size for layer in layers} == {(4, 4)}


@pytest.mark.parametrize("setting, reason", [
    (lambda s, d, m: setattr(s.cmd_opts, "lowvram", True), "--lowvram"),
    (lambda s, d, m: setattr(d, "fp8", True), "FP8"),
    (lambda s, d, m: setattr(m, "is_sd3", True), "SD3"),
    (lambda s, d, m: setattr(m, "forge_objects", object()), "Forge"),
])
def test_unsupported_hosts_are_refused_with_a_reason(webui, setting, reason):
    from modules import devices, shared

    setting(shared, devices, webui["model"])
    with pytest.raises(InterInvError, match=reason):
        host()


class StopAfter(Job):
    def __init__(self, steps):
        self.steps, self.seen = steps, 0

    def update(self, stage, step, losses):
        self.seen += 1

    def stop_requested(self):
        return self.seen >= self.steps


def test_an_interrupted_job_resumes_from_its_saved_state(webui, demo):
    out = webui["data_dir"] / "interinv" / "demo_kneel"
    with pytest.raises(TrainingInterrupted) as stopped:
        run(host(), request(demo, out, tiny_config(steps=3)), StopAfter(1))
    assert stopped.value.step == 1
    resumed = StopAfter(10**6)
    run(host(), request(demo, out, tiny_config(steps=3), resume=True), resumed)
    assert resumed.seen == 2 + 3  # stage 1 from step 2, then all of stage 2


def test_a_width_mismatch_is_reported_as_skipped(webui, tmp_path):
    from safetensors.torch import save_file

    path = webui["data_dir"] / "embeddings" / "wide_r.safetensors"
    save_file({"emb_params": torch.zeros(1, 768)}, str(path))
    with pytest.raises(InterInvError, match="skipped: its width is 768"):
        host().install_embeddings([str(path)])


def test_stage1_controlnet_bridge_sends_one_openpose_unit_with_every_scripts_defaults(webui):
    from PIL import Image

    from modules import shared

    shared.state.job_count, shared.state.job_no, shared.state.textinfo = 9, 4, "stage1"
    skeleton = Image.new("RGB", (64, 64), (0, 0, 0))
    image = host().generate("a man zq_pose", pose_image=skeleton, seed=7, steps=2, size=(64, 64))
    call = webui["controlnet"].received[-1]
    assert image.size == (64, 64)
    assert (call["seed"], call["steps"]) == (7, 2)
    assert [(u.module, u.model) for u in call["units"]] == [("none", "control_v11p_sd15_openpose [cab727d4]")]
    assert call["units"][0].image.shape == (64, 64, 3)
    assert webui["other"].seen == [(False, 0.5)]
    assert (shared.state.job_count, shared.state.job_no, shared.state.textinfo) == (9, 4, "stage1")


def test_missing_controlnet_says_what_to_install(tmp_path):
    boot(tmp_path, controlnet_models=())
    with pytest.raises(InterInvError, match="No openpose ControlNet model for sd1"):
        host().generate("a man", pose_image=__import__("PIL.Image").Image.new("RGB", (64, 64)), size=(64, 64), steps=1)


def test_generation_runs_inside_the_queue_lock_without_taking_it_again(webui):
    from PIL import Image

    from modules import call_queue

    with call_queue.queue_lock:  # the stand-in's lock raises where the real one would deadlock
        image = host().generate("a man", pose_image=Image.new("RGB", (64, 64)), seed=1, steps=1, size=(64, 64))
    assert image.size == (64, 64)


def test_a_controlnet_that_fails_during_rendering_stops_instead_of_ignoring_the_pose(webui, monkeypatch):
    from PIL import Image

    def broken(self, p, *units):  # e.g. the real extension cannot build its model from the file
        raise KeyError("input_blocks.5.1.transformer_blocks.0.attn2.to_k.weight")

    monkeypatch.setattr(type(webui["controlnet"]), "process", broken)
    host().generate("a man", size=(64, 64), steps=1)  # no pose: ControlNet is not asked for, its error is not ours
    with pytest.raises(InterInvError, match="failed while rendering a stage-1 image.*attn2.to_k"):
        host().generate("a man", pose_image=Image.new("RGB", (64, 64)), size=(64, 64), steps=1)


def test_the_ui_scripts_would_overwrite_seed_and_steps_without_is_api(webui):
    from modules import processing, scripts

    p = processing.StableDiffusionProcessingTxt2Img(prompt="a man", seed=7, steps=2)
    p.scripts = scripts.scripts_txt2img
    p.script_args = [0] + [c.value for c in scripts.scripts_txt2img.inputs[1:]]
    assert (p.seed, p.steps) == (-1, 20)  # why the bridge sets p.is_api first


MODELS = ["thibaud_xl_openpose [c7b9cadd]", "control_v11p_sd15_canny [d14c016b]", "control_openpose-fp16 [9ca67cc5]",
          "control_v11p_sd15_openpose [cab727d4]", "controlnet_sd21_openpose [a9b4c1a0]"]


@pytest.mark.parametrize("models, family, chosen", [
    (MODELS, "sd1", "control_v11p_sd15_openpose [cab727d4]"),
    (MODELS, "sd2", "controlnet_sd21_openpose [a9b4c1a0]"),
    (MODELS[:3], "sd1", "control_openpose-fp16 [9ca67cc5]"),  # untagged openpose models are SD1.5 ones
    (MODELS[:1], "sd1", None),  # never an SDXL model for an SD1 checkpoint
    (MODELS[:3], "sd2", None),
])
def test_the_openpose_model_is_picked_from_get_models_by_family(models, family, chosen):
    from interinv.hosts.a1111_host import openpose_model

    assert openpose_model(models, family) == chosen


def test_missing_extension_says_where_to_get_it(webui, monkeypatch):
    from interinv.hosts import a1111_host

    monkeypatch.setattr(a1111_host, "external_code", lambda: None)
    assert "sd-webui-controlnet" in a1111_host.controlnet_missing("sd1")
    assert not host().can_generate_poses
