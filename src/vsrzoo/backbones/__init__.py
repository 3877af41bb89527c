"""Pretrained backbones (diffusers models) at tiny / small / full size, codecs and shared operations.

Every backbone factory has the signature ``build(variant="tiny", pretrained=None, device=None, **overrides)``:
``pretrained`` is a hub id or a local ``save_pretrained`` directory (diffusers ``from_pretrained``,
clear errors when missing); ``device="meta"`` builds without memory, to count parameters.

>>> from vsrzoo.backbones import create_backbone, describe
>>> model = create_backbone("pixart-alpha", variant="tiny")
>>> rows = describe(variants=("full",))   # parameter counts on the meta device

:func:`describe` feeds ``vsrzoo models --params``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from vsrzoo.backbones.common import (
    LoRALinear,
    add_lora,
    chunk_feed_forward,
    enable_gradient_checkpointing,
    freeze,
    get_blocks,
    insert_after,
    lora_state_dict,
    merge_lora,
    set_attention_processor,
    trainable_parameters,
    unfreeze,
    widen_conv,
    widen_input_channels,
    wrap_block,
)
from vsrzoo.backbones.pixart import build_pixart
from vsrzoo.backbones.sd_unet import PrunedUNet, PrunedVAEDecoder, build_pruned_unet, build_pruned_vae_decoder
from vsrzoo.backbones.text import CaptionEmbedding, save_prompt_embeddings
from vsrzoo.backbones.vae import (
    Codec,
    KLCodec,
    PixelUnshuffleCodec,
    WanCodec,
    build_pixel_unshuffle,
    build_sd_vae,
    build_wan21_vae,
    build_wan22_vae,
)
from vsrzoo.backbones.wan import build_wan21, build_wan22
from vsrzoo.errors import unknown
from vsrzoo.registry import VARIANTS, count_parameters

BACKBONES: dict[str, tuple[Callable[..., nn.Module], str]] = {
    "pixart-alpha": (build_pixart, "PixArt-alpha transformer; full = XL/2 512x512 (arXiv 2310.00426)"),
    "wan2.1-t2v-1.3b": (build_wan21, "Wan2.1-T2V-1.3B transformer (arXiv 2503.20314)"),
    "wan2.2-ti2v-5b": (build_wan22, "Wan2.2-TI2V-5B transformer, 48 latent channels"),
    "sd-vae": (build_sd_vae, "SD AutoencoderKL codec, 4 channels, 8x (arXiv 2112.10752)"),
    "wan2.1-vae": (build_wan21_vae, "Wan2.1 AutoencoderKLWan codec, 16 channels, 8x8 spatial, 4x temporal"),
    "wan2.2-vae": (build_wan22_vae, "Wan2.2 AutoencoderKLWan codec, 48 channels, 16x16 spatial, 4x temporal"),
    "pixel-unshuffle": (build_pixel_unshuffle, "lossless space-to-depth codec, no parameters"),
    "sd2.1-unet-pruned": (
        build_pruned_unet,
        "SD 2.1 UNet, 75% width, no cross-attention/time input (reconstruction)",
    ),
    "sd-vae-decoder-half": (build_pruned_vae_decoder, "SD VAE decoder at half width (reconstruction)"),
}


def list_backbones() -> list[str]:
    """Names accepted by :func:`create_backbone`."""
    return sorted(BACKBONES)


def create_backbone(
    name: str,
    variant: str = "tiny",
    pretrained: str | None = None,
    device: str | torch.device | None = None,
    **overrides: Any,
) -> nn.Module:
    """Build backbone ``name`` (see :func:`list_backbones`) at ``variant`` size or from ``pretrained``."""
    if name not in BACKBONES:
        raise unknown("backbone", name, BACKBONES)
    build, _ = BACKBONES[name]
    return build(variant=variant, pretrained=pretrained, device=device, **overrides)


def describe(names: Iterable[str] | None = None, variants: Iterable[str] = VARIANTS) -> list[dict[str, Any]]:
    """Parameter counts of each backbone and variant, built on the meta device (no memory, no weights).

    Each row: ``backbone``, ``variant``, ``class``, ``total``, ``trainable``, ``frozen`` (all as built:
    every parameter trainable) and ``summary``.
    """
    rows = []
    for name in list_backbones() if names is None else names:
        for variant in variants:
            model = create_backbone(name, variant, device="meta")
            inner = getattr(model, "vae", model)
            rows.append(
                {
                    "backbone": name,
                    "variant": variant,
                    "class": type(inner).__name__,
                    **count_parameters(model),
                    "summary": BACKBONES[name][1],
                }
            )
    return rows


__all__ = [
    "BACKBONES",
    "CaptionEmbedding",
    "Codec",
    "KLCodec",
    "LoRALinear",
    "PixelUnshuffleCodec",
    "PrunedUNet",
    "PrunedVAEDecoder",
    "WanCodec",
    "add_lora",
    "create_backbone",
    "chunk_feed_forward",
    "describe",
    "enable_gradient_checkpointing",
    "freeze",
    "get_blocks",
    "insert_after",
    "list_backbones",
    "lora_state_dict",
    "merge_lora",
    "save_prompt_embeddings",
    "set_attention_processor",
    "trainable_parameters",
    "unfreeze",
    "widen_conv",
    "widen_input_channels",
    "wrap_block",
]
