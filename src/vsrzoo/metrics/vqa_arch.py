"""Networks of the DOVER / FAST-VQA family of video quality models, written from the papers and
the public reference code (github.com/VQAssessment/DOVER, github.com/VQAssessment/FAST-VQA-and-FasterVQA,
read, not copied) so that the official checkpoints load with strict key matching.

- :class:`SwinTransformer3D`: Video Swin-T (Liu et al., "Video Swin Transformer", CVPR 2022) with
  FAST-VQA's gated relative position bias (GRPB, Wu et al., "FAST-VQA", ECCV 2022, arXiv
  2207.02595): inside a window, token pairs from the same 32x32 fragment use a second bias table.
  The reference gate is ``|fragment offset|_1`` (0 within a fragment, 1, 2, ... across), and the
  bias is ``table * gate + fragment_table * (1 - gate)``; reproduced as written, since the weights
  were trained with it.
- :class:`ConvNeXt3D`: ConvNeXt-T (Liu et al., CVPR 2022) inflated to 3D as in DOVER (arXiv
  2211.04894): a (2, 4, 4) stem, (1, 2, 2) downsampling, depthwise kernels (k, 7, 7) with k
  cycling 1, 3, 1 over the blocks of a stage.
- :class:`VQAHead`: the per-position MLP (1x1x1 convolutions 768 -> 64 -> 1, GELU) whose outputs
  are averaged into the score.

Module and parameter names follow the reference code, because they are the checkpoint's keys.
"""

from __future__ import annotations

from functools import lru_cache
from math import prod

import torch
import torch.nn.functional as F
from einops import rearrange
from timm.layers import Mlp, trunc_normal_
from torch import nn

__all__ = ["ConvNeXt3D", "SwinTransformer3D", "VQAHead"]


# ------------------------------------------------------------------------------ Swin-T 3D


def _windows(x: torch.Tensor, window: tuple[int, int, int]) -> torch.Tensor:
    """(B, D, H, W, C) -> (B * windows, tokens per window, C)."""
    d, h, w = window
    return rearrange(x, "b (nd d) (nh h) (nw w) c -> (b nd nh nw) (d h w) c", d=d, h=h, w=w)


def _unwindows(x: torch.Tensor, window, b: int, size) -> torch.Tensor:
    d, h, w = window
    nd, nh, nw = (s // k for s, k in zip(size, window))
    return rearrange(
        x, "(b nd nh nw) (d h w) c -> b (nd d) (nh h) (nw w) c", b=b, nd=nd, nh=nh, nw=nw, d=d, h=h, w=w
    )


def _fit_window(size, window, shift):
    """Window and shift clipped to the feature size (a window covers a dimension it exceeds)."""
    win = tuple(s if s <= k else k for s, k in zip(size, window))
    sh = tuple(0 if s <= k else t for s, k, t in zip(size, window, shift))
    return win, sh


def _relative_index(window: tuple[int, int, int]) -> torch.Tensor:
    """Index of each (query, key) token pair of a window into the relative bias table."""
    coords = torch.stack(torch.meshgrid(*(torch.arange(k) for k in window), indexing="ij")).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + torch.tensor(window) - 1
    d, h, w = window
    return rel[..., 0] * (2 * h - 1) * (2 * w - 1) + rel[..., 1] * (2 * w - 1) + rel[..., 2]


@lru_cache(maxsize=32)
def _shift_mask(size, window, shift, device) -> torch.Tensor:
    """(windows, N, N) additive mask (0 / -100) separating the regions a cyclic shift brings together."""
    region = torch.zeros(1, *size, 1, device=device)
    label = 0
    spans = [(slice(-k), slice(-k, -s), slice(-s, None)) for k, s in zip(window, shift)]
    for sd in spans[0]:
        for sh in spans[1]:
            for sw in spans[2]:
                region[:, sd, sh, sw, :] = label
                label += 1
    ids = _windows(region, window).squeeze(-1)
    diff = ids[:, None, :] - ids[:, :, None]
    return diff.masked_fill(diff != 0, -100.0).masked_fill(diff == 0, 0.0)


@lru_cache(maxsize=32)
def _fragment_gate(size, window, shift, device) -> torch.Tensor:
    """(windows, N, N) L1 distance between the fragments of two tokens of a window.

    The fragment grid has as many cells per side as the window has tokens (7: the 7x7 fragments of
    a 224x224 view) and one in time; cells are assigned by nearest-neighbour resizing, then shifted
    with the tokens."""
    grid = torch.stack(
        torch.meshgrid(torch.arange(1), torch.arange(window[1]), torch.arange(window[2]), indexing="ij")
    ).float()
    cells = F.interpolate(grid[None].to(device), size=size).long().permute(0, 2, 3, 4, 1)
    cells = torch.roll(cells, shifts=tuple(-s for s in shift), dims=(1, 2, 3))
    cw = _windows(cells, window)
    return (cw[:, None, :] - cw[:, :, None]).abs().sum(-1)


class WindowAttention3D(nn.Module):
    """Multi-head self-attention inside 3D windows with relative position bias (and GRPB)."""

    def __init__(self, dim: int, window, num_heads: int, frag_bias: bool):
        super().__init__()
        self.window, self.num_heads = tuple(window), num_heads
        size = prod(2 * k - 1 for k in window)
        self.relative_position_bias_table = nn.Parameter(torch.zeros(size, num_heads))
        if frag_bias:
            self.fragment_position_bias_table = nn.Parameter(torch.zeros(size, num_heads))
        self.register_buffer("relative_position_index", _relative_index(self.window))  # in the file
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        trunc_normal_(self.relative_position_bias_table, std=0.02)

    def _bias(self, n: int, gate: torch.Tensor) -> torch.Tensor:
        # the reference takes the first n indices when the window was clipped
        index = self.relative_position_index[:n, :n].reshape(-1)
        bias = self.relative_position_bias_table[index].reshape(n, n, -1).permute(2, 0, 1)[None]
        if hasattr(self, "fragment_position_bias_table"):
            frag = self.fragment_position_bias_table[index].reshape(n, n, -1).permute(2, 0, 1)
            g = gate[:, None].to(bias.dtype)
            bias = bias * g + frag * (1 - g)
        return bias  # (windows or 1, heads, n, n)

    def forward(self, x: torch.Tensor, gate: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        nw, n = gate.shape[0], x.shape[1]
        q, k, v = rearrange(self.qkv(x), "(b w) n (t h e) -> t b w h n e", w=nw, t=3, h=self.num_heads)
        bias = self._bias(n, gate)
        if mask is not None:
            bias = bias + mask[:, None]
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype))
        return self.proj(rearrange(out, "b w h n e -> (b w) n (h e)"))


class SwinBlock3D(nn.Module):
    def __init__(self, dim: int, num_heads: int, window, shift, frag_bias: bool):
        super().__init__()
        self.window, self.shift = tuple(window), tuple(shift)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention3D(dim, window, num_heads, frag_bias)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, 4 * dim)

    def _attend(self, x: torch.Tensor, window, shift) -> torch.Tensor:
        b, d, h, w, _ = x.shape
        pads = [(k - s % k) % k for s, k in zip((d, h, w), window)]
        x = F.pad(self.norm1(x), (0, 0, 0, pads[2], 0, pads[1], 0, pads[0]))
        size = tuple(x.shape[1:4])
        shifted = any(shift)
        if shifted:
            x = torch.roll(x, shifts=tuple(-s for s in shift), dims=(1, 2, 3))
        gate = _fragment_gate(size, window, shift, x.device)
        mask = _shift_mask(size, window, shift, x.device) if shifted else None
        y = _unwindows(self.attn(_windows(x, window), gate, mask), window, b, size)
        if shifted:
            y = torch.roll(y, shifts=shift, dims=(1, 2, 3))
        return y[:, :d, :h, :w]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        window, shift = _fit_window(x.shape[1:4], self.window, self.shift)
        x = x + self._attend(x, window, shift)
        return x + self.mlp(self.norm2(x))


class PatchMerging(nn.Module):
    """2x2 spatial token merge: LayerNorm(4C) then a linear map to 2C."""

    def __init__(self, dim: int):
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2:4]
        x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
        x = torch.cat(
            [x[:, :, 0::2, 0::2], x[:, :, 1::2, 0::2], x[:, :, 0::2, 1::2], x[:, :, 1::2, 1::2]], -1
        )
        return self.reduction(self.norm(x))


class SwinStage(nn.Module):
    def __init__(self, dim, depth, num_heads, window, frag_bias, downsample: bool):
        super().__init__()
        half = tuple(k // 2 for k in window)
        self.blocks = nn.ModuleList(
            SwinBlock3D(dim, num_heads, window, (0, 0, 0) if i % 2 == 0 else half, frag_bias)
            for i in range(depth)
        )
        self.downsample = PatchMerging(dim) if downsample else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, D, H, W, C)
        for block in self.blocks:
            x = block(x)
        return self.downsample(x) if self.downsample is not None else x


class PatchEmbed3D(nn.Module):
    def __init__(self, patch=(2, 4, 4), dim: int = 96):
        super().__init__()
        self.patch = patch
        self.proj = nn.Conv3d(3, dim, kernel_size=patch, stride=patch)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, T, H, W) -> (B, D, H, W, C)
        pads = [(p - s % p) % p for s, p in zip(x.shape[2:], self.patch)]
        x = self.proj(F.pad(x, (0, pads[2], 0, pads[1], 0, pads[0])))
        return self.norm(rearrange(x, "b c d h w -> b d h w c"))


class SwinTransformer3D(nn.Module):
    """Video Swin-T with GRPB, FAST-VQA's ``swin_tiny_grpb``: patches (2, 4, 4), windows (8, 7, 7),
    fragment bias tables in the first three stages. Returns (B, 768, T/2, H/32, W/32)."""

    def __init__(
        self,
        embed_dim: int = 96,
        depths=(2, 2, 6, 2),
        num_heads=(3, 6, 12, 24),
        window=(8, 7, 7),
        frag_biases=(True, True, True, False),
    ):
        super().__init__()
        self.patch_embed = PatchEmbed3D((2, 4, 4), embed_dim)
        self.layers = nn.ModuleList(
            SwinStage(embed_dim * 2**i, d, h, window, fb, i < len(depths) - 1)
            for i, (d, h, fb) in enumerate(zip(depths, num_heads, frag_biases))
        )
        self.norm = nn.LayerNorm(embed_dim * 2 ** (len(depths) - 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)
        for layer in self.layers:
            x = layer(x)
        return rearrange(self.norm(x), "b d h w c -> b c d h w")


# --------------------------------------------------------------------------- ConvNeXt-T 3D


class ChannelsFirstNorm(nn.LayerNorm):
    """LayerNorm over dim 1 of (B, C, T, H, W) (ConvNeXt's 'channels_first' LayerNorm)."""

    def __init__(self, dim: int):
        super().__init__(dim, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.movedim(1, -1)).movedim(-1, 1)


class ConvNeXtBlock3D(nn.Module):
    def __init__(self, dim: int, t_kernel: int):
        super().__init__()
        self.dwconv = nn.Conv3d(dim, dim, (t_kernel, 7, 7), padding=(t_kernel // 2, 3, 3), groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), 1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).movedim(1, -1)
        y = self.gamma * self.pwconv2(self.act(self.pwconv1(self.norm(y))))
        return x + y.movedim(-1, 1)


class ConvNeXt3D(nn.Module):
    """ConvNeXt-T inflated to 3D (DOVER's ``conv_tiny``); returns normed (B, 768, T/2, H/32, W/32)."""

    def __init__(self, depths=(3, 3, 9, 3), dims=(96, 192, 384, 768), inflate: str = "131"):
        super().__init__()
        stem = nn.Sequential(nn.Conv3d(3, dims[0], (2, 4, 4), stride=(2, 4, 4)), ChannelsFirstNorm(dims[0]))
        self.downsample_layers = nn.ModuleList([stem])
        for i in range(len(dims) - 1):
            self.downsample_layers.append(
                nn.Sequential(
                    ChannelsFirstNorm(dims[i]), nn.Conv3d(dims[i], dims[i + 1], (1, 2, 2), stride=(1, 2, 2))
                )
            )
        self.stages = nn.ModuleList(
            nn.Sequential(*(ConvNeXtBlock3D(dim, int(inflate[j % len(inflate)])) for j in range(depth)))
            for depth, dim in zip(depths, dims)
        )
        self.norm = nn.LayerNorm(dims[-1], eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for down, stage in zip(self.downsample_layers, self.stages):
            x = stage(down(x))
        return self.norm(x.movedim(1, -1)).movedim(-1, 1)


# ---------------------------------------------------------------------------------- head


class VQAHead(nn.Module):
    """Per-position quality regression (1x1x1 convolutions, GELU); the caller averages the map."""

    def __init__(self, in_channels: int = 768, hidden_channels: int = 64):
        super().__init__()
        self.fc_hid = nn.Conv3d(in_channels, hidden_channels, 1)
        self.fc_last = nn.Conv3d(hidden_channels, 1, 1)
        self.gelu = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc_last(self.gelu(self.fc_hid(x)))
