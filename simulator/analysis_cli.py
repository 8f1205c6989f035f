"""Subcommands ``calibrate``, ``implied`` and ``compare`` (registered in ``cli._PLUGINS``)."""

from __future__ import annotations

import argparse
import datetime as _dt
from pathlib import Path

from simulator.errors import UserError

__all__ = ["register"]


def register(sub) -> dict:
    """Add the subcommands to the ``simulator`` parser; return their handlers."""
    from simulator.cli import _non_negative_int, _positive_int

    p = sub.add_parser("calibrate", help="find parameter values that reproduce stated probabilities")
    p.add_argument("scenario", type=Path)
    p.add_argument("--target", action="append", default=[], required=True, metavar="C.OUTCOME@H=P",
                   help="e.g. zhipu.champion@36=0.6 or zhipu.champion_share@36=0.6 (repeatable)")
    p.add_argument("--param", action="append", default=[], required=True, metavar="PATH=LO:HI",
                   help="a key to adjust and its range, e.g. companies.zhipu.growth.long_run=0.0:1.5")
    p.add_argument("--paths", type=_positive_int, default=20_000, help="paths per evaluation (default 20000)")
    p.add_argument("--seed", type=_non_negative_int, help="main seed (default: the scenario's)")
    p.add_argument("--replicates", type=_non_negative_int, default=4,
                   help="extra calibrations with independent seeds, for the uncertainty (default 4)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--out", type=Path, help="calibrated scenario file (default: <name>_calibrated.toml)")
    p.add_argument("--engine", choices=("numba", "numpy"), default="numba")

    p = sub.add_parser("implied", help="what must be true for the valuation to be fair")
    p.add_argument("scenario", type=Path)
    p.add_argument("--company", help="default: the first company")
    p.add_argument("--param", help="key to solve for (default: companies.<company>.growth.long_run)")
    p.add_argument("--range", dest="search", metavar="LO:HI", help="search range of the key")
    p.add_argument("--paths", type=_positive_int, default=20_000)
    p.add_argument("--seed", type=_non_negative_int)
    p.add_argument("--replicates", type=_non_negative_int, default=4)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--engine", choices=("numba", "numpy"), default="numba")

    p = sub.add_parser("compare", help="differences of two results files, with intervals")
    p.add_argument("a", type=Path)
    p.add_argument("b", type=Path)
    p.add_argument("--out", type=Path, help="also save the differences as NetCDF")
    p.add_argument("--unpaired", action="store_true", help="do not pair even when possible")
    return {"calibrate": _cmd_calibrate, "implied": _cmd_implied, "compare": _cmd_compare}


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from simulator.calibrate import calibrate, parse_param_range
    from simulator.config import load_scenario
    from simulator.scenario_edit import set_values
    from simulator.targets import parse_target

    scenario = load_scenario(args.scenario, overrides=args.overrides)
    targets = [parse_target(t, scenario, need_value=True) for t in args.target]
    params = [parse_param_range(p, scenario) for p in args.param]
    out = args.out or args.scenario.with_name(f"{scenario.name}_calibrated.toml")
    # The saved file must reproduce the calibration: --set values go into it too.
    fixed = _override_values(args.overrides, str(args.scenario))
    # Check before the search that every key can be written back into this file.
    set_values(load_scenario(args.scenario).source_text,
               {**fixed, **{p.path: _current(scenario, p.path) for p in params}}, source=str(out))
    result = calibrate(scenario, targets, params, paths=args.paths, seed=args.seed,
                       replicates=args.replicates, engine=args.engine)
    print(f"Calibrated {scenario.name} ({result.method}; {result.paths:,} paths per evaluation, "
          f"{result.evaluations} evaluations, {len(result.per_seed)} independent seeds)")
    for p, v, se, col in zip(params, result.value, result.standard_error, result.per_seed.T, strict=True):
        print(f"  {p.path} = {v:.6g} +- {se:.2g} (standard error; seeds gave {', '.join(f'{x:.4g}' for x in col)})")
    print("Achieved with the main seed:")
    for t, est, (lo, hi) in zip(targets, result.achieved, result.achieved_ci, strict=True):
        print(f"  {t.label} = {est:.4f} [{lo:.4f}, {hi:.4f}] (target {t.value:g})")
    for note in result.notes:
        print(f"  note: {note}")
    values = {**fixed, **{p.path: float(v) for p, v in zip(params, result.value, strict=True)}}
    if out.stem != scenario.name:
        values["scenario.name"] = out.stem
    note = (f"Calibrated by `simulator calibrate` on {_dt.date.today().isoformat()} from {args.scenario.name}:\n"
            + "\n".join(f"  {t.label} = {t.value:g} (achieved {e:.4f})" for t, e in
                        zip(targets, result.achieved, strict=True))
            + "\n" + "\n".join(f"  {p.path} = {v:.6g} +- {se:.2g}" for p, v, se in
                               zip(params, result.value, result.standard_error, strict=True))
            + f"\n  ({result.paths:,} paths per evaluation, {len(result.per_seed)} independent seeds)")
    text = set_values(load_scenario(args.scenario).source_text, values, source=str(out), note=note,
                      tag="calibrated")
    from simulator.io import write_text_atomic

    write_text_atomic(out, text)
    print(f"calibrated scenario: {out}")
    return 0


def _override_values(overrides: list[str], source: str) -> dict:
    """``--set`` strings as {dotted key: value}."""
    from simulator.config import _parse_value

    values = {}
    for text in overrides:
        key, sep, value = text.partition("=")
        if not sep:
            raise UserError(f"--set {text!r}: expected dotted.key=value")
        values[key.strip()] = _parse_value(value.strip(), source, key.strip())
    return values


def _current(scenario, path: str) -> float:
    from simulator.params import build_layout

    layout = build_layout(scenario)
    return float(layout.theta[layout.slots(path)[0]])


def _cmd_implied(args: argparse.Namespace) -> int:
    from simulator.accessor import format_amount
    from simulator.calibrate import (
        UnreachableError,
        default_implied_range,
        fundamental_value,
        implied_value,
        parse_param_range,
    )
    from simulator.config import load_scenario

    scenario = load_scenario(args.scenario, overrides=args.overrides)
    company = args.company or scenario.companies[0].name
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
    fv, (lo, hi) = fundamental_value(scenario, company, paths=args.paths, seed=args.seed, engine=args.engine)
    print(f"{company}: stated valuation {format_amount(v0, cur)}; fundamental value with the scenario's own "
          f"assumptions {format_amount(fv, cur)} [{format_amount(lo)}, {format_amount(hi)}]")
    print(f"  narrative premium: {format_amount(v0 - fv, cur)} ({100 * (1 - fv / v0):.1f}% of the valuation)")
    code = 0
    try:
        res = implied_value(scenario, company, param, paths=args.paths, seed=args.seed,
                            replicates=args.replicates, engine=args.engine)
        print(f"  to justify {format_amount(v0, cur)}, {param.path} must be {res.value:.4g} "
              f"+- {res.standard_error:.2g} (standard error over {res.per_seed.size} seeds; searched "
              f"[{param.low:g}, {param.high:g}])")
    except UnreachableError as exc:
        print(f"  {exc}")
        code = 2
    _print_market(scenario, args)
    return code


def _print_market(scenario, args) -> None:
    """The big market delusion check: required revenues against the stated market."""
    import simulator
    from simulator.accessor import format_amount

    if scenario.sector.market_size <= 0 and len(scenario.companies) < 2:
        return
    ds = simulator.run(scenario, paths=args.paths, seed=args.seed)
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
    total = float(ds["required_revenue_total"].sel(horizon=h))
    print(f"  {'total':<12} {format_amount(total):>10}")
    if "market_size" in ds:
        market = float(ds["market_size"].sel(horizon=h))
        p = float(ds["market_exceeded"].sel(horizon=h))
        lo, hi = ds["market_exceeded_ci"].sel(horizon=h).values
        verdict = "MORE than" if total > market else "less than"
        print(f"  stated market by month {h}: {format_amount(market)} -> the prices imply {verdict} the whole "
              f"market ({100 * total / market:.1f}%)")
        print(f"  P(combined simulated revenue exceeds the market at month {h}) = {100 * p:.2f}% "
              f"[{100 * lo:.2f}%, {100 * hi:.2f}%]")


def _cmd_compare(args: argparse.Namespace) -> int:
    from simulator.compare import compare, compare_table
    from simulator.io import open_results, save_results

    for path in (args.a, args.b):
        if not path.exists():
            raise UserError(f"{path}: no such file")
    diff = compare(open_results(args.a), open_results(args.b), paired=False if args.unpaired else None)
    print(compare_table(diff))
    if args.out:
        save_results(diff, args.out)
        print(f"differences: {args.out}")
    return 0

