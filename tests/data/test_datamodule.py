from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vsrzoo.data.datamodule import EpochSampler, VSRDataModule
from vsrzoo.data.degradations import get_degradation
from vsrzoo.data.io import write_image
from vsrzoo.errors import UserError
from vsrzoo.recipes import load_recipe


def _dm(root, **kw) -> VSRDataModule:
    kw = {
        "dataset": "folder",
        "root": str(root / "Set"),
        "num_frames": 3,
        "crop_size": 4,
        "batch_size": 2,
        **kw,
    }
    return VSRDataModule(**kw)


def _batches(dm: VSRDataModule, epoch: int = 0, n: int = 3) -> list[dict]:
    loader = dm.train_dataloader()
    loader.sampler.set_epoch(epoch)
    it = iter(loader)
    return [next(it) for _ in range(n)]


def test_training_batches_shapes_range_and_crop_alignment(make_set):
    root = make_set(lr="block", size=(32, 48), clips={"a": 8, "b": 7})
    dm = _dm(root)
    for batch in _batches(dm, n=4):
        lr, gt = batch["lr"], batch["gt"]
        assert lr.shape == (2, 3, 3, 4, 4) and gt.shape == (2, 3, 3, 16, 16)
        assert lr.dtype == gt.dtype == torch.float32 and 0 <= lr.min() and lr.max() <= 1
        assert set(batch["clip"]) <= {"a", "b"} and len(batch["clip"]) == 2
        # GT is constant on 4x4 blocks whose value is the LR pixel: any misaligned crop, flip,
        # transposition or temporal reversal applied to one side only breaks this equality
        pooled = F.avg_pool2d(gt.flatten(0, 1), 4).view_as(lr)
        torch.testing.assert_close(pooled, lr, rtol=0, atol=1e-6)


def test_augmentation_is_used(make_set):
    # a 16 x 16 GT clip of 3 frames allows one crop and one start frame: batches differ only
    # through flips, transposition and temporal reversal
    root = make_set(lr="block", size=(16, 16), clips={"a": 3})
    plain = {
        tuple(_batches(_dm(root, augment=False, batch_size=1), epoch=e, n=1)[0]["lr"].flatten().tolist())
        for e in range(4)
    }
    augmented = {
        tuple(_batches(_dm(root, batch_size=1), epoch=e, n=1)[0]["lr"].flatten().tolist()) for e in range(8)
    }
    assert len(plain) == 1 and len(augmented) >= 4


def test_same_seed_same_batches_other_seed_or_epoch_differs(make_set):
    root = make_set(lr="block", size=(32, 48), clips={"a": 8, "b": 7})
    a, b = _batches(_dm(root, seed=1)), _batches(_dm(root, seed=1))
    for x, y in zip(a, b):
        assert torch.equal(x["lr"], y["lr"]) and torch.equal(x["gt"], y["gt"]) and x["clip"] == y["clip"]
    c = _batches(_dm(root, seed=2))
    assert any(not torch.equal(x["gt"], y["gt"]) for x, y in zip(a, c))
    d = _batches(_dm(root, seed=1), epoch=1)
    assert any(not torch.equal(x["gt"], y["gt"]) for x, y in zip(a, d))


def test_batches_do_not_depend_on_worker_count(make_set):
    root = make_set(lr="block", size=(32, 48), clips={"a": 5, "b": 4})
    a = _batches(_dm(root, seed=4), n=2)
    b = _batches(_dm(root, seed=4, num_workers=1), n=2)
    assert all(torch.equal(x["lr"], y["lr"]) for x, y in zip(a, b))


def test_on_the_fly_degradation_matches_the_degradation_of_the_gt_crop(make_set):
    root = make_set(lr=None, size=(32, 48), clips={"a": 5})
    dm = _dm(root, degradation="bi", crop_size=6)
    for batch in _batches(dm, n=1):
        for lr, gt in zip(batch["lr"], batch["gt"]):
            gt8 = (gt * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
            want = get_degradation("bi")(gt8)
            got = (lr * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
            np.testing.assert_array_equal(got, want)


def test_on_the_fly_realbasicvsr_is_deterministic(make_set):
    root = make_set(lr=None, size=(64, 64), clips={"a": 3})
    kwargs = {"degradation": "realbasicvsr", "crop_size": 8, "batch_size": 1}
    a, b = _batches(_dm(root, seed=3, **kwargs), n=1), _batches(_dm(root, seed=3, **kwargs), n=1)
    assert a[0]["lr"].shape == (1, 3, 3, 8, 8) and torch.equal(a[0]["lr"], b[0]["lr"])


def test_validation_whole_clips_capped_and_filtered(make_set):
    root = make_set(lr="block", size=(32, 48), clips={"a": 5, "b": 4})
    dm = _dm(root, val_max_frames=4)
    batches = list(dm.val_dataloader())
    assert [b["clip"] for b in batches] == [["a"], ["b"]]
    assert batches[0]["lr"].shape == (1, 4, 3, 8, 12) and batches[0]["gt"].shape == (1, 4, 3, 32, 48)
    dm = _dm(root, val_clips=["b"])
    (only,) = list(dm.val_dataloader())
    assert only["clip"] == ["b"] and only["lr"].shape[1] == 4


def test_validation_on_another_dataset_uses_its_own_lr(make_set):
    root = make_set(lr=None, size=(32, 48), clips={"a": 3}, folder="Vid4")
    make_set(lr="bi", size=(32, 48), clips={"x": 2}, folder="UDM10", lr_name="BDx4")  # same root
    dm = VSRDataModule(
        dataset="vid4",
        root=str(root),
        degradation="realbasicvsr",
        num_frames=2,
        crop_size=4,
        val_dataset="udm10",
        batch_size=1,
    )
    (batch,) = list(dm.val_dataloader())
    assert batch["clip"] == ["x"] and batch["lr"].shape == (1, 2, 3, 8, 12)
    lr = (batch["lr"][0] * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    gt = (batch["gt"][0] * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    np.testing.assert_array_equal(lr, get_degradation("bi")(gt))  # read from UDM10/BDx4, not degraded


def test_from_recipe(make_set):
    root = make_set(lr="block", size=(32, 48))
    cfg = load_recipe(
        None,
        [
            "data.dataset=folder",
            f"data.root={root / 'Set'}",
            "data.num_frames=2",
            "data.crop_size=4",
            "data.batch_size=3",
            "data.val_clips=[a]",
        ],
    )
    dm = VSRDataModule.from_recipe(cfg.data)
    batch = next(iter(dm.train_dataloader()))
    assert batch["lr"].shape == (3, 2, 3, 4, 4)
    assert isinstance(dm.train_dataloader().sampler, EpochSampler)


@pytest.mark.slow  # generates the built-in sample clips once per session
def test_sample_preset(sample_root):
    dm = VSRDataModule(num_frames=2, crop_size=16, batch_size=2, val_max_frames=2)
    batch = next(iter(dm.train_dataloader()))
    assert batch["lr"].shape == (2, 2, 3, 16, 16) and batch["gt"].shape == (2, 2, 3, 64, 64)
    val = next(iter(dm.val_dataloader()))
    assert val["lr"].shape == (1, 2, 3, 64, 64) and val["gt"].shape == (1, 2, 3, 256, 256)


# ---- bad input ----


def test_crop_larger_than_frame(make_set):
    root = make_set(lr="block", size=(32, 48))
    with pytest.raises(
        UserError, match=r"crop 9 LR = 36 GT pixels is larger than clip a \(48x32 GT\); lower data.crop_size"
    ):
        _dm(root, crop_size=9).setup("fit")


def test_clip_shorter_than_num_frames(make_set):
    root = make_set(lr="block", size=(32, 48), clips={"a": 5, "b": 2})
    with pytest.raises(UserError, match="clip b has 2 frames, fewer than data.num_frames=3"):
        _dm(root).setup("fit")


def test_lr_frame_with_wrong_size_is_named_when_read(make_set):
    root = make_set(lr="block", size=(32, 48), clips={"a": 3})
    write_image(root / "Set/BIx4/a/00000002.png", np.zeros((9, 12, 3), np.uint8))  # first frame is fine
    dm = _dm(root, batch_size=1, augment=False)
    with pytest.raises(
        UserError, match=r"clip a frame 00000002.png: LR 12x9 x4 = 48x36 does not match GT 48x32"
    ):
        next(iter(dm.train_dataloader()))


def test_bad_sizes_in_recipe():
    with pytest.raises(UserError, match="data.crop_size must be >= 1"):
        VSRDataModule(crop_size=0)


def test_batch_larger_than_dataset(make_set):
    root = make_set(lr="block", size=(16, 16), clips={"a": 3})
    with pytest.raises(UserError, match="1 training samples, fewer than data.batch_size=2"):
        _dm(root).train_dataloader()
