"""PSNR and SSIM exactly as BasicSR computes them, batched in torch.

SSIM: Wang et al., "Image Quality Assessment: From Error Visibility to Structural Similarity",
IEEE TIP 2004. The protocol is BasicSR's ``calculate_psnr`` / ``calculate_ssim`` (the one every
VSR table since EDVR/BasicVSR (arXiv 2012.02181) uses):

- outputs are rounded to uint8 before scoring;
- ``crop_border`` pixels are removed on each side;
- optionally the Y channel of ITU-R BT.601, ``Y = 16 + 65.481 R + 128.553 G + 24.966 B`` for RGB
  in [0, 1] (not rounded), on the [0, 255] scale;
- PSNR in float64, ``10 log10(255^2 / MSE)`` (``inf`` for identical frames);
- SSIM with an 11x11 Gaussian window (sigma 1.5), ``C1 = (0.01*255)^2``, ``C2 = (0.03*255)^2``,
  averaged over the valid region only (no padding) and, for RGB, over the channels.

Everything runs in float64. The separable Gaussian window is applied as two 1-D passes (the
same linear filter as BasicSR's ``cv2.filter2D``, equal to ~1e-14 relative). On CPU each plane
is processed in cache-sized bands of rows spread over ``torch.get_num_threads()`` Python
threads, each torch op on one intra-op thread; with this the torch path is faster than the
per-frame OpenCV one (``benchmarks/metrics.py``). On GPU the whole batch goes in one pass.

Input convention: numpy arrays are channel-last uint8 frames ``(H, W, 3)`` or ``(N, H, W, 3)``
(what :mod:`vsrzoo.data.io` reads); torch tensors are channel-first ``(3, H, W)`` or
``(N, 3, H, W)``, either uint8 or float in [0, 1] (rounded to the uint8 grid first).
"""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from vsrzoo.errors import UserError

__all__ = ["psnr", "psnr_ssim", "rgb_to_y", "ssim", "to_uint8_grid"]

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
C1 = (0.01 * 255) ** 2
C2 = (0.03 * 255) ** 2
Y_WEIGHTS = (65.481, 128.553, 24.966)  # BT.601 for R, G, B in [0, 1]; offset 16


def _channels_last(x: np.ndarray | torch.Tensor, device=None) -> torch.Tensor:
    """Frames as float64 ``(N, H, W, 3)`` on the uint8 grid [0, 255]; no copy of the layout."""
    if isinstance(x, np.ndarray):
        t = torch.from_numpy(np.ascontiguousarray(x))
        t = t.unsqueeze(0) if t.dim() == 3 else t
        if t.dim() != 4:
            raise UserError(f"frames must be (H, W, 3) or (N, H, W, 3) arrays, got shape {tuple(x.shape)}")
    else:
        t = x.unsqueeze(0) if x.dim() == 3 else x
        if t.dim() != 4:
            raise UserError(f"frames must be (3, H, W) or (N, 3, H, W) tensors, got shape {tuple(x.shape)}")
        t = t.permute(0, 2, 3, 1)
    if t.shape[-1] != 3:
        raise UserError(f"frames must have 3 (RGB) channels, got shape {tuple(x.shape)}")
    t = t.to(device) if device is not None else t
    if t.dtype == torch.uint8:
        return t.to(torch.float64)
    if not t.is_floating_point():
        raise UserError(f"frames must be uint8 or float in [0, 1], got {t.dtype}")
    return (t.to(torch.float64).clamp(0, 1) * 255.0).round()


def to_uint8_grid(x: np.ndarray | torch.Tensor, device=None) -> torch.Tensor:
    """Frames as float64 ``(N, 3, H, W)`` on the uint8 grid [0, 255] (see module docstring)."""
    return _channels_last(x, device).permute(0, 3, 1, 2).contiguous()


def rgb_to_y(x: torch.Tensor) -> torch.Tensor:
    """BT.601 luma of ``(N, 3, H, W)`` RGB on the [0, 255] scale -> ``(N, 1, H, W)`` in [16, 235]."""
    return _luma(x.permute(0, 2, 3, 1)).unsqueeze(1)


def _luma(x: torch.Tensor) -> torch.Tensor:
    """(..., 3) RGB on [0, 255] -> (...) Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255."""
    weights = torch.tensor(Y_WEIGHTS, dtype=x.dtype, device=x.device) / 255.0
    return x @ weights + 16.0


def _prepare(
    sr: np.ndarray | torch.Tensor, gt: np.ndarray | torch.Tensor, crop_border: int, y_channel: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Both batches as float64 (N, C, H, W): rounded, cropped, and Y (C = 1) or RGB (C = 3)."""
    gt_t = _channels_last(gt)
    sr_t = _channels_last(sr, device=gt_t.device)
    if sr_t.shape[1:3] != gt_t.shape[1:3]:
        raise UserError(f"output frames are {_size(sr_t)} but GT frames are {_size(gt_t)}; sizes must match")
    if sr_t.shape[0] != gt_t.shape[0]:
        raise UserError(f"got {sr_t.shape[0]} output frames for {gt_t.shape[0]} GT frames")
    if crop_border < 0:
        raise UserError(f"crop_border must be >= 0, got {crop_border}")
    if crop_border:
        h, w = gt_t.shape[1:3]
        if 2 * crop_border >= min(h, w):
            raise UserError(f"crop_border {crop_border} leaves nothing of a {w}x{h} frame")
        sr_t = sr_t[:, crop_border:-crop_border, crop_border:-crop_border]
        gt_t = gt_t[:, crop_border:-crop_border, crop_border:-crop_border]
    if y_channel:
        return _luma(sr_t).unsqueeze(1), _luma(gt_t).unsqueeze(1)
    return sr_t.permute(0, 3, 1, 2).contiguous(), gt_t.permute(0, 3, 1, 2).contiguous()


def _size(t: torch.Tensor) -> str:
    """'WxH' of a channel-last batch."""
    return f"{t.shape[2]}x{t.shape[1]}"


def _psnr(sr: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    mse = (sr - gt).square().mean(dim=(1, 2, 3))
    return 10.0 * torch.log10(255.0**2 / mse)  # mse == 0 -> inf, as BasicSR


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA, dtype=torch.float64, device=None):
    """The normalised 1-D Gaussian of ``cv2.getGaussianKernel(size, sigma)``."""
    x = torch.arange(size, dtype=torch.float64, device=device) - (size - 1) / 2
    g = torch.exp(-x.square() / (2 * sigma**2))
    return (g / g.sum()).to(dtype)


def gaussian_filter_valid(
    x: torch.Tensor, size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA
) -> torch.Tensor:
    """Gaussian-weighted local means over the valid region: (..., H, W) -> (..., H-size+1, W-size+1).

    The 2-D window is the outer product of the 1-D one, so it is applied as two 1-D passes of
    shifted, weighted slices accumulated in place: ``2 * size`` multiply-adds per pixel instead
    of ``size**2``, exact in float64, and no im2col copy.
    """
    h, w = x.shape[-2:]
    g = gaussian_window(size, sigma).tolist()
    rows = x[..., :, 0 : w - size + 1] * g[0]
    for i in range(1, size):
        rows.add_(x[..., :, i : w - size + 1 + i], alpha=g[i])
    out = rows[..., 0 : h - size + 1, :] * g[0]
    for i in range(1, size):
        out.add_(rows[..., i : h - size + 1 + i, :], alpha=g[i])
    return out


BLOCK_BYTES = 1 << 20  # CPU working set per block of the five SSIM maps (about one L2 cache)


def _ssim_sum(a: torch.Tensor, b: torch.Tensor, size: int) -> torch.Tensor:
    """Sum of the SSIM map over the valid region, per leading index: (..., H, W) -> (...)."""
    mu1, mu2, e11, e22, e12 = gaussian_filter_valid(torch.stack([a, b, a * a, b * b, a * b]), size)
    mu1_sq, mu2_sq, mu12 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    num = (2 * mu12 + C1) * (2 * (e12 - mu12) + C2)
    den = (mu1_sq + mu2_sq + C1) * ((e11 - mu1_sq) + (e22 - mu2_sq) + C2)
    return (num / den).sum(dim=(-2, -1))


def _ssim(sr: torch.Tensor, gt: torch.Tensor, size: int = SSIM_WINDOW, workers: int = 1) -> torch.Tensor:
    n, c, h, w = sr.shape
    if min(h, w) < size:
        raise UserError(f"SSIM needs frames of at least {size}x{size} after cropping, got {w}x{h}")
    valid = (h - size + 1) * (w - size + 1)
    if sr.device.type != "cpu":  # one pass over the whole batch
        return _ssim_sum(sr, gt, size).mean(dim=1) / valid
    # On CPU the filter is memory-bound: walk each plane in bands of rows that stay in cache,
    # bands spread over ``workers`` threads (torch ops release the GIL).
    step = max(8, BLOCK_BYTES // (5 * 8 * w) - size + 1)
    sr_p, gt_p = sr.reshape(n * c, h, w), gt.reshape(n * c, h, w)
    bands = [
        (p, slice(r0, r0 + step + size - 1)) for p in range(n * c) for r0 in range(0, h - size + 1, step)
    ]

    def band_sum(band: tuple[int, slice]) -> float:
        p, rows = band
        return float(_ssim_sum(sr_p[p, rows], gt_p[p, rows], size))

    sums = _map(band_sum, bands, workers)
    total = torch.zeros(n * c, dtype=torch.float64)
    for (p, _), value in zip(bands, sums):  # fixed order: the result does not depend on workers
        total[p] += value
    return total.view(n, c).mean(dim=1) / valid


_POOL: ThreadPoolExecutor | None = None


def _map(fn, items: list, workers: int) -> list:
    global _POOL
    if workers <= 1 or len(items) < 2:
        return [fn(x) for x in items]
    if _POOL is None or _POOL._max_workers != workers:
        _POOL = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vsrzoo-ssim")
    return list(_POOL.map(fn, items))


@contextlib.contextmanager
def _cpu_workers(t: torch.Tensor):
    """Yield how many threads to split CPU work over, with torch's intra-op pool set to one.

    The SSIM passes are many small memory-bound ops; splitting each op over OpenMP threads costs
    a barrier per op, which stalls badly when the machine is shared (measured 20x slower with 2
    threads on a loaded 2-core machine). Instead, whole bands of rows run in parallel on
    ``torch.get_num_threads()`` Python threads, each op on one intra-op thread.
    """
    threads = torch.get_num_threads()
    if t.device.type != "cpu" or threads == 1:
        yield threads if t.device.type == "cpu" else 1
        return
    torch.set_num_threads(1)
    try:
        yield threads
    finally:
        torch.set_num_threads(threads)


def psnr_ssim(
    sr: np.ndarray | torch.Tensor,
    gt: np.ndarray | torch.Tensor,
    crop_border: int = 0,
    y_channel: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-frame PSNR (dB) and SSIM of a batch, float64 tensors of shape (N,)."""
    with _cpu_workers(_device_of(gt)) as workers:
        sr_t, gt_t = _prepare(sr, gt, crop_border, y_channel)
        return _psnr(sr_t, gt_t), _ssim(sr_t, gt_t, workers=workers)


def psnr(sr, gt, crop_border: int = 0, y_channel: bool = False) -> torch.Tensor:
    """Per-frame PSNR in dB (float64, shape (N,)); ``inf`` for identical frames."""
    with _cpu_workers(_device_of(gt)):
        sr_t, gt_t = _prepare(sr, gt, crop_border, y_channel)
        return _psnr(sr_t, gt_t)


def ssim(sr, gt, crop_border: int = 0, y_channel: bool = False) -> torch.Tensor:
    """Per-frame SSIM (float64, shape (N,)), mean over the valid region and channels."""
    with _cpu_workers(_device_of(gt)) as workers:
        sr_t, gt_t = _prepare(sr, gt, crop_border, y_channel)
        return _ssim(sr_t, gt_t, workers=workers)


def _device_of(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    return x if isinstance(x, torch.Tensor) else torch.empty(0)
