import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image

from conftest import cli_train
from interinv.cli import main
from interinv.errors import InterInvError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, demo_data):
    """An output folder of 'interinv train' on the stick-figure set with the tiny model."""
    return cli_train(tmp_path_factory.mktemp("trained"), demo_data, "interinv:tiny")


def test_demo_learns_a_world_interaction_and_compares_it_with_the_prompt(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--steps", "4", "--samples", "2", "--quiet"]) == 0
    names = {p.name for p in tmp_path.iterdir()}
    slug = "kiss_hand"
    assert {f"{slug}_p1.safetensors", f"{slug}_r.safetensors", f"{slug}_p2.safetensors", "comparison.png",
            "demo.json"} <= names
    out = capsys.readouterr().out
    assert "prompt only" in out and "learned words" in out
    report = json.loads((tmp_path / "demo.json").read_text())
    assert set(report["accuracy"]) == {"prompt", "ours"}  # both rows judged by the world's scorer


def test_inspect_prints_family_shape_and_metadata(trained, capsys):
    assert main(["inspect", str(trained / "demo_kneel_r.safetensors")]) == 0
    out = capsys.readouterr().out
    assert "family: sd1" in out and "shape [1, 32]" in out and "interinv.role: r" in out


def test_bad_input_exits_with_a_clear_message(tmp_path, capsys):
    assert main(["train", str(tmp_path / "missing"), "--model", "interinv:tiny", "--out", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_unknown_model_family_is_refused(host):
    from interinv.hosts.diffusers_host import DiffusersHost

    with pytest.raises(InterInvError, match="Unknown model family 'unknown'.*--family"):
        DiffusersHost(host.pipe, device="cpu")


def test_a_missing_model_folder_is_named(tmp_path):
    from interinv.hosts.diffusers_host import load_host

    with pytest.raises(InterInvError, match="does not exist"):
        load_host(str(tmp_path / "no-model.safetensors"))


def test_a_saved_diffusers_folder_loads_as_a_host(host, tmp_path):
    from interinv.hosts.diffusers_host import load_host

    host.pipe.save_pretrained(tmp_path / "model")
    loaded = load_host(str(tmp_path / "model"), device="cpu", family="sd1")
    assert loaded.embedding_dims == {"clip_l": 32} and loaded.family == "sd1"


def test_console_script_entry_point_runs():
    result = subprocess.run([sys.executable, "-m", "interinv.cli", "--help"], capture_output=True, text=True,
                            cwd=ROOT, env={"PYTHONPATH": str(ROOT / "extension"), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0 and "demo" in result.stdout and "inspect" in result.stdout


def test_bundle_and_install_round_trip_through_the_cli(tmp_path, trained, capsys):
    assert main(["bundle", str(trained), "--zip", str(tmp_path / "b.zip")]) == 0
    assert main(["install", str(tmp_path / "b.zip"), "--embeddings-dir", str(tmp_path / "emb"), "--width", "32"]) == 0
    installed = tmp_path / "emb" / "interactions" / "demo_kneel"
    assert {"demo_kneel_p1.safetensors", "demo_kneel_r.safetensors", "demo_kneel_p2.safetensors"} <= {p.name for p in installed.iterdir()}
    assert main(["install", str(tmp_path / "b.zip"), "--embeddings-dir", str(tmp_path / "emb")]) == 2
    assert "--force" in capsys.readouterr().err


def test_stages_run_separately_and_stage2_needs_stage1(tmp_path, demo_data, capsys):
    common = [str(demo_data / "exemplars"), "--model", "interinv:tiny", "--out", str(tmp_path), "--stage1-images",
              str(demo_data / "stage1"), "--resolution", "32", "--steps1", "2", "--steps2", "2", "--quiet"]
    assert main(["stage2", *common]) == 2
    assert "interinv stage1" in capsys.readouterr().err
    assert main(["stage1", *common]) == 0 and main(["stage2", *common]) == 0
    assert not (tmp_path / "demo_kneel_r.safetensors").exists()
    assert main(["export", *common]) == 0
    assert (tmp_path / "demo_kneel_r.safetensors").is_file()


@pytest.mark.parametrize("model, options, side", [
    ("interinv:tiny-sdxl", [], 1024),  # SDXL trains at its native side unless told otherwise
    ("interinv:tiny", [], 512),
    ("interinv:tiny-sdxl", ["--resolution", "64"], 64),
    ("interinv:tiny-sdxl", ["--set", "resolution=96"], 96),
    ("interinv:tiny-sdxl", ["--config", "CONFIG"], 128),
])
def test_the_training_side_defaults_to_the_model_familys_own(model, options, side, demo_data, tmp_path, monkeypatch):
    import interinv.engine.run as engine_run

    (tmp_path / "c.json").write_text('{"resolution": 128}')
    seen = []
    monkeypatch.setattr(engine_run, "run", lambda host, request, job: seen.append(request.config) or SimpleNamespace(manifest=None))
    args = [str(tmp_path / "c.json") if option == "CONFIG" else option for option in options]
    assert main(["train", str(demo_data / "exemplars"), "--model", model, "--out", str(tmp_path / "o"), "--quiet", *args]) == 0
    assert seen[0].resolution == side
