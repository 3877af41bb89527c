"""CI: what `pip install .` gives a newcomer is lean and says what the iqa extra is for.

Run in a fresh virtual environment right after `pip install .` (see .ci/run).
"""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

MAX_PACKAGES = 90  # the runtime closure is 88 packages, 19 of them CUDA wheels that torch brings
FORBIDDEN = {"pytest", "ruff", "pre-commit", "transformers", "bitsandbytes", "opencv-python", "pyiqa"}


def main() -> int:
    names = sorted({d.metadata["Name"].lower() for d in metadata.distributions()} - {"pip"})
    print(f"base install: {len(names)} packages besides pip")
    problems = (
        [f"{len(names)} packages installed, more than {MAX_PACKAGES}"] if len(names) > MAX_PACKAGES else []
    )
    problems += [f"{name} is installed by the base install" for name in sorted(FORBIDDEN & set(names))]
    proc = subprocess.run(
        [
            str(Path(sys.executable).with_name("vsrzoo")),
            "bench",
            "--dataset",
            "sample",
            "--method",
            "bicubic",
            "--metrics",
            "niqe",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
    )
    want = 'vsrzoo: error: niqe is computed with pyiqa, which the base install leaves out; install it with: pip install "vsrzoo[iqa]"\n'
    if proc.returncode != 2 or proc.stderr != want or proc.stdout:
        problems.append(f"niqe without the iqa extra: exit {proc.returncode}, stderr {proc.stderr!r}")
    for problem in problems:
        print(f"check_base_install: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
