import math

import pytest
import torch

from interinv.errors import InterInvError
from interinv.core.noise import add_noise, sample_timesteps, timestep_weights, training_target


def test_importance_density_favours_noisy_steps_threefold():
    w = timestep_weights(1000, "importance", 0.5)
    assert w.sum().item() == pytest.approx(1.0)
    assert (w[-1] / w[0]).item() == pytest.approx(3.0, rel=1e-2)


def test_uniform_density_is_flat():
    w = timestep_weights(10, "uniform")
    assert torch.allclose(w, torch.full((10,), 0.1, dtype=torch.float64))


def test_sampling_is_reproducible_with_a_seeded_generator():
    w = timestep_weights(1000, "importance")
    a = sample_timesteps(w, 16, torch.Generator().manual_seed(3))
    b = sample_timesteps(w, 16, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_noising_and_v_target_follow_the_formulas():
    alphas = torch.tensor([0.81, 0.36])
    x0, eps, t = torch.ones(1, 2), torch.full((1, 2), 2.0), torch.tensor([1])
    assert torch.allclose(add_noise(x0, eps, t, alphas), torch.full((1, 2), 0.6 + 0.8 * 2))
    assert torch.allclose(training_target(x0, eps, t, alphas, "v_prediction"), torch.full((1, 2), 0.6 * 2 - 0.8))
    assert torch.equal(training_target(x0, eps, t, alphas, "epsilon"), eps)


def test_unknown_sampling_is_an_error():
    with pytest.raises(InterInvError, match="timesteps"):
        timestep_weights(10, "cosine")
