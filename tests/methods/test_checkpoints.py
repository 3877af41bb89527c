"""Lean checkpoints: frozen pretrained parts are referenced, not written; self-contained export;
PixArt-alpha 512 and 1024 configurations in LiftVSR."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

import vsrzoo
from vsrzoo.backbones.pixart import build_pixart
from vsrzoo.methods.liftvsr import LiftVSR
from vsrzoo.methods.litevsr import LiteVSR
from vsrzoo.registry import get_method_info


def tiny_litevsr_with_prior(tmp_path):
    """The tiny LiteVSR whose frozen DiT is loaded from a saved prior (recipes/litevsr-tiny.yaml's shape)."""
    torch.manual_seed(0)
    vsrzoo.create_model("litevsr", variant="tiny", stage="prior").save_pretrained(tmp_path / "prior")
    model = vsrzoo.create_model(
        "litevsr", variant="tiny", backbone_pretrained=str(tmp_path / "prior/transformer")
    )
    with torch.no_grad():  # a trained adapter: not its zero initialisation
        for p in model.net.adapter.parameters():
            p.add_(0.01 * torch.randn_like(p))
    return model


def same_parameters(a, b):
    pa, pb = dict(a.named_parameters()), dict(b.named_parameters())
    return pa.keys() == pb.keys() and all(torch.equal(pa[k], pb[k]) for k in pa)


def test_tiny_litevsr_checkpoint_excludes_the_frozen_prior_and_reloads_bit_identically(tmp_path):
    model = tiny_litevsr_with_prior(tmp_path)
    model.save_pretrained(tmp_path / "lean")
    saved = load_file(str(tmp_path / "lean/model.safetensors"))
    assert saved and not any(k.startswith("net.backbone.") for k in saved)
    assert {k for k, p in model.named_parameters() if p.requires_grad} <= set(saved)
    meta = json.loads((tmp_path / "lean/config.json").read_text())
    assert meta["base_weights"] == {"backbone_pretrained": str(tmp_path / "prior/transformer")}
    assert not any(k.startswith("net.backbone.") for k in model.state_dict())  # Lightning .ckpt too

    loaded = LiteVSR.from_pretrained(tmp_path / "lean")
    assert same_parameters(model, loaded)
    lr = torch.rand(1, 2, 3, 16, 16)
    model.eval(), loaded.eval()
    torch.manual_seed(1)
    expected = model(lr)
    torch.manual_seed(1)
    assert torch.equal(loaded(lr), expected)


def test_self_contained_export_needs_no_reference(tmp_path):
    model = tiny_litevsr_with_prior(tmp_path)
    model.save_pretrained(tmp_path / "full", self_contained=True)
    saved = load_file(str(tmp_path / "full/model.safetensors"))
    assert any(k.startswith("net.backbone.") for k in saved)
    meta = json.loads((tmp_path / "full/config.json").read_text())
    assert meta["config"]["backbone_pretrained"] is None and meta["base_weights"] == {}
    (tmp_path / "prior/transformer/config.json").unlink()  # the reference is gone
    assert same_parameters(model, LiteVSR.from_pretrained(tmp_path / "full"))


def test_lightning_checkpoint_is_lean_and_resumes(tmp_path):
    model = tiny_litevsr_with_prior(tmp_path)
    ckpt = {"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams)}
    torch.save(ckpt, tmp_path / "last.ckpt")
    assert not any(k.startswith("net.backbone.") for k in ckpt["state_dict"])
    assert same_parameters(model, LiteVSR.from_pretrained(tmp_path / "last.ckpt"))


def test_frozen_dtype_stores_frozen_parts_in_bf16_and_trains_under_autocast(tmp_path):
    model = vsrzoo.create_model("litevsr", variant="tiny", frozen_dtype="bfloat16")
    assert {p.dtype for p in model.net.backbone.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in model.net.adapter.parameters()} == {torch.float32}
    batch = {"lr": torch.rand(1, 2, 3, 16, 16), "gt": torch.rand(1, 2, 3, 64, 64)}
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model.training_loss(batch)["loss"]
    loss.backward()
    assert all(p.grad is not None for p in model.net.adapter.parameters() if p.requires_grad)


@pytest.mark.parametrize(
    "extra", [{}, {"use_additional_conditions": True, "sample_size": 128}], ids=["512", "1024"]
)
def test_liftvsr_takes_pixart_512_and_1024_checkpoints(extra, tmp_path):
    """PixArt-alpha 1024 (``use_additional_conditions``) needs resolution and aspect-ratio embeddings."""
    torch.manual_seed(0)
    spec = {
        k: v for k, v in get_method_info("liftvsr").variants["tiny"]["backbone"].items() if k != "variant"
    }
    pixart = build_pixart("tiny", **{**spec, "in_channels": 48, "out_channels": 96, **extra})
    assert pixart.use_additional_conditions == bool(extra)
    pixart.save_pretrained(tmp_path / "pixart")
    model = vsrzoo.create_model(
        "liftvsr", variant="tiny", backbone_pretrained=str(tmp_path / "pixart"), lora_rank=4
    )
    batch = {"lr": torch.rand(1, 8, 3, 16, 16), "gt": torch.rand(1, 8, 3, 64, 64)}
    model.training_loss(batch)["loss"].backward()
    model.save_pretrained(tmp_path / "lean")
    saved = load_file(str(tmp_path / "lean/model.safetensors"))
    frozen = {f"net.pixart.{k}" for k, p in model.net.pixart.named_parameters() if not p.requires_grad}
    assert frozen and not frozen & set(saved)
    model.eval()
    loaded = LiftVSR.from_pretrained(tmp_path / "lean").eval()
    lr = torch.rand(1, 4, 3, 16, 16)
    torch.manual_seed(2)
    expected = model(lr)
    torch.manual_seed(2)
    assert torch.equal(loaded(lr), expected)
    if extra:  # the micro-conditions really enter the network
        cond = model.net.added_conditions(2, 16, 8, lr)
        assert (
            cond["resolution"].tolist() == [[64.0, 32.0]] * 2 and cond["aspect_ratio"].tolist() == [[2.0]] * 2
        )


def test_checkpoint_save_streams_to_disk_instead_of_a_second_copy_in_host_ram(tmp_path):
    """Issue 28 item 6: Lightning's save buffers the whole checkpoint in RAM; vsrzoo's writes it to disk."""
    import tracemalloc

    from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

    from vsrzoo.training import WeightsOnlyCheckpointIO

    ckpt = {"state_dict": {"w": torch.randn(16, 2**20)}, "global_step": 3}  # 64 MiB of weights
    peaks = {}
    for name, io in (("lightning", TorchCheckpointIO()), ("vsrzoo", WeightsOnlyCheckpointIO())):
        tracemalloc.start()
        io.save_checkpoint(ckpt, tmp_path / name / "last.ckpt")
        peaks[name] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peaks["lightning"] > 64 * 2**20 > 16 * peaks["vsrzoo"]
    back = WeightsOnlyCheckpointIO().load_checkpoint(tmp_path / "vsrzoo" / "last.ckpt")
    assert torch.equal(back["state_dict"]["w"], ckpt["state_dict"]["w"]) and back["global_step"] == 3
    assert sorted(p.name for p in (tmp_path / "vsrzoo").iterdir()) == ["last.ckpt"]  # no partial file left
