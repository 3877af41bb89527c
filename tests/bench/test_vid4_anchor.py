"""The published anchor: bicubic on Vid4 BIx4, Y channel, crop 0, all frames -> 23.78 dB / 0.6347
(BasicVSR, Chan et al. CVPR 2021, arXiv 2012.02181, Table 1, 'Bicubic' row, Vid4 BI)."""

from __future__ import annotations

import pytest

from vsrzoo.cli import main


@pytest.mark.slow
@pytest.mark.data
def test_bicubic_vid4_anchor(shared_data, tmp_path, capsys):
    out = tmp_path / "vid4"
    argv = [
        "bench",
        "--dataset",
        "vid4",
        "--root",
        str(shared_data),
        "--method",
        "bicubic",
        "--metrics",
        "psnr,ssim",
        "--out",
        str(out),
        "--no-progress",
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "| bicubic | 23.78       | 0.6347 |" in printed
    import json

    data = json.loads((out / "results.json").read_text())
    summary = data["entries"]["bicubic"]["summary"]
    assert round(summary["psnr"], 2) == 23.78 and round(summary["ssim"], 4) == 0.6347
    clips = data["entries"]["bicubic"]["clips"]
    assert {c: len(r["frames"]) for c, r in clips.items()} == {
        "calendar": 41,
        "city": 34,
        "foliage": 49,
        "walk": 47,
    }
