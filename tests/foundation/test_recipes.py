from pathlib import Path

import pytest

from vsrzoo.cli import main
from vsrzoo.errors import UserError
from vsrzoo.recipes import load_recipe


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_base_inheritance_overrides_and_interpolation(tmp_path):
    (tmp_path / "sub").mkdir()
    write(tmp_path / "base.yaml", "model: {name: bicubic}\noptim: {lr: 1.0e-3}\ntrainer: {max_steps: 7}\n")
    child = write(
        tmp_path / "sub" / "child.yaml",
        "_base_: ../base.yaml\noptim: {warmup_steps: 3}\noutput_dir: runs/${model.name}-${trainer.max_steps}\n",
    )
    cfg = load_recipe(child, ["trainer.max_steps=9", "data.batch_size=4"])
    assert cfg.optim.lr == 1e-3 and cfg.optim.warmup_steps == 3
    assert cfg.trainer.max_steps == 9 and cfg.data.batch_size == 4
    assert cfg.output_dir == "runs/bicubic-9"


def test_print_config(tmp_path, capsys):
    recipe = write(tmp_path / "r.yaml", "model: {name: bicubic}\n")
    assert main(["fit", str(recipe), "trainer.max_steps=3", "--print-config"]) == 0
    out = capsys.readouterr().out
    assert "max_steps: 3" in out and "name: bicubic" in out


@pytest.mark.parametrize(
    "text, overrides, message",
    [
        ("optim: {lrr: 1}\n", [], "vsrzoo: error: unknown recipe key 'optim.lrr' (did you mean 'optim.lr'?)"),
        (
            "trainr: {max_steps: 1}\n",
            [],
            "vsrzoo: error: unknown recipe key 'trainr' (did you mean 'trainer'?)",
        ),
        (
            "trainer: {max_steps: lots}\n",
            [],
            "vsrzoo: error: recipe: 'trainer.max_steps' must be an int, got 'lots'",
        ),
        ("", ["data.batch_size"], "vsrzoo: error: override 'data.batch_size' must look like key=value"),
    ],
)
def test_recipe_errors_are_one_line(tmp_path, capsys, text, overrides, message):
    recipe = write(tmp_path / "r.yaml", text)
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["fit", str(recipe), *overrides]) == 2
    err = capsys.readouterr().err
    assert err == message + "\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


def test_missing_recipe(tmp_path, capsys):
    assert main(["fit", str(tmp_path / "nope.yaml")]) == 2
    assert capsys.readouterr().err == f"vsrzoo: error: recipe not found: {tmp_path / 'nope.yaml'}\n"


def test_base_cycle(tmp_path, capsys):
    write(tmp_path / "a.yaml", "_base_: b.yaml\n")
    write(tmp_path / "b.yaml", "_base_: a.yaml\n")
    assert main(["fit", str(tmp_path / "a.yaml")]) == 2
    assert capsys.readouterr().err == "vsrzoo: error: recipe _base_ cycle: a.yaml -> b.yaml -> a.yaml\n"


def test_debug_shows_traceback(tmp_path):
    with pytest.raises(UserError, match="recipe not found"):
        main(["--debug", "fit", str(tmp_path / "nope.yaml")])


def test_trainer_section_is_passed_through_to_lightning(tmp_path):
    from vsrzoo.training import build_trainer

    cfg = load_recipe(None, ["trainer.max_epochs=3", "trainer.max_steps=-1", "trainer.detect_anomaly=true"])
    assert dict(cfg.trainer) == {
        "max_steps": -1,
        "devices": 1,
        "log_every_n_steps": 10,
        "max_epochs": 3,
        "detect_anomaly": True,
    }
    trainer = build_trainer(cfg, tmp_path)
    assert trainer.max_epochs == 3 and trainer.max_steps == -1 and trainer.log_every_n_steps == 10
    assert list(tmp_path.iterdir()) == []  # building the Trainer writes nothing


@pytest.mark.parametrize(
    "override, message",
    [
        (
            "trainer.max_epoch=3",
            "unknown key 'trainer.max_epoch' in recipe (did you mean 'trainer.max_epochs'?)",
        ),
        (
            "trainer.devices=1.5",
            "recipe: 'trainer.devices' must be a list of int or a str or an int, got 1.5",
        ),
        (
            "trainer.default_root_dir=x",
            "recipe key 'trainer.default_root_dir' cannot be set: set output_dir instead",
        ),
        ("trainer.gradient_checkpointing=true", "unknown key 'trainer.gradient_checkpointing' in recipe"),
    ],
)
def test_trainer_keys_are_checked_against_the_trainer_signature(override, message):
    with pytest.raises(UserError) as err:
        load_recipe(None, [override])
    assert str(err.value).startswith(message)
