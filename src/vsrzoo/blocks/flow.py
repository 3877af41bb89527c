"""Optical flow for recurrent VSR: OpenCV's DIS estimator, a flow between small frames, an LR flow upsampled.

Used by InstaVSR (arXiv 2603.26134), whose recurrent state is the previous SR frame warped by a
flow between LR frames (reconstruction, DESIGN.md section 2), and by the temporal metrics
(:mod:`vsrzoo.metrics.flow`, which adds RAFT and picks a backend by name): the estimator both
use lives here, below the methods and the metrics.

- :class:`DISFlow`: Kroeger et al., "Fast Optical Flow using Dense Inverse Search", ECCV 2016
  (arXiv 1603.03590), ``cv2.DISOpticalFlow`` on BT.601 grey frames. Reconstruction: the MEDIUM
  preset refined down to the finest pyramid level (``finest_scale=0``); on real images shifted
  by a known sub-pixel amount its median error is below 0.05 px (tested). It maps two batches
  ``(B, 3, H, W)`` (float in [0, 1] or uint8) to the flow from the first to the second,
  ``(B, 2, H, W)`` float32 in pixels, x then y (the convention of :mod:`vsrzoo.blocks.warp`):
  pixel ``p`` of ``a`` moves to ``p + flow(p)`` in ``b``.
- :func:`estimate_flow`: any such estimator on frames too small for it; :func:`upsample_flow`.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from vsrzoo.errors import unknown

FlowEstimator = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


def as_float(x: torch.Tensor) -> torch.Tensor:
    """Frames as float in [0, 1] (uint8 divided by 255)."""
    return x.float() / 255.0 if x.dtype == torch.uint8 else x.float()


def _grey_uint8(x: torch.Tensor) -> np.ndarray:
    """(B, 3, H, W) -> (B, H, W) uint8 grey, OpenCV's RGB2GRAY weights."""
    rgb = (as_float(x).clamp(0, 1) * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return np.stack([cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in rgb])


class DISFlow:
    """Dense Inverse Search flow (OpenCV); CPU, deterministic, no weights."""

    name = "dis"

    def __init__(self, preset: str = "medium", finest_scale: int = 0):
        if preset not in DIS_PRESETS:
            raise unknown("DIS preset", preset, DIS_PRESETS)
        self.preset, self.finest_scale = preset, finest_scale
        self._dis = cv2.DISOpticalFlow_create(DIS_PRESETS[preset])
        self._dis.setFinestScale(finest_scale)

    def describe(self) -> str:
        return f"dis (OpenCV {cv2.__version__}, preset {self.preset}, finest scale {self.finest_scale})"

    def __call__(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        ga, gb = _grey_uint8(a), _grey_uint8(b)
        flows = [self._dis.calc(x, y, None) for x, y in zip(ga, gb)]
        return torch.from_numpy(np.stack(flows)).permute(0, 3, 1, 2).contiguous().to(a.device)


def estimate_flow(
    estimator: FlowEstimator, src: torch.Tensor, dst: torch.Tensor, min_size: int = 16
) -> torch.Tensor:
    """Flow (N, 2, h, w) from ``src`` to ``dst`` (N, 3, h, w), no gradient.

    DIS needs frames of at least 12 pixels; smaller ones are edge-padded and the flow cropped back.
    """
    h, w = src.shape[-2:]
    pad = (0, max(0, min_size - w), 0, max(0, min_size - h))
    if any(pad):
        src, dst = (F.pad(x.detach().float(), pad, mode="replicate") for x in (src, dst))
    flow = estimator(src.detach(), dst.detach())
    return flow[..., :h, :w].to(src.device)


def upsample_flow(flow: torch.Tensor, scale: int) -> torch.Tensor:
    """An LR flow (N, 2, h, w) in LR pixels -> the HR flow (N, 2, s*h, s*w) in HR pixels."""
    if scale == 1:
        return flow
    return F.interpolate(flow, scale_factor=scale, mode="bilinear", align_corners=False) * scale


__all__ = ["DIS_PRESETS", "DISFlow", "FlowEstimator", "as_float", "estimate_flow", "upsample_flow"]
