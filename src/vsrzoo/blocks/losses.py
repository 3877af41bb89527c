"""Adversarial losses: hinge (Lim & Ye, arXiv 1705.02894) and non-saturating (Goodfellow et al., 2014).

Used by InstaVSR's dual-space (latent + pixel) adversarial training (arXiv 2603.26134); which one
is a constructor argument (``gan_loss``), since the paper does not say.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

GANLoss = Literal["hinge", "non_saturating"]


def gan_generator_loss(logits: torch.Tensor, kind: GANLoss) -> torch.Tensor:
    """Generator side: hinge ``-D(fake)``, non-saturating ``softplus(-D(fake))``."""
    logits = logits.float()
    return -logits.mean() if kind == "hinge" else F.softplus(-logits).mean()


def gan_discriminator_loss(real: torch.Tensor, fake: torch.Tensor, kind: GANLoss) -> torch.Tensor:
    """Discriminator side: hinge ``relu(1 - D(real)) + relu(1 + D(fake))`` or the logistic loss."""
    real, fake = real.float(), fake.float()
    if kind == "hinge":
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
    return F.softplus(-real).mean() + F.softplus(fake).mean()


__all__ = ["GANLoss", "gan_discriminator_loss", "gan_generator_loss"]
