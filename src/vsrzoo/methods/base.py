"""The contract every vsrzoo method follows (a LightningModule).

A method maps an LR segment ``(B, T, 3, h, w)`` in [0, 1] to its SR segment
``(B, T, 3, s*h, s*w)``. The base class supplies what all methods share: streaming
inference (:meth:`VSRMethod.upscale`), validation PSNR, optimizers from the recipe, and
``save_pretrained`` / ``from_pretrained`` (safetensors + JSON config). Subclasses call
``self.save_hyperparameters()`` so their constructor arguments are their config, and
implement ``forward`` and ``training_loss``.

Lean checkpoints (vsrzoo's choice, like PEFT adapters): parts loaded from pretrained weights and
kept frozen (:meth:`VSRMethod.frozen_references`, e.g. LiteVSR's Wan DiT, LiftVSR's PixArt base
weights under LoRA) are left out of ``state_dict`` and so out of Lightning checkpoints and
``model.safetensors``; ``config.json`` keeps their ``*_pretrained`` reference and loading rebuilds
them from it. ``save_pretrained(..., self_contained=True)`` writes every weight instead, with the
frozen codec as a diffusers subfolder, so the folder needs nothing else.

State is explicit (issue 13): a method that carries information from one segment to the next
(``stateful = True``: LiftVSR's memory cache, InstaVSR's recurrent frame) implements
``step(lr, state) -> (sr, state)``; ``state`` is a value (``None`` at the start of a video) that
the caller owns -- the streaming engine keeps one per spatial tile and per video -- and
``forward(lr)`` runs a segment from a fresh state, so no module holds memory between calls.
Stateless methods keep their plain ``forward``; the base ``step`` calls it and returns ``None``.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
import torchmetrics
from safetensors.torch import save_file

from vsrzoo import hub
from vsrzoo.errors import UserError
from vsrzoo.hub import CONFIG_NAME, WEIGHTS_NAME, builtin_dir  # noqa: F401  (re-exported: loading lives in hub)


def frames_to_tensor(frames: list[np.ndarray], device=None, dtype=torch.float32) -> torch.Tensor:
    """uint8 RGB frames (H, W, 3) -> float (1, T, 3, H, W) in [0, 1]."""
    arr = torch.from_numpy(np.stack(frames)).to(device)
    return arr.permute(0, 3, 1, 2).unsqueeze(0).to(dtype) / 255.0


def tensor_to_frames(x: torch.Tensor) -> list[np.ndarray]:
    """float (1, T, 3, H, W) in [0, 1] -> uint8 RGB frames, rounded like BasicSR's tensor2img."""
    x = (x[0].float().clamp(0, 1) * 255.0).round().to(torch.uint8)
    return [f.permute(1, 2, 0).cpu().numpy() for f in x]


def lr_lambda(step: int, warmup: int, total: int, schedule: str) -> float:
    """Learning-rate factor: linear warm-up, then constant or cosine decay to zero."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    if schedule == "cosine":
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    raise UserError(f"unknown optim.schedule '{schedule}'; valid: constant, cosine")


class VSRMethod(L.LightningModule):
    """Base class of every method: streaming inference, validation, optimizers, save/load."""

    # What the engine, the registry and the trainer read. Declared once here with their defaults;
    # a method overrides the class attribute or sets it in ``__init__`` (from its constructor arguments).
    method_name: str = "base"
    """Registry name, set by :func:`vsrzoo.registry.register_method`."""
    supported_scales: tuple[int, ...] = (4,)
    """Upscaling factors of the method (the only declaration: the registry and ``vsrzoo models`` read it)."""
    segment_length: int = 1
    """Frames per ``forward`` call in streaming inference (the methods' papers fix it, e.g. 8 for LiftVSR)."""
    size_multiple: int = 1
    """LR sides must be multiples of it; the engine pads tiles by edge replication up to it."""
    memory_bytes_per_pixel: float | None = None
    """Peak bytes per LR pixel per frame for ``--tile auto``; None lets the engine measure it."""
    num_inference_steps: int | None = None
    """Sampler steps per segment (1 for one-step diffusion, None for methods that do not sample);
    reported by the bench."""
    supports_gradient_checkpointing: bool = False
    """Whether :meth:`enable_gradient_checkpointing` works (recipe key ``model.gradient_checkpointing``)."""
    stateful: bool = False
    """Whether :meth:`step` carries a state between segments (the engine then runs segments back to
    back, in order, one state per spatial tile)."""
    min_tile: int = 8
    """Smallest spatial tile (LR pixels) the engine accepts for this method (``--tile``)."""

    def __init__(self, scale: int = 4):
        super().__init__()
        if scale not in self.supported_scales:
            raise UserError(
                f"{self.method_name} does not support scale {scale}; supported: "
                + ", ".join(map(str, self.supported_scales))
            )
        self.scale = scale
        self.optim_cfg: dict[str, Any] = {}
        self.val_psnr = torchmetrics.MeanMetric()  # states are not persistent: checkpoints are unchanged
        self._self_contained = False
        self._register_state_dict_hook(_drop_reference_keys)
        self.register_load_state_dict_post_hook(_ignore_missing_reference_keys)

    def enable_gradient_checkpointing(self) -> None:
        """Recompute activations in the backward pass (less memory, more time)."""
        raise UserError(f"method '{self.method_name}' does not support gradient checkpointing")

    # ----------------------------------------------------------------- inference
    def step(self, lr: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """One segment with the carried ``state`` (``None``: start of a video) -> ``(sr, new state)``.

        Stateless methods: ``(self(lr), None)``. Stateful methods override it; their ``forward``
        is ``step(lr, None)[0]``.
        """
        return self(lr), None

    @property
    def device_dtype(self) -> tuple[torch.device, torch.dtype]:
        p = next(iter(self.parameters()), None)
        return (p.device, p.dtype) if p is not None else (torch.device("cpu"), torch.float32)

    @torch.no_grad()
    def upscale(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Upscale a stream of uint8 RGB frames, yielding SR frames as soon as they are final.

        Delegates to :func:`vsrzoo.inference.stream_upscale`: segments of ``segment_length``
        frames, overlapping by a quarter of a segment and cross-faded for stateless methods,
        back to back with the carried state for stateful ones (a fresh state per video).
        """
        from vsrzoo.inference.streaming import stream_upscale

        yield from stream_upscale(self, frames)

    def upscale_clip(self, lr: torch.Tensor) -> torch.Tensor:
        """Upscale a whole (B, T, 3, h, w) clip segment by segment, carrying the state (validation)."""
        parts, state = [], None
        for t in range(0, lr.shape[1], self.segment_length):
            sr, state = self.step(lr[:, t : t + self.segment_length], state)
            parts.append(sr)
        return torch.cat(parts, dim=1)

    # ------------------------------------------------------------------ training
    def training_loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Losses for one batch; ``loss`` is optimised, the others are logged."""
        raise UserError(f"method '{self.method_name}' has no trainable parameters and cannot be fitted")

    def fit_blockers(self) -> list[str]:
        """Why this model must not be trained as configured, one line each (``fit`` and ``--dry-run``
        stop on them): e.g. a configured loss whose weights are missing."""
        return []

    def on_fit_start(self) -> None:
        blockers = self.fit_blockers()
        if blockers:
            raise UserError(blockers[0])
        self.model_card = None  # a loaded card describes the weights before training; save writes a fresh one

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        losses = self.training_loss(batch)
        self.log_dict(
            {f"train/{k}": v.detach() for k, v in losses.items()},
            prog_bar=True,
            batch_size=(batch["lr"] if "lr" in batch else batch["lr_latent"]).shape[
                0
            ],  # frames or latent pairs
        )
        return losses["loss"]

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        """PSNR of uint8-rounded frames (BasicSR), averaged over every validation frame of every process.

        ``val_psnr`` (a torchmetrics ``MeanMetric``) sums and counts across DDP ranks at epoch end, so
        the logged value is the mean over all frames even when ranks hold different numbers of clips.
        """
        return self.log_val_psnr(self.upscale_clip(batch["lr"]), batch["gt"])

    def log_val_psnr(self, sr: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        """Accumulate and log the per-frame PSNR of ``sr`` against ``gt`` ``(B, T, 3, H, W)`` in [0, 1]."""
        sr8, gt8 = (sr.float().clamp(0, 1) * 255).round(), (gt.float() * 255).round()
        mse = ((sr8 - gt8) ** 2).mean(dim=(2, 3, 4)).clamp_min(1e-10)
        psnr = 10 * torch.log10(255.0**2 / mse)  # (B, T): one value per frame
        self.val_psnr.update(psnr)
        self.log("val/psnr", self.val_psnr, prog_bar=True, on_step=False, on_epoch=True)
        return psnr.mean()

    def configure_training(self, optim_cfg: dict[str, Any]) -> None:
        """Take the recipe's ``optim`` section (lr, weight decay, betas, warm-up, schedule)."""
        self.optim_cfg = dict(optim_cfg)

    def lr_scales(self) -> dict[str, float]:
        """Submodule path -> factor on the learning rate of its parameters (default: none)."""
        return {}

    def make_optimizer(self, params: Iterable[torch.nn.Parameter], lr: float | None = None):
        """AdamW over the trainable ``params``; the parts :meth:`lr_scales` names get their own group."""
        cfg = self.optim_cfg
        lr = lr or cfg.get("lr", 1e-4)
        params = [p for p in params if p.requires_grad]
        chosen = {id(p) for p in params}
        groups, scaled = [], set()
        for path, factor in self.lr_scales().items():
            members = [p for p in self.get_submodule(path).parameters() if id(p) in chosen]
            scaled.update(id(p) for p in members)
            groups.append({"params": members, "lr": lr * factor})
        groups.insert(0, {"params": [p for p in params if id(p) not in scaled]})
        return torch.optim.AdamW(
            [g for g in groups if g["params"]],
            lr=lr,
            betas=tuple(cfg.get("betas", (0.9, 0.999))),
            weight_decay=cfg.get("weight_decay", 0.0),
        )

    def make_scheduler(self, optimizer) -> dict[str, Any]:
        cfg = self.optim_cfg
        total = self.trainer.max_steps if self._trainer is not None and self.trainer.max_steps > 0 else 1
        warmup, schedule = cfg.get("warmup_steps", 0), cfg.get("schedule", "constant")
        sched = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_lambda(s, warmup, total, schedule))
        return {"scheduler": sched, "interval": "step"}

    def configure_optimizers(self):
        params = [p for p in self.parameters() if p.requires_grad]
        if not params:
            raise UserError(f"method '{self.method_name}' has no trainable parameters and cannot be fitted")
        optimizer = self.make_optimizer(params)
        return {"optimizer": optimizer, "lr_scheduler": self.make_scheduler(optimizer)}

    # --------------------------------------------------------------- save / load
    def frozen_references(self) -> dict[str, str]:
        """Submodule path -> constructor argument naming the pretrained weights it was loaded from,
        for parts that stay frozen in training (a lean checkpoint leaves their frozen tensors out)."""
        return {}

    def reference_keys(self) -> set[str]:
        """``state_dict`` keys that lean checkpoints leave out: the frozen parameters and the buffers
        of :meth:`frozen_references` parts whose reference is set (they are rebuilt from it)."""
        keys: set[str] = set()
        for path, arg in self.frozen_references().items():
            if not self.hparams.get(arg):
                continue
            module = self.get_submodule(path)
            keys.update(f"{path}.{n}" for n, p in module.named_parameters() if not p.requires_grad)
            keys.update(f"{path}.{n}" for n, _ in module.named_buffers())
        return keys

    def keeps_reference(self, arg: str) -> bool:
        """Whether the saved config keeps ``arg`` (a ``*_pretrained`` reference) for loading to rebuild
        a frozen part from; when False a method's :meth:`config` replaces it by the part's own config."""
        return (
            not self._self_contained
            and bool(self.hparams.get(arg))
            and arg in self.frozen_references().values()
        )

    def bundled_parts(self) -> dict[str, torch.nn.Module]:
        """Constructor argument -> frozen module written as a diffusers subfolder of a self-contained export."""
        return {}

    renamed_arguments: dict[str, str] = {}
    """Old constructor argument -> today's name (issue 26's one vocabulary); saved configs are upgraded."""

    @classmethod
    def upgrade_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        """A saved config with today's argument names (checkpoints written before a rename still load)."""
        return {cls.renamed_arguments.get(k, k): v for k, v in config.items()}

    def config(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this model (JSON-serialisable)."""
        return json.loads(json.dumps(dict(self.hparams), default=str))

    @contextlib.contextmanager
    def self_contained(self):
        """Within the block ``state_dict`` and :meth:`config` hold every weight and no reference."""
        previous, self._self_contained = self._self_contained, True
        try:
            yield self
        finally:
            self._self_contained = previous

    def save_pretrained(
        self,
        directory: str | Path,
        self_contained: bool = False,
        push_to_hub: bool = False,
        repo_id: str | None = None,
        **hub_kwargs: Any,
    ) -> Path:
        """Write the checkpoint (:meth:`write_pretrained`) and a model card ``README.md`` to ``directory``.

        ``push_to_hub=True`` then uploads the folder to ``repo_id`` (default: the folder's name);
        ``hub_kwargs`` (private, token, commit_message) go to :func:`vsrzoo.hub.push_to_hub`.
        """
        directory = self.write_pretrained(Path(directory), self_contained)
        meta = json.loads((directory / CONFIG_NAME).read_text())
        count = sum(p.numel() for p in self.parameters())
        hub.write_model_card(directory, meta, getattr(self, "model_card", None), count)
        if push_to_hub:
            hub.push_to_hub(directory, repo_id or directory.name, **hub_kwargs)
        return directory

    def write_pretrained(self, directory: Path, self_contained: bool = False) -> Path:
        """Write ``config.json`` and ``model.safetensors`` (subclasses add their extra files here).

        Lean by default: the trained weights plus references to the frozen base weights (``base_weights``
        in ``config.json``). ``self_contained=True`` writes all weights and no reference: frozen
        parts into ``model.safetensors``, the codec as a diffusers subfolder.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        with self.self_contained() if self_contained else contextlib.nullcontext():
            config = self.config()
            state = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
            bundled = {}
            if self_contained:
                for arg, module in self.bundled_parts().items():
                    module.save_pretrained(directory / arg.removesuffix("_pretrained"))
                    bundled[arg] = config[arg] = arg.removesuffix("_pretrained")
        meta = {
            "method": self.method_name,
            "variant": getattr(self, "variant", None),
            "config": config,
            "base_weights": {
                k: v for k, v in config.items() if k.endswith("_pretrained") and v and k not in bundled
            },
            "bundled": bundled,
        }
        (directory / CONFIG_NAME).write_text(json.dumps(meta, indent=2))
        save_file(state, str(directory / WEIGHTS_NAME))
        return directory

    @classmethod
    def from_pretrained(cls, path: str | Path, variant: str | None = None, device=None, **overrides: Any):
        """Load from a ``save_pretrained`` folder, a Lightning ``.ckpt``, a Hub id ``org/name``, or ``"builtin"``.

        Frozen parts of a lean checkpoint are rebuilt from the references in its config (the same
        ``*_pretrained`` weights the model was trained from), then the saved weights are loaded.
        A thin front to the one load path, :func:`vsrzoo.hub.build_model_with_cfg`.
        """
        return hub.build_model_with_cfg(cls, variant, path, overrides=overrides, device=device)


def _drop_reference_keys(module, state_dict, prefix, local_metadata):
    """``state_dict`` hook: leave out the frozen parts that are rebuilt from their reference."""
    if isinstance(module, VSRMethod) and not module._self_contained:
        for key in module.reference_keys():
            state_dict.pop(prefix + key, None)
    return state_dict


def _ignore_missing_reference_keys(module, incompatible_keys):
    """A lean checkpoint lacks the frozen parts the model already rebuilt from their reference."""
    missing = incompatible_keys.missing_keys
    if missing and isinstance(module, VSRMethod):
        ref = module.reference_keys()
        missing[:] = [k for k in missing if k not in ref]
