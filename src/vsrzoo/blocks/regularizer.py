"""Flow-guided temporal regulariser of InstaVSR (arXiv 2603.26134).

InstaVSR trains recurrently with a flow-guided temporal regulariser; the paper publishes no
formula beyond that. This module is the warping error of Lai et al. 2018 turned into a loss:
frame t+1 of the *output* video is warped to frame t along a given flow (from the ground truth,
detached), pixels that are occluded (forward-backward check) are masked out, and the masked
mean squared error is averaged over pairs. It is differentiable with respect to both output
frames of every pair; a loss computed on flows of detached numpy arrays would give no gradient.

reconstruction: the masked MSE form, the use of ground-truth flows, and excluding pixels whose
flow leaves the frame (``mask_out_of_frame``) are our choices.
"""

from __future__ import annotations

import torch
from torch import nn

from vsrzoo.blocks.warp import flow_warp, in_frame_mask, occlusion_mask
from vsrzoo.errors import UserError

__all__ = ["FlowGuidedRegularizer"]


class FlowGuidedRegularizer(nn.Module):
    """Masked warping error between consecutive frames of a video.

    Args:
        motion_boundary: also mask Lai et al.'s motion boundaries of the forward flow.
        mask_out_of_frame: mask pixels whose forward flow points outside the frame.
        eps: guards the division when every pixel of a pair is masked.

    Shapes: ``frames`` (B, T, C, H, W); ``flow_fw`` and ``flow_bw`` (B, T-1, 2, H, W) in pixels,
    ``flow_fw[:, t]`` from frame t to t+1 and ``flow_bw[:, t]`` from t+1 to t (see
    :mod:`vsrzoo.blocks.warp` for the x/y order). Without ``flow_bw`` no occlusion test is made.
    Returns a scalar: the mean over pairs of the masked per-pixel mean squared error.
    """

    def __init__(self, motion_boundary: bool = True, mask_out_of_frame: bool = True, eps: float = 1e-8):
        super().__init__()
        self.motion_boundary = motion_boundary
        self.mask_out_of_frame = mask_out_of_frame
        self.eps = eps

    def valid_mask(self, flow_fw: torch.Tensor, flow_bw: torch.Tensor | None) -> torch.Tensor:
        """Pixels of frame t that take part in the loss (N, 1, H, W) as float, flows (N, 2, H, W)."""
        valid = torch.ones_like(flow_fw[:, :1], dtype=torch.bool)
        if flow_bw is not None:
            valid = ~occlusion_mask(flow_fw, flow_bw, motion_boundary=self.motion_boundary)
        if self.mask_out_of_frame:
            valid = valid & in_frame_mask(flow_fw)
        return valid.to(torch.promote_types(flow_fw.dtype, torch.float32))

    def forward(
        self, frames: torch.Tensor, flow_fw: torch.Tensor, flow_bw: torch.Tensor | None = None
    ) -> torch.Tensor:
        b, t, c, h, w = self._check(frames, flow_fw, flow_bw)
        if t < 2:
            return frames.sum() * 0.0
        fw = flow_fw.detach().reshape(b * (t - 1), 2, h, w)
        bw = None if flow_bw is None else flow_bw.detach().reshape(b * (t - 1), 2, h, w)
        current = frames[:, :-1].reshape(b * (t - 1), c, h, w)
        following = frames[:, 1:].reshape(b * (t - 1), c, h, w)
        aligned = flow_warp(following, fw.to(following.dtype))
        mask = self.valid_mask(fw, bw)
        dtype = torch.promote_types(frames.dtype, torch.float32)  # never accumulate in half precision
        sq_err = (aligned.to(dtype) - current.to(dtype)).square().mean(1, keepdim=True)
        per_pair = (sq_err * mask).sum((1, 2, 3)) / (mask.sum((1, 2, 3)) + self.eps)
        return per_pair.mean()

    @staticmethod
    def _check(frames: torch.Tensor, flow_fw: torch.Tensor, flow_bw: torch.Tensor | None) -> tuple:
        if frames.dim() != 5:
            raise UserError(f"frames must be (B, T, C, H, W), got {tuple(frames.shape)}")
        b, t, c, h, w = frames.shape
        expected = (b, t - 1, 2, h, w)
        for name, flow in (("flow_fw", flow_fw), ("flow_bw", flow_bw)):
            if flow is not None and tuple(flow.shape) != expected:
                raise UserError(f"{name} must be (B, T-1, 2, H, W) = {expected}, got {tuple(flow.shape)}")
        return b, t, c, h, w
