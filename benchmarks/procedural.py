"""Score weights under inference overrides on procedural clips, never Vid4 (issues 14 and 27).

Writes ``--clips`` seeded clips of ``--frames`` frames at ``--size`` LR pixels
(:class:`vsrzoo.data.procedural.ProceduralClips`, split 'select', disjoint from training and from
the ``sample`` clips) once as a BasicSR folder, then scores every ``LABEL=JSON`` configuration of
the weights (constructor overrides: segment length, Euler steps, cache mode, ...) with
:func:`vsrzoo.evaluate` (Y PSNR/SSIM, tOF, E*warp and the segment-boundary fields), bicubic side by
side. ``--ckpt LABEL=DIR`` adds other weights (e.g. the same recipe trained without a mechanism).

    OMP_NUM_THREADS=1 python benchmarks/procedural.py litevsr \
        --config base='{}' seg8='{"segment_length": 8}' steps4='{"num_inference_steps": 4}'
    OMP_NUM_THREADS=1 python benchmarks/procedural.py liftvsr --frames 32 --size 32 \
        --config matched='{}' none='{"cache_from": "none"}' --ckpt trained-without=runs/lift-noamc/final
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

import vsrzoo
from vsrzoo.data.io import write_image
from vsrzoo.data.procedural import ProceduralClips

METRICS = "psnr,ssim,tof,ewarp,boundary"


def write_clips(root: Path, clips: int, frames: int, size: int, seed: int) -> Path:
    """Procedural clips as ``root/GT/cNN`` and ``root/BIx4/cNN`` PNG folders (skipped when present)."""
    ds = ProceduralClips(num_frames=frames, crop_size=size, length=clips, seed=seed, split="select")
    for i in range(clips):
        if (root / "GT" / f"c{i:02d}").is_dir():
            continue
        item = ds[i]
        for key, sub in (("gt", "GT"), ("lr", "BIx4")):
            folder = root / sub / f"c{i:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            for t, frame in enumerate(item[key].permute(0, 2, 3, 1).mul(255).round().byte().numpy()):
                write_image(folder / f"{t:08d}.png", np.ascontiguousarray(frame))
    return root


def score(method: str, ckpt: str, configs: list[str], others: list[str], args) -> dict[str, dict]:
    """Summary rows (label -> metric -> value) of bicubic, each config of ``ckpt`` and each other weights."""
    root = write_clips(Path(args.root), args.clips, args.frames, args.size, args.seed)
    methods: dict = {"bicubic": "bicubic"}
    for spec in configs:
        label, _, overrides = spec.partition("=")
        methods[label] = vsrzoo.create_model(method, pretrained=ckpt, **json.loads(overrides or "{}"))
    for spec in others:
        label, _, folder = spec.partition("=")
        methods[label] = vsrzoo.create_model(method, pretrained=folder)
    torch.manual_seed(args.seed)  # the samplers' noise: the same draws on every run
    result = vsrzoo.evaluate("folder", methods, root=root, metrics=METRICS, out=None)
    return {
        label: {k: v for k, v in result.summary(label).items() if isinstance(v, float)} for label in methods
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("method", help="registered method name (liftvsr, litevsr, ...)")
    ap.add_argument(
        "--weights", default="builtin", help="weights folder for --config (default: the shipped tiny)"
    )
    ap.add_argument("--config", nargs="+", default=["base={}"], help="LABEL=JSON constructor overrides")
    ap.add_argument("--ckpt", nargs="*", default=[], help="LABEL=DIR: other weights, run as saved")
    ap.add_argument(
        "--root", default=None, help="where the clips are written (default results/procedural/...)"
    )
    add_clip_arguments(ap)
    args = ap.parse_args()
    args.root = args.root or f"results/procedural/clips-{args.clips}x{args.frames}x{args.size}-s{args.seed}"
    report(score(args.method, args.weights, args.config, args.ckpt, args), args.json)


def add_clip_arguments(ap: argparse.ArgumentParser) -> None:
    """The clip set (count, length, LR side, seed) and the JSON output, shared by the scripts scoring on these clips."""
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--size", type=int, default=64, help="LR side in pixels")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", default=None, help="also write the rows to this file")


def report(rows: dict[str, dict], json_path: str | None = None) -> None:
    """Print one line per label (metric values) and, given a path, write the rows as JSON."""
    width = max(map(len, rows)) + 2
    for label, row in rows.items():
        print(f"{label:{width}s}" + "  ".join(f"{k} {v:.4f}" for k, v in row.items()))
    if json_path:
        Path(json_path).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
