"""Checkpoints on local disk and on the Hugging Face Hub: resolve, check, describe, publish.

A checkpoint is a folder (``config.json`` + weights, written by ``save_pretrained``), a Lightning
``.ckpt`` file, or a Hub id ``org/name[@revision]`` whose snapshot ``huggingface_hub`` fetches
into its cache (https://huggingface.co/docs/huggingface_hub/guides/download). Resolution is
format-agnostic: :func:`resolve_checkpoint` only turns an id or path into a local path.
``HF_HUB_OFFLINE`` and ``HF_HUB_CACHE``/``HF_HOME`` are read when called, not when imported.

Loading a checkpoint never downloads what its ``config.json`` refers to (e.g. base weights):
:func:`build_checked` builds the model inside :func:`no_downloads`, which makes
:func:`hub_offline` true for the backbone loaders, so a crafted or stale config cannot start a
network transfer; base weights must already be local or cached. It also builds the model on
the ``meta`` device first and refuses configs that ask for more memory than is available.

Every ``save_pretrained`` writes a model card (``README.md``): the card the checkpoint was loaded
with (e.g. the built-in weights' card), else one generated from its config, with Hub metadata.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import pickle
import re
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from vsrzoo.errors import MissingWeightsError, UserError
from vsrzoo.registry import check_kwargs
from vsrzoo.runtime import available_memory, format_bytes

log = logging.getLogger(__name__)

CARD_NAME = "README.md"
CHECKPOINT_FILES = (
    "*.json",
    "*.safetensors",
    "*.md",
)  # a snapshot fetches configs, weights (incl. subfolders) and the card, never pickles
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_TRUE = {"1", "ON", "YES", "TRUE"}
_NO_DOWNLOADS = contextvars.ContextVar("vsrzoo_no_downloads", default=False)
MAX_HUB_ID = 96  # the Hugging Face Hub's longest repository id (owner/name)
MAX_TENSORS = 20_000  # full-size methods have < 3,000 parameter/buffer tensors; far more is a damaged config


# ------------------------------------------------------------------------- offline and ids
def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` is set or a checkpoint's config is being built."""
    return os.environ.get("HF_HUB_OFFLINE", "").upper() in _TRUE or _NO_DOWNLOADS.get()


def offline_reason() -> str:
    """Why downloads are off, for error messages."""
    if os.environ.get("HF_HUB_OFFLINE", "").upper() in _TRUE:
        return "HF_HUB_OFFLINE=1"
    return "weights referenced by a checkpoint's config.json are never downloaded; fetch them first"


@contextlib.contextmanager
def no_downloads() -> Iterator[None]:
    """Within this block :func:`hub_offline` is true (used while building from a checkpoint config)."""
    token = _NO_DOWNLOADS.set(True)
    try:
        yield
    finally:
        _NO_DOWNLOADS.reset(token)


def is_hub_id(source: str) -> bool:
    """Whether ``source`` looks like ``owner/name`` and is not an existing local path."""
    return (
        len(source) <= MAX_HUB_ID and bool(_HUB_ID.match(source)) and not _exists(Path(source).expanduser())
    )


def _exists(path: Path) -> bool:
    """``path.exists()``, False for a name the OS cannot look up (too long, a NUL byte) instead of an OSError."""
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


def _short(text: str, keep: int = 80) -> str:
    """``text`` cut for a one-line message (a 5000-character argument stays readable)."""
    return text if len(text) <= keep else f"{text[:keep]}... ({len(text)} characters)"


def hub_cache() -> str | None:
    """The Hub cache folder as the environment says now (None: huggingface_hub's default)."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    if os.environ.get("HF_HOME"):
        return os.path.join(os.environ["HF_HOME"], "hub")
    return None


# ------------------------------------------------------------------------------ resolution
def resolve_checkpoint(source: str | os.PathLike, what: str = "vsrzoo") -> Path:
    """A local path for ``source``: an existing path as is, a Hub id via the cache or a download."""
    text = os.fspath(source)
    path = Path(text).expanduser()
    if _exists(path):
        return path
    repo, _, revision = text.partition("@")
    if not is_hub_id(repo):
        raise MissingWeightsError(
            f"no {what} checkpoint at {_short(str(path))} (expected config.json and model.safetensors written by "
            "save_pretrained, a Lightning .ckpt, or a Hub id like org/name)"
        )
    return Path(_snapshot(repo, revision or None, what, text))


def _snapshot(repo: str, revision: str | None, what: str, text: str) -> str:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    offline = hub_offline()
    try:
        return snapshot_download(
            repo,
            revision=revision,
            allow_patterns=list(CHECKPOINT_FILES),
            cache_dir=hub_cache(),
            local_files_only=offline,
        )
    except (RepositoryNotFoundError, RevisionNotFoundError) as exc:
        raise MissingWeightsError(
            f"no {what} checkpoint '{text}': no local path of that name and no such Hub repository"
            + (" or revision" if isinstance(exc, RevisionNotFoundError) else "")
        ) from None
    except LocalEntryNotFoundError:
        if offline:
            raise MissingWeightsError(
                f"{what} checkpoint '{text}' is not a local path and not in the Hugging Face cache "
                f"({offline_reason()}); download it with `hf download {repo}` or unset HF_HUB_OFFLINE"
            ) from None
        raise MissingWeightsError(
            f"{what} checkpoint '{text}' is not a local path and could not be fetched from the Hugging Face Hub "
            "(no connection?)"
        ) from None
    except (OSError, ValueError) as exc:  # HTTP errors subclass OSError; bad ids raise ValueError
        raise MissingWeightsError(
            f"cannot fetch {what} checkpoint '{text}' from the Hub: {_first_line(exc)}"
        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# ------------------------------------------------------------------------- reading checks
def read_config(file: Path, method: str | None = None) -> dict[str, Any]:
    """The checkpoint ``config.json``: valid JSON, the keys ``method`` and ``config``, of ``method`` if given."""
    try:
        meta = json.loads(file.read_text())
    except FileNotFoundError:
        raise MissingWeightsError(
            f"no {file.name} in {file.parent}: not a vsrzoo checkpoint folder"
        ) from None
    except UnicodeDecodeError:
        raise UserError(
            f"{file} is not a JSON text file; re-save the checkpoint with save_pretrained"
        ) from None
    except json.JSONDecodeError as exc:
        raise UserError(
            f"{file} is not valid JSON ({exc.msg} at line {exc.lineno}); re-save the checkpoint with save_pretrained"
        ) from None
    if not isinstance(meta, dict):
        raise UserError(
            f"{file} must hold a JSON object with 'method' and 'config', got {type(meta).__name__}"
        )
    missing = [key for key in ("method", "config") if key not in meta]
    if missing:
        raise UserError(
            f"{file} lacks the key(s) {', '.join(missing)}; a vsrzoo checkpoint config holds method, variant and config"
        )
    if method is not None and meta["method"] != method:
        raise UserError(
            f"{file.parent} holds a '{meta['method']}' checkpoint, not '{method}'; use --method {meta['method']}"
        )
    if not isinstance(meta["config"], dict):
        raise UserError(f"'config' in {file} must be a JSON object of constructor arguments")
    return meta


def load_weights(file: Path) -> dict[str, torch.Tensor]:
    """A safetensors file's tensors; a one-line error when it is truncated or corrupt."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(file))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise UserError(
            f"cannot load {file}: truncated or corrupt safetensors file ({_first_line(exc)}); save or download it again"
        ) from None


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """A Lightning ``.ckpt`` loaded weights-only; one-line UserErrors for anything else.

    ``weights_only=True`` is passed explicitly, which torch honours even when
    ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` is set, so a crafted pickle is refused, never run.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingWeightsError(f"checkpoint not found: {path}")
    if not zipfile.is_zipfile(path):  # torch.save writes a zip archive
        raise UserError(f"{path} is not a PyTorch checkpoint (not a zip archive)")
    try:
        ckpt = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
    except pickle.UnpicklingError as exc:
        reason = str(exc).split("WeightsUnpickler error: ")[-1].strip().splitlines()[0].split(". Please")[0]
        raise UserError(f"refusing to load {path}: it is not a weights-only checkpoint ({reason})") from exc
    except (RuntimeError, EOFError, OSError, ValueError) as exc:  # truncated or foreign archives
        raise UserError(f"{path} is not a PyTorch checkpoint ({str(exc).strip().splitlines()[0]})") from exc
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("state_dict"), dict):
        raise UserError(f"{path} is not a Lightning checkpoint (no state_dict)")
    return ckpt


def load_state(model: torch.nn.Module, state: dict[str, torch.Tensor], file: Path) -> None:
    """``model.load_state_dict(state)`` with a one-line error naming what does not match."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [k for k in state if k in expected and tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or shapes:
        parts = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("of another shape", shapes)):
            if keys:
                parts.append(f"{len(keys)} {label} (e.g. '{keys[0]}')")
        raise UserError(
            f"the weights in {file} do not match the model its config builds: {', '.join(parts)} tensors; "
            "is it a checkpoint of another method or variant?"
        )
    model.load_state_dict(state)


# ------------------------------------------------------------------------------- building
class _TooLarge(Exception):
    pass


def _count_on_meta(build: Callable[[], torch.nn.Module], budget: int | None) -> int | None:
    """Bytes of the parameters and buffers ``build`` creates, built on ``meta``; stops past ``budget``."""
    total, tensors = 0, 0

    def count(module, name, tensor):
        nonlocal total, tensors
        if tensor is not None:
            total += tensor.numel() * tensor.element_size()
            tensors += 1
            if (budget is not None and total > budget) or tensors > MAX_TENSORS:
                raise _TooLarge
        return None

    hooks = [
        torch.nn.modules.module.register_module_parameter_registration_hook(count),
        torch.nn.modules.module.register_module_buffer_registration_hook(count),
    ]
    try:
        with torch.device("meta"), no_downloads():
            build()
    except _TooLarge:
        return total if tensors <= MAX_TENSORS else -1
    except Exception as exc:  # some constructors cannot run on meta; the real build reports errors
        log.debug("size check on the meta device skipped: %s", exc)
        return None
    finally:
        for hook in hooks:
            hook.remove()
    return total


def build_checked(
    cls: type, kwargs: dict[str, Any], where: Path, device: str | torch.device | None = None
) -> torch.nn.Module:
    """``cls(**kwargs)`` from a checkpoint config: known keys only, within memory, no downloads."""
    check_kwargs(cls, kwargs, f"the config of {where}")
    budget = available_memory(device or "cpu")
    size = _count_on_meta(lambda: cls(**kwargs), budget)
    if size == -1:
        raise UserError(
            f"the config of {where} builds more than {MAX_TENSORS} tensors; is config.json damaged?"
        )
    if size is not None and budget is not None and size > budget:
        raise UserError(
            f"the config of {where} asks for a model of more than {format_bytes(size)}, more than the "
            f"{format_bytes(budget)} of memory available; is config.json damaged?"
        )
    try:
        with no_downloads():
            return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise UserError(
            f"the config of {where} cannot build a {getattr(cls, 'method_name', cls.__name__)} model: {_first_line(exc)}"
        ) from None


# ----------------------------------------------------------------------------- model card
def model_card(meta: dict[str, Any], card: str | None = None, parameters: int | None = None) -> str:
    """The README of a checkpoint: ``card`` (e.g. the one it was loaded with) or a generated one, with Hub metadata."""
    method, variant = meta.get("method", "model"), meta.get("variant")
    header = f"---\nlibrary_name: vsrzoo\ntags:\n- vsrzoo\n- video-super-resolution\n- {method}\n---\n"
    if card:
        return card if card.lstrip().startswith("---") else header + "\n" + card
    name = f"{method}-{variant}" if variant else method
    scale = meta.get("config", {}).get("scale")
    lines = [
        f"# {name}",
        "",
        f"A **{method}** checkpoint for [vsrzoo](https://pypi.org/project/vsrzoo/)"
        + (f" (variant `{variant}`" if variant else " (")
        + (f", x{scale} upscaling)." if scale else ")."),
        "Written by `save_pretrained`; the training data, steps and scores are not recorded in this card.",
        "",
    ]
    if parameters is not None:
        lines += [f"Parameters: {parameters:,}", ""]
    lines += [
        "## Use",
        "",
        "```python",
        "import vsrzoo",
        f'model = vsrzoo.create_model("{method}", pretrained="<this folder or org/name>")',
        "```",
        "",
        "```",
        f"vsrzoo upscale in.mp4 out.mp4 --method {method} --ckpt <this folder or org/name>",
        "```",
        "",
        "## Config",
        "",
        "```json",
        json.dumps(meta, indent=2),
        "```",
        "",
    ]
    return header + "\n" + "\n".join(lines)


def write_model_card(
    directory: Path, meta: dict[str, Any], card: str | None = None, parameters: int | None = None
) -> Path:
    path = Path(directory) / CARD_NAME
    path.write_text(model_card(meta, card, parameters))
    return path


def read_model_card(directory: Path) -> str | None:
    path = Path(directory) / CARD_NAME
    return path.read_text() if path.is_file() else None


# ------------------------------------------------------------------------------ publishing
def push_to_hub(
    directory: Path,
    repo_id: str,
    private: bool | None = None,
    token: str | None = None,
    commit_message: str | None = None,
) -> str:
    """Upload a checkpoint folder to the Hub repository ``repo_id`` (created if missing); returns its URL."""
    if os.environ.get("HF_HUB_OFFLINE", "").upper() in _TRUE:
        raise UserError(
            f"cannot push {directory} to the Hub while HF_HUB_OFFLINE=1 (the folder was saved locally)"
        )
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    try:
        url = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        api.upload_folder(
            folder_path=str(directory),
            repo_id=repo_id,
            repo_type="model",
            commit_message=commit_message or "Upload vsrzoo checkpoint",
        )
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot push {directory} to the Hub as '{repo_id}': {_first_line(exc)}") from None
    return str(url)
