"""vsrzoo: a PyTorch Lightning model zoo for diffusion video super-resolution.

Public API::

    import vsrzoo
    vsrzoo.list_models()
    model = vsrzoo.create_model("bicubic", variant="tiny")
    model = vsrzoo.from_pretrained("org/name")   # a checkpoint folder or Hugging Face Hub id
    vsrzoo.evaluate(...)   # benchmark harness (vsrzoo.bench)
    vsrzoo.upscale(...)    # streaming, tiled inference (vsrzoo.inference)
"""

from __future__ import annotations

import logging

from vsrzoo.registry import count_parameters, register_method

# bitsandbytes (a dependency of pyiqa, imported by diffusers when installed) logs a warning on every
# import on CPUs with AVX512-BF16 about an optional kernel package; vsrzoo never quantises.
logging.getLogger("bitsandbytes").setLevel(logging.ERROR)

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "count_parameters",
    "create_model",
    "evaluate",
    "from_pretrained",
    "list_models",
    "register_method",
    "upscale",
]


# Heavy parts are imported on first use so `import vsrzoo` and `vsrzoo --help` stay fast.
_LAZY = {
    "create_model": "vsrzoo.factory",
    "list_models": "vsrzoo.factory",
    "from_pretrained": "vsrzoo.factory",
    "evaluate": "vsrzoo.bench",
    "upscale": "vsrzoo.inference.api",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vsrzoo' has no attribute {name!r}")
