"""`vsrzoo fit`: data order across resume, weights-only resume, and one-line errors before any work.

Training runs use a probe registered at runtime (bicubic plus a learned 3x3 residual, the smallest
real trainable VSR model) on the built-in sample clips, a few steps each.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

import lightning as L
import pytest
import torch

import vsrzoo
from vsrzoo.cli import main
from vsrzoo.data.resize import imresize
from vsrzoo.methods.base import VSRMethod
from vsrzoo.recipes import load_recipe
from vsrzoo.registry import _REGISTRY, register_method
from vsrzoo.training import fit

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


class Probe(VSRMethod):
    def __init__(self, scale: int = 4, mode: Literal["add", "none"] = "add", gain: float = 1.0):
        super().__init__(scale=scale)
        self.save_hyperparameters()
        self.conv = torch.nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, lr):
        up = imresize(lr, scale=self.scale)
        res = self.hparams.gain * self.conv(up.flatten(0, 1)).view_as(up)
        return (up + res if self.hparams.mode == "add" else up).clamp(0, 1)

    def training_loss(self, batch):
        return {"loss": (self(batch["lr"]) - batch["gt"]).abs().mean()}


@pytest.fixture
def probe():
    register_method("fit_probe", variants={"tiny": {}})(Probe)
    yield "fit_probe"
    _REGISTRY.pop("fit_probe")


class Recorder(L.Callback):
    """The hash of every training batch, in order."""

    def __init__(self):
        self.seen: list[str] = []

    def on_train_batch_start(self, trainer, module, batch, idx):
        self.seen.append(hashlib.sha1(batch["gt"].numpy().tobytes()).hexdigest()[:12])


def probe_recipe(out: Path, steps: int, *extra: str):
    # one 12-frame clip, 10-frame samples: 3 batches per epoch, so 6 steps cross two epochs
    return load_recipe(
        None,
        [
            "model.name=fit_probe",
            f"output_dir={out}",
            f"trainer.max_steps={steps}",
            "trainer.limit_val_batches=0",
            "trainer.enable_progress_bar=false",
            "data.train_clips=[astronaut]",
            "data.num_frames=10",
            "data.crop_size=8",
            "data.batch_size=1",
            *extra,
        ],
    )


def train(cfg, resume=None) -> list[str]:
    rec = Recorder()
    fit(cfg, resume=resume, callbacks=[rec])
    return rec.seen


@pytest.mark.parametrize(
    "stop, workers", [(4, 0), (3, 0), (4, 1)], ids=["mid-epoch", "epoch-end", "mid-epoch-1-worker"]
)
def test_resume_continues_the_data_order(probe, tmp_path, sample_root, stop, workers):
    straight = train(probe_recipe(tmp_path / "straight", 6))
    assert len(straight) == 6 and len(set(straight[:3])) == 3 and straight[:3] != straight[3:]
    loading = f"data.num_workers={workers}"
    first = train(probe_recipe(tmp_path / "split", stop, loading))
    assert first == straight[:stop]
    last = tmp_path / "split" / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["global_step"] == stop
    rest = train(probe_recipe(tmp_path / "split", 6, loading), resume=str(last))
    assert rest == straight[stop:]  # not the batches of steps 0.. again


def write_malicious_ckpt(path: Path, marker: Path) -> None:
    """A checkpoint whose unpickling writes ``marker`` (the payload only touches that temp file)."""

    class Payload:
        def __reduce__(self):
            return Path.write_text, (marker, "payload ran")

    torch.save({"state_dict": {}, "global_step": 0, "payload": Payload()}, path)


def test_resume_refuses_a_crafted_pickle_even_when_torch_is_told_to_unpickle(
    probe, tmp_path, sample_root, capsys, monkeypatch
):
    marker, evil = tmp_path / "marker.txt", tmp_path / "evil.ckpt"
    write_malicious_ckpt(evil, marker)
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    recipe = tmp_path / "r.yaml"
    recipe.write_text("model: {name: fit_probe}\n")
    out = tmp_path / "out"
    code = main(["fit", str(recipe), f"output_dir={out}", "trainer.max_steps=1", "--resume", str(evil)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"vsrzoo: error: refusing to load {evil}: it is not a weights-only checkpoint")
    assert err.count("\n") == 1
    assert not marker.exists() and not out.exists()
    with pytest.raises(vsrzoo.errors.UserError, match="not a weights-only checkpoint"):
        vsrzoo.create_model("fit_probe", pretrained=str(evil))  # reading its config for the merge
    assert not marker.exists()
    torch.load(evil, weights_only=False)  # the payload is live: plain unpickling runs it
    assert marker.read_text() == "payload ran"


def test_lightning_resume_path_is_weights_only(probe, tmp_path, sample_root, monkeypatch):
    """The Trainer itself (not only vsrzoo's pre-check) refuses to unpickle on resume."""
    from vsrzoo.training import build_model, build_trainer

    marker, evil = tmp_path / "marker.txt", tmp_path / "evil.ckpt"
    write_malicious_ckpt(evil, marker)
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    cfg = probe_recipe(tmp_path / "out", 1)
    trainer = build_trainer(cfg, tmp_path / "out")
    data = vsrzoo.training.TrainData.from_recipe(cfg.data)
    with pytest.raises(Exception, match="Weights only load failed"):
        trainer.fit(build_model(cfg), datamodule=data, ckpt_path=str(evil))
    assert not marker.exists()


def run_fit(capsys, tmp_path, recipe: str, *args: str) -> str:
    before = sorted(p.name for p in tmp_path.iterdir())
    code = main(["fit", recipe, f"output_dir={tmp_path / 'out'}", *args])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("vsrzoo: error: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written
    return err[len("vsrzoo: error: ") : -1]


INSTAVSR = str(RECIPES / "instavsr-tiny.yaml")


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["trainer.max_steps=[1,2"],
            "bad override 'trainer.max_steps=[1,2': did not find expected ',' or ']'",
        ),
        (
            ["trainer.max_step=1"],
            "unknown key 'trainer.max_step' in recipe (did you mean 'trainer.max_steps'?)",
        ),
        (["trainer.precision=fp77"], "recipe: 'trainer.precision' must be one of 64, 32, 16, "),
        (["trainer.callbacks=[]"], "recipe key 'trainer.callbacks' cannot be set: "),
        (["model.kwargs.state_noise=abc"], "method 'instavsr': 'state_noise' must be a float, got 'abc'"),
        (["model.kwargs.adv_start_step=1.5"], "method 'instavsr': 'adv_start_step' must be an int, got 1.5"),
        (["model.kwargs.recurrent=maybe"], "method 'instavsr': 'recurrent' must be a bool, got 'maybe'"),
        (["model.kwargs.disc_lr=fast"], "method 'instavsr': 'disc_lr' must be a float or None, got 'fast'"),
        (
            ["model.kwargs.backbone.width=abc", "trainer.max_steps=1"],
            "method 'instavsr': 'backbone.width' must be a float, got 'abc'",
        ),
        (
            ["model.kwargs.stat_noise=0.1"],
            "unknown key 'stat_noise' in method 'instavsr' (did you mean 'state_noise'?)",
        ),
    ],
)
def test_fit_errors_are_one_line_and_write_nothing(tmp_path, capsys, sample_root, args, message):
    assert run_fit(capsys, tmp_path, INSTAVSR, *args).startswith(message)


def test_literal_annotations_are_checked(probe, tmp_path, capsys, sample_root):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("model: {name: fit_probe, kwargs: {mode: sub}}\n")
    assert (
        run_fit(capsys, tmp_path, str(recipe))
        == "method 'fit_probe': 'mode' must be one of 'add', 'none', got 'sub'"
    )


def test_resume_rejects_text_files_and_other_methods_checkpoints(probe, tmp_path, capsys, sample_root):
    text = tmp_path / "notes.ckpt"
    text.write_text("not a checkpoint\n")
    assert run_fit(capsys, tmp_path, INSTAVSR, "--resume", str(text)).startswith(
        f"{text} is not a PyTorch checkpoint"
    )
    train(probe_recipe(tmp_path / "probe", 1))
    ckpt = tmp_path / "probe" / "checkpoints" / "last.ckpt"
    message = run_fit(capsys, tmp_path, INSTAVSR, "--resume", str(ckpt))
    assert message.startswith(f"{ckpt} does not fit instavsr (tiny): ")
    assert message.endswith("it was trained by another method or variant")
    with pytest.raises(
        vsrzoo.errors.UserError, match=f"unknown key 'mode' in the configuration saved with {ckpt}"
    ):
        vsrzoo.create_model("instavsr", pretrained=str(ckpt))  # upscale/bench --ckpt of another method
    missing = tmp_path / "nope.ckpt"
    assert run_fit(capsys, tmp_path, INSTAVSR, "--resume", str(missing)) == f"checkpoint not found: {missing}"


def test_nested_override_merges_into_the_variant():
    tiny = vsrzoo.create_model("instavsr", variant="tiny")
    wider = vsrzoo.create_model("instavsr", variant="tiny", backbone={"width": 48})
    assert wider.hparams.backbone == {**tiny.hparams.backbone, "width": 48}
    count = lambda m: sum(p.numel() for p in m.net.parameters())  # noqa: E731
    assert count(wider) == count(tiny)  # still the tiny UNet, not the paper-scale default


def test_nested_override_merges_into_a_pretrained_config(tmp_path):
    saved = vsrzoo.create_model("instavsr", variant="tiny").save_pretrained(tmp_path / "tiny")
    model = vsrzoo.create_model("instavsr", pretrained=str(saved), backbone={"width": 48})
    assert (
        model.hparams.backbone["block_out_channels"] == [32, 64, 64] and model.hparams.backbone["width"] == 48
    )
    with pytest.raises(vsrzoo.errors.UserError, match="'backbone.width' must be a float, got 'abc'"):
        vsrzoo.create_model("instavsr", pretrained=str(saved), backbone={"width": "abc"})


def test_none_removes_a_nested_key_when_switching_decoder_type():
    vae = {
        "variant": "tiny",
        "block_out_channels": [8, 8, 16, 16],
        "layers_per_block": 0,
        "norm_num_groups": 4,
    }
    with pytest.raises(vsrzoo.errors.UserError, match="unknown key 'factor' in half-width VAE decoder"):
        vsrzoo.create_model(
            "instavsr",
            decoder_type="sd-vae-decoder-half",
            decoder=vae,
            latent_channels=4,
            latent_disc_input="encoder",
        )  # merged: factor=4
    model = vsrzoo.create_model(
        "instavsr",
        decoder_type="sd-vae-decoder-half",
        decoder={**vae, "factor": None},
        latent_channels=4,
        latent_disc_input="encoder",
    )
    assert "factor" not in model.hparams.decoder
