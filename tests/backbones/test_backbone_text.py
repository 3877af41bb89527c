"""Caption embeddings without a text encoder."""

from __future__ import annotations

import pytest
import torch

from vsrzoo.backbones.pixart import build_pixart
from vsrzoo.backbones.text import CaptionEmbedding, save_prompt_embeddings
from vsrzoo.errors import MissingWeightsError, UserError


def test_null_caption_is_a_zero_buffer():
    cap = CaptionEmbedding(dim=32, length=6)
    embeds, mask = cap(3)
    assert embeds.shape == (3, 6, 32) and mask.shape == (3, 6)
    assert embeds.abs().sum() == 0 and mask.all()
    assert list(cap.parameters()) == [] and "embeds" in cap.state_dict()


def test_learned_caption_trains_through_pixart():
    model = build_pixart("tiny")
    cap = CaptionEmbedding(dim=model.config.caption_channels, length=4, learned=True, init_std=0.02)
    embeds, mask = cap(2)
    out = model(
        torch.randn(2, 4, 16, 16),
        encoder_hidden_states=embeds,
        encoder_attention_mask=mask,
        timestep=torch.tensor([1, 2]),
    ).sample
    out.square().mean().backward()
    assert cap.embeds.grad is not None and cap.embeds.grad.abs().sum() > 0


def test_precomputed_embeddings_round_trip(tmp_path):
    embeds, mask = torch.randn(1, 5, 16), torch.tensor([1, 1, 1, 0, 0])
    save_prompt_embeddings(tmp_path / "null.safetensors", embeds, mask)
    cap = CaptionEmbedding.from_file(tmp_path / "null.safetensors", dim=16)
    got, got_mask = cap(2)
    torch.testing.assert_close(got[1], embeds[0])
    assert got_mask[0].tolist() == [1, 1, 1, 0, 0]


def test_embedding_file_errors(tmp_path):
    with pytest.raises(MissingWeightsError, match="save_prompt_embeddings"):
        CaptionEmbedding.from_file(tmp_path / "missing.safetensors")
    save_prompt_embeddings(tmp_path / "e.safetensors", torch.zeros(3, 8))
    with pytest.raises(UserError, match="expects 16"):
        CaptionEmbedding.from_file(tmp_path / "e.safetensors", dim=16)
