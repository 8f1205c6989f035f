"""``simulator calibrate``: find parameter values that reproduce stated probabilities, and write them back.

May import: every layer below :mod:`simulator.cli`.
"""

from __future__ import annotations

import argparse
import datetime as _dt
from pathlib import Path

from simulator.cli.options import non_negative_int, output_path, paths_count, seed_value
from simulator.cli.outputs import default_output
from simulator.errors import UserError

__all__ = ["register"]


def register(sub) -> dict:
    """Add ``simulator calibrate`` to the command line; returns its handler."""
    p = sub.add_parser("calibrate", help="find parameter values that reproduce stated probabilities")
    p.add_argument("scenario", type=Path)
    p.add_argument("--target", action="append", default=[], required=True, metavar="C.OUTCOME@H=P",
                   help="e.g. zhipu.champion@36=0.6 or zhipu.champion_share@36=0.6 (repeatable)")
    p.add_argument("--param", action="append", default=[], required=True, metavar="PATH=LO:HI",
                   help="a key to adjust and its range, e.g. companies.zhipu.growth.long_run=0.0:1.5")
    p.add_argument("--paths", type=paths_count, default=20_000, help="paths per evaluation (default 20000)")
    p.add_argument("--seed", type=seed_value, help="main seed (default: the scenario's)")
    p.add_argument("--replicates", type=non_negative_int, default=4,
                   help="extra calibrations with independent seeds, for the uncertainty (default 4)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--out", type=Path, help="calibrated scenario file (default: results/<name>_calibrated-<hash of the options>.toml, "
                   "never into scenarios/)")
    p.add_argument("--engine", choices=("numba", "numpy"), default="numba")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    return {"calibrate": _cmd_calibrate}


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from simulator.model.scenario_file import load_scenario
    from simulator.results.targets import parse_target
    from simulator.studies.calibrate import calibrate, parse_param_range
    from simulator.studies.scenario_edit import set_values

    scenario = load_scenario(args.scenario, overrides=args.overrides)
    targets = [parse_target(t, scenario, need_value=True) for t in args.target]
    params = [parse_param_range(p, scenario) for p in args.param]
    out = output_path(args.out or default_output(scenario.name, {
        "target": args.target, "param": args.param, "set": args.overrides, "paths": args.paths, "seed": args.seed,
        "replicates": args.replicates, "engine": args.engine != "numba" and args.engine},
        kind="calibrated", suffix=".toml"))
    # The saved file must reproduce the calibration: --set values go into it too.
    fixed = _override_values(args.overrides, str(args.scenario))
    # Check before the search that every key can be written back into this file.
    set_values(load_scenario(args.scenario).source_text,
               {**fixed, **{p.path: _current(scenario, p.path) for p in params}}, source=str(out))
    result = calibrate(scenario, targets, params, paths=args.paths, seed=args.seed,
                       replicates=args.replicates, engine=args.engine, progress=not args.quiet)
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
    from simulator.results.files import write_text_atomic

    write_text_atomic(out, text)
    print(f"calibrated scenario: {out}")
    return 0


def _override_values(overrides: list[str], source: str) -> dict:
    """``--set`` strings as {dotted key: value}."""
    from simulator.model.scenario_file import parse_value as _parse_value

    values = {}
    for text in overrides:
        key, sep, value = text.partition("=")
        if not sep:
            raise UserError(f"--set {text!r}: expected dotted.key=value")
        values[key.strip()] = _parse_value(value.strip(), source, key.strip())
    return values


def _current(scenario, path: str) -> float:
    from simulator.model.parameters import build_layout

    layout = build_layout(scenario)
    return float(layout.theta[layout.slots(path)[0]])
