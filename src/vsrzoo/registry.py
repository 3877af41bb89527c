"""Method registry (timm-style): a name maps to a class, each with tiny/small/full variants.

The lowest layer of the package: it imports nothing of vsrzoo but :mod:`vsrzoo.errors`. Methods
register themselves with :func:`register_method` when :mod:`vsrzoo.methods` is imported;
:mod:`vsrzoo.factory` (above the methods) imports them all and builds one by name.
"""

from __future__ import annotations

import inspect
import numbers
import sys
import types
import typing
from collections import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import numpy as np
import torch

from vsrzoo.errors import UserError, closest, unknown

VARIANTS = ("tiny", "small", "full")


@dataclass(frozen=True)
class Range:
    """Bounds of a number in a constructor annotation, checked by :func:`check_kwargs`:
    ``Annotated[int, Range(1)]`` (at least 1), ``Annotated[float, Range(0, 1, low_open=True)]`` (in (0, 1])."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False

    def __contains__(self, value: Any) -> bool:
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or value <= self.high

    def __str__(self) -> str:
        if self.high is None:
            return f"{'>' if self.low_open else '>='} {self.low}"
        return f"in {'(' if self.low_open else '['}{self.low}, {self.high}]"


PositiveInt = Annotated[int, Range(1)]
"""An int of at least 1 (steps, frames, batch sizes)."""
Share = Annotated[float, Range(0.0, 1.0)]
"""A float in [0, 1] (a probability, a share of a batch)."""


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


def check_kwargs(target: Callable | type, kwargs: dict[str, Any], where: str, prefix: str = "") -> None:
    """Raise a one-line UserError for a key ``target`` does not take or a value its annotation rejects.

    ``target`` is a class (its ``__init__`` is read), a function or a ``TypedDict``. Annotations are
    resolved with :func:`typing.get_type_hints` (so ``from __future__ import annotations`` works) and
    checked: ``Literal``, ``Optional``/``Union``, ``int``/``float``/``bool``/``str``, ``list``/``tuple``/
    ``dict`` with their item types, and nested mappings: a ``TypedDict``, or ``Annotated[dict, builder]``
    whose keys are the arguments of ``builder``. ``Any``, other classes and unresolvable annotations
    pass unchecked. ``prefix`` is prepended to key names in messages (e.g. ``"trainer."``).
    """
    names, open_keys, hints = _signature(target)
    for key, value in kwargs.items():
        if key not in names and not open_keys:
            hint = closest(str(key), names)
            extra = f" (did you mean '{prefix}{hint}'?)" if hint else ""
            raise UserError(f"unknown key '{prefix}{key}' in {where}{extra}")
        if key in hints:
            _check_value(hints[key], value, where, f"{prefix}{key}")


def _signature(target: Callable | type) -> tuple[list[str], bool, dict[str, Any]]:
    """Accepted keyword names, whether any key is accepted, and the resolved annotations."""
    if typing.is_typeddict(target):
        hints = _hints(target)
        return list(hints), False, hints
    fn = inspect.unwrap(target.__init__ if isinstance(target, type) else target)
    params = inspect.signature(fn).parameters
    names = [
        n for n, p in params.items() if n != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    open_keys = any(p.kind is p.VAR_KEYWORD for p in params.values())
    hints = _hints(fn)
    return names, open_keys, {k: v for k, v in hints.items() if k in names}


def _hints(obj: Any) -> dict[str, Any]:
    """Resolved annotations of ``obj``; one by one when some cannot be resolved (those are left out)."""
    try:
        return typing.get_type_hints(obj, include_extras=True)
    except Exception:  # a name only importable under TYPE_CHECKING, a typo in a string annotation
        pass
    namespace = getattr(obj, "__globals__", None) or vars(sys.modules.get(obj.__module__, object))
    hints = {}
    for key, ann in getattr(obj, "__annotations__", {}).items():
        try:
            hints[key] = eval(ann, dict(namespace)) if isinstance(ann, str) else ann  # noqa: S307
        except Exception:
            continue
    return hints


def _check_value(ann: Any, value: Any, where: str, key: str) -> None:
    """Raise a UserError when ``value`` does not match ``ann`` (see :func:`check_kwargs`)."""
    if not _matches(ann, value, where, key):
        raise UserError(f"{where}: '{key}' must be {_describe(ann)}, got {value!r}")


def _matches(ann: Any, value: Any, where: str, key: str) -> bool:
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin is typing.Annotated:
        if not _matches(args[0], value, where, key):
            return False
        for builder in args[1:]:
            if isinstance(builder, Range):
                if value is not None and value not in builder:
                    return False
            elif callable(builder) and isinstance(value, dict):
                check_kwargs(builder, value, where, prefix=f"{key}.")
        return True
    if origin is typing.Literal:
        return any(value == a and type(value) is type(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(a, value, where, key) for a in args)
    if ann is None or ann is type(None):
        return value is None
    if typing.is_typeddict(ann):
        if isinstance(value, dict):
            check_kwargs(ann, value, where, prefix=f"{key}.")
        return isinstance(value, dict)
    if ann in _SCALARS:
        return _SCALARS[ann](value)
    if origin in (list, tuple, abc.Sequence) or ann in (list, tuple):
        return isinstance(value, (list, tuple)) and _items_match(origin, args, value, where, key)
    if origin in (dict, abc.Mapping) or ann is dict:
        if not isinstance(value, dict):
            return False
        item = args[1] if len(args) == 2 else Any
        for k, v in value.items():
            _check_value(item, v, where, f"{key}.{k}")
        return True
    return True  # Any, other classes, callables: not checked


def _items_match(origin: Any, args: tuple, value: list | tuple, where: str, key: str) -> bool:
    """List/tuple items against ``list[X]``, ``tuple[X, ...]`` or ``tuple[X, Y]``."""
    if origin is tuple and args and args[-1] is not Ellipsis:
        if len(args) != len(value):
            return False
        pairs = zip(args, value)
    else:
        pairs = ((args[0] if args else Any, v) for v in value)
    for i, (ann, v) in enumerate(pairs):
        _check_value(ann, v, where, f"{key}[{i}]")
    return True


_SCALARS: dict[Any, Callable[[Any], bool]] = {
    Any: lambda v: True,
    bool: lambda v: isinstance(v, (bool, np.bool_)),
    int: lambda v: isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_)),
    float: lambda v: isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)),
    str: lambda v: isinstance(v, str),
}


def _describe(ann: Any) -> str:
    """``ann`` in words for error messages: ``an int``, ``one of 'a', 'b'``, ``a float or None``."""
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin is typing.Annotated:
        bounds = [str(a) for a in args[1:] if isinstance(a, Range)]
        return " ".join([_describe(args[0]), *bounds])
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        literals = [lit for a in args if typing.get_origin(a) is typing.Literal for lit in typing.get_args(a)]
        rest = [_describe(a) for a in args if typing.get_origin(a) is not typing.Literal]
        return " or ".join([_describe(typing.Literal[tuple(literals)])] * bool(literals) + rest)
    if ann is None or ann is type(None):
        return "None"
    if typing.is_typeddict(ann) or origin in (dict, abc.Mapping) or ann is dict:
        return "a mapping"
    if origin is tuple and args and args[-1] is not Ellipsis:
        return f"a list of {len(args)} items"
    if origin in (list, tuple, abc.Sequence) and args and args[0] is not Any:
        return "a list of " + _describe(args[0]).removeprefix("an ").removeprefix("a ")
    if origin in (list, tuple, abc.Sequence) or ann in (list, tuple):
        return "a list"
    name = getattr(ann, "__name__", str(ann))
    return f"an {name}" if name[:1] in "aeiou" else f"a {name}"


def count_parameters(model: torch.nn.Module) -> dict[str, int]:
    """Total, trainable and frozen parameter counts (works on the meta device)."""
    total = trainable = 0
    for p in model.parameters():
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
    return {"total": total, "trainable": trainable, "frozen": total - trainable}
