"""Flow warping error, two labelled variants.

``ewarp`` -- Lai et al., "Learning Blind Video Temporal Consistency", ECCV 2018 (arXiv 1808.00449),
as in their released ``evaluate_WarpError.py``: for each pair (t, t+1) the flows are estimated on
the *reference* video (the GT here, by default), the occlusion mask combines forward-backward
inconsistency and motion boundaries (:func:`vsrzoo.blocks.warp.occlusion_mask`), output frame
t+1 is backward-warped to t, and the error is the mean squared RGB difference in [0, 1] over the
non-occluded pixels (averaged over channels); mean over pairs, then over videos. Reported x1000
(E*warp).

``ewarp_evalcrafter`` -- the EvalCrafter variant (Liu et al., arXiv 2310.11440) that STAR and DOVE
tables use: flows are estimated on the *output* video itself after bilinear downsampling by 2,
and the squared error is summed over channels before dividing by the number of non-occluded
pixels. Reconstruction: EvalCrafter pads to a multiple of 8 for RAFT and scores the padded
frame; vsrzoo's RAFT backend removes the padding from the flow, so the error covers the frame.

Both accept any flow backend of :mod:`vsrzoo.metrics.flow`; results name the one used.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vsrzoo.blocks.warp import flow_warp, occlusion_mask

__all__ = ["EWARP_SCALE", "WarpingError", "warping_error"]

EWARP_SCALE = 1000.0  # E*warp is reported x1000


def warping_error(
    frame_t: torch.Tensor,
    frame_t1: torch.Tensor,
    flow_fw: torch.Tensor,
    flow_bw: torch.Tensor,
    channel_reduction: str = "mean",
) -> torch.Tensor:
    """Masked warping error of one pair per batch element, shape (B,), not scaled.

    ``frame_*``: (B, C, H, W) float in [0, 1]; ``flow_fw``: t -> t+1, ``flow_bw``: t+1 -> t, in
    pixels. ``channel_reduction='mean'`` is Lai et al., ``'sum'`` is EvalCrafter.
    """
    noc = (~occlusion_mask(flow_fw, flow_bw)).to(frame_t.dtype)  # (B, 1, H, W)
    diff2 = (flow_warp(frame_t1, flow_fw) - frame_t).square() * noc
    count = noc.sum(dim=(1, 2, 3))
    if channel_reduction == "mean":
        count = count * frame_t.shape[1]
    elif channel_reduction != "sum":
        raise ValueError(f"channel_reduction must be 'mean' or 'sum', got {channel_reduction!r}")
    # All pixels occluded: the reference code divides by the element count (the error is 0 then).
    count = torch.where(count > 0, count, torch.full_like(count, frame_t[0].numel()))
    return diff2.sum(dim=(1, 2, 3)) / count


class WarpingError:
    """Streaming warping error of one video: :meth:`update` with consecutive frames.

    ``variant='lai'`` (``ewarp``): flow from ``flow_from`` ('gt' or 'output') at full size;
    ``variant='evalcrafter'`` (``ewarp_evalcrafter``): flow from the output at half size.
    Each update after the first returns that pair's error x1000.
    """

    def __init__(self, flow, variant: str = "lai", flow_from: str = "gt"):
        if variant not in ("lai", "evalcrafter"):
            raise ValueError(f"variant must be 'lai' or 'evalcrafter', got {variant!r}")
        if flow_from not in ("gt", "output"):
            raise ValueError(f"flow_from must be 'gt' or 'output', got {flow_from!r}")
        self.flow, self.variant = flow, variant
        self.flow_from = "output" if variant == "evalcrafter" else flow_from
        self.reset()

    def reset(self) -> None:
        self._prev: tuple[torch.Tensor, torch.Tensor | None] | None = None

    def _frames(self, out: torch.Tensor, gt: torch.Tensor | None):
        out = out.float() / 255.0 if out.dtype == torch.uint8 else out.float()
        if self.variant == "evalcrafter":
            return F.interpolate(out, scale_factor=0.5, mode="bilinear", align_corners=False), None
        if self.flow_from == "gt":
            gt = gt.float() / 255.0 if gt.dtype == torch.uint8 else gt.float()
        return out, gt

    def update(self, out: torch.Tensor, gt: torch.Tensor | None = None) -> float | None:
        """Add frame t+1 ((1, 3, H, W) uint8 or float); returns the (t, t+1) error x1000."""
        if self.flow_from == "gt" and gt is None:
            raise ValueError("flow_from='gt' needs the GT frame")
        cur = self._frames(out, gt)
        prev, self._prev = self._prev, cur
        if prev is None:
            return None
        ref_t, ref_t1 = (prev[1], cur[1]) if self.flow_from == "gt" else (prev[0], cur[0])
        flow_fw, flow_bw = self.flow(ref_t, ref_t1), self.flow(ref_t1, ref_t)
        reduction = "sum" if self.variant == "evalcrafter" else "mean"
        err = warping_error(
            prev[0], cur[0], flow_fw.to(prev[0].device), flow_bw.to(prev[0].device), reduction
        )
        return float(err.mean()) * EWARP_SCALE
