"""One load path (issue 26): resolve -> read the config once -> check once -> build once -> load.

Counting, not mocking: the real ``Path.read_text``, ``check_kwargs``, ``torch.load`` and the
method's constructor run; thin wrappers only count the calls, and the loaded model is compared
with the one that was saved. Before issue 26, ``create_model(name, pretrained=<folder>)`` resolved
twice, read ``config.json`` three times, checked the arguments three times and built the model
twice (once on ``meta`` for the size check).
"""

from __future__ import annotations

import collections
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import vsrzoo
from vsrzoo import hub, registry
from vsrzoo.cli import main
from vsrzoo.errors import UserError
from vsrzoo.factory import create_model, get_method_info, load_method
from vsrzoo.methods.base import VSRMethod

REVISION = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def counts(monkeypatch):
    """Calls of the real functions of the load path, counted by wrappers that call them."""
    seen: collections.Counter = collections.Counter()
    read_text, check, load, init = Path.read_text, registry.check_kwargs, torch.load, VSRMethod.__init__

    def counting_read_text(self, *args, **kwargs):
        if self.name == hub.CONFIG_NAME:
            seen["config reads"] += 1
        return read_text(self, *args, **kwargs)

    def counting_check(target, *args, **kwargs):
        if isinstance(target, type) and issubclass(target, VSRMethod):
            seen["method checks"] += 1
        return check(target, *args, **kwargs)

    def counting_load(*args, **kwargs):
        seen["torch.load"] += 1
        return load(*args, **kwargs)

    def counting_init(self, *args, **kwargs):
        seen["builds"] += 1
        seen[f"builds on {torch.get_default_device().type}"] += 1
        return init(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", counting_read_text)
    monkeypatch.setattr(torch, "load", counting_load)
    monkeypatch.setattr(VSRMethod, "__init__", counting_init)
    for module in list(sys.modules.values()):  # every module that imported check_kwargs by name
        if (
            getattr(module, "__name__", "").startswith("vsrzoo")
            and getattr(module, "check_kwargs", None) is check
        ):
            monkeypatch.setattr(module, "check_kwargs", counting_check)
    return seen


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """The shipped tiny InstaVSR written as a save_pretrained folder, a Lightning-style .ckpt and a Hub snapshot."""
    root = tmp_path_factory.mktemp("load")
    model = create_model("instavsr", pretrained="builtin")
    model.save_pretrained(root / "folder")
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams)}, root / "m.ckpt")
    repo = root / "hf" / "models--org--insta"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(REVISION)
    model.save_pretrained(repo / "snapshots" / REVISION)
    model.save_pretrained(root / "local" / "insta")  # a relative path shaped like a Hub id
    return root, model


ONCE = {"config reads": 1, "method checks": 1, "builds": 1, "builds on cpu": 1}


@pytest.mark.parametrize(
    "load",
    [
        pytest.param(lambda root: create_model("instavsr", pretrained=str(root / "folder")), id="folder"),
        pytest.param(lambda root: vsrzoo.from_pretrained(str(root / "folder")), id="from_pretrained"),
        pytest.param(
            lambda root: get_method_info("instavsr").cls.from_pretrained(root / "folder"), id="classmethod"
        ),
        pytest.param(lambda root: create_model("instavsr", pretrained="org/insta"), id="hub-id"),
        pytest.param(lambda root: vsrzoo.from_pretrained("org/insta"), id="hub-id-from_pretrained"),
        pytest.param(
            lambda root: create_model("instavsr", pretrained="local/insta"), id="hub-id-shaped-folder"
        ),
        pytest.param(lambda root: create_model("instavsr", pretrained="builtin"), id="builtin"),
    ],
)
def test_a_folder_is_read_checked_and_built_once(saved, counts, monkeypatch, load):
    root, original = saved
    monkeypatch.setenv("HF_HUB_CACHE", str(root / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(root)
    model = load(root)
    assert dict(counts) == ONCE
    assert same_weights(model, original) and model.variant == "tiny"


def test_a_lightning_ckpt_is_read_checked_and_built_once(saved, counts):
    root, original = saved
    model = create_model("instavsr", pretrained=str(root / "m.ckpt"))
    assert dict(counts) == {"torch.load": 1, "method checks": 1, "builds": 1, "builds on cpu": 1}
    assert same_weights(model, original)


def test_overrides_are_checked_in_the_same_single_check(saved, counts):
    root, original = saved
    model = create_model("instavsr", pretrained=str(root / "folder"), state_noise=0.0)
    assert dict(counts) == ONCE and model.hparams.state_noise == 0.0 and same_weights(model, original)
    counts.clear()
    with pytest.raises(UserError, match=r"^unknown key 'stat_noise' in method 'instavsr' \(did you mean"):
        create_model("instavsr", pretrained=str(root / "folder"), stat_noise=0.0)
    assert counts["builds"] == 0


def test_meta_device_builds_once_and_checks_the_weights_without_copying(saved, counts):
    root, _ = saved
    model = create_model("instavsr", pretrained=str(root / "folder"), device="meta")
    assert dict(counts) == {"config reads": 1, "method checks": 1, "builds": 1, "builds on meta": 1}
    assert all(p.is_meta for p in model.parameters())


# ------------------------------------------------------------------------------------ scale


def test_a_loaded_model_runs_at_the_scale_it_was_saved_with(tmp_path, capsys):
    create_model("bicubic", scale=2).save_pretrained(tmp_path / "x2")
    assert create_model("bicubic", pretrained=str(tmp_path / "x2")).scale == 2
    assert load_method("bicubic", 2, pretrained=str(tmp_path / "x2")).scale == 2
    assert load_method("bicubic", 3).scale == 3  # no weights: the requested scale builds the model
    message = (
        f"{tmp_path / 'x2'} upscale x2, not x4: a loaded model runs at the scale it was trained for "
        "(use scale 2, or weights trained for x4)"
    )
    with pytest.raises(UserError) as err:
        load_method("bicubic", 4, pretrained=str(tmp_path / "x2"))  # the bench's default scale
    assert str(err.value) == message
    frames = tmp_path / "lr"
    frames.mkdir()
    for i in range(3):
        cv2.imwrite(str(frames / f"{i:08d}.png"), np.full((16, 24, 3), 40 * i, np.uint8))
    out = tmp_path / "sr.mp4"
    assert main(["upscale", str(frames), str(out), "--ckpt", str(tmp_path / "x2"), "--no-progress"]) == 2
    assert capsys.readouterr().err == f"vsrzoo: error: {message}\n" and not out.exists()


def test_builtin_weights_keep_their_scale():
    with pytest.raises(UserError) as err:
        create_model("simplegvr", pretrained="builtin", scale=2)
    assert str(err.value).startswith("the built-in simplegvr-tiny weights upscale x4, not x2: ")
