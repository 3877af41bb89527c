"""LiftVSR (arXiv 2506.08529): lifting the PixArt-alpha image diffusion prior to video SR.

Paper: PixArt-alpha XL/2 (28 blocks, hidden 1152, SD VAE, epsilon prediction with learned
variance) tuned with LoRA; after every spatial block a temporal branch with Dynamic Temporal
Attention inside a segment of 8 frames and an Attention Memory Cache of earlier segments (see
:mod:`vsrzoo.methods.liftvsr_net`); asymmetric sampling: in training two adjacent segments are
noised to different timesteps, the first filling the cache that the second reads, so that at
inference a cache written at another sampler step does not hurt. Trained on 4 RTX 4090s.

reconstruction (DESIGN.md section 2, each a constructor argument):
- conditioning: the MATLAB-bicubic upsampled LR video goes through the same codec as the HR
  video and is concatenated with the noisy latent on channels (input 4 -> 8 for the SD VAE);
- ``residual=True`` (tiny variant) diffuses ``z_HR - z_bicubic`` instead of ``z_HR``, so a small
  model only learns the detail bicubic misses; the paper's full model diffuses ``z_HR``;
- timesteps in training: ``t`` uniform on ``[0, 1000)`` for the first segment, each next segment
  at a uniformly drawn *different* timestep; ``T // segment_length`` segments chain their caches
  (two with the recipes' ``num_frames = 2 * segment_length``), loss averaged over segments;
- inference: segment by segment, the cache carried over and reset per video; during a segment's
  sampler steps the cache is only read; it is written from the segment's final clean latent by
  one extra pass at ``t = 0`` (``cache_from='clean'``), or during the last sampler step
  (``cache_from='last_step'``, no extra pass);
- sampler: DDIM or DPM-Solver++ (diffusers, trailing spacing) with ``num_inference_steps`` steps;
- LoRA rank 64 on the attention projections; null caption of 120 learned tokens (no T5);
  AMC of 64 tokens per layer; optimizer settings in ``recipes/liftvsr.yaml``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from vsrzoo.backbones.vae import build_pixel_unshuffle, build_sd_vae
from vsrzoo.data.resize import imresize
from vsrzoo.diffusion import GaussianDiffusion, ddim_scheduler, dpm_solver_scheduler, noise_level, sample
from vsrzoo.errors import UserError, unknown
from vsrzoo.methods.base import VSRMethod
from vsrzoo.methods.liftvsr_net import LiftVSRTransformer
from vsrzoo.registry import register_method

CODECS = ("sd_vae", "pixel_unshuffle")
SAMPLERS = ("ddim", "dpm")
CACHE_SOURCES = ("clean", "last_step")

TINY = dict(
    segment_length=4,
    codec="pixel_unshuffle",
    codec_factor=4,
    pixart_variant="tiny",
    pixart_overrides=dict(
        num_attention_heads=4,
        attention_head_dim=24,
        num_layers=3,
        cross_attention_dim=96,
        caption_channels=32,
        sample_size=16,
    ),
    lora_rank=None,
    flow_hidden=8,
    temporal_mlp_ratio=2.0,
    cache_tokens=16,
    caption_tokens=1,
    residual=True,
    sampler="ddim",
    num_inference_steps=2,
)
SMALL = dict(
    codec="sd_vae",
    codec_variant="small",
    pixart_variant="small",
    lora_rank=16,
    flow_hidden=16,
    cache_tokens=32,
    caption_tokens=16,
    num_inference_steps=10,
)


@register_method(
    "liftvsr",
    variants={"tiny": TINY, "small": SMALL, "full": {}},
    paper="LiftVSR, arXiv 2506.08529",
    summary="PixArt-alpha + LoRA lifted to video: token-flow temporal attention, memory cache across segments.",
    scales=(4,),
)
class LiftVSR(VSRMethod):
    """PixArt-alpha video SR with per-segment token-flow attention and a cross-segment memory cache.

    Args (defaults are the paper-scale ``full`` variant):
        segment_length: frames per segment (8 in the paper).
        codec, codec_variant, codec_pretrained, codec_factor: ``'sd_vae'`` (PixArt's VAE, frozen) or
            ``'pixel_unshuffle'`` (``codec_factor`` space-to-depth, no parameters).
        pixart_variant, pixart_pretrained, pixart_overrides, lora_rank, lora_alpha, flow_hidden,
            temporal_mlp_ratio, cache_tokens, caption_tokens, caption_file: the denoiser
            (:class:`~vsrzoo.methods.liftvsr_net.LiftVSRTransformer`).
        residual: diffuse ``z_HR - z_bicubic`` (reconstruction) instead of ``z_HR``.
        sampler, num_inference_steps, cache_from: inference (module docstring).
        num_train_timesteps, beta_schedule: the DDPM schedule (PixArt: 1000 linear steps).
    """

    supported_scales = (4,)

    def __init__(
        self,
        scale: int = 4,
        segment_length: int = 8,
        codec: str = "sd_vae",
        codec_variant: str = "full",
        codec_pretrained: str | None = None,
        codec_factor: int = 4,
        pixart_variant: str = "full",
        pixart_pretrained: str | None = None,
        pixart_overrides: dict[str, Any] | None = None,
        lora_rank: int | None = 64,
        lora_alpha: float | None = None,
        flow_hidden: int = 32,
        temporal_mlp_ratio: float = 4.0,
        cache_tokens: int = 64,
        caption_tokens: int = 120,
        caption_file: str | None = None,
        residual: bool = False,
        sampler: str = "dpm",
        num_inference_steps: int = 20,
        cache_from: str = "clean",
        num_train_timesteps: int = 1000,
        beta_schedule: str = "linear",
    ):
        super().__init__(scale=scale)
        self.save_hyperparameters()
        for value, valid, kind in (
            (codec, CODECS, "codec"),
            (sampler, SAMPLERS, "sampler"),
            (cache_from, CACHE_SOURCES, "cache_from"),
        ):
            if value not in valid:
                raise unknown(f"liftvsr {kind}", value, valid)
        if segment_length < 1 or num_inference_steps < 1:
            raise UserError("liftvsr: segment_length and num_inference_steps must be at least 1")
        self.segment_length = segment_length
        self.residual = residual
        self.sampler = sampler
        self.num_inference_steps = num_inference_steps
        self.cache_from = cache_from
        self.codec = self._build_codec(codec, codec_variant, codec_pretrained, codec_factor)
        overrides = dict(pixart_overrides or {})
        if pixart_pretrained is None:
            c = self.codec.latent_channels
            overrides = {"in_channels": c, "out_channels": 2 * c, **overrides}
        self.net = LiftVSRTransformer(
            pixart_variant=pixart_variant,
            pixart_pretrained=pixart_pretrained,
            pixart_overrides=overrides,
            lora_rank=lora_rank,
            lora_alpha=lora_alpha,
            flow_hidden=flow_hidden,
            temporal_mlp_ratio=temporal_mlp_ratio,
            cache_tokens=cache_tokens,
            caption_tokens=caption_tokens,
            caption_file=caption_file,
        )
        if self.net.latent_channels != self.codec.latent_channels:
            raise UserError(
                f"liftvsr: the PixArt backbone takes {self.net.latent_channels} latent channels but the "
                f"{codec} codec gives {self.codec.latent_channels}; use a matching codec"
            )
        self.diffusion = GaussianDiffusion(num_train_timesteps, schedule=beta_schedule, learn_sigma=True)
        hr_multiple = self.codec.spatial_factor * self.net.patch_size
        self.size_multiple = hr_multiple // math.gcd(hr_multiple, scale)

    @staticmethod
    def _build_codec(codec: str, variant: str, pretrained: str | None, factor: int):
        if codec == "pixel_unshuffle":
            return build_pixel_unshuffle(pretrained=pretrained, factor=factor)
        return build_sd_vae(variant, pretrained=pretrained).requires_grad_(False)

    # ------------------------------------------------------------------ helpers
    def reset_state(self) -> None:
        self.net.reset_cache()

    def enable_gradient_checkpointing(self) -> None:
        self.net.enable_gradient_checkpointing()

    @torch.no_grad()
    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        """Frames (B, T, 3, H, W) in [0, 1] -> latents (B, T, C, H/f, W/f)."""
        z = self.codec.encode((frames * 2 - 1).transpose(1, 2))
        return z.transpose(1, 2)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latents (B, T, C, h, w) -> frames (B, T, 3, f*h, f*w) in [0, 1] (not clamped)."""
        return (self.codec.decode(z.transpose(1, 2)).transpose(1, 2) + 1) / 2

    def condition(self, lr: torch.Tensor) -> torch.Tensor:
        """LR latent: the codec's latent of the MATLAB-bicubic upsampled LR frames."""
        return self.encode(imresize(lr, scale=self.scale).clamp(0, 1))

    def make_sampler(self):
        make = ddim_scheduler if self.sampler == "ddim" else dpm_solver_scheduler
        return make(self.num_inference_steps, self.diffusion)

    def _pad(self, lr: torch.Tensor) -> torch.Tensor:
        m = self.size_multiple
        pad_h, pad_w = -lr.shape[-2] % m, -lr.shape[-1] % m
        if not (pad_h or pad_w):
            return lr
        b, t = lr.shape[:2]
        padded = F.pad(lr.flatten(0, 1), (0, pad_w, 0, pad_h), mode="replicate")
        return padded.unflatten(0, (b, t))

    # ---------------------------------------------------------------- inference
    @torch.no_grad()
    def sample_segment(self, cond: torch.Tensor) -> torch.Tensor:
        """Denoise one segment given its LR latent (B, S, C, h, w); reads, then writes the cache."""
        b, s = cond.shape[:2]
        scheduler = self.make_sampler()
        _, sigma = noise_level(scheduler, 0)
        x = sigma * torch.randn(cond.shape, device=cond.device, dtype=torch.float32).flatten(0, 1)
        last = len(scheduler.timesteps) - 1
        step = iter(range(last + 1))

        def model_fn(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            write = self.cache_from == "last_step" and next(step) == last
            out = self.net(x_t.unflatten(0, (b, s)), cond, t.view(b, s)[:, 0], write_cache=write)
            return out.flatten(0, 1).float()

        z = sample(model_fn, x, scheduler, learned_sigma=True).unflatten(0, (b, s))
        if self.cache_from == "clean":
            self.net(z, cond, torch.zeros(b, dtype=torch.long, device=z.device), write_cache=True)
        return z

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        if lr.dim() != 5 or lr.shape[2] != 3:
            raise UserError(f"liftvsr expects LR frames (B, T, 3, h, w), got {tuple(lr.shape)}")
        h, w = lr.shape[-2:]
        cond = self.condition(self._pad(lr))
        segments = [
            self.sample_segment(cond[:, i : i + self.segment_length])
            for i in range(0, cond.shape[1], self.segment_length)
        ]
        z = torch.cat(segments, dim=1).to(cond.dtype)
        if self.residual:
            z = z + cond
        sr = self.decode(z)
        return sr[..., : self.scale * h, : self.scale * w].clamp(0, 1)

    # ----------------------------------------------------------------- training
    def segment_timesteps(self, num_segments: int, batch_size: int, device=None) -> torch.Tensor:
        """(K, B) timesteps: uniform for the first segment, each next one uniform among the others."""
        n = self.diffusion.num_timesteps
        t = [torch.randint(0, n, (batch_size,), device=device)]
        for _ in range(num_segments - 1):
            t.append((t[-1] + torch.randint(1, n, (batch_size,), device=device)) % n)
        return torch.stack(t)

    def training_loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        lr, gt = batch["lr"], batch["gt"]
        seg = min(self.segment_length, lr.shape[1])
        k = lr.shape[1] // seg
        lr, gt = lr[:, : k * seg], gt[:, : k * seg]
        if lr.shape[-2] % self.size_multiple or lr.shape[-1] % self.size_multiple:
            raise UserError(
                f"liftvsr trains on LR crops whose sides are multiples of {self.size_multiple}, got "
                f"{lr.shape[-1]}x{lr.shape[-2]}; set data.crop_size accordingly"
            )
        cond = self.condition(lr)
        target = self.encode(gt)
        if self.residual:
            target = target - cond
        timesteps = self.segment_timesteps(k, lr.shape[0], lr.device)
        self.net.reset_cache()
        totals: dict[str, torch.Tensor] = {}
        for i in range(k):
            part = slice(i * seg, (i + 1) * seg)
            losses = self._segment_loss(target[:, part], cond[:, part], timesteps[i], write_cache=i < k - 1)
            for key, value in losses.items():
                totals[key] = totals.get(key, 0) + value / k
        self.net.reset_cache()
        return totals

    def _segment_loss(self, x0, cond, t, write_cache: bool) -> dict[str, torch.Tensor]:
        b, s = x0.shape[:2]
        x0 = x0.flatten(0, 1).float()
        t_frames = t.repeat_interleave(s)
        noise = torch.randn_like(x0)
        x_t = self.diffusion.add_noise(x0, noise, t_frames)
        out = self.net(x_t.unflatten(0, (b, s)), cond, t, write_cache=write_cache)
        losses = self.diffusion.training_losses(out.flatten(0, 1), x0, x_t, t_frames, noise)
        return {key: value.mean() for key, value in losses.items()}
