"""``simulator report``: figures, report.md and report.html from any results file.

May import: every layer below :mod:`simulator.cli`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from simulator.cli.options import open_results_argument, output_path

__all__ = ["register"]


def register(sub) -> dict:
    """Add ``simulator report`` to the command line; returns its handler."""
    p = sub.add_parser("report", help="write figures, report.md and report.html from a results file")
    p.add_argument("results", type=Path, help="a results .nc file (run, sweep, sensitivity or batch)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    return {"report": _cmd_report}


def _cmd_report(args: argparse.Namespace) -> int:
    from simulator.report.writer import write_report

    output_path(args.out, folder=True)
    ds = open_results_argument(args.results, expected="a results .nc file (run, sweep, sensitivity, attribution "
                               "or batch summary)", problem=_kind_problem)
    print(f"report: {write_report(ds, args.out)}")
    return 0


def _kind_problem(ds) -> str | None:
    from simulator.errors import ReportError
    from simulator.report.kinds import result_kind

    try:
        result_kind(ds)
    except ReportError:
        return "holds none of the variables of a run, sweep, sensitivity, attribution or batch result"
    return None
