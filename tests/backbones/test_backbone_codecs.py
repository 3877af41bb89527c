"""Codec interface: shapes, value range convention, losslessness, video handling, errors."""

from __future__ import annotations

import pytest
import torch

from vsrzoo.backbones import create_backbone
from vsrzoo.backbones.vae import PixelUnshuffleCodec
from vsrzoo.errors import UserError


def test_pixel_unshuffle_is_lossless_for_images_and_videos():
    codec = PixelUnshuffleCodec(factor=4)
    image = torch.rand(2, 3, 16, 24) * 2 - 1
    z = codec.encode(image)
    assert z.shape == (2, 48, 4, 6) == codec.latent_shape(image.shape)
    torch.testing.assert_close(codec.decode(z), image, rtol=0, atol=0)
    video = torch.rand(1, 3, 5, 8, 8)
    zv = codec.encode(video)
    assert zv.shape == (1, 48, 5, 2, 2) == codec.latent_shape(video.shape)
    torch.testing.assert_close(codec.decode(zv), video, rtol=0, atol=0)
    torch.testing.assert_close(zv[:, :, 3], codec.encode(video[:, :, 3]))  # frames stay separate


def test_pixel_unshuffle_rejects_bad_sizes():
    with pytest.raises(UserError, match="multiples of 8"):
        PixelUnshuffleCodec().encode(torch.zeros(1, 3, 12, 16))


@pytest.mark.parametrize(
    "name,frames", [("sd-vae", None), ("sd-vae", 3), ("wan2.1-vae", 5), ("wan2.2-vae", 5)]
)
def test_codec_shapes(name, frames):
    codec = create_backbone(name, "tiny").eval()
    shape = (1, 3, frames, 32, 32) if frames else (2, 3, 32, 32)
    x = torch.rand(shape) * 2 - 1
    with torch.no_grad():
        z = codec.encode(x)
        assert z.shape == codec.latent_shape(shape)
        assert codec.decode(z).shape == shape


def test_wan_codec_image_is_one_frame_and_normalises_with_stats():
    codec = create_backbone("wan2.1-vae", "tiny").eval()
    image = torch.rand(1, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        z = codec.encode(image)
        raw = codec.vae.encode(image.unsqueeze(2)).latent_dist.mode().squeeze(2)
    mean = torch.tensor(codec.vae.config.latents_mean).view(1, -1, 1, 1)
    std = torch.tensor(codec.vae.config.latents_std).view(1, -1, 1, 1)
    torch.testing.assert_close(z, (raw - mean) / std)
    assert codec.decode(z).shape == image.shape


def test_wan_codec_rejects_bad_frame_counts():
    codec = create_backbone("wan2.1-vae", "tiny")
    with pytest.raises(UserError, match="1 \\+ 4k frames"):
        codec.encode(torch.zeros(1, 3, 4, 16, 16))


def test_kl_codec_scales_latents_and_samples_when_asked():
    codec = create_backbone("sd-vae", "tiny").eval()
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        z = codec.encode(x)
        mean = codec.vae.encode(x).latent_dist.mode()
        torch.testing.assert_close(z, mean * codec.vae.config.scaling_factor)
        codec.sample = True
        z1 = codec.encode(x, generator=torch.Generator().manual_seed(0))
        z2 = codec.encode(x, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(z1, z2)
    assert not torch.allclose(z1, z)
