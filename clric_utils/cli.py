"""The ``clric`` command: one sub-command per module in ``clric_utils.commands``.

Every expected failure (bad input, missing weights, corrupted file) is a ``ClricError``; it is
printed as one line on stderr with exit code 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .errors import ClricError

#: Sub-command name → module in ``clric_utils.commands`` defining ``add_arguments`` and ``run``.
COMMANDS = {
    "encode": "encode",
    "decode": "decode",
    "info": "info",
    "macs": "macs",
    "eval": "evaluate",
    "plot": "plot",
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="clric", description="CLRIC: an overfitted latent image codec (arXiv 2502.14937)."
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(f".commands.{module_name}", __package__)
        sub = subparsers.add_parser(name, help=module.__doc__.splitlines()[0])
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``clric`` with ``argv``; return the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except ClricError as error:
        print(f"clric {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"clric {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
