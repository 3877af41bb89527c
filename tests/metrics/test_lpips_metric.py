"""LPIPS: a clear error without the backbone file, never a download; with a backbone file in a
temporary TORCH_HOME it computes exactly what the lpips package computes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from metric_helpers import photo

from vsrzoo.errors import MissingWeightsError
from vsrzoo.metrics.lpips import LPIPS, backbone_path


@pytest.fixture
def reference(torch_home):
    """The lpips package's own AlexNet-v0.1 model (random backbone, shipped heads) and a
    torchvision-format checkpoint of that backbone in the temporary TORCH_HOME."""
    import lpips

    torch.manual_seed(0)
    with warnings.catch_warnings():  # torchvision's 'pretrained' deprecation notice inside lpips
        warnings.simplefilter("ignore")
        model = lpips.LPIPS(net="alex", version="0.1", pnet_rand=True, verbose=False).eval()
    state = {}  # torchvision's key names: lpips keeps the layer indices inside its slices
    for i in range(1, 6):
        for name, module in getattr(model.net, f"slice{i}").named_children():
            state.update({f"features.{name}.{k}": v for k, v in module.state_dict().items()})
    path = torch_home / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth"
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    return model


def test_missing_backbone_names_file_and_place(torch_home):
    expected = torch_home / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth"
    assert backbone_path("alex") == expected
    with pytest.raises(MissingWeightsError) as info:
        LPIPS()
    msg = str(info.value)
    assert "alexnet-owt-7be5be79.pth" in msg and str(expected.parent) in msg and "\n" not in msg
    assert not torch_home.exists() or not any(torch_home.rglob("*"))  # nothing was fetched


def test_matches_lpips_package(reference):
    ours = LPIPS()
    a = photo("astronaut", (64, 80))
    b = photo("coffee", (64, 80))
    ta = torch.from_numpy(np.stack([a, b])).permute(0, 3, 1, 2).float() / 255
    tb = torch.from_numpy(np.stack([b, b])).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        ref = reference(ta * 2 - 1, tb * 2 - 1).flatten()
    got = ours(ta, tb)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-6)
    assert float(got[0]) > 0 and float(got[1]) == pytest.approx(0.0, abs=1e-7)
    # numpy uint8 channel-last frames give the same distances
    torch.testing.assert_close(ours(np.stack([a, b]), np.stack([b, b])), got, rtol=1e-5, atol=1e-6)
