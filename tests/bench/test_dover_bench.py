"""DOVER in the bench (issue 16): ``--metrics dover`` on an LQ-only folder end to end, one
score per clip, and the one-line missing-weights error before any work.

The bench builds DOVER with the module's defaults (the official views and network sizes); these
tests point them at small views and a reduced-depth network so that a clip scores in a second.
The official sizes and the strict load are tested in tests/metrics/test_dover_metric.py."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
from bench_helpers import iqa_writers, write_lq_folder

from vsrzoo.bench import evaluate
from vsrzoo.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "metrics"))
from dover_weights import SMALL_NET, SMALL_SPEC, write_dover  # noqa: E402


@pytest.fixture
def small_dover(torch_home, monkeypatch):
    from vsrzoo.metrics import dover

    monkeypatch.setattr(dover, "DEFAULT_SPEC", SMALL_SPEC)
    monkeypatch.setattr(dover, "DEFAULT_NET", SMALL_NET)
    write_dover()


def test_dover_cli_on_lq_only_folder(tmp_path, small_dover, capsys):
    root = write_lq_folder(tmp_path / "lq")
    out = tmp_path / "out"
    code = main(
        ["bench", "--dataset", "folder", "--root", str(root), "--method", "bicubic", "--metrics", "dover"]
        + ["--out", str(out), "--no-progress"]
    )
    assert code == 0, capsys.readouterr().err
    results = json.loads((out / "results.json").read_text())
    assert results["metrics"] == ["dover", "dover_technical", "dover_aesthetic"]
    summary = results["entries"]["bicubic"]["summary"]
    assert all(0 < summary[m] < 100 for m in results["metrics"])
    clips = results["entries"]["bicubic"]["clips"]
    for clip in clips.values():  # one score per clip, none per frame
        assert all(math.isfinite(clip["metrics"][m]) for m in results["metrics"])
        assert all(set(row) == {"frame", "name"} for row in clip["frames"])
    means = [sum(c["metrics"][m] for c in clips.values()) / len(clips) for m in results["metrics"]]
    assert [summary[m] for m in results["metrics"]] == pytest.approx(means)
    assert "DOVER (DOVER.pth)" in results["settings"]["vqa"]["dover"]
    report = (out / "report.md").read_text()
    assert "DOVER technical" in report and "- video quality: DOVER" in report


def test_dover_with_frame_metrics_and_protocol(tmp_path, small_dover):
    """Next to per-frame metrics; a single output scores like the full set."""
    iqa_writers()["niqe"]()
    root = write_lq_folder(tmp_path / "lq")
    both = evaluate("folder", "bicubic", root=root, metrics="niqe,dover_technical", out=None)
    alone = evaluate("folder", "bicubic", root=root, metrics="dover", out=None)
    s_both, s_alone = both.summary("bicubic"), alone.summary("bicubic")
    assert set(s_both) == {"niqe", "dover_technical"} and math.isfinite(s_both["niqe"])
    assert s_both["dover_technical"] == pytest.approx(s_alone["dover_technical"])


def test_missing_dover_weights_one_line_before_any_work(tmp_path, torch_home, capsys):
    """NIQE's weights present, DOVER's absent: the error names DOVER.pth and nothing is written."""
    iqa_writers()["niqe"]()
    root = write_lq_folder(tmp_path / "lq")
    out = tmp_path / "out"
    code = main(
        ["bench", "--dataset", "folder", "--root", str(root), "--metrics", "niqe,dover", "--out", str(out)]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("vsrzoo: error: ") and "DOVER.pth" in err
    assert "https://github.com/QualityAssessment/DOVER/releases/download/v0.1.0/DOVER.pth" in err
    assert not out.exists() and not (torch_home / "hub" / "checkpoints").exists()


def test_help_lists_dover(capsys):
    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "dover," in text and "dover_technical" in text and "dover_aesthetic" in text
