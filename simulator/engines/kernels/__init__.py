"""The numba kernels: the only package that imports numba or llvmlite.

Modules, lowest first: ``fastmath`` (branch-free exp and log), ``rng``
(numpy's SFC64 streams and samplers, inline), ``lanes`` (LANES paths at once,
each with its own streams), ``state`` (the names of the lane arrays' offset,
parameters by the schema's names), one module per model channel (``events``,
``diffusion``, ``competition``, ``chips``, ``operations``, ``funding``, ``start``,
``record``, ``outcomes``), ``driver`` (one group of tasks on one thread), ``quantiles``
(histogram quantiles) and ``bound`` (the random-number bound of the
benchmarks); ``bundles`` names the arrays a kernel call takes.

The kernels are compiled on first use and cached on disk (``cache=True``).
numba keys a cached function on its own source file only, not on the modules
it calls nor on the constants it reads, so editing a channel module or the
schema (which moves the parameter slots) would leave stale machine code in
the cache.  The cache therefore lives in a directory named by a fingerprint of
every kernel source file, of the parameter layout derived from the schema, of
the recorded quantities and of numba's version (:func:`cache_fingerprint`):
any change of the layout or of a kernel is a new directory, hence a fresh
compile.  The directory is under ``NUMBA_CACHE_DIR`` when that is set, else in
this package's ``__pycache__`` (or the user's cache folder when that is not
writable).

May import: :mod:`simulator.model` (the layout and the recorded quantities).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numba
from numba.core import config as _numba_config

from simulator.model import quantities
from simulator.model.parameters import layout_fingerprint

__all__ = ["CACHE_DIR", "LANES", "cache_fingerprint", "draw_only", "hist_quantile_rows", "is_cached", "is_loaded",
           "load_for", "run_group", "run_groups"]

_HERE = Path(__file__).resolve().parent


def _sources() -> list[Path]:
    return sorted(_HERE.glob("*.py"))


def cache_fingerprint(layout: str | None = None, sources: list[Path] | None = None) -> str:
    """A hash of everything the compiled kernels depend on besides their arguments.

    Parameters
    ----------
    layout : str, optional
        The parameter layout's fingerprint (default: today's,
        :func:`simulator.model.parameters.layout_fingerprint`).
    sources : list of Path, optional
        The kernel source files (default: this package's modules).
    """
    h = hashlib.sha256()
    h.update(numba.__version__.encode())
    h.update((layout if layout is not None else layout_fingerprint()).encode())
    h.update(repr(sorted((k, v) for k, v in vars(quantities).items() if k.isupper())).encode())
    for path in (sources if sources is not None else _sources()):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _cache_root() -> Path:
    user = os.environ.get("NUMBA_CACHE_DIR")
    if user:
        return Path(user)
    in_tree = _HERE / "__pycache__"
    try:
        in_tree.mkdir(exist_ok=True)
        with tempfile.TemporaryFile(dir=in_tree):
            pass
        return in_tree
    except OSError:
        return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ai-valuation-simulator"


#: Where the compiled kernels of this layout and these sources are cached.
CACHE_DIR = _cache_root() / f"kernels-{cache_fingerprint()}"

# numba picks a function's cache location when the function is decorated: the
# kernel modules are imported under this package's cache directory, and numba's
# setting is restored afterwards so that other numba code is not affected.
_previous = _numba_config.CACHE_DIR
_numba_config.CACHE_DIR = str(CACHE_DIR)
try:
    from simulator.engines.kernels.bound import draw_only
    from simulator.engines.kernels.driver import run_group, run_groups
    from simulator.engines.kernels.lanes import LANES
    from simulator.engines.kernels.quantiles import hist_quantile_rows
finally:
    _numba_config.CACHE_DIR = _previous



def is_loaded() -> bool:
    """Whether this process already holds the machine code of the run kernel (compiled or read from the cache)."""
    return bool(run_groups.signatures)


def is_cached() -> bool:
    """Whether the on-disk cache holds compiled run kernels of these sources (else the first run compiles them)."""
    return any(CACHE_DIR.rglob("driver.run_groups-*.nbi"))


def load_for(*run_args) -> None:
    """Compile the run kernel for these arguments of :func:`run_groups` (or read it from the cache), and the
    histogram-quantile kernel, without running them: the caller can time this apart from the simulation."""
    import numpy as np

    run_groups.compile(tuple(numba.typeof(a) for a in run_args))
    sample = (np.zeros((1, 4), dtype=np.int64), np.zeros((1, 2)), np.zeros(1), 0.0, 1.0, False, np.zeros((1, 1)))
    hist_quantile_rows.compile(tuple(numba.typeof(a) for a in sample))
