"""LiteVSR (arXiv 2606.09250): do the adapter's two streams carry different information? (issue 27)

The State-Aware Adapter reads a structure stream (the LR latent) and a refinement stream (the
current clean estimate; with ``refinement_input='detail'`` its departure from the LR latent).
This zeroes one stream's input at every adapter call of the shipped (or given) weights and
scores the result on procedural clips (never Vid4; :mod:`procedural`'s seeded 'select' clips),
next to the full model and bicubic: if the streams were redundant, zeroing either would cost the
same. It also prints the mean absolute difference between the two ablated outputs.

    OMP_NUM_THREADS=1 python benchmarks/litevsr_streams.py [--weights DIR] [--clips 8 --frames 12 --size 64]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from procedural import add_clip_arguments, report, write_clips

import vsrzoo

STREAMS = {"structure": 0, "refinement": 1}  # position of each stream's input in the adapter's forward


def without(weights: str, stream: str | None):
    """The LiteVSR weights with one adapter stream's input replaced by zeros (None: unchanged)."""
    model = vsrzoo.create_model("litevsr", pretrained=weights).eval()
    if stream is not None:
        index = STREAMS[stream]

        def zero(module, args):
            args = list(args)
            args[index] = torch.zeros_like(args[index])
            return tuple(args)

        model.net.adapter.register_forward_pre_hook(zero)
    return model


def measure(
    weights: str = "builtin", clips: int = 8, frames: int = 12, size: int = 64, seed: int = 7, root=None
):
    """Rows label -> {psnr, ssim, tof, ...} and the mean |difference| of the two ablated outputs (0-255)."""
    root = write_clips(
        Path(root or f"results/procedural/clips-{clips}x{frames}x{size}-s{seed}"), clips, frames, size, seed
    )
    methods = {"bicubic": "bicubic", "full": without(weights, None)}
    methods.update({f"no {s} stream": without(weights, s) for s in STREAMS})
    result = vsrzoo.evaluate("folder", methods, root=root, metrics="psnr,ssim,tof", out=None)
    rows = {
        label: {k: v for k, v in result.summary(label).items() if isinstance(v, float)} for label in methods
    }
    lr = torch.rand(1, 4, 3, size, size, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        a, b = (methods[f"no {s} stream"](lr) for s in STREAMS)
    rows["ablated outputs differ"] = {"mean_abs_255": float((a - b).abs().mean() * 255)}
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default="builtin", help="LiteVSR weights folder (default: the shipped tiny)")
    add_clip_arguments(ap)
    args = ap.parse_args()
    report(measure(args.weights, args.clips, args.frames, args.size, args.seed), args.json)


if __name__ == "__main__":
    main()
