"""`vsrzoo bench` end to end: the table, the report files, the one-line errors."""

from __future__ import annotations

import csv
import json

import pytest

from vsrzoo.cli import main


def test_cli_writes_every_report_file(tiny_root, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(
        [
            "bench",
            "--dataset",
            "sample",
            "--root",
            str(tiny_root),
            "--out",
            str(out),
            "--no-progress",
            "--method",
            "bicubic",
            "--metrics",
            "psnr,ssim,ewarp,ewarp_evalcrafter,tof",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "| method  | PSNR (dB) ↑ | SSIM ↑ | E*warp (x1e-3) ↓ |" in printed and "| bicubic |" in printed
    data = json.loads((out / "results.json").read_text())
    assert data["protocol"] == {
        "name": "standard",
        "y_channel": True,
        "crop_border": 0,
        "skip_first": 0,
        "skip_last": 0,
    }
    assert data["versions"]["torch"] and data["versions"]["opencv"] and data["units"]["ewarp"] == "x1e-3"
    assert data["settings"]["flow"].startswith("dis (OpenCV") and data["settings"]["flow_from"] == "gt"
    assert data["entries"]["bicubic"]["clips"]["alpha"]["frames"][1]["ewarp_evalcrafter"] > 0
    with open(out / "frames.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 18 and set(rows[0]) >= {"method", "clip", "frame", "psnr", "ewarp", "tof"}
    for name in ("summary.csv", "clips.csv", "results.md", "report.md", "report.html"):
        assert (out / name).stat().st_size > 0
    for clip in ("alpha", "beta", "gamma"):
        for rel in (f"plots/psnr_{clip}.png", f"profiles/{clip}.png"):
            assert (out / rel).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            assert rel in (out / "report.html").read_text() and rel in (out / "report.md").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--metrics", "psnr,warp"], "vsrzoo: error: unknown metric 'warp' (did you mean 'ewarp'?); valid: "),
        (["--dataset", "vid-4"], "vsrzoo: error: unknown dataset 'vid-4' (did you mean 'vid4'?); valid: "),
        (["--method", "bicubc"], "vsrzoo: error: unknown method 'bicubc' (did you mean 'bicubic'?); valid: "),
        (["--shard", "2/2"], "vsrzoo: error: --shard 2/2: need N >= 1 and 0 <= I < N"),
        (["--flow", "farneback"], "vsrzoo: error: unknown flow backend 'farneback'; valid: dis, raft"),
    ],
)
def test_cli_one_line_errors(tiny_root, tmp_path, capsys, args, message):
    base = ["bench", "--root", str(tiny_root), "--out", str(tmp_path / "o"), "--no-progress"]
    assert main(base + args) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


@pytest.mark.slow
def test_readme_command_runs_offline_with_no_other_argument(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["bench", "--dataset", "sample"]) == 0
    rows = [
        line.split("|")[1].strip() for line in capsys.readouterr().out.splitlines() if line.startswith("| ")
    ]
    data = json.loads((tmp_path / "results" / "bench" / "sample" / "results.json").read_text())
    assert data["metrics"] == ["psnr", "ssim", "ewarp"] and data["complete"]
    from vsrzoo.bench.harness import default_methods

    for method in default_methods():  # bicubic plus every method with shipped weights
        assert method in rows
        assert data["entries"][method]["summary"]["psnr"] > 20
