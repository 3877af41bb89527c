import pytest
import torch

from vsrzoo.blocks import FlowMatchingAdapter
from vsrzoo.errors import UserError

TINY = dict(latent_channels=4, hidden=32, num_heads=4, depth=2, window=(1, 4, 4), num_blocks=3)


def make_adapter(**kwargs):
    torch.manual_seed(0)
    return FlowMatchingAdapter(**{**TINY, **kwargs})


@pytest.mark.parametrize("shape", [(3, 13, 11), (1, 9, 7), (5, 8, 8), (2, 1, 3)])
def test_odd_latent_sizes(shape):
    adapter = make_adapter()
    lr = torch.randn(2, 4, *shape)
    out = adapter(lr, torch.randn_like(lr), torch.tensor([0.9, 0.1]))
    grid = adapter.token_grid(lr.shape)
    assert grid == tuple(-(-s // p) for s, p in zip(shape, (1, 2, 2)))
    assert out.shape == (2, grid[0] * grid[1] * grid[2], 32)
    assert torch.isfinite(out).all()


def test_prototypes_are_tiled_window_locally_and_modulated_by_time():
    adapter = make_adapter()
    lr = torch.randn(1, 4, 1, 16, 16)  # token grid 8x8 = four 4x4 windows
    clean = torch.randn_like(lr)
    base = adapter(lr, clean, 0.5).view(8, 8, 32)
    changed = lr.clone()
    changed[..., :8, :8] += 1.0  # the top-left window only
    moved = adapter(changed, clean, 0.5).view(8, 8, 32)
    assert not torch.allclose(moved[:4, :4], base[:4, :4])
    torch.testing.assert_close(moved[4:], base[4:])
    torch.testing.assert_close(moved[:4, 4:], base[:4, 4:])
    assert not torch.allclose(adapter(lr, clean, 0.9), adapter(lr, clean, 0.1))
    # both streams are read
    assert not torch.allclose(adapter(lr, clean + 1.0, 0.5).view(8, 8, 32), base)


@pytest.mark.parametrize("rank", [None, 3])
def test_injection_is_zero_at_init_and_trainable(rank):
    adapter = make_adapter(injection_rank=rank)
    cond = torch.randn(2, 10, 32)
    for i in range(3):
        assert torch.equal(adapter.inject(i, cond), torch.zeros(2, 10, 32))
    adapter.inject(0, cond).sum().backward()
    last = adapter.injections[0].up if rank else adapter.injections[0]
    assert last.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("rank", [None, 1, 5])
def test_trainable_parameters_match_closed_form(rank):
    adapter = make_adapter(injection_rank=rank)
    count = adapter.expected_parameter_count()
    assert sum(p.numel() for p in adapter.parameters() if p.requires_grad) == count["total"]
    assert sum(p.numel() for p in adapter.injections.parameters()) == count["injection"]
    per_block = 32 * 32 + 32 if rank is None else 2 * 32 * rank
    assert count["injection"] == 3 * per_block


def test_full_size_matches_the_paper_on_meta():
    with torch.device("meta"):
        adapter = FlowMatchingAdapter()
    count = adapter.expected_parameter_count()
    assert sum(p.numel() for p in adapter.parameters()) == count["total"]
    assert count["injection"] == 30 * (3072 * 3072 + 3072)  # ~283M
    assert abs(count["total"] / 634e6 - 1) < 0.01
    backbone = 5.0e9  # Wan2.2 TI2V-5B
    assert abs(count["total"] / (backbone + count["total"]) - 0.1125) < 0.001


def test_mismatched_streams_are_a_user_error():
    adapter = make_adapter()
    with pytest.raises(UserError):
        adapter(torch.randn(1, 4, 2, 8, 8), torch.randn(1, 4, 2, 8, 6), 0.5)


def _adapter(window=(1, 2, 3)) -> FlowMatchingAdapter:
    torch.manual_seed(0)
    return FlowMatchingAdapter(
        latent_channels=4, hidden=16, num_heads=2, depth=1, window=window, num_blocks=1
    ).eval()


def test_tile_origins_put_crops_on_the_whole_frame_window_grid():
    """A crop given its origin conditions every token whose window lies inside it like the whole frame does."""
    adapter = _adapter()
    lr, clean = torch.randn(1, 4, 2, 20, 24), torch.randn(1, 4, 2, 20, 24)
    t = torch.tensor([0.4])
    with torch.no_grad():
        whole = adapter(lr, clean, t).view(1, 2, 10, 12, 16)
        y, x = 6, 4  # token origin (3, 2): not on a window border (window 2 x 3)
        crop = (slice(None), slice(None), slice(None), slice(y, y + 10), slice(x, x + 14))
        aligned = adapter(lr[crop], clean[crop], t, origin=[(y, x)]).view(1, 2, 5, 7, 16)
        local = adapter(lr[crop], clean[crop], t).view(1, 2, 5, 7, 16)
    # token rows 4..7 and columns 3..8 of the frame = windows entirely inside the crop
    inside = whole[:, :, 4:8, 3:9]
    torch.testing.assert_close(aligned[:, :, 1:5, 1:7], inside, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(local[:, :, 1:5, 1:7], inside, atol=1e-3)  # restarting the grid differs
    # a batch of crops with different origins, each aligned on its own
    both = torch.cat([lr[crop], lr[..., :10, :14]]), torch.cat([clean[crop], clean[..., :10, :14]])
    with torch.no_grad():
        out = adapter(*both, torch.tensor([0.4, 0.4]), origin=[(y, x), (0, 0)]).view(2, 2, 5, 7, 16)
    torch.testing.assert_close(out[:1], aligned, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out[1:, :, :4, :6], whole[:, :, :4, :6], atol=1e-5, rtol=1e-5)


def test_tile_origin_errors_and_gradients():
    adapter = _adapter().train()
    lr = torch.randn(2, 4, 1, 8, 8, requires_grad=True)
    with pytest.raises(UserError, match="one \\(row, col\\) per sample"):
        adapter(lr, lr, 0.5, origin=[(0, 2)])
    with pytest.raises(UserError, match="multiple of the patch"):
        adapter(lr, lr, 0.5, origin=[(1, 0), (0, 0)])
    out = adapter(lr, torch.randn(2, 4, 1, 8, 8), torch.tensor([0.3, 0.3]), origin=[(2, 4), (0, 2)])
    assert torch.isfinite(out).all()
    out.sum().backward()
    assert torch.isfinite(lr.grad).all() and lr.grad.abs().sum() > 0
    assert torch.isfinite(adapter.prototypes.grad).all()


@pytest.mark.parametrize("window", [(1, 1, 1), (2, 1, 1)])
def test_a_temporal_window_reads_the_other_frame_of_its_window(window):
    """With ``window=(2, 1, 1)`` (the tiny recipe's) a frame's condition reads the next frame's
    tokens at the same position, and learns from them; with one frame per window it cannot."""
    adapter = make_adapter(window=window)
    lr = torch.randn(1, 4, 2, 8, 8, requires_grad=True)
    clean = torch.randn_like(lr)
    out = adapter(lr, clean, 0.5).view(2, 16, 32)  # (frame, token, hidden)
    out[0].sum().backward()
    frame1_grad = lr.grad[:, :, 1].abs().sum()
    changed = lr.detach().clone()
    changed[:, :, 1] += 1.0
    moved = adapter(changed, clean, 0.5).view(2, 16, 32)
    if window[0] == 2:
        assert frame1_grad > 0 and not torch.allclose(moved[0], out[0].detach())
    else:
        assert frame1_grad == 0
        torch.testing.assert_close(moved[0], out[0].detach())
    single = adapter(lr.detach()[:, :, :1], clean[:, :, :1], 0.5)  # a cut window (odd frame count)
    assert single.shape == (1, 16, 32) and torch.isfinite(single).all()
