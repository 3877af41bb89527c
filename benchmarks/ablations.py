"""Ablations at tiny scale: each paper component on and off, trained and scored the same way.

For a method, every variant below trains the tiny recipe (``recipes/<method>-tiny.yaml``) on the
procedural clips with the same seed, data and step budget, differing only in the overrides the
variant names; then all variants are scored on Vid4 (BI x4, Y, crop 0) with PSNR/SSIM, tOF and
the warping error. Variants marked ``inference`` reuse the ``full`` variant's weights and change
only how it is run (e.g. sampler steps).

    python benchmarks/ablations.py liftvsr --steps 250 --frames 12 --seed 1 --root ../shared/data
    python benchmarks/ablations.py simplegvr --only "full attention" "no shifts" --steps 250
    python benchmarks/ablations.py simplegvr --cost-only   # measured paper-size FLOPs per variant

The tables in the model cards were made with ``--steps 250 --frames 12`` and seeds 0 and 1
(LiteVSR also needs ``--data ... model.kwargs.backbone_pretrained=<stage-1 prior>``, see its card).
A bicubic row, scored the same way, is the reference.

``--frames F`` scores the first F frames of each Vid4 clip (the table says so) to keep a CPU run
short; ``--frames 0`` scores all 171. Runs are cached under ``--out`` (delete a folder to redo
it). The table goes to ``<out>/<method>.md`` and ``.json`` and is printed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclasses.dataclass(frozen=True)
class Variant:
    """One row: recipe overrides for training, or model overrides at inference (``inference``)."""

    overrides: tuple[str, ...] = ()
    inference: dict | None = None
    what: str = ""


ABLATIONS: dict[str, dict[str, Variant]] = {
    "instavsr": {
        "full": Variant(what="recurrent state + flow-guided regulariser + latent/pixel GAN"),
        "no regulariser": Variant(("model.kwargs.temporal_weight=0.0",), what="flow-guided regulariser off"),
        "no recurrence": Variant(("model.kwargs.recurrent=false",), what="no previous output as input"),
        "no GAN": Variant(
            ("model.kwargs.latent_adv_weight=0.0", "model.kwargs.pixel_adv_weight=0.0"),
            what="adversarial terms off",
        ),
    },
    "simplegvr": {
        "full": Variant(
            what="sparse local attention (top-1 of the whole clip) + interleaved (shifted) windows"
        ),
        "full attention": Variant(
            ("model.kwargs.sparse_attention=false", "model.kwargs.temporal_window=null"),
            what="dense attention over the whole clip (paper's 'full')",
        ),
        "windows, dense": Variant(
            ("model.kwargs.sparse_attention=false",), what="dense attention in each window (paper's 'Swin')"
        ),
        "no shifts": Variant(("model.kwargs.shifted_windows=false",), what="temporal windows not shifted"),
        "top-k in unit": Variant(
            ("model.kwargs.topk_scope=unit",), what="top-k picked within the temporal unit only"
        ),
    },
    "litevsr": {
        "full": Variant(what="adapter with both streams, 1 Euler step"),
        "4 steps": Variant(inference={"num_inference_steps": 4}, what="the same weights, 4 Euler steps"),
        "no dynamic stream": Variant(
            ("model.kwargs.unroll_max=1", "model.kwargs.unroll_min=1"),
            what="refinement stream always fed the LR latent (no clean-estimate feedback)",
        ),
    },
    "liftvsr": {
        "full": Variant(what="DTA + AMC + asymmetric sampling"),
        "no AMC": Variant(("model.kwargs.memory_cache=false",), what="no memory cache across segments"),
        "no DTA": Variant(
            ("model.kwargs.temporal_attention=false",),
            what="no token-flow attention: per-frame temporal branch (FFN), AMC kept",
        ),
        "per-frame": Variant(
            ("model.kwargs.temporal_attention=false", "model.kwargs.memory_cache=false"),
            what="neither: the image DiT frame by frame (plus a per-frame FFN branch)",
        ),
    },
}


def train(method: str, label: str, variant: Variant, args: argparse.Namespace) -> Path:
    """Fit the tiny recipe with the variant's overrides (cached); returns the final weights folder."""
    out = Path(args.out) / method / label.replace(" ", "_")
    final = out / "final"
    if (final / "config.json").is_file():
        return final
    cmd = [
        sys.executable,
        "-m",
        "vsrzoo.cli",
        "fit",
        str(ROOT / "recipes" / f"{method}-tiny.yaml"),
        f"trainer.max_steps={args.steps}",
        f"seed={args.seed}",
        f"output_dir={out}",
        *args.data,
        *variant.overrides,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    start = time.time()
    log = out.with_suffix(".log")
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as f:
        subprocess.run(cmd, check=True, stdout=f, stderr=subprocess.STDOUT, env=env)
    print(f"  trained {method} / {label} in {time.time() - start:.0f} s ({log})", flush=True)
    return final


def vid4(root: str, frames: int):
    """Vid4 (BI x4), optionally only the first ``frames`` frames of each clip."""
    from vsrzoo.data.datasets import get_dataset

    ds = get_dataset("vid4", root)
    if frames:
        for clip in ds.clips:
            clip.gt, clip.lr = clip.gt[:frames], clip.lr[:frames] if clip.lr is not None else None
    return ds


def score(method: str, weights: dict[str, Path], args: argparse.Namespace) -> dict[str, dict]:
    """Vid4 summary per variant label, plus bicubic as the floor (inference variants load the
    ``full`` weights with overrides). Each row is cached beside its weights: delete it to redo."""
    import torch

    from vsrzoo.bench import evaluate
    from vsrzoo.factory import create_model

    torch.set_num_threads(args.threads)
    rows = {}
    for label, variant in {"bicubic": Variant(), **selected(method, args)}.items():
        cache = Path(args.out) / method / f"{label.replace(' ', '_')}.frames{args.frames}.json"
        if not cache.is_file():
            if label == "bicubic":
                model = create_model("bicubic")
            else:
                source = weights["full"] if variant.inference else weights[label]
                model = create_model(method, pretrained=str(source), **(variant.inference or {}))
            result = evaluate(vid4(args.root, args.frames), {label: model}, metrics=METRICS, report=False)
            cache.write_text(json.dumps(result.summary(label), indent=2))
        rows[label] = json.loads(cache.read_text())
    return rows


METRICS = "psnr,ssim,tof,ewarp,boundary"


# Paper-scale cost of a variant, measured (not estimated): FLOPs of one DiT forward counted by
# torch.utils.flop_counter on the meta device (no memory, no weights), at the paper's setting.
PAPER_GRID = {"simplegvr": (16, 20, 136, 240)}  # Wan2.1 VAE latent of 77 frames at 1080p (1088 x 1920)


def paper_gflops(method: str, variant: Variant) -> float | None:
    """GFLOPs of one forward of the ``full`` network with the variant's model overrides, or None."""
    if method not in PAPER_GRID:
        return None
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from vsrzoo.factory import create_model

    prefix = "model.kwargs."
    kwargs = {}
    for item in variant.overrides:
        key, value = item.split("=", 1)
        if key.startswith(prefix):
            kwargs[key[len(prefix) :]] = (
                None if value == "null" else {"true": True, "false": False}.get(value, value)
            )
    c, t, h, w = PAPER_GRID[method]
    with torch.device("meta"):
        model = create_model(method, variant="full", **kwargs)
    z = torch.zeros(1, c, t, h, w, device="meta")
    cond = torch.zeros(1, model.net.upsampler.conv_out.out_channels, t, h, w, device="meta")
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model.net(z, torch.ones(1, device="meta"), cond)
    return counter.get_total_flops() / 1e9


def table(method: str, rows: dict[str, dict], args: argparse.Namespace) -> str:
    from vsrzoo.tables import markdown_table

    frames = f"first {args.frames} frames per clip" if args.frames else "all frames"
    header = ["variant", "what", "PSNR-Y", "SSIM-Y", "tOF", "E*warp (x1e-3)", "dPSNR boundary/inside"]
    variants = ABLATIONS[method]
    flops = {label: paper_gflops(method, variants[label]) if label in variants else None for label in rows}
    with_flops = any(v is not None for v in flops.values())
    if with_flops:
        header.append("paper-size GFLOPs / DiT forward")
    body = [
        [
            label,
            variants[label].what if label in variants else "MATLAB bicubic (reference)",
            f"{r['psnr']:.2f}",
            f"{r['ssim']:.4f}",
            f"{r['tof']:.3f}",
            f"{r['ewarp']:.3f}",
            _ratio(r.get("dpsnr_ratio")),
            *([f"{flops[label]:.0f}" if flops[label] is not None else "-"] if with_flops else []),
        ]
        for label, r in rows.items()
    ]
    title = (
        f"{method} tiny ablation: {args.steps} steps each on procedural clips (seed {args.seed}); "
        f"Vid4 BI x4, Y, crop 0, {frames}"
    )
    return f"{title}\n\n{markdown_table(header, body)}\n"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def selected(method: str, args: argparse.Namespace) -> dict[str, Variant]:
    """The variants ``--only`` names (all by default); ``full`` always, as the reference row."""
    rows = ABLATIONS[method]
    if not args.only:
        return rows
    unknown = sorted(set(args.only) - set(rows))
    if unknown:
        raise SystemExit(f"unknown {method} variant(s) {unknown}; choose from {sorted(rows)}")
    return {label: v for label, v in rows.items() if label == "full" or label in args.only}


def run(method: str, args: argparse.Namespace) -> None:
    variants = selected(method, args)
    print(f"{method}: {len(variants)} variants", flush=True)
    weights = {label: train(method, label, v, args) for label, v in variants.items() if v.inference is None}
    rows = score(method, weights, args)
    out = Path(args.out)
    text = table(method, rows, args)
    (out / f"{method}.md").write_text(text)
    (out / f"{method}.json").write_text(
        json.dumps({"steps": args.steps, "frames": args.frames, "rows": rows}, indent=2)
    )
    print(text, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("method", choices=[*ABLATIONS, "all"])
    parser.add_argument("--steps", type=int, default=400, help="training steps per variant (default 400)")
    parser.add_argument(
        "--frames", type=int, default=12, help="Vid4 frames scored per clip, 0 = all (default 12)"
    )
    parser.add_argument(
        "--root", default=os.environ.get("VSRZOO_DATA") or str(ROOT.parent / "shared" / "data")
    )
    parser.add_argument("--out", default=str(ROOT / "results" / "ablations"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run (default 1)")
    parser.add_argument(
        "--data",
        nargs="*",
        default=[
            "data.dataset=procedural",
            "data.val_dataset=procedural",
            "data.train_clips=null",
            "data.val_clips=null",
        ],
        help="recipe overrides for the training data (default: the procedural clips)",
    )
    parser.add_argument(
        "--only", nargs="*", default=[], help="variant labels to run besides 'full' (default: all)"
    )
    parser.add_argument(
        "--cost-only",
        action="store_true",
        help="print each variant's measured paper-size FLOPs (no training, no data) and exit",
    )
    args = parser.parse_args()
    for method in ABLATIONS if args.method == "all" else [args.method]:
        if args.cost_only:
            print_cost(method)
        else:
            run(method, args)


def print_cost(method: str) -> None:
    """Measured GFLOPs of one paper-size DiT forward per variant, and the ratio to the first."""
    flops = {label: paper_gflops(method, v) for label, v in ABLATIONS[method].items()}
    if all(v is None for v in flops.values()):
        print(f"{method}: no paper-size cost measurement")
        return
    grid = "x".join(map(str, PAPER_GRID[method]))
    print(f"{method}: GFLOPs of one DiT forward at the paper's latent {grid} (FlopCounterMode, meta device)")
    base = flops["full"]
    for label, value in flops.items():
        print(f"  {label:<18} {value:>12.0f}  ({value / base:.3f} x the 'full' variant)")


if __name__ == "__main__":
    main()
