"""``vsrzoo.upscale``: a video file, frame folder or iterable of frames in, a video or frame folder out.

Everything a user can get wrong is checked before the first frame is computed: the options,
the input (decodable, has frames), the model and its checkpoint, and the output location
(writable, not locked by another run). The output is written under a temporary name and renamed
at the end (:class:`~vsrzoo.data.io.FrameWriter`), so a failed or interrupted run leaves neither
a half-written file nor a damaged earlier output. Video output keeps the input's audio, exact
frame rate, timestamps, colour tags and rotation (:mod:`vsrzoo.data.io`). Decoding runs ahead
of the model and encoding behind it in background threads (:mod:`vsrzoo.inference.overlap`).
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.logging
import numpy as np
import torch
from tqdm.auto import tqdm

from vsrzoo.data.io import (
    DEFAULT_FPS,
    IMAGE_EXTS,
    VIDEO_EXTS,
    FrameWriter,
    VideoMeta,
    is_video_path,
    open_video,
    parse_fps,
    video_encoding,
)
from vsrzoo.errors import UserError
from vsrzoo.factory import load_method, resolve_pretrained
from vsrzoo.inference.overlap import DecodeAhead, EncodeBehind
from vsrzoo.inference.streaming import PRECISIONS, stream_upscale
from vsrzoo.runtime import resolve_device

log = logging.getLogger(__name__)

__all__ = ["UpscaleResult", "check_output_format", "load_model", "open_input", "resolve_device", "upscale"]

# suffixes that name a file format FrameWriter has no encoder for (anything else without a
# video suffix is written as a folder of PNG frames)
NO_H264_MUXER = {".webm"}
NOT_WRITABLE = {".gif", ".flv", ".wmv", ".ogv", ".ogg", ".3gp", ".ts", ".apng", ".y4m"}


@dataclass
class UpscaleResult:
    """What :func:`upscale` wrote (``width``/``height`` as written, after any padding)."""

    path: Path
    num_frames: int
    width: int
    height: int
    fps: float
    seconds: float
    rate: Fraction | None = None  # the exact frame rate written

    @property
    def rate_text(self) -> str:
        """``25`` or ``30000/1001 (29.97)``."""
        rate = self.rate or Fraction(self.fps).limit_denominator(1001)
        return f"{rate.numerator}" if rate.denominator == 1 else f"{rate} ({float(rate):.4g})"


def check_output_format(
    output: str | Path, video_codec: str = "h264", pix_fmt: str | None = None, crf=None
) -> None:
    """Refuse output suffixes and codec options that no encoder here can write, naming the format."""
    suffix = Path(output).suffix.lower()
    if suffix in NO_H264_MUXER:
        raise UserError(
            f"cannot write {Path(output).name}: the {suffix} container cannot hold H.264 (libx264), the "
            "codec vsrzoo encodes with; use .mp4, .mkv, .mov or a frame folder"
        )
    if suffix in NOT_WRITABLE or suffix in IMAGE_EXTS:
        raise UserError(
            f"cannot write {Path(output).name}: no encoder for {suffix} output; use .mp4, .mkv, .mov "
            "(H.264) or a frame folder (a path without a suffix)"
        )
    if suffix in VIDEO_EXTS:
        video_encoding(output, video_codec, pix_fmt, crf)
    elif crf is not None:
        video_encoding(".mp4", video_codec, pix_fmt, crf)  # the same range check as for a video


def _undecodable_codec(path: Path) -> str | None:
    """For a video whose stream FFmpeg has no decoder for, the codec as FFmpeg describes it."""
    level = av.logging.get_level()
    av.logging.set_level(av.logging.VERBOSE)
    try:
        with av.logging.Capture() as logs, av.open(str(path)) as container:
            streams = container.streams.video
            if not streams or streams[0].codec_context is not None:
                return None
    except av.error.FFmpegError:
        return None  # open_video reports unreadable files
    finally:
        av.logging.set_level(level)
    for _, _, message in logs:
        found = re.search(r"Video: ([^,]+)", message)
        if found:
            tag = re.search(r"\((\w+) / 0x", found.group(1))
            return tag.group(1) if tag else found.group(1).strip()
    return "unknown"


def open_input(path: str | Path, fps: float | str | Fraction | None = None):
    """Open INPUT lazily; an undecodable codec is named in the error."""
    path = Path(path)
    if path.is_file() and path.suffix.lower() not in IMAGE_EXTS:
        codec = _undecodable_codec(path)
        if codec is not None:
            raise UserError(
                f"unsupported video codec '{codec}' in {path}: PyAV/FFmpeg has no decoder for it; "
                f"re-encode it (e.g. ffmpeg -i {path.name} -c:v libx264 out.mp4) or extract its frames to a folder"
            )
    return open_video(path, fps=DEFAULT_FPS if fps is None else fps)


class FrameStream:
    """An iterable of uint8 RGB frames (or a (T, H, W, 3) array) as an input video without a file."""

    def __init__(self, frames: Iterable[np.ndarray], fps: float | str | Fraction | None = None):
        if isinstance(frames, np.ndarray) and frames.ndim != 4:
            raise UserError(
                f"give frames as a (T, H, W, 3) array or an iterable of (H, W, 3) arrays, got shape {frames.shape}"
            )
        rate = parse_fps(DEFAULT_FPS if fps is None else fps)
        count = len(frames) if hasattr(frames, "__len__") else None
        self.frames = frames
        self.meta = VideoMeta("the given frames", 0, 0, float(rate), count, None, rate)

    def timed(self) -> Iterator[tuple[np.ndarray, None, None]]:
        for frame in self.frames:
            yield frame, None, None


def open_source(input: Any, fps: float | str | Fraction | None = None):
    """A path (file or frame folder) or an iterable of frames as something with ``meta`` and ``timed()``."""
    if fps is not None:
        parse_fps(fps)  # validated whatever the input
    if isinstance(input, (str, os.PathLike)):
        if fps is not None and Path(input).is_file():
            raise UserError(
                f"--fps applies to a frame-folder INPUT; the video {input} keeps its own frame rate and "
                "timestamps (re-time it with ffmpeg if you need another rate)"
            )
        return open_input(input, fps)
    if isinstance(input, (bytes, dict)) or not isinstance(input, Iterable):
        raise UserError(
            f"input must be a video file, a frame folder or an iterable of uint8 RGB frames, got {type(input).__name__}"
        )
    return FrameStream(input, fps)


def load_model(
    method: str | torch.nn.Module,
    scale: int,
    variant: str = "tiny",
    ckpt: str | Path | None = None,
    device: torch.device | None = None,
) -> torch.nn.Module:
    """A registered method (weights from a folder, .ckpt or Hub id) or a ready model, checked against ``scale``."""
    if isinstance(method, torch.nn.Module):
        if getattr(method, "scale", None) != scale:
            raise UserError(f"the given model upscales x{getattr(method, 'scale', '?')}, not x{scale}")
        return method.to(device)
    ckpt = resolve_pretrained(method, variant, ckpt)
    model = load_method(method, scale, variant=variant, pretrained=ckpt)
    if ckpt is None and any(p.numel() for p in model.parameters()):
        log.warning("%s runs without trained weights (no --ckpt given): its output is untrained", method)
    return model.to(device)


@dataclass
class Options:
    """The checked settings of one run, shared by every video of a batch."""

    segment_length: int | None = None
    overlap: int | None = None
    tile: int | str | None = None
    tile_overlap: int = 16
    max_memory: int | str | None = None
    precision: str = "fp32"
    crf: float | None = None
    video_codec: str = "h264"
    pix_fmt: str | None = None
    overwrite: bool = False
    io_threads: bool = True

    def check(self, output: str | Path) -> None:
        if self.precision not in PRECISIONS:
            raise UserError(f"unknown precision '{self.precision}'; valid: {', '.join(PRECISIONS)}")
        if self.max_memory is not None and self.tile != "auto":
            log.warning("--max-memory only chooses the tile size with --tile auto; it is ignored here")
        check_output_format(output, self.video_codec, self.pix_fmt, self.crf)

    def engine(self) -> dict[str, Any]:
        keys = ("segment_length", "overlap", "tile", "tile_overlap", "max_memory", "precision")
        return {k: getattr(self, k) for k in keys}


def upscale(
    input: str | Path | Iterable[np.ndarray],
    output: str | Path,
    method: str | torch.nn.Module = "bicubic",
    ckpt: str | Path | None = None,
    scale: int = 4,
    tile: int | str | None = None,
    segment_length: int | None = None,
    overlap: int | None = None,
    precision: str = "fp32",
    device: str | torch.device | None = None,
    crf: float | None = None,
    overwrite: bool = False,
    progress: bool = True,
    variant: str = "tiny",
    tile_overlap: int = 16,
    max_memory: int | str | None = None,
    fps: float | str | Fraction | None = None,
    video_codec: str = "h264",
    pix_fmt: str | None = None,
    io_threads: bool = True,
) -> UpscaleResult:
    """Upscale ``input`` (a video file, a frame folder, or an iterable of uint8 RGB frames) into ``output``.

    ``output`` is a video (.mp4/.mkv/.mov, encoded with ``video_codec`` h264/h265/ffv1 at ``pix_fmt``
    and ``crf``) or a frame folder. ``method`` is a registered name (weights from ``ckpt``: a
    folder, .ckpt or Hub id) or a VSRMethod instance. ``tile`` is a tile size in LR pixels,
    ``"auto"`` (fit ``max_memory``, e.g. "8GB") or None (whole frames); ``segment_length``/``overlap``
    are frames per segment and frames cross-faded between segments; ``fps`` (e.g. 25 or
    "30000/1001") applies to frame folders and frame iterables. ``io_threads=False`` decodes and
    encodes in the calling thread (for measuring the overlap). Returns what was written.
    """
    opts = Options(
        segment_length,
        overlap,
        tile,
        tile_overlap,
        max_memory,
        precision,
        crf,
        video_codec,
        pix_fmt,
        overwrite,
        io_threads,
    )
    opts.check(output)
    device = resolve_device(device)
    source = open_source(input, fps)
    frames = DecodedInput(source, opts.io_threads)
    try:
        if frames.first is None:
            raise UserError(
                f"no frames in {input if isinstance(input, (str, os.PathLike)) else source.meta.path}: the video is empty"
            )
        writer = new_writer(output, source, opts)
        try:
            model = load_model(method, scale, variant, ckpt, device)
        except BaseException:
            writer.abort()
            raise
        return run_one(model, frames, writer, opts, progress, str(source.meta.path))
    finally:
        frames.close()


def new_writer(output: str | Path, source, opts: Options) -> FrameWriter:
    """The output's writer: takes the lock and checks the location is writable, before any frame is computed."""
    meta = source.meta if isinstance(source.meta.time_base, Fraction) else None
    return FrameWriter(
        output,
        fps=source.meta.rate or DEFAULT_FPS,
        crf=opts.crf,
        overwrite=opts.overwrite,
        codec=opts.video_codec,
        pix_fmt=opts.pix_fmt,
        source=meta,
    )


class DecodedInput:
    """The input's (frame, pts) pairs, decoded ahead in a thread or inline, with the first one peeked."""

    def __init__(self, source, threads: bool):
        self.total = source.meta.num_frames
        self.items = DecodeAhead(source.timed()) if threads else source.timed()
        self.first = next(self.items, None)

    def __iter__(self) -> Iterator:
        if self.first is not None:
            first, self.first = self.first, None
            yield first
        yield from self.items

    def close(self) -> None:
        close = getattr(self.items, "close", None)
        if close is not None:
            close()


def run_one(
    model: torch.nn.Module,
    frames: DecodedInput,
    writer: FrameWriter,
    opts: Options,
    progress: bool,
    name: str,
    position: int = 0,
) -> UpscaleResult:
    """Stream ``frames`` through ``model`` into ``writer``; the writer is closed, or aborted on any error."""
    sink = EncodeBehind(writer) if opts.io_threads else writer
    try:
        timestamps: deque = deque()

        def lr_frames() -> Iterator[np.ndarray]:
            for frame, pts, duration in frames:
                timestamps.append((pts, duration))
                yield frame

        start = time.perf_counter()
        sr = stream_upscale(model, lr_frames(), name=name, **opts.engine())
        with tqdm(
            sr,
            total=frames.total,
            unit="frame",
            desc="upscale" if position == 0 else Path(name).name,
            disable=not progress,
            dynamic_ncols=True,
            position=position,
            leave=position == 0,
        ) as bar:
            for frame in bar:
                sink.write(frame, *timestamps.popleft())
            bar.total = bar.n
        path = sink.close()
        seconds = time.perf_counter() - start
    except BaseException:
        sink.abort()
        raise
    height, width = writer.size
    return UpscaleResult(path, writer.count, width, height, writer.fps, seconds, writer.rate)


def describe(result: UpscaleResult) -> str:
    """One line about a finished output."""
    return (
        f"{result.num_frames} frames of {result.width}x{result.height} at {result.rate_text} fps to {result.path} "
        f"({result.num_frames / max(result.seconds, 1e-9):.2f} frames/s)"
    )


def is_batch(input: Any, output: str | Path) -> bool:
    """Whether ``input`` names many videos: a text file listing paths, or a folder without image frames."""
    if not isinstance(input, (str, os.PathLike)):
        return False
    path = Path(input)
    if path.is_file():
        return path.suffix.lower() in {".txt", ".lst", ".list"}
    if not path.is_dir() or is_video_path(output):
        return False
    return not any(p.suffix.lower() in IMAGE_EXTS for p in path.iterdir() if p.is_file())
