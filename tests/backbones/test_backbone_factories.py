"""Backbone factories: full sizes on the meta device, tiny speed, save/load offline, loading errors."""

from __future__ import annotations

import json
import time

import pytest
import torch
from diffusers import AutoencoderKL, PixArtTransformer2DModel

from vsrzoo.backbones import BACKBONES, create_backbone, describe, list_backbones
from vsrzoo.backbones.pixart import build_pixart
from vsrzoo.backbones.vae import build_sd_vae
from vsrzoo.backbones.wan import build_wan21
from vsrzoo.errors import MissingWeightsError, UserError
from vsrzoo.registry import count_parameters

FULL_MILLIONS = {
    "pixart-alpha": 610.9,
    "wan2.1-t2v-1.3b": 1419.0,
    "wan2.2-ti2v-5b": 4999.8,
    "sd-vae": 83.7,
    "wan2.1-vae": 126.9,
    "wan2.2-vae": 704.7,
}


@pytest.mark.parametrize("name", sorted(FULL_MILLIONS))
def test_full_parameter_counts_on_meta(name):
    model = create_backbone(name, "full", device="meta")
    assert next(model.parameters()).is_meta
    assert round(count_parameters(model)["total"] / 1e6, 1) == FULL_MILLIONS[name]


def test_full_configs_match_the_papers():
    pixart = build_pixart("full", device="meta").config
    assert (pixart.num_layers, pixart.num_attention_heads * pixart.attention_head_dim) == (28, 1152)
    assert (pixart.patch_size, pixart.in_channels, pixart.out_channels) == (2, 4, 8)
    wan22 = create_backbone("wan2.2-ti2v-5b", "full", device="meta").config
    assert wan22.num_attention_heads * wan22.attention_head_dim == 3072
    assert (wan22.num_layers, wan22.num_attention_heads, wan22.ffn_dim) == (30, 24, 14336)
    assert (wan22.in_channels, wan22.out_channels, tuple(wan22.patch_size)) == (48, 48, (1, 2, 2))
    vae22 = create_backbone("wan2.2-vae", "full", device="meta")
    assert (vae22.latent_channels, vae22.spatial_factor, vae22.temporal_factor) == (48, 16, 4)


@pytest.fixture
def one_thread():
    """One intra-op thread, so CPU time measures the work, not the other jobs sharing the machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("name", list_backbones())
def test_tiny_forward_backward_under_a_second(name, run_backbone, one_thread):
    model = create_backbone(name, "tiny")
    run_backbone(name, model).float().square().mean().backward()  # warm-up
    best = float("inf")
    for _ in range(3):
        model.zero_grad(set_to_none=True)
        start = time.process_time()
        out = run_backbone(name, model)
        out.float().square().mean().backward()
        best = min(best, time.process_time() - start)
    assert torch.isfinite(out).all()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None for g in grads)
    assert best < 1.0, f"{name} tiny forward+backward took {best:.2f} CPU s"


@pytest.mark.parametrize("name", list_backbones())
def test_save_load_offline_gives_identical_outputs(name, run_backbone, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    torch.manual_seed(0)
    model = create_backbone(name, "tiny").eval()
    model.save_pretrained(tmp_path / "ckpt")
    loaded = create_backbone(name, pretrained=str(tmp_path / "ckpt")).eval()
    with torch.no_grad():
        torch.testing.assert_close(run_backbone(name, loaded), run_backbone(name, model), rtol=0, atol=0)


def test_pipeline_folder_subfolder_is_found(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = build_pixart("tiny")
    model.save_pretrained(tmp_path / "pipe" / "transformer")
    loaded = build_pixart(pretrained=str(tmp_path / "pipe"))
    assert isinstance(loaded, PixArtTransformer2DModel)
    assert torch.equal(loaded.proj_out.weight, model.proj_out.weight)


def test_original_pixart_class_name_is_accepted(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    build_pixart("tiny").save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["_class_name"] = "Transformer2DModel"  # as in the public PixArt-alpha checkpoints
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert isinstance(build_pixart(pretrained=str(tmp_path)), PixArtTransformer2DModel)


def test_missing_local_dir_names_it(tmp_path):
    missing = tmp_path / "nowhere" / "pixart"
    with pytest.raises(MissingWeightsError) as err:
        build_pixart(pretrained=str(missing))
    msg = str(err.value)
    assert str(missing) in msg and "huggingface-cli download" in msg and "\n" not in msg


def test_dir_without_config_says_so(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(MissingWeightsError, match="config.json"):
        build_wan21(pretrained=str(tmp_path / "empty"))


def test_wrong_class_config_is_a_user_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    build_sd_vae("tiny").save_pretrained(tmp_path / "vae")
    with pytest.raises(UserError) as err:
        build_pixart(pretrained=str(tmp_path / "vae"))
    msg = str(err.value)
    assert "AutoencoderKL" in msg and "PixArtTransformer2DModel" in msg and "\n" not in msg


def test_unreachable_hub_id_offline_fails_fast(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(MissingWeightsError) as err:
        build_wan21(pretrained="vsrzoo-test/no-such-model")
    assert time.perf_counter() - start < 5
    msg = str(err.value)
    assert (
        "vsrzoo-test/no-such-model" in msg and "HF_HUB_OFFLINE" in msg and "huggingface-cli download" in msg
    )


def test_unknown_variant_and_name_and_key():
    with pytest.raises(UserError, match="did you mean 'tiny'"):
        create_backbone("pixart-alpha", "tiny2")
    with pytest.raises(UserError, match="did you mean 'sd-vae'"):
        create_backbone("sd-vea")
    with pytest.raises(UserError, match="num_layerz"):
        build_pixart("tiny", num_layerz=3)


def test_overrides_change_the_config():
    model = build_pixart("tiny", num_layers=3)
    assert len(model.transformer_blocks) == 3


def test_describe_lists_every_backbone_and_variant():
    rows = describe(variants=("tiny", "full"))
    assert {(r["backbone"], r["variant"]) for r in rows} == {
        (n, v) for n in BACKBONES for v in ("tiny", "full")
    }
    by_key = {(r["backbone"], r["variant"]): r for r in rows}
    assert round(by_key["pixart-alpha", "full"]["total"] / 1e6, 1) == 610.9
    assert by_key["sd-vae", "full"]["class"] == "AutoencoderKL"
    for row in rows:
        assert row["total"] == row["trainable"] + row["frozen"]
    assert by_key["pixel-unshuffle", "full"]["total"] == 0


def test_meta_build_allocates_nothing():
    vae = build_sd_vae("full", device="meta")
    assert isinstance(vae.vae, AutoencoderKL)
    assert all(p.is_meta for p in vae.parameters())
