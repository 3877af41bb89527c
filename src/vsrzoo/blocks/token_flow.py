"""Token-flow attention: the Dynamic Temporal Attention (DTA) of LiftVSR (arXiv 2506.08529).

Paper: within a short segment (8 frames) a reference frame provides the queries of every head,
all frames provide keys and values. A flow estimation network reads the reference queries
concatenated with each frame's keys and predicts a 2-D token flow per head, per frame and per
token; keys and values are warped along it, and attention runs along time over the aligned
tokens at each position, followed by an FFN. The temporal branch's output passes a
zero-initialised linear layer, so a wrapped image DiT equals its prior at initialisation.

reconstruction: the flow network of each head is a 1x1 layer on the concatenated query and key
(evaluated as a query part plus a key part), then two 3x3 convolutions (grouped by head, the last
zero-initialised, so the initial flow is zero and DTA starts as plain temporal attention);
flows are in token units and unbounded; warping is bilinear with border padding; every frame of
the segment serves as reference in turn when ``ref_index`` is None; the layer is pre-norm
(LayerNorm) with a residual to the reference tokens before the FFN.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from vsrzoo.blocks.warp import flow_warp
from vsrzoo.errors import UserError

__all__ = ["TokenFlowAttention"]


class FeedForward(nn.Module):
    """Two-layer GELU MLP."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class TokenFlowAttention(nn.Module):
    """Flow-aligned temporal attention over a segment of token frames.

    Args:
        dim: token width C; num_heads: heads, each with its own flow.
        flow_hidden: channels per head inside the flow network; flow_kernel: its conv size.
        mlp_ratio: FFN width relative to ``dim``.
        attention: False drops the flow-aligned attention (no query/key/value, flow or attention
            parameters): each frame's tokens go to the FFN unchanged, a per-frame branch (the
            "without DTA" ablation, ours).

    ``forward(x, ref_index=None, flow=None, memory=None, cache=None)``: ``x`` (B, T, H, W, C).
    ``ref_index`` an int returns the residual of that frame (B, H, W, C); a sequence of R
    indices, or None for every frame, returns (B, R, H, W, C). ``flow`` overrides the predicted
    token flow: (B, R, T, 2, H, W) shared by the heads or (B, R, T, heads, 2, H, W), channel 0
    along W; frame t is sampled at ``p + flow`` to align it with the reference at ``p``.
    ``memory`` is an optional :class:`~vsrzoo.blocks.AttentionMemoryCache` whose ``cache`` is
    queried with the reference frames' input tokens and added after the attention and the FFN,
    before the zero-initialised output linear (LiftVSR's AMC fusion: the paper's figure fuses the
    cache read with the output of "Temporal Attention & FFN"). The residual is exactly zero at init.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        flow_hidden: int = 16,
        flow_kernel: int = 3,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        attention: bool = True,
    ):
        super().__init__()
        if dim % num_heads:
            raise UserError(f"dim {dim} must be divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.attention = attention
        if attention:
            self._build_attention(dim, num_heads, flow_hidden, flow_kernel, qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.ffn = FeedForward(dim, int(dim * mlp_ratio))
        self.out_proj = nn.Linear(dim, dim)
        nn.init.zeros_(self.out_proj.weight)
        nn.init.zeros_(self.out_proj.bias)

    def _build_attention(self, dim: int, num_heads: int, flow_hidden: int, flow_kernel: int, qkv_bias: bool):
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.to_q = nn.Linear(dim, dim, bias=qkv_bias)
        self.to_k = nn.Linear(dim, dim, bias=qkv_bias)
        self.to_v = nn.Linear(dim, dim, bias=qkv_bias)
        pad = flow_kernel // 2
        hidden = num_heads * flow_hidden
        # A 1x1 layer on [q_ref, k_t] splits into a q part and a k part: computed once per frame,
        # added per (reference, frame) pair, so the pair cost is only the small convolutions below.
        self.flow_q = nn.Conv2d(dim, hidden, 1, groups=num_heads)
        self.flow_k = nn.Conv2d(dim, hidden, 1, groups=num_heads, bias=False)
        self.flow_net = nn.Sequential(
            nn.GELU(),
            nn.Conv2d(hidden, hidden, flow_kernel, padding=pad, groups=num_heads),
            nn.GELU(),
            nn.Conv2d(hidden, num_heads * 2, flow_kernel, padding=pad, groups=num_heads),
        )
        self.attn_proj = nn.Linear(dim, dim)
        nn.init.zeros_(self.flow_net[-1].weight)
        nn.init.zeros_(self.flow_net[-1].bias)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(-1, (self.num_heads, self.head_dim))

    @staticmethod
    def reference_indices(ref_index: int | Sequence[int] | None, num_frames: int) -> list[int]:
        if ref_index is None:
            return list(range(num_frames))
        refs = [int(ref_index)] if isinstance(ref_index, int) else [int(r) for r in ref_index]
        if not refs or any(not -num_frames <= r < num_frames for r in refs):
            raise UserError(
                f"reference frame index {ref_index} is out of range for a {num_frames}-frame segment"
            )
        return [r % num_frames for r in refs]

    @staticmethod
    def frames_at(x: torch.Tensor, refs: list[int]) -> torch.Tensor:
        """``x[:, refs]``, without a copy when ``refs`` is every frame in order (the default)."""
        return x if refs == list(range(x.shape[1])) else x[:, refs]

    def predict_flow(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """Token flow per head (B, R, T, heads, 2, H, W) from q (B, R, H, W, h, d) and k (B, T, H, W, h, d)."""
        b, r, h, w, nh, d = q.shape
        t = k.shape[1]
        fq = self.flow_q(q.reshape(b * r, h, w, nh * d).permute(0, 3, 1, 2)).view(b, r, 1, -1, h, w)
        fk = self.flow_k(k.reshape(b * t, h, w, nh * d).permute(0, 3, 1, 2)).view(b, 1, t, -1, h, w)
        pair = (fq + fk).view(b * r * t, -1, h, w)
        return self.flow_net(pair).view(b, r, t, nh, 2, h, w)

    def keys_values(self, normed: torch.Tensor) -> torch.Tensor:
        """Keys and values of every frame (B, T, H, W, C) -> (B, T, h, 2d, H, W): each head's keys then
        its values as one channels-first image, the layout the warp samples.

        One batched product per frame reads the tokens as they are and writes that layout directly
        (``to_k`` and ``to_v`` stacked head by head), where projecting channels-last would need a
        concatenation and a transposing copy of both before the warp.
        """
        b, t, h, w, c = normed.shape
        nh, d = self.num_heads, self.head_dim
        weight = torch.stack([self.to_k.weight.view(nh, d, c), self.to_v.weight.view(nh, d, c)], dim=1)
        weight = weight.view(1, 2 * c, c).expand(b * t, -1, -1)
        tokens = normed.reshape(b * t, h * w, c).transpose(1, 2)
        if self.to_k.bias is None:
            kv = torch.bmm(weight, tokens)
        else:  # the bias as baddbmm's input: written once under the product, not added in a second pass
            bias = torch.stack([self.to_k.bias.view(nh, d), self.to_v.bias.view(nh, d)], dim=1)
            kv = torch.baddbmm(bias.view(1, 2 * c, 1).expand(b * t, -1, h * w), weight, tokens)
        return kv.view(b, t, nh, 2 * d, h, w)

    def warp_tokens(self, frames: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        """Align channels-first frames (B, T, h, c, H, W) to each reference along flow (B, R, T, h, 2, H, W)
        -> (B, R, T, h, c, H, W)."""
        b, t, nh, c, h, w = frames.shape
        r = flow.shape[1]
        # every reference's flow of a (frame, head) in one call: (b, t, nh) images, r flows each
        flows = flow.permute(0, 2, 3, 1, 4, 5, 6).reshape(b * t * nh, r, 2, h, w).to(frames.dtype)
        warped = flow_warp(frames.reshape(b * t * nh, c, h, w), flows)  # (b*t*nh, r, c, h, w)
        return warped.unflatten(0, (b, t, nh)).permute(0, 3, 1, 2, 4, 5, 6)

    def _expand_flow(self, flow: torch.Tensor, shape: tuple) -> torch.Tensor:
        b, r, t, h, w = shape
        if flow.dim() == 6:
            flow = flow.unsqueeze(3).expand(-1, -1, -1, self.num_heads, -1, -1, -1)
        if tuple(flow.shape) != (b, r, t, self.num_heads, 2, h, w):
            raise UserError(
                f"flow must be (B, R, T, 2, H, W) or (B, R, T, heads, 2, H, W) = {(b, r, t, self.num_heads, 2, h, w)}, "
                f"got {tuple(flow.shape)}"
            )
        return flow

    def inputs(
        self, x: torch.Tensor, refs: list[int], flow: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """What the warp and the attention read: reference queries (B, R, H, W, h, d), every frame's
        keys and values before alignment (B, T, h, 2d, H, W) and the flow (B, R, T, h, 2, H, W)."""
        if x.dim() != 5:
            raise UserError(f"TokenFlowAttention expects tokens (B, T, H, W, C), got {tuple(x.shape)}")
        b, t, h, w, _ = x.shape
        normed = self.norm1(x)
        q = self._split(self.to_q(self.frames_at(normed, refs)))
        kv = self.keys_values(normed)
        if flow is None:
            flow = self.predict_flow(q, kv[:, :, :, : self.head_dim].permute(0, 1, 4, 5, 2, 3))
        else:
            flow = self._expand_flow(flow, (b, len(refs), t, h, w))
        return q, kv, flow

    def align(
        self, x: torch.Tensor, ref_index: int | Sequence[int] | None = None, flow: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reference queries and aligned keys/values of every frame, all heads at once.

        Returns q (B, R, H, W, h, d), k and v aligned (B, R, T, h, d, H, W), and the flow used.
        """
        q, kv, flow = self.inputs(x, self.reference_indices(ref_index, x.shape[1]), flow)
        k, v = self.warp_tokens(kv, flow).chunk(2, dim=4)
        return q, k, v, flow

    def attend(
        self, x: torch.Tensor, ref_index: int | Sequence[int] | None = None, flow: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Reference tokens plus flow-aligned temporal attention, (B, R, H, W, C).

        Aligned head by head: the aligned keys and values of every head together are R times the
        size of the segment's keys and values (37.7 MB for the tiny LiftVSR's 3 tiles of 4 frames of
        32x32 tokens: above the 32 MB cap of glibc's mmap threshold, so every call mapped and
        faulted in fresh pages; 604 MB for 8 frames of 32x32 tokens at PixArt-XL's width), one
        head's are 1/h of that.
        """
        refs = self.reference_indices(ref_index, x.shape[1])
        if not self.attention:
            return self.frames_at(x, refs)
        q, kv, flow = self.inputs(x, refs, flow)
        heads = []
        for i in range(self.num_heads):
            k, v = self.warp_tokens(kv[:, :, i : i + 1], flow[:, :, :, i : i + 1]).chunk(2, dim=4)
            heads.append(self.temporal_attention(q[:, :, :, :, i : i + 1], k, v))
        out = torch.cat(heads, dim=2)  # (B, R, C, H, W)
        b, r, c, h, w = out.shape
        # reference tokens + attn_proj(out) in one batched product that reads out channels-first
        residual = self.frames_at(x, refs).reshape(b * r, h * w, c) + self.attn_proj.bias
        # out of place: torch's FlopCounterMode has no entry for the in-place baddbmm_ (speed.py's MFU)
        projected = torch.baddbmm(
            residual, out.view(b * r, c, h * w).mT, self.attn_proj.weight.t().expand(b * r, c, c)
        )
        return projected.view(b, r, h, w, c)

    @staticmethod
    def temporal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Softmax attention of each reference token over its T aligned tokens -> (B, R, C, H, W).

        q (B, R, H, W, h, d); k, v (B, R, T, h, d, H, W) as the warp leaves them. Each problem is one
        query against T (a handful of) keys, so it is computed as T dot products and T weighted
        sums along the contiguous H*W axis: an SDPA call would first copy every key and value into
        (problem, T, d) order; copy and SDPA together took 4.9x (one run) to 7.2x (another) as long as
        this at the tiny LiftVSR's streaming shape (``python benchmarks/blocks.py``, its "DTA attention"
        row, 2 CPU threads). Same softmax(q.k / sqrt(d)) v, to float rounding.
        """
        t, d = k.shape[2], k.shape[4]
        q = (q * d**-0.5).permute(0, 1, 4, 5, 2, 3)  # (B, R, h, d, H, W), the keys' order
        scores = torch.stack([torch.linalg.vecdot(k[:, :, i], q, dim=3) for i in range(t)], dim=2)
        weights = scores.softmax(dim=2).unsqueeze(4)  # (B, R, T, h, 1, H, W)
        out = weights[:, :, 0] * v[:, :, 0]
        for i in range(1, t):
            out.addcmul_(weights[:, :, i], v[:, :, i])
        return out.flatten(2, 3)  # (B, R, h*d, H, W), channels-first as the keys

    def feed_forward(self, y: torch.Tensor) -> torch.Tensor:
        """The FFN after the attention, with its residual."""
        return y + self.ffn(self.norm2(y))

    def forward(
        self,
        x: torch.Tensor,
        ref_index: int | Sequence[int] | None = None,
        flow: torch.Tensor | None = None,
        memory: nn.Module | None = None,
        cache: torch.Tensor | None = None,
    ) -> torch.Tensor:
        y = self.feed_forward(self.attend(x, ref_index, flow))
        if memory is not None:
            y = y + memory.read(self.frames_at(x, self.reference_indices(ref_index, x.shape[1])), cache)
        out = self.out_proj(y)
        return out[:, 0] if isinstance(ref_index, int) else out
