"""``simulator sensitivity``: which keys move an output (OAT, Morris, Sobol, given-data methods).

May import: every layer below :mod:`simulator.cli`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from simulator.cli.export import add_csv_option, check_csv_folder, write_csv_tables
from simulator.cli.options import add_study_options, output_path, positive_int
from simulator.cli.outputs import default_output
from simulator.studies.methods import DEFAULT_PATHS, METHODS

__all__ = ["register"]


def register(subparsers) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Add ``simulator sensitivity`` to the command line; returns its handler."""
    p = subparsers.add_parser("sensitivity", help="rank which keys move an output (oat, morris, sobol, "
                              "given-data)")
    p.add_argument("scenario", type=Path, help="scenario TOML file (given-data methods: also a run's .nc)")
    p.add_argument("--method", choices=METHODS,
                   help="oat (tornado), morris, sobol; rbd-fast, delta, pawn or given-data (all three) on the "
                        "per-path draws of the uncertain inputs (default: morris for two keys or more, oat for "
                        "one; given-data for a results file)")
    p.add_argument("--param", action="append", default=[], metavar="PATH=LO:HI",
                   help="studied key and range (default: the scenario's uncertain inputs)")
    p.add_argument("--output", action="append", default=[], metavar="OUT",
                   help="[company.]name@month, e.g. zhipu.champion@36 or zhipu.valuation_q50@36 "
                        "(default: champion and collapse at the last horizon)")
    p.add_argument("--samples", type=positive_int, help="morris trajectories (default 20) or Sobol base samples "
                   "N, a power of two >= 64 (default 128)")
    add_csv_option(p)
    add_study_options(p, paths_help=f"paths per evaluation (default {DEFAULT_PATHS:,}); given-data: paths "
                      "of the one run")
    p.add_argument("--out", type=Path, help="results file (default: results/<scenario>_<method>[-<hash of the options>].nc)")

    return {"sensitivity": _cmd_sensitivity}


def _cmd_sensitivity(args: argparse.Namespace) -> int:
    from simulator.results.io import save_results
    from simulator.studies.sensitivity import sensitivity, sensitivity_table

    if args.method is None:
        args.method = _default_method(args)
    # The default file's name comes from the scenario's (known after the study): check its folder now.
    output_path(args.out or Path("results") / f"{args.scenario.stem}_{args.method.replace('-', '_')}.nc")
    check_csv_folder(args.csv)
    ds = sensitivity(args.scenario, method=args.method, params=args.param, outputs=args.output,
                     samples=args.samples, paths=args.paths, seed=args.seed, threads=args.threads,
                     engine=args.engine, overrides=args.overrides, progress=not args.quiet)
    if args.overrides:
        ds.attrs["overrides"] = json.dumps(args.overrides)
    name = ds.attrs.get("scenario_name", args.scenario.stem) or args.scenario.stem
    out = args.out or default_output(name, {
        "param": args.param, "output": args.output, "samples": args.samples, "set": args.overrides,
        "paths": args.paths, "seed": args.seed, "engine": args.engine != "numba" and args.engine},
        kind=args.method.replace("-", "_"))
    save_results(ds, out)
    write_csv_tables(ds, args.csv)
    if not args.quiet:
        print(sensitivity_table(ds))
        print()
    print(f"{args.method}: {ds.attrs.get('seconds', 0.0):.2f} s; results: {out}")
    return 0


def _default_method(args: argparse.Namespace) -> str:
    """Morris screening ("which assumptions matter most") for two studied keys or more, a tornado for one;
    the given-data indices for a results file (its per-path draws need no new run)."""
    if args.scenario.suffix == ".nc":
        return "given-data"
    if args.param:
        return "morris" if len(args.param) >= 2 else "oat"
    from simulator.model.scenario_file import load_scenario

    uncertain = load_scenario(args.scenario, overrides=args.overrides).uncertain
    return "morris" if uncertain is not None and len(uncertain) >= 2 else "oat"
