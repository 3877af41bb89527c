"""Memory, speed and seams of vsrzoo.inference, measured side by side in one run.

1. Peak RSS of ``vsrzoo.upscale`` (mp4 in, mp4 out, bicubic in 8-frame segments cross-faded over
   2 frames) on 16 vs 128 frames, each in a fresh subprocess (target ratio <= 1.15).
2. Peak RSS of the streaming engine on 256x256 vs 1024x1024 LR frames with a fixed 128-pixel
   tile, excluding the uint8 output frame buffer (target ratio <= 1.5); untiled for reference.
3. Frames per second at fp32 vs bf16 autocast on this CPU, for a small CNN (conv layers run in
   bf16) and for bicubic (which computes in float64, so autocast leaves it unchanged).
4. Tiled vs untiled output: the maximum difference for a per-pixel model (target <= 1e-5) and,
   for a model with a receptive field (bicubic + 5x5 Gaussian), the error against the ground
   truth along tile borders vs elsewhere (target: border <= 1.5x interior).

Real frames come from Vid4 (calendar) under ``$VSRZOO_DATA`` or ``<repo>/../shared/data``, else
from the built-in sample clips. Prints the numbers and writes results/streaming.json.

    python benchmarks/streaming.py [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vsrzoo.data.io import FrameWriter, list_frames, read_image
from vsrzoo.data.resize import imresize
from vsrzoo.methods.base import VSRMethod

REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------- models
class PerPixel(VSRMethod):
    """A colour mix of each LR pixel repeated s x s: no receptive field beyond the pixel."""

    method_name = "perpixel"

    def __init__(self, scale: int = 4):
        super().__init__(scale=scale)
        self.register_buffer(
            "mix", torch.tensor([[0.69, 0.22, 0.09], [0.11, 0.79, 0.10], [0.16, 0.14, 0.70]])
        )

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        y = torch.einsum("oc,btchw->btohw", self.mix, lr)
        return y.repeat_interleave(self.scale, -2).repeat_interleave(self.scale, -1)


class BicubicBlur(VSRMethod):
    """MATLAB bicubic x4 then a fixed 5x5 Gaussian (sigma 1): a receptive field of ~3 LR pixels."""

    method_name = "bicubic_blur"

    def __init__(self, scale: int = 4):
        super().__init__(scale=scale)
        g = torch.exp(-((torch.arange(5.0) - 2) ** 2) / 2)
        self.register_buffer("kernel", ((g[:, None] * g[None]) / g.sum() ** 2).expand(3, 1, 5, 5).clone())

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        up = imresize(lr, scale=self.scale).flatten(0, 1).float()
        return F.conv2d(up, self.kernel, padding=2, groups=3).unflatten(0, lr.shape[:2])


class SmallCNN(VSRMethod):
    """An ESPCN-like per-frame CNN (4 conv layers of 64 channels, pixel shuffle); random weights."""

    method_name = "small_cnn"

    def __init__(self, scale: int = 4, width: int = 64):
        super().__init__(scale=scale)
        torch.manual_seed(0)
        self.body = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, 3 * scale**2, 3, padding=1),
            nn.PixelShuffle(scale),
        )

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(lr.flatten(0, 1), scale_factor=self.scale, mode="nearest")
        return (up + 0.1 * self.body(lr.flatten(0, 1))).unflatten(0, lr.shape[:2])


# ---------------------------------------------------------------------------- data
def data_root() -> Path | None:
    env = os.environ.get("VSRZOO_DATA")
    for cand in ([Path(env)] if env else []) + [REPO.parent / "shared" / "data"]:
        if (cand / "Vid4" / "BIx4" / "calendar").is_dir():
            return cand
    return None


def clip() -> tuple[list[np.ndarray], list[np.ndarray], str]:
    """(LR frames, GT frames, name) of a real clip."""
    root = data_root()
    if root is not None:
        lr = [read_image(p) for p in list_frames(root / "Vid4/BIx4/calendar")]
        gt = [read_image(p) for p in list_frames(root / "Vid4/GT/calendar")]
        return lr, gt, "Vid4 calendar"
    from vsrzoo.data.sample import sample_root

    base = sample_root()
    lr = [read_image(p) for p in list_frames(base / "sample/BIx4/astronaut")]
    gt = [read_image(p) for p in list_frames(base / "sample/GT/astronaut")]
    return lr, gt, "built-in sample astronaut"


def looped(frames: list[np.ndarray], n: int) -> list[np.ndarray]:
    """``n`` frames playing the clip forward and backward (no jump cut)."""
    order = list(range(len(frames))) + list(range(len(frames) - 2, 0, -1))
    return [frames[order[i % len(order)]] for i in range(n)]


def big_frame(frame: np.ndarray, size: int) -> np.ndarray:
    """A real frame mirrored out to ``size`` x ``size`` (real texture at any size)."""
    reps = (-(-size // frame.shape[0]), -(-size // frame.shape[1]))
    tiles = [[frame[:, ::-1] if j % 2 else frame for j in range(reps[1])] for _ in range(reps[0])]
    rows = [
        np.concatenate(r, axis=1)[::-1] if i % 2 else np.concatenate(r, axis=1) for i, r in enumerate(tiles)
    ]
    return np.ascontiguousarray(np.concatenate(rows, axis=0)[:size, :size])


# ---------------------------------------------------------------------------- children
def vm_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise OSError(field)


def child_frames(args) -> dict:
    import vsrzoo

    baseline = vm_kb("VmRSS")
    result = vsrzoo.upscale(
        args.input, args.output, method="bicubic", segment_length=8, overlap=2, progress=False
    )
    return {"frames": result.num_frames, "peak_kb": vm_kb("VmHWM"), "baseline_kb": baseline}


def child_size(args) -> dict:
    from vsrzoo.factory import create_model
    from vsrzoo.inference.streaming import stream_upscale

    frame = big_frame(clip()[0][0], args.size)
    model = create_model("bicubic")
    baseline = vm_kb("VmRSS")
    tile = None if args.tile == 0 else args.tile
    checksum = 0
    for out in stream_upscale(
        model, (frame.copy() for _ in range(2)), segment_length=1, tile=tile, tile_overlap=16
    ):
        checksum += int(out[::97, ::89].sum())
        del out  # the consumer keeps no frame: the engine's own output buffer is what remains
    out_buffer = (4 * args.size) ** 2 * 3  # one uint8 SR frame (segment of 1)
    return {
        "peak_kb": vm_kb("VmHWM"),
        "baseline_kb": baseline,
        "out_buffer_kb": out_buffer // 1024,
        "checksum": checksum,
    }


def run_child(*argv: str) -> dict:
    cmd = [sys.executable, __file__, "--child", *argv]
    out = subprocess.run(
        cmd, check=True, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"}
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------- measurements
def rss_vs_frames(lr: list[np.ndarray], tmp: Path) -> dict:
    rows = {}
    for n in (16, 128):
        src = tmp / f"in{n}.mp4"
        with FrameWriter(src, fps=25, crf=12) as writer:
            for frame in looped(lr, n):
                writer.write(frame)
        rows[n] = run_child("frames", "--input", str(src), "--output", str(tmp / f"out{n}.mp4"))
        rows[f"{n}_png"] = run_child("frames", "--input", str(src), "--output", str(tmp / f"png{n}"))
        assert rows[n]["frames"] == rows[f"{n}_png"]["frames"] == n
    peak = {n: rows[n]["peak_kb"] / 1024 for n in rows}
    work = {n: (rows[n]["peak_kb"] - rows[n]["baseline_kb"]) / 1024 for n in rows}
    return {
        "peak_mb": peak,
        "above_baseline_mb": work,
        "ratio_peak": peak[128] / peak[16],
        "ratio_above_baseline": work[128] / max(work[16], 1e-9),
        "ratio_peak_png": peak["128_png"] / peak["16_png"],
        "ratio_above_baseline_png": work["128_png"] / max(work["16_png"], 1e-9),
    }


def rss_vs_size(tile: int = 128) -> dict:
    rows = {
        (size, t): run_child("size", "--size", str(size), "--tile", str(t))
        for size in (256, 1024)
        for t in (tile, 0)
    }

    def excl(size, t):
        return (rows[size, t]["peak_kb"] - rows[size, t]["out_buffer_kb"]) / 1024

    def work(size, t):
        r = rows[size, t]
        return (r["peak_kb"] - r["baseline_kb"] - r["out_buffer_kb"]) / 1024

    return {
        "tile": tile,
        "peak_mb": {f"{s}_{'tiled' if t else 'untiled'}": rows[s, t]["peak_kb"] / 1024 for s, t in rows},
        "out_buffer_mb": {s: rows[s, tile]["out_buffer_kb"] / 1024 for s in (256, 1024)},
        "peak_excl_output_mb": {f"{s}_{'tiled' if t else 'untiled'}": excl(s, t) for s, t in rows},
        "work_excl_output_mb": {f"{s}_{'tiled' if t else 'untiled'}": work(s, t) for s, t in rows},
        "ratio_tiled": excl(1024, tile) / excl(256, tile),
        "ratio_untiled": excl(1024, 0) / excl(256, 0),
        "ratio_tiled_work": work(1024, tile) / max(work(256, tile), 1e-9),
        "ratio_untiled_work": work(1024, 0) / max(work(256, 0), 1e-9),
    }


def fps_precision(lr: list[np.ndarray], repeats: int = 2) -> dict:
    """Best-of-``repeats`` fps per precision, per model and segment length (frames per forward)."""
    from vsrzoo.factory import create_model
    from vsrzoo.inference.streaming import stream_upscale

    frames = looped(lr, 16)
    out = {}
    for name, model, segment in (
        ("small_cnn_seg1", SmallCNN(), 1),
        ("small_cnn_seg8", SmallCNN(), 8),
        ("bicubic_seg1", create_model("bicubic"), 1),
    ):
        best = {p: {"wall": float("inf"), "cpu": float("inf")} for p in ("fp32", "bf16")}
        list(stream_upscale(model, frames[:2]))  # warm-up
        for _ in range(repeats):
            for p in best:
                wall, cpu = time.perf_counter(), time.process_time()
                for _frame in stream_upscale(model, frames, segment_length=segment, overlap=0, precision=p):
                    pass
                best[p]["wall"] = min(best[p]["wall"], time.perf_counter() - wall)
                best[p]["cpu"] = min(best[p]["cpu"], time.process_time() - cpu)
        out[name] = {
            "fps_wall": {p: len(frames) / best[p]["wall"] for p in best},
            "fps_cpu": {p: len(frames) / best[p]["cpu"] for p in best},
            "bf16_speedup_wall": best["fp32"]["wall"] / best["bf16"]["wall"],
            "bf16_speedup_cpu": best["fp32"]["cpu"] / best["bf16"]["cpu"],
        }
    return out


def border_mask(h: int, w: int, tile: int, overlap: int, scale: int, width: int) -> torch.Tensor:
    """HR pixels within ``width`` HR pixels of an inner tile edge."""
    from vsrzoo.inference.tiling import tile_spans

    mask = torch.zeros(scale * h, scale * w, dtype=torch.bool)
    for spans, length, axis in ((tile_spans(h, tile, overlap), h, 0), (tile_spans(w, tile, overlap), w, 1)):
        edges = {e for a, b in spans for e in (a, b) if 0 < e < length}
        for e in edges:
            lo, hi = max(0, scale * e - width), scale * e + width
            if axis == 0:
                mask[lo:hi] = True
            else:
                mask[:, lo:hi] = True
    return mask


def seams(lr: list[np.ndarray], gt: list[np.ndarray], tile: int = 48, overlap: int = 16) -> dict:
    from vsrzoo.inference.tiling import tiled_forward

    x = torch.from_numpy(np.stack(lr[:2])).permute(0, 3, 1, 2).float().div(255).unsqueeze(0)
    y = torch.from_numpy(np.stack(gt[:2])).permute(0, 3, 1, 2).float().div(255).unsqueeze(0)
    out = {}
    per_pixel = PerPixel()
    with torch.no_grad():
        whole = per_pixel(x)
    out["per_pixel_max_diff"] = (tiled_forward(per_pixel, x, tile, overlap) - whole).abs().max().item()
    cnn = SmallCNN()
    with torch.no_grad():
        whole = cnn(x)
    out["small_cnn_max_diff"] = (tiled_forward(cnn, x, tile, overlap) - whole).abs().max().item()
    model = BicubicBlur()
    with torch.no_grad():
        whole = model(x)
    mask = border_mask(x.shape[-2], x.shape[-1], tile, overlap, 4, width=8)
    err = {}
    for name, sr, layout in (
        ("untiled", whole, overlap),  # scored on the tiled run's borders: the content's own share
        (f"tiled_overlap{overlap}", tiled_forward(model, x, tile, overlap), overlap),
        ("tiled_overlap0", tiled_forward(model, x, tile, 0), 0),
    ):
        se = ((sr.clamp(0, 1) - y) ** 2).mean(dim=(0, 1, 2))
        border = border_mask(x.shape[-2], x.shape[-1], tile, layout, 4, width=8)
        err[name] = {
            "border_mse": se[border].mean().item(),
            "interior_mse": se[~border].mean().item(),
            "max_diff_vs_untiled": (sr - whole).abs().max().item(),
        }
        err[name]["border_over_interior"] = err[name]["border_mse"] / err[name]["interior_mse"]
    out["receptive_field"] = err
    out["border_pixels_share"] = mask.float().mean().item()
    out["tile"], out["overlap"] = tile, overlap
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--child", choices=("frames", "size"), help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--tile", type=int, default=128, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child:
        print(json.dumps(child_frames(args) if args.child == "frames" else child_size(args)))
        return

    lr, gt, name = clip()
    results = {"clip": name, "torch": torch.__version__, "cpu": platform.processor() or platform.machine()}
    results["threads"] = torch.get_num_threads()
    with tempfile.TemporaryDirectory() as tmp:
        results["rss_vs_frames"] = r = rss_vs_frames(lr, Path(tmp))
    print(
        f"[1] peak RSS, upscale bicubic mp4->mp4, {name} {lr[0].shape[1]}x{lr[0].shape[0]}, segment 8/overlap 2"
    )
    print(
        f"    16 frames: {r['peak_mb'][16]:.0f} MB   128 frames: {r['peak_mb'][128]:.0f} MB   ratio {r['ratio_peak']:.3f} (<= 1.15)"
    )
    print(
        f"    above the post-import baseline: {r['above_baseline_mb'][16]:.0f} MB vs {r['above_baseline_mb'][128]:.0f} MB "
        f"(ratio {r['ratio_above_baseline']:.3f}; the H.264 encoder's lookahead fills up to ~40 frames)"
    )
    print(
        f"    PNG-folder output instead: {r['peak_mb']['16_png']:.0f} MB vs {r['peak_mb']['128_png']:.0f} MB "
        f"(ratio {r['ratio_peak_png']:.3f}); above baseline {r['above_baseline_mb']['16_png']:.0f} MB vs "
        f"{r['above_baseline_mb']['128_png']:.0f} MB (ratio {r['ratio_above_baseline_png']:.3f})"
    )

    results["rss_vs_size"] = s = rss_vs_size()
    print(
        f"[2] peak RSS of the engine, 256x256 vs 1024x1024 LR frames, bicubic x4, tile {s['tile']} (overlap 16)"
    )
    for key in ("256_tiled", "1024_tiled", "256_untiled", "1024_untiled"):
        print(
            f"    {key:13s} peak {s['peak_mb'][key]:7.0f} MB   excl. output frame {s['peak_excl_output_mb'][key]:7.0f} MB"
            f"   above baseline excl. output {s['work_excl_output_mb'][key]:7.0f} MB"
        )
    print(
        f"    ratio 1024/256 excl. output: tiled {s['ratio_tiled']:.3f} (<= 1.5), untiled {s['ratio_untiled']:.3f}; "
        f"above baseline: tiled {s['ratio_tiled_work']:.2f}, untiled {s['ratio_untiled_work']:.2f}"
    )

    results["fps"] = f = fps_precision(lr)
    print(
        f"[3] frames/s on {results['threads']} threads, 16 frames of {lr[0].shape[1]}x{lr[0].shape[0]} -> x4"
    )
    for model, row in f.items():
        print(
            f"    {model:15s} fp32 {row['fps_wall']['fp32']:6.2f} fps  bf16 {row['fps_wall']['bf16']:6.2f} fps  "
            f"(bf16 speed-up wall {row['bf16_speedup_wall']:.2f}x, CPU time {row['bf16_speedup_cpu']:.2f}x)"
        )

    results["seams"] = t = seams(lr, gt)
    print(f"[4] tiled vs untiled, tile {t['tile']} overlap {t['overlap']} LR px")
    print(f"    per-pixel model max |tiled - untiled| = {t['per_pixel_max_diff']:.2e} (<= 1e-5)")
    print(f"    small CNN (random weights) max |tiled - untiled| = {t['small_cnn_max_diff']:.2e}")
    for key, row in t["receptive_field"].items():
        print(
            f"    bicubic+blur {key:18s} MSE vs GT: border {row['border_mse']:.3e}  interior {row['interior_mse']:.3e}  "
            f"border/interior {row['border_over_interior']:.3f}   max |diff vs untiled| {row['max_diff_vs_untiled']:.2e}"
        )
    out = REPO / "results" / "streaming.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
