"""Stand-in of modules/progress.py: the task queue and what POST /internal/progress answers."""

import base64
import io
import random
import string
import time

from modules import shared

current_task = None
pending_tasks = {}
finished_tasks = []
recorded_results = []


def create_task_id(task_type):
    return f"task({task_type}-{''.join(random.choices(string.ascii_letters + string.digits, k=7))})"


def add_task_to_queue(id_job):
    pending_tasks[id_job] = time.time()


def start_task(id_task):
    global current_task
    current_task = id_task
    pending_tasks.pop(id_task, None)


def finish_task(id_task):
    global current_task
    if current_task == id_task:
        current_task = None
    finished_tasks.append(id_task)


def record_results(id_task, res):
    recorded_results.append((id_task, res))


def progressapi(id_task, id_live_preview=-1, live_preview=True):
    """The real route's ProgressResponse as a dict: progress from job_no/job_count, the live preview as a data URI."""
    active, queued, completed = id_task == current_task, id_task in pending_tasks, id_task in finished_tasks
    if not active:
        textinfo = "Waiting..."
        if queued:
            order = sorted(pending_tasks, key=pending_tasks.get)
            textinfo = f"In queue: {order.index(id_task) + 1}/{len(order)}"
        return {"active": active, "queued": queued, "completed": completed, "id_live_preview": -1, "textinfo": textinfo}
    state = shared.state
    progress = 0.0
    if state.job_count > 0:
        progress += state.job_no / state.job_count
    if state.sampling_steps > 0 and state.job_count > 0:
        progress += 1 / state.job_count * state.sampling_step / state.sampling_steps
    progress = min(progress, 1)
    elapsed = time.time() - state.time_start
    eta = elapsed / progress - elapsed if progress > 0 else None
    preview = None
    if shared.opts.live_previews_enable and live_preview and state.id_live_preview != id_live_preview:
        if state.current_image is not None:
            buffered = io.BytesIO()
            state.current_image.save(buffered, format="png")
            preview = "data:image/png;base64," + base64.b64encode(buffered.getvalue()).decode("ascii")
            id_live_preview = state.id_live_preview
    return {"active": active, "queued": queued, "completed": completed, "progress": progress, "eta": eta,
            "live_preview": preview, "id_live_preview": id_live_preview, "textinfo": state.textinfo}
