"""Procedural training clips: unlimited camera moves over the photographs installed packages ship.

Why: the tiny models cannot train on Vid4 (the test set) or on the ``sample`` clips (the
built-in evaluation set), and 3-4 clips of 12 frames is far too little data. Every item here is
a fresh clip: a random photograph (scikit-image's and matplotlib's bundled photos, plus those
of any other installed package listed in :data:`PHOTO_SOURCES`), filmed by a virtual camera
with a random sub-pixel pan, zoom, rotation and brightness drift (Lanczos resampling, as
:mod:`vsrzoo.data.sample` renders its clips), then degraded (MATLAB bicubic by default, or any
registered degradation such as ``realbasicvsr``).

Disjoint by construction from the evaluation data: the photographs behind the ``sample`` clips
(and ``motorcycle_right``, the other view of the ``motorcycle`` scene) are excluded, and Vid4 is
not shipped by any package. Every random choice comes from ``(seed, split, epoch, index)``,
so a clip is the same bytes in any worker, on any machine.

reconstruction: the motion ranges (pan up to 3 GT pixels per frame, zoom within +-0.6% per
frame, rotation within +-0.3 degrees per frame, brightness drift within +-1.5% per frame) are
ours, chosen to match the sub-pixel camera motion of the ``sample`` clips and of Vid4.
``still_fraction`` (reconstruction, default 0) films that share of the clips with a still camera
(only the brightness drift remains): a recurrent model whose state is never seen unmoved learns a
feedback gain that diverges on static shots, where warping does not blur its state.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from vsrzoo.data.degradations import clip_seed, get_degradation
from vsrzoo.data.sample import CLIPS as SAMPLE_CLIPS
from vsrzoo.errors import UserError

# (importable module, folder relative to the module's directory, file patterns)
PHOTO_SOURCES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("skimage.data", ".", ("*.png", "*.jpg")),
    ("matplotlib", "mpl-data/sample_data", ("*.jpg", "*.png")),
    ("pyiqa", "../ResultsCalibra/ref_dir", ("*.bmp",)),
)
# Not photographs (synthetic charts, binary masks, logos, text) or evaluation scenes.
EXCLUDED = {
    *(clip.image for clip in SAMPLE_CLIPS.values()),
    "motorcycle_right.png",
    "chessboard_GRAY.png",
    "chessboard_RGB.png",
    "color.png",
    "horse.png",
    "logo.png",
    "logo2.png",
    "phantom.png",
    "text.png",
    "page.png",
    "Minduka_Present_Blue_Pack.png",
    "microaneurysms.png",
}
MIN_SIDE = 256
PROCEDURAL = "procedural"  # the dataset name recipes use


def find_photos() -> list[Path]:
    """Photographs bundled with installed packages, sorted by name (at least ``MIN_SIDE`` px)."""
    import importlib.util

    found: dict[str, Path] = {}
    for module, sub, patterns in PHOTO_SOURCES:
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.origin:
            continue
        folder = (Path(spec.origin).parent / sub).resolve()
        for pattern in patterns:
            for path in folder.glob(pattern):
                if path.name not in EXCLUDED and _big_enough(path):
                    found.setdefault(f"{module}:{path.name}", path)
    return [found[k] for k in sorted(found)]


def _big_enough(path: Path) -> bool:
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    return img is not None and min(img.shape[:2]) >= MIN_SIDE


@lru_cache(maxsize=64)
def load_photo(path: str) -> np.ndarray:
    """A photograph as uint8 RGB (grey images are replicated to three channels)."""
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise UserError(f"cannot read the bundled photograph {path}; reinstall the package that ships it")
    return np.ascontiguousarray(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))


@dataclass(frozen=True)
class Motion:
    """Ranges of the random camera move (per frame, GT pixels / scale factors / degrees)."""

    max_pan: float = 3.0
    max_zoom_step: float = 0.006
    zoom_range: tuple[float, float] = (0.85, 1.2)
    max_rotate: float = 0.3
    max_brightness_step: float = 0.015
    still_fraction: float = 0.0


def render_move(
    src: np.ndarray, size: int, num_frames: int, rng: np.random.Generator, motion: Motion
) -> np.ndarray:
    """``(T, size, size, 3)`` uint8 GT frames of one random camera move over ``src``."""
    h, w = src.shape[:2]
    zoom = float(rng.uniform(*motion.zoom_range))
    zoom = max(zoom, 1.15 * size / min(h, w))  # the view must fit inside the photo
    zoom_step = float(rng.uniform(-motion.max_zoom_step, motion.max_zoom_step))
    pan = rng.uniform(-motion.max_pan, motion.max_pan, size=2) / zoom  # in source pixels
    rotate = float(rng.uniform(-motion.max_rotate, motion.max_rotate))
    gain0, gain_step = float(rng.uniform(0.85, 1.15)), float(rng.uniform(-1, 1) * motion.max_brightness_step)
    margin = size / zoom
    cx0 = rng.uniform(margin, max(margin + 1, w - margin))
    cy0 = rng.uniform(margin, max(margin + 1, h - margin))
    if motion.still_fraction > 0 and rng.uniform() < motion.still_fraction:  # no draw when off
        zoom_step, pan, rotate = 0.0, np.zeros(2), 0.0
    frames = np.empty((num_frames, size, size, 3), np.uint8)
    for t in range(num_frames):
        cx, cy = cx0 + pan[0] * t, cy0 + pan[1] * t
        mat = cv2.getRotationMatrix2D((cx, cy), rotate * t, zoom * (1 + zoom_step * t))
        mat[:, 2] += (size / 2 - cx, size / 2 - cy)
        frame = cv2.warpAffine(
            src, mat, (size, size), flags=cv2.INTER_LANCZOS4, borderMode=cv2.BORDER_REFLECT
        )
        gain = gain0 + gain_step * t
        frames[t] = np.clip(frame.astype(np.float32) * gain, 0, 255).round().astype(np.uint8)
    return frames


class ProceduralClips(Dataset):
    """``length`` random clips per epoch: ``{"lr", "gt", "clip"}`` like the datamodule's datasets.

    ``crop_size`` counts LR pixels (GT is ``crop_size * scale``). Keys are ``(epoch, index)``
    (from :class:`vsrzoo.data.datamodule.EpochSampler`) or plain indices; ``split`` separates the
    seeds of training and validation clips.
    """

    def __init__(
        self,
        num_frames: int = 5,
        crop_size: int = 64,
        scale: int = 4,
        length: int = 1000,
        degradation: str | None = None,
        degradation_kwargs: dict[str, Any] | None = None,
        seed: int = 0,
        split: str = "train",
        motion: Motion = Motion(),
    ):
        if min(num_frames, crop_size, length) < 1:
            raise UserError("procedural clips need num_frames, crop_size and length >= 1")
        if not 0.0 <= motion.still_fraction <= 1.0:
            raise UserError(
                f"procedural clips: still_fraction must be in [0, 1], got {motion.still_fraction}"
            )
        self.photos = find_photos()
        if not self.photos:
            raise UserError(
                "no bundled photographs found (scikit-image or matplotlib is missing); reinstall vsrzoo"
            )
        self.num_frames, self.crop_size, self.scale, self.length = num_frames, crop_size, scale, length
        self.seed, self.split, self.motion = seed, split, motion
        self.degrade = get_degradation(degradation or "bi", scale=scale, **(degradation_kwargs or {}))

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        rng = np.random.default_rng(clip_seed(self.seed, "procedural", self.split, epoch, index))
        path = self.photos[int(rng.integers(len(self.photos)))]
        gt = render_move(
            load_photo(str(path)), self.crop_size * self.scale, self.num_frames, rng, self.motion
        )
        lr = self.degrade(gt, seed=int(rng.integers(2**62)))
        name = f"{path.stem}-{self.split}{epoch}.{index}"
        return {"lr": as_float(lr), "gt": as_float(gt), "clip": name}


def as_float(frames: np.ndarray) -> torch.Tensor:
    """uint8 (T, H, W, 3) -> float32 (T, 3, H, W) in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float().div_(255.0)


def photo_fingerprint() -> str:
    """A short hash of the photo set (names and sizes), for model cards and run records."""
    h = hashlib.sha256()
    for p in find_photos():
        h.update(f"{p.name}:{os.path.getsize(p)};".encode())
    return h.hexdigest()[:12]
