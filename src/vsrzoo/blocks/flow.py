"""Optical-flow helpers for recurrent VSR: estimate a flow between small frames, upsample an LR flow.

Used by InstaVSR (arXiv 2603.26134), whose recurrent state is the previous SR frame warped by a
flow between LR frames (reconstruction, DESIGN.md section 2). The estimator is passed in (e.g.
:class:`vsrzoo.metrics.flow.DISFlow`, OpenCV's Dense Inverse Search), so this module stays below
the metrics package.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

FlowEstimator = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


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


__all__ = ["estimate_flow", "upsample_flow"]
