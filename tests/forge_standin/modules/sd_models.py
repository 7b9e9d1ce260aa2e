"""Stand-in of Forge's modules/sd_models.py: FakeInitialModel, model_data and forge_model_reload.

Before the first generation `shared.sd_model` is a FakeInitialModel; forge_model_reload builds the engine of
`model_data.forge_loading_parameters["checkpoint_info"]` (under inference_mode) unless the parameters are the ones
already loaded, and raises as Forge does when no checkpoint is chosen (the model-loaded callbacks are left
out). In Forge `shared.sd_model` reads
model_data; here forge_model_reload assigns it too.
"""

import math
from types import SimpleNamespace

import torch

from backend import memory_management
from backend.args import dynamic_args
from modules import shared


class FakeInitialModel:
    def __init__(self):
        self.cond_stage_model = None
        self.chunk_length = 75

    def get_prompt_lengths_on_ui(self, prompt):
        r = len(prompt.strip("!,. ").replace(" ", ",").split(","))
        return r, math.ceil(max(r, 1) / self.chunk_length) * self.chunk_length


class SdModelData:
    def __init__(self):
        self.sd_model = FakeInitialModel()
        self.forge_loading_parameters = {}
        self.forge_hash = ""

    def get_sd_model(self):
        return self.sd_model

    def set_sd_model(self, v):
        self.sd_model = v


model_data = SdModelData()
loader_options = {}  # what the stand-in's forge_loader builds (engine class, prediction type); set by boot()


def checkpoint_info(name):
    """Real: CheckpointInfo; the fields the WebUI shows and hashes."""
    return SimpleNamespace(filename=f"{name}.safetensors", model_name=name, shorthash="0123456789",
                           title=f"{name}.safetensors [0123456789]", sha256="0123456789" * 6 + "0123",
                           calculate_shorthash=lambda: "0123456789")


@torch.inference_mode()
def forge_model_reload():
    from backend.loader import forge_loader

    current_hash = str(model_data.forge_loading_parameters)
    if model_data.forge_hash == current_hash:
        return model_data.sd_model, False
    if model_data.sd_model:
        model_data.sd_model = None
        memory_management.unload_all_models()
    info = model_data.forge_loading_parameters["checkpoint_info"]
    if info is None:
        raise ValueError("You do not have any model! Please download at least one model in [models/Stable-diffusion].")
    dynamic_args["embedding_dir"] = shared.cmd_opts.embeddings_dir
    dynamic_args["emphasis_name"] = shared.opts.emphasis
    sd_model = forge_loader(info.filename, **loader_options)
    sd_model.extra_generation_params = {}
    sd_model.comments = []
    sd_model.sd_checkpoint_info = info
    sd_model.filename = info.filename
    sd_model.sd_model_hash = info.calculate_shorthash()
    model_data.set_sd_model(sd_model)
    shared.sd_model = sd_model
    model_data.forge_hash = current_hash
    return sd_model, True
