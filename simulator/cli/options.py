"""Options shared by several commands, and the argument types that validate them.

Every option is checked here, before anything runs: a size is a whole number
(``1e6``, ``1_000_000`` and ``1000000`` are the same) within the range the
scenario schema allows for the same key (``--paths`` as ``scenario.paths``,
``--seed`` as ``scenario.seed``), a number of seconds is finite.  What a size
costs in memory is checked once the scenario is known
(:mod:`simulator.runner.memory`).  ``--threads`` above the cores this process
may use is lowered to them with a one-line note (results never depend on the
thread count; more threads than cores only cost memory).

The only modules that import argparse are those of :mod:`simulator.cli`.

May import: :mod:`simulator.errors`, :mod:`simulator.model` (bounds, when an
option is parsed) and :mod:`simulator.engines` (defaults).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path

from simulator.errors import UsageError

__all__ = ["EXIT_INTERRUPTED", "EXIT_USAGE", "Parser", "add_run_options", "add_study_options", "finite_float",
           "int_at_least", "kept_count", "non_negative_int", "open_results_argument", "output_path", "parse_whole_number", "paths_count", "positive_int", "seconds",
           "seed_value"]

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
#: A size written with more digits than this is refused before it is converted
#: (``int(Decimal("1e999999999"))`` would build a billion-digit integer).
_MAX_DIGITS = 60


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (a :class:`UsageError`), not a usage dump."""

    def error(self, message: str) -> None:  # one line, exit 2, no usage dump
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def parse_whole_number(text: str) -> int:
    """A whole number from ``1000``, ``1_000``, ``1e3`` or ``1.0e3``; ValueError with the reason otherwise."""
    cleaned = text.strip().replace("_", "")
    try:
        return int(cleaned)
    except ValueError:
        pass
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a whole number") from None
    if not value.is_finite():
        raise ValueError(f"{text!r} is not a whole number")
    if value != 0 and value.adjusted() >= _MAX_DIGITS:
        raise ValueError(f"{text!r} is far too large")
    if value != value.to_integral_value():
        raise ValueError(f"{text!r} is not a whole number")
    return int(value)


def int_at_least(minimum: int, maximum: int | None = None, *, bound_of: str = "", grouped: bool = True):
    """An argparse type: a whole number (``1_000`` and ``1e3`` allowed) in ``[minimum, maximum]``.

    ``bound_of`` names where the maximum comes from (e.g. the scenario key with
    the same range), for the message; ``grouped`` writes numbers with thousands
    separators in it (sizes, not seeds).
    """
    fmt = "{:,}" if grouped else "{}"

    def parse(text: str) -> int:
        try:
            value = parse_whole_number(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{fmt.format(value)} must be >= {fmt.format(minimum)}")
        if maximum is not None and value > maximum:
            where = f" (the range of {bound_of})" if bound_of else ""
            raise argparse.ArgumentTypeError(f"{fmt.format(value)} must be <= {fmt.format(maximum)}{where}")
        return value

    return parse


positive_int = int_at_least(1)
non_negative_int = int_at_least(0)


def paths_count(text: str) -> int:
    """An argparse type: a number of paths, in the range of ``scenario.paths``."""
    from simulator.model.schema import PATHS_MAX

    return int_at_least(1, PATHS_MAX, bound_of="scenario.paths")(text)


def kept_count(text: str) -> int:
    """An argparse type: a number of kept paths, 0 up to the most paths a run may have."""
    from simulator.model.schema import PATHS_MAX

    return int_at_least(0, PATHS_MAX, bound_of="scenario.paths")(text)


def seed_value(text: str) -> int:
    """An argparse type: a seed, in the range of ``scenario.seed`` (any recorded ``seed_entropy`` fits)."""
    from simulator.model.schema import SEED_MAX

    return int_at_least(0, SEED_MAX, bound_of="scenario.seed", grouped=False)(text)


def finite_float(text: str) -> float:
    """An argparse type: a finite number."""
    try:
        value = float(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def seconds(text: str) -> float:
    """An argparse type: a finite, non-negative number of seconds."""
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value:g} must be >= 0")
    return value


def add_run_options(p: argparse.ArgumentParser) -> None:
    """``--paths``, ``--seed``, ``--set``, ``--engine``, ``--threads`` (run, batch)."""
    p.add_argument("--paths", type=paths_count, help="number of paths (default: the scenario's); 1e6 is allowed")
    p.add_argument("--seed", type=seed_value, help="random seed (default: the scenario's)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a key by its dotted path, e.g. companies.zhipu.chips.imports_per_month=0")
    p.add_argument("--engine", choices=("numba", "numpy"), default="numba",
                   help="compiled engine (default) or the numpy reference engine")
    p.add_argument("--threads", type=positive_int,
                   help="engine threads (results do not depend on it; at most the machine's cores)")


def add_study_options(p: argparse.ArgumentParser, *, paths_help: str) -> None:
    """Options shared by ``sweep``, ``sensitivity`` and ``attribute``."""
    p.add_argument("--paths", type=paths_count, help=paths_help)
    p.add_argument("--seed", type=seed_value, help="random seed (default: the scenario's)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a key by its dotted path first")
    p.add_argument("--threads", type=positive_int,
                   help="engine threads (results do not depend on it; at most the machine's cores)")
    p.add_argument("--engine", choices=("numba", "numpy"), default="numba",
                   help="compiled engine (default) or the numpy reference engine")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no table")


def open_results_argument(path: Path, *, expected: str, problem: Callable | None = None):
    """Open a results file given on the command line, or raise one line naming it and what was expected.

    Every way the file can be wrong is caught: missing, a folder, empty, not
    NetCDF, truncated (:func:`simulator.results.io.open_results`), or a results
    file of another kind: ``problem(ds)`` says why it is not what the command
    needs (None when it is).
    """
    from simulator.errors import UserError
    from simulator.results.io import open_results

    ds = open_results(path, expected=expected)
    why = problem(ds) if problem is not None else None
    if why:
        raise UserError(f"{path}: {why} (expected {expected})")
    return ds


def output_path(path: Path, *, option: str = "--out", folder: bool = False) -> Path:
    """Check an output path before any work (:func:`simulator.results.io.check_output`); returns it."""
    from simulator.results.io import check_output

    return check_output(path, folder=folder, option=option)
