"""Timestep samplers, the detail-aware histogram, and LR-latent noise augmentation."""

from __future__ import annotations

import math

import pytest
import torch

from vsrzoo.diffusion import (
    DETAIL_AWARE_HISTOGRAM,
    HistogramTimesteps,
    LatentNoiseAugment,
    LogitNormalTimesteps,
    ShiftedTimesteps,
    UniformTimesteps,
    detail_aware,
    detail_histogram,
    high_frequency_energy,
    make_timestep_sampler,
    to_discrete,
)
from vsrzoo.diffusion.timesteps import dct_matrix
from vsrzoo.errors import UserError

N = 20000


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_uniform_range_and_determinism():
    s = UniformTimesteps(0.2, 0.7)
    t = s(N, generator=_gen())
    assert t.min() >= 0.2 and t.max() <= 0.7 and abs(t.mean().item() - 0.45) < 0.01
    torch.testing.assert_close(s(5, generator=_gen(1)), s(5, generator=_gen(1)))


def test_logit_normal_quantiles():
    t = LogitNormalTimesteps(mean=0.5, std=1.2)(N, generator=_gen())
    logits = torch.logit(t)
    assert abs(logits.mean().item() - 0.5) < 0.03 and abs(logits.std().item() - 1.2) < 0.03


def test_shift_moves_mass_to_noise():
    base = UniformTimesteps()(N, generator=_gen())
    shifted = ShiftedTimesteps(3.0)(N, generator=_gen())
    assert shifted.mean() > base.mean() + 0.15
    # same uniforms in, shift applied elementwise
    torch.testing.assert_close(shifted, 3 * base / (1 + 2 * base))


def test_histogram_sampler_follows_its_weights():
    weights = [1.0, 0.0, 3.0, 4.0]
    t = HistogramTimesteps(weights)(N, generator=_gen())
    counts = torch.histc(t, bins=4, min=0, max=1) / N
    torch.testing.assert_close(counts, torch.tensor([0.125, 0.0, 0.375, 0.5]), atol=0.015, rtol=0)
    custom = HistogramTimesteps([1.0, 1.0], edges=[0.5, 0.6, 1.0])(N, generator=_gen())
    assert custom.min() >= 0.5 and abs((custom < 0.6).float().mean().item() - 0.5) < 0.02


def test_detail_aware_default_concentrates_on_high_and_mid_noise():
    assert math.isclose(sum(DETAIL_AWARE_HISTOGRAM), 1.0)
    t = detail_aware()(N, generator=_gen())
    assert (t >= 0.4).float().mean() > 0.7
    assert (t < 0.2).float().mean() < 0.07


def test_histogram_validation():
    with pytest.raises(UserError, match="non-negative"):
        HistogramTimesteps([0.0, -1.0])
    with pytest.raises(UserError, match="edges"):
        HistogramTimesteps([1.0, 1.0], edges=[0.0, 1.0])


def test_make_by_name_and_discretise():
    assert isinstance(make_timestep_sampler("logit_normal", std=0.5), LogitNormalTimesteps)
    assert isinstance(make_timestep_sampler("detail_aware"), HistogramTimesteps)
    with pytest.raises(UserError, match="did you mean 'uniform'"):
        make_timestep_sampler("unifrom")
    assert to_discrete(torch.tensor([0.0, 0.5, 1.0])).tolist() == [0, 500, 999]


def test_dct_is_orthonormal_and_energy_finds_high_frequencies():
    d = dct_matrix(8)
    torch.testing.assert_close(d @ d.T, torch.eye(8), atol=1e-6, rtol=0)
    smooth = torch.linspace(0, 1, 16).view(1, 1, 1, 16).expand(1, 1, 16, 16)
    checker = ((torch.arange(16).view(-1, 1) + torch.arange(16)) % 2).float().view(1, 1, 16, 16)
    assert high_frequency_energy(smooth) < 1e-2 * high_frequency_energy(checker)
    # Parseval: all coefficients (cutoff 0) carry the full energy
    torch.testing.assert_close(high_frequency_energy(checker, cutoff=0.0), checker.square().sum().view(1))


def test_detail_histogram_credits_the_steps_that_add_detail():
    g = _gen()
    smooth = torch.randn(1, 1, 1, 1, generator=g).expand(1, 4, 16, 16)
    detail = torch.randn(1, 4, 16, 16, generator=g)
    times = [0.95, 0.75, 0.55, 0.35, 0.15]
    estimates = [smooth, smooth + 0.5 * detail, smooth + detail, smooth + detail, smooth + detail]
    hist = detail_histogram(estimates, times, bins=5)
    assert hist.sum().item() == pytest.approx(1.0)
    assert hist[3] > 0 and hist[2] > 0  # t = 0.75 and t = 0.55 add the detail
    assert hist[0] == 0 and hist[1] == 0 and hist[4] == pytest.approx(0.0, abs=1e-9)
    sampler = HistogramTimesteps(hist.tolist())
    assert sampler(100, generator=g).min() >= 0.4


def test_noise_augment_train_and_eval():
    aug = LatentNoiseAugment((0.3, 0.6), eval_level=0.3)
    z = torch.randn(64, 4, 4, 4)
    noised, level = aug(z, generator=_gen())
    assert level.shape == (64,) and level.min() >= 0.3 and level.max() <= 0.6
    assert noised.shape == z.shape and noised.dtype == z.dtype
    again, level2 = aug(z, generator=_gen())
    torch.testing.assert_close(again, noised)
    aug.eval()
    _, level = aug(z, generator=_gen())
    assert level.eq(0.3).all()


def test_noise_augment_follows_the_flow_path():
    z = torch.randn(2, 3, 4, 4)
    noised, level = LatentNoiseAugment((0.5, 0.5)).train()(z, generator=_gen(7))
    g = _gen(7)
    torch.rand(2, generator=g)  # the module draws its levels first, then the noise
    noise = torch.randn(z.shape, generator=g)
    torch.testing.assert_close(noised, 0.5 * noise + 0.5 * z)
    assert level.eq(0.5).all()


def test_noise_augment_rejects_bad_levels():
    with pytest.raises(ValueError):
        LatentNoiseAugment((0.6, 0.3))
