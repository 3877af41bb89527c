"""Claims that hold: every quantitative claim of the README and the model cards that can be
checked in under two minutes on CPU, measured now, with its verdict.

Each claim quotes its sentence verbatim (whitespace aside) from the file it appears in, so a claim
whose text was edited away is reported rather than silently kept. The measurement runs the
package's public API (``vsrzoo.create_model``, ``vsrzoo.evaluate``, the ``vsrzoo models --params``
counting path) or the benchmark script the sentence names; the verdict is ``holds`` when every
criterion is met, ``FAILS`` otherwise, ``skipped: <why>`` when the measurement cannot run here
(no data root, no avx512_bf16). Exit code 1 when any claim FAILS.

    OMP_NUM_THREADS=1 python benchmarks/claims.py [--root DATA] [--fast] [--only ID ...] [--json OUT]

``--fast`` runs the subset the test runs (each well under 20 s, and no speed ratio: inside a loaded
test run a timing measures the load, so speed claims are checked by running this script alone). Adding a claim is one decorated
function that returns its measured values (see ``claim`` and the examples below).
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

import vsrzoo

REPO = Path(__file__).resolve().parents[1]
README = "README.md"
BLOCKS = "benchmarks/blocks.py"


def card(method: str) -> str:
    """Path of a model card, relative to the repository."""
    return f"src/vsrzoo/weights/{method}-tiny/README.md"


# ---------------------------------------------------------------------------- criteria
@dataclass(frozen=True)
class Near:
    """The measured ``key`` is the claimed value to within ``tol`` (half the last printed digit
    unless the claim's own benchmark states a target)."""

    key: str
    claimed: float
    tol: float

    def __call__(self, measured: dict) -> bool:
        return abs(measured[self.key] - self.claimed) <= self.tol

    def __str__(self) -> str:
        return f"{self.key} = {self.claimed:g} ± {self.tol:g}"


@dataclass(frozen=True)
class AtLeast:
    """A lower bound: speed-ups and other 'at least' claims."""

    key: str
    bound: float

    def __call__(self, measured: dict) -> bool:
        return measured[self.key] >= self.bound

    def __str__(self) -> str:
        return f"{self.key} >= {self.bound:g}"


@dataclass(frozen=True)
class AtMost:
    """An upper bound: 'does not grow', 'within' and 'exactly' (up to float rounding) claims."""

    key: str
    bound: float

    def __call__(self, measured: dict) -> bool:
        return measured[self.key] <= self.bound

    def __str__(self) -> str:
        return f"{self.key} <= {self.bound:g}"


@dataclass(frozen=True)
class Equals:
    """Exact equality: integer counts and default values."""

    key: str
    claimed: float

    def __call__(self, measured: dict) -> bool:
        return measured[self.key] == self.claimed

    def __str__(self) -> str:
        return f"{self.key} == {self.claimed}"


# ---------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class Claim:
    """One claim: where it is written, its words, how to measure it and what must hold."""

    id: str
    where: str
    text: str
    measure: Callable[[Context], dict]
    checks: tuple
    fast: bool = False
    needs: tuple[str, ...] = ()


@dataclass
class Context:
    """What measurements may need from the command line: the data root (None when absent)."""

    root: Path | None


@dataclass
class Outcome:
    """A claim's result: the line it sits on, the measured values, the verdict and its cost."""

    claim: Claim
    line: str
    measured: dict = field(default_factory=dict)
    verdict: str = ""
    seconds: float = 0.0


CLAIMS: dict[str, Claim] = {}


def claim(id: str, where: str, text: str, *checks, fast: bool = False, needs: tuple[str, ...] = ()):
    """Register the decorated measurement as claim ``id``.

    ``text`` is the claim as written in ``where`` (a path relative to the repository, whitespace
    may differ); ``checks`` are criteria on the returned dict (all must hold); ``needs`` names
    what must be present ('data': the Vid4 root, 'avx512_bf16': that CPU flag), else the claim
    is skipped; ``fast`` puts it in the subset the test runs (each well under 20 s).
    """

    def register(fn: Callable[[Context], dict]) -> Callable[[Context], dict]:
        if id in CLAIMS:
            raise ValueError(f"claim id {id!r} registered twice")
        CLAIMS[id] = Claim(id, where, text, fn, tuple(checks), fast, tuple(needs))
        return fn

    return register


# ---------------------------------------------------------------------------- shared helpers
def benchmark_module(name: str):
    """A script of benchmarks/ imported as a module, so its measurement code is reused, not copied."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


@functools.cache
def meta_model(name: str, variant: str) -> torch.nn.Module:
    """A model on the meta device, as ``vsrzoo models --params`` counts it (no memory)."""
    return vsrzoo.create_model(name, variant=variant, device="meta")


@functools.cache
def builtin(name: str) -> torch.nn.Module:
    """The shipped tiny weights, loaded once per run."""
    return vsrzoo.create_model(name, pretrained="builtin").eval()


def millions(module: torch.nn.Module, kind: str = "total") -> float:
    return vsrzoo.count_parameters(module)[kind] / 1e6


def weights_mb(method: str) -> float:
    """Size of the shipped weights file in MB (10^6 bytes, as the cards write it)."""
    return (REPO / "src" / "vsrzoo" / "weights" / f"{method}-tiny" / "model.safetensors").stat().st_size / 1e6


def sample_lr(frames: int) -> list[np.ndarray]:
    """LR frames of a built-in sample clip (no data root needed)."""
    from vsrzoo.data.io import list_frames, read_image
    from vsrzoo.data.sample import sample_root

    return [read_image(p) for p in list_frames(sample_root() / "sample" / "BIx4" / "astronaut")[:frames]]


def vid4_lr(root: Path | None, clip: str, frames: int) -> list[np.ndarray]:
    """LR frames of a Vid4 clip, or of the built-in sample clip when there is no data root."""
    from vsrzoo.data.io import list_frames, read_image

    if root is None:
        return sample_lr(frames)
    return [read_image(p) for p in list_frames(root / "Vid4" / "BIx4" / clip)[:frames]]


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    return {
        f for line in text.splitlines() if line.startswith("flags") for f in line.split(":", 1)[1].split()
    }


# ---------------------------------------------------------------------------- parameter counts
@claim(
    "litevsr-full-params",
    README,
    "6.34B with the frozen 704.7M Wan2.2 VAE; 634.9M trainable = 11.27% of DiT + adapter",
    Near("total_B", 6.34, 0.005),
    Near("vae_M", 704.7, 0.05),
    Near("trainable_M", 634.9, 0.05),
    Near("share_pct", 11.27, 0.005),
    fast=True,
)
def litevsr_full_params(ctx: Context) -> dict:
    """The adapter's share is of the network the flow runs through (DiT + adapter), not the VAE."""
    model = meta_model("litevsr", "full")
    trainable = millions(model, "trainable")
    return {
        "total_B": millions(model) / 1e3,
        "vae_M": millions(model.codec),
        "trainable_M": trainable,
        "share_pct": 100 * trainable / millions(model.net),
    }


@claim("instavsr-full-params", README, "adversarial losses | 457M", Near("total_M", 457, 0.5), fast=True)
def instavsr_full_params(ctx: Context) -> dict:
    """The README's 'full size' column: generator and both discriminators, counted on meta."""
    return {"total_M": millions(meta_model("instavsr", "full"))}


@claim(
    "simplegvr-full-params",
    README,
    "artifact-imitating degradations | 1.56B",
    Near("total_B", 1.56, 0.005),
    fast=True,
)
def simplegvr_full_params(ctx: Context) -> dict:
    return {"total_B": millions(meta_model("simplegvr", "full")) / 1e3}


@claim(
    "liftvsr-tiny-params",
    card("liftvsr"),
    "0.79M parameters, 3.2 MB.",
    Near("params_M", 0.79, 0.005),
    Near("file_MB", 3.2, 0.05),
    fast=True,
)
def liftvsr_tiny_params(ctx: Context) -> dict:
    return {"params_M": millions(builtin("liftvsr")), "file_MB": weights_mb("liftvsr")}


@claim(
    "litevsr-tiny-params",
    card("litevsr"),
    "Parameters: 1.16M (adapter 0.57M trainable, DiT 0.59M frozen), 4.7 MB.",
    Near("params_M", 1.16, 0.005),
    Near("adapter_trainable_M", 0.57, 0.005),
    Near("dit_frozen_M", 0.59, 0.005),
    Near("file_MB", 4.7, 0.05),
    fast=True,
)
def litevsr_tiny_params(ctx: Context) -> dict:
    net = builtin("litevsr").net
    return {
        "params_M": millions(builtin("litevsr")),
        "adapter_trainable_M": millions(net.adapter, "trainable"),
        "dit_frozen_M": millions(net.backbone, "frozen"),
        "file_MB": weights_mb("litevsr"),
    }


@claim(
    "simplegvr-tiny-params",
    card("simplegvr"),
    "Total: 0.99M parameters, all trainable.",
    Near("params_M", 0.99, 0.005),
    Equals("frozen", 0),
    fast=True,
)
def simplegvr_tiny_params(ctx: Context) -> dict:
    counts = vsrzoo.count_parameters(builtin("simplegvr"))
    return {"params_M": counts["total"] / 1e6, "frozen": counts["frozen"]}


@claim(
    "instavsr-tiny-params",
    card("instavsr"),
    "Parameters: generator 1,049,424 plus the two small discriminators; 4.4 MB.",
    Equals("generator", 1049424),
    Near("file_MB", 4.4, 0.05),
    fast=True,
)
def instavsr_tiny_params(ctx: Context) -> dict:
    return {
        "generator": vsrzoo.count_parameters(builtin("instavsr").net)["total"],
        "file_MB": weights_mb("instavsr"),
    }


# ---------------------------------------------------------------------------- defaults, zero init
@claim(
    "instavsr-state-blend-zero",
    card("instavsr"),
    "fed in as a second input, as is (`state_blend=0`).",
    Equals("built_without_config", 0.0),
    Equals("shipped_config", 0.0),
    fast=True,
)
def instavsr_state_blend(ctx: Context) -> dict:
    """Both the constructor default and the shipped config feed the state back unblended."""
    return {
        "built_without_config": float(vsrzoo.create_model("instavsr").hparams.state_blend),
        "shipped_config": float(builtin("instavsr").hparams.state_blend),
    }


def untrained_vs_bicubic(method: str) -> dict:
    """Max |output - bicubic| of a freshly built (untrained) tiny model on 5 real sample frames."""
    frames = sample_lr(5)
    lr = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float().div(255).unsqueeze(0)
    torch.manual_seed(0)
    with torch.no_grad():
        out = vsrzoo.create_model(method).eval().upscale_clip(lr)
        ref = vsrzoo.create_model("bicubic").eval().upscale_clip(lr)
    return {"max_abs_diff": (out - ref).abs().max().item()}


@claim(
    "simplegvr-untrained-is-bicubic",
    card("simplegvr"),
    "The output layer starts at zero, so the untrained model returns exactly bicubic.",
    AtMost("max_abs_diff", 1e-6),
    fast=True,
)
def simplegvr_untrained(ctx: Context) -> dict:
    """'Exactly' up to float32 rounding of the codec round trip (outputs on a [0, 1] scale)."""
    return untrained_vs_bicubic("simplegvr")


@claim(
    "instavsr-untrained-is-bicubic",
    card("instavsr"),
    "a zero-initialised correction over the MATLAB-bicubic upsample, so the untrained model equals bicubic",
    AtMost("max_abs_diff", 1e-6),
    fast=True,
)
def instavsr_untrained(ctx: Context) -> dict:
    return untrained_vs_bicubic("instavsr")


# ---------------------------------------------------------------------------- Vid4
@claim(
    "bicubic-vid4-anchor",
    README,
    "`vsrzoo bench --dataset vid4 --root DATA --method bicubic` gives **23.78 dB / 0.6347** (Y)",
    Near("psnr", 23.78, 0.005),
    Near("ssim", 0.6347, 0.00005),
    needs=("data",),
)
def bicubic_vid4(ctx: Context) -> dict:
    """The published anchor, all 171 frames, the community protocol (Y, crop 0); not in the fast
    subset because tests/bench/test_vid4_anchor.py checks it already."""
    result = vsrzoo.evaluate("vid4", ["bicubic"], root=ctx.root, metrics="psnr,ssim", report=False)
    return dict(result.summary("bicubic"))


@claim(
    "instavsr-vid4",
    README,
    "| `instavsr` tiny | 24.89 | 0.7106 |",
    Near("psnr", 24.89, 0.005),
    Near("ssim", 0.7106, 0.00005),
    needs=("data",),
)
def instavsr_vid4(ctx: Context) -> dict:
    """The shipped InstaVSR on all 171 Vid4 frames (about 80 s on one busy thread)."""
    result = vsrzoo.evaluate(
        "vid4", {"instavsr": builtin("instavsr")}, root=ctx.root, metrics="psnr,ssim", report=False
    )
    return dict(result.summary("instavsr"))


@claim(
    "bi-matches-vid4-bix4",
    README,
    "BI is MATLAB `imresize` bicubic (reproduces the public Vid4 BIx4 frames bit-exactly)",
    Equals("differing_values", 0),
    Equals("frames", 171),
    fast=True,
    needs=("data",),
)
def bi_bit_exact(ctx: Context) -> dict:
    """The package's ``bi`` degradation applied to every Vid4 GT frame, against the public files."""
    from vsrzoo.data.degradations import get_degradation
    from vsrzoo.data.io import list_frames, read_image

    bi = get_degradation("bi", scale=4)
    rng = np.random.default_rng(0)  # BI draws nothing; the interface takes a generator
    frames = differing = worst = 0
    for clip in ("calendar", "city", "foliage", "walk"):
        gt = list_frames(ctx.root / "Vid4" / "GT" / clip)
        lr = list_frames(ctx.root / "Vid4" / "BIx4" / clip)
        for g, want in zip(gt, lr, strict=True):
            got = bi.apply(read_image(g)[None], rng)[0].astype(int)
            diff = np.abs(got - read_image(want).astype(int))
            frames, differing, worst = (
                frames + 1,
                differing + int((diff > 0).sum()),
                max(worst, int(diff.max())),
            )
    return {"frames": frames, "differing_values": differing, "max_abs_diff": worst}


# ---------------------------------------------------------------------------- InstaVSR state
@functools.cache
def drift(root: Path, step: int) -> dict:
    """benchmarks/instavsr_drift.py's 150-frame pan (step 1) or still camera (step 0)."""
    module = benchmark_module("instavsr_drift")
    os.environ["VSRZOO_DATA"] = str(root)  # the script reads its frame from there
    return module.run(150, 64, "builtin", step=step)


@claim(
    "instavsr-pan-state-gain",
    card("instavsr"),
    "On the pan the model beats bicubic by 0.69 dB and its no-state run by 0.36 dB",
    Near("gain_vs_bicubic", 0.69, 0.005),
    Near("gain_vs_no_state", 0.36, 0.005),
    needs=("data",),
)
def instavsr_pan(ctx: Context) -> dict:
    """The recurrent state switched off on the shipped weights (``carry_state=False``)."""
    r = drift(ctx.root, 1)
    return {
        "gain_vs_bicubic": r["instavsr"]["mean"] - r["bicubic"]["mean"],
        "gain_vs_no_state": r["instavsr"]["mean"] - r["instavsr_no_recurrence"]["mean"],
    }


@claim(
    "instavsr-still-state-cost",
    card("instavsr"),
    "On a still camera the recurrent state costs 0.12 dB against the same network without state "
    "(26.22 vs 26.34 dB)",
    Near("state_cost", 0.12, 0.005),
    Near("with_state", 26.22, 0.005),
    Near("no_state", 26.34, 0.005),
    needs=("data",),
)
def instavsr_still(ctx: Context) -> dict:
    r = drift(ctx.root, 0)
    with_state, no_state = r["instavsr"]["mean"], r["instavsr_no_recurrence"]["mean"]
    return {"state_cost": no_state - with_state, "with_state": with_state, "no_state": no_state}


@claim(
    "instavsr-no-drift",
    card("instavsr"),
    "the loop is now stable without any blend (content-free drift -0.01 dB on both clips)",
    Near("pan_drift", -0.01, 0.005),
    Near("still_drift", -0.01, 0.005),
    AtMost("pan_trend_vs_bicubic", 0.2),
    needs=("data",),
)
def instavsr_no_drift(ctx: Context) -> dict:
    """Old state minus fresh state on the same last 20 frames; plus issue 13's trend limit."""
    pan, still = drift(ctx.root, 1), drift(ctx.root, 0)
    return {
        "pan_drift": pan["state_age_drift"],
        "still_drift": still["state_age_drift"],
        "pan_trend_vs_bicubic": abs(pan["drift_vs_bicubic"]),
    }


# ---------------------------------------------------------------------------- SimpleGVR attention
@functools.cache
def simplegvr_flops() -> dict:
    """Paper-size GFLOPs of one DiT forward per attention variant (benchmarks/ablations.py --cost-only)."""
    ablations = benchmark_module("ablations")
    variants = ablations.ABLATIONS["simplegvr"]
    return {label: ablations.paper_gflops("simplegvr", variants[label]) for label in variants}


@claim(
    "simplegvr-sparse-flops-share",
    README,
    "better tOF and E*warp under both seeds, at 8% of the paper-size FLOPs",
    Near("sparse_over_full_pct", 8, 0.5),
    fast=True,
)
def simplegvr_sparse_share(ctx: Context) -> dict:
    flops = simplegvr_flops()
    return {"sparse_over_full_pct": 100 * flops["full"] / flops["full attention"]}


@claim(
    "simplegvr-attention-tflops",
    card("simplegvr"),
    "| sparse local (top-1 of the clip) + windows | 429 | 1.00 | | sparse, top-1 within the unit | 415 "
    '| 0.97 | | dense, whole clip ("full") | 5317 | 12.4 |',
    Near("sparse_TFLOPs", 429, 0.5),
    Near("topk_in_unit_TFLOPs", 415, 0.5),
    Near("dense_TFLOPs", 5317, 0.5),
    Near("dense_over_sparse", 12.4, 0.05),
    fast=True,
)
def simplegvr_tflops(ctx: Context) -> dict:
    flops = simplegvr_flops()
    return {
        "sparse_TFLOPs": flops["full"] / 1e3,
        "topk_in_unit_TFLOPs": flops["top-k in unit"] / 1e3,
        "dense_TFLOPs": flops["full attention"] / 1e3,
        "dense_over_sparse": flops["full attention"] / flops["full"],
    }


@claim(
    "sparse-attention-speed",
    BLOCKS,
    "SimpleGVR's SparseLocalAttention vs dense SDPA at >= 6,000 tokens",
    AtLeast("speedup_cpu", 15),
)
def sparse_speed(ctx: Context) -> dict:
    """Issue 27's bar (15x) at blocks.py's first setting: 4 x 36 x 48 = 6,912 tokens, 8 heads x 64.

    Measured in a fresh process, as ``python benchmarks/blocks.py`` runs: the sparse path's
    gathers are large fresh allocations, and in a process whose heap earlier work has shaped
    (a test session, the claims before this one) they can stay at about twice their steady
    cost (sparse 120 ms instead of 65 ms here), which measures the allocator, not the attention.
    """
    return child("sparse-speed")


def sparse_speed_child() -> dict:
    """Best-of-4 process CPU times after warm-up, alternating the contenders (blocks.best_times):
    on a shared machine CPU time measures the work, wall time also other jobs' load."""
    import torch.nn.functional as F

    from vsrzoo.blocks import sparse_local_attention

    blocks = benchmark_module("blocks")
    grid = (4, 36, 48)
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, 8, grid[0] * grid[1] * grid[2], 64) for _ in range(3))
    contenders = {
        "sparse": lambda: sparse_local_attention(q, k, v, grid, (9, 12), 1),
        "dense": lambda: F.scaled_dot_product_attention(q, k, v),
    }
    with torch.inference_mode():
        for _ in range(3):  # the sparse path's first calls fault in fresh pages for its gathers
            contenders["sparse"]()
        r = blocks.ratios(blocks.best_times(contenders, repeats=4), "sparse", "dense")
    return {
        "tokens": q.shape[2],
        "sparse_ms": 1e3 * r["sparse_cpu_s"],
        "dense_ms": 1e3 * r["dense_cpu_s"],
        "speedup_cpu": r["speedup_cpu"],
        "speedup_wall": r["speedup_wall"],
    }


CHILDREN = {"sparse-speed": sparse_speed_child}


def child(name: str) -> dict:
    """Run measurement ``name`` in a fresh interpreter (this script with --child) and return its dict."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", name],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------- inference engine
@claim(
    "bf16-small-cnn-speedup",
    README,
    "`--precision bf16` uses autocast (1.6x faster for a small CNN on a CPU with avx512_bf16)",
    AtLeast("speedup_cpu", 1.3),
    needs=("avx512_bf16",),
)
def bf16_speedup(ctx: Context) -> dict:
    """benchmarks/streaming.py's SmallCNN over 16 Vid4 calendar LR frames, fp32 vs bf16 autocast.

    Best of 3, alternating precisions; the ratio of CPU times (see sparse_speed). The bar is 1.3x,
    not 1.6x: the claim is 'faster', the 1.6 one run on a shared machine.
    """
    from vsrzoo.inference.streaming import stream_upscale

    model = benchmark_module("streaming").SmallCNN()
    frames = vid4_lr(ctx.root, "calendar", 16)
    list(stream_upscale(model, frames[:2]))  # warm-up
    best = {p: {"wall": float("inf"), "cpu": float("inf")} for p in ("fp32", "bf16")}
    for _ in range(3):
        for p in best:
            wall, cpu = time.perf_counter(), time.process_time()
            for _frame in stream_upscale(model, frames, segment_length=1, overlap=0, precision=p):
                pass
            best[p]["wall"] = min(best[p]["wall"], time.perf_counter() - wall)
            best[p]["cpu"] = min(best[p]["cpu"], time.process_time() - cpu)
    return {
        "speedup_cpu": best["fp32"]["cpu"] / best["bf16"]["cpu"],
        "speedup_wall": best["fp32"]["wall"] / best["bf16"]["wall"],
    }


@claim(
    "streaming-rss-frames",
    README,
    "Peak memory does not grow with the number of frames (`benchmarks/streaming.py`: 16 vs 128 "
    "frames, RSS ratio 1.11)",
    AtMost("rss_ratio", 1.15),
)
def streaming_frames(ctx: Context) -> dict:
    """Peak RSS of ``vsrzoo.upscale`` (bicubic, mp4 -> mp4) in a fresh process each; the bar is
    streaming.py's own target (1.15), the 1.11 was one run of it."""
    import tempfile

    from vsrzoo.data.io import FrameWriter

    streaming = benchmark_module("streaming")
    lr = vid4_lr(ctx.root, "calendar", 41)
    peak = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in (16, 128):
            src = Path(tmp) / f"in{n}.mp4"
            with FrameWriter(src, fps=25, crf=12) as writer:
                for frame in streaming.looped(lr, n):
                    writer.write(frame)
            peak[n] = streaming.run_child(
                "frames", "--input", str(src), "--output", str(Path(tmp) / f"o{n}.mp4")
            )
    return {
        "rss_16_MB": peak[16]["peak_kb"] / 1024,
        "rss_128_MB": peak[128]["peak_kb"] / 1024,
        "rss_ratio": peak[128]["peak_kb"] / peak[16]["peak_kb"],
    }


@claim(
    "streaming-rss-size",
    README,
    "nor, with a fixed tile, with frame size (256^2 vs 1024^2 LR: ratio 1.00)",
    Near("rss_ratio", 1.00, 0.05),
)
def streaming_size(ctx: Context) -> dict:
    """Peak RSS of the engine with a 128-pixel tile, less the one uint8 output frame it must hold
    (as streaming.py reports it), each size in a fresh process."""
    streaming = benchmark_module("streaming")
    rows = {size: streaming.run_child("size", "--size", str(size), "--tile", "128") for size in (256, 1024)}
    excl = {size: (r["peak_kb"] - r["out_buffer_kb"]) / 1024 for size, r in rows.items()}
    return {"rss_256_MB": excl[256], "rss_1024_MB": excl[1024], "rss_ratio": excl[1024] / excl[256]}


# ---------------------------------------------------------------------------- LiftVSR cache, LiteVSR streams
def procedural_scores(method: str, configs: dict[str, dict], clips: int, frames: int, size: int) -> dict:
    """``benchmarks/procedural.py``'s scores (label -> metrics) of the shipped weights under each
    config, on its seeded 'select' clips (never Vid4), written to a temporary folder; the sampler noise
    is seeded there too."""
    import tempfile
    from types import SimpleNamespace

    procedural = benchmark_module("procedural")
    specs = [f"{label}={json.dumps(overrides)}" for label, overrides in configs.items()]
    with tempfile.TemporaryDirectory() as tmp:
        args = SimpleNamespace(root=tmp, clips=clips, frames=frames, size=size, seed=7)
        return procedural.score(method, "builtin", specs, [], args)


@claim(
    "liftvsr-amc-not-shown",
    card("liftvsr"),
    'switching the cache read off (`cache_from="none"`) changes PSNR-Y by less than 0.01 dB and tOF '
    "by less than 0.01",
    AtMost("abs_dpsnr", 0.01),
    AtMost("abs_dtof", 0.01),
)
def liftvsr_amc(ctx: Context) -> dict:
    """The shipped LiftVSR on 3 procedural clips of 32 frames (8 segments), cache read and written
    (the default) against never written (``cache_from='none'``): the same weights and noise seed."""
    rows = procedural_scores("liftvsr", {"cache": {}, "none": {"cache_from": "none"}}, 3, 32, 32)
    return {
        "psnr_cache": rows["cache"]["psnr"],
        "psnr_none": rows["none"]["psnr"],
        "abs_dpsnr": abs(rows["cache"]["psnr"] - rows["none"]["psnr"]),
        "abs_dtof": abs(rows["cache"]["tof"] - rows["none"]["tof"]),
    }


@claim(
    "liftvsr-default-no-extra-pass",
    card("liftvsr"),
    'the default is `cache_from="last_step"`: the cache is written during the segment\'s one sampler '
    "step, with no extra pass",
    Equals("denoiser_calls_per_segment", 1),
    fast=True,
)
def liftvsr_passes(ctx: Context) -> dict:
    """Denoiser calls of the shipped LiftVSR on one 4-frame segment."""
    model = builtin("liftvsr")
    calls = []
    handle = model.net.register_forward_hook(lambda *_: calls.append(1))
    try:
        with torch.no_grad():
            model(torch.rand(1, 4, 3, 16, 16, generator=torch.Generator().manual_seed(0)))
    finally:
        handle.remove()
    return {"denoiser_calls_per_segment": len(calls)}


@claim(
    "litevsr-streams-differ",
    card("litevsr"),
    "The two streams now carry different information.",
    AtLeast("cost_gap_dB", 0.1),
    AtLeast("ablated_outputs_differ_255", 1.0),
)
def litevsr_streams(ctx: Context) -> dict:
    """``benchmarks/litevsr_streams.py`` on 3 procedural clips: zeroing the structure stream and
    zeroing the refinement stream cost different amounts and give different outputs."""
    import tempfile

    benchmark_module("procedural")  # litevsr_streams imports it by name
    streams = benchmark_module("litevsr_streams")
    with tempfile.TemporaryDirectory() as tmp:
        rows = streams.measure("builtin", clips=3, frames=12, size=64, root=tmp)
    full = rows["full"]["psnr"]
    cost = {s: full - rows[f"no {s} stream"]["psnr"] for s in ("structure", "refinement")}
    return {
        "cost_structure_dB": cost["structure"],
        "cost_refinement_dB": cost["refinement"],
        "cost_gap_dB": abs(cost["structure"] - cost["refinement"]),
        "ablated_outputs_differ_255": rows["ablated outputs differ"]["mean_abs_255"],
    }


@claim(
    "litevsr-one-step-suffices",
    card("litevsr"),
    "One step suffices, tested validly.",
    AtLeast("one_minus_four_dB", 0.0),
)
def litevsr_steps(ctx: Context) -> dict:
    """1 vs 4 Euler steps from pure noise (every state on training's flow paths), 3 procedural clips."""
    noise = {"init_noise_scale": 1.0}
    rows = procedural_scores(
        "litevsr", {"1": noise, "4": {**noise, "num_inference_steps": 4}}, clips=3, frames=12, size=64
    )
    return {
        "psnr_1_step": rows["1"]["psnr"],
        "psnr_4_steps": rows["4"]["psnr"],
        "one_minus_four_dB": rows["1"]["psnr"] - rows["4"]["psnr"],
    }


# ---------------------------------------------------------------------------- running
def normalised(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def locate(c: Claim) -> str | None:
    """'file:line' of the claim's first word in its file, or None when the text is not there."""
    path = REPO / c.where
    if not path.is_file():
        return None
    source = path.read_text()
    words = normalised(c.text)
    flat, lines = "", []  # the file with whitespace runs collapsed, and the line of each character
    for number, line in enumerate(source.splitlines(), 1):
        piece = normalised(line)
        if not piece:
            continue
        piece = (" " if flat else "") + piece
        flat += piece
        lines += [number] * len(piece)
    at = flat.find(words)
    return None if at < 0 else f"{c.where}:{lines[at]}"


def skip_reason(c: Claim, ctx: Context) -> str | None:
    if "data" in c.needs and ctx.root is None:
        return "no data root (set --root or VSRZOO_DATA)"
    if "avx512_bf16" in c.needs and "avx512_bf16" not in cpu_flags():
        return "this CPU lacks avx512_bf16"
    return None


def evaluate_claim(c: Claim, ctx: Context) -> Outcome:
    """Measure one claim and judge it; an error in the measurement is a failure, not a skip."""
    line = locate(c)
    outcome = Outcome(c, line or c.where)
    if line is None:
        outcome.verdict = f"FAILS: text not found in {c.where}"
        return outcome
    reason = skip_reason(c, ctx)
    if reason is not None:
        outcome.verdict = f"skipped: {reason}"
        return outcome
    start = time.perf_counter()
    try:
        outcome.measured = c.measure(ctx)
        failed = [str(check) for check in c.checks if not check(outcome.measured)]
        outcome.verdict = "holds" if not failed else "FAILS: " + "; ".join(failed)
    except Exception as err:  # noqa: BLE001 - reported as the verdict
        outcome.verdict = f"FAILS: {type(err).__name__}: {err}"
    outcome.seconds = time.perf_counter() - start
    return outcome


def fmt(value) -> str:
    if isinstance(value, (bool, int, np.integer)):
        return str(value)
    return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.0f}"


def table(outcomes: list[Outcome]) -> str:
    from vsrzoo.tables import markdown_table

    header = ["claim id", "where", "claim", "measured", "criterion", "verdict", "s"]
    rows = [
        [
            o.claim.id,
            o.line,
            normalised(o.claim.text).replace("|", "\\|"),
            ", ".join(f"{k} {fmt(v)}" for k, v in o.measured.items()) or "-",
            "; ".join(str(check) for check in o.claim.checks),
            o.verdict.replace("|", "\\|"),
            f"{o.seconds:.0f}",
        ]
        for o in outcomes
    ]
    return markdown_table(header, rows)


def default_root() -> Path | None:
    env = os.environ.get("VSRZOO_DATA")
    for cand in ([Path(env)] if env else []) + [REPO.parent / "shared" / "data"]:
        if (cand / "Vid4" / "GT").is_dir():
            return cand
    return None


def select(only: list[str], fast: bool) -> list[Claim]:
    unknown = sorted(set(only) - set(CLAIMS))
    if unknown:
        raise SystemExit(f"unknown claim id(s) {unknown}; choose from {sorted(CLAIMS)}")
    chosen = [CLAIMS[i] for i in only] if only else list(CLAIMS.values())
    return [c for c in chosen if c.fast] if fast else chosen


def run(claims: list[Claim], ctx: Context, progress: bool = True) -> list[Outcome]:
    outcomes = []
    for c in claims:
        outcomes.append(evaluate_claim(c, ctx))
        if progress:
            print(
                f"{c.id}: {outcomes[-1].verdict} ({outcomes[-1].seconds:.0f} s)", file=sys.stderr, flush=True
            )
    return outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--root", type=Path, default=None, help="data root (default: $VSRZOO_DATA or ../shared/data)"
    )
    parser.add_argument("--only", nargs="*", default=[], metavar="ID", help="claim ids to run (default: all)")
    parser.add_argument("--fast", action="store_true", help="only the fast subset (the test's)")
    parser.add_argument(
        "--json", type=Path, default=None, metavar="OUT", help="also write the outcomes as JSON"
    )
    parser.add_argument("--list", action="store_true", help="list the claim ids and exit")
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(CHILDREN[args.child]()))
        return 0
    if args.list:
        for c in CLAIMS.values():
            print(f"{c.id:32s} {'fast' if c.fast else '    '} {c.where}")
        return 0
    root = args.root if args.root is not None else default_root()
    if root is not None and not (root / "Vid4" / "GT").is_dir():
        raise SystemExit(f"--root {root}: no Vid4/GT there")
    if root is not None:
        os.environ["VSRZOO_DATA"] = str(root)  # the benchmark scripts and their children read it
    outcomes = run(select(args.only, args.fast), Context(root))
    print(table(outcomes))
    if args.json is not None:
        rows = [
            {
                "id": o.claim.id,
                "where": o.line,
                "claim": normalised(o.claim.text),
                "measured": o.measured,
                "criteria": [str(c) for c in o.claim.checks],
                "verdict": o.verdict,
                "seconds": o.seconds,
            }
            for o in outcomes
        ]
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=1, default=float))
    return 1 if any(o.verdict.startswith("FAILS") for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
