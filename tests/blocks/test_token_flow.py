import pytest
import torch
from torch import nn

from vsrzoo.blocks import AttentionMemoryCache, TokenFlowAttention
from vsrzoo.errors import UserError


def make_block(dim=16, heads=2):
    torch.manual_seed(0)
    return TokenFlowAttention(dim, heads, flow_hidden=8)


def open_output(block):
    """Give the zero-initialised layers values, as after some training."""
    with torch.no_grad():
        block.out_proj.weight.normal_(0, 0.1)
        block.flow_net[-1].weight.normal_(0, 0.05)


def test_contribution_is_exactly_zero_at_init():
    block = make_block()
    spatial = nn.Linear(16, 16)  # stands in for a pretrained image block
    x = torch.randn(2, 4, 5, 6, 16)
    prior = spatial(x)
    lifted = prior + block(prior)
    assert torch.equal(lifted, prior)
    assert torch.equal(block(x, ref_index=1), torch.zeros(2, 5, 6, 16))


def test_output_shapes_and_reference_choice():
    block = make_block()
    open_output(block)
    x = torch.randn(1, 3, 4, 5, 16)
    assert block(x).shape == (1, 3, 4, 5, 16)
    assert block(x, ref_index=2).shape == (1, 4, 5, 16)
    both = block(x, ref_index=[0, 2])
    torch.testing.assert_close(both[:, 1], block(x, ref_index=2), atol=1e-5, rtol=1e-5)
    assert block.predict_flow(*[torch.randn(1, 2, 4, 5, 2, 8), torch.randn(1, 3, 4, 5, 2, 8)]).shape == (
        1,
        2,
        3,
        2,
        2,
        4,
        5,
    )
    with pytest.raises(UserError):
        block(x, ref_index=3)


def test_true_token_flow_aligns_keys_and_values_to_the_reference():
    block = make_block()
    ref, shifts = 1, [(1, -2), (0, 0), (-1, 1), (2, 3)]  # (dy, dx) of each frame relative to the reference
    base = torch.randn(2, 10, 12, 16)
    x = torch.stack([torch.roll(base, s, dims=(1, 2)) for s in shifts], dim=1)
    flow = torch.zeros(2, 1, 4, 2, 10, 12)
    for t, (dy, dx) in enumerate(shifts):
        flow[:, 0, t, 0], flow[:, 0, t, 1] = dx, dy
    q, k, v, _ = block.align(x, ref, flow)
    _, k_ref, v_ref, _ = block.align(x, ref, torch.zeros_like(flow))
    for t, (dy, dx) in enumerate(shifts):
        ys = slice(max(0, -dy), 10 - max(0, dy))
        xs = slice(max(0, -dx), 12 - max(0, dx))
        for aligned, reference in ((k, k_ref), (v, v_ref)):
            got = aligned[:, 0, t, :, :, ys, xs]
            want = reference[:, 0, ref, :, :, ys, xs]
            torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    # with zero flow the shifted frames do not line up
    assert (k_ref[:, 0, 0] - k_ref[:, 0, ref]).abs().mean() > 0.1


def test_each_head_uses_its_own_flow():
    block = make_block()
    x = torch.randn(1, 2, 6, 6, 16)
    flow = torch.zeros(1, 1, 2, 2, 2, 6, 6)
    flow[:, :, 1, 1, 0] = 1.0  # only head 1 of frame 1 moves
    _, k, _, _ = block.align(x, 0, flow)
    _, k0, _, _ = block.align(x, 0, torch.zeros_like(flow))
    torch.testing.assert_close(k[:, :, :, 0], k0[:, :, :, 0])
    assert not torch.allclose(k[:, 0, 1, 1], k0[:, 0, 1, 1])


def test_gradients_reach_the_flow_network():
    block = make_block()
    open_output(block)
    x = torch.randn(1, 3, 6, 7, 16)
    block(x).square().mean().backward()
    for layer in (block.flow_q, block.flow_k, block.flow_net[1], block.flow_net[-1]):
        assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0


def test_memory_read_is_fused_after_attention_and_ffn():
    block = make_block()
    memory = AttentionMemoryCache(16, 2, num_tokens=4)
    x = torch.randn(1, 3, 4, 4, 16)
    cache = memory.update(x, None)
    assert torch.equal(block(x, memory=memory, cache=cache), block(x))  # zero output linear at init
    assert torch.equal(block(x, memory=memory, cache=None), block(x))  # empty cache: nothing read
    open_output(block)
    assert not torch.allclose(block(x, memory=memory, cache=cache), block(x))  # read gate starts open
    with torch.no_grad():
        memory.read_gate.zero_()
    assert torch.equal(block(x, memory=memory, cache=cache), block(x))


def test_memory_read_bypasses_the_ffn():
    """The paper's figure fuses the AMC read with the output of "Temporal Attention & FFN": the
    read reaches the output through the output linear only, so its effect is exactly
    ``out_proj.weight @ read`` whatever the FFN does."""
    block = make_block()
    memory = AttentionMemoryCache(16, 2, num_tokens=4)
    x = torch.randn(1, 3, 4, 4, 16)
    cache = memory.update(x, None)
    open_output(block)
    with torch.no_grad():
        block.ffn.fc2.weight.normal_(0, 0.5)  # a strongly non-linear FFN
    read = memory.read(x, cache)
    delta = block(x, memory=memory, cache=cache) - block(x)
    torch.testing.assert_close(delta, read @ block.out_proj.weight.T, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("bias", [True, False])
def test_keys_values_are_the_key_and_value_projections_head_by_head(bias):
    """keys_values writes each head's keys then its values channels-first: the same numbers as
    to_k / to_v applied channels-last (issue 29 moved the projection, not its values)."""
    torch.manual_seed(0)
    block = TokenFlowAttention(16, 2, flow_hidden=8, qkv_bias=bias)
    if bias:
        with torch.no_grad():
            block.to_k.bias.normal_()
            block.to_v.bias.normal_()
    x = torch.randn(2, 3, 4, 5, 16)
    kv = block.keys_values(x)  # (B, T, h, 2d, H, W)
    assert kv.shape == (2, 3, 2, 16, 4, 5)
    k = block.to_k(x).unflatten(-1, (2, 8)).permute(0, 1, 4, 5, 2, 3)
    v = block.to_v(x).unflatten(-1, (2, 8)).permute(0, 1, 4, 5, 2, 3)
    torch.testing.assert_close(kv[:, :, :, :8], k, rtol=0, atol=1e-6)
    torch.testing.assert_close(kv[:, :, :, 8:], v, rtol=0, atol=1e-6)


def test_temporal_attention_equals_softmax_attention_per_token():
    """The dot-product-and-weighted-sum form is softmax(q.k / sqrt(d)) v of SDPA, problem by problem."""
    torch.manual_seed(1)
    b, r, t, nh, d, h, w = 2, 3, 4, 2, 8, 5, 6
    q = torch.randn(b, r, h, w, nh, d, requires_grad=True)
    k = torch.randn(b, r, t, nh, d, h, w)
    v = torch.randn(b, r, t, nh, d, h, w, requires_grad=True)
    out = TokenFlowAttention.temporal_attention(q, k, v)  # (B, R, C, H, W)
    keys, values = (z.permute(0, 1, 5, 6, 3, 2, 4).reshape(-1, 1, t, d) for z in (k, v))
    reference = torch.nn.functional.scaled_dot_product_attention(q.reshape(-1, 1, 1, d), keys, values)
    reference = reference.view(b, r, h, w, nh * d).permute(0, 1, 4, 2, 3)
    torch.testing.assert_close(out, reference, rtol=0, atol=1e-5)
    out.square().sum().backward()
    assert q.grad.abs().sum() > 0 and v.grad.abs().sum() > 0


def test_frames_at_copies_only_a_subset():
    x = torch.randn(1, 3, 2, 2, 4)
    assert TokenFlowAttention.frames_at(x, [0, 1, 2]) is x
    sub = TokenFlowAttention.frames_at(x, [2, 0])
    assert torch.equal(sub, x[:, [2, 0]]) and sub.data_ptr() != x.data_ptr()


def test_attend_head_by_head_equals_all_heads_at_once():
    """attend aligns and attends one head at a time (bounded memory, issue 29): the same numbers as
    the all-heads align path, and gradients still reach the flow network and the projections."""
    block = make_block(dim=16, heads=2)
    open_output(block)
    x = torch.randn(2, 3, 5, 6, 16, requires_grad=True)
    q, k, v, _ = block.align(x)
    out = TokenFlowAttention.temporal_attention(q, k, v).permute(0, 1, 3, 4, 2)  # (B, R, H, W, C)
    reference = x + block.attn_proj(out)
    got = block.attend(x)
    torch.testing.assert_close(got, reference, rtol=0, atol=1e-6)
    got.square().sum().backward()
    for layer in (block.flow_net[-1], block.to_k, block.to_v, block.to_q, block.attn_proj):
        assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0
