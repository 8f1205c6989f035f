"""``simulator report``: figures, report.md and report.html from any results file.

May import: every layer below :mod:`simulator.cli`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from simulator.errors import UsageError

__all__ = ["register"]


def register(sub) -> dict:
    """Add ``simulator report`` to the command line; returns its handler."""
    p = sub.add_parser("report", help="write figures, report.md and report.html from a results file")
    p.add_argument("results", type=Path, help="a results .nc file (run, sweep, sensitivity or batch)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    return {"report": _cmd_report}


def _cmd_report(args: argparse.Namespace) -> int:
    from simulator.results.io import open_results

    if not args.results.exists():
        raise UsageError(f"{args.results}: no such file")
    from simulator.report.writer import write_report

    ds = open_results(args.results)
    print(f"report: {write_report(ds, args.out)}")
    return 0
