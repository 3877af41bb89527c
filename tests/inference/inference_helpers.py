"""Small real VSRMethods and real-photo clips for the inference tests (no weights, no mocks)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from skimage import data as skdata

from vsrzoo.data.resize import imresize
from vsrzoo.methods.base import VSRMethod


class PerPixel(VSRMethod):
    """A fixed colour mix of each LR pixel, repeated s x s: its output at a pixel sees only that pixel."""

    method_name = "perpixel"
    supported_scales = (2, 3, 4)

    def __init__(self, scale: int = 4):
        super().__init__(scale=scale)
        mix = torch.tensor([[0.6931, 0.2189, 0.0880], [0.1093, 0.7853, 0.1054], [0.1618, 0.1414, 0.6968]])
        self.register_buffer("mix", mix)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        y = torch.einsum("oc,btchw->btohw", self.mix, lr)
        return y.repeat_interleave(self.scale, -2).repeat_interleave(self.scale, -1)


class BicubicBlur(VSRMethod):
    """MATLAB bicubic x4 followed by a fixed 5x5 Gaussian: a receptive field of a few LR pixels."""

    method_name = "bicubic_blur"

    def __init__(self, scale: int = 4):
        super().__init__(scale=scale)
        g = torch.exp(-((torch.arange(5.0) - 2) ** 2) / 2)
        kernel = (g[:, None] * g[None]) / (g.sum() ** 2)
        self.register_buffer("kernel", kernel.expand(3, 1, 5, 5).clone())

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        b, t = lr.shape[:2]
        up = imresize(lr, scale=self.scale).flatten(0, 1).to(self.kernel.dtype)
        out = F.conv2d(up, self.kernel.to(up.dtype), padding=2, groups=3)
        return out.unflatten(0, (b, t))


class SegmentMean(PerPixel):
    """Each output mixes its frame with the mean of its segment, so it depends on the segmentation.

    Counts reset_state calls and forward calls, and can refuse sizes that are not multiples of
    ``size_multiple`` (to check the engine pads) or interrupt itself after ``stop_after`` calls.
    """

    method_name = "segment_mean"
    segment_length = 4

    def __init__(self, scale: int = 4, size_multiple: int = 1, stop_after: int | None = None):
        super().__init__(scale=scale)
        self.size_multiple, self.stop_after = size_multiple, stop_after
        self.resets = self.calls = 0

    def reset_state(self) -> None:
        self.resets += 1

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        h, w = lr.shape[-2:]
        if h % self.size_multiple or w % self.size_multiple:
            raise ValueError(f"input {h}x{w} is not a multiple of {self.size_multiple}")
        self.calls += 1
        if self.stop_after is not None and self.calls > self.stop_after:
            raise KeyboardInterrupt
        return super().forward(0.5 * lr + 0.5 * lr.mean(dim=1, keepdim=True))


def pan_frames(n: int = 8, height: int = 32, width: int = 48, step: int = 3) -> list[np.ndarray]:
    """``n`` frames of a camera panning across a real photograph (scikit-image's astronaut)."""
    image = skdata.astronaut()[::4, ::4]  # 128x128, keeps texture at small sizes
    return [
        np.ascontiguousarray(image[10 : 10 + height, 5 + step * i : 5 + step * i + width]) for i in range(n)
    ]
