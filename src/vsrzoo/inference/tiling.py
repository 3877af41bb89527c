"""Spatial tiling with overlap and feathered blending, so memory is bounded by the tile size.

Tiles are squares of ``tile`` LR pixels that overlap by ``overlap`` LR pixels; the last tile of
a row or column is aligned to the frame edge. Each tile's SR output is weighted by a separable
feather: inside an overlap of width ``v`` (HR pixels) the weight is 0 over the outer third
(where the tile's missing context spoils the output), ramps linearly over the middle third and
is 1 over the inner third, so two neighbours' weights sum to one and a model whose receptive
field fits in a third of the overlap gives the untiled result. Because the tiles form a grid,
the summed weight is ``Wy(y) * Wx(x)`` and normalising needs no weight image.

Tiles are visited in raster order and every HR region is handed to a sink as soon as no later
tile touches it, so the float buffers held at any time are one tile's output, its right
overlap strip and the bottom overlap strip of the current tile row (``overlap`` rows, frame
wide) -- never a float copy of the frame.

``tile="auto"`` picks the largest tile whose estimated peak fits ``--max-memory``. The
estimate is ``fixed + per_pixel * T * (tile + pad)**2`` for a segment of ``T`` frames, plus the
frame-sized buffers of the streaming engine (LR segment, uint8 output frames, cross-fade
frames). ``per_pixel`` (bytes per LR pixel per frame, model activations plus outputs) comes
from the method's ``memory_bytes_per_pixel`` attribute when it sets one, otherwise from a probe:
two forward passes on small blank tiles, measuring the peak allocation on CUDA
(``torch.cuda.max_memory_allocated``) or the peak resident set size on Linux (``VmHWM`` after
resetting it through ``/proc/self/clear_refs``); the two sizes separate the fixed part from the
per-pixel part. A safety factor of 1.25 covers allocator slack.

Blending overlapping windows by a weighted average is the fusion rule of MultiDiffusion
(arXiv 2302.08113); reconstruction: the thirds-shaped feather, the default overlap of 16 LR
pixels and the memory model are our choices (constructor/CLI arguments), not from a paper.
"""

from __future__ import annotations

import ctypes
import math
import re
from collections.abc import Callable
from pathlib import Path

import torch

from vsrzoo.errors import UserError
from vsrzoo.runtime import format_bytes

# sink(row0, row1, col0, col1, block): ``block`` is (T, 3, row1 - row0, col1 - col0), final
Sink = Callable[[int, int, int, int, torch.Tensor], None]
SAFETY = 1.25
PROBE_SIDES = (64, 128)
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def tile_spans(length: int, tile: int | None, overlap: int) -> list[tuple[int, int]]:
    """``[start, end)`` spans of ``tile`` pixels covering ``length``, the last one flush with the end."""
    if tile is None or tile >= length:
        return [(0, length)]
    if tile < 1:
        raise UserError(f"tile must be a positive number of LR pixels, got {tile}")
    if not 0 <= overlap < tile:
        raise UserError(f"tile overlap {overlap} must be at least 0 and smaller than the tile ({tile})")
    starts = list(range(0, length - tile, tile - overlap)) + [length - tile]
    return [(s, s + tile) for s in starts]


def _ramp(width: int) -> torch.Tensor:
    """Rising weights over an overlap of ``width`` HR pixels: 0, then linear, then 1 (thirds)."""
    third = width / 3
    return ((torch.arange(width, dtype=torch.float32) + 0.5 - third) / third).clamp(0, 1)


def feather(spans: list[tuple[int, int]], i: int, scale: int) -> torch.Tensor:
    """HR weights of span ``i`` along one axis: ramps where it overlaps its neighbours."""
    start, end = spans[i]
    w = torch.ones(scale * (end - start))
    if i > 0 and spans[i - 1][1] > start:
        v = scale * (spans[i - 1][1] - start)
        w[:v] = torch.minimum(w[:v], _ramp(v))
    if i + 1 < len(spans) and spans[i + 1][0] < end:
        v = scale * (end - spans[i + 1][0])
        w[-v:] = torch.minimum(w[-v:], _ramp(v).flip(0))
    return w.clamp_min(1e-4)  # never zero, so every pixel has weight


def _total(spans: list[tuple[int, int]], weights: list[torch.Tensor], scale: int) -> torch.Tensor:
    total = torch.zeros(scale * spans[-1][1])
    for (start, _), w in zip(spans, weights):
        total[scale * start : scale * start + len(w)] += w
    return total


class Tiler:
    """Runs a per-tile function over a frame and streams the blended HR result to a sink."""

    def __init__(self, height: int, width: int, scale: int, tile: int | None = None, overlap: int = 16):
        self.scale = scale
        self.rows = tile_spans(height, tile, overlap)
        self.cols = tile_spans(width, tile, overlap)
        self.wy = [feather(self.rows, i, scale) for i in range(len(self.rows))]
        self.wx = [feather(self.cols, j, scale) for j in range(len(self.cols))]
        self.norm_y = _total(self.rows, self.wy, scale)
        self.norm_x = _total(self.cols, self.wx, scale)

    @property
    def num_tiles(self) -> int:
        return len(self.rows) * len(self.cols)

    def _final(self, spans: list[tuple[int, int]], i: int) -> int:
        """HR extent of span ``i`` that no later span touches."""
        start, end = spans[i]
        return self.scale * ((spans[i + 1][0] if i + 1 < len(spans) else end) - start)

    def run(
        self, forward: Callable[[torch.Tensor, tuple[int, int]], torch.Tensor], lr: torch.Tensor, sink: Sink
    ) -> None:
        """``forward(crop, (i, j))`` maps the LR crop (T, 3, h, w) of tile row ``i``, column ``j`` to
        float (T, 3, s*h, s*w); ``lr`` is (T, 3, H, W). The index lets a caller keep per-tile state."""
        s = self.scale
        if self.num_tiles == 1:  # untiled: nothing to blend
            out = forward(lr, (0, 0))
            sink(0, out.shape[-2], 0, out.shape[-1], out)
            return
        carry = None  # weighted sums of rows shared with the next tile row, frame wide
        for i, (y0, y1) in enumerate(self.rows):
            final_rows, new_carry, side = self._final(self.rows, i), None, None
            for j, (x0, x1) in enumerate(self.cols):
                out = forward(lr[..., y0:y1, x0:x1], (i, j)) * (self.wy[i][:, None] * self.wx[j][None, :])
                if side is not None:  # the previous tile's right overlap
                    out[..., : side.shape[-1]] += side
                cols = self._final(self.cols, j)
                side = out[..., cols:].clone() if cols < out.shape[-1] else None
                block, c0 = out[..., :cols], s * x0
                if carry is not None:
                    block[..., : carry.shape[-2], :] += carry[..., c0 : c0 + cols]
                if final_rows < block.shape[-2]:
                    if new_carry is None:
                        shape = (*block.shape[:-2], block.shape[-2] - final_rows, len(self.norm_x))
                        new_carry = block.new_zeros(shape)
                    new_carry[..., c0 : c0 + cols] = block[..., final_rows:, :]
                r0 = s * y0
                norm = self.norm_y[r0 : r0 + final_rows, None] * self.norm_x[None, c0 : c0 + cols]
                sink(r0, r0 + final_rows, c0, c0 + cols, block[..., :final_rows, :] / norm)
            carry = new_carry


def tiled_forward(
    model: torch.nn.Module, lr: torch.Tensor, tile: int | None = None, overlap: int = 16
) -> torch.Tensor:
    """Tiled SR of a float LR segment (B=1, T, 3, H, W) in [0, 1]; returns the float SR segment.

    Each tile runs from a fresh state (a stateful model's ``forward``); streaming over segments
    with carried per-tile states is :func:`vsrzoo.inference.stream_upscale`.
    """
    scale = model.scale
    _, t, c, h, w = lr.shape
    out = torch.empty(1, t, c, scale * h, scale * w)

    def forward(crop: torch.Tensor, key: tuple[int, int]) -> torch.Tensor:
        with torch.no_grad():
            return model(crop.unsqueeze(0))[0].float().cpu()

    def sink(r0: int, r1: int, c0: int, c1: int, block: torch.Tensor) -> None:
        out[0, ..., r0:r1, c0:c1] = block

    Tiler(h, w, scale, tile, overlap).run(forward, lr[0], sink)
    return out


def parse_memory(text: str | int) -> int:
    """'8GB', '512MiB', '1.5g' or a byte count -> bytes (binary units: 1GB = 2**30 bytes)."""
    if isinstance(text, int):
        return text
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgt]?)(i?b)?\s*", str(text), re.IGNORECASE)
    if not match:
        raise UserError(f"cannot read memory size '{text}'; write it like 8GB, 512MB or 2.5G")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def _vm_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise OSError(f"{field} not in /proc/self/status")


def current_rss() -> int:
    """Resident set size of this process in bytes (Linux), or 0 where it cannot be read."""
    try:
        return _vm_kb("VmRSS") * 1024
    except OSError:
        return 0


def _malloc_trim() -> None:
    """Return freed heap pages to the OS (glibc), so a probe's peak RSS counts what it allocates."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _reset_peak(device: torch.device) -> int:
    """Start measuring a peak; returns the current level (bytes) to measure it from."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        return torch.cuda.memory_allocated(device)
    try:
        _malloc_trim()
        level = _vm_kb("VmRSS") * 1024
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    except OSError as exc:
        raise UserError(
            "cannot measure memory on this platform to choose --tile auto; give --tile N instead"
        ) from exc
    return level


def _peak(device: torch.device) -> int:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device)
    return _vm_kb("VmHWM") * 1024


def probe_bytes_per_pixel(
    forward: Callable[[torch.Tensor], torch.Tensor], frames: int, device: torch.device, multiple: int = 1
) -> tuple[float, float]:
    """(fixed bytes, bytes per LR pixel per frame) of ``forward`` from two small blank tiles.

    Both peaks are taken from the level before the first probe, small tile first, so memory the
    allocator keeps after the first probe and reuses in the second is not missed.
    """
    sides = [math.ceil(p / multiple) * multiple for p in PROBE_SIDES]
    base, peaks = None, []
    for side in sides:
        crop = torch.zeros(frames, 3, side, side, dtype=torch.uint8)
        level = _reset_peak(device)
        base = level if base is None else base
        forward(crop)
        peaks.append(max(0, _peak(device) - base))
    per_pixel = max(0.0, (peaks[1] - peaks[0]) / (frames * (sides[1] ** 2 - sides[0] ** 2)))
    fixed = max(0.0, peaks[0] - per_pixel * frames * sides[0] ** 2)
    return fixed, per_pixel


def choose_tile(
    height: int,
    width: int,
    scale: int,
    frames: int,
    budget: int,
    fixed: float,
    per_pixel: float,
    buffers: float,
    overlap: int,
    multiple: int = 8,
) -> int | None:
    """Largest tile (LR pixels, a multiple of ``multiple``) whose estimate fits ``budget`` bytes.

    ``per_pixel`` is raised to at least the float SR output of a pixel (3 * scale**2 * 4 bytes)
    and to the tiler's two extra copies of it; None means the whole frame fits untiled.
    """
    per_pixel = max(per_pixel, 3 * scale**2 * 4) + 2 * 3 * scale**2 * 4
    room = budget - SAFETY * (buffers + fixed)
    pixels = max(room, 0) / (SAFETY * frames * per_pixel)
    if pixels >= height * width:
        return None  # the whole frame fits
    side = math.sqrt(pixels)
    tile = int(side // multiple * multiple)
    smallest = max(multiple, 2 * overlap + multiple)
    if tile < smallest:
        need = SAFETY * (buffers + fixed + frames * per_pixel * smallest**2)
        raise UserError(
            f"--max-memory {format_bytes(budget)} is too small for {width}x{height} frames "
            f"(about {format_bytes(need)} needed with the smallest tile, {smallest} px); "
            "raise --max-memory or lower --segment-length"
        )
    return tile
