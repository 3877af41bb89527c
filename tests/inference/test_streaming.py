"""Temporal streaming: segments, cross-fade, laziness, per-video reset, frame checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from inference_helpers import PerPixel, RunningMean, SegmentMean, pan_frames

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
    got = list(stream_upscale(model, frames, segment_length=segment, overlap=overlap))
    want = reference(model, frames, segment, overlap)
    assert len(got) == n
    for g, w in zip(got, want):
        assert np.abs(g.astype(int) - w.astype(int)).max() <= 1


def test_cross_fade_differs_from_hard_cuts():
    frames, model = pan_frames(10, 12, 16), SegmentMean()
    faded = list(stream_upscale(model, frames, segment_length=4, overlap=2))
    cut = list(stream_upscale(model, frames, segment_length=4, overlap=0))
    assert any(np.abs(a.astype(int) - b.astype(int)).max() > 2 for a, b in zip(faded, cut))


def test_frames_are_yielded_as_soon_as_final():
    consumed = []

    def source():
        for i, frame in enumerate(pan_frames(20, 8, 8)):
            consumed.append(i)
            yield frame

    lag = []
    for k, _ in enumerate(stream_upscale(SegmentMean(), source(), segment_length=4, overlap=1)):
        lag.append(len(consumed) - k)
    # frame k is out once its last segment ran, after reading at most one frame ahead
    assert max(lag) <= 4 + 1
    assert len(lag) == 20


def running_mean_reference(frames: list[np.ndarray], scale: int = 4) -> list[np.ndarray]:
    lr = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float()[None] / 255
    means = lr.cumsum(dim=1) / torch.arange(1, lr.shape[1] + 1).view(1, -1, 1, 1, 1)
    return [f.permute(1, 2, 0).numpy() for f in PerPixel(scale).forward(means)[0]]


def assert_frames_close(got: list[np.ndarray], want: list[np.ndarray]) -> None:
    assert len(got) == len(want)
    diff = np.abs(np.stack(got).astype(int) - np.round(np.stack(want) * 255).clip(0, 255).astype(int))
    assert diff.max() <= 1


def test_stateful_model_state_per_video_and_training_mode_restored():
    model = RunningMean().train()
    frames = pan_frames(10, 8, 8)
    first = list(stream_upscale(model, frames))
    second = list(model.upscale(frames))  # a new video starts from a fresh state
    assert all(np.array_equal(a, b) for a, b in zip(first, second)) and model.training
    assert_frames_close(first, running_mean_reference(frames))


def test_stateful_segments_are_causal_and_short_at_the_end():
    model = RunningMean()
    frames = pan_frames(10, 8, 8)
    out = list(stream_upscale(model, frames, segment_length=4))
    assert model.steps == [4, 4, 2]  # back to back; the last segment is short, no frame runs twice
    assert_frames_close(out, running_mean_reference(frames))
    with pytest.raises(UserError) as err:
        stream_upscale(model, frames, segment_length=4, overlap=1)
    assert str(err.value).startswith("--overlap must be 0 for running_mean")


def test_stateful_tiles_keep_their_own_state():
    """Each tile reads only its own state: tiled output equals untiled, over several segments."""
    frames = pan_frames(9, 30, 41)
    whole = list(stream_upscale(RunningMean(scale=2), frames, segment_length=3))
    model = RunningMean(scale=2)
    tiled = list(stream_upscale(model, frames, segment_length=3, tile=12, tile_overlap=4))
    assert len(model.steps) == 3 * 4 * 5  # 3 segments x a 4 x 5 tile grid, one state per tile
    diff = np.stack(whole).astype(int) - np.stack(tiled)
    assert np.abs(diff).max() <= 1 and (diff != 0).mean() < 1e-3
    assert_frames_close(tiled, running_mean_reference(frames, scale=2))


def test_base_upscale_delegates_to_the_engine():
    frames, model = pan_frames(7, 8, 12), SegmentMean()
    assert all(np.array_equal(a, b) for a, b in zip(model.upscale(frames), stream_upscale(model, frames)))
    assert model.segment_length == 4  # default overlap 1: windows (0,4), (3,7)
    assert model.calls == 4


def test_tiled_stream_equals_untiled_for_a_per_pixel_model():
    frames, model = pan_frames(6, 30, 41), PerPixel(scale=3)
    whole = list(stream_upscale(model, frames, segment_length=3, overlap=1))
    tiled = list(stream_upscale(model, frames, segment_length=3, overlap=1, tile=11, tile_overlap=4))
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
        (
            {"segment_length": 4, "overlap": 4},
            "--overlap must be between 0 and --segment-length - 1 (3) frames, got 4",
        ),
        ({"segment_length": 0}, "--segment-length must be at least 1 frame, got 0"),
        ({"precision": "int8"}, "unknown precision 'int8'; valid: fp32, bf16, fp16"),
        ({"tile": "big"}, "--tile must be a number of LR pixels or 'auto', got 'big'"),
        (
            {"tile": 4},
            "--tile 4 is too small for perpixel: it needs at least 8 LR pixels and more than --tile-overlap (2)",
        ),
        ({"tile": 16, "tile_overlap": -1}, "--tile-overlap must be at least 0 LR pixels, got -1"),
        ({"overlap": -1}, "--overlap must be between 0 and --segment-length - 1 (0) frames, got -1"),
    ],
)
def test_bad_options_are_user_errors(kwargs, message):
    with pytest.raises(UserError) as err:
        stream_upscale(PerPixel(), pan_frames(2, 8, 8), **{"tile_overlap": 2, **kwargs})  # before any frame
    assert str(err.value) == message


def test_tile_must_be_a_multiple_of_the_size_multiple():
    with pytest.raises(UserError) as err:
        stream_upscale(SegmentMean(size_multiple=4), pan_frames(2, 8, 8), tile=18, tile_overlap=4)
    assert str(err.value) == "--tile 18 is not a multiple of 4 LR pixels, which segment_mean needs"


def test_bf16_autocast_runs_on_cpu():
    frames = pan_frames(2, 16, 16)
    fp32 = list(stream_upscale(PerPixel(), frames))
    bf16 = list(stream_upscale(PerPixel(), frames, precision="bf16"))
    diff = max(np.abs(a.astype(int) - b.astype(int)).max() for a, b in zip(fp32, bf16))
    assert diff <= 3  # bf16 keeps 8 mantissa bits: about one grey level of 255
