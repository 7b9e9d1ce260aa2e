"""SDXL on the diffusers host: two text encoders, the pooled embedding, size conditioning, loading and refusals."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from conftest import RecordingJob, cli_train
from interinv.core.attention import select_layers
from interinv.data.exemplars import load_interaction, load_subject_images
from interinv.engine.stages import train_stage1, train_stage2
from interinv.errors import InterInvError, TrainingInterrupted
from interinv.hosts.base import ImageSize
from interinv.hosts.diffusers_host import DiffusersHost
from interinv.testing import SDXL_TINY_WIDTHS, sdxl_unet, tiny_sdxl_host, tiny_sdxl_pipeline

PROMPT = "a man kh_r a woman"


def _vectors(host, count=2, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return {"kh_r": {key: torch.randn(count, width, generator=generator) for key, width in host.embedding_dims.items()}}


def _pipeline_with_words(vectors, seed=0):
    """The tiny SDXL pipeline of the same weights, with the words loaded the diffusers way: one call per encoder."""
    return _load_words(tiny_sdxl_pipeline(seed=seed), vectors)


def _load_words(pipe, vectors):
    for name, per_encoder in vectors.items():
        pipe.load_textual_inversion(per_encoder["clip_l"], token=name, text_encoder=pipe.text_encoder,
                                    tokenizer=pipe.tokenizer)
        pipe.load_textual_inversion(per_encoder["clip_g"], token=name, text_encoder=pipe.text_encoder_2,
                                    tokenizer=pipe.tokenizer_2)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_the_host_reads_both_encoders_and_their_own_tables(sdxl_host):
    rows = sdxl_host.token_rows(["man"])
    assert sdxl_host.family == "sdxl" and sdxl_host.embedding_dims == SDXL_TINY_WIDTHS
    assert {key: rows[key][0].shape for key in rows} == {"clip_l": (1, 32), "clip_g": (1, 48)}
    man = sdxl_host.pipe.tokenizer_2("man", add_special_tokens=False).input_ids
    assert torch.equal(rows["clip_g"][0], sdxl_host.pipe.text_encoder_2.get_input_embeddings().weight[man])


def test_the_cond_equals_diffusers_encode_prompt_after_load_textual_inversion(sdxl_host):
    """Inference puts the word in both embedding tables, so its pooled embedding sees the word; training must too."""
    vectors = _vectors(sdxl_host)
    with torch.no_grad():
        ours = sdxl_host.encode_prompts([PROMPT], vectors)
        other = sdxl_host.encode_prompts([PROMPT], _vectors(sdxl_host, seed=1))
        hidden, _, pooled, _ = _pipeline_with_words(vectors).encode_prompt(PROMPT, device="cpu",
                                                                          do_classifier_free_guidance=False)
    assert torch.allclose(ours.hidden, hidden, atol=1e-5) and torch.allclose(ours.text_embeds, pooled, atol=1e-5)
    assert not torch.allclose(ours.text_embeds, other.text_embeds, atol=1e-3)  # the pooled output sees the word


def test_a_legacy_eos_token_id_in_the_config_still_pools_at_eos_once_words_are_loaded():
    pipe = tiny_sdxl_pipeline()
    pipe.text_encoder_2.text_model.eos_token_id = 2  # as in SDXL base's text_encoder_2/config.json
    host = DiffusersHost(pipe, device="cpu")
    vectors = _vectors(host)
    with torch.no_grad():
        ours = host.encode_prompts([PROMPT], vectors)
        _, _, pooled, _ = _load_words(pipe, vectors).encode_prompt(PROMPT, device="cpu", do_classifier_free_guidance=False)
    assert torch.allclose(ours.text_embeds, pooled, atol=1e-5)


def test_the_eos_fix_reaches_a_text_model_that_transformers_has_flattened():
    from types import SimpleNamespace

    from transformers import CLIPTextConfig, CLIPTextModel

    from interinv.hosts.diffusers_host import _pool_at_eos

    flat = CLIPTextModel(CLIPTextConfig(hidden_size=32, intermediate_size=64, num_attention_heads=2,
                                        num_hidden_layers=1, eos_token_id=2))
    _pool_at_eos(SimpleNamespace(model=flat, tokenizer=SimpleNamespace(eos_token_id=49407)))
    assert getattr(flat, "text_model", flat).eos_token_id == 49407  # transformers 5.x has no .text_model here


def test_time_ids_are_each_images_original_crop_and_target_size_in_sdxls_order(sdxl_host):
    sizes = [ImageSize(original=(600, 400), target=(32, 32)), ImageSize(original=(32, 48), target=(32, 32))]
    with torch.no_grad():
        cond = sdxl_host.encode_prompts([PROMPT] * 2, _vectors(sdxl_host), sizes)
        default = sdxl_host.encode_prompts([PROMPT], _vectors(sdxl_host))
        x, t = torch.randn(2, 4, 16, 16), torch.tensor([300, 300])
        with_sizes = sdxl_host.predict(x, t, cond)
    assert cond.time_ids.tolist() == [[600, 400, 0, 0, 32, 32], [32, 48, 0, 0, 32, 32]]
    assert default.time_ids.tolist() == [[32, 32, 0, 0, 32, 32]]
    assert not torch.allclose(with_sizes[0], with_sizes[1])  # the UNet reads them (the inputs are otherwise alike)


def test_gradients_reach_only_the_vectors_of_both_encoders(sdxl_host):
    vectors = {"kh_r": {key: torch.nn.Parameter(v) for key, v in _vectors(sdxl_host)["kh_r"].items()}}
    pipe = sdxl_host.pipe
    with sdxl_host.training():
        cond = sdxl_host.encode_prompts([PROMPT], vectors)
        sdxl_host.predict(torch.randn(1, 4, 16, 16), torch.tensor([100]), cond).pow(2).mean().backward()
        with_grad = [n for m in (pipe.unet, pipe.vae, pipe.text_encoder, pipe.text_encoder_2)
                     for n, p in m.named_parameters() if p.grad is not None]
    assert with_grad == []
    assert all(v.grad is not None and v.grad.abs().sum() > 0 for v in vectors["kh_r"].values())


def test_training_freezes_both_text_encoders_and_restores_their_flags():
    host = tiny_sdxl_host()
    host.pipe.text_encoder.requires_grad_(False)
    host.pipe.text_encoder_2.requires_grad_(True)
    with host.training():
        frozen = not any(p.requires_grad for m in (host.pipe.text_encoder, host.pipe.text_encoder_2) for p in m.parameters())
    assert frozen and all(p.requires_grad for p in host.pipe.text_encoder_2.parameters())
    assert not any(p.requires_grad for p in host.pipe.text_encoder.parameters())


def _vector_grads(host):
    vectors = {"kh_r": {key: torch.nn.Parameter(v) for key, v in _vectors(host)["kh_r"].items()}}
    with host.training():
        assert host.pipe.unet.is_gradient_checkpointing == host.gradient_checkpointing
        cond = host.encode_prompts([PROMPT], vectors, [ImageSize(original=(64, 48), target=(32, 32))])
        host.predict(torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(0)), torch.tensor([400]),
                     cond).pow(2).mean().backward()
    return {key: v.grad for key, v in vectors["kh_r"].items()}


def test_gradient_checkpointing_gives_the_same_gradients_and_is_restored():
    host = tiny_sdxl_host()
    plain = _vector_grads(host)
    host.gradient_checkpointing = True
    checkpointed = _vector_grads(host)
    assert not host.pipe.unet.is_gradient_checkpointing
    assert all(torch.allclose(plain[key], checkpointed[key], rtol=1e-4, atol=1e-7) for key in plain)


def test_stage2_with_the_attention_probe_trains_alike_with_gradient_checkpointing(demo_data, small_config, tmp_path):
    """The probe's hooks are gone when checkpointing recomputes a block, so probed blocks are not checkpointed."""
    host = tiny_sdxl_host()
    small_config.stage2.ca_weight, small_config.stage1.steps, small_config.stage2.steps = 0.5, 2, 3
    poses = train_stage1(host, load_subject_images(demo_data / "stage1"), small_config, workdir=tmp_path, job=RecordingJob())
    exemplars = load_interaction(demo_data / "exemplars").exemplars
    relations = {}
    for checkpointing in (False, True):
        host.gradient_checkpointing = checkpointing
        job = RecordingJob()
        relations[checkpointing] = train_stage2(host, exemplars, poses, small_config, workdir=tmp_path / str(checkpointing),
                                                job=job)
        assert all(losses["ca"] > 0 for losses in job.losses)
    for key in SDXL_TINY_WIDTHS:
        assert torch.allclose(relations[False].raw[key], relations[True].raw[key], rtol=1e-4, atol=1e-6)


def test_words_at_different_positions_in_the_two_tokenizers_are_refused():
    host = tiny_sdxl_host()
    host.pipe.tokenizer_2.add_tokens(["a man"])  # one token in the second tokenizer, two in the first
    with pytest.raises(InterInvError, match="different token positions"):
        host.token_positions(PROMPT, {"kh_r": 2})


def test_a_caption_that_would_cut_a_word_off_is_refused(sdxl_host):
    with pytest.raises(InterInvError, match="longer than the text encoder's 77 tokens"):
        sdxl_host.encode_prompts(["word " * 80 + "kh_r"], _vectors(sdxl_host))


def test_the_default_probe_side_picks_sdxls_32x32_layers_at_1024_px():
    host = tiny_sdxl_host()
    with torch.device("meta"):  # SDXL base's UNet, shapes only
        host.pipe.unet = sdxl_unet()
    layers = select_layers(host.cross_attention_layers((128, 128)), 1024 // 32)
    assert {layer.size for layer in layers} == {(32, 32)}
    assert len(layers) == 10 * 2 + 10 + 10 * 3  # down_blocks.2 (2 x 10 blocks), the mid block, up_blocks.0 (3 x 10)


def test_generation_with_vectors_equals_the_pipeline_with_loaded_words(sdxl_host):
    vectors = _vectors(sdxl_host)
    ours = sdxl_host.generate_batch([PROMPT], seeds=[3], steps=2, vectors=vectors)[0]
    pipe = _pipeline_with_words(vectors)
    reference = pipe(PROMPT, num_inference_steps=2, width=32, height=32, guidance_scale=7.5,
                     generator=torch.Generator("cpu").manual_seed(3)).images[0]  # no negative: zeros (SDXL base)
    assert np.abs(np.asarray(ours, dtype=int) - np.asarray(reference, dtype=int)).max() <= 1


def test_stage1_synthesis_follows_a_pose_through_the_sdxl_controlnet_pipeline():
    host = tiny_sdxl_host(with_controlnet=True)
    pose = Image.new("RGB", (32, 32))
    images = host.generate_batch(["a man", "a woman"], seeds=[1, 2], pose_image=pose, steps=2)
    assert type(host._control_pipe).__name__ == "StableDiffusionXLControlNetPipeline"
    assert [image.size for image in images] == [(32, 32)] * 2


def test_resume_after_interrupt_gives_bitwise_equal_vectors(sdxl_host, demo_data, small_config, tmp_path):
    images = load_subject_images(demo_data / "stage1")
    small_config.stage1.steps, small_config.stage1.save_every = 6, 100
    straight = train_stage1(sdxl_host, images, small_config, workdir=tmp_path / "straight", job=RecordingJob())
    with pytest.raises(TrainingInterrupted):
        train_stage1(sdxl_host, images, small_config, workdir=tmp_path / "resumed", job=RecordingJob(stop_after=3))
    resumed = train_stage1(sdxl_host, images, small_config, workdir=tmp_path / "resumed", job=RecordingJob(),
                           resume=True)
    for role in ("p1", "p2"):
        for key in SDXL_TINY_WIDTHS:
            assert torch.equal(straight[role].raw[key], resumed[role].raw[key])


# --- loading -------------------------------------------------------------------------------------------------
def test_a_saved_sdxl_folder_loads_as_an_sdxl_host_with_the_cli_flags(sdxl_host, tmp_path):
    from interinv.cli import load_model, parser

    sdxl_host.pipe.save_pretrained(tmp_path / "model")
    args = parser().parse_args(["train", str(tmp_path), "--model", str(tmp_path / "model"), "--device", "cpu",
                                "--gradient-checkpointing", "--out", str(tmp_path / "out")])
    loaded = load_model(args)
    assert type(loaded.pipe).__name__ == "StableDiffusionXLPipeline"
    assert (loaded.family, loaded.embedding_dims, loaded.gradient_checkpointing) == ("sdxl", SDXL_TINY_WIDTHS, True)


def _edit_json(path, **changes):
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def test_an_sdxl_refiner_folder_is_refused_with_the_reason(sdxl_host, tmp_path):
    from interinv.hosts.diffusers_host import load_host

    sdxl_host.pipe.save_pretrained(tmp_path / "refiner")
    _edit_json(tmp_path / "refiner" / "model_index.json", _class_name="StableDiffusionXLImg2ImgPipeline",
               text_encoder=[None, None], tokenizer=[None, None])
    with pytest.raises(InterInvError, match="SDXL refiner.*base model"):
        load_host(str(tmp_path / "refiner"), device="cpu")


def test_an_sdxl_inpainting_folder_is_refused_with_the_reason(sdxl_host, tmp_path):
    from interinv.hosts.diffusers_host import load_host

    sdxl_host.pipe.save_pretrained(tmp_path / "inpaint")
    _edit_json(tmp_path / "inpaint" / "unet" / "config.json", in_channels=9)
    with pytest.raises(InterInvError, match="SDXL inpainting model.*9 input channels"):
        load_host(str(tmp_path / "inpaint"), device="cpu")


def _checkpoint(path, keys):
    save_file({key: torch.zeros(shape) for key, shape in keys.items()}, str(path))
    return path


SDXL_KEYS = {"conditioner.embedders.0.transformer.text_model.embeddings.token_embedding.weight": (4, 768),
             "conditioner.embedders.1.model.token_embedding.weight": (4, 1280)}


def test_single_files_are_told_apart_by_their_header(tmp_path):
    from interinv.hosts.diffusers_host import _single_file_pipeline_class

    base = _checkpoint(tmp_path / "base.safetensors", {**SDXL_KEYS, "model.diffusion_model.input_blocks.0.0.weight": (320, 4, 3, 3)})
    sd1 = _checkpoint(tmp_path / "sd1.safetensors", {"cond_stage_model.transformer.text_model.embeddings.token_embedding.weight": (4, 768)})
    assert _single_file_pipeline_class(base).__name__ == "StableDiffusionXLPipeline"
    assert _single_file_pipeline_class(sd1).__name__ == "StableDiffusionPipeline"


@pytest.mark.parametrize(("keys", "reason"), [
    ({"conditioner.embedders.0.model.token_embedding.weight": (4, 1280)}, "SDXL refiner"),
    ({**SDXL_KEYS, "model.diffusion_model.input_blocks.0.0.weight": (320, 9, 3, 3)}, "SDXL inpainting model"),
])
def test_an_sdxl_refiner_or_inpainting_file_is_refused_before_loading(tmp_path, keys, reason):
    from interinv.hosts.diffusers_host import load_host

    with pytest.raises(InterInvError, match=reason):
        load_host(str(_checkpoint(tmp_path / "model.safetensors", keys)), device="cpu")


# --- the CLI end to end, and what the files do in diffusers -------------------------------------------------
WORDS = ("demo_kneel_p1", "demo_kneel_r", "demo_kneel_p2")


@pytest.fixture(scope="module")
def sdxl_trained(tmp_path_factory, demo_data):
    """An output folder of 'interinv train --model interinv:tiny-sdxl' on the stick-figure set."""
    return cli_train(tmp_path_factory.mktemp("trained-sdxl"), demo_data, "interinv:tiny-sdxl")


def test_train_writes_three_files_of_clip_l_and_clip_g_with_the_sdxl_modelspec(sdxl_trained, capsys):
    from safetensors import safe_open

    from interinv.cli import main

    for word in WORDS:
        with safe_open(str(sdxl_trained / f"{word}.safetensors"), framework="pt") as opened:
            assert sorted(opened.keys()) == ["clip_g", "clip_l"]
            assert opened.metadata()["modelspec.architecture"] == "stable-diffusion-xl-v1-base/textual-inversion"
    assert main(["inspect", str(sdxl_trained / "demo_kneel_r.safetensors")]) == 0
    assert "family: sdxl" in capsys.readouterr().out


def _render(pipe, prompt):
    return np.asarray(pipe(prompt, num_inference_steps=2, width=32, height=32,
                           generator=torch.Generator("cpu").manual_seed(0)).images[0], dtype=int)


def test_the_files_load_in_diffusers_with_two_calls_and_change_its_output(sdxl_trained):
    from safetensors.torch import load_file

    prompt = "a man demo_kneel_p1 demo_kneel_r a woman demo_kneel_p2"
    pipe = tiny_sdxl_pipeline(seed=0)  # the weights the CLI trained on
    pipe.set_progress_bar_config(disable=True)
    plain = _render(pipe, prompt)
    for word in WORDS:  # the model card's snippet
        state = load_file(str(sdxl_trained / f"{word}.safetensors"))
        pipe.load_textual_inversion(state["clip_l"], token=word, text_encoder=pipe.text_encoder, tokenizer=pipe.tokenizer)
        pipe.load_textual_inversion(state["clip_g"], token=word, text_encoder=pipe.text_encoder_2,
                                    tokenizer=pipe.tokenizer_2)
    assert np.abs(_render(pipe, prompt) - plain).mean() > 1


def test_install_embeddings_makes_the_pipelines_own_text_path_use_the_words(sdxl_trained):
    from interinv.formats.embedding_files import read_embedding

    host, prompt = tiny_sdxl_host(), "a man demo_kneel_p1 demo_kneel_r a woman demo_kneel_p2"
    paths = [str(sdxl_trained / f"{word}.safetensors") for word in WORDS]
    vectors = {word: read_embedding(path).tensors for word, path in zip(WORDS, paths)}
    spliced = host.generate_batch([prompt], seeds=[5], steps=2, vectors=vectors)[0]
    assert host.install_embeddings(paths) == list(WORDS)
    installed = host.generate_batch([prompt], seeds=[5], steps=2)[0]  # the pipeline's own text path
    assert np.abs(np.asarray(installed, dtype=int) - np.asarray(spliced, dtype=int)).max() <= 1
    with pytest.raises(InterInvError, match="already loaded"):
        host.install_embeddings(paths[:1])


def test_bundle_and_install_check_sdxls_summed_width(sdxl_trained, tmp_path, capsys):
    from interinv.cli import main

    assert main(["bundle", str(sdxl_trained), "--zip", str(tmp_path / "b.zip")]) == 0
    assert main(["install", str(tmp_path / "b.zip"), "--embeddings-dir", str(tmp_path / "sd1"), "--width", "32"]) == 2
    assert "80 wide" in capsys.readouterr().err  # clip_l 32 + clip_g 48, as A1111 reports 768 + 1280 = 2048
    assert main(["install", str(tmp_path / "b.zip"), "--embeddings-dir", str(tmp_path / "emb"), "--width", "80"]) == 0
    installed = tmp_path / "emb" / "interactions" / "demo_kneel"
    assert {f"{word}.safetensors" for word in WORDS} <= {p.name for p in installed.iterdir()}


def test_push_uploads_a_model_card_with_the_two_call_snippet(sdxl_trained, hub):
    from share_helpers import TOKEN

    from interinv.share.hub import push_to_hub

    push_to_hub(sdxl_trained, "alice/kneel", token=TOKEN, endpoint=hub.url)
    files = hub.repos["alice/kneel"].files
    card = files["README.md"].decode()
    assert {f"{word}.safetensors" for word in WORDS} <= set(files)
    assert "StableDiffusionXLPipeline" in card and "text_encoder=pipe.text_encoder_2" in card
    # SDXL base's legacy eos_token_id would pool at a loaded word; the card sets it before loading
    assert card.index("text_model.eos_token_id = pipe.tokenizer_2.eos_token_id") < card.index("load_textual_inversion")


def test_a_hub_id_is_read_from_the_hub_and_an_sdxl_refiner_there_is_refused(hub, tmp_path, monkeypatch):
    import huggingface_hub
    from share_helpers import TOKEN

    from interinv.hosts.diffusers_host import load_host

    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(huggingface_hub.constants, "HUGGINGFACE_CO_URL_TEMPLATE",
                        hub.url + "/{repo_id}/resolve/{revision}/{filename}")
    (tmp_path / "refiner").mkdir()
    (tmp_path / "refiner" / "model_index.json").write_text(json.dumps(
        {"_class_name": "StableDiffusionXLImg2ImgPipeline", "text_encoder": [None, None],
         "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"]}))
    api = huggingface_hub.HfApi(endpoint=hub.url, token=TOKEN)
    api.create_repo("alice/refiner")
    api.upload_folder(folder_path=str(tmp_path / "refiner"), repo_id="alice/refiner")
    with pytest.raises(InterInvError, match="'alice/refiner' is an SDXL refiner"):
        load_host("alice/refiner", device="cpu")


def test_a_mistyped_relative_folder_is_named_not_sent_to_the_hub(tmp_path, monkeypatch):
    from interinv.hosts.diffusers_host import load_host

    (tmp_path / "models").mkdir()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InterInvError, match="Model folder 'models/sdxl-base' does not exist"):
        load_host("models/sdxl-base", device="cpu")


def test_an_fp16_vae_that_overflows_in_fp16_encodes_in_fp32_and_stays_fp16():
    host = tiny_sdxl_host()
    images = [Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8))]
    host.pipe.vae.to(torch.float16).to(torch.float32)  # fp16 weights, computed in fp32
    reference, _ = host.encode_images(images, (32, 32))
    host.pipe.vae.to(torch.float16)
    assert host.pipe.vae.config.force_upcast  # SDXL base's VAE config says so too
    upcast, _ = host.encode_images(images, (32, 32))
    assert torch.equal(upcast, reference) and host.pipe.vae.dtype == torch.float16
