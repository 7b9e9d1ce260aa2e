"""The orchestrator: the output-folder lock (two real processes) and the checks that run before stage 1."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from interinv.engine.lock import LOCK_FILE, output_lock
from interinv.engine.run import TrainRequest, run
from interinv.errors import InterInvError

EXTENSION = Path(__file__).resolve().parents[1] / "extension"
HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from interinv.engine.lock import output_lock
    with output_lock(Path(sys.argv[1])):
        print("locked", flush=True)
        sys.stdin.readline()  # hold the lock until the test closes stdin (or kills this process)
""")


def _holder(folder: Path) -> subprocess.Popen:
    """Another real process that takes the lock of `folder` and holds it."""
    env = {**os.environ, "PYTHONPATH": str(EXTENSION)}
    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True, env=env)
    assert process.stdout.readline().strip() == "locked"
    return process


def test_lock_refuses_a_second_process_and_names_the_holders_pid(tmp_path):
    holder = _holder(tmp_path)
    try:
        with pytest.raises(InterInvError, match=f"PID {holder.pid}"):
            with output_lock(tmp_path):
                pass
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    with output_lock(tmp_path):  # released when its holder finished
        assert (tmp_path / LOCK_FILE).read_text() == str(os.getpid())
    assert not (tmp_path / LOCK_FILE).exists()


def test_lock_left_by_a_killed_process_is_taken_over(tmp_path):
    holder = _holder(tmp_path)
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=60)
    assert (tmp_path / LOCK_FILE).read_text() == str(holder.pid)  # the crash left its lock file behind
    logs = []
    with output_lock(tmp_path, logs.append):
        pass
    assert logs == [f"took over the lock of '{tmp_path}' left by PID {holder.pid}, which is no longer running"]


def test_lock_is_taken_by_the_run_before_any_work(host, demo_data, small_config, tmp_path, job):
    out = tmp_path / "out"
    holder = _holder(out)
    request = TrainRequest(exemplars=demo_data / "exemplars", out=out, config=small_config, name=small_config.name,
                           stage1_images=demo_data / "stage1")
    try:
        with pytest.raises(InterInvError, match=f"PID {holder.pid}"):
            run(host, request, job)
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    assert job.losses == [] and not (out / ".interinv").exists()


def _copy_demo(demo_data: Path, target: Path) -> Path:
    shutil.copytree(demo_data, target)
    return target


def test_fail_fast_an_unreadable_exemplar_fails_before_any_stage1_step(host, demo_data, small_config, tmp_path, job):
    demo = _copy_demo(demo_data, tmp_path / "demo")
    broken = demo / "exemplars" / "01.png"
    broken.write_bytes(b"not an image")
    request = TrainRequest(exemplars=demo / "exemplars", out=tmp_path / "out", config=small_config,
                           name=small_config.name, stage1_images=demo / "stage1")
    with pytest.raises(InterInvError, match=broken.name):
        run(host, request, job)
    assert job.losses == [] and not (tmp_path / "out" / ".interinv" / "state").exists()


def test_fail_fast_an_unreadable_stage1_image_fails_before_any_stage1_step(host, demo_data, small_config, tmp_path,
                                                                           job):
    demo = _copy_demo(demo_data, tmp_path / "demo")
    broken = demo / "stage1" / "p2" / "01.png"
    broken.write_bytes(b"")
    request = TrainRequest(exemplars=demo / "exemplars", out=tmp_path / "out", config=small_config,
                           name=small_config.name, stage1_images=demo / "stage1")
    with pytest.raises(InterInvError, match=broken.name):
        run(host, request, job)
    assert job.losses == []


def test_fail_fast_an_over_long_subject_fails_before_any_stage1_step(host, demo_data, small_config, tmp_path, job):
    demo = _copy_demo(demo_data, tmp_path / "demo")
    spec_path = demo / "exemplars" / "interaction.json"
    spec = json.loads(spec_path.read_text())
    spec["subjects"] = ["very " * 80 + "tall man", spec["subjects"][1]]
    spec_path.write_text(json.dumps(spec))
    request = TrainRequest(exemplars=demo / "exemplars", out=tmp_path / "out", config=small_config,
                           name=small_config.name, stage1_images=demo / "stage1")
    with pytest.raises(InterInvError, match="characters long|longer than the text encoder's 77 tokens"):
        run(host, request, job)
    assert job.losses == []


def test_fail_fast_a_bad_stage1_template_fails_before_any_step(host, demo_data, small_config, tmp_path, job):
    small_config.stage1.templates = ("a photo of a {o}",)
    request = TrainRequest(exemplars=demo_data / "exemplars", out=tmp_path / "out", config=small_config,
                           name=small_config.name, stage1_images=demo_data / "stage1")
    with pytest.raises(InterInvError, match=r"stage1.templates.*lacks the slots \{p\}"):
        run(host, request, job)
    assert job.losses == []
