"""vsrzoo.inference: streaming over time and tiling over space, with bounded memory.

The engine (``stream_upscale``: frames in, frames out; ``tiled_forward``: one float segment,
tiled) sits below the methods and only reads what :class:`vsrzoo.methods.VSRMethod` declares.
The file-level API (``vsrzoo.upscale``, batch upscaling) is :mod:`vsrzoo.upscaling`, above the factory.
"""

from vsrzoo.inference.streaming import stream_upscale
from vsrzoo.inference.tiling import Tiler, parse_memory, tiled_forward

__all__ = ["Tiler", "parse_memory", "stream_upscale", "tiled_forward"]
