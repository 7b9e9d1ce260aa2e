"""Stand-in of modules/call_queue.py: the FIFO, non-reentrant queue lock and the GPU-call wrapper."""

import html
import threading

from modules import progress, shared

queue_lock = threading.Lock()  # real: fifo_lock.FIFOLock(), also non-reentrant


def wrap_gradio_gpu_call(func, extra_outputs=None):
    def f(*args, **kwargs):
        if args and isinstance(args[0], str) and args[0].startswith("task(") and args[0].endswith(")"):
            id_task = args[0]
            progress.add_task_to_queue(id_task)
        else:
            id_task = None
        with queue_lock:
            shared.state.begin(job=id_task)
            progress.start_task(id_task)
            try:
                res = func(*args, **kwargs)
                progress.record_results(id_task, res)
            finally:
                progress.finish_task(id_task)
            shared.state.end()
        return res

    return wrap_gradio_call(f, extra_outputs=extra_outputs, add_stats=True)


def wrap_gradio_call(func, extra_outputs=None, add_stats=False):
    """Errors become an HTML message in the last output; the state is reset in any case."""

    def f(*args, **kwargs):
        try:
            res = list(func(*args, **kwargs))
        except Exception as exc:
            res = list(extra_outputs or []) + [f"<div class='error'>{html.escape(type(exc).__name__ + ': ' + str(exc))}</div>"]
        finally:
            shared.state.skipped = False
            shared.state.interrupted = False
            shared.state.job_count = 0
            shared.state.job = ""
        return tuple(res)

    return f
