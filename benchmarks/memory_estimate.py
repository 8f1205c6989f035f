"""How close the memory estimate (simulator/runner/memory.py) is to what a run really takes.

Usage::

    python benchmarks/memory_estimate.py [--scenario scenarios/zhipu_base.toml]

Each configuration runs in a fresh process: a small warm-up run (imports, compiled
kernels, allocator pools), then the measured run; it prints the estimate, the peak RSS
above the warm process and their ratio.  A ratio at most 1 means the estimate is an
upper bound, which is what refusing a run before it starts needs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_CHILD = r"""
import json, resource, sys
import psutil
import simulator
from simulator.runner.memory import format_bytes, sets_sizing, total_bytes
from simulator.runner.prepared import prepare_run
from simulator.studies.sweep import sweep

scenario, kind, options = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
simulator.run(scenario, paths=2000, seed=1)
sweep(scenario, ["companies.zhipu.growth.long_run=0:1:3"], paths=100)
warm = max(psutil.Process().memory_info().rss, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
if kind == "run":
    estimate = total_bytes(prepare_run(scenario, **options).memory_needs()[0])
    simulator.save_results(simulator.run(scenario, **options), sys.argv[4])
else:
    points, paths = options["points"], options["paths"]
    p = prepare_run(scenario, paths=paths, fans=False)
    estimate = total_bytes(sets_sizing(p.layout, p.plan, points, option="--param", paths=paths,
                                       block_size=p.block_size).needs)
    sweep(scenario, [f"companies.zhipu.growth.long_run=0:1:{points}"], paths=paths).to_netcdf(sys.argv[4])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - warm
print(json.dumps({"estimate": estimate, "peak": peak}))
"""

CONFIGS = [
    ("run", {"paths": 200_000, "seed": 1, "keep_paths": 200_000}),
    ("run", {"paths": 2_000_000, "seed": 1, "block_size": 1_000_000}),
    ("run", {"paths": 100_000, "seed": 1, "threads": 16}),
    ("sweep", {"points": 50_000, "paths": 100}),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default=str(ROOT / "scenarios" / "zhipu_base.toml"))
    parser.add_argument("--out", default="/tmp/memory_estimate.nc", help="scratch results file")
    args = parser.parse_args()
    from simulator.runner.memory import format_bytes

    for kind, options in CONFIGS:
        proc = subprocess.run([sys.executable, "-c", _CHILD, args.scenario, kind, json.dumps(options), args.out],
                              capture_output=True, text=True, check=True)
        got = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"{kind} {options}: estimate {format_bytes(got['estimate'])}, peak RSS above the warm process "
              f"{format_bytes(got['peak'])}, ratio {got['peak'] / got['estimate']:.2f}")


if __name__ == "__main__":
    main()
