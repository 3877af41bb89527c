"""Build registered methods by name (timm's ``create_model``), above every method.

Importing this module imports :mod:`vsrzoo.methods`, which registers each method in
:mod:`vsrzoo.registry`; nothing below the methods imports this module.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch

import vsrzoo.methods  # noqa: F401  (importing registers every method)
from vsrzoo import hub
from vsrzoo.errors import UserError, unknown
from vsrzoo.hub import CONFIG_NAME, builtin_dir, merge_config, read_checkpoint
from vsrzoo.registry import get_method_info, list_models

__all__ = [
    "create_model",
    "from_pretrained",
    "get_method_info",
    "has_builtin_weights",
    "list_models",
    "load_method",
    "merge_config",
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

    ``pretrained`` is a directory written by ``save_pretrained``, a checkpoint path, a Hub id
    ``org/name``, or ``"builtin"`` for the tiny weights shipped with the package; a loaded model
    runs at the scale its weights were saved with (a different ``scale`` override is an error).
    ``device="meta"`` builds without allocating memory (for counting parameters). Everything goes
    through the one load path, :func:`vsrzoo.hub.build_model_with_cfg`.
    """
    info = get_method_info(name)
    if variant not in info.variants:
        raise unknown(f"variant of {name}", variant, info.variants)
    return hub.build_model_with_cfg(
        info.cls, variant, pretrained, defaults=info.variants[variant], overrides=overrides, device=device
    )


def from_pretrained(
    source: str, device: str | torch.device | None = None, **overrides: Any
) -> torch.nn.Module:
    """Load a checkpoint folder or Hub id ``org/name`` of any method: its ``config.json`` names the method."""
    ckpt = hub.open_checkpoint(source)
    info = get_method_info(ckpt.method)
    variant = ckpt.variant or "tiny"
    if variant not in info.variants:
        raise unknown(f"variant of {ckpt.method}", variant, info.variants)
    return hub.build_model_with_cfg(info.cls, variant, ckpt, overrides=overrides, device=device)


def load_method(
    name: str,
    scale: int,
    variant: str = "tiny",
    pretrained: str | None = None,
    device: str | torch.device | None = None,
) -> torch.nn.Module:
    """Method ``name`` to run at ``scale`` (``upscale`` and the bench): the scale is checked against the
    method's supported scales, then passed whenever the constructor takes one, so a model without
    weights is built at it and a loaded one must have been saved at it (the scale rule of
    :func:`vsrzoo.hub.build_model_with_cfg`)."""
    info = get_method_info(name)
    if scale not in info.scales:
        raise UserError(
            f"{name} does not support scale {scale}; supported: " + ", ".join(map(str, info.scales))
        )
    kwargs = {"scale": scale} if "scale" in inspect.signature(info.cls.__init__).parameters else {}
    return create_model(name, variant=variant, pretrained=pretrained, device=device, **kwargs)


def has_builtin_weights(name: str, variant: str = "tiny") -> bool:
    """True when the package ships trained weights for ``name`` at ``variant``."""
    return (builtin_dir() / f"{name}-{variant}" / CONFIG_NAME).is_file()


def resolve_pretrained(name: str, variant: str, ckpt: str | None) -> str | None:
    """The weights to use: ``ckpt`` when given, else the shipped ``builtin`` ones when they exist."""
    if ckpt is not None:
        return str(ckpt)
    return "builtin" if has_builtin_weights(name, variant) else None
