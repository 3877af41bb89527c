"""``vsrzoo bench``: benchmark methods (or folders of outputs) on a dataset.

vsrzoo bench --dataset sample                       # offline, bicubic, default metrics
vsrzoo bench --dataset vid4 --root DATA --method bicubic
vsrzoo bench --dataset vid4 --outputs results/mymethod --metrics psnr,ssim,lpips
vsrzoo bench --dataset vid4 --method bicubic --shard 0/2   # and 1/2 in another process
vsrzoo bench --dataset folder --root LQ_CLIPS --metrics niqe,musiq,clipiqa   # no ground truth
vsrzoo bench --dataset vid4 --method liftvsr --metrics psnr,ssim,boundary     # seams in time
vsrzoo bench --dataset vid4 --outputs results/x --segment-length 8 --metrics boundary
vsrzoo bench --dataset folder --root LQ_CLIPS --metrics dover   # DOVER.pth in $TORCH_HOME/hub/checkpoints
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vsrzoo.bench.protocol import DEFAULT_METRICS, METRICS, NO_REFERENCE_DEFAULTS, PROTOCOLS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dataset", default="sample", help="dataset preset (default: sample, built in, offline)"
    )
    parser.add_argument(
        "--root", help="folder holding the dataset (default: $VSRZOO_DATA or the user data dir)"
    )
    parser.add_argument("--lr-dir", help="LR sub-folder of the dataset (default: the preset's, e.g. BIx4)")
    parser.add_argument("--scale", type=int, default=4, help="upscaling factor (default: 4)")
    parser.add_argument(
        "--method",
        action="append",
        nargs="+",
        metavar="NAME[:VARIANT]",
        help="registered method(s) to run (default, when no --outputs: bicubic and every method with shipped tiny weights); repeatable",
    )
    parser.add_argument(
        "--ckpt", action="append", metavar="PATH", help="checkpoint for each --method, in order"
    )
    parser.add_argument(
        "--outputs",
        action="append",
        metavar="[LABEL=]DIR",
        help="score an existing folder of outputs laid out as <clip>/<frame>.png (matched to GT by sorted order)",
    )
    parser.add_argument(
        "--segment-length",
        type=int,
        metavar="N",
        help="for --outputs folders and the boundary metric: the frames were made in segments of N "
        "(frames t with t %% N == 0 start one); without it their boundary fields stay empty",
    )
    parser.add_argument("--protocol", default="standard", choices=PROTOCOLS, help="standard (default) or duf")
    parser.add_argument(
        "--metrics",
        help=f"comma list or 'all' (default: {','.join(DEFAULT_METRICS)}, or {','.join(NO_REFERENCE_DEFAULTS)} "
        f"on a dataset without GT; valid: {', '.join(METRICS)}, boundary); full reference: psnr, ssim, lpips, dists, "
        "tlpips, tof; no reference: musiq (KonIQ), clipiqa, niqe, dover (video level: overall, "
        "dover_technical, dover_aesthetic, 0-100); lpips/tlpips/dists/musiq/clipiqa/niqe/dover "
        "need their weight files under $TORCH_HOME (the error names each file and its source); "
        "'boundary': temporal seams, pairs of frames (t-1, t) that cross a segment boundary vs pairs "
        "inside a segment: dpsnr_boundary/dpsnr_inside = mean |PSNR(t) - PSNR(t-1)|, "
        "ewarp_boundary/ewarp_inside = mean warping error of those pairs, *_ratio = boundary/inside "
        "(about 1: no visible seam); segments are the method's segment_length as the streaming engine "
        "runs them (without overlap: frames t with t %% N == 0 start a segment)",
    )
    parser.add_argument(
        "--flow", default="dis", help="flow backend for warping errors: dis (default) or raft"
    )
    parser.add_argument(
        "--flow-from",
        choices=("gt", "output"),
        help="video the ewarp flow is estimated on (default: gt, or output on a dataset without GT)",
    )
    parser.add_argument(
        "--lpips-net", default="alex", choices=("alex", "vgg"), help="LPIPS backbone (default: alex, v0.1)"
    )
    parser.add_argument("--out", type=Path, help="results folder (default: results/bench/<dataset>)")
    parser.add_argument("--overwrite", action="store_true", help="recompute clips that already have results")
    parser.add_argument(
        "--shard", metavar="I/N", help="score only shard I of N (0-based); default from torchrun env"
    )
    parser.add_argument(
        "--device", default=None, help="cpu or cuda[:N] (default: cuda when available, else cpu)"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    from vsrzoo.bench.harness import evaluate

    methods = [m for group in args.method for m in group] if args.method else None
    out = args.out or Path("results") / "bench" / args.dataset
    result = evaluate(
        args.dataset,
        methods,
        root=args.root,
        lr_dir=args.lr_dir,
        scale=args.scale,
        outputs=args.outputs,
        ckpt=args.ckpt if args.ckpt is None or len(args.ckpt) > 1 else args.ckpt[0],
        segment_length=args.segment_length,
        protocol=args.protocol,
        metrics=args.metrics,
        flow=args.flow,
        flow_from=args.flow_from,
        lpips_net=args.lpips_net,
        out=out,
        overwrite=args.overwrite,
        shard=args.shard,
        device=args.device,
        progress=not args.no_progress,
    )
    if not result.complete:
        done = sum(1 for e in result.entries.values() for r in e["clips"].values() if r)
        total = len(result.entries) * len(result.clips)
        print(
            f"shard finished: {done} of {total} clip results in {out}; the last shard to finish writes the report"
        )
        return 0
    print(result.table())
    failed = [(x, c) for x, e in result.entries.items() for c in e["failed"]]
    for label, clip in failed:
        print(f"failed: {label} / {clip}: {result.entries[label]['failed'][clip]}")
    print(f"results: {out}/results.json, report: {out}/report.html")
    return 1 if failed else 0
