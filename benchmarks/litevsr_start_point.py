"""LiteVSR one-step mode: does training reach the point one-step inference evaluates? (issue 14)

One-step inference with ``init_noise_scale=0`` evaluates the denoiser at ``t = 1, z_1 = 0``; plain
rectified flow trains ``z_1`` = unit noise only. From the same frozen prior, this trains the tiny
adapter two ways for ``--steps`` (procedural clips only, batch 4): the paper's loss alone, and the
loss at the start point alone (``start_state_prob=1``), and prints the x0 error at ``t = 1, z_1 = 0``
on procedural validation clips as a ratio of the zero (bicubic) predictor's (1.0 = bicubic).

    OMP_NUM_THREADS=1 python benchmarks/litevsr_start_point.py --prior runs/litevsr-tiny-prior/final/transformer
"""

from __future__ import annotations

import argparse
import time

import torch

import vsrzoo
from vsrzoo.data.procedural import ProceduralClips
from vsrzoo.diffusion.flow import x0_from_velocity


def stack(ds: ProceduralClips, start: int, n: int) -> dict[str, torch.Tensor]:
    items = [ds[i] for i in range(start, start + n)]
    return {k: torch.stack([b[k] for b in items]) for k in ("lr", "gt")}


@torch.no_grad()
def start_point_error(model, batch) -> float:
    lr_latent = model.bicubic_latent(model.pad_frames(batch["lr"]))
    d0 = model.to_diffusion(model.encode(model.pad_frames(batch["gt"])), lr_latent)
    t, z = torch.ones(d0.shape[0]), torch.zeros_like(d0)
    clean, _ = model.unrolled_estimate(z, t, lr_latent)
    x0 = x0_from_velocity(z, model.velocity(z, t, lr_latent, clean), t)
    return (((x0 - d0) ** 2).mean() / (d0**2).mean()).item()


def run(prior: str, start_state_prob: float, steps: int, val, lr: float, injection_lr_scale: float) -> None:
    torch.manual_seed(0)
    model = vsrzoo.create_model(
        "litevsr",
        backbone_pretrained=prior,
        start_state_prob=start_state_prob,
        injection_lr_scale=injection_lr_scale,
    ).train()
    model.configure_training({"lr": lr})
    optimizer = model.configure_optimizers()["optimizer"]
    train, t0 = ProceduralClips(num_frames=2, crop_size=32, length=10**6, seed=1, split="train"), time.time()
    for step in range(steps):
        loss = model.training_loss(stack(train, 4 * step, 4))["loss"]
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        optimizer.step()
        if (step + 1) % max(1, steps // 3) == 0:
            model.eval()
            err = start_point_error(model, val)
            model.train()
            print(
                f"start_state_prob={start_state_prob}: step {step + 1}: x0 error at (t=1, z=0) {err:.4f} x bicubic "
                f"({time.time() - t0:.0f} s)",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prior", required=True, help="diffusers folder of the frozen tiny prior (stage 1)")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--injection-lr-scale", type=float, default=10.0)
    args = parser.parse_args()
    val = stack(ProceduralClips(num_frames=2, crop_size=32, length=24, seed=0, split="val"), 0, 24)
    for fraction in (0.0, 1.0):
        run(args.prior, fraction, args.steps, val, args.lr, args.injection_lr_scale)


if __name__ == "__main__":
    main()
