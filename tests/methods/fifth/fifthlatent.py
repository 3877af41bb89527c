"""A fifth latent method as a contributor adds one: its denoiser, conditioning and scheduler (issue 26).

Codec, padding, tiles, the sampling loop, decoding, streaming, save/load and the training draws come
from :class:`~vsrzoo.methods.latent.LatentVSRMethod`; ``tests/methods/test_contract.py`` runs the
registry-wide contract on it. A rectified flow on the bicubic residual latent, 3D-conv velocity.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import nn

from vsrzoo.diffusion import RectifiedFlow, euler_flow_scheduler
from vsrzoo.methods.latent import Conditioning, LatentVSRMethod
from vsrzoo.registry import PositiveInt


class Velocity(nn.Module):
    """The denoiser: velocity from the noisy residual, the bicubic latent and the flow time."""

    def __init__(self, channels: int, width: int):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv3d(2 * channels + 1, width, 3, padding=1),
            nn.SiLU(),
            nn.Conv3d(width, channels, 3, padding=1),
        )

    def forward(self, x: torch.Tensor, reference: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        time = t.to(x.dtype).view(-1, 1, 1, 1, 1).expand(-1, 1, *x.shape[2:])
        return self.layers(torch.cat([x, reference.to(x.dtype), time], dim=1))


class FifthLatentVSR(LatentVSRMethod):
    """Rectified-flow VSR on the bicubic residual latent (a test of the latent-method contract)."""

    def __init__(
        self,
        scale: int = 4,
        codec: Literal["pixel-unshuffle", "sd-vae"] = "pixel-unshuffle",
        codec_variant: str = "tiny",
        codec_factor: int = 4,
        width: PositiveInt = 32,
        residual: bool = True,
        latent_scale: float = 8.0,
        num_inference_steps: PositiveInt = 2,
        segment_length: PositiveInt = 4,
        latent_tile: int | None = None,
        latent_tile_overlap: int = 8,
        latent_tile_batch: PositiveInt = 16,
        timestep_sampler: str = "uniform",
        timestep_kwargs: dict[str, Any] | None = None,
    ):
        super().__init__(scale=scale)
        self.net = Velocity(self.codec.latent_channels, width)
        self.flow = RectifiedFlow()
        self.built()

    def condition(self, lr: torch.Tensor) -> Conditioning:
        reference = self.bicubic_latent(lr)
        return Conditioning({"reference": reference}, tuple(reference.shape), reference.dtype, reference)

    def denoise(self, x: torch.Tensor, t: torch.Tensor, cond: Conditioning) -> torch.Tensor:
        def velocity(origins: list, x: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
            return self.net(x, reference, t.repeat(len(origins)))

        return self.tiled(velocity, x, cond.inputs["reference"])

    def inference_scheduler(self, num_inference_steps: int):
        return euler_flow_scheduler(num_inference_steps)

    def training_loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        reference = self.bicubic_latent(batch["lr"])
        x0 = self.to_diffusion(self.encode(batch["gt"]), reference)
        t = self.training_timesteps(x0.shape[0], x0.device)
        x_t, target, _ = self.flow.training_pair(x0, t)
        return {"loss": self.flow.loss(self.net(x_t, reference, t), target, t)}
