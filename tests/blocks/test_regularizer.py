import torch

from vsrzoo.blocks import FlowGuidedRegularizer, flow_warp, occlusion_mask


def self_warping_video(b=1, t=4, c=3, h=16, w=18, seed=0):
    """A video whose frame t is exactly frame t+1 warped along a smooth flow, and that flow."""
    g = torch.Generator().manual_seed(seed)
    flow = torch.nn.functional.interpolate(
        torch.randn(b * (t - 1), 2, 3, 3, generator=g) * 2.0, size=(h, w), mode="bicubic", align_corners=True
    )
    frames = [torch.rand(b, c, h, w, generator=g)]
    for i in reversed(range(t - 1)):
        frames.insert(0, flow_warp(frames[0], flow.view(b, t - 1, 2, h, w)[:, i]))
    return torch.stack(frames, 1), flow.view(b, t - 1, 2, h, w)


def test_zero_for_a_video_that_is_an_exact_warp_of_itself():
    frames, flow = self_warping_video()
    reg = FlowGuidedRegularizer(mask_out_of_frame=False)
    assert reg(frames, flow).item() == 0.0
    assert FlowGuidedRegularizer()(frames, flow, -flow).item() == 0.0


def test_grows_monotonically_with_flicker():
    frames, flow = self_warping_video(t=5, seed=1)
    sign = torch.tensor([1.0, -1.0, 1.0, -1.0, 1.0]).view(1, 5, 1, 1, 1)
    reg = FlowGuidedRegularizer()
    losses = [reg(frames + a * sign, flow).item() for a in (0.0, 0.01, 0.03, 0.1, 0.3)]
    assert all(a < b for a, b in zip(losses, losses[1:])), losses


def test_gradient_reaches_the_output_frames():
    frames, flow = self_warping_video(seed=2)
    g = torch.Generator().manual_seed(2)  # its own stream: the result does not depend on test order
    noisy = (frames + 0.05 * torch.randn(frames.shape, generator=g)).requires_grad_()
    bw = -flow + 0.1 * torch.randn(flow.shape, generator=g)
    # forward-backward occlusion only: this 16x18 test flow changes by about 0.25 px per pixel, so the
    # motion-boundary test (|grad F|^2 > 0.01 |F|^2 + 0.002, tuned for real footage) marks all of frame 0
    # for 4 of 8 seeds and the result depended on which tests ran before (the global RNG)
    loss = FlowGuidedRegularizer(motion_boundary=False)(noisy, flow, bw)
    loss.backward()
    assert loss.item() > 0
    assert noisy.grad[:, 0].abs().sum() > 0 and noisy.grad[:, -1].abs().sum() > 0


def test_occluded_pixels_are_ignored():
    frames, flow = self_warping_video(t=2, seed=3)
    bw = -flow.clone()
    bw[..., :6, :6] = 20.0  # flows disagree there: pixels landing in that corner are occluded
    occluded = occlusion_mask(flow[:, 0], bw[:, 0], motion_boundary=False)
    assert 0 < occluded.sum() < occluded.numel()
    corrupted = frames.clone()
    corrupted[:, 0] += occluded.float()  # change frame t only where it is occluded
    reg = FlowGuidedRegularizer(motion_boundary=False, mask_out_of_frame=False)
    assert reg(corrupted, flow).item() > 1e-2
    assert reg(corrupted, flow, bw).item() == 0.0
