"""Temporal streaming: any number of frames through a model in overlapping segments.

Segments of ``segment_length`` frames advance by ``segment_length - overlap`` frames. Frames covered by two
segments are cross-faded: over an overlap of ``L`` frames the later segment's weight rises as
``(k + 1) / (L + 1)``, so no frame switches abruptly from one segment's output to the next. The
last segment is aligned to the end of the video (it reuses earlier frames as context rather than
running a short segment). A frame is yielded as soon as no later segment touches it; the engine
holds one LR segment, the uint8 output frames of one segment and ``overlap`` float frames, so
memory does not depend on the number of frames. Each segment goes through
:class:`~vsrzoo.inference.tiling.Tiler`, so for large frames memory is bounded by the tile size.

Models may set ``size_multiple`` (LR pixels): tiles are padded by edge replication up to it and
the output is cropped back.

State (issue 13): the engine owns the state of a stateful method (``model.stateful``, see
:meth:`vsrzoo.methods.base.VSRMethod.step`): one state value per spatial tile, keyed by the
tile's grid index ``(i, j)`` (the grid is fixed for a video), created fresh for every video.
Segments of a stateful method run back to back in order (overlap 0; an overlap is refused) and
the last one is short rather than end-aligned, so no frame is ever run twice or with the state
of a later frame ("causal segments").

Reconstruction: the linear cross-fade, the default overlap (a quarter of the segment) and the
end-aligned last segment are our choices (arguments of :func:`stream_upscale`); the methods'
papers (e.g. LiftVSR, arXiv 2506.08529, 8-frame segments) fix only the segment length.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from vsrzoo.errors import UserError
from vsrzoo.inference.tiling import (
    Tiler,
    choose_tile,
    current_rss,
    parse_memory,
    probe_bytes_per_pixel,
)
from vsrzoo.runtime import available_memory

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def default_overlap(segment: int, stateful: bool = False) -> int:
    """A quarter of the segment (0 for per-frame and stateful models): enough frames to cross-fade over."""
    return 0 if stateful else segment // 4


def autocast(device: torch.device, precision: str):
    """``torch.autocast`` for bf16/fp16, a no-op context for fp32."""
    if precision not in PRECISIONS:
        raise UserError(f"unknown precision '{precision}'; valid: {', '.join(PRECISIONS)}")
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=PRECISIONS[precision])


def model_device(model: torch.nn.Module) -> torch.device:
    tensor = next(iter(model.parameters()), None)
    if tensor is None:
        tensor = next(iter(model.buffers()), torch.empty(0))
    return tensor.device


TileKey = tuple[int, int]


def tile_forward(
    model: torch.nn.Module, precision: str = "fp32"
) -> Callable[[torch.Tensor, TileKey], torch.Tensor]:
    """The per-tile function of one video: ``(LR crop (T, 3, h, w), tile index (i, j))`` -> SR crop.

    The crop is uint8 or float in [0, 1], the result float32 on the CPU. For a stateful model
    the function holds one state per tile index, carried from each call to the next call with
    the same index (build a new function for every video).
    """
    device, scale = model_device(model), model.scale
    multiple = int(getattr(model, "size_multiple", 1))
    stateful = bool(getattr(model, "stateful", False))
    states: dict[TileKey, object] = {}

    def forward(crop: torch.Tensor, key: TileKey = (0, 0)) -> torch.Tensor:
        x = crop.to(device)
        x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
        h, w = x.shape[-2:]
        pad_h, pad_w = -h % multiple, -w % multiple
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        with torch.no_grad(), autocast(device, precision):
            if stateful:
                y, states[key] = model.step(x.unsqueeze(0), states.get(key))
            else:
                y = model(x.unsqueeze(0))
        expected = (1, x.shape[0], 3, scale * x.shape[-2], scale * x.shape[-1])
        if tuple(y.shape) != expected:
            raise RuntimeError(
                f"{type(model).__name__} returned {tuple(y.shape)} for a tile, expected {expected}"
            )
        return y[0, ..., : scale * h, : scale * w].float().cpu()

    return forward


def resolve_tile(
    model: torch.nn.Module,
    precision: str,
    tile: int | str | None,
    height: int,
    width: int,
    segment: int,
    overlap: int,
    tile_overlap: int,
    max_memory: int | str | None,
) -> int | None:
    """``tile`` as given, or for ``"auto"`` the largest tile that fits the memory budget."""
    if tile != "auto":
        return tile
    device, scale = model_device(model), model.scale
    budget = parse_memory(max_memory) if max_memory is not None else default_budget(device)
    per_pixel = getattr(model, "memory_bytes_per_pixel", None)
    multiple = int(getattr(model, "size_multiple", 1))
    if per_pixel is None:  # probe with its own per-tile function: its states are thrown away
        fixed, per_pixel = probe_bytes_per_pixel(tile_forward(model, precision), segment, device, multiple)
    else:
        fixed = 0.0
    buffers = 0.0
    if device.type != "cuda":  # frame buffers live on the host: count them against the same budget
        hr = scale**2 * height * width * 3
        buffers = current_rss() + segment * height * width * 3 + segment * hr + overlap * hr * 4
    step = max(8, multiple) // multiple * multiple
    return choose_tile(
        height, width, scale, segment, budget, fixed, per_pixel, buffers, tile_overlap, multiple=step
    )


def default_budget(device: torch.device) -> int:
    """Without --max-memory: 90% of the GPU's memory, or half the host's available memory."""
    total = available_memory(device)
    if total is None:
        raise UserError("cannot read the available memory; give --max-memory (e.g. 8GB)")
    return int(0.9 * total) if device.type == "cuda" else total // 2


def _check_frame(frame: np.ndarray, index: int, size: tuple[int, int] | None, name: str) -> None:
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        got = f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
        raise UserError(f"frame {index} of {name} is not a uint8 RGB image (H, W, 3): got {got}")
    if size is not None and frame.shape[:2] != size:
        raise UserError(
            f"frame {index} of {name} has size {frame.shape[1]}x{frame.shape[0]}, expected "
            f"{size[1]}x{size[0]} like frame 0 (all frames of a video must have the same size)"
        )


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    """float (3, h, w) in [0, 1] -> uint8 (h, w, 3), rounded like BasicSR's tensor2img."""
    return (x * 255.0).clamp_(0, 255).round_().to(torch.uint8).permute(1, 2, 0).numpy()


class _Segment:
    """Assembles one segment's SR frames from the tiler's blocks, cross-fading with the last one."""

    def __init__(self, start, end, emitted, pending, keep, hr_size):
        self.start, self.emitted, self.pending = start, emitted, pending
        h, w = hr_size
        blend = sorted(pending)
        self.weights = {idx: (k + 1) / (len(blend) + 1) for k, idx in enumerate(blend)}
        self.kept = {idx: torch.empty(3, h, w) for idx in keep}
        self.final = {idx: np.empty((h, w, 3), np.uint8) for idx in range(emitted, end) if idx not in keep}

    def sink(self, r0: int, r1: int, c0: int, c1: int, block: torch.Tensor) -> None:
        for t in range(block.shape[0]):
            idx = self.start + t
            if idx < self.emitted:  # already final (the last segment is aligned to the end)
                continue
            frame = block[t]
            if idx in self.weights:
                w = self.weights[idx]
                frame = w * frame + (1 - w) * self.pending[idx][:, r0:r1, c0:c1]
            if idx in self.kept:
                self.kept[idx][:, r0:r1, c0:c1] = frame
            else:
                self.final[idx][r0:r1, c0:c1] = _to_uint8(frame)


def check_tile(model: torch.nn.Module, tile: int | str | None, tile_overlap: int) -> None:
    """One-line errors for a tile the method cannot use (checked before any frame is read)."""
    if tile_overlap < 0:
        raise UserError(f"--tile-overlap must be at least 0 LR pixels, got {tile_overlap}")
    if tile is None or tile == "auto":
        return
    if not isinstance(tile, int) or isinstance(tile, bool) or tile < 1:
        raise UserError(f"--tile must be a number of LR pixels or 'auto', got '{tile}'")
    multiple = int(getattr(model, "size_multiple", 1))
    smallest = max(int(getattr(model, "min_tile", 1)), multiple)
    name = getattr(model, "method_name", type(model).__name__)
    if tile % multiple:
        raise UserError(f"--tile {tile} is not a multiple of {multiple} LR pixels, which {name} needs")
    if tile < smallest or tile <= tile_overlap:
        raise UserError(
            f"--tile {tile} is too small for {name}: it needs at least {smallest} LR pixels and more "
            f"than --tile-overlap ({tile_overlap})"
        )


def stream_upscale(
    model: torch.nn.Module,
    frames: Iterable[np.ndarray],
    segment_length: int | None = None,
    overlap: int | None = None,
    tile: int | str | None = None,
    tile_overlap: int = 16,
    max_memory: int | str | None = None,
    precision: str = "fp32",
    name: str = "the input",
) -> Iterator[np.ndarray]:
    """Upscale uint8 RGB frames (H, W, 3) with ``model``, yielding SR frames as soon as final.

    ``segment_length`` defaults to the model's and ``overlap`` to a quarter of it
    (0 for stateful models, which refuse any other); ``tile`` is None (whole frames), a tile
    size in LR pixels, or ``"auto"`` (fit ``max_memory``).
    """
    stateful = bool(getattr(model, "stateful", False))
    segment = int(getattr(model, "segment_length", 1) if segment_length is None else segment_length)
    if segment < 1:
        raise UserError(f"--segment-length must be at least 1 frame, got {segment}")
    overlap = default_overlap(segment, stateful) if overlap is None else int(overlap)
    if stateful and overlap != 0:
        raise UserError(
            f"--overlap must be 0 for {getattr(model, 'method_name', 'this method')}: it carries its state "
            f"from segment to segment, so segments run back to back (got {overlap})"
        )
    if not 0 <= overlap < segment:
        raise UserError(
            f"--overlap must be between 0 and --segment-length - 1 ({segment - 1}) frames, got {overlap}"
        )
    check_tile(model, tile, tile_overlap)
    autocast(torch.device("cpu"), precision)  # validates the name before any work
    return _run(model, iter(frames), segment, overlap, tile, tile_overlap, max_memory, precision, name)


def _run(model, frames, *args):
    was_training = model.training
    model.eval()
    try:
        yield from _stream(model, frames, *args)
    finally:
        model.train(was_training)


def _stream(model, frames, segment, overlap, tile, tile_overlap, max_memory, precision, name):
    forward, scale = tile_forward(model, precision), model.scale  # fresh states: one video
    causal = bool(getattr(model, "stateful", False))
    history: deque[np.ndarray] = deque(maxlen=segment)
    pending: dict[int, torch.Tensor] = {}
    n = processed = emitted = 0
    size = tiler = None
    nxt = next(frames, None)
    while nxt is not None:
        _check_frame(nxt, n, size, name)
        if size is None:
            size = nxt.shape[:2]
            tile = resolve_tile(model, precision, tile, *size, segment, overlap, tile_overlap, max_memory)
            tiler = Tiler(*size, scale, tile, tile_overlap)
        history.append(nxt)
        n += 1
        nxt = next(frames, None)
        last = nxt is None
        if not ((n >= segment and (n - segment) % (segment - overlap) == 0) or (last and n > processed)):
            continue
        # A stateful model runs only the new frames (the last segment is short); a stateless one
        # reuses earlier frames as context for an end-aligned last segment.
        frames_in = list(history)[-(n - processed) :] if causal else list(history)
        start = n - len(frames_in)
        keep = [] if last else list(range(n - overlap, n))
        seg = _Segment(start, n, emitted, pending, keep, (scale * size[0], scale * size[1]))
        lr = torch.from_numpy(np.stack(frames_in)).permute(0, 3, 1, 2)
        tiler.run(forward, lr, seg.sink)
        for idx in sorted(seg.final):
            yield seg.final.pop(idx)
        pending, processed, emitted = seg.kept, n, n - len(keep)
