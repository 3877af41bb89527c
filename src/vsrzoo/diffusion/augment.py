"""Noise augmentation of the low-resolution conditioning latent (SimpleGVR, arXiv 2506.19838).

SimpleGVR noises the LR latent before it conditions the SR model: strength drawn from
[0.3, 0.6] in training, a fixed level at inference, so the model does not copy artifacts of the
base model's latent. Noise is added along the rectified-flow path, ``z = s * eps + (1 - s) * z_lr``
(reconstruction: the paper does not say how; this matches its flow-matching backbone), and the
level ``s`` is returned so the model can be told how noisy its condition is. The inference level
(0.3, the bottom of the training range) is also our choice.
"""

from __future__ import annotations

import torch
from torch import nn

from vsrzoo.diffusion.flow import flow_interpolate


class LatentNoiseAugment(nn.Module):
    """``forward(z, generator=None) -> (noised z, level (B,))``; training draws levels, eval uses ``eval_level``."""

    def __init__(self, train_range: tuple[float, float] = (0.3, 0.6), eval_level: float = 0.3):
        super().__init__()
        low, high = train_range
        if not 0.0 <= low <= high <= 1.0 or not 0.0 <= eval_level <= 1.0:
            raise ValueError(
                f"noise levels must lie in [0, 1] with low <= high, got {train_range}, {eval_level}"
            )
        self.train_range = (float(low), float(high))
        self.eval_level = float(eval_level)

    def forward(
        self, z: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        b = z.shape[0]
        if self.training:
            low, high = self.train_range
            u = torch.rand(b, generator=generator, device=generator.device if generator else None)
            level = (low + (high - low) * u).to(z.device)
        else:
            level = torch.full((b,), self.eval_level, device=z.device)
        if z.device.type == "meta":  # a dry-run trace: shape only, nothing allocated on the CPU
            noise = torch.empty_like(z)
        else:  # drawn on the generator's device (CPU by default) so results do not depend on the device
            noise = torch.randn(z.shape, generator=generator, device=generator.device if generator else None)
        noise = noise.to(device=z.device, dtype=z.dtype)
        return flow_interpolate(z, noise, level.to(z.dtype)), level


__all__ = ["LatentNoiseAugment"]
