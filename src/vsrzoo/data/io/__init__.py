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

The package is the public face (``from vsrzoo.data.io import open_video, FrameWriter``); each
concern has its module:

- :mod:`~vsrzoo.data.io.read`: frame folders, images and video files in; :class:`VideoMeta`.
- :mod:`~vsrzoo.data.io.encoding`: the encoder, pixel format and CRF, checked up front.
- :mod:`~vsrzoo.data.io.lock`: the exclusive output lock.
- :mod:`~vsrzoo.data.io.audio`: the source's audio carried into the output.
- :mod:`~vsrzoo.data.io.write`: :func:`write_image` and the atomic :class:`FrameWriter`.
"""

from vsrzoo.data.io.audio import AUDIO_FALLBACK
from vsrzoo.data.io.encoding import (
    CODECS,
    CRF_RANGE,
    DEFAULT_CRF,
    DEFAULT_PIX_FMT,
    MP4_EXTS,
    MUXERS,
    STORED_AS,
    Encoding,
    video_encoding,
)
from vsrzoo.data.io.lock import NOFOLLOW, OutputBusyError, OutputLock
from vsrzoo.data.io.read import (
    DEFAULT_FPS,
    IMAGE_EXTS,
    PNG_SIGNATURE,
    VIDEO_EXTS,
    Colour,
    FrameFolder,
    VideoFile,
    VideoMeta,
    is_video_path,
    list_frames,
    natural_key,
    open_video,
    parse_fps,
    read_image,
    to_rgb8,
)
from vsrzoo.data.io.write import FrameWriter, write_image

__all__ = [
    "AUDIO_FALLBACK",
    "CODECS",
    "CRF_RANGE",
    "DEFAULT_CRF",
    "DEFAULT_FPS",
    "DEFAULT_PIX_FMT",
    "IMAGE_EXTS",
    "MP4_EXTS",
    "MUXERS",
    "NOFOLLOW",
    "PNG_SIGNATURE",
    "STORED_AS",
    "VIDEO_EXTS",
    "Colour",
    "Encoding",
    "FrameFolder",
    "FrameWriter",
    "OutputBusyError",
    "OutputLock",
    "VideoFile",
    "VideoMeta",
    "is_video_path",
    "list_frames",
    "natural_key",
    "open_video",
    "parse_fps",
    "read_image",
    "to_rgb8",
    "video_encoding",
    "write_image",
]
