"""Stand-in of modules/progress.py: the task queue behind /internal/progress."""

import random
import string

current_task = None
pending_tasks = {}
finished_tasks = []
recorded_results = []


def create_task_id(task_type):
    return f"task({task_type}-{''.join(random.choices(string.ascii_letters + string.digits, k=7))})"


def add_task_to_queue(id_job):
    pending_tasks[id_job] = len(pending_tasks)


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
