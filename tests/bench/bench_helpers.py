"""Tiny on-disk datasets for the bench tests: real photo content (scikit-image), BasicSR layout."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import skimage.data
import torch

from vsrzoo.data.io import write_image
from vsrzoo.data.resize import imresize_uint8

CLIPS = {"alpha": ("astronaut", 7), "beta": ("coffee", 6), "gamma": ("chelsea", 5)}
SIZE = 64


def pan(image: str, n: int, size: int = SIZE) -> list[np.ndarray]:
    """``n`` GT frames: a real photo panned by a sub-pixel step per frame."""
    src = getattr(skimage.data, image)()
    src = cv2.resize(src, (size * 3, size * 3), interpolation=cv2.INTER_AREA)
    frames = []
    for t in range(n):
        mat = np.float32([[1, 0, -size + 1.3 * t], [0, 1, -size + 0.7 * t]])
        frames.append(cv2.warpAffine(src, mat, (size, size), flags=cv2.INTER_CUBIC))
    return frames


def bi(gt: np.ndarray) -> np.ndarray:
    return imresize_uint8(torch.from_numpy(gt).permute(2, 0, 1), scale=0.25).permute(1, 2, 0).numpy()


def write_set(root: Path, clips: dict[str, list[np.ndarray]], folder: str = "sample") -> Path:
    """GT and BIx4 frames under ``root/<folder>``; returns ``root`` (what get_dataset takes)."""
    for name, frames in clips.items():
        for sub in ("GT", "BIx4"):
            (root / folder / sub / name).mkdir(parents=True, exist_ok=True)
        for i, gt in enumerate(frames):
            write_image(root / folder / "GT" / name / f"{i:08d}.png", gt)
            write_image(root / folder / "BIx4" / name / f"{i:08d}.png", bi(gt))
    return root


def default_clips() -> dict[str, list[np.ndarray]]:
    return {name: pan(image, n) for name, (image, n) in CLIPS.items()}


def write_alexnet_checkpoint(torch_home: Path) -> Path:
    """A torchvision-format AlexNet feature checkpoint (random weights, seed 0) where LPIPS
    looks for it, so the LPIPS code path runs without the real ImageNet file."""
    import warnings

    import lpips

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = lpips.LPIPS(net="alex", pnet_rand=True, verbose=False)
    state = {}
    for i in range(1, 6):
        for name, module in getattr(model.net, f"slice{i}").named_children():
            state.update({f"features.{name}.{k}": v for k, v in module.state_dict().items()})
    path = torch_home / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path


def iqa_writers():
    """The metric tests' writers of test-built IQA weights (tests/metrics/iqa_weights.py)."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "metrics"))
    from iqa_weights import WRITERS

    return WRITERS


def write_lq_folder(root: Path) -> Path:
    """An LQ-only folder (no GT): a clip of frames and a sub-folder with an mp4 clip."""
    from vsrzoo.data.io import FrameWriter

    (root / "frames_clip").mkdir(parents=True)
    for i, frame in enumerate(pan("astronaut", 5, 24)):
        write_image(root / "frames_clip" / f"{i:08d}.png", frame)
    (root / "videos").mkdir(parents=True)
    with FrameWriter(root / "videos" / "pan.mp4", fps=25) as writer:
        for frame in pan("coffee", 6, 32):
            writer.write(frame)
    return root
