"""Reading video: frame folders, image files and video files in, lazily, as uint8 RGB frames.

Frames are numpy arrays of shape (H, W, 3). Readers are iterators, so memory does not depend on
video length. A video file (PyAV) tells what an upscaler must carry to its output
(:class:`VideoMeta`): the exact rational frame rate, every frame's timestamp, the colour tags,
the display rotation and how many audio streams it has; :mod:`vsrzoo.data.io.write` uses them.
Images are decoded by OpenCV; a PNG with a broken chunk layout is refused before libpng can
print to stderr.
"""

from __future__ import annotations

import logging
import math
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from vsrzoo.errors import MissingDataError, UserError

log = logging.getLogger(__name__)
# OpenCV prints WARN and ERROR lines for unreadable images before vsrzoo's own one-line error.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
VIDEO_EXTS = {".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".mpg", ".mpeg"}
DEFAULT_FPS = 25.0


def natural_key(name: str) -> list:
    """Sort key that orders ``frame2`` before ``frame10``."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def list_frames(folder: str | Path, warn: bool = True) -> list[Path]:
    """Image files of ``folder`` in natural order; other files are skipped with a warning."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MissingDataError(f"frame folder not found: {folder}")
    frames, skipped = [], []
    for p in folder.iterdir():
        if p.is_file() and p.suffix.lower() in IMAGE_EXTS:
            frames.append(p)
        elif p.is_file() and not p.name.startswith("."):
            skipped.append(p.name)
    if skipped and warn:
        log.warning(
            "skipping %d non-image file(s) in %s: %s", len(skipped), folder, ", ".join(sorted(skipped)[:5])
        )
    return sorted(frames, key=lambda p: natural_key(p.name))


def to_rgb8(img: np.ndarray) -> np.ndarray:
    """Grayscale, BGRA, and 16-bit images (as OpenCV loads them) to 8-bit RGB."""
    if img.dtype == np.uint16:
        img = np.round(img.astype(np.float32) / 257.0).astype(np.uint8)
    elif img.dtype != np.uint8:
        img = np.clip(np.round(img.astype(np.float32) * (255.0 if img.max() <= 1.0 else 1.0)), 0, 255).astype(
            np.uint8
        )
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_image(path: str | Path) -> np.ndarray:
    """One image as uint8 RGB (H, W, 3); a UserError naming the file when it cannot be decoded."""
    path = Path(path)
    if not path.is_file():
        raise MissingDataError(f"image not found: {path}")
    data = np.fromfile(path, dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size and _png_chunks_ok(data) else None
    if img is None or img.size == 0:
        raise UserError(f"cannot decode image {path} (corrupt or not an image)")
    return to_rgb8(img)


def _png_chunks_ok(data: np.ndarray) -> bool:
    """False for a PNG whose chunk layout or CRCs are broken (True for other formats).

    libpng prints such errors straight to stderr (``libpng error: IHDR: CRC error``), past
    OpenCV's log level, so a broken PNG is recognised here and never handed to the decoder.
    """
    raw = data.tobytes()
    if not raw.startswith(PNG_SIGNATURE):
        return True
    pos, first = len(PNG_SIGNATURE), True
    while pos + 12 <= len(raw):
        length = int.from_bytes(raw[pos : pos + 4], "big")
        kind, end = raw[pos + 4 : pos + 8], pos + 12 + length
        if end > len(raw) or (first and (kind != b"IHDR" or length != 13)):
            return False
        if zlib.crc32(raw[pos + 4 : end - 4]) != int.from_bytes(raw[end - 4 : end], "big"):
            return False
        if kind == b"IEND":
            return True
        pos, first = end, False
    return False


@dataclass(frozen=True)
class Colour:
    """Colour tags of a video, as the ITU-T H.273 codes FFmpeg uses (2 = unspecified)."""

    primaries: int = 2
    transfer: int = 2
    matrix: int = 2
    range: int = 0  # 0 unspecified, 1 limited (MPEG), 2 full (JPEG)


@dataclass
class VideoMeta:
    """What is known about a video before reading it."""

    path: str
    width: int
    height: int
    fps: float
    num_frames: int | None  # None when the container does not say
    codec: str | None = None
    rate: Fraction | None = None  # the exact frame rate (``fps`` is its float)
    time_base: Fraction | None = None  # unit of the timestamps yielded by ``timed()``
    colour: Colour = field(default_factory=Colour)
    rotation: int = 0  # display rotation in degrees, as FFmpeg reports it
    audio_streams: int = 0


def parse_fps(value: float | str | Fraction | None) -> Fraction | None:
    """A frame rate as an exact fraction: ``25``, ``29.97`` or ``"30000/1001"``; must be finite and > 0."""
    if value is None:
        return None
    try:
        rate = Fraction(value) if not isinstance(value, float) else None
        if rate is None:
            if not math.isfinite(value):
                raise ValueError
            rate = Fraction(value).limit_denominator(1001)
    except (ValueError, TypeError, ZeroDivisionError):
        raise UserError(
            f"--fps must be a positive number of frames per second (e.g. 25 or 30000/1001), got '{value}'"
        ) from None
    if rate <= 0:
        raise UserError(
            f"--fps must be a positive number of frames per second (e.g. 25 or 30000/1001), got '{value}'"
        )
    return rate


class FrameFolder:
    """A folder of frames as a lazy video: iterate for uint8 RGB frames."""

    def __init__(self, folder: str | Path, fps: float | str | Fraction = DEFAULT_FPS):
        self.folder = Path(folder)
        self.paths = list_frames(self.folder)
        if not self.paths:
            raise UserError(f"no image frames in {self.folder}")
        rate = parse_fps(fps)
        first = read_image(self.paths[0])
        self.meta = VideoMeta(
            str(self.folder), first.shape[1], first.shape[0], float(rate), len(self.paths), "png", rate
        )

    def __len__(self) -> int:
        return len(self.paths)

    def __iter__(self) -> Iterator[np.ndarray]:
        for path in self.paths:
            yield read_image(path)

    def timed(self) -> Iterator[tuple[np.ndarray, None, None]]:
        """Frames with timestamp and duration (None: frames of a folder are evenly spaced)."""
        for frame in self:
            yield frame, None, None


def _rgb(frame) -> np.ndarray:
    """A decoded frame as uint8 RGB, converted with its own matrix and range."""
    return frame.to_ndarray(format="rgb24", src_color_range=frame.color_range or None)


class VideoFile:
    """A video file (mp4/mkv/avi/... via PyAV) as a lazy iterator of uint8 RGB frames."""

    def __init__(self, path: str | Path):
        import av

        self.path = Path(path)
        if not self.path.is_file():
            raise MissingDataError(f"video not found: {self.path}")
        try:
            with av.open(str(self.path)) as container:
                self.meta = self._probe(container)
        except av.error.FFmpegError as exc:
            raise UserError(f"cannot read video {self.path}: {exc.strerror or exc}") from exc

    def _probe(self, container) -> VideoMeta:
        if not container.streams.video:
            raise UserError(f"no video stream in {self.path}")
        stream = container.streams.video[0]
        rate = Fraction(stream.average_rate or stream.guessed_rate or DEFAULT_FPS)
        if stream.codec_context is None:
            tag = stream.codec_tag or "unknown"
            raise UserError(f"cannot decode video {self.path}: no decoder for its codec (FourCC '{tag}')")
        ctx = stream.codec_context
        width, height, count = ctx.width, ctx.height, stream.frames
        if container.duration and abs(count - container.duration / 1e6 * float(rate)) > 2:
            count = 0  # an edit list trims the stream: the packet count is not the frame count
        if width <= 0 or height <= 0:
            raise UserError(f"cannot read video {self.path}: no frame size in the stream")
        first = next(container.decode(stream), None)  # rotation and colour tags live on frames
        colour = Colour(ctx.color_primaries, ctx.color_trc, ctx.colorspace, ctx.color_range)
        if first is not None:
            colour = Colour(first.color_primaries, first.color_trc, first.colorspace, first.color_range)
        return VideoMeta(
            str(self.path),
            width,
            height,
            float(rate),
            count or None,
            ctx.name,
            rate,
            Fraction(stream.time_base),
            colour,
            int(first.rotation) if first is not None else 0,
            len(container.streams.audio),
        )

    def __len__(self) -> int:
        if self.meta.num_frames is None:
            raise TypeError("frame count unknown for this container")
        return self.meta.num_frames

    def __iter__(self) -> Iterator[np.ndarray]:
        for frame, _, _ in self.timed():
            yield frame

    def timed(self) -> Iterator[tuple[np.ndarray, int, int | None]]:
        """Frames with timestamp and duration in ``meta.time_base`` units (missing or repeated stamps filled in)."""
        import av

        step = max(1, round(1 / (self.meta.rate * self.meta.time_base)))
        last = None
        try:
            with av.open(str(self.path)) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                for frame in container.decode(stream):
                    pts = frame.pts
                    if pts is None or (last is not None and pts <= last):
                        pts = 0 if last is None else last + step
                    last = pts
                    yield _rgb(frame), pts, frame.duration or None
        except av.error.FFmpegError as exc:
            raise UserError(f"cannot decode video {self.path}: {exc.strerror or exc}") from exc


def open_video(path: str | Path, fps: float | str | Fraction = DEFAULT_FPS) -> FrameFolder | VideoFile:
    """Open a frame folder or a video file for lazy reading (``fps`` applies to folders)."""
    path = Path(path)
    if path.is_dir():
        return FrameFolder(path, fps=fps)
    if not path.exists():
        raise MissingDataError(f"video not found: {path}")
    if path.suffix.lower() in IMAGE_EXTS:
        raise UserError(f"{path} is a single image; give a video file or a folder of frames")
    return VideoFile(path)


def is_video_path(path: str | Path) -> bool:
    """True when ``path`` names a video file (by suffix) rather than a frame folder."""
    return Path(path).suffix.lower() in VIDEO_EXTS
