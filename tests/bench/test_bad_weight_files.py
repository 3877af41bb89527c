"""Issue 25: weight files that are there but unusable, and a crafted TorchScript CLIP archive.

`vsrzoo bench --metrics M` with a broken weight file for M: one ``vsrzoo: error:`` line naming the
file and what is wrong, exit 2, no output folder, nothing else created or changed. A TorchScript
``RN50.pt`` whose ``__setstate__`` calls ``torch.from_file(path, shared=True)`` creates no file.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from vsrzoo.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "metrics"))
from dover_weights import write_dover  # noqa: E402
from iqa_weights import WRITERS  # noqa: E402

from vsrzoo.metrics.dover import DOVER_FILE  # noqa: E402
from vsrzoo.metrics.iqa import WEIGHT_FILES  # noqa: E402
from vsrzoo.metrics.lpips import backbone_path  # noqa: E402


def write_lpips() -> None:
    import torchvision

    path = backbone_path("alex")
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), path)


def write_good(metric: str) -> Path:
    """Usable files for ``metric``; returns the one the test then breaks."""
    if metric == "lpips":
        write_lpips()
        return backbone_path("alex")
    if metric == "dover":
        write_dover(net=None)
        return DOVER_FILE.path
    WRITERS[metric]()
    return WEIGHT_FILES[metric][0].path


def break_file(path: Path, how: str) -> str:
    """Overwrite ``path`` the way ``how`` says; returns what the message must say about it."""
    if how == "random bytes":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
        return (
            "cannot be read as a"
            if path.suffix == ".mat"
            else "(not a pickle of tensors: Unsupported operand"
        )
    if how == "refused pickle":
        torch.save({"weight": argparse.Namespace(a=1)}, path)
        return (
            "is refused: it needs more than tensors to load (Unsupported global: GLOBAL argparse.Namespace)"
        )
    if path.suffix == ".mat":  # wrong shapes in NIQE's pristine model
        import scipy.io

        scipy.io.savemat(path, {"mu_prisparam": np.zeros((1, 5)), "cov_prisparam": np.eye(5)})
        return "holds no NIQE pristine model"
    state = torch.load(path, weights_only=True)
    state = state.get("params", state)
    torch.save({k: torch.zeros(1) for k in state}, path)  # the right names, wrong shapes
    return "does not match the"


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("how", ["random bytes", "refused pickle", "wrong shapes"])
@pytest.mark.parametrize("metric", ["lpips", "dists", "musiq", "niqe", "dover"])
def test_unusable_weight_file_is_one_line_exit_2(tiny_root, tmp_path, torch_home, capsys, metric, how):
    path = write_good(metric)
    says = break_file(path, how)
    if metric == "niqe" and how == "refused pickle":
        says = "cannot be read as a MATLAB .mat file"
    before = snapshot(tmp_path)
    out = tmp_path / "out"
    code = main(
        ["bench", "--root", str(tiny_root), "--metrics", f"psnr,{metric}", "--out", str(out), "--no-progress"]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"vsrzoo: error: {path}") and says in err, err
    assert not out.exists() and snapshot(tmp_path) == before


SCRIPT = """
import sys, torch

class Evil(torch.nn.Module):
    def __init__(self, target: str):
        super().__init__()
        self.target = target
        self.register_buffer("w", torch.zeros(2))

    def forward(self, x):
        return x

    @torch.jit.export
    def __getstate__(self):
        return (self.target, self.w, self.training)

    @torch.jit.export
    def __setstate__(self, state: tuple[str, torch.Tensor, bool]):
        self.target = state[0]
        self.training = state[2]
        self.w = torch.from_file(self.target, shared=True, size=16)

torch.jit.script(Evil(sys.argv[2])).save(sys.argv[1])
"""


def write_evil_archive(path: Path, target: Path, tmp_path: Path) -> None:
    """A TorchScript archive whose ``__setstate__`` creates ``target`` (scripted from a file: jit needs source)."""
    import subprocess

    script = tmp_path / "make_evil.py"
    script.write_text(SCRIPT)
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-W", "ignore", str(script), str(path), str(target)], check=True)
    script.unlink()


def test_crafted_torchscript_clip_creates_no_file(tiny_root, tmp_path, torch_home, capsys):
    """2: jit.load would run __setstate__ and create `target`; the bench reads the tensors only."""
    rn50 = WEIGHT_FILES["clipiqa"][0].path
    target = tmp_path / "created-by-the-archive"
    write_evil_archive(rn50, target, tmp_path)
    torch.jit.load(str(rn50))  # the archive really is hostile under TorchScript ...
    assert target.exists()
    target.unlink()
    before = snapshot(tmp_path)
    out = tmp_path / "out"
    code = main(
        ["bench", "--root", str(tiny_root), "--metrics", "psnr,clipiqa", "--out", str(out), "--no-progress"]
    )
    err = capsys.readouterr().err
    assert not target.exists()  # ... and vsrzoo never executes it
    assert (
        code == 2
        and err.count("\n") == 1
        and err.startswith(f"vsrzoo: error: {rn50} is not a CLIP checkpoint")
    )
    assert not out.exists() and snapshot(tmp_path) == before


def test_genuine_scripted_module_tensors_load(tmp_path, torch_home):
    """2: a real scripted module (shared storages, nested modules): the same tensors as torch.jit.load."""
    from vsrzoo.metrics.iqa import clip_state, script_tensors

    WRITERS["clipiqa"]()
    rn50 = WEIGHT_FILES["clipiqa"][0].path
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = torch.jit.load(str(rn50)).state_dict()
    got = script_tensors(rn50)
    assert sorted(got) == sorted(reference) and len(got) > 50
    assert all(torch.equal(got[k], reference[k]) and got[k].dtype == reference[k].dtype for k in reference)
    assert set(clip_state(rn50)) == set(reference)


def test_refused_clip_archive_globals_are_one_line(tmp_path, torch_home, capsys, tiny_root):
    """2/3: a state dict that needs a non-tensor global is refused by name, not unpickled."""
    rn50 = WEIGHT_FILES["clipiqa"][0].path
    rn50.parent.mkdir(parents=True)
    torch.save({"weight": argparse.Namespace(a=1)}, rn50)
    code = main(
        [
            "bench",
            "--root",
            str(tiny_root),
            "--metrics",
            "clipiqa",
            "--out",
            str(tmp_path / "o"),
            "--no-progress",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err == (
        f"vsrzoo: error: {rn50} is refused: it needs more than tensors to load (Unsupported global: GLOBAL "
        "argparse.Namespace); only weights-only files are read\n"
    )
