"""Temporal streaming: segments, cross-fade, laziness, per-video reset, frame checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from inference_helpers import PerPixel, SegmentMean, pan_frames

from vsrzoo.errors import UserError
from vsrzoo.inference.streaming import stream_upscale
from vsrzoo.methods.base import frames_to_tensor


def windows(n: int, segment: int, overlap: int) -> list[tuple[int, int]]:
    """The segments the engine must run: regular strides, then one aligned to the end."""
    stride, out = segment - overlap, []
    start = 0
    while start + segment <= n:
        out.append((start, start + segment))
        start += stride
    if not out or out[-1][1] < n:
        out.append((max(0, n - segment), n))
    return out


def reference(model, frames, segment, overlap):
    """Brute force: run every window on the whole clip, cross-fade the frames two windows share."""
    result, prev_end = {}, 0
    for start, end in windows(len(frames), segment, overlap):
        with torch.no_grad():
            out = model(frames_to_tensor(frames[start:end]))[0]
        blend = list(range(max(start, prev_end - overlap), prev_end))
        for idx in range(start, end):
            new = out[idx - start]
            if idx in blend:
                w = (blend.index(idx) + 1) / (len(blend) + 1)
                result[idx] = w * new + (1 - w) * result[idx]
            elif idx >= prev_end:
                result[idx] = new
        prev_end = end
    return [
        (result[i].clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
        for i in range(len(frames))
    ]


@pytest.mark.parametrize("n,segment,overlap", [(10, 4, 2), (11, 4, 1), (3, 4, 1), (9, 4, 0), (8, 4, 3)])
def test_cross_fade_matches_brute_force(n, segment, overlap):
    frames, model = pan_frames(n, 12, 16), SegmentMean()
    got = list(stream_upscale(model, frames, segment=segment, overlap=overlap))
    want = reference(model, frames, segment, overlap)
    assert len(got) == n
    for g, w in zip(got, want):
        assert np.abs(g.astype(int) - w.astype(int)).max() <= 1


def test_cross_fade_differs_from_hard_cuts():
    frames, model = pan_frames(10, 12, 16), SegmentMean()
    faded = list(stream_upscale(model, frames, segment=4, overlap=2))
    cut = list(stream_upscale(model, frames, segment=4, overlap=0))
    assert any(np.abs(a.astype(int) - b.astype(int)).max() > 2 for a, b in zip(faded, cut))


def test_frames_are_yielded_as_soon_as_final():
    consumed = []

    def source():
        for i, frame in enumerate(pan_frames(20, 8, 8)):
            consumed.append(i)
            yield frame

    lag = []
    for k, _ in enumerate(stream_upscale(SegmentMean(), source(), segment=4, overlap=1)):
        lag.append(len(consumed) - k)
    # frame k is out once its last segment ran, after reading at most one frame ahead
    assert max(lag) <= 4 + 1
    assert len(lag) == 20


def test_state_is_reset_per_video_and_training_mode_restored():
    model = SegmentMean().train()
    list(stream_upscale(model, pan_frames(5, 8, 8)))
    list(model.upscale(pan_frames(5, 8, 8)))
    assert model.resets == 2 and model.training


def test_base_upscale_delegates_to_the_engine():
    frames, model = pan_frames(7, 8, 12), SegmentMean()
    assert all(np.array_equal(a, b) for a, b in zip(model.upscale(frames), stream_upscale(model, frames)))
    assert model.segment_length == 4  # default overlap 1: windows (0,4), (3,7)
    assert model.calls == 4


def test_tiled_stream_equals_untiled_for_a_per_pixel_model():
    frames, model = pan_frames(6, 30, 41), PerPixel(scale=3)
    whole = list(stream_upscale(model, frames, segment=3, overlap=1))
    tiled = list(stream_upscale(model, frames, segment=3, overlap=1, tile=11, tile_overlap=4))
    diff = np.stack(whole).astype(int) - np.stack(tiled)
    # equal floats up to rounding order; a grey level flips only at exact .5 ties
    assert np.abs(diff).max() <= 1 and (diff != 0).mean() < 1e-3
    assert whole[0].shape == (90, 123, 3)


def test_auto_tile_fits_the_budget():
    class Hungry(PerPixel):
        memory_bytes_per_pixel = 400_000  # as a large diffusion model would declare

    frames = pan_frames(3, 64, 64)
    from vsrzoo.inference.tiling import current_rss

    budget = current_rss() + 2 * 2**30
    got = list(stream_upscale(Hungry(), frames, tile="auto", max_memory=budget, tile_overlap=4))
    want = list(stream_upscale(PerPixel(), frames))
    assert all(np.array_equal(a, b) for a, b in zip(got, want))


def test_frame_of_another_size_names_its_index():
    frames = pan_frames(6, 32, 48)
    frames[4] = frames[4][:, :40]
    with pytest.raises(UserError) as err:
        list(stream_upscale(PerPixel(), frames, name="clip.mp4"))
    assert str(err.value) == (
        "frame 4 of clip.mp4 has size 40x32, expected 48x32 like frame 0 (all frames of a video must have the same size)"
    )


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"segment": 4, "overlap": 4}, "--overlap must be between 0 and segment - 1 (3) frames, got 4"),
        ({"segment": 0}, "--segment must be at least 1 frame, got 0"),
        ({"precision": "int8"}, "unknown precision 'int8'; valid: fp32, bf16, fp16"),
        ({"tile": "big"}, "--tile must be a number of LR pixels or 'auto', got 'big'"),
    ],
)
def test_bad_options_are_user_errors(kwargs, message):
    with pytest.raises(UserError) as err:
        stream_upscale(PerPixel(), pan_frames(2, 8, 8), **kwargs)  # checked before the first frame
    assert str(err.value) == message


def test_bf16_autocast_runs_on_cpu():
    frames = pan_frames(2, 16, 16)
    fp32 = list(stream_upscale(PerPixel(), frames))
    bf16 = list(stream_upscale(PerPixel(), frames, precision="bf16"))
    diff = max(np.abs(a.astype(int) - b.astype(int)).max() for a, b in zip(fp32, bf16))
    assert diff <= 3  # bf16 keeps 8 mantissa bits: about one grey level of 255
