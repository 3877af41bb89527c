"""Operations shared by all backbones: freezing, LoRA, gradient checkpointing, block hooks, input widening.

* LoRA (Hu et al., arXiv 2106.09685): ``W x + (alpha / r) B A x`` with ``B`` zero-initialised, so an
  adapted model starts equal to the pretrained one. :class:`LoRALinear` subclasses ``nn.Linear`` and
  keeps the base ``weight``/``bias`` names, so pretrained state dicts still load into an adapted model.
* Block hooks let methods change a backbone without editing diffusers code and without renaming its
  parameters: :func:`insert_after` runs a module on block ``i``'s output (LiftVSR's temporal branch
  after each PixArt block, LiteVSR's zero-initialised injection after each Wan block);
  :func:`wrap_block` replaces a block's call; :func:`set_attention_processor` swaps the attention of
  chosen blocks (SimpleGVR's sparse attention); :func:`chunk_feed_forward` runs each block's
  feed-forward a few samples at a time. Blocks that return tuples are handled: the hook
  sees the first element and the rest is passed through. Hooks are objects (not closures), so
  ``copy.deepcopy`` of a model that also owns the inserted modules stays consistent (EMA copies).
* :func:`widen_input_channels` adds zero-initialised input channels to a patch embedding or
  ``conv_in`` (LiftVSR concatenates the LR latent: 4 -> 8 channels) and updates the model config
  so ``save_pretrained``/``from_pretrained`` round-trip.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

BLOCK_LISTS = ("transformer_blocks", "blocks")
INPUT_CONVS = ("pos_embed.proj", "patch_embedding", "conv_in")
DEFAULT_LORA_TARGETS = ("to_q", "to_k", "to_v", "to_out.0")


# ----------------------------------------------------------------------------- freezing


def freeze(module: nn.Module) -> nn.Module:
    """Turn off gradients of every parameter of ``module``; returns it for chaining."""
    module.requires_grad_(False)
    return module


def unfreeze(module: nn.Module) -> nn.Module:
    """Turn on gradients of every parameter of ``module``; returns it for chaining."""
    module.requires_grad_(True)
    return module


def trainable_parameters(module: nn.Module) -> list[nn.Parameter]:
    """Parameters that require gradients (what an optimizer should see)."""
    return [p for p in module.parameters() if p.requires_grad]


# ----------------------------------------------------------------------------- LoRA


class LoRALinear(nn.Linear):
    """``nn.Linear`` plus a low-rank update ``(alpha / rank) * B(A(dropout(x)))``; ``B`` starts at zero.

    The base ``weight`` and ``bias`` keep their names; the adapter adds ``lora_A`` and ``lora_B``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        rank: int = 4,
        alpha: float | None = None,
        dropout: float = 0.0,
        bias: bool = True,
        device=None,
        dtype=None,
    ):
        super().__init__(in_features, out_features, bias=bias, device=device, dtype=dtype)
        if rank < 1:
            raise ValueError(f"LoRA rank must be >= 1, got {rank}")
        self.rank = rank
        self.scale = (alpha if alpha is not None else rank) / rank
        self.lora_dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self._init_adapter(device, dtype)

    def _init_adapter(self, device, dtype) -> None:
        self.lora_A = nn.Linear(self.in_features, self.rank, bias=False, device=device, dtype=dtype)
        self.lora_B = nn.Linear(self.rank, self.out_features, bias=False, device=device, dtype=dtype)
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B.weight)

    @classmethod
    def from_linear(cls, base: nn.Linear, rank: int = 4, alpha: float | None = None, dropout: float = 0.0):
        """Wrap ``base``: its weight and bias are shared, not copied; the adapter is trainable."""
        w = base.weight
        with torch.device("meta"):  # no throwaway copy of the base weight
            lora = cls(base.in_features, base.out_features, rank, alpha, dropout, base.bias is not None)
        lora.weight = base.weight
        lora.bias = base.bias
        lora._init_adapter(w.device, w.dtype)
        return lora

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.linear(x, self.weight, self.bias)
        return out + self.lora_B(self.lora_A(self.lora_dropout(x))) * self.scale

    @torch.no_grad()
    def merged(self) -> nn.Linear:
        """A plain ``nn.Linear`` with the update folded into the weight (for fast inference)."""
        w = self.weight
        out = nn.Linear(
            self.in_features, self.out_features, self.bias is not None, device=w.device, dtype=w.dtype
        )
        delta = (self.lora_B.weight.float() @ self.lora_A.weight.float()) * self.scale
        out.weight.copy_(w.float() + delta)
        if self.bias is not None:
            out.bias.copy_(self.bias)
        out.weight.requires_grad_(w.requires_grad)
        return out


def _matches(name: str, targets: Iterable[str]) -> bool:
    return any(name == t or name.endswith("." + t) for t in targets)


def _set_submodule(root: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(root.get_submodule(parent_name) if parent_name else root, child, module)


def add_lora(
    model: nn.Module,
    rank: int = 4,
    alpha: float | None = None,
    targets: Iterable[str] = DEFAULT_LORA_TARGETS,
    dropout: float = 0.0,
) -> list[str]:
    """Replace every ``nn.Linear`` whose name ends with one of ``targets`` by a :class:`LoRALinear`.

    Returns the names replaced. Freeze the model first if only the adapters should train.
    """
    targets = tuple(targets)
    names = [
        n
        for n, m in model.named_modules()
        if type(m) is nn.Linear and _matches(n, targets) and ".lora_" not in "." + n
    ]
    if not names:
        raise ValueError(f"add_lora: no nn.Linear named like {targets} in {type(model).__name__}")
    for name in names:
        _set_submodule(model, name, LoRALinear.from_linear(model.get_submodule(name), rank, alpha, dropout))
    return names


def merge_lora(model: nn.Module) -> int:
    """Fold every :class:`LoRALinear` of ``model`` into a plain ``nn.Linear``; returns how many."""
    names = [n for n, m in model.named_modules() if isinstance(m, LoRALinear)]
    for name in names:
        _set_submodule(model, name, model.get_submodule(name).merged())
    return len(names)


def lora_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Only the LoRA adapter tensors of ``model`` (small files for fine-tuned adapters)."""
    return {k: v for k, v in model.state_dict().items() if ".lora_A." in k or ".lora_B." in k}


# ----------------------------------------------------------------------------- blocks and hooks


def get_blocks(model: nn.Module, attr: str | None = None) -> nn.ModuleList:
    """The main block list: ``transformer_blocks`` (PixArt) or ``blocks`` (Wan), or ``attr``."""
    for name in [attr] if attr else BLOCK_LISTS:
        blocks = getattr(model, name, None)
        if isinstance(blocks, nn.ModuleList):
            return blocks
    raise ValueError(f"{type(model).__name__} has no block list named {attr or ' or '.join(BLOCK_LISTS)}")


def _bound_inputs(block: nn.Module, args: tuple, kwargs: dict) -> dict[str, Any]:
    """The block's call arguments by parameter name (positional or keyword, as diffusers varies)."""
    bound = inspect.signature(type(block).forward).bind_partial(block, *args, **kwargs)
    return {k: v for k, v in bound.arguments.items() if k != "self"}


def _replace_first(output: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    if isinstance(output, tuple):
        return (fn(output[0]), *output[1:])
    if isinstance(output, list):
        return [fn(output[0]), *output[1:]]
    return fn(output)


class _AfterBlockHook:
    """Forward hook that maps a block's (first) output through ``module``."""

    def __init__(self, module: Callable, with_inputs: bool):
        self.module = module
        self.with_inputs = with_inputs

    def __call__(self, block: nn.Module, args: tuple, kwargs: dict, output: Any) -> Any:
        if not self.with_inputs:
            return _replace_first(output, self.module)
        inputs = _bound_inputs(block, args, kwargs)
        return _replace_first(output, lambda h: self.module(h, inputs))


def insert_after(
    model: nn.Module,
    index: int,
    module: Callable,
    with_inputs: bool = False,
    blocks_attr: str | None = None,
) -> torch.utils.hooks.RemovableHandle:
    """Run ``module`` on the hidden states leaving block ``index``; its result replaces them.

    ``module(h)`` (or ``module(h, inputs)`` with ``with_inputs=True``, ``inputs`` being the block's
    call arguments by name, e.g. ``timestep``/``temb``, ``encoder_hidden_states``) must return the
    full new hidden states, so a residual branch adds ``h`` itself. The module is not registered as
    a child of ``model`` (parameter names stay those of the checkpoint): keep it in your own
    ``nn.Module`` so it trains and saves. Returns a handle; ``handle.remove()`` undoes the insert.
    """
    block = get_blocks(model, blocks_attr)[index]
    return block.register_forward_hook(_AfterBlockHook(module, with_inputs), with_kwargs=True)


class _WrappedForward:
    """Instance-level ``forward`` that calls ``wrapper(original_forward, *args, **kwargs)``."""

    def __init__(self, block: nn.Module, wrapper: Callable, previous: Callable | None):
        self.block = block
        self.wrapper = wrapper
        self.previous = previous

    def original(self, *args, **kwargs):
        if self.previous is not None:
            return self.previous(*args, **kwargs)
        return type(self.block).forward(self.block, *args, **kwargs)

    def __call__(self, *args, **kwargs):
        return self.wrapper(self.original, *args, **kwargs)


class WrapHandle:
    """Undo for :func:`wrap_block`."""

    def __init__(self, block: nn.Module, wrapped: _WrappedForward):
        self.block = block
        self.wrapped = wrapped

    def remove(self) -> None:
        if self.block.__dict__.get("forward") is not self.wrapped:
            raise RuntimeError("wrap_block handles must be removed in reverse order of wrapping")
        if self.wrapped.previous is None:
            del self.block.forward
        else:
            self.block.forward = self.wrapped.previous


def wrap_block(model: nn.Module, index: int, wrapper: Callable, blocks_attr: str | None = None) -> WrapHandle:
    """Make block ``index`` compute ``wrapper(block_forward, *args, **kwargs)`` instead of its forward.

    Parameter names and forward hooks of the block are unchanged. Returns a handle to undo it.
    """
    block = get_blocks(model, blocks_attr)[index]
    wrapped = _WrappedForward(block, wrapper, block.__dict__.get("forward"))
    block.forward = wrapped
    return WrapHandle(block, wrapped)


FEED_FORWARDS = ("ff", "ffn")  # the feed-forward of PixArt's BasicTransformerBlock, of Wan's block


def _in_chunks(forward: Callable, x: torch.Tensor, *args, chunk: int, **kwargs) -> torch.Tensor:
    if x.shape[0] <= chunk:
        return forward(x, *args, **kwargs)
    return torch.cat([forward(part, *args, **kwargs) for part in x.split(chunk)])


def chunk_feed_forward(model: nn.Module, chunk: int | None, blocks_attr: str | None = None) -> None:
    """Run each block's feed-forward on ``chunk`` samples of the batch at a time (None: all at once).

    The same numbers, as the feed-forward is per token; only ``chunk`` samples' wide hidden
    activation exists at once, so it can stay in cache (and takes ``chunk / batch`` of the memory).
    diffusers' ``set_chunk_feed_forward`` does this for PixArt's blocks but not for Wan's, and only
    for chunk sizes that divide the batch; this wraps the ``ff``/``ffn`` module of any block instead.
    """
    for block in get_blocks(model, blocks_attr):
        ff = next(
            (getattr(block, n) for n in FEED_FORWARDS if isinstance(getattr(block, n, None), nn.Module)), None
        )
        if ff is None:
            raise ValueError(f"{type(block).__name__} has no feed-forward named {' or '.join(FEED_FORWARDS)}")
        previous = ff.__dict__.get("forward")
        if isinstance(previous, _WrappedForward) and getattr(previous.wrapper, "func", None) is _in_chunks:
            previous = previous.previous  # re-chunking replaces our own wrapper, never stacks on it
        if chunk is not None:
            ff.forward = _WrappedForward(ff, functools.partial(_in_chunks, chunk=chunk), previous)
        elif previous is None:
            ff.__dict__.pop("forward", None)
        else:
            ff.forward = previous


def set_attention_processor(
    model: nn.Module,
    make_processor: Callable[[int, nn.Module], Any],
    attn_name: str = "attn1",
    indices: Iterable[int] | None = None,
    blocks_attr: str | None = None,
) -> None:
    """Set ``block.<attn_name>``'s diffusers attention processor to ``make_processor(i, attn)`` per block."""
    blocks = get_blocks(model, blocks_attr)
    for i in range(len(blocks)) if indices is None else indices:
        attn = getattr(blocks[i], attn_name)
        attn.set_processor(make_processor(i, attn))


# ----------------------------------------------------------------------------- checkpointing


def _checkpointed(forward: Callable, *args, **kwargs):
    if torch.is_grad_enabled():
        return checkpoint(forward, *args, use_reentrant=False, **kwargs)
    return forward(*args, **kwargs)


def enable_gradient_checkpointing(model: nn.Module, blocks_attr: str | None = None) -> None:
    """Recompute activations in the backward pass to save memory.

    Uses diffusers' own switch when the model has one, else checkpoints each block of its block list.
    """
    if getattr(model, "_supports_gradient_checkpointing", False):
        model.enable_gradient_checkpointing()
        return
    for i in range(len(get_blocks(model, blocks_attr))):
        wrap_block(model, i, _checkpointed, blocks_attr)


# ----------------------------------------------------------------------------- input widening


def widen_conv(conv: nn.Module, in_channels: int) -> nn.Module:
    """A copy of ``conv`` (Conv2d/Conv3d/Linear) with ``in_channels`` inputs; new weights are zero.

    The output for inputs whose extra channels hold anything equals the old output at first, so a
    pretrained model is unchanged until the new weights train.
    """
    old = conv.in_features if isinstance(conv, nn.Linear) else conv.in_channels
    if in_channels < old:
        raise ValueError(f"widen_conv: cannot shrink {old} input channels to {in_channels}")
    w = conv.weight
    if isinstance(conv, nn.Linear):
        new = nn.Linear(in_channels, conv.out_features, conv.bias is not None, device=w.device, dtype=w.dtype)
    else:
        kwargs = dict(
            stride=conv.stride,
            padding=conv.padding,
            dilation=conv.dilation,
            groups=conv.groups,
            bias=conv.bias is not None,
            padding_mode=conv.padding_mode,
            device=w.device,
            dtype=w.dtype,
        )
        new = type(conv)(in_channels, conv.out_channels, conv.kernel_size, **kwargs)
    with torch.no_grad():
        new.weight.zero_()
        new.weight[:, :old] = w
        if conv.bias is not None:
            new.bias.copy_(conv.bias)
    new.requires_grad_(w.requires_grad)
    return new


def find_input_conv(model: nn.Module) -> str:
    """Dotted name of the model's input projection (PixArt, Wan or UNet naming)."""
    for name in INPUT_CONVS:
        try:
            model.get_submodule(name)
            return name
        except AttributeError:
            continue
    raise ValueError(f"{type(model).__name__} has none of the input layers {INPUT_CONVS}")


def widen_input_channels(model: nn.Module, in_channels: int) -> nn.Module:
    """Give ``model`` ``in_channels`` input channels, extra ones zero-initialised; updates its config.

    ``out_channels`` is unchanged (diffusers configs store it explicitly).
    """
    name = find_input_conv(model)
    _set_submodule(model, name, widen_conv(model.get_submodule(name), in_channels))
    if hasattr(model, "register_to_config"):
        model.register_to_config(in_channels=in_channels)
    return model


__all__ = [
    "LoRALinear",
    "WrapHandle",
    "add_lora",
    "enable_gradient_checkpointing",
    "find_input_conv",
    "freeze",
    "get_blocks",
    "insert_after",
    "lora_state_dict",
    "merge_lora",
    "set_attention_processor",
    "trainable_parameters",
    "unfreeze",
    "widen_conv",
    "widen_input_channels",
]
