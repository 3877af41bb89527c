"""Sharding clips over processes (--shard i/n or the torchrun world) and merging into one report."""

from __future__ import annotations

import json

import pytest

from vsrzoo.bench import evaluate
from vsrzoo.bench.protocol import assign_shards, parse_shard, resolve_shard
from vsrzoo.errors import UserError


def test_shards_merge_into_the_unsharded_result(tiny_root, tmp_path):
    out = tmp_path / "out"
    kwargs = dict(root=tiny_root, metrics="psnr,ssim,ewarp", out=out)
    first = evaluate("sample", "bicubic", shard="1/2", **kwargs)
    assert not first.complete and not (out / "results.json").exists()
    done = [c for c, r in first["bicubic"]["clips"].items() if r]
    assert done == ["beta", "gamma"]  # 7/6/5 frames: alpha alone on shard 0, beta + gamma on shard 1
    second = evaluate("sample", "bicubic", shard="0/2", **kwargs)
    assert second.complete and (out / "results.json").exists()  # the last shard writes the report
    whole = evaluate("sample", "bicubic", root=tiny_root, metrics="psnr,ssim,ewarp")
    assert second.summary("bicubic") == pytest.approx(whole.summary("bicubic"), abs=1e-12)
    saved = json.loads((out / "results.json").read_text())
    assert saved["complete"] and saved["entries"]["bicubic"]["cost"]["frames"] == 18


def test_torchrun_world_selects_the_shard(tiny_root, tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    assert resolve_shard(None) == (0, 2)
    res = evaluate("sample", "bicubic", root=tiny_root, metrics="psnr", out=tmp_path / "out")
    assert [c for c, r in res["bicubic"]["clips"].items() if r] == ["alpha"]
    assert resolve_shard("1/3") == (1, 3)  # an explicit shard wins
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert resolve_shard(None) is None


def test_shard_specs_and_balance():
    assert parse_shard("0/1") == (0, 1)
    for bad in ("2/2", "-1/2", "1/0", "a/b", "3"):
        with pytest.raises(UserError, match=r"--shard"):
            parse_shard(bad)
    owners = assign_shards([41, 34, 49, 47], 2)  # Vid4 frame counts
    loads = [sum(n for n, o in zip([41, 34, 49, 47], owners) if o == s) for s in range(2)]
    assert sorted(loads) == [83, 88]
    assert assign_shards([5, 5, 5], 4) == [0, 1, 2]


def test_shard_needs_an_output_folder(tiny_root):
    with pytest.raises(UserError, match="--shard needs --out"):
        evaluate("sample", root=tiny_root, shard="0/2")
