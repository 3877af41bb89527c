"""``vsrzoo models``: registered methods, their variants, scales, papers and parameter counts."""

from __future__ import annotations

import argparse

from vsrzoo.tables import markdown_table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", metavar="METHOD", help="methods to show (default: all)")
    parser.add_argument(
        "--params",
        action="store_true",
        help="count total / trainable / frozen parameters of every variant (full size on the meta device)",
    )
    parser.add_argument(
        "--backbones",
        action="store_true",
        help="list the diffusers backbones (PixArt, Wan, SD UNet, VAEs) with their parameter counts instead",
    )


def _fmt(n: int) -> str:
    return f"{n / 1e6:.1f}M" if n >= 1e5 else f"{n / 1e3:.1f}K" if n >= 1e3 else str(n)


def param_rows(name: str) -> list[list[str]]:
    """One row per variant: counts taken on the meta device, so full size costs no memory."""
    from vsrzoo.factory import create_model, get_method_info
    from vsrzoo.registry import VARIANTS, count_parameters

    info = get_method_info(name)
    rows = []
    for variant in VARIANTS:
        if variant not in info.variants:
            continue
        counts = count_parameters(create_model(name, variant=variant, device="meta"))
        share = counts["trainable"] / counts["total"] * 100 if counts["total"] else 0.0
        rows.append(
            [
                name,
                variant,
                _fmt(counts["total"]),
                _fmt(counts["trainable"]),
                _fmt(counts["frozen"]),
                f"{share:.2f}%",
            ]
        )
    return rows


def backbone_rows() -> list[list[str]]:
    """One row per backbone and variant, counted on the meta device."""
    from vsrzoo.backbones import describe

    return [
        [d["backbone"], d["variant"], d["class"], _fmt(d["total"]), _fmt(d["trainable"]), d["summary"]]
        for d in describe()
    ]


def run(args: argparse.Namespace) -> int:
    from vsrzoo.factory import get_method_info, list_models
    from vsrzoo.registry import VARIANTS

    if args.backbones:
        header = ["backbone", "variant", "class", "total", "trainable", "summary"]
        print(markdown_table(header, backbone_rows()))
        return 0
    names = args.names or list_models()
    infos = [get_method_info(n) for n in names]
    if args.params:
        rows = [row for info in infos for row in param_rows(info.name)]
        print(markdown_table(["method", "variant", "total", "trainable", "frozen", "trainable share"], rows))
        return 0
    rows = [
        [
            i.name,
            ",".join(v for v in VARIANTS if v in i.variants),
            ",".join(f"x{s}" for s in i.scales),
            i.paper,
        ]
        for i in infos
    ]
    print(markdown_table(["method", "variants", "scales", "paper"], rows))
    return 0
