"""Resumable runs: finished clips are skipped, --overwrite recomputes, and a run interrupted in the
middle of a clip resumes without duplicated or corrupt rows."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vsrzoo.bench import evaluate
from vsrzoo.errors import UserError


def clip_files(out: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in sorted((out / "clips" / "bicubic").glob("*.json"))}


def frame_rows(out: Path) -> list[dict]:
    with open(out / "frames.csv") as f:
        return list(csv.DictReader(f))


def assert_clean(out: Path, expected_frames: int) -> None:
    rows = frame_rows(out)
    keys = [(r["method"], r["clip"], r["frame"]) for r in rows]
    assert len(keys) == len(set(keys)) == expected_frames
    assert all(r["psnr"] and float(r["psnr"]) > 10 for r in rows)


def test_rerun_skips_finished_clips_and_force_recomputes(tiny_root, tmp_path):
    out = tmp_path / "out"
    first = evaluate("sample", "bicubic", root=tiny_root, metrics="psnr,ssim", out=out)
    stamps = clip_files(out)
    assert len(stamps) == 3
    time.sleep(0.01)
    again = evaluate("sample", "bicubic", root=tiny_root, metrics="psnr,ssim", out=out)
    assert clip_files(out) == stamps
    assert again.summary("bicubic") == first.summary("bicubic")
    # other settings are other results: adding a metric recomputes every clip
    evaluate("sample", "bicubic", root=tiny_root, metrics="psnr,ssim,tof", out=out)
    changed = clip_files(out)
    assert all(changed[k] != stamps[k] for k in stamps)
    evaluate("sample", "bicubic", root=tiny_root, metrics="psnr,ssim,tof", out=out, overwrite=True)
    assert all(clip_files(out)[k] != changed[k] for k in stamps)
    assert_clean(out, 18)


def test_interrupted_mid_clip_resumes_without_duplicates(tiny_root, tmp_path):
    out = tmp_path / "out"
    bad = tiny_root / "sample" / "BIx4" / "beta" / "00000003.png"
    good = bad.read_bytes()
    bad.write_bytes(good[: len(good) // 3])  # a truncated frame stops the run inside clip beta
    with pytest.raises(UserError, match=r"cannot decode image .*beta/00000003\.png"):
        evaluate("sample", "bicubic", root=tiny_root, metrics="psnr,ssim", out=out)
    stamps = clip_files(out)
    assert list(stamps) == ["alpha.json"]  # beta was in progress: nothing half-written
    # debris a crash could leave: a truncated result and a temporary file
    (out / "clips" / "bicubic" / "gamma.json").write_text('{"settings_key": "')
    (out / "clips" / "bicubic" / ".beta.json.123.tmp").write_text("{")
    bad.write_bytes(good)
    res = evaluate("sample", "bicubic", root=tiny_root, metrics="psnr,ssim", out=out)
    assert res.complete and clip_files(out)["alpha.json"] == stamps["alpha.json"]  # not recomputed
    assert_clean(out, 18)
    fresh = evaluate("sample", "bicubic", root=tiny_root, metrics="psnr,ssim")
    assert res.summary("bicubic") == pytest.approx(fresh.summary("bicubic"), abs=1e-12)


@pytest.mark.slow
def test_killed_process_resumes(tiny_root, tmp_path):
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "vsrzoo.cli",
        "bench",
        "--dataset",
        "sample",
        "--root",
        str(tiny_root),
        "--out",
        str(out),
        "--metrics",
        "psnr,ssim,ewarp,tof",
        "--no-progress",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while (
        not list((out / "clips" / "bicubic").glob("*.json"))
        and proc.poll() is None
        and time.time() < deadline
    ):
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)  # typically in the middle of the second clip
    proc.wait()
    done_before = clip_files(out)
    assert 1 <= len(done_before) <= 3
    res = evaluate("sample", "bicubic", root=tiny_root, metrics="psnr,ssim,ewarp,tof", out=out)
    assert res.complete
    assert all(clip_files(out)[k] == v for k, v in done_before.items())
    assert_clean(out, 18)
