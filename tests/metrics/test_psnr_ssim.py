"""PSNR/SSIM agree with a plain numpy implementation of BasicSR's definition on real frames."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from metric_helpers import photo, ref_psnr_ssim

from vsrzoo.data.resize import imresize_uint8
from vsrzoo.errors import UserError
from vsrzoo.metrics.psnr_ssim import gaussian_window, psnr, psnr_ssim, ssim


def bicubic_pair(gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(bicubic x4 reconstruction of the x1/4 BI degradation, GT): a realistic SR output."""
    t = torch.from_numpy(gt).permute(2, 0, 1)
    lr = imresize_uint8(t, scale=0.25)
    sr = imresize_uint8(lr, scale=4)
    return sr.permute(1, 2, 0).numpy(), gt


@pytest.fixture(scope="module")
def pairs() -> list[tuple[np.ndarray, np.ndarray]]:
    return [bicubic_pair(photo(n, (96, 128))) for n in ("astronaut", "coffee", "chelsea")]


def test_window_is_opencv_gaussian():
    ours = gaussian_window(11, 1.5).numpy()
    np.testing.assert_allclose(ours, cv2.getGaussianKernel(11, 1.5)[:, 0], rtol=0, atol=1e-15)


@pytest.mark.parametrize("y_channel", [True, False])
@pytest.mark.parametrize("crop", [0, 8])
def test_matches_numpy_reference(pairs, y_channel, crop):
    for sr, gt in pairs:
        p, s = psnr_ssim(sr, gt, crop_border=crop, y_channel=y_channel)
        rp, rs = ref_psnr_ssim(sr, gt, crop, y_channel)
        assert abs(float(p[0]) - rp) < 1e-4
        assert abs(float(s[0]) - rs) < 1e-5
        assert p.dtype == torch.float64


def test_matches_reference_on_vid4_frames(shared_data):
    from vsrzoo.data.io import read_image

    gt = read_image(shared_data / "Vid4" / "GT" / "calendar" / "00000010.png")
    lr = read_image(shared_data / "Vid4" / "BIx4" / "calendar" / "00000010.png")
    sr = imresize_uint8(torch.from_numpy(lr).permute(2, 0, 1), scale=4).permute(1, 2, 0).numpy()
    sr, gt = sr[200:392, 300:556], gt[200:392, 300:556]  # a 256x192 crop keeps the reference quick
    p, s = psnr_ssim(sr, gt, y_channel=True)
    rp, rs = ref_psnr_ssim(sr, gt, 0, True)
    assert abs(float(p[0]) - rp) < 1e-4 and abs(float(s[0]) - rs) < 1e-5


def test_batch_equals_frames_and_layouts_agree(pairs):
    srs = np.stack([p[0] for p in pairs])
    gts = np.stack([p[1] for p in pairs])
    p_batch, s_batch = psnr_ssim(srs, gts, y_channel=True)
    for i, (sr, gt) in enumerate(pairs):
        p_one, s_one = psnr_ssim(sr, gt, y_channel=True)
        assert float(p_batch[i]) == pytest.approx(float(p_one[0]), abs=1e-12)
        assert float(s_batch[i]) == pytest.approx(float(s_one[0]), abs=1e-12)
    # channel-first torch: uint8 and float in [0, 1] (rounded to uint8 first) give the same result
    sr_t = torch.from_numpy(srs).permute(0, 3, 1, 2)
    gt_t = torch.from_numpy(gts).permute(0, 3, 1, 2)
    sr_float = sr_t.float() / 255.0 + 0.4 / 255.0  # off-grid by less than half a level
    torch.testing.assert_close(psnr(sr_float, gt_t, y_channel=True), p_batch)
    torch.testing.assert_close(ssim(sr_t, gt_t.float() / 255.0, y_channel=True), s_batch)


def test_identical_frames():
    gt = photo("astronaut", (40, 40))
    p, s = psnr_ssim(gt, gt.copy())
    assert torch.isinf(p).all() and float(s[0]) == pytest.approx(1.0, abs=1e-12)


def test_shape_mismatch_names_both_sizes():
    gt = photo("astronaut", (40, 48))
    with pytest.raises(UserError, match=r"output frames are 44x40 but GT frames are 48x40"):
        psnr_ssim(gt[:, :44], gt)
    with pytest.raises(UserError, match=r"got 2 output frames for 1 GT frames"):
        psnr_ssim(np.stack([gt, gt]), gt)


def test_too_small_and_bad_crop():
    tiny = photo("astronaut", (10, 30))
    with pytest.raises(UserError, match="at least 11x11"):
        ssim(tiny, tiny)
    with pytest.raises(UserError, match="leaves nothing"):
        psnr(tiny, tiny, crop_border=5)
    with pytest.raises(UserError, match="3 \\(RGB\\) channels"):
        psnr(tiny[..., :2], tiny[..., :2])
