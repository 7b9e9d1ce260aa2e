"""Failures that used to end the CLI in a raw traceback: each must be one `error:` line naming the cause."""

from __future__ import annotations

import struct
import subprocess
import zipfile
import zlib
from pathlib import Path

import pytest
import torch

from interinv import cli
from interinv.cli import main
from interinv.errors import InterInvError
from share_helpers import SLUG, make_export


def _mount_tmpfs(folder: Path, options: str) -> None:
    """A tiny tmpfs at folder (root only; tests that need one are skipped elsewhere)."""
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to make a full or read-only disk ({done.stderr.strip()}); needs root")


@pytest.fixture
def full_disk(tmp_path):
    """A 64 KiB file system filled to the last byte: every write into it fails with ENOSPC."""
    folder = tmp_path / "full"
    _mount_tmpfs(folder, "size=64k")
    try:
        with open(folder / "filler", "wb", buffering=0) as filler:
            try:
                while filler.write(b"\0" * 4096):
                    pass
            except OSError:
                pass
        yield folder
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], check=True)  # lazy: a failed writer may still hold a file


@pytest.fixture
def read_only_disk(tmp_path):
    folder = tmp_path / "read-only"
    _mount_tmpfs(folder, "ro,size=64k")
    yield folder
    subprocess.run(["umount", "--lazy", str(folder)], check=True)  # lazy: a failed writer may still hold a file


@pytest.fixture(scope="module")
def exported(tmp_path_factory, host):
    return make_export(tmp_path_factory.mktemp("export"), host)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, exported):
    path = tmp_path_factory.mktemp("bundle") / f"{SLUG}.zip"
    assert main(["bundle", str(exported), "--zip", str(path)]) == 0
    return path


def _error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def test_a_decompression_bomb_exemplar_is_refused_by_name(tmp_path):
    from interinv.data.exemplars import load_image

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path = tmp_path / "bomb.png"  # the header claims 10 gigapixels of 8-bit gray
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))
    with pytest.raises(InterInvError, match="bomb.png' is too large to decode safely.*scale it down"):
        load_image(path)


def test_disk_full_while_saving_an_embedding_says_the_disk_is_full(full_disk):
    from interinv.formats.embedding_files import write_embedding

    with pytest.raises(InterInvError, match="The disk is full: cannot write into .*full.*Free some space"):
        write_embedding(full_disk / "a_r.safetensors", {"clip_l": torch.zeros(64, 768)}, "sd1", {})
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler"]  # no half-written file is left


def test_disk_full_while_saving_a_resumable_state_says_the_disk_is_full(full_disk):
    from interinv.atomic import write_atomic

    state = {"vectors": torch.zeros(64, 768)}
    with pytest.raises(InterInvError, match="The disk is full"):  # torch.save itself only says "unexpected pos"
        write_atomic(full_disk / "state.pt", lambda tmp: torch.save(state, tmp))  # as resume.save_state writes


def test_bundle_onto_a_full_disk_is_an_error_line(full_disk, exported, capsys):
    assert main(["bundle", str(exported), "--zip", str(full_disk / "b.zip")]) == 2
    assert "error: The disk is full" in _error_line(capsys)


def test_install_into_a_read_only_folder_is_an_error_line(read_only_disk, bundle, capsys):
    assert main(["install", str(bundle), "--embeddings-dir", str(read_only_disk / "embeddings")]) == 2
    assert "read-only file system" in _error_line(capsys)


def test_install_onto_a_full_disk_says_the_disk_is_full_not_permissions(full_disk, bundle, capsys):
    assert main(["install", str(bundle), "--embeddings-dir", str(full_disk)]) == 2
    err = _error_line(capsys)
    assert "The disk is full" in err and "permission" not in err
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler", "interactions"]
    assert list((full_disk / "interactions").iterdir()) == []  # the staging folder is gone


def test_a_zip_with_a_bad_crc_is_refused_as_damaged(tmp_path, bundle, capsys):
    damaged = tmp_path / "damaged.zip"
    with zipfile.ZipFile(bundle) as source, zipfile.ZipFile(damaged, "w", zipfile.ZIP_STORED) as target:
        for info in source.infolist():
            target.writestr(info.filename, source.read(info), compress_type=zipfile.ZIP_STORED)
    data = bytearray(damaged.read_bytes())
    with zipfile.ZipFile(damaged) as archive:
        info = archive.getinfo(f"{SLUG}_r.safetensors")
    data[info.header_offset + 30 + len(info.filename) + 40] ^= 0xFF  # one flipped byte inside the stored file
    damaged.write_bytes(bytes(data))
    assert main(["install", str(damaged), "--embeddings-dir", str(tmp_path / "emb")]) == 2
    assert f"damaged.zip' is damaged: its entry '{SLUG}_r.safetensors'" in _error_line(capsys)


@pytest.mark.parametrize("prompt, message", [
    ("a {x} {p1} {r} {p2}", "uses unknown slots {x}"),
    ("a {p1} { {r} {p2}", "is malformed"),
])
def test_generate_refuses_a_prompt_with_a_bad_slot(exported, tmp_path, capsys, prompt, message):
    assert main(["generate", "--model", "interinv:tiny", "--embeddings", str(exported), "--prompt", prompt,
                 "--out", str(tmp_path / "grid.png"), "--steps", "1", "--seeds", "1"]) == 2
    assert message in _error_line(capsys)


@pytest.mark.parametrize("flag", ["--seeds", "--steps"])
def test_generate_refuses_zero_seeds_or_steps(exported, tmp_path, capsys, flag):
    counts = {"--seeds": "1", "--steps": "1", flag: "0"}
    with pytest.raises(SystemExit) as exit_:
        main(["generate", "--model", "interinv:tiny", "--embeddings", str(exported), "--prompt", "a {p1} {r} {p2}",
              "--out", str(tmp_path / "grid.png"), *[v for item in counts.items() for v in item]])
    assert exit_.value.code == 2
    assert f"argument {flag}: expected a whole number of at least 1, got '0'" in _error_line(capsys)


def test_a_non_sd_single_file_with_config_dir_is_refused_by_name(host, exported, tmp_path, capsys):
    from safetensors.torch import save_file

    host.pipe.save_pretrained(tmp_path / "configs")
    lora = tmp_path / "lora.safetensors"
    save_file({"lora_unet_down.alpha": torch.zeros(4, 4)}, str(lora))
    assert main(["generate", "--model", str(lora), "--config-dir", str(tmp_path / "configs"), "--device", "cpu",
                 "--embeddings", str(exported), "--prompt", "a {p1} {r} {p2}", "--out", str(tmp_path / "g.png")]) == 2
    assert "lora.safetensors' is not a whole Stable Diffusion 1.x/2.x/XL checkpoint" in _error_line(capsys)


def test_an_unexpected_exception_is_one_line_with_a_log_file_of_the_traceback(monkeypatch, capsys):
    def broken(args):
        raise RuntimeError("something nobody foresaw\nsecond line")

    monkeypatch.setattr(cli, "cmd_inspect", broken)  # a forced bug: the parser takes the command from the module
    assert main(["inspect", "whatever.safetensors"]) == 1
    err = _error_line(capsys)
    assert err.count("\n") == 1 and err.startswith("error: RuntimeError: something nobody foresaw second line")
    log = Path(err.split("the traceback is in ")[1].split(";")[0])
    text = log.read_text()
    assert "Traceback" in text and "in broken" in text and "inspect whatever.safetensors" in text
    log.unlink()
