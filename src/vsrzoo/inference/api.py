"""``vsrzoo.upscale``: a video file or frame folder in, an H.264 video or frame folder out.

Everything a user can get wrong is checked before the first frame is written, and the output is
written under a temporary name and renamed at the end (:class:`~vsrzoo.data.io.FrameWriter`), so
a failed or interrupted run leaves neither a half-written file nor a damaged earlier output.
"""

from __future__ import annotations

import inspect
import itertools
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

import av
import av.logging
import torch
from tqdm.auto import tqdm

from vsrzoo.data.io import DEFAULT_FPS, IMAGE_EXTS, VIDEO_EXTS, FrameWriter, open_video
from vsrzoo.errors import MissingWeightsError, UserError
from vsrzoo.factory import create_model, get_method_info, resolve_pretrained
from vsrzoo.inference.streaming import PRECISIONS, stream_upscale

log = logging.getLogger(__name__)

# suffixes that name a file format FrameWriter has no encoder for (anything else without a
# video suffix is written as a folder of PNG frames)
NO_H264_MUXER = {".webm"}
NOT_WRITABLE = {".gif", ".flv", ".wmv", ".ogv", ".ogg", ".3gp", ".ts", ".apng", ".y4m"}


@dataclass
class UpscaleResult:
    """What :func:`upscale` wrote."""

    path: Path
    num_frames: int
    width: int
    height: int
    fps: float
    seconds: float


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` picks CUDA when available; asking for an absent CUDA device is a user error."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was requested but no CUDA device is available; use --device cpu")
    if device.type not in ("cpu", "cuda"):
        raise UserError(f"unsupported device '{device}'; use cpu or cuda")
    return device


def check_output_format(output: str | Path) -> None:
    """Refuse output suffixes that no encoder here can write, naming the format."""
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
        try:
            av.codec.Codec("libx264", "w")
        except Exception as exc:
            raise UserError(
                "this PyAV build has no H.264 encoder (libx264); write a frame folder instead"
            ) from exc


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


def open_input(path: str | Path, fps: float | None = None):
    """Open INPUT lazily; an undecodable codec is named in the error."""
    path = Path(path)
    if path.is_file() and path.suffix.lower() not in IMAGE_EXTS:
        codec = _undecodable_codec(path)
        if codec is not None:
            raise UserError(
                f"unsupported video codec '{codec}' in {path}: PyAV/FFmpeg has no decoder for it; "
                f"re-encode it (e.g. ffmpeg -i {path.name} -c:v libx264 out.mp4) or extract its frames to a folder"
            )
    return open_video(path, fps=fps or DEFAULT_FPS)


def load_model(
    method: str | torch.nn.Module,
    scale: int,
    variant: str = "tiny",
    ckpt: str | Path | None = None,
    device: torch.device | None = None,
) -> torch.nn.Module:
    """A registered method (optionally with weights) or a ready model, checked against ``scale``."""
    if isinstance(method, torch.nn.Module):
        if getattr(method, "scale", None) != scale:
            raise UserError(f"the given model upscales x{getattr(method, 'scale', '?')}, not x{scale}")
        return method.to(device)
    info = get_method_info(method)
    if scale not in info.scales:
        raise UserError(
            f"{method} does not support scale {scale}; supported: " + ", ".join(map(str, info.scales))
        )
    if ckpt is not None and str(ckpt) != "builtin" and not Path(ckpt).exists():
        raise MissingWeightsError(f"checkpoint not found: {ckpt} (give a file or directory that exists)")
    kwargs = {"scale": scale} if "scale" in inspect.signature(info.cls.__init__).parameters else {}
    ckpt = resolve_pretrained(method, variant, ckpt)
    model = create_model(method, variant=variant, pretrained=ckpt, **kwargs)
    if ckpt is None and any(p.numel() for p in model.parameters()):
        log.warning("%s runs without trained weights (no --ckpt given): its output is untrained", method)
    return model.to(device)


def upscale(
    input: str | Path,
    output: str | Path,
    method: str | torch.nn.Module = "bicubic",
    ckpt: str | Path | None = None,
    scale: int = 4,
    tile: int | str | None = None,
    segment: int | None = None,
    overlap: int | None = None,
    precision: str = "fp32",
    device: str | torch.device | None = None,
    crf: int = 18,
    overwrite: bool = False,
    progress: bool = True,
    variant: str = "tiny",
    tile_overlap: int = 16,
    max_memory: int | str | None = None,
    fps: float | None = None,
) -> UpscaleResult:
    """Upscale the video file or frame folder ``input`` into ``output`` (an mp4 or a frame folder).

    ``method`` is a registered name (weights from ``ckpt``) or a VSRMethod instance. ``tile`` is a
    tile size in LR pixels, ``"auto"`` (fit ``max_memory``, e.g. "8GB") or None (whole frames);
    ``segment``/``overlap`` are frames per segment and frames cross-faded between segments;
    ``fps`` applies to frame-folder input. Returns what was written.
    """
    if precision not in PRECISIONS:
        raise UserError(f"unknown precision '{precision}'; valid: {', '.join(PRECISIONS)}")
    device = resolve_device(device)
    check_output_format(output)
    video = open_input(input, fps)
    frames = iter(video)
    first = next(frames, None)
    if first is None:
        raise UserError(f"no frames in {input}: the video is empty")
    writer = FrameWriter(output, fps=video.meta.fps, crf=crf, overwrite=overwrite)
    try:
        model = load_model(method, scale, variant, ckpt, device)
        start = time.perf_counter()
        sr = stream_upscale(
            model,
            itertools.chain([first], frames),
            segment=segment,
            overlap=overlap,
            tile=tile,
            tile_overlap=tile_overlap,
            max_memory=max_memory,
            precision=precision,
            name=str(input),
        )
        total = video.meta.num_frames
        with tqdm(
            sr, total=total, unit="frame", desc="upscale", disable=not progress, dynamic_ncols=True
        ) as bar:
            for frame in bar:
                writer.write(frame)
                size = frame.shape[:2]
            bar.total = bar.n
        seconds = time.perf_counter() - start
    except BaseException:
        writer.abort()
        raise
    path = writer.close()
    return UpscaleResult(path, writer.count, size[1], size[0], video.meta.fps, seconds)
