"""The harness scores what the protocol says: mean over frames, then over clips; method runs and
folders of outputs give the same numbers; bad inputs fail with messages that name the problem."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from bench_helpers import bi, default_clips, pan, write_alexnet_checkpoint, write_set

import vsrzoo
from vsrzoo.bench import evaluate
from vsrzoo.data.datasets import get_dataset
from vsrzoo.data.io import write_image
from vsrzoo.data.resize import imresize
from vsrzoo.errors import UserError
from vsrzoo.methods.base import VSRMethod
from vsrzoo.metrics.psnr_ssim import psnr_ssim


def bicubic_outputs(ds) -> dict[str, list[np.ndarray]]:
    model = vsrzoo.create_model("bicubic")
    return {c.name: list(model.upscale(c.read_lr())) for c in ds.clips}


def write_outputs(folder, outputs: dict[str, list[np.ndarray]]) -> None:
    for clip, frames in outputs.items():
        (folder / clip).mkdir(parents=True, exist_ok=True)
        for i, f in enumerate(frames):
            write_image(folder / clip / f"{i:08d}.png", f)


def test_means_over_frames_then_clips(tiny_root):
    ds = get_dataset("sample", root=tiny_root)
    res = evaluate("sample", "bicubic", root=tiny_root, metrics="psnr,ssim")
    outs = bicubic_outputs(ds)
    clip_means, all_frames = [], []
    for clip in ds.clips:
        p, s = psnr_ssim(np.stack(outs[clip.name]), np.stack(list(clip.read_gt())), y_channel=True)
        stored = res["bicubic"]["clips"][clip.name]
        assert [r["psnr"] for r in stored["frames"]] == pytest.approx(p.tolist(), abs=1e-12)
        assert stored["metrics"]["ssim"] == pytest.approx(float(s.mean()), abs=1e-12)
        clip_means.append(float(p.mean()))
        all_frames += p.tolist()
    assert res.summary("bicubic")["psnr"] == pytest.approx(np.mean(clip_means), abs=1e-12)
    assert abs(res.summary("bicubic")["psnr"] - np.mean(all_frames)) > 1e-6  # clips differ in length
    assert res.complete and res.protocol.y_channel and res.protocol.crop_border == 0
    json.dumps(res.to_dict())  # the API result is plain data
    assert vsrzoo.evaluate is evaluate


def test_duf_protocol_crops_and_skips(tiny_root):
    ds = get_dataset("sample", root=tiny_root)
    res = evaluate("sample", "bicubic", root=tiny_root, metrics="psnr,ssim,ewarp", protocol="duf")
    clip = ds.clips[0]  # alpha, 7 frames: frames 2, 3 and 4 are scored
    rows = res["bicubic"]["clips"]["alpha"]["frames"]
    assert [r["frame"] for r in rows] == [2, 3, 4]
    assert rows[0]["ewarp"] is None and rows[1]["ewarp"] > 0  # pairs only inside the scored range
    out = bicubic_outputs(ds)["alpha"]
    gt = list(clip.read_gt())
    p, _ = psnr_ssim(np.stack(out[2:5]), np.stack(gt[2:5]), crop_border=8, y_channel=True)
    assert [r["psnr"] for r in rows] == pytest.approx(p.tolist(), abs=1e-12)
    assert res.protocol.name == "duf" and res.protocol.skip_last == 2


def test_outputs_folder_scores_like_the_method(tiny_root, tmp_path):
    ds = get_dataset("sample", root=tiny_root)
    write_outputs(tmp_path / "mine", bicubic_outputs(ds))
    res = evaluate(
        "sample",
        "bicubic",
        root=tiny_root,
        outputs=[f"theirs={tmp_path / 'mine'}"],
        metrics="psnr,ssim,ewarp,tof",
    )
    a, b = res["bicubic"], res["theirs"]
    for clip in ds.clips:
        assert a["clips"][clip.name]["metrics"] == pytest.approx(b["clips"][clip.name]["metrics"], abs=1e-9)
    assert a["cost"]["frames"] == 18 and a["cost"]["seconds_per_mpf"] > 0
    assert b["kind"] == "outputs" and b["cost"] is None


def test_outputs_missing_clip_and_frames(tiny_root, tmp_path):
    ds = get_dataset("sample", root=tiny_root)
    outs = bicubic_outputs(ds)
    folder = tmp_path / "outs"
    write_outputs(folder, {k: v for k, v in outs.items() if k != "beta"})
    with pytest.raises(UserError, match=r"missing clip folder\(s\) beta of sample"):
        evaluate("sample", root=tiny_root, outputs=folder)
    write_outputs(folder, {"beta": outs["beta"]})
    (folder / "beta" / "00000001.png").unlink()
    (folder / "beta" / "00000003.png").unlink()
    with pytest.raises(UserError, match=r"beta: missing 2 of 6 frames: 00000001, 00000003"):
        evaluate("sample", root=tiny_root, outputs=folder)
    write_image(folder / "beta" / "00000001.png", outs["beta"][1])
    write_image(folder / "beta" / "00000003.png", outs["beta"][3])
    write_image(folder / "beta" / "extra.png", outs["beta"][3])
    with pytest.raises(UserError, match=r"7 frames but GT clip beta has 6"):
        evaluate("sample", root=tiny_root, outputs=folder)


def test_outputs_wrong_size_names_both_sizes(tiny_root, tmp_path):
    ds = get_dataset("sample", root=tiny_root)
    outs = bicubic_outputs(ds)
    outs["gamma"][2] = outs["gamma"][2][:, :60]
    write_outputs(tmp_path / "outs", outs)
    with pytest.raises(
        UserError, match=r"gamma/00000002\.png is 60x64 but GT frame .*gamma/00000002\.png is 64x64"
    ):
        evaluate("sample", root=tiny_root, outputs=tmp_path / "outs")


def test_unknown_names_list_valid_choices(tiny_root):
    with pytest.raises(
        UserError, match=r"unknown metric 'psnrr' \(did you mean 'psnr'\?\); valid: .*ewarp.*ssim"
    ):
        evaluate("sample", root=tiny_root, metrics="psnrr,ssim")
    with pytest.raises(UserError, match=r"unknown dataset 'vid5' \(did you mean 'vid4'\?\); valid: .*vid4"):
        evaluate("vid5")
    with pytest.raises(UserError, match=r"unknown method 'bicubix' \(did you mean 'bicubic'\?\)"):
        evaluate("sample", "bicubix", root=tiny_root)
    with pytest.raises(UserError, match=r"unknown protocol 'tecogan'; valid: duf, standard"):
        evaluate("sample", root=tiny_root, protocol="tecogan")


class ContrastNormalised(VSRMethod):
    """Per-frame contrast normalisation, then bicubic: 0/0 = NaN on a flat frame, a real failure
    mode of normalising networks."""

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        dims = (-3, -2, -1)
        x = (lr - lr.mean(dim=dims, keepdim=True)) / lr.std(dim=dims, keepdim=True)
        return imresize(
            x * lr.std(dim=dims, keepdim=True).clamp(min=0.05) + lr.mean(dim=dims, keepdim=True), scale=4
        )


def test_nan_output_fails_only_that_clip(tmp_path):
    clips = default_clips()
    clips["flat"] = [np.full((64, 64, 3), 128, np.uint8)] * 3
    root = write_set(tmp_path / "data", clips)
    res = evaluate(
        "sample", {"normed": ContrastNormalised()}, root=root, metrics="psnr,ssim", out=tmp_path / "out"
    )
    e = res["normed"]
    assert e["clips"]["flat"]["status"] == "failed" and "NaN" in e["failed"]["flat"]
    assert e["clips_ok"] == 3 and res.complete
    ok = [e["clips"][c]["metrics"]["psnr"] for c in ("alpha", "beta", "gamma")]
    assert all(np.isfinite(ok)) and e["summary"]["psnr"] == pytest.approx(np.mean(ok))
    assert "3/4 (1 failed)" in res.table()
    report = (tmp_path / "out" / "report.md").read_text()
    assert "## Failed clips" in report and "normed / flat: method output contains NaN" in report


def test_clip_too_short_for_protocol(tmp_path):
    root = write_set(tmp_path / "data", {"short": pan("astronaut", 4)})
    with pytest.raises(UserError, match=r"protocol duf needs at least 5 frames per clip; too short: short"):
        evaluate("sample", root=root, protocol="duf")


def test_lpips_requested_without_weights_fails_before_running(tiny_root, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(UserError, match=r"alexnet-owt-7be5be79\.pth.*leave lpips/tlpips out of --metrics"):
        evaluate("sample", root=tiny_root, metrics="psnr,lpips", out=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_all_metrics_with_lpips_weights_present(tiny_root, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    write_alexnet_checkpoint(tmp_path / "torch")
    res = evaluate(
        "sample", "bicubic", root=tiny_root, metrics="psnr,ssim,lpips,ewarp,ewarp_evalcrafter,tlpips,tof"
    )
    summary = res.summary("bicubic")
    assert set(summary) == {"psnr", "ssim", "lpips", "ewarp", "ewarp_evalcrafter", "tlpips", "tof"}
    assert all(v is not None and v >= 0 for v in summary.values()) and summary["lpips"] > 0
    assert res.settings["lpips"] == "alex v0.1"
    rows = res["bicubic"]["clips"]["beta"]["frames"]
    assert rows[0]["tlpips"] is None and rows[1]["tlpips"] is not None and rows[1]["lpips"] > 0


def test_lr_used_is_the_dataset_lr(tiny_root):
    ds = get_dataset("sample", root=tiny_root)
    lr = next(ds.clips[0].read_lr())
    np.testing.assert_array_equal(lr, bi(next(ds.clips[0].read_gt())))


def test_cost_names_dtype_and_device(tiny_root):
    cost = evaluate("sample", "bicubic", root=tiny_root, metrics="psnr")["bicubic"]["cost"]
    assert cost["dtype"] == "float32" and cost["device_type"] == "cpu" and cost["steps"] is None
    assert cost["frames"] == 18 and cost["device_hours"] == pytest.approx(cost["wall_seconds"] / 3600)
