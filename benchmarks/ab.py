"""A/B throughput of two checkouts of the package, measured interleaved on this machine.

Usage::

    python benchmarks/ab.py OTHER_CHECKOUT [--scenario scenarios/zhipu_base.toml] [--paths 1000000]
        [--threads 2] [--rounds 5]

Runs ``simulator.run`` (warm: the kernels are compiled or loaded first) on this
checkout (A) and on OTHER_CHECKOUT (B), alternating A, B, B, A, ... for
``--rounds`` rounds, each run in a fresh child process, and prints every
run's seconds and the ratio of the medians (B / A) with its range.  The
machine's speed drifts by 10-30% from minute to minute: interleaving puts
both sides in the same phases.  Both checkouts must import as ``simulator``
from their own folder (``PYTHONPATH``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_CHILD = """
import json, sys, time
import simulator
sc = simulator.load_scenario(sys.argv[1])
paths, threads = int(sys.argv[2]), int(sys.argv[3])
simulator.run(sc, paths=2000, seed=1, threads=threads)  # compile or load the kernels
best = float("inf")
for _ in range(2):
    t = time.perf_counter()
    simulator.run(sc, paths=paths, seed=1, threads=threads)
    best = min(best, time.perf_counter() - t)
print(json.dumps({"seconds": best}))
"""


def _run(checkout: Path, scenario: str, paths: int, threads: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    out = subprocess.run([sys.executable, "-c", _CHILD, scenario, str(paths), str(threads)],
                         cwd=checkout, env=env, capture_output=True, text=True, check=True)
    return float(json.loads(out.stdout.strip().splitlines()[-1])["seconds"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", type=Path, help="the other checkout (B)")
    parser.add_argument("--scenario", default="scenarios/zhipu_base.toml")
    parser.add_argument("--paths", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    if not (args.other / "simulator").is_dir():
        print(f"ab.py: error: {args.other}: no simulator/ package there", file=sys.stderr)
        return 2
    a, b = [], []
    for r in range(args.rounds):
        order = ((ROOT, a), (args.other, b)) if r % 2 == 0 else ((args.other, b), (ROOT, a))
        for checkout, bucket in order:
            bucket.append(_run(checkout, args.scenario, args.paths, args.threads))
        print(f"round {r + 1}: A {a[-1]:.3f} s, B {b[-1]:.3f} s", flush=True)
    ratio = statistics.median(b) / statistics.median(a)
    print(f"A ({ROOT}): median {statistics.median(a):.3f} s, range {min(a):.3f}-{max(a):.3f}")
    print(f"B ({args.other}): median {statistics.median(b):.3f} s, range {min(b):.3f}-{max(b):.3f}")
    print(f"B / A = {ratio:.3f} (per round: {', '.join(f'{y / x:.3f}' for x, y in zip(a, b, strict=True))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
