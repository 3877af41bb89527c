import numpy as np
import pytest
import torch

from vsrzoo.data.io import FrameWriter, list_frames, open_video, read_image, write_image
from vsrzoo.data.resize import imresize, imresize_uint8
from vsrzoo.errors import UserError


def frames(n=5, h=32, w=48, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]


def test_natural_sort_and_non_images(tmp_path, caplog):
    for name in ["frame10.png", "frame2.png", "frame1.png"]:
        write_image(tmp_path / name, frames(1)[0])
    (tmp_path / "notes.txt").write_text("x")
    assert [p.name for p in list_frames(tmp_path)] == ["frame1.png", "frame2.png", "frame10.png"]
    assert "skipping 1 non-image file(s)" in caplog.text


def test_image_modes_become_rgb8(tmp_path):
    import cv2

    gray = np.arange(64, dtype=np.uint8).reshape(8, 8)
    cv2.imwrite(str(tmp_path / "g.png"), gray)
    deep = (np.arange(8 * 8 * 3, dtype=np.uint16).reshape(8, 8, 3) * 300).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "d.png"), deep)
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 2] = 200
    cv2.imwrite(str(tmp_path / "a.png"), rgba)
    from PIL import Image

    Image.fromarray(gray).convert("P").save(tmp_path / "p.png")
    for name in "gdap":
        img = read_image(tmp_path / f"{name}.png")
        assert img.dtype == np.uint8 and img.shape == (8, 8, 3)
    assert read_image(tmp_path / "a.png")[0, 0].tolist() == [200, 0, 0]
    assert np.array_equal(read_image(tmp_path / "g.png")[..., 0], gray)
    assert np.array_equal(read_image(tmp_path / "d.png")[..., ::-1], np.round(deep / 257).astype(np.uint8))


def test_folder_roundtrip_is_lossless(tmp_path):
    src = frames()
    with FrameWriter(tmp_path / "out") as w:
        for f in src:
            w.write(f)
    video = open_video(tmp_path / "out")
    assert len(video) == 5 and (video.meta.width, video.meta.height) == (48, 32)
    assert all(np.array_equal(a, b) for a, b in zip(src, video))


def test_mp4_roundtrip_keeps_fps_and_count(tmp_path):
    src = [np.full((30, 40, 3), 10 * i, np.uint8) for i in range(7)]
    with FrameWriter(tmp_path / "v.mp4", fps=12.5) as w:
        for f in src:
            w.write(f)
    video = open_video(tmp_path / "v.mp4")
    decoded = list(video)
    assert video.meta.fps == 12.5 and len(decoded) == 7
    assert decoded[0].shape == (30, 40, 3)
    assert abs(int(decoded[3].mean()) - 30) <= 2


def test_writer_is_atomic_and_refuses_overwrite(tmp_path):
    target = tmp_path / "v.mp4"
    target.write_bytes(b"keep me")
    with pytest.raises(UserError, match="output exists: .*v.mp4 \\(pass --overwrite to replace it\\)"):
        FrameWriter(target)
    assert target.read_bytes() == b"keep me"
    with pytest.raises(RuntimeError), FrameWriter(tmp_path / "w.mp4") as w:
        w.write(frames(1)[0])
        raise RuntimeError("interrupted")
    assert not any(tmp_path.glob("*w*"))  # neither the final nor the partial file
    with pytest.raises(UserError, match="output directory does not exist"):
        FrameWriter(tmp_path / "missing" / "x.mp4")


def test_video_path_missing(tmp_path):
    with pytest.raises(UserError, match=f"^video not found: {tmp_path / 'nope.mp4'}$"):
        open_video(tmp_path / "nope.mp4")


def test_empty_folder(tmp_path):
    with pytest.raises(UserError, match=f"^no image frames in {tmp_path}$"):
        open_video(tmp_path)


def test_corrupt_png_names_the_file(tmp_path):
    for i, f in enumerate(frames(3)):
        write_image(tmp_path / f"{i:03d}.png", f)
    data = (tmp_path / "001.png").read_bytes()
    (tmp_path / "001.png").write_bytes(data[:40])
    video = open_video(tmp_path)
    with pytest.raises(
        UserError, match=f"cannot decode image {tmp_path / '001.png'} \\(corrupt or not an image\\)"
    ):
        list(video)


def test_unreadable_and_truncated_mp4(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"this is not a video at all" * 10)
    with pytest.raises(UserError, match=f"^cannot read video {bad}"):
        open_video(bad)
    good = tmp_path / "good.mp4"
    with FrameWriter(good) as w:
        for f in frames(10, 64, 64):
            w.write(f)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    with pytest.raises(UserError, match=f"^cannot (read|decode) video {cut}"):
        list(open_video(cut))


def test_imresize_matches_matlab_properties():
    x = torch.rand(2, 3, 16, 20, dtype=torch.float64)
    # constant images stay constant (weights sum to one, symmetric edges)
    assert torch.allclose(imresize(torch.full((1, 8, 8), 0.3), scale=0.25), torch.tensor(0.3))
    down = imresize(x, scale=0.5)
    assert down.shape == (2, 3, 8, 10)
    up = imresize(x, size=(32, 40))
    assert up.shape == (2, 3, 32, 40)
    u8 = imresize_uint8(torch.full((3, 8, 8), 255, dtype=torch.uint8), scale=4)
    assert u8.dtype == torch.uint8 and int(u8.min()) == 255


def test_imresize_work_dtype():
    """float64 on CPU by default (MATLAB's uint8 results); float32 on request differs by rounding only."""
    x = torch.rand(2, 3, 16, 12, generator=torch.Generator().manual_seed(0))
    exact = imresize(x.double(), scale=4)
    fast = imresize(x, scale=4, work_dtype=torch.float32)
    assert imresize(x, scale=4).dtype == torch.float32 and fast.dtype == torch.float32
    torch.testing.assert_close(imresize(x, scale=4), exact.float(), rtol=0, atol=1e-7)
    assert 0 < (fast.double() - exact).abs().max() < 1e-5


def test_bi_reproduces_vid4(shared_data):
    gt = read_image(shared_data / "Vid4/GT/calendar/00000000.png")
    lr = read_image(shared_data / "Vid4/BIx4/calendar/00000000.png")
    ours = imresize_uint8(torch.from_numpy(gt).permute(2, 0, 1), scale=0.25).permute(1, 2, 0).numpy()
    assert np.array_equal(ours, lr)


def test_sample_dataset(sample_root):
    from vsrzoo.data.datasets import get_dataset

    ds = get_dataset("sample")
    assert len(ds.clips) == 4 and ds.num_frames == 48
    clip = ds.clips[0]
    gt, lr = next(clip.read_gt()), next(clip.read_lr())
    assert gt.shape == (256, 256, 3) and lr.shape == (64, 64, 3)
    a, b = list(clip.read_gt())[:2]
    assert 0 < np.abs(a.astype(int) - b.astype(int)).mean() < 40  # the camera moves, smoothly


def test_writer_rejects_containers_without_h264(tmp_path):
    with pytest.raises(
        UserError, match="cannot write .webm video; H.264 output needs .mp4, .mkv, .mov or .m4v"
    ):
        FrameWriter(tmp_path / "x.webm")
    assert not any(tmp_path.iterdir())


def test_parse_fps_is_exact_and_refuses_nonsense():
    from fractions import Fraction

    from vsrzoo.data.io import parse_fps

    assert (
        parse_fps("30000/1001") == Fraction(30000, 1001)
        and parse_fps(25) == 25
        and parse_fps("29.97") == Fraction(2997, 100)
    )
    for bad in ("-5", "nan", "inf", 0, float("nan"), "1/0", "x"):
        with pytest.raises(UserError, match="^--fps must be a positive number of frames per second"):
            parse_fps(bad)


def test_output_lock_is_exclusive_and_leaves_no_file(tmp_path):
    from vsrzoo.data.io import OutputLock

    lock = OutputLock(tmp_path / "v.mp4")
    with pytest.raises(
        UserError, match=f"^{tmp_path / 'v.mp4'} is being written by another vsrzoo run \\(pid \\d+\\)"
    ):
        FrameWriter(tmp_path / "v.mp4")
    lock.release()
    assert list(tmp_path.iterdir()) == []
    with FrameWriter(tmp_path / "v.mp4") as w:  # free again
        w.write(frames(1)[0])
    assert [p.name for p in tmp_path.iterdir()] == ["v.mp4"]


def test_writer_removes_a_temporary_left_by_a_killed_run(tmp_path):
    stale = tmp_path / ".v.partial.mp4"
    stale.write_bytes(b"half a video")
    with FrameWriter(tmp_path / "v.mp4") as w:
        w.write(frames(1)[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.mp4"]


def test_writer_in_a_location_that_cannot_be_written():
    with pytest.raises(UserError, match="^cannot write /proc/v.mp4: cannot create files in /proc \\("):
        FrameWriter("/proc/v.mp4")
