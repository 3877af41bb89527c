"""Every paper recipe's Trainer step counts against its real epoch length per rank (issue 28 item 2).

Batches per epoch per rank are counted here with the classes the run uses (torch's
``DistributedSampler``, which Lightning wraps around the training sampler under DDP, and a
``drop_last`` DataLoader) over the dataset's length, and compared with :mod:`vsrzoo.schedule`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from torch.utils.data import DataLoader, DistributedSampler

from vsrzoo.errors import UserError
from vsrzoo.recipes import load_recipe
from vsrzoo.schedule import batches_per_epoch, check_trainer_steps, training_samples, world_size

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
PAPER = [
    "liftvsr",
    "litevsr",
    "instavsr",
    "simplegvr",
    "simplegvr-stage2",
    "simplegvr-stage3",
    "simplegvr-cascade",
]


def loader_batches(samples: int, batch_size: int, world: int, rank: int) -> int:
    """What one rank's training loader yields per epoch, counted by the real classes."""
    data = range(samples)
    sampler = DistributedSampler(data, num_replicas=world, rank=rank, shuffle=True) if world > 1 else None
    return len(DataLoader(data, batch_size=batch_size, sampler=sampler, drop_last=True))


@pytest.mark.parametrize("name", PAPER)
def test_paper_recipe_steps_fit_its_epoch_per_rank(name):
    cfg = load_recipe(RECIPES / f"{name}.yaml", [])
    samples = training_samples(cfg.data)
    assert samples is not None, f"{name}: epoch length unknown without the data"
    world, batch = world_size(cfg.trainer), int(cfg.data.batch_size)
    counted = {loader_batches(samples, batch, world, r) for r in (0, world - 1)}
    assert counted == {batches_per_epoch(samples, batch, world)}
    assert check_trainer_steps(cfg.trainer, samples, batch) == counted.pop()


def test_simplegvr_epochs_on_sixteen_ranks_are_shorter_than_its_validation_interval():
    # stage 1: REDS, 266 clips x 100 frames, 17 frames -> 84 starts per clip; stages 2-3: 30K precomputed
    # pairs; cascade: 1000 latent clips per epoch
    got = {}
    for name in ("simplegvr", "simplegvr-stage2", "simplegvr-stage3", "simplegvr-cascade"):
        cfg = load_recipe(RECIPES / f"{name}.yaml", [])
        assert world_size(cfg.trainer) == 16
        got[name] = batches_per_epoch(training_samples(cfg.data), int(cfg.data.batch_size), 16)
        assert cfg.trainer.val_check_interval > got[name]
        assert cfg.trainer.check_val_every_n_epoch is None  # so the interval counts total steps
        with pytest.raises(UserError, match=f"exceeds the {got[name]} training batches per epoch per rank"):
            check_trainer_steps(
                {**cfg.trainer, "check_val_every_n_epoch": 1}, training_samples(cfg.data), cfg.data.batch_size
            )
    assert got == {
        "simplegvr": 698,
        "simplegvr-stage2": 937,
        "simplegvr-stage3": 1875,
        "simplegvr-cascade": 63,
    }


def test_validation_interval_is_not_checked_when_validation_is_off():
    trainer = {"devices": 2, "val_check_interval": 50, "limit_val_batches": 0}
    assert check_trainer_steps(trainer, 40, 2) == 10
    with pytest.raises(UserError, match="no full batch per rank"):
        check_trainer_steps({"devices": 8}, 8, 2)


def test_fit_rejects_an_interval_longer_than_the_epoch_before_building_the_model(tmp_path):
    # simplegvr-tiny: 800 procedural clips / batch 4 = 200 batches per epoch on one process
    out = tmp_path / "run"
    res = subprocess.run(
        [sys.executable, "-m", "vsrzoo.cli", "fit", str(RECIPES / "simplegvr-tiny.yaml"),
         "trainer.val_check_interval=201", f"output_dir={out}"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert res.returncode == 2
    errors = [line for line in res.stderr.splitlines() if line.startswith("vsrzoo: error:")]
    assert errors == [
        "vsrzoo: error: trainer.val_check_interval=201 exceeds the 200 training batches per epoch per rank "
        "(800 samples / 1 processes / batch 4); set trainer.check_val_every_n_epoch=null to count it in "
        "total steps, or lower it"
    ]
    assert not out.exists()


def test_dry_run_blocks_a_simplegvr_recipe_whose_interval_exceeds_the_epoch():
    from vsrzoo.planning import make_plan

    cfg = load_recipe(RECIPES / "simplegvr-stage3.yaml", ["trainer.check_val_every_n_epoch=1"])
    plan = make_plan(cfg, gpu="h800")
    assert any(
        b.startswith("trainer: trainer.val_check_interval=2000 exceeds the 1875") for b in plan.blockers
    )
    ok = make_plan(load_recipe(RECIPES / "simplegvr-stage3.yaml", []), gpu="h800")
    assert not any(b.startswith("trainer:") for b in ok.blockers)
    assert "1875 batches per epoch per rank" in ok.data
