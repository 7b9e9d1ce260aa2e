"""The Interaction Inversion tab on the stand-in WebUI: its wiring, the stage-1 sources, the contact sheet,
live previews through /internal/progress, and Interrupt + Resume."""

import inspect
from pathlib import Path

from task_helpers import interrupted_at
from webui_standin import NO_PREPROCESSOR, boot, demo, host, prompt_words, webui  # noqa: F401  (fixtures)

from interinv.ui import jobs, tab

LABEL = {value: label for label, value in tab.SOURCES.items()}
FIELDS = [name for name in inspect.signature(tab._spec).parameters if name != "resume"]





def form(demo, **values):
    """The tab's inputs after the task id: the demo exemplars by server folder, 2 steps per stage at 64 px."""
    defaults = dict(name="demo_kneel", subject1="man", subject2="woman", exemplars=None, folder=str(demo / "exemplars"),
                    poses=None, source=LABEL["crops"], per_subject=1, sample_steps=2, p1=None, p2=None, steps1=2, steps2=2,
                    resolution=64, preview_every=0, preview_steps=2, overwrite=False)
    defaults.update(values)
    return [defaults[name] for name in FIELDS]


def click(task_id, fields, train=True, resume=False):
    """What pressing a button runs: the handler inside wrap_gradio_gpu_call, with the JS-filled task id."""
    from modules.call_queue import wrap_gradio_gpu_call

    handler = tab.run(host, train=train, resume=resume)
    return wrap_gradio_gpu_call(handler, extra_outputs=[None, None])(task_id, *fields)


def test_train_from_a_server_folder_writes_into_the_embeddings_folder_and_works_outside_it(webui, demo):
    sheet, gallery, result = click("task(train)", form(demo))
    target = webui["data_dir"] / "embeddings" / "interactions" / "demo_kneel"
    assert "Trained 'demo_kneel'" in result, result
    assert sorted(p.name for p in target.glob("*.safetensors")) == [
        "demo_kneel_p1.safetensors", "demo_kneel_p2.safetensors", "demo_kneel_r.safetensors"]
    assert "demo_kneel_r" in prompt_words()
    work = jobs.task_folder("demo_kneel")
    assert Path(sheet).is_file() and work in Path(sheet).parents
    assert (work / "work" / "state" / "stage2.pt").is_file() and not (target / ".interinv").exists()


def test_the_contact_sheet_button_renders_stage1_with_controlnet_and_trains_nothing(webui, demo):
    sheet, _gallery, result = click("task(sheet)", form(demo, source=LABEL["controlnet"]), train=False)
    calls = webui["controlnet"].received
    assert "contact sheet is ready" in result and Path(sheet).is_file()
    assert len(calls) == 2 * 2 and all([u.module for u in c["units"]] == [NO_PREPROCESSOR] for c in calls)  # 2 exemplars x 2 subjects
    assert not (webui["data_dir"] / "embeddings" / "interactions").exists()


def test_live_previews_reach_the_progress_endpoint_while_training(webui, demo, monkeypatch):
    from modules import progress

    seen, original = [], jobs.WebUIJob.preview

    def preview_then_poll(self, stage, step, images, captions):
        original(self, stage, step, images, captions)
        seen.append(progress.progressapi("task(live)", id_live_preview=-1))

    monkeypatch.setattr(jobs.WebUIJob, "preview", preview_then_poll)
    _sheet, gallery, _result = click("task(live)", form(demo, preview_every=2))
    assert seen and all(r["active"] and r["live_preview"].startswith("data:image/png;base64,") for r in seen)
    assert any(r["textinfo"].startswith("stage2: step") for r in seen)
    assert gallery and all(caption.startswith(("stage1 step", "stage2 step")) for _image, caption in gallery)


def test_an_interrupted_training_resumes_from_the_name_alone(webui, demo, monkeypatch):
    import torch
    from modules import safe

    monkeypatch.setattr(torch, "load", safe.load)  # the WebUI's checker, which refuses what torch 2.14 writes
    with interrupted_at(monkeypatch, "stage2"):
        _sheet, _gallery, stopped = click("task(first)", form(demo))
    _sheet, _gallery, resumed = click("task(again)", form(demo, subject1="", subject2="", folder=""), resume=True)
    assert "interrupted" in stopped and "Press Resume" in stopped and "--resume" not in stopped
    assert "Trained 'demo_kneel'" in resumed, resumed
    assert torch.load is safe.load  # put back after the task


def test_the_tab_opens_with_the_default_sources_note(tmp_path):
    boot(tmp_path, controlnet_models=())
    config = tab.build(host).config
    note = next(c for c in config["components"] if c["props"].get("elem_id") == "interinv_source_note")
    assert "No openpose ControlNet model for sd1" in note["props"]["value"]


def test_resume_without_a_started_task_says_so(webui, demo):
    _sheet, _gallery, result = click("task(none)", form(demo, name="never_started"), resume=True)
    assert "no task named &#x27;never_started&#x27; to resume" in result


def test_the_stage1_source_note_says_what_to_install_and_shows_the_uploads(tmp_path):
    boot(tmp_path, controlnet_models=())
    note, *shown = tab.source_note(LABEL["controlnet"])
    assert "No openpose ControlNet model for sd1" in note
    assert [update["visible"] for update in shown] == [False, False, True, True]  # p1, p2, per subject, steps
    _note, *shown = tab.source_note(LABEL["upload"])
    assert [update["visible"] for update in shown] == [True, True, False, False]


def test_the_buttons_send_the_hidden_task_id_first_and_start_the_progress_js(webui):
    config = tab.build(host).config
    ids = {c["props"].get("elem_id"): c["id"] for c in config["components"]}
    buttons = {d["api_name"]: d for d in config["dependencies"] if d.get("api_name")}
    for name in ("interinv_train", "interinv_resume", "interinv_contact_sheet"):
        assert buttons[name]["inputs"][0] == ids["interinv_task_id"], name
        assert "interinv.startTraining" in str(buttons[name]["js"])
        assert set(buttons[name]["outputs"]) == {ids["interinv_sheet"], ids["interinv_gallery"], ids["interinv_result"]}
    hidden = next(c for c in config["components"] if c["id"] == ids["interinv_task_id"])
    assert hidden["props"]["visible"] is False


def test_the_preview_steps_field_sets_the_sampling_steps_of_every_preview(webui, demo):
    assert tab._spec(*form(demo, preview_steps=7)).config.preview_steps == 7
