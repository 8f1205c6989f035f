"""``simulator batch``: many scenarios into a folder, resumable, optionally on a dask cluster.

May import: every layer below :mod:`simulator.cli`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from simulator.cli.options import add_run_options, kept_count, output_path, positive_int, seconds
from simulator.engines.plan import DEFAULT_BLOCK_SIZE
from simulator.errors import BatchError

__all__ = ["register"]


def register(subparsers) -> dict:
    """Add ``simulator batch`` to the command line; returns ``{"batch": handler}``."""
    p = subparsers.add_parser(
        "batch", help="run many scenarios into a folder: resumable, optionally on a dask cluster",
        description="Run every scenario into OUT/<name>.nc plus OUT/summary.nc and OUT/summary.csv. "
                    "Up-to-date results are skipped; interrupted runs resume from their checkpoints. "
                    "See docs/scaling.md.")
    p.add_argument("scenarios", type=Path, nargs="+", help="scenario TOML files")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    add_run_options(p)
    where = p.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="run on an existing dask cluster: tcp://HOST:PORT or a scheduler file (.json)")
    where.add_argument("--cluster", metavar="local:N",
                       help="run on a new LocalCluster of N worker processes")
    p.add_argument("--keep-paths", type=kept_count, default=0, metavar="N",
                   help="keep the first N full paths of every scenario")
    p.add_argument("--zarr", type=Path, metavar="DIR",
                   help="write kept paths to DIR/<name>.zarr in chunks instead of the .nc files")
    p.add_argument("--block-size", type=positive_int, default=DEFAULT_BLOCK_SIZE, metavar="N",
                   help=f"paths per random-stream block (default {DEFAULT_BLOCK_SIZE}; part of the results' identity)")
    p.add_argument("--blocks-per-task", type=positive_int, metavar="N",
                   help="blocks per task (default: automatic; no effect on results)")
    # The default is studies.batch.CHECKPOINT_SECONDS, read when the command runs: importing the batch
    # machinery (dask) here would slow the start of every command.
    p.add_argument("--checkpoint-every", type=seconds, metavar="SECONDS",
                   help="seconds between checkpoints of a running scenario (default: a minute)")
    p.add_argument("--force", action="store_true", help="recompute up-to-date results too")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return {"batch": _cmd_batch}


def _cmd_batch(args: argparse.Namespace) -> int:
    from simulator.runner.distributed import dask_client
    from simulator.studies.batch import CHECKPOINT_SECONDS, run_batch

    if args.zarr is not None and not args.keep_paths:
        raise BatchError("--zarr needs --keep-paths N")
    output_path(args.out, folder=True)
    if args.zarr is not None:
        output_path(args.zarr, option="--zarr", folder=True)
    options = dict(paths=args.paths, seed=args.seed, overrides=args.overrides, engine=args.engine,
                   threads=args.threads, block_size=args.block_size, keep_paths=args.keep_paths,
                   zarr=args.zarr, blocks_per_task=args.blocks_per_task,
                   checkpoint_every=CHECKPOINT_SECONDS if args.checkpoint_every is None else args.checkpoint_every,
                   force=args.force,
                   progress=False if args.quiet else None)
    if args.scheduler or args.cluster:
        with dask_client(scheduler=args.scheduler, cluster=args.cluster) as client:
            report = run_batch(args.scenarios, args.out, client=client, **options)
    else:
        report = run_batch(args.scenarios, args.out, **options)
    return report.exit_code
