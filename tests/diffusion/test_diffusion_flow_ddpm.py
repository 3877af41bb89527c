"""Rectified flow, DDPM with learned variance, and parameterisation conversions."""

from __future__ import annotations

import math

import pytest
import torch
from diffusers import DDPMScheduler

from vsrzoo.diffusion import (
    GaussianDiffusion,
    RectifiedFlow,
    eps_from_v,
    eps_from_x0,
    flow_interpolate,
    flow_loss_weight,
    noise_from_velocity,
    shift_time,
    unshift_time,
    v_from_x0_eps,
    velocity_target,
    x0_from_eps,
    x0_from_v,
    x0_from_velocity,
)


def _pair(seed=0):
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(3, 4, 6, 6, generator=g)
    return x0, torch.randn(x0.shape, generator=g)


def test_flow_path_and_conversions():
    z0, eps = _pair()
    t = torch.tensor([0.0, 0.3, 1.0])
    zt = flow_interpolate(z0, eps, t)
    torch.testing.assert_close(zt[0], z0[0])
    torch.testing.assert_close(zt[2], eps[2])
    v = velocity_target(z0, eps)
    torch.testing.assert_close(x0_from_velocity(zt, v, t), z0)
    torch.testing.assert_close(noise_from_velocity(zt, v, t), eps)
    # velocity is the time derivative of the path
    dt = 1e-3
    torch.testing.assert_close((flow_interpolate(z0, eps, t + dt) - zt) / dt, v, rtol=1e-3, atol=1e-3)


def test_shift_and_inverse():
    t = torch.linspace(0, 1, 11)
    torch.testing.assert_close(unshift_time(shift_time(t, 3.0), 3.0), t)
    assert (shift_time(t, 3.0)[1:-1] > t[1:-1]).all()
    torch.testing.assert_close(shift_time(t, 1.0), t)


def test_flow_loss_weighting_clamps_near_zero():
    t = torch.tensor([0.0, 0.01, 0.5, 1.0])
    w = flow_loss_weight(t, "inverse_sigma_sq", min_t=0.05)
    torch.testing.assert_close(w, torch.tensor([400.0, 400.0, 4.0, 1.0]))
    assert flow_loss_weight(t).eq(1).all()
    from vsrzoo.errors import UserError

    with pytest.raises(UserError, match="did you mean"):
        flow_loss_weight(t, "inverse_sigma")


def test_rectified_flow_loss():
    z0, eps = _pair()
    t = torch.tensor([0.1, 0.5, 0.9])
    flow = RectifiedFlow("inverse_sigma_sq")
    zt, target, noise = flow.training_pair(z0, t, noise=eps)
    torch.testing.assert_close(zt, flow_interpolate(z0, eps, t))
    assert flow.loss(target, target, t) == 0
    err = torch.ones_like(target)
    expect = (1 / t.square()).mean()
    torch.testing.assert_close(flow.loss(target + err, target, t), expect)


def test_variance_preserving_conversions():
    x0, eps = _pair()
    abar = torch.tensor([0.9, 0.5, 0.01])
    alpha, sigma = abar.sqrt(), (1 - abar).sqrt()
    xt = alpha.view(-1, 1, 1, 1) * x0 + sigma.view(-1, 1, 1, 1) * eps
    torch.testing.assert_close(x0_from_eps(xt, eps, alpha, sigma), x0, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(eps_from_x0(xt, x0, alpha, sigma), eps, rtol=1e-4, atol=1e-4)
    v = v_from_x0_eps(x0, eps, alpha, sigma)
    torch.testing.assert_close(x0_from_v(xt, v, alpha, sigma), x0, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(eps_from_v(xt, v, alpha, sigma), eps, rtol=1e-5, atol=1e-5)


def test_schedule_matches_diffusers_pixart_schedule():
    ours = GaussianDiffusion()
    ref = DDPMScheduler(num_train_timesteps=1000, beta_start=0.0001, beta_end=0.02, beta_schedule="linear")
    torch.testing.assert_close(ours.alphas_cumprod.float(), ref.alphas_cumprod, rtol=1e-5, atol=1e-7)
    sd = GaussianDiffusion(schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)
    ref = DDPMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")
    torch.testing.assert_close(sd.alphas_cumprod.float(), ref.alphas_cumprod, rtol=1e-5, atol=1e-7)


def test_add_noise_matches_diffusers():
    x0, eps = _pair()
    t = torch.tensor([0, 500, 999])
    ref = DDPMScheduler(beta_schedule="linear").add_noise(x0, eps, t)
    torch.testing.assert_close(GaussianDiffusion().add_noise(x0, eps, t), ref, rtol=1e-5, atol=1e-5)


def test_learned_range_variance_matches_diffusers():
    diffusion = GaussianDiffusion()
    ref = DDPMScheduler(beta_schedule="linear", variance_type="learned_range")
    for t in (5, 400, 999):
        for v in (-1.0, 0.3, 1.0):
            ours = diffusion.model_log_variance(torch.full((1, 1), v), torch.tensor([t]))
            theirs = ref._get_variance(t, predicted_variance=torch.tensor(v))
            assert float(ours) == pytest.approx(float(theirs), rel=1e-4)


def test_vlb_is_zero_when_model_matches_the_posterior():
    diffusion = GaussianDiffusion()
    x0, eps = _pair()
    t = torch.tensor([10, 500, 999])
    xt = diffusion.add_noise(x0, eps, t)
    var_values = -torch.ones_like(x0)  # frac = 0: log variance = posterior log variance
    vb = diffusion.vlb_bits(eps, var_values, x0, xt, t)
    torch.testing.assert_close(vb, torch.zeros(3), atol=1e-4, rtol=0)
    wrong = diffusion.vlb_bits(eps + 0.5, var_values, x0, xt, t)
    assert (wrong > 1e-3).all()


def test_decoder_nll_at_t0_uses_discretised_likelihood():
    diffusion = GaussianDiffusion()
    x0 = torch.zeros(1, 1, 2, 2)
    t = torch.tensor([0])
    xt = diffusion.add_noise(x0, torch.zeros_like(x0), t)
    nll = diffusion.vlb_bits(torch.zeros_like(x0), -torch.ones_like(x0), x0, xt, t)
    # model mean is x0 exactly; the bin [-1/255, 1/255] under N(0, posterior variance at t=1)
    std = math.exp(0.5 * float(diffusion.posterior_log_variance_clipped[0]))
    half_bin = torch.tensor(1 / 255 / std, dtype=torch.float64)
    prob = torch.special.ndtr(half_bin) - torch.special.ndtr(-half_bin)
    assert float(nll) == pytest.approx(-math.log2(float(prob)), rel=2e-3)


def test_hybrid_loss_trains_variance_only_through_vb():
    diffusion = GaussianDiffusion()
    x0, eps = _pair()
    t = torch.tensor([3, 300, 900])
    xt = diffusion.add_noise(x0, eps, t)
    output = torch.cat([eps + 0.1, torch.zeros_like(eps)], dim=1).requires_grad_(True)
    losses = diffusion.training_losses(output, x0, xt, t, eps)
    assert set(losses) == {"loss", "mse", "vb"}
    torch.testing.assert_close(losses["mse"], torch.full((3,), 0.01))
    grad_vb = torch.autograd.grad(losses["vb"].sum(), output)[0]
    assert grad_vb[:, :4].abs().sum() == 0 and grad_vb[:, 4:].abs().sum() > 0
    plain = GaussianDiffusion(learn_sigma=False).training_losses(eps + 0.1, x0, xt, t, eps)
    assert plain["vb"].eq(0).all()


def test_vlb_bits_units():
    """KL in bits: doubling the variance ratio gives the closed-form value."""
    diffusion = GaussianDiffusion()
    x0, eps = _pair()
    t = torch.tensor([500, 500, 500])
    xt = diffusion.add_noise(x0, eps, t)
    var_values = torch.ones_like(x0)  # log variance = log beta_t
    min_log = diffusion.posterior_log_variance_clipped[500]
    max_log = math.log(diffusion.betas[500])
    d = max_log - min_log
    expect = 0.5 * (-1 + d + math.exp(-d)) / math.log(2)  # KL(N(m, s1) || N(m, e^d s1)) in bits
    torch.testing.assert_close(
        diffusion.vlb_bits(eps, var_values, x0, xt, t), torch.full((3,), expect).float()
    )
