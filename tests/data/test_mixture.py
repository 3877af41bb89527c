"""The ``mixture`` degradation (SimpleGVR stage 2) and RealBasicVSR's one-order mode (stage 1)."""

import numpy as np
import pytest

from vsrzoo.data.degradations import get_degradation
from vsrzoo.errors import UserError


def clip():
    return np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)


def test_mixture_draws_one_component_per_clip_seeded():
    mix = get_degradation("mixture", components=[{"name": "bi"}, {"name": "bd"}], probs=[1, 1])
    bi, bd = get_degradation("bi")(clip()), get_degradation("bd")(clip())
    outs = [mix(clip(), seed=s) for s in range(12)]
    assert all(np.array_equal(o, bi) or np.array_equal(o, bd) for o in outs)
    assert any(np.array_equal(o, bi) for o in outs) and any(np.array_equal(o, bd) for o in outs)
    assert np.array_equal(mix(clip(), seed=3), mix(clip(), seed=3))
    only_bd = get_degradation("mixture", components=[{"name": "bi"}, {"name": "bd"}], probs=[0, 1])
    assert all(np.array_equal(only_bd(clip(), seed=s), bd) for s in range(4))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({}, "needs components"),
        ({"components": [{"name": "bi"}], "probs": [1, 1]}, "probs must be 1"),
        ({"components": [{"kind": "bi"}]}, "needs 'name'"),
        ({"components": [{"name": "nope"}]}, "nope"),
    ],
)
def test_mixture_bad_config_is_a_user_error(kwargs, match):
    with pytest.raises(UserError, match=match):
        get_degradation("mixture", **kwargs)


def test_realbasicvsr_one_order_skips_the_second_round():
    one, two = get_degradation("realbasicvsr", orders=1), get_degradation("realbasicvsr")
    a, b = one(clip(), seed=5), two(clip(), seed=5)
    assert a.shape == b.shape == (3, 8, 8, 3) and not np.array_equal(a, b)
    assert np.array_equal(two(clip(), seed=5), b)  # the default is unchanged
    with pytest.raises(UserError, match="orders"):
        get_degradation("realbasicvsr", orders=3)
