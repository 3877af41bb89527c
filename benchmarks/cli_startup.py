"""CLI start-up: ``vsrzoo --help`` and ``vsrzoo CMD --help`` against ``python -c "import torch"``.

Each command runs as a fresh process, ``--repeat`` times, interleaved with the reference so that
both see the same machine load; the table prints the median wall time of each and its ratio to
the reference measured in the same run. Goal (issue 24): every ratio <= 1.2 (help loads no
torch, so it is usually far below).

    python benchmarks/cli_startup.py
    python benchmarks/cli_startup.py --repeat 7 --json results/cli_startup.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REFERENCE = ("import torch", [sys.executable, "-c", "import torch"])
COMMANDS = ["", "fit", "bench", "upscale", "models", "data"]
GOAL = 1.2


def wall(cmd: list[str]) -> float:
    """Seconds one run of ``cmd`` takes; a failed run is an error, not a time."""
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def measure(repeat: int) -> dict[str, float]:
    """Median seconds per command, each round running the reference and every command once."""
    cli = [sys.executable, "-m", "vsrzoo.cli"]
    runs = {REFERENCE[0]: REFERENCE[1]}
    runs.update(
        {f"vsrzoo {c} --help".replace("  ", " "): cli + ([c] if c else []) + ["--help"] for c in COMMANDS}
    )
    times: dict[str, list[float]] = {name: [] for name in runs}
    for cmd in runs.values():  # warm the file cache once
        wall(cmd)
    for _ in range(repeat):
        for name, cmd in runs.items():
            times[name].append(wall(cmd))
    return {name: statistics.median(t) for name, t in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per command (default 5; median kept)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    medians = measure(args.repeat)
    ref = medians[REFERENCE[0]]
    print(f"| command | median s | ratio to `{REFERENCE[0]}` |")
    print("|---|---|---|")
    for name, seconds in medians.items():
        print(f"| `{name}` | {seconds:.3f} | {seconds / ref:.2f}x |")
    worst = max(s / ref for n, s in medians.items() if n != REFERENCE[0])
    verdict = "meets" if worst <= GOAL else "misses"
    print(f"worst ratio {worst:.2f}x ({verdict} the goal of <= {GOAL}x)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"seconds": medians, "worst_ratio": worst}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
