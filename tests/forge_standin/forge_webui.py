"""Boot the Forge stand-in: fresh options, state, callbacks, memory manager, model data, databases and scripts;
and the fixtures the Forge tests share (import them into a test module to use them)."""

from pathlib import Path

import pytest

from interinv.data.demo import write_demo_set

OPENPOSE = "control_v11p_sd15_openpose [cab727d4]"


def boot(data_dir, *, loaded=True, engine=None, prediction_type="epsilon", controlnet_models=(OPENPOSE,)):
    """A freshly started stand-in Forge whose data folder is `data_dir`; `loaded` False stops before the first
    generation (shared.sd_model is then a FakeInitialModel)."""
    from backend import memory_management
    from backend.args import dynamic_args
    from lib_controlnet import global_state
    from lib_controlnet.external_code import ControlNetUnit
    from modules import (processing, progress, script_callbacks, scripts, sd_models, shared, shared_state,
                         shared_total_tqdm, ui_extra_networks, ui_extra_networks_textual_inversion)
    from sd_forge_controlnet import ControlNetForForgeOfficial

    data_dir = Path(data_dir)
    (data_dir / "embeddings").mkdir(parents=True, exist_ok=True)
    shared.opts = shared._default_options()
    shared.cmd_opts = shared._default_cmd_opts(str(data_dir))
    shared.state = shared_state.State()
    shared.total_tqdm = shared_total_tqdm.TotalTQDM()
    shared.data_path = str(data_dir)
    progress.current_task, progress.pending_tasks, progress.finished_tasks[:] = None, {}, []
    script_callbacks.clear_callbacks()
    ui_extra_networks.initialize()
    memory_management.current_loaded_models.clear()
    processing.StableDiffusionProcessingTxt2Img.cached_c = [None, None, None]
    processing.StableDiffusionProcessingTxt2Img.cached_uc = [None, None, None]
    dynamic_args["embedding_dir"] = None
    sd_models.model_data = sd_models.SdModelData()
    name = "tiny-sd1" if engine is None else f"tiny-{engine.__name__}"
    sd_models.model_data.forge_loading_parameters = {"checkpoint_info": sd_models.checkpoint_info(name)}
    sd_models.loader_options.clear()
    sd_models.loader_options.update(prediction_type=prediction_type, **({"engine": engine} if engine else {}))
    shared.sd_model = sd_models.model_data.sd_model
    ui_extra_networks_textual_inversion.fresh_db()
    global_state.installed = {name: f"{data_dir}/models/ControlNet/{name.split(' ')[0]}.safetensors"
                              for name in controlnet_models}
    global_state.update_controlnet_filenames()
    runner = scripts.ScriptRunner()
    controlnet = ControlNetForForgeOfficial()
    runner.add_alwayson(controlnet, [ControlNetUnit(enabled=False) for _ in range(shared.opts.control_net_unit_count)])
    scripts.scripts_txt2img = runner
    if loaded:
        sd_models.forge_model_reload()
    return {"model": shared.sd_model, "controlnet": controlnet, "data_dir": data_dir}


@pytest.fixture()
def webui(tmp_path):
    """A freshly started stand-in Forge (the checkpoint loaded) whose data folder is tmp_path/webui."""
    return boot(tmp_path / "webui")


@pytest.fixture()
def sdxl_webui(tmp_path):
    """The same with an SDXL checkpoint loaded (StableDiffusionXL: CLIP-L and CLIP-G engines)."""
    from backend.diffusion_engine.sdxl import StableDiffusionXL

    return boot(tmp_path / "webui", engine=StableDiffusionXL)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo data set: 2 exemplars with pose JSON, and 2 single-subject images per subject."""
    return write_demo_set(tmp_path_factory.mktemp("demo"), count=2, singles=2)


def forge_host():
    """InterInv's Forge host on the stand-in's loaded checkpoint, previews at 64 px."""
    from interinv.hosts.forge_host import ForgeHost

    return ForgeHost(preview_size=64)
