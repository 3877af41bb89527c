"""Synthetic and real test frames for tests/data (importable as ``data_helpers``)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import skimage.data

from vsrzoo.data.io import write_image


def real_frames(num: int, size: tuple[int, int], step: int = 2, image: str = "astronaut") -> np.ndarray:
    """``num`` frames (H, W) of a real photo panned by ``step`` pixels per frame."""
    h, w = size
    src = getattr(skimage.data, image)()
    src = cv2.resize(src, (w + step * num, h + step * num), interpolation=cv2.INTER_AREA)
    return np.stack(
        [np.ascontiguousarray(src[t * step : t * step + h, t * step : t * step + w]) for t in range(num)]
    )


def block_frames(num: int, size: tuple[int, int], scale: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random GT frames constant on scale x scale blocks, and their LR (one pixel per block).

    LR equals the block mean of GT exactly, also after any flip or transposition, so a
    misaligned crop is detected to the pixel.
    """
    rng = np.random.default_rng(seed)
    lr = rng.integers(0, 256, (num, size[0] // scale, size[1] // scale, 3), dtype=np.uint8)
    gt = lr.repeat(scale, axis=1).repeat(scale, axis=2)
    return gt, lr


def write_clip(folder: Path, frames: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        write_image(folder / f"{i:08d}.png", frame)
