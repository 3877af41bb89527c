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


@pytest.fixture(scope="module")
def wan_folder(tmp_path_factory) -> str:
    """A tiny Wan 2.1 folder (transformer + VAE) saved with the real classes, as a Hub download lays it out."""
    from vsrzoo.backbones import create_backbone

    root = tmp_path_factory.mktemp("wan")
    create_backbone("wan2.1-t2v-1.3b", variant="tiny").save_pretrained(root / "transformer")
    create_backbone("wan2.1-vae", variant="tiny").save_pretrained(root / "vae")
    return str(root)
