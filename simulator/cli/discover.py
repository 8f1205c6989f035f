"""``simulator discover``: which combinations of uncertain inputs make an outcome (PRIM, CART boxes).

May import: every layer below :mod:`simulator.cli`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from simulator.cli.options import add_study_options, int_at_least, output_path, positive_int

__all__ = ["register"]


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 < value < 0.5:
        raise argparse.ArgumentTypeError(f"{value:g} is out of range (allowed: > 0 and < 0.5, a share of the paths)")
    return value


def register(subparsers) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Add ``simulator discover`` to the command line; returns its handler."""
    p = subparsers.add_parser(
        "discover", help="scenario discovery: boxes of uncertain inputs where an outcome is concentrated "
        "(PRIM or CART)")
    p.add_argument("results", type=Path, help="a run's .nc with per-path draws, or a scenario TOML (run now, "
                   "every path's draws kept)")
    p.add_argument("--outcome", required=True, metavar="EVENT",
                   help="what a path does: company.champion@36 (contested, collapse), any_champion@36, or a "
                   "threshold such as zhipu.valuation@36>=700e9 (revenue, valuation, cash, capacity, "
                   "gross_margin, narrative; >=, >, <=, <)")
    p.add_argument("--method", choices=("prim", "cart"), default="prim",
                   help="PRIM (EMA Workbench, default) or CART (scikit-learn)")
    p.add_argument("--min-mass", type=_share, default=0.05, metavar="SHARE",
                   help="smallest share of paths a box may hold (default 0.05)")
    p.add_argument("--boxes", type=positive_int, default=3, help="most boxes to find (default 3)")
    p.add_argument("--peel-paths", type=int_at_least(10), default=None, metavar="N",
                   help="most paths PRIM peels or CART is fitted on (default 100,000; the held-out half "
                   "gives the intervals whatever this is)")
    add_study_options(p, paths_help="paths of the run when given a TOML file (default: the scenario's)")
    p.add_argument("--out", type=Path, help="save the boxes Dataset here (NetCDF; `simulator report` draws it)")
    return {"discover": _cmd_discover}


def _cmd_discover(args: argparse.Namespace) -> int:
    from simulator.studies.discovery import DEFAULT_PEEL_PATHS, discover, discovery_table, require_libraries
    from simulator.studies.discovery_data import discovery_data

    require_libraries(args.method)  # before a long run, not after
    if args.out:
        output_path(args.out)
    data = discovery_data(args.results, args.outcome, paths=args.paths, seed=args.seed, overrides=args.overrides,
                          threads=args.threads, engine=args.engine, progress=not args.quiet)
    from simulator.model.parameters import parameter_units

    currency = str(data.attrs.get("currency", ""))
    units = {name: parameter_units(name, currency) for name in data.inputs}
    seed = args.seed if args.seed is not None else int(str(data.attrs.get("seed_entropy", "0")) or 0) % 2**63
    ds = discover(data.draws, data.y, inputs=data.inputs, method=args.method, min_mass=args.min_mass,
                  boxes=args.boxes, peel_paths=args.peel_paths or DEFAULT_PEEL_PATHS, seed=seed, units=units,
                  outcome=data.event.label, attrs=data.attrs)
    if not args.quiet:
        print(discovery_table(ds))
    if args.out:
        from simulator.results.io import save_results

        save_results(ds, args.out)
        print(f"\nresults: {args.out}")
    return 0
