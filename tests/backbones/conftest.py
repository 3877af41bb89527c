"""Example inputs for every tiny backbone, shared by the backbone tests."""

from __future__ import annotations

import pytest
import torch


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _pixart(m, g):
    x = torch.randn(2, 4, 16, 16, generator=g)
    caption = torch.randn(2, 6, m.config.caption_channels, generator=g)
    return m(x, encoder_hidden_states=caption, timestep=torch.tensor([10, 900])).sample


def _wan(m, g):
    x = torch.randn(2, m.config.in_channels, 3, 8, 8, generator=g)
    text = torch.randn(2, 6, m.config.text_dim, generator=g)
    return m(x, timestep=torch.tensor([10, 900]), encoder_hidden_states=text).sample


def _codec(frames: int | None, size: int = 32):
    def run(m, g):
        shape = (1, 3, frames, size, size) if frames else (2, 3, size, size)
        x = (torch.rand(shape, generator=g) * 2 - 1).requires_grad_(True)
        return m.decode(m.encode(x))

    return run


def _unet(m, g):
    return m(torch.randn(2, m.config.in_channels, 16, 16, generator=g))


def _decoder(m, g):
    return m.decode(torch.randn(2, m.config.latent_channels, 4, 4, generator=g))


EXAMPLES = {
    "pixart-alpha": _pixart,
    "wan2.1-t2v-1.3b": _wan,
    "wan2.2-ti2v-5b": _wan,
    "sd-vae": _codec(None),
    "wan2.1-vae": _codec(5, 16),
    "wan2.2-vae": _codec(5, 16),
    "pixel-unshuffle": _codec(None),
    "sd2.1-unet-pruned": _unet,
    "sd-vae-decoder-half": _decoder,
}


@pytest.fixture
def run_backbone():
    """``run_backbone(name, model, seed=0)`` -> output tensor of a fixed example input."""

    def run(name: str, model: torch.nn.Module, seed: int = 0) -> torch.Tensor:
        return EXAMPLES[name](model, _gen(seed))

    return run
