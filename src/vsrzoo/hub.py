"""Checkpoints on local disk and on the Hugging Face Hub: resolve, check, describe, publish.

A checkpoint is a folder (``config.json`` + weights, written by ``save_pretrained``), a Lightning
``.ckpt`` file, or a Hub id ``org/name[@revision]`` whose snapshot ``huggingface_hub`` fetches
into its cache (https://huggingface.co/docs/huggingface_hub/guides/download). Resolution is
format-agnostic: :func:`resolve_checkpoint` only turns an id or path into a local path.
``HF_HUB_OFFLINE`` and ``HF_HUB_CACHE``/``HF_HOME`` are read when called, not when imported.

One load path (timm's ``build_model_with_cfg``): :func:`build_model_with_cfg` resolves a source
once (:func:`open_checkpoint`: ``"builtin"``, a folder, a ``.ckpt`` or a Hub id), reads its config
once, merges the overrides and checks the constructor arguments once, builds the model once and
loads the weights with one exactness check (:func:`load_state`). ``vsrzoo.create_model``,
``vsrzoo.from_pretrained``, ``VSRMethod.from_pretrained``, the bench, ``upscale`` and ``fit`` all
load through it.

Loading a checkpoint never downloads what its ``config.json`` refers to (e.g. base weights): the
model is built inside :func:`no_downloads`, which makes :func:`hub_offline` true for the backbone
loaders, so a crafted or stale config cannot start a network transfer; base weights must already
be local or cached. The build is guarded: every tensor the constructor asks for is sized on the
``meta`` device before it is allocated, so a config that asks for more memory than is available
is refused before allocating (:func:`build_guarded`).

Every ``save_pretrained`` writes a model card (``README.md``): the card the checkpoint was loaded
with (e.g. the built-in weights' card), else one generated from its config, with Hub metadata.
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import json
import logging
import os
import pickle
import re
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from vsrzoo.errors import MissingWeightsError, UserError
from vsrzoo.registry import check_kwargs
from vsrzoo.runtime import available_memory, format_bytes

log = logging.getLogger(__name__)

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
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


def state_mismatch(
    model: torch.nn.Module, state: Mapping[str, torch.Tensor]
) -> tuple[list[str], list[str], list[str]]:
    """The one exactness check: keys of ``model.state_dict()`` that ``state`` lacks, keys it has that the
    model does not, and keys whose shapes differ (all empty: the weights fit the model exactly)."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    return missing, unexpected, shapes


def load_state(model: torch.nn.Module, state: dict[str, torch.Tensor], file: Path) -> None:
    """``model.load_state_dict(state)`` after :func:`state_mismatch`, with a one-line error naming what
    does not match. On the ``meta`` device only the check runs (there is nothing to copy into)."""
    missing, unexpected, shapes = state_mismatch(model, state)
    if missing or unexpected or shapes:
        parts = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("of another shape", shapes)):
            if keys:
                parts.append(f"{len(keys)} {label} (e.g. '{keys[0]}')")
        raise UserError(
            f"the weights in {file} do not match the model its config builds: {', '.join(parts)} tensors; "
            "is it a checkpoint of another method or variant?"
        )
    if any(t.is_meta for t in model.state_dict().values()):
        return
    model.load_state_dict(state)


# ------------------------------------------------------------------------------ one load path
def builtin_dir() -> Path:
    """Where the trained tiny checkpoints shipped with the package live."""
    return Path(str(resources.files("vsrzoo") / "weights"))


@dataclass
class Checkpoint:
    """A checkpoint resolved to a local path, its config read once (:func:`open_checkpoint`).

    ``config`` holds the constructor arguments saved with it (for a folder, bundled parts already
    point into the folder); ``method`` and ``variant`` are None for a Lightning ``.ckpt``, which does
    not record them.
    """

    source: str
    """As the caller named it (``"builtin"``, a path, a Hub id); messages about its config use it."""
    path: Path
    method: str | None
    variant: str | None
    config: dict[str, Any]
    lightning: dict[str, Any] | None = field(default=None, repr=False)
    """The weights-only loaded ``.ckpt`` (its ``state_dict`` is the state); None for a folder."""

    @property
    def config_file(self) -> Path:
        """What holds the config (named by size and build errors)."""
        return self.path if self.lightning is not None else self.path / CONFIG_NAME

    def state(self) -> tuple[dict[str, torch.Tensor], Path]:
        """The saved weights and the file they come from (safetensors, or the ``.ckpt`` already read)."""
        if self.lightning is not None:
            return self.lightning["state_dict"], self.path
        return load_weights(self.path / WEIGHTS_NAME), self.path / WEIGHTS_NAME


def open_checkpoint(
    source: str | os.PathLike, method: str | None = None, variant: str | None = None
) -> Checkpoint:
    """Resolve ``source`` once and read its config once.

    ``source`` is ``"builtin"`` (the tiny weights shipped for ``method`` at ``variant``), a folder
    written by ``save_pretrained``, a Lightning ``.ckpt`` (read weights-only, once: its state comes
    with it) or a Hub id ``org/name[@revision]``. ``method`` None (``vsrzoo.from_pretrained``) takes
    the method from the folder's ``config.json``; given, the config must be of that method.
    """
    text = os.fspath(source)
    what = method or "vsrzoo"
    if text == "builtin":
        path = builtin_dir() / f"{method}-{variant or 'tiny'}"
        if not path.is_dir():
            raise MissingWeightsError(
                f"no built-in weights for {method} variant '{variant or 'tiny'}' (expected {path}); "
                f"train them with `vsrzoo fit recipes/{method}-tiny.yaml`"
            )
    else:
        path = resolve_checkpoint(text, what)
    if path.is_file() and method is None:
        raise UserError(
            f"{path} is a file; a Lightning .ckpt does not name its method: use create_model(<method>, pretrained=...)"
        )
    if path.is_file() and path.suffix == ".ckpt":
        ckpt = read_checkpoint(path)
        return Checkpoint(text, path, None, None, dict(ckpt.get("hyper_parameters", {})), ckpt)
    label = text if text == "builtin" else str(path)
    meta = None
    if method is None or (path / CONFIG_NAME).is_file():
        meta = read_config(path / CONFIG_NAME, method)  # JSON, its keys and its method before anything else
    if meta is None or not (path / WEIGHTS_NAME).is_file():
        raise MissingWeightsError(
            f"no {method or meta['method']} checkpoint at {path} (expected {CONFIG_NAME} and {WEIGHTS_NAME} "
            "written by save_pretrained, or a Lightning .ckpt)"
        )
    config = dict(meta["config"])
    bundled = meta.get("bundled") or {}
    for arg, sub in bundled.items() if isinstance(bundled, dict) else ():
        config[arg] = str(path / sub)
    return Checkpoint(label, path, meta["method"], meta.get("variant"), config)


def merge_config(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
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


def build_model_with_cfg(
    cls: type,
    variant: str | None = None,
    pretrained: str | os.PathLike | Checkpoint | None = None,
    *,
    defaults: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    device: str | torch.device | None = None,
) -> torch.nn.Module:
    """The one builder (timm's ``build_model_with_cfg``): resolve -> read config -> check -> build -> load.

    Without ``pretrained``: ``cls(**defaults merged with overrides)`` (``defaults``: the variant's
    arguments). With it: :func:`open_checkpoint` resolves the source and reads its config once (an
    already opened :class:`Checkpoint` is used as is), ``overrides`` merge into the saved config
    (:func:`merge_config`), :func:`vsrzoo.registry.check_kwargs` runs once on the result, the model is
    built once (:func:`build_guarded`: no downloads, within memory) and the saved state loads with
    one exactness check (:func:`load_state`). The model is built on ``device`` (``"meta"`` builds
    without memory; a meta model only checks the weights' names and shapes).

    Scale, the one rule: a model loaded from weights runs at the scale it was saved with. An
    override ``scale`` (what ``upscale --scale`` and the bench's dataset scale pass) must equal
    it, else a one-line UserError; without weights it is simply the constructor's ``scale``. Before
    this rule ``upscale`` replaced a checkpoint's scale by the requested one and the bench did so
    only for scales other than 4, so x4 weights could run at x2 (or x2 weights at x4) unnoticed.
    """
    overrides = dict(overrides or {})
    device_ctx = torch.device(device) if device is not None else contextlib.nullcontext()
    if pretrained is None:
        base = dict(defaults or {})
        kwargs = {**base, **merge_config(base, overrides)}
        check_kwargs(cls, kwargs, f"method '{cls.method_name}'")
        with device_ctx:
            model = cls(**kwargs)
        model.variant = variant
        return model
    ckpt = (
        pretrained
        if isinstance(pretrained, Checkpoint)
        else open_checkpoint(pretrained, cls.method_name, variant)
    )
    upgrade = getattr(cls, "upgrade_config", None)  # configs saved before a rename use today's names
    if upgrade is not None:
        ckpt.config = upgrade(ckpt.config)
    changes = merge_config(ckpt.config, overrides)
    kwargs = {**ckpt.config, **changes}
    _check_once(cls, kwargs, ckpt, changes)
    _check_scale(cls, ckpt, overrides)
    with device_ctx:
        model = build_guarded(cls, kwargs, ckpt.config_file, device)
    if ckpt.lightning is None:
        model.variant = ckpt.variant
        model.model_card = read_model_card(ckpt.path)
    load_state(model, *ckpt.state())
    return model.to(device) if device is not None else model


def _check_once(cls: type, kwargs: dict[str, Any], ckpt: Checkpoint, changes: dict[str, Any]) -> None:
    """One :func:`check_kwargs` over the merged arguments; on an error, name whose value it is
    (the saved config's, or the caller's override) as the two separate checks used to."""
    saved_where = f"the configuration saved with {ckpt.source} (another method's?)"
    try:
        check_kwargs(cls, kwargs, saved_where)
    except UserError:
        check_kwargs(cls, ckpt.config, saved_where)
        check_kwargs(cls, changes, f"method '{cls.method_name}'")
        raise


def _check_scale(cls: type, ckpt: Checkpoint, overrides: Mapping[str, Any]) -> None:
    """The scale rule of :func:`build_model_with_cfg`: weights run at the scale they were saved with."""
    if "scale" not in overrides:
        return
    param = inspect.signature(cls.__init__).parameters.get("scale")
    default = param.default if param is not None and param.default is not param.empty else None
    saved = ckpt.config.get("scale", default)
    if saved is not None and overrides["scale"] != saved:
        name = (
            f"{ckpt.method or cls.method_name}-{ckpt.variant or 'tiny'}" if ckpt.source == "builtin" else None
        )
        what = f"the built-in {name} weights" if name else str(ckpt.path)
        raise UserError(
            f"{what} upscale x{saved}, not x{overrides['scale']}: a loaded model runs at the scale it was "
            f"trained for (use scale {saved}, or weights trained for x{overrides['scale']})"
        )


# ------------------------------------------------------------------------------- building
_SIZED = (
    "arange empty empty_permuted empty_strided eye full linspace logspace ones rand randint randn "
    "randperm range tril_indices triu_indices zeros bartlett_window blackman_window hamming_window "
    "hann_window kaiser_window"
).split()


class _TooLarge(Exception):
    pass


class _SizeGuard(TorchFunctionMode):
    """Sizes every tensor a constructor asks for on ``meta`` before it is allocated, and counts the
    parameters and buffers registered: past ``budget`` bytes or ``MAX_TENSORS`` tensors it raises
    :class:`_TooLarge` before the allocation that would cross the line. The real call is unchanged
    (sizing on ``meta`` draws no random numbers)."""

    def __init__(self, budget: int | None):
        super().__init__()
        self.budget, self.total, self.tensors = budget, 0, 0
        self.sized = {getattr(torch, name) for name in _SIZED if hasattr(torch, name)}
        self.hooks: list[Any] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.budget is not None and func in self.sized:
            try:
                target = torch.device(kwargs.get("device") or torch.get_default_device())
                probe = func(*args, **{**kwargs, "device": "meta"}) if target.type != "meta" else None
            except Exception:  # unusual arguments: the registration count still applies
                probe = None
            if probe is not None:
                self.total += probe.numel() * probe.element_size()
                if self.total > self.budget:
                    raise _TooLarge
        return func(*args, **kwargs)

    def _registered(self, module, name, tensor):
        if tensor is not None:
            self.tensors += 1
            if self.tensors > MAX_TENSORS:
                raise _TooLarge
        return None

    def __enter__(self):
        self.hooks = [
            torch.nn.modules.module.register_module_parameter_registration_hook(self._registered),
            torch.nn.modules.module.register_module_buffer_registration_hook(self._registered),
        ]
        return super().__enter__()

    def __exit__(self, *exc):
        for hook in self.hooks:
            hook.remove()
        return super().__exit__(*exc)


def build_guarded(
    cls: type, kwargs: dict[str, Any], where: Path, device: str | torch.device | None = None
) -> torch.nn.Module:
    """``cls(**kwargs)`` (arguments already checked) from a checkpoint config, built once: no
    downloads (:func:`no_downloads`), and refused with a one-line error before allocating when it
    asks for more memory than ``device`` has or for more than ``MAX_TENSORS`` tensors."""
    budget = None if torch.device(device or "cpu").type == "meta" else available_memory(device or "cpu")
    guard = _SizeGuard(budget)
    try:
        with no_downloads(), guard:
            return cls(**kwargs)
    except _TooLarge:
        if guard.tensors > MAX_TENSORS:
            raise UserError(
                f"the config of {where} builds more than {MAX_TENSORS} tensors; is config.json damaged?"
            ) from None
        raise UserError(
            f"the config of {where} asks for a model of more than {format_bytes(guard.total)}, more than the "
            f"{format_bytes(guard.budget)} of memory available; is config.json damaged?"
        ) from None
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
