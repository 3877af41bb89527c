"""LiftVSR (arXiv 2506.08529): zero-init prior, temporal mixing, memory cache, asymmetric training, sampler."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import vsrzoo
from vsrzoo.backbones.common import chunk_feed_forward
from vsrzoo.backbones.pixart import build_pixart
from vsrzoo.errors import UserError
from vsrzoo.inference.tiling import tile_spans
from vsrzoo.methods.latent import latent_tiles, tile_weights
from vsrzoo.methods.liftvsr import TINY
from vsrzoo.methods.liftvsr_net import LiftVSRTransformer
from vsrzoo.registry import count_parameters

PIXART = dict(
    in_channels=12,
    out_channels=24,
    num_attention_heads=2,
    attention_head_dim=16,
    num_layers=2,
    cross_attention_dim=32,
    caption_channels=32,
    sample_size=8,
)


def tiny_model(**overrides):
    torch.manual_seed(0)
    return vsrzoo.create_model("liftvsr", variant="tiny", **overrides).eval()


def open_temporal_branch(model_or_net, scale: float = 0.2) -> None:
    """Give the zero-initialised temporal outputs and cache gates non-zero weights (as after training)."""
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for layer in model_or_net.temporal:
            for p in (layer.dta.out_proj.weight, layer.amc.read_gate):
                p.copy_(scale * torch.randn(p.shape, generator=g))


def video(t: int, size: int = 8, seed: int = 0) -> torch.Tensor:
    return torch.rand(1, t, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_zero_init_equals_image_prior_frame_by_frame():
    torch.manual_seed(0)
    net = LiftVSRTransformer("tiny", pixart_overrides=PIXART, lora_rank=4).eval()
    prior = build_pixart("tiny", **PIXART).eval()
    state = {k: v for k, v in net.pixart.state_dict().items() if ".lora_" not in k}
    state["pos_embed.proj.weight"] = state["pos_embed.proj.weight"][:, :12]
    prior.load_state_dict(state)
    x, lr = torch.randn(2, 3, 12, 8, 8), torch.randn(2, 3, 12, 8, 8)  # LR latent must not matter at init
    t = torch.tensor([10, 700])
    with torch.no_grad():
        out, caches = net(x, lr, t)
        caption, mask = net.caption(6)
        ref = prior(x.flatten(0, 1), caption, timestep=t.repeat_interleave(3), encoder_attention_mask=mask)
    assert out.shape == (2, 3, 24, 8, 8) and caches == [None, None]  # nothing written
    torch.testing.assert_close(out.flatten(0, 1), ref.sample, atol=1e-5, rtol=1e-5)


def test_temporal_branch_mixes_frames_only_once_opened():
    torch.manual_seed(0)
    net = LiftVSRTransformer("tiny", pixart_overrides=PIXART, lora_rank=None).eval()
    x, lr, t = torch.randn(1, 3, 12, 8, 8), torch.randn(1, 3, 12, 8, 8), torch.tensor([300])
    x2 = x.clone()
    x2[:, 2] += 1.0
    with torch.no_grad():
        assert torch.equal(net(x, lr, t)[0][:, 0], net(x2, lr, t)[0][:, 0])
        open_temporal_branch(net)
        assert not torch.allclose(net(x, lr, t)[0][:, 0], net(x2, lr, t)[0][:, 0])


def test_spatial_feed_forward_runs_a_frame_at_a_time_by_default():
    """The PixArt blocks' feed-forward is chunked by frame (issue 29: speed); all frames at once gives
    the same numbers."""
    torch.manual_seed(0)
    net = LiftVSRTransformer("tiny", pixart_overrides=PIXART, lora_rank=None).eval()
    open_temporal_branch(net)
    calls = []
    net.pixart.transformer_blocks[0].ff.net[0].register_forward_pre_hook(
        lambda m, args: calls.append(args[0].shape[0])
    )
    x, lr, t = torch.randn(1, 4, 12, 8, 8), torch.randn(1, 4, 12, 8, 8), torch.tensor([300])
    with torch.no_grad():
        chunked = net(x, lr, t)[0]
        assert calls == [1, 1, 1, 1]  # frame by frame
        chunk_feed_forward(net.pixart, None)
        whole = net(x, lr, t)[0]
    assert calls[4:] == [4]
    torch.testing.assert_close(chunked, whole, rtol=0, atol=1e-6)


def test_lora_freezes_prior_and_trains_adapters():
    net = LiftVSRTransformer("tiny", pixart_overrides=PIXART, lora_rank=4)
    trainable = {n for n, p in net.named_parameters() if p.requires_grad}
    assert any(".lora_A." in n for n in trainable) and any(n.startswith("temporal.") for n in trainable)
    assert "pixart.pos_embed.proj.weight" in trainable  # the widened input (LR channels) trains
    assert "pixart.transformer_blocks.0.attn1.to_q.weight" not in trainable
    assert "pixart.transformer_blocks.0.ff.net.0.proj.weight" not in trainable


def test_cache_memory_constant_over_many_segments():
    model = tiny_model()
    open_temporal_branch(model.net)
    lr = video(40, size=10)
    sizes, state = [], None
    with torch.no_grad():
        for i in range(0, 40, 4):
            _, state = model.step(lr[:, i : i + 4], state)
            caches = [c for group in state.values() for c in group if c is not None]
            assert not any(c.requires_grad for c in caches)
            sizes.append(sum(c.numel() for c in caches))
    assert sizes[0] > 0 and len(set(sizes)) == 1  # filled by the first segment, never grows
    assert len(state) == 1


def test_state_is_a_value_forward_has_no_memory():
    model = tiny_model()
    open_temporal_branch(model.net, scale=1.0)
    a, b = video(4, seed=1), video(4, seed=2)

    def run(fn, *args):
        torch.manual_seed(0)
        with torch.no_grad():
            return fn(*args)

    fresh = run(model, b)
    run(model, a)
    assert torch.equal(run(model, b), fresh)  # forward starts every call from an empty cache
    _, after_a = run(model.step, a, None)
    carried, _ = run(model.step, b, after_a)
    assert not torch.allclose(carried, fresh)  # b read a's cache through the state value
    assert torch.equal(run(model.step, b, None)[0], fresh)
    assert not any(k == "cache" or k.endswith(".cache") for k, _ in model.named_buffers())


def test_amc_read_changes_the_output():
    """The AMC's read path matters: closing its read gates changes what a later segment produces."""
    model = tiny_model()
    open_temporal_branch(model.net)
    lr = video(8, seed=3)
    torch.manual_seed(0)
    with torch.no_grad():
        with_read = model(lr)
        for layer in model.net.temporal:
            layer.amc.read_gate.zero_()
        torch.manual_seed(0)
        without = model(lr)
    assert torch.equal(with_read[:, :4], without[:, :4])  # the first segment has no cache to read
    assert (with_read[:, 4:] - without[:, 4:]).abs().max() > 1e-3


def test_three_segments_train_every_amc_parameter():
    """Write, update (the gate) and read all get gradients, from the first step (read gate open)."""
    model = tiny_model().train()
    s = model.segment_length
    with torch.no_grad():  # as after one optimiser step: the zero-initialised output linear moved
        for layer in model.net.temporal:
            layer.dta.out_proj.weight.normal_(0, 0.02)
    batch = lambda t: {"lr": video(t, 8), "gt": torch.rand(1, t, 3, 32, 32)}  # noqa: E731
    model.training_loss(batch(3 * s))["loss"].backward()
    for layer in model.net.temporal:
        amc = layer.amc
        for name, p in (
            ("update_gate", amc.update_gate.weight),
            ("read_gate", amc.read_gate),
            ("reader", amc.reader.to_q.weight),
            ("summarizer", amc.summarizer.to_q.weight),
        ):
            assert p.grad is not None and p.grad.abs().sum() > 0, name
    model.zero_grad()
    model.training_loss(batch(2 * s))["loss"].backward()  # two segments: the update gate is unused
    assert all(layer.amc.update_gate.weight.grad is None for layer in model.net.temporal)
    model.zero_grad()
    model.training_loss(batch(s))["loss"].backward()  # one segment: nothing writes a cache
    assert all(layer.amc.summarizer.to_q.weight.grad is None for layer in model.net.temporal)


def test_read_path_gets_gradient_at_initialisation():
    """The output linear is zero at init (the model equals the prior) but already sees the open read gate's
    read-out, so its first gradient carries the AMC's signal; a closed gate gives another gradient."""
    s = 4
    batch = {"lr": video(2 * s, 8), "gt": torch.rand(1, 2 * s, 3, 32, 32)}
    grads = []
    for gate in (0.5, 0.0):
        model = tiny_model(cache_read_gate=gate).train()
        torch.manual_seed(1)
        model.training_loss(batch)["loss"].backward()
        grads.append(torch.cat([layer.dta.out_proj.weight.grad.flatten() for layer in model.net.temporal]))
    assert grads[0].abs().sum() > 0 and not torch.allclose(grads[0], grads[1])


@pytest.mark.parametrize(
    "switch,gone",
    [(dict(memory_cache=False), ".amc."), (dict(temporal_attention=False), ".dta.to_q.")],
)
def test_ablation_switches_remove_their_mechanism_and_the_rest_trains(switch, gone):
    """``memory_cache=False`` / ``temporal_attention=False`` drop the AMC / DTA parameters, change the
    output, and every remaining temporal parameter is still in the graph."""
    full, ablated = tiny_model(), tiny_model(**switch)
    names = {n for n, _ in ablated.named_parameters()}
    assert any(gone in n for n, _ in full.named_parameters()) and not any(gone in n for n in names)
    for model in (full, ablated):
        open_temporal_branch_of_remaining(model.net)
    lr = video(8, seed=3)
    outs = []
    for model in (full, ablated):
        torch.manual_seed(0)
        with torch.no_grad():
            outs.append(model(lr))
    assert (outs[0] - outs[1]).abs().max() > 1e-3
    ablated.train()
    s = ablated.segment_length
    ablated.training_loss({"lr": video(3 * s, 8), "gt": torch.rand(1, 3 * s, 3, 32, 32)})["loss"].backward()
    for name, p in ablated.net.temporal.named_parameters():  # none unused (DDP would stop)
        assert p.grad is not None, name
    for layer in ablated.net.temporal:
        assert (
            layer.dta.out_proj.weight.grad.abs().sum() > 0 and layer.dta.ffn.fc1.weight.grad.abs().sum() > 0
        )


def test_without_dta_frames_do_not_mix_within_a_segment():
    model = tiny_model(temporal_attention=False, memory_cache=False)
    open_temporal_branch_of_remaining(model.net, scale=1.0)
    lr = video(4, seed=4)
    other = lr.clone()
    other[:, 2] = torch.rand_like(other[:, 2])
    with torch.no_grad():
        torch.manual_seed(0)
        a = model(lr)
        torch.manual_seed(0)
        b = model(other)
    assert torch.allclose(a[:, [0, 1, 3]], b[:, [0, 1, 3]], atol=1e-6)  # per-frame: no leak across frames
    assert not torch.allclose(a[:, 2], b[:, 2])


def open_temporal_branch_of_remaining(net, scale: float = 0.2) -> None:
    """Like :func:`open_temporal_branch` for a net that may lack the AMC."""
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for layer in net.temporal:
            params = [layer.dta.out_proj.weight] + ([layer.amc.read_gate] if layer.amc is not None else [])
            for p in params:
                p.copy_(scale * torch.randn(p.shape, generator=g))


@pytest.mark.parametrize("prob", [0.0, 0.75])
def test_adjacent_training_segments_never_share_the_timestep_the_loss_sees(prob):
    """Asymmetric sampling as training feeds it (issue 27): the timesteps handed to the diffusion loss
    of chained segments differ between neighbours, start states included, and stay in [0, 250)."""
    model = tiny_model(start_state_prob=prob).train()
    assert model.inference_scheduler(model.num_inference_steps).timesteps.tolist() == [249]  # one DDIM step
    seen, real = [], model.diffusion.training_losses

    def record(out, x0, x_t, t, noise):
        seen.append(t[:: model.segment_length])  # one timestep per sample (repeated over its frames)
        return real(out, x0, x_t, t, noise)

    model.diffusion.training_losses = record
    g = torch.Generator().manual_seed(1)
    batch = {"lr": torch.rand(64, 12, 3, 4, 4, generator=g), "gt": torch.rand(64, 12, 3, 16, 16, generator=g)}
    torch.manual_seed(0)
    model.training_loss(batch)
    t = torch.stack(seen)  # (3 segments, 64 samples)
    assert t.shape == (3, 64) and int(t.min()) >= 0 and int(t.max()) < model.max_train_timestep == 250
    assert (t[1:] != t[:-1]).all()
    starts = (t == 249).float().mean().item()
    assert (0.3 < starts < 0.6) if prob else starts < 0.05  # 0.75 per segment, never two in a row


def test_the_cache_write_pass_never_writes_at_the_readers_timestep():
    """At inference the next segment reads the cache at the sampler's first step (249): the write pass
    draws its timestep as the training segment before such a reader, so never 249."""
    model = tiny_model(cache_from="matched", start_state_prob=0.75)
    written = []
    model.net.register_forward_pre_hook(
        lambda m, args, kw: written.append(args[2].clone()) if kw["write_cache"] else None, with_kwargs=True
    )
    torch.manual_seed(0)
    with torch.no_grad():
        model(video(4 * 20, 4))
    t = torch.cat(written)
    assert len(t) == 20 and not (t == 249).any() and int(t.max()) < 250


@pytest.mark.parametrize("cache_from,calls", [("clean", 3), ("last_step", 2), ("matched", 3), ("none", 2)])
def test_sampler_steps_and_cache_write_pass(cache_from, calls):
    model = tiny_model(cache_from=cache_from, num_inference_steps=2, strength=0.5)
    seen = []
    model.net.register_forward_pre_hook(
        lambda m, args, kw: seen.append((int(args[2][0]), kw["write_cache"])), with_kwargs=True
    )
    with torch.no_grad():
        model(video(4))
    assert len(seen) == calls
    assert [t for t, _ in seen[:2]] == [499, 249]  # 2 DDIM steps, strength 0.5
    writes = [w for _, w in seen]
    expected = {"last_step": [False, True], "none": [False, False]}.get(cache_from, [False, False, True])
    assert writes == expected
    if cache_from == "clean":
        assert seen[-1][0] == 0
    if cache_from == "matched":  # drawn like a training segment's timestep (strength 0.5: below 500)
        assert 0 <= seen[-1][0] < model.max_train_timestep == 500


def test_cache_from_none_reads_nothing_so_segments_do_not_depend_on_earlier_ones():
    """``cache_from='none'`` (the inference-time "AMC off"): no cache is written, so a segment gives
    what it gives alone, with the trained read gates open."""
    model = tiny_model(cache_from="none")
    open_temporal_branch(model.net)
    lr = video(8, seed=3)
    with torch.no_grad():
        torch.manual_seed(0)
        both = model(lr)
        torch.manual_seed(0)
        model(lr[:, :4])  # the same noise draws, in the same order
        second = model(lr[:, 4:])
        _, state = model.step(lr[:, :4], None)
    assert torch.equal(both[:, 4:], second)
    assert all(caches is None for caches in state.values())


def test_the_cache_read_bypasses_the_ffn_in_the_net():
    """LiftVSR's temporal layer fuses the AMC read after the DTA's attention and FFN (the paper's
    figure): the read changes the residual by exactly ``out_proj(read)``."""
    model = tiny_model()
    open_temporal_branch(model.net)
    layer = model.net.temporal[0]
    with torch.no_grad():
        layer.dta.ffn.fc2.weight.normal_(0, 0.5)
        b, t, gh, gw, c = 1, 4, 4, 4, layer.dta.out_proj.in_features
        h = torch.randn(b * t, gh * gw, c)
        cache = layer.amc.update(torch.randn(b, t, gh, gw, c), None)
        with_read, _ = layer(h, (b, t, gh, gw), cache, write_cache=False)
        without, _ = layer(h, (b, t, gh, gw), None, write_cache=False)
        read = layer.amc.read(h.view(b, t, gh, gw, c), cache)
    expected = (read @ layer.dta.out_proj.weight.T).reshape_as(h)
    torch.testing.assert_close(with_read - without, expected, atol=1e-5, rtol=1e-5)


def test_sampler_noise_follows_the_global_seed():
    model = tiny_model()
    lr = video(4)
    outs = []
    for seed in (3, 3, 4):
        torch.manual_seed(seed)
        with torch.no_grad():
            outs.append(model(lr))
    assert torch.equal(outs[0], outs[1]) and not torch.equal(outs[0], outs[2])


def test_tiles_cover_frame_and_keep_their_own_caches():
    def tile_starts(length, tile, overlap):
        return [a for a, _ in tile_spans(length, tile, overlap)]

    assert tile_starts(40, 32, 8) == [0, 8] and tile_starts(20, 32, 8) == [0]
    assert tile_starts(100, 32, 8) == [0, 24, 48, 68]
    w = tile_weights(24, 32, 100, 8)[:, None] * tile_weights(0, 32, 40, 8)[None, :]
    assert w.min() > 0 and w[0, 16] < w[16, 16] == 1.0
    model = tiny_model(latent_tile=8, latent_tile_overlap=2, latent_tile_batch=1)
    open_temporal_branch(model.net)
    with torch.no_grad():
        out, state = model.step(video(4, size=14))
    assert out.shape == (1, 4, 3, 56, 56) and len(state) == len(latent_tiles(14, 14, 8, 2)) == 4
    whole = tiny_model(latent_tile=32)
    single = tiny_model(latent_tile=None)
    lr = video(4, size=12)
    torch.manual_seed(0)
    with torch.no_grad():
        a = whole(lr)
    torch.manual_seed(0)
    with torch.no_grad():
        b = single(lr)
    assert torch.equal(a, b)


def test_pads_sizes_that_are_not_a_multiple_of_the_patch():
    model = tiny_model(backbone=dict(TINY["backbone"], patch_size=2))
    assert model.size_multiple == 2
    with torch.no_grad():
        out = model(video(4, size=13)[..., :11])
    assert out.shape == (1, 4, 3, 52, 44)


def test_full_variant_matches_paper_sizes_on_meta():
    model = vsrzoo.create_model("liftvsr", variant="full", device="meta")
    cfg = model.net.pixart.config
    assert (cfg.num_layers, cfg.num_attention_heads * cfg.attention_head_dim, cfg.patch_size) == (28, 1152, 2)
    assert (cfg.in_channels, cfg.out_channels, model.segment_length) == (8, 8, 4 * 2)
    assert len(model.net.temporal) == 28
    pixart = sum(p.numel() for n, p in model.net.pixart.named_parameters() if ".lora_" not in n)
    assert abs(pixart - 610.9e6) < 0.5e6
    counts = count_parameters(model)
    assert counts["frozen"] > pixart  # backbone and VAE frozen; LoRA, temporal branch and input train


@pytest.mark.parametrize("bad", [dict(sampler="euler"), dict(strength=0.0), dict(cache_from="noisy")])
def test_bad_arguments_are_user_errors(bad):
    with pytest.raises(UserError):
        vsrzoo.create_model("liftvsr", variant="tiny", **bad)


@pytest.mark.parametrize("prob,depends_on_gt", [(1.0, False), (0.0, True)])
def test_start_state_training_hides_the_residual(prob, depends_on_gt):
    model = tiny_model(start_state_prob=prob)
    inputs = []
    model.net.register_forward_pre_hook(lambda m, args: inputs.append((args[0], args[2])))
    lr = video(4, 8)
    for seed in (1, 2):
        torch.manual_seed(0)
        gt = torch.rand(1, 4, 3, 32, 32, generator=torch.Generator().manual_seed(seed))
        model.training_loss({"lr": lr, "gt": gt})
    (x1, t1), (x2, t2) = inputs
    first = int(model.inference_scheduler(model.num_inference_steps).timesteps[0])
    assert torch.equal(t1, t2) and (int(t1) == first if prob == 1.0 else True)
    assert torch.equal(x1, x2) != depends_on_gt


def test_upscale_streams_segments_back_to_back():
    model = tiny_model()
    writes = []
    model.net.register_forward_pre_hook(
        lambda m, args, kw: writes.append(args[0].shape[1]) if kw["write_cache"] else None, with_kwargs=True
    )
    frames = [np.zeros((8, 8, 3), np.uint8)] * 10
    assert len(list(model.upscale(iter(frames)))) == 10
    assert writes == [4, 4, 2]  # frames 0-3, 4-7, then 8-9: causal, no frame runs twice


def test_builtin_weights_load_and_improve_on_bicubic():
    """The shipped tiny checkpoint (trained on procedural clips) sharpens a sample clip beyond bicubic."""
    from vsrzoo.data.datasets import get_dataset
    from vsrzoo.data.resize import imresize
    from vsrzoo.methods.base import frames_to_tensor

    model = vsrzoo.create_model("liftvsr", pretrained="builtin").eval()
    clip = get_dataset("sample").clips[0]
    lr = frames_to_tensor(list(clip.read_lr())[:4])[..., :32, :32]
    gt = frames_to_tensor(list(clip.read_gt())[:4])[..., :128, :128]

    def psnr(x):
        mse = (((x.clamp(0, 1) * 255).round() - gt * 255) ** 2).mean()
        return float(10 * torch.log10(255**2 / mse))

    torch.manual_seed(0)
    with torch.no_grad():
        sr = model.upscale_clip(lr)
    assert psnr(sr) > psnr(imresize(lr, scale=4)) + 0.3
