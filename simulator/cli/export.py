"""``simulator export``: a results file as tidy CSV tables (every result kind).

May import: every layer below :mod:`simulator.cli`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from simulator.cli.options import output_path

__all__ = ["add_csv_option", "check_csv_folder", "register", "write_csv_tables"]


def register(sub) -> dict:
    """Add ``simulator export`` to the command line; returns its handler."""
    p = sub.add_parser("export", help="write a results file as tidy CSV tables (any result kind)",
                       description="Variables over the same dimensions share a table: one column per dimension, "
                                   "one per variable, <name>_low/<name>_high for an interval; variables.csv "
                                   "describes every variable and attributes.csv holds the provenance.")
    p.add_argument("results", type=Path, help="a results .nc file (run, sweep, sensitivity, attribution, batch)")
    p.add_argument("--csv", type=Path, required=True, metavar="DIR", help="folder for the CSV files")
    return {"export": _cmd_export}


def add_csv_option(p: argparse.ArgumentParser) -> None:
    """``--csv DIR`` of the commands that write results (run, sweep, sensitivity)."""
    p.add_argument("--csv", type=Path, metavar="DIR", help="also write the results as tidy CSV tables into DIR")


def check_csv_folder(folder: Path | None) -> Path | None:
    """Check ``--csv DIR`` before any work (a file in the way, a folder that cannot be written)."""
    return None if folder is None else output_path(folder, option="--csv", folder=True)


def write_csv_tables(ds, folder: Path | None) -> None:
    """Write ``ds`` as CSV tables into ``folder`` (when given) and say where."""
    if folder is None:
        return
    from simulator.results.export import write_csv

    written = write_csv(ds, folder)
    print(f"csv: {len(written) - 2} tables, variables.csv and attributes.csv in {folder}")


def _cmd_export(args: argparse.Namespace) -> int:
    check_csv_folder(args.csv)
    from simulator.results.io import open_results  # says what is wrong with the file (missing, a folder, ...)

    write_csv_tables(open_results(args.results), args.csv)
    return 0
