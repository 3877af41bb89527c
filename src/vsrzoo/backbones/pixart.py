"""PixArt-alpha transformer (Chen et al., arXiv 2310.00426) at tiny / small / full size.

``full`` is the XL/2 512x512 configuration of the public checkpoint
``PixArt-alpha/PixArt-XL-2-512x512``: 28 blocks, hidden 1152 (16 heads x 72), patch 2, 4 latent
channels in, 8 out (epsilon plus the learned-variance interpolation), T5 caption width 4096, no
resolution/aspect conditioning; 610.9M parameters. LiftVSR (arXiv 2506.08529) lifts it to video.
``tiny`` (2 blocks, hidden 32) and ``small`` (12 blocks, hidden 384) are our CPU-sized
configurations of the same class. The block list is ``transformer_blocks``.
"""

from __future__ import annotations

from typing import Any

from diffusers import PixArtTransformer2DModel

from vsrzoo.backbones.loading import device_context, load_pretrained, variant_config

HUB_ID = "PixArt-alpha/PixArt-XL-2-512x512"

_COMMON = dict(
    in_channels=4,
    out_channels=8,
    patch_size=2,
    norm_type="ada_norm_single",
    norm_elementwise_affine=False,
    norm_eps=1e-6,
    attention_bias=True,
    activation_fn="gelu-approximate",
    num_embeds_ada_norm=1000,
    use_additional_conditions=False,
)
PIXART_CONFIGS: dict[str, dict[str, Any]] = {
    "tiny": dict(
        _COMMON,
        num_attention_heads=2,
        attention_head_dim=16,
        num_layers=2,
        cross_attention_dim=32,
        caption_channels=32,
        sample_size=8,
    ),
    "small": dict(
        _COMMON,
        num_attention_heads=6,
        attention_head_dim=64,
        num_layers=12,
        cross_attention_dim=384,
        caption_channels=4096,
        sample_size=32,
    ),
    "full": dict(
        _COMMON,
        num_attention_heads=16,
        attention_head_dim=72,
        num_layers=28,
        cross_attention_dim=1152,
        caption_channels=4096,
        sample_size=64,
    ),
}


def build_pixart(
    variant: str = "tiny", pretrained: str | None = None, device=None, **overrides: Any
) -> PixArtTransformer2DModel:
    """A ``PixArtTransformer2DModel``: random at ``variant`` size, or loaded from ``pretrained``.

    ``pretrained`` is a hub id (e.g. ``'PixArt-alpha/PixArt-XL-2-512x512'``) or a local directory
    (a ``save_pretrained`` folder or a pipeline folder with ``transformer/``); then the checkpoint's
    config wins over ``variant`` and ``overrides`` go to ``from_pretrained`` (e.g. ``torch_dtype``).
    """
    what = "PixArt-alpha transformer"
    cls = PixArtTransformer2DModel
    if pretrained is not None:
        return load_pretrained(
            cls,
            pretrained,
            what=what,
            subfolder="transformer",
            accept=("Transformer2DModel",),
            hub_hint=HUB_ID,
            **overrides,
        )
    config = variant_config(PIXART_CONFIGS, variant, overrides, cls, what)
    with device_context(device):
        return cls(**config)


__all__ = ["HUB_ID", "PIXART_CONFIGS", "build_pixart"]
