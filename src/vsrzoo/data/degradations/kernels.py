"""Blur kernels of the Real-ESRGAN / RealBasicVSR degradation model.

Real-ESRGAN (arXiv 2107.10833, Sec. 3.2) defines isotropic and anisotropic Gaussian,
generalised Gaussian and plateau-shaped kernels plus the 2-D sinc (ideal low-pass) filter
that imitates ringing and overshoot; RealBasicVSR (arXiv 2111.12704) reuses them per clip.
All kernels are odd-sized, float64 and sum to one.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

KERNEL_TYPES = (
    "iso",
    "aniso",
    "generalized_iso",
    "generalized_aniso",
    "plateau_iso",
    "plateau_aniso",
    "sinc",
)


def _grid(size: int) -> np.ndarray:
    ax = np.arange(size, dtype=np.float64) - (size - 1) / 2
    xx, yy = np.meshgrid(ax, ax)
    return np.stack([xx, yy], axis=-1)


def _quadratic_form(size: int, sigma_x: float, sigma_y: float, angle: float) -> np.ndarray:
    """x^T Sigma^-1 x on the kernel grid, Sigma = R diag(sx^2, sy^2) R^T."""
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    cov = rot @ np.diag([sigma_x**2, sigma_y**2]) @ rot.T
    xy = _grid(size)
    return np.einsum("...i,ij,...j->...", xy, np.linalg.inv(cov), xy)


def anisotropic_kernel(
    kind: str, size: int, sigma_x: float, sigma_y: float, angle: float, beta: float = 1.0
) -> np.ndarray:
    """Gaussian (``beta`` unused), generalised Gaussian or plateau kernel."""
    q = _quadratic_form(size, sigma_x, sigma_y, angle)
    if kind == "gaussian":
        k = np.exp(-0.5 * q)
    elif kind == "generalized":
        k = np.exp(-0.5 * np.power(q, beta))
    elif kind == "plateau":
        k = 1.0 / (np.power(q, beta) + 1.0)
    else:
        raise ValueError(f"unknown kernel family {kind!r}")
    return k / k.sum()


def sinc_kernel(size: int, cutoff: float) -> np.ndarray:
    """2-D circular low-pass (sinc) kernel with angular cut-off frequency ``cutoff`` (radians)."""
    r = np.linalg.norm(_grid(size), axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = cutoff * special.j1(cutoff * r) / (2 * np.pi * r)
    k[r == 0] = cutoff**2 / (4 * np.pi)
    return k / k.sum()


def make_kernel(
    kind: str,
    size: int,
    sigma_x: float,
    sigma_y: float,
    angle: float,
    beta_gaussian: float,
    beta_plateau: float,
    omega: float,
) -> np.ndarray:
    """One kernel of ``kind`` (one of :data:`KERNEL_TYPES`); iso kinds ignore sigma_y and angle."""
    if kind == "sinc":
        return sinc_kernel(size, omega)
    family, _, shape = kind.rpartition("_")
    family = family or "gaussian"
    if shape == "iso":
        sigma_y, angle = sigma_x, 0.0
    beta = beta_plateau if family == "plateau" else beta_gaussian
    return anisotropic_kernel(family, size, sigma_x, sigma_y, angle, beta)
