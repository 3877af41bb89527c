"""Audio of the source carried into the output video, interleaved with the video as it is written.

What ``ffmpeg -i in -c:a copy`` does for an upscaler that re-encodes only the picture: packets
are copied unchanged when the output container takes their codec, else re-encoded to AAC.
"""

from __future__ import annotations

import io
import logging

log = logging.getLogger(__name__)

AUDIO_FALLBACK = "aac"  # what audio is re-encoded to when the container cannot hold its codec


class AudioCopy:
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
