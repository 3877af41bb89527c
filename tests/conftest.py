"""Test-wide setup: nothing touches the user's caches, and nothing reaches the network."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_TMP = Path(tempfile.mkdtemp(prefix="vsrzoo-tests-"))
os.environ["VSRZOO_CACHE"] = str(_TMP / "cache")
os.environ["TORCH_HOME"] = str(_TMP / "torch")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("HF_HOME", str(_TMP / "hf"))


def shared_data_root() -> Path | None:
    """``$VSRZOO_DATA`` or ``<repo>/../shared/data`` when present, else None."""
    env = os.environ.get("VSRZOO_DATA")
    for cand in ([Path(env)] if env else []) + [REPO.parent / "shared" / "data"]:
        if (cand / "Vid4" / "GT").is_dir():
            return cand
    return None


@pytest.fixture
def shared_data() -> Path:
    root = shared_data_root()
    if root is None:
        pytest.skip("real data not found: set VSRZOO_DATA or put it at <repo>/../shared/data")
    return root


@pytest.fixture(scope="session")
def sample_root() -> Path:
    from vsrzoo.data.sample import sample_root as make

    return make()


@pytest.fixture
def torch_home(tmp_path, monkeypatch) -> Path:
    """A TORCH_HOME of this test's own, for weight files that tests write and metrics read."""
    home = tmp_path / "torch"
    monkeypatch.setenv("TORCH_HOME", str(home))
    return home
