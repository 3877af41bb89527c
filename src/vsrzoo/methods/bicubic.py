"""Bicubic baseline: MATLAB-compatible bicubic upsampling of each frame.

This is the floor every VSR method must beat and the row every VSR table starts with
(e.g. BasicVSR, Chan et al., CVPR 2021, Table 1: Vid4 BI 23.78 dB / 0.6347, Y channel).
"""

from __future__ import annotations

import torch

from vsrzoo.data.resize import imresize
from vsrzoo.methods.base import VSRMethod
from vsrzoo.registry import register_method


@register_method(
    "bicubic",
    variants={"tiny": {}, "small": {}, "full": {}},
    paper="MATLAB imresize bicubic (Keys 1981, a = -0.5)",
    summary="Per-frame MATLAB-compatible bicubic upsampling; the baseline of every VSR table.",
)
class Bicubic(VSRMethod):
    """Per-frame bicubic upsampling; has no parameters and needs no training."""

    supported_scales = (2, 3, 4, 8)

    def __init__(self, scale: int = 4):
        super().__init__(scale=scale)
        self.save_hyperparameters()

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        return imresize(lr, scale=self.scale).clamp(0, 1)
