"""Helpers of the HTTP API tests: a client on a bare FastAPI app with the routes, the demo set as a request body."""

import base64
import time
from pathlib import Path

from webui_standin import host as webui_host

TINY = {"resolution": 64, "stage1": {"steps": 2, "batch_size": 2, "save_every": 1},
        "stage2": {"steps": 2, "batch_size": 2, "save_every": 1}}


def data_uri(path):
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()


def client(auth=None):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from interinv.ui import api
    from modules import shared

    shared.cmd_opts.api_auth = auth
    app = FastAPI()
    api.register(app, host_factory=webui_host)
    return TestClient(app)


def body(demo, **extra):
    """A valid train request: the demo exemplars and single-subject images as data URIs, two steps per stage."""
    return {"name": "demo_kneel", "subjects": ["man", "woman"],
            "images": [data_uri(p) for p in sorted((demo / "exemplars").glob("0?.png"))],
            "stage1": {side: [data_uri(p) for p in sorted((demo / "stage1" / side).glob("*.png"))] for side in ("p1", "p2")},
            "config": TINY, **extra}


def wait(http, task_id, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = http.get(f"/interinv/v1/tasks/{task_id}").json()
        if status["status"] in ("done", "error", "interrupted"):
            return status
        time.sleep(0.1)
    raise AssertionError(f"task {task_id} did not finish: {status}")
