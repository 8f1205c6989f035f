"""Start-up of the command line against ``import xarray``, measured side by side on this machine.

Usage::

    python benchmarks/startup.py [--rounds 7] [--paths 1000] [--cold]

Each round runs, each in a fresh child process and one after the other, the
bare ``python -c "import xarray"`` and the warm
``simulator run scenarios/zhipu_base.toml --paths 1000 --quiet`` (kernels
cached; results to a temporary folder), and prints every pair's wall-clock
seconds and the ratio of the best (simulator / xarray) and of the medians.
The machine's speed drifts from minute to minute: alternating the two puts
both in the same phases.  The target (issue 16): the command at most 2x the
import.  ``--cold`` also times one first run with an empty kernel cache
(``NUMBA_CACHE_DIR`` in a temporary folder): what the "compiling the kernels"
notice announces.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIMULATOR = [sys.executable, "-m", "simulator.cli"]


def _seconds(argv: list[str], env: dict | None = None, cwd: Path = ROOT) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--paths", type=int, default=1000)
    parser.add_argument("--scenario", default="scenarios/zhipu_base.toml")
    parser.add_argument("--cold", action="store_true", help="also time one run with an empty kernel cache")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.paths < 1:
        print("startup.py: error: --rounds and --paths must be >= 1", file=sys.stderr)
        return 2
    if not (ROOT / args.scenario).is_file():
        print(f"startup.py: error: {args.scenario}: no such file", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        run = [*SIMULATOR, "run", str(ROOT / args.scenario), "--paths", str(args.paths), "--quiet",
               "--out", str(Path(tmp) / "r.nc")]
        _seconds(run)  # the kernels compiled or cached before timing
        pairs = []
        for i in range(args.rounds):
            order = [("xarray", [sys.executable, "-c", "import xarray"]), ("simulator", run)]
            if i % 2:
                order.reverse()
            got = {name: _seconds(cmd) for name, cmd in order}
            pairs.append((got["xarray"], got["simulator"]))
            print(f"round {i + 1}: import xarray {got['xarray']:.2f} s, simulator run {got['simulator']:.2f} s "
                  f"(x{got['simulator'] / got['xarray']:.2f})", flush=True)
        xs, ss = [p[0] for p in pairs], [p[1] for p in pairs]
        print(f"best: import xarray {min(xs):.2f} s, simulator run {min(ss):.2f} s: x{min(ss) / min(xs):.2f}; "
              f"medians {statistics.median(xs):.2f} s and {statistics.median(ss):.2f} s: "
              f"x{statistics.median(ss) / statistics.median(xs):.2f} (target: at most x2)")
        if args.cold:
            cache = Path(tmp) / "numba-cache"
            cold = _seconds(run, env={**os.environ, "NUMBA_CACHE_DIR": str(cache)})
            print(f"cold first run (empty kernel cache, compiles the kernels): {cold:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
