"""Hub push (against a local stand-in for the Hub's HTTP API) and the Civitai-ready bundle."""

from __future__ import annotations

import io
import json
import logging
import zipfile

import huggingface_hub.constants
import pytest
from huggingface_hub import ModelCard
from PIL import Image
from share_helpers import SLUG, TOKEN, FakeHub, a1111_reads, make_export

from interinv.errors import InterInvError
from interinv.formats.hashes import file_sha256
from interinv.share.bundle import write_bundle
from interinv.share.hub import push_to_hub
from interinv.share.install import install_interaction

NAMES = [f"{SLUG}_p1", f"{SLUG}_r", f"{SLUG}_p2"]


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory, host):
    return make_export(tmp_path_factory.mktemp("export"), host)


def _uploaded(hub: FakeHub, repo_id: str = "alice/kisshand") -> dict[str, bytes]:
    return hub.repos[repo_id].files


# ---- Hub push --------------------------------------------------------------------------------


def test_push_creates_the_repo_and_uploads_everything_in_one_commit(hub, export_dir):
    url = push_to_hub(export_dir, "alice/kisshand", token=TOKEN, endpoint=hub.url)

    assert [r.path for r in hub.requests if r.method == "POST"][0] == "/api/repos/create"
    assert len(hub.commits()) == 1
    assert url == f"{hub.url}/alice/kisshand/commit/{hub.repos['alice/kisshand'].commits[-1]}"
    files = _uploaded(hub)
    expected = [f"{n}.safetensors" for n in NAMES] + [f"{n}.preview.png" for n in NAMES] + [f"{SLUG}.interaction.json"]
    assert sorted(files) == sorted(expected + ["README.md"])
    for name in expected:
        assert files[name] == (export_dir / name).read_bytes()


def test_push_sends_the_token_only_as_bearer_header(hub, export_dir):
    push_to_hub(export_dir, "alice/kisshand", token=TOKEN, endpoint=hub.url)

    assert all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in hub.requests)
    assert not any(TOKEN.encode() in r.body for r in hub.requests)


def test_push_private_creates_a_private_repo(hub, export_dir):
    push_to_hub(export_dir, "alice/kisshand", private=True, token=TOKEN, endpoint=hub.url)

    create = json.loads(hub.requests[0].body)
    assert create["visibility"] == "private"
    assert hub.repos["alice/kisshand"].private


def test_push_takes_the_token_from_hf_token_and_never_logs_it(hub, export_dir, monkeypatch, caplog, capsys):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setattr(huggingface_hub.constants, "HF_DEBUG", True)  # log every request, curl-style
    caplog.set_level(logging.DEBUG)

    push_to_hub(export_dir, "alice/kisshand", endpoint=hub.url)

    captured = capsys.readouterr()
    assert any("alice/kisshand" in record.getMessage() for record in caplog.records)
    assert TOKEN not in caplog.text + captured.out + captured.err
    assert not any(TOKEN.encode() in data for data in _uploaded(hub).values())


def test_push_error_names_the_status_but_not_the_token(hub, export_dir, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    hub.fail_status = 403

    with pytest.raises(InterInvError) as raised:
        push_to_hub(export_dir, "alice/kisshand", token=TOKEN, endpoint=hub.url)

    message = str(raised.value)
    assert "403" in message and "alice/kisshand" in message and "write access" in message
    captured = capsys.readouterr()
    assert TOKEN not in message + caplog.text + captured.out + captured.err


def test_push_command_uploads_with_hf_token_and_prints_no_token(hub, export_dir, monkeypatch, caplog, capsys):
    from interinv.cli import main

    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", hub.url)
    caplog.set_level(logging.DEBUG)

    assert main(["push", str(export_dir), "--repo", "alice/kisshand"]) == 0

    captured = capsys.readouterr()
    assert f"{hub.url}/alice/kisshand/commit/" in captured.out
    assert sorted(_uploaded(hub)) == sorted([f"{n}.safetensors" for n in NAMES] + [f"{n}.preview.png" for n in NAMES]
                                            + [f"{SLUG}.interaction.json", "README.md"])
    assert TOKEN not in caplog.text + captured.out + captured.err


def test_install_from_the_hub_with_a_refused_token_does_not_show_it(hub, export_dir, tmp_path, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    hub.fail_status = 401

    with pytest.raises(InterInvError) as raised:
        install_interaction("alice/kisshand", tmp_path / "embeddings", token=TOKEN, endpoint=hub.url)

    message = str(raised.value)
    assert "401" in message and "HF_TOKEN" in message
    captured = capsys.readouterr()
    assert TOKEN not in message + caplog.text + captured.out + captured.err
    assert not (tmp_path / "embeddings").exists()


def test_push_without_any_token_says_how_to_log_in(hub, export_dir):
    with pytest.raises(InterInvError, match="HF_TOKEN.*hf auth login"):
        push_to_hub(export_dir, "alice/kisshand", endpoint=hub.url)
    assert hub.requests == []


def test_push_refuses_a_malformed_repo_id(hub, export_dir):
    with pytest.raises(InterInvError, match="user/name"):
        push_to_hub(export_dir, "../kisshand", token=TOKEN, endpoint=hub.url)
    assert hub.requests == []


def test_model_card_front_matter_has_base_model_tags_license_and_widget(hub, export_dir):
    push_to_hub(export_dir, "alice/kisshand", token=TOKEN, endpoint=hub.url)

    card = ModelCard(_uploaded(hub)["README.md"].decode("utf-8"))
    assert card.data.base_model == "stable-diffusion-v1-5/stable-diffusion-v1-5"
    assert {"textual-inversion", "stable-diffusion", "interaction"} <= set(card.data.tags)
    assert card.data.license == "creativeml-openrail-m"
    assert card.data.instance_prompt == "a {o1} kisshand_p1 kisshand_r a {o2} kisshand_p2"


def test_model_card_widget_shows_only_previews_whose_prompt_uses_the_template(hub, export_dir):
    push_to_hub(export_dir, "alice/kisshand", token=TOKEN, endpoint=hub.url)

    card = ModelCard(_uploaded(hub)["README.md"].decode("utf-8"))
    assert card.data.widget == [
        {"text": "a man kisshand_p1 kisshand_r a woman kisshand_p2", "output": {"url": f"{SLUG}_r.preview.png"}}
    ]


def test_model_card_widget_without_previews_is_the_filled_template(tmp_path, host):
    from interinv.share.exported import open_export
    from interinv.share.model_card import model_card

    card = model_card(open_export(make_export(tmp_path / "export", host, previews=False)), "alice/kisshand")

    assert card.data.widget == [{"text": "a man kisshand_p1 kisshand_r a woman kisshand_p2"}]


def test_model_card_body_shows_how_to_use_it_in_each_tool(hub, export_dir):
    push_to_hub(export_dir, "alice/kisshand", token=TOKEN, endpoint=hub.url)

    text = ModelCard(_uploaded(hub)["README.md"].decode("utf-8")).text
    assert "a man kneels and kisses the hand of a woman" in text  # the description in plain words
    assert "a man kisshand_p1 kisshand_r a woman kisshand_p2" in text  # A1111 / Forge prompt
    assert "a man embedding:kisshand_p1 embedding:kisshand_r a woman embedding:kisshand_p2" in text  # ComfyUI
    assert 'hf_hub_download("alice/kisshand", stem + ".safetensors")' in text
    assert "pipe.load_textual_inversion(path, token=stem)" in text


def test_diffusers_loads_each_file_the_way_the_card_says(export_dir):
    from interinv.testing import tiny_pipeline

    pipe = tiny_pipeline()
    for stem in NAMES:
        pipe.load_textual_inversion(str(export_dir / f"{stem}.safetensors"), token=stem)

    ids = pipe.tokenizer("a man kisshand_p1 kisshand_r a woman kisshand_p2").input_ids
    added = [pipe.tokenizer.convert_tokens_to_ids(stem) for stem in NAMES]
    assert all(token_id in ids for token_id in added)


def test_install_from_a_hub_repo_id(hub, export_dir, tmp_path):
    push_to_hub(export_dir, "alice/kisshand", token=TOKEN, endpoint=hub.url)

    target = install_interaction("alice/kisshand", tmp_path / "embeddings", family="sd1", token=TOKEN, endpoint=hub.url)

    assert target == tmp_path / "embeddings" / "interactions" / SLUG
    for stem in NAMES:
        assert (target / f"{stem}.safetensors").read_bytes() == (export_dir / f"{stem}.safetensors").read_bytes()


# ---- Civitai bundle --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bundle(export_dir, tmp_path_factory):
    return write_bundle(export_dir, tmp_path_factory.mktemp("bundle") / f"{SLUG}.zip")


def test_bundle_zip_holds_the_files_previews_readme_and_manifest(bundle, export_dir):
    with zipfile.ZipFile(bundle) as archive:
        names = sorted(archive.namelist())
        files = {name: archive.read(name) for name in names}
    expected = [f"{n}.safetensors" for n in NAMES] + [f"{n}.preview.png" for n in NAMES]
    assert names == sorted(expected + ["README.md", f"{SLUG}.interaction.json"])
    for stem in NAMES:
        assert files[f"{stem}.safetensors"] == (export_dir / f"{stem}.safetensors").read_bytes()
    assert files[f"{SLUG}.interaction.json"] == (export_dir / f"{SLUG}.interaction.json").read_bytes()


def test_bundle_previews_carry_ti_hashes_of_all_three_files(bundle, export_dir):
    expected = {stem: file_sha256(export_dir / f"{stem}.safetensors")[:10] for stem in NAMES}
    with zipfile.ZipFile(bundle) as archive:
        for stem in NAMES:
            image = Image.open(io.BytesIO(archive.read(f"{stem}.preview.png")))
            prompt, params = a1111_reads(image.text["parameters"])
            hashes = dict(pair.split(": ") for pair in params["TI hashes"].split(", "))
            assert hashes == expected
            assert stem in prompt
            assert params["Size"] == f"{image.width}x{image.height}"


def test_bundle_previews_keep_the_generation_parameters_they_had(bundle, export_dir):
    original = Image.open(export_dir / f"{SLUG}_p1.preview.png").text["parameters"]
    with zipfile.ZipFile(bundle) as archive:
        rewritten = Image.open(io.BytesIO(archive.read(f"{SLUG}_p1.preview.png"))).text["parameters"]
    _, params = a1111_reads(rewritten)
    assert original.split("\n")[0] == rewritten.split("\n")[0]
    assert params["Seed"] == "0" and params["Model"] == "interinv-tiny-0"


def test_bundle_readme_names_triggers_template_base_model_and_manual_upload(bundle):
    with zipfile.ZipFile(bundle) as archive:
        readme = archive.read("README.md").decode("utf-8")
    assert all(f"`{stem}`" in readme for stem in NAMES)
    assert "a {o1} kisshand_p1 kisshand_r a {o2} kisshand_p2" in readme
    assert "Base model: interinv-tiny-0 (stable-diffusion-v1/textual-inversion" in readme
    assert "Civitai has no upload API" in readme and "SD 1.5" in readme


def test_bundle_is_reproducible(export_dir, bundle, tmp_path):
    again = write_bundle(export_dir, tmp_path / "again.zip")
    assert again.read_bytes() == bundle.read_bytes()


def test_bundle_without_previews_is_refused(tmp_path, host):
    export = make_export(tmp_path / "export", host, previews=False)
    with pytest.raises(InterInvError, match="no preview images"):
        write_bundle(export, tmp_path / "bundle.zip")
    assert not (tmp_path / "bundle.zip").exists()


def test_bundle_refuses_a_file_that_no_longer_matches_the_manifest(tmp_path, host):
    export = make_export(tmp_path / "export", host)
    (export / f"{SLUG}_r.safetensors").write_bytes(b"changed")
    with pytest.raises(InterInvError, match="does not match its manifest"):
        write_bundle(export, tmp_path / "bundle.zip")
    assert not (tmp_path / "bundle.zip").exists()
