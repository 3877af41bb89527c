"""LPIPS (Zhang et al., "The Unreasonable Effectiveness of Deep Features as a Perceptual Metric",
CVPR 2018, arXiv 1801.03924) through the ``lpips`` package, AlexNet v0.1 by default.

The package ships only the linear heads; the backbone is torchvision's ImageNet checkpoint,
which torchvision would silently download. vsrzoo never downloads: the backbone file must
already be in ``$TORCH_HOME/hub/checkpoints/`` (the cache torchvision itself uses), and both
files are read with ``torch.load(..., weights_only=True)`` after the network is built with
random weights, so the ``lpips`` package has no chance to fetch anything.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vsrzoo.errors import BadWeightsError, MissingWeightsError, unknown

__all__ = ["BACKBONE_FILES", "LPIPS", "backbone_path", "unit_frames"]

# backbone -> (torchvision checkpoint file, its download URL)
BACKBONE_FILES = {
    "alex": ("alexnet-owt-7be5be79.pth", "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"),
    "vgg": ("vgg16-397923af.pth", "https://download.pytorch.org/models/vgg16-397923af.pth"),
}


def backbone_path(net: str = "alex") -> Path:
    """Where torchvision keeps the ImageNet weights of LPIPS backbone ``net``."""
    if net not in BACKBONE_FILES:
        raise unknown("LPIPS backbone", net, BACKBONE_FILES)
    return Path(torch.hub.get_dir()) / "checkpoints" / BACKBONE_FILES[net][0]


def check_backbone(net: str = "alex") -> Path:
    """The backbone file path, or a MissingWeightsError that says where to put it."""
    path = backbone_path(net)
    if not path.is_file():
        name, url = BACKBONE_FILES[net]
        raise MissingWeightsError(
            f"LPIPS needs the {net} backbone weights {name}, not found at {path}; download {url} "
            f"into {path.parent} (or set TORCH_HOME), or leave lpips/tlpips out of --metrics"
        )
    return path


def _feature_weights(net: str, path: Path) -> dict[str, torch.Tensor]:
    """The ``features.*`` tensors of a torchvision checkpoint, keys without the prefix."""
    from vsrzoo.metrics.weights import weights_only_load

    state = weights_only_load(path)
    feats = {
        k.removeprefix("features."): v
        for k, v in (state.items() if isinstance(state, dict) else ())
        if isinstance(k, str) and k.startswith("features.") and isinstance(v, torch.Tensor)
    }
    if not feats:
        raise BadWeightsError(f"{path} holds no 'features.*' weights: not a torchvision {net} checkpoint")
    return feats


class LPIPS(nn.Module):
    """LPIPS distance of frame batches; inputs (N, 3, H, W) float in [0, 1] or uint8, or
    numpy uint8 frames (N, H, W, 3). Returns one distance per frame, shape (N,)."""

    def __init__(self, net: str = "alex", version: str = "0.1"):
        super().__init__()
        path = check_backbone(net)
        import lpips

        with warnings.catch_warnings():  # torchvision's 'pretrained' deprecation notice
            warnings.simplefilter("ignore")
            self.model = lpips.LPIPS(
                pretrained=False, net=net, version=version, pnet_rand=True, verbose=False
            )
        heads = Path(lpips.__file__).parent / "weights" / f"v{version}" / f"{net}.pth"
        state = torch.load(heads, map_location="cpu", weights_only=True)
        _, unexpected = self.model.load_state_dict(state, strict=False)
        if unexpected or len(state) != len(self.model.lins):
            raise RuntimeError(f"LPIPS heads {heads} do not match the {net} network")
        self._load_backbone(_feature_weights(net, path), path)
        self.net_name, self.version = net, version
        self.eval().requires_grad_(False)

    def _load_backbone(self, feats: dict[str, torch.Tensor], path: Path) -> None:
        """lpips keeps torchvision's layer indices as module names inside its slices; a file whose
        tensors do not fit them is one BadWeightsError naming it."""
        for i in range(1, self.model.net.N_slices + 1):
            for name, module in getattr(self.model.net, f"slice{i}").named_children():
                part = {
                    k.split(".", 1)[1]: v for k, v in feats.items() if k.split(".")[0] == name and "." in k
                }
                try:
                    module.load_state_dict(part)
                except RuntimeError as exc:
                    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
                    raise BadWeightsError(
                        f"{path} does not match the LPIPS {self.model.pnet_type} backbone (layer {name}: {lines[-1]})"
                    ) from None

    @torch.no_grad()
    def forward(self, x: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray) -> torch.Tensor:
        device = next(self.parameters()).device
        return self.model(unit_frames(x, device), unit_frames(y, device), normalize=True).flatten()


def unit_frames(x: torch.Tensor | np.ndarray, device) -> torch.Tensor:
    """Frames to float (N, 3, H, W) in [0, 1] on ``device``."""
    if isinstance(x, np.ndarray):
        t = torch.from_numpy(np.ascontiguousarray(x))
        t = (t.unsqueeze(0) if t.dim() == 3 else t).permute(0, 3, 1, 2)
    else:
        t = x.unsqueeze(0) if x.dim() == 3 else x
    t = t.to(device)
    return t.float() / 255.0 if t.dtype == torch.uint8 else t.float()
