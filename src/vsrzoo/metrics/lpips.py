"""LPIPS (Zhang et al., "The Unreasonable Effectiveness of Deep Features as a Perceptual Metric",
CVPR 2018, arXiv 1801.03924) as a metric: one distance per frame, AlexNet v0.1 by default.

The network and its weight files (never downloaded) are :mod:`vsrzoo.blocks.lpips`, shared with
InstaVSR's perceptual loss; this module keeps the metric's API (``LPIPS``, ``backbone_path``,
``check_backbone``, ``BACKBONE_FILES``) and the frame conversion the other metrics use.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from vsrzoo.blocks.lpips import BACKBONE_FILES, backbone_path, check_backbone, lpips_network

__all__ = ["BACKBONE_FILES", "LPIPS", "backbone_path", "check_backbone", "unit_frames"]


class LPIPS(nn.Module):
    """LPIPS distance of frame batches; inputs (N, 3, H, W) float in [0, 1] or uint8, or
    numpy uint8 frames (N, H, W, 3). Returns one distance per frame, shape (N,)."""

    def __init__(self, net: str = "alex", version: str = "0.1"):
        super().__init__()
        self.model = lpips_network(net, version)
        self.net_name, self.version = net, version
        self.eval().requires_grad_(False)

    @torch.no_grad()
    def forward(self, x: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray) -> torch.Tensor:
        device = next(self.parameters()).device
        return self.model(unit_frames(x, device), unit_frames(y, device), normalize=True).flatten()


def unit_frames(x: torch.Tensor | np.ndarray, device) -> torch.Tensor:
    """Frames to float (N, 3, H, W) in [0, 1] on ``device``."""
    if isinstance(x, np.ndarray):
        t = torch.from_numpy(np.ascontiguousarray(x))
        t = (t.unsqueeze(0) if t.dim() == 3 else t).permute(0, 3, 1, 2)
    else:
        t = x.unsqueeze(0) if x.dim() == 3 else x
    t = t.to(device)
    return t.float() / 255.0 if t.dtype == torch.uint8 else t.float()
