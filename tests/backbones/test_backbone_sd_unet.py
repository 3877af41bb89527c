"""Pruned SD UNet and half-width VAE decoder: exact at full width, sliced correctly, loadable."""

from __future__ import annotations

import pytest
import torch
from diffusers import AutoencoderKL, UNet2DConditionModel

from vsrzoo.backbones.sd_unet import (
    PrunedUNet,
    PrunedVAEDecoder,
    build_pruned_unet,
    build_pruned_vae_decoder,
    prune_unet,
    prune_vae_decoder,
    slice_tensor,
)


def _sd_like_unet(seed=0):
    """A tiny UNet2DConditionModel with SD 2.1's structure, cross-attention outputs zeroed."""
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=16,
        block_out_channels=(16, 32),
        attention_head_dim=(2, 4),  # SD 2.1 names the head *count* this way
        cross_attention_dim=8,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        layers_per_block=1,
        norm_num_groups=8,
        use_linear_projection=True,
    )
    with torch.no_grad():
        for p in unet.parameters():
            p.add_(torch.randn_like(p) * 0.02)  # break zero-inits so every path matters
        for name, module in unet.named_modules():
            if name.endswith("attn2.to_out.0"):
                module.weight.zero_()
                module.bias.zero_()
    return unet.eval()


def _tiny_sd_vae(seed=0):
    torch.manual_seed(seed)
    return AutoencoderKL(
        block_out_channels=(16, 32),
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        layers_per_block=1,
        norm_num_groups=8,
        latent_channels=4,
    ).eval()


@pytest.mark.parametrize("timestep", [999, 250])
def test_full_width_prune_equals_source_at_fixed_timestep(timestep):
    src = _sd_like_unet()
    pruned, kept = prune_unet(src, width=1.0, timestep=timestep)
    assert kept == []
    assert not any("attn2" in k or "time_emb" in k for k in pruned.state_dict())
    x = torch.randn(2, 4, 16, 16)
    with torch.no_grad():
        expect = src(x, timestep, encoder_hidden_states=torch.randn(2, 3, 8)).sample
        torch.testing.assert_close(pruned(x), expect, rtol=1e-5, atol=1e-5)


def test_three_quarter_width_slices_every_weight():
    src = _sd_like_unet()
    pruned, kept = prune_unet(src, width=0.75, timestep=999)
    assert pruned.config.block_out_channels == (12, 24) and pruned.config.norm_num_groups == 6
    assert kept == []
    # per-head slicing: head h of the pruned q projection is the first rows of head h of the source
    q_src = src.down_blocks[0].attentions[0].transformer_blocks[0].attn1.to_q.weight
    q_new = pruned.down_blocks[0].attentions[0].transformer_blocks[0].attn1.to_q.weight
    heads, src_dim, new_dim = 2, 8, 6
    for h in range(heads):
        torch.testing.assert_close(
            q_new[h * new_dim : (h + 1) * new_dim], q_src[h * src_dim : h * src_dim + new_dim, :12]
        )
    assert pruned(torch.randn(1, 4, 16, 16)).shape == (1, 4, 16, 16)


def test_prune_with_new_input_channels_reinitialises_conv_in():
    pruned, kept = prune_unet(_sd_like_unet(), width=0.5, in_channels=12)
    assert kept == ["conv_in.weight"]
    assert pruned(torch.randn(1, 12, 16, 16)).shape == (1, 4, 16, 16)


def test_slice_tensor_chunks():
    x = torch.arange(12).reshape(12, 1)
    heads = slice_tensor(x, (6, 1), {0: (3, 3)})  # 3 heads of 4 -> 3 heads of 2
    assert heads.flatten().tolist() == [0, 1, 4, 5, 8, 9]
    concat = slice_tensor(x, (5, 1), {0: ([8, 4], [3, 2])})  # parts of 8 and 4 -> 3 and 2
    assert concat.flatten().tolist() == [0, 1, 2, 8, 9]
    assert slice_tensor(x, (5, 1)).flatten().tolist() == [0, 1, 2, 3, 4]


def test_half_width_decoder_is_exact_at_full_width_and_runs_at_half():
    vae = _tiny_sd_vae()
    z = torch.randn(1, 4, 8, 8)
    full, kept = prune_vae_decoder(vae, width=1.0)
    assert kept == []
    with torch.no_grad():
        torch.testing.assert_close(full.decode(z), vae.decode(z / vae.config.scaling_factor).sample)
    half, _ = prune_vae_decoder(vae, width=0.5)
    assert half.config.block_out_channels == (8, 16)
    assert half.decode(z).shape == (1, 3, 16, 16)


def test_build_from_a_source_checkpoint_dir_prunes(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    src = _sd_like_unet()
    src.save_pretrained(tmp_path / "sd" / "unet")
    _tiny_sd_vae().save_pretrained(tmp_path / "sd" / "vae")
    unet = build_pruned_unet(pretrained=str(tmp_path / "sd"), width=1.0, timestep=999)
    assert isinstance(unet, PrunedUNet)
    x = torch.randn(1, 4, 16, 16)
    with torch.no_grad():
        expect = src(x, 999, encoder_hidden_states=torch.zeros(1, 1, 8)).sample
        torch.testing.assert_close(unet(x), expect, rtol=1e-5, atol=1e-5)
    decoder = build_pruned_vae_decoder(pretrained=str(tmp_path / "sd"))
    assert isinstance(decoder, PrunedVAEDecoder) and decoder.config.block_out_channels == (8, 16)


def test_wrong_width_is_rejected():
    with pytest.raises(ValueError, match="group"):
        prune_unet(_sd_like_unet(), width=0.3)


def test_full_pruned_sizes():
    unet = build_pruned_unet("full", device="meta")
    assert unet.config.block_out_channels == (240, 480, 960, 960)
    total = sum(p.numel() for p in unet.parameters())
    assert 400e6 < total < 500e6  # about half of SD 2.1's 866M after dropping cross-attention
    decoder = build_pruned_vae_decoder("full", device="meta")
    assert decoder.config.block_out_channels == (64, 128, 256, 256)
