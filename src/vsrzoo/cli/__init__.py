"""The ``vsrzoo`` command: fit, bench, upscale, models, data.

Error contract: a user error prints one line ``vsrzoo: error: ...`` to stderr and exits 2,
without a traceback (``--debug`` shows it). Each subcommand is a module of this package
(:mod:`vsrzoo.cli.fit`, ...) that exposes ``add_arguments(parser)`` and ``run(args) -> int``.

Start-up: only the module of the subcommand named on the command line is imported, and those
modules import torch and the methods inside ``run``, so ``vsrzoo --help`` and ``vsrzoo CMD
--help`` load no torch (``benchmarks/cli_startup.py`` times them against ``import torch``).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import warnings

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

    def format_help(self) -> str:
        # A help text may be a function (e.g. one that lists registered names): called only when
        # this parser's help is printed, so building the parser imports nothing heavy.
        for action in self._actions:
            if callable(action.help):
                action.help = action.help()
        return super().format_help()

    def error(self, message: str):
        sys.stderr.write(f"vsrzoo: error: {message} (see `{self.prog} --help`)\n")
        sys.exit(2)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; of the subcommands, only the one named in ``argv`` (None: every one) gets its
    arguments, so only its module is imported."""
    wanted = set(COMMANDS) if argv is None else _named_command(argv)
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
        if name in wanted:
            mod = importlib.import_module(module)
            mod.add_arguments(sub)
            sub.set_defaults(_run=mod.run)
    return parser


def _named_command(argv: list[str]) -> set[str]:
    """The subcommand argparse will dispatch to: the first argument that is not an option."""
    for arg in argv:
        if not arg.startswith("-"):
            return {arg} & set(COMMANDS)
    return set()


# Libraries whose info lines (devices found, tips, "`Trainer.fit` stopped") are not vsrzoo's.
THIRD_PARTY_LOGGERS = ("lightning.pytorch", "lightning.fabric", "pytorch_lightning", "lightning_fabric")


def _configure_output(debug: bool) -> None:
    """vsrzoo's log lines go to stderr as plain text; other libraries print only their errors.

    A third-party line in a vsrzoo command is a vsrzoo bug (an info line, a deprecation warning
    about an internal call): without ``--debug``, warnings raised outside vsrzoo and non-vsrzoo
    log records below ERROR are not shown.
    """
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("vsrzoo").setLevel(logging.INFO)
    if debug:
        return
    for handler in logging.getLogger().handlers:
        if _vsrzoo_or_error not in handler.filters:
            handler.addFilter(_vsrzoo_or_error)
    quiet_libraries()
    warnings.filterwarnings("ignore", module=r"(?!vsrzoo(\.|$))")


def quiet_libraries() -> None:
    """Only errors from :data:`THIRD_PARTY_LOGGERS`. Lightning sets its loggers to INFO when it is
    imported, so a command calls this again after importing it."""
    for name in THIRD_PARTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


def _vsrzoo_or_error(record: logging.LogRecord) -> bool:
    return record.name == "vsrzoo" or record.name.startswith("vsrzoo.") or record.levelno >= logging.ERROR


def _version() -> str:
    from vsrzoo import __version__

    return f"vsrzoo {__version__}"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    _configure_output(args.debug)
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
