"""Procedural training clips: unlimited camera moves over the photographs installed packages ship.

Why: the tiny models cannot train on Vid4 (the test set) or on the ``sample`` clips (the
built-in evaluation set), and 3-4 clips of 12 frames is far too little data. Every item here is
a fresh clip: a random photograph of the fixed set :data:`PHOTOS` (photos that scikit-image,
matplotlib and pyiqa ship, each checked by its SHA-256), filmed by a virtual camera
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
from vsrzoo.errors import UserError


@dataclass(frozen=True)
class Photo:
    """A photograph of the training set: the package that ships it, where, and its SHA-256."""

    module: str  # importable module whose folder holds it
    folder: str  # relative to that module's directory
    name: str
    sha256: str

    @property
    def extra(self) -> str:
        """What to install when the photo's package is missing."""
        return 'pip install "vsrzoo[iqa]"' if self.module == "pyiqa" else "reinstall vsrzoo"


# The fixed photo set, in the order clips draw from (sorted by "module:name"), as the shipped tiny
# models were trained on it. It does not depend on which packages happen to be installed: a
# missing photo or one with other bytes is an error (:func:`find_photos`), never a different set.
# Photographs only: the sample clips' scenes, motorcycle_right (the other view of the motorcycle
# scene), synthetic charts, masks, logos, text and images under MIN_SIDE px are not in it.
PHOTOS: tuple[Photo, ...] = (
    Photo(
        "matplotlib",
        "mpl-data/sample_data",
        "grace_hopper.jpg",
        "a8ca6d734765703b09728ab47fe59f473d93ae3967fc24c7c0288c3c7adb7130",
    ),
    Photo(
        "pyiqa",
        "../ResultsCalibra/ref_dir",
        "I03.bmp",
        "28441215ca5b6358e6267717250a02eeec4fa5ef73ae454870b8426320f980a8",
    ),
    Photo(
        "pyiqa",
        "../ResultsCalibra/ref_dir",
        "I04.bmp",
        "c8500941a30397bc9e613a297e1286bdb955f49926148f58e7963d6e82b03c9f",
    ),
    Photo(
        "pyiqa",
        "../ResultsCalibra/ref_dir",
        "I06.bmp",
        "445c2c0fcb47898e9cd8e6de640f2545621d27cbb248c69ef2c84d8204723061",
    ),
    Photo(
        "pyiqa",
        "../ResultsCalibra/ref_dir",
        "I08.bmp",
        "b5d6738ece811f45f43c5bce425ad5d18d5c78466989001fe1129fcdd08efdab",
    ),
    Photo(
        "pyiqa",
        "../ResultsCalibra/ref_dir",
        "I19.bmp",
        "b8a2ede827d8db21c45f9ca1fb1c043bcec571b5a7243b4ea1aab3fb4feb7e0b",
    ),
    Photo(
        "skimage.data", ".", "brick.png", "7966caf324f6ba843118d98f7a07746d22f6a343430add0233eca5f6eaaa8fcf"
    ),
    Photo(
        "skimage.data", ".", "camera.png", "b0793d2adda0fa6ae899c03989482bff9a42d3d5690fc7e3648f2795d730c23a"
    ),
    Photo(
        "skimage.data", ".", "cell.png", "8d23a7fb81f7cc877cd09f330357fc7f595651306e84e17252f6e0a1b3f61515"
    ),
    Photo(
        "skimage.data", ".", "chelsea.png", "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb"
    ),
    Photo(
        "skimage.data",
        ".",
        "clock_motion.png",
        "f029226b28b642e80113d86622e9b215ee067a0966feaf5e60604a1e05733955",
    ),
    Photo(
        "skimage.data", ".", "coins.png", "f8d773fc9cfa6f4d8e5942dc34d0a0788fcaed2a4fefbbed0aef5398d7ef4cba"
    ),
    Photo(
        "skimage.data", ".", "grass.png", "b6b6022426b38936c43a4ac09635cd78af074e90f42ffa8227ac8b7452d39f89"
    ),
    Photo(
        "skimage.data", ".", "gravel.png", "c48615b451bf1e606fbd72c0aa9f8cc0f068ab7111ef7d93bb9b0f2586440c12"
    ),
    Photo(
        "skimage.data",
        ".",
        "hubble_deep_field.jpg",
        "3a19c5dd8a927a9334bb1229a6d63711b1c0c767fb27e2286e7c84a3e2c2f5f4",
    ),
    Photo("skimage.data", ".", "ihc.png", "f8dd1aa387ddd1f49d8ad13b50921b237df8e9b262606d258770687b0ef93cef"),
    Photo(
        "skimage.data", ".", "moon.png", "78739619d11f7eb9c165bb5d2efd4772cee557812ec847532dbb1d92ef71f577"
    ),
    Photo(
        "skimage.data", ".", "retina.jpg", "38a07f36f27f095e818aea7b96d34202c05176d30253c66733f2e00379e9e0e6"
    ),
)
MIN_SIDE = 256
PROCEDURAL = "procedural"  # the dataset name recipes use


def find_photos() -> list[Path]:
    """The paths of :data:`PHOTOS`, each checked against its hash."""
    return list(check_photos(PHOTOS))


@lru_cache(maxsize=4)
def check_photos(photos: tuple[Photo, ...]) -> tuple[Path, ...]:
    """The paths of ``photos``; a one-line UserError names the first one that is missing or has
    other bytes, and what to install."""
    import importlib.util

    paths = []
    for photo in photos:
        spec = importlib.util.find_spec(photo.module)
        path = (
            (Path(spec.origin).parent / photo.folder / photo.name).resolve() if spec and spec.origin else None
        )
        if path is None or not path.is_file():
            raise UserError(
                f"procedural training clips need the photograph {photo.name} shipped by the package "
                f"'{photo.module}', which is not installed; {photo.extra}"
            )
        if hashlib.sha256(path.read_bytes()).hexdigest() != photo.sha256:
            raise UserError(
                f"procedural training clips: {path} is not the photograph the training set was "
                f"built from (SHA-256 differs; another version of '{photo.module}'?)"
            )
        paths.append(path)
    return tuple(paths)


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
