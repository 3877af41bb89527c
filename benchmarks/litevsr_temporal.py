"""LiteVSR (arXiv 2606.09250) tiny weights: inference settings and flicker, chosen on procedural clips (issue 14).

The shipped tiny weights flicker (E*warp about 2.3x bicubic's on Vid4). This scores weights under
inference overrides (segment length, Euler steps, latent tiles, ...) on procedural validation
clips, never Vid4: ``--clips`` seeded clips of ``--frames`` frames at ``--size`` LR pixels
(:class:`vsrzoo.data.procedural.ProceduralClips`, split 'select', disjoint from training and from
the ``sample`` clips), written once as a BasicSR folder and scored with :func:`vsrzoo.evaluate`
(Y PSNR/SSIM, tOF, E*warp and the segment-boundary fields), bicubic side by side.

    OMP_NUM_THREADS=1 python benchmarks/litevsr_temporal.py --ckpt src/vsrzoo/weights/litevsr-tiny \
        --config base='{}' seg8='{"segment_length": 8}' steps4='{"num_inference_steps": 4}'
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

import vsrzoo
from vsrzoo.data.io import write_image
from vsrzoo.data.procedural import ProceduralClips
from vsrzoo.methods.litevsr import LiteVSR

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ckpt", default="builtin", help="LiteVSR weights folder (default: the shipped tiny)")
    ap.add_argument("--config", nargs="+", default=["base={}"], help="LABEL=JSON constructor overrides")
    ap.add_argument("--root", default="results/litevsr_temporal/clips", help="where the clips are written")
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--size", type=int, default=64, help="LR side in pixels")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    root = write_clips(Path(args.root), args.clips, args.frames, args.size, args.seed)
    methods: dict = {"bicubic": "bicubic"}
    for spec in args.config:
        label, _, overrides = spec.partition("=")
        methods[label] = LiteVSR.from_pretrained(args.ckpt, **json.loads(overrides or "{}"))
    result = vsrzoo.evaluate("folder", methods, root=root, metrics=METRICS, out=None)
    for label in methods:
        row = {k: v for k, v in result.summary(label).items() if isinstance(v, float)}
        print(f"{label:16s} " + "  ".join(f"{k} {v:.4f}" for k, v in row.items()))


if __name__ == "__main__":
    main()
