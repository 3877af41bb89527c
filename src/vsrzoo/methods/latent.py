"""What the latent-diffusion methods share: a frozen codec, the residual latent space, padding and latent tiles.

LiftVSR (arXiv 2506.08529), LiteVSR (arXiv 2606.09250) and SimpleGVR (arXiv 2506.19838) all
diffuse in the latent space of a fixed codec (a VAE, or the parameter-free pixel-unshuffle at
tiny scale) and condition on the LR video. :class:`LatentVSRMethod` holds that plumbing once:

* the codec (:meth:`LatentVSRMethod.set_codec`): a registered submodule, so ``.to()`` moves it
  with the model; frozen and kept in eval mode; left out of ``state_dict`` (checkpoints hold the
  trained weights only; the codec is rebuilt from the config or ``codec_pretrained``);
* ``encode`` / ``decode`` between frames ``(B, T, 3, H, W)`` in [0, 1] and the codec's latent
  ``(B, C, T', h, w)``; padding in space (edge replication) and in time (the last frame repeated
  until ``T = 1 + k * temporal_factor``, the Wan VAE's clip lengths);
* bicubic conditioning: the latent of the MATLAB-bicubic upsampled LR (reconstruction: it lies on
  the HR latent grid); ``residual=True`` diffuses ``latent_scale * (z_HR - z_bicubic)``
  (reconstruction, used by the tiny variants so a small model learns only what bicubic misses);
* latent tiles at inference (:func:`run_tiles`): overlapping tiles folded into the batch and
  blended with one linear cross-fade (:func:`tile_weights`), the weighted average of
  MultiDiffusion (arXiv 2302.08113); the tile size and overlap are constructor arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from vsrzoo.backbones import create_backbone
from vsrzoo.backbones.vae import Codec
from vsrzoo.data.resize import imresize
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

    ``fn(group, *crops)`` gets the index of the tile group and the crops of each input for up to
    ``tiles_per_call`` tiles concatenated along the batch, and returns their outputs stacked the
    same way. The result (float32) is the weighted average of all tiles at every position.
    """
    h, w = inputs[0].shape[-2:]
    tiles = latent_tiles(h, w, tile, overlap)
    out = total = None
    for group, first in enumerate(range(0, len(tiles), tiles_per_call)):
        chunk = tiles[first : first + tiles_per_call]
        crops = [torch.cat([x[..., y : y + th, c : c + tw] for y, c, th, tw in chunk]) for x in inputs]
        result = fn(group, *crops).float()
        b = result.shape[0] // len(chunk)
        if out is None:
            out, total = result.new_zeros(b, *result.shape[1:-2], h, w), result.new_zeros(h, w)
        for i, (y, x, th, tw) in enumerate(chunk):
            weight = tile_weights(y, th, h, overlap)[:, None] * tile_weights(x, tw, w, overlap)[None, :]
            weight = weight.to(result.device)
            out[..., y : y + th, x : x + tw] += weight * result[i * b : (i + 1) * b]
            total[y : y + th, x : x + tw] += weight
    return out / total


class LatentVSRMethod(VSRMethod):
    """Base of the latent-diffusion methods: frozen codec, residual latent space, padding, latent tiles.

    Subclasses call :meth:`set_codec` in ``__init__`` and set ``residual``, ``latent_scale``,
    ``latent_tile``, ``latent_tile_overlap`` and ``latent_tile_batch`` (their constructor arguments).
    """

    residual: bool = False
    """Diffuse ``latent_scale * (z_HR - z_bicubic)`` instead of ``latent_scale * z_HR`` (reconstruction)."""
    latent_scale: float = 1.0
    """Factor on the diffused latent (unit variance for a small residual, like a VAE's scaling factor)."""
    latent_tile: int | None = None
    """Latent tile side at inference (None: whole frames), so attention cost stays bounded."""
    latent_tile_overlap: int = 8
    """Latents shared by neighbouring tiles, cross-faded linearly."""
    latent_tile_batch: int = 16
    """Tiles denoised together (folded into the batch)."""
    clamp_bicubic: bool = True
    """Clamp the bicubic upsample to [0, 1] before encoding it (a method's trained weights fix this)."""

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
            from vsrzoo.errors import UserError

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

    def pad_space(self, x: torch.Tensor, multiple: int | None = None) -> torch.Tensor:
        """Replicate edges up to ``multiple`` (default: the model's ``size_multiple``)."""
        return pad_space(x, multiple or self.size_multiple)

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
        """:func:`run_tiles` with this model's latent tile options."""
        return run_tiles(fn, inputs, self.latent_tile, self.latent_tile_overlap, self.latent_tile_batch)


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
    "LatentVSRMethod",
    "build_codec",
    "latent_tiles",
    "pad_frames",
    "pad_space",
    "run_tiles",
    "tile_weights",
]
