"""InterInv's Forge adapter on the Forge stand-in: both stages on inference-tensor weights, the files registered on
every database Forge reads, gradients into the vectors only, refusals, restore, the built-in ControlNet."""

import pytest
import torch

import forge_standin  # noqa: F401  (puts the stand-in's `modules` and `backend` on sys.path)
from forge_webui import OPENPOSE, boot, demo, forge_host, sdxl_webui, webui  # noqa: F401  (fixtures)

from interinv.config import TrainConfig
from interinv.engine.run import TrainRequest, run
from interinv.errors import InterInvError
from interinv.job import Job


def tiny_config(name="demo_kneel", steps=2):
    cfg = TrainConfig(name=name, resolution=64)
    for stage in (cfg.stage1, cfg.stage2):
        stage.steps, stage.batch_size, stage.save_every = steps, 2, 1
    return cfg


def request(demo, out, config, **kwargs):
    return TrainRequest(exemplars=demo / "exemplars", out=out, config=config, name=config.name,
                        stage1_images=demo / "stage1", **kwargs)


@pytest.fixture(params=["webui", "sdxl_webui"])
def any_webui(request):
    """The stand-in Forge with an SD1 checkpoint loaded, then with an SDXL one."""
    return request.getfixturevalue(request.param)


def weights(model):
    objects = model.forge_objects
    return [(owner, name, tensor) for module in (objects.clip.cond_stage_model, objects.unet.model)
            for owner in module.modules() for name, tensor in owner._parameters.items() if tensor is not None]


def test_trains_both_stages_on_inference_tensors_and_every_database_loads_the_files(any_webui, demo):
    import safetensors.torch
    from fastapi import FastAPI

    from interinv.hosts.forge_host import engines
    from interinv.ui import entry
    from modules import call_queue, processing, ui_extra_networks_textual_inversion
    from modules.api.api import Api

    app = FastAPI()
    api = Api(app, call_queue.queue_lock)  # what --api makes before the app_started callbacks run
    entry.app_started(None, app)
    webui = any_webui
    model = webui["model"]
    before = [(owner, name, tensor) for owner, name, tensor in weights(model)]
    assert all(tensor.is_inference() for _, _, tensor in before)  # as Forge's loader leaves them
    host = forge_host()
    out, work = webui["data_dir"] / "embeddings" / "interactions" / "demo_kneel", webui["data_dir"] / "interinv" / "work"
    outcome = run(host, request(demo, out, tiny_config(), work=work), Job())
    files = sorted(p.name for p in out.glob("*.safetensors"))
    assert len(files) == 3 and set(outcome.words) == {"p1", "r", "p2"}
    keys = {"clip_l", "clip_g"} if host.family == "sdxl" else {"emb_params"}  # the WebUIs' file layouts
    assert all(set(safetensors.torch.load_file(str(out / f))) == keys for f in files)
    assert all(owner._parameters[name] is tensor for owner, name, tensor in before)  # the originals are back
    names = host.install_embeddings([str(out / f) for f in files])
    stems = {f.removesuffix(".safetensors") for f in files}
    assert set(names) == stems
    for db in (*(engine.embeddings for engine in engines(model)), ui_extra_networks_textual_inversion.embedding_db,
               api.embedding_db):
        assert stems <= set(db.word_embeddings)
    # the next txt2img uses them: Forge names the embeddings it spliced in the infotext ("TI: ...")
    # (the same prompt as a txt2img before the install: Forge's prompt cache must not hand back the old conditioning)
    r_word = next(s for s in stems if s.endswith("_r"))
    p = processing.StableDiffusionProcessingTxt2Img(prompt=f"a man {r_word} a woman", steps=2, width=64, height=64, seed=1)
    assert r_word in processing.process_images(p).infotexts[0].split("TI: ")[1]


def test_a_txt2img_right_after_the_install_uses_the_file_even_for_a_cached_prompt(webui):
    import safetensors.torch

    from modules import processing

    host = forge_host()
    prompt = "a man copied_r a woman"
    txt2img = lambda: processing.process_images(processing.StableDiffusionProcessingTxt2Img(  # noqa: E731
        prompt=prompt, steps=2, width=64, height=64, seed=1)).infotexts[0]
    assert "TI:" not in txt2img()  # not a word yet; Forge caches this conditioning by the prompt's text
    path = webui["data_dir"] / "embeddings" / "copied_r.safetensors"
    safetensors.torch.save_file({"clip_l": torch.randn(2, host.embedding_dims["clip_l"])}, str(path))
    assert host.install_embeddings([str(path)]) == ["copied_r"]
    assert "TI: copied_r" in txt2img()


def test_gradients_reach_only_the_vectors(any_webui):
    host = forge_host()
    vectors = {key: torch.randn(2, width, requires_grad=True) for key, width in host.embedding_dims.items()}
    with host.training():
        host.token_positions("a man rel_x a woman", {"rel_x": 2})
        cond = host.encode_prompts(["a man rel_x a woman"], {"rel_x": vectors})
        x = torch.randn(1, 4, 8, 8)
        host.predict(x, torch.tensor([500]), cond).square().mean().backward()
        params = [p for _, _, p in weights(any_webui["model"])]
        assert all(not p.requires_grad and p.grad is None for p in params)
    assert all(vec.grad is not None and vec.grad.abs().sum() > 0 for vec in vectors.values())


def test_sdxl_conditioning_is_forges_own_for_the_image_size(sdxl_webui):
    """Cross-attention context and vector (pooled CLIP-G, then the sizes in Forge's order) equal what Forge's
    get_learned_conditioning gives for a 64 wide, 96 high image; the UNet then gets the vector as y."""
    from interinv.hosts.base import ImageSize
    from modules.processing import SdConditioning

    from interinv.hosts.forge_host import ForgeHost

    host = forge_host()
    assert ForgeHost().preview_size == 1024  # SDXL's native side, as A1111's host has it
    with torch.no_grad():
        ours = host.encode_prompts(["a man and a woman"], {}, sizes=[ImageSize(original=(96, 64), target=(96, 64))])
    forges = sdxl_webui["model"].get_learned_conditioning(SdConditioning(["a man and a woman"], width=64, height=96))
    assert set(ours) == {"crossattn", "vector"}
    for key in ours:
        torch.testing.assert_close(ours[key], forges[key])
    x, t = torch.randn(1, 4, 8, 8), torch.tensor([500])
    with torch.no_grad():
        taller = host.encode_prompts(["a man and a woman"], {}, sizes=[ImageSize(original=(128, 64), target=(96, 64))])
        assert not torch.equal(host.predict(x, t, taller), host.predict(x, t, ours))  # the sizes reach the UNet


def test_a_backward_that_misses_the_vectors_stops_training_by_name(webui):
    host = forge_host()
    vec = torch.randn(1, host.embedding_dims["clip_l"], requires_grad=True)
    host.token_positions("rel_z", {"rel_z": 1})
    with host.training():
        cond = host.encode_prompts(["rel_z"], {"rel_z": {"clip_l": vec}})
        host.predict(torch.randn(1, 4, 8, 8), torch.tensor([10]), cond.detach().requires_grad_()).mean().backward()
        with pytest.raises(InterInvError, match="After the first backward no gradient reached"):
            host.encode_prompts(["rel_z"], {"rel_z": {"clip_l": vec}})


def test_inference_tensors_outside_training_are_named_not_a_torch_error(webui):
    host = forge_host()
    vec = torch.randn(1, host.embedding_dims["clip_l"], requires_grad=True)
    host.token_positions("rel_y", {"rel_y": 1})
    with pytest.raises(InterInvError, match="inference tensors"):
        host.encode_prompts(["rel_y"], {"rel_y": {"clip_l": vec}})


def test_schedule_and_parameterization_come_from_forges_predictor(tmp_path):
    boot(tmp_path, prediction_type="v_prediction")
    host = forge_host()
    from diffusers import DDIMScheduler

    reference = DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012).alphas_cumprod
    assert host.prediction_type == "v_prediction"
    torch.testing.assert_close(host.alphas_cumprod, reference.float(), rtol=1e-4, atol=1e-6)


def test_before_the_first_generation_the_checkpoint_is_loaded_or_the_reason_given(tmp_path):
    from modules import sd_models, shared

    boot(tmp_path, loaded=False)
    assert not hasattr(shared.sd_model, "forge_objects")
    host = forge_host()
    assert host.sd_model is shared.sd_model and hasattr(shared.sd_model, "forge_objects")
    boot(tmp_path, loaded=False)
    sd_models.model_data.forge_loading_parameters = {}
    with pytest.raises(InterInvError, match="no checkpoint loaded yet"):
        forge_host()


def test_a_checkpoint_chosen_since_the_last_generation_is_loaded_before_training(webui):
    """Forge applies a switch of the checkpoint only at the next generation (forge_model_reload); training is one."""
    from backend.diffusion_engine.sdxl import StableDiffusionXL
    from modules import sd_models, shared

    sd_models.model_data.forge_loading_parameters = {"checkpoint_info": sd_models.checkpoint_info("tiny-sdxl")}
    sd_models.loader_options["engine"] = StableDiffusionXL  # what the stand-in's loader builds for that checkpoint
    host = forge_host()
    assert host.sd_model is shared.sd_model and host.sd_model is not webui["model"]
    assert host.family == "sdxl" and host.model_name.startswith("tiny-sdxl [")
    assert forge_host().sd_model is host.sd_model  # no reload while the choice stays


@pytest.mark.parametrize("flags, reason", [({"is_sd1": False, "is_sd3": True}, "SD3"),
                                           ({"is_sd1": False}, "T5"),
                                           ({"is_inpaint": True}, "inpainting model")])
def test_sd3_flux_and_inpainting_models_are_refused_with_the_reason(webui, flags, reason):
    for key, value in flags.items():
        setattr(webui["model"], key, value)
    with pytest.raises(InterInvError, match=reason):
        forge_host()


def test_the_sdxl_refiner_is_refused_with_the_reason(sdxl_webui):
    del sdxl_webui["model"].text_processing_engine_l  # Forge's StableDiffusionXLRefiner has CLIP-G's engine only
    with pytest.raises(InterInvError, match="SDXL refiner"):
        forge_host()


@pytest.mark.parametrize("quantise, reason", [(lambda w: setattr(w, "gguf_cls", object()), "gguf"),
                                             (lambda w: setattr(w, "quant_state", object()), "bnb"),
                                             ("nf4", "nf4")])
def test_quantised_weights_are_refused(webui, quantise, reason):
    unet = webui["model"].forge_objects.unet.model
    if isinstance(quantise, str):  # Forge's loader names bnb and GGUF storage on the KModel
        unet.storage_dtype = quantise
    else:  # or the Linear weights are Forge's quantised parameter types
        quantise(next(m.weight for m in unet.modules() if isinstance(m, torch.nn.Linear)))
    with pytest.raises(InterInvError, match=f"quantised \\({reason}\\)"):
        forge_host()


def test_probe_layers_are_forges_cross_attention_with_its_scale(webui):
    host = forge_host()
    layers = host.cross_attention_layers((8, 8))
    assert layers and all(type(layer.module).__name__ == "CrossAttention" for layer in layers)
    assert all(layer.softmax_scale == layer.module.dim_head**-0.5 for layer in layers)


def test_stage1_images_through_forges_builtin_controlnet(webui, demo):
    from PIL import Image

    host = forge_host()
    assert host.can_generate_poses
    pose = Image.new("RGB", (64, 64))
    images = host.generate_batch(["a man"], seeds=[3], pose_image=pose, steps=2, size=(64, 64))
    assert images[0].size == (64, 64)
    received = webui["controlnet"].received[-1]
    assert [u.model for u in received["units"]] == [OPENPOSE] and received["seed"] == 3


def test_controlnet_missing_names_what_to_do(tmp_path):
    boot(tmp_path, controlnet_models=())
    host = forge_host()
    assert not host.can_generate_poses
    from interinv.hosts.forge_host import controlnet_missing

    assert "control_v11p_sd15_openpose" in controlnet_missing("sd1")


def test_the_tab_on_a_loaded_sdxl_checkpoint_shows_1024_and_the_sdxl_note(sdxl_webui):
    """Found on Forge's real page: the note asked a1111_host, whose refusal() always refuses inside Forge."""
    from interinv.ui import tab

    components = {c["props"].get("elem_id"): c["props"] for c in tab.build(forge_host).config["components"]}
    assert components["interinv_resolution"]["value"] == 1024
    assert "SDXL checkpoint" in components["interinv_family_note"]["value"]


def test_the_source_note_follows_the_checkpoint_loaded_when_the_page_loads(webui):
    """Found on Forge's real page: the note was computed once, when the tab was built, and named SD1 on SDXL."""
    from backend.diffusion_engine.sdxl import StableDiffusionXL
    from modules import sd_models

    from interinv.ui import tab

    blocks = tab.build(forge_host)
    note = next(block for block in blocks.blocks.values() if getattr(block, "elem_id", None) == "interinv_source_note")
    assert note.load_event_to_attach[0] is tab.default_source_note  # gradio calls it at every page load
    assert tab.default_source_note() == ""  # the stand-in has SD1's openpose model, not an SDXL one
    sd_models.model_data.forge_loading_parameters = {"checkpoint_info": sd_models.checkpoint_info("tiny-sdxl")}
    sd_models.loader_options["engine"] = StableDiffusionXL
    sd_models.forge_model_reload()
    assert "an SDXL openpose ControlNet" in tab.default_source_note()
