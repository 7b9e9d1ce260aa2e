"""The WebUI shell on the stand-in: entry point, tab, HTTP API, install.py."""

import importlib.metadata
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

import a1111_standin  # noqa: F401  (puts the stand-in's `modules` on sys.path)
from api_helpers import body, client, wait
from standin import demo, webui  # noqa: F401  (fixtures)


ROOT = Path(__file__).resolve().parent.parent


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
    again = http.post("/interinv/v1/train", json=body(demo))
    assert again.status_code == 422 and again.json()["field"] == "overwrite"
    assert "Overwrite existing files" in again.json()["detail"]


def test_a_train_request_behind_another_waits_its_turn_and_says_so(webui, demo, monkeypatch):
    from modules import call_queue

    from interinv.ui import jobs

    started = []

    def execute(task, *_args, **_kwargs):  # records the order instead of training
        started.append(task.spec.name)
        task.status = "done"
        task.done.set()

    monkeypatch.setattr(jobs, "execute", execute)
    http = client()
    with call_queue.queue_lock:  # the WebUI is busy generating
        ids = [http.post("/interinv/v1/train", json=body(demo, name=name)).json()["task_id"]
               for name in ("first", "second")]
        waiting = [http.get(f"/interinv/v1/tasks/{task_id}").json() for task_id in ids]
    finished = [wait(http, task_id) for task_id in ids]
    assert [(s["status"], s["queue_position"]) for s in waiting] == [("queued", 1), ("queued", 2)]
    assert "1 task(s) ahead" in waiting[1]["message"]
    assert started == ["first", "second"] and all(s["status"] == "done" for s in finished)


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


def test_api_reads_a_server_folder_below_the_data_folder_but_no_link_out_of_it(webui, demo, tmp_path):
    import shutil

    from interinv.ui.api import FieldError, spec_from_body

    folder = webui["data_dir"] / "kneel"
    shutil.copytree(demo / "exemplars", folder)
    spec = spec_from_body({"name": "demo_kneel", "subjects": ["man", "woman"], "folder": str(folder)})
    assert [p.name for p in spec.exemplars] == ["00.png", "01.png"] and [p.name for p in spec.poses] == ["00.json", "01.json"]
    assert spec.source == "controlnet"
    (tmp_path / "secret.png").write_bytes(b"x")
    (folder / "02.png").symlink_to(tmp_path / "secret.png")
    with pytest.raises(FieldError, match="outside the WebUI's data folder") as refused:
        spec_from_body({"name": "demo_kneel", "subjects": ["man", "woman"], "folder": str(folder)})
    assert refused.value.field == "folder"


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
    assert [len(v) for v in script_callbacks.callback_map.values()] == [1, 1, 1, 1]
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


def test_the_webui_side_imports_without_diffusers():
    code = ("import sys; sys.modules['diffusers'] = None; "
            f"sys.path[:0] = [{str(ROOT / 'extension')!r}, {str(ROOT / 'tests' / 'a1111_standin')!r}]; "
            "import interinv.ui.entry, interinv.ui.tab, interinv.ui.api, interinv.ui.jobs, interinv.hosts.a1111_host")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)


def test_the_tab_shows_why_training_is_refused_on_forge(webui):
    from interinv.ui import entry

    webui["model"].forge_objects = object()  # Forge's engine: the Forge adapter answers, here for an SD3 checkpoint
    webui["model"].is_sd1, webui["model"].is_sd3 = False, True
    (blocks, _, _), = entry.ui_tabs()
    assert "The loaded checkpoint is SD3" in str(blocks.config)


def _install_py():
    spec = importlib.util.spec_from_file_location("interinv_install", ROOT / "install.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_install_py_installs_only_missing_non_host_packages(monkeypatch):
    import launch

    launch.pip_calls.clear()
    module = _install_py()
    assert launch.pip_calls == []  # safetensors and controlnet_aux are installed here
    assert module.missing((("interinv-no-such-dist", "interinv-no-such-dist==1.0"), ("torch", "torch==9"))) == ["interinv-no-such-dist==1.0"]


def test_install_py_holds_the_webuis_versions_while_installing(monkeypatch):
    import launch

    monkeypatch.setattr(launch, "is_installed", lambda dist: dist != "controlnet_aux")
    launch.pip_calls.clear()
    module = _install_py()
    (command,) = launch.pip_calls
    constraints = Path(command.split('--constraint "')[1].rstrip('"')).read_text().split()
    assert command.startswith('install "controlnet_aux==0.0.10"')
    assert f"numpy=={importlib.metadata.version('numpy')}" in constraints
    assert f"torch=={importlib.metadata.version('torch')}" in constraints
    assert all(line.split("==")[0] in module.HELD for line in constraints)
