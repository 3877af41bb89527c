"""The degradation contract: uint8 clip in, uint8 clip out, randomness from one seed."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from vsrzoo.errors import UserError


def as_clip(frames: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    """Frames as one uint8 array ``(T, H, W, 3)``; a single ``(H, W, 3)`` frame becomes T = 1."""
    arr = np.asarray(frames) if not isinstance(frames, np.ndarray) else frames
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise ValueError(f"expected uint8 frames (T, H, W, 3), got shape {arr.shape}")
    if arr.dtype != np.uint8:
        raise ValueError(f"expected uint8 frames, got {arr.dtype}")
    return arr


def mod_crop(clip: np.ndarray, scale: int) -> np.ndarray:
    """Crop the bottom/right so height and width are multiples of ``scale`` (BasicSR ``mod_crop``)."""
    h, w = clip.shape[-3:-1]
    return clip[..., : h - h % scale, : w - w % scale, :]


class Degradation(abc.ABC):
    """GT clip -> LR clip. Subclasses set ``name`` and implement :meth:`apply`.

    ``temporal`` is True when frames depend on each other (video compression, optical
    flow), so the whole clip must be degraded in one call; otherwise frames can be streamed.
    ``folder_prefix`` names the LR folder ``vsrzoo data prepare`` writes (``BDx4``, ...);
    None means the degradation does not make LR data (e.g. an upsampler).
    """

    name: ClassVar[str] = ""
    folder_prefix: ClassVar[str | None] = None
    temporal: ClassVar[bool] = False
    upsamples: ClassVar[bool] = False

    def __init__(self, scale: int = 4):
        if int(scale) != scale or scale < 1:
            raise UserError(f"degradation '{self.name}': scale must be a positive integer, got {scale}")
        self.scale = int(scale)

    def __call__(self, frames: np.ndarray | Sequence[np.ndarray], seed: int | None = None) -> np.ndarray:
        clip = as_clip(frames)
        if not self.upsamples:
            h, w = clip.shape[1:3]
            if h < self.scale or w < self.scale:
                raise UserError(
                    f"degradation '{self.name}': frames of {w}x{h} are smaller than the scale {self.scale}"
                )
            clip = mod_crop(clip, self.scale)
        out = self.apply(clip, np.random.default_rng(seed))
        return np.ascontiguousarray(out)

    @abc.abstractmethod
    def apply(self, clip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Degrade a mod-cropped uint8 clip ``(T, H, W, 3)`` using only ``rng`` for randomness."""

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """LR (height, width) for a GT frame of ``height`` x ``width``."""
        if self.upsamples:
            return height * self.scale, width * self.scale
        return height // self.scale, width // self.scale

    @property
    def folder_name(self) -> str:
        """The LR folder name ``prepare`` writes, e.g. ``BDx4``."""
        if self.folder_prefix is None:
            raise UserError(f"degradation '{self.name}' does not make LR data; choose a downscaling one")
        return f"{self.folder_prefix}x{self.scale}"

    def config(self) -> dict:
        """Constructor arguments (what a recipe or ``prepare --option`` sets)."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"
