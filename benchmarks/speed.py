"""Inference speed per method against this machine's matmul peak: FLOPs, time, MFU and where the time goes.

For each method with shipped tiny weights (or ``--methods``), 16 frames of 64 x 64 LR (a smooth
moving synthetic pattern, no file needed) go through the streaming engine (``stream_upscale``, what ``vsrzoo upscale``
runs) on the CPU, fp32, with the process's default threads. Measured side by side in one process:

- FLOPs of the whole run (``torch.utils.flop_counter.FlopCounterMode``: matmuls, convolutions and
  attention; elementwise work is not counted, so MFU is the share of the matmul-class peak used).
  torch's counter has no formula for the CPU's fused attention kernel
  (``_scaled_dot_product_flash_attention_for_cpu``: it counts 0 there, while the same call on CUDA
  or the meta device is counted), so :data:`CPU_ATTENTION` adds torch's own SDPA formula for it;
- the peak: the best rate of an fp32 ``2048^3`` matrix product seen in the whole script, GFLOP/s,
  sampled (best of three products) just before every timed run;
- time: the best and the median of ``--repeats`` runs after one warm-up, as seconds per output
  megapixel-frame; the runs go round-robin over all models (and the ``--previous`` ones), so a
  slow spell of the machine hits every row alike;
- MFU = FLOPs / best time / peak: the best time against the best peak, like for like (on a shared
  machine other tenants slow both down now and then; the median's MFU is printed beside it);
- the op groups of one run from ``torch.profiler`` (self CPU time, grouped: attention, convolution,
  matmul, gather/index/top-k, normalisation, elementwise, copies/layout, other), with the part of
  the wall time no operator accounts for reported as Python/other overhead.

``--previous DIR`` repeats the measurement with the weights in ``DIR/<method>-tiny`` (e.g. a
previous release's ``vsrzoo/weights``), so a change of speed shows beside its cause.
``--latent-tile-batch N ...`` adds rows of the latent methods run with ``latent_tile_batch=N``
(latent tiles denoised per call; same outputs), the setting a shipped config chooses. Issue 29
asks for MFU >= 40 % per method at this size. Writes ``results/speed.json``.

    python benchmarks/speed.py [--methods liftvsr simplegvr] [--repeats 5] [--previous OLD/weights]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections import defaultdict
from functools import partial
from pathlib import Path

os.environ.setdefault("KINETO_LOG_LEVEL", "5")  # the profiler's "no GPU" lines on a CPU machine
import numpy as np  # noqa: E402
import torch  # noqa: E402

GROUPS = {
    "attention": ("attention", "sdpa", "softmax", "_flash", "_efficient"),
    "convolution": ("conv", "mkldnn_convolution"),
    "matmul": ("addmm", "aten::mm", "bmm", "matmul", "linear", "baddbmm", "einsum"),
    "gather/index/top-k": ("index", "gather", "topk", "take_along", "scatter", "masked", "nonzero", "sort"),
    "normalisation": ("norm", "group_norm", "layer_norm", "rms"),
    "copies/layout": (
        "copy",
        "contiguous",
        "cat",
        "stack",
        "permute",
        "transpose",
        "pad",
        "clone",
        "to",
        "view",
    ),
    "elementwise": (
        "add",
        "mul",
        "sub",
        "div",
        "silu",
        "gelu",
        "sigmoid",
        "tanh",
        "exp",
        "clamp",
        "where",
        "pow",
    ),
}


def cpu_attention_flop(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    """torch's SDPA FLOP formula (two batched products), for the CPU kernel torch leaves uncounted."""
    from torch.utils.flop_counter import sdpa_flop_count

    return sdpa_flop_count(query_shape, key_shape, value_shape)


CPU_ATTENTION = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: cpu_attention_flop}


def group_of(op: str) -> str:
    name = op.lower()
    for group, keys in GROUPS.items():
        if any(k in name for k in keys):
            return group
    return "other"


def matmul_peak(n: int = 2048) -> float:
    """Best-of-three fp32 ``n^3`` matrix product on this process's threads, GFLOP/s."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(3))
    return 2 * n**3 / best / 1e9


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def clip(frames: int = 16, size: int = 64) -> list[np.ndarray]:
    """A smooth moving pattern: real content for the engine, no file needed."""
    y, x = np.mgrid[0:size, 0:size] / size
    return [
        (
            np.stack([np.sin(6 * x + t / 3), np.cos(5 * y - t / 4), np.sin(4 * (x + y))], -1) * 127 + 128
        ).astype(np.uint8)
        for t in range(frames)
    ]


def takes_tile_batch(model) -> bool:
    """Whether the method is built with ``latent_tile_batch`` (its constructor takes it), as LiftVSR and LiteVSR are."""
    return "latent_tile_batch" in model.hparams


def load(name: str, weights: Path | None, **overrides):
    import vsrzoo

    pretrained = str(weights / f"{name}-tiny") if weights is not None else "builtin"
    # inference only; FlopCounterMode's module tracker cannot hook parameters that require grad
    return vsrzoo.create_model(name, pretrained=pretrained, **overrides).eval().requires_grad_(False)


def run(model, frames: list[np.ndarray]) -> list[np.ndarray]:
    from vsrzoo.inference.streaming import stream_upscale

    torch.manual_seed(0)
    with torch.no_grad():
        return list(stream_upscale(model, frames))


def count(model, frames: list[np.ndarray]) -> dict:
    """FLOPs of one run and its output size; then one warm-up run."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False, custom_mapping=CPU_ATTENTION) as counter:
        out = run(model, frames)
    run(model, frames)  # warm-up
    return {
        "gflop": counter.get_total_flops() / 1e9,
        "megapixel_frames": len(out) * out[0].shape[0] * out[0].shape[1] / 1e6,
    }


def op_groups(model, frames: list[np.ndarray]) -> dict[str, float]:
    """Share of one profiled run per op group (self CPU time), the unaccounted wall time as overhead."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        wall = _timed(lambda: run(model, frames))
    groups: dict[str, float] = defaultdict(float)
    for event in prof.key_averages():
        groups[group_of(event.key)] += event.self_cpu_time_total / 1e6
    ops = sum(groups.values())
    groups["Python/other overhead"] = max(0.0, wall - ops)
    return {k: v / max(wall, ops) for k, v in sorted(groups.items(), key=lambda kv: -kv[1])}


def timed_rounds(
    models: dict, frames: list[np.ndarray], repeats: int
) -> tuple[dict[str, list[float]], list[float]]:
    """Run times of every model, round-robin so a slow spell of the machine hits all of them, and a
    matmul peak sample before each run."""
    times: dict[str, list[float]] = {label: [] for label in models}
    peaks = []
    for _ in range(repeats):
        for label, model in models.items():
            peaks.append(matmul_peak())
            times[label].append(_timed(partial(run, model, frames)))
    return times, peaks


def add_mfu(row: dict, peak: float) -> dict:
    """Seconds per output megapixel-frame and MFU of a measured row against the run's peak (GFLOP/s)."""
    for which in ("best", "median"):
        row[f"{which}_s_per_mp_frame"] = row[f"{which}_s"] / row["megapixel_frames"]
        row[f"mfu_{which}"] = row["gflop"] / row[f"{which}_s"] / peak
    return row


def report(label: str, row: dict, top: int) -> str:
    groups = ", ".join(f"{k} {100 * v:.0f}%" for k, v in list(row["groups"].items())[:top])
    return (
        f"{label:<22} {row['gflop']:>8.1f} {row['best_s_per_mp_frame']:>10.2f} {100 * row['mfu_best']:>6.1f}%"
        f" {row['median_s_per_mp_frame']:>10.2f} {100 * row['mfu_median']:>6.1f}%  {groups}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=["instavsr", "litevsr", "liftvsr", "simplegvr"])
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=64, help="LR side in pixels")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--top", type=int, default=4, help="op groups printed per method")
    parser.add_argument("--previous", type=Path, help="folder with <method>-tiny weights to measure beside")
    parser.add_argument(
        "--latent-tile-batch",
        type=int,
        nargs="+",
        default=[],
        metavar="N",
        help="also measure LiftVSR/LiteVSR with this many latent tiles per denoiser call",
    )
    args = parser.parse_args()

    frames = clip(args.frames, args.size)
    models = {name: load(name, None) for name in args.methods}
    if args.previous is not None:
        models.update({f"{name} (previous)": load(name, args.previous) for name in args.methods})
    for n in args.latent_tile_batch:
        models.update(
            {
                f"{name} (tiles/call {n})": load(name, None, latent_tile_batch=n)
                for name in args.methods
                if takes_tile_batch(models[name])
            }
        )
    rows = {}
    for label, model in models.items():
        print(f"counting {label} ...", flush=True)
        rows[label] = count(model, frames)
    print(f"timing {len(models)} models x {args.repeats} rounds ...", flush=True)
    times, peaks = timed_rounds(models, frames, args.repeats)
    for label, model in models.items():
        rows[label].update(
            best_s=min(times[label]), median_s=statistics.median(times[label]), times_s=times[label]
        )
        rows[label]["groups"] = op_groups(model, frames)
    peak = max(peaks)
    print(
        f"{torch.get_num_threads()} threads; fp32 matmul peak {peak:.1f} GFLOP/s (2048^3, best of {len(peaks)} samples, "
        f"lowest {min(peaks):.1f}); {args.frames} frames of {args.size}x{args.size} LR through the streaming engine; "
        f"best and median of {args.repeats} runs"
    )
    print(
        f"{'method':<22} {'GFLOP':>8} {'s/MP-frame':>10} {'MFU':>7} {'median':>10} {'MFU':>7}  top op groups (share of the run)"
    )
    results = {"peak_gflops": peak, "peak_samples": peaks, "threads": torch.get_num_threads(), "methods": {}}
    for name in args.methods:
        row = results["methods"][name] = add_mfu(rows[name], peak)
        print(report(name, row, args.top))
        for n in args.latent_tile_batch if takes_tile_batch(models[name]) else []:
            other = results["methods"][f"{name} (tiles/call {n})"] = add_mfu(
                rows[f"{name} (tiles/call {n})"], peak
            )
            print(report(f"  {n} latent tiles/call", other, args.top))
        if args.previous is not None:
            old = results["methods"][f"{name} (previous)"] = add_mfu(rows[f"{name} (previous)"], peak)
            print(report("  previous weights", old, args.top))
            print(f"  time ratio now / previous (best): {row['best_s'] / old['best_s']:.2f}x")
    out = Path(__file__).resolve().parents[1] / "results" / "speed.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
