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
"""

from __future__ import annotations

import hashlib
from typing import Any

from vsrzoo.data.degradations.base import Degradation, as_clip, mod_crop
from vsrzoo.data.degradations.classic import BD, BI, BicubicUp
from vsrzoo.data.degradations.model_guided import ModelGuided
from vsrzoo.data.degradations.realbasicvsr import RealBasicVSR
from vsrzoo.data.degradations.simplegvr import SimpleGVRFlow
from vsrzoo.errors import unknown
from vsrzoo.registry import check_kwargs

DEGRADATIONS: dict[str, type[Degradation]] = {
    cls.name: cls for cls in (BI, BicubicUp, BD, RealBasicVSR, SimpleGVRFlow, ModelGuided)
}

__all__ = [
    "BD",
    "BI",
    "DEGRADATIONS",
    "BicubicUp",
    "Degradation",
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
