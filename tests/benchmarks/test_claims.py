"""benchmarks/claims.py: the fast subset of the README's and model cards' claims holds, and a
wrong claim is caught (verdict FAILS, exit code 1)."""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def load_claims():
    if "claims" in sys.modules:
        return sys.modules["claims"]
    spec = importlib.util.spec_from_file_location("claims", REPO / "benchmarks" / "claims.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["claims"] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


claims = load_claims()


@pytest.mark.slow
def test_fast_subset_holds():
    outcomes = claims.run(claims.select([], fast=True), claims.Context(claims.default_root()), progress=False)
    assert len(outcomes) >= 10
    bad = {
        o.claim.id: o.verdict
        for o in outcomes
        if not (o.verdict == "holds" or o.verdict.startswith("skipped"))
    }
    assert not bad, bad


def test_every_claim_quotes_its_file():
    """A claim whose sentence was edited away must be rewritten, not kept silently."""
    missing = [c.id for c in claims.CLAIMS.values() if claims.locate(c) is None]
    assert not missing


def test_wrong_share_fails_and_exits_1(monkeypatch, capsys):
    right = claims.CLAIMS["litevsr-full-params"]
    wrong = dataclasses.replace(right, id="litevsr-share-50", checks=(claims.Near("share_pct", 50, 0.5),))
    outcome = claims.evaluate_claim(wrong, claims.Context(None))
    assert outcome.verdict.startswith("FAILS") and "share_pct = 50" in outcome.verdict
    assert abs(outcome.measured["share_pct"] - 11.27) < 0.01  # the measurement itself is real
    monkeypatch.setitem(claims.CLAIMS, wrong.id, wrong)
    assert claims.main(["--only", wrong.id, "instavsr-full-params"]) == 1
    printed = capsys.readouterr().out
    assert "| litevsr-share-50" in printed and "| instavsr-full-params" in printed
    assert claims.main(["--only", "instavsr-full-params"]) == 0


def test_text_not_in_file_fails():
    right = claims.CLAIMS["instavsr-full-params"]
    moved = dataclasses.replace(right, text="adversarial losses | 458M")
    assert claims.evaluate_claim(moved, claims.Context(None)).verdict.startswith("FAILS: text not found")


def test_data_claim_skipped_without_root():
    outcome = claims.evaluate_claim(claims.CLAIMS["bicubic-vid4-anchor"], claims.Context(None))
    assert outcome.verdict.startswith("skipped: no data root")
