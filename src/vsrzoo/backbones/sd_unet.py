"""Pruned Stable Diffusion 2.1 UNet and half-width VAE decoder for one-step VSR (InstaVSR).

InstaVSR (arXiv 2603.26134) says only that it prunes a one-step diffusion backbone. Everything
here is **reconstruction** in the style of AdcSR (adversarial diffusion compression of a one-step
SD 2.1 SR model), DESIGN.md section 2:

* :class:`PrunedUNet` keeps the SD 2.1 UNet layout and parameter names (``conv_in``,
  ``down_blocks``, ``mid_block``, ``up_blocks``, ``conv_out``) but has **no cross-attention**
  (no text encoder), **no timestep embedding** (one fixed step) and a configurable channel
  width (``full`` = 75% of SD 2.1: 240/480/960/960 channels, same head count, head dim 48).
* :func:`prune_unet` initialises it from a pretrained ``UNet2DConditionModel`` by slicing weights:
  the fixed-timestep embedding is folded into each ResNet's ``conv1`` bias (exact), the
  cross-attention layers are dropped, and every channel dimension keeps its leading channels
  -- per attention head for q/k/v/out, per half for GEGLU, per concatenated part for decoder
  skip connections, so that each kept channel still means what it meant. At ``width=1`` the
  result equals the source at that timestep whenever its cross-attention outputs are zero.
* :class:`PrunedVAEDecoder` is the ``AutoencoderKL`` decoder at half width (64/128/256/256),
  initialised by :func:`prune_vae_decoder` the same way.

The GroupNorm group count scales with the width so group sizes (and hence statistics of kept
groups) match the source. Widths, the fixed timestep (999) and the leading-channel choice are
constructor arguments.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from diffusers import AutoencoderKL, ConfigMixin, ModelMixin, UNet2DConditionModel
from diffusers.configuration_utils import register_to_config
from diffusers.models.activations import GEGLU
from diffusers.models.attention_processor import Attention
from diffusers.models.autoencoders.vae import Decoder
from diffusers.models.resnet import ResnetBlock2D
from diffusers.models.unets.unet_2d_blocks import (
    CrossAttnDownBlock2D,
    CrossAttnUpBlock2D,
    DownBlock2D,
    UNetMidBlock2DCrossAttn,
    UpBlock2D,
)
from torch import nn

from vsrzoo.backbones.loading import (
    check_class,
    device_context,
    from_pretrained,
    read_config,
    variant_config,
)
from vsrzoo.backbones.vae import Codec

SD21_HUB_ID = "stabilityai/stable-diffusion-2-1-base"


class PrunedUNet(ModelMixin, ConfigMixin):
    """SD-style UNet without cross-attention or timestep input: ``forward(sample) -> sample``.

    ``attention_levels[i]`` says whether resolution level ``i`` has (self-attention-only)
    transformer blocks; ``num_attention_heads[i]`` their head count.
    """

    _supports_gradient_checkpointing = True

    @register_to_config
    def __init__(
        self,
        in_channels: int = 4,
        out_channels: int = 4,
        block_out_channels: tuple[int, ...] = (240, 480, 960, 960),
        attention_levels: tuple[bool, ...] = (True, True, True, False),
        num_attention_heads: tuple[int, ...] = (5, 10, 20, 20),
        layers_per_block: int = 2,
        norm_num_groups: int = 24,
        norm_eps: float = 1e-5,
        use_linear_projection: bool = True,
        upcast_attention: bool = False,
    ):
        super().__init__()
        boc, heads, levels = list(block_out_channels), list(num_attention_heads), list(attention_levels)
        common = dict(
            temb_channels=None,
            resnet_eps=norm_eps,
            resnet_act_fn="silu",
            resnet_groups=norm_num_groups,
        )
        attn = dict(
            cross_attention_dim=None,
            use_linear_projection=use_linear_projection,
            upcast_attention=upcast_attention,
        )
        self.conv_in = nn.Conv2d(in_channels, boc[0], 3, padding=1)
        self.down_blocks = nn.ModuleList()
        out_ch = boc[0]
        for i, ch in enumerate(boc):
            in_ch, out_ch = out_ch, ch
            kw = dict(common, in_channels=in_ch, out_channels=out_ch, num_layers=layers_per_block)
            kw["add_downsample"] = i < len(boc) - 1
            if levels[i]:
                self.down_blocks.append(CrossAttnDownBlock2D(**kw, **attn, num_attention_heads=heads[i]))
            else:
                self.down_blocks.append(DownBlock2D(**kw))
        self.mid_block = UNetMidBlock2DCrossAttn(
            in_channels=boc[-1], num_attention_heads=heads[-1], **common, **attn
        )
        self.up_blocks = nn.ModuleList()
        rev, rev_heads, rev_levels = boc[::-1], heads[::-1], levels[::-1]
        out_ch = rev[0]
        for i, ch in enumerate(rev):
            prev, out_ch = out_ch, ch
            kw = dict(
                common,
                in_channels=rev[min(i + 1, len(boc) - 1)],
                out_channels=out_ch,
                prev_output_channel=prev,
                num_layers=layers_per_block + 1,
                add_upsample=i < len(boc) - 1,
                resolution_idx=i,
            )
            if rev_levels[i]:
                self.up_blocks.append(CrossAttnUpBlock2D(**kw, **attn, num_attention_heads=rev_heads[i]))
            else:
                self.up_blocks.append(UpBlock2D(**kw))
        self.conv_norm_out = nn.GroupNorm(norm_num_groups, boc[0], eps=norm_eps)
        self.conv_act = nn.SiLU()
        self.conv_out = nn.Conv2d(boc[0], out_channels, 3, padding=1)

    def forward(self, sample: torch.Tensor) -> torch.Tensor:
        x = self.conv_in(sample)
        skips: tuple[torch.Tensor, ...] = (x,)
        for block in self.down_blocks:
            x, res = block(hidden_states=x, temb=None)
            skips += res
        x = self.mid_block(x, None)
        for i, block in enumerate(self.up_blocks):
            n = len(block.resnets)
            res, skips = skips[-n:], skips[:-n]
            size = skips[-1].shape[2:] if i < len(self.up_blocks) - 1 else None
            x = block(hidden_states=x, res_hidden_states_tuple=res, temb=None, upsample_size=size)
        return self.conv_out(self.conv_act(self.conv_norm_out(x)))


class PrunedVAEDecoder(Codec, ModelMixin, ConfigMixin):
    """``AutoencoderKL`` decoder half (``post_quant_conv`` + ``decoder``) at any width; decode-only codec."""

    _supports_gradient_checkpointing = True

    @register_to_config
    def __init__(
        self,
        latent_channels: int = 4,
        out_channels: int = 3,
        block_out_channels: tuple[int, ...] = (64, 128, 256, 256),
        layers_per_block: int = 2,
        norm_num_groups: int = 16,
        scaling_factor: float = 0.18215,
        shift_factor: float | None = None,
    ):
        super().__init__()
        self.post_quant_conv = nn.Conv2d(latent_channels, latent_channels, 1)
        self.decoder = Decoder(
            in_channels=latent_channels,
            out_channels=out_channels,
            up_block_types=("UpDecoderBlock2D",) * len(block_out_channels),
            block_out_channels=tuple(block_out_channels),
            layers_per_block=layers_per_block,
            norm_num_groups=norm_num_groups,
            act_fn="silu",
        )
        self.latent_channels = latent_channels
        self.spatial_factor = 2 ** (len(block_out_channels) - 1)
        self.temporal_factor = 1

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Normalised latent (as from the SD VAE codec) -> pixels in about [-1, 1]."""
        shift = self.config.shift_factor or 0.0
        return self.decoder(self.post_quant_conv(z / self.config.scaling_factor + shift))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.decode(z)


# ----------------------------------------------------------------------------- weight slicing


def _split_sizes(total: int, parts: list[int] | int) -> list[int]:
    if isinstance(parts, int):
        return [total // parts] * parts
    return parts


def slice_tensor(
    source: torch.Tensor, shape: tuple[int, ...], parts: dict[int, tuple[Any, Any]] | None = None
):
    """Keep the leading entries of ``source`` along every dim so it has ``shape``.

    ``parts[d] = (source_parts, target_parts)`` splits dim ``d`` into chunks first (an int for
    equal chunks such as attention heads, or a list of sizes for concatenations) and keeps the
    leading entries of each chunk.
    """
    out = source
    for d, size in enumerate(shape):
        if out.shape[d] == size:
            continue
        if parts and d in parts:
            src, tgt = parts[d]
            chunks = out.split(_split_sizes(out.shape[d], src), dim=d)
            sizes = _split_sizes(size, tgt)
            out = torch.cat([c.narrow(d, 0, s) for c, s in zip(chunks, sizes)], dim=d)
        else:
            out = out.narrow(d, 0, size)
    return out


def _slice_parts(target: nn.Module, source: nn.Module, key: str, segments: dict[str, tuple]) -> dict:
    """How each dim of parameter ``key`` is chunked (attention heads, GEGLU halves, skip concat)."""
    module_name, _, param = key.rpartition(".")
    owner_name, _, leaf = module_name.rpartition(".")
    if leaf in ("to_q", "to_k", "to_v") or module_name.endswith("to_out.0"):
        attn_name = owner_name if leaf != "0" else owner_name.rpartition(".")[0]
        attn, src_attn = target.get_submodule(attn_name), source.get_submodule(attn_name)
        if isinstance(attn, Attention) and attn.heads == src_attn.heads:
            dim = 1 if module_name.endswith("to_out.0") and param == "weight" else 0
            if not (module_name.endswith("to_out.0") and param == "bias"):
                return {dim: (attn.heads, attn.heads)}
    if leaf == "proj" and isinstance(target.get_submodule(owner_name), GEGLU):
        return {0: (2, 2)}
    if module_name in segments:
        src, tgt, dim = segments[module_name]
        return {dim: (src, tgt)}
    return {}


def _skip_segments(model_cfg: dict, prefix: str = "") -> dict[str, tuple[list[int], int]]:
    """Input-channel parts (previous output, skip) of every up-block ResNet, by module name."""
    boc = list(model_cfg["block_out_channels"])
    n = len(boc)
    rev = boc[::-1]
    out, parts = rev[0], {}
    for i in range(n):
        prev, out = out, rev[i]
        inp = rev[min(i + 1, n - 1)]
        layers = model_cfg["layers_per_block"] + 1
        for j in range(layers):
            skip = inp if j == layers - 1 else out
            first = prev if j == 0 else out
            name = f"{prefix}up_blocks.{i}.resnets.{j}"
            parts[f"{name}.norm1"] = ([first, skip], 0)
            parts[f"{name}.conv1"] = ([first, skip], 1)
            parts[f"{name}.conv_shortcut"] = ([first, skip], 1)
    return parts


@torch.no_grad()
def load_sliced(
    target: nn.Module, source: nn.Module, state: dict[str, torch.Tensor], segments=None
) -> list[str]:
    """Copy ``state`` (of ``source``) into ``target`` by slicing; returns keys left at their init."""
    segments = segments or {}
    kept = []
    new_state = target.state_dict()
    for key, value in new_state.items():
        src = state.get(key)
        if src is None or src.ndim != value.ndim or any(s < t for s, t in zip(src.shape, value.shape)):
            kept.append(key)
            continue
        parts = _slice_parts(target, source, key, segments)
        new_state[key] = slice_tensor(src, tuple(value.shape), parts).to(value.dtype)
    target.load_state_dict(new_state)
    return kept


@torch.no_grad()
def fold_timestep(unet: UNet2DConditionModel, timestep: int) -> dict[str, torch.Tensor]:
    """``unet``'s state dict with the embedding of a fixed ``timestep`` added to each ResNet's conv1 bias."""
    state = {k: v.clone() for k, v in unet.state_dict().items()}
    t = torch.tensor([timestep], device=unet.device)
    emb = unet.time_embedding(unet.time_proj(t).to(unet.dtype))
    for name, module in unet.named_modules():
        if not isinstance(module, ResnetBlock2D) or module.time_emb_proj is None:
            continue
        if module.time_embedding_norm != "default":
            raise ValueError(f"cannot fold a '{module.time_embedding_norm}' time embedding ({name})")
        temb = emb if module.skip_time_act else module.nonlinearity(emb)
        state[f"{name}.conv1.bias"] += module.time_emb_proj(temb)[0].to(state[f"{name}.conv1.bias"].dtype)
    return state


def _scaled(channels: list[int], width: float, groups: int) -> tuple[list[int], int]:
    new = [round(c * width) for c in channels]
    new_groups = round(groups * width)
    if any(c % new_groups for c in new) or not math.isclose(new_groups, groups * width):
        raise ValueError(
            f"width {width} of channels {channels} with {groups} groups gives no whole group count"
        )
    return new, new_groups


def pruned_unet_config(source_config: dict, width: float = 0.75, **overrides: Any) -> dict:
    """``PrunedUNet`` kwargs for a ``UNet2DConditionModel`` config scaled to ``width``."""
    boc, groups = _scaled(list(source_config["block_out_channels"]), width, source_config["norm_num_groups"])
    heads = source_config.get("num_attention_heads") or source_config["attention_head_dim"]
    heads = [heads] * len(boc) if isinstance(heads, int) else list(heads)
    config = dict(
        in_channels=source_config["in_channels"],
        out_channels=source_config["out_channels"],
        block_out_channels=tuple(boc),
        attention_levels=tuple("CrossAttn" in t for t in source_config["down_block_types"]),
        num_attention_heads=tuple(heads),
        layers_per_block=source_config["layers_per_block"],
        norm_num_groups=groups,
        norm_eps=source_config["norm_eps"],
        use_linear_projection=source_config["use_linear_projection"],
        upcast_attention=source_config["upcast_attention"],
    )
    return {**config, **overrides}


def _like(model: ModelMixin, ref: ModelMixin) -> ModelMixin:
    """``model`` moved to ``ref``'s device and dtype (only when they differ, to keep diffusers quiet)."""
    if ref.dtype != model.dtype:
        model = model.to(dtype=ref.dtype)
    return model.to(ref.device) if ref.device != model.device else model


def prune_unet(
    source: UNet2DConditionModel, width: float = 0.75, timestep: int = 999, **overrides: Any
) -> tuple[PrunedUNet, list[str]]:
    """A :class:`PrunedUNet` sliced from ``source``; also returns the keys left at random init.

    ``overrides`` change the pruned config (e.g. ``in_channels=12`` for a pixel-unshuffled input;
    weights that do not fit, like such a ``conv_in``, keep their fresh initialisation).
    """
    config = pruned_unet_config(dict(source.config), width, **overrides)
    target = _like(PrunedUNet(**config), source)
    segments = {}
    src_parts = _skip_segments(dict(source.config))
    for name, (tgt, dim) in _skip_segments(config).items():
        segments[name] = (src_parts[name][0], tgt, dim)
    kept = load_sliced(target, source, fold_timestep(source, timestep), segments)
    return target, kept


def prune_vae_decoder(vae: AutoencoderKL, width: float = 0.5) -> tuple[PrunedVAEDecoder, list[str]]:
    """A :class:`PrunedVAEDecoder` sliced from ``vae``'s decoder; also returns keys left at init."""
    cfg = vae.config
    boc, groups = _scaled(list(cfg.block_out_channels), width, cfg.norm_num_groups)
    target = PrunedVAEDecoder(
        latent_channels=cfg.latent_channels,
        out_channels=cfg.out_channels,
        block_out_channels=tuple(boc),
        layers_per_block=cfg.layers_per_block,
        norm_num_groups=groups,
        scaling_factor=cfg.scaling_factor,
        shift_factor=cfg.shift_factor,
    )
    target = _like(target, vae)
    state = {k: v for k, v in vae.state_dict().items() if k.startswith(("decoder.", "post_quant_conv."))}
    return target, load_sliced(target, vae, state)


# ----------------------------------------------------------------------------- configs and factories

PRUNED_UNET_CONFIGS: dict[str, dict[str, Any]] = {
    "tiny": dict(
        block_out_channels=(16, 32),
        attention_levels=(True, False),
        num_attention_heads=(2, 4),
        layers_per_block=1,
        norm_num_groups=8,
    ),
    "small": dict(
        block_out_channels=(96, 192, 384, 384),
        attention_levels=(True, True, True, False),
        num_attention_heads=(3, 6, 12, 12),
        layers_per_block=1,
        norm_num_groups=24,
    ),
    "full": dict(
        block_out_channels=(240, 480, 960, 960),
        attention_levels=(True, True, True, False),
        num_attention_heads=(5, 10, 20, 20),
        layers_per_block=2,
        norm_num_groups=24,
    ),
}
PRUNED_DECODER_CONFIGS: dict[str, dict[str, Any]] = {
    "tiny": dict(block_out_channels=(8, 8, 16, 16), layers_per_block=1, norm_num_groups=4),
    "small": dict(block_out_channels=(32, 64, 128, 128), layers_per_block=1, norm_num_groups=16),
    "full": dict(block_out_channels=(64, 128, 256, 256), layers_per_block=2, norm_num_groups=16),
}
UNET_WIDTH = 0.75
DECODER_WIDTH = 0.5


def _load_or_prune(pretrained, cls, source_cls, subfolder, what, prune, **kwargs):
    config, location, sub = read_config(pretrained, subfolder, what, SD21_HUB_ID)
    found = check_class(config, [cls.__name__, source_cls.__name__], pretrained, what)
    if found == cls.__name__:
        return from_pretrained(cls, location, sub, what, **kwargs)
    model, _ = prune(from_pretrained(source_cls, location, sub, what, **kwargs))
    return model


def build_pruned_unet(
    variant: str = "tiny",
    pretrained: str | None = None,
    device=None,
    width: float = UNET_WIDTH,
    timestep: int = 999,
    **overrides: Any,
) -> PrunedUNet:
    """A :class:`PrunedUNet`: random at ``variant`` size, or from ``pretrained``.

    ``pretrained`` may be a saved ``PrunedUNet`` or an SD UNet (e.g. ``'stabilityai/stable-diffusion-2-1-base'``,
    subfolder ``unet``), which is pruned to ``width`` at the fixed ``timestep`` with ``overrides``
    applied to the pruned config.
    """
    what = "pruned SD UNet"
    if pretrained is not None:
        prune = lambda src: prune_unet(src, width, timestep, **overrides)  # noqa: E731
        return _load_or_prune(pretrained, PrunedUNet, UNet2DConditionModel, "unet", what, prune)
    config = variant_config(PRUNED_UNET_CONFIGS, variant, overrides, PrunedUNet, what)
    with device_context(device):
        return PrunedUNet(**config)


def build_pruned_vae_decoder(
    variant: str = "tiny",
    pretrained: str | None = None,
    device=None,
    width: float = DECODER_WIDTH,
    **overrides: Any,
) -> PrunedVAEDecoder:
    """A :class:`PrunedVAEDecoder`: random at ``variant`` size, or sliced from an SD VAE ``pretrained``."""
    what = "half-width VAE decoder"
    if pretrained is not None:
        prune = lambda src: prune_vae_decoder(src, width)  # noqa: E731
        return _load_or_prune(pretrained, PrunedVAEDecoder, AutoencoderKL, "vae", what, prune, **overrides)
    config = variant_config(PRUNED_DECODER_CONFIGS, variant, overrides, PrunedVAEDecoder, what)
    with device_context(device):
        return PrunedVAEDecoder(**config)


__all__ = [
    "PRUNED_DECODER_CONFIGS",
    "PRUNED_UNET_CONFIGS",
    "PrunedUNet",
    "PrunedVAEDecoder",
    "build_pruned_unet",
    "build_pruned_vae_decoder",
    "fold_timestep",
    "load_sliced",
    "prune_unet",
    "prune_vae_decoder",
    "pruned_unet_config",
    "slice_tensor",
]
