"""Small real VSRMethods and real-photo clips for the inference tests (no weights, no mocks)."""

from __future__ import annotations

import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from skimage import data as skdata

from vsrzoo.data.resize import imresize
from vsrzoo.methods.base import VSRMethod


class PerPixel(VSRMethod):
    """A fixed colour mix of each LR pixel, repeated s x s: its output at a pixel sees only that pixel."""

    method_name = "perpixel"
    supported_scales = (2, 3, 4)

    def __init__(self, scale: int = 4):
        super().__init__(scale=scale)
        mix = torch.tensor([[0.6931, 0.2189, 0.0880], [0.1093, 0.7853, 0.1054], [0.1618, 0.1414, 0.6968]])
        self.register_buffer("mix", mix)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        y = torch.einsum("oc,btchw->btohw", self.mix, lr)
        return y.repeat_interleave(self.scale, -2).repeat_interleave(self.scale, -1)


class BicubicBlur(VSRMethod):
    """MATLAB bicubic x4 followed by a fixed 5x5 Gaussian: a receptive field of a few LR pixels."""

    method_name = "bicubic_blur"

    def __init__(self, scale: int = 4):
        super().__init__(scale=scale)
        g = torch.exp(-((torch.arange(5.0) - 2) ** 2) / 2)
        kernel = (g[:, None] * g[None]) / (g.sum() ** 2)
        self.register_buffer("kernel", kernel.expand(3, 1, 5, 5).clone())

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        b, t = lr.shape[:2]
        up = imresize(lr, scale=self.scale).flatten(0, 1).to(self.kernel.dtype)
        out = F.conv2d(up, self.kernel.to(up.dtype), padding=2, groups=3)
        return out.unflatten(0, (b, t))


class SegmentMean(PerPixel):
    """Each output mixes its frame with the mean of its segment, so it depends on the segmentation.

    Counts forward calls, and can refuse sizes that are not multiples of ``size_multiple`` (to
    check the engine pads) or interrupt itself after ``stop_after`` calls.
    """

    method_name = "segment_mean"
    segment_length = 4

    def __init__(self, scale: int = 4, size_multiple: int = 1, stop_after: int | None = None):
        super().__init__(scale=scale)
        self.size_multiple, self.stop_after = size_multiple, stop_after
        self.calls = 0

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        h, w = lr.shape[-2:]
        if h % self.size_multiple or w % self.size_multiple:
            raise ValueError(f"input {h}x{w} is not a multiple of {self.size_multiple}")
        self.calls += 1
        if self.stop_after is not None and self.calls > self.stop_after:
            raise KeyboardInterrupt
        return super().forward(0.5 * lr + 0.5 * lr.mean(dim=1, keepdim=True))


class RunningMean(PerPixel):
    """A stateful per-pixel model: each output frame is :class:`PerPixel` of the mean of all LR
    frames of the video so far (at that pixel). The state ``(sum, count)`` is a value.

    Records the number of frames of every ``step`` call (``steps``), so tests can check that no
    frame runs twice; a state of another tile has another shape and fails loudly.
    """

    method_name = "running_mean"
    stateful = True
    segment_length = 4

    def __init__(self, scale: int = 4):
        super().__init__(scale=scale)
        self.steps: list[int] = []

    def step(self, lr: torch.Tensor, state=None):
        total, count = state if state is not None else (torch.zeros_like(lr[:, 0]), 0)
        means = []
        for t in range(lr.shape[1]):
            total, count = total + lr[:, t], count + 1
            means.append(total / count)
        self.steps.append(lr.shape[1])
        return super().forward(torch.stack(means, dim=1)), (total, count)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        return self.step(lr, None)[0]


def pan_frames(n: int = 8, height: int = 32, width: int = 48, step: int = 3) -> list[np.ndarray]:
    """``n`` frames of a camera panning across a real photograph (scikit-image's astronaut)."""
    image = skdata.astronaut()[::4, ::4]  # 128x128, keeps texture at small sizes
    return [
        np.ascontiguousarray(image[10 : 10 + height, 5 + step * i : 5 + step * i + width]) for i in range(n)
    ]


def make_video(
    path,
    frames: list[np.ndarray],
    rate=Fraction(30000, 1001),
    pts: list[int] | None = None,
    time_base=None,
    audio_seconds: float | None = None,
    audio_codec: str = "aac",
    audio_rate: int = 48000,
    colour: dict | None = None,
    rotation: int = 0,
):
    """Encode ``frames`` with PyAV: exact ``rate`` (or explicit ``pts`` for variable frame rate),
    an optional sine audio track, colour tags and a display rotation. Returns ``path``."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "10"}
        if time_base is not None:
            stream.time_base = stream.codec_context.time_base = time_base
        for name, value in (colour or {}).items():
            setattr(stream.codec_context, name, value)
        if rotation:
            stream.set_display_rotation(rotation)
        audio = None
        if audio_seconds is not None:
            audio = container.add_stream(audio_codec, rate=audio_rate)
            audio.layout = "mono"
        kwargs = {}
        if colour and "colorspace" in colour:
            kwargs["dst_colorspace"] = colour["colorspace"]
        if colour and "color_range" in colour:
            kwargs["dst_color_range"] = colour["color_range"]
        for i, frame in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(frame, format="rgb24").reformat(format="yuv420p", **kwargs)
            vf.pts = pts[i] if pts is not None else i
            for packet in stream.encode(vf):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        if audio is not None:
            n = int(round(audio_seconds * audio_rate))
            t = np.arange(n) / audio_rate
            wave = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
            samples = wave if audio_codec == "aac" else (wave * 32767).astype(np.int16)
            af = av.AudioFrame.from_ndarray(
                samples, format="flt" if audio_codec == "aac" else "s16", layout="mono"
            )
            af.sample_rate, af.pts = audio_rate, 0
            for packet in audio.encode(af):
                container.mux(packet)
            for packet in audio.encode():
                container.mux(packet)
    return path


def audio_seconds(path) -> float | None:
    """Duration of the first audio stream as the container states it (edit lists applied), or None."""
    import av

    with av.open(str(path)) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        if stream.duration is not None:
            return float(stream.duration * stream.time_base)
        return sum(f.samples for f in container.decode(stream)) / stream.codec_context.sample_rate


def video_stamps(path) -> tuple[list[int], Fraction, Fraction]:
    """Decoded frames' timestamps, the stream's average rate and time base."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        pts = [f.pts for f in container.decode(stream)]
        return pts, Fraction(stream.average_rate), Fraction(stream.time_base)


SRC = str(Path(__file__).resolve().parents[2] / "src")


def start_upscale(*args: str, **env: str) -> subprocess.Popen:
    """``vsrzoo upscale ARGS --no-progress`` in a new process running this checkout's code."""
    return subprocess.Popen(
        [sys.executable, "-m", "vsrzoo.cli", "upscale", *args, "--no-progress"],
        env={**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
