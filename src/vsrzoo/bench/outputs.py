"""Checks of a folder of existing outputs (``vsrzoo bench --outputs DIR``) against the dataset:
every clip present, frame counts, and frame sizes (GT size, or LR size x scale without GT),
all before any scoring starts."""

from __future__ import annotations

from pathlib import Path

from vsrzoo.data.datasets import Clip, VideoSet, image_size
from vsrzoo.data.io import list_frames
from vsrzoo.errors import MissingDataError, UserError

__all__ = ["check_outputs"]


def _gt_size(clip: Clip, path: Path) -> tuple[int, int]:
    """(height, width) of a GT frame as the dataset reads it (cropped to a multiple of the scale)."""
    h, w = image_size(path)
    s = max(int(clip.scale or 1), 1)
    return h - h % s, w - w % s


def _lr_size(clip: Clip, scale: int) -> tuple[int, int]:
    """(height, width) of an output frame of an LQ-only clip: its LR size x scale."""
    if clip.video is not None:
        from vsrzoo.data.io import VideoFile

        meta = VideoFile(clip.video).meta
        return meta.height * scale, meta.width * scale
    h, w = image_size(clip.lr[0])
    return h * scale, w * scale


def check_outputs(folder: Path, ds: VideoSet) -> dict[str, list[Path]]:
    """Frames of every clip in an outputs folder, checked against the dataset: clips, counts, sizes."""
    if not folder.is_dir():
        raise MissingDataError(f"--outputs folder not found: {folder}")
    missing = [c.name for c in ds.clips if not (folder / c.name).is_dir()]
    if missing:
        raise UserError(
            f"--outputs {folder} is missing clip folder(s) {', '.join(missing)} of {ds.name} "
            f"(expected {folder}/<clip>/<frame>.png for every clip)"
        )
    frames = {}
    for clip in ds.clips:
        paths = list_frames(folder / clip.name, warn=False)
        if len(paths) != len(clip):
            raise UserError(f"--outputs {folder / clip.name}: {_count_problem(paths, clip)}")
        refs = clip.gt if clip.has_gt else [None] * len(paths)
        lr_want = None if clip.has_gt else _lr_size(clip, ds.scale)
        for out_p, gt_p in zip(paths, refs):
            got = image_size(out_p)
            want = _gt_size(clip, gt_p) if gt_p is not None else lr_want
            if got != want:
                ref = f"GT frame {gt_p}" if gt_p is not None else f"LR x{ds.scale}"
                raise UserError(f"output frame {out_p} is {got[1]}x{got[0]} but {ref} is {want[1]}x{want[0]}")
        frames[clip.name] = paths
    return frames


def _count_problem(paths: list[Path], clip: Clip) -> str:
    n = len(clip)
    if clip.has_gt:
        have = {p.stem for p in paths}
        missing = [p.stem for p in clip.gt if p.stem not in have]
        if len(paths) < n and len(missing) == n - len(paths):
            shown = ", ".join(missing[:8]) + (" ..." if len(missing) > 8 else "")
            return f"missing {len(missing)} of {n} frames: {shown}"
    what = "GT clip" if clip.has_gt else "LQ clip"
    return f"{len(paths)} frames but {what} {clip.name} has {n} (frames are matched by sorted order)"
