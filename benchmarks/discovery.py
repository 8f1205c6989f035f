"""Scenario discovery at scale: wall time and peak memory of ``simulator discover`` on 10^6 paths x 10 inputs.

Usage::

    python benchmarks/discovery.py [--scenario scenarios/zhipu_uncertain.toml] [--paths 1e6]
        [--outcome zhipu.champion@36] [--methods prim cart] [--peel-paths 100000] [--json]
    python benchmarks/discovery.py --selection [--reps 10]

``--selection`` measures why discover chooses and prunes boxes itself (docs/discovery.md):
on planted data (6 inputs uniform on [0, 1]; the outcome has probability 0.8 when
x0 > 0.6, else 0.1; 40,000 paths per seed), EMA Workbench's own box (the last of its
trajectory, PRIM fitted on the first 20,000 paths) against discover's first box: the
noise inputs each limits, the in-sample quasi-p-values of those limits, the lower
limit of x0 and the coverage on paths not fitted on.

The scenario's uncertain inputs are topped up to ten with ``--set`` tables
(``EXTRA``, keys the example scenario gives as numbers) when it has fewer.
Each method runs in a child process of its own, so its peak RSS is its own
(``resource.getrusage``): the child loads the kernels on a few thousand paths,
then times the phases of ``simulator discover SCENARIO --outcome ... --paths N``
as the command runs them: the run with every path's draws and outcome kept
(:func:`simulator.studies.discovery_data.discovery_data`), then the discovery
(:func:`simulator.studies.discovery.discover`: split, PRIM or CART on the peeling
sample, selection and pruning, held-out statistics).  Prints one table (and,
with ``--json``, the rows as JSON).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Uncertain inputs added (in this order) until the scenario has ten.
EXTRA = (
    'companies.zhipu.narrative.kappa={dist = "uniform", low = 0.15, high = 0.6}',
    'companies.zhipu.growth.long_run={dist = "uniform", low = 0.2, high = 0.5}',
    'companies.zhipu.growth.kappa={dist = "uniform", low = 0.3, high = 0.8}',
    'companies.zhipu.costs.opex={dist = "uniform", low = 2.2e9, high = 3.4e9}',
)


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 2**10)


def _overrides(scenario: str, want: int = 10) -> list[str]:
    from simulator.model.scenario_file import load_scenario

    have = len(load_scenario(scenario).uncertain)
    return list(EXTRA[:max(0, want - have)])


def _child(args: argparse.Namespace) -> None:
    from simulator.studies.discovery import discover
    from simulator.studies.discovery_data import discovery_data

    overrides = _overrides(args.scenario)
    source = Path(args.scenario)
    discovery_data(source, args.outcome, paths=4096, seed=1, overrides=overrides)  # kernels loaded
    start = time.perf_counter()
    data = discovery_data(source, args.outcome, paths=int(float(args.paths)), seed=1, overrides=overrides)
    run_s = time.perf_counter() - start
    start = time.perf_counter()
    ds = discover(data.draws, data.y, inputs=data.inputs, method=args.child, peel_paths=args.peel_paths, seed=1,
                  outcome=data.event.label)
    row = {"method": args.child, "paths": int(data.y.size), "inputs": len(data.inputs),
           "outcome_share": float(data.y.mean()), "run_seconds": run_s,
           "discover_seconds": time.perf_counter() - start, "boxes": int(ds.sizes["box"]),
           "peeling_paths": int(ds.attrs["peeling_paths"]), "peak_rss_mb": _peak_rss_mb()}
    print(json.dumps(row))


def _selection(reps: int) -> None:
    import warnings

    import numpy as np
    import pandas as pd

    from simulator.studies.discovery import discover, inside, prune_box, require_libraries

    prim = require_libraries("prim")
    k, n, fit = 6, 40_000, 20_000
    names = [f"x{j}" for j in range(k)]
    noise = significant = kept = 0
    ema_limit, ema_cov, our_limit, our_cov, our_noise = [], [], [], [], 0
    for seed in range(reps):
        rng = np.random.default_rng(seed)
        x = rng.uniform(size=(n, k))
        y = rng.uniform(size=n) < np.where(x[:, 0] > 0.6, 0.8, 0.1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            box = prim.Prim(pd.DataFrame(x[:fit], columns=names), y[:fit].astype(int), threshold=1e-9).find_box()
        qp, lims = box.qp[-1], box.box_lims[-1]
        limited = [u for u in qp if u != "x0"]
        noise += len(limited)
        significant += sum(1 for u in limited if min(v for v in qp[u] if v >= 0) < 0.05)
        lo = np.where(lims.loc[0].to_numpy(float) > x[:fit].min(0), lims.loc[0].to_numpy(float), -np.inf)
        hi = np.where(lims.loc[1].to_numpy(float) < x[:fit].max(0), lims.loc[1].to_numpy(float), np.inf)
        lo2, hi2, _ = prune_box(lo, hi, x[fit:], y[fit:])
        kept += int((np.isfinite(lo2[1:]) | np.isfinite(hi2[1:])).sum())
        m = inside(x[fit:], lo, hi)
        ema_limit.append(float(lims.loc[0, "x0"]))
        ema_cov.append((m & y[fit:]).sum() / y[fit:].sum())
        ds = discover(x, y, inputs=names, seed=seed, boxes=1)
        our_limit.append(float(ds["box_low"].values[0, 0]))
        our_cov.append(float(ds["coverage"].values[0]))
        our_noise += int(ds["restricted"].values[0, 1:].sum())
    print(f"{reps} seeds. EMA Workbench's last box: {noise} noise-input limits, {significant} of them with an "
          f"in-sample quasi-p-value < 0.05; pruned on the other 20,000 paths: {kept} kept. x0 lower limit "
          f"{min(ema_limit):.3f} to {max(ema_limit):.3f} (mean {np.mean(ema_limit):.3f}), coverage on unseen paths "
          f"{np.mean(ema_cov):.3f}.")
    print(f"discover's first box: {our_noise} noise-input limits; x0 lower limit {min(our_limit):.3f} to "
          f"{max(our_limit):.3f} (mean {np.mean(our_limit):.3f}), held-out coverage {np.mean(our_cov):.3f}.")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--scenario", default=str(ROOT / "scenarios" / "zhipu_uncertain.toml"))
    p.add_argument("--paths", default="1e6")
    p.add_argument("--outcome", default="zhipu.champion@36")
    p.add_argument("--methods", nargs="+", default=["prim", "cart"], choices=["prim", "cart"])
    p.add_argument("--peel-paths", type=int, default=100_000)
    p.add_argument("--json", action="store_true")
    p.add_argument("--selection", action="store_true", help="the planted comparison with EMA's own box")
    p.add_argument("--reps", type=int, default=10)
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.selection:
        _selection(args.reps)
        return 0
    if args.child:
        _child(args)
        return 0
    rows = []
    for method in args.methods:
        cmd = [sys.executable, __file__, "--child", method, "--scenario", args.scenario, "--paths", args.paths,
               "--outcome", args.outcome, "--peel-paths", str(args.peel_paths)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if out.returncode:
            print(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"{method}: failed", file=sys.stderr)
            return 2
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"{'method':7} {'paths':>10} {'inputs':>6} {'share':>7} {'run s':>7} {'discover s':>10} "
          f"{'boxes':>5} {'peeled':>8} {'peak RSS MB':>11}")
    for r in rows:
        print(f"{r['method']:7} {r['paths']:>10,} {r['inputs']:>6} {100 * r['outcome_share']:>6.2f}% "
              f"{r['run_seconds']:>7.1f} {r['discover_seconds']:>10.1f} {r['boxes']:>5} {r['peeling_paths']:>8,} "
              f"{r['peak_rss_mb']:>11.0f}")
    if args.json:
        print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
