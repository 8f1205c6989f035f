"""Options shared by several commands, and the argument types that validate them.

The only modules that import argparse are those of :mod:`simulator.cli`.

May import: :mod:`simulator.errors` and :mod:`simulator.engines` (defaults).
"""

from __future__ import annotations

import argparse

from simulator.errors import UsageError

__all__ = ["EXIT_INTERRUPTED", "EXIT_USAGE", "Parser", "add_run_options", "add_study_options", "int_at_least",
           "non_negative_int", "positive_int", "seconds"]

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (a :class:`UsageError`), not a usage dump."""

    def error(self, message: str) -> None:  # one line, exit 2, no usage dump
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def int_at_least(minimum: int):
    """An argparse type: an integer (``1_000`` allowed) of at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text.replace("_", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} must be >= {minimum}")
        return value

    return parse


positive_int = int_at_least(1)
non_negative_int = int_at_least(0)


def seconds(text: str) -> float:
    """An argparse type: a non-negative number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} must be >= 0")
    return value


def add_run_options(p: argparse.ArgumentParser) -> None:
    """``--paths``, ``--seed``, ``--set``, ``--engine``, ``--threads`` (run, batch)."""
    p.add_argument("--paths", type=positive_int, help="number of paths (default: the scenario's)")
    p.add_argument("--seed", type=non_negative_int, help="random seed (default: the scenario's)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a key by its dotted path, e.g. companies.zhipu.chips.imports_per_month=0")
    p.add_argument("--engine", choices=("numba", "numpy"), default="numba",
                   help="compiled engine (default) or the numpy reference engine")
    p.add_argument("--threads", type=positive_int, help="engine threads (results do not depend on it)")


def add_study_options(p: argparse.ArgumentParser, *, paths_help: str) -> None:
    """Options shared by ``sweep``, ``sensitivity`` and ``attribute``."""
    p.add_argument("--paths", type=positive_int, help=paths_help)
    p.add_argument("--seed", type=non_negative_int, help="random seed (default: the scenario's)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a key by its dotted path first")
    p.add_argument("--threads", type=positive_int, help="engine threads (results do not depend on it)")
    p.add_argument("--engine", choices=("numba", "numpy"), default="numba",
                   help="compiled engine (default) or the numpy reference engine")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no table")
