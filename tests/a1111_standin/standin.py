"""Boot the stand-in WebUI: a fresh model, options, state, callbacks and script runners; and the fixtures
the WebUI tests share (import them into a test module to use them)."""

from pathlib import Path

import pytest
from ldm_tiny import LatentDiffusion
from modules import scripts

from interinv.config import TrainConfig
from interinv.data.demo import write_demo_set


class DefaultsCheckingScript(scripts.Script):
    """Another always-on extension's script: it fails, like real ones do, when its args are missing."""

    def __init__(self):
        self.seen = []

    def title(self):
        return "Other extension"

    def process(self, p, enabled, strength):
        if not isinstance(enabled, bool) or not isinstance(strength, float):
            raise TypeError(f"missing script args: {enabled!r}, {strength!r}")
        self.seen.append((enabled, strength))


SD1_CONTROLNETS = ("control_v11p_sd15_openpose [cab727d4]",)
# what models/ControlNet lists on an SDXL user's WebUI: the SD1.5 model and two SDXL openpose models
SDXL_CONTROLNETS = SD1_CONTROLNETS + ("thibaud_xl_openpose [c7b9cadd]", "controlnetxlCNXL_xinsirOpenpose [ba3a9ad4]")
CHECKPOINTS = {"sd1": "base", "sd2": "base", "sdxl": "base", "sdxl-refiner": "refiner", "sdxl-inpaint": "inpaint"}


def _checkpoint(family, parameterization):
    """The loaded checkpoint: ldm's LatentDiffusion (sd1, sd2) or sgm's DiffusionEngine (sdxl and its variants)."""
    if family.startswith("sdxl"):
        from sgm_tiny import load

        return load(variant=CHECKPOINTS[family], parameterization=parameterization)
    return LatentDiffusion(parameterization=parameterization, family=family)


def boot(data_dir, *, parameterization="eps", family="sd1", controlnet_models=None):
    """`family`: "sd1", "sd2", "sdxl", "sdxl-refiner" or "sdxl-inpaint"; `controlnet_models`: what ControlNet's
    get_models() lists (None: the family's usual models)."""
    import internal_controlnet.external_code as external_code
    from modules import (devices, progress, script_callbacks, scripts, sd_hijack, shared, shared_state, shared_total_tqdm,
                         ui_extra_networks)

    data_dir = Path(data_dir)
    (data_dir / "embeddings").mkdir(parents=True, exist_ok=True)
    shared.opts = shared._default_options()
    shared.cmd_opts = shared._default_cmd_opts(str(data_dir))
    shared.state = shared_state.State()
    shared.total_tqdm = shared_total_tqdm.TotalTQDM()
    shared.data_path = str(data_dir)
    devices.fp8 = False
    progress.current_task, progress.pending_tasks, progress.finished_tasks[:] = None, {}, []
    script_callbacks.clear_callbacks()
    ui_extra_networks.initialize()
    sd_hijack.model_hijack = sd_hijack.StableDiffusionModelHijack()
    shared.sd_model = _checkpoint(family, parameterization)
    sd_hijack.model_hijack.hijack(shared.sd_model)
    db = sd_hijack.model_hijack.embedding_db
    db.add_embedding_dir(shared.cmd_opts.embeddings_dir)
    db.load_textual_inversion_embeddings(force_reload=True)
    runner = scripts.ScriptRunner()
    other = DefaultsCheckingScript()
    runner.add_alwayson(other, [False, 0.5])
    if controlnet_models is None:
        controlnet_models = SDXL_CONTROLNETS if family.startswith("sdxl") else SD1_CONTROLNETS
    external_code.models[:] = list(controlnet_models)
    controlnet = external_code.ControlNetScript()
    runner.add_alwayson(controlnet, [external_code.ControlNetUnit() for _ in range(shared.opts.control_net_unit_count)])
    scripts.scripts_txt2img = runner
    return {"model": shared.sd_model, "controlnet": controlnet, "other": other, "data_dir": data_dir}


@pytest.fixture()
def webui(tmp_path):
    """A freshly started stand-in WebUI whose data folder is tmp_path/webui."""
    return boot(tmp_path / "webui")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo data set: 2 exemplars with pose JSON, and 2 single-subject images per subject."""
    return write_demo_set(tmp_path_factory.mktemp("demo"), count=2, singles=2)


def a1111_host():
    """InterInv's A1111 host on the stand-in's loaded checkpoint, previews at 64 px."""
    from interinv.hosts.a1111_host import A1111Host

    return A1111Host(preview_size=64)


def tiny_config(name="demo_kneel", steps=2):
    """Training settings for the stand-in: 64 px, `steps` steps of batch 2 per stage, state saved at every step."""
    cfg = TrainConfig(name=name, resolution=64)
    for stage in (cfg.stage1, cfg.stage2):
        stage.steps, stage.batch_size, stage.save_every = steps, 2, 1
    return cfg
