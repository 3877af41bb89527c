"""Nothing partial, nothing overwritten: signals, concurrent runs, unwritable or full outputs, and one-line errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from inference_helpers import SRC, pan_frames, start_upscale, video_stamps

import vsrzoo
from vsrzoo.cli import main
from vsrzoo.data.io import list_frames, open_video, write_image
from vsrzoo.errors import UserError


def listing(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


@pytest.fixture
def long_folder(tmp_path):
    """120 frames of 64x96: several seconds of instavsr-tiny on one thread, long enough to interrupt."""
    folder = tmp_path / "lr"
    folder.mkdir()
    base = np.asarray(pan_frames(1, 64, 96)[0])
    for i in range(120):
        write_image(folder / f"{i:04d}.png", np.roll(base, i, axis=1))
    return folder


def wait_for(path: Path, timeout: float = 120, min_size: int = 1) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.exists() and path.stat().st_size >= min_size:
            return
        time.sleep(0.05)
    raise AssertionError(f"{path} did not appear")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_mid_run_removes_the_temporary_and_keeps_the_old_output(long_folder, tmp_path, sig):
    out = tmp_path / "sr.mp4"
    out.write_bytes(b"an earlier result")
    proc = start_upscale(str(long_folder), str(out), "--overwrite", "--method", "instavsr")
    wait_for(tmp_path / ".sr.partial.mp4", min_size=1)  # the first packets are muxed: encoding is under way
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and err.endswith("vsrzoo: interrupted\n")
    assert listing(tmp_path) == {"lr", "sr.mp4"} and out.read_bytes() == b"an earlier result"


def test_a_second_run_to_the_same_output_is_refused_and_the_first_completes(long_folder, tmp_path):
    out = tmp_path / "sr.mp4"
    first = start_upscale(str(long_folder), str(out), "--method", "instavsr")
    wait_for(tmp_path / ".sr.partial.mp4", min_size=1)
    first.send_signal(signal.SIGSTOP)  # hold the first run mid-encode, whatever the machine's load
    try:
        second = start_upscale(str(long_folder), str(out), "--overwrite", "--method", "instavsr")
        _, err = second.communicate(timeout=300)
    finally:
        first.send_signal(signal.SIGCONT)
    assert second.returncode == 2
    assert err == (
        f"vsrzoo: error: {out} is being written by another vsrzoo run (pid {first.pid}); wait for it to finish "
        "or choose another output\n"
    )
    stdout, _ = first.communicate(timeout=300)
    assert first.returncode == 0 and stdout.startswith("wrote 120 frames")
    assert len(video_stamps(out)[0]) == 120 and listing(tmp_path) == {"lr", "sr.mp4"}


def test_unwritable_output_location_fails_before_the_first_frame(long_folder, capsys):
    start_time = time.perf_counter()
    assert main(["upscale", str(long_folder), "/proc/x.mp4", "--method", "instavsr"]) == 2
    assert capsys.readouterr().err == (
        "vsrzoo: error: cannot write /proc/x.mp4: cannot create files in /proc (No such file or directory)\n"
    )
    assert time.perf_counter() - start_time < 20  # no model was run


def test_disk_full_mid_run_leaves_nothing(long_folder, tmp_path):
    """A file-size limit (RLIMIT_FSIZE) makes writes fail like a full disk."""
    out = tmp_path / "sr.mp4"
    code = (
        "import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
        "resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000)); "
        "from vsrzoo.cli import main; "
        f"sys.exit(main(['upscale', {str(long_folder)!r}, {str(out)!r}, '--no-progress', '--crf', '0']))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"vsrzoo: error: cannot write {out}: ") and proc.stderr.count("\n") == 1
    assert listing(tmp_path) == {"lr"}


@pytest.mark.parametrize("fps", ["-5", "nan", "inf", "0", "abc"])
def test_bad_fps(frame_folder, tmp_path, capsys, fps):
    out = tmp_path / "sr.mp4"
    assert main(["upscale", str(frame_folder), str(out), f"--fps={fps}"]) == 2
    assert capsys.readouterr().err == (
        f"vsrzoo: error: --fps must be a positive number of frames per second (e.g. 25 or 30000/1001), got '{fps}'\n"
    )
    assert listing(tmp_path) == {"lr"}


def test_exact_fps_for_a_frame_folder(frame_folder, tmp_path):
    out = tmp_path / "sr.mp4"
    assert main(["upscale", str(frame_folder), str(out), "--fps", "30000/1001", "--no-progress"]) == 0
    assert open_video(out).meta.rate == 30000 / 1001 or str(open_video(out).meta.rate) == "30000/1001"


def test_unsupported_device_in_upscale_and_bench(frame_folder, tmp_path, capsys):
    assert main(["upscale", str(frame_folder), str(tmp_path / "sr.mp4"), "--device", "tpu"]) == 2
    assert capsys.readouterr().err == "vsrzoo: error: unsupported device 'tpu'; use cpu or cuda[:N]\n"
    assert main(["bench", "--dataset", "sample", "--device", "tpu", "--out", str(tmp_path / "b")]) == 2
    assert capsys.readouterr().err == "vsrzoo: error: unsupported device 'tpu'; use cpu or cuda[:N]\n"
    assert listing(tmp_path) == {"lr"}


def test_scale_3_reports_the_size_it_writes(tmp_path, capsys, caplog):
    folder = tmp_path / "lr"
    folder.mkdir()
    for i, f in enumerate(pan_frames(3, 16, 25)):  # x3 -> 48x75: odd, padded to 76 for yuv420p
        write_image(folder / f"{i}.png", f)
    out = tmp_path / "sr.mp4"
    assert main(["upscale", str(folder), str(out), "--scale", "3", "--no-progress"]) == 0
    assert "frames of 76x48 at" in capsys.readouterr().out
    assert "padding 75x48 to 76x48 (yuv420p needs even sizes)" in caplog.text
    meta = open_video(out).meta
    assert (meta.width, meta.height) == (76, 48)
    lossless = tmp_path / "sr.mkv"
    result = vsrzoo.upscale(folder, lossless, scale=3, video_codec="ffv1", progress=False)
    assert (
        (result.width, result.height)
        == (75, 48)
        == (open_video(lossless).meta.width, open_video(lossless).meta.height)
    )


def test_api_takes_frames_from_a_generator_and_checks_them(tmp_path):
    frames = pan_frames(5, 16, 24)
    out = tmp_path / "sr"
    result = vsrzoo.upscale((f for f in frames), out, fps="30000/1001", progress=False)
    assert result.num_frames == 5 and len(list_frames(out)) == 5

    def bad():
        yield frames[0]
        yield frames[1].astype(np.float32)

    with pytest.raises(UserError) as err:
        vsrzoo.upscale(bad(), tmp_path / "bad.mp4", progress=False)
    assert (
        str(err.value)
        == "frame 1 of the given frames is not a uint8 RGB image (H, W, 3): got float32 (16, 24, 3)"
    )
    with pytest.raises(UserError) as err:
        vsrzoo.upscale(iter([]), tmp_path / "empty.mp4", progress=False)
    assert str(err.value) == "no frames in the given frames: the video is empty"
    with pytest.raises(UserError) as err:
        vsrzoo.upscale(42, tmp_path / "x.mp4", progress=False)
    assert (
        str(err.value)
        == "input must be a video file, a frame folder or an iterable of uint8 RGB frames, got int"
    )
    with pytest.raises(UserError) as err:
        vsrzoo.upscale(frames, tmp_path / "x.mp4", crf=-1, progress=False)
    assert str(err.value) == "--crf must be a number between 0 and 51, got -1"
    assert listing(tmp_path) == {"sr"}


def test_upscale_and_bench_default_to_the_best_device_present():
    import argparse

    import torch

    from vsrzoo.cli import bench as bench_cli
    from vsrzoo.cli import upscale as upscale_cli
    from vsrzoo.runtime import resolve_device

    best = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device(None) == best
    for cli in (bench_cli, upscale_cli):
        parser = argparse.ArgumentParser()
        cli.add_arguments(parser)
        assert parser.get_default("device") is None  # both leave the choice to resolve_device


def test_corrupt_frame_is_one_line_without_opencv_noise(tmp_path):
    """A truncated PNG: only vsrzoo's line reaches stderr (OpenCV's WARN line is silenced)."""
    import cv2
    import numpy as np
    from inference_helpers import start_upscale

    clip = tmp_path / "clip"
    clip.mkdir()
    image = np.random.default_rng(0).integers(0, 256, (24, 24, 3), dtype=np.uint8)
    for i in range(3):
        cv2.imwrite(str(clip / f"{i:08d}.png"), image)
    bad = clip / "00000001.png"
    bad.write_bytes(bad.read_bytes()[:200])
    proc = start_upscale(str(clip), str(tmp_path / "out"), "--method", "bicubic")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert err.strip().splitlines() == [f"vsrzoo: error: cannot decode image {bad} (corrupt or not an image)"]
    assert not (tmp_path / "out").exists()
