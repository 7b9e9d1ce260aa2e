"""Shared fixtures: the tiny real model (random weights, real CLIP tokenizer) and the demo data set."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "extension"))

# One process holds one WebUI's `modules`: the Forge stand-in's tests run in a pytest of their own, with
# INTERINV_WEBUI=forge (.ci/test); every other run leaves them out.
FORGE_TESTS = ["test_forge_host.py", "test_forge_ui.py"]
collect_ignore = [] if os.environ.get("INTERINV_WEBUI") == "forge" else FORGE_TESTS


@pytest.fixture(scope="session", autouse=True)
def _tokenizer_cache(tmp_path_factory):
    os.environ.setdefault("INTERINV_CACHE", str(tmp_path_factory.mktemp("interinv-cache")))


@pytest.fixture(scope="session")
def host():
    """A tiny host shared by tests that do not change it (no installed embeddings)."""
    from interinv.testing import tiny_host

    return tiny_host(seed=0)


@pytest.fixture(scope="session")
def sdxl_host():
    """The tiny SDXL host (two text encoders, text_time UNet), shared like `host`."""
    from interinv.testing import tiny_sdxl_host

    return tiny_sdxl_host(seed=0)


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """A local Hub; the suite's HF_HUB_OFFLINE=1 would block even loopback requests, so lift it here."""
    import huggingface_hub.constants
    from share_helpers import TOKEN, FakeHub

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "no-token-file"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with FakeHub(TOKEN) as server:
        yield server


@pytest.fixture
def fresh_host():
    from interinv.testing import tiny_host

    return tiny_host(seed=0)


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory):
    from interinv.data.demo import write_demo_set

    return write_demo_set(tmp_path_factory.mktemp("demo"), count=4, singles=3)


@pytest.fixture(scope="session")
def openpose_folder(tmp_path_factory):
    """An annotator folder laid out like lllyasviel/Annotators, holding random OpenPose weights."""
    import torch

    from interinv.compat import import_controlnet_aux

    face = import_controlnet_aux("controlnet_aux.open_pose.face")
    model = import_controlnet_aux("controlnet_aux.open_pose.model")
    folder = tmp_path_factory.mktemp("annotators")
    torch.manual_seed(0)
    for name, net in (("body_pose_model.pth", model.bodypose_model()), ("hand_pose_model.pth", model.handpose_model())):
        # controlnet_aux's loader adds the first name component back (util.transfer)
        torch.save({k.split(".", 1)[1]: v for k, v in net.state_dict().items()}, folder / name)
    torch.save(face.FaceNet().state_dict(), folder / "facenet.pth")
    return folder


@pytest.fixture(scope="session")
def sam_checkpoint(tmp_path_factory):
    """SAM vit_b with random weights, saved like the official .pth (built once per session)."""
    import torch
    from segment_anything import sam_model_registry

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("sam") / "sam_vit_b_random.pth"
    torch.save(sam_model_registry["vit_b"]().state_dict(), path)
    return path


@pytest.fixture
def small_config():
    from interinv.config import TrainConfig

    cfg = TrainConfig(name="demo_kneel", resolution=32)
    for stage in (cfg.stage1, cfg.stage2):
        stage.steps, stage.batch_size, stage.save_every = 6, 2, 3
    return cfg


from interinv.job import Job  # noqa: E402  (after the sys.path insert)


class RecordingJob(Job):
    """A Job that records losses and logs, and can ask to stop after a given step."""

    def __init__(self, stop_after: int | None = None):
        self.stop_after, self.losses, self.logs, self.previews, self.step = stop_after, [], [], [], 0

    def begin(self, stage, total_steps, first_step):
        self.step = first_step

    def update(self, stage, step, losses):
        self.step = step
        self.losses.append(losses)

    def preview(self, stage, step, images, captions):
        self.previews.append((stage, step, list(images), list(captions)))

    def log(self, message):
        self.logs.append(message)

    def stop_requested(self):
        return self.stop_after is not None and self.step >= self.stop_after


@pytest.fixture
def job():
    return RecordingJob()


class CountingHost:
    """A host that records every image it is asked to generate (a counting wrapper: the real host does the work)."""

    def __init__(self, host):
        self.host, self.calls = host, []

    def __getattr__(self, name):
        return getattr(self.host, name)

    def generate_batch(self, prompts, *, seeds, **kwargs):
        """Recorded image by image, as generate would see each of them."""
        seeds = list(seeds)
        self.calls.extend((prompt, {**kwargs, "seed": seed}) for prompt, seed in zip(prompts, seeds))
        return self.host.generate_batch(prompts, seeds=seeds, **kwargs)


def cli_train(out: Path, demo_data: Path, model: str) -> Path:
    """An output folder of 'interinv train' on the stick-figure set: two steps of each stage at 32 px."""
    from interinv.cli import main

    assert main(["train", str(demo_data / "exemplars"), "--model", model, "--out", str(out), "--name", "demo_kneel",
                 "--stage1-images", str(demo_data / "stage1"), "--resolution", "32", "--steps1", "2", "--steps2", "2",
                 "--quiet"]) == 0
    return out
