"""Training crops of real video sets: random aligned crops of consecutive frames, seeded per key.

One item per (clip, start frame). Below both the training DataModule
(:mod:`vsrzoo.data.datamodule`) and the precomputed pairs (:mod:`vsrzoo.data.pairs`), which
re-read the GT crops their LR was made from.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from torch.utils.data import Dataset

from vsrzoo.data.datasets import VideoSet, check_pair, fmt_size, image_size
from vsrzoo.data.degradations import clip_seed
from vsrzoo.data.io import read_image
from vsrzoo.data.procedural import as_float
from vsrzoo.errors import UserError

__all__ = ["TrainClips", "augment"]


def augment(clips: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """The same random flips, transposition and temporal reversal on every (T, H, W, 3) array."""
    hflip, vflip, transpose, reverse = rng.random(4) < 0.5
    out = []
    for x in clips:
        if hflip:
            x = x[:, :, ::-1]
        if vflip:
            x = x[:, ::-1]
        if transpose:
            x = x.transpose(0, 2, 1, 3)
        if reverse:
            x = x[::-1]
        out.append(np.ascontiguousarray(x))
    return out


class TrainClips(Dataset):
    """Random aligned crops of ``num_frames`` consecutive frames; one item per (clip, start frame).

    Keys are ``(epoch, index)`` pairs (from :class:`EpochSampler`) or plain indices (epoch 0).
    """

    def __init__(
        self, videos: VideoSet, num_frames: int, crop_size: int, augment: bool = True, seed: int = 0
    ):
        self.videos, self.num_frames, self.crop_size = videos, num_frames, crop_size
        self.scale, self.augment, self.seed = videos.scale, augment, seed
        self.sizes = {c.name: image_size(c.gt[0]) for c in videos.clips}  # GT (H, W) per clip
        self._check()
        self.items = [(ci, t) for ci, c in enumerate(videos.clips) for t in range(len(c) - num_frames + 1)]

    def _check(self) -> None:
        gt_crop = self.crop_size * self.scale
        for clip in self.videos.clips:
            if len(clip) < self.num_frames:
                raise UserError(
                    f"{self.videos.name}: clip {clip.name} has {len(clip)} frames, fewer than "
                    f"data.num_frames={self.num_frames}; lower num_frames or drop the clip with data.train_clips"
                )
            h, w = self.sizes[clip.name]
            if gt_crop > h - h % self.scale or gt_crop > w - w % self.scale:
                raise UserError(
                    f"{self.videos.name}: crop {self.crop_size} LR = {gt_crop} GT pixels is larger than clip "
                    f"{clip.name} ({fmt_size((h, w))} GT); lower data.crop_size"
                )

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        gt, lr, name = self.raw(key)
        return {"lr": as_float(lr), "gt": as_float(gt), "clip": name}

    def raw(
        self, key: int | tuple[int, int], degrade: bool = True
    ) -> tuple[np.ndarray, np.ndarray | None, str]:
        """uint8 (GT, LR, clip name) of ``key``; ``degrade=False`` skips an on-the-fly degradation
        (LR None) and returns the GT crop it would have degraded (precomputed pairs re-read GT so)."""
        epoch, index = key if isinstance(key, tuple) else (0, key)
        rng = np.random.default_rng(clip_seed(self.seed, "train", epoch, index))
        ci, start = self.items[index]
        clip = self.videos.clips[ci]
        s, lr_crop = self.scale, self.crop_size
        h, w = self.sizes[clip.name]
        y = int(rng.integers(0, (h // s) - lr_crop + 1))
        x = int(rng.integers(0, (w // s) - lr_crop + 1))
        frames = range(start, start + self.num_frames)
        gt = np.stack(
            [
                self._read(clip.gt[t], clip.name)[y * s : (y + lr_crop) * s, x * s : (x + lr_crop) * s]
                for t in frames
            ]
        )
        if clip.lr is None:  # degrade the (augmented) GT crop, as RealBasicVSR does
            gt = augment([gt], rng)[0] if self.augment else gt
            lr = clip.degrade(gt, seed=int(rng.integers(2**62))) if degrade else None
        else:
            lr = np.stack([self._read_lr(clip, t, (h, w))[y : y + lr_crop, x : x + lr_crop] for t in frames])
            if self.augment:
                lr, gt = augment([lr, gt], rng)
        return gt, lr, clip.name

    def _read(self, path, clip: str) -> np.ndarray:
        frame = read_image(path)
        if frame.shape[:2] != self.sizes[clip]:
            raise UserError(
                f"clip {clip} frame {path.name}: GT {fmt_size(frame.shape[:2])} differs from "
                f"the clip's first frame {fmt_size(self.sizes[clip])}"
            )
        return frame

    def _read_lr(self, clip, t: int, gt_size: tuple[int, int]) -> np.ndarray:
        frame = read_image(clip.lr[t])
        problem = check_pair(clip.name, clip.lr[t].name, gt_size, frame.shape[:2], self.scale)
        if problem:
            raise UserError(f"{self.videos.name}: {problem}")
        return frame
