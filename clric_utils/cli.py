"""The ``clric`` command: one sub-command per module in ``clric_utils.commands``.

Every expected failure (bad input, missing weights, corrupted file) is a ``ClricError``; it is
printed as one line on stderr with exit code 2, never as a traceback; so is running out of
memory anywhere (torch's, numpy's or PIL's allocation failures). Warnings are printed as
one line each (``clric encode: warning: …``), and Ctrl-C at any moment — even while torch is
still being imported — ends with one line and exit code 130.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
import warnings
from collections.abc import Iterator

from .errors import ClricError
from .memory_budget import is_allocation_failure, out_of_memory

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


@contextlib.contextmanager
def one_line_warnings(prefix: str) -> Iterator[None]:
    """Print each warning as ``PREFIX: warning: message`` on one line (no file, no source)."""

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        text = " ".join(str(message).split())
        print(f"{prefix}: warning: {text}", file=file or sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def main(argv: list[str] | None = None) -> int:
    """Run ``clric`` with ``argv``; return the process exit code."""
    name = "clric"
    try:
        args = build_parser().parse_args(argv)  # imports torch: Ctrl-C may come here too
        name = f"clric {args.command}"
        with one_line_warnings(name):
            return int(args.run(args) or 0)
    except ClricError as error:
        print(f"{name}: error: {error}", file=sys.stderr)
        return 2
    except (MemoryError, RuntimeError) as error:
        if not is_allocation_failure(error):
            raise
        print(f"{name}: error: {out_of_memory(name, error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `clric info … | head`: the reader left, nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def run() -> None:
    """Entry point of the ``clric`` script and of ``python -m clric_utils.cli``."""
    code = main()
    if code == 130:
        # CPython 3.11 remembers a KeyboardInterrupt that left an exec() of a string (dataclasses
        # runs one per class while torch imports) even after main caught it, and then ends
        # `python -m` by re-raising SIGINT instead of exiting with 130. Leave now, output flushed.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    run()
