"""Precomputed training pairs (`vsrzoo data pairs`, `data.dataset: pairs`) with a tiny Wan DiT + VAE.

Issue 28 item 3: SimpleGVR's model-guided degradation runs a video DiT per clip, so its pairs are
made once, written to disk and streamed; what is read back must be exactly what was made.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import yaml

from vsrzoo.data.pairs import PrecomputedPairs, load_spec, pair_key, source_items, write_pairs
from vsrzoo.errors import MissingDataError, UserError


def spec_file(tmp_path, sample_root, wan_folder, count: int = 3):
    spec = {
        "dataset": "sample",
        "root": str(sample_root),
        "num_frames": 5,
        "crop_size": 16,
        "degradation": "mixture",
        "degradation_kwargs": {
            "components": [
                {"name": "simplegvr_flow"},
                {"name": "simplegvr_model", "kwargs": {"model": wan_folder, "num_inference_steps": 1}},
            ],
            "probs": [0.5, 0.5],
        },
        "count": count,
        "out": str(tmp_path / "pairs"),
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_pairs_are_written_and_read_back_identically(tmp_path, sample_root, wan_folder):
    spec = load_spec(spec_file(tmp_path, sample_root, wan_folder, count=6))
    out = write_pairs(spec)
    assert sorted(p.name for p in out.glob("*.safetensors")) == [f"{j:06d}.safetensors" for j in range(6)]
    items = source_items(spec)  # the same training crops degraded on the fly, as data workers used to
    pairs = PrecomputedPairs(out, num_frames=5, crop_size=16, scale=4, length=6)
    for j in range(6):
        gt, lr, clip = pairs.read(j)
        want_gt, want_lr, want_clip = items.raw(pair_key(j, len(items)))
        assert clip == want_clip and lr.dtype == np.uint8 and lr.shape == (5, 16, 16, 3)
        assert np.array_equal(lr, want_lr) and np.array_equal(gt, want_gt)
        sample = pairs[(3, j)]  # the epoch does not change a precomputed pair
        assert sample["lr"].shape == (5, 3, 16, 16) and sample["gt"].shape == (5, 3, 64, 64)
        assert np.array_equal((sample["lr"] * 255).round().byte().permute(0, 2, 3, 1).numpy(), want_lr)
    degraded = [pairs.read(j)[1] for j in range(6)]
    assert len({d.tobytes() for d in degraded}) == 6


def test_writing_resumes_and_refuses_another_spec(tmp_path, sample_root, wan_folder):
    spec = load_spec(spec_file(tmp_path, sample_root, wan_folder, count=2))
    out = write_pairs(
        load_spec(spec_file(tmp_path, sample_root, wan_folder), ["shard=1", "shards=2", "count=2"])
    )
    assert [p.name for p in out.glob("*.safetensors")] == ["000001.safetensors"]  # shard 1 of 2
    first = (out / "000001.safetensors").read_bytes()
    write_pairs(spec)  # shard 0's share, the other one kept
    assert sorted(p.name for p in out.glob("*.safetensors")) == ["000000.safetensors", "000001.safetensors"]
    assert (out / "000001.safetensors").read_bytes() == first
    with pytest.raises(UserError, match="made by another spec"):
        write_pairs(load_spec(spec_file(tmp_path, sample_root, wan_folder), ["count=2", "seed=1"]))
    with pytest.raises(UserError, match=r"made with \{'num_frames': 5"):
        PrecomputedPairs(out, num_frames=7, crop_size=16, scale=4, length=2)
    with pytest.raises(MissingDataError, match="2 of the 3 pairs"):
        PrecomputedPairs(out, num_frames=5, crop_size=16, scale=4, length=3)


def test_cli_writes_pairs_and_the_dry_run_lists_them_as_the_training_input(tmp_path, sample_root, wan_folder):
    spec = spec_file(tmp_path, sample_root, wan_folder, count=2)
    res = subprocess.run(
        [sys.executable, "-m", "vsrzoo.cli", "data", "pairs", str(spec)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert "2 pairs (mixture) of sample under" in res.stdout
    from vsrzoo.planning import make_plan
    from vsrzoo.recipes import load_recipe

    recipe = "recipes/simplegvr-stage2.yaml"
    small = ["data.num_frames=5", "data.crop_size=16", "data.clips_per_epoch=2", "data.batch_size=1"]
    small.append("data.val_dataset=sample")  # validation is read from the root the pairs came from
    plan = make_plan(load_recipe(recipe, [f"data.root={tmp_path / 'pairs'}", *small]), gpu="h800")
    assert "2 training samples (2 precomputed pairs (mixture of simplegvr_flow, simplegvr_model)" in plan.data
    assert not any(b.startswith("data:") for b in plan.blockers)
    missing = make_plan(load_recipe(recipe, [f"data.root={tmp_path / 'none'}"]), gpu="h800")
    assert any("make them with `vsrzoo data pairs`" in b for b in missing.blockers)
