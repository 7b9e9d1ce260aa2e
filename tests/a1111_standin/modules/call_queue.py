"""Stand-in of modules/call_queue.py (+ modules/fifo_lock.py): the FIFO queue lock and the GPU-call wrapper."""

import collections
import html
import threading

from modules import progress, shared


class FIFOLock:
    """Waiters get the lock in arrival order; not reentrant. Where the real one deadlocks when the holding
    thread acquires it again, this one raises, so a test fails instead of hanging."""

    def __init__(self):
        self._lock = threading.Lock()
        self._inner_lock = threading.Lock()
        self._pending_threads = collections.deque()
        self._owner = None

    def acquire(self, blocking=True):
        with self._inner_lock:
            if self._owner == threading.get_ident():
                raise RuntimeError("queue_lock taken twice by the same thread: the real WebUI deadlocks here")
            if self._lock.acquire(False):
                self._owner = threading.get_ident()
                return True
            if not blocking:
                return False
            release_event = threading.Event()
            self._pending_threads.append(release_event)
        release_event.wait()
        acquired = self._lock.acquire()
        self._owner = threading.get_ident()
        return acquired

    def release(self):
        with self._inner_lock:
            self._owner = None
            if self._pending_threads:
                self._pending_threads.popleft().set()
            self._lock.release()

    __enter__ = acquire

    def __exit__(self, t, v, tb):
        self.release()


queue_lock = FIFOLock()


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
