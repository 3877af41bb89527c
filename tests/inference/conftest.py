"""Fixtures for the inference tests: real photo content (scikit-image), small sizes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from inference_helpers import pan_frames

from vsrzoo.data.io import FrameWriter, write_image


@pytest.fixture(autouse=True)
def one_thread(request):
    """Tiny tensors: one intra-op thread avoids thread wake-ups that dominate on a busy machine."""
    if request.node.get_closest_marker("slow"):
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def frames() -> list[np.ndarray]:
    return pan_frames()


@pytest.fixture
def frame_folder(tmp_path, frames):
    folder = tmp_path / "lr"
    folder.mkdir()
    for i, frame in enumerate(frames):
        write_image(folder / f"{i:08d}.png", frame)
    return folder


@pytest.fixture
def video_file(tmp_path, frames):
    path = tmp_path / "lr.mp4"
    with FrameWriter(path, fps=12.5, crf=0) as writer:
        for frame in frames:
            writer.write(frame)
    return path
