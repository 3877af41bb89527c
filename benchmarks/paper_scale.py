"""The memory planner (``vsrzoo fit RECIPE --dry-run``) against real training steps, per component.

For each paper recipe the network is built at full width with random weights (nothing is
downloaded). The DiT methods (LiftVSR, SimpleGVR, LiteVSR) are built with fewer DiT blocks
(``--layers``, default 1 and 2); one real training step runs on CPU at the recipe's sample size
(one sample, the recipe's precision: bf16-mixed runs under CPU autocast, frozen parts in bf16) in
a fresh subprocess. InstaVSR has no block count to reduce: its full network (pruned UNet, half-width
decoder, both discriminators, the frozen SD-VAE encoder) runs whole, at the recipe's 6 frames but
with LR crops of 64 instead of the recipe's 128 (GT 256 instead of 512; ``--instavsr-crop 128`` for
the recipe's size, several times slower), and the plan is traced at that same crop. Its step is the
adversarial one (after the recipe's 5000-step warm-up), as its ``training_step`` runs it: generator
pass with the GAN terms, backward, step, then the discriminators' pass on the kept outputs,
backward, step, all in one autocast region; it runs twice and the second is measured. LPIPS is off
on both sides (its AlexNet weights are not downloaded). Measured:

- weights by dtype (every parameter alive, the SD-VAE encoder InstaVSR keeps outside its module
  tree included), gradients and AdamW state (all optimizers): the tensors after the step;
- saved activations: the storages autograd keeps for backward, seen through a saved-tensors
  hook on real tensors with the real kernels (each storage once, parameters excluded; the larger
  of InstaVSR's two passes);
- forward peak: the largest resident-set growth during the forward pass (sampled every
  millisecond; allocations over 64 KiB are mmap'd so freed memory leaves the resident set),
  against the plan's forward peak (the most bytes alive at once in the meta trace, autocast's
  cached bf16 casts of fp32 trainable weights included); also the growth at the forward's end.

The DiT plans are traced at the paper's block count (``BLOCKS``); the measurement of weights,
optimizer state, saved activations and the forward's end is extrapolated linearly from the two
reduced counts; the forward peak at the paper's count is the larger of the peak at the larger
reduced count and the extrapolated end (see :func:`compare`). Ratios measured / predicted (goal
0.85-1.15) are printed per component. Writes results/paper_scale.json.

    OMP_NUM_THREADS=1 python benchmarks/paper_scale.py [--methods liftvsr instavsr] [--layers 1 2]

reconstruction: CPU kernels stand in for CUDA ones (both fused attention paths save q, k, v,
output and log-sum-exp; both autocasts cache the casts of fp32 leaf weights that require grad);
resident-set growth includes allocator slack, which CUDA's caching allocator also has.

GPU rehearsal, the first command on a new cluster (nothing is downloaded; random weights):

    python benchmarks/paper_scale.py --device cuda

runs one real training step of each paper recipe at full size with all of its per-device
samples, ``torch.cuda.max_memory_allocated`` beside the plan, then InstaVSR upscaling 30 frames
to 2048 x 2048. ``--reduced`` runs the same code with the tiny variants in this process (tested
on CPU). It has not been run on a GPU yet.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
# the paper's block count of each method's DiT (PixArt-alpha XL 28, Wan2.2-TI2V-5B 30, Wan2.1-1.3B 30);
# InstaVSR's pruned UNet has no block count to reduce: it runs once at full size.
BLOCKS = {"liftvsr": 28, "litevsr": 30, "simplegvr": 30, "instavsr": None}
GiB = 2**30
DEFAULT = ["liftvsr", "simplegvr", "litevsr", "instavsr"]  # the CPU calibration
# InstaVSR on CPU: the full network at the recipe's 6 frames, but LR crops of 64 instead of 128 (GT 256
# instead of 512): its two-pass adversarial step at the recipe's size takes several minutes on 2 cores.
CPU_CROP = {"instavsr": 64}


def recipe(name: str, layers: int | None, reduced: bool = False, crop: int | None = None):
    """The paper recipe with random weights (references stripped) and ``layers`` DiT blocks;
    ``reduced``: the tiny variant with the recipe's other arguments on 16-pixel crops; ``crop``:
    LR crops of that size instead of the recipe's (plan and measurement alike)."""
    from omegaconf import OmegaConf

    from vsrzoo.planning import strip_refs
    from vsrzoo.recipes import load_recipe

    cfg = load_recipe(REPO / "recipes" / f"{name}.yaml", ["trainer.devices=1", "trainer.num_nodes=1"])
    kwargs = strip_refs(OmegaConf.to_container(cfg.model.kwargs))
    if crop is not None:
        cfg.data.crop_size = crop
    if reduced:
        cfg.model.variant, cfg.data.crop_size = "tiny", 16
        kwargs = {k: v for k, v in kwargs.items() if "pretrained" not in k and k != "scale"}
    if layers is not None:
        kwargs["backbone"] = {**kwargs.get("backbone", {}), "num_layers": layers}
    if name == "instavsr":
        kwargs["allow_missing_lpips"] = True  # no LPIPS weights offline: the perceptual loss is off in both
    cfg.model.kwargs = OmegaConf.create(kwargs)
    return cfg


def planned(name: str, layers: int | None, crop: int | None = None) -> dict[str, float]:
    """The planner's per-component bytes for one device, one sample."""
    from vsrzoo.planning import make_plan

    plan = make_plan(recipe(name, layers, crop=crop), checks=False)
    out = {f"weights {k}": v for k, v in plan.weight_bytes.items()}
    out |= {"gradients": plan.trainable_bytes, "AdamW state": 2 * plan.trainable_bytes}
    out["saved activations"] = plan.activation_bytes or 0
    out["forward peak"] = (plan.activation_bytes or 0) + plan.transient_bytes  # the most alive at once
    per_sample = (plan.activation_bytes or 0) + plan.transient_bytes
    out["device peak (whole step)"] = plan.total - per_sample * (
        plan.batch_size - 1
    )  # one process, one sample
    return out


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRSS:
    """Largest resident-set size seen by a 1 ms sampling thread while the block runs."""

    def __enter__(self):
        self.start = self.peak = rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, rss())
            time.sleep(0.001)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss())


def materialise(batch: dict, samples: int = 1, device: str = "cpu") -> dict:
    """The planner's one-sample meta batch as ``samples`` real random samples on ``device``."""
    return {
        k: torch.rand(samples, *v.shape[1:], device=device) if isinstance(v, torch.Tensor) else v * samples
        for k, v in batch.items()
    }


def measured(
    name: str, layers: int | None, device: str = "cpu", samples: int = 1, cfg=None, crop: int | None = None
) -> dict[str, float]:
    """One real training step on ``device`` with ``samples`` samples; bytes per component (run in a
    fresh process). On CUDA the forward peak is ``torch.cuda.max_memory_allocated`` over the step.
    An adversarial method runs its two-pass step twice (:func:`adversarial_step`)."""
    from collections import Counter

    from omegaconf import OmegaConf

    from vsrzoo.factory import create_model
    from vsrzoo.planning import SavedStorages, _dtype_name, adversarial, meta_batch, model_kwargs

    whole = PeakRSS().__enter__()  # the step's resident-set growth, model build included
    torch.manual_seed(0)
    cfg = cfg if cfg is not None else recipe(name, layers, crop=crop)
    model = create_model(cfg.model.name, variant=cfg.model.variant, **model_kwargs(cfg)).to(device)
    if cfg.model.get("gradient_checkpointing"):
        model.enable_gradient_checkpointing()
    model.configure_training(OmegaConf.to_container(cfg.optim, resolve=True))
    model.train()
    batch = materialise(meta_batch(cfg.data, model), samples, device)
    mixed = "bf16" in str(cfg.trainer.get("precision"))
    cuda = torch.device(device).type == "cuda"
    opts = model.configure_optimizers()
    opts = opts["optimizer"] if isinstance(opts, dict) else opts
    opts = list(opts[0] if isinstance(opts, tuple) else opts) if isinstance(opts, (list, tuple)) else [opts]
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    if adversarial(model):
        saved_bytes, forward_peak = adversarial_step(model, batch, opts, device, mixed)
        forward_end = forward_peak
    else:
        saved = SavedStorages(model)
        with (
            PeakRSS() as peak,
            torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=mixed),
        ):
            with torch.autograd.graph.saved_tensors_hooks(saved.pack, lambda t: t):
                loss = model.training_loss(batch)["loss"]
            forward_end = rss() - peak.start  # saved set + autocast's cached weight casts, before they go
        forward_peak = peak.peak - peak.start
        saved_bytes = saved.total
        del saved
        loss.backward()
        opts[0].step()
    weights: Counter[str] = Counter()
    for p in parameters(model):
        weights[f"weights {_dtype_name(p.dtype)}"] += p.numel() * p.element_size()
    grads = sum(p.grad.numel() * p.grad.element_size() for p in model.parameters() if p.grad is not None)
    state = sum(
        v.numel() * v.element_size()
        for opt in opts
        for s in opt.state.values()
        for v in s.values()
        if isinstance(v, torch.Tensor) and v.dim() > 0
    )
    out = dict(weights) | {"gradients": grads, "AdamW state": state}
    out |= {"saved activations": saved_bytes, "forward peak": forward_peak, "forward end": forward_end}
    whole.__exit__()
    out["device peak (whole step)"] = torch.cuda.max_memory_allocated() if cuda else whole.peak - whole.start
    return out


def parameters(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    """Every parameter alive in this process: the model's and those it holds outside its module tree
    (InstaVSR's frozen SD-VAE encoder sits in a list, so ``model.parameters()`` misses it)."""
    import gc

    found = {id(p): p for p in model.parameters()}
    found |= {id(o): o for o in gc.get_objects() if type(o) is torch.nn.Parameter}
    return list(found.values())


def adversarial_step(model, batch: dict, opts: list, device: str, mixed: bool) -> tuple[int, int]:
    """InstaVSR's ``training_step`` in its adversarial phase, as Lightning runs it under manual
    optimisation, twice: generator loss with the adversarial terms (discriminators frozen, as
    ``toggle_optimizer`` does), backward, clip, generator step; then the discriminators' loss on the
    kept outputs (generator frozen), backward, clip, discriminator step; autocast spans the whole
    step, as Lightning's precision plugin wraps ``training_step``. The second step is measured (its
    gradients and optimizer states exist before it starts, as in a running job): (the most bytes
    saved for backward in one pass, the largest resident-set growth over the step's start during
    either forward pass). ``trainer.global_step`` and logging are left out."""
    from vsrzoo.planning import SavedStorages, frozen

    disc = list(model.discriminator_parameters())
    ids = {id(p) for p in disc}
    gen = [p for p in model.parameters() if id(p) not in ids]
    opt_g, opt_d = opts
    clip = model.hparams.get("grad_clip_norm")
    for _ in range(2):
        start = rss()
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=mixed):
            saved_g = SavedStorages(model)
            with frozen(disc):
                with PeakRSS() as peak_g, torch.autograd.graph.saved_tensors_hooks(saved_g.pack, lambda t: t):
                    losses, seen = model.generator_losses(batch, True)
                opt_g.zero_grad(set_to_none=True)
                losses["loss"].backward()
                if clip:
                    torch.nn.utils.clip_grad_norm_([p for p in gen if p.grad is not None], clip)
                opt_g.step()
            del losses
            saved_g_bytes = saved_g.total
            del saved_g
            saved_d = SavedStorages(model)
            with frozen(gen):
                with PeakRSS() as peak_d, torch.autograd.graph.saved_tensors_hooks(saved_d.pack, lambda t: t):
                    d_losses = model.discriminator_losses(seen)
                opt_d.zero_grad(set_to_none=True)
                d_losses["loss_d"].backward()
                if clip:
                    torch.nn.utils.clip_grad_norm_([p for p in disc if p.grad is not None], clip)
                opt_d.step()
            saved_d_bytes = saved_d.total
            del d_losses, seen, saved_d
    return max(saved_g_bytes, saved_d_bytes), max(peak_g.peak, peak_d.peak) - start


def child(
    name: str, layers: int | None, device: str = "cpu", samples: int = 1, crop: int | None = None
) -> dict[str, float]:
    """``measured`` in a fresh interpreter, so resident-set growth is this step's alone."""
    arg = "none" if layers is None else str(layers)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    # every allocation over 64 KiB is its own mapping, returned to the system when freed, so the
    # resident set follows live tensors instead of glibc's reused heap
    env["MALLOC_MMAP_THRESHOLD_"] = "65536"
    res = subprocess.run(
        [sys.executable, __file__, "--child", name, arg, device, str(samples), str(crop or "none")],
        capture_output=True,
        text=True,
        env=env,
        timeout=3600,
    )
    if res.returncode != 0:
        raise RuntimeError(f"{name} ({arg} blocks): {res.stderr.strip().splitlines()[-1]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def extrapolate(a: dict, b: dict, n1: int, n2: int, n: int) -> dict[str, float]:
    """Linear in the block count through (n1, a) and (n2, b), evaluated at n."""
    return {k: a.get(k, 0) + (b.get(k, 0) - a.get(k, 0)) * (n - n1) / (n2 - n1) for k in {*a, *b}}


def compare(name: str, layers: list[int], crop: int | None = None) -> dict:
    """Plan at the paper's block count (traced directly on meta) against the measurement at two
    reduced counts: weights, optimizer state and saved activations add up per block, so they are
    extrapolated linearly; a peak does not (the largest of a codec spike and the saved set), so the
    forward and whole-step peaks are compared at the larger measured count. At the paper's count the
    measured forward peak is the larger of that peak and the resident set at the end of the forward
    (saved set and autocast's cached weight casts, both per block: extrapolated linearly), and the
    total is ``static + max(saved, forward peak)`` on both sides. A method without a block count
    (InstaVSR) is measured whole, at LR crops of ``crop`` when given (plan traced at the same crop)."""
    full = BLOCKS[name]
    counts = layers if full is not None else [None]
    runs = [child(name, n, crop=crop) for n in counts]
    run = extrapolate(*runs, *counts, full) if full is not None else runs[0]
    plan = planned(name, None, crop)
    at = counts[-1]
    plan_at, run_at = (planned(name, at, crop), runs[-1]) if full is not None else (plan, run)
    rows = {}
    for key in sorted(k for k in {*plan, *run} if k.startswith(("weights", "gradients", "AdamW"))):
        rows[key] = {"predicted": plan.get(key, 0), "measured": run.get(key, 0)}
    static_p = sum(v["predicted"] for v in rows.values())
    static_m = sum(v["measured"] for v in rows.values())
    rows["saved activations"] = {"predicted": plan["saved activations"], "measured": run["saved activations"]}
    forward = max(run_at["forward peak"], run["forward end"])
    if full is not None:
        rows[f"forward peak at {at} blocks"] = {
            "predicted": plan_at["forward peak"],
            "measured": run_at["forward peak"],
        }
        rows[f"forward peak at {full} blocks (extrapolated)"] = {
            "predicted": plan["forward peak"],
            "measured": forward,
        }
    else:
        rows["forward peak (both passes)"] = {"predicted": plan["forward peak"], "measured": forward}
    suffix = f" at {at} blocks" if full is not None else ""
    rows[f"whole step (RSS){suffix}"] = {
        "predicted": plan_at["device peak (whole step)"],
        "measured": run_at["device peak (whole step)"],
    }
    rows["total: static + max(saved, forward peak)"] = {
        "predicted": static_p + max(plan["saved activations"], plan["forward peak"]),
        "measured": static_m + max(run["saved activations"], forward),
    }
    return {"blocks": full, "measured_at_blocks": counts, "crop": crop, "rows": rows}


def report(name: str, result: dict) -> None:
    crop = f", LR crop {result['crop']} (plan traced at the same crop)" if result.get("crop") else ""
    print(
        f"\n{name}: {result['blocks'] or 'full'} blocks (measured at {result['measured_at_blocks']}, one sample{crop})"
    )
    print(f"| {'component':42s} | predicted GiB | measured GiB | ratio |")
    print(f"|{'-' * 44}|---------------|--------------|-------|")
    for key, v in result["rows"].items():
        ratio = v["measured"] / v["predicted"] if v["predicted"] else float("nan")
        print(f"| {key:42s} | {v['predicted'] / GiB:13.3f} | {v['measured'] / GiB:12.3f} | {ratio:5.2f} |")


def rehearse(methods: list[str], device: str, reduced: bool) -> None:
    """One real training step of each paper recipe (all its samples per device) with the device's
    peak beside the plan, then InstaVSR upscaling 30 frames to 2048 x 2048; ``reduced`` shrinks
    everything to the tiny variants on 16-pixel crops so it runs on a CPU in a test (where the
    peak is the resident-set growth of the step, model build included: indicative only)."""
    from vsrzoo.planning import make_plan

    rows = []
    for name in methods:
        cfg = recipe(name, None, reduced)
        samples = 1 if reduced else int(cfg.data.batch_size)
        plan = make_plan(cfg, checks=False)
        per_sample = (plan.activation_bytes or 0) + plan.transient_bytes
        plan_total = plan.total - per_sample * (plan.batch_size - samples)
        start = time.perf_counter()
        run = measured(name, None, device, samples, cfg) if reduced else child(name, None, device, samples)
        peak = run["device peak (whole step)"]
        rows.append((name, samples, plan_total, peak, time.perf_counter() - start))
    print(f"| {'recipe':10s} | samples | plan GiB | peak GiB | peak / plan | seconds |")
    for name, samples, plan_total, peak, seconds in rows:
        ratio = peak / plan_total
        print(
            f"| {name:10s} | {samples:7d} | {plan_total / GiB:8.3f} | {peak / GiB:8.3f} | {ratio:11.2f} | {seconds:7.1f} |"
        )
    infer(device, reduced)


def infer(device: str, reduced: bool) -> None:
    """InstaVSR (full variant, random weights) upscaling 30 frames of 512 x 512 to 2048 x 2048 in bf16
    (the paper: 0.77 min and 7.1 GB on one RTX 4090)."""
    import tempfile

    import numpy as np

    import vsrzoo

    frames, size = (2, 16) if reduced else (30, 512)
    model = vsrzoo.create_model("instavsr", variant="tiny" if reduced else "full").eval()
    lr = [np.random.default_rng(i).integers(0, 256, (size, size, 3), dtype=np.uint8) for i in range(frames)]
    cuda = torch.device(device).type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        vsrzoo.upscale(
            lr, Path(tmp) / "out.mp4", method=model, precision="bf16", device=device, progress=False
        )
        seconds = time.perf_counter() - start
    peak = f"{torch.cuda.max_memory_allocated() / GiB:.2f} GiB" if cuda else "n/a on CPU"
    print(
        f"instavsr inference: {frames} frames {size}x{size} -> {4 * size}x{4 * size}: {seconds:.1f} s, peak {peak}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=DEFAULT, choices=list(BLOCKS))
    parser.add_argument("--layers", nargs=2, type=int, default=[1, 2], help="two reduced block counts")
    parser.add_argument(
        "--device",
        default="cpu",
        help="cuda: the GPU rehearsal (every recipe at full size, then InstaVSR inference)",
    )
    parser.add_argument(
        "--reduced", action="store_true", help="rehearsal at tiny size (the CPU test of --device)"
    )
    parser.add_argument(
        "--instavsr-crop",
        type=int,
        default=CPU_CROP["instavsr"],
        help="LR crop of InstaVSR's CPU calibration (the recipe's: 128)",
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)  # name, blocks[, device, samples, crop]
    args = parser.parse_args()
    if args.child:
        name, layers, device, samples, crop = [*args.child, "cpu", "1", "none"][:5]
        blocks, crop = (None if v == "none" else int(v) for v in (layers, crop))
        print(json.dumps(measured(name, blocks, device, int(samples), crop=crop)))
        return
    if args.device != "cpu" or args.reduced:
        return rehearse(args.methods if args.methods != DEFAULT else list(BLOCKS), args.device, args.reduced)
    results = {}
    for name in args.methods:
        crop = args.instavsr_crop if name == "instavsr" else CPU_CROP.get(name)
        results[name] = compare(name, args.layers, crop)
        report(name, results[name])
    out = REPO / "results" / "paper_scale.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps({"torch": torch.__version__, "device": "cpu", "results": results}, indent=2) + "\n"
    )
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
