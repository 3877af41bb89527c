"""Small on-disk datasets in the BasicSR layout, written per test into tmp_path."""

from __future__ import annotations

import pytest
from data_helpers import block_frames, real_frames, write_clip

from vsrzoo.data.degradations import get_degradation


@pytest.fixture
def make_set(tmp_path):
    """``make_set(clips={"a": 5}, size=(32, 48), lr="bi"|"block"|None, folder="Set")`` -> root."""

    def make(clips=None, size=(32, 48), lr="bi", folder="Set", lr_name="BIx4", scale=4, gt_name="GT"):
        clips = clips or {"a": 5, "b": 4}
        root = tmp_path / "root"
        for i, (name, count) in enumerate(clips.items()):
            if lr == "block":
                gt, low = block_frames(count, size, scale, seed=i)
            else:
                gt = real_frames(count, size, image=("astronaut", "coffee", "chelsea")[i % 3])
                low = get_degradation("bi", scale=scale)(gt) if lr else None
            write_clip(root / folder / gt_name / name, gt)
            if low is not None:
                write_clip(root / folder / lr_name / name, low)
        return root

    return make
