"""The procedural training source: deterministic, unlimited, disjoint from the evaluation clips."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vsrzoo.data.datamodule import VSRDataModule
from vsrzoo.data.procedural import (
    PHOTOS,
    Motion,
    Photo,
    ProceduralClips,
    check_photos,
    find_photos,
    photo_fingerprint,
)
from vsrzoo.data.sample import CLIPS
from vsrzoo.errors import UserError


def test_photos_exclude_every_evaluation_scene():
    names = {p.name for p in find_photos()}
    assert len(names) >= 8
    assert not names & {c.image for c in CLIPS.values()}
    assert "motorcycle_right.png" not in names  # the other view of the `motorcycle` sample clip


def test_the_photo_set_is_the_fixed_one_the_shipped_models_trained_on():
    # names, order and sizes as the model cards' training data (fingerprint 457d31bc2c8c)
    assert [p.name for p in find_photos()] == [p.name for p in PHOTOS]
    assert len(PHOTOS) == 18 and photo_fingerprint() == "457d31bc2c8c"


def test_a_missing_photo_source_is_a_one_line_error_naming_what_to_install():
    missing = Photo("vsrzoo_no_such_package", ".", "I03.bmp", "0" * 64)
    with pytest.raises(UserError, match="shipped by the package 'vsrzoo_no_such_package'") as info:
        check_photos((missing,))
    assert "\n" not in str(info.value)
    pyiqa_photo = next(p for p in PHOTOS if p.module == "pyiqa")
    assert pyiqa_photo.extra == 'pip install "vsrzoo[iqa]"'


def test_a_photo_with_other_bytes_is_refused_not_used():
    camera = next(p for p in PHOTOS if p.name == "camera.png")
    changed = Photo(camera.module, camera.folder, camera.name, "0" * 64)
    with pytest.raises(UserError, match="camera.png is not the photograph the training set was built from"):
        check_photos((changed,))
    assert check_photos((camera,))[0].name == "camera.png"


def test_same_key_same_bytes_new_epoch_new_clip():
    ds = ProceduralClips(num_frames=4, crop_size=12, length=3, seed=7)
    a, b = ds[(0, 1)], ds[(0, 1)]
    assert torch.equal(a["gt"], b["gt"]) and torch.equal(a["lr"], b["lr"])
    assert not torch.equal(a["gt"], ds[(1, 1)]["gt"])
    assert not torch.equal(
        a["gt"], ProceduralClips(num_frames=4, crop_size=12, length=3, seed=8)[(0, 1)]["gt"]
    )
    assert a["gt"].shape == (4, 3, 48, 48) and a["lr"].shape == (4, 3, 12, 12)
    assert a["gt"].dtype == torch.float32 and 0 <= a["gt"].min() and a["gt"].max() <= 1


def test_the_camera_moves_smoothly():
    gt = ProceduralClips(num_frames=6, crop_size=16, length=1, seed=3)[0]["gt"]
    steps = (gt[1:] - gt[:-1]).abs().mean(dim=(1, 2, 3))
    assert (steps > 1e-4).all()  # every frame moves
    unrelated = (
        (gt[0] - ProceduralClips(num_frames=6, crop_size=16, length=1, seed=4)[0]["gt"][0]).abs().mean()
    )
    assert steps.max() < unrelated  # but far less than a cut to another clip


def test_lr_is_the_named_degradation_of_gt():
    from vsrzoo.data.degradations import get_degradation

    item = ProceduralClips(num_frames=3, crop_size=10, length=1, degradation="bd")[0]
    gt = (item["gt"].permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
    lr = (item["lr"].permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
    assert np.array_equal(lr, get_degradation("bd", scale=4)(gt))


def test_bad_sizes_are_user_errors():
    with pytest.raises(UserError, match="num_frames, crop_size and length"):
        ProceduralClips(num_frames=0)


def test_datamodule_trains_and_validates_on_procedural_clips():
    dm = VSRDataModule(
        dataset="procedural",
        val_dataset="procedural",
        num_frames=3,
        crop_size=8,
        batch_size=2,
        clips_per_epoch=4,
    )
    batch = next(iter(dm.train_dataloader()))
    assert batch["lr"].shape == (2, 3, 3, 8, 8) and batch["gt"].shape == (2, 3, 3, 32, 32)
    val = list(dm.val_dataloader())
    assert len(val) == 4 and val[0]["lr"].shape[:2] == (1, 8)
    train_names = {n for b in dm.train_dataloader() for n in b["clip"]}
    assert not train_names & {v["clip"][0] for v in val}


def _is_still(gt: torch.Tensor) -> bool:
    return bool((gt[1:] - gt[:1]).abs().max() == 0)


def test_still_fraction_films_that_share_of_clips_with_a_still_camera():
    steady = Motion(max_brightness_step=0.0)
    moving = ProceduralClips(num_frames=3, crop_size=8, length=1, motion=steady)
    assert not _is_still(moving[0]["gt"])
    still = ProceduralClips(
        num_frames=3, crop_size=8, length=1, motion=Motion(max_brightness_step=0.0, still_fraction=1.0)
    )
    assert _is_still(still[0]["gt"])
    half = ProceduralClips(
        num_frames=3, crop_size=8, length=40, motion=Motion(max_brightness_step=0.0, still_fraction=0.5)
    )
    share = sum(_is_still(half[i]["gt"]) for i in range(40)) / 40
    assert 0.25 < share < 0.75


def test_still_fraction_out_of_range_is_a_user_error():
    with pytest.raises(UserError, match=r"still_fraction must be in \[0, 1\], got 1.5"):
        ProceduralClips(motion=Motion(still_fraction=1.5))


def test_datamodule_films_only_training_clips_still():
    dm = VSRDataModule(dataset="procedural", val_dataset="procedural", crop_size=8, still_fraction=1.0)
    dm.setup("fit")
    assert dm.train_set.motion.still_fraction == 1.0 and dm.val_set.motion.still_fraction == 0.0
