"""Building backbones from a variant config or loading them with diffusers' ``from_pretrained``.

``pretrained`` is either a local directory written by ``save_pretrained`` (or a full diffusers
pipeline folder holding the model in a subfolder such as ``transformer/``) or a Hugging Face hub
id. Every way this can fail for a reason the user can fix -- a missing directory, a directory
without a ``config.json``, a config of another class, a hub id that is not cached while
``HF_HUB_OFFLINE=1`` or that cannot be fetched -- raises :class:`~vsrzoo.errors.MissingWeightsError`
or :class:`~vsrzoo.errors.UserError` with one line naming what is missing and how to get it.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from vsrzoo.errors import MissingWeightsError, UserError, unknown
from vsrzoo.hub import hub_offline, is_hub_id, offline_reason
from vsrzoo.registry import VARIANTS, check_kwargs


def _download_hint(hub_hint: str | None) -> str:
    if not hub_hint:
        return "pass a diffusers save_pretrained() directory or a hub id"
    return (
        f"download it with `huggingface-cli download {hub_hint}` or pass a local save_pretrained() directory"
    )


def _local_config(path: Path, subfolder: str | None, what: str) -> tuple[dict, str | None]:
    candidates = [None, subfolder] if subfolder else [None]
    for sub in candidates:
        file = path / sub / "config.json" if sub else path / "config.json"
        if file.is_file():
            return json.loads(file.read_text()), sub
    where = f"'{path}/config.json'" + (f" or '{path}/{subfolder}/config.json'" if subfolder else "")
    raise MissingWeightsError(
        f"{what}: no {where}; pretrained= must be a diffusers save_pretrained() directory (or a pipeline folder with '{subfolder}/')"
    )


def _hub_config(repo: str, subfolder: str | None, what: str, hub_hint: str | None) -> tuple[dict, str | None]:
    from huggingface_hub import hf_hub_download

    offline = hub_offline()
    errors = []
    for sub in [subfolder, None] if subfolder else [None]:
        try:
            file = hf_hub_download(repo, "config.json", subfolder=sub, local_files_only=offline)
            return json.loads(Path(file).read_text()), sub
        except Exception as err:  # any hub/network/cache failure means: config not obtainable
            errors.append(type(err).__name__)
    if offline:
        raise MissingWeightsError(
            f"{what}: '{repo}' is not a local directory and not in the Hugging Face cache ({offline_reason()}); "
            f"download it first with `huggingface-cli download {repo}` or pass a local save_pretrained() directory"
        )
    raise MissingWeightsError(
        f"{what}: could not fetch '{repo}' from the Hugging Face Hub ({errors[-1]}); check the id and the network, "
        f"or {_download_hint(hub_hint)}"
    )


def read_config(
    source: str | os.PathLike, subfolder: str | None, what: str, hub_hint: str | None = None
) -> tuple[dict, str, str | None]:
    """Find the ``config.json`` of ``source``; return ``(config, location, subfolder)`` for ``from_pretrained``."""
    text = os.fspath(source)
    path = Path(text).expanduser()
    if path.is_dir():
        config, sub = _local_config(path, subfolder, what)
        return config, str(path), sub
    if path.exists():
        raise MissingWeightsError(
            f"{what}: '{text}' is a file, expected a save_pretrained() directory or a hub id"
        )
    if is_hub_id(text):
        config, sub = _hub_config(text, subfolder, what, hub_hint)
        return config, text, sub
    raise MissingWeightsError(
        f"{what}: checkpoint directory '{text}' does not exist; {_download_hint(hub_hint)}"
    )


def check_class(config: dict, expected: Iterable[str], source: Any, what: str) -> str:
    """Return the config's ``_class_name``; a UserError if it is not one of ``expected``."""
    expected = list(expected)
    found = config.get("_class_name", "<no _class_name>")
    if found not in expected:
        raise UserError(
            f"{what}: '{source}' holds a {found} config, expected {' or '.join(expected)}; "
            "point pretrained= at the matching model folder"
        )
    return found


def load_pretrained(
    cls: type,
    source: str | os.PathLike,
    *,
    what: str,
    subfolder: str | None = None,
    accept: Iterable[str] = (),
    hub_hint: str | None = None,
    **kwargs: Any,
):
    """``cls.from_pretrained(source)`` with clear errors; ``accept`` lists other valid ``_class_name`` values."""
    config, location, sub = read_config(source, subfolder, what, hub_hint)
    check_class(config, [cls.__name__, *accept], source, what)
    return from_pretrained(cls, location, sub, what, **kwargs)


def from_pretrained(cls: type, location: str, subfolder: str | None, what: str, **kwargs: Any):
    """``cls.from_pretrained`` restricted to safetensors weights, offline when ``HF_HUB_OFFLINE`` is set."""
    try:
        model = cls.from_pretrained(
            location, subfolder=subfolder, local_files_only=hub_offline(), use_safetensors=True, **kwargs
        )
    except OSError as err:
        where = f"{location}/{subfolder}" if subfolder else location
        raise MissingWeightsError(
            f"{what}: no loadable safetensors weights in '{where}' ({type(err).__name__}); "
            "re-save the model with save_pretrained() or download the checkpoint again"
        ) from err
    return realign(model)


@torch.no_grad()
def realign(model: torch.nn.Module, alignment: int = 64) -> torch.nn.Module:
    """Copy tensors that sit at unaligned addresses (memory-mapped safetensors) into fresh memory.

    CPU kernels sum in a different order for unaligned inputs, so without this a loaded model
    differs from the saved one in the last bits (and runs slower).
    """
    for tensor in [*model.parameters(), *model.buffers()]:
        if tensor.device.type == "cpu" and tensor.data_ptr() % alignment:
            tensor.data = tensor.data.clone()
    return model


def variant_config(configs: dict[str, dict], variant: str, overrides: dict, cls: type, what: str) -> dict:
    """The constructor kwargs of ``variant`` updated by ``overrides`` (UserError on bad names)."""
    if variant not in configs:
        raise unknown(f"variant of {what}", variant, configs)
    check_kwargs(cls, overrides, what)
    return {**configs[variant], **overrides}


def device_context(device: str | torch.device | None):
    """``torch.device(device)`` as a context manager (``meta`` builds without allocating memory)."""
    return torch.device(device) if device is not None else contextlib.nullcontext()


__all__ = [
    "VARIANTS",
    "check_class",
    "device_context",
    "from_pretrained",
    "hub_offline",
    "is_hub_id",
    "load_pretrained",
    "read_config",
    "variant_config",
]
