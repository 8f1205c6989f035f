"""Sweeps: many parameter sets in few kernel calls, with common random numbers.

``simulator sweep FILE --param companies.zhipu.chips.imports_per_month=0:500:11``
runs the full grid of the swept keys as parameter sets of one study.  Every set
restarts the same block streams, so set k and set j see the same diffusion
shocks, event arrivals and uncertain-input draws path by path (common random
numbers): differences between grid points are not drowned in noise.  The sets
are evaluated in as few kernel calls as the memory budget allows, and the
results Dataset is built vectorised over sets (:func:`~simulator.results.build_sets_dataset`).

The result has one dimension per swept key, named by its dotted path, with the
swept values as coordinates (``attrs["path"]`` repeats the path), and carries
every probability, interval and quantile a single run reports, at the horizons
(``month`` is the horizons; quantile fans over every month are not recorded).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from simulator.engines.plan import DEFAULT_BLOCK_SIZE
from simulator.engines.streams import RANDOM_STREAMS
from simulator.errors import ScenarioError, UserError
from simulator.model import quantities as L
from simulator.model.parameters import ParameterLayout, build_layout, parameter_units
from simulator.model.scenario_file import with_overrides
from simulator.model.schema import Effects, Scenario, range_bounds
from simulator.results.dataset import build_sets_dataset, competing
from simulator.results.overflow import range_problem, warn_out_of_range
from simulator.runner.memory import Need, SetsSizing, sets_sizing
from simulator.runner.prepared import PreparedRun, prepare_run, resolve_scenario

__all__ = ["PreparedSets", "SetsResult", "SweepSpec", "check_value", "evaluate_sets", "parse_number",
           "parse_sweep_param", "parse_sweep_spec", "prepare_sets", "run_sets", "split_param", "sweep", "sweep_table"]

#: Points of a ``PATH=LO:HI`` sweep when no count is given.
DEFAULT_POINTS = 11


@dataclass(frozen=True)
class SetsResult:
    """Results of many parameter sets evaluated together.

    Attributes
    ----------
    ds : xarray.Dataset
        Every output with a leading ``set`` dimension.
    path_outcome : ndarray of int8 or None
        Outcome codes (set, path, company, horizon) of the first recorded paths.
    seconds : float
        Wall time of the kernel calls and the Dataset build.
    kernel_calls : int
        Number of parallel kernel calls (numba engine).
    """

    ds: xr.Dataset
    path_outcome: np.ndarray | None
    seconds: float
    kernel_calls: int


@dataclass(frozen=True)
class PreparedSets:
    """A study's run, prepared once, and the batches of its parameter sets, checked against memory once.

    Attributes
    ----------
    run : PreparedRun
        The scenario's run (only the horizons recorded).
    n_sets : int
        Parameter sets the study evaluates.
    quantiles : bool
        Histograms at the horizons for the quantile outputs.
    outcome_paths : int
        Paths of every set whose outcome codes are kept.
    sizing : SetsSizing
        The batches the memory check counted (the ones that run).
    """

    run: PreparedRun
    n_sets: int
    quantiles: bool
    outcome_paths: int
    sizing: SetsSizing


def prepare_sets(
    scenario: Scenario,
    n_sets: int,
    *,
    paths: int,
    seed=None,
    quantiles: bool = True,
    outcome_paths: int = 0,
    threads: int | None = None,
    engine: str = "numba",
    block_size: int = DEFAULT_BLOCK_SIZE,
    max_memory: float | None = None,
    competition: bool | None = None,
    layout: ParameterLayout | None = None,
    option: str = "parameter sets",
    value: int | None = None,
    per_set_extra: float = 0.0,
    extra: Sequence[Need] = (),
    what: str | None = None,
) -> PreparedSets:
    """Prepare the run of a study of ``n_sets`` parameter sets, size its batches and check its memory, once.

    Parameters
    ----------
    scenario : Scenario
        The scenario (its uncertain inputs are drawn per path).
    n_sets : int
        Parameter sets to evaluate (before they are built: a study checks its size first).
    paths, seed, quantiles, outcome_paths, threads, engine, block_size, max_memory
        As in :func:`evaluate_sets`.
    competition : bool, optional
        Whether the sets compete (default: whether the scenario does; a study cannot switch it).
    layout : ParameterLayout, optional
        The scenario's layout, when the caller has it.
    option, value
        The study's option that sets the number of sets, and its value (default ``n_sets``),
        named in a memory error.
    per_set_extra : float
        The study's own bytes per set (per-path values).
    extra : sequence of Need
        The study's other needs (SALib's bootstrap).
    what : str, optional
        What the study is called in a memory error.

    Raises
    ------
    UserError
        One line when the study does not fit in memory (see :func:`simulator.runner.memory.check`).
    """
    # Only the horizons are recorded: histograms (when asked) hold one row per horizon.
    prepared = prepare_run(scenario, paths=paths, seed=seed, engine=engine, block_size=block_size,
                           threads=threads, fans=False)
    if layout is not None:
        prepared = dataclasses.replace(prepared, layout=layout)
    outcome_paths = min(int(outcome_paths), prepared.paths)
    sizing = sets_sizing(prepared.layout, prepared.plan, n_sets, option=option, value=value, paths=prepared.paths,
                         engine=engine, block_size=prepared.block_size, threads=threads, quantiles=quantiles,
                         outcome_paths=outcome_paths, per_set_extra=per_set_extra,
                         uncertain_slots=prepared.uncertain_slots, max_memory=max_memory,
                         competition=competing(prepared.layout.theta) if competition is None else competition)
    sizing.check(what=what or f"{n_sets:,} parameter sets x {prepared.paths:,} paths", extra=extra)
    return PreparedSets(run=prepared, n_sets=int(n_sets), quantiles=quantiles, outcome_paths=outcome_paths,
                        sizing=sizing)


def evaluate_sets(
    scenario: Scenario,
    theta_sets: np.ndarray,
    *,
    paths: int,
    seed=None,
    quantiles: bool = True,
    outcome_paths: int = 0,
    hold_fixed: Sequence[str] = (),
    threads: int | None = None,
    engine: str = "numba",
    block_size: int = DEFAULT_BLOCK_SIZE,
    max_memory: float | None = None,
    progress: Callable[[int], None] | None = None,
    layout: ParameterLayout | None = None,
    sets_option: str = "parameter sets",
) -> SetsResult:
    """Simulate every parameter set with common random numbers and summarise them together.

    :func:`prepare_sets` then :func:`run_sets` (a study that checks its size before
    building its sets calls the two itself).

    Parameters
    ----------
    scenario : Scenario
        The scenario (its uncertain inputs are drawn per path, except ``hold_fixed``).
    theta_sets : ndarray, shape (n_sets, n_theta)
        Parameter vectors (see :func:`~simulator.model.parameters.build_layout`).
    paths : int
        Paths per set.
    seed : int, SeedSequence or None
        Default: the scenario's seed.
    quantiles : bool
        Record histograms at the horizons for the quantile outputs (memory:
        about 3 MB per set and company on 2 threads; batches shrink to fit).
    outcome_paths : int
        Keep the outcome codes of the first paths of every set (paired comparisons).
    hold_fixed : sequence of str
        Uncertain inputs that the sets themselves vary (not drawn per path).
    threads : int, optional
        Numba threads; results do not depend on it.
    engine : {"numba", "numpy"}
        Compiled engine or the numpy reference engine.
    block_size : int
        Paths per random-stream block.
    max_memory : float, optional
        Bytes of per-set accumulators per batch (default: min(1 GiB, a quarter of free memory)).
    progress : callable, optional
        Called with the number of set-paths finished.
    layout : ParameterLayout, optional
        The scenario's layout, when the caller has it.
    sets_option : str
        What the number of sets is called in a memory error (the study's option).

    Returns
    -------
    SetsResult
    """
    theta_sets = np.asarray(theta_sets, dtype=np.float64)
    if theta_sets.ndim != 2 or theta_sets.shape[0] == 0:
        raise ValueError(f"theta_sets: shape {theta_sets.shape} must be (n_sets, n_theta) with at least one set")
    prepared = prepare_sets(scenario, theta_sets.shape[0], paths=paths, seed=seed,
                            quantiles=quantiles, outcome_paths=outcome_paths, threads=threads, engine=engine,
                            block_size=block_size, max_memory=max_memory,
                            competition=competing(theta_sets), layout=layout, option=sets_option)
    return run_sets(prepared, theta_sets, hold_fixed=hold_fixed, progress=progress)


def run_sets(prepared_sets: PreparedSets, theta_sets: np.ndarray, *, hold_fixed: Sequence[str] = (),
             progress: Callable[[int], None] | None = None) -> SetsResult:
    """Simulate the parameter sets of a study prepared by :func:`prepare_sets`, in the batches it sized.

    ``hold_fixed`` and ``progress`` are as in :func:`evaluate_sets`.
    """
    start = time.perf_counter()
    prepared, sizing = prepared_sets.run, prepared_sets.sizing
    scenario, layout, plan, root = prepared.scenario, prepared.layout, prepared.plan, prepared.seed
    engine, quantiles = prepared.engine, prepared_sets.quantiles
    outcome_paths = prepared_sets.outcome_paths
    theta_sets = np.ascontiguousarray(theta_sets, dtype=np.float64)
    if theta_sets.ndim != 2 or theta_sets.shape[1] != layout.n_theta:
        raise ValueError(f"theta_sets: shape {theta_sets.shape} must be (n_sets, {layout.n_theta})")
    n_sets = theta_sets.shape[0]
    if n_sets > prepared_sets.n_sets:
        raise ValueError(f"theta_sets: {n_sets} sets, more than the {prepared_sets.n_sets} prepared")
    n_comp = len(layout.company_names)
    n_blocks = prepared.n_blocks
    unc = scenario.uncertain
    batch, chunk_blocks = sizing.batch, sizing.chunk_blocks
    parts: list[xr.Dataset] = []
    outcomes: list[np.ndarray] = []
    calls = 0
    # One histogram buffer for every batch (each batch's quantiles are taken before the next).
    hist_buffer = (np.empty(min(batch, n_sets) * n_comp * L.N_VARS * plan.recorded_months.size * L.HIST_BINS,
                            dtype=np.int64) if quantiles and engine == "numba" else None)
    for s0 in range(0, n_sets, batch):
        sets = theta_sets[s0:s0 + batch]
        tally = prepared.simulate(progress, theta_sets=sets, fans=quantiles, exclude=hold_fixed,
                                  outcome_paths=outcome_paths, chunk_blocks=chunk_blocks, hist_buffer=hist_buffer)
        # chunk_blocks blocks per kernel call (engine._simulate_numba).
        per_call = max(1, min(chunk_blocks, n_blocks))
        calls += -(-n_blocks // per_call) if engine == "numba" else 0
        parts.append(build_sets_dataset(scenario, layout, plan, tally, sets, check_range=False))
        if outcome_paths:
            outcomes.append(tally.path_outcome)
        del tally
    ds = parts[0] if len(parts) == 1 else xr.concat(parts, dim="set", data_vars="minimal", coords="minimal",
                                                      compat="override", join="override",
                                                      combine_attrs="override")
    ds.attrs.update({
        "engine": engine,
        "seed_entropy": str(root.entropy),
        "seed_spawn_key": json.dumps(list(root.spawn_key)),
        "block_size": int(prepared.block_size),
        "random_streams": RANDOM_STREAMS + "; every parameter set restarts the same streams (common random numbers)",
        "parameter_sets": int(n_sets),
        "sets_per_kernel_batch": int(batch),
    })
    # Outputs that left float64's range: one warning for the whole study.
    warn_out_of_range(range_problem(ds, scenario, theta_sets, n_months=plan.n_months, set_axis=True),
                      scenario.name, ds.attrs)
    if unc:
        ds.attrs["uncertain_inputs"] = unc.to_json()
        ds.attrs["uncertain_held_fixed"] = json.dumps([p for p in hold_fixed if p in unc.names])
    path_outcome = np.concatenate(outcomes) if outcomes else None
    return SetsResult(ds=ds, path_outcome=path_outcome, seconds=time.perf_counter() - start,
                      kernel_calls=calls)


# --------------------------------------------------------------------------- parameters

_NUMBER = r"[-+]?(?:\d[\d_]*\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


def parse_number(text: str, where: str) -> float:
    text = text.strip()
    if not re.fullmatch(_NUMBER, text):
        raise UserError(f"{where}: {text!r} is not a number")
    value = float(text.replace("_", ""))
    if not math.isfinite(value):
        raise UserError(f"{where}: {text!r} is not a finite number")
    return value


def _range_end_bounds(path: str) -> tuple[float, float] | None:
    """The bounds of a range effect's key (``...import_cut``, ``...import_cut.low``), or None."""
    parts = path.split(".")
    if parts[-1] in ("low", "high"):
        parts = parts[:-1]
    info = Effects.model_fields.get(parts[-1]) if "events" in parts else None
    return range_bounds(info) if info is not None else None


def check_value(scenario: Scenario, path: str, value: float, *, where: str) -> None:
    """Raise a one-line ScenarioError when ``value`` is not allowed for the key ``path``."""
    if path.endswith(".enabled"):  # chips, funding, sector.competition
        raise ScenarioError(f"{where}: {path} is a switch (true/false), not a number to vary; compare "
                            "both settings with --set instead")
    bounds = _range_end_bounds(path)
    if bounds is not None:
        # One end of a [low, high] range: its own bounds (the other end is checked when the run is set up).
        if not bounds[0] <= value <= bounds[1]:
            raise ScenarioError(f"{where}: {path} = {value:g}: out of range (allowed: >= {bounds[0]:g} and "
                                f"<= {bounds[1]:g})")
        return
    try:
        with_overrides(scenario, {path: float(value)})
    except ScenarioError as exc:
        raise ScenarioError(f"{where}: {exc}") from None


def split_param(text: str, where: str = "--param") -> tuple[str, str]:
    """``PATH=SPEC`` -> (path, spec), with a one-line error otherwise."""
    if "=" not in text:
        raise UserError(f"{where} {text!r}: expected PATH=LO:HI (a dotted key, e.g. "
                        "companies.zhipu.chips.imports_per_month=0:500)")
    path, _, spec = text.partition("=")
    path, spec = path.strip(), spec.strip()
    if not path or not spec:
        raise UserError(f"{where} {text!r}: expected PATH=LO:HI")
    return path, spec


@dataclass(frozen=True)
class SweepSpec:
    """One parsed ``--param``: the key, and its values as given or as a range (not built yet)."""

    path: str
    where: str
    count: int
    listed: np.ndarray | None = None
    low: float = 0.0
    high: float = 0.0
    log: bool = False

    def values(self) -> np.ndarray:
        """The swept values (a range's are built here, after its size was checked)."""
        if self.listed is not None:
            return self.listed
        return (np.geomspace(self.low, self.high, self.count) if self.log
                else np.linspace(self.low, self.high, self.count))


def parse_sweep_spec(text: str, scenario: Scenario, layout: ParameterLayout) -> SweepSpec:
    """Parse and check ``PATH=LO:HI[:N[:log]]`` or ``PATH=v1,v2,...`` without building a range's values.

    Every listed value, and both ends of a range, are checked against the key's
    allowed range; the number of points is only counted (a sweep checks the
    grid against memory before building it).
    """
    path, spec = split_param(text)
    where = f"--param {text}"
    try:
        layout.slots(path)
    except ScenarioError as exc:
        raise ScenarioError(f"--param {text}: {exc}") from None
    if "," in spec or ":" not in spec:
        values = np.asarray([parse_number(v, where) for v in spec.split(",") if v.strip()], dtype=np.float64)
        if values.size == 0:
            raise UserError(f"{where}: no values")
        if np.unique(values).size != values.size:
            raise UserError(f"{where}: a value is repeated")
        for v in values:
            check_value(scenario, path, float(v), where=where)
        return SweepSpec(path=path, where=where, count=int(values.size), listed=values)
    parts = spec.split(":")
    if len(parts) not in (2, 3, 4):
        raise UserError(f"{where}: expected LO:HI, LO:HI:N or LO:HI:N:log")
    lo, hi = parse_number(parts[0], where), parse_number(parts[1], where)
    count = DEFAULT_POINTS
    if len(parts) >= 3:
        if not re.fullmatch(r"\d+", parts[2].strip()):
            raise UserError(f"{where}: N = {parts[2]!r} must be a whole number of points")
        count = int(parts[2])
    log = len(parts) == 4
    if log and parts[3].strip() != "log":
        raise UserError(f"{where}: the fourth field can only be 'log'")
    if lo > hi:
        raise UserError(f"{where}: LO ({lo:g}) is above HI ({hi:g})")
    if count < 1 or (count == 1 and lo != hi) or (count > 1 and lo == hi):
        raise UserError(f"{where}: N = {count:,} points do not fit LO = {lo:g}, HI = {hi:g} "
                        "(N >= 2 for a range, 1 when LO = HI)")
    if log and lo <= 0.0:
        raise UserError(f"{where}: a log sweep needs LO > 0")
    # A range is an interval of allowed values when both ends are allowed.
    for v in {lo, hi}:
        check_value(scenario, path, float(v), where=where)
    return SweepSpec(path=path, where=where, count=count, low=lo, high=hi, log=log)


def parse_sweep_param(text: str, scenario: Scenario, layout: ParameterLayout) -> tuple[str, np.ndarray]:
    """Parse ``PATH=LO:HI[:N[:log]]`` or ``PATH=v1,v2,...`` into (path, values).

    ``LO:HI:N`` is N evenly spaced values from LO to HI inclusive (``log``:
    evenly spaced in log); ``LO:HI`` uses 11 points.  Every value is checked
    against the key's allowed range (see :func:`parse_sweep_spec`).
    """
    spec = parse_sweep_spec(text, scenario, layout)
    return spec.path, spec.values()


def grid_thetas(layout: ParameterLayout, base: np.ndarray, params: Sequence[tuple[str, np.ndarray]]) -> np.ndarray:
    """Parameter sets of the full grid (first parameter varies slowest)."""
    shape = tuple(v.size for _, v in params)
    n_sets = int(np.prod(shape)) if shape else 1
    thetas = np.repeat(base[None, :], n_sets, axis=0)
    for i, idx in enumerate(itertools.product(*(range(s) for s in shape))):
        for (path, values), j in zip(params, idx, strict=True):
            for slot in layout.slots(path):
                thetas[i, slot] = values[j]
    return thetas


def sweep(
    scenario: Scenario | str | Path,
    params: Mapping[str, Sequence[float]] | Sequence[str],
    *,
    paths: int | None = None,
    seed=None,
    quantiles: bool = True,
    threads: int | None = None,
    engine: str = "numba",
    block_size: int = DEFAULT_BLOCK_SIZE,
    max_memory: float | None = None,
    overrides: Sequence[str] | dict | None = None,
    progress: bool = False,
) -> xr.Dataset:
    """Run the full grid of the swept keys and return one Dataset over the grid.

    Parameters
    ----------
    scenario : Scenario or path
        The scenario (a TOML file is loaded with ``overrides``).
    params : mapping or sequence of str
        ``{dotted_path: values}``, or ``"PATH=LO:HI:N"`` / ``"PATH=v1,v2"`` strings.
    paths : int, optional
        Paths per grid point (default: the scenario's ``paths``).
    seed : optional
        Default: the scenario's seed.
    quantiles : bool
        Also report the quantiles at the horizons (histograms cost memory, not time).
    threads, engine, block_size, max_memory
        As in :func:`evaluate_sets`.
    overrides : optional
        ``--set`` overrides applied first.
    progress : bool
        Show a progress bar.

    Returns
    -------
    xarray.Dataset
        Every variable of a run (at the horizons) with one leading dimension
        per swept key, named by its dotted path, coordinates the swept values.
    """
    scenario = resolve_scenario(scenario, overrides)
    layout = build_layout(scenario)
    if isinstance(params, Mapping):
        specs = []
        for path, values in params.items():
            values = np.asarray(values, dtype=np.float64).ravel()
            text = f"{path}={','.join(repr(float(v)) for v in values)}"
            specs.append(parse_sweep_spec(text, scenario, layout))
    else:
        specs = [parse_sweep_spec(text, scenario, layout) for text in params]
    if not specs:
        raise UserError("sweep: give at least one --param PATH=LO:HI:N")
    names = [spec.path for spec in specs]
    dup = sorted({p for p in names if names.count(p) > 1})
    if dup:
        raise UserError(f"--param {dup[0]}: swept twice")
    n_paths = int(scenario.scenario.paths if paths is None else paths)
    # The grid's size is checked against memory before any of it is built.
    n_sets = math.prod(spec.count for spec in specs)
    prepared = prepare_sets(scenario, n_sets, paths=n_paths, seed=seed, quantiles=quantiles, threads=threads,
                            engine=engine, block_size=block_size, max_memory=max_memory, layout=layout,
                            option="--param grid points",
                            what=f"a sweep of {n_sets:,} grid points x {n_paths:,} paths")
    parsed = [(spec.path, spec.values()) for spec in specs]
    thetas = grid_thetas(layout, layout.theta, parsed)
    bar = None
    callback = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_paths * thetas.shape[0], unit="path", unit_scale=True, delay=1.0,
                   desc=f"{scenario.name} sweep", leave=False)
        callback = bar.update
    try:
        res = run_sets(prepared, thetas, hold_fixed=names, progress=callback)
    finally:
        if bar is not None:
            bar.close()
    return _grid_dataset(res, parsed)


def _grid_dataset(res: SetsResult, parsed: Sequence[tuple[str, np.ndarray]]) -> xr.Dataset:
    """Reshape the ``set`` dimension of a sweep into one dimension per swept key."""
    src = res.ds
    shape = tuple(v.size for _, v in parsed)
    dims = tuple(p for p, _ in parsed)
    # Every output of a study of sets leads with "set" (build_sets_dataset), which has no coordinate.
    variables = {name: xr.Variable(dims + var.dims[1:], var.values.reshape(shape + var.shape[1:]), attrs=var.attrs)
                 for name, var in src.data_vars.items()}
    coords = dict(src.coords)
    for path, values in parsed:
        coords[path] = xr.Variable((path,), values, attrs={"long_name": f"swept value of {path}",
                                                            "path": path,
                                                            "units": parameter_units(path, src.attrs.get("currency", ""))})
    ds = xr.Dataset(variables, coords=coords, attrs=dict(src.attrs))
    ds.attrs.update({
        "title": f"Sweep of scenario {src.attrs.get('scenario_name', '')}",
        "study": "sweep",
        "swept_parameters": json.dumps([{"path": p, "values": [float(x) for x in v]} for p, v in parsed]),
        "seconds": float(res.seconds),
        "kernel_calls": int(res.kernel_calls),
        "note": "each grid point's intervals are marginal; all points share their random numbers path by "
                "path (common random numbers), so differences between points are much more precise than "
                "the intervals suggest",
    })
    return ds


# --------------------------------------------------------------------------- command line


def sweep_table(ds: xr.Dataset, *, max_rows: int = 60) -> str:
    """A readable table: champion, collapse and champion share at the last horizon per grid point.

    Swept keys head their columns in full, their values in the key's natural format
    (amounts with a suffix, as few digits as keep the grid's values apart).
    """
    from simulator.results.formatting import key_values_text, percent_ci, text_table

    swept = [d for d in ds["probability"].dims if d not in ("company", "horizon", "outcome")]
    h = int(ds["horizon"].values[-1])
    cur = str(ds.attrs.get("currency", ""))
    lines = [f"{ds.attrs.get('scenario_name', '')}: sweep of {len(swept)} key(s), "
             f"{int(np.prod([ds.sizes[d] for d in swept]))} grid points x {ds.attrs.get('paths', 0):,} paths, "
             f"month {h}; 95% Wilson intervals"]
    texts = {d: dict(zip((float(v) for v in ds[d].values),
                         key_values_text(ds[d].values, str(ds[d].attrs.get("units", "")), cur), strict=True))
             for d in swept}
    stacked = ds.isel(horizon=-1).stack(point=swept)
    total = stacked.sizes["point"] * ds.sizes["company"]
    rows = []
    for i in range(stacked.sizes["point"]):
        point = stacked.isel(point=i)
        for company in ds["company"].values:
            if len(rows) >= max_rows:
                break
            sel = point.sel(company=company)
            cells = [percent_ci(float(sel["probability"].sel(outcome=o)),
                                *(float(x) for x in sel["probability_ci"].sel(outcome=o).values))
                     for o in ("champion", "collapse")]
            cells.append(percent_ci(float(sel["champion_share"]), *(float(x) for x in sel["champion_share_ci"].values)))
            rows.append([texts[d][float(point[d])] for d in swept] + [str(company), *cells])
    lines += text_table([*swept, "company", "champion", "collapse", "champion share"], rows,
                        align="r" * len(swept) + "lrrr")
    if total > len(rows):
        lines.append(f"... ({total - len(rows)} more rows in the file)")
    return "\n".join(lines)

