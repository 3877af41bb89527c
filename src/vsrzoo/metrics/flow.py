"""Optical flow backends for the temporal metrics: OpenCV DIS (default, no weights) and RAFT.

- ``dis``: :class:`~vsrzoo.blocks.flow.DISFlow` (Kroeger et al., ECCV 2016, arXiv 1603.03590),
  the estimator InstaVSR also uses, so it lives among the blocks; imported here unchanged.
- ``raft``: Teed and Deng, "RAFT: Recurrent All-Pairs Field Transforms for Optical Flow",
  ECCV 2020 (arXiv 2003.12039), torchvision's ``raft_large``/``raft_small`` with the
  C+T+S+K+H weights, read from ``$TORCH_HOME/hub/checkpoints/`` and never downloaded.

Every backend maps two batches ``(B, 3, H, W)`` (float in [0, 1] or uint8) to the flow from the
first to the second, ``(B, 2, H, W)`` float32 in pixels, x then y (the convention of
:mod:`vsrzoo.blocks.warp`): pixel ``p`` of ``a`` moves to ``p + flow(p)`` in ``b``.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from vsrzoo.blocks.flow import DISFlow, as_float
from vsrzoo.errors import MissingWeightsError, unknown

__all__ = ["FLOW_BACKENDS", "DISFlow", "RAFTFlow", "get_flow"]


def _raft_weights(size: str):
    from torchvision.models import optical_flow as of

    return of.Raft_Large_Weights.C_T_SKHT_V2 if size == "large" else of.Raft_Small_Weights.C_T_V2


def raft_weights_path(size: str = "large") -> Path:
    """Where torchvision keeps the RAFT checkpoint of ``size``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(_raft_weights(size).url).name


class RAFTFlow:
    """RAFT flow from torchvision; weights must already be under ``$TORCH_HOME``."""

    name = "raft"

    def __init__(self, size: str = "large", iters: int = 12, device: str | torch.device = "cpu"):
        if size not in ("large", "small"):
            raise unknown("RAFT size", size, ["large", "small"])
        path = raft_weights_path(size)
        if not path.is_file():
            url = _raft_weights(size).url
            raise MissingWeightsError(
                f"flow backend raft needs {path.name}, not found at {path}; download {url} into "
                f"{path.parent} (or set TORCH_HOME), or use --flow dis"
            )
        from torchvision.models.optical_flow import raft_large, raft_small

        self.model = raft_large() if size == "large" else raft_small()
        self.model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        self.model.eval().requires_grad_(False).to(device)
        self.size, self.iters = size, iters

    def describe(self) -> str:
        return f"raft ({self.size}, torchvision {_raft_weights(self.size).name}, {self.iters} iterations)"

    @torch.no_grad()
    def __call__(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        device = next(self.model.parameters()).device
        a, b = as_float(a).to(device), as_float(b).to(device)
        h, w = a.shape[-2:]
        # RAFT needs sizes divisible by 8 and at least 128 (its correlation pyramid)
        pad = (0, max(128 - w, (-w) % 8), 0, max(128 - h, (-h) % 8))
        a = F.pad(a * 2 - 1, pad, mode="replicate")
        b = F.pad(b * 2 - 1, pad, mode="replicate")
        flow = self.model(a, b, num_flow_updates=self.iters)[-1]
        return flow[..., :h, :w].float()


FLOW_BACKENDS = {"dis": DISFlow, "raft": RAFTFlow}


def get_flow(name: str = "dis", device: str | torch.device = "cpu"):
    """A flow backend by name: ``dis`` (default) or ``raft``."""
    if name not in FLOW_BACKENDS:
        raise unknown("flow backend", name, FLOW_BACKENDS)
    return RAFTFlow(device=device) if name == "raft" else DISFlow()
