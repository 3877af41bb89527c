"""Paired video datasets over the BasicSR/MMagic layout.

``<root>/<Set>/GT/<clip>/<frame>.png`` and ``<root>/<Set>/<LR dir>/<clip>/<frame>.png``.
A :class:`VideoSet` is a list of :class:`Clip` objects whose frames are read lazily, so a
benchmark never holds a dataset in memory.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vsrzoo.data.io import list_frames, read_image
from vsrzoo.errors import MissingDataError, unknown


@dataclass
class Clip:
    """One video of a dataset: GT frame paths and (optionally) LR frame paths, in order."""

    name: str
    gt: list[Path]
    lr: list[Path] | None = None

    def __len__(self) -> int:
        return len(self.gt) if self.gt else len(self.lr or [])

    def read_gt(self) -> Iterator[np.ndarray]:
        return (read_image(p) for p in self.gt)

    def read_lr(self) -> Iterator[np.ndarray]:
        if self.lr is None:
            raise MissingDataError(f"clip {self.name} has no LR frames")
        return (read_image(p) for p in self.lr)


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

    @property
    def num_frames(self) -> int:
        return sum(len(c) for c in self.clips)


@dataclass(frozen=True)
class Preset:
    """A registered dataset: its folder name, default LR dir, clips and metric convention."""

    folder: str
    lr_dir: str
    y_channel: bool
    clips: tuple[str, ...] | None = None
    gt_dir: str = "GT"


PRESETS: dict[str, Preset] = {
    "sample": Preset("sample", "BIx4", True),
    "vid4": Preset("Vid4", "BIx4", True),
}


def default_root() -> Path:
    """``$VSRZOO_DATA`` or the user data directory."""
    env = os.environ.get("VSRZOO_DATA")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_data_dir("vsrzoo"))


def _clip_names(gt_root: Path, wanted: tuple[str, ...] | None) -> list[str]:
    if wanted is not None:
        return list(wanted)
    return sorted(p.name for p in gt_root.iterdir() if p.is_dir())


def get_dataset(
    name: str, root: str | Path | None = None, lr_dir: str | None = None, scale: int = 4
) -> VideoSet:
    """Open dataset ``name`` under ``root`` (``sample`` is generated offline on first use)."""
    if name not in PRESETS:
        raise unknown("dataset", name, PRESETS)
    preset = PRESETS[name]
    if name == "sample" and root is None:
        from vsrzoo.data.sample import sample_root

        root = sample_root()
    base = Path(root) if root is not None else default_root()
    set_root = base / preset.folder
    gt_root = set_root / preset.gt_dir
    if not gt_root.is_dir():
        raise MissingDataError(
            f"{name}: GT folder not found: {gt_root} (set --root or VSRZOO_DATA to the folder holding {preset.folder}/)"
        )
    lr_name = lr_dir or preset.lr_dir
    lr_root = set_root / lr_name
    if not lr_root.is_dir():
        raise MissingDataError(f"{name}: LR folder not found: {lr_root} (make it with `vsrzoo data prepare`)")
    clips = []
    for clip in _clip_names(gt_root, preset.clips):
        clips.append(Clip(clip, list_frames(gt_root / clip), list_frames(lr_root / clip)))
    return VideoSet(name, set_root, clips, scale=scale, lr_dir=lr_name, y_channel=preset.y_channel)
