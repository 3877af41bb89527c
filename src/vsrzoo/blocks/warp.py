"""Backward warping along optical flow and forward-backward occlusion masks.

Conventions shared by every flow in vsrzoo:

- A flow is a tensor ``(B, 2, H, W)`` in **pixels**; channel 0 is the horizontal displacement
  ``x`` (along W, positive to the right), channel 1 the vertical displacement ``y`` (along H,
  positive downwards). This is the ``.flo`` / OpenCV / RAFT order.
- ``flow_fw`` of a pair (t, t+1) maps a pixel ``p`` of frame t to ``p + flow_fw(p)`` in frame
  t+1; ``flow_bw`` maps frame t+1 back to frame t.
- :func:`flow_warp` is *backward* warping: ``out(p) = x(p + flow(p))``, bilinear, pixel centres
  at integer coordinates. Warping frame t+1 with ``flow_fw`` therefore aligns it to frame t.

The occlusion test is the one of Lai et al., "Learning Blind Video Temporal Consistency",
ECCV 2018 (arXiv 1808.00449), as in their released ``detect_occlusion``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vsrzoo.errors import UserError

__all__ = [
    "flow_warp",
    "in_frame_mask",
    "motion_boundary_mask",
    "occlusion_mask",
    "sampling_grid",
]


def _check_flow(flow: torch.Tensor, name: str = "flow") -> None:
    if flow.dim() != 4 or flow.shape[1] != 2:
        raise UserError(f"{name} must have shape (B, 2, H, W) in pixels, got {tuple(flow.shape)}")


def sampling_grid(flow: torch.Tensor) -> torch.Tensor:
    """Absolute sampling positions ``p + flow(p)`` in pixels, shape (B, 2, H, W), x then y."""
    _check_flow(flow)
    _, _, h, w = flow.shape
    ys = torch.arange(h, device=flow.device, dtype=flow.dtype).view(1, h, 1).expand(1, h, w)
    xs = torch.arange(w, device=flow.device, dtype=flow.dtype).view(1, 1, w).expand(1, h, w)
    return flow + torch.cat([xs, ys], dim=0).unsqueeze(0)


def flow_warp(
    x: torch.Tensor,
    flow: torch.Tensor,
    mode: str = "bilinear",
    padding_mode: str = "border",
) -> torch.Tensor:
    """Backward-warp ``x`` (B, C, H, W) along ``flow`` (B, 2, H, W): ``out(p) = x(p + flow(p))``.

    ``flow`` (B, K, 2, H, W) warps each image along K flows in one sampling call and returns
    (B, K, C, H, W) (a strided view): the same values as K separate calls, without K copies of ``x``.

    Differentiable with respect to ``x`` and ``flow``; computed in at least float32 (also under
    bf16/fp16 autocast), the result cast back to ``x.dtype``. ``padding_mode='border'`` clamps samples
    that fall outside the frame to the nearest edge pixel, as the FlowNet2 ``Resample2d`` used by
    Lai et al. does; pass ``'zeros'`` to blank them instead.
    """
    many = flow.dim() == 5  # (B, K, 2, H, W): K flows per image, sampled in one call
    _check_flow(flow.flatten(0, 1) if many else flow)
    if x.dim() != 4 or x.shape[0] != flow.shape[0] or x.shape[-2:] != flow.shape[-2:]:
        raise UserError(
            f"flow_warp needs x (B, C, H, W) and flow (B, 2, H, W) or (B, K, 2, H, W) of the same B, H, W; "
            f"got x {tuple(x.shape)} and flow {tuple(flow.shape)}"
        )
    b, k, h, w = x.shape[0], flow.shape[1] if many else 1, *x.shape[-2:]
    flow = flow.flatten(0, 1) if many else flow
    work = torch.promote_types(torch.promote_types(flow.dtype, x.dtype), torch.float32)
    # Positions and sampling in float32 (or float64) whatever autocast says: a bf16 grid is off
    # by up to 8 px at 2K width (8 mantissa bits), and bf16 grid_sample on CPU can return NaN.
    device_type = "cpu" if x.is_meta else x.device.type  # meta tensors (fit --dry-run) have no autocast
    with torch.autocast(device_type=device_type, enabled=False):
        pos = sampling_grid(flow.to(work))
        # align_corners=True maps -1 and 1 to the centres of the first and last pixels.
        gx = pos[:, 0] * (2.0 / max(w - 1, 1)) - 1.0
        gy = pos[:, 1] * (2.0 / max(h - 1, 1)) - 1.0
        grid = torch.stack([gx, gy], dim=-1)
        # K grids stacked along the output height: each image is read once, never copied K times
        grid = grid.view(b, k * h, w, 2)
        out = F.grid_sample(x.to(work), grid, mode=mode, padding_mode=padding_mode, align_corners=True)
    out = out.to(x.dtype)
    return out.unflatten(2, (k, h)).transpose(1, 2) if many else out


def in_frame_mask(flow: torch.Tensor) -> torch.Tensor:
    """True where ``p + flow(p)`` lies inside the frame (B, 1, H, W): the sample is not clamped."""
    pos = sampling_grid(flow)
    h, w = flow.shape[-2:]
    inside = (pos[:, 0] >= 0) & (pos[:, 0] <= w - 1) & (pos[:, 1] >= 0) & (pos[:, 1] <= h - 1)
    return inside.unsqueeze(1)


def motion_boundary_mask(flow: torch.Tensor) -> torch.Tensor:
    """Lai et al.'s motion boundaries (B, 1, H, W): ``|grad F|^2 > 0.01 |F|^2 + 0.002``.

    Gradients are forward differences ``F(p) - F(p + 1)``, zero in the last row and column,
    exactly as the reference code computes them.
    """
    _check_flow(flow)
    du = torch.zeros_like(flow)
    dv = torch.zeros_like(flow)
    du[..., :, :-1] = flow[..., :, :-1] - flow[..., :, 1:]
    dv[..., :-1, :] = flow[..., :-1, :] - flow[..., 1:, :]
    grad_sq = (du.square() + dv.square()).sum(1, keepdim=True)
    return grad_sq > 0.01 * flow.square().sum(1, keepdim=True) + 0.002


def occlusion_mask(
    flow_fw: torch.Tensor, flow_bw: torch.Tensor, motion_boundary: bool = True
) -> torch.Tensor:
    """Occlusion mask of frame t (B, 1, H, W), True = occluded, from the flows of a pair (t, t+1).

    ``flow_fw``: t -> t+1, ``flow_bw``: t+1 -> t (both (B, 2, H, W) in pixels). The backward
    flow is sampled where the forward flow lands, ``b(p) = flow_bw(p + flow_fw(p))``, and a pixel
    is occluded when the two disagree (Lai et al. 2018):

        |flow_fw + b|^2 > 0.01 (|flow_fw|^2 + |b|^2) + 0.5

    In the paper's code this is ``detect_occlusion(bw_flow, fw_flow)``, whose formula reads
    ``|F_fw(warped) + F_bw|^2 > 0.01(|F_fw(warped)|^2 + |F_bw|^2) + 0.5`` with its arguments
    swapped. With ``motion_boundary=True`` (their default) pixels on motion boundaries of
    ``flow_fw`` are marked occluded too. The mask lives on frame t's grid, so it applies to
    ``flow_warp(frame_t1, flow_fw) - frame_t``.
    """
    _check_flow(flow_fw, "flow_fw")
    _check_flow(flow_bw, "flow_bw")
    if flow_fw.shape != flow_bw.shape:
        raise UserError(f"flow_fw {tuple(flow_fw.shape)} and flow_bw {tuple(flow_bw.shape)} differ in shape")
    dtype = torch.promote_types(flow_fw.dtype, torch.float32)
    fw = flow_fw.to(dtype)
    bw_at_target = flow_warp(flow_bw.to(dtype), fw)
    mismatch = (fw + bw_at_target).square().sum(1, keepdim=True)
    scale = fw.square().sum(1, keepdim=True) + bw_at_target.square().sum(1, keepdim=True)
    occluded = mismatch > 0.01 * scale + 0.5
    if motion_boundary:
        occluded = occluded | motion_boundary_mask(fw)
    return occluded
