"""Degradations: GT video clip -> LR video clip, deterministic for a given seed.

A degradation maps uint8 RGB frames ``(T, H, W, 3)`` to uint8 RGB frames
``(T, H // s, W // s, 3)`` (``bicubic_up`` goes the other way). GT is first cropped to a
multiple of the scale, as MATLAB-era scripts and BasicSR's ``mod_crop`` do. Random
parameters are drawn once per call (per clip) from ``numpy.random.default_rng(seed)``, so the
same seed gives the same LR bytes on any machine and in any DataLoader worker.

Registered names (``get_degradation(name, **kwargs)``):

- ``bi``: MATLAB ``imresize(GT, 1/s, 'bicubic')``, the community's BI set.
- ``bicubic_up``: MATLAB ``imresize(LR, s, 'bicubic')`` (the bicubic baseline).
- ``bd``: 12x12 Gaussian (sigma 1.6) + subsampling at offset 1, the BD set.
- ``realbasicvsr``: second-order real-world pipeline of RealBasicVSR (arXiv 2111.12704).
- ``simplegvr_flow``: SimpleGVR's flow-based artifacts (arXiv 2506.19838).
- ``simplegvr_model``: SimpleGVR's model-guided (SDEdit) artifacts from a diffusers video DiT.
- ``mixture``: per clip, one of several degradations drawn with given probabilities.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from vsrzoo.data.degradations.base import Degradation, as_clip, mod_crop
from vsrzoo.data.degradations.classic import BD, BI, BicubicUp
from vsrzoo.data.degradations.model_guided import ModelGuided
from vsrzoo.data.degradations.realbasicvsr import RealBasicVSR
from vsrzoo.data.degradations.simplegvr import SimpleGVRFlow
from vsrzoo.errors import UserError, unknown
from vsrzoo.registry import check_kwargs


class Mixture(Degradation):
    """Per clip, one of ``components`` (``[{"name": ..., "kwargs": {...}}, ...]``) drawn with ``probs``.

    SimpleGVR (arXiv 2506.19838 v3) trains its second stage on pairs "made with the proposed
    degradations" (``simplegvr_flow`` and ``simplegvr_model``). reconstruction: the share of each
    is not published; every clip draws one component (default: equal probabilities), seeded from
    the clip's seed like every degradation.
    """

    name = "mixture"
    folder_prefix = "MIX"
    temporal = True

    def __init__(
        self,
        scale: int = 4,
        components: list[dict[str, Any]] | None = None,
        probs: list[float] | None = None,
    ):
        super().__init__(scale)
        if not components:
            raise UserError(
                "degradation 'mixture' needs components=[{name: ..., kwargs: {...}}, ...], "
                "e.g. simplegvr_flow and simplegvr_model"
            )
        self.components = [dict(c) for c in components]
        for c in self.components:
            if "name" not in c or set(c) - {"name", "kwargs"}:
                raise UserError(
                    f"degradation 'mixture': each component needs 'name' (and optional 'kwargs'), got {c}"
                )
        self._parts = [
            get_degradation(c["name"], scale=scale, **dict(c.get("kwargs") or {})) for c in self.components
        ]
        probs = [1.0] * len(self._parts) if probs is None else [float(p) for p in probs]
        if len(probs) != len(self._parts) or min(probs) < 0 or sum(probs) <= 0:
            raise UserError(
                f"degradation 'mixture': probs must be {len(self._parts)} non-negative weights, got {probs}"
            )
        self.probs = [p / sum(probs) for p in probs]

    def apply(self, clip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        part = self._parts[int(rng.choice(len(self._parts), p=self.probs))]
        return part(clip, seed=int(rng.integers(2**62)))


DEGRADATIONS: dict[str, type[Degradation]] = {
    cls.name: cls for cls in (BI, BicubicUp, BD, RealBasicVSR, SimpleGVRFlow, ModelGuided, Mixture)
}

__all__ = [
    "BD",
    "BI",
    "DEGRADATIONS",
    "BicubicUp",
    "Degradation",
    "Mixture",
    "ModelGuided",
    "RealBasicVSR",
    "SimpleGVRFlow",
    "as_clip",
    "clip_seed",
    "get_degradation",
    "list_degradations",
    "mod_crop",
]


def list_degradations() -> list[str]:
    """Registered degradation names, sorted."""
    return sorted(DEGRADATIONS)


def get_degradation(name: str, **kwargs: Any) -> Degradation:
    """Build degradation ``name``; unknown names and options are user errors listing valid ones."""
    if name not in DEGRADATIONS:
        raise unknown("degradation", name, DEGRADATIONS)
    cls = DEGRADATIONS[name]
    check_kwargs(cls, kwargs, f"degradation '{name}'")
    return cls(**kwargs)


def clip_seed(seed: int, *keys: object) -> int:
    """A stable 63-bit seed for ``(seed, *keys)`` (Python's ``hash`` is salted per process)."""
    text = "/".join(str(k) for k in (seed, *keys))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1
