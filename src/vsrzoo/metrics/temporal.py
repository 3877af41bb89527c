"""TecoGAN's temporal metrics tOF and tLPIPS (tLP).

Chu et al., "Learning Temporal Coherence via Self-Supervision for GAN-based Video Generation",
ACM TOG 2020 (arXiv 1811.09393), as computed by their released ``metrics.py``:

- both videos are centre-cropped by ``crop_8x8`` (to multiples of 32 with at least 8 pixels
  removed on each side) before comparison;
- ``tOF``: Farneback flow (``cv2.calcOpticalFlowFarneback(prev, cur, None, 0.5, 3, 15, 3, 5, 1.2,
  0)`` on OpenCV grey frames) of the output and of the GT between frames t-1 and t; the metric is
  the mean over pixels of the L2 norm of their difference (pixels; lower is better);
- ``tLP``: ``|LPIPS(gt_{t-1}, gt_t) - LPIPS(out_{t-1}, out_t)|`` x100 (their ``tLP100``).

Values are per pair of consecutive frames; a video's value is the mean over its pairs.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["TLPIPS", "TOF", "crop_8x8", "farneback"]

TLP_SCALE = 100.0


def crop_8x8(img: np.ndarray) -> np.ndarray:
    """TecoGAN's centre crop to multiples of 32 that removes at least 8 pixels per side."""
    h0, w0 = img.shape[:2]
    h, w = (h0 // 32) * 32, (w0 // 32) * 32
    while h > h0 - 16:
        h -= 32
    while w > w0 - 16:
        w -= 32
    if h <= 0 or w <= 0:
        raise ValueError(f"tOF/tLPIPS need frames of at least 48x48 (crop_8x8), got {w0}x{h0}")
    y, x = (h0 - h) // 2, (w0 - w) // 2
    return img[y : y + h, x : x + w]


def farneback(prev_grey: np.ndarray, cur_grey: np.ndarray) -> np.ndarray:
    """TecoGAN's Farneback flow between two uint8 grey frames, (H, W, 2)."""
    return cv2.calcOpticalFlowFarneback(prev_grey, cur_grey, None, 0.5, 3, 15, 3, 5, 1.2, 0)


class TOF:
    """Streaming tOF of one video: :meth:`update` with uint8 RGB (H, W, 3) frames."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self._prev: tuple[np.ndarray, np.ndarray] | None = None

    def update(self, out: np.ndarray, gt: np.ndarray) -> float | None:
        cur = (cv2.cvtColor(out, cv2.COLOR_RGB2GRAY), cv2.cvtColor(gt, cv2.COLOR_RGB2GRAY))
        prev, self._prev = self._prev, cur
        if prev is None:
            return None
        diff = crop_8x8(farneback(prev[1], cur[1])) - crop_8x8(farneback(prev[0], cur[0]))
        return float(np.sqrt(np.sum(diff * diff, axis=-1)).mean())


class TLPIPS:
    """Streaming tLPIPS (tLP x100) of one video; ``lpips`` is a :class:`vsrzoo.metrics.lpips.LPIPS`."""

    def __init__(self, lpips):
        self.lpips = lpips
        self.reset()

    def reset(self) -> None:
        self._prev: tuple[np.ndarray, np.ndarray] | None = None

    def update(self, out: np.ndarray, gt: np.ndarray) -> float | None:
        cur = (crop_8x8(out), crop_8x8(gt))
        prev, self._prev = self._prev, cur
        if prev is None:
            return None
        d_gt = float(self.lpips(prev[1], cur[1])[0])
        d_out = float(self.lpips(prev[0], cur[0])[0])
        return abs(d_gt - d_out) * TLP_SCALE
