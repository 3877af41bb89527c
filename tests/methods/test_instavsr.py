"""InstaVSR-specific behaviour: bicubic at init, one pass per frame, recurrence and state,
a differentiable temporal regulariser, LPIPS fallback, the GAN warm-up, manual optimisation."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

import vsrzoo
from vsrzoo.data.resize import imresize
from vsrzoo.errors import MissingWeightsError
from vsrzoo.methods.instavsr import gan_discriminator_loss, gan_generator_loss, upsample_flow
from vsrzoo.methods.instavsr_net import back_project, bicubic_upsample
from vsrzoo.recipes import load_recipe
from vsrzoo.registry import count_parameters


def tiny(**kw):
    torch.manual_seed(0)
    return vsrzoo.create_model("instavsr", variant="tiny", **kw)


def perturb(model, scale=0.05):
    """Give the zero-initialised output conv weights so the correction is not zero."""
    with torch.no_grad():
        for p in model.net.unet.conv_out.parameters():
            p.add_(scale * torch.randn_like(p))
    return model


def moving_clip(t=3, size=16, shift=1, seed=0):
    """LR and GT frames of a texture translating by ``shift`` LR pixels per frame."""
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(3, 4 * (size + t * shift), 4 * (size + t * shift), generator=g)
    base = torch.nn.functional.avg_pool2d(base[None], 3, 1, 1)[0]
    gt = torch.stack([base[:, :, 4 * i * shift : 4 * (i * shift + size)][:, : 4 * size] for i in range(t)])
    lr = torch.nn.functional.avg_pool2d(gt, 4)
    return lr[None], gt[None]


def test_untrained_tiny_equals_bicubic():
    model = tiny().eval()
    lr = torch.rand(1, 2, 3, 12, 16)
    with torch.no_grad():
        out = model(lr)
    ref = bicubic_upsample(lr[0], 4).clamp(0, 1)
    assert out.shape == (1, 2, 3, 48, 64)
    assert torch.allclose(out[0], ref, atol=1e-6)


def test_inference_runs_channels_last_with_the_numbers_of_the_standard_layout():
    """Out of training the generator's convolutions run channels-last (issue 29: speed); training
    keeps the standard layout (the memory planner's), with the same numbers to float rounding."""
    model = perturb(tiny())
    net = model.net
    lr = torch.rand(1, 3, 12, 16, generator=torch.Generator().manual_seed(0))
    assert net.training and net.unet.conv_in.weight.is_contiguous()
    with torch.no_grad():
        standard = net(lr)[1]
        model.eval()
        weight = net.unet.conv_in.weight
        assert weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()
        fast = net(lr)[1]
    torch.testing.assert_close(fast, standard, rtol=0, atol=1e-5)
    model.train()
    assert net.unet.conv_in.weight.is_contiguous()
    net(lr)[0].mean().backward()
    assert net.unet.conv_in.weight.grad.abs().sum() > 0


def test_vae_decoder_variant_is_bicubic_at_init_and_trains():
    vae = {
        "variant": "tiny",
        "block_out_channels": [8, 8, 16, 16],
        "layers_per_block": 0,
        "norm_num_groups": 4,
    }
    model = tiny(
        decoder_type="sd-vae-decoder-half",
        decoder={**vae, "factor": None},
        latent_channels=4,
        latent_disc_input="encoder",
    )
    assert model.net.lr_factor == 2 and model.size_multiple == 2
    assert model.net.unet.config.in_channels == 3 * 4 + 3 * 64
    lr = torch.rand(1, 2, 3, 8, 12)
    with torch.no_grad():
        out = model.eval()(lr)
    assert torch.allclose(out[0], bicubic_upsample(lr[0], 4).clamp(0, 1), atol=1e-6)
    losses = model.train().training_loss({"lr": lr, "gt": torch.rand(1, 2, 3, 32, 48)})
    losses["loss"].backward()
    assert model.net.decoder.decoder.conv_out.weight.grad.abs().sum() > 0


def test_one_generator_pass_per_frame():
    model = tiny().eval()
    calls = []
    model.net.unet.register_forward_hook(lambda *a: calls.append("unet"))
    with torch.no_grad():
        model(torch.rand(1, 5, 3, 8, 8))
    assert calls.count("unet") == 5


def test_recurrence_uses_previous_output_and_can_be_switched_off():
    lr, _ = moving_clip(t=2)
    second_alone = lr[:, 1:]
    for recurrent, depends in ((True, True), (False, False)):
        model = perturb(tiny(recurrent=recurrent)).eval()
        with torch.no_grad():
            joint = model.upscale_clip(lr)[:, 1]
            alone = model.upscale_clip(second_alone)[:, 0]
        assert (not torch.allclose(joint, alone, atol=1e-5)) == depends


def test_state_is_a_value_carried_by_step():
    lr, _ = moving_clip(t=3)
    model = perturb(tiny()).eval()
    with torch.no_grad():
        whole = model.upscale_clip(lr)
        state, parts = None, []
        for i in range(3):
            sr, state = model.step(lr[:, i : i + 1], state)
            parts.append(sr)
        fresh = model(lr[:, 2:3])
        again = model(lr[:, 2:3])
    assert torch.allclose(whole, torch.cat(parts, dim=1), atol=1e-6)
    assert not torch.allclose(parts[2], fresh, atol=1e-5)  # forward starts from a fresh state
    assert torch.equal(fresh, again)  # and keeps none
    assert torch.equal(state.lr, lr[:, 2]) and torch.equal(state.sr, parts[2][:, 0])
    assert model.step(lr[:, :1], None)[1] is not None
    assert tiny(carry_state=False).eval().step(lr[:, :1], None)[1] is None


def test_unrelated_frame_drops_the_state():
    model = perturb(tiny(reset_threshold=0.05)).eval()
    a = torch.zeros(1, 1, 3, 8, 8)
    b = torch.ones(1, 1, 3, 8, 8) * 0.9
    with torch.no_grad():
        _, state = model.step(a)
        cut, _ = model.step(b, state)
        fresh = model(b)
    assert torch.allclose(cut, fresh, atol=1e-6)


def test_state_blend_makes_the_state_contractive():
    """The fed-back frame is pulled towards the current bicubic upsample: blend 1 forgets the state
    entirely (the no-state output), blend 0 keeps it, and what the state adds over bicubic shrinks."""
    lr, _ = moving_clip(t=3)
    outs = {}
    for blend in (0.0, 0.5, 1.0):
        model = perturb(tiny(state_blend=blend)).eval()
        with torch.no_grad():
            outs[blend] = model(lr)
            stateless = perturb(tiny(state_blend=blend, carry_state=False)).eval()(lr)
    assert torch.allclose(outs[1.0], stateless, atol=1e-6)
    assert not torch.allclose(outs[0.0], stateless, atol=1e-5)
    frame = lr[:, 1]
    model = tiny(state_blend=0.5, back_project_state=False)
    prev = torch.rand(1, 3, 64, 64)
    assert torch.equal(model.warp_previous(prev, None, frame), prev)  # training unrolls: no blend
    warped = model.warp_previous(prev, None, frame, 0.5)
    bic = bicubic_upsample(frame, 4)
    assert torch.allclose(warped - bic, 0.5 * (prev - bic), atol=1e-6)
    with pytest.raises(
        vsrzoo.errors.UserError, match=r"'state_blend' must be a float in \[0.0, 1.0\], got 1.5"
    ):
        tiny(state_blend=1.5)


def test_a_model_built_without_a_config_has_no_hidden_inference_blend():
    """Issue 27: the constructor's default is what the shipped weights use (no blend), so a model
    built from the variant alone feeds its state back as is, like the documented shipped one."""
    import json

    from vsrzoo.methods.base import builtin_dir

    shipped = json.loads((builtin_dir() / "instavsr-tiny" / "config.json").read_text())["config"]
    assert tiny().hparams.state_blend == shipped["state_blend"] == 0.0
    model, lr = perturb(tiny()).eval(), moving_clip(t=3)[0]
    with torch.no_grad():
        assert torch.equal(model(lr), perturb(tiny(state_blend=0.0)).eval()(lr))


def test_burn_in_frames_build_the_state_without_gradient():
    model = perturb(tiny(burn_in_frames=2)).train()
    lr, gt = moving_clip(t=5)
    sr, latent = model.unroll(lr, None, burn_in=2)
    assert sr.shape[1] == 3 and latent.shape[1] == 3
    with torch.no_grad():  # the returned frames start from the state the first two frames built
        full, _ = model.unroll(lr, None)
        cold, _ = model.unroll(lr[:, 2:], None)
    assert torch.allclose(sr, full[:, 2:], atol=1e-6) and not torch.allclose(sr[:, 0], cold[:, 0], atol=1e-5)
    losses, seen = model.generator_losses({"lr": lr, "gt": gt}, adversarial=False)
    assert seen["sr"].shape[0] == 3 and torch.equal(seen["gt"], gt[0, 2:])
    losses["loss"].backward()
    assert model.net.unet.conv_in.weight.grad.abs().sum() > 0
    with pytest.raises(vsrzoo.errors.UserError, match="burn_in_frames"):
        tiny(burn_in_frames=-1)


def test_burn_in_random_trains_states_of_every_age_on_a_window_of_fixed_length():
    model = perturb(tiny(burn_in_frames=3, burn_in_random=True)).train()
    lr, gt = moving_clip(t=6)
    flows = {"gt_flow_fw": torch.zeros(1, 5, 2, 64, 64), "gt_flow_bw": torch.zeros(1, 5, 2, 64, 64)}
    starts = set()
    for seed in range(12):
        torch.manual_seed(seed)
        losses, seen = model.generator_losses({"lr": lr, "gt": gt, **flows}, adversarial=False)
        assert seen["sr"].shape[0] == 3  # always the trained window of 6 - 3 frames
        start = next(b for b in range(4) if torch.equal(seen["gt"], gt[0, b : b + 3]))
        starts.add(start)
    assert starts == {0, 1, 2, 3}
    losses["loss"].backward()
    assert model.net.unet.conv_in.weight.grad.abs().sum() > 0
    torch.manual_seed(0)
    fixed = perturb(tiny(burn_in_frames=3)).train()
    assert torch.equal(fixed.generator_losses({"lr": lr, "gt": gt}, adversarial=False)[1]["gt"], gt[0, 3:])


def test_latent_discriminator_judges_generator_latents():
    """Fake latents are the generator's own; real ones are the decoder's inverse of the GT frames,
    so a generator that reproduces the GT exactly produces exactly the real latent."""
    model = perturb(tiny(adv_start_step=0, burn_in_frames=0))
    lr, gt = moving_clip(t=2)
    seen_in = []
    model.latent_disc.register_forward_pre_hook(lambda m, args: seen_in.append(args[0]))
    losses, seen = model.generator_losses({"lr": lr, "gt": gt}, adversarial=True)
    assert seen_in[0] is seen["latent"] and seen["latent"].shape[1] == model.net.decoder.latent_channels
    model.zero_grad()
    losses["adv_latent"].backward()
    assert model.net.unet.conv_out.weight.grad.abs().sum() > 0  # through the latent, not a re-encoding
    frames = seen["sr"].detach()
    with torch.no_grad():
        sr_again = model.net.decoder.decode(model.target_latent(seen["lr"], frames)) / 2
        sr_again = sr_again + bicubic_upsample(seen["lr"], 4)
    assert torch.allclose(sr_again, frames, atol=1e-5)
    d = model.discriminator_losses(seen)
    assert set(d) == {"d_latent", "d_pixel", "loss_d"}
    encoder_mode = tiny(latent_disc_input="encoder")
    assert encoder_mode.latent_disc.net[0].weight.shape[1] == encoder_mode.disc_encoder.latent_channels == 192
    with pytest.raises(vsrzoo.errors.UserError, match="latent_disc_input"):
        tiny(
            decoder_type="sd-vae-decoder-half", decoder={"variant": "tiny", "factor": None}, latent_channels=4
        )


def test_upscale_streams_and_resets_per_video():
    model = perturb(tiny()).eval()
    frames = [np.random.default_rng(i).integers(0, 256, (8, 10, 3), dtype=np.uint8) for i in range(3)]
    first = list(model.upscale(iter(frames)))
    second = list(model.upscale(iter(frames)))
    assert len(first) == 3 and first[0].shape == (32, 40, 3)
    assert all(np.array_equal(x, y) for x, y in zip(first, second))


def test_temporal_regularizer_reaches_the_network():
    model = perturb(tiny())
    model.configure_training({})
    lr, gt = moving_clip(t=3)
    losses, _ = model.generator_losses({"lr": lr, "gt": gt}, adversarial=False)
    assert losses["temporal"] > 0
    losses["temporal"].backward()
    grad = model.net.unet.conv_in.weight.grad
    assert grad is not None and grad.abs().sum() > 0


def test_temporal_loss_is_zero_for_a_perfectly_warped_video():
    model = tiny()
    _, gt = moving_clip(t=3, shift=0)
    fw, bw = model.gt_flows(gt)
    assert model.regularizer(gt, fw, bw) < 1e-10
    assert model.regularizer(gt + 0.1 * torch.randn_like(gt), fw, bw) > 1e-3


def test_lpips_switched_off_with_a_warning_when_weights_are_absent(caplog):
    model = tiny()
    with caplog.at_level(logging.WARNING, logger="vsrzoo.methods.instavsr"):
        losses = model.training_loss({"lr": torch.rand(1, 2, 3, 8, 8), "gt": torch.rand(1, 2, 3, 32, 32)})
    assert "lpips" not in losses
    assert "LPIPS loss switched off" in caplog.text and "alexnet-owt-7be5be79.pth" in caplog.text


def test_missing_lpips_weights_are_an_error_unless_allowed():
    batch = {"lr": torch.rand(1, 2, 3, 8, 8), "gt": torch.rand(1, 2, 3, 32, 32)}
    model = tiny(allow_missing_lpips=False)
    with pytest.raises(MissingWeightsError, match="allow_missing_lpips=true"):
        model.training_loss(batch)
    (blocker,) = model.fit_blockers()
    assert blocker.startswith("instavsr: lpips_weight=1.0") and "alexnet-owt-7be5be79.pth" in blocker
    assert tiny(allow_missing_lpips=False, lpips_weight=0.0).fit_blockers() == []


def test_full_sd_vae_disc_encoder_without_weights_blocks_training():
    model = vsrzoo.create_model("instavsr", variant="full", device="meta", lpips_weight=0.0)
    (blocker,) = model.fit_blockers()
    assert "disc_encoder_pretrained" in blocker and "allow_random_disc_encoder=true" in blocker
    kw = dict(variant="full", device="meta", lpips_weight=0.0)
    assert vsrzoo.create_model("instavsr", allow_random_disc_encoder=True, **kw).fit_blockers() == []


def test_training_flows_from_the_data_pipeline_equal_those_of_the_step():
    from vsrzoo.data.flows import TrainingFlows

    model = tiny()
    lr, gt = moving_clip(t=3, shift=1)
    sample = TrainingFlows(model.hparams.flow_preset)({"lr": lr[0], "gt": gt[0]})
    fw, bw = model.gt_flows(gt)
    assert torch.equal(sample["gt_flow_fw"], fw[0]) and torch.equal(sample["gt_flow_bw"], bw[0])
    assert torch.equal(upsample_flow(sample["lr_flow_bw"][1:2], 4), model.lr_flow(lr[:, 2], lr[:, 1]))
    batch = {"lr": lr, "gt": gt}
    with_flows = {
        **batch,
        **{k: v[None] for k, v in sample.items() if k.endswith("_flow_bw") or k.endswith("_fw")},
    }
    torch.manual_seed(3)
    a = model.training_loss(batch)
    torch.manual_seed(3)
    b = model.training_loss(with_flows)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_adversarial_terms_start_after_warm_up():
    batch = {"lr": torch.rand(1, 2, 3, 8, 8), "gt": torch.rand(1, 2, 3, 32, 32)}
    assert "adv_pixel" not in tiny(adv_start_step=5).training_loss(batch)
    losses = tiny(adv_start_step=0).training_loss(batch)
    assert {"adv_pixel", "adv_latent"} <= set(losses)
    losses["adv_latent"].backward()


def test_gan_losses():
    real, fake = torch.full((4,), 2.0), torch.full((4,), -2.0)
    assert gan_discriminator_loss(real, fake, "hinge") == 0
    assert gan_discriminator_loss(fake, real, "hinge") == 6
    assert gan_generator_loss(fake, "hinge") == 2
    assert torch.isclose(
        gan_generator_loss(torch.zeros(3), "non_saturating"), torch.tensor(float(np.log(2.0)))
    )


def test_back_projection_pulls_the_state_towards_the_lr_frame():
    g = torch.Generator().manual_seed(0)
    hr = torch.rand(2, 3, 32, 40, generator=g, requires_grad=True)
    lr = torch.rand(2, 3, 8, 10, generator=g)
    out = back_project(hr, lr, 4)
    before = (imresize(hr.detach(), scale=0.25) - lr).abs().mean()
    after = (imresize(out.detach(), scale=0.25) - lr).abs().mean()
    assert after < 0.5 * before
    (out * torch.rand(out.shape, generator=g)).sum().backward()  # a plain sum is invariant
    assert hr.grad is not None and hr.grad.abs().sum() > 0


def test_state_noise_only_in_training():
    model = perturb(tiny(state_noise=0.5, burn_in_frames=0))
    lr, gt = moving_clip(t=2)
    torch.manual_seed(1)
    a = model.train().unroll(lr, None)[0]
    torch.manual_seed(2)
    b = model.unroll(lr, None)[0]
    assert torch.equal(a[:, 0], b[:, 0]) and not torch.allclose(a[:, 1], b[:, 1])
    with torch.no_grad():
        c, d = model.eval().unroll(lr, None)[0], model.unroll(lr, None)[0]
    assert torch.equal(c, d)


def test_upsample_flow_matches_a_known_shift():
    flow = torch.zeros(1, 2, 4, 5)
    flow[:, 0] = 1.5
    hr = upsample_flow(flow, 4)
    assert hr.shape == (1, 2, 16, 20) and torch.allclose(hr[:, 0], torch.full_like(hr[:, 0], 6.0))


def test_full_variant_sizes_on_meta():
    model = vsrzoo.create_model("instavsr", variant="full", device="meta")
    unet, decoder = model.net.unet, model.net.decoder
    assert tuple(unet.config.block_out_channels) == (240, 480, 960, 960)  # 75% of SD 2.1
    assert tuple(decoder.config.block_out_channels) == (64, 128, 256, 256)  # half of the SD VAE
    assert not any("attn2" in n or "time_emb" in n for n, _ in unet.named_modules())
    assert unet.config.in_channels == 3 * 2**2 + 3 * 8**2  # unshuffled LR + unshuffled previous output
    n = count_parameters(model.net)["total"]
    assert 440e6 < n < 470e6


def test_bad_arguments_are_user_errors():
    with pytest.raises(vsrzoo.errors.UserError, match="flow"):
        tiny(flow="raft9")
    with pytest.raises(vsrzoo.errors.UserError, match="gan_loss"):
        tiny(gan_loss="wasserstein")
    with pytest.raises(vsrzoo.errors.UserError, match="decoder_type"):
        tiny(decoder_type="vqgan")
    with pytest.raises(vsrzoo.errors.UserError, match="multiple of 2"):
        vae = {"variant": "tiny", "block_out_channels": [8, 8, 16, 16], "norm_num_groups": 4}
        model = tiny(
            decoder_type="sd-vae-decoder-half",
            decoder={**vae, "factor": None},
            latent_channels=4,
            latent_disc_input="encoder",
        )
        model.net(torch.rand(1, 3, 7, 8))


@pytest.mark.slow
def test_manual_optimisation_counts_generator_steps_and_resumes(tmp_path, sample_root):
    from vsrzoo.training import fit

    overrides = [
        "model.name=instavsr",
        "model.kwargs.adv_start_step=1",
        f"output_dir={tmp_path}",
        "trainer.max_steps=3",
        "trainer.limit_val_batches=1",
        "trainer.enable_progress_bar=false",
        "data.crop_size=16",
        "data.num_frames=2",
        "data.batch_size=1",
        "data.val_max_frames=2",
        "model.kwargs.disc_lr=1e-3",
    ]
    cfg = load_recipe(None, overrides)
    fit(cfg)
    last = tmp_path / "checkpoints" / "last.ckpt"
    ckpt = torch.load(last, map_location="cpu", weights_only=False)
    assert ckpt["global_step"] == 3
    gen_state, disc_state = (s["state"] for s in ckpt["optimizer_states"])
    assert next(iter(gen_state.values()))["step"] == 3
    assert next(iter(disc_state.values()))["step"] == 2  # steps 1 and 2 (after a 1-step warm-up)
    cfg.trainer.max_steps = 5
    fit(OmegaConf.create(cfg), resume=str(last))
    ckpt = torch.load(last, map_location="cpu", weights_only=False)
    assert ckpt["global_step"] == 5
    assert next(iter(ckpt["optimizer_states"][1]["state"].values()))["step"] == 4


def test_builtin_weights_beat_bicubic_on_vid4_calendar(shared_data):
    from vsrzoo.data.io import read_image

    model = vsrzoo.create_model("instavsr", pretrained="builtin").eval()
    files = sorted((shared_data / "Vid4" / "BIx4" / "calendar").glob("*.png"))[:3]
    lr = torch.stack([torch.from_numpy(read_image(f)).permute(2, 0, 1) for f in files]).float() / 255
    gt = torch.stack(
        [
            torch.from_numpy(read_image(shared_data / "Vid4" / "GT" / "calendar" / f.name)).permute(2, 0, 1)
            for f in files
        ]
    ).float()
    with torch.no_grad():
        sr = model.upscale_clip(lr[None])[0]

    def y_psnr(x):  # x in [0, 255], rounded like BasicSR
        w = torch.tensor([65.481, 128.553, 24.966]).view(1, 3, 1, 1) / 255
        mse = (((x.round() - gt) * w).sum(1)).square().mean()
        return 10 * torch.log10(255**2 / mse)

    assert y_psnr(sr * 255) > y_psnr(bicubic_upsample(lr, 4).clamp(0, 1) * 255) + 0.3


def test_prunes_a_pretrained_sd_folder_and_round_trips(tmp_path):
    from diffusers import AutoencoderKL, UNet2DConditionModel

    torch.manual_seed(0)
    sd = tmp_path / "sd"
    UNet2DConditionModel(
        sample_size=8,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        block_out_channels=(32, 64),
        layers_per_block=1,
        cross_attention_dim=16,
        attention_head_dim=(2, 4),
        norm_num_groups=8,
        use_linear_projection=True,
    ).save_pretrained(sd / "unet")
    AutoencoderKL(
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(16, 16, 32, 32),
        norm_num_groups=8,
        latent_channels=4,
    ).save_pretrained(sd / "vae")
    model = vsrzoo.create_model(
        "instavsr",
        variant="full",
        backbone_pretrained=str(sd),
        decoder_pretrained=str(sd),
        disc_encoder_pretrained=str(sd),
        residual=True,
    ).eval()
    assert tuple(model.net.unet.config.block_out_channels) == (24, 48)  # 75% width
    assert tuple(model.net.decoder.config.block_out_channels) == (8, 8, 16, 16)  # half width
    assert model.disc_encoder.latent_channels == 4
    cfg = model.config()
    assert cfg["backbone_pretrained"] is None and cfg["decoder_pretrained"] is None
    model.save_pretrained(tmp_path / "ckpt")
    loaded = vsrzoo.create_model("instavsr", pretrained=str(tmp_path / "ckpt")).eval()
    lr = torch.rand(1, 2, 3, 8, 8)
    with torch.no_grad():
        perturb(model)
        model.net.decoder.decoder.conv_out.weight.add_(0.05)
        loaded.load_state_dict(model.state_dict())
        assert torch.equal(model.upscale_clip(lr), loaded.upscale_clip(lr))
