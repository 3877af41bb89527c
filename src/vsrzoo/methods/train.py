"""Training runner behind ``vsrzoo fit``: a recipe in, a trained method out, with Lightning.

The recipe (see :mod:`vsrzoo.recipes`) names the method and its constructor arguments, the
data, the optimizer and the Trainer (precision, devices, strategy such as ``ddp``). Outputs
go to ``output_dir``: Lightning checkpoints (``checkpoints/last.ckpt``, resumable with
``--resume``), CSV logs, and the final weights via ``save_pretrained`` (``final/``).
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from vsrzoo.errors import UserError


def build_trainer(cfg: DictConfig, out: Path, callbacks=(), **extra):
    """A Lightning Trainer from the recipe's ``trainer`` section (plus extra callbacks)."""
    import lightning as L
    from lightning.pytorch.callbacks import EMAWeightAveraging, ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger

    t = cfg.trainer
    callbacks = [
        *callbacks,
        ModelCheckpoint(
            dirpath=out / "checkpoints", save_last=True, every_n_train_steps=max(1, t.max_steps // 4)
        ),
    ]
    if cfg.optim.ema_decay:
        callbacks.append(EMAWeightAveraging(decay=cfg.optim.ema_decay))
    optional = {
        k: t[k]
        for k in ("val_check_interval", "check_val_every_n_epoch", "limit_val_batches", "gradient_clip_val")
        if t[k] is not None
    }
    return L.Trainer(
        max_steps=t.max_steps,
        precision=t.precision,
        accelerator=t.accelerator,
        devices=t.devices,
        num_nodes=t.num_nodes,
        strategy=t.strategy,
        log_every_n_steps=t.log_every_n_steps,
        accumulate_grad_batches=t.accumulate_grad_batches,
        enable_progress_bar=t.enable_progress_bar,
        default_root_dir=str(out),
        logger=CSVLogger(str(out), name="logs"),
        callbacks=callbacks,
        **optional,
        **extra,
    )


def build_model(cfg: DictConfig):
    """The method named by the recipe, configured for training."""
    from vsrzoo.factory import create_model
    from vsrzoo.planning import model_kwargs  # frozen parts in the recipe's precision

    m = cfg.model
    model = create_model(m.name, variant=m.variant, pretrained=m.pretrained, **model_kwargs(cfg))
    if cfg.trainer.gradient_checkpointing and hasattr(model, "enable_gradient_checkpointing"):
        model.enable_gradient_checkpointing()
    model.configure_training(OmegaConf.to_container(cfg.optim))
    return model


def fit(cfg: DictConfig, resume: str | None = None, callbacks=(), **trainer_kwargs) -> Path:
    """Train as the recipe says; return the directory holding the final weights."""
    import lightning as L

    from vsrzoo.data.datamodule import VSRDataModule

    if resume is not None and not Path(resume).is_file():
        raise UserError(f"checkpoint to resume from not found: {resume}")
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    _warn_if_plan_exceeds_device(cfg)
    out = Path(cfg.output_dir)
    model = build_model(cfg)
    datamodule = VSRDataModule.from_recipe(cfg.data)
    trainer = build_trainer(cfg, out, callbacks=callbacks, **trainer_kwargs)
    trainer.fit(model, datamodule=datamodule, ckpt_path=resume)
    final = out / "final"
    if trainer.is_global_zero:
        model.save_pretrained(final)
    return final


# --------------------------------------------------------------- memory check (fit --dry-run's estimator)
def _warn_if_plan_exceeds_device(cfg: DictConfig) -> None:
    """One warning line when the recipe's memory plan exceeds the CUDA device (no-op on CPU)."""
    import logging

    from vsrzoo.planning import memory_warning

    message = memory_warning(cfg)
    if message:
        logging.getLogger("vsrzoo").warning("vsrzoo: warning: %s", message)
