"""Codecs between pixels and latents: SD ``AutoencoderKL``, Wan ``AutoencoderKLWan`` and pixel-unshuffle.

Common interface (:class:`Codec`): ``encode(x)`` takes pixels **in [-1, 1]** as an image batch
``(B, 3, H, W)`` or a video batch ``(B, 3, T, H, W)`` and returns the *normalised* latent the
diffusion model sees; ``decode(z)`` inverts it (values in about [-1, 1]; the Wan decoder clamps).
Convert [0, 1] images with ``x * 2 - 1`` first. Attributes ``latent_channels``,
``spatial_factor`` and ``temporal_factor`` give the geometry; image codecs fold time into the batch.

* SD VAE (Rombach et al., arXiv 2112.10752), used by PixArt-alpha (arXiv 2310.00426) and
  SD 2.1: 4 channels, 8x spatial, latent ``(mean - shift) * scaling_factor`` (0.18215).
* Wan2.1 VAE (arXiv 2503.20314): causal 3D, 16 channels, 8x spatial, 4x temporal
  (``T = 1 + 4k`` frames -> ``1 + k`` latent frames), per-channel ``(mu - mean) / std``.
* Wan2.2 VAE (Wan2.2 TI2V-5B): 48 channels, 2x2 patchify + 8x = 16x spatial, 4x temporal.
* :class:`PixelUnshuffleCodec`: lossless space-to-depth, for tiny CPU configs and for InstaVSR's
  encoder-free input (reconstruction, DESIGN.md section 2). Full configs and the Wan2.2 latent
  statistics follow the public diffusers checkpoints.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, AutoencoderKLWan, ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from torch import nn

from vsrzoo.backbones.loading import check_class, device_context, load_pretrained, read_config, variant_config
from vsrzoo.errors import UserError

WAN22_LATENTS_MEAN = [
    -0.2289, -0.0052, -0.1323, -0.2339, -0.2799, 0.0174, 0.1838, 0.1557,
    -0.1382, 0.0542, 0.2813, 0.0891, 0.1570, -0.0098, 0.0375, -0.1825,
    -0.2246, -0.1207, -0.0698, 0.5109, 0.2665, -0.2108, -0.2158, 0.2502,
    -0.2055, -0.0322, 0.1109, 0.1567, -0.0729, 0.0899, -0.2799, -0.1230,
    -0.0313, -0.1649, 0.0117, 0.0723, -0.2839, -0.2083, -0.0520, 0.3748,
    0.0152, 0.1957, 0.1433, -0.2944, 0.3573, -0.0548, -0.1681, -0.0667,
]  # fmt: skip
WAN22_LATENTS_STD = [
    0.4765, 1.0364, 0.4514, 1.1677, 0.5313, 0.4990, 0.4818, 0.5013,
    0.8158, 1.0344, 0.5894, 1.0901, 0.6885, 0.6165, 0.8454, 0.4978,
    0.5759, 0.3523, 0.7135, 0.6804, 0.5833, 1.4146, 0.8986, 0.5659,
    0.7069, 0.5338, 0.4889, 0.4917, 0.4069, 0.4999, 0.6866, 0.4093,
    0.5709, 0.6065, 0.6415, 0.4944, 0.5726, 1.2042, 0.5458, 1.6887,
    0.3971, 1.0600, 0.3943, 0.5537, 0.5444, 0.4089, 0.7468, 0.7744,
]  # fmt: skip

SD_VAE_CONFIGS: dict[str, dict[str, Any]] = {
    "tiny": dict(
        block_out_channels=(16, 16, 32, 32),
        layers_per_block=1,
        norm_num_groups=8,
        latent_channels=4,
        sample_size=32,
    ),
    "small": dict(
        block_out_channels=(64, 128, 256, 256),
        layers_per_block=1,
        norm_num_groups=32,
        latent_channels=4,
        sample_size=256,
    ),
    "full": dict(
        block_out_channels=(128, 256, 512, 512),
        layers_per_block=2,
        norm_num_groups=32,
        latent_channels=4,
        sample_size=512,
    ),
}
for _cfg in SD_VAE_CONFIGS.values():
    _cfg.update(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        scaling_factor=0.18215,
    )

_WAN21_BASE = dict(z_dim=16, dim_mult=[1, 2, 4, 4], temperal_downsample=[False, True, True], num_res_blocks=2)
WAN21_VAE_CONFIGS: dict[str, dict[str, Any]] = {
    "tiny": {**_WAN21_BASE, "base_dim": 8, "num_res_blocks": 1},
    "small": {**_WAN21_BASE, "base_dim": 32, "num_res_blocks": 1},
    "full": {**_WAN21_BASE, "base_dim": 96},
}
_WAN22_BASE = dict(
    z_dim=48,
    dim_mult=[1, 2, 4, 4],
    temperal_downsample=[False, True, True],
    num_res_blocks=2,
    in_channels=12,
    out_channels=12,
    patch_size=2,
    is_residual=True,
    scale_factor_spatial=16,
    scale_factor_temporal=4,
    latents_mean=WAN22_LATENTS_MEAN,
    latents_std=WAN22_LATENTS_STD,
)
WAN22_VAE_CONFIGS: dict[str, dict[str, Any]] = {
    "tiny": {**_WAN22_BASE, "base_dim": 16, "decoder_base_dim": 16, "num_res_blocks": 1},
    "small": {**_WAN22_BASE, "base_dim": 32, "decoder_base_dim": 64, "num_res_blocks": 1},
    "full": {**_WAN22_BASE, "base_dim": 160, "decoder_base_dim": 256},
}


def _fold_time(fn, x: torch.Tensor) -> torch.Tensor:
    """Apply an image function to every frame of a ``(B, C, T, H, W)`` video (or to an image batch)."""
    if x.ndim == 4:
        return fn(x)
    b, _, t = x.shape[:3]
    y = fn(x.transpose(1, 2).flatten(0, 1))
    return y.unflatten(0, (b, t)).transpose(1, 2)


class Codec(nn.Module):
    """Base of the codecs: subclasses define ``encode(x)`` and ``decode(z)`` (module docstring)."""

    latent_channels: int
    spatial_factor: int
    temporal_factor: int = 1

    def latent_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """Latent shape for a pixel tensor of ``shape`` (image or video)."""
        *lead, h, w = shape
        s = self.spatial_factor
        if len(shape) == 5:
            t = (lead[2] - 1) // self.temporal_factor + 1
            return (lead[0], self.latent_channels, t, h // s, w // s)
        return (lead[0], self.latent_channels, h // s, w // s)


class PixelUnshuffleCodec(Codec, ModelMixin, ConfigMixin):
    """Lossless space-to-depth codec: ``(B, C, H, W) -> (B, C * f^2, H / f, W / f)``, no parameters."""

    @register_to_config
    def __init__(self, factor: int = 8, in_channels: int = 3):
        super().__init__()
        self.factor = factor
        self.latent_channels = in_channels * factor**2
        self.spatial_factor = factor
        self.temporal_factor = 1

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        f = self.factor
        if x.shape[-1] % f or x.shape[-2] % f:
            raise UserError(
                f"pixel-unshuffle codec: height and width must be multiples of {f}, got {tuple(x.shape)}"
            )
        return _fold_time(lambda y: F.pixel_unshuffle(y, f), x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return _fold_time(lambda y: F.pixel_shuffle(y, self.factor), z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


class KLCodec(Codec):
    """SD-style ``AutoencoderKL``: latent = ``(posterior mean - shift_factor) * scaling_factor``.

    ``sample=True`` draws from the posterior instead of taking its mean (training-time augmentation).
    """

    def __init__(self, vae: AutoencoderKL, sample: bool = False):
        super().__init__()
        self.vae = vae
        self.sample = sample
        self.latent_channels = vae.config.latent_channels
        self.spatial_factor = 2 ** (len(vae.config.block_out_channels) - 1)
        self.temporal_factor = 1

    @property
    def _scale_shift(self) -> tuple[float, float]:
        return self.vae.config.scaling_factor, self.vae.config.shift_factor or 0.0

    def _encode_image(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        dist = self.vae.encode(x).latent_dist
        z = dist.sample(generator) if self.sample else dist.mode()
        scale, shift = self._scale_shift
        return (z - shift) * scale

    def encode(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return _fold_time(lambda y: self._encode_image(y, generator), x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        scale, shift = self._scale_shift
        return _fold_time(lambda y: self.vae.decode(y / scale + shift).sample, z)

    def save_pretrained(self, path, **kwargs) -> None:
        self.vae.save_pretrained(path, **kwargs)


class WanCodec(Codec):
    """Wan ``AutoencoderKLWan`` (2.1 or 2.2): latent = ``(posterior mean - latents_mean) / latents_std``.

    Videos need ``T = 1 + 4k`` frames; a single image ``(B, 3, H, W)`` is treated as one frame.
    """

    def __init__(self, vae: AutoencoderKLWan, sample: bool = False):
        super().__init__()
        self.vae = vae
        self.sample = sample
        cfg = vae.config
        self.latent_channels = cfg.z_dim
        self.spatial_factor = cfg.scale_factor_spatial
        self.temporal_factor = cfg.scale_factor_temporal

    def _stats(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (1, -1, 1, 1, 1)
        mean = torch.tensor(self.vae.config.latents_mean, device=z.device, dtype=z.dtype).view(shape)
        std = torch.tensor(self.vae.config.latents_std, device=z.device, dtype=z.dtype).view(shape)
        return mean, std

    def encode(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        image = x.ndim == 4
        x = x.unsqueeze(2) if image else x
        if (x.shape[2] - 1) % self.temporal_factor:
            raise UserError(
                f"Wan VAE: a video needs 1 + {self.temporal_factor}k frames, got {x.shape[2]}; trim or pad the clip"
            )
        dist = self.vae.encode(x).latent_dist
        z = dist.sample(generator) if self.sample else dist.mode()
        mean, std = self._stats(z)
        z = (z - mean) / std
        return z.squeeze(2) if image else z

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        image = z.ndim == 4
        z = z.unsqueeze(2) if image else z
        mean, std = self._stats(z)
        x = self.vae.decode(z * std + mean).sample
        return x.squeeze(2) if image else x

    def save_pretrained(self, path, **kwargs) -> None:
        self.vae.save_pretrained(path, **kwargs)


def _build_vae(cls, configs, what, hub_hint, variant, pretrained, device, overrides):
    if pretrained is not None:
        return load_pretrained(cls, pretrained, what=what, subfolder="vae", hub_hint=hub_hint, **overrides)
    config = variant_config(configs, variant, overrides, cls, what)
    with device_context(device):
        return cls(**config)


def build_sd_vae(
    variant: str = "tiny", pretrained: str | None = None, device=None, sample: bool = False, **overrides
):
    """SD ``AutoencoderKL`` codec (full: 83.7M parameters); ``pretrained`` e.g. 'stabilityai/sd-vae-ft-ema'."""
    vae = _build_vae(
        AutoencoderKL,
        SD_VAE_CONFIGS,
        "SD VAE",
        "stabilityai/sd-vae-ft-ema",
        variant,
        pretrained,
        device,
        overrides,
    )
    return KLCodec(vae, sample=sample)


def build_wan21_vae(
    variant: str = "tiny", pretrained: str | None = None, device=None, sample: bool = False, **overrides
):
    """Wan2.1 ``AutoencoderKLWan`` codec (full: 126.9M); ``pretrained`` e.g. 'Wan-AI/Wan2.1-T2V-1.3B-Diffusers'."""
    hint = "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"
    vae = _build_vae(
        AutoencoderKLWan, WAN21_VAE_CONFIGS, "Wan2.1 VAE", hint, variant, pretrained, device, overrides
    )
    return WanCodec(vae, sample=sample)


def build_wan22_vae(
    variant: str = "tiny", pretrained: str | None = None, device=None, sample: bool = False, **overrides
):
    """Wan2.2 48-channel ``AutoencoderKLWan`` codec; ``pretrained`` e.g. 'Wan-AI/Wan2.2-TI2V-5B-Diffusers'."""
    hint = "Wan-AI/Wan2.2-TI2V-5B-Diffusers"
    vae = _build_vae(
        AutoencoderKLWan, WAN22_VAE_CONFIGS, "Wan2.2 VAE", hint, variant, pretrained, device, overrides
    )
    return WanCodec(vae, sample=sample)


PIXEL_UNSHUFFLE_CONFIGS = {v: {"factor": 8, "in_channels": 3} for v in ("tiny", "small", "full")}


def build_pixel_unshuffle(variant: str = "tiny", pretrained: str | None = None, device=None, **overrides):
    """Parameter-free space-to-depth codec (factor 8 by default, the SD VAE's geometry)."""
    what = "pixel-unshuffle codec"
    if pretrained is not None:  # no weights: the config is the whole model
        config, _, _ = read_config(pretrained, None, what)
        check_class(config, ["PixelUnshuffleCodec"], pretrained, what)
        with device_context(device):
            return PixelUnshuffleCodec.from_config({**config, **overrides})
    config = variant_config(PIXEL_UNSHUFFLE_CONFIGS, variant, overrides, PixelUnshuffleCodec, what)
    with device_context(device):
        return PixelUnshuffleCodec(**config)


__all__ = [
    "Codec",
    "KLCodec",
    "PixelUnshuffleCodec",
    "SD_VAE_CONFIGS",
    "WAN21_VAE_CONFIGS",
    "WAN22_VAE_CONFIGS",
    "WanCodec",
    "build_pixel_unshuffle",
    "build_sd_vae",
    "build_wan21_vae",
    "build_wan22_vae",
]
