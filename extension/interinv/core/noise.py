"""Diffusion training targets: timestep sampling, forward noising, eps/v targets."""

from __future__ import annotations

import math

import torch

from ..errors import InterInvError

TIMESTEP_SAMPLING = ("uniform", "importance")
PREDICTION_TYPES = ("epsilon", "v_prediction")


def timestep_weights(num_timesteps: int, sampling: str, alpha: float = 0.5) -> torch.Tensor:
    """Sampling density over t: uniform, or ReVersion's p(t) ∝ 1 − α·cos(πt/T)."""
    if sampling == "uniform":
        weights = torch.ones(num_timesteps, dtype=torch.float64)
    elif sampling == "importance":
        t = torch.arange(num_timesteps, dtype=torch.float64)
        weights = 1.0 - alpha * torch.cos(math.pi * t / num_timesteps)
    else:
        raise InterInvError(f"timesteps must be one of {TIMESTEP_SAMPLING}, got '{sampling}'.")
    return weights / weights.sum()


def sample_timesteps(weights: torch.Tensor, count: int, generator: torch.Generator) -> torch.Tensor:
    """Draw `count` timesteps from the density `weights` (with replacement)."""
    return torch.multinomial(weights, count, replacement=True, generator=generator)


def _coefficients(alphas_cumprod: torch.Tensor, t: torch.Tensor, like: torch.Tensor):
    a = alphas_cumprod.to(device=like.device, dtype=torch.float32)[t.to(like.device)]
    shape = (-1,) + (1,) * (like.dim() - 1)
    return a.sqrt().view(shape), (1.0 - a).sqrt().view(shape)


def add_noise(x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor, alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """x_t = √ᾱ_t·x0 + √(1−ᾱ_t)·ε."""
    signal, sigma = _coefficients(alphas_cumprod, t, x0)
    return signal * x0 + sigma * noise


def training_target(
    x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor, alphas_cumprod: torch.Tensor, prediction_type: str
) -> torch.Tensor:
    """The regression target: ε for epsilon models, v = √ᾱ_t·ε − √(1−ᾱ_t)·x0 for v models."""
    if prediction_type == "epsilon":
        return noise
    if prediction_type == "v_prediction":
        signal, sigma = _coefficients(alphas_cumprod, t, x0)
        return signal * noise - sigma * x0
    raise InterInvError(f"prediction_type must be one of {PREDICTION_TYPES}, got '{prediction_type}'.")
