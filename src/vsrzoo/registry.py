"""Method registry (timm-style): a name maps to a builder, each with tiny/small/full variants.

Methods register themselves with :func:`register_method`; :func:`create_model` builds one by
name. Building the ``full`` variant on the ``meta`` device counts parameters without memory.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from vsrzoo.errors import UserError, closest, unknown

VARIANTS = ("tiny", "small", "full")


@dataclass
class MethodInfo:
    """What the registry knows about a method: its class, variant configs and paper."""

    name: str
    cls: type
    variants: dict[str, dict[str, Any]]
    paper: str = ""
    summary: str = ""
    scales: tuple[int, ...] = (4,)
    extra: dict[str, Any] = field(default_factory=dict)


_REGISTRY: dict[str, MethodInfo] = {}


def register_method(
    name: str,
    variants: dict[str, dict[str, Any]],
    paper: str = "",
    summary: str = "",
    scales: tuple[int, ...] = (4,),
) -> Callable[[type], type]:
    """Class decorator: register ``cls`` under ``name`` with per-variant constructor kwargs."""

    def wrap(cls: type) -> type:
        missing = [v for v in variants if v not in VARIANTS]
        if missing:
            raise ValueError(f"{name}: unknown variant(s) {missing}; use {VARIANTS}")
        _REGISTRY[name] = MethodInfo(name, cls, dict(variants), paper, summary, tuple(scales))
        cls.method_name = name
        return cls

    return wrap


def _ensure_loaded() -> None:
    import vsrzoo.methods  # noqa: F401  (importing registers every method)


def list_models() -> list[str]:
    """Names of all registered methods, sorted."""
    _ensure_loaded()
    return sorted(_REGISTRY)


def get_method_info(name: str) -> MethodInfo:
    """The :class:`MethodInfo` of ``name``; a UserError listing valid names if unknown."""
    _ensure_loaded()
    if name not in _REGISTRY:
        raise unknown("method", name, _REGISTRY)
    return _REGISTRY[name]


def check_kwargs(cls: type, kwargs: dict[str, Any], where: str) -> None:
    """Raise a UserError naming any key of ``kwargs`` that ``cls`` does not accept."""
    params = inspect.signature(cls.__init__).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    valid = [p for p in params if p != "self"]
    for key in kwargs:
        if key not in valid:
            hint = closest(key, valid)
            extra = f" (did you mean '{hint}'?)" if hint else ""
            raise UserError(f"unknown key '{key}' in {where}{extra}")


def create_model(
    name: str,
    variant: str = "tiny",
    pretrained: str | None = None,
    device: str | torch.device | None = None,
    **overrides: Any,
) -> torch.nn.Module:
    """Build method ``name`` at ``variant`` size; ``overrides`` replace constructor arguments.

    ``pretrained`` is a directory written by ``save_pretrained``, a checkpoint path, or
    ``"builtin"`` for the tiny weights shipped with the package. ``device="meta"`` builds
    without allocating memory (for counting parameters).
    """
    info = get_method_info(name)
    if variant not in info.variants:
        raise unknown(f"variant of {name}", variant, info.variants)
    kwargs = {**info.variants[variant], **overrides}
    check_kwargs(info.cls, kwargs, f"method '{name}'")
    if pretrained is not None:
        return info.cls.from_pretrained(pretrained, variant=variant, device=device, **overrides)
    with torch.device(device) if device is not None else contextlib.nullcontext():
        model = info.cls(**kwargs)
    model.variant = variant
    return model


def has_builtin_weights(name: str, variant: str = "tiny") -> bool:
    """True when the package ships trained weights for ``name`` at ``variant``."""
    from vsrzoo.methods.base import CONFIG_NAME, builtin_dir

    return (builtin_dir() / f"{name}-{variant}" / CONFIG_NAME).is_file()


def resolve_pretrained(name: str, variant: str, ckpt: str | None) -> str | None:
    """The weights to use: ``ckpt`` when given, else the shipped ``builtin`` ones when they exist."""
    if ckpt is not None:
        return str(ckpt)
    return "builtin" if has_builtin_weights(name, variant) else None


def count_parameters(model: torch.nn.Module) -> dict[str, int]:
    """Total, trainable and frozen parameter counts (works on the meta device)."""
    total = trainable = 0
    for p in model.parameters():
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
    return {"total": total, "trainable": trainable, "frozen": total - trainable}
