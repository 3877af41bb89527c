"""Checkpoints from local folders and Hub snapshots, and every way a checkpoint can be bad: one line, nothing lost.

Hub tests use a temporary ``HF_HUB_CACHE`` laid out as huggingface_hub lays out a downloaded
snapshot (``models--org--name/snapshots/<rev>/`` plus ``refs/main``), with ``HF_HUB_OFFLINE=1``.
"""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest
import torch

import vsrzoo
from vsrzoo.cli import main
from vsrzoo.errors import UserError
from vsrzoo.factory import create_model
from vsrzoo.methods.base import builtin_dir


def listing(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    cache = tmp_path / "hf-cache"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def snapshot(cache: Path, repo: str, revision: str = "0123456789abcdef0123456789abcdef01234567") -> Path:
    """An empty Hub snapshot folder for ``repo`` in ``cache`` with ``refs/main`` pointing at it."""
    root = cache / f"models--{repo.replace('/', '--')}"
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(revision)
    folder = root / "snapshots" / revision
    folder.mkdir(parents=True)
    return folder


def weights_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# ------------------------------------------------------------------------------ the Hub


def test_hub_id_resolves_from_the_local_snapshot(hub_cache, no_network):
    model = create_model("litevsr", pretrained="builtin")
    model.save_pretrained(snapshot(hub_cache, "org/lite"))
    assert weights_equal(create_model("litevsr", pretrained="org/lite"), model)
    assert weights_equal(vsrzoo.from_pretrained("org/lite"), model)
    assert weights_equal(type(model).from_pretrained("org/lite"), model)


def test_cli_ckpt_accepts_a_hub_id(hub_cache, no_network, video_file, tmp_path, capsys):
    create_model("bicubic", scale=2).save_pretrained(snapshot(hub_cache, "org/bic"))
    out = tmp_path / "sr.mp4"
    argv = ["upscale", str(video_file), str(out), "--scale", "2", "--ckpt", "org/bic", "--no-progress"]
    assert main(argv) == 0
    assert "frames of 96x64" in capsys.readouterr().out


def test_hub_id_not_cached_while_offline(hub_cache, no_network, video_file, tmp_path, capsys):
    out = tmp_path / "sr.mp4"
    assert main(["upscale", str(video_file), str(out), "--method", "litevsr", "--ckpt", "org/absent"]) == 2
    assert capsys.readouterr().err == (
        "vsrzoo: error: litevsr checkpoint 'org/absent' is not a local path and not in the Hugging Face cache "
        "(HF_HUB_OFFLINE=1); download it with `hf download org/absent` or unset HF_HUB_OFFLINE\n"
    )
    assert listing(tmp_path) == {"lr.mp4"}


def test_save_pretrained_writes_a_model_card_and_push_needs_the_network(tmp_path, monkeypatch):
    model = create_model("instavsr", pretrained="builtin")
    with pytest.raises(UserError) as err:
        model.save_pretrained(tmp_path / "ckpt", push_to_hub=True, repo_id="org/insta")
    assert (
        str(err.value)
        == f"cannot push {tmp_path / 'ckpt'} to the Hub while HF_HUB_OFFLINE=1 (the folder was saved locally)"
    )
    assert listing(tmp_path / "ckpt") == {"config.json", "model.safetensors", "README.md"}
    card = (tmp_path / "ckpt" / "README.md").read_text()
    builtin_card = (builtin_dir() / "instavsr-tiny" / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: vsrzoo\n") and card.endswith(builtin_card)  # the same card
    fresh = create_model("bicubic", scale=3)
    fresh.save_pretrained(tmp_path / "bic")
    card = (tmp_path / "bic" / "README.md").read_text()
    assert "# bicubic-tiny" in card and "x3 upscaling" in card and '"scale": 3' in card


# ------------------------------------------------------------------ bad checkpoints, one line each


@pytest.fixture
def lite_ckpt(tmp_path):
    folder = tmp_path / "lite"
    shutil.copytree(builtin_dir() / "litevsr-tiny", folder)
    return folder


def edit_config(folder: Path, edit) -> None:
    meta = json.loads((folder / "config.json").read_text())
    edit(meta)
    (folder / "config.json").write_text(json.dumps(meta))


def upscale_error(ckpt: Path, video_file: Path, capsys, method: str = "litevsr") -> str:
    out = video_file.parent / "sr.mp4"
    assert main(["upscale", str(video_file), str(out), "--method", method, "--ckpt", str(ckpt)]) == 2
    assert not out.exists() and not any(p.name.startswith(".sr") for p in video_file.parent.iterdir())
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    return err.removeprefix("vsrzoo: error: ").rstrip("\n")


def test_config_that_is_not_json(lite_ckpt, video_file, capsys):
    (lite_ckpt / "config.json").write_text('{"method": "litevsr", "config": {')
    assert upscale_error(lite_ckpt, video_file, capsys) == (
        f"{lite_ckpt / 'config.json'} is not valid JSON (Expecting property name enclosed in double quotes at line 1); "
        "re-save the checkpoint with save_pretrained"
    )


def test_config_without_its_keys(lite_ckpt, video_file, capsys):
    edit_config(lite_ckpt, lambda m: m.pop("config"))
    assert upscale_error(lite_ckpt, video_file, capsys) == (
        f"{lite_ckpt / 'config.json'} lacks the key(s) config; a vsrzoo checkpoint config holds method, variant and config"
    )


def test_config_with_an_unknown_key(lite_ckpt, video_file, capsys):
    edit_config(lite_ckpt, lambda m: m["config"].update(num_stepz=4))
    assert upscale_error(lite_ckpt, video_file, capsys).startswith(
        f"unknown key 'num_stepz' in the configuration saved with {lite_ckpt} (another method's?)"
    )


def test_config_asking_for_absurd_sizes_is_refused_before_allocating(lite_ckpt, video_file, capsys):
    edit_config(lite_ckpt, lambda m: m["config"]["backbone"].update(ffn_dim=10**9))
    err = upscale_error(lite_ckpt, video_file, capsys)
    assert err.startswith(f"the config of {lite_ckpt / 'config.json'} asks for a model of more than ")
    assert err.endswith(" of memory available; is config.json damaged?")
    edit_config(lite_ckpt, lambda m: m["config"]["backbone"].update(ffn_dim=256, num_layers=10**7))
    assert upscale_error(lite_ckpt, video_file, capsys) == (
        f"the config of {lite_ckpt / 'config.json'} builds more than 20000 tensors; is config.json damaged?"
    )


@pytest.mark.parametrize("damage", ["truncate", "header"])
def test_truncated_or_corrupt_safetensors(lite_ckpt, video_file, capsys, damage):
    weights = lite_ckpt / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"\xff" * 8 + data[8:])
    err = upscale_error(lite_ckpt, video_file, capsys)
    assert err.startswith(f"cannot load {weights}: truncated or corrupt safetensors file (")
    assert err.endswith("); save or download it again")


def test_ckpt_of_another_method(lite_ckpt, video_file, capsys):
    assert upscale_error(lite_ckpt, video_file, capsys, method="instavsr") == (
        f"{lite_ckpt} holds a 'litevsr' checkpoint, not 'instavsr'; use --method litevsr"
    )


def test_weights_that_do_not_match_the_config(lite_ckpt, tmp_path, video_file, capsys):
    shutil.copy(builtin_dir() / "instavsr-tiny" / "model.safetensors", lite_ckpt / "model.safetensors")
    err = upscale_error(lite_ckpt, video_file, capsys)
    assert err.startswith(
        f"the weights in {lite_ckpt / 'model.safetensors'} do not match the model its config builds: "
    )
    assert err.endswith("tensors; is it a checkpoint of another method or variant?")


def test_lightning_ckpt_of_another_method_and_a_crafted_pickle(tmp_path, video_file, capsys, monkeypatch):
    model = create_model("instavsr", pretrained="builtin")
    ckpt = tmp_path / "insta.ckpt"
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams)}, ckpt)
    err = upscale_error(ckpt, video_file, capsys)
    assert (
        err.startswith("unknown key '")
        and f" in the configuration saved with {ckpt} (another method's?)" in err
    )
    evil = tmp_path / "evil.ckpt"
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    torch.save({"state_dict": Payload()}, evil)
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    err = upscale_error(evil, video_file, capsys)
    assert err.startswith(f"refusing to load {evil}: it is not a weights-only checkpoint (")
    assert not marker.exists()


def test_config_never_downloads_base_weights(lite_ckpt, video_file, capsys, monkeypatch, no_network):
    monkeypatch.delenv("HF_HUB_OFFLINE")  # even online, a checkpoint's config does not start a download
    edit_config(
        lite_ckpt, lambda m: m["config"].update(backbone_pretrained="Wan-AI/Wan2.2-TI2V-5B-Diffusers")
    )
    assert upscale_error(lite_ckpt, video_file, capsys) == (
        "wan2.2 transformer: 'Wan-AI/Wan2.2-TI2V-5B-Diffusers' is not a local directory and not in the Hugging Face "
        "cache (weights referenced by a checkpoint's config.json are never downloaded; fetch them first); download "
        "it first with `huggingface-cli download Wan-AI/Wan2.2-TI2V-5B-Diffusers` or pass a local save_pretrained() directory"
    )


@pytest.mark.parametrize("length", [5000, 200])
def test_a_ckpt_too_long_for_a_path_or_a_hub_id_is_one_line(
    hub_cache, no_network, frame_folder, tmp_path, capsys, length
):
    """Issue 25 (6): `--ckpt o/<5000 characters>` raised `OSError: File name too long` from hub.py."""
    long = "o/" + "x" * length
    before = listing(tmp_path)
    assert main(["upscale", str(frame_folder), str(tmp_path / "o.mp4"), "--ckpt", long, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(
        f"vsrzoo: error: no bicubic checkpoint at o/{'x' * 78}... "
    )
    assert f"({length + 2} characters)" in err and len(err) < 400
    assert listing(tmp_path) == before
