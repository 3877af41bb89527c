"""The built-in sample dataset: short real-photo clips with smooth camera motion, offline.

Each clip is a real photograph bundled with scikit-image, filmed by a virtual camera that
pans, zooms and rotates by sub-pixel steps (Lanczos resampling), so consecutive frames carry
the aliasing-free sub-pixel shifts that multi-frame VSR exploits. LR frames are the MATLAB
bicubic x4 (BI) degradation of the GT frames. Clips are generated once and cached in the
user cache directory (override with ``VSRZOO_CACHE``), in the BasicSR layout
``sample/GT/<clip>/%08d.png`` and ``sample/BIx4/<clip>/%08d.png``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from vsrzoo.data.io import write_image
from vsrzoo.data.resize import imresize_uint8

VERSION = "v1"
SIZE = 256
NUM_FRAMES = 12
SCALE = 4


@dataclass(frozen=True)
class CameraPath:
    """A smooth camera move over a source image: per-frame pan (px), zoom and rotation (deg)."""

    image: str
    start: tuple[float, float]  # camera centre in the source at frame 0, as a fraction of (W, H)
    pan: tuple[float, float]  # source pixels per frame
    zoom: float  # scale at frame 0; grows by zoom_step per frame
    zoom_step: float
    rotate: float  # degrees per frame


CLIPS = {
    "astronaut": CameraPath("astronaut.png", (0.45, 0.42), (1.7, 0.6), 1.0, 0.004, 0.0),
    "coffee": CameraPath("coffee.png", (0.40, 0.50), (2.3, -0.4), 0.95, 0.0, 0.35),
    "motorcycle": CameraPath("motorcycle_left.png", (0.45, 0.55), (-1.3, 0.9), 0.9, 0.006, 0.0),
    "rocket": CameraPath("rocket.jpg", (0.50, 0.45), (0.3, -1.9), 0.85, -0.003, -0.2),
}


def cache_root() -> Path:
    """Where generated data lives: ``$VSRZOO_CACHE`` or the user cache directory."""
    env = os.environ.get("VSRZOO_CACHE")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("vsrzoo"))


def _source_image(name: str) -> np.ndarray:
    import skimage.data

    img = cv2.imread(os.path.join(skimage.data.data_dir, name), cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f"scikit-image's bundled image {name} is missing; reinstall scikit-image")
    img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    return np.ascontiguousarray(img[..., :3])


def render_clip(path: CameraPath, size: int = SIZE, num_frames: int = NUM_FRAMES) -> list[np.ndarray]:
    """The GT frames (uint8 RGB) of one camera move."""
    src = _source_image(path.image)
    h, w = src.shape[:2]
    frames = []
    for t in range(num_frames):
        cx = path.start[0] * w + path.pan[0] * t
        cy = path.start[1] * h + path.pan[1] * t
        zoom = path.zoom + path.zoom_step * t
        mat = cv2.getRotationMatrix2D((cx, cy), path.rotate * t, zoom)
        mat[:, 2] += (size / 2 - cx, size / 2 - cy)
        frames.append(
            cv2.warpAffine(src, mat, (size, size), flags=cv2.INTER_LANCZOS4, borderMode=cv2.BORDER_REFLECT)
        )
    return frames


def _write_clip(root: Path, name: str, frames: list[np.ndarray]) -> None:
    for sub in ("GT", f"BIx{SCALE}"):
        (root / sub / name).mkdir(parents=True, exist_ok=True)
    for i, gt in enumerate(frames):
        lr = imresize_uint8(torch.from_numpy(gt).permute(2, 0, 1), scale=1 / SCALE).permute(1, 2, 0).numpy()
        write_image(root / "GT" / name / f"{i:08d}.png", gt)
        write_image(root / f"BIx{SCALE}" / name / f"{i:08d}.png", lr)


def sample_root(create: bool = True) -> Path:
    """The root holding ``sample/`` (generated on first use, atomically)."""
    root = cache_root() / "datasets" / VERSION
    target = root / "sample"
    if target.is_dir() or not create:
        return root
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".sample-", dir=root))
    try:
        lines = []
        for name, path in CLIPS.items():
            _write_clip(tmp, name, render_clip(path))
            lines.append(f"{name} {NUM_FRAMES} ({SIZE},{SIZE},3)")
        (tmp / "meta_info_sample_GT.txt").write_text("\n".join(lines) + "\n")
        try:
            os.replace(tmp, target)
        except OSError:  # another process won the race
            shutil.rmtree(tmp, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root
