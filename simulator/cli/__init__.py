"""The command line: one module per command, the shared options, and :func:`main`.

The only package that imports argparse.  May import: every layer below it
(:mod:`simulator.errors` up to :mod:`simulator.report`).
"""

from simulator.cli.main import main

__all__ = ["main"]
