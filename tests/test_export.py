import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from conftest import RecordingJob
from interinv.errors import InterInvError
from interinv.export import ExportInfo, export_interaction
from interinv.formats.embedding_files import read_embedding
from interinv.formats.manifest import load_manifest
from interinv.core.tokens import new_word


def _words(slug, width=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {role: new_word(f"{slug}_{role}", {"clip_l": torch.randn(width, generator=g) * 3}, 1, None)
            for role in ("p1", "r", "p2")}


def _info(slug):
    return ExportInfo(slug, ("man", "woman"), f"a {{o1}} {slug}_p1 {slug}_r a {{o2}} {slug}_p2", "kneels before")


@pytest.fixture
def exported(host, tmp_path):
    export_interaction(tmp_path, _words("kh"), host, _info("kh"), pt=True, previews=False)
    return tmp_path


def test_export_writes_three_files_with_modelspec_and_group_metadata(exported):
    emb = read_embedding(exported / "kh_r.safetensors")
    assert emb.format == "safetensors-emb_params" and list(emb.tensors["emb_params"].shape) == [1, 32]
    meta = emb.metadata
    assert meta["modelspec.architecture"] == "stable-diffusion-v1/textual-inversion"
    assert meta["modelspec.trigger_phrase"] == "kh_r" and meta["interinv.role"] == "r"
    assert json.loads(meta["interinv.siblings"]) == ["kh_p1", "kh_r", "kh_p2"]
    manifest = load_manifest(exported)
    assert manifest.tokens["p2"].file == "kh_p2.safetensors" and manifest.embedding_dims == {"clip_l": 32}


def test_exported_vectors_are_what_the_encoder_sees(host, tmp_path):
    from interinv.core.prior import vocab_stats

    prior = vocab_stats([torch.randn(1, 32) for _ in range(20)])
    words = {role: new_word(f"kh_{role}", {"clip_l": torch.randn(32)}, 2, {"clip_l": prior}) for role in ("p1", "r", "p2")}
    export_interaction(tmp_path, words, host, _info("kh"), previews=False)
    saved = read_embedding(tmp_path / "kh_p1.safetensors").tensors["emb_params"]
    assert torch.equal(saved, words["p1"].effective()["clip_l"].detach())


def test_pt_export_round_trips_through_the_safe_loader(exported):
    pt = read_embedding(exported / "kh_p1.pt")
    st = read_embedding(exported / "kh_p1.safetensors")
    assert pt.format == "a1111-pt" and torch.equal(pt.tensors["string_to_param"], st.tensors["emb_params"])
    raw = torch.load(exported / "kh_p1.pt", weights_only=True)
    assert raw["name"] == "kh_p1" and set(raw["string_to_param"]) == {"*"}
    with open(exported / "kh_p1.pt", "rb") as handle:
        assert handle.read(2) != b"PK"  # legacy (non-zip) serialization, which A1111 1.10 accepts


def test_exported_files_load_in_diffusers_and_change_the_output(fresh_host, exported):
    def render(pipe):
        out = pipe("a man kh_p1 kh_r a woman kh_p2", num_inference_steps=2, output_type="np",
                   generator=torch.Generator().manual_seed(0))
        return out.images[0]

    before = render(fresh_host.pipe)
    for stem in ("kh_p1", "kh_r", "kh_p2"):
        fresh_host.pipe.load_textual_inversion(str(exported / f"{stem}.safetensors"), token=stem)
    loaded = fresh_host.pipe.text_encoder.get_input_embeddings().weight
    row = loaded[fresh_host.pipe.tokenizer.convert_tokens_to_ids("kh_r")]
    assert torch.allclose(row, read_embedding(exported / "kh_r.safetensors").tensors["emb_params"][0])
    assert not np.allclose(before, render(fresh_host.pipe))


def test_install_embeddings_refuses_a_width_mismatch(fresh_host, tmp_path):
    save_file({"emb_params": torch.zeros(1, 768)}, str(tmp_path / "wide.safetensors"))
    with pytest.raises(InterInvError, match="width emb_params: 768.*expects clip_l: 32"):
        fresh_host.install_embeddings([str(tmp_path / "wide.safetensors")])


@pytest.mark.parametrize("layout", ["a1111", "kohya", "sdxl", "diffusers"])
def test_read_embedding_accepts_the_four_layouts(tmp_path, layout):
    if layout == "a1111":
        path = tmp_path / "x.pt"
        torch.save({"string_to_token": {"*": 265}, "string_to_param": {"*": torch.ones(2, 768)}, "name": "x"}, path)
        expected = {"string_to_param": (2, 768)}
    elif layout == "kohya":
        path = tmp_path / "x.safetensors"
        save_file({"emb_params": torch.ones(3, 1024)}, str(path))
        expected = {"emb_params": (3, 1024)}
    elif layout == "sdxl":
        path = tmp_path / "x.safetensors"
        save_file({"clip_l": torch.ones(1, 768), "clip_g": torch.ones(1, 1280)}, str(path))
        expected = {"clip_l": (1, 768), "clip_g": (1, 1280)}
    else:
        path = tmp_path / "learned_embeds.bin"
        torch.save({"<cat-toy>": torch.ones(768)}, path)
        expected = {"<cat-toy>": (1, 768)}
    emb = read_embedding(path)
    assert {k: tuple(v.shape) for k, v in emb.tensors.items()} == expected


def test_read_embedding_never_unpickles_foreign_objects(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"string_to_param": {"*": torch.ones(1, 8)}, "payload": np.dtype("float64")}, path)
    with pytest.raises(InterInvError, match="could not be read safely"):
        read_embedding(path)


def test_files_of_another_embedding_are_not_overwritten(host, tmp_path):
    save_file({"emb_params": torch.zeros(1, 32)}, str(tmp_path / "kh_r.safetensors"), metadata={"interinv.group": "other"})
    with pytest.raises(InterInvError, match="belongs to another embedding"):
        export_interaction(tmp_path, _words("kh"), host, _info("kh"), previews=False)


def test_previews_are_written_as_sidecars(host, tmp_path):
    export_interaction(tmp_path, _words("kh"), host, _info("kh"))
    from PIL import Image

    with Image.open(tmp_path / "kh_r.preview.png") as image:
        assert image.size == (32, 32) and "kh_r" in image.info["parameters"]


def test_preview_infotext_is_read_by_a1111_as_generation_parameters(host, tmp_path):
    from PIL import Image
    from share_helpers import a1111_reads

    export_interaction(tmp_path, _words("kh"), host, _info("kh"))

    with Image.open(tmp_path / "kh_r.preview.png") as image:
        prompt, params = a1111_reads(image.info["parameters"])
    assert prompt == "a man kh_p1 kh_r a woman kh_p2"
    assert params["Steps"] == "20" and params["Seed"] == "0" and params["Size"] == "32x32"
    assert params["Model"] == host.model_name


@pytest.mark.parametrize("content", ["[1, 2, 3]", '"kh"', "null"])
def test_manifest_that_is_not_a_json_object_is_refused_by_name(tmp_path, content):
    path = tmp_path / "kh.interaction.json"
    path.write_text(content)
    with pytest.raises(InterInvError, match=r"kh\.interaction\.json' is not an InterInv manifest: expected a JSON object"):
        load_manifest(tmp_path)


def test_manifest_token_without_a_file_is_refused_by_name(exported):
    path = exported / "kh.interaction.json"
    manifest = json.loads(path.read_text())
    manifest["tokens"]["r"] = "kh_r.safetensors"
    path.write_text(json.dumps(manifest))
    with pytest.raises(InterInvError, match=r"kh\.interaction\.json': tokens\.r must be an object with 'name' and 'file'"):
        load_manifest(path)
