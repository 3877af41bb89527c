"""The shipped tiny models' outputs are pinned: a refactor that changes them fails here.

``shipped_outputs.safetensors`` holds, for each method with built-in weights, the float output of
``forward`` and of the streaming engine (``upscale``) on a fixed random LR clip, written by this
file run as a script (``python tests/methods/test_shipped_outputs.py``): on the main branch before
the pipeline refactor of issue 26, and for LiftVSR and LiteVSR again with the weights retrained in
issue 27 (the InstaVSR and SimpleGVR entries kept from the first run). The clip (5 frames of 12 x 36) is sized so
that every shared path runs: spatial padding, two latent tiles, two LiftVSR segments, frame
padding for the codec, the engine's overlapping segments.

Bit-identical on the machine that wrote the file; other CPUs may round differently in the last
place, so the test allows 1e-5 (a uint8 output changes only when a value sits on a rounding edge).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

import vsrzoo
from vsrzoo.factory import has_builtin_weights

REFERENCE = Path(__file__).with_name("shipped_outputs.safetensors")
METHODS = ["liftvsr", "litevsr", "simplegvr", "instavsr"]


def lr_clip() -> torch.Tensor:
    return torch.rand(1, 5, 3, 12, 36, generator=torch.Generator().manual_seed(2026))


def outputs(name: str) -> dict[str, torch.Tensor]:
    """``forward`` and streamed outputs of the shipped ``name``-tiny on :func:`lr_clip`, seeded."""
    model = vsrzoo.create_model(name, pretrained="builtin").eval()
    lr = lr_clip()
    with torch.no_grad():
        torch.manual_seed(0)
        forward = model(lr)
        torch.manual_seed(0)
        frames = [(f.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8) for f in lr[0]]
        streamed = np.stack(list(model.upscale(frames)))
    return {f"{name}/forward": forward.float().contiguous(), f"{name}/stream": torch.from_numpy(streamed)}


@pytest.mark.parametrize("name", METHODS)
def test_shipped_outputs_are_unchanged(name):
    assert has_builtin_weights(name)
    reference = load_file(REFERENCE)
    for key, value in outputs(name).items():
        expected = reference[key]
        assert value.shape == expected.shape, key
        if value.dtype == torch.uint8:  # rounded frames: at most one grey level where a value sits on an edge
            diff = (value.int() - expected.int()).abs()
            assert diff.max() <= 1 and (diff > 0).float().mean() < 1e-3, key
        else:
            torch.testing.assert_close(value, expected, rtol=0, atol=1e-5, msg=key)


if __name__ == "__main__":
    save_file({k: v for name in METHODS for k, v in outputs(name).items()}, str(REFERENCE))
    print(f"wrote {REFERENCE}")
