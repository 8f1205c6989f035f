"""Instructions per company-path-month: a speed figure that does not depend on the machine's load.

Usage::

    python benchmarks/instructions.py [--scenario scenarios/zhipu_base.toml] [--paths 20000 220000]

Counts user-space instructions with ``perf stat -e instructions`` (Debian's
``linux-perf``; not a Python dependency) for the numba engine with and without
quantile fans and for the random-number bound, each in a child process on one
thread.  Each figure is the difference between a run of the larger and of the
smaller number of paths, divided by the extra company-path-months, so start-up,
imports and compilation cancel out.  Wall-clock rates (``throughput.py``) vary
with whatever else shares the machine; instruction counts repeat to within a
fraction of a percent.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_CHILD = """
import sys
import numpy as np
from simulator import load_scenario
from simulator.engines.plan import plan_run
from simulator.engines.streams import normalise_seed
from simulator.engines.dispatch import rng_bound_seconds, simulate
from simulator.model.parameters import build_layout
scenario, paths, what = sys.argv[1], int(sys.argv[2]), sys.argv[3]
sc = load_scenario(scenario)
layout = build_layout(sc)
meta = sc.scenario
seed = normalise_seed(1)
if what == "bound":
    rng_bound_seconds(layout, plan_run(meta.horizon_months, meta.horizon_list), paths=paths, seed=seed, threads=1)
else:
    fans = what == "fans"
    plan = plan_run(meta.horizon_months, meta.horizon_list, fans=fans)
    simulate(layout, plan, paths=paths, seed=seed, threads=1, fans=fans)
"""


def count_instructions(scenario: str, paths: int, what: str) -> int:
    """User-space instructions of one child run (``what``: fans, nofans or bound)."""
    out = subprocess.run(
        ["perf", "stat", "-x,", "-e", "instructions:u", sys.executable, "-c", _CHILD, scenario, str(paths), what],
        capture_output=True, text=True, check=True, cwd=ROOT)
    for line in out.stderr.splitlines():
        fields = line.split(",")
        if len(fields) > 2 and fields[2].startswith("instructions"):
            if not fields[0].isdigit():
                raise CounterUnavailable(f"perf stat: instructions {fields[0]} on this machine "
                                         "(a virtual machine without hardware counters?)")
            return int(fields[0])
    raise RuntimeError(f"perf printed no instruction count: {out.stderr.strip()[:200]}")


class CounterUnavailable(RuntimeError):
    """The machine does not expose the instructions counter."""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default=str(ROOT / "scenarios" / "zhipu_base.toml"))
    parser.add_argument("--paths", type=int, nargs=2, default=[20_000, 220_000], metavar=("SMALL", "LARGE"))
    args = parser.parse_args(argv)
    if shutil.which("perf") is None:
        print("perf not found: install Debian's linux-perf to count instructions", file=sys.stderr)
        return 2
    from simulator import load_scenario

    sc = load_scenario(args.scenario)
    small, large = args.paths
    steps = (large - small) * sc.scenario.horizon_months * len(sc.companies)
    # Warm the numba cache first so neither measured run compiles.
    try:
        for what in ("fans", "nofans", "bound"):
            count_instructions(args.scenario, 1000, what)
    except CounterUnavailable as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"scenario {sc.name}: instructions per company-path-month, one thread "
          f"({large:,} minus {small:,} paths)")
    figures = {}
    for what, label in (("fans", "numba, with fans"), ("nofans", "numba, no fans"),
                        ("bound", "random-number bound")):
        figures[what] = (count_instructions(args.scenario, large, what)
                         - count_instructions(args.scenario, small, what)) / steps
        print(f"  {label:<22}{figures[what]:>8,.0f}")
    print(f"  engine / bound: with fans {figures['fans'] / figures['bound']:.1f}x, "
          f"no fans {figures['nofans'] / figures['bound']:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
