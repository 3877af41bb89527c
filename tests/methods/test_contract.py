"""One test over the whole registry: every method's tiny variant keeps the common contract.

The registry is parametrised with one more method, registered at runtime: adding a fifth latent
method is one file of under 80 lines (``tests/methods/fifth/fifthlatent.py``: its denoiser, its
conditioning and its scheduler on :class:`~vsrzoo.methods.latent.LatentVSRMethod`), one
``register_method`` call and a recipe (``fifthlatent-tiny.yaml``); it then passes the same contract
as the shipped four, fit from its recipe included.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

import vsrzoo
from vsrzoo import registry
from vsrzoo.recipes import load_recipe

FIFTH = "fifthlatent"
FIFTH_DIR = Path(__file__).with_name("fifth")
METHODS = [*vsrzoo.list_models(), FIFTH]


def load_fifth():
    spec = importlib.util.spec_from_file_location("fifthlatent", FIFTH_DIR / "fifthlatent.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FifthLatentVSR = load_fifth().FifthLatentVSR


def test_fifth_method_is_one_short_file_of_three_parts():
    """Its denoiser, conditioning and scheduler (plus its loss), nothing of the pipeline repeated."""
    source = (FIFTH_DIR / "fifthlatent.py").read_text()
    assert len(source.splitlines()) < 80
    own = {k for k, v in vars(FifthLatentVSR).items() if callable(v) and not k.startswith("__")}
    assert own == {"condition", "denoise", "inference_scheduler", "training_loss"}


@pytest.fixture(autouse=True)
def fifth_method():
    """Register the fifth method for the duration of each test (the registry is left as it was)."""
    registry.register_method(
        FIFTH,
        variants={
            "tiny": dict(width=8, latent_tile=8, latent_tile_overlap=2, latent_tile_batch=3),
            "full": {},
        },
        paper="none (a test of the method contract)",
    )(FifthLatentVSR)
    yield
    registry._REGISTRY.pop(FIFTH, None)


def test_fifth_method_is_registered_like_the_others():
    assert FIFTH in vsrzoo.list_models() and registry.get_method_info(FIFTH).scales == (4,)
    with pytest.raises(vsrzoo.errors.UserError, match="codec"):
        vsrzoo.create_model(FIFTH, codec="vq-gan")


def test_frozen_codec_is_moved_but_neither_trained_nor_saved(tmp_path):
    model = vsrzoo.create_model(FIFTH, codec="sd-vae")  # the tiny SD VAE: a codec with weights
    codec = sum(p.numel() for p in model.codec.parameters())
    counts = registry.count_parameters(model)
    assert codec > 0 and counts["trainable"] == sum(p.numel() for p in model.net.parameters())
    assert not any(k.startswith("codec.") for k in model.state_dict())
    model.train()
    assert not model.codec.training  # frozen: stays in eval mode
    model.to(torch.float64)
    assert next(model.codec.parameters()).dtype == torch.float64
    model.to(torch.float32).save_pretrained(tmp_path / "ckpt")
    loaded = vsrzoo.create_model(FIFTH, pretrained=str(tmp_path / "ckpt"))
    assert torch.equal(loaded.net.layers[0].weight, model.net.layers[0].weight)
    state = {**model.state_dict(), **{f"codec.{k}": v for k, v in model.codec.state_dict().items()}}
    loaded.load_state_dict(state)  # checkpoints written with the codec inside still load


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
    from vsrzoo.training import fit

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
    recipe = FIFTH_DIR / "fifthlatent-tiny.yaml" if name == FIFTH else None
    cfg = load_recipe(recipe, overrides)
    final = fit(cfg)
    assert (final / "model.safetensors").is_file()
    last = tmp_path / "checkpoints" / "last.ckpt"
    ckpt = torch.load(last, map_location="cpu", weights_only=True)
    assert ckpt["global_step"] == 2
    cfg.trainer.max_steps = 3
    fit(OmegaConf.create(cfg), resume=str(last))
    assert torch.load(last, map_location="cpu", weights_only=True)["global_step"] == 3
