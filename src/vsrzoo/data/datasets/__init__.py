"""Paired video datasets over the BasicSR/MMagic layout, with the community's benchmark presets.

Layout: ``<root>/<Set>/GT/<clip>/<frame>.png`` and ``<root>/<Set>/<LR dir>/<clip>/<frame>.png``
(``BIx4``, ``BDx4``, ...), optionally ``<root>/<Set>/meta_info_<Set>_GT.txt`` with one line
``<clip> <frames> (H,W,C)`` per clip, which then selects the clips and fixes their frame
counts and sizes. A :class:`VideoSet` is a list of :class:`Clip` objects whose frames are
read lazily, so a benchmark never holds a dataset in memory. When a degradation is given,
LR frames are made from GT on the fly (deterministically per clip) instead of being read.

The presets and their layouts are listed in :mod:`vsrzoo.data.datasets.presets`; finding a set
on disk and reading meta-info files is :mod:`~vsrzoo.data.datasets.layout`, the checks and
``vsrzoo data verify`` are :mod:`~vsrzoo.data.datasets.verify`, the clip types
:mod:`~vsrzoo.data.datasets.clips`. This module opens a set (:func:`get_dataset`) and
re-exports the names other modules use.
"""

from __future__ import annotations

import logging
from pathlib import Path

from vsrzoo.data.datasets.clips import Clip, VideoSet
from vsrzoo.data.datasets.layout import (
    MetaEntry,
    base_root,
    clip_names,
    find_meta,
    is_single_clip,
    lq_only_set,
    read_meta_info,
    resolve_layout,
    resolve_lr,
)
from vsrzoo.data.datasets.presets import PRESETS, REDS4, Layout, Preset, default_root, list_datasets
from vsrzoo.data.datasets.verify import (
    ClipReport,
    check_clip,
    check_pair,
    fmt_size,
    image_size,
    verify_clip,
    verify_dataset,
)
from vsrzoo.data.degradations import Degradation, get_degradation
from vsrzoo.data.io import list_frames
from vsrzoo.errors import UserError, unknown

log = logging.getLogger(__name__)

__all__ = [
    "PRESETS",
    "REDS4",
    "Clip",
    "ClipReport",
    "Layout",
    "MetaEntry",
    "Preset",
    "VideoSet",
    "check_pair",
    "default_root",
    "fmt_size",
    "get_dataset",
    "image_size",
    "list_datasets",
    "lq_only_set",
    "read_meta_info",
    "verify_clip",
    "verify_dataset",
]


def _make_degradation(degradation, kwargs: dict | None, scale: int) -> Degradation:
    if isinstance(degradation, Degradation):
        deg = degradation
    else:
        kwargs = dict(kwargs or {})
        if kwargs.setdefault("scale", scale) != scale:
            raise UserError(f"degradation scale {kwargs['scale']} differs from the dataset scale {scale}")
        deg = get_degradation(str(degradation), **kwargs)
    if deg.upsamples:
        raise UserError(
            f"degradation '{deg.name}' upsamples; LR needs a downscaling one (bi, bd, realbasicvsr, ...)"
        )
    if deg.scale != scale:
        raise UserError(f"degradation scale {deg.scale} differs from the dataset scale {scale}")
    return deg


def get_dataset(
    name: str,
    root: str | Path | None = None,
    lr_dir: str | None = None,
    scale: int = 4,
    *,
    gt_dir: str | None = None,
    degradation: str | Degradation | None = None,
    degradation_kwargs: dict | None = None,
    seed: int = 0,
    clips: list[str] | tuple[str, ...] | None = None,
    strict: bool = True,
) -> VideoSet:
    """Open dataset ``name`` (a preset, see the module docstring) under ``root``.

    With ``degradation`` (a registered name or an instance) LR frames are made from GT on
    the fly, seeded per clip from ``seed``; otherwise they are read from ``lr_dir`` (default:
    the preset's). ``clips`` keeps only those clips. Layout problems (missing clips, frame
    counts, LR x scale != GT size on the first frame, meta-info mismatches) raise a UserError
    when ``strict``, else they are collected in ``VideoSet.problems`` (``vsrzoo data verify``).
    """
    if name not in PRESETS:
        raise unknown("dataset", name, PRESETS)
    preset = PRESETS[name]
    if int(scale) != scale or scale < 1:
        raise UserError(f"scale must be a positive integer, got {scale}")
    base = base_root(name, root, gt_dir)
    if name == "folder" and gt_dir is None and degradation is None and not (base / "GT").is_dir():
        return lq_only_set(base, scale, clips)
    layout, set_root, gt_root = resolve_layout(name, preset, base, gt_dir)
    deg = _make_degradation(degradation, degradation_kwargs, scale) if degradation is not None else None
    lr_root = None if deg is not None else resolve_lr(name, preset, layout, set_root, lr_dir, scale)
    meta_path = find_meta(set_root, layout) if name != "folder" else None
    meta = read_meta_info(meta_path) if meta_path else None

    if name == "folder" and is_single_clip(gt_root):
        names, single = [gt_root.name], True
    else:
        names, single = clip_names(name, layout, gt_root, meta), False
    if clips is not None:
        missing = [c for c in clips if c not in names]
        if missing:
            raise UserError(f"{name}: unknown clip(s) {', '.join(missing)}; available: {', '.join(names)}")
        names = [c for c in names if c in set(clips)]

    problems: dict[str, list[str]] = {}
    standard = [c for c in preset.frames if c in names]
    if meta is None and clips is None and layout.clips is None and standard:
        for absent in (c for c in preset.frames if c not in names):  # e.g. a Vid4 root missing 'city'
            problems[absent] = [
                f"clip {absent} of {name} is missing from {gt_root} (the standard set has "
                f"{', '.join(preset.frames)}); a subset would not be comparable with published tables"
            ]
    clip_list = []
    for clip_name in names:
        found = problems.setdefault(clip_name, [])
        gt_folder = gt_root if single else gt_root / clip_name
        if not gt_folder.is_dir():
            found.append(f"clip {clip_name}: GT folder {gt_folder} not found")
            continue
        lr_paths = None
        if lr_root is not None:
            lr_folder = lr_root if single else lr_root / clip_name
            if not lr_folder.is_dir():
                found.append(f"clip {clip_name} is in GT but not in LR ({lr_root})")
            else:
                lr_paths = list_frames(lr_folder)
        clip = Clip(clip_name, list_frames(gt_folder), lr_paths, scale=scale, degradation=deg, seed=seed)
        try:
            found += check_clip(clip, meta.get(clip_name) if meta else None, scale, lr_root)
        except UserError as exc:  # an unreadable first frame
            found.append(f"clip {clip_name}: {exc}")
        clip_list.append(clip)
    flat = [p for found in problems.values() for p in found]
    if strict and flat:
        more = f" (and {len(flat) - 1} more problem(s); run `vsrzoo data verify`)" if len(flat) > 1 else ""
        raise UserError(f"{name}: {flat[0]}{more}")
    expected = {c.name: preset.frames[c.name] for c in clip_list if c.name in preset.frames}
    for clip in clip_list:
        if clip.name in expected and expected[clip.name] != len(clip):
            log.warning(
                "%s: clip %s has %d frames; the standard protocol has %d",
                name,
                clip.name,
                len(clip),
                expected[clip.name],
            )
    return VideoSet(
        name,
        set_root,
        clip_list,
        scale=scale,
        lr_dir=lr_root.name if lr_root else None,
        y_channel=preset.y_channel,
        gt_root=gt_root,
        lr_root=lr_root,
        degradation=deg,
        problems=flat,
        clip_problems={k: v for k, v in problems.items() if v},
        expected_frames=expected,
        extra={
            "meta_info": str(meta_path) if meta_path else None,
            "layout": layout.gt,
            "single_clip": single,
        },
    )
