"""Benchmark harness: ``vsrzoo.evaluate(...)`` / ``vsrzoo bench``.

Runs methods (or scores folders of outputs) on a dataset under a named protocol and reports
per-frame, per-clip and per-dataset scores, cost, plots and temporal profiles.
"""

from vsrzoo.bench.harness import BenchResult, Entry, evaluate
from vsrzoo.bench.protocol import DEFAULT_METRICS, METRICS, PROTOCOLS, Protocol, get_protocol

__all__ = [
    "DEFAULT_METRICS",
    "METRICS",
    "PROTOCOLS",
    "BenchResult",
    "Entry",
    "Protocol",
    "evaluate",
    "get_protocol",
]
