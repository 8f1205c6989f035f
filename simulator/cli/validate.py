"""``simulator validate``: check scenario files and print a one-line summary each.

May import: every layer below :mod:`simulator.cli`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from simulator.cli.options import EXIT_USAGE

__all__ = ["derived_lines", "register"]


def register(sub) -> dict:
    """Add ``simulator validate`` to the command line; returns its handler."""
    p = sub.add_parser("validate", help="check scenario files and print a one-line summary each")
    p.add_argument("scenarios", type=Path, nargs="+", help="scenario TOML files")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a key by its dotted path before validating")
    p.add_argument("--defaults", action="store_true",
                   help="also list every key the file does not give, with the default it took")

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
        for line in derived_lines(sc):
            print(f"  {line}")
        if args.defaults:
            print_defaults(sc)
    return EXIT_USAGE if failed else 0




def derived_lines(scenario) -> list[str]:
    """One line per amount key the file does not give, with the value derived from the company's figures."""
    from simulator.model.scenario_file import derived_amounts
    from simulator.results.formatting import format_amount

    return [f"default: {d.path} = {format_amount(d.value)} {d.units} ({d.rule})"
            for d in derived_amounts(scenario) if d.used]


def print_defaults(scenario) -> None:
    """Every key that took its default, with its value (``validate --defaults``)."""
    from simulator.model.parameters import build_layout
    from simulator.model.scenario_file import defaulted_keys

    layout = build_layout(scenario)
    keys = defaulted_keys(scenario)
    print(f"  {len(keys)} keys not given, at their defaults (docs/scenario-reference.md):")
    for key in keys:
        slots = layout.paths.get(key)
        value = ", ".join(f"{layout.theta[s]:g}" for s in slots) if slots else _value_of(scenario, key)
        print(f"    {key} = {value}")


def _value_of(scenario, key: str) -> str:
    """The value of a key that is no engine parameter (run settings), as text."""
    node = scenario
    for part in key.split("."):
        node = getattr(node, part, None)
    return "none" if node is None else str(node)
