"""Networks of InstaVSR (arXiv 2603.26134): the pruned one-step generator and the two discriminators.

The paper publishes only that it prunes a one-step diffusion backbone, trains recurrently with a
flow-guided temporal regulariser and uses adversarial losses in latent and pixel space. Everything
below is **reconstruction** (AdcSR-style compression of a Stable Diffusion 2.1 one-step model,
DESIGN.md section 2), each choice a constructor argument:

* :class:`InstaVSRGenerator`: no VAE encoder -- the LR frame is pixel-unshuffled onto the SD latent
  grid (x4 SR: LR / 2 = HR / 8); the previous output, already warped to the current frame, is
  pixel-unshuffled by 8 onto the same grid and concatenated (``recurrent=True``); a pruned UNet
  without cross-attention or timestep input (:class:`~vsrzoo.backbones.PrunedUNet`) maps that to a
  latent in one pass, and a half-width ``AutoencoderKL`` decoder
  (:class:`~vsrzoo.backbones.PrunedVAEDecoder`) decodes it. With ``residual=True`` the decoder
  predicts a correction added to the MATLAB-bicubic upsample of the LR frame and starts at zero
  (the last conv with weights is zero-initialised), so an untrained model equals bicubic. Any
  codec with ``decode``, ``spatial_factor`` and ``latent_channels`` can stand in for the decoder:
  the tiny variant uses the parameter-free pixel shuffle (:class:`~vsrzoo.backbones.PixelUnshuffleCodec`).
* :class:`PatchDiscriminator`: a PatchGAN-style conv discriminator (Isola et al., arXiv 1611.07004)
  with spectral norm, used once on pixels and once on latents (see :mod:`vsrzoo.methods.instavsr`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from vsrzoo.backbones.sd_unet import PrunedUNet, PrunedVAEDecoder
from vsrzoo.backbones.vae import Codec
from vsrzoo.data.resize import imresize
from vsrzoo.errors import UserError

__all__ = [
    "InstaVSRGenerator",
    "PatchDiscriminator",
    "back_project",
    "bicubic_upsample",
    "generator_in_channels",
]


def bicubic_upsample(lr: torch.Tensor, scale: int) -> torch.Tensor:
    """MATLAB-bicubic upsample of (N, 3, h, w) frames, in the input's dtype (no gradient needed).

    Computed in float32, as the network runs: ``imresize``'s float64 CPU default exists for the
    bicubic baseline's exact uint8 results; here it only costs time (three resizes per frame) and
    float32 changes the output by float32 rounding."""
    return imresize(lr.detach().float(), scale=scale, work_dtype=torch.float32).to(lr.dtype)


def back_project(hr: torch.Tensor, lr: torch.Tensor, scale: int) -> torch.Tensor:
    """One iterative back-projection step (Irani and Peleg 1991), differentiable w.r.t. ``hr``.

    Corrects ``hr`` (N, 3, s*h, s*w) by the bicubic upsample of what its MATLAB-bicubic
    downscale misses of ``lr`` (N, 3, h, w), so its low frequencies agree with ``lr``.
    """
    missing = lr.float() - imresize(hr.float(), scale=1 / scale, work_dtype=torch.float32)
    return hr + imresize(missing, scale=scale, work_dtype=torch.float32).to(hr.dtype)


def generator_in_channels(scale: int, latent_factor: int = 8, recurrent: bool = True) -> int:
    """UNet input channels: the unshuffled LR frame, plus the unshuffled previous output if recurrent."""
    lr_factor = latent_factor // scale
    return 3 * lr_factor**2 + (3 * latent_factor**2 if recurrent else 0)


class InstaVSRGenerator(nn.Module):
    """One forward pass per frame: LR frame (+ warped previous SR frame) -> SR frame in [0, 1].

    Args:
        unet: the pruned UNet; its ``in_channels`` must equal :func:`generator_in_channels`.
        decoder: the half-width VAE decoder (or a parameter-free pixel-shuffle codec); its
            ``latent_channels`` must equal the UNet's output.
        scale: upscaling factor; ``decoder.spatial_factor / scale`` is the LR pixel-unshuffle factor.
        recurrent: take the warped previous output as a second input.
        residual: predict a correction over the bicubic upsample (zero-initialised decoder output).
    """

    def __init__(
        self,
        unet: PrunedUNet,
        decoder: PrunedVAEDecoder | Codec,
        scale: int = 4,
        recurrent: bool = True,
        residual: bool = True,
    ):
        super().__init__()
        factor = decoder.spatial_factor
        if factor % scale:
            raise UserError(f"instavsr: scale {scale} must divide the decoder's upsampling factor {factor}")
        expected = generator_in_channels(scale, factor, recurrent)
        if unet.config.in_channels != expected:
            raise UserError(
                f"instavsr: the UNet takes {unet.config.in_channels} input channels, expected {expected} "
                f"(scale {scale}, recurrent={recurrent})"
            )
        if unet.config.out_channels != decoder.latent_channels:
            raise UserError(
                f"instavsr: the UNet makes {unet.config.out_channels} latent channels but the decoder "
                f"reads {decoder.latent_channels}"
            )
        self.unet, self.decoder = unet, decoder
        self.scale, self.latent_factor, self.lr_factor = scale, factor, factor // scale
        self.recurrent, self.residual = recurrent, residual
        if residual:
            last = decoder.decoder.conv_out if isinstance(decoder, PrunedVAEDecoder) else unet.conv_out
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)

    def train(self, mode: bool = True) -> InstaVSRGenerator:
        """Switch modes; out of training the convolutions run channels-last.

        Channels-last (NHWC) weights and activations let oneDNN run each convolution of a batch-1
        frame without reordering to and from its blocked layout (issue 29: faster on CPU, the same
        values to float rounding). Training keeps the standard layout: on CPU channels-last saves
        other tensors for backward than the meta-device trace of the memory planner predicts.
        """
        super().train(mode)
        layout = torch.contiguous_format if mode else torch.channels_last
        self.unet.to(memory_format=layout)
        self.decoder.to(memory_format=layout)
        return self

    @property
    def size_multiple(self) -> int:
        """LR height and width must be multiples of this (the LR pixel-unshuffle factor)."""
        return self.lr_factor

    def inputs(self, lr: torch.Tensor, previous: torch.Tensor | None) -> torch.Tensor:
        """UNet input on the latent grid; a missing previous output is replaced by the bicubic upsample."""
        x = F.pixel_unshuffle(lr * 2 - 1, self.lr_factor)
        if not self.recurrent:
            return x
        if previous is None:
            previous = bicubic_upsample(lr, self.scale)
        prev = F.pixel_unshuffle(previous.to(x.dtype) * 2 - 1, self.latent_factor)
        return torch.cat([x, prev], dim=1)

    def forward(
        self, lr: torch.Tensor, previous: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``lr`` (N, 3, h, w) in [0, 1], ``previous`` (N, 3, s*h, s*w) warped to this frame or None.

        Returns ``(sr, latent)``: the SR frame (N, 3, s*h, s*w), not clamped, and the decoder's
        input latent (N, C, s*h/8, s*w/8).
        """
        h, w = lr.shape[-2:]
        if h % self.lr_factor or w % self.lr_factor:
            raise UserError(
                f"instavsr: LR size {w}x{h} must be a multiple of {self.lr_factor} (pad the frame)"
            )
        x = self.inputs(lr, previous)
        latent = self.unet(x if self.training else x.contiguous(memory_format=torch.channels_last))
        out = self.decoder.decode(latent)
        if self.residual:
            return bicubic_upsample(lr, self.scale).to(out.dtype) + out / 2, latent
        return (out + 1) / 2, latent


class PatchDiscriminator(nn.Module):
    """Conv discriminator returning a map of real/fake logits (N, 1, h', w').

    Args:
        in_channels: 3 for pixels, the latent channels for latents.
        widths / strides: one conv per entry, LeakyReLU(0.2) between; a final 1-channel conv.
        kernel_size: of every conv (padding keeps ``size / stride``).
        use_spectral_norm: spectral normalisation of every conv (stabilises hinge GANs).
    """

    def __init__(
        self,
        in_channels: int = 3,
        widths: Sequence[int] = (64, 128, 256),
        strides: Sequence[int] = (2, 2, 1),
        kernel_size: int = 4,
        use_spectral_norm: bool = True,
    ):
        super().__init__()
        if len(widths) != len(strides) or not widths:
            raise UserError("PatchDiscriminator: widths and strides must be non-empty and of equal length")
        norm = spectral_norm if use_spectral_norm else (lambda m: m)
        pad = (kernel_size - 1) // 2
        layers: list[nn.Module] = []
        ch = in_channels
        for width, stride in zip(widths, strides):
            layers += [norm(nn.Conv2d(ch, width, kernel_size, stride, pad)), nn.LeakyReLU(0.2)]
            ch = width
        layers.append(norm(nn.Conv2d(ch, 1, kernel_size, 1, pad)))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
