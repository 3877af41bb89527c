"""Samplers with oracle models return the clean sample exactly (up to float rounding)."""

from __future__ import annotations

import pytest
import torch

from vsrzoo.diffusion import (
    GaussianDiffusion,
    ddim_sample,
    ddim_scheduler,
    dpm_solver_sample,
    dpm_solver_scheduler,
    euler_flow_sample,
    euler_flow_scheduler,
    flow_interpolate,
    noise_level,
)


def _pair(dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    z0 = torch.randn(2, 4, 8, 8, generator=g, dtype=dtype)
    return z0, torch.randn(z0.shape, generator=g, dtype=dtype)


@pytest.mark.parametrize("steps", [1, 50])
@pytest.mark.parametrize("shift", [1.0, 3.0])
def test_euler_flow_with_oracle_velocity_returns_z0(steps, shift):
    z0, eps = _pair()
    out = euler_flow_sample(lambda z, t: eps - z0, eps, steps=steps, shift=shift)
    torch.testing.assert_close(out, z0, rtol=0, atol=1e-5)


def test_euler_flow_from_a_partial_noise_level():
    z0, eps = _pair()
    start = 0.35
    seen = []
    out = euler_flow_sample(
        lambda z, t: seen.append(t.clone()) or eps - z0,
        flow_interpolate(z0, eps, start),
        steps=4,
        shift=3.0,
        t_start=start,
    )
    torch.testing.assert_close(out, z0, rtol=0, atol=1e-5)
    assert seen[0].shape == (2,) and seen[0].dtype == torch.float32
    assert seen[0][0].item() == pytest.approx(start, abs=1e-6)
    assert all(a[0] > b[0] for a, b in zip(seen, seen[1:]))


def test_euler_flow_shift_spends_steps_at_high_noise():
    plain = euler_flow_scheduler(10, shift=1.0).sigmas
    shifted = euler_flow_scheduler(10, shift=3.0).sigmas
    assert plain[0] == shifted[0] == 1.0 and shifted[-1] == 0
    assert (shifted[1:-1] > plain[1:-1]).all()


@pytest.mark.parametrize("steps", [1, 50])
def test_ddim_with_oracle_epsilon_returns_x0(steps):
    # float64: at t = 999, x0 = (x - sigma eps) / alpha amplifies float32 rounding about 150 times
    z0, eps = _pair(torch.float64)
    alpha, sigma = noise_level(ddim_scheduler(steps))
    times = []
    out = ddim_sample(lambda x, t: times.append(t) or eps, alpha * z0 + sigma * eps, steps=steps)
    torch.testing.assert_close(out, z0, rtol=0, atol=1e-5)
    assert times[0].dtype == torch.long and int(times[0][0]) == 999 and len(times) == steps


@pytest.mark.parametrize("steps", [1, 50])
def test_ddim_v_prediction_and_learned_sigma(steps):
    z0, eps = _pair()
    diffusion = GaussianDiffusion()
    alpha, sigma = noise_level(ddim_scheduler(steps, prediction_type="v"))
    out = ddim_sample(
        lambda x, t: torch.cat([diffusion.v_target(z0, eps, t), torch.full_like(eps, 7.0)], dim=1),
        alpha * z0 + sigma * eps,
        steps=steps,
        prediction_type="v",
        learned_sigma=True,
    )
    torch.testing.assert_close(out, z0, rtol=0, atol=1e-5)


@pytest.mark.parametrize("steps", [1, 20])
def test_dpm_solver_with_oracle_epsilon(steps):
    z0, eps = _pair()
    alpha, sigma = noise_level(dpm_solver_scheduler(steps))
    out = dpm_solver_sample(lambda x, t: eps, alpha * z0 + sigma * eps, steps=steps)
    # diffusers computes DPM-Solver in float32; the 1/alpha amplification at t=999 bounds accuracy
    torch.testing.assert_close(out, z0, rtol=0, atol=5e-4)


@pytest.mark.parametrize("steps", [1, 20])
def test_dpm_solver_flow_with_oracle_velocity(steps):
    z0, eps = _pair()
    scheduler = dpm_solver_scheduler(steps, prediction_type="flow", shift=3.0)
    alpha, sigma = noise_level(scheduler)
    assert alpha + sigma == pytest.approx(1.0)
    out = dpm_solver_sample(
        lambda z, t: eps - z0, alpha * z0 + sigma * eps, steps, prediction_type="flow", shift=3.0
    )
    torch.testing.assert_close(out, z0, rtol=0, atol=1e-5)


def test_wrong_oracle_is_not_recovered():
    """The exactness above is the samplers' doing: a biased velocity misses z0."""
    z0, eps = _pair()
    out = euler_flow_sample(lambda z, t: eps - z0 + 0.1, eps, steps=10)
    assert (out - z0).abs().max() > 0.05


def test_unknown_prediction_type():
    from vsrzoo.errors import UserError

    with pytest.raises(UserError, match="prediction type"):
        ddim_scheduler(10, prediction_type="flow")
