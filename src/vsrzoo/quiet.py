"""Keep third-party imports silent and offline.

diffusers imports bitsandbytes whenever it is installed (``diffusers.quantizers``, at import
time), and bitsandbytes, on CPUs with AVX512-BF16, calls ``kernels.get_kernel`` while it imports:
online that contacts the Hugging Face Hub to check a kernel's publisher and download it; offline
``kernels`` logs "Skipping publisher trust check ..."; without ``kernels`` bitsandbytes logs
"Failed to load CPU gemm_4bit_forward ...". vsrzoo never quantises, and importing a VSR package
must neither reach the network nor print.

:func:`install` (run by ``import vsrzoo``) adds an import hook that runs bitsandbytes' own
import with ``kernels`` unimportable, so bitsandbytes takes the fallback it already has for a
missing ``kernels`` package, and drops that fallback's one warning. Nothing else changes:
``kernels`` imports normally before and after, for transformers or the user, and bitsandbytes
works (its CPU 4-bit GEMV then uses its own kernel instead of the Hub's).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import logging
import sys

__all__ = ["install"]

_HUB_KERNEL_WARNING = "Failed to load CPU gemm_4bit_forward from kernels-community"
_MISSING = object()


class _DropHubKernelWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_HUB_KERNEL_WARNING)


class _WithoutKernels(importlib.abc.Loader):
    """Runs the wrapped loader with ``kernels`` unimportable (``sys.modules['kernels'] = None``)."""

    def __init__(self, inner: importlib.abc.Loader):
        self.inner = inner

    def create_module(self, spec):
        return self.inner.create_module(spec)

    def exec_module(self, module) -> None:
        saved = sys.modules.get("kernels", _MISSING)
        sys.modules["kernels"] = None
        try:
            self.inner.exec_module(module)
        finally:
            if saved is _MISSING:
                sys.modules.pop("kernels", None)
            else:
                sys.modules["kernels"] = saved

    def __getattr__(self, name: str):  # resource readers, get_source, ... of the real loader
        return getattr(self.inner, name)


class _BitsandbytesOffline(importlib.abc.MetaPathFinder):
    """Finds bitsandbytes as usual, but loads it with :class:`_WithoutKernels`."""

    def find_spec(self, name, path=None, target=None):
        if name != "bitsandbytes":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _WithoutKernels(spec.loader)
        return spec


def install() -> None:
    """Add the hook (once) and the log filter; a no-op when bitsandbytes is already imported."""
    if any(isinstance(f, _BitsandbytesOffline) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _BitsandbytesOffline())
    logging.getLogger("bitsandbytes.backends.cpu.ops").addFilter(_DropHubKernelWarning())
