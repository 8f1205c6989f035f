"""``simulator docs``: (re)write docs/scenario-reference.md from the schema, or check it is current.

May import: every layer below :mod:`simulator.cli`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["register"]


def register(sub) -> dict:
    """Add ``simulator docs`` to the command line; returns its handler."""
    p = sub.add_parser("docs", help="write docs/scenario-reference.md from the schema (--check: verify it)")
    p.add_argument("--check", action="store_true",
                   help="exit 1 if the file is missing or out of date instead of writing it")
    # Default: simulator.report.docs.DEFAULT_OUTPUT, read when the command runs (importing the
    # reference's module here would slow the start of every command).
    p.add_argument("--output", type=Path,
                   help="file to write or check (default: docs/scenario-reference.md)")
    return {"docs": _cmd_docs}


def _cmd_docs(args: argparse.Namespace) -> int:
    from simulator.report.docs import DEFAULT_OUTPUT, reference_state, write_reference

    if args.output is None:
        args.output = DEFAULT_OUTPUT

    if not args.check:
        from simulator.cli.options import output_path

        output_path(args.output, option="--output")
    if args.check:
        state = reference_state(args.output)
        if state != "current":
            print(f"{args.output}: {state}; run `simulator docs` to regenerate it", file=sys.stderr)
            return 1
        return 0
    print(write_reference(args.output))
    return 0
