"""Training timestep samplers: uniform, logit-normal, shifted and detail-aware (histogram).

All samplers return noise levels ``t`` in [0, 1] (``t = 1`` is pure noise, the flow convention);
:func:`to_discrete` maps them to DDPM integer timesteps.

* logit-normal: ``t = sigmoid(N(mean, std))`` (SD3, Esser et al. arXiv 2403.03206);
* shifted: the SD3 shift ``s t / (1 + (s - 1) t)`` applied to another sampler;
* detail-aware (SimpleGVR, arXiv 2506.19838): timesteps drawn from a histogram over [0, 1]
  concentrated on high and mid noise, where the paper measured most high-frequency detail being
  created. The paper's histogram is not published: :data:`DETAIL_AWARE_HISTOGRAM` is our
  reconstruction, and :func:`detail_histogram` measures one from a sampling trajectory
  (high-frequency DCT energy each step adds to the clean estimate), so it can be recomputed for
  any model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from vsrzoo.diffusion.flow import shift_time
from vsrzoo.errors import UserError, unknown

# reconstruction: probability mass of t in [0, 0.1), [0.1, 0.2), ..., [0.9, 1.0]
DETAIL_AWARE_HISTOGRAM = (0.02, 0.03, 0.05, 0.08, 0.11, 0.14, 0.15, 0.15, 0.14, 0.13)


class TimestepSampler:
    """Draws ``n`` noise levels in [0, 1]; ``sampler(n, device=..., generator=...)``."""

    def sample(self, n: int, device=None, generator: torch.Generator | None = None) -> torch.Tensor:
        u = torch.rand(n, generator=generator, device=generator.device if generator else None)
        return self.from_uniform(u).to(device) if device is not None else self.from_uniform(u)

    def __call__(self, n: int, device=None, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.sample(n, device, generator)


class UniformTimesteps(TimestepSampler):
    """``t ~ U(low, high)``."""

    def __init__(self, low: float = 0.0, high: float = 1.0):
        self.low, self.high = low, high

    def from_uniform(self, u: torch.Tensor) -> torch.Tensor:
        return self.low + (self.high - self.low) * u


class LogitNormalTimesteps(TimestepSampler):
    """``t = sigmoid(x)``, ``x ~ N(mean, std^2)``; inverse-CDF so one uniform gives one sample."""

    def __init__(self, mean: float = 0.0, std: float = 1.0):
        self.mean, self.std = mean, std

    def from_uniform(self, u: torch.Tensor) -> torch.Tensor:
        x = self.mean + self.std * math.sqrt(2.0) * torch.erfinv(2 * u.clamp(1e-6, 1 - 1e-6) - 1)
        return torch.sigmoid(x)


class ShiftedTimesteps(TimestepSampler):
    """``base`` sampler followed by the SD3 shift (``shift > 1`` moves mass towards noise)."""

    def __init__(self, shift: float = 3.0, base: TimestepSampler | None = None):
        self.shift = shift
        self.base = base or UniformTimesteps()

    def from_uniform(self, u: torch.Tensor) -> torch.Tensor:
        return shift_time(self.base.from_uniform(u), self.shift)


class HistogramTimesteps(TimestepSampler):
    """Piecewise-uniform density: bin ``i`` of ``edges`` gets probability ``weights[i]`` (normalised)."""

    def __init__(
        self, weights: Sequence[float] = DETAIL_AWARE_HISTOGRAM, edges: Sequence[float] | None = None
    ):
        w = torch.as_tensor(weights, dtype=torch.float64)
        if w.ndim != 1 or len(w) == 0 or (w < 0).any() or w.sum() <= 0:
            raise UserError(
                f"timestep histogram needs non-negative weights with a positive sum, got {list(weights)}"
            )
        e = (
            torch.linspace(0, 1, len(w) + 1, dtype=torch.float64)
            if edges is None
            else torch.as_tensor(edges).double()
        )
        if len(e) != len(w) + 1 or (e.diff() <= 0).any() or e[0] < 0 or e[-1] > 1:
            raise UserError(
                "timestep histogram edges must rise from >= 0 to <= 1 with one more entry than weights"
            )
        self.weights = w / w.sum()
        self.edges = e
        self.cdf = torch.cat([torch.zeros(1, dtype=torch.float64), self.weights.cumsum(0)])

    def from_uniform(self, u: torch.Tensor) -> torch.Tensor:
        u = u.double().clamp(0, 1 - 1e-12)
        idx = (torch.searchsorted(self.cdf, u, right=True) - 1).clamp(0, len(self.weights) - 1)
        frac = (u - self.cdf[idx]) / self.weights[idx].clamp(min=1e-12)
        t = self.edges[idx] + frac.clamp(0, 1) * (self.edges[idx + 1] - self.edges[idx])
        return t.float()


def detail_aware(
    weights: Sequence[float] | None = None, edges: Sequence[float] | None = None
) -> HistogramTimesteps:
    """SimpleGVR's detail-aware sampler from ``weights`` (default :data:`DETAIL_AWARE_HISTOGRAM`)."""
    return HistogramTimesteps(DETAIL_AWARE_HISTOGRAM if weights is None else weights, edges)


SAMPLERS = {
    "uniform": UniformTimesteps,
    "logit_normal": LogitNormalTimesteps,
    "shifted": ShiftedTimesteps,
    "detail_aware": detail_aware,
}


def make_timestep_sampler(name: str, **kwargs) -> TimestepSampler:
    """Build a sampler by recipe name: ``uniform``, ``logit_normal``, ``shifted`` or ``detail_aware``."""
    if name not in SAMPLERS:
        raise unknown("timestep sampler", name, SAMPLERS)
    try:
        return SAMPLERS[name](**kwargs)
    except TypeError as exc:  # a keyword the sampler does not take: one line, not a traceback
        raise UserError(f"timestep sampler '{name}': {exc} (timestep_kwargs {kwargs})") from None


def to_discrete(t: torch.Tensor, num_timesteps: int = 1000) -> torch.Tensor:
    """Noise levels in [0, 1] -> integer DDPM timesteps in ``[0, num_timesteps)``."""
    return (t * num_timesteps).long().clamp(0, num_timesteps - 1)


def dct_matrix(n: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Orthonormal DCT-II matrix ``D`` (``D @ x`` transforms along the first axis)."""
    k = torch.arange(n, device=device, dtype=torch.float64)
    d = torch.cos(math.pi * (k[None, :] + 0.5) * k[:, None] / n) * math.sqrt(2.0 / n)
    d[0] /= math.sqrt(2.0)
    return d.to(dtype)


def high_frequency_energy(x: torch.Tensor, cutoff: float = 0.5) -> torch.Tensor:
    """Per-sample energy of 2-D DCT coefficients with normalised radius ``>= cutoff`` (last two dims)."""
    h, w = x.shape[-2:]
    dh, dw = dct_matrix(h, x.device), dct_matrix(w, x.device)
    coeffs = dh @ x.float() @ dw.T
    fy = torch.arange(h, device=x.device)[:, None] / h
    fx = torch.arange(w, device=x.device)[None, :] / w
    mask = (fy**2 + fx**2).sqrt() >= cutoff
    return (coeffs.pow(2) * mask).flatten(1).sum(1)


def detail_histogram(
    x0_estimates: Sequence[torch.Tensor], times: Sequence[float], bins: int = 10, cutoff: float = 0.5
) -> torch.Tensor:
    """Histogram over ``t`` of the high-frequency energy each sampling step adds to the clean estimate.

    ``x0_estimates[k]`` is the clean estimate made at noise level ``times[k]`` (ordered from
    noisy to clean). Step ``k`` adds ``max(E_k - E_{k-1}, 0)`` (``E_{-1} = 0``), credited to the
    bin holding ``times[k]``. Returns normalised weights for :class:`HistogramTimesteps`.
    """
    if len(x0_estimates) != len(times) or not times:
        raise ValueError("detail_histogram needs one time per estimate")
    weights = torch.zeros(bins, dtype=torch.float64)
    previous = 0.0
    for x0, t in zip(x0_estimates, times):
        energy = float(high_frequency_energy(x0, cutoff).mean())
        weights[min(int(float(t) * bins), bins - 1)] += max(energy - previous, 0.0)
        previous = energy
    if weights.sum() <= 0:
        raise ValueError("the trajectory adds no high-frequency energy; nothing to build a histogram from")
    return weights / weights.sum()


__all__ = [
    "DETAIL_AWARE_HISTOGRAM",
    "HistogramTimesteps",
    "LogitNormalTimesteps",
    "ShiftedTimesteps",
    "TimestepSampler",
    "UniformTimesteps",
    "dct_matrix",
    "detail_aware",
    "detail_histogram",
    "high_frequency_energy",
    "make_timestep_sampler",
    "to_discrete",
]
