"""Paired video datasets over the BasicSR/MMagic layout, with the community's benchmark presets.

Layout: ``<root>/<Set>/GT/<clip>/<frame>.png`` and ``<root>/<Set>/<LR dir>/<clip>/<frame>.png``
(``BIx4``, ``BDx4``, ...), optionally ``<root>/<Set>/meta_info_<Set>_GT.txt`` with one line
``<clip> <frames> (H,W,C)`` per clip, which then selects the clips and fixes their frame
counts and sizes. A :class:`VideoSet` is a list of :class:`Clip` objects whose frames are
read lazily, so a benchmark never holds a dataset in memory. When a degradation is given,
LR frames are made from GT on the fly (deterministically per clip) instead of being read.

Presets (``get_dataset(name, ...)``):

============ =================================================================================
``vid4``     Vid4 (calendar, city, foliage, walk; 171 frames), LR ``BIx4`` or ``BDx4``; Y channel.
``reds4``    REDS clips 000, 011, 015, 020 (100 frames, 1280x720); LR ``sharp_bicubic`` = BI;
             RGB. Either ``REDS4/GT`` + ``REDS4/sharp_bicubic`` (or ``BIx4``) as BasicSR's test
             sets ship, or the full REDS download ``REDS/train_sharp`` +
             ``REDS/train_sharp_bicubic/X4`` (BasicSR/MMagic training layout).
``reds``     REDS training clips minus REDS4 (266 clips after BasicSR's ``regroup_reds_dataset``
             moved the 30 validation clips to 240-269), same two layouts.
``reds30``   the 30 REDS validation clips, as ``REDS30/GT`` or ``REDS/val_sharp`` (000-029) or
             regrouped ``REDS/train_sharp`` (240-269); LR from ``vsrzoo data prepare
             --degradation realbasicvsr`` (``RealBasicVSRx4``) as diffusion VSR papers do, or
             REDS ``sharp_bicubic``; RGB.
``udm10``    UDM10 (10 clips x 32 frames), LR ``BDx4``; Y. Regenerate BD from GT with
             ``vsrzoo data prepare --dataset udm10 --degradation bd``: the LR of the original
             release is shifted by a pixel.
``spmcs``    SPMCS (``SPMCS/GT``), LR ``BIx4`` or ``BDx4``; Y.
``youhq40``  YouHQ40 (Upscale-A-Video, arXiv 2312.06640), the 40 test clips: ``YouHQ40/GT`` and the
             released degraded LQ as ``YouHQ40/LQ`` (or ``BIx4``); RGB.
``mvsr4x``   MVSR4x (real pairs from two cameras): ``MVSR4x/GT`` and ``MVSR4x/LR`` (or ``LQ``); RGB.
``realvsr``  RealVSR (Yang et al., ICCV 2021; iPhone dual-camera pairs, LR upsampled to the GT size):
             ``RealVSR/GT`` and ``RealVSR/LQ`` (or ``LR``); use ``scale=1``; RGB.
``sample``   the built-in offline sample clips (:mod:`vsrzoo.data.sample`); Y.
``folder``   any folder: ``root`` holds ``GT/`` (or ``gt_dir``) and an LR folder (``lr_dir``,
             default the first of ``BIx<s>``, ``BDx<s>``, ``LR``), or GT only with LR made on
             the fly by ``degradation``; a GT folder of images (no sub-folders) is one clip.
             Without ``GT/`` the folder is LQ-only (no ground truth, VideoLQ's layout): each
             sub-folder of frames is a clip, each video file (in ``root`` or one level down)
             is a clip named ``<sub-folder>/<stem>``, and images directly in ``root`` are one
             clip; such a set is scored with no-reference metrics only.
============ =================================================================================

The root is, in order: the ``root`` argument (``--root``, recipe ``data.root``), the
``VSRZOO_DATA`` environment variable, else the user data directory
(``platformdirs.user_data_dir("vsrzoo")``). reconstruction: the folder names of reds30's
RealBasicVSR LR (``RealBasicVSRx4``) and of LR made by ``prepare`` (``<BI|BD|GVRFlow>x<s>``)
are ours, as are the GT/LQ folder names of youhq40, mvsr4x and realvsr (rename the released folders
to them) and their RGB convention; the PSNR channel of reds30 (RGB, like REDS4) is our choice. A root may also point at the set folder itself
(``.../Vid4``). GT frames are cropped to a multiple of the scale when read (BasicSR's
``mod_crop``), so ``LR x scale == GT size`` holds for every pair.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vsrzoo.data.degradations import Degradation, clip_seed, get_degradation, mod_crop
from vsrzoo.data.io import IMAGE_EXTS, VIDEO_EXTS, VideoFile, list_frames, read_image
from vsrzoo.errors import MissingDataError, UserError, unknown

log = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class Layout:
    """One way a set can sit on disk: set folder, GT sub-folder, default LR sub-folders, clips.

    LR names may contain ``{s}`` for the scale. ``clips`` None means every clip folder of GT
    (or of the meta-info file) except ``exclude``.
    """

    folder: str
    gt: str
    lr: tuple[str, ...]
    clips: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()
    meta: tuple[str, ...] = ()


@dataclass(frozen=True)
class Preset:
    """A registered dataset: where it may sit, its LR name aliases and metric convention."""

    layouts: tuple[Layout, ...]
    y_channel: bool
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)  # LR name -> equivalent folders
    frames: dict[str, int] = field(default_factory=dict)  # the protocol's frame count per clip
    description: str = ""

    @property
    def folder(self) -> str:
        return self.layouts[0].folder


REDS4 = ("000", "011", "015", "020")
REDS_VAL = tuple(f"{i:03d}" for i in range(30))
REDS_VAL_REGROUPED = tuple(f"{i:03d}" for i in range(240, 270))
_REDS_BI = ("sharp_bicubic", "BIx{s}", "train_sharp_bicubic/X{s}", "val_sharp_bicubic/X{s}")

PRESETS: dict[str, Preset] = {
    "sample": Preset(
        (Layout("sample", "GT", ("BIx{s}",), meta=("meta_info_sample_GT.txt",)),),
        True,
        description="built-in offline sample clips",
    ),
    "vid4": Preset(
        (Layout("Vid4", "GT", ("BIx{s}",), meta=("meta_info_Vid4_GT.txt",)),),
        True,
        frames={"calendar": 41, "city": 34, "foliage": 49, "walk": 47},
        description="Vid4, BIx4 or BDx4, Y channel",
    ),
    "reds4": Preset(
        (
            Layout("REDS4", "GT", ("sharp_bicubic", "BIx{s}"), REDS4, meta=("meta_info_REDS4_GT.txt",)),
            Layout("REDS", "train_sharp", ("train_sharp_bicubic/X{s}", "BIx{s}"), REDS4),
            Layout("REDS", "GT", ("BIx{s}", "sharp_bicubic"), REDS4),
        ),
        False,
        aliases={"sharp_bicubic": _REDS_BI, "BIx{s}": _REDS_BI},
        frames=dict.fromkeys(REDS4, 100),
        description="REDS4 (000 011 015 020), sharp_bicubic LR, RGB",
    ),
    "reds": Preset(
        (
            Layout(
                "REDS",
                "train_sharp",
                ("train_sharp_bicubic/X{s}", "BIx{s}"),
                exclude=REDS4,
                meta=("meta_info_REDS_GT.txt",),
            ),
            Layout("REDS", "GT", ("BIx{s}", "sharp_bicubic"), exclude=REDS4, meta=("meta_info_REDS_GT.txt",)),
        ),
        False,
        aliases={"sharp_bicubic": _REDS_BI, "BIx{s}": _REDS_BI},
        description="REDS training clips without REDS4 (266 after regrouping), RGB",
    ),
    "reds30": Preset(
        (
            Layout("REDS30", "GT", ("RealBasicVSRx{s}",), meta=("meta_info_REDS30_GT.txt",)),
            Layout("REDS", "val_sharp", ("RealBasicVSRx{s}",), REDS_VAL),
            Layout("REDS", "train_sharp", ("RealBasicVSRx{s}",), REDS_VAL_REGROUPED),
        ),
        False,
        aliases={"sharp_bicubic": _REDS_BI, "BIx{s}": _REDS_BI},
        frames={**dict.fromkeys(REDS_VAL, 100), **dict.fromkeys(REDS_VAL_REGROUPED, 100)},
        description="REDS validation clips, real-world (RealBasicVSR) LR, RGB",
    ),
    "udm10": Preset(
        (Layout("UDM10", "GT", ("BDx{s}",), meta=("meta_info_UDM10_GT.txt",)),),
        True,
        description="UDM10 (10 x 32 frames), BDx4 regenerated from GT, Y channel",
    ),
    "spmcs": Preset(
        (Layout("SPMCS", "GT", ("BIx{s}",), meta=("meta_info_SPMCS_GT.txt",)),),
        True,
        description="SPMCS, BIx4 or BDx4, Y channel",
    ),
    "youhq40": Preset(
        (Layout("YouHQ40", "GT", ("LQ", "BIx{s}"), meta=("meta_info_YouHQ40_GT.txt",)),),
        False,
        description="YouHQ40 (Upscale-A-Video's 40 test clips), LR from the paper's released LQ folder, RGB",
    ),
    "mvsr4x": Preset(
        (Layout("MVSR4x", "GT", ("LR", "LQ"), meta=("meta_info_MVSR4x_GT.txt",)),),
        False,
        description="MVSR4x real pairs (HR and LR from two cameras), RGB",
    ),
    "realvsr": Preset(
        (Layout("RealVSR", "GT", ("LQ", "LR"), meta=("meta_info_RealVSR_GT.txt",)),),
        False,
        description="RealVSR real pairs (iPhone dual camera; LR and GT the same size: use --scale 1), RGB",
    ),
    "folder": Preset(
        (Layout(".", "GT", ("BIx{s}", "BDx{s}", "LR")),),
        True,
        description="any GT/LR pair of folders, or GT with an on-the-fly degradation",
    ),
}


def list_datasets() -> list[str]:
    return sorted(PRESETS)


def default_root() -> Path:
    """``$VSRZOO_DATA`` or the user data directory."""
    env = os.environ.get("VSRZOO_DATA")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_data_dir("vsrzoo"))


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


def _clip_names(name: str, layout: Layout, gt_root: Path, meta: dict[str, MetaEntry] | None) -> list[str]:
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


def _is_single_clip(gt_root: Path) -> bool:
    entries = [p for p in gt_root.iterdir() if not p.name.startswith(".")]
    return not any(p.is_dir() for p in entries) and any(p.suffix.lower() in IMAGE_EXTS for p in entries)


def _find_meta(set_root: Path, layout: Layout) -> Path | None:
    for candidate in (*layout.meta, f"meta_info_{layout.folder}_GT.txt"):
        path = set_root / candidate
        if path.is_file():
            return path
    return None


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


def _check_clip(clip: Clip, meta: MetaEntry | None, scale: int, lr_root: Path | None) -> list[str]:
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
    base = _base_root(name, root, gt_dir)
    if name == "folder" and gt_dir is None and degradation is None and not (base / "GT").is_dir():
        return lq_only_set(base, scale, clips)
    layout, set_root, gt_root = resolve_layout(name, preset, base, gt_dir)
    deg = _make_degradation(degradation, degradation_kwargs, scale) if degradation is not None else None
    lr_root = None if deg is not None else resolve_lr(name, preset, layout, set_root, lr_dir, scale)
    meta_path = _find_meta(set_root, layout) if name != "folder" else None
    meta = read_meta_info(meta_path) if meta_path else None

    if name == "folder" and _is_single_clip(gt_root):
        names, single = [gt_root.name], True
    else:
        names, single = _clip_names(name, layout, gt_root, meta), False
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
            found += _check_clip(clip, meta.get(clip_name) if meta else None, scale, lr_root)
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


def _base_root(name: str, root: str | Path | None, gt_dir: str | None) -> Path:
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
