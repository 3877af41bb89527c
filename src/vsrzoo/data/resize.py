"""MATLAB-compatible ``imresize`` (bicubic, a = -0.5, antialiased when shrinking, symmetric edges).

The community's BI degradation and bicubic baseline are defined by MATLAB's ``imresize``;
PyTorch's ``interpolate`` differs (no antialias by default, other edge handling), which is
why published bicubic numbers are not reproduced with it. Each axis is resampled by a dense
(out, in) weight matrix, so resizing is two batched matmuls on any device.
"""

from __future__ import annotations

import functools
import math

import torch


def _cubic(x: torch.Tensor) -> torch.Tensor:
    absx = x.abs()
    absx2, absx3 = absx**2, absx**3
    near = (1.5 * absx3 - 2.5 * absx2 + 1) * (absx <= 1)
    far = (-0.5 * absx3 + 2.5 * absx2 - 4 * absx + 2) * ((absx > 1) & (absx <= 2))
    return near + far


@functools.lru_cache(maxsize=32)
def resize_matrix(
    in_len: int, out_len: int, scale: float, antialias: bool = True, dtype=torch.float64, device=None
) -> torch.Tensor:
    """The (out_len, in_len) matrix of MATLAB's bicubic contributions along one axis (cached).

    On the ``meta`` device (``fit --dry-run`` traces) only its shape matters: nothing is computed
    or allocated, whatever the size."""
    if torch.device(device or "cpu").type == "meta":
        return torch.empty(out_len, in_len, dtype=dtype, device="meta")
    width = 4.0
    shrink = scale < 1 and antialias
    if shrink:
        width /= scale
    x = torch.arange(1, out_len + 1, dtype=torch.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = torch.floor(u - width / 2)
    taps = math.ceil(width) + 2
    idx = left[:, None] + torch.arange(taps, dtype=torch.float64)[None]  # 1-based positions
    dist = u[:, None] - idx
    weights = scale * _cubic(scale * dist) if shrink else _cubic(dist)
    weights = weights / weights.sum(dim=1, keepdim=True)
    # symmetric edge handling: mirror 1..n, n..1 periodically
    mirror = torch.cat([torch.arange(in_len), torch.arange(in_len - 1, -1, -1)])
    src = mirror[torch.remainder(idx.long() - 1, 2 * in_len)]
    mat = torch.zeros(out_len, in_len, dtype=torch.float64)
    mat.scatter_add_(1, src, weights)
    return mat.to(dtype=dtype, device=device)


def imresize(
    x: torch.Tensor,
    scale: float | None = None,
    size: tuple[int, int] | None = None,
    antialias: bool = True,
    work_dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Resize the last two dims of ``x`` (float, any leading shape) like MATLAB ``imresize``.

    Give ``scale`` (e.g. 1/4 or 4) or ``size=(H, W)``. The result is not rounded or clipped;
    callers that need MATLAB's uint8 output round and clamp. Computed in ``work_dtype``: by default
    float64 on CPU (MATLAB's uint8 results exactly) and float32 elsewhere; a model's internal
    bicubic in float32 differs by float32 rounding only.
    """
    if (scale is None) == (size is None):
        raise ValueError("give exactly one of scale or size")
    in_h, in_w = x.shape[-2:]
    if size is None:
        out_h, out_w = math.ceil(in_h * scale), math.ceil(in_w * scale)
        sh = sw = float(scale)
    else:
        out_h, out_w = size
        sh, sw = out_h / in_h, out_w / in_w
    work = work_dtype or (torch.float64 if x.device.type == "cpu" else torch.float32)
    mh = resize_matrix(in_h, out_h, sh, antialias, work, x.device)
    mw = resize_matrix(in_w, out_w, sw, antialias, work, x.device)
    out = mh @ x.to(work) @ mw.T
    return out.to(x.dtype) if x.dtype.is_floating_point else out


def imresize_uint8(x: torch.Tensor, scale: float | None = None, size=None) -> torch.Tensor:
    """MATLAB ``imresize`` on uint8 images: resize, round half away from zero, clamp to 0..255."""
    out = imresize(x.double() if x.device.type == "cpu" else x.float(), scale=scale, size=size)
    return torch.floor(out + 0.5).clamp_(0, 255).to(torch.uint8)
