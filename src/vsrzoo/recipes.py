"""Recipes: OmegaConf YAML with ``_base_`` inheritance, ``key=value`` overrides and a schema.

A recipe names a method and its constructor arguments (``model``), the data (``data``), the
optimizer (``optim``) and the Lightning Trainer (``trainer``). ``trainer`` is passed through to
:class:`lightning.Trainer`: any of its arguments is accepted and checked against its signature,
so the recipe never copies Lightning's schema. ``model.kwargs`` are checked against the method's
constructor annotations when the model is built (:func:`vsrzoo.registry.check_kwargs`). Unknown
keys and wrong types are user errors that name the key, so a typo never silently falls back to a
default.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException, ValidationError

from vsrzoo.errors import UserError, closest


@dataclass
class ModelConfig:
    name: str = "bicubic"
    variant: str = "tiny"
    pretrained: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    gradient_checkpointing: bool = False


@dataclass
class DataConfig:
    dataset: str = "sample"
    root: str | None = None
    lr_dir: str | None = None
    degradation: str | None = None
    degradation_kwargs: dict[str, Any] = field(default_factory=dict)
    scale: int = 4
    num_frames: int = 5
    crop_size: int = 64
    batch_size: int = 2
    num_workers: int = 0
    pin_memory: bool = False
    augment: bool = True
    train_clips: list[str] | None = None
    val_dataset: str | None = None
    val_clips: list[str] | None = None
    val_max_frames: int | None = None
    seed: int = 0
    gt_dir: str | None = None
    val_lr_dir: str | None = None
    val_degradation: str | None = None
    clips_per_epoch: int = 1000
    still_fraction: float = 0.0


@dataclass
class OptimConfig:
    lr: float = 1e-4
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    warmup_steps: int = 0
    schedule: str = "constant"
    ema_decay: float | None = None


# Where vsrzoo's defaults differ from Lightning's: a short run on one device that logs often.
TRAINER_DEFAULTS = {"max_steps": 100, "devices": 1, "log_every_n_steps": 10}
# Trainer arguments that `vsrzoo fit` sets itself (see vsrzoo.training.build_trainer).
TRAINER_RESERVED = {
    "default_root_dir": "set output_dir instead",
    "logger": "vsrzoo fit writes CSV logs under output_dir",
    "callbacks": "vsrzoo fit adds checkpointing and EMA (optim.ema_decay)",
    "plugins": "vsrzoo fit loads checkpoints weights-only",
}


@dataclass
class Recipe:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: dict[str, Any] = field(default_factory=lambda: dict(TRAINER_DEFAULTS))
    seed: int = 0
    output_dir: str = "runs/${model.name}-${model.variant}"
    notes: dict[str, Any] = field(default_factory=dict)


_FREE_FORM = {"model.kwargs", "data.degradation_kwargs", "notes", "trainer"}


def _load_yaml(path: Path, chain: tuple[Path, ...]) -> DictConfig:
    """Load ``path`` and merge it over its ``_base_`` recipes (paths relative to it)."""
    path = path.resolve()
    if path in chain:
        cycle = " -> ".join(p.name for p in (*chain, path))
        raise UserError(f"recipe _base_ cycle: {cycle}")
    if not path.is_file():
        raise UserError(f"recipe not found: {path}")
    try:
        cfg = OmegaConf.load(path)
    except Exception as exc:  # yaml.YAMLError and friends
        first = str(exc).strip().splitlines()[0]
        raise UserError(f"cannot parse recipe {path}: {first}") from exc
    if not isinstance(cfg, DictConfig):
        raise UserError(f"recipe {path} must be a mapping, not a {type(cfg).__name__}")
    bases = cfg.pop("_base_", None) or []
    bases = [bases] if isinstance(bases, str) else list(bases)
    merged = OmegaConf.create()
    for base in bases:
        merged = OmegaConf.merge(merged, _load_yaml(path.parent / base, (*chain, path)))
    return OmegaConf.merge(merged, cfg)


def _check_keys(cfg: Any, schema: type, prefix: str = "") -> None:
    """Raise a UserError for the first key of ``cfg`` that ``schema`` does not have."""
    if not isinstance(cfg, DictConfig):
        return
    fields = {f.name: f for f in dataclasses.fields(schema)}
    for key in cfg.keys():
        full = f"{prefix}{key}"
        if key not in fields:
            hint = closest(str(key), fields)
            extra = f" (did you mean '{prefix}{hint}'?)" if hint else ""
            raise UserError(f"unknown recipe key '{full}'{extra}")
        ftype = (
            fields[key].default_factory if fields[key].default_factory is not dataclasses.MISSING else None
        )
        if full not in _FREE_FORM and dataclasses.is_dataclass(ftype):
            _check_keys(cfg[key], ftype, prefix=f"{full}.")


def _parse_overrides(overrides: list[str]) -> DictConfig:
    """``key=value`` strings (values parsed as YAML) as one config; UserError naming a bad one."""
    merged = OmegaConf.create()
    for item in overrides:
        if "=" not in item or item.startswith("="):
            raise UserError(f"override '{item}' must look like key=value")
        try:
            merged = OmegaConf.merge(merged, OmegaConf.from_dotlist([item]))
        except (OmegaConfBaseException, yaml.YAMLError) as exc:
            problem = getattr(exc, "problem", None) or str(getattr(exc, "msg", exc)).splitlines()[0]
            raise UserError(f"bad override '{item}': {problem}") from exc
    return merged


def load_recipe(path: str | Path | None = None, overrides: list[str] | None = None) -> DictConfig:
    """Load, merge, override, validate and resolve a recipe; return a typed DictConfig."""
    user = _load_yaml(Path(path), ()) if path is not None else OmegaConf.create()
    user = OmegaConf.merge(user, _parse_overrides(overrides or []))
    _check_keys(user, Recipe)
    try:
        cfg = OmegaConf.merge(OmegaConf.structured(Recipe), user)
        OmegaConf.resolve(cfg)
    except ValidationError as exc:
        raise UserError(f"recipe key '{exc.full_key}': {exc.msg.splitlines()[0]}") from exc
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None)
        where = f"recipe key '{key}': " if key else "recipe: "
        raise UserError(where + str(getattr(exc, "msg", exc)).splitlines()[0]) from exc
    check_trainer(OmegaConf.to_container(cfg.trainer))
    check_ranges(cfg)
    return cfg


# recipe key -> (lowest, highest, whether the lowest itself is allowed); None: unbounded
RANGES = {
    "optim.lr": (0.0, None, False),
    "optim.weight_decay": (0.0, None, True),
    "optim.warmup_steps": (0, None, True),
    "data.scale": (1, None, True),
    "data.num_frames": (1, None, True),
    "data.crop_size": (1, None, True),
    "data.batch_size": (1, None, True),
    "data.num_workers": (0, None, True),
    "data.clips_per_epoch": (1, None, True),
    "data.still_fraction": (0.0, 1.0, True),
}


def check_ranges(cfg: DictConfig) -> None:
    """UserError naming the first value out of its range, while the recipe is read: a negative
    learning rate or device count would otherwise pass ``--dry-run`` and crash after the run
    folder exists."""
    import math

    for key, (low, high, inclusive) in RANGES.items():
        value = OmegaConf.select(cfg, key)
        bad = not math.isfinite(value) or (value < low if inclusive else value <= low)
        if bad or (high is not None and value > high):
            bound = f"{'>=' if inclusive else '>'} {low}" + (f" and <= {high}" if high is not None else "")
            raise UserError(f"recipe key '{key}' must be {bound}, got {value}")
    _check_fraction(cfg.optim.get("ema_decay"), "optim.ema_decay")
    for i, beta in enumerate(cfg.optim.betas):
        _check_fraction(beta, f"optim.betas[{i}]")
    _check_devices(cfg.trainer.get("devices", 1))


def _check_fraction(value: Any, key: str) -> None:
    """UserError unless ``value`` is None or in [0, 1)."""
    if value is not None and not 0 <= value < 1:
        raise UserError(f"recipe key '{key}' must be >= 0 and < 1, got {value}")


def _check_devices(devices: Any) -> None:
    """UserError unless ``trainer.devices`` is 'auto', a count >= 1, or device indices (a list or '0,1')."""
    if devices == "auto":
        return
    given = devices
    if isinstance(devices, str):
        try:
            devices = [int(d) for d in devices.split(",") if d.strip()] or int(devices)
        except ValueError:
            devices = None
    if isinstance(devices, bool) or devices is None:
        ok = False
    elif isinstance(devices, int):
        ok = devices >= 1
    else:
        ok = len(devices) > 0 and all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in devices
        )
    if not ok:
        raise UserError(
            f"recipe key 'trainer.devices' must be 'auto', a number of devices >= 1 or a list of device "
            f"indices, got {given!r}"
        )


def check_trainer(trainer: dict[str, Any]) -> None:
    """UserError unless every ``trainer`` key is a :class:`lightning.Trainer` argument of the right type."""
    import lightning as L

    from vsrzoo.registry import check_kwargs

    for key in trainer:
        if key in TRAINER_RESERVED:
            raise UserError(f"recipe key 'trainer.{key}' cannot be set: {TRAINER_RESERVED[key]}")
    check_kwargs(L.Trainer, trainer, "recipe", prefix="trainer.")


def to_yaml(cfg: DictConfig) -> str:
    """The resolved recipe as YAML text (what ``--print-config`` shows)."""
    return OmegaConf.to_yaml(cfg, resolve=True)
