"""``simulator implied``: what must be true for the stated valuation to be fair.

May import: every layer below :mod:`simulator.cli`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from simulator.cli.options import non_negative_int, paths_count, seed_value
from simulator.errors import UserError

__all__ = ["register"]


def register(sub) -> dict:
    """Add ``simulator implied`` to the command line; returns its handler."""
    p = sub.add_parser("implied", help="what must be true for the valuation to be fair")
    p.add_argument("scenario", type=Path)
    p.add_argument("--company", help="default: the first company")
    p.add_argument("--param", help="key to solve for (default: companies.<company>.growth.long_run)")
    p.add_argument("--range", dest="search", metavar="LO:HI", help="search range of the key")
    p.add_argument("--paths", type=paths_count, default=20_000)
    p.add_argument("--seed", type=seed_value)
    p.add_argument("--replicates", type=non_negative_int, default=4)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--engine", choices=("numba", "numpy"), default="numba")
    p.add_argument("--reading", choices=("equity", "business"), default="equity",
                   help="which fundamental value must equal the valuation (MODEL.md step 8): equity, floored at "
                        "zero (default), or business, not floored and minus the money raised after the start")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    return {"implied": _cmd_implied}


def _cmd_implied(args: argparse.Namespace) -> int:
    from simulator.errors import UnreachableError
    from simulator.model.scenario_file import load_scenario
    from simulator.results.formatting import format_amount, percent
    from simulator.runner.progress import study_bar
    from simulator.studies.calibrate import (
        default_implied_range,
        fundamental_value,
        implied_value,
        parse_param_range,
    )

    scenario = load_scenario(args.scenario, overrides=args.overrides)
    company = args.company or scenario.companies[0].name
    if company not in [c.name for c in scenario.companies]:
        raise UserError(f"--company {company!r}: no such company (known: "
                        f"{', '.join(c.name for c in scenario.companies)})")
    path = args.param or f"companies.{company}.growth.long_run"
    if args.search:
        param = parse_param_range(f"{path}={args.search}", scenario)
    else:
        lo, hi = default_implied_range(scenario, path)
        param = parse_param_range(f"{path}={lo}:{hi}", scenario)
    cur = scenario.currency
    names = [c.name for c in scenario.companies]
    if company not in names:
        raise UserError(f"--company {company!r}: no such company (known: {', '.join(names)})")
    v0 = scenario.companies[names.index(company)].valuation
    with study_bar("implied", not args.quiet) as bar:
        readings = fundamental_value(scenario, company, paths=args.paths, seed=args.seed, engine=args.engine,
                                     progress=None if bar is None else bar.update)
    print(f"{company}: stated valuation {format_amount(v0, cur)}; with the scenario's own assumptions "
          f"{_readings_text(readings, cur)}")
    equity = readings["equity"][0]
    print(f"  narrative premium (V0 minus equity value): {format_amount(v0 - equity, cur)} "
          f"({percent(1 - equity / v0)} of the valuation)")
    code = 0
    try:
        res = implied_value(scenario, company, param, paths=args.paths, seed=args.seed,
                            replicates=args.replicates, engine=args.engine, reading=args.reading,
                            progress=not args.quiet)
        print(f"  for the {args.reading} value to equal {format_amount(v0, cur)}, {param.path} must be "
              f"{res.value:.4g} +- {res.standard_error:.2g} (standard error over {res.per_seed.size} seeds; "
              f"searched [{param.low:g}, {param.high:g}])")
        print(f"  at {param.path} = {res.value:.4g}: {_readings_text(res.at_solution, cur)}")
    except UnreachableError as exc:
        for line in str(exc).splitlines():
            print(f"  {line}")
        code = 2
    _print_market(scenario, args)
    return code


def _readings_text(readings: dict, cur: str) -> str:
    from simulator.results.formatting import format_amount

    parts = []
    for reading, label in (("equity", "equity value"), ("business", "business value")):
        mean, (lo, hi) = readings[reading]
        parts.append(f"{label} {format_amount(mean, cur)} [{format_amount(lo)}, {format_amount(hi)}]")
    return "; ".join(parts)


def _print_market(scenario, args) -> None:
    """The big market delusion check: required revenues against the stated market (static), and with
    competition on (MODEL.md step 9) the probability that each company's revenue reaches it (dynamic)."""
    import simulator
    from simulator.results.formatting import format_amount, percent_ci

    if scenario.sector.market_size <= 0 and len(scenario.companies) < 2:
        return
    ds = simulator.run(scenario, paths=args.paths, seed=args.seed, progress=not args.quiet)
    cur = scenario.currency
    h = int(ds["horizon"].values[-1])
    print(f"\nRevenue each company must reach by month {h} for its valuation to be fair "
          f"(operating profit at its start margin x exit multiple, discounted; {cur}/year):")
    for c in ds["company"].values:
        req = float(ds["required_revenue"].sel(company=c, horizon=h))
        med = float(ds["revenue_quantile"].sel(company=c, month=h, quantile=0.5))
        share = (f", {100 * float(ds['implied_market_share'].sel(company=c, horizon=h)):.1f}% of the market"
                 if "implied_market_share" in ds else "")
        print(f"  {c:<12} {format_amount(req):>10} (median simulated {format_amount(med)}){share}")
        if "required_revenue_reached" in ds:  # competition on: the dynamic check
            p = float(ds["required_revenue_reached"].sel(company=c, horizon=h))
            lo, hi = (float(x) for x in ds["required_revenue_reached_ci"].sel(company=c, horizon=h).values)
            print(f"  {'':<12} P(revenue at month {h} reaches it, under competition) = {100 * p:.2f}% "
                  f"[{100 * lo:.2f}%, {100 * hi:.2f}%]")
    total = float(ds["required_revenue_total"].sel(horizon=h))
    print(f"  {'total':<12} {format_amount(total):>10}")
    if "market_size" in ds:
        market = float(ds["market_size"].sel(horizon=h))
        p = float(ds["market_exceeded"].sel(horizon=h))
        lo, hi = ds["market_exceeded_ci"].sel(horizon=h).values
        verdict = "MORE than" if total > market else "less than"
        print(f"  stated market by month {h}: {format_amount(market)} -> the prices imply {verdict} the whole "
              f"market ({100 * total / market:.1f}%)")
        print(f"  P(combined simulated revenue exceeds the market at month {h}) = {percent_ci(p, lo, hi)}")
