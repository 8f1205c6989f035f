"""``simulator attribute``: which uncertain inputs drive each outcome (median shift in standard deviations).

May import: every layer below :mod:`simulator.cli`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from simulator.cli.options import add_study_options, output_path
from simulator.errors import UserError

__all__ = ["register"]


def register(subparsers) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Add ``simulator attribute`` to the command line; returns its handler."""
    a = subparsers.add_parser("attribute", help="rank which uncertain inputs drive each outcome (median "
                              "shift in standard deviations)")
    a.add_argument("results", type=Path, help="a run's .nc with per-path draws, or a scenario TOML (run now)")
    a.add_argument("--output", action="append", default=[], metavar="OUT",
                   help="[company.]outcome@month (default: champion and collapse at the last horizon)")
    add_study_options(a, paths_help="paths of the run when given a TOML file (at most 100,000 kept)")
    a.add_argument("--out", type=Path, help="also save the attribution Dataset here")
    return {"attribute": _cmd_attribute}


def _cmd_attribute(args: argparse.Namespace) -> int:
    from simulator.studies.attribution import attribute
    from simulator.studies.given_data import draws_from, scenario_from_attrs
    from simulator.studies.sensitivity import attribute_table
    from simulator.studies.sensitivity_outputs import default_outputs, parse_output

    if args.out:
        output_path(args.out)
    draws, outcomes, names, horizons, companies, attrs, sc = draws_from(
        args.results, paths=args.paths, seed=args.seed, overrides=args.overrides, threads=args.threads,
        engine=args.engine, progress=not args.quiet)
    sc = sc or scenario_from_attrs(attrs)
    outs = [parse_output(t, sc) for t in args.output] or default_outputs(sc)
    chosen = []
    for o in outs:
        if o.outcome is None:
            raise UserError(f"--output {o.text}: attribution is by outcome (champion, contested, collapse)")
        chosen.append((companies[o.company], int(o.month), o.name))
    ds = attribute(draws, outcomes, inputs=names, companies=companies, horizons=horizons)
    ds.attrs.update(attrs)
    print(attribute_table(ds, chosen))
    if args.out:
        from simulator.results.io import save_results

        save_results(ds, args.out)
        print(f"\nresults: {args.out}")
    return 0
