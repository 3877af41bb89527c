"""One vocabulary (issue 26): every name users type follows ``docs/GLOSSARY.md``.

The glossary's table gives, per idea, the one name to use and the retired ones. Checked here: the
constructor arguments of every registered method, the parameters of the front end's public
functions and every option of every CLI subcommand. A method constructor, a function or an
option that uses a retired name fails the test with the name it should use.
"""

from __future__ import annotations

import argparse
import inspect
import re
from pathlib import Path

import pytest

import vsrzoo
from vsrzoo.cli import build_parser
from vsrzoo.registry import get_method_info

GLOSSARY = Path(__file__).resolve().parents[2] / "docs" / "GLOSSARY.md"


def glossary(front_end: bool = True) -> dict[str, str]:
    """Retired name -> the name to use, from the glossary's table; a name retired only "(in the front
    end)" counts for the front end's functions and CLI options, not for method constructors."""
    retired = {}
    for line in GLOSSARY.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        use = " / ".join(re.findall(r"`([^`]+)`", cells[0]))
        for name, scope in re.findall(r"`([^`]+)`( \(in the front end\))?", cells[2]):
            if front_end or not scope:
                retired.setdefault(name, use)
    return retired


def constructor_names() -> dict[str, set[str]]:
    """Method -> its constructor's parameter names."""
    return {
        f"{name} constructor": set(inspect.signature(get_method_info(name).cls.__init__).parameters)
        - {"self"}
        for name in vsrzoo.list_models()
    }


def function_names() -> dict[str, set[str]]:
    """The public functions users call with keywords -> their parameter names."""
    from vsrzoo.inference.streaming import stream_upscale
    from vsrzoo.upscaling.batch import upscale_batch

    return {
        f"{fn.__module__}.{fn.__name__}": set(inspect.signature(fn).parameters)
        for fn in (vsrzoo.upscale, upscale_batch, stream_upscale, vsrzoo.create_model, vsrzoo.evaluate)
    }


def cli_names() -> dict[str, set[str]]:
    """``vsrzoo CMD`` -> its option names with dashes as underscores (``--video-codec`` -> ``video_codec``)."""
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    found: dict[str, set[str]] = {}

    def walk(prefix: str, sub: argparse.ArgumentParser) -> None:
        names = set()
        for action in sub._actions:
            names |= {o.lstrip("-").replace("-", "_") for o in action.option_strings if o.startswith("--")}
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    walk(f"{prefix} {name}", child)
        found[prefix] = names

    for name, sub in commands.choices.items():
        walk(f"vsrzoo {name}", sub)
    return found


def test_the_glossary_has_entries():
    retired = glossary()
    assert retired["start_fraction"] == "start_state_prob" and retired["force"] == "overwrite"
    assert retired["codec"] == "video_codec" and "codec" not in glossary(front_end=False)


@pytest.mark.parametrize("surface", ["constructors", "functions", "cli"])
def test_no_retired_name_is_in_use(surface):
    retired = glossary(front_end=surface != "constructors")
    names = {"constructors": constructor_names, "functions": function_names, "cli": cli_names}[surface]()
    bad = [
        f"{where}: '{name}' (use '{retired[name]}')"
        for where, used in sorted(names.items())
        for name in sorted(used)
        if name in retired
    ]
    assert not bad, "retired names in use (docs/GLOSSARY.md):\n" + "\n".join(bad)


def test_the_checker_finds_a_retired_name():
    """The same check on a constructor that spells an idea the old way fails (the test can fail)."""

    def old_style(scale: int = 4, start_fraction: float = 0.0, caption_tokens: int = 1) -> None: ...

    retired = glossary()
    assert [n for n in inspect.signature(old_style).parameters if n in retired] == [
        "start_fraction",
        "caption_tokens",
    ]
