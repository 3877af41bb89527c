import subprocess
import sys

import pytest
import torch

import vsrzoo
from vsrzoo.cli import main
from vsrzoo.errors import UserError
from vsrzoo.registry import count_parameters


def test_list_and_create_bicubic():
    assert "bicubic" in vsrzoo.list_models()
    model = vsrzoo.create_model("bicubic", variant="tiny")
    out = model(torch.rand(1, 2, 3, 8, 10))
    assert out.shape == (1, 2, 3, 32, 40)


def test_unknown_method_and_variant():
    with pytest.raises(
        UserError, match=r"unknown method 'bicubc' \(did you mean 'bicubic'\?\); valid: .*bicubic"
    ):
        vsrzoo.create_model("bicubc")
    with pytest.raises(UserError, match="unknown variant of bicubic 'huge'"):
        vsrzoo.create_model("bicubic", variant="huge")
    with pytest.raises(
        UserError, match="unknown key 'scael' in method 'bicubic' \\(did you mean 'scale'\\?\\)"
    ):
        vsrzoo.create_model("bicubic", scael=4)
    with pytest.raises(UserError, match="bicubic does not support scale 5; supported: 2, 3, 4, 8"):
        vsrzoo.create_model("bicubic", scale=5)


def test_meta_device_counts_without_memory():
    model = vsrzoo.create_model("bicubic", variant="full", device="meta")
    assert count_parameters(model) == {"total": 0, "trainable": 0, "frozen": 0}


def test_models_command(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "bicubic" in out and "tiny,small,full" in out
    assert main(["models", "--params"]) == 0
    assert "trainable share" in capsys.readouterr().out


def test_unknown_method_cli(capsys):
    assert main(["models", "bicubc"]) == 2
    assert capsys.readouterr().err.startswith("vsrzoo: error: unknown method 'bicubc'")


def test_console_script_help():
    res = subprocess.run([sys.executable, "-m", "vsrzoo.cli", "--help"], capture_output=True, text=True)
    assert res.returncode == 0 and "usage: vsrzoo" in res.stdout
    for command in ("fit", "bench", "upscale", "models", "data"):
        assert command in res.stdout


@pytest.mark.parametrize("command", ["fit", "bench", "upscale", "models", "data"])
def test_subcommand_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: vsrzoo {command}")


def test_usage_error_is_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["nosuch"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("vsrzoo: error: argument COMMAND: invalid choice")


def test_save_load_roundtrip(tmp_path):
    model = vsrzoo.create_model("bicubic", scale=2)
    model.save_pretrained(tmp_path / "ckpt")
    loaded = vsrzoo.create_model("bicubic", pretrained=str(tmp_path / "ckpt"))
    assert loaded.scale == 2
    x = torch.rand(1, 1, 3, 6, 6)
    assert torch.equal(loaded(x), model(x))


def test_missing_checkpoint(tmp_path):
    with pytest.raises(UserError, match=f"no bicubic checkpoint at {tmp_path / 'none'}"):
        vsrzoo.create_model("bicubic", pretrained=str(tmp_path / "none"))
