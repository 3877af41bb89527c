import pytest
import torch

from vsrzoo.blocks import AttentionMemoryCache
from vsrzoo.errors import UserError


def make_cache(**kwargs):
    torch.manual_seed(0)
    return AttentionMemoryCache(16, 2, num_tokens=6, **kwargs)


def test_cache_size_is_constant_over_100_updates():
    cache = make_cache()
    with torch.no_grad():
        for i in range(100):
            cache.update(torch.randn(2, 3 + i % 4, 5, 4, 16))  # segments of varying length
            assert cache.cache.shape == (2, 6, 16)
    assert torch.isfinite(cache.cache).all()


def test_reset_empties_and_cache_stays_out_of_state_dict():
    cache = make_cache()
    cache.update(torch.randn(1, 8, 4, 4, 16))
    assert not cache.is_empty
    assert not any("cache" == k.split(".")[-1] for k in cache.state_dict())
    keys = set(cache.state_dict())
    cache.reset()
    assert cache.is_empty and cache.cache is None
    assert set(cache.state_dict()) == keys
    q = torch.randn(1, 8, 4, 4, 16)
    assert torch.equal(cache.read(q), q)


def test_gate_closed_gives_the_dta_output():
    cache = make_cache()
    cache.update(torch.randn(2, 4, 3, 3, 16))
    cache.update(torch.randn(2, 4, 3, 3, 16))
    dta_out = torch.randn(2, 4, 3, 3, 16)
    assert torch.equal(cache.read(dta_out), dta_out)  # read gate starts closed
    with torch.no_grad():
        cache.read_gate.fill_(0.5)
    fused = cache.read(dta_out)
    assert fused.shape == dta_out.shape and not torch.allclose(fused, dta_out)


def test_update_gate_blends_and_gradients_reach_the_summary():
    cache = make_cache()
    with torch.no_grad():
        cache.read_gate.fill_(0.5)
    first = torch.randn(1, 4, 3, 3, 16)
    cache.update(first)
    old = cache.cache.detach().clone()
    second = torch.randn(1, 4, 3, 3, 16)
    summary = cache.summarize(second.flatten(1, -2)).detach()
    cache.update(second)
    lo, hi = torch.minimum(old, summary), torch.maximum(old, summary)
    assert ((cache.cache >= lo - 1e-6) & (cache.cache <= hi + 1e-6)).all()  # convex blend
    cache.read(torch.randn(1, 4, 3, 3, 16)).square().sum().backward()
    assert cache.update_gate.weight.grad.abs().sum() > 0
    assert cache.summary_queries.grad.abs().sum() > 0


def test_batch_mismatch_is_a_user_error():
    cache = make_cache()
    cache.update(torch.randn(2, 2, 2, 2, 16))
    with pytest.raises(UserError, match="reset"):
        cache.read(torch.randn(1, 2, 2, 2, 16))
