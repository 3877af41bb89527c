"""Video I/O: frame folders and video files in, frame folders and H.264/H.265/FFV1 video out, lazily.

Frames are uint8 RGB numpy arrays of shape (H, W, 3). Readers are iterators, so memory does not
depend on video length. Video output keeps what users expect of an upscaler that re-encodes
only the picture (what ``ffmpeg -i in -c:a copy`` does):

- the exact rational frame rate (30000/1001 stays 30000/1001) and every frame's timestamp, so
  variable-frame-rate input keeps its timing;
- the audio streams, copied packet by packet when the output container takes their codec and
  re-encoded to AAC only when it does not, interleaved with the video as it is written;
- the colour tags (primaries, transfer, matrix, range), with RGB <-> YUV converted in the input's
  own matrix and range, and the display rotation.

Writers are atomic and exclusive: they hold a lock file (``.NAME.lock``, ``flock``) for the whole
run, so a second run to the same output fails at once instead of interleaving with the first;
they write under a temporary name (``.NAME.partial``) and rename it only when complete, and
remove it on any error or interruption, so no output path ever holds a half-written file.
None of the three is ever opened through a symbolic link: the lock file and the temporary are
created with ``O_NOFOLLOW`` (and ``O_EXCL`` for the temporary), a link planted in their place is
refused with a one-line error and left alone, and an output that is a link is replaced, not
written through.
Whether the output location is writable is known when the writer is created, before any frame
is computed.
"""

from __future__ import annotations

import io
import logging
import math
import os
import re
import shutil
import stat
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from vsrzoo.errors import MissingDataError, UserError, unknown

try:  # POSIX; elsewhere the lock falls back to exclusive creation of the lock file
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

log = logging.getLogger(__name__)
# OpenCV prints WARN and ERROR lines for unreadable images before vsrzoo's own one-line error.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
VIDEO_EXTS = {".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".mpg", ".mpeg"}
MP4_EXTS = {".mp4", ".mkv", ".mov", ".m4v"}  # the containers written here
MUXERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
DEFAULT_FPS = 25.0

# --codec name -> PyAV encoder, default pixel format and default CRF (None: lossless, no CRF)
CODECS = {"h264": "libx264", "h265": "libx265", "hevc": "libx265", "ffv1": "ffv1"}
DEFAULT_PIX_FMT = {"libx264": "yuv420p", "libx265": "yuv420p", "ffv1": "bgr0"}  # bgr0: lossless RGB
DEFAULT_CRF = {"libx264": 18, "libx265": 20, "ffv1": None}
CRF_RANGE = (0, 51)
# Encoder input formats that the stream does not keep: libx264 takes these memory layouts, but
# FFmpeg decodes the file as the format on the right (4:0:0 comes back with neutral chroma), so
# accepting them would promise an output that is not written (checked against real decoding in
# tests/inference/test_hostile_outputs.py).
STORED_AS = {
    "libx264": {
        "gray": "yuv420p",
        "gray10le": "yuv420p10le",
        "nv12": "yuv420p",
        "nv21": "yuv420p",
        "nv16": "yuv422p",
        "nv20le": "yuv422p10le",
    }
}
AUDIO_FALLBACK = "aac"  # what audio is re-encoded to when the container cannot hold its codec


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


def write_image(path: str | Path, frame: np.ndarray) -> None:
    """Write a uint8 RGB frame as PNG (or any format OpenCV infers from the suffix)."""
    ok, buf = cv2.imencode(Path(path).suffix or ".png", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    if not ok:
        raise UserError(f"cannot encode image {path}")
    buf.tofile(str(path))


# ------------------------------------------------------------------------------------ reading


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


# ------------------------------------------------------------------------------------ writing


@dataclass(frozen=True)
class Encoding:
    """How video frames are encoded: PyAV encoder, pixel format and CRF (None for lossless codecs)."""

    encoder: str
    pix_fmt: str
    crf: float | None


def video_encoding(
    path: str | Path, codec: str = "h264", pix_fmt: str | None = None, crf: float | None = None
) -> Encoding:
    """Check ``codec``/``pix_fmt``/``crf`` against the encoders of this PyAV build and the container of ``path``."""
    import av

    suffix = Path(path).suffix.lower()
    if suffix not in MUXERS:
        raise UserError(
            f"cannot write {suffix} video; H.264 output needs .mp4, .mkv, .mov or .m4v, or a folder name"
        )
    if codec not in CODECS:
        raise unknown("codec", codec, CODECS)
    encoder = CODECS[codec]
    try:
        formats = [f.name for f in av.codec.Codec(encoder, "w").video_formats or ()]
    except av.codec.codec.UnknownCodecError:
        raise UserError(
            f"this PyAV build has no {codec} encoder ({encoder}); use another --codec or a frame folder"
        ) from None
    with av.open(io.BytesIO(), "w", format=MUXERS[suffix]) as probe:
        if (
            encoder not in probe.supported_codecs
            and av.codec.Codec(encoder, "w").name not in probe.supported_codecs
        ):
            raise UserError(f"the {suffix} container cannot hold {codec}; use .mkv")
    if pix_fmt is not None and pix_fmt != DEFAULT_PIX_FMT[encoder]:
        _check_pix_fmt(codec, encoder, pix_fmt, formats)
    pix_fmt = pix_fmt or DEFAULT_PIX_FMT[encoder]
    if DEFAULT_CRF[encoder] is None:
        if crf is not None:
            raise UserError(f"--crf does not apply to {codec}: it is lossless")
        return Encoding(encoder, pix_fmt, None)
    crf = DEFAULT_CRF[encoder] if crf is None else crf
    if isinstance(crf, bool) or not isinstance(crf, (int, float)) or not CRF_RANGE[0] <= crf <= CRF_RANGE[1]:
        raise UserError(f"--crf must be a number between {CRF_RANGE[0]} and {CRF_RANGE[1]}, got {crf!r}")
    return Encoding(encoder, pix_fmt, crf)


def _check_pix_fmt(codec: str, encoder: str, pix_fmt: str, formats: list[str]) -> None:
    """UserError unless ``encoder`` takes ``pix_fmt`` and the file keeps it (:data:`STORED_AS`)."""
    readable = [f for f in formats if f not in STORED_AS.get(encoder, {})]
    if pix_fmt not in readable:
        got = STORED_AS.get(encoder, {}).get(pix_fmt)
        why = (
            f"is not kept by {codec} ({encoder}): the file would hold {got}" if got else "is not supported by"
        )
        where = "" if got else f" {codec} ({encoder})"
        raise UserError(f"--pix-fmt {pix_fmt} {why}{where}; valid: {', '.join(readable)}")


class OutputBusyError(UserError):
    """The output is locked by another live run (``pid`` is what its lock file says, or '')."""

    def __init__(self, path: Path, pid: str):
        owner = f" (pid {pid})" if pid else ""
        super().__init__(
            f"{path} is being written by another vsrzoo run{owner}; wait for it to finish or choose another output"
        )
        self.pid = pid


def _planted_link(path: Path, output: Path, role: str) -> UserError:
    """The error for a symbolic link where vsrzoo creates its own file: it is never followed or removed."""
    return UserError(
        f"cannot write {output}: its {role} {path.name} is a symbolic link, which vsrzoo never follows "
        "or removes; remove it yourself if it is stale"
    )


NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # 0 where the platform has no such flag (Windows)


class OutputLock:
    """An exclusive lock on an output path for one run: ``flock`` on a sibling ``.NAME.lock`` file.

    Creating the lock file is also the check that the output folder is writable. The file is
    removed on release (the lock holder unlinks it before closing, and a new holder checks that
    the file it locked is still the one on disk, so removal cannot let two runs in). The lock
    file is opened with ``O_NOFOLLOW`` and must be a plain file with one link before anything is
    written to it: a link planted in a shared folder never redirects the PID write to a victim.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.file = self.path.with_name(f".{self.path.name}.lock")
        self.fd: int | None = None
        while self.fd is None:
            fd = self._open()
            if fcntl is not None and not self._lock(fd):
                continue
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
            self.fd = fd

    def _open(self) -> int:
        """The lock file's descriptor, never through a link and only if it is a plain, singly linked file."""
        flags = os.O_RDWR | os.O_CREAT | NOFOLLOW | getattr(os, "O_CLOEXEC", 0) | (0 if fcntl else os.O_EXCL)
        if self.file.is_symlink():
            raise _planted_link(self.file, self.path, "lock file")
        try:
            fd = os.open(self.file, flags, 0o644)
        except FileExistsError:
            raise OutputBusyError(self.path, _read_pid(self.file)) from None
        except OSError as exc:
            if self.file.is_symlink():  # planted between the check and the open (ELOOP)
                raise _planted_link(self.file, self.path, "lock file") from None
            raise UserError(
                f"cannot write {self.path}: cannot create files in {self.path.parent} ({exc.strerror})"
            ) from None
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
            os.close(fd)
            raise UserError(
                f"cannot write {self.path}: its lock file {self.file.name} is not a plain file with one link; "
                "vsrzoo never writes to it: remove it yourself if it is stale"
            )
        return fd

    def _lock(self, fd: int) -> bool:
        """``flock`` ``fd``; False when the file it names was removed meanwhile (try again)."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            pid = _read_fd(fd)
            os.close(fd)
            raise OutputBusyError(self.path, pid) from None
        try:
            current = os.stat(self.file, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            current = False
        if not current:  # the previous holder removed it between our open and flock
            os.close(fd)
        return current

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            if os.stat(self.file, follow_symlinks=False).st_ino == os.fstat(self.fd).st_ino:
                self.file.unlink()  # only the file we hold, never a link put in its place
        except FileNotFoundError:
            pass
        os.close(self.fd)
        self.fd = None


def _read_fd(fd: int) -> str:
    """The PID a lock file holds (at most 20 bytes, from our own descriptor), or ''."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return os.read(fd, 20).decode("ascii", "replace").strip()
    except OSError:
        return ""


def _read_pid(path: Path) -> str:
    """The PID in a lock file we could not create, read without following a link."""
    try:
        fd = os.open(path, os.O_RDONLY | NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return ""
    try:
        return _read_fd(fd)
    finally:
        os.close(fd)


class FrameWriter:
    """Write uint8 RGB frames to a PNG folder or a video file, atomically and exclusively.

    Frames go to a temporary sibling (``.<name>.partial``) that is renamed to ``path`` by
    :meth:`close`; :meth:`abort` (or an exception inside ``with``) deletes it instead. ``source``
    (the input's :class:`VideoMeta`) supplies the frame rate, time base, colour tags, rotation and
    the audio streams to carry over; ``write(frame, pts)`` keeps each frame's timestamp.
    """

    def __init__(
        self,
        path: str | Path,
        fps: float | str | Fraction = DEFAULT_FPS,
        crf: float | None = None,
        overwrite: bool = False,
        codec: str = "h264",
        pix_fmt: str | None = None,
        source: VideoMeta | None = None,
    ):
        self.path = Path(path)
        self.video = is_video_path(self.path)
        self.encoding = video_encoding(self.path, codec, pix_fmt, crf) if self.video else None
        if not self.path.parent.is_dir():
            raise UserError(f"output directory does not exist: {self.path.parent}")
        if os.path.lexists(self.path) and not overwrite:
            raise UserError(f"output exists: {self.path} (pass --overwrite to replace it)")
        self.source = source
        self.rate = (source.rate if source is not None and source.rate else None) or parse_fps(fps)
        self.time_base = (source.time_base if source is not None else None) or 1 / self.rate
        self.fps = float(self.rate)
        self.count = 0
        self.size: tuple[int, int] | None = None  # (height, width) as written (after padding)
        self._frame_size: tuple[int, int] | None = None
        self._container = self._stream = None
        self._audio: _AudioCopy | None = None
        suffix = self.path.suffix if self.video else ""
        self.tmp = self.path.with_name(f".{self.path.stem}.partial{suffix}")
        self._lock = OutputLock(self.path)
        try:
            if os.path.lexists(self.path) and not overwrite:  # finished by another run while we waited
                raise UserError(f"output exists: {self.path} (pass --overwrite to replace it)")
            self._tmp_id = self._create_tmp()
        except OSError as exc:
            self._lock.release()
            raise UserError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        except BaseException:
            self._lock.release()
            raise

    def _create_tmp(self) -> tuple[int, int]:
        """Create the temporary ourselves (exclusively, never through a link); its (device, inode).

        A temporary left by a killed run is removed first (we hold the lock, nobody else writes
        it); a link in its place was not made by vsrzoo and is refused, not followed or removed.
        """
        if self.tmp.is_symlink():
            raise _planted_link(self.tmp, self.path, "temporary")
        _remove(self.tmp)
        if self.video:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
            fd = os.open(self.tmp, flags, 0o644)
            st = os.fstat(fd)
            os.close(fd)
        else:
            self.tmp.mkdir()
            st = os.stat(self.tmp, follow_symlinks=False)
        return st.st_dev, st.st_ino

    def _check_tmp(self) -> None:
        """UserError unless the temporary is still the file we created (not swapped for a link)."""
        try:
            st = os.stat(self.tmp, follow_symlinks=False)
            same = (st.st_dev, st.st_ino) == self._tmp_id and not stat.S_ISLNK(st.st_mode)
        except FileNotFoundError:
            same = False
        if not same:
            raise UserError(
                f"cannot write {self.path}: its temporary {self.tmp.name} was replaced or removed"
            )

    # ------------------------------------------------------------------ frames
    def write(self, frame: np.ndarray, pts: int | None = None, duration: int | None = None) -> None:
        """Append one frame; ``pts``/``duration`` in the source's time base (None: evenly spaced)."""
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"frames must be uint8 (H, W, 3), got {frame.dtype} {frame.shape}")
        size = frame.shape[:2]
        if self._frame_size is None:
            self._frame_size = size
        elif size != self._frame_size:
            raise UserError(
                f"frame {self.count} has size {size[1]}x{size[0]}, expected {self._frame_size[1]}x{self._frame_size[0]}"
            )
        try:
            if self.video:
                self._write_video(frame, pts, duration)
            else:
                write_image(self.tmp / f"{self.count:08d}.png", frame)
                self.size = size
        except OSError as exc:
            raise UserError(f"cannot write {self.path}: {exc.strerror or exc}") from exc
        self.count += 1

    def _write_video(self, frame: np.ndarray, pts: int | None, duration: int | None) -> None:
        import av

        if self._container is None:
            self._open(frame.shape[:2])
        pad_h, pad_w = self.size[0] - frame.shape[0], self.size[1] - frame.shape[1]
        if pad_h or pad_w:  # 4:2:0 needs even sizes: repeat the last row/column
            frame = np.pad(frame, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        vf = vf.reformat(format=self.encoding.pix_fmt, **self._conversion)
        if pts is None:
            pts = round(self.count / (self.rate * self.time_base))
        vf.pts, vf.time_base = pts, self.time_base
        if duration:
            vf.duration = duration
        self._mux_video(self._stream.encode(vf))

    def _mux_video(self, packets) -> None:
        for packet in packets:
            self._container.mux(packet)
            if self._audio is not None and packet.dts is not None:
                self._audio.pump(float(packet.dts * packet.time_base))

    def _open(self, size: tuple[int, int]) -> None:
        import av

        enc, colour = self.encoding, self.source.colour if self.source is not None else Colour()
        fmt = av.VideoFormat(enc.pix_fmt)
        mult_w, mult_h = (2 if fmt.chroma_width(64) < 64 else 1), (2 if fmt.chroma_height(64) < 64 else 1)
        self.size = (size[0] + size[0] % mult_h, size[1] + size[1] % mult_w)
        if self.size != size:
            log.warning(
                "%s: padding %dx%d to %dx%d (%s needs even sizes)",
                self.path.name,
                size[1],
                size[0],
                self.size[1],
                self.size[0],
                enc.pix_fmt,
            )
        self._check_tmp()
        self._container = av.open(str(self.tmp), mode="w", format=MUXERS[self.path.suffix.lower()])
        stream = self._container.add_stream(enc.encoder, rate=self.rate)
        stream.width, stream.height, stream.pix_fmt = self.size[1], self.size[0], enc.pix_fmt
        stream.time_base = stream.codec_context.time_base = self.time_base
        options = {"crf": f"{enc.crf:g}"} if enc.crf is not None else {}
        if enc.encoder == "libx265":
            options["x265-params"] = "log-level=error"
            stream.codec_tag = (
                "hvc1" if self.path.suffix.lower() in (".mp4", ".m4v", ".mov") else stream.codec_tag
            )
        stream.options = options
        self._conversion, tags = _colour_conversion(colour, fmt.is_rgb)
        for name, value in tags.items():
            setattr(stream.codec_context, name, value)
        if self.source is not None and self.source.rotation:
            stream.set_display_rotation(self.source.rotation)
        self._stream = stream
        if self.source is not None and self.source.audio_streams:
            self._audio = _AudioCopy(self.source.path, self._container)

    # ------------------------------------------------------------------ finish
    def close(self) -> Path:
        """Finish the file and move it to its final name."""
        if self.count == 0:
            self.abort()
            raise UserError(f"no frames to write to {self.path}")
        try:
            if self._container is not None:
                self._mux_video(self._stream.encode())
                if self._audio is not None:
                    self._audio.finish()
                self._container.close()
                self._container = None
            self._check_tmp()
            _remove(self.path)
            os.replace(self.tmp, self.path)
        except OSError as exc:
            self.abort()
            raise UserError(f"cannot write {self.path}: {exc.strerror or exc}") from exc
        except BaseException:
            self.abort()
            raise
        self._lock.release()
        return self.path

    def abort(self) -> None:
        """Drop everything written so far."""
        try:
            if self._audio is not None:
                self._audio.close()
                self._audio = None
            if self._container is not None:
                container, self._container = self._container, None
                try:
                    container.close()
                except Exception:  # the file is deleted anyway
                    pass
            _remove(self.tmp)
        finally:
            self._lock.release()

    def __enter__(self) -> FrameWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            self.close()
        else:
            self.abort()
        return False


def _colour_conversion(colour: Colour, rgb: bool) -> tuple[dict, dict]:
    """Arguments of ``VideoFrame.reformat`` and codec-context tags that reproduce the input's colour."""
    import av.video.reformatter as rf

    matrices = {int(c) for c in rf.Colorspace}
    tags = {"color_primaries": colour.primaries, "color_trc": colour.transfer}
    if rgb:  # RGB output (FFV1 bgr0): no matrix, full range
        return {}, {**tags, "colorspace": 0, "color_range": 2}
    conversion = {}
    if colour.matrix in matrices:
        conversion["dst_colorspace"] = colour.matrix
    if colour.range in (1, 2):
        conversion["dst_color_range"] = colour.range
    return conversion, {**tags, "colorspace": colour.matrix, "color_range": colour.range}


class _AudioCopy:
    """The audio streams of a source file, muxed into ``output`` in step with the video.

    Packets are copied unchanged when the output container takes their codec, else decoded and
    re-encoded to AAC (same rate and layout). ``pump(t)`` writes every audio packet up to time
    ``t`` (seconds) so audio and video stay interleaved; ``finish()`` writes the rest.
    """

    def __init__(self, source: str, output):
        import av

        self.source = av.open(source)
        self.output = output
        self.routes = {}
        for stream in self.source.streams.audio:
            if _can_copy(stream, output.format.name):
                self.routes[stream.index] = (output.add_stream_from_template(stream), None)
            else:
                out = output.add_stream(AUDIO_FALLBACK, rate=stream.codec_context.sample_rate)
                out.layout = stream.codec_context.layout
                self.routes[stream.index] = (out, stream)
                log.info(
                    "re-encoding %s audio to %s for %s",
                    stream.codec_context.name,
                    AUDIO_FALLBACK,
                    output.name,
                )
        self.packets = (
            p for p in self.source.demux(*self.source.streams.audio) if p.size
        )  # not flush packets
        self.pending = next(self.packets, None)

    def pump(self, until: float | None) -> None:
        while self.pending is not None:
            packet = self.pending
            stamp = packet.dts if packet.dts is not None else packet.pts  # Matroska gives no dts
            if until is not None and stamp is not None and float(stamp * packet.time_base) > until:
                return
            self._mux(packet)
            self.pending = next(self.packets, None)

    def _mux(self, packet) -> None:
        out, decode_from = self.routes[packet.stream.index]
        if decode_from is None:
            packet.stream = out
            self.output.mux(packet)
            return
        for frame in packet.decode():
            frame.pts = None  # let the encoder count samples
            for p in out.encode(frame):
                self.output.mux(p)

    def finish(self) -> None:
        self.pump(None)
        for out, decode_from in self.routes.values():
            if decode_from is not None:
                for p in out.encode(None):
                    self.output.mux(p)
        self.close()

    def close(self) -> None:
        self.source.close()


def _can_copy(stream, muxer: str) -> bool:
    """Whether a ``muxer`` container accepts ``stream``'s packets unchanged (tried on an in-memory file)."""
    import av

    try:
        with av.open(io.BytesIO(), "w", format=muxer.split(",")[0]) as probe:
            probe.add_stream_from_template(stream)
            probe.start_encoding()
        return True
    except (av.error.FFmpegError, ValueError):
        return False


def _remove(path: Path) -> None:
    """Delete a file or folder; a symbolic link is unlinked itself, never followed."""
    if path.is_symlink():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
