"""Metric tests run on small frames: one intra-op thread (thread wake-ups dominate otherwise on a
busy 2-core machine)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def tiny_root(tmp_path):
    """Root of a 3-clip dataset (7, 6 and 5 frames of 64x64 GT) laid out as ``sample``."""
    from bench_helpers import default_clips, write_set

    return write_set(tmp_path / "data", default_clips())
