import pytest
import torch

from vsrzoo.blocks import AttentionMemoryCache
from vsrzoo.errors import UserError


def make_cache(**kwargs):
    torch.manual_seed(0)
    return AttentionMemoryCache(16, 2, num_tokens=6, **kwargs)


def test_cache_size_is_constant_over_100_updates():
    amc = make_cache()
    cache = None
    with torch.no_grad():
        for i in range(100):
            cache = amc.update(torch.randn(2, 3 + i % 4, 5, 4, 16), cache)  # segments of varying length
            assert cache.shape == (2, 6, 16)
    assert torch.isfinite(cache).all()


def test_the_cache_is_a_value_not_module_state():
    amc = make_cache()
    keys = set(amc.state_dict())
    before = {k: v.clone() for k, v in amc.state_dict().items()}
    cache = amc.update(torch.randn(1, 8, 4, 4, 16), None)
    assert set(amc.state_dict()) == keys and all(
        torch.equal(before[k], v) for k, v in amc.state_dict().items()
    )
    assert not any(isinstance(b, torch.Tensor) and b.shape == cache.shape for b in amc.buffers())
    q = torch.randn(1, 8, 4, 4, 16)
    assert torch.equal(amc.read(q, None), torch.zeros_like(q))  # empty cache: nothing to read
    assert amc.read(q, cache).abs().sum() > 0


def test_read_gate_starts_open_and_scales_the_readout():
    amc = make_cache()
    cache = amc.update(torch.randn(2, 4, 3, 3, 16), None)
    q = torch.randn(2, 4, 3, 3, 16)
    assert torch.allclose(torch.tanh(amc.read_gate), torch.full((16,), float(torch.tanh(torch.tensor(0.5)))))
    out = amc.read(q, cache)
    assert out.shape == q.shape and out.abs().sum() > 0
    with torch.no_grad():
        amc.read_gate.zero_()
    assert torch.equal(amc.read(q, cache), torch.zeros_like(q))
    assert torch.equal(make_cache(read_gate_init=0.0).read_gate, torch.zeros(16))


def test_update_gate_blends_and_gradients_reach_the_summary():
    amc = make_cache()
    first = torch.randn(1, 4, 3, 3, 16)
    old = amc.update(first, None).detach()
    second = torch.randn(1, 4, 3, 3, 16)
    summary = amc.summarize(second.flatten(1, -2)).detach()
    cache = amc.update(second, old)
    lo, hi = torch.minimum(old, summary), torch.maximum(old, summary)
    assert ((cache >= lo - 1e-6) & (cache <= hi + 1e-6)).all()  # convex blend
    amc.read(torch.randn(1, 4, 3, 3, 16), cache).square().sum().backward()
    assert amc.update_gate.weight.grad.abs().sum() > 0
    assert amc.summary_queries.grad.abs().sum() > 0
    assert amc.read_gate.grad.abs().sum() > 0


def test_batch_mismatch_is_a_user_error():
    amc = make_cache()
    cache = amc.update(torch.randn(2, 2, 2, 2, 16), None)
    with pytest.raises(UserError, match="own cache"):
        amc.read(torch.randn(1, 2, 2, 2, 16), cache)
