"""LiteVSR (arXiv 2606.09250) cost, measured side by side in one run on the tiny variant.

1. One velocity evaluation: the frozen DiT alone (the prior) vs LiteVSR's two-branch pass (the
   adapter's condition tokens travel through the same frozen blocks as a second batch element).
   The paper says a step costs about two backbone passes.
2. Sampling with 1, 2 and 4 Euler steps: cost grows linearly with the step count.
3. Whole-frame vs tiled velocity (``latent_tile``) on a larger frame: attention cost bounded.

Timings are the best of ``--repeats`` runs after a warm-up, contenders interleaved so load from
other processes hits all of them; wall and process CPU time are both reported. Prints ratios and
writes results/litevsr.json.

    python benchmarks/litevsr.py [--repeats 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

import vsrzoo


def best_times(fns: dict, repeats: int) -> dict[str, dict[str, float]]:
    """Best wall and process-CPU seconds of each callable, interleaving them run by run."""
    for fn in fns.values():
        fn()
    best = {name: {"wall": float("inf"), "cpu": float("inf")} for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            wall, cpu = time.perf_counter(), time.process_time()
            fn()
            best[name]["wall"] = min(best[name]["wall"], time.perf_counter() - wall)
            best[name]["cpu"] = min(best[name]["cpu"], time.process_time() - cpu)
    return best


def ratio(times: dict, num: str, den: str) -> dict[str, float]:
    return {k: times[num][k] / times[den][k] for k in ("wall", "cpu")}


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default="results/litevsr.json")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = vsrzoo.create_model("litevsr", variant="tiny", latent_tile=None).eval()
    lr = torch.rand(1, 2, 3, 48, 48)
    lr_latent = model.encode_lr(lr)
    z, t = torch.randn_like(lr_latent), torch.ones(1)

    passes = best_times(
        {
            "prior": lambda: model.net.prior(z, t),
            "litevsr": lambda: model.net(z, t, lr_latent, lr_latent),
        },
        args.repeats,
    )
    steps = best_times(
        {f"{n}_steps": (lambda n=n: model(lr, num_inference_steps=n)) for n in (1, 2, 4)}, args.repeats
    )

    big = torch.rand(1, 2, 3, 96, 128)
    tiled_model = vsrzoo.create_model("litevsr", variant="tiny", latent_tile=32).eval()
    tiled_model.load_state_dict(model.state_dict())
    tiles = best_times(
        {"whole": lambda: model(big), "tiled": lambda: tiled_model(big)}, max(1, args.repeats // 2)
    )

    result = {
        "machine": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "passes": passes,
        "two_branch_over_prior": ratio(passes, "litevsr", "prior"),
        "steps": steps,
        "4_over_1_steps": ratio(steps, "4_steps", "1_steps"),
        "tiles": tiles,
        "whole_over_tiled": ratio(tiles, "whole", "tiled"),
    }
    print(
        f"two-branch pass / prior pass: {result['two_branch_over_prior']['cpu']:.2f}x CPU time (paper: about 2)"
    )
    print(f"4 Euler steps / 1 step: {result['4_over_1_steps']['cpu']:.2f}x CPU time")
    print(
        f"whole frame / tiled (LR 96x128, tile 32 latent px): {result['whole_over_tiled']['cpu']:.2f}x CPU time"
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
