"""Reading and writing results: NetCDF (h5netcdf), written atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import xarray as xr

from simulator.results import accessor  # noqa: F401  (registers ds.sim on every results Dataset)

__all__ = ["open_results", "save_results", "write_text_atomic"]


def _write_atomic(path: str | Path, write) -> Path:
    """Call ``write(tmp)`` on a temporary file in the target folder, fsync it, rename it over ``path``.

    A reader never sees a partial file, and an interrupted write leaves the old
    file (if any) untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, file_mode())  # mkstemp makes it private (0600); results are ordinary files
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def save_results(ds: xr.Dataset, path: str | Path) -> Path:
    """Write ``ds`` to NetCDF atomically: a temporary file in the same folder, then a rename."""
    encoding = {name: {"zlib": True, "complevel": 4} for name in ds.data_vars
                if ds[name].dtype.kind in "fiu" and ds[name].size > 1024}
    return _write_atomic(path, lambda tmp: ds.to_netcdf(tmp, engine="h5netcdf", encoding=encoding))


def file_mode() -> int:
    """Permissions of a new ordinary file under the current umask (``0o666 & ~umask``)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def open_results(path: str | Path) -> xr.Dataset:
    """Load a results file fully into memory (the file is closed afterwards)."""
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        return ds.load()


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write text atomically (temporary file in the same folder, then a rename)."""
    return _write_atomic(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
