"""Given-data sensitivity: RBD-FAST, delta and PAWN on the per-path draws and outcomes of one run.

May import: :mod:`simulator.errors`, :mod:`simulator.model`, :mod:`simulator.results`,
:mod:`simulator.run`, :mod:`simulator.runner` and :mod:`simulator.studies.sensitivity_outputs`.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from simulator.errors import ScenarioError, UserError
from simulator.model.schema import Scenario
from simulator.runner.prepared import resolve_scenario
from simulator.studies.sensitivity_outputs import Output, sorted_by

__all__ = ["CONFIDENCE", "draws_from", "given_data", "no_uncertain_inputs", "open_draws", "refuse_run_options",
           "run_provenance", "scenario_from_attrs"]

CONFIDENCE = 0.95


def _classes(n: int) -> int:
    """Plischke et al. (2013)'s number of equal-frequency classes for n samples (as SALib's delta)."""
    exponent = 2.0 / (7.0 + math.tanh((1500.0 - n) / 500.0))
    return int(min(math.ceil(n ** exponent), 48))


def _binary_delta(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, *,
                  resamples: int = 100) -> tuple[float, float]:
    """Borgonovo's delta of a 0/1 output and the half-width of its 95% bootstrap interval.

    For a 0/1 output, ``delta = 1/2 E_X sum_y |P(y) - P(y | X)| = E_X |p - p(X)|``,
    estimated over equal-frequency classes of ``x``.  Class noise adds a positive
    bias; the mean over random permutations of ``y`` (inputs that cannot matter)
    is subtracted, so an input without effect scores about 0.
    """
    n = y.size
    m = _classes(n)
    order = np.argsort(x, kind="stable")
    edges = np.linspace(0, n, m + 1).astype(np.int64)

    def raw(ys: np.ndarray) -> float:
        sums = np.add.reduceat(ys, edges[:-1])
        sizes = np.diff(edges)
        return float(np.sum(sizes / n * np.abs(sums / sizes - ys.mean())))

    ys = y[order]
    null = np.mean([raw(rng.permutation(ys)) for _ in range(20)])
    value = raw(ys) - null
    boot = []
    for _ in range(resamples):
        idx = np.sort(rng.integers(0, n, n))  # resampled paths, still sorted by x
        boot.append(raw(ys[idx]) - null)
    half = float(np.percentile(boot, 97.5) - np.percentile(boot, 2.5)) / 2.0
    return value, half


_GIVEN_FIELDS = {
    "rbd-fast": ("rbd_fast_S1", "rbd_fast_S1_conf"),
    "delta": ("delta", "delta_conf", "delta_S1", "delta_S1_conf"),
    "pawn": ("pawn_median", "pawn_minimum", "pawn_maximum", "pawn_cv"),
}


def given_data(draws: np.ndarray, outcomes: np.ndarray, names: Sequence[str], outputs: Sequence[Output],
                horizons: np.ndarray, methods: Sequence[str], seed: int, attrs: dict) -> xr.Dataset:
    from SALib.analyze import delta as delta_analyze
    from SALib.analyze import pawn as pawn_analyze
    from SALib.analyze import rbd_fast

    k = len(names)
    problem = {"num_vars": k, "names": [f"x{j}" for j in range(k)],
               "bounds": [[float(draws[:, j].min()), float(draws[:, j].max())] for j in range(k)]}
    fields: dict[str, np.ndarray] = {}

    def put(name: str, i: int, values) -> None:
        fields.setdefault(name, np.full((len(outputs), k), np.nan))[i] = np.asarray(values, dtype=np.float64)

    explained = np.full(len(outputs), np.nan)
    for i, o in enumerate(outputs):
        ind = o.indicator(outcomes[None], horizons)
        if ind is None:
            raise UserError(f"--output {o.text}: given-data methods need an outcome output (champion, "
                            "contested, collapse or any_champion), which each path has")
        y = ind[0]
        if np.all(y == y[0]):
            # A constant outcome: no input explains any of it.
            for m in methods:
                for name in _GIVEN_FIELDS[m]:
                    put(name, i, np.zeros(k))
            explained[i] = 0.0
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if "rbd-fast" in methods:
                si = rbd_fast.analyze(problem, draws, y, M=10, num_resamples=100, conf_level=CONFIDENCE,
                                      seed=seed)
                put("rbd_fast_S1", i, si["S1"])
                put("rbd_fast_S1_conf", i, si["S1_conf"])
                explained[i] = float(np.nansum(si["S1"]))
            if "delta" in methods:
                # SALib's delta estimates densities by kernels, which do not apply to a
                # 0/1 outcome (and take minutes); Borgonovo's delta of a 0/1 output is
                # computed exactly from class frequencies instead. SALib gives the
                # first-order index by the same classes.
                si = delta_analyze.analyze(problem, draws, y, num_resamples=50, conf_level=CONFIDENCE,
                                           seed=seed, method="sobol")
                put("delta_S1", i, si["S1"])
                put("delta_S1_conf", i, si["S1_conf"])
                rng = np.random.default_rng(seed)
                est = np.asarray([_binary_delta(draws[:, j], y, rng) for j in range(k)])
                put("delta", i, est[:, 0])
                put("delta_conf", i, est[:, 1])
            if "pawn" in methods:
                si = pawn_analyze.analyze(problem, draws, y, S=10, seed=seed)
                for stat in ("median", "minimum", "maximum", "CV"):
                    put(f"pawn_{stat.lower()}", i, si[stat])
    ds = xr.Dataset(coords={"output": np.asarray([o.text for o in outputs], dtype=object),
                            "parameter": np.asarray(list(names), dtype=object)})
    longs = {
        "rbd_fast_S1": "first-order Sobol index by RBD-FAST on the per-path draws (share of the per-path "
                       "variance of the outcome, which includes event and diffusion randomness)",
        "rbd_fast_S1_conf": "half-width of the 95% bootstrap interval of rbd_fast_S1",
        "delta": "Borgonovo's moment-independent delta on the per-path draws (exact for a 0/1 output over "
                 "equal-frequency classes, permutation bias removed)",
        "delta_conf": "half-width of the 95% bootstrap interval of delta",
        "delta_S1": "first-order Sobol index by binning (Plischke) on the per-path draws",
        "delta_S1_conf": "half-width of the 95% bootstrap interval of delta_S1",
        "pawn_median": "PAWN index: median over 10 slides of the Kolmogorov-Smirnov distance",
        "pawn_minimum": "PAWN: smallest KS distance over the slides",
        "pawn_maximum": "PAWN: largest KS distance over the slides",
        "pawn_cv": "PAWN: coefficient of variation of the KS distance over the slides",
    }
    for name, values in fields.items():
        ds[name] = (("output", "parameter"), values, {"long_name": longs[name], "units": "1"})
    ds["explained_share"] = (("output",), explained, {
        "long_name": "sum of the RBD-FAST first-order indices: share of the per-path variance of the outcome "
                     "the uncertain inputs explain (the rest is the randomness of events and shocks)"})
    key = ("rbd_fast_S1" if "rbd_fast_S1" in ds else "delta" if "delta" in ds else "pawn_median")
    ds = sorted_by(ds, key)
    ds.attrs.update(attrs)
    ds.attrs.update({"study": "sensitivity", "method": ",".join(methods), "given_data": 1,
                     "title": f"Given-data sensitivity ({', '.join(methods)}) of scenario "
                              f"{attrs.get('scenario_name', '')}",
                     "samples": int(draws.shape[0]),
                     "notes": json.dumps([
                         "given-data indices use the per-path draws of the uncertain inputs of one run: no "
                         "extra runs; they are shares of the per-path variance of a 0/1 outcome, most of "
                         "which is event and diffusion randomness, so they are small; rank, don't add"])})
    return ds


def run_provenance(attrs: dict) -> dict:
    """The attributes of a run that say what it was (scenario, seed, uncertain inputs, engine)."""
    return {k: v for k, v in attrs.items() if k.startswith(("scenario_", "seed_", "uncertain"))
            or k in ("currency", "block_size", "engine", "simulator_version")}


def refuse_run_options(path: Path, paths: int | None, overrides) -> None:
    """One line when options of a run (``--paths``, ``--set``) come with a results file, which is read as is."""
    if paths is not None or overrides:
        raise UserError(f"{path}: --paths and --set apply to a scenario file; a results file is read as is")


def open_draws(path: Path) -> xr.Dataset:
    """A run's results file with its per-path draws and outcome codes; one-line error otherwise."""
    from simulator.results.io import open_results
    from simulator.studies.compare import run_problem

    expected = "a run's results .nc file with per-path draws, or a scenario TOML file"
    ds = open_results(path, expected=expected)
    problem = run_problem(ds)
    if problem:
        raise UserError(f"{path}: {problem} (expected {expected})")
    if "input_draw" not in ds or "path_outcome" not in ds:
        raise UserError(f"{path}: no per-path draws; run a scenario with uncertain inputs (a key given "
                        "as { dist = ... }) with `simulator run` first, or give the TOML file")
    return ds


def draws_from(source: Path | Scenario, *, paths: int | None, seed, overrides, threads, engine,
               progress: bool = False):
    """(draws, outcomes, input names, horizons, companies, attrs) from a results file or a run."""
    if isinstance(source, Path) and source.suffix == ".nc":
        refuse_run_options(source, paths, overrides)
        ds = open_draws(source)
        return (ds["input_draw"].values, ds["path_outcome"].values, [str(x) for x in ds["input"].values],
                ds["horizon"].values, [str(c) for c in ds["company"].values], run_provenance(ds.attrs), None)
    import simulator
    from simulator.model.uncertain import RECORDED_PATHS

    scenario = resolve_scenario(source, overrides)
    if not scenario.uncertain:
        raise UserError(no_uncertain_inputs(scenario))
    n = min(int(paths or scenario.scenario.paths), RECORDED_PATHS)
    if paths and paths > RECORDED_PATHS:
        import warnings

        from simulator.warnings import SimulatorWarning

        warnings.warn(f"--paths {paths:,}: the per-path draws of at most {RECORDED_PATHS:,} paths are recorded; "
                      f"running {RECORDED_PATHS:,}", SimulatorWarning, stacklevel=2)
    ds = simulator.run(scenario, paths=n, seed=seed, threads=threads, engine=engine, progress=progress)
    return (ds["input_draw"].values, ds["path_outcome"].values, [str(x) for x in ds["input"].values],
            ds["horizon"].values, [str(c) for c in ds["company"].values], run_provenance(ds.attrs), scenario)


def no_uncertain_inputs(scenario: Scenario) -> str:
    """The one-line message for a scenario without uncertain inputs."""
    return (f"{scenario.source_path or scenario.name}: no uncertain inputs; give some keys as "
            "distributions, e.g. long_run = {dist = \"uniform\", low = 0.1, high = 0.6}")


def scenario_from_attrs(attrs: dict) -> Scenario:
    """The scenario of a results file (for parsing outputs)."""
    from simulator.model.scenario_file import parse_scenario

    text = attrs.get("scenario_text", "")
    if text:
        try:
            return parse_scenario(text, source=str(attrs.get("scenario_source", "<results>")))
        except ScenarioError:
            pass
    raise UserError("the results file has no readable scenario_text")
