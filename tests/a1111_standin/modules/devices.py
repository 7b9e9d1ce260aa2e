"""Stand-in of modules/devices.py: the CPU, fp32, no fp8."""

import contextlib

import torch

device = torch.device("cpu")
dtype = torch.float32
dtype_vae = torch.float32
dtype_unet = torch.float32
dtype_inference = torch.float32  # what sd_models_xl builds the size conditioning in
unet_needs_upcast = False
fp8 = False  # True when opts.fp8_storage stores Linear/Conv weights in float8


def autocast(disable=False):
    """Real: torch.autocast("cuda") unless fp32 or disabled; nullcontext for fp32."""
    if disable or dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device.type)


def cond_cast_unet(tensor):
    return tensor.to(dtype_unet) if unet_needs_upcast else tensor


def torch_gc():
    pass
