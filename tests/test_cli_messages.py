"""Error messages that named the wrong flag, the wrong file or the wrong cause."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import torch

from interinv.cli import main
from interinv.errors import InterInvError
from share_helpers import SLUG, make_export


@pytest.fixture(scope="module")
def exported(tmp_path_factory, host):
    return make_export(tmp_path_factory.mktemp("export"), host)


def test_the_model_load_hint_names_the_config_dir_flag(tmp_path):
    from interinv.hosts.diffusers_host import load_host

    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(InterInvError) as error:
        load_host(str(broken), device="cpu")
    assert "add --config-dir with a diffusers folder" in str(error.value)
    assert "--config " not in str(error.value)


def test_a_malicious_pt_is_refused_without_relaying_torchs_advice(tmp_path):
    from interinv.formats.embedding_files import read_embedding

    path = tmp_path / "evil.pt"
    torch.save({"string_to_param": {"*": torch.ones(1, 8)}, "payload": np.dtype("float64")}, path)
    with pytest.raises(InterInvError) as error:
        read_embedding(path)
    message = str(error.value)
    assert message.startswith(f"'{path}' was refused") and "convert it to .safetensors" in message
    assert "weights_only" not in message and "will likely succeed" not in message and "\x1b" not in message


def test_bundle_names_the_zip_folder_not_out(exported, tmp_path, capsys):
    (tmp_path / "file").write_text("a file, not a folder")
    assert main(["bundle", str(exported), "--zip", str(tmp_path / "file" / "b.zip")]) == 2
    err = capsys.readouterr().err
    assert f"Cannot write into '{tmp_path / 'file'}'" in err and "--out" not in err


def test_the_install_slug_error_names_the_zip_not_a_temp_folder(exported, tmp_path, capsys):
    manifest = json.loads((exported / f"{SLUG}.interaction.json").read_text())
    manifest["slug"] = "Bad Slug"
    bundle = tmp_path / "bad.zip"
    with zipfile.ZipFile(bundle, "w") as archive:
        for path in exported.iterdir():
            archive.writestr(path.name, json.dumps(manifest) if path.name.endswith(".interaction.json")
                             else path.read_bytes())
    assert main(["install", str(bundle), "--embeddings-dir", str(tmp_path / "emb")]) == 2
    err = capsys.readouterr().err
    assert f"slug in {bundle}:{SLUG}.interaction.json 'Bad Slug'" in err and "interinv-install-" not in err
