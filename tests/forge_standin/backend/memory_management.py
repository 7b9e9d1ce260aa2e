"""Stand-in of backend/memory_management.py: the list of loaded patchers, load_model(s)_gpu, the CPU as every device.

Kept: a patcher loads by moving its model to its load_device and going to the front of `current_loaded_models`;
one already loaded only moves to the front; unload_all_models moves every model to its offload device. Left out: the
free-memory arithmetic and the partial (CPU swap) loads of low-VRAM machines.
"""

import torch

current_loaded_models = []  # LoadedModel, most recently used first


class LoadedModel:
    def __init__(self, model):
        self.model = model
        self.device = model.load_device

    def model_load(self):
        self.model.model.to(self.model.load_device)
        self.model.current_device = self.model.load_device
        return self.model.model

    def model_unload(self, avoid_model_moving=False):
        if not avoid_model_moving:
            self.model.model.to(self.model.offload_device)
            self.model.current_device = self.model.offload_device

    def __eq__(self, other):
        return self.model is other.model


def load_models_gpu(models, memory_required=0, hard_memory_preservation=0):
    for patcher in models:
        loaded = LoadedModel(patcher)
        if loaded in current_loaded_models:
            current_loaded_models.insert(0, current_loaded_models.pop(current_loaded_models.index(loaded)))
            continue
        loaded.model_load()
        current_loaded_models.insert(0, loaded)


def load_model_gpu(model):
    return load_models_gpu([model])


def unload_all_models():
    while current_loaded_models:
        current_loaded_models.pop().model_unload()


def soft_empty_cache(force=False):
    pass


def get_torch_device():
    return torch.device("cpu")


def text_encoder_device():
    return get_torch_device()


def text_encoder_offload_device():
    return torch.device("cpu")


def vae_device():
    return get_torch_device()


def vae_offload_device():
    return torch.device("cpu")


def vae_dtype(device=None, allowed_dtypes=()):
    return torch.float32


def intermediate_device():
    return torch.device("cpu")
