"""Lightning strategies vsrzoo registers under names, so a recipe's ``trainer.strategy`` (a string) can pick them.

Why: recipes pass ``trainer`` to :class:`lightning.Trainer`, where a strategy is a registered
name or an object; DDP options such as ``gradient_as_bucket_view`` need an object. Registering
named variants in Lightning's own ``StrategyRegistry`` (as Lightning does for
``ddp_find_unused_parameters_true``) keeps recipes plain YAML.

- ``ddp_bucket_view``: DDP with ``gradient_as_bucket_view=True``: gradients are views into DDP's
  communication buckets instead of a second fp32 copy of every trainable parameter (issue 28:
  3.34 GiB per GPU for LiftVSR on a 24 GB card).
"""

from __future__ import annotations

from lightning.pytorch.strategies import DDPStrategy, StrategyRegistry

BUCKET_VIEW = "ddp_bucket_view"

if BUCKET_VIEW not in StrategyRegistry:
    StrategyRegistry.register(
        BUCKET_VIEW,
        DDPStrategy,
        description="DDP whose gradients are views into its communication buckets (no second fp32 copy)",
        gradient_as_bucket_view=True,
    )


def gradients_in_buckets(strategy: object) -> bool:
    """Whether the named strategy keeps gradients inside DDP's buckets (no separate bucket memory)."""
    if isinstance(strategy, DDPStrategy):
        return bool(strategy._ddp_kwargs.get("gradient_as_bucket_view"))
    entry = StrategyRegistry[str(strategy)] if str(strategy) in StrategyRegistry else None
    return bool(entry and entry["init_params"].get("gradient_as_bucket_view"))
