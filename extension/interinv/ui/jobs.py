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

from ..config import TrainConfig
from ..errors import InterInvError, TrainingInterrupted
from ..exemplars import SPEC_FILE, STAGE1_FILE
from ..job import Job
from ..tokens import check_slug
from ..train import TrainRequest, run_training
from . import publish

PREVIEWS_KEPT = 8  # preview images a task keeps for the gallery


@dataclass
class TrainSpec:
    """What a user asks for, from the tab or the API."""

    name: str
    subjects: tuple[str, str]
    exemplars: list[Path]  # two-subject images (pose JSON and masks beside them are used when present)
    stage1: dict[str, list[Path]]  # "p1"/"p2" -> single-subject images
    config: TrainConfig
    poses: list[Path] = field(default_factory=list)  # OpenPose JSON named like the images they describe
    overwrite: bool = False  # replace existing files in the embeddings folder
    resume: bool = False  # continue the interrupted task of the same name


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
    log: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)

    def summary(self) -> dict:
        return {"task_id": self.id, "name": self.spec.name, "status": self.status, "stage": self.stage,
                "step": self.step, "total": self.total, "loss": self.loss, "error": self.error, "files": self.files,
                "loaded": self.loaded, "queue_position": queue_position(self)}


class WebUIJob(Job):
    """Progress, loss and previews into shared.state (what /internal/progress reports) and the task."""

    def __init__(self, task: Task):
        self.task = task

    def begin(self, stage: str, total_steps: int, first_step: int) -> None:
        from modules import shared

        self.task.stage, self.task.total, self.task.step = stage, total_steps, first_step
        shared.state.job_count, shared.state.job_no = total_steps, first_step
        shared.state.textinfo = f"{stage}: step {first_step} of {total_steps}"

    def update(self, stage: str, step: int, losses: dict[str, float]) -> None:
        from modules import shared

        self.task.step, self.task.loss = step, losses.get("loss")
        shared.state.job_no = step
        terms = ", ".join(f"{k} {v:.4f}" for k, v in losses.items())
        shared.state.textinfo = f"{stage}: step {step} of {self.task.total}, {terms}"

    def preview(self, stage: str, step: int, images: Sequence, captions: Sequence[str]) -> None:
        from modules import shared

        if images:
            shared.state.assign_current_image(images[0])
        self.task.previews = (self.task.previews + list(zip(images, captions)))[-PREVIEWS_KEPT:]

    def log(self, message: str) -> None:
        self.task.log.append(message)

    def stop_requested(self) -> bool:
        from modules import shared

        return self.task.stop.is_set() or bool(shared.state.interrupted)


# --- the folders a task works in ----------------------------------------------------------------------
def data_root() -> Path:
    from modules import shared

    configured = getattr(shared.cmd_opts, "interinv_cache_dir", None)
    return Path(configured) if configured else Path(getattr(shared.cmd_opts, "data_dir", None) or shared.data_path) / "interinv"


def embeddings_dir() -> Path:
    from modules import shared

    return Path(shared.cmd_opts.embeddings_dir)


def task_folder(name: str) -> Path:
    """Where a task's inputs, resumable state and outputs live; outside the embeddings folder."""
    return data_root() / "tasks" / check_slug(name)


def stage_inputs(spec: TrainSpec, folder: Path) -> TrainRequest:
    """Copy the images into the layout the engine reads: exemplars/ + interaction.json, stage1/ + stage1.json."""
    exemplars, stage1 = folder / "exemplars", folder / "stage1"
    if not spec.resume:
        for sub in (exemplars, stage1):
            shutil.rmtree(sub, ignore_errors=True)
    if len(spec.exemplars) < 2:
        raise InterInvError("Upload at least 2 exemplar images of the interaction (4-10 works best).")
    for side in ("p1", "p2"):
        if not spec.stage1.get(side):
            raise InterInvError(f"Stage 1 needs single-subject images for {side}: upload them, or render them "
                                "with ControlNet (see the Stage 1 section).")
    exemplars.mkdir(parents=True, exist_ok=True)
    for index, path in enumerate(spec.exemplars):
        shutil.copy2(path, exemplars / f"{index:02d}{Path(path).suffix.lower()}")
        pose = next((p for p in spec.poses if Path(p).stem == Path(path).stem), None)
        if pose is not None:
            shutil.copy2(pose, exemplars / f"{index:02d}.json")
    (exemplars / SPEC_FILE).write_text(json.dumps({"name": spec.name, "subjects": list(spec.subjects)}))
    entries = {}
    for side, subject in zip(("p1", "p2"), spec.subjects):
        (stage1 / side).mkdir(parents=True, exist_ok=True)
        entries[side] = []
        for index, path in enumerate(spec.stage1[side]):
            name = f"{side}/{index:02d}{Path(path).suffix.lower()}"
            shutil.copy2(path, stage1 / name)
            entries[side].append({"file": name, "subject": subject})
    (stage1 / STAGE1_FILE).write_text(json.dumps(entries))
    return TrainRequest(exemplars=exemplars, out=folder / "out", stage1_images=stage1, resume=spec.resume)


# --- running ---------------------------------------------------------------------------------------------
def execute(task: Task, host_factory=None) -> Task:
    """Train, publish and load one task; the caller holds the WebUI's queue lock."""
    from modules import shared, sd_hijack

    from ..hosts.a1111_host import A1111Host

    task.status = "running"
    try:
        folder = task_folder(task.spec.name)
        if not task.spec.resume:
            target = publish.target_folder(embeddings_dir(), task.spec.name)
            if target.exists() and any(target.iterdir()) and not task.spec.overwrite:
                raise InterInvError(f"'{target}' already holds an interaction named '{task.spec.name}'. Tick "
                                    "'Overwrite existing files' or choose another name.")
        request = stage_inputs(task.spec, folder)
        host = (host_factory or A1111Host)()
        run_training(host, request, task.spec.config, WebUIJob(task))
        copied = publish.publish(request.out, embeddings_dir(), task.spec.name, overwrite=task.spec.overwrite or task.spec.resume)
        task.files = [str(p) for p in copied]
        task.loaded = host.install_embeddings([str(p) for p in copied if p.suffix == ".safetensors"])
        task.status = "done"
    except TrainingInterrupted as exc:
        task.status, task.error = "interrupted", str(exc)
    except InterInvError as exc:
        task.status, task.error = "error", str(exc)
    except Exception as exc:  # shown to the user; the WebUI must keep running
        task.status, task.error = "error", f"{type(exc).__name__}: {exc}"
        task.log.append(traceback.format_exc())
    finally:
        if task.status != "done":
            sd_hijack.model_hijack.embedding_db.load_textual_inversion_embeddings(force_reload=True)
        shared.state.textinfo = None
        task.done.set()
    return task


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
    from modules import shared

    task = _tasks.get(task_id)
    if task is None:
        return False
    task.stop.set()
    if task.status == "queued":
        task.status, task.error = "interrupted", "Stopped before it started."
        task.done.set()
    elif task.status == "running":
        shared.state.interrupt()
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
    from modules import call_queue, progress, shared

    while True:
        task, host_factory = _pending.get()
        if task.status != "queued":
            continue
        progress_id = f"task({task.id})"
        progress.add_task_to_queue(progress_id)
        with call_queue.queue_lock:
            shared.state.begin(job=progress_id)
            progress.start_task(progress_id)
            try:
                execute(task, host_factory)
            finally:
                progress.finish_task(progress_id)
                shared.state.end()
