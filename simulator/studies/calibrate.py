"""Calibrate parameters to stated probabilities, and solve for implied expectations.

Both are root-finding problems on Monte Carlo estimates.  Every trial value is
run with the same seed (common random numbers), so the estimate is a
deterministic function of the parameter: a monotone step function in the
typical case, which a bracketing root finder (``scipy.optimize.brentq``) or
bounded least squares (``scipy.optimize.least_squares``) handles.  Many trial
values are evaluated in one kernel call as parameter sets.  The uncertainty of a
calibrated value comes from repeating the calibration with independent seeds.

Keys the scenario gives as distributions (:mod:`simulator.model.uncertain`) are drawn
per path in every evaluation, as :func:`simulator.run` draws them (the same draws
for every trial value); a key that is itself a distribution cannot be searched.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, stats

from simulator.engines.plan import DEFAULT_BLOCK_SIZE, RunPlan
from simulator.engines.streams import normalise_seed
from simulator.errors import UnreachableError, UserError
from simulator.model.parameters import COMPANY, ParameterLayout, build_layout
from simulator.model.scenario_file import with_overrides
from simulator.model.schema import Scenario
from simulator.results.statistics import mean_interval
from simulator.results.targets import Target
from simulator.runner.prepared import PreparedRun, prepare_run
from simulator.runner.progress import study_bar

__all__ = [
    "READINGS",
    "Calibration",
    "Evaluator",
    "ImpliedValue",
    "ParamRange",
    "UnreachableError",
    "calibrate",
    "fundamental_value",
    "implied_value",
    "parse_param_range",
]

ALPHA = 1e-3  # family-wise level of the "target reached" check


@dataclass(frozen=True)
class ParamRange:
    """A numeric scenario key and the range to search."""

    path: str
    low: float
    high: float


def parse_param_range(text: str, scenario: Scenario) -> ParamRange:
    """Parse ``dotted.path=LO:HI`` and check the key and both ends against the schema."""
    path, sep, rng = text.partition("=")
    lo_text, sep2, hi_text = rng.partition(":")
    if not sep or not sep2:
        raise UserError(f"--param {text!r}: expected dotted.path=LO:HI, e.g. "
                        f"companies.{scenario.companies[0].name}.growth.long_run=0.0:1.5")
    try:
        low, high = float(lo_text), float(hi_text)
    except ValueError:
        raise UserError(f"--param {text!r}: LO and HI must be numbers") from None
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise UserError(f"--param {text!r}: need LO < HI (got {low:g} and {high:g})")
    layout = build_layout(scenario)
    slots = layout.slots(path.strip())  # ScenarioError for unknown or non-numeric keys
    if path.strip().endswith(".enabled"):
        raise UserError(f"--param {text!r}: {path.strip()} is a switch, not a numeric parameter")
    del slots
    _refuse_uncertain(scenario, layout, path.strip())
    for value in (low, high):
        with_overrides(scenario, {path.strip(): value})  # range check with the key's own error
    return ParamRange(path.strip(), low, high)


def _refuse_uncertain(scenario: Scenario, layout, path: str) -> None:
    """Raise a one-line UserError when the scenario gives the key ``path`` as a distribution."""
    spec = scenario.uncertain.input_at(layout, path) if scenario.uncertain else None
    if spec is not None:
        from simulator.model.uncertain import fmt_table as _fmt_table

        named = "" if spec.path == path else f"{spec.path} = "
        raise UserError(f"--param {path}: the scenario gives this key as a distribution "
                        f"({named}{_fmt_table(spec.table)}), so it cannot be searched; fix it with "
                        f"--set {spec.path}=VALUE or search another key")


@dataclass
class Evaluator:
    """Runs a scenario at many parameter values with common random numbers."""

    scenario: Scenario
    params: list[ParamRange]
    paths: int
    seed: np.random.SeedSequence
    engine: str = "numba"
    block_size: int = DEFAULT_BLOCK_SIZE
    evaluations: int = 0
    #: Called with the paths finished (a progress bar's update), or None.
    progress: Callable[[int], None] | None = None
    prepared: PreparedRun = field(init=False)

    def __post_init__(self) -> None:
        # Every trial value sees the same random numbers and per-path draws (common random numbers).
        self.prepared = prepare_run(self.scenario, paths=self.paths, seed=self.seed, engine=self.engine,
                                    block_size=self.block_size, fans=False)
        for p in self.params:
            _refuse_uncertain(self.scenario, self.layout, p.path)

    @property
    def layout(self) -> ParameterLayout:
        """The scenario's parameter layout."""
        return self.prepared.layout

    @property
    def plan(self) -> RunPlan:
        """The run's plan (horizons only)."""
        return self.prepared.plan

    def theta(self, x) -> np.ndarray:
        """Parameter vector with the params set to ``x`` (validated, derived keys consistent)."""
        values = {p.path: float(v) for p, v in zip(self.params, np.atleast_1d(x), strict=True)}
        return build_layout(with_overrides(self.scenario, values)).theta

    def tally(self, xs):
        """Tallies of every row of ``xs`` (shape (n_sets, n_params)) in one kernel call."""
        xs = np.atleast_2d(np.asarray(xs, dtype=np.float64))
        thetas = np.stack([self.theta(x) for x in xs])
        self.evaluations += xs.shape[0]
        return self.prepared.simulate(self.progress, theta_sets=thetas, fans=False)

    def estimates(self, xs, targets: list[Target]) -> tuple[np.ndarray, np.ndarray]:
        """(estimates, trials), each shape (n_sets, n_targets)."""
        t = self.tally(xs)
        names = tuple(c.name for c in self.scenario.companies)
        horizons = tuple(int(h) for h in self.plan.horizons)
        est = np.empty((t.counts.shape[0], len(targets)))
        trials = np.empty_like(est)
        for s in range(t.counts.shape[0]):
            for j, target in enumerate(targets):
                est[s, j], trials[s, j] = target.from_counts(t.counts[s], t.any_champion[s], self.paths,
                                                             names, horizons)
        return est, trials

    def fundamental(self, xs, company: int, reading: str = "equity") -> np.ndarray:
        """Mean fundamental value (currency) of one company at every row of ``xs``, in one reading.

        ``reading`` is ``"equity"`` (``fundamental_value``) or ``"business"``
        (``business_value``), MODEL.md step 8.
        """
        xs = np.atleast_2d(np.asarray(xs, dtype=np.float64))
        t = self.tally(xs)
        v0 = np.asarray([self.theta(x)[_valuation_slot(company)] for x in xs])
        return _moments_of(t, reading)[:, company, 1] * v0


#: The two readings of the fundamental value (MODEL.md step 8) and the Dataset variable of each.
READINGS = {"equity": "fundamental_value", "business": "business_value"}


def _moments_of(t, reading: str) -> np.ndarray:
    if reading not in READINGS:
        raise UserError(f"--reading {reading!r}: must be one of {', '.join(READINGS)}")
    return t.fv if reading == "equity" else t.bv


def _valuation_slot(company: int) -> int:
    return ParameterLayout.company_offset(company) + COMPANY.slot("valuation")


@dataclass
class Calibration:
    """The outcome of :func:`calibrate`."""

    params: list[ParamRange]
    targets: list[Target]
    value: np.ndarray  # the calibrated values (mean over seeds)
    standard_error: np.ndarray  # of that mean, from the spread over independent seeds
    per_seed: np.ndarray  # (seeds, params)
    achieved: np.ndarray  # estimates at ``value`` with the main seed
    achieved_ci: np.ndarray  # (targets, 2)
    paths: int
    evaluations: int
    method: str
    notes: list[str] = field(default_factory=list)


def _solve_1d(f, lo: float, hi: float, grid: np.ndarray, fgrid: np.ndarray) -> float:
    """Root of a step-like monotone function from a grid bracket, refined by brentq."""
    signs = np.sign(fgrid)
    if np.any(signs == 0):
        return float(grid[np.flatnonzero(signs == 0)[0]])
    change = np.flatnonzero(signs[:-1] * signs[1:] < 0)
    if change.size == 0:
        raise ValueError("no sign change")
    i = int(change[0])
    return float(optimize.brentq(f, grid[i], grid[i + 1], xtol=(hi - lo) * 1e-5, rtol=1e-10, maxiter=200))


def _solve(ev: Evaluator, targets: list[Target], *, grid_points: int, rng_seed: int) -> tuple[np.ndarray, str]:
    goal = np.asarray([t.value for t in targets])
    lows = np.asarray([p.low for p in ev.params])
    highs = np.asarray([p.high for p in ev.params])
    if len(ev.params) == 1 and len(targets) == 1:
        grid = np.linspace(lows[0], highs[0], grid_points)
        est, _ = ev.estimates(grid[:, None], targets)
        fgrid = est[:, 0] - goal[0]
        finite = np.isfinite(fgrid)
        try:
            x = _solve_1d(lambda v: float(ev.estimates([[v]], targets)[0][0, 0] - goal[0]),
                          lows[0], highs[0], grid[finite], fgrid[finite])
        except ValueError:
            reach = est[finite, 0]
            raise UnreachableError(
                f"no value of {ev.params[0].path} in [{lows[0]:g}, {highs[0]:g}] reaches {targets[0].label} = "
                f"{goal[0]:g}: over that range it goes from {reach.min() if reach.size else float('nan'):.4f} "
                f"to {reach.max() if reach.size else float('nan'):.4f}") from None
        return np.asarray([x]), "brentq on a common-random-numbers grid"
    # Several parameters or targets: bounded least squares from the best of a
    # Latin hypercube, in coordinates scaled to [0, 1].
    d = len(ev.params)
    sampler = stats.qmc.LatinHypercube(d=d, seed=rng_seed)
    u0s = np.vstack([sampler.random(max(16, 8 * d)), np.full((1, d), 0.5)])
    est, trials = ev.estimates(lows + u0s * (highs - lows), targets)
    se = np.sqrt(np.clip(goal * (1 - goal), 0.0025, None) / np.maximum(trials, 1))
    score = np.nansum(((est - goal) / se) ** 2, axis=1)
    z = stats.norm.ppf(1 - ALPHA / (2 * len(targets)))

    def residuals(u):
        e, n = ev.estimates([lows + np.clip(u, 0, 1) * (highs - lows)], targets)
        r = (e[0] - goal) / np.sqrt(np.clip(goal * (1 - goal), 0.0025, None) / np.maximum(n[0], 1))
        return np.nan_to_num(r, nan=1e6)

    # Step-function residuals can stall a local method: restart from the next-best
    # starting points until every residual is within Monte Carlo noise.
    best = None
    for start in np.argsort(score)[:4]:
        fit = optimize.least_squares(residuals, u0s[start], bounds=(0.0, 1.0), diff_step=0.02, max_nfev=80)
        if best is None or fit.cost < best.cost:
            best = fit
        if np.all(np.abs(fit.fun) <= z):
            break
    return lows + best.x * (highs - lows), "least squares (trf) from the best points of a Latin hypercube"


def calibrate(
    scenario: Scenario,
    targets: list[Target],
    params: list[ParamRange],
    *,
    paths: int,
    seed=None,
    replicates: int = 4,
    engine: str = "numba",
    grid_points: int = 17,
    progress: bool = False,
) -> Calibration:
    """Find parameter values that reproduce stated probabilities.

    Parameters
    ----------
    scenario : Scenario
        The scenario to calibrate.
    targets : list of Target
        Probabilities with values (``zhipu.champion@36=0.6``, ``zhipu.champion_share@36=0.6``).
    params : list of ParamRange
        Keys to adjust and their search ranges.
    paths : int
        Paths per evaluation.
    seed : int, optional
        Main seed (default: the scenario's).
    replicates : int
        Extra calibrations with independent seeds, for the uncertainty.
    engine : {"numba", "numpy"}
    grid_points : int
        Points of the bracketing grid (one parameter) evaluated in one kernel call.
    progress : bool
        Show a progress bar (paths simulated, the seed and the evaluations so far).

    Raises
    ------
    UnreachableError
        When no value in the ranges reproduces the targets.
    """
    with study_bar("calibrate", progress) as bar:
        return _calibrate(scenario, targets, params, paths=paths, seed=seed, replicates=replicates, engine=engine,
                          grid_points=grid_points, bar=bar)


def _calibrate(scenario, targets, params, *, paths, seed, replicates, engine, grid_points, bar) -> Calibration:
    if not targets or not params:
        raise UserError("calibrate needs at least one --target with a value and one --param")
    missing = [t.label for t in targets if t.value is None]
    if missing:
        raise UserError(f"--target {missing[0]}: give the value to reach, e.g. {missing[0]}=0.6")
    root = normalise_seed(scenario.scenario.seed if seed is None else seed)
    seeds = [root] + [np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, 1_000_003, r))
                      for r in range(replicates)]
    solutions, notes, evaluations, method = [], [], 0, ""
    update = None if bar is None else bar.update
    for r, ss in enumerate(seeds):
        if bar is not None:
            bar.set_postfix_str(f"seed {r + 1} of {len(seeds)}", refresh=False)  # nothing shown before its delay
        ev = Evaluator(scenario, params, paths, ss, engine=engine, progress=update)
        try:
            x, method = _solve(ev, targets, grid_points=grid_points, rng_seed=r)
        except UnreachableError:
            if r == 0:
                raise
            notes.append(f"replicate seed {r}: target not bracketed; left out")
            continue
        finally:
            evaluations += ev.evaluations
        solutions.append(x)
    per_seed = np.asarray(solutions)
    value = per_seed.mean(axis=0)
    se = per_seed.std(axis=0, ddof=1) / math.sqrt(len(per_seed)) if len(per_seed) > 1 else np.full(len(params), np.nan)
    ev = Evaluator(scenario, params, paths, root, engine=engine, progress=update)
    est, trials = ev.estimates([value], targets)
    from simulator.results.statistics import wilson_interval

    ci = wilson_interval(np.rint(est[0] * trials[0]), trials[0])
    goal = np.asarray([t.value for t in targets])
    z = stats.norm.ppf(1 - ALPHA / (2 * len(targets)))
    tolerance = z * np.sqrt(np.clip(goal * (1 - goal), 0.0, None) / np.maximum(trials[0], 1)) + 1.0 / np.maximum(trials[0], 1)
    off = np.abs(est[0] - goal) > tolerance
    if np.any(off):
        worst = int(np.argmax(np.abs(est[0] - goal) - tolerance))
        raise UnreachableError(
            f"no values of {', '.join(p.path for p in params)} in the given ranges reach the targets: best "
            f"{targets[worst].label} = {est[0, worst]:.4f} against {goal[worst]:g} (allowed Monte Carlo "
            f"tolerance {tolerance[worst]:.4f}); widen the ranges or add parameters")
    return Calibration(params=params, targets=targets, value=value, standard_error=se, per_seed=per_seed,
                       achieved=est[0], achieved_ci=ci, paths=paths, evaluations=evaluations + 1,
                       method=method, notes=notes)


@dataclass
class ImpliedValue:
    """The parameter value at which one reading of the fundamental value equals the stated valuation.

    ``reading`` is the reading solved for (``"equity"`` or ``"business"``);
    ``at_scenario`` and ``at_solution`` hold both readings, ``{reading: (mean,
    (low, high))}`` in currency with 95% intervals, under the scenario's own
    assumptions and with ``param`` set to ``value`` (main seed).
    """

    param: ParamRange
    company: str
    reading: str
    value: float
    standard_error: float
    per_seed: np.ndarray
    valuation: float
    at_scenario: dict
    at_solution: dict

    @property
    def fundamental_at_scenario(self) -> float:
        """The solved-for reading under the scenario's own assumptions."""
        return self.at_scenario[self.reading][0]


def implied_value(scenario: Scenario, company: str, param: ParamRange, *, paths: int, seed=None,
                  replicates: int = 4, engine: str = "numba", grid_points: int = 17,
                  reading: str = "equity", progress: bool = False) -> ImpliedValue:
    """Solve for the value of ``param`` at which the company's fundamental value (``reading``) equals V0.

    ``reading``: ``"equity"`` (floored at zero, the figure the narrative premium
    is measured from) or ``"business"`` (not floored, minus the money raised after
    the start).  Both readings are evaluated at the solution.  ``progress`` shows a progress bar.
    """
    with study_bar("implied", progress) as bar:
        return _implied_value(scenario, company, param, paths=paths, seed=seed, replicates=replicates,
                              engine=engine, grid_points=grid_points, reading=reading,
                              update=None if bar is None else bar.update)


def _implied_value(scenario, company, param, *, paths, seed, replicates, engine, grid_points, reading,
                   update) -> ImpliedValue:
    if reading not in READINGS:
        raise UserError(f"--reading {reading!r}: must be one of {', '.join(READINGS)}")
    names = [c.name for c in scenario.companies]
    if company not in names:
        raise UserError(f"--company {company!r}: no such company (known: {', '.join(names)})")
    c = names.index(company)
    v0 = scenario.companies[c].valuation
    root = normalise_seed(scenario.scenario.seed if seed is None else seed)
    seeds = [root] + [np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, 1_000_033, r))
                      for r in range(replicates)]
    solutions = []
    for r, ss in enumerate(seeds):
        ev = Evaluator(scenario, [param], paths, ss, engine=engine, progress=update)
        grid = np.linspace(param.low, param.high, grid_points)
        fv = ev.fundamental(grid[:, None], c, reading)
        try:
            x = _solve_1d(lambda v, ev=ev: float(ev.fundamental([[v]], c, reading)[0] - v0), param.low,
                          param.high, grid, fv - v0)
        except ValueError:
            if r == 0:
                raise _unreachable(ev, scenario, company, param, grid, fv, reading=reading, seed=ss,
                                   engine=engine) from None
            continue
        solutions.append(x)
    per_seed = np.asarray(solutions)
    se = float(per_seed.std(ddof=1) / math.sqrt(per_seed.size)) if per_seed.size > 1 else float("nan")
    value = float(per_seed.mean())
    at_scenario = fundamental_value(scenario, company, paths=paths, seed=root, engine=engine, progress=update)
    solved = Evaluator(scenario, [param], paths, root, engine=engine, progress=update)
    at_solution = _readings(solved.tally([[value]]), c, solved.theta([value])[_valuation_slot(c)])
    return ImpliedValue(param=param, company=company, reading=reading, value=value, standard_error=se,
                        per_seed=per_seed, valuation=v0, at_scenario=at_scenario, at_solution=at_solution)


def _wide_grid(low: float, high: float, n: int) -> np.ndarray:
    """Points over a key's whole allowed range: geometric when it spans many decades (amounts), else even."""
    if low >= 0.0 and high > 0.0 and high / max(low, high * 1e-12) > 1e3:
        return np.geomspace(max(low, high * 1e-12), high, n)
    return np.linspace(low, high, n)


def _unreachable(ev: Evaluator, scenario: Scenario, company: str, param: ParamRange, grid: np.ndarray,
                 fv: np.ndarray, *, reading: str, seed, engine: str) -> UnreachableError:
    """The error of an implied value that the searched range does not reach, saying what would.

    Over the key's whole allowed range: either where the value is reached (a
    ``--range`` to search), or, when nowhere, what binds at the most favourable
    value and the override that lifts it (:mod:`simulator.studies.binding`).
    """
    from simulator.errors import ScenarioError
    from simulator.model.parameters import parameter_bounds
    from simulator.results.formatting import format_amount
    from simulator.studies.binding import what_binds

    c = [x.name for x in scenario.companies].index(company)
    v0 = scenario.companies[c].valuation
    cur = scenario.currency
    low, high = parameter_bounds(param.path)
    if not (math.isfinite(low) and math.isfinite(high)):
        low, high = param.low, param.high
    wide = []
    for x in _wide_grid(low, high, 2 * len(grid) + 1):
        try:
            ev.theta([x])  # an open end of the range is no allowed value
        except ScenarioError:
            continue
        wide.append(x)
    wide = np.asarray(wide)
    xs = np.concatenate([grid, wide])
    values = np.concatenate([fv, ev.fundamental(wide[:, None], c, reading) if wide.size else np.zeros(0)])
    order = np.argsort(xs, kind="stable")
    xs, values = xs[order], values[order]
    above = values >= v0
    searched = f"[{param.low:g}, {param.high:g}]"
    head = (f"no value of {param.path} in {searched} makes the {reading} value of {company} reach its valuation "
            f"{format_amount(v0, cur)}: it goes from {format_amount(fv.min())} to {format_amount(fv.max())}")
    change = np.flatnonzero(above[1:] != above[:-1])
    if change.size:
        i = int(change[0])
        return UnreachableError(f"{head}; it does between {param.path} = {xs[i]:.4g} and {xs[i + 1]:.4g} "
                                f"(allowed: [{low:g}, {high:g}]): search there with --range {xs[i]:.4g}:{xs[i + 1]:.4g}")
    best = int(np.argmax(values))
    lines = what_binds(scenario, company, param.path, float(xs[best]), paths=ev.paths, seed=seed, engine=engine)
    return UnreachableError(
        f"{head}, and no value in its whole allowed range [{low:g}, {high:g}] does: the {reading} value peaks at "
        f"{format_amount(values[best], cur)} ({param.path} = {xs[best]:.4g}). What binds there:\n"
        + "\n".join(f"- {line}" for line in lines))


def fundamental_value(scenario: Scenario, company: str, *, paths: int, seed=None,
                      engine: str = "numba", progress: Callable[[int], None] | None = None) -> dict:
    """The company's fundamental value under the scenario's own assumptions, in both readings.

    Returns ``{"equity": (mean, (low, high)), "business": (mean, (low, high))}``
    in currency, with 95% intervals (MODEL.md step 8).
    """
    names = [c.name for c in scenario.companies]
    c = names.index(company)
    v0 = scenario.companies[c].valuation
    t = prepare_run(scenario, paths=paths, seed=seed, engine=engine, fans=False).simulate(progress, outcome_paths=0)
    return _readings(t, c, v0)


def _readings(t, c: int, v0: float) -> dict:
    """Both readings of company ``c`` from set 0 of a tally, in currency with 95% intervals (as a run's)."""
    out = {}
    for reading in READINGS:
        mean, (low, high) = mean_interval(_moments_of(t, reading)[0, c], v0)
        out[reading] = (float(mean), (float(low), float(high)))
    return out


def _current_value(scenario: Scenario, path: str) -> float:
    layout = build_layout(scenario)
    return float(layout.theta[layout.slots(path)[0]])


def default_implied_range(scenario: Scenario, path: str) -> tuple[float, float]:
    """A search range for ``implied`` when none is given.

    Growth rates: -0.5 to 3 a year.  Other keys: from 0 to ten times the current value
    (at least 1), or from ten times a negative current value to 0; wider ranges only
    slow the bracketing, and ``--range`` overrides it.
    """
    if path.endswith(("growth.long_run", "growth.initial")):
        return -0.5, 3.0
    current = _current_value(scenario, path)
    if current >= 0:
        return 0.0, max(1.0, current * 10.0)
    return current * 10.0, 0.0
