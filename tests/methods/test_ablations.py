"""benchmarks/ablations.py: every variant is a valid recipe that switches what it says it switches."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from vsrzoo.factory import create_model
from vsrzoo.recipes import load_recipe
from vsrzoo.training import build_model

REPO = Path(__file__).resolve().parents[2]


def load_ablations():
    spec = importlib.util.spec_from_file_location("ablations", REPO / "benchmarks" / "ablations.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["ablations"] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


ABLATIONS = load_ablations().ABLATIONS
CASES = [(m, label) for m, rows in ABLATIONS.items() for label in rows if label != "full"]


@pytest.mark.parametrize("method,label", CASES)
def test_variant_builds_and_changes_its_switch(method, label):
    variant = ABLATIONS[method][label]
    base = ["model.kwargs.backbone_pretrained=null"] if method == "litevsr" else []  # no stage-1 prior here
    if variant.inference:
        model = create_model(method, variant="tiny", **variant.inference)
        changed = variant.inference
    else:
        model = build_model(
            load_recipe(REPO / "recipes" / f"{method}-tiny.yaml", base + list(variant.overrides))
        )
        changed = {
            o.split("=", 1)[0].removeprefix("model.kwargs."): o.split("=", 1)[1] for o in variant.overrides
        }
    full = create_model(method, variant="tiny")
    for key, value in changed.items():
        assert str(model.hparams[key]).lower() in {
            str(value).lower(),
            "none" if value == "null" else str(value),
        }
        assert model.hparams[key] != full.hparams[key], key


def test_only_picks_variants_and_names_unknown_ones():
    module = load_ablations()
    args = type("Args", (), {"only": ["no AMC"]})()
    assert list(module.selected("liftvsr", args)) == ["full", "no AMC"]
    args.only = ["no such"]
    with pytest.raises(SystemExit, match="unknown liftvsr variant"):
        module.selected("liftvsr", args)
