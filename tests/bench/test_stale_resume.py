"""Resume never reuses a stale clip result (issue 18 item 2): after outputs, LR frames or weights
change in place, a rerun prints the numbers of a fresh run and says which clips it recomputed."""

from __future__ import annotations

import logging
import math
import shutil

import pytest
import torch
from bench_helpers import bi

from vsrzoo.bench import evaluate
from vsrzoo.data.io import read_image, write_image


def test_outputs_replaced_in_place(tiny_root, tmp_path, caplog):
    outputs, out = tmp_path / "outputs", tmp_path / "out"
    evaluate("sample", "bicubic", root=tiny_root, metrics="psnr")  # make outputs from bicubic
    from vsrzoo.data.datasets import get_dataset
    from vsrzoo.methods.bicubic import Bicubic

    for clip in get_dataset("sample", tiny_root).clips:
        (outputs / clip.name).mkdir(parents=True)
        for i, frame in enumerate(Bicubic().upscale(clip.read_lr())):
            write_image(outputs / clip.name / f"{i:08d}.png", frame)
    first = evaluate("sample", outputs={"mine": outputs}, root=tiny_root, metrics="psnr", out=out)
    assert math.isfinite(first.summary("mine")["psnr"])
    shutil.rmtree(outputs)
    shutil.copytree(tiny_root / "sample" / "GT", outputs)  # the GT frames as 'outputs'
    with caplog.at_level(logging.WARNING):
        again = evaluate("sample", outputs={"mine": outputs}, root=tiny_root, metrics="psnr", out=out)
    assert again.summary("mine")["psnr"] == math.inf
    assert "recomputing mine / alpha: input files changed" in caplog.text


def test_lr_regenerated_in_place(tiny_root, tmp_path, caplog):
    out = tmp_path / "out"
    first = evaluate("sample", "bicubic", root=tiny_root, metrics="psnr", out=out)
    lr_root = tiny_root / "sample" / "BIx4"
    for path in sorted(lr_root.rglob("*.png")):  # a different LR (blurred then BI) under the same names
        import cv2

        gt = read_image(tiny_root / "sample" / "GT" / path.parent.name / path.name)
        write_image(path, bi(cv2.GaussianBlur(gt, (7, 7), 1.6)))
    with caplog.at_level(logging.WARNING):
        again = evaluate("sample", "bicubic", root=tiny_root, metrics="psnr", out=out)
    fresh = evaluate("sample", "bicubic", root=tiny_root, metrics="psnr")
    assert again.summary("bicubic") == pytest.approx(fresh.summary("bicubic"), abs=1e-12)
    assert again.summary("bicubic")["psnr"] != pytest.approx(first.summary("bicubic")["psnr"], abs=1e-3)
    assert "recomputing bicubic / beta: input files changed" in caplog.text


def test_weights_overwritten_in_place(tiny_root, tmp_path, caplog):
    from vsrzoo.factory import create_model

    ckpt, out = tmp_path / "ckpt", tmp_path / "out"
    torch.manual_seed(0)
    create_model("instavsr", variant="tiny").save_pretrained(ckpt)
    first = evaluate("sample", "instavsr", ckpt=str(ckpt), root=tiny_root, metrics="psnr", out=out)
    model = create_model("instavsr", variant="tiny")
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    model.save_pretrained(ckpt)  # same folder, same file names, other weights
    with caplog.at_level(logging.WARNING):
        again = evaluate("sample", "instavsr", ckpt=str(ckpt), root=tiny_root, metrics="psnr", out=out)
    fresh = evaluate("sample", "instavsr", ckpt=str(ckpt), root=tiny_root, metrics="psnr")
    assert again.summary("instavsr") == pytest.approx(fresh.summary("instavsr"), abs=1e-9)
    assert again.summary("instavsr")["psnr"] != pytest.approx(first.summary("instavsr")["psnr"], abs=1e-6)
    assert "recomputing instavsr / alpha: weights changed" in caplog.text


def test_unchanged_inputs_are_reused(tiny_root, tmp_path, caplog):
    out = tmp_path / "out"
    evaluate("sample", "bicubic", root=tiny_root, metrics="psnr", out=out)
    stamp = (out / "clips" / "bicubic" / "alpha.json").stat().st_mtime_ns
    with caplog.at_level(logging.WARNING):
        evaluate("sample", "bicubic", root=tiny_root, metrics="psnr", out=out)
    assert (out / "clips" / "bicubic" / "alpha.json").stat().st_mtime_ns == stamp
    assert "recomputing" not in caplog.text
