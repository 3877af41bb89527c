"""vsrzoo: a PyTorch Lightning model zoo for diffusion video super-resolution.

Public API::

    import vsrzoo
    vsrzoo.list_models()
    model = vsrzoo.create_model("bicubic", variant="tiny")
    vsrzoo.evaluate(...)   # benchmark harness (vsrzoo.bench)
    vsrzoo.upscale(...)    # streaming, tiled inference (vsrzoo.inference)
"""

from __future__ import annotations

from vsrzoo.registry import count_parameters, create_model, list_models, register_method

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "count_parameters",
    "create_model",
    "evaluate",
    "list_models",
    "register_method",
    "upscale",
]


def __getattr__(name: str):
    # Heavy sub-packages are imported on first use so `vsrzoo --help` stays fast.
    if name == "evaluate":
        from vsrzoo.bench import evaluate

        return evaluate
    if name == "upscale":
        from vsrzoo.inference import upscale

        return upscale
    raise AttributeError(f"module 'vsrzoo' has no attribute {name!r}")
