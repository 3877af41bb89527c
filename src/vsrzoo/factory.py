"""Build registered methods by name (timm's ``create_model``), above every method.

Importing this module imports :mod:`vsrzoo.methods`, which registers each method in
:mod:`vsrzoo.registry`; nothing below the methods imports this module.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

import vsrzoo.methods  # noqa: F401  (importing registers every method)
from vsrzoo.errors import unknown
from vsrzoo.methods.base import CONFIG_NAME, builtin_dir
from vsrzoo.registry import check_kwargs, get_method_info, list_models

__all__ = ["create_model", "get_method_info", "has_builtin_weights", "list_models", "resolve_pretrained"]


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
    return (builtin_dir() / f"{name}-{variant}" / CONFIG_NAME).is_file()


def resolve_pretrained(name: str, variant: str, ckpt: str | None) -> str | None:
    """The weights to use: ``ckpt`` when given, else the shipped ``builtin`` ones when they exist."""
    if ckpt is not None:
        return str(ckpt)
    return "builtin" if has_builtin_weights(name, variant) else None
