"""Per-clip result files: written atomically as soon as a clip is done, read back on resume.

Layout under the output folder: ``clips/<entry>/<clip>.json`` (scores, per-frame rows, cost,
the fingerprint of what produced it, :mod:`vsrzoo.bench.fingerprint`) and ``clips/<entry>/<clip>.profile.png`` (temporal profile), with the GT
profiles in ``clips/_gt/``. A file is only ever replaced whole (write to a temporary sibling,
fsync, rename), so a run killed at any moment leaves complete files or none, and a rerun with
the same settings skips the clips whose file is complete.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

import numpy as np

from vsrzoo.data.io import read_image, write_image

__all__ = ["GT_LABEL", "ClipStore", "atomic_write_bytes", "atomic_write_text", "safe_name"]

GT_LABEL = "_gt"  # entry name under which the GT temporal profiles are stored


def safe_name(label: str) -> str:
    """A file-system-safe version of an entry label or clip name."""
    return re.sub(r"[^A-Za-z0-9._+-]", "_", label)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


class ClipStore:
    """Clip results of a run, on disk under ``root`` (or only in memory when ``root`` is None)."""

    def __init__(self, root: Path | None):
        self.root = Path(root) if root is not None else None
        self._memory: dict[tuple[str, str], dict] = {}
        self._profiles: dict[tuple[str, str], np.ndarray] = {}

    def _json(self, label: str, clip: str) -> Path:
        return self.root / "clips" / safe_name(label) / f"{safe_name(clip)}.json"

    def profile_path(self, label: str, clip: str) -> Path | None:
        if self.root is None:
            return None
        return self.root / "clips" / safe_name(label) / f"{safe_name(clip)}.profile.png"

    def load(self, label: str, clip: str) -> dict | None:
        """The stored result, or None when absent or unreadable (e.g. truncated by a crash)."""
        if self.root is None:
            return self._memory.get((label, clip))
        path = self._json(label, clip)
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) and "status" in data else None

    def save(self, label: str, clip: str, result: dict, profile: np.ndarray | None = None) -> None:
        """Store a finished clip; the profile image goes first so a result never lacks it."""
        if profile is not None:
            self.save_profile(label, clip, profile)
        if self.root is None:
            self._memory[(label, clip)] = result
            return
        atomic_write_text(self._json(label, clip), json.dumps(result, indent=1))

    def save_profile(self, label: str, clip: str, profile: np.ndarray) -> None:
        if self.root is None:
            self._profiles[(label, clip)] = profile
        else:
            _write_png_atomic(self.profile_path(label, clip), profile)

    def load_profile(self, label: str, clip: str) -> np.ndarray | None:
        if self.root is None:
            return self._profiles.get((label, clip))
        path = self.profile_path(label, clip)
        return read_image(path) if path.is_file() else None


def _write_png_atomic(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        write_image(tmp, image)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
