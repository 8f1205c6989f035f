"""``simulator run``: simulate a scenario, print a summary, save a NetCDF file (and a report).

May import: every layer below :mod:`simulator.cli`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from simulator.cli.export import add_csv_option, check_csv_folder, write_csv_tables
from simulator.cli.options import add_run_options, finite_float, kept_count, output_path, paths_count
from simulator.cli.outputs import default_output
from simulator.errors import UsageError

__all__ = ["register"]


def register(sub) -> dict:
    """Add ``simulator run`` to the command line; returns its handler."""
    p = sub.add_parser("run", help="simulate a scenario, print a summary, save a NetCDF file")
    p.add_argument("scenario", type=Path, help="scenario TOML file")
    add_run_options(p)
    p.add_argument("--out", type=Path, help="results file (default: results/<scenario name>.nc, or "
                   "results/<scenario name>-<hash>.nc with options that change the numbers; README)")
    p.add_argument("--keep-paths", type=kept_count, default=0, metavar="N",
                   help="keep the first N full paths in the results (float32)")
    p.add_argument("--report", type=Path, metavar="DIR",
                   help="also write the figures and report of the run to DIR")
    add_csv_option(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar and no table")
    p.add_argument("--precision", type=finite_float, metavar="HALF_WIDTH",
                   help="choose the number of paths so that the 95%% CI half-width of the targeted "
                        "probabilities is at most this (two-stage rule, see docs)")
    p.add_argument("--target", action="append", default=[], metavar="C.OUTCOME@H",
                   help="with --precision: the probability to make precise (default: all of them)")
    p.add_argument("--max-paths", type=paths_count, default=10_000_000,
                   help="with --precision: cap on the number of paths (default 10,000,000)")

    return {"run": _cmd_run}


def _cmd_run(args: argparse.Namespace) -> int:
    import simulator
    from simulator.model.scenario_file import load_scenario

    scenario = load_scenario(args.scenario, overrides=args.overrides)
    out = output_path(args.out or default_output(scenario.name, {
        "set": args.overrides, "paths": args.paths, "seed": args.seed, "engine": args.engine != "numba" and args.engine,
        "keep_paths": args.keep_paths or None, "precision": args.precision, "target": args.target,
        "max_paths": args.precision is not None and args.max_paths}))
    if args.report:
        output_path(args.report, option="--report", folder=True)
    check_csv_folder(args.csv)
    if not args.quiet:
        from simulator.cli.validate import derived_lines

        for line in derived_lines(scenario):
            print(line)
    from simulator.engines.dispatch import kernel_load_seconds
    from simulator.runner.api import run  # imported before the clock starts: the paths' time is simulation

    start, loading = time.perf_counter(), kernel_load_seconds()
    if args.precision is not None:
        from simulator.results.targets import parse_target
        from simulator.studies.precision import run_to_precision

        if args.paths or args.keep_paths:
            raise UsageError("simulator run: --precision chooses the paths; drop --paths/--keep-paths")
        targets = [parse_target(t, scenario) for t in args.target]
        ds = run_to_precision(scenario, precision=args.precision, targets=targets or None,
                              max_paths=args.max_paths, seed=args.seed, engine=args.engine,
                              threads=args.threads, progress=not args.quiet)
    else:
        if args.target:
            raise UsageError("simulator run: --target goes with --precision")
        ds = run(scenario, paths=args.paths, seed=args.seed, engine=args.engine,
                 keep_paths=args.keep_paths, threads=args.threads, progress=not args.quiet)
    loading = kernel_load_seconds() - loading  # compiling the kernels is no part of the paths' time
    elapsed = time.perf_counter() - start - loading
    if args.overrides:
        import json

        ds.attrs["overrides"] = json.dumps(args.overrides)
    simulator.save_results(ds, out)
    write_csv_tables(ds, args.csv)
    if not args.quiet:
        print(ds.sim.table())
        print()
    print(f"{ds.attrs['paths']:,} paths in {elapsed:.2f} s ({args.engine}"
          + (f"; kernels compiled or loaded in {loading:.1f} s more" if loading >= 0.5 else "") + f"); results: {out}")
    if args.precision is not None:
        met = "met" if ds.attrs["precision_met"] else "NOT met"
        print(f"precision target {args.precision:g} {met}: widest 95% half-width "
              f"{ds.attrs['precision_worst_half_width']:.4f} ({ds.attrs['precision_worst_target']}); "
              f"pilot {ds.attrs['precision_pilot_paths']:,} paths"
              + (f"; capped at --max-paths {args.max_paths:,}" if ds.attrs["precision_capped"] else ""))
    if args.report:
        from simulator.report.writer import write_report

        written = write_report(ds, args.report)
        print(f"report: {written}")
    return 0


