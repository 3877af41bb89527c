"""LiteVSR's denoiser: a frozen Wan DiT steered by a State-Aware Adapter (arXiv 2606.09250).

Paper: the video DiT (Wan2.2 TI2V-5B) stays completely frozen. The adapter
(:class:`~vsrzoo.blocks.FlowMatchingAdapter`) turns the LR latent (structure stream) and the
current clean estimate (refinement stream) into condition tokens on the DiT's token grid. Those
tokens travel through the *same* frozen blocks as a second batch element; after block ``i`` a
zero-initialised linear maps the condition branch and adds it to the main branch. One velocity
evaluation therefore costs about two backbone passes, and at initialisation the model is exactly
the frozen prior.

reconstruction: the condition branch gets the same timestep and (null) caption as the main
branch; only the main branch goes through the output head. The caption is a fixed null
caption (:class:`~vsrzoo.backbones.text.CaptionEmbedding`) instead of a text encoder.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from vsrzoo.backbones.common import chunk_feed_forward
from vsrzoo.backbones.text import CaptionEmbedding
from vsrzoo.blocks import FlowMatchingAdapter

__all__ = ["LiteVSRTransformer"]


class LiteVSRTransformer(nn.Module):
    """Frozen ``WanTransformer3DModel`` + trainable adapter, run as a two-branch batch.

    ``forward(z_t, t, lr_latent, clean_estimate, origin=None)`` -> velocity, all latents
    ``(B, C, T, H, W)`` with ``H, W`` multiples of the patch, ``t`` (B,) in [0, 1] (1 = pure
    noise), ``origin`` the latent (row, col) of each sample when it is a tile of a larger frame.
    ``prior(z_t, t)`` is the frozen backbone alone (what the model equals at initialisation).
    ``feed_forward_chunk``: samples per call of each block's feed-forward
    (:func:`~vsrzoo.backbones.common.chunk_feed_forward`; None: the whole two-branch batch at once);
    the same numbers either way.
    """

    def __init__(
        self,
        backbone: nn.Module,
        adapter: FlowMatchingAdapter,
        caption: CaptionEmbedding,
        timestep_scale: float = 1000.0,
        feed_forward_chunk: int | None = 1,
    ):
        super().__init__()
        chunk_feed_forward(backbone, feed_forward_chunk)
        self.backbone = backbone
        self.adapter = adapter
        self.caption = caption
        self.timestep_scale = timestep_scale
        self.gradient_checkpointing = False

    def conditioning(self, t: torch.Tensor, batch: int, dtype: torch.dtype):
        """Timestep embedding, block modulation (B, 6, D) and projected caption for ``batch`` samples."""
        text, _ = self.caption(batch, dtype=dtype)
        timestep = (t.float() * self.timestep_scale).expand(batch)
        temb, proj, text, _ = self.backbone.condition_embedder(timestep, text, None)
        return temb, proj.unflatten(1, (6, -1)), text

    def enable_gradient_checkpointing(self) -> None:
        """Recompute each block in the backward pass (less memory, more time)."""
        self.gradient_checkpointing = True

    def run_block(self, block: nn.Module, *args) -> torch.Tensor:
        if self.gradient_checkpointing and torch.is_grad_enabled():
            return checkpoint(block, *args, use_reentrant=False)
        return block(*args)

    def head(self, hidden: torch.Tensor, temb: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
        """The backbone's output norm, projection and unpatchify: tokens -> (B, C, T, H, W)."""
        bb = self.backbone
        shift, scale = (bb.scale_shift_table.to(temb.device) + temb.unsqueeze(1)).chunk(2, dim=1)
        hidden = (bb.norm_out(hidden.float()) * (1 + scale) + shift).type_as(hidden)
        hidden = bb.proj_out(hidden)
        b, _, t, h, w = shape
        pt, ph, pw = bb.config.patch_size
        hidden = hidden.reshape(b, t // pt, h // ph, w // pw, pt, ph, pw, -1)
        return hidden.permute(0, 7, 1, 4, 2, 5, 3, 6).flatten(6, 7).flatten(4, 5).flatten(2, 3)

    def embed(self, z_t: torch.Tensor) -> torch.Tensor:
        return self.backbone.patch_embedding(z_t).flatten(2).transpose(1, 2).contiguous()

    def prior(self, z_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Velocity of the backbone alone (no adapter)."""
        b = z_t.shape[0]
        rope = self.backbone.rope(z_t)
        hidden = self.embed(z_t)
        temb, proj, text = self.conditioning(t, b, hidden.dtype)
        for block in self.backbone.blocks:
            hidden = self.run_block(block, hidden, text, proj, rope)
        return self.head(hidden, temb, z_t.shape)

    def forward(
        self,
        z_t: torch.Tensor,
        t: torch.Tensor,
        lr_latent: torch.Tensor,
        clean_estimate: torch.Tensor,
        origin: list[tuple[int, int]] | None = None,
    ) -> torch.Tensor:
        b = z_t.shape[0]
        rope = self.backbone.rope(z_t)
        main = self.embed(z_t)
        cond = self.adapter(lr_latent, clean_estimate, t, origin).to(main.dtype)
        temb, proj, text = self.conditioning(t, b, main.dtype)
        proj2, text2 = torch.cat([proj, proj]), torch.cat([text, text])
        hidden = torch.cat([main, cond])
        for i, block in enumerate(self.backbone.blocks):
            main, cond = self.run_block(block, hidden, text2, proj2, rope).chunk(2)
            main = main + self.adapter.inject(i, cond).to(main.dtype)
            hidden = torch.cat([main, cond])
        return self.head(main, temb, z_t.shape)
