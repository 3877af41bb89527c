"""The ``vsrzoo`` command: fit, bench, upscale, models, data.

Error contract: a user error prints one line ``vsrzoo: error: ...`` to stderr and exits 2,
without a traceback (``--debug`` shows it). Each subcommand is a module of this package
(:mod:`vsrzoo.cli.fit`, ...) that exposes ``add_arguments(parser)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from vsrzoo.errors import UserError

# subcommand -> (module with add_arguments/run, one-line help)
COMMANDS = {
    "fit": ("vsrzoo.cli.fit", "train a method from a YAML recipe"),
    "models": ("vsrzoo.cli.models", "list registered methods, variants and parameter counts"),
    "bench": ("vsrzoo.cli.bench", "benchmark methods on a dataset (PSNR/SSIM, LPIPS, warping error, cost)"),
    "data": ("vsrzoo.cli.data", "prepare and verify datasets"),
    "upscale": ("vsrzoo.cli.upscale", "upscale a video file or frame folder"),
}


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors follow the one-line error contract."""

    def error(self, message: str):
        sys.stderr.write(f"vsrzoo: error: {message} (see `{self.prog} --help`)\n")
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="vsrzoo",
        description="vsrzoo: a model zoo for diffusion video super-resolution (train, benchmark, upscale).",
        epilog="Run `vsrzoo COMMAND --help` for the options of each command.",
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    parser.add_argument("--version", action="version", version=_version())
    subs = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name, (module, help_text) in COMMANDS.items():
        sub = subs.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".")
        sub.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help="show full tracebacks"
        )
        mod = importlib.import_module(module)
        mod.add_arguments(sub)
        sub.set_defaults(_run=mod.run)
    return parser


def _version() -> str:
    from vsrzoo import __version__

    return f"vsrzoo {__version__}"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        return int(args._run(args) or 0)
    except UserError as exc:
        if args.debug:
            raise
        sys.stderr.write(f"vsrzoo: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("vsrzoo: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
