"""What a task leaves in the WebUI besides its interaction: no empty folders in the embeddings folder, a console
total-progress bar that counts each preview as the one image it is."""

import a1111_standin  # noqa: F401  (puts the stand-in's `modules` on sys.path)
from standin import a1111_host, demo, webui  # noqa: F401  (fixtures)
from task_helpers import interrupted_at

from interinv.config import TrainConfig
from interinv.job import Job
from interinv.ui import jobs


def tiny_spec(demo, name="demo_kneel"):
    config = TrainConfig(name=name, resolution=64)
    for stage in (config.stage1, config.stage2):
        stage.steps, stage.batch_size, stage.save_every = 2, 2, 1
    return jobs.TrainSpec(name=name, subjects=("man", "woman"), exemplars=sorted((demo / "exemplars").glob("0?.png")),
                          stage1={side: sorted((demo / "stage1" / side).glob("*.png")) for side in ("p1", "p2")},
                          config=config, source="upload")


def test_an_interrupted_task_leaves_no_empty_folder_in_the_embeddings_folder(webui, demo, monkeypatch):
    with interrupted_at(monkeypatch, stage=None):
        task = jobs.execute(jobs.new_task(tiny_spec(demo)), a1111_host)
    assert task.status == "interrupted", task.error
    assert sorted(p.name for p in (webui["data_dir"] / "embeddings").iterdir()) == []


class Counting(Job):
    """Shows the training steps in shared.state as the WebUI's job does."""

    def begin(self, stage, total_steps, first_step):
        from modules import shared

        shared.state.job_count, shared.state.job_no = total_steps, first_step


def test_each_export_preview_counts_as_one_image_in_the_console_total_progress(webui, demo):
    from modules import shared

    from interinv.engine.run import TrainRequest, run

    spec = tiny_spec(demo)
    shared.state.begin(job="task(total)")
    run(a1111_host(), TrainRequest(exemplars=demo / "exemplars", out=webui["data_dir"] / "out", config=spec.config,
                                   name=spec.config.name, stage1_images=demo / "stage1"), Counting())
    bars = shared.total_tqdm.cleared
    assert len(bars) == 3 and all(count == total for count, total in bars), bars
    assert shared.total_tqdm.total is None and shared.state.job_count == spec.config.stage2.steps
