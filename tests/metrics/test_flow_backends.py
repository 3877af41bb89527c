"""Flow backends: DIS recovers a known sub-pixel shift of a real photo; conventions match
flow_warp; RAFT is never downloaded and handles sizes that are not multiples of 8."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from metric_helpers import photo

from vsrzoo.blocks.warp import flow_warp
from vsrzoo.errors import MissingWeightsError, UserError
from vsrzoo.metrics.flow import DISFlow, RAFTFlow, get_flow, raft_weights_path


def shifted(img: np.ndarray, dx: float, dy: float) -> np.ndarray:
    mat = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(img, mat, img.shape[1::-1], flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


def to_t(*frames: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2)


@pytest.mark.parametrize("shift", [(2.3, -1.6), (0.5, 0.25), (-3.7, 0.6)])
def test_dis_recovers_known_shift(shift):
    a = photo("astronaut", (192, 256))
    b = shifted(a, *shift)
    flow = DISFlow()(to_t(a), to_t(b))
    assert flow.shape == (1, 2, 192, 256) and flow.dtype == torch.float32
    inner = flow[0, :, 24:-24, 24:-24].flatten(1)
    median = inner.median(dim=1).values
    assert abs(float(median[0]) - shift[0]) < 0.05 and abs(float(median[1]) - shift[1]) < 0.05


def test_flow_convention_matches_flow_warp():
    # flow from a to b, then backward-warping b along it reconstructs a
    a = photo("coffee", (128, 160))
    b = shifted(a, 3.0, -2.0)
    ta, tb = to_t(a).float() / 255, to_t(b).float() / 255
    warped = flow_warp(tb, DISFlow()(ta, tb))
    inner = (slice(None), slice(None), slice(16, -16), slice(16, -16))
    err = (warped - ta)[inner].abs().mean()
    assert float(err) < 0.01 < float((tb - ta)[inner].abs().mean())


def test_unknown_backend_lists_valid():
    with pytest.raises(
        UserError, match=r"unknown flow backend 'rafty' \(did you mean 'raft'\?\); valid: dis, raft"
    ):
        get_flow("rafty")


def test_raft_missing_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(MissingWeightsError, match=r"raft_large_C_T_SKHT_V2-ff5fadd5\.pth.*--flow dis"):
        get_flow("raft")
    assert not any(tmp_path.rglob("*.pth"))


def test_raft_from_local_file_any_size(tmp_path, monkeypatch):
    from torchvision.models.optical_flow import raft_small

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    torch.manual_seed(0)
    path = raft_weights_path("small")
    path.parent.mkdir(parents=True)
    torch.save(raft_small().state_dict(), path)
    flow = RAFTFlow(size="small", iters=2)
    for size in ((130, 148), (60, 76)):  # not multiples of 8; smaller than RAFT's 128 minimum
        a = photo("astronaut", size)
        out = flow(to_t(a), to_t(shifted(a, 1.0, 0.0)))
        assert out.shape == (1, 2, *size) and torch.isfinite(out).all()
    assert "raft (small" in flow.describe()
