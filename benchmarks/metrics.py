"""Speed of vsrzoo's PSNR+SSIM vs a straightforward per-frame numpy/OpenCV implementation of the
same definition (BasicSR's ``calculate_psnr``/``calculate_ssim``: ``cv2.filter2D`` with the 11x11
Gaussian window), over all 171 frames of Vid4, measured side by side in one run.

Inputs are the bicubic x4 upsampling of Vid4 BIx4 and the GT, read once per clip before timing
(I/O is not timed). Both implementations are timed on the same frames, alternating which runs
first, ``--repeats`` times; the best time of each is kept (the machine may be shared). Also
checks that both agree (max |dPSNR| and |dSSIM|). Y channel is the Vid4 protocol; ``--rgb``
adds the RGB (REDS4-style) measurement. Prints the ratio (baseline time / vsrzoo time, > 1 means
vsrzoo is faster) and writes results/metrics.json.

    python benchmarks/metrics.py [--root DATA] [--repeats 3] [--rgb] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import cv2
import numpy as np
import torch

import vsrzoo
from vsrzoo.data.datasets import get_dataset
from vsrzoo.metrics.psnr_ssim import psnr_ssim

REPO = Path(__file__).resolve().parents[1]
C1, C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
WINDOW = np.outer(cv2.getGaussianKernel(11, 1.5), cv2.getGaussianKernel(11, 1.5).T)
Y_WEIGHTS = np.array([65.481, 128.553, 24.966])


def baseline_y(img: np.ndarray) -> np.ndarray:
    return img.astype(np.float64) / 255.0 @ Y_WEIGHTS + 16.0


def baseline_ssim_plane(a: np.ndarray, b: np.ndarray) -> float:
    mu1 = cv2.filter2D(a, -1, WINDOW)[5:-5, 5:-5]
    mu2 = cv2.filter2D(b, -1, WINDOW)[5:-5, 5:-5]
    s11 = cv2.filter2D(a * a, -1, WINDOW)[5:-5, 5:-5] - mu1**2
    s22 = cv2.filter2D(b * b, -1, WINDOW)[5:-5, 5:-5] - mu2**2
    s12 = cv2.filter2D(a * b, -1, WINDOW)[5:-5, 5:-5] - mu1 * mu2
    return float(
        np.mean(((2 * mu1 * mu2 + C1) * (2 * s12 + C2)) / ((mu1**2 + mu2**2 + C1) * (s11 + s22 + C2)))
    )


def baseline(sr: np.ndarray, gt: np.ndarray, y: bool) -> tuple[float, float]:
    """One frame, the BasicSR way: numpy for colour and PSNR, OpenCV for the SSIM window."""
    if y:
        a, b = baseline_y(sr)[..., None], baseline_y(gt)[..., None]
    else:
        a, b = sr.astype(np.float64), gt.astype(np.float64)
    psnr = 10 * np.log10(255.0**2 / np.mean((a - b) ** 2))
    ssim = np.mean(
        [
            baseline_ssim_plane(np.ascontiguousarray(a[..., c]), np.ascontiguousarray(b[..., c]))
            for c in range(a.shape[-1])
        ]
    )
    return float(psnr), float(ssim)


def ours(sr: np.ndarray, gt: np.ndarray, y: bool) -> tuple[float, float]:
    p, s = psnr_ssim(sr, gt, y_channel=y)
    return float(p[0]), float(s[0])


def timed(fn, frames, y: bool) -> tuple[float, list[tuple[float, float]]]:
    start = time.perf_counter()
    values = [fn(sr, gt, y) for sr, gt in frames]
    return time.perf_counter() - start, values


def data_root(arg: str | None) -> Path:
    for cand in [arg, os.environ.get("VSRZOO_DATA"), REPO.parent / "shared" / "data"]:
        if cand and (Path(cand) / "Vid4" / "GT").is_dir():
            return Path(cand)
    raise SystemExit("Vid4 not found: pass --root or set VSRZOO_DATA (the folder holding Vid4/)")


def measure(ds, model, y: bool, repeats: int) -> dict:
    best = {"baseline": float("inf"), "vsrzoo": float("inf")}
    totals = {"baseline": 0.0, "vsrzoo": 0.0}
    max_dp = max_ds = 0.0
    frames_total = 0
    for clip in ds.clips:
        frames = list(zip(model.upscale(clip.read_lr()), clip.read_gt()))
        frames_total += len(frames)
        clip_best = {"baseline": float("inf"), "vsrzoo": float("inf")}
        for r in range(repeats):
            order = [("baseline", baseline), ("vsrzoo", ours)]
            for name, fn in order if r % 2 == 0 else order[::-1]:
                seconds, values = timed(fn, frames, y)
                clip_best[name] = min(clip_best[name], seconds)
                if name == "baseline":
                    ref = values
                else:
                    got = values
        for name in totals:
            totals[name] += clip_best[name]
        max_dp = max(max_dp, max(abs(a[0] - b[0]) for a, b in zip(ref, got)))
        max_ds = max(max_ds, max(abs(a[1] - b[1]) for a, b in zip(ref, got)))
    best.update(totals)
    return {
        "frames": frames_total,
        "baseline_seconds": best["baseline"],
        "vsrzoo_seconds": best["vsrzoo"],
        "ratio_baseline_over_vsrzoo": best["baseline"] / best["vsrzoo"],
        "max_abs_dpsnr": max_dp,
        "max_abs_dssim": max_ds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rgb", action="store_true", help="also measure RGB PSNR/SSIM")
    parser.add_argument("--threads", type=int, help="torch and OpenCV threads (default: library defaults)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
        cv2.setNumThreads(args.threads)
    ds = get_dataset("vid4", root=data_root(args.root))
    model = vsrzoo.create_model("bicubic")
    results = {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "torch_threads": torch.get_num_threads(),
            "opencv_threads": cv2.getNumThreads(),
            "load_average": os.getloadavg(),
        },
        "versions": {"torch": torch.__version__, "opencv": cv2.__version__, "numpy": np.__version__},
    }
    for mode in ["y"] + (["rgb"] if args.rgb else []):
        r = measure(ds, model, mode == "y", args.repeats)
        results[mode] = r
        print(
            f"Vid4 {mode.upper():3s} PSNR+SSIM over {r['frames']} frames: baseline numpy/OpenCV {r['baseline_seconds']:.2f} s, "
            f"vsrzoo {r['vsrzoo_seconds']:.2f} s, ratio {r['ratio_baseline_over_vsrzoo']:.2f}x "
            f"(max |dPSNR| {r['max_abs_dpsnr']:.1e} dB, max |dSSIM| {r['max_abs_dssim']:.1e})"
        )
    out = REPO / "results" / "metrics.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
