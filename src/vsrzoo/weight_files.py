"""Weight files of the fixed networks vsrzoo reads from torch's hub folder: where each must be, and reading it safely.

Shared by the LPIPS network (:mod:`vsrzoo.blocks.lpips`, which InstaVSR's perceptual loss and the
LPIPS metric both use), DOVER and the pyiqa metrics (:mod:`vsrzoo.metrics.iqa`); it sits on the
lowest floor, beside :mod:`vsrzoo.hub`, so that a block and a metric can both read. Every file is read
with ``torch.load(weights_only=True)``; one that cannot be read (random bytes, a truncated
archive, a pickle that needs more than tensors) or does not fit its network is one
:class:`BadWeightsError` line naming the file and what is wrong; an absent one is a
:class:`MissingWeightsError` naming where to get it.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from vsrzoo.errors import BadWeightsError, MissingWeightsError

__all__ = [
    "WeightFile",
    "first_line",
    "load_exact",
    "read_state",
    "require_files",
    "unpickling_error",
    "weights_only_load",
]


@dataclass(frozen=True)
class WeightFile:
    """A weight file: its name, the folder under torch's hub dir, and where it comes from."""

    name: str
    folder: str
    url: str

    @property
    def path(self) -> Path:
        return Path(torch.hub.get_dir()) / self.folder / self.name


def require_files(metric: str, files: tuple[WeightFile, ...]) -> list[Path]:
    """The paths of ``files``, or a one-line MissingWeightsError naming the first absent one."""
    for wf in files:
        if not wf.path.is_file():
            raise MissingWeightsError(
                f"{metric} needs the weight file {wf.name}, not found at {wf.path}; download {wf.url} "
                f"into {wf.path.parent} (or set TORCH_HOME), or leave {metric} out of --metrics"
            )
    return [wf.path for wf in files]


def read_state(path: Path) -> dict[str, torch.Tensor]:
    """A checkpoint's tensors, weights-only; 'params'/'state_dict' wrappers and 'module.' removed."""
    state = weights_only_load(path)
    for key in ("params", "state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise BadWeightsError(f"{path} is not a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in state.items() if isinstance(v, torch.Tensor)}


def weights_only_load(path: Path):
    """``torch.load(path, weights_only=True)``; a file it cannot read (random bytes, a truncated
    archive, a pickle that needs more than tensors) is one BadWeightsError naming the file."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise unpickling_error(path, exc) from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as exc:
        raise BadWeightsError(f"{path} cannot be read as a PyTorch weight file ({first_line(exc)})") from None


def unpickling_error(path: Path, exc: Exception) -> BadWeightsError:
    """Why the weights-only unpickler stopped, in one line (torch's own message is a page)."""
    text = str(exc)
    refused = re.search(r"Unsupported global: GLOBAL [\w.]+", text)
    if refused:
        return BadWeightsError(
            f"{path} is refused: it needs more than tensors to load ({refused.group(0)}); "
            "only weights-only files are read"
        )
    detail = re.search(r"WeightsUnpickler error:\s*(.+)", text)
    reason = detail.group(1).strip() if detail else first_line(exc)
    return BadWeightsError(
        f"{path} cannot be read as a PyTorch weight file (not a pickle of tensors: {reason})"
    )


def first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return lines[0][:200] if lines else type(exc).__name__


def load_exact(module: nn.Module, state: dict, path: Path) -> None:
    try:
        missing, unexpected = module.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatch
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        raise BadWeightsError(f"{path} does not match the network ({lines[-1] if lines else exc})") from None
    if missing or unexpected:
        shown = ", ".join((missing or unexpected)[:3])
        raise BadWeightsError(f"{path} does not match the network (e.g. {shown})")
