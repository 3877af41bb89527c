"""Attention memory cache: the long-range Attention Memory Cache (AMC) of LiftVSR (arXiv 2506.08529).

Paper: in each temporal layer the current segment queries a per-layer cache of earlier
segments by attention; the result is fused with the DTA output; then the cache is updated by an
adaptive aggregation of the current segment, so long videos stay coherent at a small cost.

From the paper's method figure (public repo kopperx/LiftVSR, ``assets/liftvsr_pipe.png``): the
cache is queried with the DTA *input* features, and its read-out is fused (added) to the DTA
output before the temporal branch's zero-initialised output linear.

reconstruction: the cache holds a fixed number of tokens (``num_tokens``), so memory is constant
however long the video is. A segment is summarised into that many tokens by learned queries
attending to its tokens; the update is a convex blend ``(1 - g) * old + g * summary`` with a
learned, input-dependent gate ``g = sigmoid(W [old, summary])``. The read-out is scaled by a
per-channel ``tanh(read_gate)`` that starts open (``read_gate_init``, 0.5 by default): the
enclosing branch's zero-initialised output linear already keeps the model equal to its prior
at initialisation, and an open gate lets the read path receive gradient from the first step (a
gate starting at zero, with the output linear also at zero, barely moves). The previous cache is
detached when blended (truncated back-propagation over one segment), so the autograd graph does
not grow with the video.

The cache is a value, not module state (issue 13): :meth:`AttentionMemoryCache.read` takes it and
:meth:`AttentionMemoryCache.update` returns the new one (``None`` = empty, the start of a video),
so the caller owns it (one per video, per spatial tile, per latent tile).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vsrzoo.errors import UserError

__all__ = ["AttentionMemoryCache"]


class CrossAttention(nn.Module):
    """Multi-head attention of ``x`` (B, N, C) over ``context`` (B, M, C) with SDPA."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True):
        super().__init__()
        self.num_heads = num_heads
        self.to_q = nn.Linear(dim, dim, bias=qkv_bias)
        self.to_kv = nn.Linear(dim, 2 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q = self.to_q(x).view(b, n, self.num_heads, -1).transpose(1, 2)
        k, v = self.to_kv(context).view(b, context.shape[1], 2, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class AttentionMemoryCache(nn.Module):
    """The parameters of a per-layer memory of ``num_tokens`` tokens: ``read`` and ``update`` a cache value.

    Args:
        dim: token width C; num_heads: attention heads of the read and the summary.
        num_tokens: cache size M (tokens per layer), constant over the video.
        detach_history: detach the previous cache when blending in a new segment.
        read_gate_init: initial value of the per-channel read gate (before ``tanh``).

    ``read(query_tokens, cache)``: (B, ..., C) and a cache (B, M, C) or None -> the gated read-out
    (B, ..., C), zeros for an empty cache (the caller adds it to the DTA output).
    ``update(tokens, cache)``: fold a segment's tokens (B, ..., C) into ``cache`` -> the new cache (B, M, C).
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        num_tokens: int = 64,
        detach_history: bool = True,
        read_gate_init: float = 0.5,
    ):
        super().__init__()
        self.num_tokens = num_tokens
        self.detach_history = detach_history
        self.norm_query = nn.LayerNorm(dim, eps=1e-6)
        self.norm_cache = nn.LayerNorm(dim, eps=1e-6)
        self.reader = CrossAttention(dim, num_heads)
        self.read_gate = nn.Parameter(torch.full((dim,), float(read_gate_init)))
        self.summary_queries = nn.Parameter(torch.randn(num_tokens, dim) * 0.02)
        self.norm_segment = nn.LayerNorm(dim, eps=1e-6)
        self.summarizer = CrossAttention(dim, num_heads)
        self.update_gate = nn.Linear(2 * dim, dim)

    @staticmethod
    def _check_batch(cache: torch.Tensor, batch: int) -> None:
        if cache.shape[0] != batch:
            raise UserError(
                f"memory cache holds batch size {cache.shape[0]} but got {batch}; "
                "start each video (and each tile) with its own cache"
            )

    def summarize(self, tokens: torch.Tensor) -> torch.Tensor:
        """Summary of a segment (B, N, C) as ``num_tokens`` tokens (B, M, C)."""
        queries = self.summary_queries.to(tokens.dtype).expand(tokens.shape[0], -1, -1)
        return queries + self.summarizer(queries, self.norm_segment(tokens))

    def read(self, query_tokens: torch.Tensor, cache: torch.Tensor | None) -> torch.Tensor:
        if cache is None:
            return torch.zeros_like(query_tokens)
        x = query_tokens.flatten(1, -2)
        self._check_batch(cache, x.shape[0])
        readout = self.reader(self.norm_query(x), self.norm_cache(cache.to(x.dtype)))
        return (torch.tanh(self.read_gate).to(x.dtype) * readout).view_as(query_tokens)

    def update(self, tokens: torch.Tensor, cache: torch.Tensor | None) -> torch.Tensor:
        summary = self.summarize(tokens.flatten(1, -2))
        if cache is None:
            return summary
        self._check_batch(cache, summary.shape[0])
        old = (cache.detach() if self.detach_history else cache).to(summary.dtype)
        gate = torch.sigmoid(self.update_gate(torch.cat([old, summary], dim=-1)))
        return (1 - gate) * old + gate * summary
