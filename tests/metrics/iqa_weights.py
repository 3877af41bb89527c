"""Random weights in the official file layouts of the pyiqa metrics and DOVER, written under a
temporary TORCH_HOME: the real loading code runs, nothing is downloaded."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from vsrzoo.metrics.iqa import WEIGHT_FILES


def _save(metric: str, index: int, obj) -> Path:
    path = WEIGHT_FILES[metric][index].path
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(obj, path)
    return path


def write_dists() -> None:
    import torchvision

    torch.manual_seed(0)
    vgg = torchvision.models.vgg16(weights=None).features
    _save("dists", 0, {f"features.{k}": v for k, v in vgg.state_dict().items()})  # torchvision's names
    chans = 3 + 64 + 128 + 256 + 512 + 512
    _save("dists", 1, {"alpha": torch.rand(1, chans, 1, 1) * 0.2, "beta": torch.rand(1, chans, 1, 1) * 0.2})


def write_musiq() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pyiqa.archs.musiq_arch import MUSIQ

    torch.manual_seed(0)
    _save("musiq", 0, {"params": MUSIQ(pretrained=False).state_dict()})


def write_clip() -> None:
    """A small CLIP (ResNet image tower, CLIP's 49408-token vocabulary) saved as a TorchScript
    archive with OpenAI's key names, the format of OpenAI's RN50.pt."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pyiqa.archs.clip_model import CLIP

    torch.manual_seed(0)
    model = CLIP(64, 64, (1, 1, 1, 1), 32, None, 77, 49408, 64, 2, 1)
    root = torch.nn.Module()
    for key, value in model.state_dict().items():
        *parents, leaf = key.split(".")
        mod = root
        for name in parents:
            if not hasattr(mod, name):
                mod.add_module(name, torch.nn.Module())
            mod = getattr(mod, name)
        mod.register_buffer(leaf, value.clone())
    path = WEIGHT_FILES["clipiqa"][0].path
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.jit.script(root).save(str(path))


def write_niqe() -> None:
    """NIQE's pristine model as in the MATLAB release: 36-d mean and an SPD covariance."""
    import scipy.io

    rng = np.random.default_rng(0)
    a = rng.normal(size=(36, 36))
    path = WEIGHT_FILES["niqe"][0].path
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(
        path, {"mu_prisparam": rng.normal(size=(1, 36)), "cov_prisparam": a @ a.T / 36 + np.eye(36)}
    )


WRITERS = {"dists": write_dists, "musiq": write_musiq, "clipiqa": write_clip, "niqe": write_niqe}
