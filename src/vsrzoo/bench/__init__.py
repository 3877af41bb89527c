"""Benchmark harness: ``vsrzoo.evaluate(...)`` / ``vsrzoo bench``.

Runs methods (or scores folders of outputs) on a dataset under a named protocol and reports
per-frame, per-clip and per-dataset scores, cost, plots and temporal profiles.
"""

import lazy_loader

# the harness imports every method: loaded on first use, so the protocol stays light to import
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "harness": ["BenchResult", "Entry", "evaluate"],
        "protocol": ["DEFAULT_METRICS", "METRICS", "PROTOCOLS", "Protocol", "get_protocol"],
    },
)
