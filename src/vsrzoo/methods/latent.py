"""The latent-diffusion pipeline that LiftVSR, LiteVSR and SimpleGVR share (diffusers' layout).

LiftVSR (arXiv 2506.08529), LiteVSR (arXiv 2606.09250) and SimpleGVR (arXiv 2506.19838) all
diffuse in the latent space of a fixed codec (a VAE, or the parameter-free pixel-unshuffle at
tiny scale) and condition on the LR video. :class:`LatentVSRMethod` is that pipeline, written once
the way a diffusers pipeline is laid out (``prepare_latents``, a scheduler object, the denoising
loop, decoding): :meth:`LatentVSRMethod.step` pads once, conditions, samples, decodes and crops.
A latent method supplies three things:

* :meth:`~LatentVSRMethod.condition`: padded LR frames -> :class:`Conditioning`;
* :meth:`~LatentVSRMethod.denoise`: the model output at ``(x_t, t)`` (velocity, epsilon, x0, ...);
* :meth:`~LatentVSRMethod.inference_scheduler`: the diffusers scheduler of its sampler;

plus its ``training_loss``. A stateful method (LiftVSR's memory cache) also overrides
:meth:`~LatentVSRMethod.sample` to carry its state.

The options every latent method has are its constructor arguments, read from ``hparams`` through
:class:`hparam` (declared once here, never copied onto the instance, so no method can forget one
or keep a stale copy). The base also holds:

* the codec (:meth:`LatentVSRMethod.set_codec`): a registered submodule, so ``.to()`` moves it
  with the model; frozen and kept in eval mode; left out of ``state_dict`` (checkpoints hold the
  trained weights only; the codec is rebuilt from the config or ``codec_pretrained``);
* ``encode`` / ``decode`` between frames ``(B, T, 3, H, W)`` in [0, 1] and the codec's latent
  ``(B, C, T', h, w)``; padding in space (edge replication, to :attr:`~LatentVSRMethod.size_multiple`,
  derived in one place from the codec, the denoiser's patch and the scale) and in time (the last
  frame repeated until ``T = 1 + k * temporal_factor``, the Wan VAE's clip lengths);
* bicubic conditioning: the latent of the MATLAB-bicubic upsampled LR (reconstruction: it lies on
  the HR latent grid); ``residual=True`` diffuses ``latent_scale * (z_HR - z_bicubic)``
  (reconstruction, used by the tiny variants so a small model learns only what bicubic misses);
* latent tiles at inference (:func:`run_tiles`): overlapping tiles folded into the batch and
  blended with one linear cross-fade (:func:`tile_weights`), the weighted average of
  MultiDiffusion (arXiv 2302.08113); each call gets its tiles' origins;
* the training draws: timesteps from ``timestep_sampler`` (:mod:`vsrzoo.diffusion.timesteps`) and
  the share of samples placed at the sampler's first state (:meth:`~LatentVSRMethod.start_state_mask`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vsrzoo.backbones import create_backbone
from vsrzoo.backbones.vae import Codec
from vsrzoo.data.resize import imresize
from vsrzoo.diffusion import make_timestep_sampler, noise_level
from vsrzoo.diffusion import sample as run_sampler
from vsrzoo.errors import UserError
from vsrzoo.inference.tiling import tile_spans
from vsrzoo.methods.base import VSRMethod

CODEC_KEY = "codec"


def build_codec(name: str, variant: str = "full", pretrained: str | None = None, factor: int = 4) -> Codec:
    """A frozen codec by its backbone-registry name (``vsrzoo models --backbones``)."""
    extra = {"factor": factor} if name == "pixel-unshuffle" and pretrained is None else {}
    codec = create_backbone(name, variant=variant, pretrained=pretrained, **extra)
    return codec.requires_grad_(False).eval()


def pad_space(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Replicate the bottom/right edge of ``(..., C, H, W)`` until H and W are multiples of ``multiple``."""
    pad_h, pad_w = -x.shape[-2] % multiple, -x.shape[-1] % multiple
    if not (pad_h or pad_w):
        return x
    lead = x.shape[:-3]
    padded = F.pad(x.flatten(0, -4), (0, pad_w, 0, pad_h), mode="replicate")
    return padded.unflatten(0, lead)


def pad_frames(x: torch.Tensor, temporal_factor: int) -> torch.Tensor:
    """Repeat the last frame of ``(B, T, ...)`` until ``T = 1 + k * temporal_factor``."""
    extra = -(x.shape[1] - 1) % temporal_factor
    return torch.cat([x, x[:, -1:].expand(-1, extra, *x.shape[2:])], dim=1) if extra else x


def tile_weights(start: int, size: int, length: int, overlap: int) -> torch.Tensor:
    """Blend weights of a tile along one axis: a linear ramp over ``overlap`` on each edge shared
    with another tile (weights ``1/(k+1) .. k/(k+1)``), 1 elsewhere, never 0."""
    w = torch.ones(size)
    k = min(overlap, size)
    if k and start > 0:
        w[:k] = torch.arange(1, k + 1) / (k + 1)
    if k and start + size < length:
        w[-k:] = torch.minimum(w[-k:], torch.arange(k, 0, -1) / (k + 1))
    return w


def latent_tiles(height: int, width: int, tile: int | None, overlap: int) -> list[tuple[int, int, int, int]]:
    """Tiles ``(y, x, h, w)`` of at most ``tile`` latents covering the frame (one tile when None)."""
    if tile is None:
        return [(0, 0, height, width)]
    rows = tile_spans(height, min(tile, height), overlap)
    cols = tile_spans(width, min(tile, width), overlap)
    return [(y0, x0, y1 - y0, x1 - x0) for y0, y1 in rows for x0, x1 in cols]


def run_tiles(
    fn: Callable[..., torch.Tensor],
    inputs: Sequence[torch.Tensor],
    tile: int | None,
    overlap: int,
    tiles_per_call: int,
) -> torch.Tensor:
    """Blend ``fn`` over overlapping latent tiles of ``inputs`` (each ``(B, ..., h, w)``).

    ``fn(origins, *crops)`` gets the ``(y, x)`` origin of each of up to ``tiles_per_call`` tiles and
    the crops of each input for those tiles concatenated along the batch (tile-major), and returns
    their outputs stacked the same way. The result (float32) is the weighted average of all tiles
    at every position.
    """
    h, w = inputs[0].shape[-2:]
    tiles = latent_tiles(h, w, tile, overlap)
    out = total = None
    for first in range(0, len(tiles), tiles_per_call):
        chunk = tiles[first : first + tiles_per_call]
        crops = [torch.cat([x[..., y : y + th, c : c + tw] for y, c, th, tw in chunk]) for x in inputs]
        result = fn([(y, x) for y, x, _, _ in chunk], *crops).float()
        b = result.shape[0] // len(chunk)
        if out is None:
            out, total = result.new_zeros(b, *result.shape[1:-2], h, w), result.new_zeros(h, w)
        for i, (y, x, th, tw) in enumerate(chunk):
            weight = tile_weights(y, th, h, overlap)[:, None] * tile_weights(x, tw, w, overlap)[None, :]
            weight = weight.to(result.device)
            out[..., y : y + th, x : x + tw] += weight * result[i * b : (i + 1) * b]
            total[y : y + th, x : x + tw] += weight
    return out / total


class hparam:  # noqa: N801 (used like ``property``)
    """A constructor argument read from ``hparams`` (``default`` when the method does not take it).

    Assigning it raises: an option lives in one place, the saved config.
    """

    def __init__(self, default: Any):
        self.default = default

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self.default
        return obj.hparams.get(self.name, self.default)

    def __set__(self, obj: Any, value: Any) -> None:
        raise AttributeError(f"'{self.name}' is a constructor argument; pass it when building the model")


@dataclass
class Conditioning:
    """What one sampling run reads, made by :meth:`LatentVSRMethod.condition` from padded LR frames.

    ``inputs``: the tensors :meth:`LatentVSRMethod.denoise` reads (e.g. the LR latent). ``shape``:
    the diffused latent's shape. ``dtype``: the codec latent's. ``reference``: the codec latent that
    ``residual`` diffuses relative to (else None). ``start``: a codec latent the sampler starts around
    when its schedule begins below pure noise (diffusers img2img; None: from noise only).
    """

    inputs: dict[str, torch.Tensor]
    shape: tuple[int, ...]
    dtype: torch.dtype
    reference: torch.Tensor | None = None
    start: torch.Tensor | None = None


class LatentVSRMethod(VSRMethod):
    """The latent-diffusion pipeline: codec, residual space, padding, tiles, sampling loop, training draws.

    A subclass's ``__init__`` takes its constructor arguments (its config) and calls
    ``super().__init__(scale=scale)``, which saves every argument as ``hparams`` and builds the frozen
    codec from ``codec``, ``codec_variant``, ``codec_pretrained`` and ``codec_factor``; it then builds
    its denoiser as ``self.net`` and ends with :meth:`built`.
    """

    segment_length = hparam(1)
    """Frames per segment (one ``forward`` call of the streaming engine)."""
    num_inference_steps = hparam(1)
    """Sampler steps per segment."""
    residual = hparam(False)
    """Diffuse ``latent_scale * (z_HR - z_bicubic)`` instead of ``latent_scale * z_HR`` (reconstruction)."""
    latent_scale = hparam(1.0)
    """Factor on the diffused latent (unit variance for a small residual, like a VAE's scaling factor)."""
    init_noise_scale = hparam(1.0)
    """The sampler starts at ``init_noise_scale * sigma_0 * noise`` (1: pure noise; 0: the noise mean)."""
    start_state_prob = hparam(0.0)
    """Probability that a training sample sits at the sampler's first state (:meth:`start_state_mask`)."""
    latent_tile = hparam(None)
    """Latent tile side at inference (None: whole frames), so attention cost stays bounded."""
    latent_tile_overlap = hparam(8)
    """Latents shared by neighbouring tiles, cross-faded linearly."""
    latent_tile_batch = hparam(16)
    """Tiles denoised together (folded into the batch)."""

    learned_sigma: bool = False
    """Whether the denoiser's output carries a learned variance as its second half of channels (PixArt)."""
    latent_multiple: int = 1
    """Latent sides the denoiser needs (its patch size); :attr:`size_multiple` derives from it."""
    encodes_lr: bool = False
    """Whether the codec encodes the LR frames themselves (then LR sides must be multiples of its factor)."""
    codec_from_backbone: bool = False
    """Whether ``codec_pretrained`` defaults to ``backbone_pretrained`` (one diffusers folder holds both)."""
    clamp_bicubic: bool = True
    """Clamp the bicubic upsample to [0, 1] before encoding it (a method's trained weights fix this)."""

    def __init__(self, scale: int = 4):
        super().__init__(scale=scale)
        self.save_hyperparameters()  # every constructor argument of the subclass (Lightning collects them)
        hp = self.hparams
        pretrained = hp.get("codec_pretrained")
        if pretrained is None and self.codec_from_backbone:
            pretrained = hp.get("backbone_pretrained")
        codec = build_codec(
            hp.get("codec", "pixel-unshuffle"),
            hp.get("codec_variant", "full"),
            pretrained,
            hp.get("codec_factor", 4),
        )
        self.set_codec(codec)
        if "timestep_sampler" in hp:
            with torch.device("cpu"):  # sampler tables stay on the CPU even when the model is built on meta
                self.timesteps = make_timestep_sampler(
                    hp.timestep_sampler, **(hp.get("timestep_kwargs") or {})
                )

    def built(self) -> None:
        """End of a subclass's ``__init__``: check the tile options against the denoiser's patch size
        and store the frozen parts in ``frozen_dtype``."""
        self.check_latent_tile(self.latent_multiple)
        self.cast_frozen(self.hparams.get("frozen_dtype"))

    @property
    def size_multiple(self) -> int:
        """LR sides must be multiples of it: the HR latent must fill the denoiser's patches
        (:attr:`latent_multiple`), and the LR itself the codec when :attr:`encodes_lr`."""
        factor = self.codec.spatial_factor
        token = factor * self.latent_multiple  # HR pixels per denoiser token
        multiple = token // math.gcd(token, self.scale)
        return math.lcm(multiple, factor) if self.encodes_lr else multiple

    def enable_gradient_checkpointing(self) -> None:
        self.net.enable_gradient_checkpointing()

    def backbone_spec(self) -> dict[str, Any]:
        """The ``backbone`` config that rebuilds the loaded backbone without its pretrained source."""
        raise NotImplementedError(f"{self.method_name} does not describe its backbone")

    def config(self) -> dict[str, Any]:
        """Constructor arguments. A loaded backbone whose weights are saved (trained in full, a
        self-contained export) is described by :meth:`backbone_spec` instead of its reference; a
        caption file by its length (the learned caption is saved; the file only initialised it)."""
        cfg = super().config()
        if cfg.get("backbone_pretrained") and not self.keeps_reference("backbone_pretrained"):
            if self.codec_from_backbone:
                cfg["codec_pretrained"] = cfg.get("codec_pretrained") or cfg["backbone_pretrained"]
            cfg["backbone"], cfg["backbone_pretrained"] = json.loads(json.dumps(self.backbone_spec())), None
        if cfg.get("caption_path"):
            cfg["caption_length"], cfg["caption_path"] = int(self.net.caption.embeds.shape[0]), None
        return cfg

    # ------------------------------------------------------------------ codec
    def set_codec(self, codec: nn.Module) -> None:
        """Install the frozen codec (registered, moved by ``.to()``, never trained or saved)."""
        self.codec = codec.requires_grad_(False).eval()
        if not getattr(self, "_codec_hooks", False):
            self._register_state_dict_hook(_drop_codec_keys)
            self._register_load_state_dict_pre_hook(_drop_incoming_codec_keys, with_module=True)
            self.register_load_state_dict_post_hook(_ignore_missing_codec_keys)
            self._codec_hooks = True

    def train(self, mode: bool = True):
        super().train(mode)
        if isinstance(getattr(self, "codec", None), nn.Module):
            self.codec.eval()  # frozen: no dropout or statistics updates
        return self

    def check_latent_tile(self, multiple: int = 1) -> None:
        """Validate the latent tile options once, at construction (``multiple``: the patch size)."""
        tile, overlap = self.latent_tile, self.latent_tile_overlap
        if tile is not None and (tile % multiple or overlap % multiple or not 0 <= overlap < tile):
            valid = ", ".join(str(multiple * k) for k in range(1, 5))
            raise UserError(
                f"{self.method_name}: latent_tile and latent_tile_overlap must be multiples of the patch "
                f"size {multiple} ({valid}, ...) with 0 <= latent_tile_overlap < latent_tile, got "
                f"latent_tile={tile}, latent_tile_overlap={overlap}"
            )

    def bundled_parts(self) -> dict[str, nn.Module]:
        """A self-contained export writes the codec (when it has weights) as the ``codec/`` subfolder."""
        has_weights = next(iter(self.codec.parameters()), None) is not None
        return {"codec_pretrained": self.codec} if has_weights else {}

    def cast_frozen(self, dtype: str | None) -> None:
        """Store the frozen floating-point parameters (codec, frozen backbone) in ``dtype``, e.g. 'bfloat16'
        under bf16 mixed precision (half the memory; autocast computes in bf16 anyway)."""
        if dtype is None:
            return
        target = getattr(torch, dtype)
        for p in self.parameters():
            if not p.requires_grad and p.is_floating_point():
                p.data = p.data.to(target)

    # ------------------------------------------------------------------ latents
    @torch.no_grad()
    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        """Frames ``(B, T, 3, H, W)`` in [0, 1] -> latent ``(B, C, T', H/f, W/f)``."""
        return self.codec.encode(frames.transpose(1, 2) * 2 - 1)

    def decode(self, latent: torch.Tensor, num_frames: int | None = None) -> torch.Tensor:
        """Latent ``(B, C, T', h, w)`` -> frames ``(B, T, 3, f*h, f*w)`` in [0, 1], the first ``num_frames``."""
        x = self.codec.decode(latent).transpose(1, 2)[:, :num_frames]
        return ((x.float() + 1) / 2).clamp(0, 1)

    def pad_frames(self, x: torch.Tensor) -> torch.Tensor:
        """Repeat the last frame so the codec's temporal compression fits (``1 + k * factor`` frames)."""
        return pad_frames(x, self.codec.temporal_factor)

    def pad_space(self, x: torch.Tensor) -> torch.Tensor:
        """Replicate edges up to :attr:`size_multiple`."""
        return pad_space(x, self.size_multiple)

    def bicubic_latent(self, lr: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
        """Codec latent of the MATLAB-bicubic upsampled LR frames (x ``scale``, or to ``size``)."""
        kw = {"size": tuple(size)} if size is not None else {"scale": self.scale}
        up = imresize(lr.float(), **kw)
        return self.encode((up.clamp(0, 1) if self.clamp_bicubic else up).to(lr.dtype))

    def to_diffusion(self, latent: torch.Tensor, reference: torch.Tensor | None) -> torch.Tensor:
        """Codec latent -> diffused variable (the residual over ``reference`` when ``residual``)."""
        return (latent - reference if self.residual else latent) * self.latent_scale

    def from_diffusion(self, d: torch.Tensor, reference: torch.Tensor | None) -> torch.Tensor:
        """Inverse of :meth:`to_diffusion`."""
        latent = d / self.latent_scale
        return latent + reference if self.residual else latent

    def tiled(self, fn: Callable[..., torch.Tensor], *inputs: torch.Tensor) -> torch.Tensor:
        """:func:`run_tiles` with this model's latent tile options (``fn(origins, *crops)``)."""
        return run_tiles(fn, inputs, self.latent_tile, self.latent_tile_overlap, self.latent_tile_batch)

    # ------------------------------------------------------------------ the pipeline
    def condition(self, lr: torch.Tensor) -> Conditioning:
        """Padded LR frames ``(B, T, 3, h, w)`` -> what the sampler and the denoiser read."""
        raise NotImplementedError

    def denoise(self, x: torch.Tensor, t: torch.Tensor, cond: Conditioning) -> torch.Tensor:
        """The model output at the sampler state ``x`` and model time ``t`` ``(B,)``."""
        raise NotImplementedError

    def inference_scheduler(self, num_inference_steps: int):
        """The diffusers scheduler whose steps the sampling loop runs."""
        raise NotImplementedError

    def step(
        self, lr: torch.Tensor, state: Any = None, num_inference_steps: int | None = None
    ) -> tuple[torch.Tensor, Any]:
        """LR frames ``(B, T, 3, h, w)`` in [0, 1] -> ``(SR frames, state)``: pad once -> condition ->
        sample -> decode -> crop. ``num_inference_steps`` overrides the configured step count."""
        if lr.dim() != 5 or lr.shape[2] != 3:
            raise UserError(f"{self.method_name} expects LR frames (B, T, 3, h, w), got {tuple(lr.shape)}")
        frames, (h, w) = lr.shape[1], lr.shape[-2:]
        cond = self.condition(self.pad_frames(self.pad_space(lr)))
        latent, state = self.sample(cond, state, num_inference_steps)
        return self.crop(self.decode(latent, frames), h, w), state

    def forward(self, lr: torch.Tensor, num_inference_steps: int | None = None) -> torch.Tensor:
        """SR frames of ``lr`` from a fresh state (a new video)."""
        return self.step(lr, None, num_inference_steps)[0]

    def crop(self, sr: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """The output frames of an ``h x w`` LR input (padding removed)."""
        return sr[..., : self.scale * h, : self.scale * w]

    @torch.no_grad()
    def sample(
        self, cond: Conditioning, state: Any = None, num_inference_steps: int | None = None
    ) -> tuple[torch.Tensor, Any]:
        """The denoising loop -> ``(codec latent (B, C, T', h, w), state)``; stateless by default."""
        scheduler = self.inference_scheduler(num_inference_steps or self.num_inference_steps)
        x = self.prepare_latents(cond, scheduler)
        d = run_sampler(
            lambda x_t, t: self.denoise(x_t, t, cond), x, scheduler, learned_sigma=self.learned_sigma
        )
        return self.from_diffusion(d.to(cond.dtype), cond.reference), state

    def prepare_latents(self, cond: Conditioning, scheduler) -> torch.Tensor:
        """The sampler's first state: ``init_noise_scale * sigma_0 * noise`` (float32), plus
        ``alpha_0`` times the diffused ``cond.start`` when the schedule starts below pure noise."""
        alpha, sigma = noise_level(scheduler, 0)
        device = next(iter(cond.inputs.values())).device
        x = (sigma * self.init_noise_scale) * torch.randn(cond.shape, device=device, dtype=torch.float32)
        if cond.start is not None and alpha > 0:
            x = x + (alpha * self.latent_scale) * cond.start.float()
        return x

    # ------------------------------------------------------------------ training draws
    def training_timesteps(self, n: int, device=None) -> torch.Tensor:
        """``n`` flow times in [0, 1] from the ``timestep_sampler`` option."""
        return self.timesteps(n, device=device)

    def start_state_mask(self, n: int, device=None) -> torch.Tensor:
        """Which of ``n`` training samples sit at the sampler's first state (each with probability
        ``start_state_prob``): the state every inference run evaluates first, which plain diffusion
        training may never show (e.g. the noise mean when ``init_noise_scale = 0``)."""
        if self.start_state_prob <= 0:
            return torch.zeros(n, dtype=torch.bool, device=device)
        return torch.rand(n, device=device) < self.start_state_prob


def _codec_prefix(prefix: str) -> str:
    return f"{prefix}{CODEC_KEY}."


def _drop_codec_keys(module, state_dict, prefix, local_metadata):
    for key in [k for k in state_dict if k.startswith(_codec_prefix(prefix))]:
        del state_dict[key]
    return state_dict


def _drop_incoming_codec_keys(module, state_dict, prefix, *args):
    """Checkpoints written before the codec left ``state_dict`` still load (their codec keys are ignored)."""
    for key in [k for k in state_dict if k.startswith(_codec_prefix(prefix))]:
        del state_dict[key]


def _ignore_missing_codec_keys(module, incompatible_keys):
    missing = incompatible_keys.missing_keys
    missing[:] = [k for k in missing if f".{CODEC_KEY}." not in f".{k}"]


__all__ = [
    "Conditioning",
    "LatentVSRMethod",
    "build_codec",
    "hparam",
    "latent_tiles",
    "pad_frames",
    "pad_space",
    "run_tiles",
    "tile_weights",
]
