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
- timesteps in training: ``t`` uniform for the first segment, each next segment at a uniformly
  drawn *different* timestep; ``T // segment_length`` segments chain their caches, loss
  (improved-DDPM hybrid) averaged over them. Samples need at least three segments
  (``recipes/liftvsr-tiny.yaml`` uses six, ``recipes/liftvsr.yaml`` three): with two the AMC's update gate (old cache vs. new summary) is never exercised (the
  first write just stores the summary), gets no gradient, and DDP stops on the unused parameters;
- inference: segment by segment, back to back; the caches are the method's state
  (:meth:`LiftVSR.step`: a value in, a value out; the streaming engine keeps one per spatial tile,
  fresh per video). The cache is written during the segment's last sampler step
  (``cache_from='last_step'``, the default: no extra pass), or by one extra pass on the segment's
  clean latent re-noised to a timestep drawn exactly as a training segment's (``'matched'``: the
  cache comes from the distribution asymmetric sampling trains for; it doubles the inference
  cost and showed no gain on long procedural clips, see the model card), or at ``t = 0``
  (``'clean'``, an extra pass too), or never (``'none'``: no segment reads a cache; the
  inference-time "AMC off" ablation);
- sampler: DDIM or DPM-Solver++ (diffusers, trailing spacing), ``num_inference_steps`` steps;
  ``strength < 1`` runs only the last steps of a longer schedule (diffusers img2img), starting
  near ``t = 1000 * strength``, and restricts training timesteps to that range;
- LoRA rank 64 on the attention projections; null caption of 120 learned tokens (no T5);
  AMC of 64 tokens per layer; optimizer and data in ``recipes/liftvsr.yaml``;
- AMC read gate starting open (``cache_read_gate``, see :mod:`vsrzoo.blocks.memory_cache`);
- optional latent tiles at inference (``latent_tile``), folded into the batch, each with its own
  cache inside the state value.

CPU-scale choices of the tiny variant (not the paper's): a pixel-unshuffle codec instead of the
VAE; ``residual=True`` diffuses ``latent_scale * (z_HR - z_bicubic)`` so a small model only learns
the detail bicubic misses; one DDIM step from ``t = 249`` whose start state (``sigma * noise``,
the residual being unknown) is shown in training with probability ``start_state_prob``.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import torch
from einops import rearrange

from vsrzoo.diffusion import GaussianDiffusion, ddim_scheduler, dpm_solver_scheduler
from vsrzoo.diffusion import sample as run_sampler
from vsrzoo.diffusion.conversions import expand_like
from vsrzoo.errors import UserError
from vsrzoo.methods.latent import Conditioning, LatentVSRMethod
from vsrzoo.methods.liftvsr_net import Caches, LiftVSRTransformer
from vsrzoo.registry import PositiveInt, Range, Share, register_method

LiftVSRState = dict  # latent tile group (h, w, tile origins) -> caches of every temporal layer

TINY = dict(
    segment_length=4,
    codec="pixel-unshuffle",
    codec_factor=4,
    backbone=dict(
        variant="tiny",
        num_attention_heads=4,
        attention_head_dim=24,
        num_layers=2,
        patch_size=1,
        cross_attention_dim=96,
        caption_channels=32,
        sample_size=16,
    ),
    lora_rank=None,
    flow_hidden=8,
    temporal_mlp_ratio=2.0,
    cache_tokens=16,
    caption_length=1,
    residual=True,
    latent_scale=16.0,
    sampler="ddim",
    num_inference_steps=1,
    strength=0.25,
    start_state_prob=0.75,
    latent_tile=32,
    latent_tile_overlap=4,
)
SMALL = dict(
    codec="sd-vae",
    codec_variant="small",
    backbone=dict(variant="small"),
    lora_rank=16,
    flow_hidden=16,
    cache_tokens=32,
    caption_length=16,
    num_inference_steps=10,
)


@register_method(
    "liftvsr",
    variants={"tiny": TINY, "small": SMALL, "full": {}},
    paper="LiftVSR, arXiv 2506.08529",
    summary="PixArt-alpha + LoRA lifted to video: token-flow temporal attention, memory cache across segments.",
)
class LiftVSR(LatentVSRMethod):
    """PixArt-alpha video SR with per-segment token-flow attention and a cross-segment memory cache.

    Args (defaults are the paper-scale ``full`` variant):
        segment_length: frames per segment (8 in the paper).
        codec, codec_variant, codec_pretrained, codec_factor: ``'sd-vae'`` (PixArt's VAE, frozen) or
            ``'pixel-unshuffle'`` (``codec_factor`` space-to-depth, no parameters).
        backbone: PixArt-alpha ``variant`` (tiny/small/full) and config overrides; backbone_pretrained:
            hub id or diffusers folder of PixArt-alpha weights.
        lora_rank, lora_alpha, flow_hidden, temporal_mlp_ratio, cache_tokens, caption_length,
            caption_path: the denoiser (:class:`~vsrzoo.methods.liftvsr_net.LiftVSRTransformer`).
        residual: diffuse ``z_HR - z_bicubic`` (reconstruction) instead of ``z_HR``.
        latent_scale: the diffused latent is ``latent_scale`` times it (unit variance for the
            small bicubic residual, like the VAE's scaling factor; 1 for the SD VAE latent).
        sampler, num_inference_steps, cache_from, strength: inference (module docstring).
        cache_read_gate: initial AMC read gate (before ``tanh``; 0 starts it closed).
        temporal_attention, memory_cache: the paper's two temporal mechanisms, DTA and AMC; False
            removes one for ablations (``benchmarks/ablations.py``): without DTA the temporal
            branch is per-frame (FFN and zero linear), without AMC segments share no memory.
        start_state_prob: share of training segments shown the sampler's first state (module docstring).
        latent_tile, latent_tile_overlap, latent_tile_batch: latent tiles for inference (None: whole
            frames); each tile keeps its own cache; ``latent_tile_batch`` tiles are denoised together.
        num_train_timesteps, beta_schedule: the DDPM schedule (PixArt: 1000 linear steps).
        frozen_dtype: dtype of the frozen parts (PixArt base weights under LoRA, codec), e.g.
            'bfloat16' for bf16 mixed precision (``vsrzoo fit`` sets it from ``trainer.precision``).
    """

    supported_scales = (4,)
    supports_gradient_checkpointing = True
    stateful = True
    learned_sigma = True  # PixArt's variance half of the output channels
    renamed_arguments = {"caption_tokens": "caption_length", "caption_file": "caption_path"}

    def __init__(
        self,
        scale: int = 4,
        segment_length: PositiveInt = 8,
        codec: Literal["sd-vae", "pixel-unshuffle"] = "sd-vae",
        codec_variant: str = "full",
        codec_pretrained: str | None = None,
        codec_factor: int = 4,
        backbone: dict[str, Any] | None = None,
        backbone_pretrained: str | None = None,
        lora_rank: int | None = 64,
        lora_alpha: float | None = None,
        flow_hidden: int = 32,
        temporal_mlp_ratio: float = 4.0,
        cache_tokens: int = 64,
        caption_length: PositiveInt = 120,
        caption_path: str | None = None,
        residual: bool = False,
        latent_scale: float = 1.0,
        sampler: Literal["ddim", "dpm"] = "dpm",
        num_inference_steps: PositiveInt = 20,
        cache_from: Literal["matched", "clean", "last_step", "none"] = "last_step",
        cache_read_gate: float = 0.5,
        temporal_attention: bool = True,
        memory_cache: bool = True,
        strength: Annotated[float, Range(0.0, 1.0, low_open=True)] = 1.0,
        start_state_prob: Share = 0.0,
        latent_tile: int | None = None,
        latent_tile_overlap: int = 8,
        latent_tile_batch: PositiveInt = 16,
        num_train_timesteps: int = 1000,
        beta_schedule: str = "linear",
        frozen_dtype: Literal["float32", "bfloat16", "float16"] | None = None,
    ):
        super().__init__(scale=scale)
        overrides = {k: v for k, v in (backbone or {}).items() if k != "variant"}
        if backbone_pretrained is None:
            c = self.codec.latent_channels
            overrides = {"in_channels": c, "out_channels": 2 * c, **overrides}
        self.net = LiftVSRTransformer(
            pixart_variant=(backbone or {}).get("variant", "full"),
            pixart_pretrained=backbone_pretrained,
            pixart_overrides=overrides,
            lora_rank=lora_rank,
            lora_alpha=lora_alpha,
            flow_hidden=flow_hidden,
            temporal_mlp_ratio=temporal_mlp_ratio,
            cache_tokens=cache_tokens,
            caption_length=caption_length,
            caption_path=caption_path,
            vae_scale_factor=self.codec.spatial_factor,
            cache_read_gate=cache_read_gate,
            temporal_attention=temporal_attention,
            memory_cache=memory_cache,
        )
        if self.net.latent_channels != self.codec.latent_channels:
            raise UserError(
                f"liftvsr: the PixArt backbone takes {self.net.latent_channels} latent channels but the "
                f"{codec} codec gives {self.codec.latent_channels}; use a matching codec"
            )
        self.diffusion = GaussianDiffusion(num_train_timesteps, schedule=beta_schedule, learn_sigma=True)
        self.latent_multiple = self.net.patch_size
        self.built()

    @property
    def max_train_timestep(self) -> int:
        """Training timesteps lie in ``[0, max_train_timestep)``: ``1000 * strength``, the range sampled."""
        return max(1, math.ceil(self.hparams.num_train_timesteps * self.hparams.strength))

    # ------------------------------------------------------------------ helpers
    def frozen_references(self) -> dict[str, str]:
        """Under LoRA the PixArt base weights stay frozen: lean checkpoints reference ``backbone_pretrained``."""
        return {"net.pixart": "backbone_pretrained"} if self.hparams.lora_rank is not None else {}

    def backbone_spec(self) -> dict[str, Any]:
        """PixArt's config before widening for the LR latent, with its resolved resolution conditioning."""
        spec = {k: v for k, v in dict(self.net.pixart.config).items() if not k.startswith("_")}
        spec.update(
            in_channels=self.net.latent_channels,
            use_additional_conditions=self.net.pixart.use_additional_conditions,
        )
        return {"variant": "full", **spec}

    # ---------------------------------------------------------------- inference
    def inference_scheduler(self, num_inference_steps: int):
        """The diffusers scheduler: ``num_inference_steps`` steps ending at the clean sample.

        With ``strength < 1`` these are the last steps of a ``round(steps / strength)``-step
        trailing schedule (diffusers img2img), so sampling starts at about ``1000 * strength``.
        """
        make = ddim_scheduler if self.hparams.sampler == "ddim" else dpm_solver_scheduler
        total = max(num_inference_steps, round(num_inference_steps / self.hparams.strength))
        scheduler = make(total, self.diffusion)
        if total > num_inference_steps:
            scheduler.timesteps = scheduler.timesteps[-num_inference_steps:]
            if hasattr(scheduler, "set_begin_index"):
                scheduler.set_begin_index(total - num_inference_steps)
        return scheduler

    def condition(self, lr: torch.Tensor) -> Conditioning:
        """LR latent (B, T, C, h, w): the codec's latent of the MATLAB-bicubic upsampled LR frames."""
        lr_latent = rearrange(self.bicubic_latent(lr), "b c t h w -> b t c h w")
        start = None if self.residual else lr_latent  # sampling starts around the LR latent when strength < 1
        return Conditioning(
            {"lr_latent": lr_latent}, tuple(lr_latent.shape), lr_latent.dtype, lr_latent, start
        )

    @torch.no_grad()
    def sample(
        self, cond: Conditioning, state: LiftVSRState | None = None, num_inference_steps: int | None = None
    ) -> tuple[torch.Tensor, LiftVSRState]:
        """Segment by segment after the segments ``state`` remembers; each latent tile group reads and
        writes its own caches, kept in the state under ``(h, w, tile origins)`` (a fresh dict)."""
        state, steps = dict(state or {}), num_inference_steps or self.num_inference_steps
        lr_latent = cond.inputs["lr_latent"]
        h, w = lr_latent.shape[-2:]

        def denoise_tiles(origins: list[tuple[int, int]], crops: torch.Tensor) -> torch.Tensor:
            key = (h, w, tuple(origins))
            z, state[key] = self.sample_segment(crops, state.get(key), steps)
            return z

        segments = [
            self.tiled(denoise_tiles, lr_latent[:, i : i + self.segment_length])
            for i in range(0, lr_latent.shape[1], self.segment_length)
        ]
        z = self.from_diffusion(torch.cat(segments, dim=1).to(cond.dtype), cond.reference)
        return rearrange(z, "b t c h w -> b c t h w"), state

    def sample_segment(
        self, lr_latent: torch.Tensor, caches: Caches | None, num_inference_steps: int | None = None
    ) -> tuple[torch.Tensor, Caches | None]:
        """Denoise one segment given its LR latent (B, S, C, h, w) and the caches of earlier
        segments; returns the clean latent and the caches including this segment."""
        b, s = lr_latent.shape[:2]
        scheduler = self.inference_scheduler(num_inference_steps or self.num_inference_steps)
        start = None if self.residual else lr_latent
        cond = Conditioning({"lr_latent": lr_latent}, tuple(lr_latent.shape), lr_latent.dtype, None, start)
        x = self.prepare_latents(cond, scheduler)
        last = len(scheduler.timesteps) - 1
        step = iter(range(last + 1))
        written: list[Caches] = []
        cache_from = self.hparams.cache_from

        def model_fn(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            write = cache_from == "last_step" and next(step) == last
            out, new = self.net(
                x_t.unflatten(0, (b, s)), lr_latent, t.view(b, s)[:, 0], caches, write_cache=write
            )
            if write:
                written.append(new)
            return out.flatten(0, 1).float()

        z = run_sampler(model_fn, x.flatten(0, 1), scheduler, learned_sigma=True).unflatten(0, (b, s))
        if not self.hparams.memory_cache or cache_from == "none":  # nothing to write: no write pass
            return z, caches
        if cache_from == "last_step":
            return z, written[-1]
        if cache_from == "clean":
            t = torch.zeros(b, dtype=torch.long, device=z.device)
            return z, self.net(z, lr_latent, t, caches, write_cache=True)[1]
        # the cache comes from a timestep drawn as a training segment's before one at the sampler's first
        # step (asymmetric sampling): uniform among the others, never a start state
        n, first = self.max_train_timestep, self.first_timestep
        t = (first + torch.randint(1, n, (b,), device=z.device)) % n
        x_t, _, t = self.noised(z.flatten(0, 1).float(), t, s)
        return z, self.net(x_t.unflatten(0, (b, s)), lr_latent, t, caches, write_cache=True)[1]

    # ----------------------------------------------------------------- training
    @property
    def first_timestep(self) -> int:
        """The timestep of the sampler's first step (where every inference segment starts)."""
        return int(self.inference_scheduler(self.num_inference_steps).timesteps[0])

    def segment_timesteps(
        self, num_segments: int, batch_size: int, device=None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(K, B) timesteps of chained training segments and (K, B) start-state marks.

        Asymmetric sampling: every segment sits at a different timestep from the one before it (whose
        cache it reads). A segment is at the sampler's first state with probability ``start_state_prob``
        (marked: its input is the sampler's start, ``sigma * noise``); the first segment's timestep is
        uniform, each next one uniform among the others, so a start state right after one at the same
        step is re-drawn (two adjacent segments never share a timestep). Timesteps lie in
        ``[0, 1000 * strength)``, the range the sampler visits.
        """
        n = self.max_train_timestep
        first = self.first_timestep if self.start_state_prob > 0 else None
        steps, marks = [], []
        for i in range(num_segments):
            if i == 0:
                t = torch.randint(0, n, (batch_size,), device=device)
            else:
                t = (steps[-1] + torch.randint(1, n, (batch_size,), device=device)) % n
            start = self.start_state_mask(batch_size, device)
            if first is not None:
                if i:
                    start = start & (steps[-1] != first)  # the neighbour already sits at the first step
                t = torch.where(start, torch.full_like(t, first), t)
            steps.append(t)
            marks.append(start)
        return torch.stack(steps), torch.stack(marks)

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
        cond = self.condition(lr).inputs["lr_latent"]
        target = self.to_diffusion(rearrange(self.encode(gt), "b c t h w -> b t c h w"), cond)
        timesteps, starts = self.segment_timesteps(k, lr.shape[0], lr.device)
        totals: dict[str, torch.Tensor] = {}
        caches = None
        for i in range(k):
            part = slice(i * seg, (i + 1) * seg)
            losses, caches = self._segment_loss(
                target[:, part], cond[:, part], timesteps[i], starts[i], caches, write_cache=i < k - 1
            )
            for key, value in losses.items():
                totals[key] = totals.get(key, 0) + value / k
        return totals

    def noised(
        self, x0: torch.Tensor, t: torch.Tensor, frames: int, start: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A segment's noisy input: ``x0`` (B*S, ...) at per-sample timesteps ``t`` (B,); samples marked
        in ``start`` (B,) get the sampler's first state instead. Returns ``(x_t, the noise x_t implies, t)``."""
        noise = torch.randn_like(x0)
        t_frames = t.repeat_interleave(frames)
        x_t = self.diffusion.add_noise(x0, noise, t_frames)
        if start is not None and self.start_state_prob > 0:
            # the sampler's first state: sigma * noise, without the unknown residual; masked, not branched
            # on ``start.any()``: identical values, and traceable on meta tensors
            alpha, sigma = (expand_like(v, x0) for v in self.diffusion.alpha_sigma(t_frames))
            mask = start.repeat_interleave(frames).view(-1, *([1] * (x0.dim() - 1)))
            x_t = torch.where(mask, sigma * noise, x_t)
            noise = torch.where(mask, (x_t - alpha * x0) / sigma, noise)
        return x_t, noise, t

    def _segment_loss(self, x0, cond, t, start, caches, write_cache: bool):
        b, s = x0.shape[:2]
        x0 = x0.flatten(0, 1).float()
        x_t, noise, t = self.noised(x0, t, s, start)
        out, caches = self.net(x_t.unflatten(0, (b, s)), cond, t, caches, write_cache=write_cache)
        losses = self.diffusion.training_losses(out.flatten(0, 1), x0, x_t, t.repeat_interleave(s), noise)
        return {key: value.mean() for key, value in losses.items()}, caches
