"""The Interaction Inversion tab: inputs, stage-1 source, contact sheet, Train/Resume/Interrupt, live previews."""

from __future__ import annotations

import html
import json
from pathlib import Path

import gradio as gr

from ..config import TrainConfig
from ..errors import InterInvError
from ..core.tokens import check_slug
from . import compat, jobs, library

ELEM = "interinv"
# The stage-1 source choices as the tab shows them, and the jobs.STAGE1_SOURCES value of each
SOURCES = {
    "ControlNet: render each subject alone in its pose (needs sd-webui-controlnet)": "controlnet",
    "Crops of the exemplars (weaker: every image shows the same person)": "crops",
    "My own single-subject images": "upload",
}
DEFAULT_SOURCE = next(iter(SOURCES))
DEFAULTS = TrainConfig()


def _paths(values) -> list[Path]:
    return [Path(p) for p in compat.file_paths(values)]


def _spec(name, subject1, subject2, exemplars, folder, poses, source, per_subject, sample_steps, p1, p2, steps1, steps2,
          resolution, preview_every, preview_steps, overwrite, resume=False) -> jobs.TrainSpec:
    """A TrainSpec from the form; Resume needs only the name (the rest was recorded when the task started)."""
    name = (name or "").strip()
    if not name:
        raise InterInvError("Give the interaction a name, e.g. 'kisshand'.")
    check_slug(name)
    if resume:
        return jobs.resume_spec(name)
    config = TrainConfig(name=name, resolution=int(resolution or family_resolution()))
    if not (subject1 or "").strip() or not (subject2 or "").strip():
        raise InterInvError("Type the two subject words, e.g. 'man' and 'woman'.")
    config.stage1.steps, config.stage2.steps = int(steps1), int(steps2)
    config.stage1.preview_every = config.stage2.preview_every = int(preview_every or 0)
    config.preview_steps = int(preview_steps or DEFAULTS.preview_steps)
    images, jsons = jobs.folder_images(folder) if (folder or "").strip() else ([], [])
    return jobs.TrainSpec(
        name=name, subjects=(subject1.strip(), subject2.strip()), exemplars=_paths(exemplars) + images,
        stage1={"p1": _paths(p1), "p2": _paths(p2)}, config=config, poses=_paths(poses) + jsons,
        overwrite=bool(overwrite), source=SOURCES.get(source, "controlnet"), per_subject=int(per_subject or 1),
        sample_steps=int(sample_steps or 1),
    )


def _message(kind: str, text: str) -> str:
    return f"<div class='{ELEM}-{kind}'><p>{html.escape(text)}</p></div>"


def outcome_html(task: jobs.Task, train: bool = True) -> str:
    if task.status == "interrupted":
        again = "Press Resume to continue." if train else "Press Contact sheet again to continue."
        return _message(task.status, f"{task.status}: {task.error} {again}")
    if task.status != "done":
        return _message(task.status, f"{task.status}: {task.error}")
    if not task.files:
        return _message("done", "The contact sheet is ready: check the poses and masks, then press Train.")
    names = {role: f"{task.spec.name}_{role}" for role in ("p1", "r", "p2")}
    rows = "".join(f"<li>{html.escape(n)}: loaded</li>" for n in task.loaded)
    folder = html.escape(str(Path(task.files[0]).parent))
    return (f"<div class='{ELEM}-done'><p>Trained '{html.escape(task.spec.name)}' into {folder}. Use it in txt2img as "
            f"<code>{html.escape(task.spec.subjects[0])} {names['p1']} {names['r']} "
            f"{html.escape(task.spec.subjects[1])} {names['p2']}</code></p><ul>{rows}</ul></div>")


def run(host_factory=None, train: bool = True, resume: bool = False):
    """A button's handler; arg 0 is the progress task id that the JS start function fills in."""

    def handler(task_id, *fields):
        try:
            spec = _spec(*fields, resume=resume)
        except InterInvError as exc:
            return gr.update(), [], _message("error", str(exc))
        task = jobs.execute(jobs.new_task(spec, task_id or None), host_factory, train=train)
        return task.contact_sheet or gr.update(), [preview for preview in task.previews], outcome_html(task, train)

    return handler


def source_note(source: str):
    """What the chosen stage-1 source needs (what to install when ControlNet is missing), and which inputs show."""
    value = SOURCES.get(source, "controlnet")
    note = ""
    if value == "controlnet":
        from .compat import webui_adapter

        adapter = webui_adapter()
        if adapter.refusal() is None:
            note = adapter.controlnet_missing(adapter.loaded_family()) or ""
    elif value == "crops":
        note = ("Crops are cut from the exemplars and masked onto plain backgrounds: no model is needed, but the pose "
                "words also learn that one appearance. Prefer ControlNet when you can.")
    own = value == "upload"
    return (_message("note", note) if note else "", gr.update(visible=own), gr.update(visible=own),
            gr.update(visible=not own), gr.update(visible=value == "controlnet"))


def default_source_note() -> str:
    """The default source's note for the checkpoint loaded now (it may have changed since the tab was built)."""
    return source_note(DEFAULT_SOURCE)[0]


def family_resolution() -> int:
    """The Resolution field's value when the page loads: the loaded checkpoint's family's side (1024 on SDXL)."""
    from ..formats import families

    return families.default_resolution(compat.webui_adapter().loaded_family())


def family_note() -> str:
    """What an SDXL checkpoint changes, shown when the page loads on one; empty on SD1/SD2."""
    adapter = compat.webui_adapter()  # a1111_host's refusal() always refuses inside Forge: ask Forge's adapter there
    if adapter.refusal() is not None or adapter.loaded_family() != "sdxl":
        return ""
    return _message("note", "SDXL checkpoint: training runs at 1024 px, and stage-1 images use an SDXL openpose "
                            "ControlNet. It needs much more VRAM than SD1.5: see docs/benchmarks.md for the peak "
                            "measured at 1024 px, and lower the resolution if the GPU runs out of memory.")


def interrupt_running() -> str:
    running = [t for t in jobs.all_tasks() if t.status == "running"]
    for task in running:
        jobs.interrupt(task.id)
    return f"<p>Stopping {len(running)} task(s) at the next step; press Resume to continue.</p>"


def build(host_factory=None, refusal: str | None = None):
    """The tab's Blocks; `refusal` explains why training is unavailable on this WebUI."""
    from modules.call_queue import wrap_gradio_gpu_call

    with gr.Blocks(analytics_enabled=False) as blocks:
        if refusal:
            gr.HTML(_message("refusal", refusal), elem_id=f"{ELEM}_refusal")
        # callables: gradio evaluates them again at each page load, so they follow the checkpoint loaded then
        gr.HTML(value=family_note, elem_id=f"{ELEM}_family_note")
        with gr.Row():
            with gr.Column():
                name = gr.Textbox(label="Name (trigger words become <name>_p1, <name>_r, <name>_p2)", elem_id=f"{ELEM}_name")
                with gr.Row():
                    subject1 = gr.Textbox(label="Subject 1", placeholder="man", elem_id=f"{ELEM}_subject1")
                    subject2 = gr.Textbox(label="Subject 2", placeholder="woman", elem_id=f"{ELEM}_subject2")
                exemplars = gr.File(label="Exemplar images (two subjects interacting)", file_count="multiple",
                                    file_types=["image"], elem_id=f"{ELEM}_exemplars")
                folder = gr.Textbox(label="...or a folder of exemplar images on the server (pose JSON beside them is used)",
                                    placeholder="/path/to/kisshand", elem_id=f"{ELEM}_folder")
                poses = gr.File(label="Pose JSON, named like the images (optional)", file_count="multiple",
                                file_types=[".json"], elem_id=f"{ELEM}_poses")
                source = gr.Radio(label="Stage-1 images (each subject alone, in its pose)", choices=list(SOURCES),
                                  value=DEFAULT_SOURCE, elem_id=f"{ELEM}_source")
                # filled at each page load: the default source is ControlNet, and a WebUI without the loaded family's
                # openpose model should say so before Train
                note = gr.HTML(value="" if refusal else default_source_note, elem_id=f"{ELEM}_source_note")
                with gr.Row():
                    per_subject = gr.Number(label="Stage-1 images per subject and exemplar", value=8, precision=0,
                                            elem_id=f"{ELEM}_per_subject")
                    sample_steps = gr.Number(label="Sampling steps per stage-1 image", value=20, precision=0,
                                             elem_id=f"{ELEM}_sample_steps")
                with gr.Row():
                    p1 = gr.File(label="Subject 1 alone", file_count="multiple", file_types=["image"], visible=False,
                                 elem_id=f"{ELEM}_p1")
                    p2 = gr.File(label="Subject 2 alone", file_count="multiple", file_types=["image"], visible=False,
                                 elem_id=f"{ELEM}_p2")
                with gr.Row():
                    steps1 = gr.Number(label="Stage 1 steps", value=DEFAULTS.stage1.steps, precision=0, elem_id=f"{ELEM}_steps1")
                    steps2 = gr.Number(label="Stage 2 steps", value=DEFAULTS.stage2.steps, precision=0, elem_id=f"{ELEM}_steps2")
                    resolution = gr.Number(label="Resolution", value=family_resolution, precision=0,
                                           elem_id=f"{ELEM}_resolution")
                    preview_every = gr.Number(label="Preview every N steps (0: none)", value=100, precision=0,
                                              elem_id=f"{ELEM}_preview_every")
                    preview_steps = gr.Number(label="Sampling steps per preview", value=DEFAULTS.preview_steps,
                                              precision=0, elem_id=f"{ELEM}_preview_steps")
                overwrite = gr.Checkbox(label="Overwrite existing files", value=False, elem_id=f"{ELEM}_overwrite")
                with gr.Row():
                    check = gr.Button("Contact sheet", elem_id=f"{ELEM}_check")
                    train = gr.Button("Train", variant="primary", elem_id=f"{ELEM}_train")
                    resume = gr.Button("Resume", elem_id=f"{ELEM}_resume")
                    stop = gr.Button("Interrupt", elem_id=f"{ELEM}_interrupt")
                task_id = gr.Textbox(visible=False, elem_id=f"{ELEM}_task_id")
            with gr.Column():
                progress = gr.HTML(elem_id=f"{ELEM}_progress")
                gallery = gr.Gallery(label="Previews", columns=4, elem_id=f"{ELEM}_gallery")
                result = gr.HTML(elem_id=f"{ELEM}_result")
                sheet = gr.Image(label="Contact sheet: each exemplar, its skeletons, masks and stage-1 images",
                                 type="filepath", interactive=False, elem_id=f"{ELEM}_sheet")
        fields = [task_id, name, subject1, subject2, exemplars, folder, poses, source, per_subject, sample_steps, p1, p2,
                  steps1, steps2, resolution, preview_every, preview_steps, overwrite]
        source.change(fn=source_note, inputs=[source], outputs=[note, p1, p2, per_subject, sample_steps])
        for button, handler, api_name in ((check, run(host_factory, train=False), "interinv_contact_sheet"),
                                          (train, run(host_factory), "interinv_train"),
                                          (resume, run(host_factory, resume=True), "interinv_resume")):
            button.click(fn=wrap_gradio_gpu_call(handler, extra_outputs=[gr.update(), gr.update()]), inputs=fields,
                         outputs=[sheet, gallery, result], api_name=api_name, **compat.js("interinv.startTraining"))
        stop.click(fn=interrupt_running, inputs=[], outputs=[progress], api_name="interinv_interrupt")
        interactions_list()
    return blocks


def installed_json() -> str:
    """The installed interactions' manifests, as GET /interinv/v1/interactions lists them."""
    return json.dumps([interaction.manifest.to_dict() for interaction in library.installed()])


def interactions_list() -> None:
    """The prompt helper's data path: a hidden button whose event hands the list to interinv.js.

    It goes through the gradio app, which the logged-in page may always use, so it works whatever --api-auth is.
    Hidden by CSS rather than visible=False, which gradio 4 leaves out of the page.
    """
    button = gr.Button("Interactions", elem_id=f"{ELEM}_list_interactions", elem_classes=[f"{ELEM}-hidden"])
    listed = gr.Textbox(elem_id=f"{ELEM}_interactions_json", elem_classes=[f"{ELEM}-hidden"])
    button.click(fn=installed_json, inputs=[], outputs=[listed], queue=False).then(
        fn=None, inputs=[listed], outputs=None, **compat.js("interinv.receiveInteractions"))
