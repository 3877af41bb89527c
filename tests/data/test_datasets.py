from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest
from data_helpers import real_frames, write_clip

from vsrzoo.data.datasets import get_dataset, read_meta_info, verify_dataset
from vsrzoo.data.degradations import get_degradation
from vsrzoo.data.io import write_image
from vsrzoo.errors import MissingDataError, UserError


def test_vid4_preset(shared_data):
    vs = get_dataset("vid4", root=shared_data)
    assert [c.name for c in vs.clips] == ["calendar", "city", "foliage", "walk"]
    assert vs.num_frames == 171 and vs.y_channel and vs.lr_dir == "BIx4"
    assert vs.extra["meta_info"].endswith("meta_info_Vid4_GT.txt")
    city = vs.clips[1]
    assert next(city.read_gt()).shape == (576, 704, 3) and next(city.read_lr()).shape == (144, 176, 3)
    # the root may also be the set folder itself, or come from VSRZOO_DATA
    assert get_dataset("vid4", root=shared_data / "Vid4").num_frames == 171


def test_root_from_environment(make_set, monkeypatch):
    root = make_set(folder="Vid4")
    monkeypatch.setenv("VSRZOO_DATA", str(root))
    vs = get_dataset("vid4")
    assert vs.root == (root / "Vid4").resolve() and [c.name for c in vs.clips] == ["a", "b"]


def test_unknown_dataset_and_clip():
    with pytest.raises(
        UserError,
        match=r"unknown dataset 'red4' \(did you mean 'reds4'\?\); valid: folder, mvsr4x, realvsr, reds,",
    ):
        get_dataset("red4")


def test_clip_filter(make_set):
    root = make_set(folder="Vid4")
    assert [c.name for c in get_dataset("vid4", root, clips=["b"]).clips] == ["b"]
    with pytest.raises(UserError, match="unknown clip\\(s\\) zz; available: a, b"):
        get_dataset("vid4", root, clips=["zz"])


def test_missing_gt_folder(tmp_path):
    with pytest.raises(
        MissingDataError, match=r"vid4: GT folder not found \(looked in .*Vid4/GT\); set --root"
    ):
        get_dataset("vid4", root=tmp_path)


def test_missing_lr_folder(make_set):
    root = make_set(folder="Vid4")
    with pytest.raises(
        MissingDataError,
        match=r"LR folder not found \(looked in .*Vid4/BDx4\); make it with "
        r"`vsrzoo data prepare --dataset vid4",
    ):
        get_dataset("vid4", root, lr_dir="BDx4")


def test_clip_in_gt_but_not_in_lr(make_set):
    root = make_set(folder="Vid4")
    shutil.rmtree(root / "Vid4/BIx4/b")
    with pytest.raises(UserError, match=r"vid4: clip b is in GT but not in LR \(.*BIx4\)"):
        get_dataset("vid4", root)


def test_frame_count_mismatch(make_set):
    root = make_set(folder="Vid4")
    (root / "Vid4/BIx4/a/00000004.png").unlink()
    with pytest.raises(UserError, match="clip a: 5 GT frames but 4 LR frames \\(frame-count mismatch\\)"):
        get_dataset("vid4", root)


def test_lr_times_scale_must_match_gt(make_set):
    root = make_set(folder="Vid4", size=(32, 48))
    bad = get_degradation("bi", scale=4)(real_frames(4, (36, 48)))  # LR 9 x 12 instead of 8 x 12
    write_clip(root / "Vid4/BIx4/b", bad)
    with pytest.raises(
        UserError, match=r"clip b frame 00000000.png: LR 12x9 x4 = 48x36 does not match GT 48x32"
    ):
        get_dataset("vid4", root)


def test_non_image_file_is_skipped_with_a_warning(make_set, caplog):
    root = make_set(folder="Vid4")
    (root / "Vid4/GT/a/notes.txt").write_text("not a frame")
    with caplog.at_level(logging.WARNING):
        vs = get_dataset("vid4", root)
    assert len(vs.clips[0]) == 5
    assert "skipping 1 non-image file(s)" in caplog.text and "notes.txt" in caplog.text


def test_meta_info_selects_clips_and_checks_counts_and_sizes(make_set):
    root = make_set(folder="Vid4", clips={"a": 5, "b": 4, "c": 3}, size=(32, 48))
    meta = root / "Vid4/meta_info_Vid4_GT.txt"
    meta.write_text("a 5 (32,48,3)\nb 4 (32,48,3)\n")
    assert [c.name for c in get_dataset("vid4", root).clips] == ["a", "b"]
    meta.write_text("a 6 (32,48,3)\n")
    with pytest.raises(UserError, match="clip a: 5 GT frames, meta-info says 6"):
        get_dataset("vid4", root)
    meta.write_text("a 5 (36,48,3)\n")
    with pytest.raises(UserError, match="clip a: GT frames are 48x32, meta-info says 48x36"):
        get_dataset("vid4", root)
    meta.write_text("a five frames\n")
    with pytest.raises(UserError, match="meta_info_Vid4_GT.txt:1: cannot parse"):
        get_dataset("vid4", root)


def test_meta_info_formats():
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "m.txt"
        p.write_text("000 100 (720,1280,3)\n# comment\n\ncalendar 41\n")
        meta = read_meta_info(p)
    assert meta["000"].frames == 100 and meta["000"].size == (720, 1280)
    assert meta["calendar"].frames == 41 and meta["calendar"].size is None


def test_reds_layouts(make_set):
    # the full REDS download: train_sharp + train_sharp_bicubic/X4
    root = make_set(
        clips={"000": 3, "001": 3, "011": 3, "015": 3, "020": 3},
        folder="REDS",
        gt_name="train_sharp",
        lr_name="train_sharp_bicubic/X4",
    )
    reds4 = get_dataset("reds4", root)
    assert [c.name for c in reds4.clips] == ["000", "011", "015", "020"] and not reds4.y_channel
    assert reds4.lr_root.name == "X4"
    assert [c.name for c in get_dataset("reds", root).clips] == ["001"]  # REDS4 is held out
    assert len(get_dataset("reds4", root, lr_dir="sharp_bicubic").clips) == 4  # alias of the BI folder


def test_reds4_test_layout_with_bix4_alias(make_set):
    root = make_set(clips={"000": 3, "011": 3, "015": 3, "020": 3}, folder="REDS4", lr_name="sharp_bicubic")
    vs = get_dataset("reds4", root, lr_dir="BIx4")  # BIx4 is accepted for REDS' sharp_bicubic
    assert vs.lr_root.name == "sharp_bicubic" and vs.num_frames == 12


def test_udm10_defaults_to_bd(make_set):
    root = make_set(folder="UDM10", lr_name="BDx4")
    assert get_dataset("udm10", root).lr_dir == "BDx4"


def test_folder_with_on_the_fly_degradation(make_set):
    root = make_set(lr=None, folder="mine")
    with pytest.raises(MissingDataError, match="LR folder not found"):
        get_dataset("folder", root / "mine")
    vs = get_dataset("folder", root / "mine", degradation="bd", seed=3)
    assert vs.lr_root is None and "on the fly" in vs.lr_source
    clip = vs.clips[0]
    gt = np.stack(list(clip.read_gt()))
    lr = np.stack(list(clip.read_lr()))
    np.testing.assert_array_equal(lr, get_degradation("bd")(gt))


def test_folder_with_random_degradation_is_deterministic_per_clip(make_set):
    root = make_set(lr=None, folder="mine", size=(64, 64), clips={"a": 3, "b": 3})
    one = get_dataset("folder", root / "mine", degradation="realbasicvsr", seed=1)
    two = get_dataset("folder", root / "mine", degradation="realbasicvsr", seed=1)
    a1, a2 = (np.stack(list(vs.clips[0].read_lr())) for vs in (one, two))
    b1 = np.stack(list(one.clips[1].read_lr()))
    assert a1.shape == (3, 16, 16, 3) and np.array_equal(a1, a2) and not np.array_equal(a1[:, :8], b1[:, :8])


def test_folder_single_clip_and_explicit_lr(tmp_path):
    gt = real_frames(3, (32, 32))
    write_clip(tmp_path / "hr", gt)
    write_clip(tmp_path / "lr", get_degradation("bi")(gt))
    vs = get_dataset("folder", gt_dir=str(tmp_path / "hr"), lr_dir=str(tmp_path / "lr"))
    assert [c.name for c in vs.clips] == ["hr"] and vs.num_frames == 3
    assert next(vs.clips[0].read_lr()).shape == (8, 8, 3)
    with pytest.raises(UserError, match="dataset 'folder' needs a root"):
        get_dataset("folder")


def test_gt_is_mod_cropped(make_set):
    root = make_set(folder="Vid4", size=(34, 50), clips={"a": 2})
    vs = get_dataset("vid4", root)
    assert next(vs.clips[0].read_gt()).shape == (32, 48, 3) and next(vs.clips[0].read_lr()).shape == (
        8,
        12,
        3,
    )


def test_upsampling_degradation_is_rejected(make_set):
    root = make_set(folder="Vid4")
    with pytest.raises(UserError, match="'bicubic_up' upsamples"):
        get_dataset("vid4", root, degradation="bicubic_up")
    with pytest.raises(UserError, match="unknown degradation 'nope'.*valid: bd, bi, bicubic_up"):
        get_dataset("vid4", root, degradation="nope")


def test_verify_finds_corrupt_and_resized_frames(make_set):
    root = make_set(folder="Vid4")
    (root / "Vid4/GT/a/00000002.png").write_bytes(b"\x89PNG broken")
    write_image(root / "Vid4/BIx4/b/00000003.png", np.zeros((9, 12, 3), np.uint8))
    (root / "Vid4/BIx4/b/00000001.png").unlink()
    vs = get_dataset("vid4", root, strict=False)
    reports = {r.name: r for r in verify_dataset(vs)}
    assert any("cannot decode image" in p and "00000002.png" in p for p in reports["a"].problems)
    assert any("4 GT frames but 3 LR frames" in p for p in reports["b"].problems)
    write_image(root / "Vid4/BIx4/b/00000001.png", np.zeros((8, 12, 3), np.uint8))
    reports = {r.name: r for r in verify_dataset(get_dataset("vid4", root, strict=False))}
    assert reports["b"].problems == ["clip b frame 00000003.png: LR 12x9 x4 = 48x36 does not match GT 48x32"]


def test_vid4_missing_clip_without_meta_is_refused(tmp_path):
    """A Vid4 root missing a clip (no meta file) is not scored as 'Vid4' over fewer clips."""
    import shutil

    import pytest

    from vsrzoo.data.io import write_image
    from vsrzoo.errors import UserError

    frame = np.zeros((16, 16, 3), np.uint8)
    for clip in ("calendar", "foliage", "walk"):  # 'city' is missing
        for sub, f in (("GT", frame), ("BIx4", frame[:4, :4])):
            (tmp_path / "Vid4" / sub / clip).mkdir(parents=True)
            write_image(tmp_path / "Vid4" / sub / clip / "00000000.png", f)
    with pytest.raises(UserError, match=r"clip city of vid4 is missing .*not be comparable"):
        get_dataset("vid4", tmp_path)
    loose = get_dataset("vid4", tmp_path, strict=False)
    assert [c.name for c in loose.clips] == ["calendar", "foliage", "walk"] and loose.problems
    assert [c.name for c in get_dataset("vid4", tmp_path, clips=["walk"]).clips] == [
        "walk"
    ]  # an explicit subset
    shutil.rmtree(tmp_path / "Vid4")


def test_folder_without_gt_is_lq_only(tmp_path):
    from vsrzoo.data.io import write_image

    (tmp_path / "a").mkdir()
    for i in range(3):
        write_image(tmp_path / "a" / f"{i:08d}.png", np.zeros((8, 8, 3), np.uint8))
    ds = get_dataset("folder", tmp_path)
    assert not ds.has_gt and [(c.name, len(c)) for c in ds.clips] == [("a", 3)]
    assert next(ds.clips[0].read_lr()).shape == (8, 8, 3)
