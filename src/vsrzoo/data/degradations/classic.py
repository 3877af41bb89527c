"""The classic VSR benchmark degradations: BI (bicubic), BD (blur + subsample), bicubic upsampling.

BI is MATLAB ``imresize(GT, 1/s, 'bicubic')``; it reproduces the public Vid4 ``BIx4`` frames
bit for bit (see tests). BD follows the MATLAB script used by DUF/TOFlow-era sets and by
BasicVSR (arXiv 2012.02181), BasicVSR++ (arXiv 2104.13371), RVRT and IART:
``fspecial('gaussian', 12, 1.6)``, ``imfilter(..., 'replicate')``, then
``img(s/2:s:end, s/2:s:end)`` in MATLAB's 1-based indexing, i.e. every s-th pixel starting
at 0-based offset 1 for s = 4, which puts each LR sample at the centre of its s x s block.
"""

from __future__ import annotations

import numpy as np
import torch

from vsrzoo.data.degradations.base import Degradation
from vsrzoo.data.resize import imresize_uint8
from vsrzoo.errors import UserError


def _to_tensor(clip: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(clip)).permute(0, 3, 1, 2)


def _to_numpy(x: torch.Tensor) -> np.ndarray:
    return x.permute(0, 2, 3, 1).contiguous().numpy()


class BI(Degradation):
    """MATLAB bicubic downscaling (antialiased cubic, a = -0.5, symmetric edges), rounded like MATLAB."""

    name = "bi"
    folder_prefix = "BI"

    def apply(self, clip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return _to_numpy(imresize_uint8(_to_tensor(clip), scale=1 / self.scale))


class BicubicUp(Degradation):
    """MATLAB bicubic upsampling by ``scale`` (what the ``bicubic`` baseline method computes)."""

    name = "bicubic_up"
    upsamples = True

    def apply(self, clip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return _to_numpy(imresize_uint8(_to_tensor(clip), scale=self.scale))


def gaussian_kernel_1d(size: int, sigma: float) -> np.ndarray:
    """The normalised 1-D factor of MATLAB ``fspecial('gaussian', size, sigma)`` (it is separable)."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def blur_subsample_taps(length: int, size: int, scale: int, offset: int) -> np.ndarray:
    """(out, size) source indices of ``imfilter(..., 'replicate')`` along one axis, rows offset::scale."""
    centre = (size - 1) // 2  # MATLAB's imfilter origin: floor((n + 1) / 2), 1-based
    rows = np.arange(offset, length, scale)
    return np.clip(rows[:, None] + np.arange(size)[None] - centre, 0, length - 1)  # replicate padding


class BD(Degradation):
    """Gaussian blur (``kernel_size`` x ``kernel_size``, ``sigma``), replicate padding, keep every s-th pixel.

    The defaults (12, 1.6, offset 1) are the BD set of BasicVSR++/RVRT/IART. The filter is
    separable (``fspecial('gaussian')`` is an outer product), so each axis is filtered alone
    and only at the kept rows and columns, in float64; the result is rounded half up, as
    MATLAB's ``imwrite`` of a double image does.
    """

    name = "bd"
    folder_prefix = "BD"

    def __init__(self, scale: int = 4, sigma: float = 1.6, kernel_size: int = 12, offset: int = 1):
        super().__init__(scale)
        if not 0 <= offset < self.scale:
            raise UserError(f"degradation 'bd': offset must be in [0, {self.scale - 1}], got {offset}")
        if kernel_size < 1 or sigma <= 0:
            raise UserError(
                f"degradation 'bd': need kernel_size >= 1 and sigma > 0, got {kernel_size}, {sigma}"
            )
        self.sigma, self.kernel_size, self.offset = float(sigma), int(kernel_size), int(offset)

    def apply(self, clip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        kernel = gaussian_kernel_1d(self.kernel_size, self.sigma)
        h, w = clip.shape[1:3]
        rows = blur_subsample_taps(h, self.kernel_size, self.scale, self.offset)
        cols = blur_subsample_taps(w, self.kernel_size, self.scale, self.offset)
        x = np.einsum("tokwc,k->towc", clip[:, rows].astype(np.float64), kernel)  # only the kept rows
        x = np.einsum("towkc,k->towc", x[:, :, cols], kernel)
        return np.clip(np.floor(x + 0.5), 0, 255).astype(np.uint8)
