"""Every block runs under bf16 autocast and in float64 (device- and dtype-agnostic)."""

import pytest
import torch

from vsrzoo.blocks import (
    AttentionMemoryCache,
    FlowGuidedRegularizer,
    FlowMatchingAdapter,
    SparseLocalAttention,
    TokenFlowAttention,
)


def run_all():
    torch.manual_seed(0)
    dta = TokenFlowAttention(16, 2, flow_hidden=4)
    x = torch.randn(1, 3, 5, 6, 16)
    memory = AttentionMemoryCache(16, 2, num_tokens=4)
    cache = memory.update(x, None)
    adapter = FlowMatchingAdapter(latent_channels=4, hidden=16, num_heads=2, window=(1, 2, 2), num_blocks=2)
    lat = torch.randn(1, 4, 2, 5, 7)
    attn = SparseLocalAttention(16, 2, block_size=(2, 3), temporal_window=2, shifted=True)
    frames = torch.rand(1, 3, 3, 8, 8)
    flow = torch.randn(1, 2, 2, 8, 8)
    return [
        dta(x, memory=memory, cache=cache),
        adapter(lat, lat, 0.3),
        adapter.inject(1, torch.randn(1, 4, 16)),
        attn(torch.randn(1, 2 * 5 * 7, 16), (2, 5, 7)),
        FlowGuidedRegularizer()(frames, flow, -flow),
    ]


def test_bf16_autocast():
    with torch.autocast("cpu", dtype=torch.bfloat16):
        outputs = run_all()
    assert all(torch.isfinite(o.float()).all() for o in outputs)


@pytest.mark.parametrize("dtype", [torch.float64])
def test_float64(dtype):
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        outputs = run_all()
    finally:
        torch.set_default_dtype(previous)
    assert all(o.dtype == dtype and torch.isfinite(o).all() for o in outputs)
