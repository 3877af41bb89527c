"""Inference cost, reported the same way for every method.

No VSR paper reports cost consistently (DESIGN.md section 4), so vsrzoo records, per clip and
summed per benchmark run: wall seconds spent producing output frames (model loading excluded),
seconds per output megapixel-frame, peak memory (CUDA ``max_memory_allocated`` on GPU, else the
process peak RSS, which never decreases), device name and count, dtype, and device-hours
(wall time x devices; GPU-hours on GPU).
"""

from __future__ import annotations

import platform
import resource
import sys
import time
from dataclasses import asdict, dataclass

import torch

__all__ = ["CostMeter", "device_info", "merge_costs", "peak_memory"]


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def device_info(device: str | torch.device = "cpu") -> dict:
    """Type, name and count of the device(s) a process computes on."""
    device = torch.device(device)
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return {"type": "cuda", "name": torch.cuda.get_device_name(index), "count": 1}
    if device.type == "cpu":
        return {"type": "cpu", "name": _cpu_name(), "count": 1, "threads": torch.get_num_threads()}
    return {"type": device.type, "name": device.type, "count": 1}


def peak_memory(device: str | torch.device = "cpu") -> tuple[int, str]:
    """(bytes, kind): CUDA peak allocated since the last reset, else the process peak RSS."""
    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device)), "cuda_max_memory_allocated"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024), "process_peak_rss"


@dataclass
class CostRecord:
    """The cost of producing one clip's outputs (or, merged, a whole run)."""

    wall_seconds: float
    frames: int
    megapixel_frames: float
    seconds_per_mpf: float | None
    peak_memory_bytes: int
    memory_kind: str
    device_type: str
    device_name: str
    device_count: int
    device_hours: float
    dtype: str
    steps: int | None = None  # sampling steps of a diffusion method, when it says


class CostMeter:
    """Accumulates the time spent inside the method only; call :meth:`timed` around each
    fetch of an output frame and :meth:`record` at the end of a clip."""

    def __init__(self, device: str | torch.device = "cpu", dtype: str = "float32", steps: int | None = None):
        self.device = torch.device(device)
        self.dtype, self.steps = dtype, steps
        self.seconds = 0.0
        self.frames = 0
        self.megapixels = 0.0
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)

    def timed(self, fetch):
        """Run ``fetch()`` (e.g. ``next(iterator)``), add its wall time, return its value."""
        start = time.perf_counter()
        try:
            return fetch()
        finally:
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            self.seconds += time.perf_counter() - start

    def add_frame(self, height: int, width: int) -> None:
        self.frames += 1
        self.megapixels += height * width / 1e6

    def record(self) -> dict:
        info = device_info(self.device)
        mem, kind = peak_memory(self.device)
        return asdict(
            CostRecord(
                wall_seconds=self.seconds,
                frames=self.frames,
                megapixel_frames=self.megapixels,
                seconds_per_mpf=self.seconds / self.megapixels if self.megapixels else None,
                peak_memory_bytes=mem,
                memory_kind=kind,
                device_type=info["type"],
                device_name=info["name"],
                device_count=info["count"],
                device_hours=self.seconds * info["count"] / 3600.0,
                dtype=self.dtype,
                steps=self.steps,
            )
        )


def merge_costs(records: list[dict]) -> dict | None:
    """One run's cost from per-clip records (possibly from several processes): times, frames and
    device-hours add up, peak memory is the maximum, device names are listed once."""
    records = [r for r in records if r]
    if not records:
        return None
    wall = sum(r["wall_seconds"] for r in records)
    mpf = sum(r["megapixel_frames"] for r in records)
    return {
        "wall_seconds": wall,
        "frames": sum(r["frames"] for r in records),
        "megapixel_frames": mpf,
        "seconds_per_mpf": wall / mpf if mpf else None,
        "peak_memory_bytes": max(r["peak_memory_bytes"] for r in records),
        "memory_kind": records[0]["memory_kind"],
        "device_type": records[0]["device_type"],
        "device_name": ", ".join(sorted({r["device_name"] for r in records})),
        "device_count": max(r["device_count"] for r in records),
        "device_hours": sum(r["device_hours"] for r in records),
        "dtype": records[0]["dtype"],
        "steps": records[0].get("steps"),
    }
