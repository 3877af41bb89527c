"""``vsrzoo fit RECIPE [key=value ...]``: train a method from a YAML recipe.

Kept apart from :mod:`vsrzoo.methods.train` so that ``vsrzoo --help`` does not import every
method and its diffusers backbone.
"""

from __future__ import annotations

import argparse

from vsrzoo.recipes import load_recipe, to_yaml


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", help="YAML recipe, e.g. recipes/litevsr-tiny.yaml")
    parser.add_argument(
        "overrides", nargs="*", metavar="key=value", help="recipe overrides, e.g. trainer.max_steps=50"
    )
    parser.add_argument("--print-config", action="store_true", help="print the resolved recipe and exit")
    parser.add_argument(
        "--resume", metavar="CKPT", help="continue from a Lightning checkpoint at its saved step"
    )


def run(args: argparse.Namespace) -> int:
    cfg = load_recipe(args.recipe, args.overrides)
    if args.print_config:
        print(to_yaml(cfg), end="")
        return 0
    from vsrzoo.methods.train import fit

    out = fit(cfg, resume=args.resume)
    print(f"final weights: {out}")
    return 0
