"""LiftVSR's denoiser: PixArt-alpha spatial blocks lifted to video (arXiv 2506.08529).

Paper: the pretrained PixArt-alpha DiT (arXiv 2310.00426) keeps its spatial blocks, tuned with
LoRA; after each spatial block a new temporal branch runs Dynamic Temporal Attention (DTA,
:class:`~vsrzoo.blocks.TokenFlowAttention`) within the current segment and reads the Attention
Memory Cache (AMC, :class:`~vsrzoo.blocks.AttentionMemoryCache`) of earlier segments; its output
passes a zero-initialised linear layer and is added back, so at initialisation the network is the
image prior applied frame by frame.

reconstruction (DESIGN.md section 2): the LR latent is concatenated with the noisy latent on
channels (the patch embedding widened, new weights zero-initialised); a learned null caption
embedding replaces the T5 text encoder (``caption_length`` tokens initialised like PixArt's
``y_embedding``, N(0, 1/width), or from a file of precomputed empty-prompt embeddings); the AMC
is queried with the temporal branch's input tokens (the DTA input) and its gated read-out is added
after the DTA's attention and FFN, before the zero-initialised output linear (the paper's figure
fuses the read with the output of "Temporal Attention & FFN"); the
cache is updated with those fused tokens of a segment only when ``write_cache=True`` (the caller
decides which pass writes it); the caches are values passed in and returned by
:meth:`LiftVSRTransformer.forward` (one tensor or None per temporal layer), never module state; LoRA sits on the attention
projections of the spatial blocks (``lora_rank=None`` trains them fully instead, used by the
tiny variant whose backbone has no pretrained weights).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from vsrzoo.backbones.common import (
    add_lora,
    chunk_feed_forward,
    freeze,
    get_blocks,
    insert_after,
    unfreeze,
    widen_input_channels,
    wrap_block,
)
from vsrzoo.backbones.pixart import build_pixart
from vsrzoo.backbones.text import CaptionEmbedding
from vsrzoo.blocks import AttentionMemoryCache, TokenFlowAttention

__all__ = ["LiftVSRTransformer", "TemporalLayer"]


def _checkpointed(forward, *args, **kwargs):
    if torch.is_grad_enabled():
        return checkpoint(forward, *args, use_reentrant=False, **kwargs)
    return forward(*args, **kwargs)


Caches = list  # one (B, M, C) tensor or None per temporal layer


class TemporalLayer(nn.Module):
    """DTA within the segment, fused with an AMC read; the residual is exactly zero at init."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        flow_hidden: int = 32,
        mlp_ratio: float = 4.0,
        cache_tokens: int = 64,
        read_gate_init: float = 0.5,
        temporal_attention: bool = True,
        memory_cache: bool = True,
    ):
        super().__init__()
        self.dta = TokenFlowAttention(
            dim, num_heads, flow_hidden=flow_hidden, mlp_ratio=mlp_ratio, attention=temporal_attention
        )
        self.amc = (
            AttentionMemoryCache(dim, num_heads, num_tokens=cache_tokens, read_gate_init=read_gate_init)
            if memory_cache
            else None
        )
        self.gradient_checkpointing = False

    def forward(
        self, h: torch.Tensor, grid: tuple[int, int, int, int], cache: torch.Tensor | None, write_cache: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``h`` (B*T, H*W, C) frame tokens of ``grid = (B, T, H, W)`` and this layer's cache ->
        (the same shape, the cache after this segment: updated when ``write_cache``)."""
        b, t, gh, gw = grid
        x = h.view(b, t, gh, gw, h.shape[-1])
        run = _checkpointed if self.gradient_checkpointing else (lambda f, *a: f(*a))
        y = run(self.dta.attend, x)  # every frame is the reference in turn: (B, T, H, W, C)
        y = run(self.dta.feed_forward, y)
        if self.amc is None:  # ablation: no memory across segments
            cache = None
        else:
            if cache is not None:
                y = y + self.amc.read(x, cache)  # queried with the DTA input, fused after attention & FFN
            if write_cache:
                cache = self.amc.update(y, cache)
        return h + self.dta.out_proj(y).reshape_as(h), cache


class _TemporalHook:
    """Runs temporal layer ``index`` of ``net`` on the tokens leaving spatial block ``index``."""

    def __init__(self, net: LiftVSRTransformer, index: int):
        self.net = net
        self.index = index

    def __call__(self, h: torch.Tensor) -> torch.Tensor:
        grid, caches, write = self.net._segment
        h, caches[self.index] = self.net.temporal[self.index](h, grid, caches[self.index], write)
        return h


class LiftVSRTransformer(nn.Module):
    """PixArt-alpha with a temporal branch after every block, conditioned on an LR latent.

    Args:
        pixart_variant: size of :func:`~vsrzoo.backbones.pixart.build_pixart` (``full`` = XL/2).
        pixart_pretrained: hub id or local diffusers directory of PixArt-alpha weights (None: random).
        pixart_overrides: constructor overrides of the PixArt config (e.g. ``in_channels``).
        lora_rank, lora_alpha, lora_targets: LoRA on the spatial blocks; ``lora_rank=None`` trains
            the spatial blocks fully instead of freezing them.
        temporal_heads, flow_hidden, temporal_mlp_ratio, cache_tokens: sizes of the temporal branch.
        temporal_attention, memory_cache: False removes DTA (the branch becomes per-frame: FFN and
            zero linear) or the AMC (no memory across segments); ablation switches, ours.
        caption_length: length of the learned null caption; caption_path: start it from precomputed
            T5 embeddings of the empty prompt instead (:func:`vsrzoo.backbones.text.save_prompt_embeddings`).
        vae_scale_factor: pixels per latent, for the resolution and aspect-ratio embeddings of
            PixArt-alpha 1024 checkpoints (``use_additional_conditions``; the 512 ones have none).
        feed_forward_chunk: frames per call of each spatial block's feed-forward
            (:func:`~vsrzoo.backbones.common.chunk_feed_forward`; None: all frames in one call).
            The same numbers either way; one frame's 4x-wide hidden activation (1.6 MB at the tiny
            model's 32x32 tokens) fits in cache, a tile batch's (18.9 MB for 12 frames) does not.

    ``forward(x, lr_latent, timestep, caches=None, write_cache=False)``: noisy latent and LR
    latent (B, T, C, H, W), timestep (B,), the caches of earlier segments (None: none yet) ->
    (PixArt's output (B, T, 2C, H, W): epsilon, then the learned-variance interpolation; the
    caches after this segment, written when ``write_cache``).
    """

    def __init__(
        self,
        pixart_variant: str = "tiny",
        pixart_pretrained: str | None = None,
        pixart_overrides: dict[str, Any] | None = None,
        lora_rank: int | None = 64,
        lora_alpha: float | None = None,
        lora_targets: tuple[str, ...] = ("to_q", "to_k", "to_v", "to_out.0"),
        temporal_heads: int | None = None,
        flow_hidden: int = 32,
        temporal_mlp_ratio: float = 4.0,
        cache_tokens: int = 64,
        caption_length: int = 1,
        caption_path: str | None = None,
        vae_scale_factor: int = 8,
        cache_read_gate: float = 0.5,
        temporal_attention: bool = True,
        memory_cache: bool = True,
        feed_forward_chunk: int | None = 1,
    ):
        super().__init__()
        self.vae_scale_factor = vae_scale_factor
        overrides = dict(pixart_overrides or {})
        self.pixart = build_pixart(pixart_variant, pretrained=pixart_pretrained, **overrides)
        cfg = self.pixart.config
        self.latent_channels = cfg.in_channels
        self.patch_size = cfg.patch_size
        dim = cfg.num_attention_heads * cfg.attention_head_dim
        if lora_rank is not None:
            freeze(self.pixart)
            add_lora(self.pixart, rank=lora_rank, alpha=lora_alpha, targets=lora_targets)
        widen_input_channels(self.pixart, 2 * self.latent_channels)  # LR latent, new weights zero
        unfreeze(self.pixart.pos_embed.proj)
        heads = temporal_heads or cfg.num_attention_heads
        blocks = get_blocks(self.pixart)
        chunk_feed_forward(self.pixart, feed_forward_chunk)
        self.temporal = nn.ModuleList(
            TemporalLayer(
                dim,
                heads,
                flow_hidden,
                temporal_mlp_ratio,
                cache_tokens,
                cache_read_gate,
                temporal_attention=temporal_attention,
                memory_cache=memory_cache,
            )
            for _ in blocks
        )
        for i in range(len(blocks)):
            insert_after(self.pixart, i, _TemporalHook(self, i))
        width = cfg.caption_channels
        if caption_path is not None:
            self.caption = CaptionEmbedding.from_file(caption_path, dim=width, learned=True)
        else:
            self.caption = CaptionEmbedding(width, caption_length, learned=True, init_std=width**-0.5)
        self._segment: tuple | None = None  # (grid, caches, write) of the call in progress only

    def enable_gradient_checkpointing(self) -> None:
        """Recompute spatial blocks and DTA in backward; cache reads/writes run once."""
        for i in range(len(self.temporal)):
            wrap_block(self.pixart, i, _checkpointed)
            self.temporal[i].gradient_checkpointing = True

    def added_conditions(self, n: int, h: int, w: int, like: torch.Tensor) -> dict[str, torch.Tensor] | None:
        """PixArt-alpha 1024's micro-conditions for ``n`` frames of ``h x w`` latents, as its diffusers
        pipeline passes them: ``resolution`` (height, width) in pixels and ``aspect_ratio`` height / width."""
        if not self.pixart.use_additional_conditions:
            return None
        f = self.vae_scale_factor
        resolution = torch.tensor([[h * f, w * f]], dtype=like.dtype, device=like.device).repeat(n, 1)
        aspect = torch.tensor([[h / w]], dtype=like.dtype, device=like.device).repeat(n, 1)
        return {"resolution": resolution, "aspect_ratio": aspect}

    def forward(
        self,
        x: torch.Tensor,
        lr_latent: torch.Tensor,
        timestep: torch.Tensor,
        caches: Caches | None = None,
        write_cache: bool = False,
    ) -> tuple[torch.Tensor, Caches]:
        b, t, _, h, w = x.shape
        p = self.patch_size
        inp = torch.cat([x, lr_latent.to(x.dtype)], dim=2).flatten(0, 1)
        caption, caption_mask = self.caption(b * t, dtype=inp.dtype)
        new = list(caches) if caches is not None else [None] * len(self.temporal)
        self._segment = ((b, t, h // p, w // p), new, write_cache)
        try:
            out = self.pixart(
                inp,
                encoder_hidden_states=caption,
                encoder_attention_mask=caption_mask,
                timestep=timestep.repeat_interleave(t),
                added_cond_kwargs=self.added_conditions(b * t, h, w, inp),
                return_dict=False,
            )[0]
        finally:
            self._segment = None
        return out.unflatten(0, (b, t)), new
