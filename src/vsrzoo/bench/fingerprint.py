"""What produced a stored clip result, so that resume reuses only results that are still true.

A clip result is keyed on five parts, each hashed separately so a mismatch can say what changed:

- ``inputs``: name, size and modification time (ns) of every file read for the clip: GT and LR
  frames or the LQ video, and for ``--outputs`` entries the output frames;
- ``weights``: SHA-256 of the checkpoint's content (every file of a checkpoint folder);
- ``method``: method name, variant and configuration;
- ``protocol``: dataset, LR source, scale, protocol, metrics and their networks;
- ``version``: the vsrzoo version.

Sizes and mtimes (not content hashes) for data, because hashing every frame would cost about as
much as a bicubic run; content hashes for weights, because a checkpoint can be rewritten within
one mtime tick.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

__all__ = ["clip_fingerprint", "explain_change", "files_stamp", "weights_digest"]

_DIGESTS: dict[tuple, str] = {}


def _hash(obj) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def files_stamp(paths) -> str:
    """Hash of (name, size, mtime_ns) of each file; a missing file counts as changed."""
    rows = []
    for p in paths:
        try:
            st = Path(p).stat()
            rows.append((str(p), st.st_size, st.st_mtime_ns))
        except OSError:
            rows.append((str(p), None, None))
    return _hash(rows)


def weights_digest(path: Path) -> str | None:
    """SHA-256 of a checkpoint file, or of every file of a checkpoint folder (sorted); None if absent.
    Cached per (path, size, mtime) within a process."""
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    files = [p for p in files if p.is_file()]
    if not files:
        return None
    key = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    if key not in _DIGESTS:
        h = hashlib.sha256()
        for p in files:
            h.update(p.relative_to(path).as_posix().encode() if path.is_dir() else b"")
            with open(p, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
        _DIGESTS[key] = h.hexdigest()
    return _DIGESTS[key]


def clip_fingerprint(inputs: list, entry: dict, protocol: dict, version: str) -> dict[str, str]:
    """The hashed parts of a clip result's fingerprint (see the module docstring)."""
    method = {k: v for k, v in entry.items() if k != "weights"}
    return {
        "inputs": files_stamp(inputs),
        "weights": _hash(entry.get("weights")),
        "method": _hash(method),
        "protocol": _hash(protocol),
        "version": _hash(version),
    }


def explain_change(stored: dict | None, current: dict[str, str]) -> str:
    """Which parts differ, e.g. 'inputs, weights'; 'an unknown part' for results stored without parts."""
    if not isinstance(stored, dict):
        return "what produced it (the stored result has no fingerprint)"
    changed = [k for k in current if stored.get(k) != current[k]]
    names = {
        "inputs": "input files",
        "weights": "weights",
        "method": "method config",
        "protocol": "protocol/metrics",
        "version": "vsrzoo version",
    }
    return ", ".join(names[k] for k in changed) or "nothing"
