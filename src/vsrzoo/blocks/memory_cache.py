"""Attention memory cache: the long-range Attention Memory Cache (AMC) of LiftVSR (arXiv 2506.08529).

Paper: in each temporal layer the current segment queries a per-layer cache of earlier
segments by attention; the result is fused with the DTA output; then the cache is updated by an
adaptive aggregation of the current segment, so long videos stay coherent at a small cost.

reconstruction: the cache holds a fixed number of tokens (``num_tokens``), so memory is constant
however long the video is. A segment is summarised into that many tokens by learned queries
attending to its tokens; the update is a convex blend ``(1 - g) * old + g * summary`` with a
learned, input-dependent gate ``g = sigmoid(W [old, summary])``. The read-out is added to the
query tokens through a tanh gate that starts closed (zero), so at initialisation the fused
output equals the DTA output. The previous cache is detached when blended (truncated
back-propagation over one segment), so the autograd graph does not grow with the video.

The cache lives in a non-persistent buffer: it follows ``.to(device)``, stays out of
``state_dict``, and :meth:`reset` empties it (call it between videos).
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
    """A per-layer memory of ``num_tokens`` tokens: ``read``, ``update``, ``reset``.

    Args:
        dim: token width C; num_heads: attention heads of the read and the summary.
        num_tokens: cache size M (tokens per layer), constant over the video.
        detach_history: detach the previous cache when blending in a new segment.

    ``read(query_tokens)``: (B, ..., C) -> fused tokens of the same shape, the query plus the
    gated read-out (the query unchanged while the cache is empty). ``update(tokens)``: fold a
    segment's tokens (B, ..., C) into the cache (B, M, C).
    """

    def __init__(self, dim: int, num_heads: int, num_tokens: int = 64, detach_history: bool = True):
        super().__init__()
        self.num_tokens = num_tokens
        self.detach_history = detach_history
        self.norm_query = nn.LayerNorm(dim, eps=1e-6)
        self.norm_cache = nn.LayerNorm(dim, eps=1e-6)
        self.reader = CrossAttention(dim, num_heads)
        self.read_gate = nn.Parameter(torch.zeros(dim))
        self.summary_queries = nn.Parameter(torch.randn(num_tokens, dim) * 0.02)
        self.norm_segment = nn.LayerNorm(dim, eps=1e-6)
        self.summarizer = CrossAttention(dim, num_heads)
        self.update_gate = nn.Linear(2 * dim, dim)
        self.register_buffer("cache", None, persistent=False)

    @property
    def is_empty(self) -> bool:
        return self.cache is None

    def reset(self) -> None:
        """Forget every earlier segment (start of a new video)."""
        self.cache = None

    def _check_batch(self, batch: int) -> None:
        if self.cache.shape[0] != batch:
            raise UserError(
                f"memory cache holds batch size {self.cache.shape[0]} but got {batch}; call reset() between videos"
            )

    def summarize(self, tokens: torch.Tensor) -> torch.Tensor:
        """Summary of a segment (B, N, C) as ``num_tokens`` tokens (B, M, C)."""
        queries = self.summary_queries.to(tokens.dtype).expand(tokens.shape[0], -1, -1)
        return queries + self.summarizer(queries, self.norm_segment(tokens))

    def read(self, query_tokens: torch.Tensor) -> torch.Tensor:
        if self.cache is None:
            return query_tokens
        x = query_tokens.flatten(1, -2)
        self._check_batch(x.shape[0])
        readout = self.reader(self.norm_query(x), self.norm_cache(self.cache.to(x.dtype)))
        fused = x + torch.tanh(self.read_gate).to(x.dtype) * readout
        return fused.view_as(query_tokens)

    def update(self, tokens: torch.Tensor) -> None:
        summary = self.summarize(tokens.flatten(1, -2))
        if self.cache is None:
            self.cache = summary
            return
        self._check_batch(summary.shape[0])
        old = self.cache.detach() if self.detach_history else self.cache
        old = old.to(summary.dtype)
        gate = torch.sigmoid(self.update_gate(torch.cat([old, summary], dim=-1)))
        self.cache = (1 - gate) * old + gate * summary
