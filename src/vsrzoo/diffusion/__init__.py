"""Diffusion core: rectified flow, DDPM with learned variance, conversions, samplers, timestep samplers.

Conventions: flow time ``t`` in [0, 1] with ``z_t = t * eps + (1 - t) * z0`` (``t = 1`` is noise);
DDPM timesteps are integers in ``[0, 1000)``. Samplers call ``model_fn(x, t)`` with ``t`` of shape ``(B,)``.
"""

from __future__ import annotations

from vsrzoo.diffusion.augment import LatentNoiseAugment
from vsrzoo.diffusion.conversions import eps_from_v, eps_from_x0, v_from_x0_eps, x0_from_eps, x0_from_v
from vsrzoo.diffusion.ddpm import GaussianDiffusion
from vsrzoo.diffusion.flow import (
    RectifiedFlow,
    flow_interpolate,
    flow_loss_weight,
    noise_from_velocity,
    shift_time,
    unshift_time,
    velocity_target,
    x0_from_velocity,
)
from vsrzoo.diffusion.samplers import (
    ddim_sample,
    ddim_scheduler,
    dpm_solver_sample,
    dpm_solver_scheduler,
    euler_flow_sample,
    euler_flow_scheduler,
    noise_level,
    sample,
)
from vsrzoo.diffusion.timesteps import (
    DETAIL_AWARE_HISTOGRAM,
    HistogramTimesteps,
    LogitNormalTimesteps,
    ShiftedTimesteps,
    UniformTimesteps,
    detail_aware,
    detail_histogram,
    high_frequency_energy,
    make_timestep_sampler,
    to_discrete,
)

__all__ = [
    "DETAIL_AWARE_HISTOGRAM",
    "GaussianDiffusion",
    "HistogramTimesteps",
    "LatentNoiseAugment",
    "LogitNormalTimesteps",
    "RectifiedFlow",
    "ShiftedTimesteps",
    "UniformTimesteps",
    "ddim_sample",
    "ddim_scheduler",
    "detail_aware",
    "detail_histogram",
    "dpm_solver_sample",
    "dpm_solver_scheduler",
    "eps_from_v",
    "eps_from_x0",
    "euler_flow_sample",
    "euler_flow_scheduler",
    "flow_interpolate",
    "flow_loss_weight",
    "high_frequency_energy",
    "make_timestep_sampler",
    "noise_from_velocity",
    "noise_level",
    "sample",
    "shift_time",
    "to_discrete",
    "unshift_time",
    "v_from_x0_eps",
    "velocity_target",
    "x0_from_eps",
    "x0_from_v",
    "x0_from_velocity",
]
