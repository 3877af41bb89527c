from __future__ import annotations

import json

import numpy as np
import pytest

from vsrzoo.cli import main
from vsrzoo.data.datasets import get_dataset
from vsrzoo.data.degradations import get_degradation
from vsrzoo.data.io import list_frames, read_image


@pytest.mark.slow
def test_verify_vid4_reports_4_clips_and_171_frames(shared_data, capsys):
    assert main(["data", "verify", "--dataset", "vid4", "--root", str(shared_data)]) == 0
    out = capsys.readouterr().out
    assert "vid4: 4 clips, 171 frames" in out and "all checks passed" in out
    assert "| calendar | 41        | 41        | 720x576 | 180x144 | ok     |" in out


def test_prepare_bd_writes_next_to_gt_and_verifies(make_set, capsys):
    root = make_set(folder="Vid4")
    assert main(["data", "prepare", "--dataset", "vid4", "--degradation", "bd", "--root", str(root)]) == 0
    out_dir = root / "Vid4/BDx4"
    assert sorted(p.name for p in out_dir.iterdir()) == ["a", "b", "vsrzoo_degradation.json"]
    gt = np.stack([read_image(p) for p in list_frames(root / "Vid4/GT/a")])
    lr = np.stack([read_image(p) for p in list_frames(out_dir / "a")])
    np.testing.assert_array_equal(lr, get_degradation("bd")(gt))
    record = json.loads((out_dir / "vsrzoo_degradation.json").read_text())
    assert record["degradation"] == "bd" and record["config"]["sigma"] == 1.6
    assert "wrote 2 clips, 9 frames" in capsys.readouterr().out
    assert main(["data", "verify", "--dataset", "vid4", "--root", str(root), "--lr-dir", "BDx4"]) == 0
    assert get_dataset("vid4", root, lr_dir="BDx4").num_frames == 9


def test_prepare_never_overwrites_without_flag(make_set, capsys):
    root = make_set(folder="Vid4")
    out_dir = root / "Vid4/BDx4"
    out_dir.mkdir()
    (out_dir / "keep.txt").write_text("mine")
    assert main(["data", "prepare", "--dataset", "vid4", "--degradation", "bd", "--root", str(root)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vsrzoo: error: LR folder exists: ") and "(pass --overwrite to replace it)" in err
    assert (out_dir / "keep.txt").read_text() == "mine" and sorted(p.name for p in out_dir.iterdir()) == [
        "keep.txt"
    ]
    assert (
        main(
            [
                "data",
                "prepare",
                "--dataset",
                "vid4",
                "--degradation",
                "bd",
                "--root",
                str(root),
                "--overwrite",
            ]
        )
        == 0
    )
    assert not (out_dir / "keep.txt").exists() and (out_dir / "a/00000000.png").is_file()


def test_prepare_refuses_to_write_over_gt(make_set, capsys):
    root = make_set(folder="Vid4")
    code = main(
        [
            "data",
            "prepare",
            "--dataset",
            "vid4",
            "--degradation",
            "bi",
            "--root",
            str(root),
            "--lr-dir",
            "GT",
            "--overwrite",
        ]
    )
    assert code == 2 and "would replace the GT folder" in capsys.readouterr().err
    assert len(list_frames(root / "Vid4/GT/a")) == 5


def test_prepare_unknown_degradation_lists_valid_ones(make_set, capsys):
    root = make_set(folder="Vid4")
    assert main(["data", "prepare", "--dataset", "vid4", "--degradation", "blur", "--root", str(root)]) == 2
    err = capsys.readouterr().err
    assert (
        "unknown degradation 'blur'" in err
        and "valid: bd, bi, bicubic_up, mixture, realbasicvsr, simplegvr_flow" in err
    )
    assert not (root / "Vid4/BDx4").exists()


def test_prepare_rejects_upsampling_and_bad_options(make_set, capsys):
    root = make_set(folder="Vid4")
    assert (
        main(["data", "prepare", "--dataset", "vid4", "--degradation", "bicubic_up", "--root", str(root)])
        == 2
    )
    assert "upsamples" in capsys.readouterr().err
    assert (
        main(
            [
                "data",
                "prepare",
                "--dataset",
                "vid4",
                "--degradation",
                "bd",
                "--root",
                str(root),
                "-o",
                "sigma",
            ]
        )
        == 2
    )
    assert "option 'sigma' must look like key=value" in capsys.readouterr().err
    assert not any(p.name.startswith(".") for p in (root / "Vid4").iterdir())  # no partial folder left


def test_prepare_realbasicvsr_with_options_and_scale(make_set, capsys):
    root = make_set(folder="mine", lr=None, size=(64, 64), clips={"a": 3})
    code = main(
        [
            "data",
            "prepare",
            "--dataset",
            "folder",
            "--degradation",
            "realbasicvsr",
            "--root",
            str(root / "mine"),
            "--scale",
            "2",
            "--seed",
            "5",
            "-o",
            "stage1.sigma_x=[0.2,1.0]",
        ]
    )
    assert code == 0
    lr = read_image(root / "mine/RealBasicVSRx2/a/00000000.png")
    assert lr.shape == (32, 32, 3)
    record = json.loads((root / "mine/RealBasicVSRx2/vsrzoo_degradation.json").read_text())
    assert record["seed"] == 5 and record["config"]["stage1"] == {"sigma_x": [0.2, 1.0]}


def test_verify_reports_problems_with_exit_code_1(make_set, capsys):
    root = make_set(folder="Vid4")
    (root / "Vid4/BIx4/a/00000004.png").unlink()
    assert main(["data", "verify", "--dataset", "vid4", "--root", str(root), "--quick"]) == 1
    out = capsys.readouterr().out
    assert "problem: clip a: 5 GT frames but 4 LR frames (frame-count mismatch)" in out
    assert "1 problem(s) found" in out


def test_verify_missing_root_is_a_one_line_error(tmp_path, capsys):
    assert main(["data", "verify", "--dataset", "udm10", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "udm10: GT folder not found" in err


def test_prepare_never_writes_youhq40_released_lq(make_set, capsys):
    root = make_set(folder="YouHQ40", lr=None)
    args = ["data", "prepare", "--dataset", "youhq40", "--degradation", "realbasicvsr", "--root", str(root)]
    assert main([*args, "--lr-dir", "LQ"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vsrzoo: error: youhq40: will not write LQ/, the released LQ folder: ")
    assert (
        "no degradation parameters, seeds or generation script are published" in err and err.count("\n") == 1
    )
    assert sorted(p.name for p in (root / "YouHQ40").iterdir()) == ["GT"]


def test_prepare_youhq40_bi_is_a_named_other_setting(make_set, capsys, caplog):
    root = make_set(folder="YouHQ40", lr=None)
    args = ["data", "prepare", "--dataset", "youhq40", "--degradation", "bi", "--root", str(root)]
    assert main(args) == 0
    assert "not comparable with the paper's tables" in caplog.text
    assert sorted(p.name for p in (root / "YouHQ40").iterdir()) == ["BIx4", "GT"]
    assert get_dataset("youhq40", root).lr_root.name == "BIx4"
