"""`vsrzoo upscale IN_DIR OUT_DIR`: whole folders, resumable, sharded over processes, one bad file never stops it."""

from __future__ import annotations

from pathlib import Path

import pytest
from inference_helpers import make_video, pan_frames, start_upscale, video_stamps

from vsrzoo.cli import main
from vsrzoo.data.io import open_video
from vsrzoo.upscaling.batch import upscale_batch


def listing(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


@pytest.fixture
def videos(tmp_path):
    """Three short clips of different lengths (so the shard assignment has something to balance)."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name, n in (("a.mp4", 5), ("b.mp4", 3), ("c.mkv", 4)):
        make_video(folder / name, pan_frames(n, 16, 24), rate=25)
    return folder


def test_two_concurrent_shards_fill_one_folder_and_a_rerun_skips_all(videos, tmp_path):
    out = tmp_path / "out"
    procs = [start_upscale(str(videos), str(out), "--shard", f"{i}/2") for i in range(2)]
    results = [p.communicate(timeout=300) + (p.returncode,) for p in procs]
    assert [r[2] for r in results] == [0, 0], results
    assert listing(out) == {"a.mp4", "b.mp4", "c.mkv"}
    done = [line for r in results for line in r[0].splitlines() if line.startswith("done: ")]
    assert len(done) == 3  # each video done by exactly one shard
    for name, n in (("a.mp4", 5), ("b.mp4", 3), ("c.mkv", 4)):
        assert len(video_stamps(out / name)[0]) == n
        assert open_video(out / name).meta.width == 96
    before = {p.name: (p.stat().st_mtime_ns, p.stat().st_ino) for p in out.iterdir()}
    rerun = start_upscale(str(videos), str(out))
    stdout, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0
    assert stdout.splitlines()[-1] == "upscaled 0, skipped 3, failed 0 of 3 videos"
    assert {p.name: (p.stat().st_mtime_ns, p.stat().st_ino) for p in out.iterdir()} == before


@pytest.mark.parametrize(
    "env", [{"WORLD_SIZE": "3", "RANK": "1"}, {"SLURM_NTASKS": "3", "SLURM_PROCID": "1"}]
)
def test_torchrun_or_slurm_environment_selects_the_shard(videos, tmp_path, monkeypatch, env):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "out"
    result = upscale_batch(videos, out, progress=False)
    assert result.shard == (1, 3) and len(result.items) == 1
    assert listing(out) == {result.items[0].output.name}


def test_bad_files_are_reported_and_the_rest_is_done(videos, tmp_path, capsys):
    (videos / "notes.txt").write_text("not a video")
    (videos / "broken.mp4").write_bytes(b"\x00" * 1000)  # unreadable
    audio_only = videos / "sound.mp4"  # a video file with no video stream
    import av

    with av.open(str(audio_only), "w") as c:
        s = c.add_stream("aac", rate=8000)
        s.layout = "mono"
        c.start_encoding()
    out = tmp_path / "out"
    assert main(["upscale", str(videos), str(out), "--no-progress"]) == 1
    lines = capsys.readouterr().out.splitlines()
    failed = sorted(line for line in lines if line.startswith("failed: "))
    assert failed == [
        f"failed: {videos / 'broken.mp4'}: cannot read video {videos / 'broken.mp4'}: Invalid data found when processing input",
        f"failed: {videos / 'notes.txt'}: not a video file (.txt; videos end in .avi, .m4v, .mkv, .mov, .mp4, .mpeg, .mpg, .webm)",
        f"failed: {videos / 'sound.mp4'}: no video stream in {videos / 'sound.mp4'}",
    ]
    assert lines[-1] == "upscaled 3, skipped 0, failed 3 of 6 videos"
    assert listing(out) == {"a.mp4", "b.mp4", "c.mkv"}  # nothing partial, nothing for the bad ones


def test_nothing_could_be_done_exits_2(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.txt").write_text("x")
    (folder / "b.mp4").write_bytes(b"junk")
    assert main(["upscale", str(folder), str(tmp_path / "out"), "--no-progress"]) == 2
    assert capsys.readouterr().out.splitlines()[-1] == "upscaled 0, skipped 0, failed 2 of 2 videos"
    assert listing(tmp_path / "out") == set()


def test_a_text_file_lists_the_videos(videos, tmp_path, capsys):
    listing_file = tmp_path / "todo.txt"
    listing_file.write_text(f"# comment\nin/a.mp4\n\n{videos / 'c.mkv'}\nin/missing.mp4\n")
    out = tmp_path / "out"
    assert main(["upscale", str(listing_file), str(out), "--no-progress", "--scale", "2"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert f"failed: {tmp_path / 'in/missing.mp4'}: not found" in lines
    assert listing(out) == {"a.mp4", "c.mkv"}


def test_avi_input_is_written_as_mkv(tmp_path):
    import av

    folder = tmp_path / "in"
    folder.mkdir()
    with av.open(str(folder / "clip.avi"), "w") as container:  # MJPEG in AVI: a container we do not write
        stream = container.add_stream("mjpeg", rate=10)
        stream.width, stream.height, stream.pix_fmt = 24, 16, "yuvj420p"
        for frame in pan_frames(3, 16, 24):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    result = upscale_batch(folder, tmp_path / "out", progress=False)
    assert result.counts["done"] == 1 and listing(tmp_path / "out") == {"clip.mkv"}
    assert len(video_stamps(tmp_path / "out" / "clip.mkv")[0]) == 3


def test_out_dir_that_is_a_file(videos, tmp_path, capsys):
    target = tmp_path / "out"
    target.write_bytes(b"keep me")
    assert main(["upscale", str(videos), str(target)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"vsrzoo: error: OUTPUT {target} is a file; with a folder of videos (or a list) as INPUT, OUTPUT is the "
        "folder to write into\n"
    )
    assert target.read_bytes() == b"keep me"


def test_model_errors_stop_the_batch_before_any_video(videos, tmp_path, capsys):
    out = tmp_path / "out"
    assert (
        main(["upscale", str(videos), str(out), "--method", "bicubic", "--ckpt", str(tmp_path / "none")]) == 2
    )
    assert capsys.readouterr().err.startswith(f"vsrzoo: error: no bicubic checkpoint at {tmp_path / 'none'}")
    assert listing(out) == set()
