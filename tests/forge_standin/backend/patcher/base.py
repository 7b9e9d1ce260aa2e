"""Stand-in of backend/patcher/base.py: ModelPatcher with its devices and model_options (patches are not applied)."""

import copy


class ModelPatcher:
    def __init__(self, model, load_device, offload_device, size=0, current_device=None, **kwargs):
        self.model = model
        self.load_device = load_device
        self.offload_device = offload_device
        self.size = size
        self.current_device = offload_device if current_device is None else current_device
        self.lora_patches = {}
        self.object_patches = {}
        self.model_options = {"transformer_options": {}}

    def clone(self):
        n = ModelPatcher(self.model, self.load_device, self.offload_device, self.size, self.current_device)
        n.lora_patches, n.object_patches = self.lora_patches.copy(), self.object_patches.copy()
        n.model_options = copy.deepcopy(self.model_options)
        return n

    def set_model_attn2_patch(self, patch):
        self.model_options["transformer_options"].setdefault("patches", {}).setdefault("attn2_patch", []).append(patch)
