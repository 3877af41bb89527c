"""LiteVSR (arXiv 2606.09250): paper-size counts, zero-init = prior, unrolling, Euler steps, prior stage."""

from __future__ import annotations

import json

import pytest
import torch

import vsrzoo
from vsrzoo.backbones.common import chunk_feed_forward
from vsrzoo.data.resize import imresize
from vsrzoo.errors import UserError
from vsrzoo.inference.tiling import tile_spans
from vsrzoo.methods.latent import Conditioning, tile_weights
from vsrzoo.methods.litevsr import TINY_BACKBONE, LiteVSR, unroll_count
from vsrzoo.registry import count_parameters


def tiny(**overrides) -> LiteVSR:
    torch.manual_seed(0)
    return vsrzoo.create_model("litevsr", variant="tiny", **overrides)


def sample(model: LiteVSR, lr_latent: torch.Tensor) -> torch.Tensor:
    """The pipeline's denoising loop on an LR latent (the clean latent it returns)."""
    return model.sample(
        Conditioning({"lr_latent": lr_latent}, tuple(lr_latent.shape), lr_latent.dtype, lr_latent)
    )[0]


def count_calls(module: torch.nn.Module) -> list[int]:
    calls = [0]
    module.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


def latents(model: LiteVSR, t: int = 2, size: int = 16):
    g = torch.Generator().manual_seed(1)
    lr = torch.rand(1, t, 3, size, size, generator=g)
    lr_latent = model.bicubic_latent(lr)
    return lr, lr_latent, torch.randn(lr_latent.shape, generator=g)


def test_full_size_matches_paper_counts():
    model = vsrzoo.create_model("litevsr", variant="full", device="meta")
    counts = count_parameters(model)
    codec = sum(
        p.numel() for p in model.codec.parameters()
    )  # frozen pre/post-processor, not in the paper's count
    share = counts["trainable"] / (counts["total"] - codec) * 100
    assert abs(share - 11.25) <= 0.3, share
    adapter = model.net.adapter
    injection = sum(p.numel() for p in adapter.injections.parameters())
    assert len(adapter.injections) == 30 and injection == 30 * (3072 * 3072 + 3072)
    assert abs(counts["trainable"] - 634e6) < 5e6 and abs(counts["frozen"] - codec - 5.0e9) < 0.05e9
    assert not any(p.requires_grad for p in model.net.backbone.parameters())
    cfg = model.net.backbone.config
    assert (cfg.num_layers, cfg.num_attention_heads * cfg.attention_head_dim, cfg.ffn_dim) == (
        30,
        3072,
        14336,
    )
    assert tuple(cfg.patch_size) == (1, 2, 2) and cfg.in_channels == 48
    codec = model.codec
    assert (codec.latent_channels, codec.spatial_factor, codec.temporal_factor) == (48, 16, 4)


def test_zero_init_equals_frozen_prior_and_prior_equals_diffusers():
    model = tiny().eval()
    _, lr_latent, noise = latents(model)
    t = torch.tensor([0.6])
    with torch.no_grad():
        prior = model.net.prior(noise, t)
        text, _ = model.net.caption(1)
        reference = model.net.backbone(noise, t * 1000, text, return_dict=False)[0]
        torch.testing.assert_close(prior, reference, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(model.net(noise, t, lr_latent, lr_latent), prior, rtol=0, atol=1e-6)
        torch.nn.init.normal_(model.net.adapter.injections[0].weight, std=0.1)
        assert (model.net(noise, t, lr_latent, lr_latent) - prior).abs().max() > 1e-3


def test_backbone_feed_forward_runs_a_sample_at_a_time_with_the_same_numbers():
    """Issue 29 (speed): each Wan block's feed-forward is chunked by sample by default; the whole
    two-branch batch at once gives the same velocity."""
    model = tiny().eval()
    _, lr_latent, noise = latents(model)
    t = torch.tensor([0.6])
    calls = []
    model.net.backbone.blocks[0].ffn.net[0].register_forward_pre_hook(
        lambda m, a: calls.append(a[0].shape[0])
    )
    with torch.no_grad():
        torch.nn.init.normal_(model.net.adapter.injections[0].weight, std=0.1)
        chunked = model.net(noise, t, lr_latent, lr_latent)
        assert calls == [1, 1]  # the main and the adapter branch, one at a time
        chunk_feed_forward(model.net.backbone, None)
        whole = model.net(noise, t, lr_latent, lr_latent)
    assert calls[2:] == [2]
    torch.testing.assert_close(chunked, whole, rtol=0, atol=1e-6)


def test_only_adapter_trains_and_injection_gets_gradient():
    model = tiny()
    batch = {"lr": torch.rand(1, 2, 3, 16, 16), "gt": torch.rand(1, 2, 3, 64, 64)}
    model.training_loss(batch)["loss"].backward()
    assert all(p.grad is None for p in model.net.backbone.parameters())
    assert model.net.adapter.injections[-1].weight.grad.abs().sum() > 0
    assert {n.split(".")[1] for n, p in model.named_parameters() if p.requires_grad} == {"adapter"}


def test_unroll_schedule_values():
    t = torch.tensor([1.0, 0.9, 0.5, 0.2, 0.0])
    # s = 5, M_max = 3: 1 + 2 * 5u / (1 + 4u) for u = 1 - t
    expected = [round(1 + 2 * 5 * u / (1 + 4 * u)) for u in (0.0, 0.1, 0.5, 0.8, 1.0)]
    assert unroll_count(t, 3).tolist() == expected == [1, 2, 3, 3, 3]
    assert unroll_count(torch.linspace(1, 0, 50), 6).diff().ge(0).all()
    assert unroll_count(torch.tensor([0.0, 1.0]), 1).tolist() == [1, 1]


@pytest.mark.parametrize("t, passes", [(1.0, 1), (0.0, 3)])
def test_unrolled_estimate_runs_m_minus_one_refinements(t, passes):
    model = tiny(unroll_min=1)  # the paper's M(t)
    _, lr_latent, noise = latents(model)
    calls = count_calls(model.net.adapter)
    clean, m = model.unrolled_estimate(noise, torch.tensor([t]), lr_latent)
    assert m.tolist() == [passes] and calls[0] == passes - 1
    if passes == 1:
        assert torch.equal(clean, lr_latent)


def test_unrolled_estimate_is_per_sample():
    model = tiny(unroll_min=1)
    with torch.no_grad():
        torch.nn.init.normal_(model.net.adapter.injections[1].weight, std=0.05)
    _, lr_latent, noise = latents(model)
    lr2, noise2 = torch.cat([lr_latent, lr_latent]), torch.cat([noise, noise])
    clean, m = model.unrolled_estimate(noise2, torch.tensor([1.0, 0.0]), lr2)
    assert m.tolist() == [1, 3]
    assert torch.equal(clean[0], lr_latent[0]) and not torch.equal(clean[1], lr_latent[0])


@pytest.mark.parametrize("steps", [1, 3])
def test_euler_steps_and_shapes(steps):
    model = tiny(num_inference_steps=steps).eval()
    calls = count_calls(model.net.adapter)
    with torch.no_grad():
        out = model(torch.rand(1, 3, 3, 15, 13))
    times = torch.linspace(1, 0, steps + 1)[:-1]
    passes = int(unroll_count(times, model.hparams.unroll_max, unroll_min=model.hparams.unroll_min).sum())
    assert out.shape == (1, 3, 3, 60, 52) and calls[0] == passes  # M(t) passes per step, as in training
    assert 0 <= out.min() and out.max() <= 1


def test_two_euler_steps_match_a_manual_integration():
    """Each step refines the LR latent M(t) - 1 times at its own (z_t, t); times follow the SD3 shift."""
    model = tiny(num_inference_steps=2, sample_shift=3.0, init_noise_scale=1.0, unroll_max=3).eval()
    with torch.no_grad():
        torch.nn.init.normal_(model.net.adapter.injections[0].weight, std=0.05)
        _, lr_latent, _ = latents(model)
        torch.manual_seed(5)
        result = sample(model, lr_latent)
        torch.manual_seed(5)
        d = torch.randn(lr_latent.shape)
        t_mid = 3 * 0.5 / (1 + 2 * 0.5)  # 0.75: M = round(1 + 2 * 1.25 / 2) = 2; M(1) = unroll_min = 2
        for t_now, t_next in ((1.0, t_mid), (t_mid, 0.0)):
            t = torch.full((1,), t_now)
            v0 = model.velocity(d, t, lr_latent, lr_latent)
            clean = model.from_diffusion(d - t_now * v0, lr_latent)
            v = model.velocity(d, t, lr_latent, clean)
            d = d + (t_next - t_now) * v
        expected = model.from_diffusion(d, lr_latent)
    torch.testing.assert_close(result, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("steps", [1, 4])
def test_inference_feeds_the_adapter_what_training_feeds_at_that_t(steps):
    """At every step count, each inference pass reads the refinement input training builds at (z_t, t)."""
    model = tiny(num_inference_steps=steps, init_noise_scale=1.0).eval()
    with torch.no_grad():
        for layer in model.net.adapter.injections:
            torch.nn.init.normal_(layer.weight, std=0.05)
    seen = []
    model.net.adapter.register_forward_pre_hook(lambda m, args: seen.append(args[1].clone()))
    steps_seen = []
    original = model.tiled_velocity

    def record(d, t, lr_latent, clean):
        steps_seen.append((d.clone(), t.clone()))
        return original(d, t, lr_latent, clean)

    model.tiled_velocity = record
    _, lr_latent, _ = latents(model)
    with torch.no_grad():
        sample(model, lr_latent)
    trained_inputs = []
    for d, t in _unique(steps_seen):
        with torch.no_grad():
            clean, passes = model.unrolled_estimate(d, t, lr_latent)  # what training_loss feeds at (z_t, t)
        trained_inputs.append(model.refinement(clean, lr_latent))
    finals = [seen[i] for i in _final_pass_indices(model, steps_seen)]
    assert len(finals) == steps
    for got, want in zip(finals, trained_inputs):
        torch.testing.assert_close(got, want)
    assert finals[0].abs().max() > 0  # with one step too, the dynamic stream sees a refinement


def _unique(steps_seen):
    out = []
    for d, t in steps_seen:
        if not out or not (torch.equal(out[-1][0], d) and torch.equal(out[-1][1], t)):
            out.append((d, t))
    return out


def _final_pass_indices(model, steps_seen):
    """Index of the last (stepping) pass of every Euler step among the recorded passes."""
    idx = []
    for i, (d, t) in enumerate(steps_seen):
        nxt = steps_seen[i + 1] if i + 1 < len(steps_seen) else None
        if nxt is None or not (torch.equal(nxt[0], d) and torch.equal(nxt[1], t)):
            idx.append(i)
    return idx


def test_one_step_dynamic_stream_changes_the_output_and_learns():
    """The paper's one-step mode: the refinement stream's weights change the result and get gradients."""
    model = tiny(num_inference_steps=1).eval()
    with torch.no_grad():
        for layer in model.net.adapter.injections:
            torch.nn.init.normal_(layer.weight, std=0.05)
    lr = torch.rand(1, 2, 3, 16, 16)
    with torch.no_grad():
        before = model(lr)
        model.net.adapter.embed_clean.weight.mul_(3.0)
        after = model(lr)
    assert (before - after).abs().max() > 1e-4
    model.train()
    batch = {"lr": lr, "gt": torch.rand(1, 2, 3, 64, 64)}
    model.training_loss(batch)["loss"].backward()
    assert model.net.adapter.embed_clean.weight.grad.abs().sum() > 0


def test_zero_velocity_gives_bicubic_in_residual_mode():
    """Residual diffusion: a denoiser predicting zero velocity from zero noise returns the LR latent."""
    model = tiny(num_inference_steps=2).eval()
    with torch.no_grad():
        model.net.backbone.proj_out.weight.zero_()
        model.net.backbone.proj_out.bias.zero_()
        lr = torch.rand(1, 2, 3, 12, 16)
        torch.testing.assert_close(model(lr), imresize(lr, scale=4).clamp(0, 1), rtol=0, atol=1e-5)


def test_one_step_is_the_clean_estimate_of_the_first_pass():
    model = tiny(num_inference_steps=1, init_noise_scale=1.0, unroll_min=1).eval()
    with torch.no_grad():
        torch.nn.init.normal_(model.net.adapter.injections[0].weight, std=0.05)
        lr, lr_latent, _ = latents(model)
        torch.manual_seed(5)
        result = sample(model, lr_latent)
        torch.manual_seed(5)
        noise = torch.randn(lr_latent.shape)
        v = model.velocity(noise, torch.ones(1), lr_latent, lr_latent)
        torch.testing.assert_close(result, model.from_diffusion(noise - v, lr_latent))


def test_prior_stage_trains_backbone_and_is_loaded_frozen(tmp_path):
    prior = tiny(stage="prior")
    assert {n.split(".")[1] for n, p in prior.named_parameters() if p.requires_grad} == {"backbone"}
    batch = {"lr": torch.rand(1, 2, 3, 16, 16), "gt": torch.rand(1, 2, 3, 64, 64)}
    prior.training_loss(batch)["loss"].backward()
    assert all(p.grad is None for p in prior.net.adapter.parameters())
    with torch.no_grad():
        prior.net.backbone.proj_out.weight.add_(0.5)
    prior.save_pretrained(tmp_path / "prior")
    model = tiny(backbone_pretrained=str(tmp_path / "prior" / "transformer"))
    torch.testing.assert_close(model.net.backbone.proj_out.weight, prior.net.backbone.proj_out.weight)
    assert not any(p.requires_grad for p in model.net.backbone.parameters())
    model.save_pretrained(tmp_path / "adapter", self_contained=True)  # lean would reference the prior
    for f in (tmp_path / "prior" / "transformer").iterdir():
        f.unlink()
    loaded = vsrzoo.create_model("litevsr", pretrained=str(tmp_path / "adapter"))
    assert loaded.hparams.backbone_pretrained is None
    torch.testing.assert_close(loaded.net.backbone.proj_out.weight, prior.net.backbone.proj_out.weight)


def test_gradient_checkpointing_gives_same_gradients():
    grads = []
    for checkpointing in (False, True):
        model = tiny()
        if checkpointing:
            model.enable_gradient_checkpointing()
        torch.manual_seed(2)
        batch = {"lr": torch.rand(1, 2, 3, 16, 16), "gt": torch.rand(1, 2, 3, 64, 64)}
        model.training_loss(batch)["loss"].backward()
        grads.append(model.net.adapter.injections[0].weight.grad.clone())
    torch.testing.assert_close(grads[0], grads[1])


@pytest.mark.parametrize("init_noise_scale", [0.0, 1.0])
def test_start_state_prob_trains_the_samplers_start_point(init_noise_scale):
    """start_state_prob puts each sample with that probability at the point one-step inference
    evaluates: t = 1 and z_1 = init_noise_scale * eps; the others keep the sampled times and unit noise."""
    model = tiny(
        start_state_prob=0.5,
        init_noise_scale=init_noise_scale,
        timestep_sampler="uniform",
        timestep_kwargs=None,
    )
    d0 = torch.randn(8, 48, 2, 8, 8)
    torch.manual_seed(3)
    t, noise = model.training_noise(d0)
    torch.manual_seed(3)
    t_ref = model.training_timesteps(8)
    eps = torch.randn_like(d0)
    start = torch.rand(8) < 0.5
    assert 0 < start.sum() < 8  # this seed draws both kinds
    assert t[start].eq(1).all() and torch.equal(t[~start], t_ref[~start]) and t_ref.lt(1).all()
    torch.testing.assert_close(noise[start], eps[start] * init_noise_scale)
    torch.testing.assert_close(noise[~start], eps[~start])
    z_t, target, _ = model.flow.training_pair(d0, t, noise)
    torch.testing.assert_close(z_t[start], noise[start])  # the sampler's start, x0 = z_1 - v = d0
    torch.testing.assert_close(z_t[start] - target[start], d0[start])
    model.set_stage("prior")
    assert model.training_noise(d0)[0].lt(1).all()  # the prior stage is plain rectified flow


@pytest.mark.parametrize("mode", ["detail", "estimate"])
def test_refinement_stream_reads_the_estimates_departure_from_the_lr_latent(mode):
    """Issue 27: with ``'detail'`` the refinement stream reads ``latent_scale * (estimate - LR latent)``,
    what the structure stream does not carry (zero before any refinement); ``'estimate'`` reads the
    estimate itself, nearly the LR latent, so the two streams saw almost the same input."""
    model = tiny(refinement_input=mode).eval()
    seen = []
    model.net.adapter.register_forward_pre_hook(
        lambda m, args: seen.append((args[0].clone(), args[1].clone()))
    )
    _, lr_latent, _ = latents(model)
    d = torch.randn_like(lr_latent)
    t = torch.ones(1)
    change = 0.01 * torch.randn_like(lr_latent)
    with torch.no_grad():
        model.velocity(d, t, lr_latent, lr_latent)
        model.velocity(d, t, lr_latent, lr_latent + change)
    (structure0, first), (structure1, second) = seen
    assert torch.equal(structure0, lr_latent) and torch.equal(structure1, lr_latent)
    if mode == "detail":
        assert torch.equal(first, torch.zeros_like(lr_latent))
        torch.testing.assert_close(second, change * model.latent_scale)
    else:
        assert torch.equal(first, lr_latent) and torch.equal(second, lr_latent + change)


def test_configs_saved_before_refinement_input_feed_the_estimate(tmp_path):
    """Weights trained before ``refinement_input`` existed load with the behaviour they were trained with."""
    folder = tiny().save_pretrained(tmp_path / "old")
    meta = json.loads((folder / "config.json").read_text())
    assert meta["config"].pop("refinement_input") == "detail"
    (folder / "config.json").write_text(json.dumps(meta))
    assert vsrzoo.create_model("litevsr", pretrained=str(folder)).hparams.refinement_input == "estimate"


def test_configs_saved_before_the_renames_still_load(tmp_path):
    """Checkpoints written with start_fraction / timestep_shift (before issue 26) load with today's names."""
    model = tiny(start_state_prob=0.5, timestep_sampler="shifted", timestep_kwargs={"shift": 3.0})
    folder = model.save_pretrained(tmp_path / "old")
    meta = json.loads((folder / "config.json").read_text())
    config = meta["config"]
    config["start_fraction"], config["timestep_shift"] = config.pop("start_state_prob"), 3.0
    del config["timestep_sampler"], config["timestep_kwargs"]
    (folder / "config.json").write_text(json.dumps(meta))
    loaded = vsrzoo.create_model("litevsr", pretrained=str(folder))
    assert loaded.start_state_prob == 0.5 and loaded.hparams.timestep_kwargs == {"shift": 3.0}
    assert loaded.hparams.timestep_sampler == "shifted" and "start_fraction" not in loaded.hparams


def test_injection_lr_scale_gives_the_injections_their_own_rate():
    model = tiny(injection_lr_scale=10.0)
    model.configure_training({"lr": 2e-4})
    groups = model.configure_optimizers()["optimizer"].param_groups
    assert [g["lr"] for g in groups] == [2e-4, pytest.approx(2e-3)]
    injections = {id(p) for p in model.net.adapter.injections.parameters()}
    assert {id(p) for p in groups[1]["params"]} == injections
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert {id(p) for p in groups[0]["params"]} == trainable - injections


def test_user_errors():
    with pytest.raises(UserError, match=r"'start_state_prob' must be a float in \[0.0, 1.0\], got 1.5"):
        tiny(start_state_prob=1.5)
    with pytest.raises(UserError, match="stage"):
        tiny(stage="pretrain")
    with pytest.raises(UserError, match="latent channels"):
        tiny(backbone={**TINY_BACKBONE, "in_channels": 16})
    with pytest.raises(UserError, match="codec"):
        tiny(codec="vqgan")


def test_wan_vae_codec_pads_frames_and_size():
    """The paper's codec path (Wan2.2 VAE, 4x temporal): any frame count and size work."""
    model = tiny(codec="wan2.2-vae", codec_variant="tiny", residual=False, latent_scale=1.0).eval()
    assert model.size_multiple == 8
    with torch.no_grad():
        out = model(torch.rand(1, 3, 3, 12, 10))
    assert out.shape == (1, 3, 3, 48, 40)


def test_tile_starts_cover_and_overlap():
    for length, tile, overlap in [(90, 32, 8), (33, 32, 8), (32, 32, 8), (144, 32, 4)]:
        starts = [a for a, _ in tile_spans(length, tile, overlap)]
        assert starts[0] == 0 and starts[-1] + tile == length
        assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:]))
    w = tile_weights(8, 32, 100, 8)  # a tile with neighbours on both sides
    assert w.min() > 0 and w[8:24].eq(1).all() and torch.equal(w, w.flip(0))


def test_tiled_velocity_blends_tiles_and_matches_a_position_free_denoiser():
    """With a head that ignores its input, tiled and whole-frame velocities agree exactly."""
    model = tiny(latent_tile=16, latent_tile_overlap=4, latent_tile_batch=3).eval()
    _, lr_latent, noise = latents(model, t=1, size=40)
    calls = count_calls(model.net.adapter)
    with torch.no_grad():
        model.net.backbone.proj_out.weight.zero_()
        tiled = model.tiled_velocity(noise, torch.ones(1), lr_latent, lr_latent)
        whole = model.velocity(noise, torch.ones(1), lr_latent, lr_latent)
    assert calls[0] == 3 + 1  # 9 tiles of 16 over 40 (starts 0, 12, 24) in batches of 3, then the whole frame
    torch.testing.assert_close(tiled, whole, rtol=1e-5, atol=1e-5)


def test_builtin_weights_are_deterministic_on_a_sample_clip(sample_root):
    """The shipped tiny checkpoint (never trained on the sample clips) runs one deterministic step."""
    from vsrzoo.data.datasets import get_dataset
    from vsrzoo.methods.base import frames_to_tensor

    clip = next(c for c in get_dataset("sample", root=sample_root).clips if c.name == "rocket")
    lr = frames_to_tensor(list(clip.read_lr())[:2])
    model = vsrzoo.create_model("litevsr", pretrained="builtin").eval()
    with torch.no_grad():
        assert torch.equal(model.upscale_clip(lr), model.upscale_clip(lr))


def test_builtin_weights_beat_bicubic_on_vid4_calendar(shared_data):
    """Trained on procedural clips only; Vid4 is never seen in training."""
    from vid4_helpers import load_vid4, y_psnr

    def load(folder):
        return load_vid4(shared_data, folder, "calendar", 3)

    model = vsrzoo.create_model("litevsr", pretrained="builtin").eval()
    lr, gt = load("BIx4"), load("GT")
    with torch.no_grad():
        sr = model.upscale_clip(lr)
    assert y_psnr(sr, gt) > y_psnr(imresize(lr, scale=4), gt) + 0.03


@pytest.mark.parametrize("tile, overlap", [(15, 4), (16, 3), (8, 8)])
def test_latent_tile_must_be_a_patch_multiple(tile, overlap):
    """Issue: latent_tile=15 on the tiny model crashed with a shape error; now a one-line error."""
    with pytest.raises(UserError, match=r"multiples of the patch size 2 \(2, 4, 6, 8, \.\.\.\)") as err:
        tiny(latent_tile=tile, latent_tile_overlap=overlap)
    assert "\n" not in str(err.value)


def test_latent_tile_error_from_the_cli_is_one_line(tmp_path, capsys):
    from vsrzoo.cli import main

    out = tmp_path / "run"
    code = main(
        ["fit", "recipes/litevsr-tiny.yaml", "model.kwargs.latent_tile=15", f"output_dir={out}", "--dry-run"]
    )
    err = capsys.readouterr().err
    assert code == 2 and "latent_tile" in err and not out.exists()


def test_tiles_share_the_whole_frame_adapter_grid():
    """Overlapping tiles condition the same position identically (windows on one global grid)."""
    model = tiny(
        adapter={"num_heads": 2, "depth": 1, "mlp_ratio": 2.0, "window": (1, 2, 2), "freq_dim": 64},
        latent_tile=12,
        latent_tile_overlap=6,
        latent_tile_batch=2,
    ).eval()
    _, lr_latent, noise = latents(
        model, t=1, size=24
    )  # latent 24 x 24: tile starts 0, 6, 12 (tokens 0, 3, 6)
    outs = []
    with torch.no_grad():
        refinement = model.refinement(lr_latent, lr_latent)  # what the tiled velocity feeds the stream
        whole = model.net.adapter(lr_latent, refinement, torch.ones(1)).view(1, 1, 12, 12, -1)
        model.net.adapter.register_forward_hook(lambda m, args, out: outs.append((out, args[3])))
        model.tiled_velocity(noise, torch.ones(1), lr_latent, lr_latent)
    origins = [o for _, batch in outs for o in batch]
    assert sorted(set(origins)) == [(y, x) for y in (0, 6, 12) for x in (0, 6, 12)]
    tokens = torch.cat([out for out, _ in outs]).view(len(origins), 1, 6, 6, -1)
    for i, (y, x) in enumerate(origins):
        ty, tx = y // 2, x // 2
        # windows are 2 x 2 tokens: with odd token origins the first and last rows/cols are cut windows
        a, b = ty % 2, tx % 2
        h = 6 - a - (6 - a) % 2
        w = 6 - b - (6 - b) % 2
        torch.testing.assert_close(
            tokens[i : i + 1, :, a : a + h, b : b + w],
            whole[:, :, ty + a : ty + a + h, tx + b : tx + b + w],
            atol=1e-5,
            rtol=1e-5,
        )
