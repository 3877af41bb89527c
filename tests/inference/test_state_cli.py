"""`vsrzoo upscale` refuses tiles, segments and overlaps the engine cannot honour (issue 13, bad input)."""

from __future__ import annotations

import pytest

from vsrzoo.cli import main


@pytest.mark.parametrize(
    "args,message",
    [
        (
            ["--tile", "4"],
            "--tile 4 is too small for bicubic: it needs at least 8 LR pixels and more than --tile-overlap (2)",
        ),
        (["--segment-length", "0"], "--segment-length must be at least 1 frame, got 0"),
        (["--overlap", "-1"], "--overlap must be between 0 and --segment-length - 1 (0) frames, got -1"),
        (["--tile", "16", "--tile-overlap", "-2"], "--tile-overlap must be at least 0 LR pixels, got -2"),
        (
            ["--method", "instavsr", "--overlap", "1"],
            "--overlap must be 0 for instavsr: it carries its state from segment to segment, so segments run "
            "back to back (got 1)",
        ),
        (
            ["--method", "instavsr", "--segment-length", "4", "--tile", "6"],
            "--tile 6 is too small for instavsr: it needs at least 8 LR pixels and more than --tile-overlap (2)",
        ),
    ],
)
def test_bad_tiles_segments_and_overlaps_are_one_line_errors(frame_folder, tmp_path, capsys, args, message):
    out = tmp_path / "sr.mp4"
    out.write_bytes(b"an earlier result")
    argv = [
        "upscale",
        str(frame_folder),
        str(out),
        "--overwrite",
        "--no-progress",
        "--tile-overlap",
        "2",
        *args,
    ]
    assert main(argv) == 2
    assert capsys.readouterr().err == f"vsrzoo: error: {message}\n"
    assert out.read_bytes() == b"an earlier result"  # nothing overwritten
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lr", "sr.mp4"]  # nothing else written
