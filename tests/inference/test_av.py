"""What a user who upscales real footage expects of the output file: audio, timing, colour, rotation, codecs."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from inference_helpers import audio_seconds, make_video, pan_frames, video_stamps

import vsrzoo
from vsrzoo.cli import main
from vsrzoo.data.io import open_video
from vsrzoo.errors import UserError


def listing(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


@pytest.fixture
def ntsc_with_audio(tmp_path):
    """12 frames at exactly 30000/1001 fps with 0.4 s of AAC audio (a sine)."""
    return make_video(tmp_path / "in.mp4", pan_frames(12, 32, 48), audio_seconds=0.4)


def test_cli_keeps_audio_frame_count_and_exact_ntsc_rate(ntsc_with_audio, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    assert main(["upscale", str(ntsc_with_audio), str(out), "--no-progress"]) == 0
    assert "at 30000/1001 (29.97) fps" in capsys.readouterr().out
    pts_in, rate_in, _ = video_stamps(ntsc_with_audio)
    pts_out, rate_out, _ = video_stamps(out)
    assert rate_in == rate_out == Fraction(30000, 1001)
    assert len(pts_out) == len(pts_in) == 12
    assert abs(audio_seconds(out) - audio_seconds(ntsc_with_audio)) < 0.1
    with av.open(str(out)) as c:  # remuxed, not re-encoded: the very same packets
        got = [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]
    with av.open(str(ntsc_with_audio)) as c:
        want = [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]
    assert got == want
    assert listing(tmp_path) == {"in.mp4", "out.mp4"}


def test_variable_frame_rate_keeps_every_timestamp(tmp_path):
    stamps = [0, 1000, 2000, 4500, 5000, 9000, 9500, 12000]  # ms: irregular gaps
    src = make_video(
        tmp_path / "vfr.mp4", pan_frames(8, 32, 48), rate=25, pts=stamps, time_base=Fraction(1, 1000)
    )
    out = tmp_path / "sr.mkv"
    vsrzoo.upscale(src, out, progress=False)
    pts_in, _, tb_in = video_stamps(src)
    pts_out, _, tb_out = video_stamps(out)
    assert [p * tb_in for p in pts_in] == [p * tb_out for p in pts_out] == [Fraction(s, 1000) for s in stamps]


def test_audio_of_a_matroska_input_is_copied_into_mp4(tmp_path):
    src = make_video(tmp_path / "in.mkv", pan_frames(6, 32, 48), rate=25, audio_seconds=0.5)
    out = tmp_path / "out.mp4"
    vsrzoo.upscale(src, out, progress=False)
    with av.open(str(out)) as c:
        assert c.streams.audio[0].codec_context.name == "aac"
    assert abs(audio_seconds(out) - audio_seconds(src)) < 0.1


def test_audio_the_container_cannot_hold_is_reencoded(tmp_path):
    src = make_video(
        tmp_path / "in.mov",
        pan_frames(6, 32, 48),
        rate=24,
        audio_seconds=1.0,
        audio_codec="pcm_mulaw",
        audio_rate=8000,
    )
    out = tmp_path / "out.mp4"  # mp4 cannot hold mu-law audio: it becomes AAC
    vsrzoo.upscale(src, out, progress=False)
    with av.open(str(out)) as c:
        assert c.streams.audio[0].codec_context.name == "aac"
    assert abs(audio_seconds(out) - 1.0) < 0.15  # one AAC frame of padding at 8 kHz is 0.128 s


@pytest.mark.parametrize(
    "tags",
    [
        {"color_primaries": 1, "color_trc": 1, "colorspace": 1, "color_range": 1},  # BT.709, limited
        {"color_primaries": 6, "color_trc": 6, "colorspace": 6, "color_range": 2},  # BT.601, full range
    ],
)
def test_colour_tags_and_rotation_are_carried_over(tmp_path, tags):
    frames = pan_frames(4, 32, 48)
    src = make_video(tmp_path / "in.mp4", frames, rate=25, colour=tags, rotation=90)
    out = tmp_path / "out.mp4"
    vsrzoo.upscale(src, out, method="bicubic", scale=2, progress=False)
    meta_in, meta_out = open_video(src).meta, open_video(out).meta
    assert meta_out.colour == meta_in.colour
    assert (meta_out.colour.primaries, meta_out.colour.matrix, meta_out.colour.range) == (
        tags["color_primaries"],
        tags["colorspace"],
        tags["color_range"],
    )
    assert meta_out.rotation == meta_in.rotation == 90
    # colours survive: decoding in the input's matrix and encoding back in it keeps the mean colour
    lr, sr = next(iter(open_video(src))), next(iter(open_video(out)))
    assert np.abs(lr.reshape(-1, 3).mean(0) - sr.reshape(-1, 3).mean(0)).max() < 2.0


def test_codecs_and_pixel_formats(tmp_path):
    frames = pan_frames(4, 32, 48)
    src = tmp_path / "in"
    src.mkdir()
    from vsrzoo.data.io import write_image

    for i, f in enumerate(frames):
        write_image(src / f"{i}.png", f)
    lossless = tmp_path / "ffv1.mkv"
    vsrzoo.upscale(src, lossless, video_codec="ffv1", progress=False)
    want = list(vsrzoo.create_model("bicubic").upscale(frames))
    got = list(open_video(lossless))
    assert open_video(lossless).meta.codec == "ffv1"
    assert all(np.array_equal(a, b) for a, b in zip(got, want))  # bit-exact RGB
    hevc = tmp_path / "hevc10.mp4"
    vsrzoo.upscale(src, hevc, video_codec="h265", pix_fmt="yuv420p10le", progress=False)
    with av.open(str(hevc)) as c:
        s = c.streams.video[0]
        assert (s.codec_context.name, s.codec_context.pix_fmt, s.frames) == ("hevc", "yuv420p10le", 4)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"video_codec": "vp9"}, "unknown video codec 'vp9'"),
        (
            {"video_codec": "h264", "pix_fmt": "rgb48"},
            "--pix-fmt rgb48 is not supported by h264 (libx264); valid: yuv420p",
        ),
        ({"video_codec": "ffv1", "crf": 10}, "--crf does not apply to ffv1: it is lossless"),
        ({"crf": 99}, "--crf must be a number between 0 and 51, got 99"),
        ({"crf": float("nan")}, "--crf must be a number between 0 and 51, got nan"),
        ({"crf": "18"}, "--crf must be a number between 0 and 51, got '18'"),
    ],
)
def test_bad_encoder_options_are_refused_before_any_work(ntsc_with_audio, tmp_path, kwargs, message):
    with pytest.raises(UserError) as err:
        vsrzoo.upscale(ntsc_with_audio, tmp_path / "out.mp4", progress=False, **kwargs)
    assert str(err.value).startswith(message)
    assert listing(tmp_path) == {"in.mp4"}


def test_ffv1_in_mov_is_refused(ntsc_with_audio, tmp_path, capsys):
    assert main(["upscale", str(ntsc_with_audio), str(tmp_path / "o.mov"), "--video-codec", "ffv1"]) == 2
    assert capsys.readouterr().err == "vsrzoo: error: the .mov container cannot hold ffv1; use .mkv\n"
    assert listing(tmp_path) == {"in.mp4"}


@pytest.mark.data
def test_real_mp4_with_audio_keeps_audio_timestamps_and_colour(tmp_path, shared_data):
    src = shared_data / "real/mp4/old_video_1.mp4"  # 25 fps, BT.709 tags, AAC audio
    out = tmp_path / "x.mp4"
    assert main(["upscale", str(src), str(out), "--scale", "2", "--no-progress"]) == 0
    pts_in, rate_in, tb_in = video_stamps(src)
    pts_out, rate_out, tb_out = video_stamps(out)
    assert rate_out == rate_in and [p * tb_in for p in pts_in] == [p * tb_out for p in pts_out]
    assert abs(audio_seconds(out) - audio_seconds(src)) < 0.1
    assert open_video(out).meta.colour == open_video(src).meta.colour
