"""``simulator validate``: check scenario files and print a one-line summary each.

May import: every layer below :mod:`simulator.cli`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from simulator.cli.options import EXIT_USAGE

__all__ = ["register"]


def register(sub) -> dict:
    """Add ``simulator validate`` to the command line; returns its handler."""
    p = sub.add_parser("validate", help="check scenario files and print a one-line summary each")
    p.add_argument("scenarios", type=Path, nargs="+", help="scenario TOML files")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a key by its dotted path before validating")

    return {"validate": _cmd_validate}


def _cmd_validate(args: argparse.Namespace) -> int:
    from simulator.errors import ScenarioError
    from simulator.model.scenario_file import load_scenario

    failed = 0
    for path in args.scenarios:
        try:
            sc = load_scenario(path, overrides=args.overrides)
        except ScenarioError as exc:
            for line in str(exc).splitlines():
                print(f"simulator: error: {line}", file=sys.stderr)
            failed += 1
            continue
        n_events = len(sc.sector.events) + sum(len(c.events) for c in sc.companies)
        print(f"ok: {path}: {sc.name}, {len(sc.companies)} compan{'y' if len(sc.companies) == 1 else 'ies'} "
              f"({', '.join(c.name for c in sc.companies)}), {n_events} event types, "
              f"{sc.scenario.horizon_months} months, {sc.scenario.paths:,} paths, {sc.currency}")
    return EXIT_USAGE if failed else 0


