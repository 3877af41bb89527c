"""LiteVSR (arXiv 2606.09250, ICML 2026): a frozen video DiT plus a small state-aware adapter.

Paper: the Wan2.2 TI2V-5B DiT (hidden 3072, 30 blocks, 24 heads, FFN 14336, patch (1, 2, 2),
48-channel VAE, 16x16 spatial / 4x temporal) stays completely frozen; a State-Aware Adapter
(:class:`~vsrzoo.blocks.FlowMatchingAdapter`: structure stream from the LR latent, refinement
stream from the current clean estimate, timestep-modulated query prototypes tiled over any latent
size) feeds condition tokens through the same frozen blocks as a second batch element, added back
after every block by zero-initialised 3072x3072 linears (:mod:`vsrzoo.methods.litevsr_net`).
Rectified flow ``z_t = t eps + (1 - t) z0`` with velocity target ``eps - z0`` and loss weight
``1 / sigma_t^2``; adaptive unrolling in training: the clean estimate fed to the refinement
stream starts from the LR latent and is refined ``M(t) = round(1 + s(1-t)/(1+(s-1)(1-t)) (M_max-1))``
times (``s = 5``), more passes near ``t = 0``; Euler sampling with any number of steps down to
one. Adapter 634.9M parameters, 11.27% of all (paper: 11.25%). REDS (266 clips, REDS4 held
out), about 6K iterations, 12 GPU-hours on one A100.

reconstruction (constructor arguments, DESIGN.md section 2):

* ``unroll_max`` (M_max) = 3 (not published). ``M(t)`` counts the denoiser passes of a training
  step, the last one trained: the trained pass sees the estimate refined ``M(t) - 1`` times,
  the refinement passes run without gradient at the same ``(z_t, t)``, starting from the LR latent.
* Train/inference agreement: every Euler step at inference builds the refinement stream's input
  the same way (:meth:`LiteVSR.unrolled_estimate` at that step's ``(z_t, t)``, then the final
  pass), so the adapter sees at each step exactly what training fed it at that ``t``, at any step
  count. (Feeding the previous Euler step's estimate, as before, meant that with one step, the
  paper's headline mode, the refinement stream only ever saw the LR latent, while training fed
  it refined estimates.) ``unroll_min`` floors ``M(t)`` (1 = the paper's formula, which gives
  ``M(1) = 1``); the tiny variant uses 2 so its one step at ``t = 1`` refines once.
* ``refinement_input``: what the refinement stream reads. The paper feeds it the current clean
  estimate; with a residual-sized correction that estimate is the LR latent plus a small change,
  so both streams carried nearly the same input (issue 27: zeroing either cost the same 0.45 dB,
  and feeding the refinement stream the LR latent instead cost 0.0014 dB). ``"detail"`` (default,
  reconstruction) feeds the estimate's departure from the LR latent, ``latent_scale *
  (estimate - LR latent)``: what the structure stream does not already carry, zero before the
  first refinement. ``"estimate"`` is the literal reading (and what configs saved before this
  option get).
* ``loss_weight_min_t``: the ``1 / t^2`` weight is clamped at ``t = 0.05``; training times are
  uniform (``timestep_sampler``; the tiny variant shifts them towards noise, SD3 shift 3).
* ``start_state_prob`` (default 0): each training sample sits at the sampler's start point with
  this probability, ``t = 1`` with ``z_1 = init_noise_scale * eps`` (flow pair ``z_1``, target ``z_1 - z0``,
  weight ``1 / t^2 = 1``). With ``init_noise_scale=0`` one-step inference evaluates the denoiser at
  ``z_1 = 0``, a point plain rectified flow never trains (its ``z_1`` is unit noise); the tiny
  recipe puts a sample there with probability 0.5. ``injection_lr_scale`` (default 1) gives the
  zero-initialised injection layers their own learning rate (the tiny recipe: 10x the body's).
* LR latent = codec(MATLAB-bicubic x4 upsample of the LR frames), so it lies on the HR latent grid.
* The codec (Wan2.2 VAE at full size, ``codec_pretrained``) is a fixed pre/post-processor, like a
  diffusers pipeline's VAE: it is neither trained nor saved (:class:`~vsrzoo.methods.latent.LatentVSRMethod`);
  it counts as frozen. The paper's 11.25% is the adapter's share of DiT + adapter (ours: 11.27%).
* Null caption (:class:`~vsrzoo.backbones.text.CaptionEmbedding`, zeros or ``caption_path``).
* Sampling: ``num_inference_steps`` Euler steps on SD3-shifted times (``sample_shift``), starting from
  ``init_noise_scale * eps`` (1 = the paper's pure noise; 0 = the noise mean, whose one-step
  result is the conditional-mean estimate). Segments of ``segment_length`` frames.
* ``latent_tile``: at inference the velocity may be evaluated on overlapping latent tiles blended
  with linear ramps (:func:`~vsrzoo.methods.latent.run_tiles`), so attention cost stays bounded.
* Tiny scale only (no pretrained video prior fits a CPU): ``residual=True`` diffuses the
  difference between the HR latent and the LR latent, scaled by ``latent_scale``, and
  ``stage="prior"`` pretrains the tiny DiT unconditionally on those latents (the stand-in for
  Wan's pretraining; it writes a diffusers ``transformer/`` folder that ``backbone_pretrained``
  loads and freezes). The paper's setting is ``residual=False``, ``stage="adapter"``.
  The tiny variant also uses a two-frame temporal prototype window ``(2, 1, 1)`` and 2 adapter
  blocks (each query mixes the structure and refinement tokens of its own position in both frames
  of its segment; the paper gives no window shape; chosen on procedural clips over one-token and
  2x2 windows, see the model card), times shifted towards noise (shift 3), the weight clamp at
  ``t = 0.2``, one Euler step from the noise mean (``init_noise_scale=0``), ``unroll_min=2`` and
  32-latent tiles.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Annotated, Any, Literal

import torch
from diffusers import WanTransformer3DModel

from vsrzoo.backbones.common import freeze, unfreeze
from vsrzoo.backbones.text import CaptionEmbedding
from vsrzoo.backbones.wan import build_wan
from vsrzoo.blocks import FlowMatchingAdapter
from vsrzoo.diffusion.flow import RectifiedFlow, x0_from_velocity
from vsrzoo.diffusion.samplers import euler_flow_scheduler
from vsrzoo.errors import UserError
from vsrzoo.methods.latent import Conditioning, LatentVSRMethod
from vsrzoo.methods.litevsr_net import LiteVSRTransformer
from vsrzoo.registry import PositiveInt, Range, Share, register_method

TINY_BACKBONE = dict(
    variant="tiny", num_attention_heads=2, attention_head_dim=64, ffn_dim=256, num_layers=2, text_dim=32
)
TINY_ADAPTER = dict(num_heads=2, depth=2, mlp_ratio=2.0, window=(2, 1, 1), freq_dim=64)
SMALL_BACKBONE = dict(variant="small")
SMALL_ADAPTER = dict(num_heads=6, depth=2, mlp_ratio=4.0, window=(1, 8, 8))


def unroll_count(
    t: torch.Tensor, unroll_max: int, sharpness: float = 5.0, unroll_min: int = 1
) -> torch.Tensor:
    """LiteVSR's adaptive unrolling ``M(t) = round(1 + s(1-t) / (1 + (s-1)(1-t)) * (M_max - 1))``,
    at least ``unroll_min`` (reconstruction; 1 = the paper's formula)."""
    u = 1 - t.float()
    m = torch.round(1 + sharpness * u / (1 + (sharpness - 1) * u) * (unroll_max - 1)).long()
    return m.clamp(min=unroll_min)


def backbone_spec(backbone: WanTransformer3DModel, family: str) -> dict[str, Any]:
    """JSON-able constructor arguments that rebuild ``backbone`` (for checkpoints of a loaded prior)."""
    names = set(inspect.signature(WanTransformer3DModel.__init__).parameters) - {"self"}
    cfg = {k: v for k, v in backbone.config.items() if k in names}
    return {"variant": "full", "family": family, **json.loads(json.dumps(cfg))}


@register_method(
    "litevsr",
    variants={
        "tiny": dict(
            backbone=TINY_BACKBONE,
            adapter=TINY_ADAPTER,
            codec="pixel-unshuffle",
            residual=True,
            latent_scale=32.0,
            timestep_sampler="shifted",
            timestep_kwargs=dict(shift=3.0),
            loss_weight_min_t=0.2,
            segment_length=2,
            num_inference_steps=1,
            init_noise_scale=0.0,
            unroll_min=2,
            latent_tile=32,
        ),
        "small": dict(
            backbone=SMALL_BACKBONE,
            adapter=SMALL_ADAPTER,
            codec="pixel-unshuffle",
            residual=True,
            segment_length=5,
        ),
        "full": dict(backbone={"variant": "full"}, adapter={}, codec="wan2.2-vae", codec_variant="full"),
    },
    paper="LiteVSR, arXiv 2606.09250 (ICML 2026)",
    summary="Frozen Wan2.2-5B DiT + state-aware flow-matching adapter (11.25% trainable), 1-N Euler steps.",
)
class LiteVSR(LatentVSRMethod):
    """LiteVSR as a LightningModule: frozen Wan DiT, trainable adapter, rectified flow, Euler sampling.

    Args (see the module docstring for what is paper and what is reconstruction):
        backbone: ``build_wan`` arguments: ``variant`` (tiny/small/full), ``family`` (default
            'wan2.2') and config overrides. backbone_pretrained: hub id or diffusers directory
            of a Wan transformer (e.g. 'Wan-AI/Wan2.2-TI2V-5B-Diffusers'), loaded then frozen.
        adapter: :class:`FlowMatchingAdapter` arguments; width, channels, patch and block count
            come from the backbone.
        codec / codec_variant / codec_pretrained / codec_factor: 'pixel-unshuffle' (``codec_factor``)
            or 'wan2.2-vae'.
        caption_length / caption_path: the null caption (zeros, or embeddings from a file).
        segment_length: frames per forward call. num_inference_steps, sample_shift, init_noise_scale: sampler.
        latent_tile, latent_tile_overlap, latent_tile_batch: tiled velocity at inference (None = whole frame).
        unroll_max, unroll_sharpness, unroll_min: adaptive unrolling (M_max, s = 5, floor of M(t)),
            applied in training and at every inference step alike.
        loss_weight_min_t: loss weight clamp. timestep_sampler, timestep_kwargs: training times
            (:func:`~vsrzoo.diffusion.make_timestep_sampler`, e.g. 'shifted' with ``shift``).
        start_state_prob: probability that a training sample (adapter stage) sits at the sampler's
            start point (``t = 1``, ``z_1 = init_noise_scale * eps``), the point every inference run
            evaluates first.
        injection_lr_scale: learning-rate factor of the zero-initialised injection layers (adapter stage).
        residual, latent_scale, stage: tiny-scale reconstruction switches.
        frozen_dtype: dtype of the frozen parts (DiT in the adapter stage, codec), e.g. 'bfloat16'
            for bf16 mixed precision (``vsrzoo fit`` sets it from ``trainer.precision``); None keeps fp32.
    """

    supported_scales = (4,)
    supports_gradient_checkpointing = True
    clamp_bicubic = False  # the shipped tiny weights were trained on the unclamped bicubic latent
    renamed_arguments = {"start_fraction": "start_state_prob"}

    @classmethod
    def upgrade_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        """Also ``timestep_shift`` (before issue 26) -> ``timestep_sampler='shifted'`` with that shift;
        a config saved before ``refinement_input`` existed (issue 27) fed the estimate itself."""
        config = super().upgrade_config(config)
        config.setdefault("refinement_input", "estimate")
        if "timestep_shift" in config:
            config["timestep_sampler"] = "shifted"
            config["timestep_kwargs"] = {"shift": config.pop("timestep_shift")}
        return config

    def __init__(
        self,
        scale: int = 4,
        backbone: dict[str, Any] | None = None,
        backbone_pretrained: str | None = None,
        adapter: dict[str, Any] | None = None,
        codec: Literal["pixel-unshuffle", "wan2.2-vae"] = "wan2.2-vae",
        codec_variant: str = "full",
        codec_pretrained: str | None = None,
        codec_factor: int = 4,
        caption_length: PositiveInt = 1,
        caption_path: str | None = None,
        segment_length: PositiveInt = 17,
        num_inference_steps: PositiveInt = 4,
        sample_shift: float = 1.0,
        init_noise_scale: float = 1.0,
        unroll_max: PositiveInt = 3,
        unroll_sharpness: float = 5.0,
        unroll_min: PositiveInt = 1,
        refinement_input: Literal["detail", "estimate"] = "detail",
        loss_weight_min_t: float = 0.05,
        timestep_sampler: str = "uniform",
        timestep_kwargs: dict[str, Any] | None = None,
        start_state_prob: Share = 0.0,
        injection_lr_scale: Annotated[float, Range(0.0, low_open=True)] = 1.0,
        latent_tile: int | None = None,
        latent_tile_overlap: int = 8,
        latent_tile_batch: PositiveInt = 16,
        residual: bool = False,
        latent_scale: float = 1.0,
        stage: Literal["adapter", "prior"] = "adapter",
        frozen_dtype: Literal["float32", "bfloat16", "float16"] | None = None,
    ):
        super().__init__(scale=scale)
        load_dtype = frozen_dtype if stage == "adapter" else None
        dit = self._build_backbone(dict(backbone or {"variant": "full"}), backbone_pretrained, load_dtype)
        cfg = dit.config
        if cfg.in_channels != self.codec.latent_channels:
            raise UserError(
                f"litevsr: backbone takes {cfg.in_channels} latent channels but codec '{codec}' makes "
                f"{self.codec.latent_channels}; choose a matching backbone or codec"
            )
        adapter_args = dict(adapter or {})
        adapter_args.update(
            latent_channels=cfg.in_channels,
            hidden=cfg.num_attention_heads * cfg.attention_head_dim,
            patch_size=tuple(cfg.patch_size),
            num_blocks=cfg.num_layers,
        )
        if caption_path is not None:
            caption = CaptionEmbedding.from_file(caption_path, dim=cfg.text_dim)
        else:
            caption = CaptionEmbedding(cfg.text_dim, length=caption_length)
        self.net = LiteVSRTransformer(dit, FlowMatchingAdapter(**adapter_args), caption)
        self.flow = RectifiedFlow("uniform" if stage == "prior" else "inverse_sigma_sq", loss_weight_min_t)
        self.latent_multiple = cfg.patch_size[
            1
        ]  # tiles start on the token grid, so their windows share one grid
        self.set_stage(stage)
        self.built()

    # ------------------------------------------------------------------ building
    @staticmethod
    def _build_backbone(
        spec: dict[str, Any], pretrained: str | None, dtype: str | None
    ) -> WanTransformer3DModel:
        if pretrained is not None:  # loaded straight in the frozen dtype: no fp32 copy of a 5B DiT
            extra = {"torch_dtype": getattr(torch, dtype)} if dtype else {}
            return build_wan(
                spec.get("variant", "full"), pretrained, family=spec.get("family", "wan2.2"), **extra
            )
        return build_wan(**{"variant": "full", "family": "wan2.2", **spec})

    def set_stage(self, stage: str) -> None:
        """'adapter' (paper): only the adapter trains. 'prior' (tiny reconstruction): only the DiT trains."""
        self.stage = stage
        trained, frozen = (self.net.adapter, self.net.backbone)
        if stage == "prior":
            trained, frozen = frozen, trained
        unfreeze(trained)
        freeze(frozen)

    def lr_scales(self) -> dict[str, float]:
        """The injection layers learn at ``injection_lr_scale`` times the rate (adapter stage)."""
        scale = self.hparams.injection_lr_scale
        return {"net.adapter.injections": scale} if scale != 1.0 and self.stage == "adapter" else {}

    def frozen_references(self) -> dict[str, str]:
        """In the adapter stage the DiT is frozen: lean checkpoints reference ``backbone_pretrained``."""
        return {"net.backbone": "backbone_pretrained"} if self.stage == "adapter" else {}

    def backbone_spec(self) -> dict[str, Any]:
        """Constructor arguments that rebuild the loaded DiT (:func:`backbone_spec`)."""
        return backbone_spec(self.net.backbone, (self.hparams.backbone or {}).get("family", "wan2.2"))

    def write_pretrained(self, directory: Path, self_contained: bool = False) -> Path:
        """Save the method; after the prior stage also the DiT as a diffusers ``transformer/`` folder."""
        directory = super().write_pretrained(directory, self_contained=self_contained)
        if self.stage == "prior":
            self.net.backbone.save_pretrained(directory / "transformer")
        return directory

    # ------------------------------------------------------------------ the pipeline
    def condition(self, lr: torch.Tensor) -> Conditioning:
        """The LR latent: codec latent of the bicubic upsample (structure stream, residual reference)."""
        lr_latent = self.bicubic_latent(lr)
        return Conditioning({"lr_latent": lr_latent}, tuple(lr_latent.shape), lr_latent.dtype, lr_latent)

    def inference_scheduler(self, num_inference_steps: int):
        return euler_flow_scheduler(num_inference_steps, self.hparams.sample_shift)

    def denoise(self, d: torch.Tensor, t: torch.Tensor, cond: Conditioning) -> torch.Tensor:
        """Velocity at ``(z_t, t)``: the refinement stream's input is built exactly as training builds it
        (:meth:`unrolled_estimate`: the LR latent refined ``M(t) - 1`` times), then the final pass,
        all on ``latent_tile`` tiles when set."""
        lr_latent = cond.inputs["lr_latent"]
        t = t.reshape(-1).expand(d.shape[0])
        clean, _ = self.unrolled_estimate(d, t, lr_latent, self.tiled_velocity)
        return self.tiled_velocity(d, t, lr_latent, clean).to(d.dtype)

    def velocity(
        self,
        d: torch.Tensor,
        t: torch.Tensor,
        lr_latent: torch.Tensor,
        clean: torch.Tensor,
        origin: list[tuple[int, int]] | None = None,
    ):
        """Velocity given the current clean estimate (the refinement stream reads :meth:`refinement`)."""
        return self.net(d, t, lr_latent, self.refinement(clean, lr_latent), origin)

    def refinement(self, clean: torch.Tensor, lr_latent: torch.Tensor) -> torch.Tensor:
        """The refinement stream's input for a clean estimate: its departure from the LR latent
        (``refinement_input='detail'``) or the estimate itself (``'estimate'``); module docstring."""
        if self.hparams.refinement_input == "detail":
            return (clean - lr_latent) * self.latent_scale
        return clean

    def tiled_velocity(self, d: torch.Tensor, t: torch.Tensor, lr_latent: torch.Tensor, clean: torch.Tensor):
        """Velocity on overlapping ``latent_tile`` tiles, blended (bounded attention cost).

        Each tile passes its origin to the adapter, so all tiles share the whole frame's
        prototype-window grid (overlapping tiles condition a position the same way).
        """
        tile, (h, w), b = self.latent_tile, d.shape[-2:], d.shape[0]
        if tile is None or (h <= tile and w <= tile):
            return self.velocity(d, t, lr_latent, clean)

        def velocity(origins: list[tuple[int, int]], d, lr_latent, clean) -> torch.Tensor:
            per_sample = [origin for origin in origins for _ in range(b)]
            return self.velocity(d, t.repeat(len(origins)), lr_latent, clean, per_sample)

        return self.tiled(velocity, d, lr_latent, clean).to(d.dtype)

    # ------------------------------------------------------------------ training
    def training_noise(self, d0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Times and noise of a batch; in the adapter stage each sample sits at the sampler's start
        point with probability ``start_state_prob``: ``t = 1`` with the noise scaled by
        ``init_noise_scale``, so the flow pair is ``z_1 = init_noise_scale * eps``, target ``z_1 - d0``."""
        t = self.training_timesteps(d0.shape[0], d0.device)
        noise = torch.randn_like(d0)
        if self.stage == "adapter" and self.start_state_prob > 0:
            start = self.start_state_mask(d0.shape[0], d0.device)
            t = torch.where(start, torch.ones_like(t), t)
            noise = torch.where(start.view(-1, *[1] * (d0.dim() - 1)), noise * self.init_noise_scale, noise)
        return t, noise

    @torch.no_grad()
    def unrolled_estimate(self, d_t: torch.Tensor, t: torch.Tensor, lr_latent: torch.Tensor, velocity=None):
        """Refinement-stream input of the final pass: the LR latent refined ``M(t) - 1`` times at
        ``(z_t, t)``, no gradient. Training and every inference step call it (``velocity``: the
        velocity function, default :meth:`velocity`; inference passes the tiled one)."""
        hp = self.hparams
        passes = unroll_count(t, hp.unroll_max, hp.unroll_sharpness, hp.unroll_min)
        velocity = velocity or self.velocity
        clean = lr_latent
        # Meta tensors (``fit --dry-run``) have no values: run the most passes M(t) can ask for (masked
        # per sample, no gradient, so the traced memory is the same); real tensors stop after max M(t) - 1.
        rounds = max(hp.unroll_max, hp.unroll_min) if t.is_meta else int(passes.max())
        for k in range(rounds - 1):
            v = velocity(d_t, t, lr_latent, clean).to(d_t.dtype)
            refined = self.from_diffusion(x0_from_velocity(d_t, v, t), lr_latent)
            keep = (k < passes - 1).view(-1, 1, 1, 1, 1)
            clean = torch.where(keep, refined, clean)
        return clean, passes

    def training_loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        lr, gt = self.pad_frames(batch["lr"]), self.pad_frames(batch["gt"])
        with torch.no_grad():
            lr_latent, hr_latent = self.bicubic_latent(lr), self.encode(gt)
        d0 = self.to_diffusion(hr_latent, lr_latent)
        t, noise = self.training_noise(d0)
        d_t, target, _ = self.flow.training_pair(d0, t, noise)
        if self.stage == "prior":
            return {"loss": self.flow.loss(self.net.prior(d_t, t), target, t)}
        clean, passes = self.unrolled_estimate(d_t, t, lr_latent)
        loss = self.flow.loss(self.velocity(d_t, t, lr_latent, clean), target, t)
        return {"loss": loss, "unroll_passes": passes.float().mean()}
