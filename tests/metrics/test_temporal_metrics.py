"""tOF and tLPIPS as TecoGAN's metrics.py computes them."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from metric_helpers import photo

from vsrzoo.metrics.temporal import TLPIPS, TOF, crop_8x8


def pan(n: int = 3, size=(80, 96), step=(1.5, 0.5)) -> list[np.ndarray]:
    src = photo("coffee", (size[0] + 32, size[1] + 32))
    out = []
    for t in range(n):
        mat = np.float32([[1, 0, -16 + step[0] * t], [0, 1, -16 + step[1] * t]])
        out.append(cv2.warpAffine(src, mat, (size[1], size[0]), flags=cv2.INTER_CUBIC))
    return out


def test_crop_8x8_sizes():
    assert crop_8x8(np.zeros((576, 720))).shape == (544, 704)  # Vid4 calendar
    assert crop_8x8(np.zeros((480, 720))).shape == (448, 704)
    assert crop_8x8(np.zeros((80, 96))).shape == (64, 64)
    with pytest.raises(ValueError, match="at least 48x48"):
        crop_8x8(np.zeros((40, 96)))


def test_tof_matches_definition():
    gt = pan()
    out = [cv2.GaussianBlur(f, (7, 7), 2.0) for f in gt]
    meter = TOF()
    values = [meter.update(o, g) for o, g in zip(out, gt)]
    assert values[0] is None
    grey = lambda f: cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)  # noqa: E731
    args = (None, 0.5, 3, 15, 3, 5, 1.2, 0)
    of_gt = cv2.calcOpticalFlowFarneback(grey(gt[1]), grey(gt[2]), *args)
    of_out = cv2.calcOpticalFlowFarneback(grey(out[1]), grey(out[2]), *args)
    diff = crop_8x8(of_gt) - crop_8x8(of_out)
    assert values[2] == pytest.approx(float(np.sqrt((diff**2).sum(-1)).mean()), rel=1e-6)
    meter.reset()
    assert [meter.update(g, g) for g in gt][1:] == [0.0, 0.0]


def test_tlpips_is_scaled_difference_of_distances(tmp_path, monkeypatch):
    import warnings

    import lpips

    from vsrzoo.metrics.lpips import LPIPS

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = lpips.LPIPS(net="alex", pnet_rand=True, verbose=False)
    state = {}
    for i in range(1, 6):
        for name, module in getattr(ref.net, f"slice{i}").named_children():
            state.update({f"features.{name}.{k}": v for k, v in module.state_dict().items()})
    path = tmp_path / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth"
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    net = LPIPS()
    gt = pan(2, size=(80, 96))
    out = [np.clip(f.astype(int) + 20 * i, 0, 255).astype(np.uint8) for i, f in enumerate(gt)]
    meter = TLPIPS(net)
    assert meter.update(out[0], gt[0]) is None
    got = meter.update(out[1], gt[1])
    d_gt = float(net(crop_8x8(gt[0]), crop_8x8(gt[1]))[0])
    d_out = float(net(crop_8x8(out[0]), crop_8x8(out[1]))[0])
    assert got == pytest.approx(100 * abs(d_gt - d_out), rel=1e-6) and got > 0
    meter.reset()
    meter.update(gt[0], gt[0])
    assert meter.update(gt[1], gt[1]) == 0.0
