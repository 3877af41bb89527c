"""SimpleGVR (arXiv 2506.19838): attention processors, temporal units, latent upsampler, sampler, variants."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

import vsrzoo
from vsrzoo.backbones.common import set_attention_processor
from vsrzoo.backbones.wan import build_wan21
from vsrzoo.data.resize import imresize
from vsrzoo.methods.simplegvr_net import GridContext, SimpleGVRAttnProcessor, SimpleGVRNet, _RecordGrid
from vsrzoo.registry import count_parameters


def untrained(**kwargs):
    """The tiny model with a random (not zero) output layer, so its output depends on its inputs."""
    model = vsrzoo.create_model("simplegvr", variant="tiny", **kwargs)
    torch.nn.init.normal_(model.net.transformer.proj_out.weight, std=0.02)
    return model


def tiny_dit(in_channels: int = 8, out_channels: int = 4, layers: int = 2):
    torch.manual_seed(0)
    return build_wan21("tiny", in_channels=in_channels, out_channels=out_channels, num_layers=layers).eval()


def run_dit(dit, x):
    text = torch.zeros(x.shape[0], 1, dit.config.text_dim)
    t = torch.full((x.shape[0],), 500.0)
    with torch.no_grad():
        return dit(x, timestep=t, encoder_hidden_states=text, return_dict=False)[0]


def install(dit, **kwargs):
    context = GridContext()
    dit.register_forward_pre_hook(_RecordGrid(context), with_kwargs=True)
    set_attention_processor(dit, lambda i, attn: SimpleGVRAttnProcessor(context, **kwargs))


def test_dense_processor_without_units_equals_wan_attention():
    dit = tiny_dit()
    x = torch.randn(1, 8, 3, 6, 8)
    reference = run_dit(dit, x)
    install(dit, temporal_window=None, sparse=False)
    torch.testing.assert_close(run_dit(dit, x), reference, atol=1e-5, rtol=1e-5)


def test_sparse_attention_covering_every_block_equals_dense_within_units():
    dit = tiny_dit()
    x = torch.randn(1, 8, 4, 6, 8)  # token grid (4, 3, 4): one block per frame
    install(dit, temporal_window=2, sparse=False)
    dense = run_dit(dit, x)
    install(dit, temporal_window=2, sparse=True, block_size=(9, 12), top_k=3, topk_scope="unit")
    torch.testing.assert_close(run_dit(dit, x), dense, atol=1e-5, rtol=1e-5)
    install(dit, temporal_window=2, sparse=True, block_size=(9, 12), top_k=1, topk_scope="clip")
    assert not torch.allclose(run_dit(dit, x), dense, atol=1e-4)  # the pick reaches another unit
    install(dit, temporal_window=None, sparse=False)
    assert not torch.allclose(run_dit(dit, x), dense, atol=1e-4)


def net(shifted: bool, topk_scope: str = "unit") -> SimpleGVRNet:
    torch.manual_seed(0)
    return SimpleGVRNet(
        tiny_dit(8, 4),
        4,
        4,
        upsampler_hidden=8,
        temporal_window=2,
        shifted_windows=shifted,
        topk_scope=topk_scope,
    ).eval()


def test_temporal_units_isolate_frames_and_shifted_layers_connect_them():
    x = torch.randn(1, 8, 4, 4, 4)
    changed = x.clone()
    changed[:, :, 2:] = torch.randn_like(changed[:, :, 2:])
    plain = net(shifted=False)
    a, b = run_dit(plain.transformer, x), run_dit(plain.transformer, changed)
    torch.testing.assert_close(a[:, :, :2], b[:, :, :2])  # units {0, 1} and {2, 3} never meet
    shifted = net(shifted=True)
    a, b = run_dit(shifted.transformer, x), run_dit(shifted.transformer, changed)
    assert not torch.allclose(a[:, :, 1], b[:, :, 1], atol=1e-5)  # layer 1 unit {1, 2} crosses the border
    torch.testing.assert_close(a[:, :, 0], b[:, :, 0])  # frame 0 is alone in its shifted unit
    clip = net(shifted=False, topk_scope="clip")  # paper: top-k across the whole clip
    a, b = run_dit(clip.transformer, x), run_dit(clip.transformer, changed)
    assert not torch.allclose(a[:, :, :2], b[:, :, :2], atol=1e-5)  # future frames 2, 3 reach frames 0, 1


def test_odd_layers_are_shifted_and_sparse_attention_switches():
    model = vsrzoo.create_model("simplegvr", variant="tiny")
    procs = [blk.attn1.processor for blk in model.net.transformer.blocks]
    assert [p.shifted for p in procs] == [False, True]
    assert all(
        p.sparse and p.top_k == 1 and p.block_size == (9, 12) and p.temporal_window == 5 for p in procs
    )
    model.set_sparse_attention(False)
    assert not any(blk.attn1.processor.sparse for blk in model.net.transformer.blocks)


def test_latent_upsampler_reaches_the_hr_latent_size():
    model = vsrzoo.create_model("simplegvr", variant="tiny")
    cond = model.net.condition(torch.randn(2, 48, 3, 5, 7), (20, 28))
    assert cond.shape == (2, 48, 3, 20, 28)


def test_sampler_runs_the_configured_number_of_steps():
    model = vsrzoo.create_model("simplegvr", variant="tiny", num_inference_steps=3).eval()
    calls = {"dit": 0, "upsampler": 0}
    model.net.transformer.register_forward_hook(lambda *a: calls.__setitem__("dit", calls["dit"] + 1))
    model.net.upsampler.register_forward_hook(
        lambda *a: calls.__setitem__("upsampler", calls["upsampler"] + 1)
    )
    with torch.no_grad():
        out = model(torch.rand(1, 4, 3, 8, 8))
    assert out.shape == (1, 4, 3, 32, 32)
    assert calls == {"dit": 3, "upsampler": 1}  # the condition is computed once per segment


def test_residual_reference_decodes_to_matlab_bicubic():
    model = vsrzoo.create_model("simplegvr", variant="tiny")
    lr = torch.rand(1, 2, 3, 8, 12)
    base = model.base_latent(lr, (32, 48))
    torch.testing.assert_close(model.decode(base), imresize(lr, 4).clamp(0, 1), atol=1e-6, rtol=0)
    assert vsrzoo.create_model("simplegvr", variant="tiny", residual=False).base_latent(lr, (32, 48)) is None


def test_inference_lr_noise_level_is_fixed_and_used():
    torch.manual_seed(0)
    model = untrained().eval()
    lr = torch.rand(1, 2, 3, 8, 8)
    outs = []
    for level in (0.3, 0.3, 0.9):
        model.lr_noise.eval_level = level
        torch.manual_seed(1)
        with torch.no_grad():
            outs.append(model(lr))
    torch.testing.assert_close(outs[0], outs[1])
    assert not torch.equal(outs[0], outs[2])
    model.lr_noise.train()
    _, levels = model.lr_noise(torch.zeros(256, 1))
    assert 0.3 <= levels.min() and levels.max() <= 0.6 and levels.std() > 0.05


def _record_noise_path(model):
    """Hooks: what the latent upsampler reads and returns, and the condition channels the DiT reads."""
    seen = {}
    model.net.upsampler.register_forward_hook(
        lambda m, args, out: seen.update(up_in=args[0].detach().clone(), up_out=out.detach().clone())
    )
    c = model.net.latent_channels

    def dit_in(m, args, kwargs):
        seen["dit_cond"] = (args[0] if args else kwargs["hidden_states"])[:, c:].detach().clone()

    model.net.transformer.register_forward_pre_hook(dit_in, with_kwargs=True)
    return seen


def test_noise_is_applied_after_the_latent_upsampler():
    """Paper Sec. 4.1 / Fig. 2: the upsampler reads the clean LR latent; its output is noised."""
    torch.manual_seed(0)
    model = untrained().eval()
    seen = _record_noise_path(model)
    lr = torch.rand(1, 2, 3, 8, 8)
    clean_lr_latent, _ = model.condition_latents(lr, (32, 32))
    runs = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        with torch.no_grad():
            runs.append((model(lr), dict(seen)))
    for _, s in runs:
        torch.testing.assert_close(s["up_in"], clean_lr_latent)  # no noise before the upsampler
        eps = (s["dit_cond"] - 0.7 * s["up_out"]) / 0.3  # level 0.3 on the upsampler's output
        assert 0.8 < eps.std() < 1.2 and abs(eps.mean()) < 0.1
    assert not torch.equal(runs[0][1]["dit_cond"], runs[1][1]["dit_cond"])
    assert not torch.equal(runs[0][0], runs[1][0])  # the noise changes the output

    model.train()
    batch = {"lr": torch.rand(2, 2, 3, 8, 8), "gt": torch.rand(2, 2, 3, 32, 32)}
    loss = model.training_loss(batch)["loss"]
    torch.testing.assert_close(seen["up_in"], model.condition_latents(batch["lr"], (32, 32))[0])
    assert not torch.allclose(seen["dit_cond"], seen["up_out"], atol=1e-3)
    loss.backward()
    assert model.net.upsampler.conv_out.weight.grad.abs().sum() > 0  # the upsampler learns through the noise


def test_default_topk_scope_is_the_whole_clip_and_unit_is_an_option():
    model = vsrzoo.create_model("simplegvr", variant="tiny")
    assert {blk.attn1.processor.topk_scope for blk in model.net.transformer.blocks} == {"clip"}
    unit = vsrzoo.create_model("simplegvr", variant="tiny", topk_scope="unit")
    assert {blk.attn1.processor.topk_scope for blk in unit.net.transformer.blocks} == {"unit"}
    unit.set_sparse_attention(True)
    assert {blk.attn1.processor.topk_scope for blk in unit.net.transformer.blocks} == {"unit"}


def test_output_size_mode_targets_a_fixed_resolution():
    model = vsrzoo.create_model("simplegvr", variant="tiny", output_size=[40, 56]).eval()
    with torch.no_grad():
        out = model(torch.rand(1, 2, 3, 12, 16))
    assert out.shape == (1, 2, 3, 40, 56)


def test_null_prompt_dropout_on_caption_embeddings():
    model = untrained()
    dim = model.net.transformer.config.text_dim
    batch = {"lr": torch.rand(1, 2, 3, 8, 8), "gt": torch.rand(1, 2, 3, 32, 32), "clip": ["x"]}
    captioned = {**batch, "text_embeds": torch.randn(1, 7, dim)}

    def loss(b, prob):
        model.hparams.null_prompt_prob = prob
        torch.manual_seed(5)
        return model.training_loss(b)["loss"]

    torch.testing.assert_close(loss(captioned, 1.0), loss(batch, 1.0))  # dropped caption == null prompt
    assert not torch.allclose(loss(captioned, 0.0), loss(batch, 0.0))


def test_training_uses_detail_aware_timesteps():
    model = vsrzoo.create_model("simplegvr", variant="tiny")
    t = model.timesteps(20000)
    assert (t > 0.5).float().mean() > 0.6  # mass on mid and high noise


def test_wan_vae_codec_pads_frames_to_its_temporal_factor():
    model = vsrzoo.create_model("simplegvr", variant="tiny", codec="wan2.1-vae", codec_variant="tiny").eval()
    assert model.codec.temporal_factor == 4 and model.codec.spatial_factor == 8
    with torch.no_grad():
        out = model(torch.rand(1, 3, 3, 8, 12))  # 3 frames -> 5 (1 + 4k), 8x12 -> 8x16 before encoding
    assert out.shape == (1, 3, 3, 32, 48)
    batch = {"lr": torch.rand(1, 2, 3, 8, 8), "gt": torch.rand(1, 2, 3, 32, 32), "clip": ["x"]}
    assert torch.isfinite(model.training_loss(batch)["loss"])


def test_full_variant_is_a_trainable_wan21_dit_with_a_frozen_vae():
    model = vsrzoo.create_model("simplegvr", variant="full", device="meta")
    cfg = model.net.transformer.config
    assert (cfg.num_layers, cfg.num_attention_heads * cfg.attention_head_dim, cfg.ffn_dim) == (30, 1536, 8960)
    assert cfg.in_channels == 32 and cfg.out_channels == 16
    counts = count_parameters(model)
    vae = sum(p.numel() for p in model.codec.parameters())
    assert counts["frozen"] == vae and 120e6 < vae < 130e6
    assert 1.40e9 < counts["trainable"] < 1.45e9
    assert model.num_inference_steps == 50 and model.segment_length == 17


@pytest.mark.parametrize(
    "bad",
    [
        {"codec": "sdvae"},
        {"num_inference_steps": 0},
        {"scale": 8},
        {"prediction": "eps"},
        {"loss_weighting": "snr"},
        {"lr_latent_source": "hr"},
    ],
)
def test_bad_configuration_is_a_user_error(bad):
    with pytest.raises(vsrzoo.errors.UserError):
        vsrzoo.create_model("simplegvr", variant="tiny", **bad)


RECIPES = Path(__file__).resolve().parents[2] / "recipes"


@pytest.mark.parametrize("recipe", ["simplegvr-tiny.yaml", "simplegvr.yaml"])
def test_recipes_load_and_name_their_variant(recipe):
    from vsrzoo.recipes import load_recipe

    cfg = load_recipe(RECIPES / recipe)
    assert cfg.model.name == "simplegvr"
    if recipe == "simplegvr.yaml":  # paper: 16 GPUs x 2 = batch 32, AdamW 5e-5, 17 frames -> 5 latent frames
        assert (cfg.model.variant, cfg.optim.lr, cfg.data.num_frames) == ("full", 5e-5, 17)
        assert cfg.trainer.devices * cfg.trainer.num_nodes * cfg.data.batch_size == 32
        kwargs = dict(cfg.model.kwargs)  # the backbone checkpoint reaches the Wan loader (absent offline)
        with pytest.raises(vsrzoo.errors.MissingWeightsError, match="Wan-AI/Wan2.1-T2V-1.3B-Diffusers"):
            vsrzoo.create_model("simplegvr", variant="full", device="meta", **kwargs)
    else:  # trained on the procedural source only: never the sample evaluation clips, never Vid4
        assert cfg.model.variant == "tiny" and cfg.data.dataset == "procedural" == cfg.data.val_dataset
        assert "vid4" not in str(cfg.data).lower()


def test_three_stage_recipes_chain_and_initialise_from_the_previous_stage():
    """Paper v3: 17 frames one-order (20K) -> proposed degradations (5K) -> 77 frames windowed + sparse."""
    from vsrzoo.data.degradations import get_degradation
    from vsrzoo.data.pairs import load_spec
    from vsrzoo.recipes import load_recipe

    s1, s2, s3, cascade = (
        load_recipe(RECIPES / f"{name}.yaml")
        for name in ("simplegvr", "simplegvr-stage2", "simplegvr-stage3", "simplegvr-cascade")
    )
    assert s1.model.pretrained is None and s1.trainer.max_steps == 20000 and s1.data.num_frames == 17
    assert [c.name for c in s1.data.degradation_kwargs.components] == ["realbasicvsr"]
    assert s1.data.degradation_kwargs.components[0].kwargs.orders == 1  # one-order degradation
    assert not s1.model.kwargs.sparse_attention and s1.model.kwargs.temporal_window is None
    assert s2.model.pretrained == f"{s1.output_dir}/final" and s2.trainer.max_steps == 5000
    assert s2.data.dataset == "pairs" and s2.data.degradation is None  # precomputed (vsrzoo data pairs)
    for stage, recipe in ((2, s2), (3, s3)):
        spec = load_spec(RECIPES / "pairs" / f"simplegvr-stage{stage}.yaml")
        assert [c["name"] for c in spec.degradation_kwargs["components"]] == [
            "simplegvr_flow",
            "simplegvr_model",
        ]
        made = (spec.num_frames, spec.crop_size, spec.scale, spec.out, spec.count)
        assert made == (recipe.data.num_frames, recipe.data.crop_size, 4, recipe.data.root, 30000)
    assert s3.model.pretrained == f"{s2.output_dir}/final" and s3.data.num_frames == 77
    k3 = s3.model.kwargs
    assert (k3.temporal_window, k3.shifted_windows, k3.sparse_attention, k3.topk_scope) == (
        5,
        True,
        True,
        "clip",
    )
    assert cascade.data.dataset == "latents" and list(cascade.model.kwargs.output_size) == [1080, 1920]
    one_order = get_degradation(s1.data.degradation, **OmegaConf.to_container(s1.data.degradation_kwargs))
    clip = np.random.default_rng(0).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    assert one_order(clip, seed=1).shape == (3, 16, 16, 3)


def test_stage_initialises_from_the_previous_stage_weights(tmp_path):
    """``model.pretrained`` + new kwargs (stage 3 switches on windows and sparse attention) keeps the weights."""
    from vsrzoo.training import build_model

    stage1 = untrained(temporal_window=None, sparse_attention=False)
    stage1.save_pretrained(tmp_path / "s1")
    from vsrzoo.recipes import load_recipe

    overrides = [f"model.pretrained={tmp_path / 's1'}", "model.kwargs.temporal_window=5"]
    overrides += ["model.kwargs.sparse_attention=true", "model.kwargs.topk_scope=clip"]
    stage3 = build_model(load_recipe(RECIPES / "simplegvr-tiny.yaml", overrides))
    torch.testing.assert_close(stage3.net.transformer.proj_out.weight, stage1.net.transformer.proj_out.weight)
    assert all(
        b.attn1.processor.sparse and b.attn1.processor.topk_scope == "clip"
        for b in stage3.net.transformer.blocks
    )


def test_latent_pairs_train_the_cascade_without_pixels(tmp_path):
    """The paper's setting: base-model LR latents -> HR latents (non-integer ratio), from saved pairs."""
    from vsrzoo.data.datamodule import VSRDataModule
    from vsrzoo.data.latents import save_latent_pair

    for name in ("a", "b"):
        save_latent_pair(
            tmp_path / f"{name}.safetensors", torch.randn(48, 6, 5, 7), torch.randn(48, 6, 14, 20)
        )
    dm = VSRDataModule(dataset="latents", root=str(tmp_path), num_frames=3, batch_size=2, clips_per_epoch=4)
    batch = next(iter(dm.train_dataloader()))
    assert batch["lr_latent"].shape == (2, 48, 3, 5, 7) and batch["hr_latent"].shape == (2, 48, 3, 14, 20)
    model = untrained(residual=False, lr_latent_source="lr")
    loss = model.training_loss(batch)["loss"]
    loss.backward()
    assert torch.isfinite(loss) and model.net.upsampler.conv_in.weight.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        assert model.validation_step(next(iter(dm.val_dataloader())), 0).isfinite()
    with pytest.raises(vsrzoo.errors.UserError, match="residual=False"):
        untrained().training_loss(batch)
    with pytest.raises(vsrzoo.errors.MissingDataError, match="no latent pairs"):
        VSRDataModule(dataset="latents", root=str(tmp_path / "none"), num_frames=3).setup("fit")


def test_untrained_x0_model_returns_the_bicubic_reference():
    model = vsrzoo.create_model("simplegvr", variant="tiny").eval()  # x0 prediction, zero output layer
    lr = torch.rand(1, 3, 3, 12, 16)
    with torch.no_grad():
        out = model(lr)
    torch.testing.assert_close(out, imresize(lr, 4).clamp(0, 1), atol=1e-6, rtol=0)


def test_velocity_from_x0_prediction_matches_the_flow_definition():
    model = untrained()
    z0, noise = torch.randn(2, 48, 2, 4, 4), torch.randn(2, 48, 2, 4, 4)
    t = torch.tensor([0.3, 0.8])
    z_t = t.view(-1, 1, 1, 1, 1) * noise + (1 - t.view(-1, 1, 1, 1, 1)) * z0
    cond = model.net.condition(torch.randn(2, 48, 2, 1, 1), (4, 4))
    with torch.no_grad():
        x0 = model.net(z_t, t, cond)
        v = model.velocity(z_t, t, cond)
    torch.testing.assert_close(z_t - t.view(-1, 1, 1, 1, 1) * v, x0, atol=1e-5, rtol=1e-5)


def test_bicubic_lr_source_conditions_on_the_bicubic_latent():
    lr = torch.rand(1, 2, 3, 8, 12)
    tiny = vsrzoo.create_model("simplegvr", variant="tiny")
    lr_latent, base = tiny.condition_latents(lr, (32, 48))
    assert lr_latent.shape == (1, 48, 2, 8, 12)
    torch.testing.assert_close(lr_latent, base)
    paper = vsrzoo.create_model("simplegvr", variant="tiny", lr_latent_source="lr", residual=False)
    lr_latent, base = paper.condition_latents(lr, (32, 48))
    assert base is None and lr_latent.shape == (1, 48, 2, 2, 3)  # LR at its own size; the upsampler resizes


def test_t_squared_weighting_is_the_x0_mse():
    from vsrzoo.diffusion import make_timestep_sampler

    model = untrained()
    model.timesteps = make_timestep_sampler("uniform", low=0.6, high=0.6)
    batch = {"lr": torch.rand(1, 2, 3, 8, 8), "gt": torch.rand(1, 2, 3, 32, 32), "clip": ["x"]}
    torch.manual_seed(2)
    loss = model.training_loss(batch)["loss"]
    torch.manual_seed(2)  # same flow noise, condition noise level and noise as inside training_loss
    lr_latent, base = model.condition_latents(batch["lr"], (32, 32))
    z0 = model.to_diffusion(model.encode(batch["gt"]), base)
    t = model.timesteps(1)
    z_t = 0.6 * torch.randn_like(z0) + 0.4 * z0
    cond, _ = model.lr_noise(model.net.condition(lr_latent, (8, 8)))  # noise after the upsampler
    x0 = model.net(z_t, t, cond)
    torch.testing.assert_close(loss, (x0 - z0).pow(2).mean(), atol=1e-5, rtol=1e-3)  # float32 rounding


def test_builtin_weights_beat_bicubic_on_vid4_calendar(shared_data):
    from vid4_helpers import load_vid4, y_psnr

    def load(folder):
        return load_vid4(shared_data, folder, "calendar", 3)

    model = vsrzoo.create_model("simplegvr", pretrained="builtin").eval()
    lr, gt = load("BIx4"), load("GT")
    torch.manual_seed(0)
    with torch.no_grad():
        sr = model.upscale_clip(lr)
    assert y_psnr(sr, gt) > y_psnr(imresize(lr, 4).clamp(0, 1), gt) + 0.1


def test_pretrained_wan_checkpoint_loads_with_zero_initialised_condition_channels(tmp_path):
    from vsrzoo.backbones.vae import build_wan21_vae

    torch.manual_seed(0)
    dit = build_wan21("tiny", in_channels=16, out_channels=16)
    dit.save_pretrained(tmp_path / "transformer")
    build_wan21_vae("tiny").save_pretrained(tmp_path / "vae")
    model = vsrzoo.create_model(
        "simplegvr",
        variant="tiny",
        backbone_pretrained=str(tmp_path),
        codec="wan2.1-vae",
        prediction="velocity",
    ).eval()
    weight = model.net.transformer.patch_embedding.weight
    torch.testing.assert_close(weight[:, :16], dit.patch_embedding.weight)
    assert weight.shape[1] == 32 and not weight[:, 16:].any()
    z, t = torch.randn(1, 16, 2, 4, 4), torch.tensor([0.7])
    with torch.no_grad():
        a = model.net(z, t, torch.randn(1, 16, 2, 4, 4))
        b = model.net(z, t, torch.zeros(1, 16, 2, 4, 4))
    torch.testing.assert_close(a, b)  # the condition has no effect until the new weights train
