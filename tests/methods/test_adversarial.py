"""The two-optimizer GAN step (vsrzoo.methods.adversarial) serves any method with a generator and a
discriminator: a toy method trained by Lightning counts generator updates as steps, updates its
discriminator only once the adversarial terms are on, with its own learning rate."""

from __future__ import annotations

import lightning as L
import torch
from torch.utils.data import DataLoader

from vsrzoo.blocks import gan_discriminator_loss, gan_generator_loss
from vsrzoo.data.resize import imresize
from vsrzoo.methods.adversarial import AdversarialTraining
from vsrzoo.methods.base import VSRMethod


class ToyGAN(AdversarialTraining, VSRMethod):
    """Bicubic plus a learned correction, judged by a one-layer discriminator."""

    def __init__(self, scale: int = 4, adv_start_step: int = 1, disc_lr: float | None = 1e-2):
        super().__init__(scale=scale)
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.generator = torch.nn.Conv2d(3, 3, 3, padding=1)
        self.discriminator = torch.nn.Conv2d(3, 1, 4, stride=2)

    def forward(self, lr):
        up = imresize(lr, scale=self.scale)
        return up + self.generator(up.flatten(0, 1)).view_as(up)

    def generator_parameters(self):
        return self.generator.parameters()

    def discriminator_parameters(self):
        return self.discriminator.parameters()

    def generator_losses(self, batch, adversarial):
        sr = self(batch["lr"]).flatten(0, 1)
        gt = batch["gt"].flatten(0, 1)
        losses = {"l1": (sr - gt).abs().mean()}
        losses["loss"] = losses["l1"]
        if adversarial:
            losses["adv"] = gan_generator_loss(self.discriminator(sr), "hinge")
            losses["loss"] = losses["loss"] + 0.1 * losses["adv"]
        return losses, {"sr": sr, "gt": gt}

    def discriminator_losses(self, seen):
        real, fake = self.discriminator(seen["gt"]), self.discriminator(seen["sr"].detach())
        return {"loss_d": gan_discriminator_loss(real, fake, "hinge")}


def test_a_toy_method_trains_through_the_shared_gan_step(tmp_path):
    torch.manual_seed(0)
    samples = [{"lr": torch.rand(2, 3, 8, 8), "gt": torch.rand(2, 3, 32, 32)} for _ in range(4)]
    model = ToyGAN()
    disc_before = [p.detach().clone() for p in model.discriminator.parameters()]
    trainer = L.Trainer(
        max_steps=3,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(model, DataLoader(samples, batch_size=2))
    opt_g, opt_d = trainer.optimizers
    assert trainer.global_step == 3  # generator updates only
    assert next(iter(opt_g.state.values()))["step"] == 3
    assert next(iter(opt_d.state.values()))["step"] == 2  # from adv_start_step = 1 on
    assert opt_d.param_groups[0]["lr"] == 1e-2 and opt_g.param_groups[0]["lr"] == 1e-4
    assert any(not torch.equal(a, b) for a, b in zip(disc_before, model.discriminator.parameters()))
    assert {"train/loss", "train/adv", "train/loss_d"} <= set(trainer.logged_metrics)
