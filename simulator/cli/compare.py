"""``simulator compare``: differences of two results files, with intervals (paired when possible).

May import: every layer below :mod:`simulator.cli`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from simulator.cli.options import open_results_argument, output_path

__all__ = ["register"]


def register(sub) -> dict:
    """Add ``simulator compare`` to the command line; returns its handler."""
    p = sub.add_parser("compare", help="differences of two results files, with intervals")
    p.add_argument("a", type=Path)
    p.add_argument("b", type=Path)
    p.add_argument("--out", type=Path, help="also save the differences as NetCDF")
    p.add_argument("--unpaired", action="store_true", help="do not pair even when possible")
    return {"compare": _cmd_compare}


def _cmd_compare(args: argparse.Namespace) -> int:
    from simulator.results.io import save_results
    from simulator.studies.compare import compare, compare_table, run_problem

    if args.out:
        output_path(args.out)
    a, b = (open_results_argument(path, expected="a run's results .nc file (simulator run)", problem=run_problem)
            for path in (args.a, args.b))
    diff = compare(a, b, paired=False if args.unpaired else None)
    print(compare_table(diff))
    if args.out:
        save_results(diff, args.out)
        print(f"differences: {args.out}")
    return 0
