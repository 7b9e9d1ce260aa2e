"""The WebUI shell on the stand-in: entry point, tab, HTTP API, install.py."""

import base64
import importlib.util
import io
import sys
import time
from pathlib import Path

import pytest

import a1111_standin  # noqa: F401  (puts the stand-in's `modules` on sys.path)
from standin import boot

from interinv.demo import write_demo_set

ROOT = Path(__file__).resolve().parent.parent
TINY = {"resolution": 64, "stage1": {"steps": 2, "batch_size": 2, "save_every": 1},
        "stage2": {"steps": 2, "batch_size": 2, "save_every": 1}}


@pytest.fixture()
def webui(tmp_path):
    return boot(tmp_path / "webui")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return write_demo_set(tmp_path_factory.mktemp("demo"), count=3, singles=2)


def data_uri(path):
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()


def client(auth=None):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from interinv.hosts.a1111_host import A1111Host
    from interinv.ui import api
    from modules import shared

    shared.cmd_opts.api_auth = auth
    app = FastAPI()
    api.register(app, host_factory=lambda: A1111Host(preview_size=64))
    return TestClient(app)


def body(demo, **extra):
    return {"name": "demo_kneel", "subjects": ["man", "woman"],
            "images": [data_uri(p) for p in sorted((demo / "exemplars").glob("0?.png"))],
            "stage1": {side: [data_uri(p) for p in sorted((demo / "stage1" / side).glob("*.png"))] for side in ("p1", "p2")},
            "config": TINY, **extra}


def wait(http, task_id, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = http.get(f"/interinv/v1/tasks/{task_id}").json()
        if status["status"] in ("done", "error", "interrupted"):
            return status
        time.sleep(0.1)
    raise AssertionError(f"task {task_id} did not finish: {status}")


def test_api_trains_publishes_and_lists_the_interaction(webui, demo):
    from modules import sd_hijack

    http = client()
    task_id = http.post("/interinv/v1/train", json=body(demo)).json()["task_id"]
    status = wait(http, task_id)
    assert status["status"] == "done", status["error"]
    assert sorted(status["loaded"]) == ["demo_kneel_p1", "demo_kneel_p2", "demo_kneel_r"]
    assert all(Path(f).parent == webui["data_dir"] / "embeddings" / "interactions" / "demo_kneel" for f in status["files"])
    assert "demo_kneel_r" in sd_hijack.model_hijack.embedding_db.word_embeddings
    listed = http.get("/interinv/v1/interactions").json()["interactions"]
    assert [m["slug"] for m in listed] == ["demo_kneel"] and listed[0]["subjects"] == ["man", "woman"]


def test_api_refuses_to_overwrite_an_installed_interaction(webui, demo):
    http = client()
    assert wait(http, http.post("/interinv/v1/train", json=body(demo)).json()["task_id"])["status"] == "done"
    again = wait(http, http.post("/interinv/v1/train", json=body(demo)).json()["task_id"])
    assert again["status"] == "error" and "Overwrite existing files" in again["error"]


def test_api_names_the_field_of_invalid_base64(webui, demo):
    response = client().post("/interinv/v1/train", json=body(demo, images=["data:image/png;base64,@@@"]))
    assert response.status_code == 422 and response.json()["field"] == "images[0]"


def test_api_refuses_invalid_json_and_server_paths_outside_the_data_folder(webui, demo, tmp_path):
    http = client()
    assert http.post("/interinv/v1/train", content=b"{nope", headers={"content-type": "application/json"}).json()["field"] == "body"
    outside = tmp_path / "outside.png"
    outside.write_bytes(b"x")
    response = http.post("/interinv/v1/train", json=body(demo, images=[str(outside), str(outside)]))
    assert response.status_code == 422 and "outside the WebUI's data folder" in response.json()["detail"]


def test_api_refuses_uploads_over_the_limit_with_413(webui, demo):
    from modules import shared

    shared.opts.interinv_api_max_upload_mb = 1
    response = client().post("/interinv/v1/train", json=body(demo, description="x" * (2 * 2**20)))
    assert response.status_code == 413


def test_api_requires_credentials_when_api_auth_is_set(webui):
    http = client(auth="alice:secret")
    assert http.get("/interinv/v1/interactions").status_code == 401
    assert http.get("/interinv/v1/interactions", auth=("alice", "wrong")).status_code == 401
    assert http.get("/interinv/v1/interactions", auth=("alice", "secret")).status_code == 200


def test_entry_point_registers_once_and_builds_the_tab(webui):
    import gradio as gr

    from modules import script_callbacks

    for _ in range(2):
        spec = importlib.util.spec_from_file_location("interinv.py", ROOT / "scripts" / "interinv.py")
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
    assert [len(v) for v in script_callbacks.callback_map.values()] == [1, 1, 1]
    (blocks, title, elem_id), = script_callbacks.ui_tabs_callback()
    assert isinstance(blocks, gr.Blocks) and (title, elem_id) == ("Interaction Inversion", "interinv")
    assert "interinv_train" in str(blocks.config) and "interinv-error" not in str(blocks.config)


def test_a_failing_tab_build_shows_an_error_panel(webui, monkeypatch):
    from interinv.ui import entry, tab

    def broken(**_kwargs):
        raise RuntimeError("gradio component missing")

    monkeypatch.setattr(tab, "build", broken)
    (blocks, title, _), = entry.ui_tabs()
    assert title == "Interaction Inversion" and "gradio component missing" in str(blocks.config)


def test_the_tab_shows_why_training_is_refused_on_forge(webui):
    from interinv.ui import entry

    webui["model"].forge_objects = object()
    (blocks, _, _), = entry.ui_tabs()
    assert "needs AUTOMATIC1111" in str(blocks.config)


def test_install_py_installs_only_missing_non_host_packages(monkeypatch):
    import launch

    launch.pip_calls.clear()
    spec = importlib.util.spec_from_file_location("interinv_install", ROOT / "install.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert launch.pip_calls == []  # safetensors is installed here
    assert module.missing((("interinv-no-such-dist", "interinv-no-such-dist==1.0"), ("torch", "torch==9"))) == ["interinv-no-such-dist==1.0"]
