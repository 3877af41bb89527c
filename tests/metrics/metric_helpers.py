"""Plain numpy references of the metric definitions (DESIGN.md section 4), written independently
of vsrzoo's torch code: a direct 11x11 window sum, float64, one frame at a time."""

from __future__ import annotations

import numpy as np
import skimage.data


def ref_y(img: np.ndarray) -> np.ndarray:
    """BT.601 Y on the [0, 255] scale from uint8 RGB: 16 + 65.481 R + 128.553 G + 24.966 B, RGB in [0, 1]."""
    rgb = img.astype(np.float64) / 255.0
    return 16.0 + 65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]


def ref_window() -> np.ndarray:
    x = np.arange(11) - 5.0
    g = np.exp(-(x**2) / (2 * 1.5**2))
    g /= g.sum()
    return np.outer(g, g)


def ref_filter_valid(a: np.ndarray, win: np.ndarray) -> np.ndarray:
    """sum_{dy,dx} win[dy, dx] * a[y + dy, x + dx] over the valid region."""
    k = win.shape[0]
    h, w = a.shape[0] - k + 1, a.shape[1] - k + 1
    out = np.zeros((h, w))
    for dy in range(k):
        for dx in range(k):
            out += win[dy, dx] * a[dy : dy + h, dx : dx + w]
    return out


def ref_ssim_plane(a: np.ndarray, b: np.ndarray) -> float:
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    win = ref_window()
    mu1, mu2 = ref_filter_valid(a, win), ref_filter_valid(b, win)
    s11 = ref_filter_valid(a * a, win) - mu1**2
    s22 = ref_filter_valid(b * b, win) - mu2**2
    s12 = ref_filter_valid(a * b, win) - mu1 * mu2
    return float(
        np.mean(((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1**2 + mu2**2 + c1) * (s11 + s22 + c2)))
    )


def ref_psnr_ssim(sr: np.ndarray, gt: np.ndarray, crop: int = 0, y: bool = False) -> tuple[float, float]:
    """BasicSR's calculate_psnr / calculate_ssim for one pair of uint8 RGB frames."""
    if crop:
        sr, gt = sr[crop:-crop, crop:-crop], gt[crop:-crop, crop:-crop]
    if y:
        a, b = ref_y(sr)[..., None], ref_y(gt)[..., None]
    else:
        a, b = sr.astype(np.float64), gt.astype(np.float64)
    mse = np.mean((a - b) ** 2)
    psnr = float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)
    ssim = float(np.mean([ref_ssim_plane(a[..., c], b[..., c]) for c in range(a.shape[-1])]))
    return psnr, ssim


def photo(
    name: str = "astronaut", size: tuple[int, int] = (96, 128), offset: tuple[int, int] = (0, 0)
) -> np.ndarray:
    """A crop of one of scikit-image's bundled real photographs, uint8 RGB."""
    img = getattr(skimage.data, name)()
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    y, x = 100 + offset[0], 100 + offset[1]
    return np.ascontiguousarray(img[y : y + size[0], x : x + size[1], :3])


def ref_warp(img: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Bilinear backward warp ``out(p) = img(p + flow(p))`` with edge clamping (FlowNet2 Resample2d)."""
    h, w = img.shape[:2]
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float64)
    x, y = gx + flow[..., 0], gy + flow[..., 1]
    x0, y0 = np.floor(x), np.floor(y)
    a, b = (x - x0)[..., None], (y - y0)[..., None]

    def at(yy, xx):
        return img[np.clip(yy, 0, h - 1).astype(int), np.clip(xx, 0, w - 1).astype(int)]

    return (
        (1 - a) * (1 - b) * at(y0, x0)
        + a * (1 - b) * at(y0, x0 + 1)
        + (1 - a) * b * at(y0 + 1, x0)
        + a * b * at(y0 + 1, x0 + 1)
    )


def ref_occlusion(fw: np.ndarray, bw: np.ndarray) -> np.ndarray:
    """Lai et al.'s detect_occlusion(bw_flow, fw_flow) for the pair (t, t+1): True = occluded."""
    bw_w = ref_warp(bw, fw)
    mag = lambda f: f[..., 0] ** 2 + f[..., 1] ** 2  # noqa: E731
    mask1 = mag(bw_w + fw) > 0.01 * (mag(bw_w) + mag(fw)) + 0.5
    du, dv = np.zeros_like(fw), np.zeros_like(fw)
    du[:, :-1] = fw[:, :-1] - fw[:, 1:]
    dv[:-1, :] = fw[:-1, :] - fw[1:, :]
    mask2 = (du**2 + dv**2).sum(-1) > 0.01 * mag(fw) + 0.002
    return mask1 | mask2


def ref_warping_error(out_t, out_t1, fw, bw, channel_sum: bool = False) -> float:
    """Lai et al.'s per-pair error (mean over non-occluded pixels and channels); EvalCrafter sums channels."""
    noc = (~ref_occlusion(fw, bw)).astype(np.float64)[..., None]
    diff = (ref_warp(out_t1, fw) - out_t) * noc
    n = noc.sum() * (1 if channel_sum else out_t.shape[-1])
    return float(np.sum(diff**2) / (n if n > 0 else diff.size))
