"""Choosing the video encoder: ``--video-codec``, ``--pix-fmt`` and ``--crf`` checked against this PyAV
build and the output container before any frame is computed.

Why its own module: the checks run when a writer is created and, for a batch, once before the
first video (:mod:`vsrzoo.upscaling.batch`), so a bad option is one line at once, not a failure
after the model has run.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from vsrzoo.errors import UserError, unknown

MP4_EXTS = {".mp4", ".mkv", ".mov", ".m4v"}  # the containers written here
MUXERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}

# --video-codec name -> PyAV encoder, default pixel format and default CRF (None: lossless, no CRF)
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
        raise unknown("video codec", codec, CODECS)
    encoder = CODECS[codec]
    try:
        formats = [f.name for f in av.codec.Codec(encoder, "w").video_formats or ()]
    except av.codec.codec.UnknownCodecError:
        raise UserError(
            f"this PyAV build has no {codec} encoder ({encoder}); use another --video-codec or a frame folder"
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
