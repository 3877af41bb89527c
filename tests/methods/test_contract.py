"""One test over the whole registry: every method's tiny variant keeps the common contract."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

import vsrzoo
from vsrzoo.recipes import load_recipe

METHODS = vsrzoo.list_models()


def tiny(name: str):
    torch.manual_seed(0)
    return vsrzoo.create_model(name, variant="tiny")


def batch(model, t: int | None = None, lr_size: int = 16, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    t = t or model.segment_length
    s = model.scale
    return {
        "lr": torch.rand(1, t, 3, lr_size, lr_size, generator=g),
        "gt": torch.rand(1, t, 3, lr_size * s, lr_size * s, generator=g),
        "clip": ["synthetic"],
    }


def trainable(model) -> bool:
    return any(p.requires_grad for p in model.parameters())


@pytest.mark.parametrize("name", METHODS)
def test_training_step_updates_weights(name):
    model = tiny(name)
    if not trainable(model):
        pytest.skip(f"{name} has no trainable parameters")
    model.configure_training({"lr": 1e-3})
    losses = model.training_loss(batch(model, seed=1))
    assert torch.isfinite(losses["loss"])
    losses["loss"].backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad and p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("name", METHODS)
def test_validation_step_and_upscale(name):
    model = tiny(name).eval()
    b = batch(model, t=model.segment_length + 1, lr_size=12)
    with torch.no_grad():
        psnr = model.validation_step(b, 0)
    assert torch.isfinite(psnr)
    frames = [np.random.default_rng(i).integers(0, 256, (12, 14, 3), dtype=np.uint8) for i in range(3)]
    out = list(model.upscale(iter(frames)))
    assert (
        len(out) == 3 and out[0].shape == (12 * model.scale, 14 * model.scale, 3) and out[0].dtype == np.uint8
    )


@pytest.mark.parametrize("name", METHODS)
def test_save_load_roundtrip(name, tmp_path):
    model = tiny(name).eval()
    with torch.no_grad():  # perturb zero-initialised layers so the round trip is meaningful
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    model.save_pretrained(tmp_path / "ckpt")
    loaded = vsrzoo.create_model(name, pretrained=str(tmp_path / "ckpt")).eval()
    lr = batch(model)["lr"]
    torch.manual_seed(3)
    with torch.no_grad():
        a = model.upscale_clip(lr)
    torch.manual_seed(3)
    with torch.no_grad():
        b = loaded.upscale_clip(lr)
    assert torch.equal(a, b)


@pytest.mark.slow
@pytest.mark.parametrize("name", METHODS)
def test_fit_and_resume(name, tmp_path, sample_root):
    from vsrzoo.methods.train import fit

    if not trainable(tiny(name)):
        pytest.skip(f"{name} has no trainable parameters")
    overrides = [
        f"model.name={name}",
        f"output_dir={tmp_path}",
        "trainer.max_steps=2",
        "trainer.limit_val_batches=1",
        "trainer.enable_progress_bar=false",
        "data.crop_size=32",
        "data.batch_size=1",
        "data.val_max_frames=2",
    ]
    cfg = load_recipe(None, overrides)
    final = fit(cfg)
    assert (final / "model.safetensors").is_file()
    last = tmp_path / "checkpoints" / "last.ckpt"
    ckpt = torch.load(last, map_location="cpu", weights_only=True)
    assert ckpt["global_step"] == 2
    cfg.trainer.max_steps = 3
    fit(OmegaConf.create(cfg), resume=str(last))
    assert torch.load(last, map_location="cpu", weights_only=True)["global_step"] == 3
