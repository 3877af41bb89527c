"""Perceptual and no-reference metrics in the bench, LQ-only folders, and the one-line errors
around them (issue 16)."""

from __future__ import annotations

import json
import math

import pytest
from bench_helpers import iqa_writers, pan, write_lq_folder, write_set

from vsrzoo.bench import evaluate
from vsrzoo.cli import main


def test_iqa_metrics_end_to_end_on_built_weights(tmp_path, torch_home):
    for write in iqa_writers().values():
        write()
    root = write_set(tmp_path / "data", {"alpha": pan("astronaut", 3, 96), "beta": pan("coffee", 2, 96)})
    out = tmp_path / "out"
    res = evaluate("sample", "bicubic", root=root, metrics="psnr,dists,musiq,clipiqa,niqe", out=out)
    summary = res.summary("bicubic")
    assert all(math.isfinite(summary[m]) for m in ("dists", "musiq", "clipiqa", "niqe"))
    assert 0 < summary["dists"] < 1 and 0 < summary["clipiqa"] < 1
    assert res.settings["iqa"]["musiq"].startswith("pyiqa ")
    assert "MUSIQ" in (out / "report.html").read_text()


@pytest.mark.parametrize("metric", ["dists", "musiq", "clipiqa", "niqe"])
def test_missing_weights_one_line_before_any_work(tiny_root, tmp_path, torch_home, capsys, metric):
    out = tmp_path / "out"
    code = main(
        ["bench", "--root", str(tiny_root), "--metrics", f"psnr,{metric}", "--out", str(out), "--no-progress"]
    )
    err = capsys.readouterr().err
    assert (
        code == 2
        and err.startswith(f"vsrzoo: error: {metric} needs the weight file ")
        and err.count("\n") == 1
    )
    assert "download https://" in err and not out.exists() and not torch_home.exists()


def test_lq_only_folder_scores_no_reference_only(tmp_path, torch_home):
    root = write_lq_folder(tmp_path / "lq")
    iqa_writers()["niqe"]()
    res = evaluate(
        "folder", "bicubic", root=root, metrics="niqe,ewarp,ewarp_evalcrafter", out=tmp_path / "out"
    )
    assert res.clips == ["frames_clip", "videos/pan"]
    clips = res["bicubic"]["clips"]
    assert clips["frames_clip"]["num_frames"] == 5 and clips["videos/pan"]["num_frames"] == 6
    assert all(math.isfinite(v) for v in res.summary("bicubic").values())
    assert res.settings["flow_from"] == "output" and res.settings["has_gt"] is False
    report = (tmp_path / "out" / "report.md").read_text()
    assert "no ground truth" in report


@pytest.mark.parametrize("metrics", ["psnr", "niqe,lpips", "dists", "tof"])
def test_lq_only_refuses_full_reference(tmp_path, capsys, metrics):
    root = write_lq_folder(tmp_path / "lq")
    out = tmp_path / "out"
    code = main(
        ["bench", "--dataset", "folder", "--root", str(root), "--metrics", metrics, "--out", str(out)]
    )
    err = capsys.readouterr().err
    assert (
        code == 2
        and err.startswith("vsrzoo: error: the dataset has no ground truth: ")
        and err.count("\n") == 1
    )
    assert not out.exists()


def test_lq_only_outputs_folder(tmp_path, torch_home):
    from vsrzoo.data.io import write_image

    root = write_lq_folder(tmp_path / "lq")
    iqa_writers()["niqe"]()
    first = evaluate("folder", "bicubic", root=root, metrics="niqe")
    outputs = tmp_path / "outputs"
    from vsrzoo.data.datasets import get_dataset
    from vsrzoo.methods.bicubic import Bicubic

    for clip in get_dataset("folder", root).clips:
        (outputs / clip.name).mkdir(parents=True)
        for i, frame in enumerate(Bicubic().upscale(clip.read_lr())):
            write_image(outputs / clip.name / f"{i:08d}.png", frame)
    res = evaluate("folder", outputs={"mine": outputs}, root=root, metrics="niqe")
    assert res.summary("mine")["niqe"] == pytest.approx(first.summary("bicubic")["niqe"], abs=1e-6)


def test_out_pointing_at_a_file_is_one_line(tiny_root, tmp_path, capsys):
    target = tmp_path / "results.txt"
    target.write_text("keep me")
    code = main(["bench", "--root", str(tiny_root), "--metrics", "psnr", "--out", str(target)])
    err = capsys.readouterr().err
    assert (
        code == 2 and err.startswith("vsrzoo: error: --out ") and "is a file" in err and err.count("\n") == 1
    )
    assert target.read_text() == "keep me"


def test_results_json_records_fingerprint(tiny_root, tmp_path):
    out = tmp_path / "out"
    evaluate("sample", "bicubic", root=tiny_root, metrics="psnr", out=out)
    stored = json.loads((out / "clips" / "bicubic" / "alpha.json").read_text())
    assert set(stored["fingerprint"]) == {"inputs", "weights", "method", "protocol", "version"}
