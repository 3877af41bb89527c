"""benchmarks/paper_scale.py: the GPU rehearsal's code path, run reduced (tiny variants) on CPU."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_rehearsal_runs_every_paper_recipe_and_instavsr_inference_reduced_on_cpu(tmp_path):
    res = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "paper_scale.py"), "--reduced"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    rows = [line for line in res.stdout.splitlines() if line.startswith("| ") and "recipe" not in line]
    assert [r.split("|")[1].strip() for r in rows] == ["liftvsr", "litevsr", "simplegvr", "instavsr"]
    for row in rows:
        plan, peak = (float(v) for v in row.split("|")[3:5])
        assert plan > 0 and peak > 0
    assert "instavsr inference: 2 frames 16x16 -> 64x64" in res.stdout
