"""``vsrzoo data``: prepare LR folders with a degradation, precompute training pairs, verify a layout.

``vsrzoo data prepare --dataset vid4 --degradation bd --root DIR`` writes ``DIR/Vid4/BDx4/``
next to ``GT/`` (any registered degradation, any scale, ``--option key=value`` for its
arguments). The folder is written under a temporary name and renamed when complete, and an
existing LR folder is never replaced without ``--overwrite``. A set whose LR only its authors'
release provides (``youhq40``: the degradation is not published) never gets that folder written:
``prepare`` refuses ``--lr-dir LQ`` there and says why for any other folder.

``vsrzoo data pairs recipes/simplegvr-pairs.yaml device=cuda`` precomputes training pairs of
a degradation too costly for DataLoader workers (:mod:`vsrzoo.data.pairs`), for ``data.dataset:
pairs``.

``vsrzoo data verify --dataset vid4 --root DIR`` checks the layout, frame counts, meta-info,
that every file decodes and that LR x scale == GT size, prints a table, and exits 1 when it
found problems.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from vsrzoo.errors import UserError
from vsrzoo.tables import markdown_table

if TYPE_CHECKING:  # the data stack loads in the functions that run, not for `--help`
    from vsrzoo.data.datasets import VideoSet
    from vsrzoo.data.degradations import Degradation

log = logging.getLogger(__name__)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", required=True, metavar="NAME", help=_dataset_help)
    p.add_argument(
        "--root", help="folder holding the set folder (default: $VSRZOO_DATA or the user data dir)"
    )
    p.add_argument("--gt-dir", help="GT sub-folder (default: the preset's, e.g. GT)")
    p.add_argument("--scale", type=int, default=4, help="super-resolution factor (default: 4)")
    p.add_argument("--clips", nargs="+", metavar="CLIP", help="only these clips")


def _dataset_help() -> str:
    from vsrzoo.data.datasets import PRESETS

    return f"dataset preset: {', '.join(sorted(PRESETS))}"


def _degradation_help() -> str:
    from vsrzoo.data.degradations import DEGRADATIONS

    return f"one of: {', '.join(sorted(DEGRADATIONS))}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    subs = parser.add_subparsers(dest="data_command", metavar="ACTION", parser_class=type(parser))
    subs.required = True
    prep = subs.add_parser(
        "prepare",
        help="write an LR folder made from GT by a degradation",
        description="Write <set>/<LR dir>/ from <set>/GT/ with a degradation.",
    )
    _common(prep)
    prep.add_argument("--degradation", required=True, metavar="NAME", help=_degradation_help)
    prep.add_argument("--lr-dir", help="output folder name (default: e.g. BDx4 next to GT)")
    prep.add_argument(
        "--seed", type=int, default=0, help="seed of random degradations (per clip, default: 0)"
    )
    prep.add_argument(
        "-o",
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="degradation argument, e.g. -o sigma=1.2 or -o stage1.sigma_x=[0.2,2] (repeatable)",
    )
    prep.add_argument("--overwrite", action="store_true", help="replace an existing LR folder")
    pairs = subs.add_parser(
        "pairs",
        help="precompute training pairs of a costly degradation (SimpleGVR's model-guided one)",
        description="Write the training pairs a spec describes (vsrzoo.data.pairs); resumes a partial folder.",
    )
    pairs.add_argument("spec", help="pairs spec YAML, e.g. recipes/simplegvr-pairs.yaml")
    pairs.add_argument(
        "overrides", nargs="*", metavar="key=value", help="spec overrides, e.g. device=cuda count=100"
    )
    pairs.add_argument("--overwrite", action="store_true", help="remake pairs already written")
    ver = subs.add_parser(
        "verify",
        help="check layout, frame counts, sizes and unreadable files",
        description="Check a dataset and print one row per clip.",
    )
    _common(ver)
    ver.add_argument("--lr-dir", help="LR sub-folder to check (default: the preset's, e.g. BIx4)")
    ver.add_argument(
        "--quick", action="store_true", help="read image headers only instead of decoding every frame"
    )


def run(args: argparse.Namespace) -> int:
    return {"prepare": prepare, "pairs": pairs, "verify": verify}[args.data_command](args)


def pairs(args: argparse.Namespace) -> int:
    """Write the spec's pairs (see vsrzoo.data.pairs), logging each one."""
    from vsrzoo.data.pairs import load_spec, write_pairs

    spec = load_spec(args.spec, args.overrides)
    out = write_pairs(
        spec, args.overwrite, log=lambda j, clip: log.info("pair %d/%d: %s", j + 1, spec.count, clip)
    )
    print(f"{spec.count} pairs ({spec.degradation}) of {spec.dataset} under {out}")
    return 0


def parse_options(options: list[str]) -> dict:
    """``key=value`` strings (YAML values, dotted keys) to a nested dict."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    for item in options:
        if "=" not in item or item.startswith("="):
            raise UserError(f"option '{item}' must look like key=value")
    try:
        return OmegaConf.to_container(OmegaConf.from_dotlist(options))
    except OmegaConfBaseException as exc:
        raise UserError(f"bad option: {getattr(exc, 'msg', exc)}") from exc


# ---- prepare ----


def prepare(args: argparse.Namespace) -> int:
    from vsrzoo.data.datasets import get_dataset
    from vsrzoo.data.degradations import get_degradation

    deg = get_degradation(args.degradation, **{"scale": args.scale, **parse_options(args.option)})
    if deg.upsamples or deg.folder_prefix is None:
        raise UserError(
            f"degradation '{deg.name}' upsamples and cannot make LR data; use bi, bd, realbasicvsr, ..."
        )
    vs = get_dataset(
        args.dataset,
        args.root,
        scale=args.scale,
        gt_dir=args.gt_dir,
        degradation=deg,
        seed=args.seed,
        clips=args.clips,
    )
    out = vs.root / (args.lr_dir or deg.folder_name)
    _check_released(out, args.dataset)
    _check_output(out, vs, args.overwrite)
    tmp = out.with_name(f".{out.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    rows = []
    try:
        for clip in vs.clips:
            folder = tmp if vs.extra.get("single_clip") else tmp / clip.name
            folder.mkdir(exist_ok=True)
            rows.append(_write_clip(clip, folder))
            log.info("%s: %s (%d frames)", vs.name, clip.name, len(clip))
        _write_record(tmp / "vsrzoo_degradation.json", vs, deg, args.seed)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    print(markdown_table(["clip", "frames", "GT size", "LR size"], rows))
    print(
        f"{vs.name}: wrote {len(rows)} clips, {vs.num_frames} frames to {out} ({deg.name}, seed {args.seed})"
    )
    return 0


def _check_released(out: Path, dataset: str) -> None:
    """Never write the folder of a set's released LR (its degradation cannot be regenerated)."""
    from vsrzoo.data.datasets import PRESETS

    preset = PRESETS[dataset]
    if preset.released_lr is not None and out.name == preset.released_lr:
        raise UserError(f"{dataset}: will not write {out.name}/, the released LQ folder: {preset.lr_note}")
    if preset.lr_note:
        log.warning("%s: %s", dataset, preset.lr_note)


def _check_output(out: Path, vs: VideoSet, overwrite: bool) -> None:
    gt = vs.gt_root.resolve()
    if out.resolve() == gt or gt.is_relative_to(out.resolve()):
        raise UserError(f"LR folder {out} would replace the GT folder {gt}; choose another --lr-dir")
    if out.exists() and not overwrite:
        raise UserError(f"LR folder exists: {out} (pass --overwrite to replace it)")


def _write_clip(clip, folder: Path) -> list[str]:
    """Degrade one clip (whole clip for temporal degradations, else frame by frame) and write PNGs."""
    from vsrzoo.data.datasets import fmt_size
    from vsrzoo.data.io import write_image

    lr_size = None
    for path, frame in zip(clip.gt, clip.read_lr()):
        write_image(folder / f"{path.stem}.png", frame)
        lr_size = frame.shape[:2]
    gt_size = next(clip.read_gt()).shape[:2]
    return [clip.name, str(len(clip)), fmt_size(gt_size), fmt_size(lr_size)]


def _write_record(path: Path, vs: VideoSet, deg: Degradation, seed: int) -> None:
    from vsrzoo import __version__
    from vsrzoo.data.degradations import clip_seed

    record = {
        "dataset": vs.name,
        "degradation": deg.name,
        "config": deg.config(),
        "seed": seed,
        "clip_seeds": {c.name: clip_seed(seed, c.name) for c in vs.clips},
        "vsrzoo": __version__,
    }
    path.write_text(json.dumps(record, indent=2, default=str) + "\n")


# ---- verify ----


def verify(args: argparse.Namespace) -> int:
    from vsrzoo.data.datasets import fmt_size, get_dataset, verify_dataset

    vs = get_dataset(
        args.dataset,
        args.root,
        lr_dir=args.lr_dir,
        scale=args.scale,
        gt_dir=args.gt_dir,
        clips=args.clips,
        strict=False,
    )
    reports = verify_dataset(vs, decode=not args.quick)
    rows = [
        [
            r.name,
            str(r.gt_frames),
            "-" if r.lr_frames is None else str(r.lr_frames),
            fmt_size(r.gt_size),
            fmt_size(r.lr_size),
            "ok" if not r.problems else f"{len(r.problems)} problem(s)",
        ]
        for r in reports
    ]
    lr_total = sum(r.lr_frames or 0 for r in reports)
    rows.append(["total", str(vs.num_frames), str(lr_total), "", "", ""])
    print(markdown_table(["clip", "GT frames", "LR frames", "GT size", "LR size", "status"], rows))
    problems = [p for r in reports for p in r.problems]
    print(
        f"{vs.name}: {len(vs.clips)} clips, {vs.num_frames} frames; GT {vs.gt_root}; LR {vs.lr_source} (x{vs.scale})"
    )
    if vs.extra.get("meta_info"):
        print(f"meta-info: {vs.extra['meta_info']}")
    for p in problems:
        print(f"problem: {p}")
    print(f"{len(problems)} problem(s) found" if problems else "all checks passed")
    return 1 if problems else 0
