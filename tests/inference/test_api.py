"""`vsrzoo.upscale` and `vsrzoo upscale`: outputs, atomic writes and every bad input the issue lists."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import torch
from inference_helpers import BicubicBlur, SegmentMean, pan_frames

import vsrzoo
from vsrzoo.cli import main
from vsrzoo.data.io import list_frames, open_video, read_image, write_image
from vsrzoo.errors import UserError
from vsrzoo.inference.streaming import stream_upscale


def decode(path: Path) -> tuple[list[np.ndarray], float]:
    with av.open(str(path)) as container:
        fps = float(container.streams.video[0].average_rate)
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)], fps


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255**2 / max(mse, 1e-10))


def listing(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def test_video_to_video_keeps_fps_and_frame_count(video_file, tmp_path):
    out = tmp_path / "sr.mp4"
    result = vsrzoo.upscale(video_file, out, method="bicubic", progress=False)
    assert result.path == out and result.num_frames == 8 and (result.width, result.height) == (192, 128)
    sr, fps = decode(out)
    assert len(sr) == 8 and sr[0].shape == (128, 192, 3) and fps == pytest.approx(12.5)
    lr = list(open_video(video_file))
    want = list(vsrzoo.create_model("bicubic").upscale(lr))
    assert min(psnr(a, b) for a, b in zip(sr, want)) > 35  # only H.264 (crf 18) losses
    assert listing(tmp_path) == {"lr.mp4", "sr.mp4"}  # no temporary left behind


def test_folder_to_folder_tiled_segments(frame_folder, tmp_path):
    out = tmp_path / "sr"
    model = SegmentMean()
    vsrzoo.upscale(
        frame_folder, out, method=model, segment_length=4, overlap=2, tile=16, tile_overlap=6, progress=False
    )
    got = [read_image(p) for p in list_frames(out)]
    want = list(
        stream_upscale(model, [read_image(p) for p in list_frames(frame_folder)], segment_length=4, overlap=2)
    )
    assert len(got) == 8 and all(np.abs(a.astype(int) - b).max() <= 1 for a, b in zip(got, want))


def test_overwrite_replaces_only_when_asked(video_file, tmp_path):
    out = tmp_path / "sr.mp4"
    out.write_bytes(b"an earlier result")
    vsrzoo.upscale(video_file, out, overwrite=True, progress=False)
    assert len(decode(out)[0]) == 8


def test_interrupted_run_leaves_the_earlier_output_intact(frame_folder, tmp_path):
    out = tmp_path / "sr.mp4"
    out.write_bytes(b"an earlier result")
    with pytest.raises(KeyboardInterrupt):
        vsrzoo.upscale(frame_folder, out, method=SegmentMean(stop_after=1), overwrite=True, progress=False)
    assert out.read_bytes() == b"an earlier result"
    assert listing(tmp_path) == {"lr", "sr.mp4"}


# ------------------------------------------------------------------ bad input, one test each


def test_output_in_a_missing_directory(video_file, tmp_path):
    out = tmp_path / "missing" / "sr.mp4"
    with pytest.raises(UserError) as err:
        vsrzoo.upscale(video_file, out, progress=False)
    assert str(err.value) == f"output directory does not exist: {tmp_path / 'missing'}"
    assert listing(tmp_path) == {"lr.mp4"}


def test_output_exists(video_file, tmp_path):
    out = tmp_path / "sr.mp4"
    out.write_bytes(b"keep me")
    with pytest.raises(UserError) as err:
        vsrzoo.upscale(video_file, out, progress=False)
    assert str(err.value) == f"output exists: {out} (pass --overwrite to replace it)"
    assert out.read_bytes() == b"keep me" and listing(tmp_path) == {"lr.mp4", "sr.mp4"}


def test_input_folder_with_zero_frames(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError) as err:
        vsrzoo.upscale(empty, tmp_path / "sr.mp4", progress=False)
    assert str(err.value) == f"no image frames in {empty}"
    assert listing(tmp_path) == {"empty"}


def test_input_video_with_zero_frames(tmp_path):
    path = tmp_path / "empty.avi"  # a valid AVI whose video stream holds no frame
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mjpeg", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuvj420p"
        container.start_encoding()
    with pytest.raises(UserError) as err:
        vsrzoo.upscale(path, tmp_path / "sr.mp4", progress=False)
    assert str(err.value) == f"no frames in {path}: the video is empty"
    assert listing(tmp_path) == {"empty.avi"}


def test_frame_of_another_size_mid_video(tmp_path):
    folder = tmp_path / "lr"
    folder.mkdir()
    for i, frame in enumerate(pan_frames(6, 32, 48)):
        write_image(folder / f"{i:08d}.png", frame[:, :40] if i == 3 else frame)
    out = tmp_path / "sr.mp4"
    with pytest.raises(UserError) as err:
        vsrzoo.upscale(folder, out, progress=False)
    assert str(err.value) == (
        f"frame 3 of {folder} has size 40x32, expected 48x32 like frame 0 (all frames of a video must have the same size)"
    )
    assert listing(tmp_path) == {"lr"}


def test_input_codec_without_decoder(tmp_path):
    good = tmp_path / "good.avi"
    with av.open(str(good), "w") as container:
        stream = container.add_stream("mjpeg", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuvj420p"
        for frame in pan_frames(3, 48, 64):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    bad = tmp_path / "bad.avi"  # same file, FourCC changed to one no decoder knows
    bad.write_bytes(good.read_bytes().replace(b"MJPG", b"QQQQ"))
    good.unlink()
    with pytest.raises(UserError) as err:
        vsrzoo.upscale(bad, tmp_path / "sr.mp4", progress=False)
    assert str(err.value) == (
        f"unsupported video codec 'QQQQ' in {bad}: PyAV/FFmpeg has no decoder for it; re-encode it "
        "(e.g. ffmpeg -i bad.avi -c:v libx264 out.mp4) or extract its frames to a folder"
    )
    assert listing(tmp_path) == {"bad.avi"}


@pytest.mark.parametrize(
    "name,message",
    [
        (
            "sr.webm",
            "cannot write sr.webm: the .webm container cannot hold H.264 (libx264), the codec vsrzoo encodes "
            "with; use .mp4, .mkv, .mov or a frame folder",
        ),
        (
            "sr.gif",
            "cannot write sr.gif: no encoder for .gif output; use .mp4, .mkv, .mov (H.264) or a frame folder "
            "(a path without a suffix)",
        ),
    ],
)
def test_output_format_without_encoder(video_file, tmp_path, name, message):
    with pytest.raises(UserError) as err:
        vsrzoo.upscale(video_file, tmp_path / name, progress=False)
    assert str(err.value) == message
    assert listing(tmp_path) == {"lr.mp4"}


def test_unsupported_scale(video_file, tmp_path):
    with pytest.raises(UserError) as err:
        vsrzoo.upscale(video_file, tmp_path / "sr.mp4", method="bicubic", scale=5, progress=False)
    assert str(err.value) == "bicubic does not support scale 5; supported: 2, 3, 4, 8"
    with pytest.raises(UserError) as err:
        vsrzoo.upscale(video_file, tmp_path / "sr.mp4", method=BicubicBlur(), scale=2, progress=False)
    assert str(err.value) == "the given model upscales x4, not x2"
    assert listing(tmp_path) == {"lr.mp4"}


# ------------------------------------------------------------------ the command line


def test_cli_upscales_with_a_progress_bar(frame_folder, tmp_path, capsys):
    out = tmp_path / "sr"
    assert main(["upscale", str(frame_folder), str(out), "--scale", "2", "--fps", "10", "--tile", "20"]) == 0
    captured = capsys.readouterr()
    assert "frame/s" in captured.err and "8/8" in captured.err  # rate and ETA come from tqdm
    assert f"wrote 8 frames of 96x64 at 10 fps to {out}" in captured.out
    assert len(list_frames(out)) == 8


def test_cli_errors_are_one_line(video_file, tmp_path, capsys):
    out = tmp_path / "sr.mp4"
    assert main(["upscale", str(video_file), str(out), "--scale", "5"]) == 2
    err = capsys.readouterr().err
    assert err == "vsrzoo: error: bicubic does not support scale 5; supported: 2, 3, 4, 8\n"
    assert not out.exists()


@pytest.mark.slow
@pytest.mark.data
def test_real_video_upscales_to_a_playable_mp4(tmp_path, shared_data):
    src = shared_data / "real/mp4/old_movie_1.mp4"
    lr, lr_fps = decode(src)  # count decoded frames: a container's count can be wrong
    out = tmp_path / "x.mp4"
    assert main(["upscale", str(src), str(out), "--method", "bicubic", "--no-progress"]) == 0
    sr, fps = decode(out)
    assert len(sr) == len(lr) and fps == pytest.approx(lr_fps)
    assert sr[0].shape == (4 * lr[0].shape[0], 4 * lr[0].shape[1], 3)


def test_cli_tile_auto_with_a_memory_budget(frame_folder, tmp_path, capsys):
    out = tmp_path / "sr"
    argv = ["upscale", str(frame_folder), str(out), "--tile", "auto", "--max-memory", "64GB", "--no-progress"]
    assert main(argv) == 0
    assert len(list_frames(out)) == 8


def test_cli_rejects_a_bad_tile(frame_folder, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["upscale", str(frame_folder), str(tmp_path / "sr"), "--tile", "huge"])
    assert exit_.value.code == 2
    assert "expected a number of LR pixels or 'auto', got 'huge'" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown when CUDA is absent")
def test_missing_cuda_device(video_file, tmp_path):
    with pytest.raises(UserError) as err:
        vsrzoo.upscale(video_file, tmp_path / "sr.mp4", device="cuda", progress=False)
    assert str(err.value) == "--device cuda was requested but no CUDA device is available; use --device cpu"
    assert listing(tmp_path) == {"lr.mp4"}


def test_max_memory_without_tile_auto_warns(frame_folder, tmp_path, caplog):
    with caplog.at_level("WARNING"):
        vsrzoo.upscale(frame_folder, tmp_path / "out", method="bicubic", max_memory="1GB", progress=False)
    assert "--max-memory only chooses the tile size with --tile auto" in caplog.text
    assert len(list((tmp_path / "out").iterdir())) > 0
