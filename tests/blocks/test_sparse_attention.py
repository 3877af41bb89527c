import pytest
import torch
import torch.nn.functional as F

from vsrzoo.blocks import SparseLocalAttention, interleaved_temporal_windows, sparse_local_attention
from vsrzoo.blocks.sparse_attention import select_blocks
from vsrzoo.errors import UserError


def brute_force_mask(q, k, grid, block, top_k, frame_units=None, scope="unit"):
    """Dense boolean mask (B, heads, N, N) of block-sparse attention, built token by token.

    ``scope='unit'``: own block + top-k of its temporal unit; ``'clip'``: the own 2-D block in
    every frame of its unit + top-k of all other blocks of the clip.
    """
    b, nh, n, _ = q.shape
    t, h, w = grid
    bh, bw = block
    gh, gw = -(-h // bh), -(-w // bw)
    block_of = torch.empty(n, dtype=torch.long)
    for f in range(t):
        for y in range(h):
            for x in range(w):
                block_of[(f * h + y) * w + x] = (f * gh + y // bh) * gw + x // bw
    num_blocks = t * gh * gw
    unit = None if frame_units is None else [int(frame_units[i // (gh * gw)]) for i in range(num_blocks)]
    mask = torch.zeros(b, nh, n, n, dtype=torch.bool)
    for bi in range(b):
        for hi in range(nh):
            qm = torch.stack([q[bi, hi, block_of == j].mean(0) for j in range(num_blocks)])
            km = torch.stack([k[bi, hi, block_of == j].mean(0) for j in range(num_blocks)])
            scores = qm @ km.T
            per_frame = gh * gw
            for i in range(num_blocks):
                same_unit = [j for j in range(num_blocks) if unit is None or unit[j] == unit[i]]
                if scope == "unit":
                    local = [i]
                    others = [j for j in same_unit if j != i]
                else:
                    local = [j for j in same_unit if j % per_frame == i % per_frame] if unit else [i]
                    others = [j for j in range(num_blocks) if j not in local]
                chosen = sorted(others, key=lambda j: -scores[i, j].item())[:top_k]
                for j in [*local, *chosen]:
                    mask[bi, hi][(block_of == i)[:, None] & (block_of == j)[None, :]] = True
    return mask


@pytest.mark.parametrize(
    "grid, block, top_k",
    [((3, 10, 14), (4, 5), 2), ((2, 9, 12), (9, 12), 1), ((4, 7, 5), (3, 3), 1)],
)
def test_equals_dense_attention_under_the_equivalent_mask(grid, block, top_k):
    torch.manual_seed(0)
    n = grid[0] * grid[1] * grid[2]
    q, k, v = (torch.randn(2, 2, n, 8) for _ in range(3))
    out = sparse_local_attention(q, k, v, grid, block, top_k)
    mask = brute_force_mask(q, k, grid, block, top_k)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


def test_equals_dense_attention_within_shifted_temporal_units():
    torch.manual_seed(1)
    grid, block = (5, 6, 7), (3, 4)
    n = 5 * 6 * 7
    q, k, v = (torch.randn(1, 2, n, 8) for _ in range(3))
    units = interleaved_temporal_windows(5, 3, shifted=True)
    out = sparse_local_attention(q, k, v, grid, block, top_k=3, frame_units=units, topk_scope="unit")
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=brute_force_mask(q, k, grid, block, 3, units))
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("shifted, top_k", [(True, 3), (False, 1)])
def test_clip_scope_equals_dense_attention_under_its_mask(shifted, top_k):
    torch.manual_seed(4)
    grid, block = (6, 6, 7), (3, 4)
    n = 6 * 6 * 7
    q, k, v = (torch.randn(2, 2, n, 8) for _ in range(3))
    units = interleaved_temporal_windows(6, 4, shifted=shifted)
    out = sparse_local_attention(q, k, v, grid, block, top_k=top_k, frame_units=units, topk_scope="clip")
    mask = brute_force_mask(q, k, grid, block, top_k, units, scope="clip")
    torch.testing.assert_close(
        out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), atol=1e-5, rtol=1e-5
    )


def test_clip_scope_picks_a_future_frame_block_outside_the_unit():
    """Paper: top-k "across the entire video, including future frames"; 'unit' cannot see it."""
    torch.manual_seed(5)
    grid, block = (4, 4, 4), (4, 4)  # one block per frame
    n = 4 * 16
    q, k, v = (torch.randn(1, 1, n, 8) * 0.1 for _ in range(3))
    q[..., :16, :] += 3.0  # frame 0 queries ...
    k[..., 48:, :] += 3.0  # ... match frame 3's keys (a future frame in another unit)
    v[..., 48:, :] = 10.0
    units = interleaved_temporal_windows(4, 2)  # units {0, 1}, {2, 3}
    qb = q.reshape(1, 1, 4, 16, 8)
    kb = k.reshape(1, 1, 4, 16, 8)
    valid = torch.ones(4, 16, dtype=torch.bool)
    clip_pick, _ = select_blocks(qb, kb, valid, 1, allowed=~torch.eye(4, dtype=torch.bool))
    assert clip_pick[0, 0, 0].item() == 3
    clip = sparse_local_attention(q, k, v, grid, block, 1, units, topk_scope="clip")
    unit = sparse_local_attention(q, k, v, grid, block, 1, units, topk_scope="unit")
    assert clip[..., :16, :].mean() > 5.0  # frame 0 reads the future frame's values
    assert unit[..., :16, :].abs().mean() < 1.0  # limited to its unit {0, 1}
    q.requires_grad_(True)
    v.requires_grad_(True)
    sparse_local_attention(q, k, v, grid, block, 1, units, topk_scope="clip")[..., :16, :].sum().backward()
    assert v.grad[..., 48:, :].abs().sum() > 0  # the picked future block receives gradient


def test_unknown_topk_scope_is_a_user_error():
    q = torch.randn(1, 1, 16, 8)
    with pytest.raises(UserError, match="topk_scope"):
        sparse_local_attention(q, q, q, (1, 4, 4), (2, 2), 1, topk_scope="video")


def test_top_k_of_all_blocks_is_full_attention():
    torch.manual_seed(2)
    grid, block = (2, 11, 13), (4, 6)
    n = 2 * 11 * 13
    num_blocks = 2 * 3 * 3
    q, k, v = (torch.randn(2, 3, n, 8) for _ in range(3))
    out = sparse_local_attention(q, k, v, grid, block, top_k=num_blocks)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v), atol=1e-5, rtol=1e-5)


def test_interleaved_temporal_windows():
    assert interleaved_temporal_windows(12, 5).tolist() == [0] * 5 + [1] * 5 + [2] * 2
    assert interleaved_temporal_windows(12, 5, shifted=True).tolist() == [0] * 3 + [1] * 5 + [2] * 4


def test_module_switches_between_sparse_and_dense():
    torch.manual_seed(3)
    grid = (2, 6, 8)
    x = torch.randn(2, 96, 32)
    attn = SparseLocalAttention(32, 4, block_size=(3, 4), top_k=1, qk_norm=True)
    sparse = attn(x, grid)
    attn.sparse = False
    dense = attn(x, grid)
    assert sparse.shape == dense.shape == x.shape
    assert not torch.allclose(sparse, dense)
    attn.sparse, attn.top_k = True, 8  # every block: the sparse path equals the dense one
    torch.testing.assert_close(attn(x, grid), dense, atol=1e-5, rtol=1e-5)
    windowed = SparseLocalAttention(
        32, 4, block_size=(3, 4), top_k=8, temporal_window=1, sparse=True, topk_scope="unit"
    )
    windowed.load_state_dict(attn.state_dict(), strict=False)
    windowed.sparse = False
    dense_windowed = windowed(x, grid)
    windowed.sparse = True
    torch.testing.assert_close(windowed(x, grid), dense_windowed, atol=1e-5, rtol=1e-5)


def test_rope_hook_is_applied_to_queries_and_keys():
    torch.manual_seed(4)
    attn = SparseLocalAttention(16, 2, block_size=(2, 2))
    x = torch.randn(1, 2 * 4 * 4, 16)
    calls = []

    def rope(t):
        calls.append(t.shape)
        return t * torch.linspace(0.5, 2.0, t.shape[2])[:, None]  # position-dependent

    assert not torch.allclose(attn(x, (2, 4, 4), rope=rope), attn(x, (2, 4, 4)))
    assert calls == [(1, 2, 32, 8), (1, 2, 32, 8)]
