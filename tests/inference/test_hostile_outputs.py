"""Issue 25: planted links, locked outputs, ignored options and misread inputs in `vsrzoo upscale`.

Each case runs the real CLI on a tiny real clip and checks the one-line message, the exit status
and that nothing outside the output was touched.
"""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np
import pytest
from inference_helpers import make_video, pan_frames

from vsrzoo.cli import main
from vsrzoo.data.io import OutputLock, write_image


def snapshot(folder: Path) -> dict[str, tuple]:
    """Every entry under ``folder`` (links not followed) with its kind, size and content."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_symlink():
            out[str(p.relative_to(folder))] = ("link", os.readlink(p))
        elif p.is_file():
            out[str(p.relative_to(folder))] = ("file", p.read_bytes())
        else:
            out[str(p.relative_to(folder))] = ("dir",)
    return out


@pytest.fixture
def clip(tmp_path) -> Path:
    folder = tmp_path / "clip"
    folder.mkdir()
    for i, frame in enumerate(pan_frames(3, 16, 24)):
        write_image(folder / f"{i:08d}.png", frame)
    return folder


@pytest.fixture
def victim(tmp_path) -> Path:
    secret = tmp_path / "home" / "victim.txt"
    secret.parent.mkdir()
    secret.write_bytes(b"precious data")
    return secret


def one_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("vsrzoo: error: "), err
    return err[0]


@pytest.mark.parametrize("planted", ["lock", "partial"])
def test_a_planted_link_is_never_followed(clip, tmp_path, victim, capsys, planted):
    """1/11: `.x.mp4.lock` or `.x.partial.mp4` -> a victim file: refused, victim and link untouched."""
    out_dir = tmp_path / "shared"
    out_dir.mkdir()
    name = ".x.mp4.lock" if planted == "lock" else ".x.partial.mp4"
    (out_dir / name).symlink_to(victim)
    before = snapshot(tmp_path / "home"), snapshot(out_dir)
    assert main(["upscale", str(clip), str(out_dir / "x.mp4"), "--no-progress"]) == 2
    role = "lock file" if planted == "lock" else "temporary"
    assert one_error(capsys) == (
        f"vsrzoo: error: cannot write {out_dir / 'x.mp4'}: its {role} {name} is a symbolic link, which vsrzoo "
        "never follows or removes; remove it yourself if it is stale"
    )
    assert (snapshot(tmp_path / "home"), snapshot(out_dir)) == before


def two_videos(tmp_path: Path) -> tuple[Path, Path]:
    """A batch input folder with a.mp4 and b.mp4, and an empty output folder."""
    videos = tmp_path / "in"
    videos.mkdir()
    for name in ("a.mp4", "b.mp4"):
        make_video(videos / name, pan_frames(2, 16, 24), rate=25)
    out = tmp_path / "out"
    out.mkdir()
    return videos, out


def test_a_planted_lock_link_in_batch_mode(tmp_path, victim, capsys):
    """1: the same in batch mode: that video fails with the one-line reason, the others are written."""
    videos, out = two_videos(tmp_path)
    (out / ".a.mp4.lock").symlink_to(victim)
    assert main(["upscale", str(videos), str(out), "--no-progress"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert (
        f"failed: {videos / 'a.mp4'}: cannot write {out / 'a.mp4'}: its lock file .a.mp4.lock is a "
        in lines[0]
    )
    assert victim.read_bytes() == b"precious data"
    assert sorted(p.name for p in out.iterdir()) == [".a.mp4.lock", "b.mp4"]


def test_a_hard_linked_lock_file_is_not_written(clip, tmp_path, victim, capsys):
    """1: a second name for a victim file (a hard link) is not a lock file either."""
    out_dir = tmp_path / "shared"
    out_dir.mkdir()
    os.link(victim, out_dir / ".x.mp4.lock")
    assert main(["upscale", str(clip), str(out_dir / "x.mp4"), "--no-progress"]) == 2
    assert "is not a plain file with one link" in one_error(capsys)
    assert victim.read_bytes() == b"precious data" and sorted(os.listdir(out_dir)) == [".x.mp4.lock"]


def test_partial_link_to_a_folder_names_the_problem(clip, tmp_path, capsys):
    """11: `.x.partial` -> a folder gave 'cannot write ...: None'; the folder stays as it was."""
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "keep.txt").write_text("keep")
    (tmp_path / ".x.partial").symlink_to(target, target_is_directory=True)
    assert main(["upscale", str(clip), str(tmp_path / "x"), "--no-progress"]) == 2
    msg = one_error(capsys)
    assert "None" not in msg and "its temporary .x.partial is a symbolic link" in msg
    assert snapshot(target) == {"keep.txt": ("file", b"keep")} and not (tmp_path / "x").exists()


def test_output_that_is_a_link_is_replaced_not_written_through(clip, tmp_path, victim, capsys):
    """1: with --overwrite an output link is replaced by the new file; its target is untouched."""
    out = tmp_path / "x.mp4"
    out.symlink_to(victim)
    assert main(["upscale", str(clip), str(out), "--no-progress"]) == 2
    assert one_error(capsys) == f"vsrzoo: error: output exists: {out} (pass --overwrite to replace it)"
    assert main(["upscale", str(clip), str(out), "--no-progress", "--overwrite"]) == 0
    assert not out.is_symlink() and victim.read_bytes() == b"precious data"


def test_gray_pix_fmt_is_refused_for_h264_and_kept_by_ffv1(clip, tmp_path, capsys):
    """7: h264 'gray' was accepted and written as yuv420p; now refused and not listed, ffv1 keeps it."""
    out = tmp_path / "g.mp4"
    assert main(["upscale", str(clip), str(out), "--pix-fmt", "gray", "--no-progress"]) == 2
    msg = one_error(capsys)
    assert msg.startswith(
        "vsrzoo: error: --pix-fmt gray is not kept by h264 (libx264): the file would hold yuv420p"
    )
    assert "gray" not in msg.split("valid: ")[1] and not out.exists()
    mkv = tmp_path / "g.mkv"
    assert (
        main(["upscale", str(clip), str(mkv), "--video-codec", "ffv1", "--pix-fmt", "gray", "--no-progress"])
        == 0
    )
    with av.open(str(mkv)) as c:
        assert next(c.decode(video=0)).format.name == "gray"


def test_every_listed_h264_pix_fmt_is_what_a_reader_gets(tmp_path):
    """7: what the CLI lists as valid for h264 is what the file holds (read back with PyAV)."""
    from vsrzoo.data.io import STORED_AS, FrameWriter

    formats = [f.name for f in av.codec.Codec("libx264", "w").video_formats]
    listed = [f for f in formats if f not in STORED_AS["libx264"]]
    for fmt in formats:
        path = tmp_path / f"{fmt}.mkv"
        with av.open(str(path), "w") as c:  # straight PyAV: what the encoder does with it
            s = c.add_stream("libx264", rate=25)
            s.width, s.height, s.pix_fmt = 16, 16, fmt
            frame = av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="rgb24")
            c.mux(s.encode(frame.reformat(format=fmt)))
            c.mux(s.encode())
        with av.open(str(path)) as c:
            got = next(c.decode(video=0)).format.name
        assert (got == fmt) == (fmt in listed), (fmt, got)
        if fmt in listed:
            with FrameWriter(tmp_path / f"w-{fmt}.mkv", pix_fmt=fmt) as w:
                w.write(np.zeros((16, 16, 3), np.uint8))


def test_a_video_being_written_by_another_run_is_skipped(tmp_path, capsys):
    """8: a locked output is 'skipped (being written by pid N)', exit 0, not 'failed'."""
    videos, out = two_videos(tmp_path)
    other = OutputLock(out / "a.mp4")  # another run holds a.mp4 (flock is per open file)
    try:
        assert main(["upscale", str(videos), str(out), "--no-progress"]) == 0
    finally:
        other.release()
    lines = capsys.readouterr().out.splitlines()
    assert f"skipped: a.mp4 (being written by pid {os.getpid()})" in lines
    assert lines[-1] == "upscaled 1, skipped 1, failed 0 of 2 videos"
    assert sorted(os.listdir(out)) == ["b.mp4"]


def test_a_folder_without_videos_or_frames_is_one_error_and_creates_nothing(tmp_path, capsys):
    """9: a folder holding only a .txt: one line on stderr, nothing on stdout, no OUTPUT folder."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "notes.txt").write_text("x")
    assert main(["upscale", str(folder), str(tmp_path / "out"), "--no-progress"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert (
        captured.err
        == f"vsrzoo: error: no videos or image frames in the folder {folder} (notes.txt: not a video file)\n"
    )
    assert sorted(os.listdir(tmp_path)) == ["in"] and os.listdir(folder) == ["notes.txt"]


def test_fps_for_a_video_and_codec_for_a_frame_folder_are_refused(clip, tmp_path, capsys):
    """10: options that were silently ignored are one-line errors naming why; nothing written."""
    video = make_video(tmp_path / "v.mp4", pan_frames(2, 16, 24), rate=25)
    assert main(["upscale", str(video), str(tmp_path / "o.mp4"), "--fps", "50", "--no-progress"]) == 2
    assert one_error(capsys) == (
        f"vsrzoo: error: --fps applies to a frame-folder INPUT; the video {video} keeps its own frame rate and "
        "timestamps (re-time it with ffmpeg if you need another rate)"
    )
    assert (
        main(["upscale", str(clip), str(tmp_path / "frames"), "--video-codec", "ffv1", "--no-progress"]) == 2
    )
    assert one_error(capsys) == (
        f"vsrzoo: error: --video-codec applies to a video OUTPUT (.mp4, .mkv, .mov); {tmp_path / 'frames'} is written "
        "as a folder of PNG frames"
    )
    assert sorted(os.listdir(tmp_path)) == ["clip", "v.mp4"]


def test_png_with_a_broken_header_is_one_line(tmp_path):
    """11: a PNG whose IHDR CRC is wrong: no libpng/OpenCV line before vsrzoo's own (stderr of a real process)."""
    from inference_helpers import start_upscale

    clip = tmp_path / "clip"
    clip.mkdir()
    for i, frame in enumerate(pan_frames(2, 16, 24)):
        write_image(clip / f"{i:08d}.png", frame)
    bad = clip / "00000001.png"
    data = bytearray(bad.read_bytes())
    data[20] ^= 0xFF  # inside IHDR: its CRC no longer matches
    bad.write_bytes(bytes(data))
    before = snapshot(clip)
    proc = start_upscale(str(clip), str(tmp_path / "out"))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    lines = [line for line in err.splitlines() if "Skipping publisher trust check" not in line]
    assert lines == [f"vsrzoo: error: cannot decode image {bad} (corrupt or not an image)"]
    assert snapshot(clip) == before and not (tmp_path / "out").exists()


def test_two_identical_batch_runs_both_succeed(tmp_path):
    """8, as reported: two identical runs into one OUT_DIR; neither reports a 'failed' video."""
    from inference_helpers import start_upscale, video_stamps

    videos = tmp_path / "in"
    videos.mkdir()
    for name in "abcd":
        make_video(videos / f"{name}.mp4", pan_frames(12, 32, 48), rate=25)
    out = tmp_path / "out"
    procs = [start_upscale(str(videos), str(out), "--method", "instavsr") for _ in range(2)]
    results = [p.communicate(timeout=300) + (p.returncode,) for p in procs]
    assert [r[2] for r in results] == [0, 0], results
    lines = [line for r in results for line in r[0].splitlines()]
    assert not [line for line in lines if line.startswith("failed")]
    assert sorted(line.split()[1] for line in lines if line.startswith("done: ")) == [
        f"{n}.mp4" for n in "abcd"
    ]
    assert sorted(os.listdir(out)) == [f"{n}.mp4" for n in "abcd"]
    assert all(len(video_stamps(out / f"{n}.mp4")[0]) == 12 for n in "abcd")
