"""Flow-matching adapter: the State-Aware Adapter and injection layers of LiteVSR (arXiv 2606.09250).

Paper: a frozen video DiT (Wan2.2 TI2V-5B, hidden 3072, 30 blocks) gets a small trainable
adapter. Two streams each have their own patch embedding: a static one from the LR latent
(structure) and a dynamic one from the denoiser's current clean estimate (refinement).
Learnable query prototypes, modulated by the timestep, cross-attend to the concatenation of
both streams; the prototypes form a fixed window that is tiled and cropped to any latent size.
The adapter's tokens travel through the frozen DiT blocks as a second batch element; after each
block a zero-initialised linear maps the condition branch and adds it to the main branch. The
adapter has about 634M parameters, of which about 283M are the 30 full-rank 3072x3072
injection layers; the trainable share is 11.25% of all parameters.

reconstruction: the prototypes attend window-locally: each tile of prototypes attends to the
stream tokens of its own window (both streams, with a learned in-window position and a stream
embedding), so the cost is linear in the number of tokens and tiles differ by their content.
The adapter body is ``depth`` pre-norm cross-attention blocks whose queries are modulated by the
timestep through adaLN (shift, scale, gate for attention and MLP), then a LayerNorm. With
``depth=2``, ``mlp_ratio=4``, window (1, 8, 8) and 256 sinusoidal frequencies the body has
351.7M parameters and the whole adapter 634.9M at Wan2.2-5B size (see
:meth:`FlowMatchingAdapter.parameter_count`). Injection layers are full rank or LoRA of rank r
(``up`` zero-initialised). Latents whose size is not a multiple of the patch are zero-padded at
the end, and the token grid is ``ceil(size / patch)``. A crop of a larger latent (a tile) passes
its ``origin`` (latent row, column in the whole frame), so its windows sit on the whole frame's
window grid: overlapping tiles give a position the same prototype and window (windows cut by the
crop edge see only their tokens inside the crop).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from vsrzoo.errors import UserError

__all__ = ["FlowMatchingAdapter", "LowRankLinear", "timestep_embedding"]


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding (B, dim) of timesteps t (B,), cosines first."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return F.pad(emb, (0, dim % 2))


def zero_linear(dim: int) -> nn.Linear:
    layer = nn.Linear(dim, dim)
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


class LowRankLinear(nn.Module):
    """Rank-r linear map ``up(down(x))`` with ``up`` zero-initialised (LoRA-style, no bias)."""

    def __init__(self, dim: int, rank: int):
        super().__init__()
        self.down = nn.Linear(dim, rank, bias=False)
        self.up = nn.Linear(rank, dim, bias=False)
        nn.init.zeros_(self.up.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(self.down(x))


class PrototypeBlock(nn.Module):
    """Timestep-modulated cross-attention of query prototypes over window tokens, then an MLP."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float):
        super().__init__()
        self.num_heads = num_heads
        self.modulation = nn.Linear(dim, 6 * dim)
        self.norm_q = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.to_q = nn.Linear(dim, dim)
        self.to_kv = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm_mlp = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, dim))

    def attention(self, q: torch.Tensor, kv: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """q (B, nW, L, C) over kv (B, nW, S, C) per window; mask (nW, S) of valid keys."""
        b, nw, length, c = q.shape
        q = self.to_q(q).view(b * nw, length, self.num_heads, -1).transpose(1, 2)
        k, v = self.to_kv(kv).view(b * nw, kv.shape[2], 2, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        if mask is not None:  # (nW, S) shared by the batch, or (B, nW, S) per sample
            mask = mask.expand(b, *mask.shape[-2:]) if mask.dim() == 2 else mask
        attn_mask = None if mask is None else mask.reshape(b * nw, 1, 1, -1)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        return self.proj(out.transpose(1, 2).reshape(b, nw, length, c))

    def forward(self, q: torch.Tensor, kv: torch.Tensor, mask: torch.Tensor | None, temb: torch.Tensor):
        mod = self.modulation(F.silu(temb))[:, None, None].chunk(6, dim=-1)
        shift1, scale1, gate1, shift2, scale2, gate2 = mod
        q = q + gate1 * self.attention(self.norm_q(q) * (1 + scale1) + shift1, kv, mask)
        return q + gate2 * self.mlp(self.norm_mlp(q) * (1 + scale2) + shift2)


class FlowMatchingAdapter(nn.Module):
    """State-aware adapter producing condition tokens on the DiT's token grid, plus injections.

    Args:
        latent_channels: VAE latent channels (Wan2.2: 48); hidden: DiT width (3072).
        num_heads: adapter attention heads; depth: prototype blocks; mlp_ratio: their MLP width.
        patch_size: (t, h, w) patch of the DiT (Wan: (1, 2, 2)).
        window: (t, h, w) tokens of the prototype window that is tiled over the grid.
        num_blocks: DiT blocks, one injection layer each (Wan2.2-5B: 30).
        injection_rank: None for full-rank injection linears, or the LoRA rank r.
        freq_dim: sinusoidal timestep frequencies; timestep_scale: t in [0, 1] is multiplied by it.

    ``forward(lr_latent, clean_estimate, t, origin=None)``: latents (B, C, T, H, W), t (B,) or
    scalar in [0, 1] (1 = pure noise), ``origin`` one latent (row, col) per sample when the latents
    are crops (tiles) of a larger frame -> condition tokens (B, T'*H'*W', hidden) in (t, h, w) order, with
    (T', H', W') = :meth:`token_grid`. ``inject(i, cond)`` is the zero-initialised map that is
    added to the main branch after DiT block i.
    """

    def __init__(
        self,
        latent_channels: int = 48,
        hidden: int = 3072,
        num_heads: int = 24,
        depth: int = 2,
        mlp_ratio: float = 4.0,
        patch_size: tuple[int, int, int] = (1, 2, 2),
        window: tuple[int, int, int] = (1, 8, 8),
        num_blocks: int = 30,
        injection_rank: int | None = None,
        freq_dim: int = 256,
        timestep_scale: float = 1000.0,
    ):
        super().__init__()
        if hidden % num_heads:
            raise UserError(f"hidden {hidden} must be divisible by num_heads {num_heads}")
        self.config = dict(
            latent_channels=latent_channels,
            hidden=hidden,
            depth=depth,
            mlp_ratio=mlp_ratio,
            patch_size=tuple(patch_size),
            window=tuple(window),
            num_blocks=num_blocks,
            injection_rank=injection_rank,
            freq_dim=freq_dim,
        )
        self.patch_size = tuple(patch_size)
        self.window = tuple(window)
        self.freq_dim = freq_dim
        self.timestep_scale = timestep_scale
        window_tokens = math.prod(self.window)
        self.embed_lr = nn.Conv3d(latent_channels, hidden, self.patch_size, stride=self.patch_size)
        self.embed_clean = nn.Conv3d(latent_channels, hidden, self.patch_size, stride=self.patch_size)
        self.stream_embed = nn.Parameter(torch.randn(2, hidden) * 0.02)
        self.window_pos = nn.Parameter(torch.randn(window_tokens, hidden) * 0.02)
        self.prototypes = nn.Parameter(torch.randn(window_tokens, hidden) * 0.02)
        self.norm_kv = nn.LayerNorm(hidden, eps=1e-6)
        self.time_embed = nn.Sequential(nn.Linear(freq_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.blocks = nn.ModuleList(PrototypeBlock(hidden, num_heads, mlp_ratio) for _ in range(depth))
        self.norm_out = nn.LayerNorm(hidden, eps=1e-6)
        self.injections = nn.ModuleList(
            zero_linear(hidden) if injection_rank is None else LowRankLinear(hidden, injection_rank)
            for _ in range(num_blocks)
        )

    @staticmethod
    def parameter_count(
        latent_channels: int = 48,
        hidden: int = 3072,
        depth: int = 2,
        mlp_ratio: float = 4.0,
        patch_size: tuple[int, int, int] = (1, 2, 2),
        window: tuple[int, int, int] = (1, 8, 8),
        num_blocks: int = 30,
        injection_rank: int | None = None,
        freq_dim: int = 256,
    ) -> dict[str, int]:
        """Closed-form trainable parameter count: ``{'body', 'injection', 'total'}``.

        At the defaults (Wan2.2 TI2V-5B size) this is body 351,657,984 + injection 283,207,680 =
        634,865,664, i.e. 11.27% of a 5.0B backbone plus the adapter.
        """
        d, mlp = hidden, int(hidden * mlp_ratio)
        patch_embed = 2 * (latent_channels * math.prod(patch_size) * d + d)
        window_params = (2 + 2 * math.prod(window)) * d  # stream embeddings, positions, prototypes
        norms = 2 * 2 * d
        time_embed = freq_dim * d + d + d * d + d
        block = (6 * d * d + 6 * d) + (4 * d * d + 4 * d) + (2 * d * mlp + mlp + d)
        body = patch_embed + window_params + norms + time_embed + depth * block
        per_injection = d * d + d if injection_rank is None else 2 * d * injection_rank
        injection = num_blocks * per_injection
        return {"body": body, "injection": injection, "total": body + injection}

    def expected_parameter_count(self) -> dict[str, int]:
        """:meth:`parameter_count` for this adapter's own configuration."""
        return self.parameter_count(**self.config)

    def token_grid(self, latent_shape: tuple[int, ...]) -> tuple[int, int, int]:
        """DiT token grid (T', H', W') of a latent (..., T, H, W): ceil of size / patch."""
        return tuple(-(-int(s) // p) for s, p in zip(latent_shape[-3:], self.patch_size))

    def embed(self, conv: nn.Conv3d, latent: torch.Tensor) -> torch.Tensor:
        """Patch-embed (B, C, T, H, W) -> (B, T', H', W', hidden), zero-padding partial patches."""
        pads = [-s % p for s, p in zip(latent.shape[-3:], self.patch_size)]
        latent = F.pad(latent, (0, pads[2], 0, pads[1], 0, pads[0]))
        return conv(latent).permute(0, 2, 3, 4, 1)

    def window_offsets(self, origin, batch: int) -> list[tuple[int, int, int]] | None:
        """Per-sample position ``(t, h, w)`` of token 0 inside its window of the whole frame's grid.

        ``origin``: None (the latent is the whole frame) or one latent ``(row, col)`` per sample,
        multiples of the patch size (tiles start on the token grid).
        """
        if origin is None:
            return None
        if len(origin) != batch:
            raise UserError(f"adapter origin needs one (row, col) per sample ({batch}), got {len(origin)}")
        _, ph, pw = self.patch_size
        _, wh, ww = self.window
        offsets = []
        for y, x in origin:
            if y % ph or x % pw:
                raise UserError(
                    f"adapter origin ({y}, {x}) must be a multiple of the patch {self.patch_size[1:]}"
                )
            offsets.append((0, (y // ph) % wh, (x // pw) % ww))
        return offsets if any(any(o) for o in offsets) else None

    def _canvas(self, grid, offsets) -> tuple[int, int, int]:
        """Padded grid size: whole windows holding every sample shifted by its offset."""
        return tuple(
            -(-(g + max(o[d] for o in offsets)) // w) * w for d, (g, w) in enumerate(zip(grid, self.window))
        )

    def to_windows(self, x: torch.Tensor, offsets: list[tuple[int, int, int]] | None = None) -> torch.Tensor:
        """(B, T', H', W', C) -> (B, num_windows, window_tokens, C), zero-padding partial windows.

        ``offsets`` (:meth:`window_offsets`) shift each sample onto the whole frame's window grid.
        """
        b, *grid, c = x.shape
        if offsets is None:
            pads = [-g % w for g, w in zip(grid, self.window)]
            x = F.pad(x, (0, 0, 0, pads[2], 0, pads[1], 0, pads[0]))
        else:
            canvas = x.new_zeros(b, *self._canvas(grid, offsets), c)
            for i, (ot, oh, ow) in enumerate(offsets):
                canvas[i, ot : ot + grid[0], oh : oh + grid[1], ow : ow + grid[2]] = x[i]
            x = canvas
        (wt, wh, ww) = self.window
        nt, nh, nw = (s // w for s, w in zip(x.shape[1:4], self.window))
        x = x.reshape(b, nt, wt, nh, wh, nw, ww, c).permute(0, 1, 3, 5, 2, 4, 6, 7)
        return x.reshape(b, nt * nh * nw, wt * wh * ww, c)

    def from_windows(
        self, x: torch.Tensor, grid: tuple[int, int, int], offsets: list[tuple[int, int, int]] | None = None
    ) -> torch.Tensor:
        """Inverse of :meth:`to_windows`, cropped to ``grid``: -> (B, T'*H'*W', C)."""
        b, _, _, c = x.shape
        (wt, wh, ww) = self.window
        if offsets is None:
            size = tuple(-(-g // w) * w for g, w in zip(grid, self.window))
        else:
            size = self._canvas(grid, offsets)
        nt, nh, nw = (s // w for s, w in zip(size, self.window))
        x = x.reshape(b, nt, nh, nw, wt, wh, ww, c).permute(0, 1, 4, 2, 5, 3, 6, 7)
        x = x.reshape(b, *size, c)
        if offsets is None:
            return x[:, : grid[0], : grid[1], : grid[2]].reshape(b, -1, c)
        crops = [
            x[i, ot : ot + grid[0], oh : oh + grid[1], ow : ow + grid[2]]
            for i, (ot, oh, ow) in enumerate(offsets)
        ]
        return torch.stack(crops).reshape(b, -1, c)

    def forward(
        self,
        lr_latent: torch.Tensor,
        clean_estimate: torch.Tensor,
        t: torch.Tensor | float,
        origin: list[tuple[int, int]] | None = None,
    ) -> torch.Tensor:
        if lr_latent.dim() != 5 or lr_latent.shape != clean_estimate.shape:
            raise UserError(
                f"adapter needs LR latent and clean estimate of the same shape (B, C, T, H, W); "
                f"got {tuple(lr_latent.shape)} and {tuple(clean_estimate.shape)}"
            )
        b = lr_latent.shape[0]
        grid = self.token_grid(lr_latent.shape)
        offsets = self.window_offsets(origin, b)
        structure = self.to_windows(self.embed(self.embed_lr, lr_latent) + self.stream_embed[0], offsets)
        refinement = self.to_windows(
            self.embed(self.embed_clean, clean_estimate) + self.stream_embed[1], offsets
        )
        kv = self.norm_kv(torch.cat([structure, refinement], dim=2) + self.window_pos.repeat(2, 1))
        mask = None
        if offsets is not None:  # per-sample valid tokens; windows with none attend to padding (discarded)
            valid = self.to_windows(lr_latent.new_ones(b, *grid, 1), offsets)[..., 0] > 0
            mask = valid | ~valid.any(-1, keepdim=True)
            mask = mask.repeat(1, 1, 2)
        elif any(g % w for g, w in zip(grid, self.window)):
            valid = self.to_windows(lr_latent.new_ones(1, *grid, 1))[0, :, :, 0] > 0
            mask = valid.repeat(1, 2)
        t = torch.as_tensor(t, device=lr_latent.device, dtype=torch.float32).reshape(-1).expand(b)
        temb = self.time_embed(timestep_embedding(t * self.timestep_scale, self.freq_dim).to(kv.dtype))
        q = self.prototypes.to(kv.dtype).expand(b, kv.shape[1], -1, -1)
        for block in self.blocks:
            q = block(q, kv, mask, temb)
        return self.norm_out(self.from_windows(q, grid, offsets))

    def inject(self, index: int, cond_hidden: torch.Tensor) -> torch.Tensor:
        """Zero-initialised map of the condition branch after DiT block ``index``, to add to the main branch."""
        return self.injections[index](cond_hidden)
