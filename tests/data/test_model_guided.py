"""SimpleGVR's model-guided (SDEdit) degradation with a tiny Wan DiT + VAE saved as a diffusers folder."""

from __future__ import annotations

import numpy as np
import pytest

from vsrzoo.data.degradations import get_degradation
from vsrzoo.errors import UserError


def clip(t: int = 5, size: int = 64) -> np.ndarray:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    return np.stack([np.roll(base, k, axis=1) for k in range(t)])


def test_model_guided_is_seeded_and_shaped_like_bi(wan_folder):
    deg = get_degradation("simplegvr_model", model=wan_folder, num_inference_steps=2)
    gt = clip(t=6, size=72)  # 6 frames (not 1 + 4k) and 18 px LR (not on the latent grid): padded, cropped
    a, b = deg(gt, seed=3), deg(gt, seed=3)
    assert a.shape == (6, 18, 18, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert not np.array_equal(a, deg(gt, seed=4))


def test_strength_controls_how_far_from_the_lr_it_goes(wan_folder):
    gt = clip()
    near = get_degradation("simplegvr_model", model=wan_folder, strength=(1e-3, 1e-3), num_inference_steps=1)
    far = get_degradation("simplegvr_model", model=wan_folder, strength=(0.9, 0.9), num_inference_steps=1)
    # alpha -> 0 is the VAE round trip of the BI LR: what the base model would not change
    codec = near._load()[1]
    x, (t, h, w) = near._to_video(get_degradation("bi")(gt), codec)
    roundtrip = ((codec.decode(codec.encode(x))[0, :, :t, :h, :w].clamp(-1, 1) + 1) * 127.5).detach()
    roundtrip = roundtrip.round().permute(1, 2, 3, 0).numpy()
    d_near = np.abs(near(gt, seed=1).astype(float) - roundtrip).mean()
    d_far = np.abs(far(gt, seed=1).astype(float) - roundtrip).mean()
    assert d_near < 1.0 < d_far


def test_bad_options_are_one_line_errors(wan_folder, tmp_path):
    with pytest.raises(UserError, match="needs model="):
        get_degradation("simplegvr_model")
    with pytest.raises(UserError, match="strength must satisfy"):
        get_degradation("simplegvr_model", model=wan_folder, strength=(0.5, 0.2))
    with pytest.raises(UserError, match="no config|not found|does not exist|vae"):
        get_degradation("simplegvr_model", model=str(tmp_path / "nothing"))(clip(), seed=0)
