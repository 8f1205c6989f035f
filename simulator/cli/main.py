"""Command line: ``simulator run|validate|report|export|calibrate|implied|compare|batch|sweep|sensitivity|attribute|docs``.

Every user error ends in one line on stderr naming the file, the dotted key,
the value and the allowed range, and exit code 2; never a traceback.  Each
command is one module of this package with ``register(subparsers) -> {name:
handler}``; handlers import what they use when they run, so the command line
starts fast.

May import: every layer below :mod:`simulator.cli`.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence

from simulator.cli import (
    attribute,
    batch,
    calibrate,
    compare,
    docs,
    export,
    implied,
    report,
    run,
    sensitivity,
    sweep,
    validate,
)
from simulator.cli.options import EXIT_INTERRUPTED, EXIT_USAGE, Parser
from simulator.errors import UserError

__all__ = ["build_parser", "main"]

#: The commands, in the order ``simulator --help`` lists them.
COMMANDS = (run, validate, report, export, calibrate, implied, compare, batch, sweep, sensitivity, attribute, docs)


def build_parser() -> tuple[Parser, dict]:
    """The argument parser of the ``simulator`` command and its handlers by command name."""
    parser = Parser(prog="simulator", description="Monte Carlo scenario simulator for the valuation "
                    "of AI companies. See README.md and docs/scenario-reference.md.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    handlers: dict = {}
    for command in COMMANDS:
        handlers.update(command.register(sub))
    return parser, handlers


#: Options whose value is a range ``LO:HI`` that may start with a minus sign (``--range -1:2``).
RANGE_OPTIONS = ("--range",)
_NEGATIVE_RANGE = re.compile(r"^-[0-9.][0-9.eE+-]*:[0-9.eE+-]+$")


def _join_negative_ranges(argv: Sequence[str]) -> list[str]:
    """``--range -1:2`` as ``--range=-1:2``: argparse would take a value starting with "-" for an option."""
    out: list[str] = []
    for arg in argv:
        if out and out[-1] in RANGE_OPTIONS and _NEGATIVE_RANGE.match(arg):
            out[-1] = f"{out[-1]}={arg}"
        else:
            out.append(arg)
    return out


#: The commands that may use dask (a cluster); the others never do.
DASK_COMMANDS = ("batch",)
#: The commands that run the kernels (given a scenario file); ``sensitivity`` of a results file does not.
KERNEL_COMMANDS = ("run", "sweep", "sensitivity", "calibrate", "implied", "attribute")


def _lighten_start(args) -> None:
    """Keep a command from importing libraries it never uses (about 1 s of a 2 s run).

    - With dask installed, xarray imports ``dask.array`` when it makes its first
      variable and ``dask.distributed`` when it writes a NetCDF file, for arrays that
      are never dask's: dask is hidden from the commands that never use it.
    - numba checks for scipy's BLAS the first time it loads compiled code, which
      imports ``scipy.linalg`` (0.3 s); the kernels do no linear algebra, so scipy's
      BLAS is hidden while they load, and nothing else sees the difference.

    Only in the console script's own process (``main()`` without arguments), which
    ends with the command: a Python session calling :func:`main` keeps both.
    """
    if args.command not in DASK_COMMANDS and "dask" not in sys.modules:
        sys.modules["dask"] = None  # import dask -> ImportError: xarray takes dask as absent
    target = getattr(args, "scenario", None) or getattr(args, "results", None)
    if (args.command in KERNEL_COMMANDS and getattr(args, "engine", "numba") == "numba"
            and str(target).endswith(".toml") and "simulator.engines.kernels" not in sys.modules
            and "scipy.linalg" not in sys.modules):
        from simulator.engines.dispatch import import_kernels

        sys.modules["scipy.linalg.cython_blas"] = None  # numba: no BLAS (none needed)
        try:
            import_kernels()
        finally:
            del sys.modules["scipy.linalg.cython_blas"]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``simulator`` console script; returns the exit code."""
    try:
        parser, handlers = build_parser()
        args = parser.parse_args(_join_negative_ranges(sys.argv[1:] if argv is None else argv))
        if argv is None:
            _lighten_start(args)
        if getattr(args, "quiet", False) or getattr(args, "engine", "numba") != "numba":
            return handlers[args.command](args)
        from simulator.engines.dispatch import compile_notice

        # A first run compiles the kernels for a while: say so, rather than seem to hang.
        with compile_notice(lambda message: print(f"simulator: {message}", file=sys.stderr, flush=True)):
            return handlers[args.command](args)
    except UserError as exc:
        for line in str(exc).splitlines() or [""]:  # every error of a file at once, one line each
            print(f"simulator: error: {line}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("simulator: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as exc:
        print(f"simulator: error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
