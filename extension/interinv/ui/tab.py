"""The Interaction Inversion tab: inputs, Train/Resume/Interrupt, progress, previews and the outcome."""

from __future__ import annotations

import html
from pathlib import Path

import gradio as gr

from ..config import TrainConfig
from ..errors import InterInvError
from . import compat, jobs

ELEM = "interinv"


def _spec(name, subject1, subject2, exemplars, poses, p1, p2, steps1, steps2, resolution, overwrite, resume):
    if not (name or "").strip():
        raise InterInvError("Give the interaction a name, e.g. 'kisshand'.")
    if not (subject1 or "").strip() or not (subject2 or "").strip():
        raise InterInvError("Type the two subject words, e.g. 'man' and 'woman'.")
    config = TrainConfig(name=name.strip(), resolution=int(resolution))
    config.stage1.steps, config.stage2.steps = int(steps1), int(steps2)
    return jobs.TrainSpec(
        name=config.name, subjects=(subject1.strip(), subject2.strip()),
        exemplars=[Path(p) for p in compat.file_paths(exemplars)],
        stage1={"p1": [Path(p) for p in compat.file_paths(p1)], "p2": [Path(p) for p in compat.file_paths(p2)]},
        config=config, poses=[Path(p) for p in compat.file_paths(poses)], overwrite=bool(overwrite), resume=resume,
    )


def outcome_html(task: jobs.Task) -> str:
    if task.status == "done":
        rows = "".join(f"<li>{html.escape(n)}: loaded</li>" for n in task.loaded)
        return (f"<div class='{ELEM}-done'><p>Trained '{html.escape(task.spec.name)}'. Use it in txt2img as "
                f"<code>{html.escape(task.spec.subjects[0])} {task.spec.name}_p1 {task.spec.name}_r "
                f"{html.escape(task.spec.subjects[1])} {task.spec.name}_p2</code></p><ul>{rows}</ul></div>")
    return f"<div class='{ELEM}-{task.status}'><p>{html.escape(task.status)}: {html.escape(task.error)}</p></div>"


def run(host_factory=None):
    """The Train/Resume handler: arg 0 is the progress task id that the JS start function fills in."""

    def handler(task_id, *fields, resume=False):
        try:
            spec = _spec(*fields, resume=resume)
        except InterInvError as exc:
            return [], f"<div class='{ELEM}-error'><p>{html.escape(str(exc))}</p></div>"
        task = jobs.execute(jobs.new_task(spec, task_id or None), host_factory)
        return [image for image, _caption in task.previews], outcome_html(task)

    return handler


def interrupt_running() -> str:
    running = [t for t in jobs.all_tasks() if t.status == "running"]
    for task in running:
        jobs.interrupt(task.id)
    return f"<p>Stopping {len(running)} task(s) at the next step; press Resume to continue.</p>"


def build(host_factory=None, refusal: str | None = None):
    """The tab's Blocks; `refusal` explains why training is unavailable on this WebUI."""
    from modules.call_queue import wrap_gradio_gpu_call

    handler = run(host_factory)
    with gr.Blocks(analytics_enabled=False) as blocks:
        if refusal:
            gr.HTML(f"<div class='{ELEM}-refusal'><p>{html.escape(refusal)}</p></div>", elem_id=f"{ELEM}_refusal")
        with gr.Row():
            with gr.Column():
                name = gr.Textbox(label="Name (trigger words become <name>_p1, <name>_r, <name>_p2)", elem_id=f"{ELEM}_name")
                with gr.Row():
                    subject1 = gr.Textbox(label="Subject 1", placeholder="man", elem_id=f"{ELEM}_subject1")
                    subject2 = gr.Textbox(label="Subject 2", placeholder="woman", elem_id=f"{ELEM}_subject2")
                exemplars = gr.File(label="Exemplar images (two subjects interacting)", file_count="multiple",
                                    file_types=["image"], elem_id=f"{ELEM}_exemplars")
                poses = gr.File(label="Pose JSON, named like the images (optional)", file_count="multiple",
                                file_types=[".json"], elem_id=f"{ELEM}_poses")
                with gr.Row():
                    p1 = gr.File(label="Stage 1: subject 1 alone", file_count="multiple", file_types=["image"], elem_id=f"{ELEM}_p1")
                    p2 = gr.File(label="Stage 1: subject 2 alone", file_count="multiple", file_types=["image"], elem_id=f"{ELEM}_p2")
                with gr.Row():
                    steps1 = gr.Number(label="Stage 1 steps", value=1000, precision=0, elem_id=f"{ELEM}_steps1")
                    steps2 = gr.Number(label="Stage 2 steps", value=2000, precision=0, elem_id=f"{ELEM}_steps2")
                    resolution = gr.Number(label="Resolution", value=512, precision=0, elem_id=f"{ELEM}_resolution")
                overwrite = gr.Checkbox(label="Overwrite existing files", value=False, elem_id=f"{ELEM}_overwrite")
                with gr.Row():
                    train = gr.Button("Train", variant="primary", elem_id=f"{ELEM}_train")
                    resume = gr.Button("Resume", elem_id=f"{ELEM}_resume")
                    stop = gr.Button("Interrupt", elem_id=f"{ELEM}_interrupt")
                task_id = gr.Textbox(visible=False, elem_id=f"{ELEM}_task_id")
            with gr.Column():
                sheet = gr.Gallery(label="Contact sheet", columns=4, elem_id=f"{ELEM}_sheet")
                progress = gr.HTML(elem_id=f"{ELEM}_progress")
                gallery = gr.Gallery(label="Previews", columns=4, elem_id=f"{ELEM}_gallery")
                result = gr.HTML(elem_id=f"{ELEM}_result")
        fields = [task_id, name, subject1, subject2, exemplars, poses, p1, p2, steps1, steps2, resolution, overwrite]
        exemplars.change(fn=compat.file_paths, inputs=[exemplars], outputs=[sheet])
        train.click(fn=wrap_gradio_gpu_call(handler, extra_outputs=[gr.update()]), inputs=fields,
                    outputs=[gallery, result], api_name="interinv_train", **compat.js("interinv.startTraining"))
        resume.click(fn=wrap_gradio_gpu_call(lambda *a: handler(*a, resume=True), extra_outputs=[gr.update()]),
                     inputs=fields, outputs=[gallery, result], api_name="interinv_resume",
                     **compat.js("interinv.startTraining"))
        stop.click(fn=interrupt_running, inputs=[], outputs=[progress], api_name="interinv_interrupt")
    return blocks
