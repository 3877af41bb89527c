"""Spatial tiling: coverage, feathered blending, seams, auto tile size."""

from __future__ import annotations

import pytest
import torch
from inference_helpers import BicubicBlur, PerPixel, SegmentMean

from vsrzoo.errors import UserError
from vsrzoo.inference.tiling import (
    Tiler,
    choose_tile,
    feather,
    parse_memory,
    probe_bytes_per_pixel,
    tile_spans,
    tiled_forward,
)


def lr_segment(frames, t=2):
    stack = torch.stack([torch.from_numpy(f) for f in frames[:t]]).permute(0, 3, 1, 2)
    return (stack.float() / 255).unsqueeze(0)


def untiled(model, lr):
    with torch.no_grad():
        return model(lr)


@pytest.mark.parametrize(
    "length,tile,overlap", [(29, 8, 3), (37, 13, 0), (16, 16, 4), (10, 32, 8), (50, 17, 8)]
)
def test_spans_cover_the_frame_and_end_flush(length, tile, overlap):
    spans = tile_spans(length, tile, overlap)
    assert spans[0][0] == 0 and spans[-1][1] == length
    assert all(b - a == min(tile, length) for a, b in spans)
    assert all(nxt[0] <= cur[1] - overlap for cur, nxt in zip(spans, spans[1:]))


def test_bad_tile_overlap_is_a_user_error():
    with pytest.raises(UserError) as err:
        tile_spans(40, 8, 8)
    assert str(err.value) == "tile overlap 8 must be at least 0 and smaller than the tile (8)"


def test_feathers_sum_to_one_between_regular_neighbours():
    spans = tile_spans(40, 16, 6)  # starts 0, 10, 20, 24: regular and end-aligned overlaps
    total = torch.zeros(4 * 40)
    for i, (start, _) in enumerate(spans):
        w = feather(spans, i, 4)
        total[4 * start : 4 * start + len(w)] += w
    assert torch.allclose(total[: 4 * 20], torch.ones(80), atol=1e-3)  # regular overlaps: a partition of one
    assert total.min() > 0.5  # the end-aligned tile overlaps more, normalisation covers it


@pytest.mark.parametrize("tile,overlap", [(8, 0), (13, 4), (17, 8), (100, 16)])
def test_per_pixel_model_tiled_equals_untiled(frames, tile, overlap):
    model, lr = PerPixel(), lr_segment(frames)
    out = tiled_forward(model, lr, tile=tile, overlap=overlap)
    assert out.shape == (1, 2, 3, 128, 192)
    assert (out - untiled(model, lr)).abs().max() <= 1e-5


def test_receptive_field_model_has_no_seams_with_overlap(frames):
    model, lr = BicubicBlur(), lr_segment(frames)
    ref = untiled(model, lr)
    blended = tiled_forward(model, lr, tile=24, overlap=12)
    assert (blended - ref).abs().max() <= 1e-4
    # without overlap the tile edges show: this is what the feathering removes
    seams = tiled_forward(model, lr, tile=24, overlap=0)
    assert (seams - ref).abs().max() > 1e-2


def test_tiles_are_padded_to_the_model_size_multiple(frames):
    model, lr = SegmentMean(size_multiple=8), lr_segment(frames, t=3)
    from vsrzoo.inference.streaming import tile_forward

    crop = (lr[0, :, :, :13, :11] * 255).round().to(torch.uint8)
    out = tile_forward(model)(crop)
    assert out.shape == (3, 3, 52, 44)
    with pytest.raises(ValueError):  # the model itself refuses 13x11
        model(lr[:, :, :, :13, :11])


def test_sink_receives_each_output_pixel_exactly_once():
    tiler = Tiler(29, 37, 2, tile=10, overlap=4)
    hits = torch.zeros(58, 74, dtype=torch.int32)

    def sink(r0, r1, c0, c1, block):
        assert block.shape == (1, 3, r1 - r0, c1 - c0)
        hits[r0:r1, c0:c1] += 1

    tiler.run(
        lambda crop, key: torch.ones(1, 3, 2 * crop.shape[-2], 2 * crop.shape[-1]),
        torch.zeros(1, 3, 29, 37),
        sink,
    )
    assert (hits == 1).all()


@pytest.mark.parametrize(
    "text,expected", [("8GB", 8 * 2**30), ("512MiB", 512 * 2**20), ("1.5g", int(1.5 * 2**30)), ("1000", 1000)]
)
def test_parse_memory(text, expected):
    assert parse_memory(text) == expected


def test_parse_memory_rejects_nonsense():
    with pytest.raises(UserError) as err:
        parse_memory("lots")
    assert str(err.value) == "cannot read memory size 'lots'; write it like 8GB, 512MB or 2.5G"


def test_choose_tile_is_the_largest_that_fits():
    kwargs = dict(
        height=2000, width=3000, scale=4, frames=2, fixed=50e6, per_pixel=20e3, buffers=300e6, overlap=16
    )
    budget = 2 * 2**30
    tile = choose_tile(budget=budget, **kwargs)

    def need(t):
        per_pixel = max(20e3, 3 * 16 * 4) + 2 * 3 * 16 * 4
        return 1.25 * (300e6 + 50e6) + 1.25 * 2 * per_pixel * t * t

    assert tile % 8 == 0 and need(tile) <= budget < need(tile + 8)
    assert choose_tile(budget=400 * 2**30, **kwargs) is None  # the whole 3000x2000 frame fits


def test_choose_tile_refuses_a_budget_too_small():
    with pytest.raises(UserError) as err:
        choose_tile(400, 600, 4, 1, 100 * 2**20, 0, 1e6, 90 * 2**20, 16)
    assert str(err.value) == (
        "--max-memory 100.0MB is too small for 600x400 frames (about 2.0GB needed with the smallest tile, "
        "40 px); raise --max-memory or lower --segment-length"
    )


def test_probe_measures_the_model_memory():
    from vsrzoo.inference.streaming import tile_forward

    fixed, per_pixel = probe_bytes_per_pixel(tile_forward(BicubicBlur()), 1, torch.device("cpu"))
    # at least the float64 x4 output (16 * 3 * 8 bytes per LR pixel), at most a few copies more
    assert 384 <= per_pixel <= 20 * 384
