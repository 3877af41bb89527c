"""DOVER (vsrzoo.metrics.dover): the official checkpoint layout loads strictly, one-line errors
without or with wrong weights, the reference's view sampling, and the three scores on real photos."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from dover_weights import SMALL_NET, SMALL_SPEC, write_dover
from metric_helpers import photo

from vsrzoo.errors import MissingWeightsError, UserError
from vsrzoo.metrics.dover import DOVER, DOVER_FILE, ClipViews, DOVERScores, ViewSpec, segment_indices


def clip(n: int = 6, size=(80, 96)) -> list[np.ndarray]:
    """A real photo panned by 3 px per frame."""
    return [photo("astronaut", size, (3 * t, 2 * t)) for t in range(n)]


def test_missing_weights_one_line(torch_home):
    with pytest.raises(MissingWeightsError) as info:
        DOVER()
    msg = str(info.value)
    assert msg.startswith("dover needs the weight file DOVER.pth") and "\n" not in msg
    assert str(torch_home / "hub" / "checkpoints") in msg
    assert "https://github.com/QualityAssessment/DOVER/releases/download/v0.1.0/DOVER.pth" in msg
    assert not torch_home.exists()  # nothing fetched or created


@pytest.mark.slow
def test_official_layout_loads_strictly(torch_home):
    """The official sizes: DOVER.pth's 381 tensors, named and shaped as the reference builds them
    (GRPB tables in stages 0-2 only, the index buffers, the 1-3-1 temporal kernels, 768-channel heads)."""
    state = write_dover(net=None)
    assert len(state) == 381
    shapes = {
        "technical_backbone.patch_embed.proj.weight": (96, 3, 2, 4, 4),
        "technical_backbone.layers.0.blocks.1.attn.fragment_position_bias_table": (15 * 13 * 13, 3),
        "technical_backbone.layers.2.blocks.5.attn.relative_position_bias_table": (15 * 13 * 13, 12),
        "technical_backbone.layers.3.blocks.1.attn.relative_position_index": (392, 392),
        "technical_backbone.layers.2.downsample.reduction.weight": (768, 1536),
        "technical_backbone.layers.0.blocks.0.mlp.fc1.weight": (384, 96),
        "technical_backbone.norm.weight": (768,),
        "aesthetic_backbone.downsample_layers.0.0.weight": (96, 3, 2, 4, 4),
        "aesthetic_backbone.downsample_layers.3.1.weight": (768, 384, 1, 2, 2),
        "aesthetic_backbone.stages.2.0.dwconv.weight": (384, 1, 1, 7, 7),
        "aesthetic_backbone.stages.2.1.dwconv.weight": (384, 1, 3, 7, 7),
        "aesthetic_backbone.stages.3.2.gamma": (768,),
        "technical_head.fc_hid.weight": (64, 768, 1, 1, 1),
        "aesthetic_head.fc_last.weight": (1, 64, 1, 1, 1),
    }
    assert {k: tuple(state[k].shape) for k in shapes} == shapes
    assert not any(k.startswith("technical_backbone.layers.3.") and "fragment" in k for k in state)
    metric = DOVER(spec=SMALL_SPEC)  # strict load of the full network
    loaded = metric.net.state_dict()
    assert set(loaded) == set(state) and all(torch.equal(loaded[k], state[k]) for k in state)
    scores = metric(clip(4, (64, 64)))
    assert all(0 <= v <= 100 for v in scores.as_metrics().values())  # random 768-wide heads saturate


def test_wrong_weights_one_line(torch_home):
    state = write_dover()
    state.pop("technical_head.fc_last.bias")
    torch.save(state, DOVER_FILE.path)
    with pytest.raises(
        MissingWeightsError, match=r"DOVER.pth does not match the network \(e.g\. technical_head"
    ):
        DOVER(spec=SMALL_SPEC, net=SMALL_NET)


def test_three_scores_on_real_frames(torch_home):
    write_dover()
    metric = DOVER(spec=SMALL_SPEC, net=SMALL_NET)
    frames = clip()
    s = metric(frames)
    out = s.as_metrics()
    assert list(out) == ["dover", "dover_technical", "dover_aesthetic"]
    assert all(0 < v < 100 for v in out.values())
    # overall = sigmoid of a convex mix of the standardised branch scores: between the two
    assert min(s.technical, s.aesthetic) <= s.overall <= max(s.technical, s.aesthetic)
    assert s == DOVERScores.from_raw(s.raw_technical, s.raw_aesthetic)
    assert metric(frames) == s  # seeded sampling: the same clip, the same scores
    flat = metric([np.full_like(f, 128) for f in frames])
    assert flat.raw_technical != s.raw_technical and flat.raw_aesthetic != s.raw_aesthetic
    assert not any(p.requires_grad for p in metric.parameters())


def test_fusion_constants():
    """evaluate_a_set_of_videos.py: raw scores at the branch means give 50 everywhere; one
    standard deviation up on the technical branch alone gives sigmoid(1) and sigmoid(0.6104)."""
    mid = DOVERScores.from_raw(0.1107, -0.08285)
    assert (mid.overall, mid.technical, mid.aesthetic) == pytest.approx((50, 50, 50))
    up = DOVERScores.from_raw(0.1107 + 0.07355, -0.08285)
    sig = lambda v: 100 / (1 + np.exp(-v))  # noqa: E731
    assert (up.overall, up.technical, up.aesthetic) == pytest.approx((sig(0.6104), sig(1), 50))


def test_temporal_sampling_as_reference():
    rng = np.random.default_rng(0)
    # short clip: segments start at i * (n // 3), 32 frames 2 apart, wrapped
    idx = segment_indices(10, 32, 3, 2, rng)
    expected = np.concatenate([(s + 2 * np.arange(32)) % 10 for s in (0, 3, 6)])
    assert np.array_equal(idx, expected)
    # long clip: each run starts inside its span with room for 32 frames
    idx = segment_indices(600, 32, 3, 2, rng).reshape(3, 32)
    starts = idx[:, 0]
    assert all(200 * i <= s < 200 * i + 200 - 64 for i, s in enumerate(starts))
    assert (np.diff(idx, axis=1) == 2).all()
    aes = segment_indices(64, 1, 32, 2, rng)  # 32 frames, one per 2-frame span (no room: offset 0)
    assert np.array_equal(aes, np.arange(0, 64, 2))


def coords_frame(h: int, w: int) -> np.ndarray:
    """R, G: row and column mod 256, B: row // 256 * 16 + column // 256."""
    y, x = np.mgrid[:h, :w]
    return np.stack([y % 256, x % 256, y // 256 * 16 + x // 256], -1).astype(np.uint8)


def decode(view: torch.Tensor, i: int, j: int, fs: int) -> tuple[int, int]:
    r, g, b = (int(v) for v in view[:, i * fs, j * fs])
    return b // 16 * 256 + r, b % 16 * 256 + g


def test_fragments_as_reference():
    spec = ViewSpec()
    # a 224x224 frame is its own fragment view
    views = ClipViews(spec, 1)
    frame = coords_frame(224, 224)
    views.add(0, frame)
    assert torch.equal(views.technical[0], torch.from_numpy(frame).permute(2, 0, 1).float())
    # 448x560: each 32x32 fragment is a contiguous crop inside its grid cell, the same for all
    # frames of a segment
    views = ClipViews(spec, 3)
    for t in range(3):
        views.add(t, coords_frame(448, 560))
    first = views.technical[0]
    for i in range(7):
        for j in range(7):
            y, x = decode(first, i, j, 32)
            assert 64 * i <= y <= 64 * i + 32 and 80 * j <= x <= 80 * j + 48
            assert decode(first, i, j, 32) == (y, x)
            assert first[0, i * 32 + 31, j * 32 + 31] == (y + 31) % 256
    assert torch.equal(views.technical[1], first)  # positions 0, 1: same segment
    tech, aes = views.views()
    assert tech.shape == (3, 3, 32, 224, 224) and aes.shape == (1, 3, 32, 224, 224)


def test_small_frames_upsampled_and_sizes_checked():
    views = ClipViews(ViewSpec(), 2)
    views.add(0, photo("astronaut", (100, 150)))  # short side 100 -> 224
    assert views.technical[0].shape == (3, 224, 224) and views.technical[0].std() > 10
    msg = r"dover: frames of one clip must share a size; frame 1 is 160x100, the first was 150x100"
    with pytest.raises(UserError, match=msg):
        views.add(1, photo("astronaut", (100, 160)))


def test_streaming_keeps_only_sampled_frames(torch_home):
    write_dover()
    metric = DOVER(spec=SMALL_SPEC, net=SMALL_NET)
    frames = clip(40, (64, 64))
    views = metric.clip(len(frames))
    for i, f in enumerate(frames):
        views.add(i, f)
    assert len(views.technical) == 8 and len(views.aesthetic) == 4  # 2x4 + 4 views, not 40 frames
    assert metric.score(views) == metric(frames)
    with pytest.raises(ValueError, match="sampled frames never added"):
        metric.score(metric.clip(40))
