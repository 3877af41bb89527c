"""Precomputed latent pairs: the data path of SimpleGVR's latent cascade (arXiv 2506.19838).

SimpleGVR is the second stage of a text-to-video cascade: it maps the base model's 512p latent
to the 1080p latent directly, without decoding and re-encoding. Its training pairs are therefore
latents, not pixels: the LR side is the base model's latent (or the VAE latent of a 512p
rendering), the HR side the VAE latent of the 1080p ground truth.

Layout (reconstruction, ours): a folder of ``<clip>.safetensors`` files, each holding
``lr_latent`` ``(C, T, h, w)`` and ``hr_latent`` ``(C, T, H, W)`` with the same ``T`` latent
frames (and optionally ``text_embeds`` ``(L, D)``). :func:`save_latent_pair` writes one;
:class:`LatentPairs` serves random windows of ``num_frames`` latent frames (all of them when a
clip is shorter), the window drawn from ``(seed, epoch, index)`` like every vsrzoo dataset.
Batches are ``{"lr_latent", "hr_latent", "clip"}``; ``SimpleGVR.training_loss`` consumes them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch.utils.data import Dataset

from vsrzoo.data.degradations import clip_seed
from vsrzoo.errors import MissingDataError, UserError

LATENTS = "latents"  # the dataset name recipes use
KEYS = ("lr_latent", "hr_latent")


def save_latent_pair(
    path: str | Path,
    lr_latent: torch.Tensor,
    hr_latent: torch.Tensor,
    text_embeds: torch.Tensor | None = None,
) -> Path:
    """Write one clip's ``(C, T, h, w)`` LR and ``(C, T, H, W)`` HR latents (same T) as safetensors."""
    if lr_latent.dim() != 4 or hr_latent.dim() != 4 or lr_latent.shape[1] != hr_latent.shape[1]:
        raise UserError(
            f"latent pair needs (C, T, h, w) and (C, T, H, W) with the same T, got "
            f"{tuple(lr_latent.shape)} and {tuple(hr_latent.shape)}"
        )
    tensors = {"lr_latent": lr_latent, "hr_latent": hr_latent}
    if text_embeds is not None:
        tensors["text_embeds"] = text_embeds
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(path))
    return path


class LatentPairs(Dataset):
    """Windows of ``num_frames`` latent frames from the ``*.safetensors`` pairs under ``root``.

    ``clips``: file stems to use (default: all); ``length``: items per epoch (default: one per clip);
    keys are ``(epoch, index)`` from the datamodule's sampler or plain indices.
    """

    def __init__(
        self,
        root: str | Path | None,
        num_frames: int,
        clips: list[str] | None = None,
        length: int | None = None,
        seed: int = 0,
    ):
        if root is None:
            raise UserError("dataset 'latents' needs data.root: a folder of <clip>.safetensors latent pairs")
        folder = Path(root)
        files = sorted(folder.glob("*.safetensors"))
        if clips is not None:
            by_name = {f.stem: f for f in files}
            missing = [c for c in clips if c not in by_name]
            if missing:
                raise MissingDataError(f"latent pairs not found under {folder}: {', '.join(missing)}")
            files = [by_name[c] for c in clips]
        if not files:
            raise MissingDataError(f"no latent pairs (*.safetensors) under {folder}")
        self.files, self.num_frames, self.seed = files, num_frames, seed
        self.length = length or len(files)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        path = self.files[index % len(self.files)]
        pair = load_file(str(path))
        if any(k not in pair for k in KEYS):
            raise UserError(f"{path} lacks {' and '.join(KEYS)} (write it with save_latent_pair)")
        frames = pair["lr_latent"].shape[1]
        rng = np.random.default_rng(clip_seed(self.seed, LATENTS, epoch, index))
        start = int(rng.integers(frames - self.num_frames + 1)) if frames > self.num_frames else 0
        window = slice(start, start + self.num_frames)
        item = {k: pair[k][:, window].float() for k in KEYS}
        if "text_embeds" in pair:
            item["text_embeds"] = pair["text_embeds"].float()
        return {**item, "clip": path.stem}


__all__ = ["LATENTS", "LatentPairs", "save_latent_pair"]
