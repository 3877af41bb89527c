"""Samplers built on diffusers schedulers: Euler flow ODE, DDIM and DPM-Solver++.

* Euler on the rectified-flow ODE (``FlowMatchEulerDiscreteScheduler``), any number of steps
  including 1, with the SD3 timestep shift and an optional start time ``t_start < 1`` (SDEdit-style
  partial denoising, used by SimpleGVR's model-guided degradation, arXiv 2506.19838).
* DDIM (Song et al., arXiv 2010.02502, ``DDIMScheduler``) for epsilon / v / x0 prediction.
* DPM-Solver++ (Lu et al., arXiv 2211.01095, ``DPMSolverMultistepScheduler``) for epsilon / v /
  x0 prediction, or flow velocity with ``prediction_type='flow'``.

The model is called as ``model_fn(x, t)`` with ``t`` of shape ``(B,)``: for flow samplers the
noise level ``t`` in [0, 1] (float); for DDIM / DPM-Solver on a DDPM schedule the integer
timestep in ``[0, 1000)`` (long). ``learned_sigma=True`` drops the second half of the output
channels (PixArt's variance). Steps use "trailing" spacing, so a 1-step sampler starts from the
noisiest timestep and ends at the clean sample.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from diffusers import DDIMScheduler, DPMSolverMultistepScheduler, FlowMatchEulerDiscreteScheduler

from vsrzoo.diffusion.ddpm import GaussianDiffusion
from vsrzoo.diffusion.flow import unshift_time
from vsrzoo.errors import unknown

ModelFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Callback = Callable[[int, torch.Tensor, torch.Tensor, torch.Tensor], None]
PREDICTIONS = {"epsilon": "epsilon", "v": "v_prediction", "x0": "sample", "flow": "flow_prediction"}


def _prediction(prediction_type: str, allowed: tuple[str, ...]) -> str:
    if prediction_type not in allowed:
        raise unknown("prediction type", prediction_type, allowed)
    return PREDICTIONS[prediction_type]


def euler_flow_scheduler(
    steps: int, shift: float = 1.0, t_start: float = 1.0
) -> FlowMatchEulerDiscreteScheduler:
    """Flow-matching Euler scheduler whose noise levels run from ``t_start`` (after shift) to 0."""
    if steps < 1 or not 0.0 < t_start <= 1.0:
        raise ValueError(f"need steps >= 1 and 0 < t_start <= 1, got steps={steps}, t_start={t_start}")
    scheduler = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=shift)
    start = unshift_time(t_start, shift)  # the scheduler re-applies the shift
    scheduler.set_timesteps(sigmas=np.linspace(start, 0.0, steps + 1)[:-1].tolist())
    return scheduler


def ddim_scheduler(steps: int, diffusion: GaussianDiffusion | None = None, prediction_type: str = "epsilon"):
    """DDIM scheduler on ``diffusion``'s betas (PixArt's linear schedule by default), trailing spacing."""
    diffusion = diffusion or GaussianDiffusion()
    scheduler = DDIMScheduler(
        **diffusion.scheduler_kwargs(),
        prediction_type=_prediction(prediction_type, ("epsilon", "v", "x0")),
        clip_sample=False,
        set_alpha_to_one=True,
        timestep_spacing="trailing",
    )
    # float64 tables: at t = 999, x0 = (x - sigma eps) / alpha amplifies float32 rounding of sigma 150x
    scheduler.alphas_cumprod = diffusion.alphas_cumprod.clone()
    scheduler.set_timesteps(steps)
    return scheduler


def dpm_solver_scheduler(
    steps: int,
    diffusion: GaussianDiffusion | None = None,
    prediction_type: str = "epsilon",
    order: int = 2,
    shift: float = 1.0,
):
    """DPM-Solver++ multistep scheduler; ``prediction_type='flow'`` uses flow sigmas with ``shift``."""
    diffusion = diffusion or GaussianDiffusion()
    pred = _prediction(prediction_type, ("epsilon", "v", "x0", "flow"))
    flow = dict(use_flow_sigmas=True, flow_shift=shift) if pred == "flow_prediction" else {}
    scheduler = DPMSolverMultistepScheduler(
        **diffusion.scheduler_kwargs(),
        prediction_type=pred,
        solver_order=order,
        algorithm_type="dpmsolver++",
        final_sigmas_type="zero",
        timestep_spacing="trailing",
        **flow,
    )
    scheduler.set_timesteps(steps)
    return scheduler


def is_flow(scheduler) -> bool:
    """Whether ``scheduler`` integrates the rectified-flow ODE (model time is ``t`` in [0, 1])."""
    return isinstance(scheduler, FlowMatchEulerDiscreteScheduler) or bool(
        getattr(scheduler.config, "use_flow_sigmas", False)
    )


def noise_level(scheduler, index: int = 0) -> tuple[float, float]:
    """``(alpha, sigma)`` of the scheduler's ``index``-th step, so ``x = alpha x0 + sigma eps`` starts it."""
    if is_flow(scheduler):
        s = float(scheduler.sigmas[index])
        return 1.0 - s, s
    abar = float(scheduler.alphas_cumprod[int(scheduler.timesteps[index])])
    return abar**0.5, (1.0 - abar) ** 0.5


def _model_time(scheduler, index: int, timestep: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    if is_flow(scheduler):
        t = scheduler.sigmas[index].to(device=x.device, dtype=torch.float32)
    else:
        t = timestep.to(device=x.device, dtype=torch.long)
    return t.expand(x.shape[0])


def sample(
    model_fn: ModelFn,
    x: torch.Tensor,
    scheduler,
    learned_sigma: bool = False,
    callback: Callback | None = None,
    **step_kwargs,
) -> torch.Tensor:
    """Run ``scheduler``'s steps from ``x`` (already at its first noise level) and return the result.

    ``callback(i, t, x, model_output)`` is called after each model evaluation (e.g. to record
    a trajectory for :func:`vsrzoo.diffusion.timesteps.detail_histogram`).
    """
    for i, timestep in enumerate(scheduler.timesteps):
        t = _model_time(scheduler, i, timestep, x)
        out = model_fn(x, t)
        if learned_sigma:
            out = out.chunk(2, dim=1)[0]
        if callback is not None:
            callback(i, t, x, out)
        x = scheduler.step(out, timestep, x, return_dict=False, **step_kwargs)[0]
    return x


@torch.no_grad()
def euler_flow_sample(
    model_fn: ModelFn,
    noise: torch.Tensor,
    steps: int = 50,
    shift: float = 1.0,
    t_start: float = 1.0,
    callback: Callback | None = None,
) -> torch.Tensor:
    """Integrate the flow ODE with Euler from ``noise`` at ``t_start`` to ``t = 0``.

    With ``t_start < 1``, pass ``noise = t_start * eps + (1 - t_start) * z`` (partial denoising).
    """
    return sample(model_fn, noise, euler_flow_scheduler(steps, shift, t_start), callback=callback)


@torch.no_grad()
def ddim_sample(
    model_fn: ModelFn,
    x: torch.Tensor,
    steps: int = 50,
    diffusion: GaussianDiffusion | None = None,
    prediction_type: str = "epsilon",
    learned_sigma: bool = False,
    eta: float = 0.0,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
) -> torch.Tensor:
    """DDIM from ``x`` at the noisiest timestep (``t = 999``, i.e. ``x`` is essentially noise)."""
    scheduler = ddim_scheduler(steps, diffusion, prediction_type)
    return sample(model_fn, x, scheduler, learned_sigma, callback, eta=eta, generator=generator)


@torch.no_grad()
def dpm_solver_sample(
    model_fn: ModelFn,
    x: torch.Tensor,
    steps: int = 20,
    diffusion: GaussianDiffusion | None = None,
    prediction_type: str = "epsilon",
    learned_sigma: bool = False,
    order: int = 2,
    shift: float = 1.0,
    callback: Callback | None = None,
) -> torch.Tensor:
    """DPM-Solver++ (multistep, ``order`` 1-3) from ``x`` at the scheduler's first noise level."""
    scheduler = dpm_solver_scheduler(steps, diffusion, prediction_type, order, shift)
    return sample(model_fn, x, scheduler, learned_sigma, callback)


__all__ = [
    "ddim_sample",
    "ddim_scheduler",
    "dpm_solver_sample",
    "dpm_solver_scheduler",
    "euler_flow_sample",
    "euler_flow_scheduler",
    "is_flow",
    "noise_level",
    "sample",
]
