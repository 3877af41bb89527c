"""Decode ahead / encode behind (vsrzoo.inference.overlap) vs sequential I/O, side by side in one run.

``vsrzoo.upscale`` on a real mp4 (mp4 in, H.264 mp4 out, 4x), once with decoding and encoding in
background threads (``io_threads=True``, the default) and once in the calling thread
(``io_threads=False``), for bicubic and for a learned method with shipped weights (instavsr-tiny
by default). Runs are interleaved (sequential, overlapped, sequential, ...) so load from other
processes hits both; the best of ``--repeats`` is reported as frames/s of the streaming loop
(model load excluded) plus the process CPU seconds. The model's intra-op threads are fixed
(``--threads``) so the comparison says what the overlap gains with the cores left to I/O.

A third row stands in for an accelerator: a model whose ``forward`` only repeats pixels (nearest
4x, negligible host work) and then waits ``--device-ms`` per frame, as the host does while a GPU
computes. It is a simulation, labelled as such; it shows what the overlap hides when the model
does not need the host's cores.

The input is ``real/mp4/<clip>`` under ``$VSRZOO_DATA`` (default ``aigc_1.mp4``, 256x256, 47
frames) or any video given with ``--input``. Prints the numbers and writes results/io_overlap.json.

    python benchmarks/io_overlap.py [--input X.mp4] [--method instavsr] [--frames 24] [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

import vsrzoo
from vsrzoo.data.io import FrameWriter, open_video
from vsrzoo.methods.base import VSRMethod

REPO = Path(__file__).resolve().parents[1]


def clip(args, folder: Path) -> Path:
    """The first ``--frames`` frames of the input as an mp4 (kept near-lossless, crf 0)."""
    src = (
        Path(args.input)
        if args.input
        else Path(os.environ.get("VSRZOO_DATA") or REPO.parent / "shared" / "data")
    )
    if not args.input:
        src = src / "real" / "mp4" / "aigc_1.mp4"
    video = open_video(src)
    path = folder / "in.mp4"
    with FrameWriter(path, crf=0, source=video.meta) as writer:
        for i, (frame, pts, duration) in enumerate(video.timed()):
            if i >= args.frames:
                break
            writer.write(frame, pts, duration)
    return path


class DeviceWait(VSRMethod):
    """Nearest 4x, then an idle wait per frame: the host-side picture of a model running on a GPU."""

    method_name = "device_wait"

    def __init__(self, scale: int = 4, wait: float = 0.1):
        super().__init__(scale=scale)
        self.wait = wait

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        out = lr.repeat_interleave(self.scale, -2).repeat_interleave(self.scale, -1)
        time.sleep(self.wait * lr.shape[1])
        return out


def run(path: Path, out: Path, method, threads: bool) -> tuple[float, float, int]:
    """Seconds of the streaming loop, process CPU seconds of the call, frames."""
    out.unlink(missing_ok=True)
    cpu = time.process_time()
    result = vsrzoo.upscale(path, out, method=method, io_threads=threads, progress=False, overwrite=True)
    return result.seconds, time.process_time() - cpu, result.num_frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", help="video file (default: real/mp4/aigc_1.mp4 under $VSRZOO_DATA)")
    parser.add_argument("--method", default="instavsr", help="the learned method besides bicubic")
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads for the model")
    parser.add_argument("--device-ms", type=float, default=100.0, help="simulated device time per frame")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = clip(args, folder)
        meta = open_video(path).meta
        print(
            f"input: {meta.width}x{meta.height}, {args.frames} frames; output 4x, H.264 crf 18; "
            f"{os.cpu_count()} CPUs, torch threads {args.threads}"
        )
        methods = {
            "bicubic": "bicubic",
            args.method: args.method,
            "simulated GPU": DeviceWait(wait=args.device_ms / 1000),
        }
        for label, method in methods.items():
            run(path, folder / "warm.mp4", method, True)  # warm-up: weights cached, kernels compiled
            best = {"sequential": None, "overlapped": None}
            for _ in range(args.repeats):
                for name, threads in (("sequential", False), ("overlapped", True)):
                    seconds, cpu, frames = run(path, folder / f"{name}.mp4", method, threads)
                    if best[name] is None or seconds < best[name][0]:
                        best[name] = (seconds, cpu, frames)
            seq, ovl = best["sequential"], best["overlapped"]
            rows[label] = {
                name: {"seconds": s, "cpu_seconds": c, "frames": f, "frames_per_s": f / s}
                for name, (s, c, f) in best.items()
            }
            rows[label]["speedup"] = seq[0] / ovl[0]
            print(
                f"{label:>13}: sequential {seq[2] / seq[0]:6.2f} frames/s (cpu {seq[1]:.1f} s) | "
                f"overlapped {ovl[2] / ovl[0]:6.2f} frames/s (cpu {ovl[1]:.1f} s) | speedup x{seq[0] / ovl[0]:.2f}"
            )
    out = REPO / "results" / "io_overlap.json"
    out.parent.mkdir(exist_ok=True)
    info = {
        "cpu": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "torch_threads": args.threads,
    }
    out.write_text(json.dumps({"setup": {**vars(args), **info}, "results": rows}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
