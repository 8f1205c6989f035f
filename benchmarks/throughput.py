"""Throughput of the engines, in one run: numba engine, numpy reference engine, random-number bound.

Usage::

    python benchmarks/throughput.py [--scenario scenarios/zhipu_base.toml] [--paths 1000000]
        [--numpy-paths 20000] [--big-paths 10000000] [--threads 2] [--versus KEY=VALUE ...]

Prints company-path-steps per second for each, their ratios, the warm wall time
of the numba engine on ``--paths`` paths, and peak memory (RSS) of a separate
``--big-paths`` run (a child process, so its peak is its own).  The random-number
bound draws exactly the variates one path-month consumes in the common case
(one sector normal, one uniform per event type, per company four normals and
one supply uniform) from the same generators, in njit, and does nothing else.
``--versus KEY=VALUE`` (repeatable) also times the numba engine on the scenario with
those overrides, interleaved with the scenario as it is (best of five each, with
and without fans), and prints the ratio: e.g. ``--scenario
scenarios/sector_portfolio.toml --versus sector.competition.enabled=false`` is the
cost of competition (MODEL.md step 9) in one run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _measure(fn, repeats: int = 3) -> float:
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def rng_bound_seconds(layout, plan, paths: int, seed, block_size: int, threads: int) -> float:
    """Seconds (best of three) to draw the variates of ``paths`` paths with the engine's own streams."""
    from simulator.engines.dispatch import rng_bound_seconds as bound

    bound(layout, plan, paths=min(paths, block_size), seed=seed, block_size=block_size, threads=threads)  # compile
    return min(bound(layout, plan, paths=paths, seed=seed, block_size=block_size, threads=threads)
               for _ in range(3))


def _peak_rss_child(scenario: str, paths: int, threads: int) -> dict:
    code = (
        "import resource, time, simulator;"
        f"sc = simulator.load_scenario({scenario!r});"
        "simulator.run(sc, paths=1000, seed=1);"
        "t = time.perf_counter();"
        f"ds = simulator.run(sc, paths={paths}, seed=1, threads={threads});"
        "dt = time.perf_counter() - t;"
        "import json; print(json.dumps({'seconds': dt, "
        "'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default=str(ROOT / "scenarios" / "zhipu_base.toml"))
    parser.add_argument("--paths", type=int, default=1_000_000)
    parser.add_argument("--numpy-paths", type=int, default=20_000)
    parser.add_argument("--big-paths", type=int, default=10_000_000, help="0 to skip the memory run")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--versus", action="append", default=[], metavar="KEY=VALUE",
                        help="also time the scenario with these overrides, interleaved (repeatable)")
    args = parser.parse_args(argv)

    import simulator
    from simulator.engines.dispatch import simulate
    from simulator.engines.plan import DEFAULT_BLOCK_SIZE, plan_run
    from simulator.engines.streams import normalise_seed
    from simulator.model.parameters import build_layout

    sc = simulator.load_scenario(args.scenario)
    layout = build_layout(sc)
    plan = plan_run(sc.scenario.horizon_months, sc.scenario.horizon_list)
    seed = normalise_seed(1)
    n_comp = len(sc.companies)
    steps = plan.n_months * n_comp

    simulate(layout, plan, paths=1000, seed=seed, threads=args.threads)  # compile / load the cache
    t_numba = _measure(lambda: simulate(layout, plan, paths=args.paths, seed=seed, threads=args.threads))
    t_numba_nofans = _measure(lambda: simulate(layout, plan, paths=args.paths, seed=seed, fans=False,
                                                     threads=args.threads))
    t_numpy = _measure(lambda: simulate(layout, plan, paths=args.numpy_paths, seed=seed, engine="numpy"), 1)
    t_bound = rng_bound_seconds(layout, plan, args.paths, seed, DEFAULT_BLOCK_SIZE, args.threads)
    t_run = _measure(lambda: simulator.run(sc, paths=args.paths, seed=1, threads=args.threads), 2)

    rate = {
        "numba": args.paths * steps / t_numba,
        "numba_no_fans": args.paths * steps / t_numba_nofans,
        "numpy": args.numpy_paths * steps / t_numpy,
        "rng_bound": args.paths * steps / t_bound,
    }
    figures = {
        "scenario": sc.name, "threads": args.threads, "paths": args.paths, "months": plan.n_months,
        "companies": n_comp, "events": int(layout.events.shape[0]),
        "numba_seconds": t_numba, "numba_no_fans_seconds": t_numba_nofans,
        "run_to_dataset_seconds": t_run, "numpy_seconds": t_numpy, "numpy_paths": args.numpy_paths,
        "rng_bound_seconds": t_bound, "rates_company_path_steps_per_s": rate,
        "numba_over_numpy": rate["numba"] / rate["numpy"],
        "numba_over_rng_bound": rate["numba"] / rate["rng_bound"],
        "numba_no_fans_over_rng_bound": rate["numba_no_fans"] / rate["rng_bound"],
    }
    if args.big_paths:
        figures["big_run"] = {"paths": args.big_paths, **_peak_rss_child(args.scenario, args.big_paths, args.threads)}
    if args.versus:
        figures["versus"] = _versus(sc, layout, plan, args, seed, steps)

    print(f"scenario {sc.name}: {n_comp} company(ies), {plan.n_months} months, "
          f"{int(layout.events.shape[0])} event types, {args.threads} threads")
    print(f"{'engine':<28}{'company-path-steps/s':>22}{'vs numpy':>10}{'vs RNG bound':>14}")
    for name, label in (("numba", "numba (with quantile fans)"), ("numba_no_fans", "numba (no fans)"),
                        ("numpy", "numpy reference"), ("rng_bound", "random-number bound")):
        print(f"{label:<28}{rate[name]:>22,.0f}{rate[name] / rate['numpy']:>9.1f}x"
              f"{rate[name] / rate['rng_bound']:>13.0%}")
    print(f"numba engine, {args.paths:,} paths x {plan.n_months} months: {t_numba:.2f} s warm "
          f"(simulator.run to Dataset: {t_run:.2f} s)")
    if args.big_paths:
        big = figures["big_run"]
        print(f"{args.big_paths:,} paths: {big['seconds']:.1f} s, peak RSS {big['peak_rss_mb']:.0f} MB")
    if args.versus:
        v = figures["versus"]
        for fans in ("with fans", "no fans"):
            f = v[fans]
            print(f"{fans}: as is {f['rate']:,.0f}/s, with {' '.join(args.versus)} {f['versus_rate']:,.0f}/s: "
                  f"as is / with = {f['ratio']:.3f} (best of {v['rounds']} interleaved rounds of {args.paths:,} paths)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


def _versus(sc, layout, plan, args, seed, steps: int) -> dict:
    """The numba engine on the scenario as it is and with ``--versus`` overrides, rounds interleaved."""
    from simulator.engines.dispatch import simulate
    from simulator.model.parameters import build_layout
    from simulator.model.scenario_file import with_overrides

    other = build_layout(with_overrides(sc, args.versus))
    simulate(other, plan, paths=1000, seed=seed, threads=args.threads)  # compile / load the cache
    rounds = 5
    out = {"overrides": args.versus, "rounds": rounds}
    for label, fans in (("with fans", True), ("no fans", False)):
        best = {"as_is": np.inf, "versus": np.inf}
        for _ in range(rounds):
            for key, lay in (("as_is", layout), ("versus", other)):
                best[key] = min(best[key], _measure(
                    lambda lay=lay, fans=fans: simulate(lay, plan, paths=args.paths, seed=seed, fans=fans,
                                                        threads=args.threads), 1))
        rate, versus_rate = args.paths * steps / best["as_is"], args.paths * steps / best["versus"]
        out[label] = {"rate": rate, "versus_rate": versus_rate, "ratio": rate / versus_rate}
    return out


if __name__ == "__main__":
    from simulator.errors import UserError

    try:
        sys.exit(main())
    except UserError as exc:  # a bad --scenario: one line, exit 2, as the CLI does
        print(f"throughput: error: {exc}", file=sys.stderr)
        sys.exit(2)
