"""Conversions between the clean sample ``x0``, the noise ``eps`` and ``v`` for ``x_t = alpha x0 + sigma eps``.

Diffusion (DDPM, Ho et al. arXiv 2006.11239) uses ``alpha = sqrt(abar_t)``, ``sigma = sqrt(1 - abar_t)``;
v-prediction (Salimans & Ho, arXiv 2202.00512) is ``v = alpha eps - sigma x0`` (needs
``alpha^2 + sigma^2 = 1``). Rectified flow (Liu et al. arXiv 2209.03003) uses ``alpha = 1 - t``,
``sigma = t`` and the velocity ``u = eps - x0`` (see :mod:`vsrzoo.diffusion.flow`).
``alpha`` and ``sigma`` are tensors of shape ``(B,)`` or scalars; they broadcast over the other dims.
"""

from __future__ import annotations

import torch


def expand_like(t: torch.Tensor | float, x: torch.Tensor) -> torch.Tensor:
    """``t`` of shape ``(B,)`` (or a scalar) reshaped to broadcast against ``x`` ``(B, ...)``."""
    t = torch.as_tensor(t, device=x.device, dtype=x.dtype)
    return t.reshape(-1, *([1] * (x.ndim - 1))) if t.ndim else t


def x0_from_eps(x_t, eps, alpha, sigma):
    """Clean sample from a noise prediction."""
    return (x_t - expand_like(sigma, x_t) * eps) / expand_like(alpha, x_t)


def eps_from_x0(x_t, x0, alpha, sigma):
    """Noise from a clean-sample prediction."""
    return (x_t - expand_like(alpha, x_t) * x0) / expand_like(sigma, x_t)


def v_from_x0_eps(x0, eps, alpha, sigma):
    """v-prediction target ``alpha eps - sigma x0``."""
    return expand_like(alpha, x0) * eps - expand_like(sigma, x0) * x0


def x0_from_v(x_t, v, alpha, sigma):
    """Clean sample from v (variance-preserving schedules)."""
    return expand_like(alpha, x_t) * x_t - expand_like(sigma, x_t) * v


def eps_from_v(x_t, v, alpha, sigma):
    """Noise from v (variance-preserving schedules)."""
    return expand_like(sigma, x_t) * x_t + expand_like(alpha, x_t) * v


__all__ = ["eps_from_v", "eps_from_x0", "expand_like", "v_from_x0_eps", "x0_from_eps", "x0_from_v"]
