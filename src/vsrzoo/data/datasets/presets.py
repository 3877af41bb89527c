"""Dataset presets: where each community benchmark set sits on disk (its possible layouts), its
LR folder names and aliases, its frame counts and its PSNR/SSIM colour convention.

Presets (``vsrzoo.data.datasets.get_dataset(name, ...)``):

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
``youhq40``  YouHQ40 (Upscale-A-Video, arXiv 2312.06640), the 40 test clips (about 32 frames each):
             ``YouHQ40/GT`` and the authors' released degraded LQ as ``YouHQ40/LQ`` (or ``BIx4``);
             RGB. The degradation of the released LQ is not reproducible (no parameters, seeds or
             script are public; the public repository ships inference code and the data archives
             only), so ``vsrzoo data prepare`` never writes ``LQ``: use the released folder. A
             ``BIx4`` made by ``prepare --degradation bi`` is a different, clearly named setting.
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

import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["PRESETS", "REDS4", "Layout", "Preset", "default_root", "list_datasets"]


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
    released_lr: str | None = None  # LR folder only the authors' release provides: never written by prepare
    lr_note: str = ""  # why, printed by `vsrzoo data prepare`

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
        released_lr="LQ",
        lr_note=(
            "YouHQ40's LQ clips must come from the authors' YouHQ40-Test release (github.com/sczhou/"
            "Upscale-A-Video): no degradation parameters, seeds or generation script are published, so "
            "vsrzoo cannot regenerate them and an LR made here is not comparable with the paper's tables"
        ),
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
