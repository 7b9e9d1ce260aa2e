"""The HTTP API checks a whole train request before a task exists: 422 naming the field, never a 500; resume by
name alone; no upload folder left behind."""

import pytest

from api_helpers import body, client, wait
from task_helpers import interrupted_at
from webui_standin import demo, webui  # noqa: F401  (fixtures)

from interinv.ui import jobs


def refused(response, field):
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field, response.json()
    return response.json()["detail"]


def uploads(webui):
    folder = webui["data_dir"] / "interinv" / "uploads"
    return sorted(folder.iterdir()) if folder.is_dir() else []


def test_a_path_with_a_segment_too_long_for_the_file_system_is_refused_naming_its_field(webui, demo):
    long_path = str(webui["data_dir"] / ("x" * 300) / "01.png")
    http = client()
    refused(http.post("/interinv/v1/train", json=body(demo, images=[long_path, long_path])), "images[0]")
    refused(http.post("/interinv/v1/train", json=body(demo, folder=str(webui["data_dir"] / ("x" * 300)))), "folder")


def test_poses_and_stage1_of_the_wrong_shape_are_refused_naming_the_field(webui, demo):
    http = client()
    refused(http.post("/interinv/v1/train", json=body(demo, poses=5)), "poses")
    refused(http.post("/interinv/v1/train", json=body(demo, stage1={"p1": 5})), "stage1.p1")
    refused(http.post("/interinv/v1/train", json=body(demo, stage1={"p3": []})), "stage1")


@pytest.mark.parametrize("name", ["../evil", "a/b", "UPPER", "", 5])
def test_an_invalid_name_is_refused_before_a_task_exists(webui, demo, name):
    refused(client().post("/interinv/v1/train", json=body(demo, name=name)), "name")
    assert jobs.all_tasks() == [] or all(t.spec.name != name for t in jobs.all_tasks())


@pytest.mark.parametrize("field, value", [("overwrite", "no"), ("resume", "false"), ("overwrite", 1), ("resume", None)])
def test_booleans_must_be_true_or_false(webui, demo, field, value):
    count = len(jobs.all_tasks())
    refused(client().post("/interinv/v1/train", json=body(demo, **{field: value})), field)
    assert len(jobs.all_tasks()) == count


def test_config_options_of_the_wrong_type_are_refused_at_the_request(webui, demo):
    detail = refused(client().post("/interinv/v1/train", json=body(demo, config={"stage1": {"steps": "100"}})), "config")
    assert "config.stage1.steps" in detail and "whole number" in detail


def test_too_few_exemplars_and_unknown_fields_are_refused_at_the_request(webui, demo):
    http = client()
    refused(http.post("/interinv/v1/train", json=body(demo, images=body(demo)["images"][:1])), "images")
    refused(http.post("/interinv/v1/train", json=body(demo, overwirte=True)), "overwirte")


def test_a_resumed_task_needs_only_its_name_and_keeps_its_subjects(webui, demo, monkeypatch):
    http = client()
    with interrupted_at(monkeypatch, "stage2"):
        stopped = wait(http, http.post("/interinv/v1/train", json=body(demo)).json()["task_id"])
    response = http.post("/interinv/v1/train", json={"name": "demo_kneel", "resume": True})
    assert stopped["status"] == "interrupted" and response.status_code == 200, response.text
    resumed = wait(http, response.json()["task_id"])
    assert resumed["status"] == "done", resumed["error"]
    listed = http.get("/interinv/v1/interactions").json()["interactions"]
    assert listed[0]["subjects"] == ["man", "woman"]


def test_resume_refuses_settings_it_would_ignore_and_a_task_that_never_started(webui, demo):
    http = client()
    refused(http.post("/interinv/v1/train", json={"name": "never_started", "resume": True}), "resume")
    refused(http.post("/interinv/v1/train", json={"name": "never_started", "resume": True, "subjects": ["a", "b"]}),
            "subjects")


def test_rejected_requests_write_no_upload_folder_and_finished_tasks_remove_theirs(webui, demo):
    http = client()
    refused(http.post("/interinv/v1/train", json=body(demo, name="../evil")), "name")
    refused(http.post("/interinv/v1/train", json=body(demo, stage1_source="nope")), "stage1_source")
    assert uploads(webui) == []
    status = wait(http, http.post("/interinv/v1/train", json=body(demo)).json()["task_id"])
    assert status["status"] == "done", status["error"]
    assert uploads(webui) == []


def test_a_queued_task_that_is_interrupted_removes_its_upload_folder(webui, demo):
    from modules import call_queue

    http = client()
    with call_queue.queue_lock:  # the WebUI is busy: the task waits
        task_id = http.post("/interinv/v1/train", json=body(demo)).json()["task_id"]
        assert len(uploads(webui)) == 1
        http.post(f"/interinv/v1/tasks/{task_id}/interrupt")
    assert wait(http, task_id)["status"] == "interrupted" and uploads(webui) == []


def test_subjects_are_checked_by_the_one_subject_validator_at_the_request(webui, demo):
    detail = refused(client().post("/interinv/v1/train", json=body(demo, subjects=["(man:1.5)", "woman"])), "subjects")
    assert "prompt syntax" in detail
