"""Finding a set on disk: the layout (set folder, GT and LR folders) of a preset, BasicSR/MMagic
meta-info files (``<clip> <frames> (H,W,C)`` per line), clip names, and LQ-only folders
(VideoLQ's layout: no ground truth)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from vsrzoo.data.datasets.clips import Clip, VideoSet
from vsrzoo.data.datasets.presets import Layout, Preset, default_root
from vsrzoo.data.io import IMAGE_EXTS, VIDEO_EXTS, VideoFile, list_frames
from vsrzoo.errors import MissingDataError, UserError

__all__ = [
    "MetaEntry",
    "base_root",
    "clip_names",
    "find_meta",
    "is_single_clip",
    "lq_only_set",
    "read_meta_info",
    "resolve_layout",
    "resolve_lr",
]


# ---- meta-info files ----

_META_LINE = re.compile(r"^(\S+)\s+(\d+)(?:\s+\((\d+)\s*,\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?")


@dataclass(frozen=True)
class MetaEntry:
    frames: int
    size: tuple[int, int] | None  # (H, W)


def read_meta_info(path: Path) -> dict[str, MetaEntry]:
    """Parse ``<clip> <frames> (H,W,C)`` lines (BasicSR/MMagic meta-info files)."""
    entries: dict[str, MetaEntry] = {}
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _META_LINE.match(line.strip())
        if not m:
            raise UserError(
                f"{path}:{lineno}: cannot parse '{line.strip()}'; expected '<clip> <frames> (H,W,C)'"
            )
        size = (int(m.group(3)), int(m.group(4))) if m.group(3) else None
        entries[m.group(1)] = MetaEntry(int(m.group(2)), size)
    return entries


# ---- resolving folders ----


def _format(name: str, scale: int) -> str:
    return name.replace("{s}", str(scale))


def _has_clip(gt_root: Path, layout: Layout) -> bool:
    if not gt_root.is_dir():
        return False
    if layout.clips is None:
        return True
    return any((gt_root / c).is_dir() for c in layout.clips)


def resolve_layout(name: str, preset: Preset, base: Path, gt_dir: str | None) -> tuple[Layout, Path, Path]:
    """The first layout whose GT folder exists: (layout, set folder, GT folder)."""
    tried = []
    for layout in preset.layouts:
        candidates = [base / layout.folder]
        if base.name.lower() == layout.folder.lower():  # root points at the set folder itself
            candidates.append(base)
        for set_root in candidates:
            gt_root = set_root / (gt_dir or layout.gt)
            if _has_clip(gt_root, layout):
                return layout, set_root.resolve(), gt_root.resolve()
            tried.append(str(gt_root))
    hint = "set --root (or VSRZOO_DATA) to the folder that holds " + f"{preset.folder}/"
    if name == "folder":
        hint = "set --root to the folder that holds GT/ (or give an absolute gt_dir)"
    raise MissingDataError(
        f"{name}: GT folder not found (looked in {', '.join(dict.fromkeys(tried))}); {hint}"
    )


def resolve_lr(
    name: str, preset: Preset, layout: Layout, set_root: Path, lr_dir: str | None, scale: int
) -> Path:
    """The LR folder: ``lr_dir`` (or an equivalent alias) or the layout's defaults, first that exists."""
    if lr_dir is None:
        names = layout.lr
    else:
        aliases = {_format(k, scale): v for k, v in preset.aliases.items()}
        names = (lr_dir, *aliases.get(lr_dir, ()))
    tried = []
    for lr in dict.fromkeys(_format(n, scale) for n in names):
        path = set_root / lr  # an absolute lr_dir stays absolute
        if path.is_dir():
            return path.resolve()
        tried.append(str(path))
    wanted = lr_dir or _format(layout.lr[0], scale)
    raise MissingDataError(
        f"{name}: LR folder not found (looked in {', '.join(tried)}); make it with "
        f"`vsrzoo data prepare --dataset {name} --degradation <bi|bd|...>` or set a degradation "
        f"to make LR on the fly" + ("" if lr_dir else f" (expected {wanted})")
    )


def clip_names(name: str, layout: Layout, gt_root: Path, meta: dict[str, MetaEntry] | None) -> list[str]:
    if layout.clips is not None:
        names = list(layout.clips)
    elif meta:
        names = list(meta)
    else:
        names = sorted(p.name for p in gt_root.iterdir() if p.is_dir() and not p.name.startswith("."))
    names = [n for n in names if n not in layout.exclude]
    if not names:
        raise MissingDataError(f"{name}: no clip folders in {gt_root}")
    return names


def is_single_clip(gt_root: Path) -> bool:
    entries = [p for p in gt_root.iterdir() if not p.name.startswith(".")]
    return not any(p.is_dir() for p in entries) and any(p.suffix.lower() in IMAGE_EXTS for p in entries)


def find_meta(set_root: Path, layout: Layout) -> Path | None:
    for candidate in (*layout.meta, f"meta_info_{layout.folder}_GT.txt"):
        path = set_root / candidate
        if path.is_file():
            return path
    return None


def base_root(name: str, root: str | Path | None, gt_dir: str | None) -> Path:
    if name == "sample":
        if root is not None and (Path(root) / "sample" / "GT").is_dir():
            return Path(root)
        from vsrzoo.data.sample import sample_root

        return sample_root()
    if name == "folder" and root is None:
        if gt_dir is not None and Path(gt_dir).is_absolute():
            return Path(gt_dir).parent
        raise UserError("dataset 'folder' needs a root (--root or data.root): the folder that holds GT/")
    return Path(root) if root is not None else default_root()


# ---- LQ-only folders (no ground truth) ----


def _video_clip(path: Path, name: str) -> Clip:
    video = VideoFile(path)
    count = video.meta.num_frames or sum(1 for _ in video)  # decode once when the container does not say
    return Clip(name, [], None, video=path, video_frames=count)


def lq_only_set(base: Path, scale: int, clips=None) -> VideoSet:
    """A set of LQ clips without ground truth under ``base`` (see ``folder`` in the module docstring)."""
    if not base.is_dir():
        raise MissingDataError(
            f"folder: {base} not found; set --root to a folder of LQ clips (or one with GT/)"
        )
    found: list[Clip] = []
    if any(p.suffix.lower() in IMAGE_EXTS for p in base.iterdir() if p.is_file()):
        found.append(Clip(base.name, [], list_frames(base)))
    for sub in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
        frames = list_frames(sub, warn=False)
        if frames:
            found.append(Clip(sub.name, [], frames))
        else:
            videos = sorted(p for p in sub.iterdir() if p.suffix.lower() in VIDEO_EXTS)
            found += [_video_clip(v, f"{sub.name}/{v.stem}") for v in videos]
    found += [_video_clip(v, v.stem) for v in sorted(base.iterdir()) if v.suffix.lower() in VIDEO_EXTS]
    if clips is not None:
        names = [c.name for c in found]
        missing = [c for c in clips if c not in names]
        if missing:
            raise UserError(f"folder: unknown clip(s) {', '.join(missing)}; available: {', '.join(names)}")
        found = [c for c in found if c.name in set(clips)]
    if not found:
        raise MissingDataError(
            f"folder: no GT/ and no LQ clips (frame folders or videos) in {base}; set --root to the folder that holds them"
        )
    for clip in found:
        clip.scale = scale
    return VideoSet(
        "folder",
        base.resolve(),
        found,
        scale=scale,
        y_channel=True,
        lr_root=base.resolve(),
        extra={"lq_only": True},
    )
