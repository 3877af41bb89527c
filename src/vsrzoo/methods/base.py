"""The contract every vsrzoo method follows (a LightningModule).

A method maps an LR segment ``(B, T, 3, h, w)`` in [0, 1] to its SR segment
``(B, T, 3, s*h, s*w)``; :meth:`VSRMethod.upscale` streams any number of frames through it,
``segment_length`` frames at a time, so memory does not grow with video length.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import lightning as L
import numpy as np
import torch

from vsrzoo.errors import UserError


def frames_to_tensor(frames: list[np.ndarray], device=None, dtype=torch.float32) -> torch.Tensor:
    """uint8 RGB frames (H, W, 3) -> float (1, T, 3, H, W) in [0, 1]."""
    arr = torch.from_numpy(np.stack(frames)).to(device)
    return arr.permute(0, 3, 1, 2).unsqueeze(0).to(dtype) / 255.0


def tensor_to_frames(x: torch.Tensor) -> list[np.ndarray]:
    """float (1, T, 3, H, W) in [0, 1] -> uint8 RGB frames, rounded like BasicSR's tensor2img."""
    x = (x[0].float().clamp(0, 1) * 255.0).round().to(torch.uint8)
    return [f.permute(1, 2, 0).cpu().numpy() for f in x]


class VSRMethod(L.LightningModule):
    """Base class: streaming inference over time; subclasses implement :meth:`forward`."""

    method_name = "base"
    segment_length: int = 1
    supported_scales: tuple[int, ...] = (4,)

    def __init__(self, scale: int = 4):
        super().__init__()
        if scale not in self.supported_scales:
            raise UserError(
                f"{self.method_name} does not support scale {scale}; supported: "
                + ", ".join(map(str, self.supported_scales))
            )
        self.scale = scale

    def reset_state(self) -> None:
        """Forget any state carried between segments (called at the start of each video)."""

    @torch.no_grad()
    def upscale(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Upscale a stream of uint8 RGB frames, yielding SR frames as soon as they are final."""
        self.reset_state()
        device = next(iter(self.parameters()), torch.empty(0)).device
        buf: list[np.ndarray] = []
        for frame in frames:
            buf.append(frame)
            if len(buf) == self.segment_length:
                yield from tensor_to_frames(self(frames_to_tensor(buf, device)))
                buf = []
        if buf:
            yield from tensor_to_frames(self(frames_to_tensor(buf, device)))
