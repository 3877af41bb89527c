"""The LPIPS network (Zhang et al., "The Unreasonable Effectiveness of Deep Features as a Perceptual
Metric", CVPR 2018, arXiv 1801.03924) of the ``lpips`` package, AlexNet v0.1 by default, built
and loaded from local files only.

Why a block: InstaVSR trains with it as a differentiable perceptual loss and the LPIPS metric
(:mod:`vsrzoo.metrics.lpips`) measures with it, so it sits below both. Unlike the other blocks it
reads weight files, never a download: the package ships only the linear heads; the backbone is
torchvision's ImageNet checkpoint, which torchvision would silently download, so it must already
be in ``$TORCH_HOME/hub/checkpoints/`` (the cache torchvision itself uses), and both files are read
with ``torch.load(..., weights_only=True)`` after the network is built with random weights, so
the ``lpips`` package has no chance to fetch anything.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from vsrzoo.errors import BadWeightsError, MissingWeightsError, unknown
from vsrzoo.weight_files import weights_only_load

__all__ = ["BACKBONE_FILES", "backbone_path", "check_backbone", "lpips_network"]

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
    state = weights_only_load(path)
    feats = {
        k.removeprefix("features."): v
        for k, v in (state.items() if isinstance(state, dict) else ())
        if isinstance(k, str) and k.startswith("features.") and isinstance(v, torch.Tensor)
    }
    if not feats:
        raise BadWeightsError(f"{path} holds no 'features.*' weights: not a torchvision {net} checkpoint")
    return feats


def lpips_network(net: str = "alex", version: str = "0.1") -> nn.Module:
    """The ``lpips`` package's network (``lpips.LPIPS``) with its shipped heads and the local
    ``net`` backbone, in eval mode without gradients for its weights; a MissingWeightsError
    naming where the backbone file goes when it is absent."""
    path = check_backbone(net)
    import lpips

    with warnings.catch_warnings():  # torchvision's 'pretrained' deprecation notice
        warnings.simplefilter("ignore")
        model = lpips.LPIPS(pretrained=False, net=net, version=version, pnet_rand=True, verbose=False)
    heads = Path(lpips.__file__).parent / "weights" / f"v{version}" / f"{net}.pth"
    state = torch.load(heads, map_location="cpu", weights_only=True)
    _, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or len(state) != len(model.lins):
        raise RuntimeError(f"LPIPS heads {heads} do not match the {net} network")
    _load_backbone(model, _feature_weights(net, path), path)
    return model.eval().requires_grad_(False)


def _load_backbone(model: nn.Module, feats: dict[str, torch.Tensor], path: Path) -> None:
    """lpips keeps torchvision's layer indices as module names inside its slices; a file whose
    tensors do not fit them is one BadWeightsError naming it."""
    for i in range(1, model.net.N_slices + 1):
        for name, module in getattr(model.net, f"slice{i}").named_children():
            part = {k.split(".", 1)[1]: v for k, v in feats.items() if k.split(".")[0] == name and "." in k}
            try:
                module.load_state_dict(part)
            except RuntimeError as exc:
                lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
                raise BadWeightsError(
                    f"{path} does not match the LPIPS {model.pnet_type} backbone (layer {name}: {lines[-1]})"
                ) from None
