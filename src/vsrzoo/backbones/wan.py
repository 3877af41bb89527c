"""Wan video DiT (Wan team, arXiv 2503.20314) at tiny / small / full size, two families.

* ``wan2.1``: the Wan2.1-T2V-1.3B transformer (30 blocks, hidden 1536 = 12 heads x 128, FFN 8960,
  16 latent channels, patch (1, 2, 2), umT5 text width 4096); 1419.0M parameters. SimpleGVR
  (arXiv 2506.19838) starts from an internal 1B DiT that is not public: we use this open one
  instead (reconstruction, DESIGN.md section 2).
* ``wan2.2``: the Wan2.2-TI2V-5B transformer (30 blocks, hidden 3072 = 24 heads x 128, FFN 14336,
  48 latent channels, patch (1, 2, 2)); 5.0B parameters. LiteVSR (arXiv 2606.09250) keeps it frozen.

Full configs follow the public diffusers checkpoints; ``tiny`` (2 blocks, hidden 32) and
``small`` (8 blocks, hidden 384) are our CPU-sized configurations of the same class. The block
list is ``blocks``; the self-attention of block ``i`` is ``blocks[i].attn1``.
"""

from __future__ import annotations

from typing import Any

from diffusers import WanTransformer3DModel

from vsrzoo.backbones.loading import device_context, load_pretrained, variant_config
from vsrzoo.errors import unknown

WAN21_HUB_ID = "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"
WAN22_HUB_ID = "Wan-AI/Wan2.2-TI2V-5B-Diffusers"

_COMMON = dict(
    patch_size=(1, 2, 2),
    cross_attn_norm=True,
    qk_norm="rms_norm_across_heads",
    eps=1e-6,
)
_TINY = dict(
    _COMMON, num_attention_heads=2, attention_head_dim=16, ffn_dim=64, num_layers=2, text_dim=32, freq_dim=32
)
_SMALL = dict(
    _COMMON,
    num_attention_heads=6,
    attention_head_dim=64,
    ffn_dim=1536,
    num_layers=8,
    text_dim=4096,
    freq_dim=256,
)
WAN21_CONFIGS: dict[str, dict[str, Any]] = {
    "tiny": dict(_TINY, in_channels=16, out_channels=16),
    "small": dict(_SMALL, in_channels=16, out_channels=16),
    "full": dict(
        _COMMON,
        num_attention_heads=12,
        attention_head_dim=128,
        ffn_dim=8960,
        num_layers=30,
        text_dim=4096,
        freq_dim=256,
        in_channels=16,
        out_channels=16,
    ),
}
WAN22_CONFIGS: dict[str, dict[str, Any]] = {
    "tiny": dict(_TINY, in_channels=48, out_channels=48),
    "small": dict(_SMALL, in_channels=48, out_channels=48),
    "full": dict(
        _COMMON,
        num_attention_heads=24,
        attention_head_dim=128,
        ffn_dim=14336,
        num_layers=30,
        text_dim=4096,
        freq_dim=256,
        in_channels=48,
        out_channels=48,
    ),
}
FAMILIES = {"wan2.1": (WAN21_CONFIGS, WAN21_HUB_ID), "wan2.2": (WAN22_CONFIGS, WAN22_HUB_ID)}


def build_wan(
    variant: str = "tiny",
    pretrained: str | None = None,
    device=None,
    family: str = "wan2.1",
    **overrides: Any,
) -> WanTransformer3DModel:
    """A ``WanTransformer3DModel`` of ``family`` ('wan2.1' or 'wan2.2'): random, or from ``pretrained``.

    ``pretrained`` is a hub id (e.g. ``'Wan-AI/Wan2.1-T2V-1.3B-Diffusers'``) or a local directory;
    then the checkpoint's config wins and ``overrides`` go to ``from_pretrained``.
    """
    if family not in FAMILIES:
        raise unknown("Wan family", family, FAMILIES)
    configs, hub_id = FAMILIES[family]
    what = f"{family} transformer"
    cls = WanTransformer3DModel
    if pretrained is not None:
        return load_pretrained(
            cls, pretrained, what=what, subfolder="transformer", hub_hint=hub_id, **overrides
        )
    config = variant_config(configs, variant, overrides, cls, what)
    with device_context(device):
        return cls(**config)


def build_wan21(variant: str = "tiny", pretrained: str | None = None, device=None, **overrides: Any):
    """Wan2.1-T2V-1.3B-class transformer (full: 1419.0M parameters)."""
    return build_wan(variant, pretrained, device, family="wan2.1", **overrides)


def build_wan22(variant: str = "tiny", pretrained: str | None = None, device=None, **overrides: Any):
    """Wan2.2-TI2V-5B-class transformer (full: 5.0B parameters, 48 latent channels)."""
    return build_wan(variant, pretrained, device, family="wan2.2", **overrides)


__all__ = ["WAN21_CONFIGS", "WAN22_CONFIGS", "build_wan", "build_wan21", "build_wan22"]
