"""Scaling: wall time and peak memory against paths, in process and on a LocalCluster.

Usage::

    python benchmarks/scaling.py [--scenario scenarios/zhipu_base.toml]
        [--paths 1e5 1e6 1e7] [--with-1e8] [--cluster-paths 1e6 1e7] [--workers 2] [--threads N]
        [--repeat R] [--json]

Every measurement runs in a child process of its own, so its peak RSS is its own
(``resource.getrusage``; on a cluster, the client's and each worker's).  A child
first runs a few thousand paths (numba's cached kernels load, dask workers start),
then times ``simulator.run(scenario, paths=N, seed=1)`` (wall time, and CPU time of
every process involved, which other load on the machine does not inflate): in process with numba's
threads, or with ``client=`` on a ``LocalCluster`` of ``--workers`` processes with
one thread each, i.e. the same cores doing the same work.  The cluster results are
checked to be bit-identical to the in-process ones of the same size.  In-process
and cluster runs of a size alternate and the fastest of ``--repeat`` runs is kept,
so that other load on the machine weighs on both alike.  Prints one table (and,
with ``--json``, the rows as JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _peak_rss_mb() -> float:
    # ru_maxrss is in kilobytes on Linux, bytes on macOS.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 2**10)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _child(args: argparse.Namespace) -> None:
    """Run one measurement and print it as JSON (the last line of stdout)."""
    import simulator

    paths = int(float(args.child_paths))
    row = {"mode": args.child, "paths": paths}
    if args.child == "in-process":
        simulator.run(args.scenario, paths=4096, seed=1, threads=args.threads)
        cpu, start = _cpu_seconds(), time.perf_counter()
        ds = simulator.run(args.scenario, paths=paths, seed=1, threads=args.threads)
        row["seconds"] = time.perf_counter() - start
        row["cpu_seconds"] = _cpu_seconds() - cpu
        row["threads"] = args.threads or _numba_threads()
    else:
        from simulator.runner.distributed import dask_client

        with dask_client(cluster=f"local:{args.workers}") as client:
            simulator.run(args.scenario, paths=4096 * args.workers, seed=1, client=client)
            cpu, workers_cpu, start = _cpu_seconds(), client.run(_cpu_seconds), time.perf_counter()
            ds = simulator.run(args.scenario, paths=paths, seed=1, client=client)
            row["seconds"] = time.perf_counter() - start
            after = client.run(_cpu_seconds)
            # The client's process (scheduler included) plus every worker process.
            row["cpu_seconds"] = (_cpu_seconds() - cpu) + sum(after[w] - workers_cpu[w] for w in after)
            row["worker_rss_mb"] = sorted(client.run(_peak_rss_mb).values())
        row["threads"] = f"{args.workers} x 1"
    row["rss_mb"] = _peak_rss_mb()
    if args.save:
        simulator.save_results(ds, args.save)
    print(json.dumps(row))


def _numba_threads() -> int:
    import numba

    return int(numba.get_num_threads())


def _measure(args: argparse.Namespace, mode: str, paths: float, save: str | None = None) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--child-paths", str(paths), "--scenario", args.scenario,
           "--workers", str(args.workers)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    if save:
        cmd += ["--save", save]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{mode} {paths:g}: failed\n{proc.stderr[-3000:]}")
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    row["process_seconds"] = time.perf_counter() - start
    return row


def _identical(a: str, b: str) -> bool:
    import xarray as xr

    import simulator

    da, db = simulator.open_results(a), simulator.open_results(b)
    for ds in (da, db):
        ds.attrs.pop("created", None)
    try:
        xr.testing.assert_identical(da, db)
    except AssertionError:
        return False
    return True


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default=str(ROOT / "scenarios" / "zhipu_base.toml"))
    parser.add_argument("--paths", nargs="+", type=float, default=[1e5, 1e6, 1e7])
    parser.add_argument("--with-1e8", action="store_true", help="also 10^8 paths in process (~30 min on 2 cores)")
    parser.add_argument("--cluster-paths", nargs="*", type=float, default=[1e6, 1e7],
                        help="sizes also run on the LocalCluster (none: skip the cluster)")
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes (1 thread each)")
    parser.add_argument("--threads", type=int, help="numba threads in process (default: all)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per measurement; the fastest is kept")
    parser.add_argument("--json", action="store_true", help="also print the rows as JSON")
    parser.add_argument("--child", choices=("in-process", "cluster"), help=argparse.SUPPRESS)
    parser.add_argument("--child-paths", help=argparse.SUPPRESS)
    parser.add_argument("--save", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args)
        return
    sizes = sorted(set(args.paths) | set(args.cluster_paths) | ({1e8} if args.with_1e8 else set()))
    best: dict[tuple[str, float], dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        # In process and cluster alternate, and the best of --repeat runs is kept, so that
        # other load on the machine weighs on both alike.
        for paths in sizes:
            for _ in range(args.repeat):
                modes = ["in-process"] + (["cluster"] if paths in args.cluster_paths else [])
                for mode in modes:
                    save = os.path.join(tmp, f"{mode}-{paths:g}.nc") if "cluster" in modes else None
                    row = _measure(args, mode, paths, save)
                    print(f"  {mode:<10} {paths:>8.0e}: {row['seconds']:8.1f} s", file=sys.stderr)
                    key = (mode, paths)
                    if key not in best or row["seconds"] < best[key]["seconds"]:
                        best[key] = row
                if "cluster" in modes:
                    same = _identical(os.path.join(tmp, f"in-process-{paths:g}.nc"),
                                      os.path.join(tmp, f"cluster-{paths:g}.nc"))
                    best[("cluster", paths)]["identical"] = same and best[("cluster", paths)].get("identical", True)
    rows = sorted(best.values(), key=lambda r: (r["mode"] != "in-process", r["paths"]))
    base = {r["paths"]: r["seconds"] for r in rows if r["mode"] == "in-process"}
    print(f"scenario: {Path(args.scenario).name}; {os.cpu_count()} cores; seed 1; warm (kernels loaded, workers up)")
    print(f"{'mode':<11} {'threads':>7} {'paths':>11} {'wall s':>8} {'paths/s':>10} {'vs in-proc':>10} "
          f"{'CPU s':>8} {'CPU us/path':>11} {'peak RSS MB':>11} {'workers RSS MB':>15} {'identical':>9}")
    for r in rows:
        ratio = r["seconds"] / base[r["paths"]] if r["paths"] in base else float("nan")
        workers = "/".join(f"{x:.0f}" for x in r.get("worker_rss_mb", [])) or "-"
        ident = {True: "yes", False: "NO", None: "-"}[r.get("identical")]
        print(f"{r['mode']:<11} {r['threads']!s:>7} {r['paths']:>11,} {r['seconds']:>8.1f} "
              f"{r['paths'] / r['seconds']:>10,.0f} {ratio:>10.2f} {r['cpu_seconds']:>8.1f} "
              f"{1e6 * r['cpu_seconds'] / r['paths']:>11.1f} {r['rss_mb']:>11.0f} {workers:>15} {ident:>9}")
    if args.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
