"""InterInv's A1111 adapter on the stand-in WebUI with a tiny SDXL checkpoint (sgm's DiffusionEngine surface):
both stages and the clip_l/clip_g files, the conditioning dict with gradients, refusals, ControlNet, tab and API defaults."""

import pytest
import torch
from safetensors.torch import load_file

import a1111_standin  # noqa: F401  (puts the stand-in's `modules` on sys.path)
from api_helpers import body, client, wait
from standin import a1111_host as host
from standin import boot, demo, tiny_config  # noqa: F401  (fixtures)
from test_a1111_host import StopAfter, request
from test_tab import LABEL, click, form

from interinv.engine.run import TrainRequest, run
from interinv.errors import InterInvError, TrainingInterrupted
from interinv.hosts.base import ImageSize
from interinv.job import Job
from interinv.testing import SDXL_TINY_WIDTHS, tiny_sdxl_pipeline

PROMPT = "a photo of a man zq_pose kneeling"
WIDTH = sum(SDXL_TINY_WIDTHS.values())  # A1111's SDXL embedding width: clip_l + clip_g (2048 at full size)


@pytest.fixture()
def sdxl(tmp_path):
    """A freshly started stand-in WebUI with the tiny SDXL base checkpoint loaded."""
    return boot(tmp_path / "webui", family="sdxl")


def word_vectors(h, count=2, requires_grad=True):
    return {key: torch.randn(count, dim, requires_grad=requires_grad) for key, dim in h.embedding_dims.items()}


def spliced_rows(model, prompt):
    """What each text embedder's token embedding layer outputs for `prompt` through the WebUI's own conditioning."""
    from modules import prompt_parser

    layers = {"clip_l": model.conditioner.embedders[0].wrapped.transformer.text_model.embeddings.token_embedding,
              "clip_g": model.conditioner.embedders[1].wrapped.model.token_embedding}
    rows, handles = {}, []
    for key, layer in layers.items():
        handles.append(layer.register_forward_hook(lambda _m, _i, out, key=key: rows.setdefault(key, out)))
    try:
        with torch.no_grad():
            model.get_learned_conditioning(prompt_parser.SdConditioning([prompt], width=64, height=64))
    finally:
        for handle in handles:
            handle.remove()
    return rows


def test_both_stages_train_on_sdxl_and_the_clip_l_clip_g_files_load_and_work_at_once(sdxl, demo):
    from modules import sd_hijack

    embeddings = sdxl["data_dir"] / "embeddings"
    out = embeddings / "interactions" / "demo_kneel"
    weights = {k: v.clone() for k, v in sdxl["model"].state_dict().items()}
    h = host()
    request = TrainRequest(exemplars=demo / "exemplars", out=out, config=tiny_config(), name="demo_kneel",
                           stage1_images=demo / "stage1", work=sdxl["data_dir"] / "interinv" / "work")
    manifest = run(h, request, Job()).manifest
    files = sorted(out.glob("*.safetensors"))
    names = h.install_embeddings([str(p) for p in files])
    db = sd_hijack.model_hijack.embedding_db
    assert manifest.parent == out and not db.load_errors and db.expected_shape == WIDTH
    assert sorted(names) == ["demo_kneel_p1", "demo_kneel_p2", "demo_kneel_r"]
    for path in files:
        tensors = load_file(str(path))
        assert {k: v.shape[1] for k, v in tensors.items()} == SDXL_TINY_WIDTHS
        embedding = db.word_embeddings[path.stem]
        assert embedding.shape == WIDTH and embedding.vectors == tensors["clip_g"].shape[0]
    # usable right away: each encoder splices its own half of the file into the WebUI's own conditioning
    file = load_file(str(out / "demo_kneel_r.safetensors"))
    rows = spliced_rows(sdxl["model"], "a man demo_kneel_r a woman")
    first = 1 + 2  # BOS, "a", "man"
    for key in SDXL_TINY_WIDTHS:
        assert torch.allclose(rows[key][0, first:first + file[key].shape[0]], file[key])
    assert all(torch.equal(weights[k], v) for k, v in sdxl["model"].state_dict().items())


def test_an_interrupted_sdxl_job_resumes_both_encoders_vectors_bitwise(sdxl, demo):
    out = sdxl["data_dir"] / "interinv" / "demo_kneel"
    straight = run(host(), request(demo, sdxl["data_dir"] / "straight", tiny_config(steps=3)), Job()).manifest.parent
    with pytest.raises(TrainingInterrupted):
        run(host(), request(demo, out, tiny_config(steps=3)), StopAfter(1))
    resumed = StopAfter(10**6)
    run(host(), request(demo, out, tiny_config(steps=3), resume=True), resumed)
    assert resumed.seen == 2 + 3  # stage 1 from step 2, then all of stage 2
    for role in ("p1", "r", "p2"):
        a, b = (load_file(str(folder / f"demo_kneel_{role}.safetensors")) for folder in (straight, out))
        assert a.keys() == b.keys() == set(SDXL_TINY_WIDTHS) and all(torch.equal(a[k], b[k]) for k in a)


def test_the_conditioning_is_the_webuis_own_and_gradients_reach_only_both_encoders_vectors(sdxl):
    from modules import prompt_parser

    h = host()
    vectors = word_vectors(h)
    with h.training():
        cond = h.encode_prompts([PROMPT], {"zq_pose": vectors}, [ImageSize(original=(64, 64), target=(64, 64))])
        loss = h.predict(torch.randn(1, 4, 8, 8), torch.tensor([500]), cond).square().mean()
        loss.backward()
        params = list(sdxl["model"].parameters())
    assert cond["crossattn"].shape == (1, 77, WIDTH) and cond["vector"].shape == (1, SDXL_TINY_WIDTHS["clip_g"] + 3 * 16)
    assert all(v.grad is not None and v.grad.abs().sum() > 0 for v in vectors.values())
    assert all(p.grad is None for p in params)
    # without trained words, the same dict as the WebUI's get_learned_conditioning (which runs under no_grad)
    mine = h.encode_prompts(["a photo of a man"], {}, [ImageSize(original=(64, 64), target=(64, 64))])
    theirs = sdxl["model"].get_learned_conditioning(prompt_parser.SdConditioning(["a photo of a man"], width=64, height=64))
    assert not theirs["crossattn"].requires_grad
    assert all(torch.allclose(mine[key], theirs[key], atol=1e-6) for key in ("crossattn", "vector"))


def test_a_word_being_trained_wins_over_an_installed_file_of_the_same_name(sdxl):
    """Retraining an installed interaction (Overwrite): found on the real A1111 v1.10.1, where the file's frozen
    vectors were spliced in instead and the first backward failed ("does not require grad")."""
    from safetensors.torch import save_file

    from modules import sd_hijack

    h = host()
    installed = sdxl["data_dir"] / "embeddings" / "zq_pose.safetensors"
    save_file({k: torch.randn(2, d) for k, d in h.embedding_dims.items()}, str(installed))
    sd_hijack.model_hijack.embedding_db.load_textual_inversion_embeddings(force_reload=True)
    assert "zq_pose" in sd_hijack.model_hijack.embedding_db.word_embeddings
    vectors = word_vectors(h)
    with h.training():
        cond = h.encode_prompts([PROMPT], {"zq_pose": vectors}, [ImageSize(original=(64, 64), target=(64, 64))])
        cond["crossattn"].sum().backward()
    assert all(v.grad is not None and v.grad.abs().sum() > 0 for v in vectors.values())


def test_the_conditioner_itself_runs_so_medvrams_hook_on_it_fires_and_its_flags_come_back(sdxl):
    conditioner = sdxl["model"].conditioner
    calls = []
    conditioner.register_forward_pre_hook(lambda _m, _args: calls.append(True))  # what lowvram.py hangs on SDXL
    host().encode_prompts([PROMPT], {"zq_pose": word_vectors(host())})
    assert calls == [True]
    assert not any(embedder.is_trainable for embedder in conditioner.embedders)


def test_the_pooled_clip_g_output_sees_the_spliced_words(sdxl):
    """The pooled feature is read at the end token, which comes after the words, so the vector carries them too."""
    h = host()
    vectors = word_vectors(h)
    cond = h.encode_prompts([PROMPT], {"zq_pose": vectors})
    pooled = cond["vector"][:, : SDXL_TINY_WIDTHS["clip_g"]]
    (grad,) = torch.autograd.grad(pooled.sum(), vectors["clip_g"])
    assert grad.abs().sum() > 0


def test_the_vector_conditioning_follows_each_images_size(sdxl):
    h = host()
    pooled = SDXL_TINY_WIDTHS["clip_g"]
    sizes = [ImageSize(original=(64, 64), target=(64, 64)), ImageSize(original=(480, 640), target=(64, 64)),
             ImageSize(original=(64, 64), target=(64, 64), crop_top_left=(8, 0))]
    cond = h.encode_prompts(["a man"] * 3, {}, sizes)
    vector = cond["vector"]
    assert torch.equal(cond["crossattn"][0], cond["crossattn"][1])
    assert torch.equal(vector[0, :pooled], vector[1, :pooled])  # the text part is the same
    assert not torch.allclose(vector[0], vector[1]) and not torch.allclose(vector[0], vector[2])
    default = h.encode_prompts(["a man"], {})  # generation: the host's own side, uncropped
    assert torch.allclose(default["vector"][0], vector[0], atol=1e-6)  # previews are 64 px here


def test_the_stand_in_computes_what_the_diffusers_sdxl_pipeline_computes(sdxl):
    """The stand-in wraps tiny_sdxl_pipeline's weights: its dict conditioning and UNet equal the pipeline's."""
    pipe = tiny_sdxl_pipeline(seed=0)
    h = host()
    cond = h.encode_prompts(["a photo of a man"], {}, [ImageSize(original=(480, 640), target=(64, 64), crop_top_left=(8, 4))])
    with torch.no_grad():
        embeds, _, pooled, _ = pipe.encode_prompt("a photo of a man", device="cpu", num_images_per_prompt=1,
                                                  do_classifier_free_guidance=False)
        x, t = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0)), torch.tensor([321])
        time_ids = torch.tensor([[480.0, 640.0, 8.0, 4.0, 64.0, 64.0]])
        expected = pipe.unet(x, t, encoder_hidden_states=embeds,
                             added_cond_kwargs={"text_embeds": pooled, "time_ids": time_ids}).sample
        mine = h.predict(x, t, cond)
    assert torch.allclose(cond["crossattn"], embeds, atol=1e-5)
    assert torch.allclose(cond["vector"][:, : SDXL_TINY_WIDTHS["clip_g"]], pooled, atol=1e-5)
    assert torch.allclose(mine, expected, atol=1e-4)


def test_a_v_prediction_sdxl_checkpoint_is_read_as_v_prediction(tmp_path):
    boot(tmp_path, family="sdxl", parameterization="v")  # e.g. NoobAI's v-pred models (sgm's VScaling denoiser)
    h = host()
    assert (h.family, h.prediction_type) == ("sdxl", "v_prediction")


def test_token_rows_and_positions_come_from_each_encoders_own_table(sdxl):
    h = host()
    rows = h.token_rows(["man", "woman"])
    assert h.embedding_dims == SDXL_TINY_WIDTHS
    assert {key: [r.shape for r in value] for key, value in rows.items()} == {
        key: [torch.Size([1, dim])] * 2 for key, dim in SDXL_TINY_WIDTHS.items()}
    assert not torch.allclose(rows["clip_l"][0][:, :8], rows["clip_g"][0][:, :8])  # two different tables
    assert h.token_positions("a man zq_one zq_two a woman", {"zq_one": 1, "zq_two": 2}) == {"zq_one": [3], "zq_two": [4, 5]}


def test_latents_are_the_posterior_mean_and_std_not_sgms_sample(sdxl):
    from PIL import Image

    h = host()
    image = Image.new("RGB", (64, 64), (200, 40, 10))
    mean, std = h.encode_images([image], (64, 64))
    again, _ = h.encode_images([image], (64, 64))
    pixels = torch.full((1, 3, 64, 64), 0.0)
    samples = torch.stack([sdxl["model"].encode_first_stage(pixels) for _ in range(2)])
    assert torch.equal(mean, again) and mean.shape == std.shape == (1, 4, 8, 8) and (std > 0).all()
    assert not torch.equal(samples[0], samples[1])  # why the host reads the moments instead


def test_a_vae_that_overflows_in_half_precision_is_reported_with_the_fix(sdxl):
    from PIL import Image

    overflow = sdxl["model"].first_stage_model.quant_conv.register_forward_hook(lambda _m, _i, out: out * float("inf"))
    with pytest.raises(InterInvError, match="VAE encoded the training images to NaN.*--no-half-vae"):
        host().encode_images([Image.new("RGB", (64, 64))], (64, 64))
    overflow.remove()


def test_cross_attention_layers_have_measured_sizes_on_sdxl(sdxl):
    layers = host().cross_attention_layers((8, 8))
    assert layers and all(hasattr(layer.module, "heads") and hasattr(layer.module, "scale") for layer in layers)
    assert {layer.size for layer in layers} == {(4, 4)}


@pytest.mark.parametrize("family, reason", [
    ("sdxl-refiner", "SDXL refiner: it has only the CLIP-G text encoder"),
    ("sdxl-inpaint", "SDXL inpainting model: its UNet takes 9 input channels"),
])
def test_the_refiner_and_inpainting_models_are_refused_with_the_reason(tmp_path, family, reason):
    model = boot(tmp_path, family=family)["model"]
    assert model.is_sdxl
    with pytest.raises(InterInvError, match=reason):
        host()


def test_sd3_is_refused_with_the_reason(sdxl):
    sdxl["model"].is_sd3 = True
    with pytest.raises(InterInvError, match="SD3, which InterInv cannot train"):
        host()


def test_stage1_images_use_an_sdxl_openpose_controlnet(sdxl):
    from PIL import Image

    image = host().generate("a man zq_pose", pose_image=Image.new("RGB", (64, 64)), seed=3, steps=2, size=(64, 64))
    call = sdxl["controlnet"].received[-1]
    assert image.size == (64, 64)
    assert [(u.module, u.model) for u in call["units"]] == [("none", "thibaud_xl_openpose [c7b9cadd]")]


def test_only_sd1_controlnets_are_refused_for_sdxl_with_what_to_install(tmp_path):
    from PIL import Image

    boot(tmp_path, family="sdxl", controlnet_models=("control_v11p_sd15_openpose [cab727d4]", "control_openpose-fp16 [9ca67cc5]"))
    h = host()
    assert not h.can_generate_poses
    with pytest.raises(InterInvError, match=r"No openpose ControlNet model for sdxl.*control_v11p_sd15_openpose "
                                             r"\[cab727d4\], control_openpose-fp16 \[9ca67cc5\]\) are made for another "
                                             r"family.*an SDXL openpose ControlNet"):
        h.generate("a man", pose_image=Image.new("RGB", (64, 64)), size=(64, 64), steps=1)


@pytest.mark.parametrize("models, chosen", [
    (("control_v11p_sd15_openpose [cab727d4]", "controlnetxlCNXL_xinsirOpenpose [ba3a9ad4]"), "controlnetxlCNXL_xinsirOpenpose [ba3a9ad4]"),
    (("control_openpose-fp16 [9ca67cc5]", "kohya_controllllite_xl_openpose_anime [7e5349e5]"), "kohya_controllllite_xl_openpose_anime [7e5349e5]"),
    (("thibaud_xl_openpose [c7b9cadd]", "controlnetxlCNXL_xinsirCanny [a1b2c3d4]"), "thibaud_xl_openpose [c7b9cadd]"),
])
def test_the_sdxl_openpose_model_is_picked_by_its_xl_tag(models, chosen):
    from interinv.hosts.a1111_host import openpose_model

    assert openpose_model(list(models), "sdxl") == chosen


def test_the_tab_defaults_follow_the_sdxl_family(sdxl):
    from interinv.ui import tab

    components = {c["props"].get("elem_id"): c["props"] for c in tab.build(host).config["components"]}
    assert components["interinv_resolution"]["value"] == 1024
    assert "SDXL checkpoint" in components["interinv_family_note"]["value"]
    assert "docs/benchmarks.md" in components["interinv_family_note"]["value"]
    assert components["interinv_source_note"]["value"] == ""  # an SDXL openpose model is installed


def test_the_tab_renders_stage1_with_the_sdxl_controlnet_and_trains_files_it_lists_as_loaded(sdxl, demo):
    sheet, _gallery, result = click("task(sheet)", form(demo, source=LABEL["controlnet"]), train=False)
    calls = sdxl["controlnet"].received
    assert "contact sheet is ready" in result
    assert calls and {u.model for c in calls for u in c["units"]} == {"thibaud_xl_openpose [c7b9cadd]"}
    _sheet, _gallery, result = click("task(train)", form(demo))
    assert "Trained 'demo_kneel'" in result and result.count(": loaded") == 3, result


def test_the_api_trains_on_sdxl_from_the_same_request(sdxl, demo):
    from modules import sd_hijack

    http = client()
    status = wait(http, http.post("/interinv/v1/train", json=body(demo)).json()["task_id"])
    assert status["status"] == "done", status["error"]
    assert sorted(status["loaded"]) == ["demo_kneel_p1", "demo_kneel_p2", "demo_kneel_r"]
    assert sd_hijack.model_hijack.embedding_db.word_embeddings["demo_kneel_r"].shape == WIDTH


def test_the_api_takes_the_same_request_and_defaults_to_1024_on_sdxl(sdxl, demo):
    from interinv.ui import api

    request = body(demo)
    request["config"] = {key: value for key, value in request["config"].items() if key != "resolution"}
    assert api.spec_from_body(request).config.resolution == 1024
    assert api.spec_from_body(body(demo)).config.resolution == 64  # the request's own value wins


def test_the_default_side_is_1024_on_sdxl_and_stays_512_on_sd1(sdxl, tmp_path):
    from interinv.hosts.a1111_host import A1111Host, default_resolution

    assert default_resolution() == 1024 and A1111Host().preview_size == 1024
    boot(tmp_path / "sd1")
    assert default_resolution() == 512 and A1111Host().preview_size == 512


def test_an_sdxl_pt_file_is_the_clip_l_clip_g_dict_that_the_webui_and_our_reader_load(sdxl, tmp_path):
    from modules import sd_hijack

    from interinv.formats.embedding_files import read_embedding, write_a1111_pt

    vectors = {key: torch.randn(2, dim) for key, dim in SDXL_TINY_WIDTHS.items()}
    path = write_a1111_pt(sdxl["data_dir"] / "embeddings" / "zq_pt.pt", vectors, "sdxl", 5, "tiny-sdxl")
    db = sd_hijack.model_hijack.embedding_db
    db.load_textual_inversion_embeddings(force_reload=True)
    assert not db.load_errors and db.word_embeddings["zq_pt"].shape == WIDTH
    assert all(torch.equal(db.word_embeddings["zq_pt"].vec[key].cpu(), vectors[key]) for key in vectors)
    read = read_embedding(path)
    assert read.format == "sdxl" and all(torch.equal(read.tensors[key], vectors[key]) for key in vectors)
