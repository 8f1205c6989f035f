"""``simulator sweep``: a grid of parameter values on common random numbers.

May import: every layer below :mod:`simulator.cli`.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

from simulator.cli.export import add_csv_option, check_csv_folder, write_csv_tables
from simulator.cli.options import add_study_options, output_path
from simulator.cli.outputs import default_output
from simulator.errors import UserError

__all__ = ["register"]


def register(subparsers) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Add ``simulator sweep`` to the command line."""
    p = subparsers.add_parser("sweep", help="run a grid of parameter values with common random numbers")
    p.add_argument("scenario", type=Path, help="scenario TOML file")
    p.add_argument("--param", action="append", default=[], metavar="PATH=LO:HI:N",
                   help="swept key: LO:HI:N (N points, default 11), LO:HI:N:log or v1,v2,...; repeat "
                        "for a grid")
    add_study_options(p, paths_help="paths per grid point (default: the scenario's)")
    add_csv_option(p)
    p.add_argument("--no-quantiles", action="store_true",
                   help="skip the quantiles at the horizons (less memory, larger batches)")
    p.add_argument("--out", type=Path, help="results file (default: results/<scenario name>_sweep-<hash of the options>.nc)")
    return {"sweep": _cmd_sweep}


def _cmd_sweep(args: argparse.Namespace) -> int:
    from simulator.model.scenario_file import load_scenario
    from simulator.results.io import save_results
    from simulator.studies.sweep import sweep, sweep_table

    if not args.param:
        raise UserError("sweep: give at least one --param PATH=LO:HI:N")
    scenario = load_scenario(args.scenario, overrides=args.overrides)
    out = output_path(args.out or default_output(scenario.name, {
        "param": args.param, "set": args.overrides, "paths": args.paths, "seed": args.seed,
        "engine": args.engine != "numba" and args.engine, "no_quantiles": args.no_quantiles}, kind="sweep"))
    check_csv_folder(args.csv)
    from simulator.engines.dispatch import kernel_load_seconds

    start, loading = time.perf_counter(), kernel_load_seconds()
    ds = sweep(scenario, args.param, paths=args.paths, seed=args.seed, quantiles=not args.no_quantiles,
               threads=args.threads, engine=args.engine, progress=not args.quiet)
    elapsed = time.perf_counter() - start - (kernel_load_seconds() - loading)  # without compiling the kernels
    if args.overrides:
        ds.attrs["overrides"] = json.dumps(args.overrides)
    save_results(ds, out)
    write_csv_tables(ds, args.csv)
    if not args.quiet:
        print(sweep_table(ds))
        print()
    sets = int(ds.attrs["parameter_sets"])
    calls = int(ds.attrs["kernel_calls"])
    print(f"{sets:,} parameter set{'s' if sets != 1 else ''} x {ds.attrs['paths']:,} paths in {elapsed:.2f} s "
          f"({calls} kernel call{'s' if calls != 1 else ''}, {args.engine}); results: {out}")
    return 0
