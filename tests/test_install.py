"""Installing a shared interaction into a WebUI embeddings folder: checks first, then one rename."""

from __future__ import annotations

import json
import os
import stat
import zipfile

import pytest
import torch
from share_helpers import SLUG, make_export

from interinv.errors import InterInvError
from interinv.formats.embedding_files import read_embedding, write_a1111_pt
from interinv.formats.hashes import file_sha256
from interinv.share.bundle import write_bundle
from interinv.share.install import install_interaction

NAMES = [f"{SLUG}_p1", f"{SLUG}_r", f"{SLUG}_p2"]
WIDTH = 32  # the tiny test model's token-embedding width


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory, host):
    return make_export(tmp_path_factory.mktemp("export"), host)


@pytest.fixture(scope="module")
def bundle(export_dir, tmp_path_factory):
    return write_bundle(export_dir, tmp_path_factory.mktemp("bundle") / f"{SLUG}.zip")


@pytest.fixture
def embeddings(tmp_path):
    folder = tmp_path / "embeddings"
    folder.mkdir()
    return folder


def _tree(folder) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"" for p in sorted(folder.rglob("*"))}


def _zip_with(bundle, tmp_path, name: str, data: bytes = b"x", mode: int | None = None):
    """A copy of the bundle with one extra entry."""
    path = tmp_path / "evil.zip"
    with zipfile.ZipFile(bundle) as source, zipfile.ZipFile(path, "w") as target:
        for item in source.infolist():
            target.writestr(item, source.read(item))
        info = zipfile.ZipInfo(name)
        if mode is not None:
            info.external_attr = mode << 16
        target.writestr(info, data)
    return path


def test_install_bundle_puts_the_files_under_interactions_slug(bundle, export_dir, embeddings):
    target = install_interaction(bundle, embeddings, family="sd1", width=WIDTH)

    assert target == embeddings / "interactions" / SLUG
    for stem in NAMES:
        assert (target / f"{stem}.safetensors").read_bytes() == (export_dir / f"{stem}.safetensors").read_bytes()
        assert (target / f"{stem}.preview.png").is_file()
        card = json.loads((target / f"{stem}.json").read_text())
        assert card["description"] == "a {o1} kisshand_p1 kisshand_r a {o2} kisshand_p2"
    assert json.loads((target / f"{SLUG}.interaction.json").read_text())["slug"] == SLUG
    assert [p.name for p in (embeddings / "interactions").iterdir()] == [SLUG]  # no staging left behind


def test_install_from_an_export_folder(export_dir, embeddings):
    target = install_interaction(export_dir, embeddings)
    assert sorted(p.name for p in target.glob("*.safetensors")) == sorted(f"{n}.safetensors" for n in NAMES)


def test_installed_files_get_the_usual_permissions(export_dir, embeddings):
    umask = os.umask(0o022)
    try:
        target = install_interaction(export_dir, embeddings)
    finally:
        os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o755
    assert {stat.S_IMODE(p.stat().st_mode) for p in target.iterdir()} == {0o644}


@pytest.mark.parametrize(
    "entry, mode, reason",
    [
        ("../escaped.txt", None, "outside the folder"),
        ("nested/../../escaped.txt", None, "outside the folder"),
        ("/tmp/interinv-absolute.txt", None, "absolute path"),
        ("link", stat.S_IFLNK | 0o777, "symbolic link"),
        ("C:/interinv-drive.txt", None, "absolute path"),
        ("..\\escaped.txt", None, "outside the folder"),
    ],
)
def test_malicious_zip_entries_are_refused_and_nothing_is_written(bundle, embeddings, tmp_path, entry, mode, reason):
    evil = _zip_with(bundle, tmp_path, entry, b"../../etc/passwd", mode)

    with pytest.raises(InterInvError, match=reason):
        install_interaction(evil, embeddings)

    assert _tree(embeddings) == {}
    assert not (tmp_path / "escaped.txt").exists() and not os.path.exists("/tmp/interinv-absolute.txt")


def test_width_mismatch_is_refused_before_anything_is_written(bundle, embeddings):
    with pytest.raises(InterInvError, match="32 wide, but the model's token embeddings are 768 wide"):
        install_interaction(bundle, embeddings, width=768)
    assert _tree(embeddings) == {}


def test_family_mismatch_is_refused_before_anything_is_written(bundle, embeddings):
    with pytest.raises(InterInvError, match="trained for the sd1 family.*but the model is sdxl"):
        install_interaction(bundle, embeddings, family="sdxl")
    assert _tree(embeddings) == {}


def test_existing_install_is_kept_without_force(bundle, embeddings):
    target = embeddings / "interactions" / SLUG
    target.mkdir(parents=True)
    (target / "mine.txt").write_text("keep me")
    before = _tree(embeddings)

    with pytest.raises(InterInvError, match="already exists. Pass --force"):
        install_interaction(bundle, embeddings)

    assert _tree(embeddings) == before


def test_force_replaces_an_existing_install(bundle, embeddings):
    target = embeddings / "interactions" / SLUG
    target.mkdir(parents=True)
    (target / "old.txt").write_text("old")

    install_interaction(bundle, embeddings, force=True)

    assert not (target / "old.txt").exists()
    assert (target / f"{SLUG}_r.safetensors").is_file()
    assert [p.name for p in (embeddings / "interactions").iterdir()] == [SLUG]


def test_a_changed_file_is_refused(export_dir, embeddings, tmp_path):
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in export_dir.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    (copy / f"{SLUG}_p2.safetensors").write_bytes((copy / f"{SLUG}_p1.safetensors").read_bytes())

    with pytest.raises(InterInvError, match="kisshand_p2.safetensors' does not match its manifest"):
        install_interaction(copy, embeddings)
    assert _tree(embeddings) == {}


def _export_with_pt(export_dir, folder, write_r):
    """A copy of the export whose R file is a .pt written by `write_r(path)`, with the manifest updated."""
    folder.mkdir()
    for path in export_dir.iterdir():
        if path.name != f"{SLUG}_r.safetensors":
            (folder / path.name).write_bytes(path.read_bytes())
    pt = folder / f"{SLUG}_r.pt"
    write_r(pt)
    manifest_path = folder / f"{SLUG}.interaction.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["tokens"]["r"].update(file=pt.name, sha256=file_sha256(pt))
    manifest_path.write_text(json.dumps(manifest))
    return folder


def test_a1111_pt_is_read_with_weights_only_and_installed_as_safetensors(export_dir, embeddings, tmp_path):
    vectors = read_embedding(export_dir / f"{SLUG}_r.safetensors").tensors["emb_params"]
    source = _export_with_pt(
        export_dir, tmp_path / "with-pt", lambda p: write_a1111_pt(p, {"clip_l": vectors}, "sd1", 10, "tiny")
    )

    target = install_interaction(source, embeddings, width=WIDTH)

    installed = read_embedding(target / f"{SLUG}_r.safetensors")
    assert torch.equal(installed.tensors["emb_params"], vectors)
    assert not (target / f"{SLUG}_r.pt").exists()
    manifest = json.loads((target / f"{SLUG}.interaction.json").read_text())
    assert manifest["tokens"]["r"]["file"] == f"{SLUG}_r.safetensors"
    assert manifest["tokens"]["r"]["sha256"] == file_sha256(target / f"{SLUG}_r.safetensors")


class _RunsCode:
    """A pickle payload that would create a file if it were ever unpickled without weights_only."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pt_with_code_in_its_pickle_is_refused(export_dir, embeddings, tmp_path):
    marker = tmp_path / "code-ran"
    source = _export_with_pt(
        export_dir, tmp_path / "evil-pt", lambda p: torch.save({"string_to_param": {"*": _RunsCode(marker)}}, p)
    )

    with pytest.raises(InterInvError, match="could not be read safely"):
        install_interaction(source, embeddings)

    assert not marker.exists()
    assert _tree(embeddings) == {}


def test_source_that_is_neither_folder_zip_nor_repo_id_is_explained(embeddings, tmp_path):
    with pytest.raises(InterInvError, match="not an existing folder or zip, nor a Hub repo id"):
        install_interaction(str(tmp_path / "missing" / "thing.zip"), embeddings)
