"""DOVER test weights: random networks saved as ``DOVER.pth`` in the official layout (a plain state
dict, the reference's module names) under the current TORCH_HOME; small views and a reduced-depth
network keep the forward passes fast (the official sizes are checked in test_dover_metric)."""

from __future__ import annotations

import torch

from vsrzoo.metrics.dover import AESTHETIC_MEAN_STD, DOVER_FILE, TECHNICAL_MEAN_STD, DOVERNet, ViewSpec

# 2x2 fragments of 32 px (a 64 px view), 2 segments of 4 frames; 4 aesthetic frames at 64 px
SMALL_SPEC = ViewSpec(fragments=2, clip_len=4, segments=2, aesthetic_size=64, aesthetic_frames=4)
# every module kind of the official network (GRPB stages, shifted windows, patch merging, the
# 1-3-1 temporal kernels), one or two blocks per stage and narrow channels
SMALL_NET = {
    "swin": {"embed_dim": 16, "depths": (2, 1, 2, 1), "num_heads": (1, 2, 2, 4)},
    "convnext": {"depths": (1, 2, 1, 1), "dims": (16, 32, 64, 128)},
}


def write_dover(net: dict | None = SMALL_NET, seed: int = 0) -> dict[str, torch.Tensor]:
    """Save a random DOVERNet (``net=None``: official sizes) as DOVER.pth; returns its state dict.

    Layer scales are drawn larger than their init so that the features depend on the input, and
    each head's last layer is centred on its branch's mean raw score (the fusion's constants), so
    the three scores land inside (0, 100) rather than saturate."""
    torch.manual_seed(seed)
    state = DOVERNet(**(net or {})).state_dict()
    for key, value in state.items():
        if key.endswith(".gamma"):
            value.uniform_(0.2, 1.0)
        elif key.endswith("_head.fc_last.weight"):
            value.normal_(0, 0.01)
    state["technical_head.fc_last.bias"].fill_(TECHNICAL_MEAN_STD[0])
    state["aesthetic_head.fc_last.bias"].fill_(AESTHETIC_MEAN_STD[0])
    path = DOVER_FILE.path
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return state
