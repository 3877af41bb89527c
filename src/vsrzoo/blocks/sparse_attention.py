"""Block-sparse local attention and interleaved temporal windows of SimpleGVR (arXiv 2506.19838).

Paper: tokens of each latent frame are grouped into 2-D blocks of 12x9 tokens; every query block
attends to itself plus the top-k (k = 1) most relevant other blocks anywhere in the clip, the
relevance coming from mean-pooled keys (MoBA-style, arXiv 2502.13189). Attention is further
restricted to temporal units of W = 5 latent frames, shifted by W/2 on alternate layers.

Layout: ``q, k, v`` are (B, heads, N, d) with N = T*H*W tokens in (t, h, w) row-major order,
plus the grid ``(T, H, W)``; this is the layout of :func:`torch.nn.functional.scaled_dot_product_attention`
and of diffusers' attention processors, so the function drops into an existing DiT block.

Computation: the grid is padded to whole blocks, each block's mean query and mean key are
scored against each other, the top-k other blocks are picked per query block (per batch and
head), their keys and values are gathered, and one batched SDPA call runs over
[own block + k selected blocks] for every query block. There is no Python loop over blocks;
the cost is N * (1 + k) * block tokens instead of N^2.

Scope of the top-k choice (``topk_scope``): ``'clip'`` (paper: "across the entire video,
including future frames") picks the k blocks among all blocks of the clip, in any frame, past or
future; ``'unit'`` (the earlier behaviour, kept as an option) picks them within the query's
temporal unit only. reconstruction: the paper does not say how its temporal units and the
clip-wide top-k combine; with ``'clip'`` the local part of a query block is its own 2-D block in
every frame of its temporal unit (so the interleaved, shifted units set the temporal reach of the
local attention) and the k picks come from the other blocks of the whole clip. With
``'unit'`` the local part is the own block alone.

reconstruction: the relevance score is mean query . mean key of the two blocks (MoBA scores every
query token against mean keys; pooling the queries makes the choice per block, as the paper
describes). ``block_size=(9, 12)`` reads the paper's "12x9" as 12 tokens wide by 9 tall. The
shifted temporal units start with a shorter unit instead of wrapping around cyclically.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from vsrzoo.errors import UserError

__all__ = [
    "SparseLocalAttention",
    "dense_local_attention",
    "interleaved_temporal_windows",
    "local_blocks",
    "select_blocks",
    "sparse_local_attention",
]


def interleaved_temporal_windows(
    num_frames: int, window: int, shifted: bool = False, device: torch.device | None = None
) -> torch.Tensor:
    """Temporal unit id of every latent frame (T,), for units of ``window`` frames.

    Unshifted layers cut the clip at multiples of ``window``; shifted layers (use them on every
    other layer) move the cuts by ``window // 2`` so information crosses unit borders, as
    Swin does in space. Frames attend only to frames with the same id.
    """
    if window < 1:
        raise UserError(f"temporal window must be >= 1 latent frame, got {window}")
    offset = window // 2 if shifted else 0
    return torch.div(torch.arange(num_frames, device=device) + offset, window, rounding_mode="floor")


def _check_grid(x: torch.Tensor, grid: tuple[int, int, int]) -> tuple[int, int, int]:
    t, h, w = (int(g) for g in grid)
    if x.dim() != 4 or x.shape[2] != t * h * w:
        raise UserError(
            f"expected (B, heads, T*H*W, d) with grid {grid} = {t * h * w} tokens, got {tuple(x.shape)}"
        )
    return t, h, w


def _to_blocks(x: torch.Tensor, grid: tuple[int, int, int], block: tuple[int, int]) -> torch.Tensor:
    """(B, heads, T*H*W, d) -> (B, heads, num_blocks, bh*bw, d), zero-padding partial blocks."""
    b, nh, _, d = x.shape
    t, h, w = grid
    bh, bw = block
    x = x.reshape(b, nh, t, h, w, d)
    pad_h, pad_w = -h % bh, -w % bw
    if pad_h or pad_w:
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    gh, gw = (h + pad_h) // bh, (w + pad_w) // bw
    x = x.reshape(b, nh, t, gh, bh, gw, bw, d).permute(0, 1, 2, 3, 5, 4, 6, 7)
    return x.reshape(b, nh, t * gh * gw, bh * bw, d)


def _from_blocks(x: torch.Tensor, grid: tuple[int, int, int], block: tuple[int, int]) -> torch.Tensor:
    """Inverse of :func:`_to_blocks`: (B, heads, num_blocks, bh*bw, d) -> (B, heads, T*H*W, d)."""
    b, nh, _, _, d = x.shape
    t, h, w = grid
    bh, bw = block
    gh, gw = -(-h // bh), -(-w // bw)
    x = x.reshape(b, nh, t, gh, gw, bh, bw, d).permute(0, 1, 2, 3, 5, 4, 6, 7)
    x = x.reshape(b, nh, t, gh * bh, gw * bw, d)[:, :, :, :h, :w]
    return x.reshape(b, nh, t * h * w, d)


def _block_layout(grid, block, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Valid-token mask (num_blocks, bh*bw) and the frame index of every block (num_blocks,)."""
    t, h, w = grid
    ones = torch.ones(1, 1, t * h * w, 1, device=device)
    valid = _to_blocks(ones, grid, block)[0, 0, :, :, 0] > 0
    frame_of_block = torch.arange(t, device=device).repeat_interleave(valid.shape[0] // t)
    return valid, frame_of_block


def select_blocks(
    q_blocks: torch.Tensor,
    k_blocks: torch.Tensor,
    valid: torch.Tensor,
    top_k: int,
    block_units: torch.Tensor | None = None,
    allowed: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pick, per query block, the ``top_k`` most relevant *other* key blocks.

    ``q_blocks``, ``k_blocks``: (B, heads, nB, L, d) with zeros at padded tokens; ``valid``:
    (nB, L); ``block_units``: temporal unit of every block (nB,) or None (the whole clip);
    ``allowed``: an explicit (nB, nB) candidate mask that replaces both. Relevance is the dot
    product of the blocks' mean query and mean key. Returns the indices (B, heads, nB, k') with
    k' = min(top_k, nB - 1) and whether each pick is allowed (False when fewer than k'
    candidates exist).
    """
    num_blocks = q_blocks.shape[2]
    k_eff = min(top_k, num_blocks - 1)
    dtype = torch.promote_types(q_blocks.dtype, torch.float32)
    counts = valid.sum(-1).clamp(min=1).to(dtype)[:, None]
    q_mean = q_blocks.to(dtype).sum(-2) / counts
    k_mean = k_blocks.to(dtype).sum(-2) / counts
    scores = q_mean @ k_mean.transpose(-1, -2)
    if allowed is None:
        allowed = ~torch.eye(num_blocks, dtype=torch.bool, device=scores.device)
        if block_units is not None:
            allowed = allowed & (block_units[:, None] == block_units[None, :])
    scores = scores.masked_fill(~allowed, float("-inf"))
    if k_eff <= 0:
        empty = scores.new_zeros(*scores.shape[:3], 0)
        return empty.long(), empty.bool()
    best, index = scores.topk(k_eff, dim=-1)
    return index, torch.isfinite(best)


def _gather_blocks(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """x (B, heads, nB, L, d), index (B, heads, nB, k) -> (B, heads, nB, k, L, d) in one gather."""
    b, nh, nb, length, d = x.shape
    flat = x.reshape(b * nh * nb, length, d)
    base = torch.arange(b * nh, device=x.device).view(b, nh, 1, 1) * nb
    picked = flat.index_select(0, (index + base).reshape(-1))
    return picked.view(b, nh, nb, index.shape[-1], length, d)


def local_blocks(
    grid: tuple[int, int, int], blocks_per_frame: int, frame_units: torch.Tensor | None, device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Local blocks of every block for the ``'clip'`` scope: the same 2-D block in each frame of its unit.

    Returns indices (nB, W) and their validity (nB, W) on ``device``, W = the longest unit (1
    without units); column 0 is the block itself. Built on the CPU from the (T,) unit ids (no
    device sync, and it works while the attention itself runs on the meta device).
    """
    t = grid[0]
    own = torch.arange(t * blocks_per_frame)
    if frame_units is None:
        return own[:, None].to(device), torch.ones(own.shape[0], 1, dtype=torch.bool, device=device)
    units = frame_units.cpu().tolist()
    members = {u: [f for f in range(t) if units[f] == u] for u in units}
    width = max(len(m) for m in members.values())
    table = torch.zeros(t, width, dtype=torch.long)
    ok = torch.zeros(t, width, dtype=torch.bool)
    for f in range(t):
        frames = [f] + [g for g in members[units[f]] if g != f]  # the frame itself first
        table[f, : len(frames)], ok[f, : len(frames)] = torch.tensor(frames), True
    frame_of_block, pos = own // blocks_per_frame, own % blocks_per_frame
    index = table[frame_of_block] * blocks_per_frame + pos[:, None]
    return index.to(device), ok[frame_of_block].to(device)


def sparse_local_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    grid: tuple[int, int, int],
    block_size: tuple[int, int] = (9, 12),
    top_k: int = 1,
    frame_units: torch.Tensor | None = None,
    scale: float | None = None,
    topk_scope: str = "clip",
) -> torch.Tensor:
    """Block-sparse attention: each 2-D block attends to its local blocks plus its top-k relevant blocks.

    ``q, k, v``: (B, heads, T*H*W, d); ``grid``: (T, H, W); ``block_size``: (height, width) in
    tokens; ``frame_units``: temporal unit id per frame (T,) from
    :func:`interleaved_temporal_windows`, or None for the whole clip; ``topk_scope``: ``'clip'``
    (paper: the k picks come from the whole clip, future frames included; local = the own block
    in each frame of its unit) or ``'unit'`` (picks within the unit; local = the own block). H
    and W need not be multiples of the block size. Returns (B, heads, T*H*W, d).
    """
    if topk_scope not in ("clip", "unit"):
        raise UserError(f"topk_scope must be 'clip' or 'unit', got {topk_scope!r}")
    grid = _check_grid(q, grid)
    block = (int(block_size[0]), int(block_size[1]))
    valid, frame_of_block = _block_layout(grid, block, q.device)
    qb, kb, vb = (_to_blocks(x, grid, block) for x in (q, k, v))
    b, nh, nb, length, d = qb.shape
    if topk_scope == "unit":
        block_units = None if frame_units is None else frame_units.to(q.device)[frame_of_block]
        local = torch.arange(nb, device=q.device)[:, None]
        local_ok = torch.ones(nb, 1, dtype=torch.bool, device=q.device)
        index, picked_ok = select_blocks(qb, kb, valid, top_k, block_units)
    else:
        local, local_ok = local_blocks(grid, nb // grid[0], frame_units, q.device)
        own_col = local[:, :1].expand_as(local)  # invalid slots repeat the own block (already excluded)
        excluded = torch.where(local_ok, local, own_col)
        allowed = torch.ones(nb, nb, dtype=torch.bool, device=q.device).scatter(1, excluded, False)
        index, picked_ok = select_blocks(qb, kb, valid, top_k, allowed=allowed)
    attended = torch.cat([local.expand(b, nh, *local.shape), index], dim=-1)
    keys = _gather_blocks(kb, attended).view(b * nh, nb, -1, d)
    values = _gather_blocks(vb, attended).view(b * nh, nb, -1, d)
    mask = None
    partial_blocks = grid[1] % block[0] or grid[2] % block[1]
    if partial_blocks or frame_units is not None:  # decided from shapes: no device sync
        own = (valid[local] & local_ok[..., None]).flatten(1).expand(b, nh, nb, -1)
        others = (valid[index] & picked_ok.unsqueeze(-1)).flatten(3)
        mask = torch.cat([own, others], dim=3).view(b * nh, nb, 1, -1)
    out = F.scaled_dot_product_attention(
        qb.view(b * nh, nb, length, d), keys, values, attn_mask=mask, scale=scale
    )
    return _from_blocks(out.view(b, nh, nb, length, d), grid, block)


def dense_local_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    grid: tuple[int, int, int],
    frame_units: torch.Tensor | None = None,
    scale: float | None = None,
) -> torch.Tensor:
    """Full attention over the clip, optionally restricted to temporal units (the dense fallback)."""
    t, h, w = _check_grid(q, grid)
    mask = None
    if frame_units is not None:
        token_units = frame_units.to(q.device).repeat_interleave(h * w)
        mask = token_units[:, None] == token_units[None, :]
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale)


class SparseLocalAttention(nn.Module):
    """Drop-in self-attention for a video DiT block with SimpleGVR's sparse local attention.

    Args:
        dim: token width; num_heads: attention heads.
        block_size: (height, width) of a token block; the paper's 12x9 blocks by default.
        top_k: other blocks each block attends to (paper: 1).
        temporal_window: latent frames per temporal unit (paper: 5), or None for the whole clip.
        shifted: shift the temporal units by half a unit (set it on every other layer).
        sparse: False falls back to dense SDPA (same units), e.g. to compare quality or speed.
        topk_scope: 'clip' (paper: top-k from the whole clip) or 'unit' (within the temporal unit).
        qkv_bias: bias of the q/k/v projections; qk_norm: RMSNorm on q and k as in Wan.

    ``forward(x, grid, rope=None)``: ``x`` (B, T*H*W, dim) in (t, h, w) order, ``grid`` (T, H, W);
    ``rope`` optionally maps q and k (B, heads, N, d) to their rotary-embedded versions.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        block_size: tuple[int, int] = (9, 12),
        top_k: int = 1,
        temporal_window: int | None = None,
        shifted: bool = False,
        sparse: bool = True,
        qkv_bias: bool = True,
        qk_norm: bool = False,
        topk_scope: str = "clip",
    ):
        super().__init__()
        if dim % num_heads:
            raise UserError(f"dim {dim} must be divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.block_size = tuple(block_size)
        self.top_k = top_k
        self.temporal_window = temporal_window
        self.shifted = shifted
        self.sparse = sparse
        self.topk_scope = topk_scope
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.q_norm = nn.RMSNorm(dim, eps=1e-6) if qk_norm else nn.Identity()
        self.k_norm = nn.RMSNorm(dim, eps=1e-6) if qk_norm else nn.Identity()
        self.proj = nn.Linear(dim, dim)

    def frame_units(self, num_frames: int, device: torch.device) -> torch.Tensor | None:
        if self.temporal_window is None:
            return None
        return interleaved_temporal_windows(num_frames, self.temporal_window, self.shifted, device)

    def forward(
        self,
        x: torch.Tensor,
        grid: tuple[int, int, int],
        rope: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        q, k = self.q_norm(q), self.k_norm(k)
        q, k, v = (t.view(b, n, self.num_heads, -1).transpose(1, 2) for t in (q, k, v))
        if rope is not None:
            q, k = rope(q), rope(k)
        units = self.frame_units(int(grid[0]), "cpu")  # (T,) ids on the CPU: tiny, read by the block layout
        if self.sparse:
            out = sparse_local_attention(
                q, k, v, grid, self.block_size, self.top_k, units, topk_scope=self.topk_scope
            )
        else:
            out = dense_local_attention(q, k, v, grid, units)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))
