"""Tiled vs untiled output of every registered method on a real Vid4 crop (issue 13, item 1).

A 64x64 LR crop of the first 12 frames of Vid4 ``calendar`` (BIx4 files, GT from Vid4/GT) goes
through the streaming engine whole and with ``tile=32, tile_overlap=8`` (a 3x3 grid); printed:
Y-PSNR (crop 0) of each against the ground truth and the difference (target: |diff| < 0.1 dB).
Methods with shipped tiny weights use them. Tiles of a stateful method must each keep their
own state; when they read each other's (the bug this measures), the tiled score drops.

    PYTHONPATH=src python benchmarks/state_tiling.py [--methods instavsr liftvsr ...]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

import vsrzoo
from vsrzoo.data.io import read_image
from vsrzoo.inference.streaming import stream_upscale
from vsrzoo.methods.base import builtin_dir
from vsrzoo.metrics.psnr_ssim import psnr

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from instavsr_drift import data_root  # noqa: E402  (one way to find the data)


def vid4_crop(frames: int = 12, size: int = 64, y: int = 40, x: int = 60):
    root = data_root() / "Vid4"
    names = sorted((root / "BIx4" / "calendar").glob("*.png"))[:frames]
    lr = [np.ascontiguousarray(read_image(p)[y : y + size, x : x + size]) for p in names]
    gt = [
        read_image(root / "GT" / "calendar" / p.name)[4 * y : 4 * (y + size), 4 * x : 4 * (x + size)]
        for p in names
    ]
    return lr, np.stack(gt)


def measure(name: str, lr, gt) -> dict[str, float]:
    torch.manual_seed(0)
    pretrained = "builtin" if (builtin_dir() / f"{name}-tiny").is_dir() else None
    model = vsrzoo.create_model(name, variant="tiny", pretrained=pretrained).eval()
    scores = {}
    for label, kwargs in (("untiled", {}), ("tiled", {"tile": 32, "tile_overlap": 8})):
        torch.manual_seed(0)
        sr = np.stack(list(stream_upscale(model, lr, **kwargs)))
        scores[label] = psnr(sr, gt, y_channel=True).mean().item()
    scores["diff"] = scores["tiled"] - scores["untiled"]
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", nargs="*", default=vsrzoo.list_models())
    parser.add_argument("--out", default=str(REPO / "results" / "state_tiling.json"))
    args = parser.parse_args()
    lr, gt = vid4_crop()
    results = {}
    for name in args.methods:
        r = results[name] = measure(name, lr, gt)
        print(
            f"{name:10s} untiled {r['untiled']:.3f} dB  tiled {r['tiled']:.3f} dB  diff {r['diff']:+.3f}",
            flush=True,
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
