"""Adversarial training of a generator against discriminators: Lightning manual optimisation, two optimizers.

Why a piece of its own: the step (generator update, then a discriminator update on the detached
output, each with its own optimizer, clip and schedule) is the same for any method with a
generator and discriminators; InstaVSR (arXiv 2603.26134, dual-space latent + pixel
discriminators) is the first. A method mixes :class:`AdversarialTraining` in before its base
class (``class M(AdversarialTraining, VSRMethod)``), sets ``self.automatic_optimization = False``
in its constructor and supplies:

- :meth:`~AdversarialTraining.generator_parameters`, :meth:`~AdversarialTraining.discriminator_parameters`;
- ``generator_losses(batch, adversarial)`` -> ``(losses, seen)``: the weighted generator loss
  ``losses["loss"]`` (with its adversarial terms when ``adversarial``, e.g. from
  :func:`~vsrzoo.blocks.gan_generator_loss`) and whatever the discriminators need to see;
- ``discriminator_losses(seen)`` -> ``losses`` with ``losses["loss_d"]`` (e.g. from
  :func:`~vsrzoo.blocks.gan_discriminator_loss`, hinge or non-saturating); it detaches ``seen``.

It reads two constructor arguments from ``hparams``: ``grad_clip_norm`` (gradient-norm clip of
both optimizers, as manual optimisation cannot use ``trainer.gradient_clip_val``; None: none) and
``disc_lr`` (the discriminators' learning rate; None: the recipe's ``optim.lr``). Only generator
updates count as training steps, so ``trainer.global_step`` and ``trainer.max_steps`` mean
generator iterations (the discriminator step goes through the strategy directly: precision
plugin, gradient scaler) and a resumed run continues at the saved iteration.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch


class AdversarialTraining:
    """Mixin of a :class:`~vsrzoo.methods.VSRMethod`: the two-optimizer GAN step (module docstring)."""

    def generator_parameters(self) -> Iterable[torch.nn.Parameter]:
        """What the generator optimizer updates."""
        raise NotImplementedError

    def discriminator_parameters(self) -> Iterable[torch.nn.Parameter]:
        """What the discriminator optimizer updates."""
        raise NotImplementedError

    def generator_losses(
        self, batch: dict[str, torch.Tensor], adversarial: bool
    ) -> tuple[dict[str, torch.Tensor], Any]:
        raise NotImplementedError

    def discriminator_losses(self, seen: Any) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def adversarial_active(self) -> bool:
        """Whether this step has adversarial terms: from ``hparams.adv_start_step`` (generator steps) on."""
        return self.global_step >= self.hparams.get("adv_start_step", 0)

    def training_loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.generator_losses(batch, self.adversarial_active())[0]

    def configure_optimizers(self):
        opt_g = self.make_optimizer(self.generator_parameters())
        opt_d = self.make_optimizer(self.discriminator_parameters(), lr=self.hparams.get("disc_lr"))
        return [opt_g, opt_d], [self.make_scheduler(opt_g), self.make_scheduler(opt_d)]

    def _clip(self, optimizer) -> None:
        if self.hparams.get("grad_clip_norm"):
            self.clip_gradients(
                optimizer, gradient_clip_val=self.hparams.grad_clip_norm, gradient_clip_algorithm="norm"
            )

    def _step_discriminator(self, opt_d) -> None:
        """Step the discriminators through the strategy (precision plugin, scaler), not counted as a step."""
        self.trainer.strategy.optimizer_step(opt_d.optimizer, closure=lambda: None, model=self)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        opt_g, opt_d = self.optimizers()
        sched_g, sched_d = self.lr_schedulers()
        adversarial = self.adversarial_active()
        self.toggle_optimizer(opt_g)
        losses, seen = self.generator_losses(batch, adversarial)
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(losses["loss"])
        self._clip(opt_g)
        opt_g.step()  # counted: trainer.global_step = generator updates
        self.untoggle_optimizer(opt_g)
        if adversarial:
            self.toggle_optimizer(opt_d)
            d_losses = self.discriminator_losses(seen)
            opt_d.zero_grad(set_to_none=True)
            self.manual_backward(d_losses["loss_d"])
            self._clip(opt_d)
            self._step_discriminator(opt_d)
            sched_d.step()  # counts discriminator steps: its warm-up starts with the adversarial terms
            self.untoggle_optimizer(opt_d)
            losses.update(d_losses)
        sched_g.step()
        self.log_dict(
            {f"train/{k}": v.detach() for k, v in losses.items()},
            prog_bar=True,
            batch_size=batch["lr"].shape[0],
        )
        return losses["loss"].detach()


__all__ = ["AdversarialTraining"]
