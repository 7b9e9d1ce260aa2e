"""Training tasks inside the WebUI: a FIFO of tasks, each run under the WebUI's queue lock and shared.state.

The tab runs a task in its own (already locked) gradio call; the HTTP API hands tasks to one worker
thread that takes the lock itself. Both end in `execute`, so they behave the same. A task keeps
running when the browser tab closes; `interrupt` stops it at the next step with its state saved.
"""

from __future__ import annotations

import itertools
import json
import queue
import shutil
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from ..atomic import write_text_atomic
from ..config import TrainConfig, config_from_dict
from ..errors import FieldError, InterInvError, TrainingInterrupted
from ..data.exemplars import image_files
from ..formats.interaction_file import (EXEMPLARS_FOLDER, STAGE1_FOLDER, InteractionFile, Stage1Entry,
                                        write_interaction_file, write_stage1_file)
from ..hosts import a1111_host as webui
from ..hosts.a1111_host import weights_only_loads
from ..job import Job
from ..data.prepare import PREPARED_FOLDER, PrepareOptions
from ..core.tokens import POSE_ROLES, check_slug
from ..engine.run import PHASES, TrainRequest, run
from .compat import webui_adapter, webui_host
from .library import interaction_folder

PREVIEWS_KEPT = 8  # preview images a task keeps for the gallery


STAGE1_SOURCES = ("controlnet", "crops", "upload")  # render with ControlNet, crop the exemplars, or the user's images
TASK_FILE = "task.json"  # what a task was started with; Resume reads it back


@dataclass
class TrainSpec:
    """What a user asks for, from the tab or the API."""

    name: str
    subjects: tuple[str, str]
    exemplars: list[Path]  # two-subject images (pose JSON and masks beside them are used when present)
    stage1: dict[str, list[Path]]  # "p1"/"p2" -> the user's single-subject images (source "upload")
    config: TrainConfig
    poses: list[Path] = field(default_factory=list)  # OpenPose JSON named like the images they describe
    overwrite: bool = False  # replace existing files in the embeddings folder
    resume: bool = False  # continue the interrupted task of the same name
    source: str = "controlnet"  # where the stage-1 images come from: one of STAGE1_SOURCES
    per_subject: int = 8  # stage-1 images rendered (or cropped) per subject of each exemplar
    sample_steps: int = 20  # sampling steps of each rendered stage-1 image
    uploads: Path | None = None  # the API request's own files: deleted once the task has finished with them


@dataclass
class Task:
    id: str
    spec: TrainSpec
    status: str = "queued"  # queued, running, done, interrupted, error
    stage: str = ""
    step: int = 0
    total: int = 0
    loss: float | None = None
    error: str = ""
    files: list[str] = field(default_factory=list)
    loaded: list[str] = field(default_factory=list)
    previews: list = field(default_factory=list)
    contact_sheet: str | None = None
    log: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)

    def summary(self) -> dict:
        position = queue_position(self)
        return {"task_id": self.id, "name": self.spec.name, "status": self.status, "stage": self.stage,
                "step": self.step, "total": self.total, "loss": self.loss, "error": self.error, "files": self.files,
                "loaded": self.loaded, "contact_sheet": self.contact_sheet, "queue_position": position,
                "message": f"queued: {position - 1} task(s) ahead of it" if position else ""}


class WebUIJob(Job):
    """Progress, loss and previews into shared.state (what /internal/progress reports) and the task."""

    def __init__(self, task: Task):
        self.task = task

    def begin(self, stage: str, total_steps: int, first_step: int) -> None:
        self.task.stage, self.task.total, self.task.step = stage, total_steps, first_step
        webui.show_progress(job_count=total_steps, job_no=first_step, text=f"{stage}: step {first_step} of {total_steps}")

    def update(self, stage: str, step: int, losses: dict[str, float]) -> None:
        self.task.step, self.task.loss = step, losses.get("loss", self.task.loss)
        terms = "".join(f", {k} {v:.4f}" for k, v in losses.items())
        webui.show_progress(job_no=step, text=f"{stage}: step {step} of {self.task.total}{terms}")

    def preview(self, stage: str, step: int, images: Sequence, captions: Sequence[str]) -> None:
        if images:
            webui.show_image(images[0])
        labelled = [(image, f"{stage} step {step}: {caption}") for image, caption in zip(images, captions)]
        self.task.previews = (self.task.previews + labelled)[-PREVIEWS_KEPT:]

    def log(self, message: str) -> None:
        self.task.log.append(message)

    def stop_requested(self) -> bool:
        return self.task.stop.is_set() or webui.interrupted()


# --- the folders a task works in ----------------------------------------------------------------------
def data_root() -> Path:
    configured = webui.command_line_option("interinv_cache_dir")
    return Path(configured) if configured else webui.data_dir() / "interinv"


def task_folder(name: str) -> Path:
    """A task's inputs, prepared poses and images, resumable state and latents; outside the embeddings folder,
    whose every file the WebUI tries to load as an embedding."""
    return data_root() / "tasks" / check_slug(name)


def folder_images(folder: str | Path) -> tuple[list[Path], list[Path]]:
    """The exemplar images of a server folder, and the OpenPose JSON files beside them."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise InterInvError(f"The exemplar folder '{folder}' does not exist on the server. Give a folder of images.")
    images = image_files(folder)
    return images, [folder / f"{i.stem}.json" for i in images if (folder / f"{i.stem}.json").is_file()]


def check_inputs(spec: TrainSpec) -> None:
    """What a new task needs before it may start, each refusal naming its API field."""
    if spec.source not in STAGE1_SOURCES:
        raise FieldError("stage1_source", f"Unknown stage-1 source '{spec.source}'; choose one of "
                                          f"{', '.join(STAGE1_SOURCES)}.")
    if len(spec.exemplars) < 2:
        raise FieldError("images", "Give at least 2 exemplar images of the interaction (4-10 works best): upload "
                                   "them or name a folder on the server.")
    if spec.source == "upload":
        for side in POSE_ROLES:
            if not spec.stage1.get(side):
                raise FieldError(f"stage1.{side}", f"Stage 1 from your own images needs single-subject images for "
                                                   f"{side}: upload them, or choose ControlNet or the crop fallback as "
                                                   "the stage-1 source.")


def check_target(spec: TrainSpec) -> None:
    """A new training never replaces an installed interaction unless asked to."""
    target = interaction_folder(spec.name)
    if not spec.resume and not spec.overwrite and target.is_dir() and any(target.iterdir()):
        raise FieldError("overwrite", f"'{target}' already holds an interaction named '{spec.name}'. Tick "
                                      "'Overwrite existing files' or choose another name.")


def resume_spec(name: str) -> TrainSpec:
    """The spec of the interrupted task `name`, as recorded when it started (Resume needs only the name)."""
    folder = task_folder(name)
    if not (folder / TASK_FILE).is_file():
        raise FieldError("resume", f"There is no task named '{name}' to resume in '{folder.parent}'. Press Train "
                                   "to start it.")
    return load_spec(folder, name)


def stage_inputs(spec: TrainSpec, folder: Path) -> TrainSpec:
    """Copy the inputs into the layout the engine reads (exemplars/ + interaction.json, stage1/ + stage1.json)
    and record the spec; on resume, the spec recorded when the task started, inputs already in place."""
    if spec.resume:
        return resume_spec(spec.name)
    check_inputs(spec)
    exemplars, stage1 = folder / EXEMPLARS_FOLDER, folder / STAGE1_FOLDER
    for sub in (exemplars, stage1):
        shutil.rmtree(sub, ignore_errors=True)
    exemplars.mkdir(parents=True, exist_ok=True)
    for index, path in enumerate(spec.exemplars):
        shutil.copy2(path, exemplars / f"{index:02d}{Path(path).suffix.lower()}")
        pose = next((p for p in spec.poses if Path(p).stem == Path(path).stem), None)
        if pose is not None:
            shutil.copy2(pose, exemplars / f"{index:02d}.json")
    write_interaction_file(exemplars, InteractionFile(name=spec.name, subjects=spec.subjects))
    if spec.source == "upload":
        entries: dict[str, list[Stage1Entry]] = {}
        for side, subject in zip(POSE_ROLES, spec.subjects):
            (stage1 / side).mkdir(parents=True, exist_ok=True)
            entries[side] = []
            for index, path in enumerate(spec.stage1[side]):
                name = f"{side}/{index:02d}{Path(path).suffix.lower()}"
                shutil.copy2(path, stage1 / name)
                entries[side].append(Stage1Entry(file=name, subject=subject))
        write_stage1_file(stage1, entries)
    record = {"subjects": list(spec.subjects), "source": spec.source, "per_subject": spec.per_subject,
              "sample_steps": spec.sample_steps, "config": spec.config.to_dict()}
    write_text_atomic(folder / TASK_FILE, json.dumps(record, indent=1))
    return spec


def load_spec(folder: Path, name: str) -> TrainSpec:
    """The spec the task `name` was started with, to be resumed."""
    try:
        record = json.loads((folder / TASK_FILE).read_text())
        config = config_from_dict(record["config"], f"{folder / TASK_FILE} config")
        return TrainSpec(name=name, subjects=tuple(record["subjects"]), exemplars=[], stage1={}, config=config,
                         resume=True, source=record["source"], per_subject=int(record["per_subject"]),
                         sample_steps=int(record["sample_steps"]))
    except (OSError, ValueError, KeyError, TypeError, InterInvError) as exc:
        raise FieldError("resume", f"'{folder / TASK_FILE}' is damaged ({exc}); press Train to start this "
                                   "interaction over.") from exc


def prepare_options(spec: TrainSpec, source: str | None = None) -> PrepareOptions:
    """prepare's options for a task: stage-1 images at the training resolution, annotators from --interinv-annotator-dir."""
    return PrepareOptions(source=source or spec.source, per_subject=spec.per_subject, steps=spec.sample_steps,
                          resolution=spec.config.resolution, annotator=webui.command_line_option("interinv_annotator_dir"))


def task_request(spec: TrainSpec, folder: Path, train: bool) -> TrainRequest:
    """The engine's request for a task: prepare into <task>/prepared (crops stand in for own images when only the
    contact sheet is asked for), train from the task folder into the embeddings folder; a new Train discards an
    older task's saved state."""
    prepare_source = "crops" if spec.source == "upload" else spec.source
    runs_prepare = spec.source != "upload" or not train
    return TrainRequest(exemplars=folder / EXEMPLARS_FOLDER, out=interaction_folder(spec.name), config=spec.config,
                        name=spec.name, stage1_images=folder / STAGE1_FOLDER if spec.source == "upload" else None,
                        resume=spec.resume, restart=not spec.resume, work=folder / "work",
                        prepare=prepare_options(spec, prepare_source) if runs_prepare else None,
                        prepared=folder / PREPARED_FOLDER, prepare_when="always",
                        phases=PHASES if train else ("prepare",))


# --- running ---------------------------------------------------------------------------------------------
def execute(task: Task, host_factory=None, train: bool = True) -> Task:
    """Prepare, train, export into the embeddings folder and load one task; the caller holds the queue lock.

    With `train` False only the poses, masks and contact sheet are made (crops stand in for own images).
    """
    task.status, target = "running", None
    try:
        folder, target = task_folder(task.spec.name), interaction_folder(task.spec.name)
        if train:
            check_target(task.spec)
        task.spec = stage_inputs(task.spec, folder)
        request = task_request(task.spec, folder, train)
        with weights_only_loads():  # our resume state and mask files, past the WebUI's torch.load check
            host, job = (host_factory or webui_host)(), WebUIJob(task)
            problem = (request.prepare and request.prepare.source == "controlnet"
                       and webui_adapter().controlnet_missing(host.family))
            if problem:
                raise InterInvError(problem)
            outcome = run(host, request, job)
            if outcome.prepared is not None:
                task.contact_sheet = str(outcome.prepared.contact_sheet)
            if train:
                task.files = sorted(str(p) for p in target.iterdir() if p.is_file())
                task.loaded = host.install_embeddings([f for f in task.files if f.endswith(".safetensors")])
        task.status = "done"
    except TrainingInterrupted as exc:
        task.status, task.error = "interrupted", stopped_message(task, exc)
    except InterInvError as exc:
        task.status, task.error = "error", str(exc)
    except Exception as exc:  # shown to the user; the WebUI must keep running
        task.status, task.error = "error", f"{type(exc).__name__}: {exc}"
        task.log.append(traceback.format_exc())
    finally:
        if train and task.status != "done":
            if target is not None:
                remove_if_empty(target)
            webui_adapter().reload_embeddings()
        discard_uploads(task)
        webui.show_progress()
        task.done.set()
    return task


def remove_if_empty(target: Path) -> None:
    """An interaction folder (and the interactions folder) left empty: Extra Networks shows every folder as a button."""
    for folder in (target, target.parent):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def discard_uploads(task: Task) -> None:
    """The API request's files, copied into the task folder by now (or never needed)."""
    if task.spec.uploads is not None:
        shutil.rmtree(task.spec.uploads, ignore_errors=True)


def stopped_message(task: Task, exc: TrainingInterrupted) -> str:
    """Where a stopped task got to and where its work is kept. The engine's own message tells the CLI user to pass
    --resume; the tab names its button instead, and API callers send "resume": true."""
    return f"Stopped {task.stage} at step {exc.step} of {task.total}; the work so far is kept in '{exc.state_path}'."


_ids = itertools.count(1)
_tasks: dict[str, Task] = {}
_pending: "queue.Queue[Task]" = queue.Queue()
_worker: threading.Thread | None = None
_lock = threading.Lock()


def new_task(spec: TrainSpec, task_id: str | None = None) -> Task:
    task = Task(id=task_id or f"interinv-{int(time.time())}-{next(_ids)}", spec=spec)
    _tasks[task.id] = task
    return task


def get(task_id: str) -> Task | None:
    return _tasks.get(task_id)


def all_tasks() -> list[Task]:
    return list(_tasks.values())


def queue_position(task: Task) -> int | None:
    """1 for the next task to run; None when not waiting."""
    if task.status != "queued":
        return None
    waiting = [t for t in _tasks.values() if t.status == "queued"]
    return waiting.index(task) + 1 if task in waiting else None


def interrupt(task_id: str) -> bool:
    task = _tasks.get(task_id)
    if task is None:
        return False
    task.stop.set()
    if task.status == "queued":
        task.status, task.error = "interrupted", "Stopped before it started."
        discard_uploads(task)
        task.done.set()
    elif task.status == "running":
        webui.interrupt()
    return True


def submit(spec: TrainSpec, host_factory=None) -> Task:
    """Queue a task for the background worker (FIFO) and return at once."""
    global _worker
    task = new_task(spec)
    _pending.put((task, host_factory))
    with _lock:
        if _worker is None or not _worker.is_alive():
            _worker = threading.Thread(target=_work, name="interinv-worker", daemon=True)
            _worker.start()
    return task


def _work() -> None:
    while True:
        task, host_factory = _pending.get()
        if task.status != "queued":
            continue
        progress_id = f"task({task.id})"
        with webui.queue_slot(progress_id):
            if task.status != "queued":  # interrupted while it waited for the lock
                continue
            with webui.running(progress_id):
                execute(task, host_factory)
