"""SimpleGVR (Xie et al., arXiv 2506.19838, ICLR 2026): latent-cascaded generative video super-resolution.

Paper: the second stage of a text-to-video cascade maps the base model's LR latent to the HR
latent directly (512p -> 1080p latents, about 2.8x, no decode / re-encode). A DiT initialised
from a 1B text-to-video model is trained in full with the rectified-flow loss only; the LR latent
goes through a latent upsampler (3D conv blocks -> bilinear to the HR latent size -> 3D conv
blocks) and is concatenated with the noisy HR latent; the upsampled condition is noise-augmented
*after* the upsampler (Sec. 4.1, Fig. 2) with a strength drawn from [0.3, 0.6] in training and a
fixed level at inference; training timesteps come from a detail-aware sampler; self-attention is
restricted to interleaved temporal units of 5 latent frames (shifted by half on alternate layers)
and made block-sparse (12x9 token blocks, top-k = 1, the k picks drawn from the whole clip,
future frames included: ``topk_scope='clip'``; ``'unit'`` keeps them within the temporal unit);
training pairs carry flow-based degradations that imitate T2V artifacts (data degradation
``simplegvr_flow``); 10% of the prompts are dropped to the null prompt; 50 sampling steps;
16x H800, batch 32, AdamW 5e-5.

Reconstruction (each a constructor argument, DESIGN.md section 2):

* The paper's internal 1B T2V DiT and its 3D VAE are not public: ``full`` uses the open
  Wan2.1-T2V-1.3B DiT (``backbones.wan``) and the Wan2.1 VAE (16 channels, 8x spatial, 4x
  temporal: 17 frames -> 5 latent frames) instead. ``backbone_pretrained`` loads both from a diffusers
  Wan2.1 checkpoint; the patch embedding is widened for the condition channels, zero-initialised.
* No text encoder: the null prompt is a zero caption embedding; batches may carry
  ``text_embeds`` (B, L, text_dim), of which ``null_prompt_prob`` are replaced by the null prompt.
* LR noise augmentation follows the flow path, ``(1 - s) c + s eps`` on the upsampler output ``c``
  (``diffusion.LatentNoiseAugment``); the level is not fed to the DiT; inference level 0.3.
* How the temporal units and the clip-wide top-k combine is not published:
  :func:`~vsrzoo.blocks.sparse_local_attention` with ``topk_scope='clip'`` attends to the own
  block in every frame of its unit plus the k most relevant blocks of the whole clip.
* The LR latent is the codec's encoding of the LR frames (for VSR benchmarks) or, through
  :meth:`SimpleGVR.upsample_latent`, a base model's latent (the cascade); for training the
  cascade, batches of precomputed latent pairs (``data.dataset: latents``,
  :mod:`vsrzoo.data.latents`) replace the frames. ``scale`` gives the
  benchmark factor (x4); ``output_size`` gives a fixed output size such as 1080p (the paper's
  512p -> 1080p, about 2.8x).
* ``residual`` (used by ``tiny``): the flow runs on ``latent_scale * (z_HR - z_bicubic)``,
  the HR latent relative to the codec's encoding of the MATLAB-bicubic upsampled LR, so a small
  CPU-trained model refines bicubic instead of generating from scratch.
* ``prediction='x0'`` (used by ``tiny``): the DiT outputs the clean latent and the velocity is
  derived from it, ``v = (z_t - x0) / max(t, min_t)``; the loss stays the rectified-flow velocity
  MSE (x-prediction with a v-loss, Li & He, arXiv 2511.13720). A narrow DiT then need not carry
  the noise through its bottleneck (a 2x2 patch of the 48-channel latent has 192 values, more than
  the tiny DiT's width), and with its output layer zero-initialised the untrained model returns
  exactly the bicubic reference. The paper's ``prediction='velocity'`` is the default.
  ``loss_weighting='t_squared'`` weights the velocity loss by t^2, i.e. a plain x0 MSE.
* ``lr_latent_source='bicubic'`` (used by ``tiny``): the LR latent is the codec's encoding of
  the bicubic-upsampled LR, already on the HR latent grid (the upsampler's bilinear step is then
  the identity). The pixel-unshuffle encoding of the LR itself scatters each LR pixel over
  channels that bilinear interpolation mixes across positions; in a 150-step CPU test it stayed
  0.1 dB under bicubic on Vid4 while the bicubic source gained 0.2 dB. 'lr' (paper) is the default.
* ``tiny``: a 2-block Wan DiT (hidden 128, patch (1, 2, 2)) with the parameter-free
  ``PixelUnshuffleCodec`` (factor 4, no temporal compression), trainable on CPU in minutes; one
  Euler step at inference and a detail-aware histogram with 60% of its mass in t in [0.9, 1]
  (all detail is made in that single step).
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import nn

from vsrzoo.backbones.common import widen_input_channels
from vsrzoo.backbones.wan import build_wan21
from vsrzoo.diffusion import LatentNoiseAugment, RectifiedFlow, euler_flow_scheduler, flow_interpolate
from vsrzoo.errors import UserError
from vsrzoo.methods.latent import Conditioning, LatentVSRMethod
from vsrzoo.methods.simplegvr_net import SimpleGVRNet
from vsrzoo.registry import PositiveInt, Share, register_method

# reconstruction (tiny, 1 sampling step): all detail is made in the single step at t = 1, so the
# detail-aware histogram puts most of its mass in the top bin (probabilities of [0, 0.1), ..., [0.9, 1]).
TINY_TIMESTEP_HISTOGRAM = [0.01, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.11, 0.60]

_TINY = dict(
    backbone=dict(variant="tiny", num_attention_heads=2, attention_head_dim=64, ffn_dim=256, num_layers=2),
    codec="pixel-unshuffle",
    codec_variant="tiny",
    codec_factor=4,
    upsampler_hidden=48,
    upsampler_blocks=[1, 1],
    num_inference_steps=1,
    residual=True,
    latent_scale=8.0,
    prediction="x0",
    loss_weighting="t_squared",
    lr_latent_source="bicubic",
    timestep_kwargs=dict(weights=TINY_TIMESTEP_HISTOGRAM),
    segment_length=10,
)
_SMALL = dict(
    backbone=dict(variant="small"),
    codec_variant="small",
    upsampler_hidden=128,
    num_inference_steps=20,
)


@register_method(
    "simplegvr",
    variants={"tiny": _TINY, "small": _SMALL, "full": {}},
    paper="SimpleGVR, Xie et al., arXiv 2506.19838 (ICLR 2026)",
    summary="Latent-cascaded generative VSR: fully trained Wan-class DiT, latent upsampler, sparse local attention.",
)
class SimpleGVR(LatentVSRMethod):
    """SimpleGVR as a LightningModule: rectified-flow training and Euler sampling on the HR latent.

    Args (see the module docstring for which are the paper's):
        scale: pixel upscaling factor for benchmark use; output_size: fixed (H, W) output instead.
        backbone: Wan2.1 DiT ``variant`` ('tiny' / 'small' / 'full') and config overrides.
        backbone_pretrained: diffusers Wan2.1 checkpoint (hub id or directory) for the DiT;
            codec_pretrained for the VAE (defaults to ``backbone_pretrained``).
        codec: 'wan2.1-vae' (paper-scale) or 'pixel-unshuffle' (tiny); codec_variant, codec_factor.
        cond_channels, upsampler_hidden, upsampler_blocks: the latent upsampler.
        lr_noise_range, lr_noise_inference: LR latent noise augmentation (paper: [0.3, 0.6]).
        temporal_window, shifted_windows, sparse_attention, block_size, top_k, topk_scope: the
            attention ('clip': top-k from the whole clip, paper; 'unit': within the temporal unit).
        timestep_sampler, timestep_kwargs: training timesteps (paper: detail-aware).
        num_inference_steps, sample_shift: Euler sampler (paper: 50 steps).
        null_prompt_prob: share of captions replaced by the null prompt (paper: 10%).
        residual, latent_scale: flow on ``latent_scale * (z_HR - z_bicubic)`` (reconstruction).
        prediction: what the DiT outputs, 'velocity' (paper) or 'x0' (reconstruction); min_t
            bounds the division that turns an x0 prediction into a velocity.
        segment_length: frames per inference segment.
        frozen_dtype: dtype of the frozen codec, e.g. 'bfloat16' under bf16 mixed precision.
    """

    supported_scales = (2, 3, 4)
    supports_gradient_checkpointing = True
    encodes_lr = True  # lr_latent_source='lr' encodes the LR frames (pads them to the codec factor)
    codec_from_backbone = True

    def __init__(
        self,
        scale: int = 4,
        output_size: list[int] | None = None,
        backbone: dict[str, Any] | None = None,
        backbone_pretrained: str | None = None,
        codec: Literal["pixel-unshuffle", "wan2.1-vae"] = "wan2.1-vae",
        codec_variant: str = "full",
        codec_pretrained: str | None = None,
        codec_factor: int = 4,
        cond_channels: int | None = None,
        upsampler_hidden: int = 256,
        upsampler_blocks: list[int] = (2, 2),
        lr_noise_range: list[float] = (0.3, 0.6),
        lr_noise_inference: float = 0.3,
        temporal_window: int | None = 5,
        shifted_windows: bool = True,
        sparse_attention: bool = True,
        block_size: list[int] = (9, 12),
        top_k: int = 1,
        topk_scope: Literal["clip", "unit"] = "clip",
        timestep_sampler: str = "detail_aware",
        timestep_kwargs: dict[str, Any] | None = None,
        num_inference_steps: PositiveInt = 50,
        sample_shift: float = 1.0,
        null_prompt_prob: Share = 0.1,
        residual: bool = False,
        latent_scale: float = 1.0,
        prediction: Literal["velocity", "x0"] = "velocity",
        min_t: float = 0.05,
        loss_weighting: Literal["uniform", "t_squared"] = "uniform",
        lr_latent_source: Literal["lr", "bicubic"] = "lr",
        segment_length: PositiveInt = 17,
        frozen_dtype: Literal["float32", "bfloat16", "float16"] | None = None,
    ):
        super().__init__(scale=scale)
        c = self.codec.latent_channels
        cond_channels = cond_channels or c
        self.net = SimpleGVRNet(
            self._build_dit(dict(backbone or {}), backbone_pretrained, c, c + cond_channels),
            latent_channels=c,
            cond_channels=cond_channels,
            upsampler_hidden=upsampler_hidden,
            upsampler_blocks=tuple(upsampler_blocks),
            temporal_window=temporal_window,
            shifted_windows=shifted_windows,
            sparse_attention=sparse_attention,
            block_size=tuple(block_size),
            top_k=top_k,
            topk_scope=topk_scope,
        )
        if prediction == "x0" and backbone_pretrained is None:  # untrained model == the (bicubic) reference
            nn.init.zeros_(self.net.transformer.proj_out.weight)
            nn.init.zeros_(self.net.transformer.proj_out.bias)
        self.lr_noise = LatentNoiseAugment(tuple(lr_noise_range), lr_noise_inference)
        self.flow = RectifiedFlow()
        self.built()

    @property
    def output_size(self) -> tuple[int, int] | None:
        size = self.hparams.output_size
        return tuple(size) if size is not None else None

    # ------------------------------------------------------------------ building
    def backbone_spec(self) -> dict[str, Any]:
        """The DiT is trained in full and saved, so a loaded one is described by its config (the
        widened input and output channels follow from the codec); the codec keeps its reference."""
        spec = {k: v for k, v in dict(self.net.transformer.config).items() if not k.startswith("_")}
        for key in ("in_channels", "out_channels"):
            spec.pop(key)
        return {"variant": "full", **spec}

    @staticmethod
    def _build_dit(config: dict, pretrained: str | None, out_channels: int, in_channels: int):
        if pretrained is None:
            return build_wan21(
                **{"variant": "full", **config}, in_channels=in_channels, out_channels=out_channels
            )
        dit = build_wan21(config.get("variant", "full"), pretrained=pretrained)
        if dit.config.out_channels != out_channels:
            raise UserError(
                f"pretrained DiT has {dit.config.out_channels} latent channels, the codec {out_channels}; "
                "use codec='wan2.1-vae' with a Wan2.1 checkpoint"
            )
        return widen_input_channels(dit, in_channels)

    def set_sparse_attention(self, enabled: bool) -> None:
        """Switch between the paper's sparse local attention and dense attention (same temporal units)."""
        h = self.hparams
        self.net.set_attention(
            h.temporal_window, h.shifted_windows, enabled, tuple(h.block_size), h.top_k, h.topk_scope
        )

    # ------------------------------------------------------------------ latents
    def base_latent(self, lr: torch.Tensor, hr_size: tuple[int, int]) -> torch.Tensor | None:
        """The reference of ``residual`` (the bicubic latent), or None."""
        return self.bicubic_latent(lr, hr_size) if self.residual else None

    def condition_latents(self, lr: torch.Tensor, hr_size: tuple[int, int]):
        """``(LR latent, residual reference or None)`` of LR frames for an HR output of ``hr_size``."""
        from_bicubic = self.hparams.lr_latent_source == "bicubic"
        bicubic = self.bicubic_latent(lr, hr_size) if self.residual or from_bicubic else None
        lr_latent = bicubic if from_bicubic else self.encode(lr)
        return lr_latent, bicubic if self.residual else None

    def noisy_condition(
        self, lr_latent: torch.Tensor, hr_latent_size: tuple[int, int], train: bool = True
    ) -> torch.Tensor:
        """The latent upsampler's output, then noise-augmented (paper: *after* the upsampler, Sec. 4.1).

        ``train``: a level drawn from ``lr_noise_range`` per sample; else the fixed inference level.
        """
        cond = self.net.condition(lr_latent, hr_latent_size)
        if train:
            return self.lr_noise(cond)[0]
        noise = torch.randn(cond.shape, dtype=cond.dtype).to(cond.device)
        return flow_interpolate(cond, noise, self.lr_noise.eval_level)

    def velocity(
        self, z_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor, text: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The flow velocity at ``(z_t, t)``: the DiT's output, or derived from its x0 prediction."""
        out = self.net(z_t, t, cond, text)
        if self.hparams.prediction == "velocity":
            return out
        min_t = self.hparams.min_t
        return (z_t - out) / t.clamp(min=min_t).view(-1, *[1] * (z_t.ndim - 1)).to(z_t.dtype)

    # ------------------------------------------------------------------ the pipeline
    def condition(self, lr: torch.Tensor) -> Conditioning:
        """LR frames -> the upsampled, noise-augmented condition on the HR latent grid (``output_size``
        or ``scale`` times the LR)."""
        f = self.codec.spatial_factor
        hr_size = self.output_size or (lr.shape[-2] * self.scale, lr.shape[-1] * self.scale)
        if hr_size[0] % f or hr_size[1] % f:
            raise UserError(
                f"simplegvr: output_size must be a multiple of the codec factor {f}, got {hr_size}"
            )
        lr_latent, base = self.condition_latents(lr, hr_size)
        return self.latent_condition(lr_latent, (hr_size[0] // f, hr_size[1] // f), base)

    def latent_condition(
        self, lr_latent: torch.Tensor, hr_latent_size: tuple[int, int], base=None, text=None
    ) -> Conditioning:
        """The cascade's conditioning: an LR latent (B, C, T, h, w) for an HR latent of ``hr_latent_size``."""
        cond = self.noisy_condition(lr_latent, hr_latent_size, train=False)
        inputs = {"cond": cond} if text is None else {"cond": cond, "text": text}
        shape = (*lr_latent.shape[:3], *hr_latent_size)
        return Conditioning(inputs, shape, lr_latent.dtype, base)

    def inference_scheduler(self, num_inference_steps: int):
        return euler_flow_scheduler(num_inference_steps, self.hparams.sample_shift)

    def denoise(self, z_t: torch.Tensor, t: torch.Tensor, cond: Conditioning) -> torch.Tensor:
        return self.velocity(z_t, t, cond.inputs["cond"], cond.inputs.get("text"))

    def crop(self, sr: torch.Tensor, h: int, w: int) -> torch.Tensor:
        return sr if self.output_size is not None else super().crop(sr, h, w)

    @torch.no_grad()
    def upsample_latent(
        self,
        lr_latent: torch.Tensor,
        hr_latent_size: tuple[int, int],
        base: torch.Tensor | None = None,
        text: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The cascade stage: LR latent (B, C, T, h, w) -> HR latent (B, C, T, H, W), no pixels involved."""
        cond = self.latent_condition(lr_latent, hr_latent_size, base, text)
        return self.sample(cond, None, self.num_inference_steps)[0]

    # ------------------------------------------------------------------ training
    def _text(self, batch: dict[str, Any], b: int, like: torch.Tensor) -> torch.Tensor | None:
        """Caption embeddings with ``null_prompt_prob`` of them set to the null prompt (zeros)."""
        text = batch.get("text_embeds")
        if text is None:
            return None
        keep = (torch.rand(b, device=like.device) >= self.hparams.null_prompt_prob).to(text.dtype)
        return text * keep.view(b, 1, 1)

    def training_latents(self, batch: dict[str, Any]):
        """``(LR latent, diffused HR latent z0)`` of a batch: encoded from frames, or given as latents.

        Latent batches (``lr_latent``, ``hr_latent``: :mod:`vsrzoo.data.latents`) are the paper's
        cascade: the base model's LR latent goes to the HR latent without pixels.
        """
        if "lr_latent" in batch:
            if self.residual:
                raise UserError("simplegvr: latent-pair data needs residual=False (there are no LR frames)")
            return batch["lr_latent"], self.to_diffusion(batch["hr_latent"], None)
        lr, gt = self.pad_frames(batch["lr"]), self.pad_frames(batch["gt"])
        f = self.codec.spatial_factor
        if gt.shape[-1] % f or gt.shape[-2] % f or lr.shape[-1] % f or lr.shape[-2] % f:
            raise UserError(
                f"simplegvr: LR and GT crops must be multiples of the codec factor {f}; change data.crop_size"
            )
        lr_latent, base = self.condition_latents(lr, gt.shape[-2:])
        return lr_latent, self.to_diffusion(self.encode(gt), base)

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        """Pixel batches: the base class's PSNR. Latent pairs: PSNR of the decoded cascade output
        against the decoded HR latent."""
        if "lr_latent" not in batch:
            return super().validation_step(batch, batch_idx)
        hr = batch["hr_latent"]
        sr = self.decode(self.upsample_latent(batch["lr_latent"], hr.shape[-2:]))
        return self.log_val_psnr(sr, self.decode(hr))

    def training_loss(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        lr_latent, z0 = self.training_latents(batch)
        b = z0.shape[0]
        t = self.training_timesteps(b, device=z0.device)
        z_t, target, _ = self.flow.training_pair(z0, t.to(z0.dtype))
        cond = self.noisy_condition(lr_latent, z0.shape[-2:])
        pred = self.velocity(z_t, t, cond, self._text(batch, b, z0))
        if self.hparams.loss_weighting == "t_squared":  # t^2 |v - v_hat|^2 = |x0 - x0_hat|^2 for t >= min_t
            loss = (t.float().pow(2) * (pred.float() - target.float()).pow(2).flatten(1).mean(1)).mean()
        else:
            loss = self.flow.loss(pred, target, t)
        return {"loss": loss, "t_mean": t.mean()}


__all__ = ["SimpleGVR"]
