"""Vid4 frames and BasicSR-style Y-PSNR for the tests of shipped weights."""

from __future__ import annotations

import numpy as np
import torch

from vsrzoo.data.io import list_frames, read_image


def load_vid4(root, folder: str, clip: str, frames: int) -> torch.Tensor:
    """The first ``frames`` frames of ``Vid4/<folder>/<clip>`` as (1, T, 3, H, W) in [0, 1]."""
    images = [read_image(p) for p in list_frames(root / "Vid4" / folder / clip)[:frames]]
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float().div(255)[None]


def y_psnr(x: torch.Tensor, gt: torch.Tensor) -> float:
    """Y-channel PSNR of ``x`` (rounded to uint8 first) against ``gt``, crop 0."""
    w = torch.tensor([65.481, 128.553, 24.966]).view(1, 1, 3, 1, 1)
    mse = (((x.clamp(0, 1) * 255).round() / 255 * w).sum(2) - (gt * w).sum(2)).pow(2).mean()
    return float(10 * torch.log10(255.0**2 / mse))
