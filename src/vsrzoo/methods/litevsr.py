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
* ``loss_weight_min_t``: the ``1 / t^2`` weight is clamped at ``t = 0.05``; training times are
  uniform after an SD3 shift ``timestep_shift`` (1 = uniform).
* ``start_fraction`` (default 0): that share of each training batch sits at the sampler's start
  point, ``t = 1`` with ``z_1 = init_noise_scale * eps`` (flow pair ``z_1``, target ``z_1 - z0``,
  weight ``1 / t^2 = 1``). With ``init_noise_scale=0`` one-step inference evaluates the denoiser at
  ``z_1 = 0``, a point plain rectified flow never trains (its ``z_1`` is unit noise); the tiny
  recipe puts half of each batch there. ``injection_lr_scale`` (default 1) gives the
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
from typing import Any, Literal

import torch
from diffusers import WanTransformer3DModel

from vsrzoo.backbones.common import freeze, unfreeze
from vsrzoo.backbones.text import CaptionEmbedding
from vsrzoo.backbones.wan import build_wan
from vsrzoo.blocks import FlowMatchingAdapter
from vsrzoo.diffusion.flow import RectifiedFlow, x0_from_velocity
from vsrzoo.diffusion.samplers import euler_flow_scheduler
from vsrzoo.diffusion.samplers import sample as run_sampler
from vsrzoo.diffusion.timesteps import ShiftedTimesteps
from vsrzoo.errors import UserError
from vsrzoo.methods.latent import LatentVSRMethod, build_codec, latent_tiles
from vsrzoo.methods.litevsr_net import LiteVSRTransformer
from vsrzoo.registry import register_method

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
            timestep_shift=3.0,
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
        loss_weight_min_t, timestep_shift: loss weight clamp and training time distribution.
        start_fraction: share of each training batch placed at the sampler's start point
            (``t = 1``, ``z_1 = init_noise_scale * eps``), the point every inference run evaluates first.
        injection_lr_scale: learning-rate factor of the zero-initialised injection layers (adapter stage).
        residual, latent_scale, stage: tiny-scale reconstruction switches.
        frozen_dtype: dtype of the frozen parts (DiT in the adapter stage, codec), e.g. 'bfloat16'
            for bf16 mixed precision (``vsrzoo fit`` sets it from ``trainer.precision``); None keeps fp32.
    """

    supported_scales = (4,)
    supports_gradient_checkpointing = True
    clamp_bicubic = False  # the shipped tiny weights were trained on the unclamped bicubic latent

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
        caption_length: int = 1,
        caption_path: str | None = None,
        segment_length: int = 17,
        num_inference_steps: int = 4,
        sample_shift: float = 1.0,
        init_noise_scale: float = 1.0,
        unroll_max: int = 3,
        unroll_sharpness: float = 5.0,
        unroll_min: int = 1,
        loss_weight_min_t: float = 0.05,
        timestep_shift: float = 1.0,
        start_fraction: float = 0.0,
        injection_lr_scale: float = 1.0,
        latent_tile: int | None = None,
        latent_tile_overlap: int = 8,
        latent_tile_batch: int = 16,
        residual: bool = False,
        latent_scale: float = 1.0,
        stage: Literal["adapter", "prior"] = "adapter",
        frozen_dtype: Literal["float32", "bfloat16", "float16"] | None = None,
    ):
        super().__init__(scale=scale)
        self.save_hyperparameters()
        if not 0.0 <= start_fraction <= 1.0 or injection_lr_scale <= 0:
            raise UserError(
                f"litevsr: start_fraction must be in [0, 1] (got {start_fraction}) and "
                f"injection_lr_scale positive (got {injection_lr_scale})"
            )
        if min(unroll_max, unroll_min, num_inference_steps, segment_length, latent_tile_batch) < 1:
            raise UserError(
                "litevsr: unroll_max, unroll_min, num_inference_steps, segment_length and latent_tile_batch "
                "must be at least 1"
            )
        self.segment_length, self.num_inference_steps = segment_length, num_inference_steps
        self.residual, self.latent_scale = residual, latent_scale
        self.latent_tile, self.latent_tile_overlap = latent_tile, latent_tile_overlap
        self.latent_tile_batch = latent_tile_batch
        self.set_codec(build_codec(codec, codec_variant, codec_pretrained, codec_factor))
        latent_channels = self.codec.latent_channels
        load_dtype = frozen_dtype if stage == "adapter" else None
        dit = self._build_backbone(dict(backbone or {"variant": "full"}), backbone_pretrained, load_dtype)
        cfg = dit.config
        if cfg.in_channels != latent_channels:
            raise UserError(
                f"litevsr: backbone takes {cfg.in_channels} latent channels but codec '{codec}' makes "
                f"{latent_channels}; choose a matching backbone or codec"
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
        patch = cfg.patch_size[1]
        self.check_latent_tile(patch)  # tiles start on the token grid, so their windows share one grid
        self.size_multiple = max(1, self.codec.spatial_factor * patch // scale)
        self.set_stage(stage)
        self.cast_frozen(frozen_dtype)

    # ------------------------------------------------------------------ building
    @staticmethod
    def _build_backbone(
        spec: dict[str, Any], pretrained: str | None, dtype: str | None
    ) -> WanTransformer3DModel:
        variant, family = spec.pop("variant", "full"), spec.pop("family", "wan2.2")
        if pretrained is not None:  # loaded straight in the frozen dtype: no fp32 copy of a 5B DiT
            extra = {"torch_dtype": getattr(torch, dtype)} if dtype else {}
            return build_wan(variant, pretrained, family=family, **extra)
        return build_wan(variant, family=family, **spec)

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

    def enable_gradient_checkpointing(self) -> None:
        self.net.gradient_checkpointing = True

    def frozen_references(self) -> dict[str, str]:
        """In the adapter stage the DiT is frozen: lean checkpoints reference ``backbone_pretrained``."""
        return {"net.backbone": "backbone_pretrained"} if self.stage == "adapter" else {}

    def config(self) -> dict[str, Any]:
        """Constructor arguments; a loaded backbone whose weights are saved (prior stage, self-contained
        export) or a caption file is replaced by its config."""
        cfg = super().config()
        if cfg.get("backbone_pretrained") and not self.keeps_reference("backbone_pretrained"):
            family = (cfg.get("backbone") or {}).get("family", "wan2.2")
            cfg["backbone"], cfg["backbone_pretrained"] = backbone_spec(self.net.backbone, family), None
        if cfg.get("caption_path"):
            cfg["caption_length"], cfg["caption_path"] = int(self.net.caption.embeds.shape[0]), None
        return cfg

    def write_pretrained(self, directory: Path, self_contained: bool = False) -> Path:
        """Save the method; after the prior stage also the DiT as a diffusers ``transformer/`` folder."""
        directory = super().write_pretrained(directory, self_contained=self_contained)
        if self.stage == "prior":
            self.net.backbone.save_pretrained(directory / "transformer")
        return directory

    # ------------------------------------------------------------------ inference
    def velocity(
        self,
        d: torch.Tensor,
        t: torch.Tensor,
        lr_latent: torch.Tensor,
        clean: torch.Tensor,
        origin: list[tuple[int, int]] | None = None,
    ):
        return self.net(d, t, lr_latent, clean, origin)

    def tiled_velocity(self, d: torch.Tensor, t: torch.Tensor, lr_latent: torch.Tensor, clean: torch.Tensor):
        """Velocity on overlapping ``latent_tile`` tiles, blended (bounded attention cost).

        Each tile passes its origin to the adapter, so all tiles share the whole frame's
        prototype-window grid (overlapping tiles condition a position the same way).
        """
        tile, (h, w), b = self.latent_tile, d.shape[-2:], d.shape[0]
        if tile is None or (h <= tile and w <= tile):
            return self.velocity(d, t, lr_latent, clean)
        tiles = latent_tiles(h, w, tile, self.latent_tile_overlap)

        def velocity(
            group: int, d: torch.Tensor, lr_latent: torch.Tensor, clean: torch.Tensor
        ) -> torch.Tensor:
            chunk = tiles[group * self.latent_tile_batch : (group + 1) * self.latent_tile_batch]
            origin = [(y, x) for y, x, _, _ in chunk for _ in range(b)]
            return self.velocity(d, t.repeat(len(chunk)), lr_latent, clean, origin)

        return self.tiled(velocity, d, lr_latent, clean).to(d.dtype)

    @torch.no_grad()
    def sample(self, lr_latent: torch.Tensor, num_inference_steps: int | None = None) -> torch.Tensor:
        """Euler integration from ``t = 1`` to 0; returns the clean latent (codec space).

        Each step builds the refinement stream's input exactly as training does at that ``(z_t, t)``
        (:meth:`unrolled_estimate`: the LR latent refined ``M(t) - 1`` times), then takes the step
        with the final pass, all on ``latent_tile`` tiles when set.
        """
        hp = self.hparams
        noise = torch.randn(lr_latent.shape, device=lr_latent.device, dtype=lr_latent.dtype)

        def velocity(d: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            t = t.reshape(-1).expand(d.shape[0])
            clean, _ = self.unrolled_estimate(d, t, lr_latent, self.tiled_velocity)
            return self.tiled_velocity(d, t, lr_latent, clean).to(d.dtype)

        scheduler = euler_flow_scheduler(num_inference_steps or self.num_inference_steps, hp.sample_shift)
        d = run_sampler(velocity, hp.init_noise_scale * noise, scheduler)
        return self.from_diffusion(d, lr_latent)

    def forward(self, lr: torch.Tensor, num_inference_steps: int | None = None) -> torch.Tensor:
        t, h, w = lr.shape[1], *lr.shape[-2:]
        latent = self.sample(self.bicubic_latent(self.pad_frames(self.pad_space(lr))), num_inference_steps)
        return self.decode(latent, t)[..., : h * self.scale, : w * self.scale]

    # ------------------------------------------------------------------ training
    def sample_timesteps(self, batch: int, device) -> torch.Tensor:
        return ShiftedTimesteps(self.hparams.timestep_shift)(batch, device=device)

    def training_noise(self, d0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Times and noise of a batch; the first ``start_fraction`` of it (adapter stage) sits at the
        sampler's start point: ``t = 1`` with the noise scaled by ``init_noise_scale``, so the flow pair
        is ``z_1 = init_noise_scale * eps`` and target ``z_1 - d0``."""
        t = self.sample_timesteps(d0.shape[0], d0.device)
        noise = torch.randn_like(d0)
        n = round(self.hparams.start_fraction * d0.shape[0]) if self.stage == "adapter" else 0
        if n:
            t = torch.cat([torch.ones_like(t[:n]), t[n:]])
            noise = torch.cat([noise[:n] * self.hparams.init_noise_scale, noise[n:]])
        return t, noise

    @torch.no_grad()
    def unrolled_estimate(self, d_t: torch.Tensor, t: torch.Tensor, lr_latent: torch.Tensor, velocity=None):
        """Refinement-stream input of the final pass: the LR latent refined ``M(t) - 1`` times at
        ``(z_t, t)``, no gradient. Training and every inference step call it (``velocity``: the
        velocity function, default :meth:`velocity`; inference passes the tiled one)."""
        hp = self.hparams
        passes = unroll_count(t, hp.unroll_max, hp.unroll_sharpness, hp.get("unroll_min", 1))
        velocity = velocity or self.velocity
        clean = lr_latent
        # Meta tensors (``fit --dry-run``) have no values: run the most passes M(t) can ask for (masked
        # per sample, no gradient, so the traced memory is the same); real tensors stop after max M(t) - 1.
        rounds = max(hp.unroll_max, hp.get("unroll_min", 1)) if t.is_meta else int(passes.max())
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
