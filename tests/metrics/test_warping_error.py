"""Warping error (Lai et al. 2018 and EvalCrafter's variant) against a numpy reference."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from metric_helpers import photo, ref_warping_error

from vsrzoo.metrics.flow import DISFlow
from vsrzoo.metrics.warping import WarpingError, warping_error


def moving_clip(n: int = 4, size=(96, 128)) -> list[np.ndarray]:
    """A real photo under a small rotation + pan per frame (occlusions at the borders)."""
    src = photo("astronaut", (size[0] + 64, size[1] + 64), offset=(-32, -32))
    frames = []
    for t in range(n):
        mat = cv2.getRotationMatrix2D((src.shape[1] / 2, src.shape[0] / 2), 1.5 * t, 1.0)
        mat[:, 2] += (1.7 * t - 32, 0.8 * t - 32)
        frames.append(
            cv2.warpAffine(src, mat, (size[1], size[0]), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
        )
    return frames


def t(frame: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(frame).permute(2, 0, 1).unsqueeze(0).float() / 255


def np_flow(f: torch.Tensor) -> np.ndarray:
    return f[0].permute(1, 2, 0).double().numpy()


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_pair_matches_numpy_reference(reduction):
    gt = moving_clip(2)
    out = [cv2.GaussianBlur(f, (5, 5), 1.0) for f in gt]  # an 'output' that differs from GT
    dis = DISFlow()
    fw, bw = dis(t(gt[0]), t(gt[1])), dis(t(gt[1]), t(gt[0]))
    got = float(warping_error(t(out[0]), t(out[1]), fw, bw, reduction)[0])
    ref = ref_warping_error(out[0] / 255.0, out[1] / 255.0, np_flow(fw), np_flow(bw), reduction == "sum")
    assert got == pytest.approx(ref, rel=1e-4, abs=1e-9)
    assert got > 0


def test_streaming_lai_mean_and_flicker():
    gt = moving_clip(4)
    meter = WarpingError(DISFlow(), "lai", "gt")
    pairs = [
        meter.update(torch.from_numpy(f).permute(2, 0, 1)[None], torch.from_numpy(f).permute(2, 0, 1)[None])
        for f in gt
    ]
    assert pairs[0] is None and all(p is not None and p >= 0 for p in pairs[1:])
    # the same frames, alternately brightened: a flickering video must score far worse
    flicker = [
        np.clip(f.astype(int) + (12 if i % 2 else 0), 0, 255).astype(np.uint8) for i, f in enumerate(gt)
    ]
    meter.reset()
    flick = [
        meter.update(torch.from_numpy(o).permute(2, 0, 1)[None], torch.from_numpy(g).permute(2, 0, 1)[None])
        for o, g in zip(flicker, gt)
    ]
    assert np.mean(flick[1:]) > 3 * np.mean(pairs[1:])
    # each pair value is the reference pair error x1000
    dis = DISFlow()
    fw, bw = dis(t(gt[1]), t(gt[2])), dis(t(gt[2]), t(gt[1]))
    ref = ref_warping_error(flicker[1] / 255.0, flicker[2] / 255.0, np_flow(fw), np_flow(bw))
    assert flick[2] == pytest.approx(1000 * ref, rel=1e-4)


def test_evalcrafter_uses_half_resolution_output_flow():
    frames = moving_clip(2)
    meter = WarpingError(DISFlow(), "evalcrafter")
    assert meter.flow_from == "output"
    assert meter.update(torch.from_numpy(frames[0]).permute(2, 0, 1)[None]) is None
    got = meter.update(torch.from_numpy(frames[1]).permute(2, 0, 1)[None])
    half = [F.interpolate(t(f), scale_factor=0.5, mode="bilinear", align_corners=False) for f in frames]
    dis = DISFlow()
    fw, bw = dis(half[0], half[1]), dis(half[1], half[0])
    a, b = (h[0].permute(1, 2, 0).double().numpy() for h in half)
    assert got == pytest.approx(
        1000 * ref_warping_error(a, b, np_flow(fw), np_flow(bw), channel_sum=True), rel=1e-4
    )


def test_bad_arguments():
    with pytest.raises(ValueError, match="variant"):
        WarpingError(DISFlow(), "lai2018")
    with pytest.raises(ValueError, match="flow_from"):
        WarpingError(DISFlow(), "lai", "input")
