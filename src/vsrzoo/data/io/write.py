"""Writing frames: PNG folders and H.264/H.265/FFV1 video out, atomic and exclusive.

Video output keeps what users expect of an upscaler that re-encodes only the picture (what
``ffmpeg -i in -c:a copy`` does): the exact rational frame rate and every frame's timestamp (so
variable-frame-rate input keeps its timing); the audio streams (:mod:`vsrzoo.data.io.audio`);
the colour tags (primaries, transfer, matrix, range), with RGB <-> YUV converted in the input's
own matrix and range, and the display rotation.

Writers hold the output's lock (:mod:`vsrzoo.data.io.lock`) for the whole run; they write under
a temporary name (``.NAME.partial``) and rename it only when complete, and remove it on any
error or interruption, so no output path ever holds a half-written file. The temporary is
created with ``O_NOFOLLOW`` and ``O_EXCL``, a link planted in its place is refused, and an output
that is a link is replaced, not written through. Whether the output location is writable is
known when the writer is created, before any frame is computed.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from vsrzoo.data.io.audio import AudioCopy
from vsrzoo.data.io.encoding import MUXERS, video_encoding
from vsrzoo.data.io.lock import NOFOLLOW, OutputLock, planted_link
from vsrzoo.data.io.read import DEFAULT_FPS, Colour, VideoMeta, is_video_path, parse_fps
from vsrzoo.errors import UserError

log = logging.getLogger(__name__)


def write_image(path: str | Path, frame: np.ndarray) -> None:
    """Write a uint8 RGB frame as PNG (or any format OpenCV infers from the suffix)."""
    ok, buf = cv2.imencode(Path(path).suffix or ".png", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    if not ok:
        raise UserError(f"cannot encode image {path}")
    buf.tofile(str(path))


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
        self._audio: AudioCopy | None = None
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
            raise planted_link(self.tmp, self.path, "temporary")
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
            self._audio = AudioCopy(self.source.path, self._container)

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


def _remove(path: Path) -> None:
    """Delete a file or folder; a symbolic link is unlinked itself, never followed."""
    if path.is_symlink():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
