"""Reading and writing results: NetCDF (h5netcdf), written atomically, checked when read.

Results are written through a temporary file renamed over the target
(:mod:`simulator.results.files`), so a reader never sees a partial file.

Every results file carries ``content_sha256``, a checksum of its variables as
stored (:func:`content_checksum`), so an edited or damaged file is recognised
(:func:`verify_checksum`; a batch recomputes such a result).

:func:`open_results` turns every way a file can be wrong (missing, a folder,
empty, not NetCDF, truncated) into one :class:`~simulator.errors.UserError`
line naming the path and what was expected; :func:`check_output` does the same
for an output path before any work starts.

May import: :mod:`simulator.errors`, :mod:`simulator.warnings` and the other modules of :mod:`simulator.results`.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import xarray as xr

from simulator.errors import UserError
from simulator.results import accessor  # noqa: F401  (registers ds.sim on every results Dataset)
from simulator.results.files import write_atomic

__all__ = ["CHECKSUM_ATTR", "check_output", "content_checksum", "open_results", "save_results", "verify_checksum"]

#: Attribute holding the checksum of a results file's variables (their values and attributes).
CHECKSUM_ATTR = "content_sha256"
#: The first bytes of every HDF5 file (hence of every NetCDF-4 file).
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: Bytes of one slab of a variable read while computing the checksum (memory stays bounded).
_SLAB_BYTES = 32 * 2**20


def save_results(ds: xr.Dataset, path: str | Path) -> Path:
    """Write ``ds`` to NetCDF atomically, with the checksum of its content (``content_sha256``)."""
    path = Path(path)
    check_output(path, option="")
    encoding = {name: {"zlib": True, "complevel": 4} for name in ds.data_vars
                if ds[name].dtype.kind in "fiu" and ds[name].size > 1024}
    if CHECKSUM_ATTR in ds.attrs:  # opened another way: the old checksum is replaced
        ds = ds.copy(deep=False)
        ds.attrs.pop(CHECKSUM_ATTR)

    def write(tmp: str) -> None:
        ds.to_netcdf(tmp, engine="h5netcdf", encoding=encoding)
        import h5netcdf

        # The checksum of what is stored (after xarray's encoding), so a reader can recompute it.
        with h5netcdf.File(tmp, "r+") as fh:
            fh.attrs[CHECKSUM_ATTR] = _checksum_of(fh)

    return write_atomic(path, write)


def _checksum_of(fh) -> str:
    """SHA-256 of an open h5netcdf file's data: every variable's name, type, shape, dimensions, values and
    attributes (units, long names), as stored.  The file's own attributes (provenance, creation time)
    are not data; the batch checks the run's identity among them separately.

    Values are read in slabs along the first dimension (:func:`_slabs`): the digest is that of the
    whole variable, without holding a copy of it."""
    digest = hashlib.sha256()

    def attrs(items) -> None:
        for key in sorted(items):
            value = items[key]
            value = value.tolist() if isinstance(value, np.ndarray | np.generic) else value
            digest.update(f"{key}={value!r};".encode())

    for name in sorted(fh.variables):
        var = fh.variables[name]
        slabs = _slabs(var)
        first = next(slabs)
        digest.update(f"\0{name}:{first.dtype.str}:{tuple(int(n) for n in var.shape)}:{var.dimensions}\0".encode())
        if first.dtype.kind in "OSU":
            # The values joined by NUL: each slab's joined, and a NUL between slabs that hold any.
            written = False
            for values in itertools.chain((first,), slabs):
                if values.size:
                    text = "\0".join(v.decode() if isinstance(v, bytes) else str(v) for v in values.ravel())
                    digest.update((("\0" if written else "") + text).encode())
                    written = True
        else:
            for values in itertools.chain((first,), slabs):
                digest.update(np.ascontiguousarray(values).tobytes())
        attrs({k: v for k, v in var.attrs.items() if not k.startswith("_")})
    return digest.hexdigest()


def _slabs(var) -> Iterator[np.ndarray]:
    """A variable's values in slabs of about :data:`_SLAB_BYTES` along its first dimension (at least one slab)."""
    shape = tuple(int(n) for n in var.shape)
    if not shape or shape[0] == 0:
        yield np.asarray(var[...])
        return
    row = max(1, math.prod(shape[1:])) * max(1, np.dtype(var.dtype).itemsize if _numeric(var) else 64)
    step = max(1, _SLAB_BYTES // row)
    for start in range(0, shape[0], step):
        yield np.asarray(var[start:start + step])


def _numeric(var) -> bool:
    """Whether a stored variable has a fixed-size numpy type (strings are variable-length)."""
    try:
        return np.dtype(var.dtype).kind in "biufcmM"
    except TypeError:
        return False


def content_checksum(path: str | Path) -> str:
    """The checksum :func:`save_results` stores, recomputed from the file as it is now."""
    import h5netcdf

    with h5netcdf.File(path, "r") as fh:
        return _checksum_of(fh)


def verify_checksum(path: str | Path) -> bool | None:
    """True when the file's content matches its stored checksum, False when not (edited or damaged),
    None when it has none (written by an older version) or cannot be read."""
    import h5netcdf

    try:
        with h5netcdf.File(path, "r") as fh:
            stored = fh.attrs.get(CHECKSUM_ATTR)
            if stored is None:
                return None
            return str(stored) == _checksum_of(fh)
    except Exception:  # unreadable: nothing to verify
        return None


#: What a results argument is, for messages.
EXPECTED = "a results .nc file written by simulator"


def _file_problem(path: Path, expected: str) -> str | None:
    """Why ``path`` cannot be a NetCDF-4 results file (None when it may be one)."""
    if not path.exists():
        return f"{path}: no such file (expected {expected})"
    if path.is_dir():
        return f"{path}: is a folder (expected {expected})"
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        return f"{path}: cannot read it ({exc.strerror or exc})"
    if not head:
        return f"{path}: is empty (expected {expected})"
    if head.startswith(b"CDF"):
        return f"{path}: is a NetCDF-3 file (expected {expected}, NetCDF-4)"
    if head != _HDF5_SIGNATURE:
        return f"{path}: is not a NetCDF file (expected {expected})"
    return None


def open_results(path: str | Path, *, expected: str = EXPECTED) -> xr.Dataset:
    """Load a results file fully into memory (the file is closed afterwards; its checksum attribute is
    left out: it describes the file, see :func:`verify_checksum`).

    Raises
    ------
    UserError
        One line naming ``path`` and ``expected`` when the file is missing, a
        folder, empty, not NetCDF-4, truncated or otherwise unreadable.
    """
    path = Path(path)
    problem = _file_problem(path, expected)
    if problem:
        raise UserError(problem)
    try:
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            ds = ds.load()
    except Exception as exc:  # h5py/h5netcdf/xarray: truncated, damaged, not NetCDF inside
        reason = " ".join(str(exc).split()) or exc.__class__.__name__
        if "truncated" in reason:
            reason = "the file is truncated (an interrupted copy or download?)"
        elif len(reason) > 120:
            reason = reason[:117] + "..."
        raise UserError(f"{path}: cannot be read: {reason} (expected {expected})") from None
    # The checksum describes the file (verify_checksum); the Dataset saved again gets a new one.
    ds.attrs.pop(CHECKSUM_ATTR, None)
    return ds


def check_output(path: str | Path, *, folder: bool = False, option: str = "--out") -> Path:
    """Check, before any work, that ``path`` can be written (a file, or with ``folder`` a folder).

    Nothing is created.  Raises a one-line :class:`UserError` naming ``option``
    and the path when it is an existing folder (for a file) or file (for a
    folder), or when its nearest existing parent is not a writable folder.
    """
    path = Path(path)
    name = f"{option} {path}" if option else str(path)
    if folder:
        if path.exists() and not path.is_dir():
            raise UserError(f"{name}: is a file; give a folder")
    elif path.is_dir():
        raise UserError(f"{name}: is a folder; give a file name")
    parent = path if folder and path.is_dir() else path.parent
    while not parent.exists():
        if parent == parent.parent:
            break
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise UserError(f"{name}: {parent} is a file, not a folder")
    if parent.exists() and not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"{name}: cannot write into {parent} (permission denied)")
    return path
