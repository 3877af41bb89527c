"""Two-process DDP training on CPU (gloo) through `vsrzoo.training.fit`.

Lightning's DDP launcher re-runs the script for rank 1, so the training runs in a small
script written to a temp dir; each rank records what data it saw and its final weights.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors.torch import load_file

SCRIPT = textwrap.dedent(
    """
    import hashlib, json, sys
    from pathlib import Path

    import lightning as L
    import torch
    from safetensors.torch import save_file

    from vsrzoo.data.resize import imresize
    from vsrzoo.methods.base import VSRMethod
    from vsrzoo.training import fit
    from vsrzoo.recipes import load_recipe
    from vsrzoo.registry import register_method


    @register_method("ddp_probe", variants={"tiny": {}})
    class Probe(VSRMethod):
        # bicubic plus a learned 3x3 residual: the smallest real trainable VSR model
        def __init__(self, scale: int = 4):
            super().__init__(scale=scale)
            self.save_hyperparameters()
            self.conv = torch.nn.Conv2d(3, 3, 3, padding=1)

        def forward(self, lr):
            up = imresize(lr, scale=self.scale)
            b, t = up.shape[:2]
            return (up + self.conv(up.flatten(0, 1)).view_as(up)).clamp(0, 1)

        def training_loss(self, batch):
            return {"loss": (self(batch["lr"]) - batch["gt"]).abs().mean()}


    class Recorder(L.Callback):
        def __init__(self, out):
            self.out, self.seen = Path(out), []

        def on_train_batch_start(self, trainer, module, batch, idx):
            self.seen.append(hashlib.sha1(batch["gt"].numpy().tobytes()).hexdigest())

        def on_train_end(self, trainer, module):
            rank = trainer.global_rank
            (self.out / f"seen{rank}.json").write_text(json.dumps(self.seen))
            weights = {k: v.detach().contiguous() for k, v in module.state_dict().items()}
            save_file(weights, str(self.out / f"weights{rank}.safetensors"))


    out = sys.argv[1]
    cfg = load_recipe(None, [
        "model.name=ddp_probe", f"output_dir={out}/run", "trainer.max_steps=3",
        "trainer.strategy=ddp", "trainer.devices=2", "trainer.accelerator=cpu",
        "trainer.limit_val_batches=0", "trainer.enable_progress_bar=false",
        "data.crop_size=16", "data.batch_size=1", "data.num_frames=2",
    ])
    fit(cfg, callbacks=[Recorder(out)])
    """
)


@pytest.mark.slow
def test_two_process_ddp_on_cpu(tmp_path, sample_root):
    script = tmp_path / "ddp_train.py"
    script.write_text(SCRIPT)
    res = subprocess.run(
        [sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, timeout=600
    )
    assert res.returncode == 0, res.stderr[-3000:]
    seen = [json.loads((tmp_path / f"seen{r}.json").read_text()) for r in (0, 1)]
    assert len(seen[0]) == len(seen[1]) == 3
    assert not set(seen[0]) & set(seen[1]), "both ranks trained on the same samples"
    w0, w1 = (load_file(str(tmp_path / f"weights{r}.safetensors")) for r in (0, 1))
    assert w0.keys() == w1.keys() and all(torch.equal(w0[k], w1[k]) for k in w0)
    initial = torch.nn.Conv2d(3, 3, 3, padding=1)
    assert w0["conv.weight"].shape == initial.weight.shape
    assert (tmp_path / "run" / "final" / "model.safetensors").is_file()


NOISE_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path

    import lightning as L
    import torch

    from vsrzoo.methods.base import VSRMethod
    from vsrzoo.training import fit
    from vsrzoo.recipes import load_recipe
    from vsrzoo.registry import register_method


    @register_method("ddp_flow_probe", variants={"tiny": {}})
    class FlowProbe(VSRMethod):
        # a one-conv rectified-flow denoiser that draws noise and timesteps from the global torch
        # generator, exactly as the diffusion methods do (torch.randn / torch.rand in training_loss)
        def __init__(self, scale: int = 4):
            super().__init__(scale=scale)
            self.save_hyperparameters()
            self.conv = torch.nn.Conv2d(3, 3, 3, padding=1)
            self.draws = []

        def forward(self, lr):
            up = torch.nn.functional.interpolate(lr.flatten(0, 1), scale_factor=self.scale)
            return up.view(*lr.shape[:2], *up.shape[1:])

        def training_loss(self, batch):
            gt = batch["gt"].flatten(0, 1)
            t = torch.rand(gt.shape[0], 1, 1, 1)
            noise = torch.randn_like(gt)
            self.draws.append([t.flatten().tolist(), noise.flatten()[:8].tolist()])
            xt = t * noise + (1 - t) * gt
            return {"loss": (self.conv(xt) - (noise - gt)).pow(2).mean()}


    class Recorder(L.Callback):
        def __init__(self, out):
            self.out = Path(out)

        def on_train_start(self, trainer, module):
            weights = {k: v.flatten().tolist() for k, v in module.state_dict().items()}
            (self.out / f"initial{trainer.global_rank}.json").write_text(json.dumps(weights))

        def on_train_end(self, trainer, module):
            (self.out / f"draws{trainer.global_rank}.json").write_text(json.dumps(module.draws))


    out = sys.argv[1]
    cfg = load_recipe(None, [
        "model.name=ddp_flow_probe", f"output_dir={out}/run", "trainer.max_steps=2",
        "trainer.strategy=ddp", f"trainer.devices={sys.argv[2]}", "trainer.accelerator=cpu",
        "trainer.limit_val_batches=0", "trainer.enable_progress_bar=false",
        "trainer.enable_checkpointing=false",
        "data.crop_size=8", "data.batch_size=1", "data.num_frames=2",
    ])
    fit(cfg, callbacks=[Recorder(out)])
    """
)


def _run_noise_probe(tmp_path, devices: int) -> tuple[list, list]:
    script = tmp_path / "ddp_noise.py"
    script.write_text(NOISE_SCRIPT)
    res = subprocess.run(
        [sys.executable, str(script), str(tmp_path), str(devices)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    read = lambda name: [json.loads((tmp_path / f"{name}{r}.json").read_text()) for r in range(devices)]  # noqa: E731
    return read("initial"), read("draws")


@pytest.mark.slow
def test_ddp_ranks_draw_distinct_noise_and_timesteps_from_identical_weights(tmp_path, sample_root):
    initial, draws = _run_noise_probe(tmp_path, 2)
    assert initial[0] == initial[1], "ranks started from different weights"
    assert len(draws[0]) == len(draws[1]) == 2
    for step0, step1 in zip(draws[0], draws[1]):
        assert step0[0] != step1[0], "both ranks drew the same timesteps"
        assert step0[1] != step1[1], "both ranks drew the same noise"
    # rank 0 keeps the single-process stream: a one-device run draws what DDP's rank 0 draws
    single = tmp_path / "single"
    single.mkdir()
    _, alone = _run_noise_probe(single, 1)
    assert alone[0] == draws[0]
