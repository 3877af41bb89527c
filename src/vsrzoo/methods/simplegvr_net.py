"""Networks of SimpleGVR (Xie et al., arXiv 2506.19838, ICLR 2026): latent upsampler and the video DiT.

SimpleGVR is the second stage of a latent-cascaded text-to-video model: it takes the base model's
low-resolution latent to the high-resolution latent directly, without decoding and re-encoding.

* :class:`LatentUpsampler` (paper): 3D conv blocks on the LR latent, bilinear upsampling to the
  HR latent size, 3D conv blocks; its output is concatenated with the noisy HR latent along
  channels. reconstruction: the blocks are pre-activation residual blocks
  (GroupNorm, SiLU, 3x3x3 conv, twice); widths and depths are constructor arguments.
* :class:`SimpleGVRAttnProcessor`: the self-attention of every DiT block is restricted to
  interleaved temporal units of 5 latent frames (shifted by half a unit on odd layers) and made
  block-sparse (:func:`vsrzoo.blocks.sparse_local_attention`, 12x9 token blocks, top-k = 1). It
  is a diffusers attention processor, so the DiT keeps its parameter names and a pretrained Wan
  checkpoint loads unchanged; ``sparse=False`` keeps the temporal units with dense attention.
* :class:`SimpleGVRNet`: the diffusers ``WanTransformer3DModel`` (reconstruction: an open
  Wan2.1-T2V-1.3B-class DiT stands in for the paper's unpublished internal 1B T2V DiT) with its
  input widened to ``latent + condition`` channels, fed the rectified-flow time ``t * 1000``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vsrzoo.backbones.common import enable_gradient_checkpointing, get_blocks, set_attention_processor
from vsrzoo.backbones.text import CaptionEmbedding
from vsrzoo.blocks import dense_local_attention, interleaved_temporal_windows, sparse_local_attention

__all__ = ["GridContext", "LatentUpsampler", "ResBlock3d", "SimpleGVRAttnProcessor", "SimpleGVRNet"]


def _groups(channels: int, groups: int) -> int:
    while channels % groups:
        groups -= 1
    return groups


class ResBlock3d(nn.Module):
    """Pre-activation residual block of two 3x3x3 convolutions (reconstruction of the paper's '3D conv blocks')."""

    def __init__(self, channels: int, groups: int = 8):
        super().__init__()
        g = _groups(channels, groups)
        self.norm1 = nn.GroupNorm(g, channels)
        self.conv1 = nn.Conv3d(channels, channels, 3, padding=1)
        self.norm2 = nn.GroupNorm(g, channels)
        self.conv2 = nn.Conv3d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        return x + self.conv2(F.silu(self.norm2(h)))


class LatentUpsampler(nn.Module):
    """LR latent ``(B, C, T, h, w)`` -> condition ``(B, out, T, H, W)``: conv blocks, bilinear, conv blocks.

    Args:
        in_channels: LR latent channels; out_channels: condition channels concatenated to the DiT input.
        hidden: width of the conv blocks; blocks_before / blocks_after: residual blocks at LR / HR size.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        hidden: int = 64,
        blocks_before: int = 1,
        blocks_after: int = 1,
        groups: int = 8,
    ):
        super().__init__()
        self.conv_in = nn.Conv3d(in_channels, hidden, 3, padding=1)
        self.before = nn.Sequential(*[ResBlock3d(hidden, groups) for _ in range(blocks_before)])
        self.after = nn.Sequential(*[ResBlock3d(hidden, groups) for _ in range(blocks_after)])
        self.norm_out = nn.GroupNorm(_groups(hidden, groups), hidden)
        self.conv_out = nn.Conv3d(hidden, out_channels, 3, padding=1)

    @staticmethod
    def bilinear(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Bilinear resize of every frame of ``(B, C, T, h, w)`` to ``size`` (time is untouched)."""
        b, c, t = x.shape[:3]
        frames = x.transpose(1, 2).flatten(0, 1)
        frames = F.interpolate(frames, size=tuple(size), mode="bilinear", align_corners=False)
        return frames.unflatten(0, (b, t)).transpose(1, 2)

    def forward(self, lr_latent: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        h = self.before(self.conv_in(lr_latent))
        h = self.after(self.bilinear(h, size))
        return self.conv_out(F.silu(self.norm_out(h)))


class GridContext:
    """The token grid ``(T, H, W)`` of the current DiT call, shared by its attention processors."""

    def __init__(self):
        self.grid: tuple[int, int, int] | None = None


class _RecordGrid:
    """Forward pre-hook of the DiT that stores its post-patch token grid in a :class:`GridContext`."""

    def __init__(self, context: GridContext):
        self.context = context

    def __call__(self, model: nn.Module, args: tuple, kwargs: dict) -> None:
        x = args[0] if args else kwargs["hidden_states"]
        pt, ph, pw = model.config.patch_size
        self.context.grid = (x.shape[2] // pt, x.shape[3] // ph, x.shape[4] // pw)


def _apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Wan's interleaved rotary embedding on ``(B, N, heads, d)`` (diffusers' WanAttnProcessor, in float32)."""
    x1, x2 = x.float().unflatten(-1, (-1, 2)).unbind(-1)
    cos, sin = (
        cos[..., 0::2].float(),
        sin[..., 1::2].float(),
    )  # float32, not diffusers' float64: 2x faster on CPU
    out = torch.empty_like(x, dtype=torch.float32)
    out[..., 0::2] = x1 * cos - x2 * sin
    out[..., 1::2] = x1 * sin + x2 * cos
    return out.type_as(x)


class SimpleGVRAttnProcessor:
    """Self-attention processor for a diffusers ``WanAttention``: temporal units + sparse local attention.

    Args:
        context: where the DiT's pre-hook left the token grid of the current call.
        temporal_window: latent frames per temporal unit (paper: 5), or None for the whole clip.
        shifted: shift the units by ``temporal_window // 2`` (paper: on alternate layers).
        sparse: block-sparse top-k attention (paper) or dense attention within the units.
        block_size: (height, width) of a token block (paper: 12x9, read as 9 tall by 12 wide).
        top_k: other blocks each block attends to (paper: 1).
        topk_scope: 'clip' (paper: picks from the whole clip, future frames included) or 'unit'.
    """

    def __init__(
        self,
        context: GridContext,
        temporal_window: int | None = 5,
        shifted: bool = False,
        sparse: bool = True,
        block_size: tuple[int, int] = (9, 12),
        top_k: int = 1,
        topk_scope: str = "clip",
    ):
        self.context = context
        self.temporal_window = temporal_window
        self.shifted = shifted
        self.sparse = sparse
        self.block_size = tuple(block_size)
        self.top_k = top_k
        self.topk_scope = topk_scope

    def _qkv(self, attn: nn.Module, x: torch.Tensor):
        if getattr(attn, "fused_projections", False):
            return attn.to_qkv(x).chunk(3, dim=-1)
        return attn.to_q(x), attn.to_k(x), attn.to_v(x)

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, rotary_emb=None):
        if encoder_hidden_states is not None:
            raise ValueError("SimpleGVRAttnProcessor is a self-attention processor (attn1 only)")
        grid = self.context.grid
        q, k, v = self._qkv(attn, hidden_states)
        q, k = attn.norm_q(q), attn.norm_k(k)
        q, k, v = (t.unflatten(2, (attn.heads, -1)) for t in (q, k, v))
        if rotary_emb is not None:
            q, k = _apply_rope(q, *rotary_emb), _apply_rope(k, *rotary_emb)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))
        units = None
        if self.temporal_window is not None:
            units = interleaved_temporal_windows(grid[0], self.temporal_window, self.shifted, "cpu")  # (T,)
        if self.sparse:
            out = sparse_local_attention(
                q, k, v, grid, self.block_size, self.top_k, units, topk_scope=self.topk_scope
            )
        else:
            out = dense_local_attention(q, k, v, grid, units)
        out = out.transpose(1, 2).flatten(2).type_as(q)
        return attn.to_out[1](attn.to_out[0](out))


class SimpleGVRNet(nn.Module):
    """Velocity network: ``v = DiT([z_t, upsampler(z_lr)], 1000 t, text)`` on the HR latent grid.

    Args:
        transformer: a diffusers ``WanTransformer3DModel`` whose ``in_channels`` equals
            ``latent_channels + cond_channels`` (widen a pretrained one first).
        latent_channels: channels of the HR latent; cond_channels: channels of the upsampler output.
        upsampler_hidden, upsampler_blocks: width and (before, after) residual blocks of the upsampler.
        temporal_window, shifted_windows, sparse_attention, block_size, top_k, topk_scope: the
            attention of every block (:class:`SimpleGVRAttnProcessor`); odd blocks use shifted units when
            ``shifted_windows``.
        null_text_tokens: tokens of the null prompt (zero caption embeddings; any count gives the
            same cross-attention output because the tokens are identical).
    """

    def __init__(
        self,
        transformer: nn.Module,
        latent_channels: int,
        cond_channels: int,
        upsampler_hidden: int = 64,
        upsampler_blocks: tuple[int, int] = (1, 1),
        temporal_window: int | None = 5,
        shifted_windows: bool = True,
        sparse_attention: bool = True,
        block_size: tuple[int, int] = (9, 12),
        top_k: int = 1,
        null_text_tokens: int = 1,
        topk_scope: str = "clip",
    ):
        super().__init__()
        expected = latent_channels + cond_channels
        if transformer.config.in_channels != expected:
            raise ValueError(
                f"transformer has {transformer.config.in_channels} input channels, expected {expected}"
            )
        self.transformer = transformer
        self.latent_channels = latent_channels
        self.upsampler = LatentUpsampler(latent_channels, cond_channels, upsampler_hidden, *upsampler_blocks)
        self.null_caption = CaptionEmbedding(transformer.config.text_dim, length=null_text_tokens)
        self.context = GridContext()
        transformer.register_forward_pre_hook(_RecordGrid(self.context), with_kwargs=True)
        self.set_attention(temporal_window, shifted_windows, sparse_attention, block_size, top_k, topk_scope)

    def set_attention(
        self,
        temporal_window: int | None = 5,
        shifted_windows: bool = True,
        sparse_attention: bool = True,
        block_size: tuple[int, int] = (9, 12),
        top_k: int = 1,
        topk_scope: str = "clip",
    ) -> None:
        """(Re)install the attention processors; switch sparse attention or windows on and off."""
        self.sparse_attention = sparse_attention

        def make(i: int, attn: nn.Module) -> SimpleGVRAttnProcessor:
            shifted = shifted_windows and i % 2 == 1
            return SimpleGVRAttnProcessor(
                self.context, temporal_window, shifted, sparse_attention, block_size, top_k, topk_scope
            )

        set_attention_processor(self.transformer, make, attn_name="attn1")

    @property
    def num_blocks(self) -> int:
        return len(get_blocks(self.transformer))

    def enable_gradient_checkpointing(self) -> None:
        """Recompute each DiT block in the backward pass (less memory, more time)."""
        enable_gradient_checkpointing(self.transformer)

    def null_text(self, batch: int, dtype: torch.dtype | None = None) -> torch.Tensor:
        """Zero caption embeddings ``(B, tokens, text_dim)``: the null prompt."""
        return self.null_caption(batch, dtype)[0]

    def condition(self, lr_latent: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """The latent upsampler's output at HR latent ``size``; compute once per clip, reuse every step."""
        return self.upsampler(lr_latent, tuple(int(s) for s in size))

    def forward(
        self,
        noisy: torch.Tensor,
        t: torch.Tensor,
        cond: torch.Tensor,
        text: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Velocity ``(B, C, T, H, W)`` of noisy HR latent ``noisy`` at flow time ``t`` ``(B,)`` in [0, 1].

        ``cond`` is :meth:`condition` of the (noise-augmented) LR latent; ``text`` caption
        embeddings ``(B, L, text_dim)`` or None for the null prompt.
        """
        b, _, t_len, h, w = noisy.shape
        x = torch.cat([noisy, cond.to(noisy.dtype)], dim=1)
        pt, ph, pw = self.transformer.config.patch_size
        pad = (0, -w % pw, 0, -h % ph, 0, -t_len % pt)
        if any(pad):
            x = F.pad(x, pad, mode="replicate")
        text = self.null_text(b, noisy.dtype) if text is None else text.to(noisy.dtype)
        t = t.expand(b)
        out = self.transformer(x, timestep=t * 1000.0, encoder_hidden_states=text, return_dict=False)[0]
        return out[:, :, :t_len, :h, :w]
