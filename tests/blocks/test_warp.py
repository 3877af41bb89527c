import numpy as np
import pytest
import torch

from vsrzoo.blocks import flow_warp, in_frame_mask, motion_boundary_mask, occlusion_mask
from vsrzoo.errors import UserError


def smooth_flow(b, h, w, amplitude, seed):
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randn(b, 2, 3, 3, generator=g) * amplitude
    return torch.nn.functional.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=True)


def test_integer_flow_is_a_shift():
    x = torch.randn(2, 3, 9, 11)
    flow = torch.zeros(2, 2, 9, 11)
    flow[:, 0], flow[:, 1] = 2.0, -1.0  # x then y
    out = flow_warp(x, flow)
    # out(y, x) = x(y - 1, x + 2): compare where the source is inside the frame
    torch.testing.assert_close(out[:, :, 1:, :-2], x[:, :, :-1, 2:], atol=1e-5, rtol=0)
    torch.testing.assert_close(flow_warp(x, torch.zeros_like(flow)), x, atol=1e-6, rtol=0)


def test_flow_warp_is_differentiable_and_checks_shapes():
    x = torch.randn(1, 2, 6, 7, requires_grad=True)
    flow = (torch.rand(1, 2, 6, 7) * 2 - 1).requires_grad_()
    flow_warp(x, flow).square().sum().backward()
    assert x.grad.abs().sum() > 0 and flow.grad.abs().sum() > 0
    with pytest.raises(UserError):
        flow_warp(x, torch.zeros(1, 3, 6, 7))
    with pytest.raises(UserError):
        flow_warp(x, torch.zeros(1, 2, 5, 7))


def lai_reference(fw, bw):
    """Transcription of Lai et al.'s detect_occlusion(bw_flow, fw_flow) with a Resample2d sampler."""
    h, w = fw.shape[:2]

    def resample(img, flow):
        out = np.zeros_like(img)
        for y in range(h):
            for x in range(w):
                xf, yf = x + flow[y, x, 0], y + flow[y, x, 1]
                alpha, beta = xf - np.floor(xf), yf - np.floor(yf)
                xl = int(min(max(np.floor(xf), 0), w - 1))
                yt = int(min(max(np.floor(yf), 0), h - 1))
                xr, yb = min(xl + 1, w - 1), min(yt + 1, h - 1)
                out[y, x] = (
                    (1 - alpha) * (1 - beta) * img[yt, xl]
                    + alpha * (1 - beta) * img[yt, xr]
                    + (1 - alpha) * beta * img[yb, xl]
                    + alpha * beta * img[yb, xr]
                )
        return out

    bw_w = resample(bw, fw)
    mag = lambda f: f[..., 0] ** 2 + f[..., 1] ** 2  # noqa: E731
    mask1 = mag(bw_w + fw) > 0.01 * (mag(bw_w) + mag(fw)) + 0.5
    du, dv = np.zeros_like(fw), np.zeros_like(fw)
    du[:, :-1] = fw[:, :-1] - fw[:, 1:]
    dv[:-1, :] = fw[:-1, :] - fw[1:, :]
    mask2 = (du**2 + dv**2).sum(-1) > 0.01 * mag(fw) + 0.002
    return mask1 | mask2


def test_occlusion_mask_matches_lai_reference():
    fw = smooth_flow(1, 12, 13, 3.0, seed=0)
    bw = -fw + smooth_flow(1, 12, 13, 1.5, seed=1)
    ours = occlusion_mask(fw, bw)[0, 0].numpy()
    ref = lai_reference(fw[0].permute(1, 2, 0).double().numpy(), bw[0].permute(1, 2, 0).double().numpy())
    assert 0 < ref.sum() < ref.size
    assert (ours != ref).sum() <= 1  # float32 vs float64 at the threshold


def test_consistent_translation_is_not_occluded():
    fw = torch.zeros(1, 2, 8, 8)
    fw[:, 0] = 1.5
    assert not occlusion_mask(fw, -fw).any()
    assert occlusion_mask(fw, fw).all()  # both flows point the same way: inconsistent
    assert not motion_boundary_mask(fw).any()
    inside = in_frame_mask(fw)[0, 0]
    assert inside[:, :6].all() and not inside[:, 7:].any()


def _ramp_and_flow(width: int, height: int = 4):
    """An image whose value is its x position, and a smooth sub-pixel flow."""
    xs = torch.arange(width, dtype=torch.float64).view(1, 1, 1, width).expand(1, 1, height, width)
    flow = torch.zeros(1, 2, height, width, dtype=torch.float64)
    flow[:, 0] = 0.37 + 0.25 * torch.sin(xs[0, 0] / 97.0)
    return xs, flow


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_flow_warp_under_autocast_matches_float64_at_2k_width(dtype):
    image, flow = _ramp_and_flow(2048)
    reference = flow_warp(image, flow)  # float64: the sampled x position itself
    with torch.autocast("cpu", dtype=dtype):
        out = flow_warp(image.float(), flow.float())
    assert out.dtype == torch.float32
    inside = reference[..., :-2] < 2047  # away from the clamped right border
    assert (out.double() - reference)[..., :-2][inside].abs().max() < 0.01  # px


def test_bf16_warp_is_finite_and_close():
    torch.manual_seed(0)
    x = torch.rand(1, 3, 256, 256)
    flow = torch.randn(1, 2, 256, 256) * 3
    out = flow_warp(x.bfloat16(), flow.bfloat16())
    assert out.dtype == torch.bfloat16 and torch.isfinite(out.float()).all()
    ref = flow_warp(x.double(), flow.bfloat16().double())
    assert (out.double() - ref).abs().max() < 0.02  # only the bf16 rounding of x and of the result


def test_bf16_image_is_sampled_at_float32_positions_at_2k_width():
    xs, flow = _ramp_and_flow(2048)
    image = (0.5 + 0.4 * torch.sin(2 * torch.pi * xs / 64)).bfloat16()
    out = flow_warp(image, flow.bfloat16())
    ref = flow_warp(image.double(), flow.bfloat16().double())
    # |dI/dx| <= 0.04 per px: a 0.1 px position error would show as 0.004; bf16 rounding is <= 0.002
    assert (out.double() - ref)[..., :-2].abs().max() <= 0.0025


def test_many_flows_per_image_equal_separate_warps():
    """flow (B, K, 2, H, W) samples each image along K flows in one call: the values of K calls."""
    g = torch.Generator().manual_seed(3)
    x = torch.rand(2, 5, 6, 7, generator=g)
    flows = 3 * torch.randn(2, 4, 2, 6, 7, generator=g)
    many = flow_warp(x, flows)
    assert many.shape == (2, 4, 5, 6, 7)
    for k in range(4):
        assert torch.equal(many[:, k], flow_warp(x, flows[:, k]))
    with pytest.raises(UserError, match="same B, H, W"):
        flow_warp(x, flows[:1])
