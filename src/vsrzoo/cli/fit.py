"""``vsrzoo fit RECIPE [key=value ...]``: train a method from a YAML recipe.

Kept apart from :mod:`vsrzoo.training` so that ``vsrzoo --help`` does not import every
method and its diffusers backbone.
"""

from __future__ import annotations

import argparse

from vsrzoo.recipes import load_recipe, to_yaml


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", help="YAML recipe, e.g. recipes/litevsr-tiny.yaml")
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="key=value",
        help="recipe overrides, e.g. trainer.max_steps=50 model.kwargs.unet.width=0.5 (nested keys merge into "
        "the variant's config; trainer.* takes any lightning.Trainer argument)",
    )
    parser.add_argument("--print-config", action="store_true", help="print the resolved recipe and exit")
    parser.add_argument(
        "--resume",
        metavar="CKPT",
        help="continue from a Lightning checkpoint at its saved step and data position (read weights-only)",
    )
    plan = parser.add_argument_group("planning (no download, no allocation, nothing written)")
    plan.add_argument(
        "--dry-run",
        action="store_true",
        help="print parameters, per-device memory, weights, data and checkpoint size, then exit "
        "(exit 2 with one line per blocker when the plan cannot run)",
    )
    plan.add_argument(
        "--gpu", metavar="NAME", help="device to plan for: 4090, a100, a100-40gb, h800, h100, ..."
    )
    plan.add_argument(
        "--device-memory", metavar="SIZE", help="memory of one device, e.g. 24GB (default: 80GB)"
    )


def run(args: argparse.Namespace) -> int:
    cfg = load_recipe(args.recipe, args.overrides)
    if args.print_config:
        print(to_yaml(cfg), end="")
        return 0
    if args.dry_run:
        return dry_run(cfg, args.gpu, args.device_memory)
    from vsrzoo.training import fit

    if not args.debug:
        from vsrzoo.cli import quiet_libraries

        quiet_libraries()  # again: importing Lightning set its loggers back to INFO
    out = fit(cfg, resume=args.resume)
    print(f"final weights: {out}")
    return 0


def dry_run(cfg, gpu: str | None, memory: str | None) -> int:
    """Print the plan; each blocker is one ``vsrzoo: error:`` line and makes the exit status 2."""
    import sys

    from vsrzoo.planning import make_plan

    plan = make_plan(cfg, gpu=gpu, memory=memory)
    print(plan.report())
    for blocker in plan.blockers:
        sys.stderr.write(f"vsrzoo: error: {blocker}\n")
    return 2 if plan.blockers else 0
