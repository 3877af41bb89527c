"""Caption conditioning without a text encoder.

VSR has no prompt, but PixArt-alpha (arXiv 2310.00426) and Wan (arXiv 2503.20314) cross-attend to
T5 / umT5 caption tokens. :class:`CaptionEmbedding` supplies them:

* ``learned=False`` (default): a fixed null caption (zeros, or precomputed embeddings of the
  empty prompt loaded from a safetensors file);
* ``learned=True``: a trainable caption, initialised from zeros, a file, or ``N(0, init_std^2)``.

Reconstruction (DESIGN.md section 2, LiftVSR): the null caption replaces the text encoder;
SimpleGVR's 10% null-prompt dropout needs real prompts and is left to a method that has them.
Precomputed files hold ``prompt_embeds`` ``(L, D)`` or ``(1, L, D)`` and optionally
``prompt_attention_mask`` ``(L,)``; write them with :func:`save_prompt_embeddings`.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from vsrzoo.errors import MissingWeightsError, UserError

EMBEDS_KEY = "prompt_embeds"
MASK_KEY = "prompt_attention_mask"


class CaptionEmbedding(nn.Module):
    """A caption of ``length`` tokens of width ``dim`` repeated over the batch.

    ``forward(batch_size)`` returns ``(embeds (B, L, D), mask (B, L))``, the ``encoder_hidden_states``
    and ``encoder_attention_mask`` a diffusers transformer expects.
    """

    def __init__(
        self,
        dim: int,
        length: int = 120,
        learned: bool = False,
        init_std: float = 0.0,
        embeds: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ):
        super().__init__()
        if embeds is None:
            embeds = torch.randn(length, dim) * init_std if init_std > 0 else torch.zeros(length, dim)
        embeds = embeds.reshape(-1, embeds.shape[-1]).float()
        mask = torch.ones(embeds.shape[0]) if mask is None else mask.reshape(-1).float()
        if mask.shape[0] != embeds.shape[0]:
            raise ValueError(f"caption mask has {mask.shape[0]} entries for {embeds.shape[0]} tokens")
        if learned:
            self.embeds = nn.Parameter(embeds)
        else:
            self.register_buffer("embeds", embeds)
        self.register_buffer("mask", mask)

    @property
    def dim(self) -> int:
        return self.embeds.shape[-1]

    @classmethod
    def from_file(
        cls, path: str | os.PathLike, dim: int | None = None, learned: bool = False
    ) -> CaptionEmbedding:
        """Load precomputed prompt embeddings; ``dim`` (if given) must match the model's caption width."""
        path = Path(path).expanduser()
        if not path.is_file():
            raise MissingWeightsError(
                f"prompt embeddings file '{path}' not found; create it with "
                "vsrzoo.backbones.text.save_prompt_embeddings(path, embeds) from your text encoder's output"
            )
        tensors = load_file(str(path))
        if EMBEDS_KEY not in tensors:
            raise UserError(
                f"'{path}' has no '{EMBEDS_KEY}' tensor (found: {', '.join(sorted(tensors)) or 'none'})"
            )
        embeds = tensors[EMBEDS_KEY]
        if dim is not None and embeds.shape[-1] != dim:
            raise UserError(f"'{path}' holds {embeds.shape[-1]}-wide embeddings, the model expects {dim}")
        return cls(embeds.shape[-1], learned=learned, embeds=embeds, mask=tensors.get(MASK_KEY))

    def forward(self, batch_size: int, dtype: torch.dtype | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        embeds = self.embeds.to(dtype) if dtype is not None else self.embeds
        return embeds.expand(batch_size, -1, -1), self.mask.expand(batch_size, -1)


def save_prompt_embeddings(
    path: str | os.PathLike, embeds: torch.Tensor, mask: torch.Tensor | None = None
) -> None:
    """Write prompt embeddings (and optional attention mask) for :meth:`CaptionEmbedding.from_file`."""
    tensors = {EMBEDS_KEY: embeds.detach().cpu().contiguous()}
    if mask is not None:
        tensors[MASK_KEY] = mask.detach().cpu().contiguous()
    save_file(tensors, str(path))


__all__ = ["CaptionEmbedding", "save_prompt_embeddings"]
