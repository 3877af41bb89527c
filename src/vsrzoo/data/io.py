"""Video I/O: frame folders and video files in, frame folders and H.264 mp4 out, lazily.

Frames are uint8 RGB numpy arrays of shape (H, W, 3). Readers are iterators, so memory does
not depend on video length; writers are atomic (they write under a temporary name and rename
when closed), so an interrupted run never leaves a half-written file under the final name.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from vsrzoo.errors import MissingDataError, UserError

log = logging.getLogger(__name__)

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
VIDEO_EXTS = {".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".mpg", ".mpeg"}
MP4_EXTS = {".mp4", ".mkv", ".mov", ".m4v"}  # containers that take H.264
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
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None or img.size == 0:
        raise UserError(f"cannot decode image {path} (corrupt or not an image)")
    return to_rgb8(img)


def write_image(path: str | Path, frame: np.ndarray) -> None:
    """Write a uint8 RGB frame as PNG (or any format OpenCV infers from the suffix)."""
    ok, buf = cv2.imencode(Path(path).suffix or ".png", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    if not ok:
        raise UserError(f"cannot encode image {path}")
    buf.tofile(str(path))


@dataclass
class VideoMeta:
    """What is known about a video before reading it."""

    path: str
    width: int
    height: int
    fps: float
    num_frames: int | None  # None when the container does not say
    codec: str | None = None


class FrameFolder:
    """A folder of frames as a lazy video: iterate for uint8 RGB frames."""

    def __init__(self, folder: str | Path, fps: float = DEFAULT_FPS):
        self.folder = Path(folder)
        self.paths = list_frames(self.folder)
        if not self.paths:
            raise UserError(f"no image frames in {self.folder}")
        first = read_image(self.paths[0])
        self.meta = VideoMeta(str(self.folder), first.shape[1], first.shape[0], fps, len(self.paths), "png")

    def __len__(self) -> int:
        return len(self.paths)

    def __iter__(self) -> Iterator[np.ndarray]:
        for path in self.paths:
            yield read_image(path)


class VideoFile:
    """A video file (mp4/mkv/avi/... via PyAV) as a lazy iterator of uint8 RGB frames."""

    def __init__(self, path: str | Path):
        import av

        self.path = Path(path)
        if not self.path.is_file():
            raise MissingDataError(f"video not found: {self.path}")
        try:
            with av.open(str(self.path)) as container:
                if not container.streams.video:
                    raise UserError(f"no video stream in {self.path}")
                stream = container.streams.video[0]
                fps = float(stream.average_rate or stream.guessed_rate or DEFAULT_FPS)
                if stream.codec_context is None:
                    tag = stream.codec_tag or "unknown"
                    raise UserError(
                        f"cannot decode video {self.path}: no decoder for its codec (FourCC '{tag}')"
                    )
                codec = stream.codec_context.name
                width, height, count = stream.codec_context.width, stream.codec_context.height, stream.frames
                if container.duration and abs(count - container.duration / 1e6 * fps) > 2:
                    count = 0  # an edit list trims the stream: the packet count is not the frame count
        except av.error.FFmpegError as exc:
            raise UserError(f"cannot read video {self.path}: {exc.strerror or exc}") from exc
        if width <= 0 or height <= 0:
            raise UserError(f"cannot read video {self.path}: no frame size in the stream")
        self.meta = VideoMeta(str(self.path), width, height, fps, count or None, codec)

    def __len__(self) -> int:
        if self.meta.num_frames is None:
            raise TypeError("frame count unknown for this container")
        return self.meta.num_frames

    def __iter__(self) -> Iterator[np.ndarray]:
        import av

        try:
            with av.open(str(self.path)) as container:
                for frame in container.decode(video=0):
                    yield frame.to_ndarray(format="rgb24")
        except av.error.FFmpegError as exc:
            raise UserError(f"cannot decode video {self.path}: {exc.strerror or exc}") from exc


def open_video(path: str | Path, fps: float = DEFAULT_FPS) -> FrameFolder | VideoFile:
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


class FrameWriter:
    """Write uint8 RGB frames to a PNG folder or an H.264 mp4, atomically.

    Frames go to a temporary sibling (``.<name>.partial``) that is renamed to ``path`` by
    :meth:`close`; :meth:`abort` (or an exception inside ``with``) deletes it instead.
    """

    def __init__(self, path: str | Path, fps: float = DEFAULT_FPS, crf: int = 18, overwrite: bool = False):
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise UserError(f"output directory does not exist: {self.path.parent}")
        if self.path.exists() and not overwrite:
            raise UserError(f"output exists: {self.path} (pass --overwrite to replace it)")
        self.video = is_video_path(self.path)
        if self.video and self.path.suffix.lower() not in MP4_EXTS:
            raise UserError(
                f"cannot write {self.path.suffix} video; H.264 output needs .mp4, .mkv, .mov or .m4v, or a folder name"
            )
        suffix = self.path.suffix if self.video else ""
        self.tmp = self.path.with_name(f".{self.path.stem}.partial{suffix}")
        self.fps, self.crf, self.count = fps, crf, 0
        self._container = self._stream = None
        self._size: tuple[int, int] | None = None
        _remove(self.tmp)
        if not self.video:
            self.tmp.mkdir()

    def write(self, frame: np.ndarray) -> None:
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"frames must be uint8 (H, W, 3), got {frame.dtype} {frame.shape}")
        size = frame.shape[:2]
        if self._size is None:
            self._size = size
        elif size != self._size:
            raise UserError(
                f"frame {self.count} has size {size[1]}x{size[0]}, expected {self._size[1]}x{self._size[0]}"
            )
        if self.video:
            self._write_video(frame)
        else:
            write_image(self.tmp / f"{self.count:08d}.png", frame)
        self.count += 1

    def _write_video(self, frame: np.ndarray) -> None:
        import av

        if self._container is None:
            self._container = av.open(str(self.tmp), mode="w")
            self._stream = self._container.add_stream(
                "libx264", rate=Fraction(self.fps).limit_denominator(1001)
            )
            h, w = frame.shape[:2]
            self._stream.width, self._stream.height = w + w % 2, h + h % 2
            self._stream.pix_fmt = "yuv420p"
            self._stream.options = {"crf": str(self.crf)}
        if frame.shape[0] % 2 or frame.shape[1] % 2:  # yuv420p needs even sizes: repeat the last row/col
            frame = np.pad(frame, ((0, frame.shape[0] % 2), (0, frame.shape[1] % 2), (0, 0)), mode="edge")
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        for packet in self._stream.encode(vf):
            self._container.mux(packet)

    def close(self) -> Path:
        """Finish the file and move it to its final name."""
        if self.count == 0:
            self.abort()
            raise UserError(f"no frames to write to {self.path}")
        if self._container is not None:
            for packet in self._stream.encode():
                self._container.mux(packet)
            self._container.close()
            self._container = None
        _remove(self.path)
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Drop everything written so far."""
        if self._container is not None:
            self._container.close()
            self._container = None
        _remove(self.tmp)

    def __enter__(self) -> FrameWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            self.close()
        else:
            self.abort()
        return False


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
