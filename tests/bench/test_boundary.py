"""The temporal boundary metric: pairs of frames that cross a segment boundary against pairs inside
a segment. A sequence with a jump at every segment start shows a ratio well above 1, a smooth one
about 1; the pairs it calls boundaries are where the streaming engine really switches segments."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from bench_helpers import pan, write_set

import vsrzoo
from vsrzoo.bench import evaluate
from vsrzoo.bench.boundary import BOUNDARY_FIELDS, pair_kinds
from vsrzoo.cli import main
from vsrzoo.data.datasets import get_dataset
from vsrzoo.data.io import write_image
from vsrzoo.data.resize import imresize
from vsrzoo.errors import UserError
from vsrzoo.methods.base import VSRMethod

N = 4  # segment length of the synthetic outputs


class SegmentOffset(VSRMethod):
    """Bicubic plus a brightness offset that changes with every ``forward`` call: each segment
    the engine runs is visible in the output, as a method with a state reset per segment would be."""

    segment_length = 4

    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return (imresize(lr, scale=4) + 0.1 * (self.calls % 2)).clamp(0, 1)


def test_without_overlap_segments_start_where_t_mod_n_is_zero():
    kinds = pair_kinds(10, N)
    assert [t for t, k in enumerate(kinds) if k == "boundary"] == [4, 8]
    assert kinds[0] is None and all(k == "boundary" for k in pair_kinds(5, 1)[1:])


@pytest.mark.parametrize("num_frames", [12, 13, 16])
def test_boundaries_are_where_the_engine_switches_segments(num_frames):
    model = SegmentOffset()  # segments of 4, the engine's default overlap 1 (cross-faded)
    static = [np.full((8, 8, 3), 100, np.uint8)] * num_frames
    out = list(model.upscale(static))
    changed = [t for t in range(1, num_frames) if not np.array_equal(out[t], out[t - 1])]
    kinds = pair_kinds(num_frames, 4, 1)
    assert changed == [t for t, k in enumerate(kinds) if k == "boundary"]
    assert "inside" in kinds


def seam_outputs(ds) -> dict[str, list[np.ndarray]]:
    """Bicubic outputs, brightened by 10 grey levels on every other segment of N frames."""
    model = vsrzoo.create_model("bicubic")
    out = {}
    for clip in ds.clips:
        frames = list(model.upscale(clip.read_lr()))
        out[clip.name] = [
            np.clip(f.astype(int) + 10 * ((t // N) % 2), 0, 255).astype(np.uint8)
            for t, f in enumerate(frames)
        ]
    return out


def write_outputs(folder, outputs):
    for clip, frames in outputs.items():
        (folder / clip).mkdir(parents=True)
        for i, f in enumerate(frames):
            write_image(folder / clip / f"{i:08d}.png", f)


@pytest.fixture
def pan_root(tmp_path):
    return write_set(tmp_path / "data", {"pan": pan("astronaut", 20)})


def test_jumps_every_n_frames_show_a_ratio_well_above_one_smooth_about_one(pan_root, tmp_path):
    ds = get_dataset("sample", pan_root)
    model = vsrzoo.create_model("bicubic")
    write_outputs(tmp_path / "smooth", {c.name: list(model.upscale(c.read_lr())) for c in ds.clips})
    write_outputs(tmp_path / "seams", seam_outputs(ds))
    res = evaluate(
        "sample",
        root=pan_root,
        outputs={"smooth": tmp_path / "smooth", "seams": tmp_path / "seams"},
        segment_length=N,
        metrics="psnr,boundary",
        out=tmp_path / "out",
    )
    assert res.metrics == ["psnr", *BOUNDARY_FIELDS[:3], "ewarp", *BOUNDARY_FIELDS[3:]]
    seams, smooth = res.summary("seams"), res.summary("smooth")
    assert seams["dpsnr_ratio"] > 2.5 and seams["ewarp_ratio"] > 2.5  # measured 3.9 and 3.6
    assert 0.5 < smooth["dpsnr_ratio"] < 1.5 and 0.8 < smooth["ewarp_ratio"] < 1.25  # 0.81, 0.98
    assert smooth["ewarp_inside"] == pytest.approx(seams["ewarp_inside"], rel=0.2)
    frames = res["seams"]["clips"]["pan"]["frames"]
    boundary_pairs = [f["ewarp"] for f in frames if f["frame"] in (4, 8, 12, 16)]
    assert seams["ewarp_boundary"] == pytest.approx(np.mean(boundary_pairs))
    report = (tmp_path / "out" / "report.md").read_text()
    assert "E*warp boundary/inside" in report and "seams: 4 frames, overlap 0" in report


def test_method_segments_come_from_the_method(pan_root):
    res = evaluate("sample", {"offset": SegmentOffset()}, root=pan_root, metrics="boundary")
    e = res["offset"]
    assert e["segments"] == {"length": 4, "overlap": 1}
    assert e["summary"]["dpsnr_ratio"] > 5 and e["summary"]["ewarp_ratio"] > 5


def test_outputs_without_segment_length_leave_the_fields_empty(pan_root, tmp_path):
    ds = get_dataset("sample", pan_root)
    write_outputs(tmp_path / "seams", seam_outputs(ds))
    res = evaluate(
        "sample", root=pan_root, outputs=tmp_path / "seams", metrics="boundary", out=tmp_path / "o"
    )
    assert all(res.summary("seams")[f] is None for f in BOUNDARY_FIELDS)
    assert res.summary("seams")["ewarp"] > 0
    assert "seams: not given (--segment-length N)" in (tmp_path / "o" / "report.md").read_text()


def test_no_ground_truth_keeps_the_warping_fields(tmp_path):
    (tmp_path / "lq" / "clip").mkdir(parents=True)
    for t, frame in enumerate(pan("coffee", 9)):
        write_image(tmp_path / "lq" / "clip" / f"{t:08d}.png", frame[::4, ::4])
    res = evaluate("folder", {"offset": SegmentOffset()}, root=tmp_path / "lq", metrics="boundary")
    assert res.metrics == ["ewarp", "ewarp_boundary", "ewarp_inside", "ewarp_ratio"]
    assert res.summary("offset")["ewarp_ratio"] > 1.5  # measured 2.05 (flow from the output itself)
    with pytest.raises(UserError, match="no ground truth: psnr, dpsnr_ratio need it"):
        evaluate("folder", "bicubic", root=tmp_path / "lq", metrics="dpsnr_ratio")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--segment-length", "0", "--outputs", "x"],
            "vsrzoo: error: --segment-length 0: give a number of frames >= 1",
        ),
        (
            ["--segment-length", "8"],
            "vsrzoo: error: --segment-length 8: give a number of frames >= 1, with --outputs",
        ),
    ],
)
def test_bad_segment_length_is_a_one_line_error(pan_root, tmp_path, capsys, args, message):
    out = tmp_path / "o"
    base = ["bench", "--root", str(pan_root), "--out", str(out), "--no-progress", "--metrics", "boundary"]
    assert main(base + args) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1
    assert not out.exists()
