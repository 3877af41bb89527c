"""Checking a dataset: cheap checks while opening it (file lists, first-frame headers,
meta-info) and the full verification of ``vsrzoo data verify`` (every frame decoded, sizes,
LR x scale == GT size)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from vsrzoo.data.datasets.clips import Clip, VideoSet
from vsrzoo.data.datasets.layout import MetaEntry
from vsrzoo.data.io import read_image
from vsrzoo.errors import UserError

__all__ = [
    "ClipReport",
    "check_clip",
    "check_pair",
    "fmt_size",
    "image_size",
    "verify_clip",
    "verify_dataset",
]


def image_size(path: Path) -> tuple[int, int]:
    """(height, width) of an image from its header only; a UserError naming the file if unreadable."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            w, h = im.size
    except Exception as exc:  # PIL raises several types for corrupt files
        raise UserError(f"cannot read image {path} (corrupt or not an image)") from exc
    return h, w


def fmt_size(size: tuple[int, int] | None) -> str:
    return "-" if size is None else f"{size[1]}x{size[0]}"


# ---- checks ----


def check_pair(
    clip: str, frame: str, gt_size: tuple[int, int], lr_size: tuple[int, int], scale: int
) -> str | None:
    """A problem message when LR x scale does not match the (mod-cropped) GT size, else None."""
    want = (gt_size[0] - gt_size[0] % scale, gt_size[1] - gt_size[1] % scale)
    got = (lr_size[0] * scale, lr_size[1] * scale)
    if got == want:
        return None
    return (
        f"clip {clip} frame {frame}: LR {fmt_size(lr_size)} x{scale} = {fmt_size(got)} "
        f"does not match GT {fmt_size(gt_size)}"
    )


def check_clip(clip: Clip, meta: MetaEntry | None, scale: int, lr_root: Path | None) -> list[str]:
    """Cheap checks from file lists and image headers (first frame only)."""
    if not clip.gt:
        return [f"clip {clip.name}: no GT frames"]
    problems = []
    if meta is not None and meta.frames != len(clip.gt):
        problems.append(f"clip {clip.name}: {len(clip.gt)} GT frames, meta-info says {meta.frames}")
    gt_size = image_size(clip.gt[0])
    if meta is not None and meta.size is not None and meta.size != gt_size:
        problems.append(
            f"clip {clip.name}: GT frames are {fmt_size(gt_size)}, meta-info says {fmt_size(meta.size)}"
        )
    if clip.lr is None:
        return problems
    if not clip.lr:
        problems.append(f"clip {clip.name}: no LR frames in {lr_root}")
    elif len(clip.lr) != len(clip.gt):
        problems.append(
            f"clip {clip.name}: {len(clip.gt)} GT frames but {len(clip.lr)} LR frames (frame-count mismatch)"
        )
    else:
        problem = check_pair(clip.name, clip.lr[0].name, gt_size, image_size(clip.lr[0]), scale)
        problems += [problem] if problem else []
    return problems


# ---- full verification (every frame decoded) ----


@dataclass
class ClipReport:
    name: str
    gt_frames: int
    lr_frames: int | None
    gt_size: tuple[int, int] | None
    lr_size: tuple[int, int] | None
    problems: list[str]


def verify_clip(clip: Clip, scale: int, expected: int | None = None, decode: bool = True) -> ClipReport:
    """Read every frame of ``clip``; report unreadable files, size changes and LR x scale != GT.

    ``decode=False`` reads image headers only (fast, but a truncated file may pass).
    """
    problems: list[str] = []
    paths = clip.gt + (clip.lr or [])
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:  # decoders release the GIL
        sizes = list(pool.map(lambda p: _frame_size(p, decode), paths))
    problems += [s for s in sizes if isinstance(s, str)]
    sizes = [s if isinstance(s, tuple) else None for s in sizes]
    gt_sizes, lr_sizes = sizes[: len(clip.gt)], sizes[len(clip.gt) :]
    first_gt = next((s for s in gt_sizes if s), None)
    first_lr = next((s for s in lr_sizes if s), None)
    for path, size in zip(clip.gt, gt_sizes):
        if size and first_gt and size != first_gt:
            problems.append(
                f"clip {clip.name} frame {path.name}: GT {fmt_size(size)} differs from {fmt_size(first_gt)}"
            )
    if clip.lr is not None and len(clip.lr) == len(clip.gt):
        for gt_path, gt_size, lr_size in zip(clip.gt, gt_sizes, lr_sizes):
            if gt_size and lr_size:
                problem = check_pair(clip.name, gt_path.name, gt_size, lr_size, scale)
                problems += [problem] if problem else []
    if expected is not None and expected != len(clip.gt):
        problems.append(f"clip {clip.name}: {len(clip.gt)} frames, the standard protocol has {expected}")
    lr_count = len(clip.lr) if clip.lr is not None else None
    return ClipReport(clip.name, len(clip.gt), lr_count, first_gt, first_lr, problems)


def _frame_size(path: Path, decode: bool) -> tuple[int, int] | str:
    """(H, W) of a frame, or the problem message when it cannot be read."""
    try:
        return tuple(read_image(path).shape[:2]) if decode else image_size(path)
    except UserError as exc:
        return str(exc)


def verify_dataset(vs: VideoSet, decode: bool = True) -> list[ClipReport]:
    """A :class:`ClipReport` per clip, with the dataset-level problems attached to their clips."""
    reports = [verify_clip(c, vs.scale, vs.expected_frames.get(c.name), decode) for c in vs.clips]
    by_name = {r.name: r for r in reports}
    for name, found in vs.clip_problems.items():
        if name not in by_name:  # no GT folder: no clip to verify
            by_name[name] = ClipReport(name, 0, None, None, None, [])
            reports.append(by_name[name])
        report = by_name[name]
        report.problems[:0] = [p for p in found if p not in report.problems]
    return reports
