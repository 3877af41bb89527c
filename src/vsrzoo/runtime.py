"""Where a process runs: its device, its memory budget and its share of the work.

Shared by ``vsrzoo upscale`` and ``vsrzoo bench`` so both pick the same default device (the best
one present: CUDA when available, else the CPU) and split work over processes the same way: an
explicit ``--shard I/N``, else the torchrun world (``RANK``/``WORLD_SIZE``), else the SLURM job
(``SLURM_PROCID``/``SLURM_NTASKS``). Shards share nothing but the file system: every process
computes the same deterministic assignment from the same list of items.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from vsrzoo.errors import UserError

if TYPE_CHECKING:
    import torch

DEVICE_TYPES = ("cpu", "cuda")


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``None`` picks the best device present; a device that is absent or unknown is a user error.

    Under torchrun (``LOCAL_RANK`` set) a bare ``cuda`` means this process's own GPU.
    """
    import torch  # here, not at the top: the shard helpers below serve `--help`-time imports

    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise UserError(f"unsupported device '{device}'; use cpu or cuda[:N]") from None
    if dev.type not in DEVICE_TYPES:
        raise UserError(f"unsupported device '{device}'; use cpu or cuda[:N]")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError("--device cuda was requested but no CUDA device is available; use --device cpu")
        if dev.index is None and "LOCAL_RANK" in os.environ:
            dev = torch.device("cuda", int(os.environ["LOCAL_RANK"]) % torch.cuda.device_count())
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise UserError(
                f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                f"numbered 0..{torch.cuda.device_count() - 1}"
            )
    return dev


def available_memory(device: torch.device | str = "cpu") -> int | None:
    """Bytes a model may use: the GPU's total memory, or the host's available memory (None if unknown)."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.get_device_properties(device).total_memory)
    try:
        with open("/proc/meminfo") as f:
            info = dict(line.split(":", 1) for line in f)
        return int(info["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return None


def format_bytes(n: float) -> str:
    """A byte count for messages: 512B, 3.1MB, 12.0GB."""
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1024
    return f"{n:.1f}GB"


def parse_shard(spec: str | tuple[int, int] | None) -> tuple[int, int] | None:
    """``'i/n'`` (0-based shard ``i`` of ``n``) -> (i, n)."""
    if spec is None:
        return None
    if isinstance(spec, str):
        try:
            i_s, n_s = spec.split("/")
            i, n = int(i_s), int(n_s)
        except ValueError:
            raise UserError(f"--shard must look like I/N (e.g. 0/4), got '{spec}'") from None
    else:
        i, n = spec
    if n < 1 or not 0 <= i < n:
        raise UserError(f"--shard {i}/{n}: need N >= 1 and 0 <= I < N (shards are numbered 0..N-1)")
    return i, n


def resolve_shard(spec: str | tuple[int, int] | None) -> tuple[int, int] | None:
    """The explicit shard, else the torchrun world, else the SLURM job, else None (all the work)."""
    shard = parse_shard(spec)
    if shard is not None:
        return shard
    for rank, world in (("RANK", "WORLD_SIZE"), ("SLURM_PROCID", "SLURM_NTASKS")):
        try:
            size = int(os.environ.get(world, "1"))
            index = int(os.environ.get(rank, "0"))
        except ValueError:
            raise UserError(
                f"${rank}/${world} must be integers, got '{os.environ.get(rank)}'/'{os.environ.get(world)}'"
            ) from None
        if size > 1:
            return parse_shard((index, size))
    return None


def assign_shards(weights: list[int], n: int) -> list[int]:
    """Shard of each item: heaviest first, each to the least-loaded shard (deterministic)."""
    load = [0] * n
    owner = [0] * len(weights)
    for idx in sorted(range(len(weights)), key=lambda k: (-weights[k], k)):
        shard = min(range(n), key=lambda s: (load[s], s))
        owner[idx] = shard
        load[shard] += weights[idx]
    return owner
