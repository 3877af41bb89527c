"""Rectified flow / flow matching (Liu et al. arXiv 2209.03003; Lipman et al. arXiv 2210.02747).

Convention used by Wan, LiteVSR (arXiv 2606.09250) and SimpleGVR (arXiv 2506.19838):
``z_t = t * eps + (1 - t) * z0`` with ``t`` in [0, 1] (``t = 1`` is pure noise), velocity target
``u = eps - z0``; ``dz/dt = u``, so sampling integrates from ``t = 1`` down to 0. The timestep
shift of SD3 (Esser et al. arXiv 2403.03206), ``t' = s t / (1 + (s - 1) t)``, spends more steps
at high noise for large latents. LiteVSR weights the loss by ``1 / sigma_t^2 = 1 / t^2``; the
clamp near ``t = 0`` (``min_t``) is our choice (reconstruction).
"""

from __future__ import annotations

import torch

from vsrzoo.diffusion.conversions import expand_like
from vsrzoo.errors import unknown


def flow_interpolate(z0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """``z_t = t * noise + (1 - t) * z0``."""
    t = expand_like(t, z0)
    return t * noise + (1 - t) * z0


def velocity_target(z0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """The flow-matching regression target ``noise - z0``."""
    return noise - z0


def x0_from_velocity(z_t: torch.Tensor, velocity: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """Clean estimate ``z_t - t * u``."""
    return z_t - expand_like(t, z_t) * velocity


def noise_from_velocity(z_t: torch.Tensor, velocity: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """Noise estimate ``z_t + (1 - t) * u``."""
    return z_t + (1 - expand_like(t, z_t)) * velocity


def shift_time(t: torch.Tensor | float, shift: float) -> torch.Tensor | float:
    """SD3 timestep shift ``s t / (1 + (s - 1) t)``; ``shift = 1`` is the identity, ``> 1`` favours noise."""
    return shift * t / (1 + (shift - 1) * t)


def unshift_time(t: torch.Tensor | float, shift: float) -> torch.Tensor | float:
    """Inverse of :func:`shift_time`."""
    return t / (shift - (shift - 1) * t)


def flow_loss_weight(t: torch.Tensor, weighting: str = "uniform", min_t: float = 0.05) -> torch.Tensor:
    """Per-sample loss weights: ``'uniform'`` (ones) or ``'inverse_sigma_sq'`` (``1 / max(t, min_t)^2``)."""
    if weighting == "uniform":
        return torch.ones_like(t)
    if weighting == "inverse_sigma_sq":
        return t.clamp(min=min_t).pow(-2)
    raise unknown("flow loss weighting", weighting, ("uniform", "inverse_sigma_sq"))


class RectifiedFlow:
    """Training-side helper: noisy input, target and weighted loss for a velocity-predicting model."""

    def __init__(self, weighting: str = "uniform", min_t: float = 0.05):
        self.weighting = weighting
        self.min_t = min_t

    def training_pair(
        self, z0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor | None = None, generator=None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(z_t, velocity target, noise)`` for clean latents ``z0`` at times ``t`` ``(B,)``."""
        if noise is None:
            noise = torch.randn(z0.shape, generator=generator, device=z0.device, dtype=z0.dtype)
        return flow_interpolate(z0, noise, t), velocity_target(z0, noise), noise

    def loss(self, pred: torch.Tensor, target: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Weighted mean squared error (per-sample mean, then weighted batch mean)."""
        per_sample = (pred.float() - target.float()).pow(2).flatten(1).mean(1)
        return (flow_loss_weight(t.float(), self.weighting, self.min_t) * per_sample).mean()


__all__ = [
    "RectifiedFlow",
    "flow_interpolate",
    "flow_loss_weight",
    "noise_from_velocity",
    "shift_time",
    "unshift_time",
    "velocity_target",
    "x0_from_velocity",
]
