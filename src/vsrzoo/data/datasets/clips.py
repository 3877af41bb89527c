"""A dataset as the benchmark and the data module read it: a :class:`VideoSet` of :class:`Clip`
objects whose frames are read lazily (GT, LR frames or a video file, or LR made from GT on the
fly by a degradation, deterministically per clip)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vsrzoo.data.degradations import Degradation, clip_seed, mod_crop
from vsrzoo.data.io import VideoFile, read_image
from vsrzoo.errors import MissingDataError

__all__ = ["Clip", "VideoSet"]


@dataclass
class Clip:
    """One video of a dataset: GT frame paths and LR frame paths (or a degradation), in order.

    ``scale`` > 1 crops GT frames to a multiple of it when read; without LR paths, LR frames
    are ``degradation(GT)`` with a seed derived from ``seed`` and the clip name.
    """

    name: str
    gt: list[Path]
    lr: list[Path] | None = None
    scale: int = 1
    degradation: Degradation | None = None
    seed: int = 0
    video: Path | None = None  # LR frames from a video file (LQ-only sets)
    video_frames: int | None = None

    def __len__(self) -> int:
        if self.gt:
            return len(self.gt)
        return self.video_frames if self.video is not None else len(self.lr or [])

    @property
    def has_gt(self) -> bool:
        return bool(self.gt)

    @property
    def inputs(self) -> list[Path]:
        """The files this clip is read from (GT, LR frames or the video)."""
        return [*self.gt, *(self.lr or []), *([self.video] if self.video is not None else [])]

    def read_gt(self) -> Iterator[np.ndarray]:
        return (mod_crop(read_image(p), self.scale) for p in self.gt)

    def read_lr(self) -> Iterator[np.ndarray]:
        if self.video is not None:
            return iter(VideoFile(self.video))
        if self.lr is not None:
            return (read_image(p) for p in self.lr)
        if self.degradation is None:
            raise MissingDataError(f"clip {self.name} has no LR frames and no degradation to make them")
        return self._degraded()

    def _degraded(self) -> Iterator[np.ndarray]:
        deg, seed = self.degradation, clip_seed(self.seed, self.name)
        if deg.temporal:  # frames depend on each other: degrade the whole clip at once
            yield from deg(np.stack([read_image(p) for p in self.gt]), seed=seed)
            return
        for i, path in enumerate(self.gt):
            yield deg(read_image(path), seed=clip_seed(seed, i))[0]

    def degrade(self, gt: np.ndarray, seed: int) -> np.ndarray:
        """LR for a stack of GT frames ``(T, H, W, 3)`` with this clip's degradation."""
        if self.degradation is None:
            raise MissingDataError(f"clip {self.name} has no degradation")
        return self.degradation(gt, seed=seed)


@dataclass
class VideoSet:
    """A named set of clips with the protocol facts the benchmark needs."""

    name: str
    root: Path
    clips: list[Clip]
    scale: int = 4
    lr_dir: str | None = None
    y_channel: bool = True  # community convention for PSNR/SSIM on this set
    extra: dict = field(default_factory=dict)
    gt_root: Path | None = None
    lr_root: Path | None = None
    degradation: Degradation | None = None
    problems: list[str] = field(default_factory=list)
    clip_problems: dict[str, list[str]] = field(default_factory=dict)
    expected_frames: dict[str, int] = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return sum(len(c) for c in self.clips)

    @property
    def has_gt(self) -> bool:
        return all(c.has_gt for c in self.clips)

    @property
    def lr_source(self) -> str:
        """Where LR frames come from, for tables and logs."""
        if self.degradation is not None:
            return f"{self.degradation.name} x{self.scale} (on the fly)"
        return str(self.lr_root) if self.lr_root else "-"
