"""Does InstaVSR's recurrence drift over a long video? (issue 13, "No drift")

A clip of ``--frames`` frames pans over a real Vid4 frame (``city/00000000.png``) by one HR
pixel per frame; its LR frames are the MATLAB-bicubic (BI) x4 downscale, rounded to uint8 like
Vid4's BIx4 files, so every frame has a known ground truth. Scored per frame (PSNR, Y channel,
crop 0): bicubic, InstaVSR with its recurrent state, and the same network without the state
(``carry_state=False``: every frame gets the bicubic upsample as its "previous" input).

Printed: mean PSNR, mean of the first and last 20 frames, and ``last20 - first20`` of each run;
InstaVSR's drift is that difference minus bicubic's (target: within 0.2 dB). That trend also
moves with the content (a model that gains more than bicubic on the pan's later content
"drifts" upwards), so the content-free measure is printed too: the last 20 frames of the full
run minus the same frames of a run restarted with a fresh state 40 frames before the end
(``state_age_drift``; negative when an old state is worse than a young one). ``--step 0`` films
the frame with a still camera: the hardest case for a recurrent loop, since warping by zero
flow does not blur the fed-back frame, so any gain above one in the loop compounds. Writes
results/instavsr_drift.json (``instavsr_drift_step0.json`` for a still camera).

    PYTHONPATH=src python benchmarks/instavsr_drift.py [--frames 150] [--size 64] [--step 1] [--ckpt builtin]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import torch

import vsrzoo
from vsrzoo.data.io import read_image
from vsrzoo.data.resize import imresize_uint8
from vsrzoo.metrics.psnr_ssim import psnr

REPO = Path(__file__).resolve().parents[1]
RESTART = 40  # frames before the end at which the content-free drift check restarts the state


def data_root() -> Path:
    """``$VSRZOO_DATA``, else ``shared/data`` next to the checkout (or next to its parent folder)."""
    if os.environ.get("VSRZOO_DATA"):  # set and not empty
        return Path(os.environ["VSRZOO_DATA"])
    candidates = [REPO.parent / "shared" / "data", REPO.parents[1] / "shared" / "data"]
    return next((c for c in candidates if c.is_dir()), candidates[0])


def pan_clip(
    image: np.ndarray, frames: int, size: int, scale: int = 4, step: int = 1, top: int | None = None
):
    """GT and BI-LR uint8 frames (lists of (H, W, 3)) of a pan by ``step`` HR pixels per frame.

    The HR window is ``scale * size`` pixels square, starting at the left edge and ``top``
    (default: vertically centred), moving right.
    """
    hr = scale * size
    if hr + step * (frames - 1) > image.shape[1] or hr > image.shape[0]:
        raise ValueError(
            f"a {frames}-frame pan of {hr}px windows does not fit a {image.shape[1]}x{image.shape[0]} image"
        )
    top = (image.shape[0] - hr) // 2 if top is None else top
    gt = [np.ascontiguousarray(image[top : top + hr, t * step : t * step + hr]) for t in range(frames)]
    stack = torch.from_numpy(np.stack(gt)).permute(0, 3, 1, 2)
    lr = imresize_uint8(stack, scale=1 / scale).permute(0, 2, 3, 1).numpy()
    return gt, list(lr)


def score(model, lr: list[np.ndarray], gt: list[np.ndarray]) -> np.ndarray:
    """Per-frame Y PSNR (crop 0) of the model's streamed output."""
    sr = np.stack(list(model.upscale(iter(lr))))
    return psnr(sr, np.stack(gt), crop_border=0, y_channel=True).numpy()


def summary(values: np.ndarray) -> dict[str, float]:
    first, last = float(values[:20].mean()), float(values[-20:].mean())
    return {"mean": float(values.mean()), "first20": first, "last20": last, "last_minus_first": last - first}


def state_age_drift(model, lr: list[np.ndarray], gt: list[np.ndarray], full_run: np.ndarray) -> float:
    """Content-free drift: the last 20 frames of ``full_run`` (per-frame PSNR from frame 0) minus
    the same frames from a state restarted ``RESTART`` frames before the end."""
    restarted = score(model, lr[-RESTART:], gt[-RESTART:])  # upscale() starts a fresh state
    return float(full_run[-20:].mean() - restarted[-20:].mean())


def run(frames: int, size: int, ckpt: str, variant: str = "tiny", step: int = 1, **kwargs) -> dict:
    """Scores of bicubic and InstaVSR with and without its state; ``kwargs`` go to InstaVSR."""
    image = read_image(data_root() / "Vid4" / "GT" / "city" / "00000000.png")
    gt, lr = pan_clip(image, frames, size, step=step)
    torch.manual_seed(0)
    runs = {
        "bicubic": vsrzoo.create_model("bicubic"),
        "instavsr": vsrzoo.create_model("instavsr", variant=variant, pretrained=ckpt, **kwargs),
        "instavsr_no_recurrence": vsrzoo.create_model(
            "instavsr", variant=variant, pretrained=ckpt, **{**kwargs, "carry_state": False}
        ),
    }
    per_frame = {name: score(model.eval(), lr, gt) for name, model in runs.items()}
    result = {name: summary(v) for name, v in per_frame.items()}
    result["drift_vs_bicubic"] = (
        result["instavsr"]["last_minus_first"] - result["bicubic"]["last_minus_first"]
    )
    result["state_age_drift"] = state_age_drift(runs["instavsr"], lr, gt, per_frame["instavsr"])
    result["per_frame"] = {name: [round(float(x), 3) for x in v] for name, v in per_frame.items()}
    result["setup"] = {
        "frames": frames,
        "lr_size": size,
        "step": step,
        "ckpt": ckpt,
        "threads": torch.get_num_threads(),
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--size", type=int, default=64, help="LR side of the window (HR = 4x)")
    parser.add_argument("--step", type=int, default=1, help="HR pixels per frame (0: still camera)")
    parser.add_argument("--ckpt", default="builtin")
    parser.add_argument("--out", default=None, help="JSON path (default: results/instavsr_drift*.json)")
    args = parser.parse_args()
    result = run(args.frames, args.size, args.ckpt, step=args.step)
    for name in ("bicubic", "instavsr", "instavsr_no_recurrence"):
        r = result[name]
        print(
            f"{name:24s} mean {r['mean']:.2f} dB  first20 {r['first20']:.2f}  last20 {r['last20']:.2f}  "
            f"last-first {r['last_minus_first']:+.2f}"
        )
    print(
        f"instavsr drift vs bicubic (last-first difference): {result['drift_vs_bicubic']:+.2f} dB (target |x| <= 0.2)"
    )
    print(
        f"instavsr last 20 frames, state from frame 0 minus state from {RESTART} frames before the end: "
        f"{result['state_age_drift']:+.2f} dB (content-free drift; negative = an old state is worse)"
    )
    print(
        f"instavsr - bicubic mean: {result['instavsr']['mean'] - result['bicubic']['mean']:+.2f} dB; "
        f"instavsr - no recurrence: {result['instavsr']['mean'] - result['instavsr_no_recurrence']['mean']:+.2f} dB"
    )
    suffix = "" if args.step == 1 else f"_step{args.step}"
    out = Path(args.out or REPO / "results" / f"instavsr_drift{suffix}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
