"""Command line: ``simulator run|validate|...``.

Every user error ends in one line on stderr naming the file, the dotted key,
the value and the allowed range, and exit code 2; never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """A command-line error; the message is one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, no usage dump
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def _int_at_least(minimum: int):
    """An argparse type: an integer (``1_000`` allowed) of at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text.replace("_", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} must be >= {minimum}")
        return value

    return parse


_positive_int = _int_at_least(1)
_non_negative_int = _int_at_least(0)


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--paths", type=_positive_int, help="number of paths (default: the scenario's)")
    p.add_argument("--seed", type=_non_negative_int, help="random seed (default: the scenario's)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a key by its dotted path, e.g. companies.zhipu.chips.imports_per_month=0")
    p.add_argument("--engine", choices=("numba", "numpy"), default="numba",
                   help="compiled engine (default) or the numpy reference engine")
    p.add_argument("--threads", type=_positive_int, help="numba threads (results do not depend on it)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``simulator`` command."""
    parser = _Parser(prog="simulator", description="Monte Carlo scenario simulator for the valuation "
                     "of AI companies. See README.md and docs/scenario-reference.md.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("run", help="simulate a scenario, print a summary, save a NetCDF file")
    p.add_argument("scenario", type=Path, help="scenario TOML file")
    _add_run_options(p)
    p.add_argument("--out", type=Path, help="results file (default: results/<scenario name>.nc)")
    p.add_argument("--keep-paths", type=_non_negative_int, default=0, metavar="N",
                   help="keep the first N full paths in the results (float32)")
    p.add_argument("--report", type=Path, metavar="DIR",
                   help="also write the figures and report of the run to DIR")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no table")
    p.add_argument("--precision", type=float, metavar="HALF_WIDTH",
                   help="choose the number of paths so that the 95%% CI half-width of the targeted "
                        "probabilities is at most this (two-stage rule, see docs)")
    p.add_argument("--target", action="append", default=[], metavar="C.OUTCOME@H",
                   help="with --precision: the probability to make precise (default: all of them)")
    p.add_argument("--max-paths", type=_positive_int, default=10_000_000,
                   help="with --precision: cap on the number of paths (default 10,000,000)")

    p = sub.add_parser("validate", help="check scenario files and print a one-line summary each")
    p.add_argument("scenarios", type=Path, nargs="+", help="scenario TOML files")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a key by its dotted path before validating")

    p = sub.add_parser("report", help="write figures, report.md and report.html from a results file")
    p.add_argument("results", type=Path, help="a results .nc file (run, sweep, sensitivity or batch)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    _register_plugins(sub)
    return parser


def _cmd_validate(args: argparse.Namespace) -> int:
    from simulator.config import ScenarioError, load_scenario

    failed = 0
    for path in args.scenarios:
        try:
            sc = load_scenario(path, overrides=args.overrides)
        except ScenarioError as exc:
            print(f"simulator: error: {exc}", file=sys.stderr)
            failed += 1
            continue
        n_events = len(sc.sector.events) + sum(len(c.events) for c in sc.companies)
        print(f"ok: {path}: {sc.name}, {len(sc.companies)} compan{'y' if len(sc.companies) == 1 else 'ies'} "
              f"({', '.join(c.name for c in sc.companies)}), {n_events} event types, "
              f"{sc.scenario.horizon_months} months, {sc.scenario.paths:,} paths, {sc.currency}")
    return EXIT_USAGE if failed else 0


def _cmd_run(args: argparse.Namespace) -> int:
    import simulator
    from simulator.config import load_scenario

    scenario = load_scenario(args.scenario, overrides=args.overrides)
    out = args.out or Path("results") / f"{scenario.name}.nc"
    start = time.perf_counter()
    if args.precision is not None:
        from simulator.precision import run_to_precision
        from simulator.targets import parse_target

        if args.paths or args.keep_paths:
            raise UsageError("simulator run: --precision chooses the paths; drop --paths/--keep-paths")
        targets = [parse_target(t, scenario) for t in args.target]
        ds = run_to_precision(scenario, precision=args.precision, targets=targets or None,
                              max_paths=args.max_paths, seed=args.seed, engine=args.engine,
                              threads=args.threads, progress=not args.quiet)
    else:
        if args.target:
            raise UsageError("simulator run: --target goes with --precision")
        ds = simulator.run(scenario, paths=args.paths, seed=args.seed, engine=args.engine,
                           keep_paths=args.keep_paths, threads=args.threads, progress=not args.quiet)
    elapsed = time.perf_counter() - start
    if args.overrides:
        import json

        ds.attrs["overrides"] = json.dumps(args.overrides)
    simulator.save_results(ds, out)
    if not args.quiet:
        print(ds.sim.table())
        print()
    print(f"{ds.attrs['paths']:,} paths in {elapsed:.2f} s ({args.engine}); results: {out}")
    if args.precision is not None:
        met = "met" if ds.attrs["precision_met"] else "NOT met"
        print(f"precision target {args.precision:g} {met}: widest 95% half-width "
              f"{ds.attrs['precision_worst_half_width']:.4f} ({ds.attrs['precision_worst_target']}); "
              f"pilot {ds.attrs['precision_pilot_paths']:,} paths"
              + (f"; capped at --max-paths {args.max_paths:,}" if ds.attrs["precision_capped"] else ""))
    if args.report:
        from simulator.report import write_report

        written = write_report(ds, args.report)
        print(f"report: {written}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from simulator.io import open_results

    if not args.results.exists():
        raise UsageError(f"{args.results}: no such file")
    from simulator.report import write_report

    ds = open_results(args.results)
    print(f"report: {write_report(ds, args.out)}")
    return 0


_COMMANDS = {"run": _cmd_run, "validate": _cmd_validate, "report": _cmd_report}

#: Modules that add subcommands: each has ``register(subparsers) -> {name: handler}``,
#: where ``handler(args) -> int`` returns the exit code.
_PLUGINS: tuple[str, ...] = (
    "simulator.analysis_cli",
    "simulator.batch",
    "simulator.sweep",
    "simulator.sensitivity",
)


def _register_plugins(sub) -> None:
    import importlib

    for name in _PLUGINS:
        _COMMANDS.update(importlib.import_module(name).register(sub))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``simulator`` console script; returns the exit code."""
    from simulator.errors import UserError

    try:
        args = build_parser().parse_args(argv)
        return _COMMANDS[args.command](args)
    except (UsageError, UserError) as exc:
        print(f"simulator: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("simulator: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as exc:
        print(f"simulator: error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
