"""Results as tidy tables: pandas DataFrames (``ds.sim.tables()``) and CSV files (``simulator export --csv``).

Every result kind (run, sweep, sensitivity, attribution, comparison, batch
summary) is a Dataset, so one rule serves them all: the variables that share
their dimensions (a ``bound`` dimension aside) form one table, with one column
per dimension (the keys: ``company``, ``horizon``, ``outcome``, swept keys, ...)
and one column per variable; an interval (a variable with a ``bound``
dimension) becomes two columns, ``<name>_low`` and ``<name>_high``.  A table
is named by its dimensions (``company-horizon-outcome``; ``scalars`` for the
variables without any).  Two more tables describe the rest:
``variables.csv`` (each variable's table, dimensions, dtype, units and long
name) and ``attributes.csv`` (the run's provenance, values as JSON).  From
these files :func:`read_csv` rebuilds the Dataset exactly (floats are written
with the shortest text that reads back to the same bits).

May import: :mod:`simulator.errors` and :mod:`simulator.results.files`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from simulator.results.files import write_atomic

__all__ = ["frame", "read_csv", "table_name", "tables", "write_csv"]

#: The dimension of the two ends of an interval.
BOUND = "bound"


def table_name(dims: Iterable[str]) -> str:
    """The name of the table of variables over these dimensions (``bound`` aside)."""
    dims = [d for d in dims if d != BOUND]
    return "-".join(dims) if dims else "scalars"


def _columns(var: xr.DataArray, name: str) -> dict[str, np.ndarray]:
    """The column(s) of one variable over its dimensions without ``bound``, in C order."""
    if BOUND in var.dims:
        ends = [str(b) for b in var[BOUND].values] if BOUND in var.coords else ["low", "high"]
        rest = [d for d in var.dims if d != BOUND]
        return {f"{name}_{end}": var.isel({BOUND: i}).transpose(*rest).values.ravel()
                for i, end in enumerate(ends)}
    return {name: var.values.ravel()}


def _index(ds: xr.Dataset, dims: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The key columns of a table: every combination of its dimensions' coordinates, first slowest."""
    if not dims:
        return {}
    values = [ds[d].values if d in ds.coords else np.arange(ds.sizes[d]) for d in dims]
    grids = np.meshgrid(*values, indexing="ij")
    return {d: g.ravel() for d, g in zip(dims, grids, strict=True)}


def _groups(ds: xr.Dataset) -> dict[tuple[str, ...], list[str]]:
    """Variables (data variables and non-index coordinates) by their dimensions without ``bound``."""
    groups: dict[tuple[str, ...], list[str]] = {}
    names = list(ds.data_vars) + [c for c in ds.coords if c not in ds.dims]
    for name in names:
        dims = tuple(d for d in ds[name].dims if d != BOUND)
        groups.setdefault(dims, []).append(str(name))
    return groups


def tables(ds: xr.Dataset) -> dict[str, pd.DataFrame]:
    """Every variable of a results Dataset in tidy DataFrames, by table name (see the module docstring)."""
    out = {}
    for dims, names in _groups(ds).items():
        columns = _index(ds, dims)
        for name in names:
            var = ds[name].transpose(*dims, *([BOUND] if BOUND in ds[name].dims else []))
            columns.update(_columns(var, name))
        out[table_name(dims)] = pd.DataFrame(columns)
    return out


def frame(ds: xr.Dataset, name: str) -> pd.DataFrame:
    """One variable as a tidy DataFrame: its dimensions' columns and its value (``_low``/``_high`` for an interval)."""
    if name not in ds.variables:
        raise KeyError(f"{name}: no such variable (have {', '.join(map(str, ds.data_vars))})")
    dims = tuple(d for d in ds[name].dims if d != BOUND)
    columns = _index(ds, dims)
    columns.update(_columns(ds[name].transpose(*dims, *([BOUND] if BOUND in ds[name].dims else [])), name))
    return pd.DataFrame(columns)


def _dictionary(ds: xr.Dataset) -> pd.DataFrame:
    rows = []
    for dims, names in _groups(ds).items():
        for name in names:
            var = ds[name]
            rows.append({"variable": name, "table": table_name(dims), "kind": "data" if name in ds.data_vars
                         else "coordinate", "dims": " ".join(var.dims), "dtype": _dtype(var),
                         "units": str(var.attrs.get("units", "")), "long_name": str(var.attrs.get("long_name", "")),
                         "attrs": json.dumps(_plain(var.attrs), sort_keys=True), "values": ""})
    for dim in ds.dims:
        var = ds[dim] if dim in ds.coords else None
        rows.append({"variable": dim, "table": "", "kind": "dimension" if var is None else "index",
                     "dims": dim, "dtype": "" if var is None else _dtype(var),
                     "units": "" if var is None else str(var.attrs.get("units", "")),
                     "long_name": "" if var is None else str(var.attrs.get("long_name", "")),
                     "attrs": json.dumps(_plain({} if var is None else var.attrs), sort_keys=True),
                     # The coordinate itself (a dimension used only by intervals has no key column).
                     "values": json.dumps(ds.sizes[dim] if var is None else var.values.tolist())})
    return pd.DataFrame(rows)


def _dtype(var: xr.DataArray) -> str:
    """The dtype as written to ``variables.csv``: text of any width or kind is ``str``."""
    return "str" if var.dtype.kind in "OUS" else str(var.dtype)


def _plain(attrs: dict) -> dict:
    """Attributes as JSON-able Python values (numpy scalars and arrays as numbers and lists)."""
    out = {}
    for k, v in attrs.items():
        if isinstance(v, np.ndarray):
            v = v.tolist()
        elif isinstance(v, np.generic):
            v = v.item()
        out[str(k)] = v
    return out


def _write(path: Path, frame_: pd.DataFrame) -> None:
    """A CSV file written atomically (:func:`simulator.results.files.write_atomic`)."""
    # The shortest repr of each float reads back to the same bits; NaN is an empty cell.
    write_atomic(path, lambda tmp: frame_.to_csv(tmp, index=False, float_format=None, lineterminator="\n"))


def write_csv(ds: xr.Dataset, folder: str | Path) -> list[Path]:
    """Write every table of ``ds`` as ``<table>.csv`` in ``folder``, with ``variables.csv`` and ``attributes.csv``.

    Returns the paths written, tables first.
    """
    folder = Path(folder)
    written = []
    for name, table in tables(ds).items():
        path = folder / f"{name}.csv"
        _write(path, table)
        written.append(path)
    _write(folder / "variables.csv", _dictionary(ds))
    attrs = _plain(ds.attrs)
    _write(folder / "attributes.csv", pd.DataFrame({"attribute": list(attrs),
                                                    "value": [json.dumps(v) for v in attrs.values()]}))
    return [*written, folder / "variables.csv", folder / "attributes.csv"]


def _typed(values: pd.Series, dtype: str) -> np.ndarray:
    if dtype == "str":
        return np.asarray(["" if isinstance(v, float) and np.isnan(v) else str(v) for v in values], dtype=object)
    if dtype == "bool":
        return values.astype(str).str.lower().eq("true").to_numpy()
    return values.to_numpy().astype(dtype)


def read_csv(folder: str | Path) -> xr.Dataset:
    """The Dataset that :func:`write_csv` wrote into ``folder``."""
    folder = Path(folder)
    dictionary = pd.read_csv(folder / "variables.csv", keep_default_na=False, dtype=str)
    info = {row.variable: row for row in dictionary.itertuples(index=False)}
    cache: dict[str, pd.DataFrame] = {}

    def table(name: str) -> pd.DataFrame:
        if name not in cache:
            cache[name] = pd.read_csv(folder / f"{name}.csv", keep_default_na=False, na_values=[""],
                                      dtype=str)
        return cache[name]

    coords: dict[str, xr.Variable] = {}
    sizes: dict[str, int] = {}
    for row in info.values():
        if row.kind == "dimension":
            sizes[row.variable] = int(json.loads(row.values))
        elif row.kind == "index":
            values = json.loads(row.values)
            coords[row.variable] = xr.Variable((row.variable,), _typed(pd.Series(values, dtype=object), row.dtype),
                                               attrs=json.loads(row.attrs))
            sizes[row.variable] = len(values)
    data, extra = {}, {}
    for row in info.values():
        if row.kind not in ("data", "coordinate"):
            continue
        dims = row.dims.split()
        keys = [d for d in dims if d != BOUND]
        frame_ = table(row.table)
        shape = [sizes[d] for d in keys]
        if BOUND in dims:
            ends = [str(b) for b in coords[BOUND].values] if BOUND in coords else ["low", "high"]
            values = np.stack([_typed(frame_[f"{row.variable}_{end}"], row.dtype).reshape(shape) for end in ends],
                              axis=-1)
            values = np.moveaxis(values, -1, dims.index(BOUND))
        else:
            values = _typed(frame_[row.variable], row.dtype).reshape(shape)
        var = xr.Variable(tuple(dims), values, attrs=json.loads(row.attrs))
        (data if row.kind == "data" else extra)[row.variable] = var
    attrs_frame = pd.read_csv(folder / "attributes.csv", keep_default_na=False, dtype=str)
    attrs = {a: json.loads(v) for a, v in zip(attrs_frame["attribute"], attrs_frame["value"], strict=True)}
    return xr.Dataset(data, coords={**coords, **extra}, attrs=attrs)
