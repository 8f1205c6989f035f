"""Runs sized to a precision target: ``simulator run FILE --precision 0.005``.

The rule (two-stage, so stopping does not bias the estimate):

1. A pilot of ``pilot_paths`` paths, drawn from its own random streams (spawn key
   ``PILOT_KEY`` under the run's seed), estimates each targeted probability.
2. For each target the main sample size is the smallest n at which the 95%
   Wilson half-width is at most the target for every p in the pilot's 99.9%
   Wilson interval (for a champion share, n is divided by the lower 99.9% bound
   of the share of decided paths).  The largest n over the targets, rounded up to
   whole blocks and capped by ``max_paths``, is run.
3. The reported estimates come from the main sample only.  Its size depends on
   the pilot alone, which is independent of it, so given n the estimate is an
   ordinary binomial proportion: unbiased, with the Wilson interval's nominal
   coverage (``tests/test_precision.py`` checks 95% coverage over hundreds of
   replications).  The main sample is exactly the run ``--paths n`` would make.

Whether every half-width met the target is reported (``precision_met``); with
the conservative pilot bound it almost always is, unless ``max_paths`` capped n.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import xarray as xr
from scipy import stats

from simulator.engines.dispatch import simulate
from simulator.engines.plan import DEFAULT_BLOCK_SIZE
from simulator.engines.streams import normalise_seed
from simulator.errors import UserError
from simulator.model.schema import Scenario
from simulator.results.statistics import wilson_interval
from simulator.results.targets import Target, all_targets
from simulator.runner.prepared import prepare_run

__all__ = ["PILOT_KEY", "PrecisionPlan", "plan_paths", "run_to_precision", "wilson_half_width"]

PILOT_KEY = 2_000_003
CONFIDENCE = 0.95
PILOT_CONFIDENCE = 0.999


def wilson_half_width(p, n, *, confidence: float = CONFIDENCE):
    """Half-width of the Wilson score interval at proportion ``p`` with ``n`` trials."""
    z = stats.norm.ppf(0.5 + confidence / 2.0)
    p = np.asarray(p, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    return z / (1.0 + z * z / n) * np.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n))


def _paths_for(p_low: float, p_high: float, half: float) -> int:
    """Smallest n with Wilson half-width <= half for every p in [p_low, p_high]."""
    worst = [p_low, p_high] + ([0.5] if p_low <= 0.5 <= p_high else [])

    def width(n: float) -> float:
        return float(max(wilson_half_width(p, n) for p in worst))

    lo, hi = 1, 2
    while width(hi) > half:
        hi *= 2
    while lo < hi:
        mid = (lo + hi) // 2
        if width(mid) <= half:
            hi = mid
        else:
            lo = mid + 1
    return lo


@dataclass(frozen=True)
class PrecisionPlan:
    """Pilot results and the planned main sample size."""

    pilot_paths: int
    planned_paths: int
    capped: bool
    per_target: dict[str, int]


def plan_paths(scenario: Scenario, targets: list[Target], *, precision: float, max_paths: int,
               seed, pilot_paths: int | None = None, block_size: int = DEFAULT_BLOCK_SIZE,
               engine: str = "numba") -> PrecisionPlan:
    """Run the pilot and choose the main sample size (rule in the module docstring)."""
    if not 0.0 < precision < 0.5:
        raise UserError(f"--precision {precision:g}: a 95% half-width, allowed between 0 and 0.5")
    if max_paths < 1:
        raise UserError(f"--max-paths {max_paths}: must be >= 1")
    root = normalise_seed(seed)
    pilot_root = np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, PILOT_KEY))
    n0 = pilot_paths or min(max_paths, max(2 * block_size, 8192))
    # Keys given as distributions are drawn per path in the pilot too (from its own streams).
    pilot = prepare_run(scenario, paths=n0, seed=pilot_root, engine=engine, block_size=block_size, fans=False)
    plan = pilot.plan
    tally = simulate(pilot.layout, plan, paths=n0, seed=pilot.seed, fans=False, block_size=block_size, engine=engine,
                     uncertain=pilot.input_callback())
    names = tuple(c.name for c in scenario.companies)
    horizons = tuple(int(h) for h in plan.horizons)
    per_target = {}
    for target in targets:
        est, trials = target.from_counts(tally.counts[0], tally.any_champion[0], n0, names, horizons)
        k = est * trials if trials else 0.0
        lo, hi = wilson_interval(round(k), max(trials, 1), confidence=PILOT_CONFIDENCE)
        n = _paths_for(float(lo), float(hi), precision)
        if target.outcome == "champion_share":
            # The share's trials are the decided paths: scale by their lowest plausible share.
            d_lo = float(wilson_interval(trials, n0, confidence=PILOT_CONFIDENCE)[0])
            n = max_paths if d_lo <= 0.0 else math.ceil(n / d_lo)
        per_target[target.label] = n
    needed = max(per_target.values())
    planned = min(max_paths, -(-needed // block_size) * block_size)
    return PrecisionPlan(pilot_paths=n0, planned_paths=int(planned), capped=needed > max_paths,
                         per_target=per_target)


def run_to_precision(scenario: Scenario, *, precision: float, targets: list[Target] | None = None,
                     max_paths: int = 10_000_000, seed=None, pilot_paths: int | None = None,
                     engine: str = "numba", threads: int | None = None,
                     block_size: int = DEFAULT_BLOCK_SIZE, progress: bool = False) -> xr.Dataset:
    """Run with as many paths as the precision target needs (see the module docstring).

    Parameters
    ----------
    scenario : Scenario
    precision : float
        Largest allowed 95% CI half-width of each targeted probability.
    targets : list of Target, optional
        Default: every outcome probability (and any_champion) at every horizon.
    max_paths : int
        Cap on the main sample.
    seed : int, optional
        Default: the scenario's seed.

    Returns
    -------
    xarray.Dataset
        The main run, with ``precision_*`` attributes saying what was targeted and met.
    """
    from simulator.runner.api import run
    from simulator.runner.prepared import prepare_run

    seed = scenario.scenario.seed if seed is None else seed
    # The cap is the largest run this may become: it must fit in memory before the pilot runs.
    prepare_run(scenario, paths=max_paths, seed=seed, engine=engine, threads=threads, block_size=block_size,
                paths_option="--max-paths")
    root = normalise_seed(seed)
    targets = targets or all_targets(scenario)
    pplan = plan_paths(scenario, targets, precision=precision, max_paths=max_paths, seed=root,
                       pilot_paths=pilot_paths, block_size=block_size, engine=engine)
    ds = run(scenario, paths=pplan.planned_paths, seed=root, engine=engine, threads=threads,
             block_size=block_size, progress=progress)
    achieved = {}
    for target in targets:
        _, lo, hi, _ = target.estimate(ds)
        achieved[target.label] = (hi - lo) / 2.0
    met = all(np.isfinite(w) and w <= precision for w in achieved.values())
    worst = max(achieved, key=lambda k: achieved[k] if np.isfinite(achieved[k]) else np.inf)
    ds.attrs.update({
        "precision_target": float(precision),
        "precision_targets": ", ".join(achieved),
        "precision_met": int(met),
        "precision_worst_target": worst,
        "precision_worst_half_width": float(achieved[worst]),
        "precision_pilot_paths": int(pplan.pilot_paths),
        "precision_max_paths": int(max_paths),
        "precision_capped": int(pplan.capped),
        "precision_rule": f"two-stage: an independent pilot (spawn key {PILOT_KEY}) sets the main sample size; "
                          "estimates use the main sample only",
    })
    return ds
