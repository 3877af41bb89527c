"""vsrzoo.inference: streaming over time and tiling over space, with bounded memory.

``upscale`` (files in, files out), ``stream_upscale`` (frames in, frames out) and
``tiled_forward`` (one float segment, tiled) share one engine.
"""

from vsrzoo.inference.api import UpscaleResult, upscale
from vsrzoo.inference.streaming import stream_upscale
from vsrzoo.inference.tiling import Tiler, parse_memory, tiled_forward

__all__ = ["Tiler", "UpscaleResult", "parse_memory", "stream_upscale", "tiled_forward", "upscale"]
