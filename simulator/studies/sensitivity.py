"""Sensitivity studies: one-at-a-time swings, Morris, Sobol and given-data indices.

``simulator sensitivity FILE --method oat|morris|sobol --param PATH=LO:HI ...``
evaluates the model at many parameter sets in few kernel calls (see
:mod:`simulator.studies.sweep`).  Each evaluation is an output of the whole sample of
paths (``zhipu.champion@36``: P(champion) at month 36), and every set uses
the same random numbers path by path (common random numbers), so the model
SALib sees is nearly deterministic: two sets that differ in one key differ
only through that key.  Sobol indices of a raw noisy model would be invalid
(total > 1); here the remaining noise is measured on the recorded paths and
reported (``noise_*`` variables and a note with the paths that would fix it).

Given-data methods (``rbd-fast``, ``delta``, ``pawn``, or all three with
``given-data``) use the per-path draws of a scenario's uncertain inputs
(distributions in the TOML, :mod:`simulator.model.uncertain`) and the per-path
outcomes of ONE run: no extra runs (a results file of ``simulator run`` needs
none at all).  ``simulator attribute`` ranks the uncertain inputs by how far
their median moves inside each outcome (@RISK scenario analysis).

Result Datasets (saved like runs) have a dimension ``parameter`` (dotted paths,
sorted by importance for the first output) and a dimension ``output``
(``company.name@month``); see docs/sensitivity.md for every variable.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from simulator.errors import UserError
from simulator.model.parameters import ParameterLayout, build_layout
from simulator.model.schema import Scenario
from simulator.runner.prepared import resolve_scenario
from simulator.studies.given_data import CONFIDENCE, draws_from, given_data, scenario_from_attrs
from simulator.studies.methods import DEFAULT_PATHS, DEFAULT_SAMPLES, GIVEN_DATA, METHODS, MIN_SAMPLES
from simulator.studies.sensitivity_outputs import (
    Output,
    ParamRange,
    default_outputs,
    parse_output,
    parse_range,
    sorted_by,
    uncertain_ranges,
)
from simulator.studies.sweep import PreparedSets, prepare_sets, run_sets

__all__ = ["DEFAULT_PATHS", "METHODS", "attribute_table", "sensitivity", "sensitivity_table"]

#: Outcome codes of the first paths of every set are kept to measure the noise.
NOISE_PATHS = 4096
#: A Sobol noise share (of the output variance) above this gets a note.
NOISE_SHARE_NOTE = 0.01


# --------------------------------------------------------------------------- outputs


# --------------------------------------------------------------------------- parameters


# --------------------------------------------------------------------------- evaluation


def _thetas(layout: ParameterLayout, params: Sequence[ParamRange], unit: np.ndarray) -> np.ndarray:
    """Parameter sets from positions ``unit`` (sets, params) in [0, 1]."""
    thetas = np.repeat(layout.theta[None, :], unit.shape[0], axis=0)
    for j, p in enumerate(params):
        values = p.value(unit[:, j])
        for slot in layout.slots(p.path):
            thetas[:, slot] = values
    return thetas


def _pair_var(ind: np.ndarray | None, a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    """Per-path variance of the difference of two sets' 0/1 values, for each pair (a[i], b[i]).

    NaN with one path: a variance needs two (the noise is then "not measurable", not 0).
    """
    if ind is None:
        return None
    d = ind[a] - ind[b]
    return d.var(axis=1, ddof=1) if d.shape[1] > 1 else np.full(d.shape[0], np.nan)


@dataclass
class _Evaluation:
    y: np.ndarray  # (output, set)
    ci: np.ndarray  # (output, set, 2)
    indicators: list  # per output: (set, path) or None
    paths: int
    seconds: float
    kernel_calls: int
    attrs: dict


def _evaluate(sets: PreparedSets, thetas: np.ndarray, outputs: Sequence[Output], params: Sequence[ParamRange], *,
              progress) -> _Evaluation:
    paths = sets.run.paths
    res = run_sets(sets, thetas, hold_fixed=[p.path for p in params], progress=progress)
    horizons = res.ds["horizon"].values
    y = np.stack([np.asarray(o.values(res.ds), dtype=np.float64) for o in outputs])
    ci = np.stack([np.asarray(o.interval(res.ds), dtype=np.float64) for o in outputs])
    inds = [o.indicator(res.path_outcome, horizons) if res.path_outcome is not None else None
            for o in outputs]
    keep = ("scenario_name", "scenario_description", "scenario_source", "scenario_text", "scenario_json",
            "scenario_hash", "currency", "horizon_months", "simulator_version", "seed_entropy",
            "seed_spawn_key", "block_size", "random_streams", "engine", "uncertain_inputs",
            "uncertain_held_fixed")
    attrs = {k: res.ds.attrs[k] for k in keep if k in res.ds.attrs}
    return _Evaluation(y=y, ci=ci, indicators=inds, paths=paths, seconds=res.seconds,
                       kernel_calls=res.kernel_calls, attrs=attrs)


def _base_dataset(outputs: Sequence[Output], params: Sequence[ParamRange], currency: str) -> xr.Dataset:
    units = {o.units(currency) for o in outputs}
    coords = {"output": np.asarray([o.text for o in outputs], dtype=object),
              "parameter": np.asarray([p.path for p in params], dtype=object),
              "bound": np.asarray(["low", "high"], dtype=object)}
    ds = xr.Dataset(coords=coords)
    ds["output"].attrs = {"long_name": "output: [company.]name@month"}
    ds["parameter"].attrs = {"long_name": "studied key (dotted path)"}
    ds.attrs["output_units"] = json.dumps({o.text: o.units(currency) for o in outputs})
    if len(units) == 1:
        ds.attrs["units"] = units.pop()
    return ds


def _oat(scenario, layout, params, outputs, *, sets, progress) -> xr.Dataset:
    k = len(params)
    unit = np.full((1 + 2 * k, k), np.nan)
    base_unit = []
    for p in params:
        base_v = float(layout.theta[layout.slots(p.path)[0]])
        base_unit.append(0.5 if p.spec is not None else (base_v - p.low) / (p.high - p.low))
    # Base positions: a value outside [low, high] is allowed (it stays the scenario's).
    unit[:] = np.asarray(base_unit)[None, :]
    thetas = _thetas(layout, params, unit)
    for j, p in enumerate(params):  # each key at LO and HI (an uncertain input's 5% and 95% quantiles)
        for slot in layout.slots(p.path):
            thetas[1 + 2 * j, slot] = p.low
            thetas[2 + 2 * j, slot] = p.high
    for p in params:  # the base set keeps the scenario's exact values
        for slot in layout.slots(p.path):
            thetas[0, slot] = layout.theta[slot]
    ev = _evaluate(sets, thetas, outputs, params, progress=progress)
    lo_idx = 1 + 2 * np.arange(k)
    hi_idx = lo_idx + 1
    ds = _base_dataset(outputs, params, scenario.currency)
    units = ds.attrs.get("units", "")
    low, high = ev.y[:, lo_idx], ev.y[:, hi_idx]
    swing_se = np.full((len(outputs), k), np.nan)
    for i, ind in enumerate(ev.indicators):
        var = _pair_var(ind, hi_idx, lo_idx)
        if var is not None:
            swing_se[i] = np.sqrt(var / ev.paths)
    ds["low"] = (("output", "parameter"), low, {"long_name": "output with the key at the low end",
                                                 **({"units": units} if units else {})})
    ds["high"] = (("output", "parameter"), high, {"long_name": "output with the key at the high end",
                                                   **({"units": units} if units else {})})
    ds["base"] = (("output",), ev.y[:, 0], {"long_name": "output at the scenario's values",
                                           **({"units": units} if units else {})})
    ds["low_ci"] = (("output", "parameter", "bound"), ev.ci[:, lo_idx], {"long_name": "95% interval of low"})
    ds["high_ci"] = (("output", "parameter", "bound"), ev.ci[:, hi_idx], {"long_name": "95% interval of high"})
    ds["base_ci"] = (("output", "bound"), ev.ci[:, 0], {"long_name": "95% interval of base"})
    ds["swing"] = (("output", "parameter"), np.abs(high - low), {"long_name": "|high - low|"})
    ds["swing_se"] = (("output", "parameter"), swing_se, {
        "long_name": "standard error of high - low with common random numbers (paired over paths); NaN "
                     "when the output has no per-path value or the run one path"})
    ds["low_value"] = (("parameter",), np.asarray([p.low for p in params]), {"long_name": "low value"})
    ds["high_value"] = (("parameter",), np.asarray([p.high for p in params]), {"long_name": "high value"})
    ds["base_value"] = (("parameter",), np.asarray([float(layout.theta[layout.slots(p.path)[0]])
                                                   for p in params]), {"long_name": "scenario value"})
    notes = []
    for i, o in enumerate(outputs):
        small = [params[j].path for j in range(k)
                 if np.isfinite(swing_se[i, j]) and abs(high[i, j] - low[i, j]) < 2.0 * swing_se[i, j]]
        if small:
            notes.append(f"{o.text}: the swing of {', '.join(small)} is within 2 standard errors of 0 "
                         f"at {ev.paths:,} paths (indistinguishable from Monte Carlo noise)")
    ds = sorted_by(ds, "swing")
    return _finish(ds, ev, "oat", notes, sets=thetas.shape[0])


def _problem(params: Sequence[ParamRange]) -> dict:
    # SALib samples positions in [0, 1]; ParamRange.value maps them to values
    # (through the inverse CDF for an uncertain input).
    return {"num_vars": len(params), "names": [p.path for p in params], "bounds": [[0.0, 1.0]] * len(params)}


def _morris(scenario, layout, params, outputs, *, sets, seed, samples, progress):
    from SALib.analyze import morris as morris_analyze
    from SALib.sample import morris as morris_sample

    k = len(params)
    levels = 4
    problem = _problem(params)
    unit = morris_sample.sample(problem, samples, num_levels=levels, seed=_salib_seed(seed))
    thetas = _thetas(layout, params, unit)
    ev = _evaluate(sets, thetas, outputs, params, progress=progress)
    delta = levels / (2.0 * (levels - 1))
    fields = {f: np.full((len(outputs), k), np.nan) for f in ("mu", "mu_star", "sigma", "mu_star_conf")}
    noise = np.full((len(outputs), k), np.nan)
    # Consecutive rows of a trajectory differ in exactly one key.
    rows = np.arange(unit.shape[0]).reshape(samples, k + 1)
    a, b = rows[:, 1:].ravel(), rows[:, :-1].ravel()
    changed = np.argmax(np.abs(unit[a] - unit[b]) > 0, axis=1)
    for i in range(len(outputs)):
        si = morris_analyze.analyze(problem, unit, ev.y[i], num_levels=levels, conf_level=CONFIDENCE,
                                    num_resamples=1000, seed=_salib_seed(seed))
        for f in fields:
            fields[f][i] = np.asarray(si[f], dtype=np.float64)
        var = _pair_var(ev.indicators[i], a, b)
        if var is not None:
            for j in range(k):
                noise[i, j] = math.sqrt(var[changed == j].mean() / ev.paths) / delta
    ds = _base_dataset(outputs, params, scenario.currency)
    for f, long in (("mu", "mean elementary effect (output change per unit of the key's range)"),
                    ("mu_star", "mean absolute elementary effect"),
                    ("sigma", "standard deviation of the elementary effects"),
                    ("mu_star_conf", "half-width of the 95% bootstrap interval of mu_star")):
        ds[f] = (("output", "parameter"), fields[f], {"long_name": long})
    ds["noise_sd"] = (("output", "parameter"), noise, {
        "long_name": "standard deviation of one elementary effect due to Monte Carlo noise (common random "
                     "numbers, measured on the recorded paths); NaN when not measurable"})
    notes = []
    for i, o in enumerate(outputs):
        top = np.nanmax(fields["mu_star"][i]) if np.any(np.isfinite(fields["mu_star"][i])) else 0.0
        worst = np.nanmax(noise[i]) / math.sqrt(samples) if np.any(np.isfinite(noise[i])) else 0.0
        if top > 0 and worst > 0.1 * top:
            need = _paths_needed(ev.paths, (worst / (0.05 * top)) ** 2)
            notes.append(f"{o.text}: Monte Carlo noise in mu_star is up to {worst / top:.0%} of the largest "
                         f"effect at {ev.paths:,} paths per evaluation; about {need:,} paths would bring it "
                         "under 5%")
    for p in params:
        if p.spec is not None and p.spec.unbounded:
            # The grid's positions 0 and 1 are the support's ends: for an unbounded input, far tails.
            lo, hi = p.spec.support
            notes.append(f"{p.path}: its {p.spec.dist} distribution is unbounded, so Morris's grid ends are its "
                         f"2^-53 and 1 - 2^-53 quantiles ({lo:.4g} and {hi:.4g}); study it over a range with "
                         f"--param {p.path}=LO:HI, or with --method sobol")
    ds = sorted_by(ds, "mu_star")
    return _finish(ds, ev, "morris", notes, sets=thetas.shape[0], samples=samples, num_levels=levels)


def _sobol(scenario, layout, params, outputs, *, sets, seed, samples, progress):
    from SALib.analyze import sobol as sobol_analyze
    from SALib.sample import sobol as sobol_sample

    k = len(params)
    problem = _problem(params)
    unit = sobol_sample.sample(problem, samples, calc_second_order=False, seed=_salib_seed(seed))
    thetas = _thetas(layout, params, unit)
    ev = _evaluate(sets, thetas, outputs, params, progress=progress)
    step = k + 2  # rows per base sample: A, AB_1 .. AB_k, B
    fields = {f: np.full((len(outputs), k), np.nan) for f in ("S1", "S1_conf", "ST", "ST_conf")}
    noise = np.full((len(outputs), k), np.nan)
    var_y = np.full(len(outputs), np.nan)
    a_rows = np.arange(samples) * step
    for i in range(len(outputs)):
        y = ev.y[i]
        var_y[i] = float(np.var(np.concatenate([y[a_rows], y[a_rows + step - 1]]), ddof=1))
        if not np.all(np.isfinite(y)):
            continue
        if var_y[i] <= 0.0:
            # A constant output: no input explains any variance.
            for f in fields:
                fields[f][i] = 0.0
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            si = sobol_analyze.analyze(problem, y, calc_second_order=False, num_resamples=1000,
                                       conf_level=CONFIDENCE, seed=_salib_seed(seed))
        for f in fields:
            fields[f][i] = np.asarray(si[f], dtype=np.float64)
        ind = ev.indicators[i]
        for j in range(k):
            var = _pair_var(ind, a_rows, a_rows + 1 + j)
            if var is not None:
                # Non-common noise variance of one evaluation, over the output variance:
                # the Jansen total index is biased up by about this much.
                noise[i, j] = var.mean() / (2.0 * ev.paths) / var_y[i]
    ds = _base_dataset(outputs, params, scenario.currency)
    for f, long in (("S1", "first-order Sobol index"),
                    ("S1_conf", "half-width of the 95% bootstrap interval of S1"),
                    ("ST", "total Sobol index"),
                    ("ST_conf", "half-width of the 95% bootstrap interval of ST")):
        ds[f] = (("output", "parameter"), fields[f], {"long_name": long, "units": "1"})
    ds["noise_share"] = (("output", "parameter"), noise, {
        "long_name": "variance of the Monte Carlo noise that differs between evaluations (common random "
                     "numbers, measured on the recorded paths) as a share of the output variance; the "
                     "total index is biased up by about this much; NaN when not measurable",
        "units": "1"})
    ds["output_variance"] = (("output",), var_y, {"long_name": "variance of the output over the samples"})
    notes = []
    for i, o in enumerate(outputs):
        if np.any(np.isfinite(noise[i])) and np.nanmax(noise[i]) > NOISE_SHARE_NOTE:
            j = int(np.nanargmax(noise[i]))
            need = _paths_needed(ev.paths, noise[i, j] / NOISE_SHARE_NOTE)
            notes.append(f"{o.text}: Monte Carlo noise is {noise[i, j]:.1%} of the output variance (largest "
                         f"for {params[j].path}) at {ev.paths:,} paths per evaluation; indices below about "
                         f"that are noise; about {need:,} paths would bring it under {NOISE_SHARE_NOTE:.0%}")
        if not np.isfinite(var_y[i]) or var_y[i] <= 0.0:
            notes.append(f"{o.text}: the output does not vary over the samples; all indices are 0")
    if scenario.uncertain and scenario.uncertain.correlations and any(p.spec is not None for p in params):
        notes.append("the inputs' rank correlations are ignored: Sobol indices assume independent inputs")
    ds = sorted_by(ds, "ST")
    return _finish(ds, ev, "sobol", notes, sets=thetas.shape[0], samples=samples)


def _paths_needed(paths: int, factor: float) -> int:
    """Paths per evaluation that shrink a noise variance by ``factor`` (noise variance ~ 1 / paths)."""
    return _round_up(math.ceil(paths * max(1.0, factor)))


def _round_up(n: int) -> int:
    """Round up to 1, 2 or 5 times a power of ten (a readable path count)."""
    power = 10 ** max(0, math.floor(math.log10(max(n, 1))))
    for m in (1, 2, 5, 10):
        if m * power >= n:
            return m * power
    return 10 * power


def _salib_seed(seed) -> int:
    # SALib wants an int; derive one from the study seed so designs are repeatable.
    from simulator.engines.streams import normalise_seed

    root = normalise_seed(seed)
    return int(np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, 2**31)).generate_state(1)[0])


def _finish(ds: xr.Dataset, ev: _Evaluation, method: str, notes: list[str], **extra) -> xr.Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an output that is NaN in every evaluation
        spread = np.nanmax(ev.y, axis=1) - np.nanmin(ev.y, axis=1)
    ds["output_range"] = (("output",), spread, {"long_name": "largest minus smallest value of the output over "
                                                             "the evaluations (0: constant)"})
    ds.attrs.update(ev.attrs)
    ds.attrs.update({
        "title": f"Sensitivity ({method}) of scenario {ev.attrs.get('scenario_name', '')}",
        "study": "sensitivity",
        "method": method,
        "paths": int(ev.paths),
        "seconds": float(ev.seconds),
        "kernel_calls": int(ev.kernel_calls),
        "common_random_numbers": "every evaluation restarts the same random streams path by path",
        "notes": json.dumps(notes),
        **{k: v for k, v in extra.items()},
    })
    return ds


# --------------------------------------------------------------------------- given data


# --------------------------------------------------------------------------- entry point


def sensitivity(
    scenario: Scenario | str | Path,
    *,
    method: str,
    params: Sequence[str] = (),
    outputs: Sequence[str] = (),
    samples: int | None = None,
    paths: int | None = None,
    seed=None,
    threads: int | None = None,
    engine: str = "numba",
    overrides: Sequence[str] | None = None,
    progress: bool = False,
) -> xr.Dataset:
    """Run a sensitivity study and return its Dataset.

    Parameters
    ----------
    scenario : Scenario or path
        A scenario (TOML path or object); for the given-data methods also a
        results ``.nc`` file of ``simulator run`` with per-path draws.
    method : str
        One of :data:`METHODS`.
    params : sequence of str
        ``PATH=LO:HI`` ranges (oat, morris, sobol).  Default: the scenario's
        uncertain inputs, with their distributions (oat: 5% and 95% quantiles).
    outputs : sequence of str
        ``[company.]name@month`` (default: P(champion) and P(collapse) of each
        company at the last horizon).
    samples : int, optional
        Morris trajectories (default 20, at least 4); Sobol base samples N, a
        power of two >= 64 (default 128; N (k + 2) evaluations).
    paths : int, optional
        Paths per evaluation (default 10,000); for given-data methods the paths
        of the one run (at most ``uncertainty.RECORDED_PATHS``).
    seed : optional
        Default: the scenario's seed.
    threads, engine : optional
        As for :func:`simulator.run`.
    overrides : sequence of str, optional
        ``--set`` overrides (when ``scenario`` is a path).
    progress : bool
        Show a progress bar.
    """
    if method not in METHODS:
        raise UserError(f"--method {method}: not one of {', '.join(METHODS)}")
    start = time.perf_counter()
    if method in GIVEN_DATA or method == "given-data":
        if params:
            raise UserError(f"--method {method}: given-data methods use the scenario's uncertain inputs; "
                            "--param is for oat, morris and sobol")
        methods = GIVEN_DATA if method == "given-data" else (method,)
        source = scenario if isinstance(scenario, Scenario) else Path(scenario)
        draws, outcomes, names, horizons, _companies, attrs, sc = draws_from(
            source, paths=paths, seed=seed, overrides=overrides, threads=threads, engine=engine, progress=progress)
        sc = sc or scenario_from_attrs(attrs)
        outs = [parse_output(t, sc) for t in outputs] or default_outputs(sc)
        skipped = []
        if not outputs:  # a default output no path varies says nothing: leave it out, with a note
            varies = [o for o in outs if np.ptp(o.indicator(outcomes[None], np.asarray(horizons))) > 0]
            skipped = [_constant_note(o.text, outcomes.shape[0], "of the run") for o in outs if o not in varies]
            if not varies:
                raise UserError(f"{source}: every default output is constant: {'; '.join(skipped)}")
            outs = varies
        ds = given_data(draws, outcomes, names, outs, np.asarray(horizons), methods,
                         _salib_seed(seed if seed is not None else 0), attrs)
        ds.attrs["notes"] = json.dumps(skipped + json.loads(ds.attrs.get("notes", "[]")))
        ds.attrs["seconds"] = float(time.perf_counter() - start)
        return ds
    if not isinstance(scenario, Scenario) and Path(scenario).suffix == ".nc":
        raise UserError(f"{scenario}: --method {method} runs the model; give the scenario TOML file "
                        "(a results file serves the given-data methods)")
    scenario = resolve_scenario(scenario, overrides)
    if seed is None:  # the scenario's seed, for the design as for the paths: the study repeats bit for bit
        seed = scenario.scenario.seed
    layout = build_layout(scenario)
    ranges = [parse_range(t, scenario, layout) for t in params] if params else uncertain_ranges(scenario)
    if not ranges:
        raise UserError(f"--method {method}: give at least one --param PATH=LO:HI (or uncertain inputs in "
                        "the scenario)")
    names = [r.path for r in ranges]
    dup = sorted({p for p in names if names.count(p) > 1})
    if dup:
        raise UserError(f"--param {dup[0]}: given twice")
    slots = {}
    for r in ranges:
        for s in layout.slots(r.path):
            if s in slots:
                raise UserError(f"--param {r.path}: the same parameter as {slots[s]}")
            slots[s] = r.path
    outs = [parse_output(t, scenario) for t in outputs] or default_outputs(scenario)
    n_paths = int(paths or DEFAULT_PATHS)
    if method in ("morris", "sobol"):
        samples = DEFAULT_SAMPLES[method] if samples is None else int(samples)
        if samples < MIN_SAMPLES[method]:
            raise UserError(f"--samples {samples}: too few for {method} (at least {MIN_SAMPLES[method]})")
        if method == "sobol" and samples & (samples - 1):
            lower = 1 << (samples.bit_length() - 1)
            raise UserError(f"--samples {samples}: Sobol needs a power of two (the Sobol' sequence is balanced "
                            f"only then), e.g. {lower} or {lower * 2}")
        if method == "morris" and len(ranges) < 2:
            raise UserError("--method morris: give at least two --param ranges")
    elif samples is not None:
        raise UserError("--samples: only for morris and sobol")
    n_sets = {"oat": 1 + 2 * len(ranges), "morris": (samples or 0) * (len(ranges) + 1),
              "sobol": (samples or 0) * (len(ranges) + 2)}[method]
    sets = _prepare(scenario, layout, method, n_sets, samples, outs, paths=n_paths, seed=seed, threads=threads,
                    engine=engine)
    bar = None
    callback = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_sets * n_paths, unit="path", unit_scale=True, delay=1.0,
                   desc=f"{scenario.name} {method}", leave=False)
        callback = bar.update
    try:
        if method == "oat":
            ds = _oat(scenario, layout, ranges, outs, sets=sets, progress=callback)
        elif method == "morris":
            ds = _morris(scenario, layout, ranges, outs, sets=sets, seed=seed, samples=samples, progress=callback)
        else:
            ds = _sobol(scenario, layout, ranges, outs, sets=sets, seed=seed, samples=samples, progress=callback)
    finally:
        if bar is not None:
            bar.close()
    ds.attrs["ranges"] = json.dumps([{"path": r.path, "low": r.low, "high": r.high,
                                      **({"distribution": r.spec.table} if r.spec is not None else {})}
                                     for r in ranges])
    ds.attrs["seconds"] = float(time.perf_counter() - start)
    if not outputs:
        ds = _drop_constant_outputs(ds, n_paths)
    return ds


def _constant_note(text: str, paths: int, where: str = "of every evaluation") -> str:
    return (f"{text} is the same on all {paths:,} paths {where}, so no input moves it: left out "
            "(name it with --output to keep it)")


def _drop_constant_outputs(ds: xr.Dataset, paths: int) -> xr.Dataset:
    """A study's default outputs without those constant over every evaluation (a note says which)."""
    constant = [str(o) for o, r in zip(ds["output"].values, ds["output_range"].values, strict=True) if r == 0.0]
    if not constant or len(constant) == ds.sizes["output"]:
        return ds  # all constant: keep them, their zero indices are the answer
    kept = ds.sel(output=[str(o) for o in ds["output"].values if str(o) not in constant])
    key = {"oat": "swing", "morris": "mu_star", "sobol": "ST"}.get(str(ds.attrs.get("method")))
    if key is not None:  # ranked by the first output, which may have been a constant one
        kept = sorted_by(kept, key)
    notes = json.loads(ds.attrs.get("notes", "[]"))
    notes = [n for n in notes if not any(n.startswith(f"{c}:") for c in constant)]
    kept.attrs["notes"] = json.dumps([_constant_note(c, paths) for c in constant] + notes)
    units = json.loads(ds.attrs.get("output_units", "{}"))
    kept.attrs["output_units"] = json.dumps({k: v for k, v in units.items() if k not in constant})
    return kept


def _prepare(scenario: Scenario, layout: ParameterLayout, method: str, n_sets: int, samples: int | None,
             outputs: Sequence[Output], *, paths: int, seed, threads, engine) -> PreparedSets:
    """The study's run and batches, refused in one line when its sets, per-path values or bootstrap do not
    fit in memory."""
    from simulator.runner.memory import need_of

    outcome_paths = min(paths, NOISE_PATHS) if any(o.per_path for o in outputs) else 0
    option, value = ("--samples", int(samples)) if method in ("morris", "sobol") else ("--param", n_sets)
    extra = []
    if method in ("morris", "sobol"):
        # SALib's bootstrap of one output: 1000 resamples of the samples (Sobol: index and three
        # resampled arrays; Morris: index and the resampled elementary effects).
        per_sample = 1000 * 8.0 * (5 if method == "sobol" else 2)
        extra.append(need_of("SALib's bootstrap", per_sample * value, option))
    return prepare_sets(scenario, n_sets, paths=paths, seed=seed, threads=threads, engine=engine,
                        quantiles=any(o.quantile is not None for o in outputs), outcome_paths=outcome_paths,
                        layout=layout, option=option, value=value, per_set_extra=len(outputs) * outcome_paths * 9.0,
                        extra=extra, what=f"{method} with {n_sets:,} evaluations x {paths:,} paths")


# --------------------------------------------------------------------------- tables


def sensitivity_table(ds: xr.Dataset) -> str:
    """A readable ranked table of a sensitivity result, one block per output (columns as wide as their cells)."""
    from simulator.results.formatting import change_text, index_text, key_values_text, text_table, value_text

    method = ds.attrs.get("method", "")
    units = json.loads(ds.attrs.get("output_units", "{}"))
    cur = str(ds.attrs.get("currency", ""))
    head = (f"{ds.attrs.get('scenario_name', '')}: sensitivity ({method}), "
            + (f"{ds.attrs.get('paths', 0):,} paths per evaluation" if "given_data" not in ds.attrs
               else f"{ds.attrs.get('samples', 0):,} paths of one run (given data)"))
    lines = [head]
    for out in ds["output"].values:
        sub = ds.sel(output=out)
        u = units.get(str(out), "1")
        lines.append("")
        names = [str(x) for x in sub["parameter"].values]
        if method == "oat":
            order = np.argsort(-np.nan_to_num(sub["swing"].values, nan=-1), kind="stable")
            lines.append(f"{out}: base {value_text(float(sub['base']), u, cur)}; one at a time, largest swing first")
            rows = []
            for j in order:
                p = sub.isel(parameter=j)
                se = float(p["swing_se"])
                low, high = key_values_text([float(p["low_value"]), float(p["high_value"])])
                rows.append([names[j], low, high, value_text(float(p["low"]), u, cur),
                             value_text(float(p["high"]), u, cur), change_text(float(p["high"] - p["low"]), u, cur),
                             change_text(2 * se, u, cur) if np.isfinite(se) else "n/a"])
            lines += text_table(["parameter", "low", "high", "at low", "at high", "high-low", "± 2 SE"], rows)
        elif method == "morris":
            order = np.argsort(-np.nan_to_num(sub["mu_star"].values, nan=-1), kind="stable")
            lines.append(f"{out}: Morris elementary effects (per whole range of each key), largest first")
            rows = [[names[j], *(change_text(float(sub[v].values[j]), u, cur)
                                 for v in ("mu_star", "mu_star_conf", "mu", "sigma", "noise_sd"))]
                    for j in order]
            lines += text_table(["parameter", "mu*", "± 95%", "mu", "sigma", "noise sd"], rows)
        elif method == "sobol":
            order = np.argsort(-np.nan_to_num(sub["ST"].values, nan=-1), kind="stable")
            lines.append(f"{out}: Sobol indices (95% bootstrap intervals), largest total first")
            rows = [[names[j], *(index_text(float(sub[v].values[j])) for v in ("S1", "S1_conf", "ST", "ST_conf",
                                                                               "noise_share"))] for j in order]
            lines += text_table(["parameter", "S1", "± 95%", "ST", "± 95%", "noise"], rows)
        else:
            cols = [(n, lab) for n, lab in (("rbd_fast_S1", "RBD S1"), ("rbd_fast_S1_conf", "± 95%"),
                                            ("delta", "delta"), ("delta_conf", "± 95%"),
                                            ("delta_S1", "S1 (bin)"), ("pawn_median", "PAWN"))
                    if n in ds]
            key = cols[0][0]
            order = np.argsort(-np.nan_to_num(sub[key].values, nan=-1), kind="stable")
            explained = float(sub["explained_share"]) if "explained_share" in sub else math.nan
            lines.append(f"{out}: given-data indices on the per-path draws"
                         + (f"; the inputs explain {value_text(explained, '1')} of the per-path variance"
                            if np.isfinite(explained) else ""))
            rows = [[names[j], *(index_text(float(sub[n].values[j])) for n, _ in cols)] for j in order]
            lines += text_table(["parameter", *(lab for _, lab in cols)], rows)
    notes = json.loads(ds.attrs.get("notes", "[]"))
    if notes:
        lines.append("")
        lines += [f"note: {n}" for n in notes]
    return "\n".join(lines)


def attribute_table(ds: xr.Dataset, outputs: Sequence[tuple[str, int, str]]) -> str:
    """Ranked inputs per (company, horizon, outcome): median shift in standard deviations.

    An outcome no path (or every path) has cannot be attributed: its block says so
    instead of a table of NaN.
    """
    from simulator.results.formatting import key_values_text, percent, text_table

    lines = [f"{ds.attrs.get('scenario_name', '')}: which uncertain inputs drive each outcome "
             f"({ds.attrs.get('paths', 0):,} paths; shift of the input's median inside the outcome's paths, in "
             "standard deviations; |shift| > 0.5 is notable)"]
    for company, h, outcome in outputs:
        sub = ds.sel(company=company, horizon=h, outcome=outcome)
        share = float(sub["subset_share"])
        lines += ["", f"{company}.{outcome}@{h}: {percent(share)} of paths"]
        shift = sub["median_shift"].values.astype(float)
        if not np.any(np.isfinite(shift)):
            what = "no path has" if share == 0.0 else "every path has" if share == 1.0 else "too few paths have"
            lines.append(f"  {what} this outcome at month {h}: nothing to attribute (the inputs' medians "
                         "cannot differ between its paths and the others)")
            continue
        order = np.argsort(-np.nan_to_num(np.abs(shift), nan=-1), kind="stable")
        rows = []
        for j in order:
            p = sub.isel(input=j)
            lo, hi = (float(x) for x in p["median_shift_ci"].values)
            medians = key_values_text([float(p["input_median"]), float(p["subset_median"])])
            rows.append([str(p["input"].values), *medians,
                         f"{float(p['median_shift']):+.2f}" if np.isfinite(shift[j]) else "n/a",
                         f"[{lo:+.2f}, {hi:+.2f}]" if np.isfinite(lo) and np.isfinite(hi) else "n/a"])
        lines += text_table(["input", "median", "in subset", "shift (sd)", "95% interval"], rows)
    return "\n".join(lines)


# --------------------------------------------------------------------------- command line


