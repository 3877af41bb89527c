"""Optical flows of training clips, computed on the data side: InstaVSR's DIS flows (arXiv 2603.26134).

Why here: InstaVSR's flow-guided temporal regulariser needs DIS flows of each training clip's
ground truth (forward and backward, detached), and its recurrent input the backward flows of the
LR frames. They depend on the sample only, never on the weights, so the datamodule computes them
in its DataLoader workers (:class:`TrainingFlows`, handed over as the method's
``train_sample_transform``) and the accelerator does not wait for OpenCV. A batch without them
gets the same flows from :func:`gt_flows` in the training step. Both use the estimator of
:mod:`vsrzoo.blocks.flow` on the same frames, so the values are the same either way.
"""

from __future__ import annotations

import functools
from typing import Any

import torch

from vsrzoo.blocks.flow import DISFlow, estimate_flow


@functools.lru_cache(maxsize=4)
def dis_flow(preset: str) -> DISFlow:
    """One OpenCV DIS estimator per preset (kept out of the model so the model stays picklable)."""
    return DISFlow(preset=preset)


class TrainingFlows:
    """Adds DIS flows to a training sample in the DataLoader workers (not in ``training_step``).

    ``gt_flow_fw`` / ``gt_flow_bw`` (T-1, 2, H, W): ground-truth flows t -> t+1 and t+1 -> t for the
    temporal regulariser; ``lr_flow_bw`` (T-1, 2, h, w): LR flows t+1 -> t for the recurrent input.
    The same estimator on the same frames as :func:`gt_flows`, so the values do not change.
    """

    def __init__(self, preset: str):
        self.preset = preset

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        flow = dis_flow(self.preset)
        out = dict(sample)
        for key, frames in (("gt", sample["gt"]), ("lr", sample["lr"])):
            a, c = frames[:-1], frames[1:]
            if key == "gt":
                out["gt_flow_fw"] = estimate_flow(flow, a, c)
            out[f"{key}_flow_bw"] = estimate_flow(flow, c, a)
        return out

    @staticmethod
    def placeholders(batch: dict[str, Any]) -> dict[str, Any]:
        """Empty flow tensors of the right shapes and device (``fit --dry-run`` traces on meta tensors)."""
        out = dict(batch)
        for key in ("gt", "lr"):
            b, t, _, h, w = batch[key].shape
            flow = batch[key].new_empty(b, t - 1, 2, h, w)
            out[f"{key}_flow_bw"] = flow
            if key == "gt":
                out["gt_flow_fw"] = flow.clone()
        return out


@torch.no_grad()
def gt_flows(gt: torch.Tensor, preset: str) -> tuple[torch.Tensor, torch.Tensor]:
    """DIS flows of ground-truth clips (B, T, 3, H, W) -> (B, T-1, 2, H, W): forward t -> t+1, backward t+1 -> t."""
    b, t = gt.shape[:2]
    a, c = gt[:, :-1].flatten(0, 1), gt[:, 1:].flatten(0, 1)
    flow = dis_flow(preset)
    fw, bw = estimate_flow(flow, a, c), estimate_flow(flow, c, a)
    return fw.unflatten(0, (b, t - 1)), bw.unflatten(0, (b, t - 1))


__all__ = ["TrainingFlows", "dis_flow", "gt_flows"]
