"""Build registered methods by name (timm's ``create_model``), above every method.

Importing this module imports :mod:`vsrzoo.methods`, which registers each method in
:mod:`vsrzoo.registry`; nothing below the methods imports this module.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import torch

import vsrzoo.methods  # noqa: F401  (importing registers every method)
from vsrzoo import hub
from vsrzoo.errors import UserError, unknown
from vsrzoo.hub import read_checkpoint
from vsrzoo.methods.base import CONFIG_NAME, builtin_dir
from vsrzoo.registry import check_kwargs, get_method_info, list_models

__all__ = [
    "create_model",
    "from_pretrained",
    "get_method_info",
    "has_builtin_weights",
    "list_models",
    "read_checkpoint",
    "resolve_pretrained",
]


def create_model(
    name: str,
    variant: str = "tiny",
    pretrained: str | None = None,
    device: str | torch.device | None = None,
    **overrides: Any,
) -> torch.nn.Module:
    """Build method ``name`` at ``variant`` size; ``overrides`` replace constructor arguments.

    A mapping override merges into the variant's (or the checkpoint's) mapping of the same name
    (:func:`merge_config`), and every value is checked against the constructor's annotations
    (:func:`vsrzoo.registry.check_kwargs`) before anything is built.

    ``pretrained`` is a directory written by ``save_pretrained``, a checkpoint path, or
    ``"builtin"`` for the tiny weights shipped with the package. ``device="meta"`` builds
    without allocating memory (for counting parameters).
    """
    info = get_method_info(name)
    if variant not in info.variants:
        raise unknown(f"variant of {name}", variant, info.variants)
    if pretrained is not None:
        if str(pretrained) != "builtin":  # a Hub id becomes its local snapshot folder
            path = hub.resolve_checkpoint(pretrained, name)
            if (path / CONFIG_NAME).is_file():
                hub.read_config(path / CONFIG_NAME, name)  # JSON, keys and method before anything else
            pretrained = str(path)
        saved = saved_config(info.cls, pretrained, variant)
        check_kwargs(info.cls, saved, f"the configuration saved with {pretrained} (another method's?)")
        overrides = merge_config(saved, overrides)
        check_kwargs(info.cls, overrides, f"method '{name}'")
        return info.cls.from_pretrained(pretrained, variant=variant, device=device, **overrides)
    kwargs = {**info.variants[variant], **merge_config(info.variants[variant], overrides)}
    check_kwargs(info.cls, kwargs, f"method '{name}'")
    with torch.device(device) if device is not None else contextlib.nullcontext():
        model = info.cls(**kwargs)
    model.variant = variant
    return model


def merge_config(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``overrides`` with every mapping merged into the mapping of ``base`` under the same key.

    So ``unet={"width": 48}`` over a variant's ``unet`` keeps the variant's other ``unet`` keys.
    Inside a merged mapping ``None`` removes a key (JSON merge patch, RFC 7396), e.g.
    ``decoder={"factor": None, ...}``; anything that is not a mapping on both sides replaces
    the base value.
    """
    merged = {}
    for key, value in overrides.items():
        old = base.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            both = {**old, **merge_config(old, value)}
            value = {k: v for k, v in both.items() if not (k in value and value[k] is None)}
        merged[key] = value
    return merged


def saved_config(cls: type, pretrained: str, variant: str) -> dict[str, Any]:
    """The constructor arguments stored with ``pretrained`` ({} for an unreadable folder: loading says why)."""
    path = (
        builtin_dir() / f"{cls.method_name}-{variant}" if str(pretrained) == "builtin" else Path(pretrained)
    )
    if path.is_file() and path.suffix == ".ckpt":
        return cls.upgrade_config(dict(read_checkpoint(path).get("hyper_parameters", {})))
    try:
        return cls.upgrade_config(dict(json.loads((path / CONFIG_NAME).read_text())["config"]))
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def from_pretrained(
    source: str, device: str | torch.device | None = None, **overrides: Any
) -> torch.nn.Module:
    """Load a checkpoint folder or Hub id ``org/name`` of any method: its ``config.json`` names the method."""
    path = hub.resolve_checkpoint(source)
    if path.is_file():
        raise UserError(
            f"{path} is a file; a Lightning .ckpt does not name its method: use create_model(<method>, pretrained=...)"
        )
    meta = hub.read_config(path / CONFIG_NAME)
    return create_model(
        meta["method"],
        variant=meta.get("variant") or "tiny",
        pretrained=str(path),
        device=device,
        **overrides,
    )


def has_builtin_weights(name: str, variant: str = "tiny") -> bool:
    """True when the package ships trained weights for ``name`` at ``variant``."""
    return (builtin_dir() / f"{name}-{variant}" / CONFIG_NAME).is_file()


def resolve_pretrained(name: str, variant: str, ckpt: str | None) -> str | None:
    """The weights to use: ``ckpt`` when given, else the shipped ``builtin`` ones when they exist."""
    if ckpt is not None:
        return str(ckpt)
    return "builtin" if has_builtin_weights(name, variant) else None
