"""Method registry (timm-style): a name maps to a class, each with tiny/small/full variants.

The lowest layer of the package: it imports nothing of vsrzoo but :mod:`vsrzoo.errors`. Methods
register themselves with :func:`register_method` when :mod:`vsrzoo.methods` is imported;
:mod:`vsrzoo.factory` (above the methods) imports them all and builds one by name.
"""

from __future__ import annotations

import inspect
import typing
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
) -> Callable[[type], type]:
    """Class decorator: register ``cls`` under ``name`` with per-variant constructor kwargs.

    The scales are the class's ``supported_scales`` (declared once, on the class).
    """

    def wrap(cls: type) -> type:
        missing = [v for v in variants if v not in VARIANTS]
        if missing:
            raise ValueError(f"{name}: unknown variant(s) {missing}; use {VARIANTS}")
        scales = tuple(getattr(cls, "supported_scales", (4,)))
        _REGISTRY[name] = MethodInfo(name, cls, dict(variants), paper, summary, scales)
        cls.method_name = name
        return cls

    return wrap


def list_models() -> list[str]:
    """Names of all registered methods, sorted (import :mod:`vsrzoo.methods` first to register them)."""
    return sorted(_REGISTRY)


def get_method_info(name: str) -> MethodInfo:
    """The :class:`MethodInfo` of ``name``; a UserError listing valid names if unknown."""
    if name not in _REGISTRY:
        raise unknown("method", name, _REGISTRY)
    return _REGISTRY[name]


def check_kwargs(cls: type, kwargs: dict[str, Any], where: str) -> None:
    """Raise a UserError naming any key of ``kwargs`` that ``cls`` does not accept."""
    params = inspect.signature(cls.__init__).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    valid = [p for p in params if p != "self"]
    hints = typing.get_type_hints(cls.__init__) if isinstance(cls, type) else {}
    for key, value in kwargs.items():
        if key not in valid:
            hint = closest(key, valid)
            extra = f" (did you mean '{hint}'?)" if hint else ""
            raise UserError(f"unknown key '{key}' in {where}{extra}")
        choices = (
            typing.get_args(hints.get(key)) if typing.get_origin(hints.get(key)) is typing.Literal else ()
        )
        if choices and value not in choices:
            raise UserError(f"{key}={value!r} in {where} is not one of " + ", ".join(map(repr, choices)))


def count_parameters(model: torch.nn.Module) -> dict[str, int]:
    """Total, trainable and frozen parameter counts (works on the meta device)."""
    total = trainable = 0
    for p in model.parameters():
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
    return {"total": total, "trainable": trainable, "frozen": total - trainable}
