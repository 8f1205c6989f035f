"""What each model channel costs the numba engine, against the random-number bound, in one run.

Usage::

    python benchmarks/channel_costs.py [--scenario scenarios/zhipu_base.toml] [--paths 300000]
        [--threads 1] [--repeats 3]

Runs the scenario as shipped and with channels switched off through ``--set``
overrides (every event hazard 0; every company's chips off; every company's
funding off; all three off), each with and without the quantile fans, and
prints company-path-steps per second and the share of the random-number
bound (``benchmarks/throughput.py``'s bound, measured in the same run: it
draws the same fixed variates whatever is switched off).  The variant with
every channel off is the floor that diffusion, revenue, cash and valuation
cost alone.  Switching a channel off also changes the paths (without funding
most of them fail), so a difference between rows is what that channel costs
in this scenario, not in general.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from throughput import _measure, rng_bound_seconds  # noqa: E402


def _variants(sc) -> dict[str, list[str]]:
    no_events = [f"sector.events.{e.name}.hazard_per_year=0" for e in sc.sector.events]
    no_chips, no_funding = [], []
    for c in sc.companies:
        no_events += [f"companies.{c.name}.events.{e.name}.hazard_per_year=0" for e in c.events]
        no_chips.append(f"companies.{c.name}.chips.enabled=false")
        no_funding.append(f"companies.{c.name}.funding.enabled=false")
    return {
        "as shipped": [],
        "no events": no_events,
        "no chips": no_chips,
        "no funding": no_funding,
        "none of the three": no_events + no_chips + no_funding,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default=str(ROOT / "scenarios" / "zhipu_base.toml"))
    parser.add_argument("--paths", type=int, default=300_000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs per figure")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)

    import simulator
    from simulator.engines.dispatch import simulate
    from simulator.engines.plan import DEFAULT_BLOCK_SIZE, plan_run
    from simulator.engines.streams import normalise_seed
    from simulator.model.parameters import build_layout

    base = simulator.load_scenario(args.scenario)
    seed = normalise_seed(1)
    rows = []
    bound = None
    for name, overrides in _variants(base).items():
        sc = simulator.load_scenario(args.scenario, overrides=overrides)
        layout = build_layout(sc)
        plan = plan_run(sc.scenario.horizon_months, sc.scenario.horizon_list)
        steps = args.paths * plan.n_months * len(sc.companies)
        simulate(layout, plan, paths=1000, seed=seed, threads=args.threads)  # compile / load the cache
        if bound is None:
            bound = steps / rng_bound_seconds(layout, plan, args.paths, seed, DEFAULT_BLOCK_SIZE, args.threads)
        rate = {}
        for fans in (True, False):
            t = _measure(lambda lay=layout, pl=plan, f=fans: simulate(lay, pl, paths=args.paths, seed=seed, fans=f,
                                                                              threads=args.threads),
                         args.repeats)
            rate["fans" if fans else "no_fans"] = steps / t
        rows.append({"variant": name, **rate})

    print(f"scenario {base.name}: {args.paths:,} paths, {args.threads} thread(s); "
          f"random-number bound {bound:,.0f} company-path-steps/s")
    print(f"{'channels':<20}{'with fans':>14}{'of bound':>10}{'no fans':>14}{'of bound':>10}")
    for r in rows:
        print(f"{r['variant']:<20}{r['fans']:>14,.0f}{r['fans'] / bound:>10.0%}"
              f"{r['no_fans']:>14,.0f}{r['no_fans'] / bound:>10.0%}")
    if args.json:
        args.json.write_text(json.dumps({"bound": bound, "paths": args.paths, "threads": args.threads,
                                         "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    from simulator.errors import UserError

    try:
        sys.exit(main())
    except UserError as exc:  # a bad --scenario: one line, exit 2, as the CLI does
        print(f"channel_costs: error: {exc}", file=sys.stderr)
        sys.exit(2)
