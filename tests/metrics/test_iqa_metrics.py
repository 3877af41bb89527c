"""DISTS, MUSIQ, CLIP-IQA and NIQE through pyiqa: one-line errors without weights (nothing
fetched), and real networks on test-built weights in the official file layouts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from iqa_weights import WRITERS
from metric_helpers import photo

from vsrzoo.errors import MissingWeightsError
from vsrzoo.metrics.iqa import WEIGHT_FILES, IQAMetric, check_weights


@pytest.mark.parametrize("metric", sorted(WEIGHT_FILES))
def test_missing_weights_one_line(torch_home, metric):
    wf = WEIGHT_FILES[metric][0]
    with pytest.raises(MissingWeightsError) as info:
        IQAMetric(metric)
    msg = str(info.value)
    assert "\n" not in msg and wf.name in msg and str(wf.path.parent) in msg and wf.url in msg
    assert not torch_home.exists()  # nothing was fetched or created


def test_dists_second_file_checked(torch_home):
    WRITERS["dists"]()
    WEIGHT_FILES["dists"][1].path.unlink()
    with pytest.raises(MissingWeightsError, match="DISTS_weights-f5e65c96.pth"):
        check_weights("dists")


def test_dists_identical_zero_and_range(torch_home):
    WRITERS["dists"]()
    metric = IQAMetric("dists")
    a, b = photo("astronaut", (64, 64)), photo("coffee", (64, 64))
    same = metric(np.stack([a, b]), np.stack([a, b]))
    diff = metric(a, b)
    assert same.shape == (2,) and torch.allclose(same, torch.zeros(2), atol=1e-5)
    assert 0 < float(diff[0]) <= 1


def test_dists_matches_pyiqa_network(torch_home, monkeypatch):
    """Same modules and scores as pyiqa's own DISTS constructor on the same tensors (its VGG16
    download replaced by the test-built features, which hold no classifier)."""
    import torchvision
    from pyiqa.archs import dists_arch

    WRITERS["dists"]()
    ours = IQAMetric("dists")
    feats = torch.load(WEIGHT_FILES["dists"][0].path)
    build = torchvision.models.vgg16

    def vgg16(weights=None):
        vgg = build(weights=None)
        vgg.features.load_state_dict({k.removeprefix("features."): v for k, v in feats.items()})
        return vgg

    monkeypatch.setattr(dists_arch.models, "vgg16", vgg16)
    ref = dists_arch.DISTS(pretrained=False)
    ref.load_state_dict(torch.load(WEIGHT_FILES["dists"][1].path), strict=False)
    assert set(ours.net.state_dict()) == set(ref.state_dict())
    a, b = photo("astronaut", (64, 64)), photo("coffee", (64, 64))
    x = torch.from_numpy(np.stack([a, b])).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        expected = ref.eval()(x, x.flip(0)).flatten()
    torch.testing.assert_close(ours(np.stack([a, b]), np.stack([b, a])), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("metric", ["musiq", "clipiqa", "niqe"])
def test_no_reference_runs_on_built_weights(torch_home, metric):
    WRITERS[metric]()
    m = IQAMetric(metric)
    frames = np.stack([photo("astronaut", (96, 96)), photo("coffee", (96, 96))])
    scores = m(frames)
    assert scores.shape == (2,) and torch.isfinite(scores).all()
    assert torch.allclose(m(frames[:1]), scores[:1], atol=1e-4)  # per frame, order-independent
    if metric == "clipiqa":
        assert ((scores > 0) & (scores < 1)).all()  # a probability of 'good'
    assert not any(p.requires_grad for p in m.parameters())


def test_corrupt_weights_one_line(torch_home):
    path = WEIGHT_FILES["musiq"][0].path
    path.parent.mkdir(parents=True)
    torch.save({"params": {"conv_root.weight": torch.zeros(1)}}, path)
    with pytest.raises(MissingWeightsError, match="does not match the network"):
        IQAMetric("musiq")


def test_niqe_small_frames_one_line(torch_home):
    from vsrzoo.errors import UserError

    WRITERS["niqe"]()
    with pytest.raises(UserError, match=r"niqe needs frames of at least 96x96 .*got 64x64"):
        IQAMetric("niqe")(photo("astronaut", (64, 64)))
