"""Discrete-time Gaussian diffusion with epsilon prediction and learned variance, as PixArt-alpha trains.

DDPM (Ho et al., arXiv 2006.11239) with the learned-range variance of improved DDPM (Nichol &
Dhariwal, arXiv 2102.09672), which PixArt-alpha (arXiv 2310.00426) uses: the model outputs
``2C`` channels, the first ``C`` are epsilon, the last ``C`` interpolate the log variance between
``beta_t`` and the posterior variance. The loss is ``MSE(eps) + L_vlb`` where the VLB term sees
the epsilon prediction detached, so it trains only the variance (improved-DDPM "hybrid" loss).
Schedule: linear betas 1e-4 .. 0.02 over 1000 steps (PixArt's), or SD's ``scaled_linear``.
LiftVSR (arXiv 2506.08529) keeps this parameterisation (reconstruction, DESIGN.md section 2).
"""

from __future__ import annotations

import math

import torch

from vsrzoo.diffusion.conversions import (
    eps_from_v,
    expand_like,
    v_from_x0_eps,
    x0_from_eps,
    x0_from_v,
)
from vsrzoo.errors import unknown


def make_betas(schedule: str, num_timesteps: int, beta_start: float, beta_end: float) -> torch.Tensor:
    """Beta schedule in float64: ``'linear'`` (DDPM/PixArt) or ``'scaled_linear'`` (Stable Diffusion).

    Always on the CPU, also when a model is built under ``torch.device('meta')`` (the dry-run's
    trace): the schedule is a constant table, indexed on the timesteps' device when used."""
    cpu = {"dtype": torch.float64, "device": "cpu"}
    if schedule == "linear":
        scale = 1000 / num_timesteps  # improved-DDPM scaling, identity at 1000 steps
        return torch.linspace(beta_start * scale, beta_end * scale, num_timesteps, **cpu)
    if schedule == "scaled_linear":
        return torch.linspace(beta_start**0.5, beta_end**0.5, num_timesteps, **cpu) ** 2
    raise unknown("beta schedule", schedule, ("linear", "scaled_linear"))


def normal_kl(mean1, logvar1, mean2, logvar2):
    """KL divergence between two diagonal Gaussians, elementwise."""
    return 0.5 * (
        -1.0 + logvar2 - logvar1 + torch.exp(logvar1 - logvar2) + (mean1 - mean2) ** 2 * torch.exp(-logvar2)
    )


def _approx_standard_normal_cdf(x):
    return 0.5 * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


def discretized_gaussian_log_likelihood(x, means, log_scales):
    """Log-likelihood of data in [-1, 1] quantised to 256 bins under a Gaussian (improved DDPM)."""
    centered = x - means
    inv_std = torch.exp(-log_scales)
    cdf_plus = _approx_standard_normal_cdf(inv_std * (centered + 1.0 / 255.0))
    cdf_min = _approx_standard_normal_cdf(inv_std * (centered - 1.0 / 255.0))
    log_cdf_plus = torch.log(cdf_plus.clamp(min=1e-12))
    log_one_minus_cdf_min = torch.log((1.0 - cdf_min).clamp(min=1e-12))
    log_delta = torch.log((cdf_plus - cdf_min).clamp(min=1e-12))
    return torch.where(x < -0.999, log_cdf_plus, torch.where(x > 0.999, log_one_minus_cdf_min, log_delta))


def _mean_flat(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(1).mean(1)


class GaussianDiffusion:
    """Noise schedule, conversions and the improved-DDPM training loss for integer timesteps ``t``.

    ``t`` is a long tensor ``(B,)`` in ``[0, num_timesteps)``; model time is that integer.
    """

    def __init__(
        self,
        num_timesteps: int = 1000,
        beta_start: float = 0.0001,
        beta_end: float = 0.02,
        schedule: str = "linear",
        learn_sigma: bool = True,
    ):
        self.num_timesteps = num_timesteps
        self.learn_sigma = learn_sigma
        self.betas = make_betas(schedule, num_timesteps, beta_start, beta_end)
        alphas = 1.0 - self.betas
        self.alphas_cumprod = torch.cumprod(alphas, 0)
        prev = torch.cat([torch.ones(1, dtype=torch.float64, device="cpu"), self.alphas_cumprod[:-1]])
        self.posterior_variance = self.betas * (1.0 - prev) / (1.0 - self.alphas_cumprod)
        clipped = torch.cat([self.posterior_variance[1:2], self.posterior_variance[1:]])
        self.posterior_log_variance_clipped = torch.log(clipped)
        self.posterior_mean_coef1 = self.betas * prev.sqrt() / (1.0 - self.alphas_cumprod)
        self.posterior_mean_coef2 = (1.0 - prev) * alphas.sqrt() / (1.0 - self.alphas_cumprod)

    def _at(self, table: torch.Tensor, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return expand_like(table.to(t.device)[t].to(x.dtype), x)

    def alpha_sigma(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(sqrt(abar_t), sqrt(1 - abar_t))`` as float32 tensors ``(B,)``."""
        abar = self.alphas_cumprod.to(t.device)[t]
        return abar.sqrt().float(), (1 - abar).sqrt().float()

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``q(x_t | x0)`` sample ``sqrt(abar) x0 + sqrt(1 - abar) noise``."""
        alpha, sigma = self.alpha_sigma(t)
        return expand_like(alpha, x0) * x0 + expand_like(sigma, x0) * noise

    def x0_from_eps(self, x_t, eps, t):
        return x0_from_eps(x_t, eps, *self.alpha_sigma(t))

    def v_target(self, x0, noise, t):
        return v_from_x0_eps(x0, noise, *self.alpha_sigma(t))

    def x0_from_v(self, x_t, v, t):
        return x0_from_v(x_t, v, *self.alpha_sigma(t))

    def eps_from_v(self, x_t, v, t):
        return eps_from_v(x_t, v, *self.alpha_sigma(t))

    def split_output(self, model_output: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(eps, variance values)`` from a ``2C``-channel output (channels on dim 1), or ``(out, None)``."""
        if not self.learn_sigma:
            return model_output, None
        eps, var = model_output.chunk(2, dim=1)
        return eps, var

    def model_log_variance(self, var_values: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Learned-range log variance: ``frac * log(beta_t) + (1 - frac) * log(posterior var)``."""
        min_log = self._at(self.posterior_log_variance_clipped, t, var_values)
        max_log = self._at(torch.log(self.betas), t, var_values)
        frac = (var_values + 1) / 2
        return frac * max_log + (1 - frac) * min_log

    def posterior_mean(self, x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Mean of ``q(x_{t-1} | x_t, x0)``."""
        return (
            self._at(self.posterior_mean_coef1, t, x_t) * x0
            + self._at(self.posterior_mean_coef2, t, x_t) * x_t
        )

    def vlb_bits(self, eps, var_values, x0, x_t, t) -> torch.Tensor:
        """Per-sample variational bound term in bits: KL for ``t > 0``, decoder NLL at ``t = 0``."""
        model_mean = self.posterior_mean(self.x0_from_eps(x_t, eps, t), x_t, t)
        model_log_var = self.model_log_variance(var_values, t)
        true_mean = self.posterior_mean(x0, x_t, t)
        true_log_var = self._at(self.posterior_log_variance_clipped, t, x_t)
        kl = _mean_flat(normal_kl(true_mean, true_log_var, model_mean, model_log_var)) / math.log(2.0)
        nll = -_mean_flat(
            discretized_gaussian_log_likelihood(x0, model_mean, 0.5 * model_log_var)
        ) / math.log(2.0)
        return torch.where(t == 0, nll, kl)

    def training_losses(
        self,
        model_output: torch.Tensor,
        x0: torch.Tensor,
        x_t: torch.Tensor,
        t: torch.Tensor,
        noise: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """``{'loss', 'mse', 'vb'}`` per sample (improved-DDPM hybrid loss; ``vb`` is 0 without learned sigma)."""
        eps, var_values = self.split_output(model_output.float())
        mse = _mean_flat((eps - noise.float()) ** 2)
        if var_values is None:
            vb = torch.zeros_like(mse)
        else:
            vb = self.vlb_bits(eps.detach(), var_values, x0.float(), x_t.float(), t)
        return {"loss": mse + vb, "mse": mse, "vb": vb}

    def scheduler_kwargs(self) -> dict:
        """Arguments that make a diffusers scheduler use exactly this beta schedule."""
        return {"num_train_timesteps": self.num_timesteps, "trained_betas": self.betas.float().numpy()}


__all__ = ["GaussianDiffusion", "discretized_gaussian_log_likelihood", "make_betas", "normal_kl"]
