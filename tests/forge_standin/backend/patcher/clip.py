"""Stand-in of backend/patcher/clip.py: CLIP holds the text encoders (JointTextEncoder), tokenizers and patcher."""

import torch

from backend import memory_management
from backend.patcher.base import ModelPatcher


class JointTextEncoder(torch.nn.Module):
    """Real: backend/nn/base.py ModuleDict: each encoder an attribute (clip_l, clip_h, clip_g)."""

    def __init__(self, module_dict):
        super().__init__()
        for name, module in module_dict.items():
            self.add_module(name, module)


class ObjectDict:
    def __init__(self, module_dict):
        for name, module in module_dict.items():
            setattr(self, name, module)


class CLIP:
    def __init__(self, model_dict={}, tokenizer_dict={}, no_init=False):
        if no_init:
            return
        self.cond_stage_model = JointTextEncoder(model_dict)
        self.tokenizer = ObjectDict(tokenizer_dict)
        self.patcher = ModelPatcher(self.cond_stage_model, load_device=memory_management.text_encoder_device(),
                                    offload_device=memory_management.text_encoder_offload_device())
