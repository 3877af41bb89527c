"""Training runner behind ``vsrzoo fit``: a recipe in, a trained method out, with Lightning.

The recipe (see :mod:`vsrzoo.recipes`) names the method and its constructor arguments, the
data, the optimizer and the Trainer (any :class:`lightning.Trainer` argument: precision,
devices, strategy such as ``ddp``). Outputs go to ``output_dir``: Lightning checkpoints
(``checkpoints/last.ckpt``, resumable with ``--resume``), CSV logs, and the final weights via
``save_pretrained`` (``final/``).

Everything is checked before any work: recipe keys and types, the method's constructor
arguments, and the checkpoint to resume from, which is read weights-only (never unpickled,
whatever ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` says) and must fit the model. A resumed run
continues the data order: the training loader's position is stored in the checkpoint, so the
steps after a resume see the batches a straight run would have seen.

It sits above the factory (it builds the method by name) and beside the planner it asks for the
recipe's memory plan, not among the methods it trains (README.md, "Development").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader

from vsrzoo.data.datamodule import VSRDataModule
from vsrzoo.errors import UserError
from vsrzoo.factory import create_model, read_checkpoint
from vsrzoo.hub import state_mismatch
from vsrzoo.schedule import check_trainer_steps
from vsrzoo.strategies import BUCKET_VIEW  # noqa: F401  registers vsrzoo's named strategies with Lightning


def check_fits(model: torch.nn.Module, ckpt: dict[str, Any], path: str | Path) -> None:
    """UserError unless the checkpoint's weights have the model's names and shapes."""
    missing, unexpected, wrong = state_mismatch(model, ckpt["state_dict"])  # the loader's exactness check
    if missing or unexpected or wrong:
        what = f"{model.method_name} ({getattr(model, 'variant', None) or 'custom'})"
        first = (missing or unexpected or wrong)[0]
        raise UserError(
            f"{path} does not fit {what}: {len(missing)} weights missing, {len(unexpected)} unexpected, "
            f"{len(wrong)} of another shape (e.g. '{first}'); it was trained by another method or variant"
        )


class WeightsOnlyCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint IO with every load weights-only (resume included), whatever the caller asks,
    and local saves streamed to disk.

    Why the save: Lightning serialises the whole checkpoint into an in-memory buffer before writing
    it (``_atomic_save``), so rank 0 briefly holds the checkpoint twice in host RAM (SimpleGVR:
    16 GiB checkpoints, about 32 GiB). ``torch.save`` to a file writes one storage at a time; the
    file is written under a temporary name and renamed, so it stays atomic. Remote paths (fsspec
    URLs) keep Lightning's buffered path.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options=None) -> None:
        import os

        from lightning.fabric.utilities.cloud_io import get_filesystem

        protocols = get_filesystem(path).protocol
        if storage_options is not None or "file" not in (
            (protocols,) if isinstance(protocols, str) else protocols
        ):
            return super().save_checkpoint(checkpoint, path, storage_options)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.partial")
        try:
            torch.save(checkpoint, tmp)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def load_checkpoint(self, path, map_location=None, weights_only=None) -> dict[str, Any]:
        return super().load_checkpoint(path, map_location=map_location or (lambda s, _: s), weights_only=True)


class ResumableLoader(DataLoader):
    """A training DataLoader that Lightning checkpoints, so a resumed run continues the data order.

    Lightning stores the ``state_dict`` of loaders that have one in the checkpoint and restores
    it before iterating. The sampler's order depends only on (seed, epoch), so skipping the index
    batches already trained (no sample is read for them) continues exactly where a straight run
    would be. ``epoch`` and ``position`` (batches of that epoch trained) are kept by
    :class:`DataPosition`.
    """

    epoch = 0
    position = 0
    _skip = 0

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "batches": self.position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.position = int(state.get("epoch", 0)), int(state.get("batches", 0))
        if self.position >= len(self):  # after a whole epoch Lightning resumes at the next one
            self.epoch, self.position = self.epoch + 1, 0
        self._skip = self.position
        # worker processes draw indices as soon as the iterator exists, before Lightning sets the epoch
        for sampler in (self.sampler, getattr(self.batch_sampler, "sampler", None)):
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(self.epoch)

    @property
    def _index_sampler(self):  # what DataLoader iterators draw index batches from
        return _SkipFirst(super()._index_sampler, self)

    @classmethod
    def like(cls, loader: DataLoader) -> ResumableLoader:
        """The same loading settings as ``loader`` (a sampler plus a batch size)."""
        return cls(
            loader.dataset,
            batch_size=loader.batch_size,
            sampler=loader.sampler,
            num_workers=loader.num_workers,
            pin_memory=loader.pin_memory,
            drop_last=loader.drop_last,
            persistent_workers=loader.persistent_workers,
            collate_fn=loader.collate_fn,
        )


class _SkipFirst:
    """Index batches of ``batches`` after the first ``loader._skip`` (read and cleared at iteration)."""

    def __init__(self, batches, loader: ResumableLoader):
        self.batches, self.loader = batches, loader

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        skip, self.loader._skip = self.loader._skip, 0
        it = iter(self.batches)
        for _ in range(skip):
            next(it, None)
        yield from it


class DataPosition(L.Callback):
    """Records on the training loader how many batches of the epoch have been trained."""

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loader = trainer.train_dataloader
        if isinstance(loader, ResumableLoader):
            loader.epoch, loader.position = trainer.current_epoch, batch_idx + 1


class RankSeed(L.Callback):
    """Gives every DDP rank its own torch/numpy/random stream for the noise and timestep draws.

    Why: ``seed_everything(cfg.seed)`` runs identically in every process, so without this all
    ranks draw the same diffusion noise and timesteps and 16 GPUs see 1 noise draw per sample
    position instead of 16. Rank 0 keeps the single-process stream (a one-device run is
    unchanged, byte for byte); rank r > 0 is reseeded from ``(seed, r)`` at ``on_fit_start``,
    after the model was built (and DDP-wrapped), so initial weights stay identical. Data order is
    untouched: samplers and per-sample crops use their own generators (``clip_seed``), and
    ``PL_GLOBAL_SEED``, which Lightning's distributed sampler reads, is left as it is.
    """

    def __init__(self, seed: int):
        self.seed = int(seed)

    def on_fit_start(self, trainer, pl_module) -> None:
        if trainer.global_rank > 0:
            reseed(rank_seed(self.seed, trainer.global_rank))


def rank_seed(seed: int, rank: int) -> int:
    """A 32-bit seed for ``rank`` that never equals another (seed, rank)'s (not just ``seed + rank``)."""
    import numpy as np

    return int(np.random.SeedSequence([seed, rank]).generate_state(1)[0])


def reseed(seed: int) -> None:
    """Seed torch, numpy and random like ``seed_everything`` without touching ``PL_GLOBAL_SEED``."""
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class TrainData(VSRDataModule):
    """The recipe's data module with a resumable training loader."""

    def train_dataloader(self) -> ResumableLoader:
        return ResumableLoader.like(super().train_dataloader())


def build_trainer(cfg: DictConfig, out: Path, callbacks=(), **extra) -> L.Trainer:
    """A Lightning Trainer from the recipe's ``trainer`` section (plus vsrzoo's callbacks and logs)."""
    from lightning.pytorch.callbacks import EMAWeightAveraging, ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger

    t = {**OmegaConf.to_container(cfg.trainer), **extra}
    t.setdefault("enable_model_summary", False)  # Lightning's table; fit logs vsrzoo's own line
    callbacks = [*callbacks, DataPosition(), RankSeed(cfg.seed)]
    if t.get("enable_checkpointing", True):
        steps = t.get("max_steps", -1)
        every = {"every_n_train_steps": max(1, steps // 4)} if steps > 0 else {"every_n_epochs": 1}
        callbacks.append(ModelCheckpoint(dirpath=out / "checkpoints", save_last=True, **every))
    if cfg.optim.ema_decay:
        callbacks.append(EMAWeightAveraging(decay=cfg.optim.ema_decay))
    return L.Trainer(
        **t,
        default_root_dir=str(out),
        logger=CSVLogger(str(out), name="logs"),
        callbacks=callbacks,
        plugins=[WeightsOnlyCheckpointIO()],
    )


def build_model(cfg: DictConfig):
    """The method named by the recipe, configured for training (arguments checked first)."""
    from vsrzoo.planning import model_kwargs  # frozen parts in the recipe's precision

    m = cfg.model
    model = create_model(m.name, variant=m.variant, pretrained=m.pretrained, **model_kwargs(cfg))
    if m.gradient_checkpointing:
        model.enable_gradient_checkpointing()  # a UserError for methods that do not support it
    model.configure_training(OmegaConf.to_container(cfg.optim))
    return model


def fit(cfg: DictConfig, resume: str | None = None, callbacks=(), **trainer_kwargs) -> Path:
    """Train as the recipe says; return the directory holding the final weights.

    Checks come first (resume checkpoint, data, the Trainer's step counts against batches per
    epoch per rank, model arguments), so a user error leaves ``output_dir`` untouched and comes
    before any weights load.
    """
    ckpt = read_checkpoint(resume) if resume is not None else None
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    _warn_if_plan_exceeds_device(cfg)
    out = Path(cfg.output_dir)
    datamodule = TrainData.from_recipe(cfg.data)
    datamodule.train_dataloader()  # opens and checks the training data before anything is written
    check_trainer_steps({**cfg.trainer, **trainer_kwargs}, len(datamodule.train_set), cfg.data.batch_size)
    model = build_model(cfg)
    if ckpt is not None:
        check_fits(model, ckpt, resume)
        del ckpt
    trainer = build_trainer(cfg, out, callbacks=callbacks, **trainer_kwargs)
    _log_model(model, trainer)
    trainer.fit(model, datamodule=datamodule, ckpt_path=resume)
    final = out / "final"
    if trainer.is_global_zero:
        model.save_pretrained(final)
    return final


def _log_model(model, trainer: L.Trainer) -> None:
    """One line: what trains, how much of it, on what (in place of Lightning's summary and banners)."""
    import logging

    from vsrzoo.registry import count_parameters

    counts = count_parameters(model)
    logging.getLogger("vsrzoo").info(
        "training %s: %.2fM parameters, %.2fM trainable; %d %s process(es), precision %s",
        type(model).__name__,
        counts["total"] / 1e6,
        counts["trainable"] / 1e6,
        trainer.world_size,
        trainer.strategy.root_device.type,
        trainer.precision,
    )


# --------------------------------------------------------------- memory check (fit --dry-run's estimator)
def _warn_if_plan_exceeds_device(cfg: DictConfig) -> None:
    """One warning line when the recipe's memory plan exceeds the CUDA device (no-op on CPU)."""
    import logging

    from vsrzoo.planning import memory_warning

    message = memory_warning(cfg)
    if message:
        logging.getLogger("vsrzoo").warning("vsrzoo: warning: %s", message)
