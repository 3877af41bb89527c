"""Importing vsrzoo and running each subcommand prints only vsrzoo's lines and opens no connection.

Each case runs in a subprocess (``quiet_probe.py``) with ``HF_HUB_OFFLINE`` unset and sockets
refused, in the test environment, which has pyiqa and with it transformers, bitsandbytes and
kernels installed: bitsandbytes, imported by diffusers, fetches a kernel from the Hub on CPUs with
AVX512-BF16 unless vsrzoo stops it (vsrzoo.quiet). Every write is attributed to the module that
made it; anything not from vsrzoo (a library's info line, a warning raised in a library, a C
library writing to the descriptor) fails the test.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vsrzoo.data.io import write_image

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
# Lightning's progress bar is a progress bar; nothing else outside vsrzoo may write.
ALLOWED = re.compile(r"(vsrzoo(\.|$)|lightning\.pytorch\.callbacks\.progress)")


def probe(tmp_path: Path, *args: str) -> tuple[int, str, str, list[dict]]:
    """Exit status, stdout, stderr and the attributed writes of one probed run."""
    log = tmp_path / f"probe-{len(list(tmp_path.glob('probe-*')))}.jsonl"
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    env.update(VSRZOO_PROBE_LOG=str(log), PYTHONPATH=str(REPO / "src"), OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, str(HERE / "quiet_probe.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    records = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return proc.returncode, proc.stdout, proc.stderr, records


def assert_only_vsrzoo(out: str, err: str, records: list[dict]) -> None:
    network = [r["text"] for r in records if r["stream"] == "network"]
    assert not network, f"a connection was attempted: {network}"
    foreign = [(r["origin"], r["text"]) for r in records if not ALLOWED.match(r["origin"])]
    assert not foreign, f"lines that are not vsrzoo's: {foreign}"
    written = "".join(r["text"] for r in records)
    unrecorded = [line for line in re.split(r"[\r\n]+", out + err) if line.strip() and line not in written]
    assert not unrecorded, f"lines written below Python (a C library?): {unrecorded}"


def assert_one_error_line(rc: int, out: str, err: str, fragment: str) -> None:
    assert rc == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("vsrzoo: error: ") and fragment in lines[0], err


def test_importing_vsrzoo_and_its_heavy_parts_is_silent_and_offline(tmp_path):
    code = (
        "import vsrzoo, vsrzoo.factory, vsrzoo.bench.harness, vsrzoo.upscaling.api\n"
        "from vsrzoo.metrics.iqa import pyiqa_arch\n"
        "for name in ('dists', 'musiq', 'clipiqa', 'niqe'):\n"
        "    pyiqa_arch(name)\n"
        "vsrzoo.create_model('instavsr', variant='tiny')\n"
    )
    rc, out, err, records = probe(tmp_path, "--code", code)
    assert rc == 0, err
    assert (out, err) == ("", "")
    assert_only_vsrzoo(out, err, records)


def test_help_and_a_usage_error(tmp_path):
    for args in ([], ["--help"], ["upscale", "--help"], ["data", "prepare", "--help"]):
        rc, out, err, records = probe(tmp_path, *args)
        assert rc == 0 and out.startswith("usage: vsrzoo") and err == "", (args, err)
        assert_only_vsrzoo(out, err, records)
    rc, out, err, records = probe(tmp_path, "upscal")
    assert rc == 2 and "invalid choice: 'upscal'" in err
    assert_only_vsrzoo(out, err, records)


def test_models(tmp_path):
    rc, out, err, records = probe(tmp_path, "models")
    assert rc == 0 and "| instavsr " in out
    assert_only_vsrzoo(out, err, records)
    rc, out, err, records = probe(tmp_path, "models", "instavsrr")
    assert_one_error_line(rc, out, err, "did you mean 'instavsr'")
    assert_only_vsrzoo(out, err, records)


@pytest.mark.slow
def test_fit(tmp_path):
    recipe = str(REPO / "recipes" / "simplegvr-tiny.yaml")
    overrides = ["trainer.max_steps=1", f"output_dir={tmp_path / 'run'}", "data.num_workers=0"]
    rc, out, err, records = probe(tmp_path, "fit", recipe, *overrides)
    assert rc == 0, err
    assert (tmp_path / "run" / "final").is_dir()
    assert_only_vsrzoo(out, err, records)
    rc, out, err, records = probe(tmp_path, "fit", str(tmp_path / "missing.yaml"))
    assert_one_error_line(rc, out, err, "missing.yaml")
    assert_only_vsrzoo(out, err, records)


@pytest.mark.slow
def test_bench(tmp_path):
    args = ["bench", "--dataset", "sample", "--method", "bicubic", "--out", str(tmp_path / "b")]
    rc, out, err, records = probe(tmp_path, *args, "--no-progress")
    assert rc == 0, err
    assert_only_vsrzoo(out, err, records)
    rc, out, err, records = probe(tmp_path, *args, "--metrics", "psnr,nosuch")
    assert_one_error_line(rc, out, err, "unknown metric 'nosuch'")
    assert_only_vsrzoo(out, err, records)


def test_upscale(tmp_path):
    frames = tmp_path / "in"
    frames.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        write_image(frames / f"{i:08d}.png", rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    rc, out, err, records = probe(tmp_path, "upscale", str(frames), str(tmp_path / "out.mp4"))
    assert rc == 0, err
    assert (tmp_path / "out.mp4").stat().st_size > 0
    assert_only_vsrzoo(out, err, records)
    rc, out, err, records = probe(tmp_path, "upscale", str(tmp_path / "nothing.mp4"), str(tmp_path / "o.mp4"))
    assert_one_error_line(rc, out, err, "nothing.mp4")
    assert not (tmp_path / "o.mp4").exists()
    assert_only_vsrzoo(out, err, records)


def test_data(tmp_path):
    rc, out, err, records = probe(tmp_path, "data", "verify", "--dataset", "sample", "--quick")
    assert rc == 0, err
    assert "all checks passed" in out
    assert_only_vsrzoo(out, err, records)
    rc, out, err, records = probe(tmp_path, "data", "verify", "--dataset", "vid5")
    assert_one_error_line(rc, out, err, "unknown dataset 'vid5'")
    assert_only_vsrzoo(out, err, records)
