"""vsrzoo: a PyTorch Lightning model zoo for diffusion video super-resolution.

Public API::

    import vsrzoo
    vsrzoo.list_models()
    model = vsrzoo.create_model("bicubic", variant="tiny")
    model = vsrzoo.from_pretrained("org/name")   # a checkpoint folder or Hugging Face Hub id
    vsrzoo.evaluate(...)   # benchmark harness (vsrzoo.bench)
    vsrzoo.upscale(...)    # streaming, tiled inference (vsrzoo.upscaling over vsrzoo.inference)
"""

from __future__ import annotations

import lazy_loader

from vsrzoo import quiet

quiet.install()  # bitsandbytes, when installed, imports without contacting the Hub or logging

__version__ = "0.1.0"

# Everything is imported on first use (lazy_loader), so `import vsrzoo` and `vsrzoo --help` load
# no torch.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "registry": ["count_parameters", "register_method"],
        "factory": ["create_model", "from_pretrained", "list_models"],
        "bench": ["evaluate"],
        "upscaling.api": ["upscale"],
    },
)
__all__ += ["__version__"]
