"""freeze / LoRA / hooks / gradient checkpointing / input widening on real tiny diffusers models."""

from __future__ import annotations

import copy

import pytest
import torch
from diffusers.models.transformers.transformer_wan import WanAttnProcessor
from torch import nn

from vsrzoo.backbones import (
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
    widen_input_channels,
    wrap_block,
)
from vsrzoo.backbones.pixart import build_pixart
from vsrzoo.backbones.sd_unet import build_pruned_unet
from vsrzoo.backbones.wan import build_wan21, build_wan22


def _pixart_inputs(model, batch=2, channels=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, channels or model.config.in_channels, 16, 16, generator=g)
    caption = torch.randn(batch, 6, model.config.caption_channels, generator=g)
    return dict(hidden_states=x, encoder_hidden_states=caption, timestep=torch.arange(batch) * 300 + 5)


def _wan_inputs(model, batch=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, model.config.in_channels, 3, 8, 8, generator=g)
    text = torch.randn(batch, 6, model.config.text_dim, generator=g)
    return dict(hidden_states=x, timestep=torch.arange(batch) * 300 + 5, encoder_hidden_states=text)


def _out(model, inputs):
    return model(**inputs).sample


@pytest.fixture
def pixart():
    torch.manual_seed(0)
    return build_pixart("tiny").eval()


@pytest.fixture
def wan():
    torch.manual_seed(0)
    return build_wan21("tiny").eval()


# ----------------------------------------------------------------------------- freeze and LoRA


def test_freeze_leaves_nothing_trainable(pixart):
    freeze(pixart)
    assert trainable_parameters(pixart) == []


def test_lora_starts_as_identity_then_trains_only_adapters(pixart):
    inputs = _pixart_inputs(pixart)
    base = _out(pixart, inputs).detach()
    freeze(pixart)
    names = add_lora(pixart, rank=4, alpha=8)
    assert len(names) == 4 * 2 * len(pixart.transformer_blocks)  # q, k, v, out of attn1 and attn2
    torch.testing.assert_close(_out(pixart, inputs), base, rtol=0, atol=0)
    trainable = {n for n, p in pixart.named_parameters() if p.requires_grad}
    assert trainable and all(".lora_A." in n or ".lora_B." in n for n in trainable)
    _out(pixart, inputs).square().mean().backward()
    lora_b = pixart.get_submodule(names[0]).lora_B.weight
    assert lora_b.grad is not None and lora_b.grad.abs().sum() > 0


def test_lora_keeps_base_parameter_names(pixart):
    base_keys = set(pixart.state_dict())
    add_lora(pixart, rank=2)
    keys = set(pixart.state_dict())
    assert base_keys <= keys
    assert {k for k in keys - base_keys} == set(lora_state_dict(pixart))


def test_lora_merge_matches_unmerged(pixart):
    inputs = _pixart_inputs(pixart)
    add_lora(pixart, rank=2, targets=("to_q", "to_v", "ff.net.2"))
    with torch.no_grad():
        for m in pixart.modules():
            if isinstance(m, LoRALinear):
                m.lora_B.weight.normal_(0, 0.1)
        adapted = _out(pixart, inputs)
        assert merge_lora(pixart) == 5 * len(pixart.transformer_blocks)  # q, v of attn1+attn2, ff out
        merged = _out(pixart, inputs)
    assert not any(isinstance(m, LoRALinear) for m in pixart.modules())
    torch.testing.assert_close(merged, adapted, rtol=1e-5, atol=1e-5)


def test_lora_on_wan_and_missing_target_error(wan):
    assert len(add_lora(wan, targets=("to_q",))) == 2 * len(wan.blocks)
    with pytest.raises(ValueError, match="no nn.Linear"):
        add_lora(wan, targets=("not_a_layer",))


# ----------------------------------------------------------------------------- hooks


class _AddOne(nn.Module):
    def forward(self, h):
        return h + 1.0


def test_insert_after_changes_then_remove_restores(pixart):
    inputs = _pixart_inputs(pixart)
    base = _out(pixart, inputs)
    handle = insert_after(pixart, 0, nn.Identity())
    torch.testing.assert_close(_out(pixart, inputs), base, rtol=0, atol=0)
    handle.remove()
    handle = insert_after(pixart, 1, _AddOne())
    assert not torch.allclose(_out(pixart, inputs), base)
    handle.remove()
    torch.testing.assert_close(_out(pixart, inputs), base, rtol=0, atol=0)


def test_insert_after_equals_running_blocks_by_hand(wan):
    """The hook sees exactly block i's output and its result feeds block i + 1."""
    inputs = _wan_inputs(wan)
    seen = {}

    def record(i):
        def fn(h):
            seen[i] = h.clone()
            return h * 0.5

        return fn

    handles = [insert_after(wan, i, record(i)) for i in range(len(wan.blocks))]
    out = _out(wan, inputs)
    for h in handles:
        h.remove()
    # recompute block 1 from the halved block-0 output
    captured = {}
    handle = wrap_block(wan, 1, lambda fwd, *a, **k: captured.setdefault("args", (a, k)) and fwd(*a, **k))
    _out(wan, inputs)
    handle.remove()
    args, kwargs = captured["args"]
    expect = wan.blocks[1](seen[0] * 0.5, *args[1:], **kwargs)
    torch.testing.assert_close(seen[1], expect)
    assert out.shape == inputs["hidden_states"].shape


def test_insert_after_handles_tuple_outputs():
    class TupleBlock(nn.Module):
        def forward(self, x, scale=1.0):
            return x * scale, "extra"

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([TupleBlock(), TupleBlock()])

        def forward(self, x):
            for b in self.blocks:
                x, tag = b(x, scale=2.0)
            return x, tag

    net = Net()
    seen = []
    insert_after(net, 0, lambda h, inputs: seen.append(inputs["scale"]) or h + 1, with_inputs=True)
    out, tag = net(torch.zeros(3))
    assert tag == "extra" and seen == [2.0]
    torch.testing.assert_close(out, torch.full((3,), 2.0))


def test_insert_after_with_inputs_sees_timestep_embedding(pixart, wan):
    got = {}
    insert_after(pixart, 0, lambda h, inputs: got.setdefault("pixart", inputs) and h, with_inputs=True)
    insert_after(wan, 1, lambda h, inputs: got.setdefault("wan", inputs) and h, with_inputs=True)
    _out(pixart, _pixart_inputs(pixart))
    _out(wan, _wan_inputs(wan))
    assert got["pixart"]["timestep"].shape[0] == 2  # adaLN-single embedding per sample
    assert set(got["wan"]) >= {"encoder_hidden_states", "temb", "rotary_emb"}


def test_with_inputs_names_positional_arguments_under_checkpointing(pixart):
    """diffusers passes block arguments positionally when checkpointing; the hook still sees names."""
    got = []
    insert_after(pixart, 0, lambda h, inputs: got.append(sorted(inputs)) or h, with_inputs=True)
    wrap_block(pixart, 0, lambda fwd, *a, **k: fwd(*a, **k))
    pixart.train()
    enable_gradient_checkpointing(pixart)
    _out(pixart, _pixart_inputs(pixart)).mean().backward()
    assert got and all({"hidden_states", "timestep", "encoder_hidden_states"} <= set(names) for names in got)


def test_litevsr_style_injection_with_a_second_batch_element(wan):
    """Condition tokens run through the same frozen blocks; a zero-init linear injects them."""
    freeze(wan)
    dim = wan.config.num_attention_heads * wan.config.attention_head_dim
    inject = nn.ModuleList(nn.Linear(dim, dim) for _ in wan.blocks)
    for lin in inject:
        nn.init.zeros_(lin.weight)
        nn.init.zeros_(lin.bias)

    def injector(lin):
        def fn(h):
            main, cond = h.chunk(2)
            return torch.cat([main + lin(cond), cond])

        return fn

    main_in, cond_in = _wan_inputs(wan, 1, seed=1), _wan_inputs(wan, 1, seed=2)
    both = {k: torch.cat([main_in[k], cond_in[k]]) for k in main_in}
    alone = _out(wan, main_in)
    for i, lin in enumerate(inject):
        insert_after(wan, i, injector(lin))
    out = _out(wan, both)
    torch.testing.assert_close(out[:1], alone, rtol=1e-5, atol=1e-5)  # zero-init: backbone unchanged
    out[:1].square().mean().backward()
    assert all(lin.weight.grad.abs().sum() > 0 for lin in inject)
    assert all(p.grad is None for p in wan.parameters())


def test_deepcopy_keeps_hooks_bound_to_the_copy():
    class Holder(nn.Module):
        def __init__(self, backbone):
            super().__init__()
            self.backbone = backbone
            self.extra = nn.Linear(32, 32)

    holder = Holder(build_pixart("tiny").eval())
    insert_after(holder.backbone, 0, holder.extra)
    clone = copy.deepcopy(holder)
    with torch.no_grad():
        clone.extra.weight.zero_()
        clone.extra.bias.zero_()
    inputs = _pixart_inputs(holder.backbone)
    hook = next(iter(clone.backbone.transformer_blocks[0]._forward_hooks.values()))
    assert hook.module is clone.extra
    assert not torch.allclose(_out(clone.backbone, inputs), _out(holder.backbone, inputs))


def test_wrap_block_stacks_and_unwinds(pixart):
    inputs = _pixart_inputs(pixart)
    base = _out(pixart, inputs)
    h1 = wrap_block(pixart, 0, lambda fwd, *a, **k: fwd(*a, **k) * 2)
    h2 = wrap_block(pixart, 0, lambda fwd, *a, **k: fwd(*a, **k) + 1)
    changed = _out(pixart, inputs)
    with pytest.raises(RuntimeError, match="reverse order"):
        h1.remove()
    h2.remove()
    h1.remove()
    assert not torch.allclose(changed, base)
    torch.testing.assert_close(_out(pixart, inputs), base, rtol=0, atol=0)
    assert "forward" not in pixart.transformer_blocks[0].__dict__


def test_set_attention_processor_swaps_attention(wan):
    inputs = _wan_inputs(wan)
    base = _out(wan, inputs)

    class Doubled(WanAttnProcessor):
        def __call__(self, attn, hidden_states, *args, **kwargs):
            return 2 * super().__call__(attn, hidden_states, *args, **kwargs)

    set_attention_processor(wan, lambda i, attn: WanAttnProcessor())
    torch.testing.assert_close(_out(wan, inputs), base, rtol=0, atol=0)
    set_attention_processor(wan, lambda i, attn: Doubled(), indices=[1])
    assert isinstance(wan.blocks[1].attn1.processor, Doubled)
    assert not isinstance(wan.blocks[0].attn1.processor, Doubled)
    assert not torch.allclose(_out(wan, inputs), base)


def test_get_blocks_names():
    assert len(get_blocks(build_pixart("tiny"))) == 2
    assert len(get_blocks(build_wan22("tiny"))) == 2
    with pytest.raises(ValueError, match="block list"):
        get_blocks(nn.Linear(2, 2))


# ----------------------------------------------------------------------------- checkpointing


@pytest.mark.parametrize("builder", [build_pixart, build_wan21, build_pruned_unet])
def test_gradient_checkpointing_same_values_and_grads(builder):
    torch.manual_seed(0)
    model = builder("tiny").train()
    if builder is build_pixart:
        inputs = _pixart_inputs(model)
    elif builder is build_wan21:
        inputs = _wan_inputs(model)
    else:
        inputs = {"sample": torch.randn(2, 4, 16, 16, generator=torch.Generator().manual_seed(0))}

    def run():
        model.zero_grad(set_to_none=True)
        out = model(**inputs)
        out = out if torch.is_tensor(out) else out.sample
        out.square().mean().backward()
        return out.detach(), [p.grad.clone() for p in model.parameters()]

    ref_out, ref_grads = run()
    enable_gradient_checkpointing(model)
    out, grads = run()
    torch.testing.assert_close(out, ref_out)
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r, rtol=1e-4, atol=1e-6)


def test_checkpointing_fallback_wraps_plain_block_lists():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList(nn.Sequential(nn.Linear(4, 4), nn.GELU()) for _ in range(3))

        def forward(self, x):
            for b in self.blocks:
                x = b(x)
            return x

    net, x = Net(), torch.randn(5, 4)
    ref = torch.autograd.grad(net(x).sum(), list(net.parameters()))
    enable_gradient_checkpointing(net)
    assert all("forward" in b.__dict__ for b in net.blocks)
    got = torch.autograd.grad(net(x).sum(), list(net.parameters()))
    for g, r in zip(got, ref):
        torch.testing.assert_close(g, r)


# ----------------------------------------------------------------------------- input widening


@pytest.mark.parametrize("builder", [build_pixart, build_wan21, build_pruned_unet])
def test_widen_input_keeps_output_and_round_trips(builder, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    torch.manual_seed(0)
    model = builder("tiny").eval()
    old = model.config.in_channels
    g = torch.Generator().manual_seed(3)
    if builder is build_pixart:
        inputs = _pixart_inputs(model)
        key = "hidden_states"
    elif builder is build_wan21:
        inputs = _wan_inputs(model)
        key = "hidden_states"
    else:
        inputs, key = {"sample": torch.randn(2, old, 16, 16, generator=g)}, "sample"

    def run(m, inp):
        out = m(**inp)
        return out if torch.is_tensor(out) else out.sample

    base = run(model, inputs)
    widen_input_channels(model, 2 * old)
    assert model.config.in_channels == 2 * old
    extra = torch.randn_like(inputs[key])
    wide = {**inputs, key: torch.cat([inputs[key], extra], dim=1)}
    torch.testing.assert_close(run(model, wide), base, rtol=0, atol=0)
    model.save_pretrained(tmp_path)
    loaded = builder(pretrained=str(tmp_path)).eval()
    torch.testing.assert_close(run(loaded, wide), base, rtol=0, atol=0)
    assert loaded.config.out_channels == model.config.out_channels


def _grads(model, inputs):
    model.zero_grad()
    out = _out(model, inputs)
    out.square().mean().backward()
    return out.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]


@pytest.mark.parametrize("builder", ["pixart", "wan"])
def test_chunk_feed_forward_same_values_and_grads(builder, request):
    """Chunked feed-forwards (remainders included) give the outputs and gradients of the whole batch;
    chunking again replaces the chunk size, None restores the original forward."""
    model = copy.deepcopy(request.getfixturevalue(builder))
    inputs = (_pixart_inputs if builder == "pixart" else _wan_inputs)(model, batch=3)
    block = get_blocks(model)[0]
    ff = block.ff if builder == "pixart" else block.ffn
    reference, reference_grads = _grads(model, inputs)
    seen = []
    ff.net[0].register_forward_pre_hook(lambda m, args: seen.append(args[0].shape[0]))
    chunk_feed_forward(model, 1)
    chunk_feed_forward(model, 2)
    out, grads = _grads(model, inputs)
    assert seen == [2, 1]  # one call per chunk of 2 samples: the chunk size was replaced, not stacked
    torch.testing.assert_close(out, reference, rtol=0, atol=1e-6)
    assert len(grads) == len(reference_grads) > 0
    for got, want in zip(grads, reference_grads):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)
    chunk_feed_forward(model, None)
    assert "forward" not in ff.__dict__
    seen.clear()
    torch.testing.assert_close(_out(model, inputs), reference, rtol=0, atol=1e-6)
    assert seen == [3]


def test_chunk_feed_forward_names_a_block_without_one():
    class Plain(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([nn.Linear(2, 2)])

    with pytest.raises(ValueError, match="no feed-forward named ff or ffn"):
        chunk_feed_forward(Plain(), 1)
