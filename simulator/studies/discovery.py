"""Scenario discovery: boxes of uncertain inputs inside which an outcome is concentrated (PRIM, CART).

"Zhipu is a champion in 80% of the paths where imports stay above 150 cards a
month and top-3 releases are at least 1 in 4": a *box* is a set of limits on
the uncertain inputs (the per-path draws of a run); its *coverage* is the
share of the paths with the outcome that lie in the box, its *density* the
share of the box's paths that have the outcome, its *mass* the share of all
paths in it.

The paths are split at random into three samples:

- the **peeling sample** (a quarter of the paths, at most ``peel_paths``):
  EMA Workbench's PRIM (``ema_workbench.analysis.prim``: peeling, pasting,
  the coverage/density trajectory) or scikit-learn's CART
  (``DecisionTreeClassifier`` and its cost-complexity pruning path) is fitted
  on it;
- the **selection sample** (the rest of the first half): chooses the box on the
  PRIM trajectory (the first box whose density is within one standard error
  of the trajectory's best, Breiman's one-standard-error rule) or the pruned
  CART tree (the smallest tree whose Brier score is within one standard error
  of the best), then drops each limit that does not earn its place: a limit
  stays only if its quasi-p-value (Bryant and Lempert's one-sided binomial test
  of the box's density against the box without that limit, as EMA Workbench
  computes it) is below 5% divided by the number of limits (Bonferroni);
- the **held-out half**: the coverage, density and mass reported, with 95%
  Wilson intervals, and the trade-off curve, on paths neither fitted nor
  selected on.

Why the selection step is ours: EMA Workbench leaves the choice of a box on
the trajectory to the analyst and judges its limits by quasi-p-values computed
on the same paths PRIM peeled. On Monte Carlo outcomes, where most of a path's
fate is luck, PRIM peels on noise after the real limits are found and the
in-sample quasi-p-values call those noise limits significant (measured in
docs/discovery.md); the same test on paths PRIM never saw does not.

Several boxes are found by covering: each next box is searched (and its
statistics computed) on the paths outside the boxes before it.

May import: :mod:`simulator.errors`, :mod:`simulator.model`, :mod:`simulator.engines`,
:mod:`simulator.results`, :mod:`simulator.runner` and :mod:`simulator.studies.given_data`.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata

import numpy as np
import xarray as xr
from scipy import stats

from simulator.errors import UserError
from simulator.results.formatting import percent, text_table
from simulator.results.outputs import CONFIDENCE, DISCOVERY_COORDS, DISCOVERY_OUTPUTS
from simulator.results.statistics import wilson_interval

__all__ = ["DEFAULT_PEEL_PATHS", "INSTALL", "METHODS", "discover", "discovery_table", "inside", "one_standard_error",
           "prune_box", "require_libraries", "split_paths", "union_inside"]

METHODS = ("prim", "cart")
#: What to run when the optional libraries are missing.
INSTALL = "pip install -e '.[discovery]'"
#: Paths PRIM peels (or CART is fitted on) at most; the rest of the first half selects the box.
DEFAULT_PEEL_PATHS = 100_000
#: Family-wise level of the test that keeps a box's limits (Bonferroni over the box's limits).
LIMIT_LEVEL = 0.05
#: Fewest paths with and without the outcome in each sample.
MIN_CASES = 5


def require_libraries(method: str):
    """Import EMA Workbench's PRIM (``prim``) or scikit-learn's trees (``cart``); one-line error if missing."""
    name = "ema_workbench" if method == "prim" else "scikit-learn"
    try:
        with warnings.catch_warnings():
            # EMA Workbench warns at import about optional extras it does not need here.
            warnings.simplefilter("ignore")
            if method == "prim":
                from ema_workbench.analysis import prim

                return prim
            from sklearn import tree

            return tree
    except ImportError:
        raise UserError(f"simulator discover --method {method} needs {name}, which is not installed; "
                        f"install the discovery extra: {INSTALL}") from None


def split_paths(n: int, seed: int, peel_paths: int = DEFAULT_PEEL_PATHS) -> tuple[np.ndarray, ...]:
    """Random (peeling, selection, held-out) path indices, each sorted.

    The held-out half is ``n // 2`` paths; the peeling sample is at most
    ``peel_paths`` of the other half's first half; the selection sample is
    the rest of the other half.
    """
    order = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(18,))).permutation(n)
    half = n // 2
    fit = order[half:]
    n_peel = min(fit.size // 2, int(peel_paths))
    return np.sort(fit[:n_peel]), np.sort(fit[n_peel:]), np.sort(order[:half])


def inside(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Which rows of ``x`` (paths, inputs) lie in the box ``lo <= x <= hi`` (infinite ends: no limit)."""
    mask = np.ones(x.shape[0], dtype=bool)
    for j in np.flatnonzero(np.isfinite(lo)):
        mask &= x[:, j] >= lo[j]
    for j in np.flatnonzero(np.isfinite(hi)):
        mask &= x[:, j] <= hi[j]
    return mask


def _quasi_p(hits: int, paths: int, hits_relaxed: int, paths_relaxed: int) -> float:
    """Bryant and Lempert's quasi-p-value, as EMA Workbench computes it: one-sided binomial test.

    The box's ``hits`` of ``paths`` against the density of the box without one
    limit (which contains the box).
    """
    if paths == 0 or paths_relaxed == 0:
        return 1.0
    return float(stats.binomtest(int(hits), int(paths), hits_relaxed / paths_relaxed,
                                 alternative="greater").pvalue)


def prune_box(lo: np.ndarray, hi: np.ndarray, x: np.ndarray, y: np.ndarray, *,
              level: float = LIMIT_LEVEL) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Drop the limits of a box that do not raise its density significantly on the paths ``x``, ``y``.

    Each limit (an input's lower or upper end) gets its quasi-p-value on these
    paths; while the largest is above ``level`` divided by the number of limits,
    that limit is dropped and the others are tested again.

    Returns
    -------
    lo, hi : ndarray
        The kept limits (``-inf``/``inf``: none).
    quasi_p : ndarray, shape (inputs, 2)
        The kept limits' quasi-p-values (lower, upper); NaN where no limit.
    """
    lo, hi = lo.copy(), hi.copy()
    k = x.shape[1]
    sides = [(j, 0) for j in np.flatnonzero(np.isfinite(lo))] + [(j, 1) for j in np.flatnonzero(np.isfinite(hi))]
    qp = np.full((k, 2), np.nan)
    if not sides:
        return lo, hi, qp
    # Which limit each path violates; the box is the paths that violate none, the box
    # without limit s adds the paths that violate s alone.
    viol = np.column_stack([x[:, j] < lo[j] if s == 0 else x[:, j] > hi[j] for j, s in sides])
    y = y.astype(bool)
    while sides:
        fails = viol.sum(axis=1)
        box = fails == 0
        hits, paths = int(np.count_nonzero(y & box)), int(np.count_nonzero(box))
        ps = []
        for s in range(len(sides)):
            relaxed = box | ((fails == 1) & viol[:, s])
            ps.append(_quasi_p(hits, paths, int(np.count_nonzero(y & relaxed)), int(np.count_nonzero(relaxed))))
        worst = int(np.argmax(ps))
        if ps[worst] <= level / len(sides):
            for (j, s), p in zip(sides, ps, strict=True):
                qp[j, s] = p
            break
        j, s = sides.pop(worst)
        viol = np.delete(viol, worst, axis=1)
        if s == 0:
            lo[j] = -np.inf
        else:
            hi[j] = np.inf
    return lo, hi, qp


def _counts(x: np.ndarray, y: np.ndarray, boxes: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """(paths in the box, paths with the outcome in the box) of each box, shape (boxes, 2)."""
    out = np.zeros((len(boxes), 2), dtype=np.int64)
    for i, (lo, hi) in enumerate(boxes):
        m = inside(x, lo, hi)
        out[i] = np.count_nonzero(m), np.count_nonzero(m & y)
    return out


def one_standard_error(counts: np.ndarray) -> int:
    """The first box whose density is within one standard error of the best density (Breiman's rule)."""
    n, k = counts[:, 0].astype(float), counts[:, 1].astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.where(n > 0, k / n, -np.inf)
        se = np.where(n > 0, np.sqrt(d * (1.0 - d) / n), np.inf)
    best = int(np.argmax(d))
    return int(np.flatnonzero(d >= d[best] - se[best])[0])


@dataclass
class _Found:
    """A box found and pruned on the fitting half, before its held-out statistics."""

    lo: np.ndarray
    hi: np.ndarray
    quasi_p: np.ndarray


@dataclass
class _Trajectory:
    """The trade-off curve the first box was chosen from.

    Each step is a union of boxes (one box for PRIM's peeling and pasting
    steps; the densest leaves of the tree for CART), with its coverage, density
    and mass on the peeling sample; ``chosen`` is the step the first box came from.
    """

    steps: list[list[tuple[np.ndarray, np.ndarray]]] = field(default_factory=list)
    fit: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    chosen: int = 0


def union_inside(x: np.ndarray, boxes: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Which rows of ``x`` lie in at least one of the boxes."""
    mask = np.zeros(x.shape[0], dtype=bool)
    for lo, hi in boxes:
        mask |= inside(x, lo, hi)
    return mask


def _limits(df, names: Sequence[str], init_lo: np.ndarray, init_hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An EMA box (rows 0 lower, 1 upper) as (lo, hi) arrays, infinite where the box is not restricted."""
    lo = df.loc[0, list(names)].to_numpy(dtype=np.float64)
    hi = df.loc[1, list(names)].to_numpy(dtype=np.float64)
    return np.where(lo > init_lo, lo, -np.inf), np.where(hi < init_hi, hi, np.inf)


def _prim(xa, ya, xb, yb, names, *, min_mass: float, max_boxes: int) -> tuple[list[_Found], _Trajectory]:
    import pandas as pd

    prim = require_libraries("prim")
    frame = pd.DataFrame(xa, columns=list(names))
    found: list[_Found] = []
    trajectory = _Trajectory()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # threshold: EMA counts y >= threshold as cases of interest and keeps a box whose
        # mean reaches it; any positive value below 1 makes every box count (we select).
        model = prim.Prim(frame, ya.astype(np.int64), threshold=1e-9, mass_min=min_mass)
        init_lo, init_hi = xa.min(axis=0), xa.max(axis=0)
        keep_b = np.ones(xb.shape[0], dtype=bool)
        for b in range(max_boxes):
            box = model.find_box()
            if box is None:
                break
            steps = [_limits(df, names, init_lo, init_hi) for df in box.box_lims]
            chosen = one_standard_error(_counts(xb[keep_b], yb[keep_b], steps))
            lo, hi, qp = prune_box(*steps[chosen], xb[keep_b], yb[keep_b])
            if b == 0:  # the trade-off curve, even when no limit survives
                traj = box.peeling_trajectory
                trajectory = _Trajectory([[step] for step in steps],
                                         traj[["coverage", "density", "mass"]].to_numpy(dtype=np.float64), chosen)
            if not (np.isfinite(lo).any() or np.isfinite(hi).any()):
                break
            found.append(_Found(lo, hi, qp))
            # Covering: PRIM searches the next box outside this one.
            lims = box.box_lims[0].copy()
            lims.loc[0, list(names)] = np.where(np.isfinite(lo), lo, init_lo)
            lims.loc[1, list(names)] = np.where(np.isfinite(hi), hi, init_hi)
            rest = model.yi_remaining
            box.update(lims, rest[inside(xa[rest], lo, hi)])
            keep_b &= ~inside(xb, lo, hi)
            left = np.setdiff1d(model.yi_remaining, box.yi)
            if np.count_nonzero(ya[left]) < MIN_CASES or left.size < min_mass * xa.shape[0]:
                break
    return found, trajectory


def _leaf_boxes(clf, k: int) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """The box of each leaf of a fitted scikit-learn tree (``x <= t`` left, ``x > t`` right)."""
    t = clf.tree_
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    stack = [(0, np.full(k, -np.inf), np.full(k, np.inf))]
    while stack:
        node, lo, hi = stack.pop()
        left, right = t.children_left[node], t.children_right[node]
        if left == -1:
            out[node] = (lo, hi)
            continue
        f, thr = t.feature[node], t.threshold[node]
        hi_l = hi.copy()
        hi_l[f] = min(hi[f], thr)
        lo_r = lo.copy()
        lo_r[f] = max(lo[f], np.nextafter(thr, np.inf))
        stack += [(left, lo, hi_l), (right, lo_r, hi)]
    return out


def _cart(xa, ya, xb, yb, *, min_mass: float, max_boxes: int, seed: int) -> tuple[list[_Found], _Trajectory]:
    tree = require_libraries("cart")
    leaf = max(1, math.ceil(min_mass * xa.shape[0]))

    def fit(alpha: float):
        return tree.DecisionTreeClassifier(min_samples_leaf=leaf, ccp_alpha=alpha, random_state=seed).fit(xa, ya)

    full = fit(0.0)
    alphas = np.unique(full.cost_complexity_pruning_path(xa, ya).ccp_alphas)
    trees = [full] + [fit(float(a)) for a in alphas if a > 0.0]
    # The pruned tree with the best Brier score on the selection sample (not Breiman's
    # one-standard-error rule: for a rare outcome the Brier score barely moves and the rule
    # keeps the root; the leaves below are tested one by one instead).
    scores = [float(np.mean((yb - clf.predict_proba(xb)[:, list(clf.classes_).index(1)]) ** 2)) for clf in trees]
    clf = trees[int(np.argmin(scores))]
    leaves = list(_leaf_boxes(clf, xa.shape[1]).values())
    fit_counts = _counts(xa, ya, leaves)
    order = sorted(range(len(leaves)), key=lambda i: -fit_counts[i, 1] / max(fit_counts[i, 0], 1))
    # The trade-off curve: the union of the densest leaves (densest on the peeling sample).
    steps = [[leaves[i] for i in order[:s + 1]] for s in range(len(order))]
    positives = max(int(np.count_nonzero(ya)), 1)
    fit_stats = []
    for step in steps:
        m = union_inside(xa, step)
        n_in, k_in = np.count_nonzero(m), np.count_nonzero(m & ya)
        fit_stats.append((k_in / positives, k_in / max(n_in, 1), n_in / xa.shape[0]))
    # Boxes: the leaves whose density on the selection sample is significantly above
    # the sample's rate (one-sided binomial test, Bonferroni over the leaves), densest first.
    sel = _counts(xb, yb, leaves)
    hits_b = int(np.count_nonzero(yb))
    good = [i for i in range(len(leaves))
            if _quasi_p(int(sel[i, 1]), int(sel[i, 0]), hits_b, yb.size) <= LIMIT_LEVEL / len(leaves)]
    good.sort(key=lambda i: -sel[i, 1] / sel[i, 0])
    found: list[_Found] = []
    keep_b = np.ones(xb.shape[0], dtype=bool)
    for i in good:
        if len(found) == max_boxes:
            break
        lo, hi, qp = prune_box(*leaves[i], xb[keep_b], yb[keep_b])
        if np.isfinite(lo).any() or np.isfinite(hi).any():
            found.append(_Found(lo, hi, qp))
            keep_b &= ~inside(xb, lo, hi)
    chosen = order.index(good[0]) if good else 0
    return found, _Trajectory(steps, np.asarray(fit_stats, dtype=np.float64).reshape(-1, 3), chosen)


def _check(draws: np.ndarray, y: np.ndarray, *, method: str, min_mass: float, boxes: int, peel_paths: int,
           outcome: str) -> None:
    if method not in METHODS:
        raise UserError(f"--method {method}: not one of {', '.join(METHODS)}")
    if not 0.0 < min_mass < 0.5:
        raise UserError(f"--min-mass {min_mass:g}: out of range (allowed: > 0 and < 0.5, a share of the paths)")
    if boxes < 1:
        raise UserError(f"--boxes {boxes}: must be >= 1")
    if peel_paths < 2 * MIN_CASES:
        raise UserError(f"--peel-paths {peel_paths}: must be >= {2 * MIN_CASES}")
    if draws.ndim != 2 or draws.shape[1] == 0 or y.shape != (draws.shape[0],):
        raise UserError(f"draws of shape {draws.shape} and outcomes of shape {y.shape} do not match "
                        "(paths, inputs) and (paths,)")
    n = y.size
    hits = int(np.count_nonzero(y))
    if hits == 0:
        raise UserError(f"{outcome}: no path of {n:,} has this outcome, so no box of inputs can concentrate it; "
                        "ask about another outcome or threshold, or run more paths")
    if hits == n:
        raise UserError(f"{outcome}: every path of {n:,} has this outcome, so no box of inputs can concentrate it")


def discover(draws: np.ndarray, y: np.ndarray, *, inputs: Sequence[str], method: str = "prim",
             min_mass: float = 0.05, boxes: int = 3, peel_paths: int = DEFAULT_PEEL_PATHS, seed: int = 0,
             units: Mapping[str, str] | None = None, outcome: str = "outcome", attrs: dict | None = None) -> xr.Dataset:
    """Find boxes of uncertain inputs in which an outcome is concentrated (see the module docstring).

    Parameters
    ----------
    draws : ndarray, shape (paths, inputs)
        Per-path draws of the uncertain inputs (a run's ``input_draw``).
    y : ndarray of bool, shape (paths,)
        Whether each path has the outcome.
    inputs : sequence of str
        The inputs' dotted paths.
    method : {"prim", "cart"}
        EMA Workbench's PRIM or scikit-learn's CART.
    min_mass : float
        Smallest share of the peeling sample a PRIM box (or a CART leaf) may hold.
    boxes : int
        Most boxes to find (covering: each next box outside the ones before).
    peel_paths : int
        Most paths in the peeling sample.
    seed : int
        Seed of the random split of the paths (and of CART's tie-breaking).
    units : mapping, optional
        Units of each input (for the table and the report).
    outcome : str
        The outcome's label (``zhipu.champion@36``).
    attrs : dict, optional
        Provenance of the run (scenario, seed), copied to the result.

    Returns
    -------
    xarray.Dataset
        Variables of :data:`simulator.results.outputs.DISCOVERY_OUTPUTS`.

    Raises
    ------
    UserError
        Bad options, an outcome no path (or every path) has, or too few paths
        with and without it in a sample (one line).
    """
    started = time.perf_counter()
    x = np.ascontiguousarray(draws, dtype=np.float64)
    y = np.asarray(y).astype(bool)
    _check(x, y, method=method, min_mass=min_mass, boxes=boxes, peel_paths=peel_paths, outcome=outcome)
    a, b, c = split_paths(y.size, seed, peel_paths)
    for name, idx in (("peeling", a), ("selection", b), ("held-out", c)):
        hits = int(np.count_nonzero(y[idx]))
        if min(hits, idx.size - hits) < MIN_CASES:
            raise UserError(f"{outcome}: {int(np.count_nonzero(y)):,} of {y.size:,} paths have the outcome; the "
                            f"{name} sample ({idx.size:,} paths) has {hits:,} with it and {idx.size - hits:,} "
                            f"without, fewer than {MIN_CASES}: run more paths")
    xa, ya, xb, yb, xc, yc = x[a], y[a], x[b], y[b], x[c], y[c]
    if method == "prim":
        found, trajectory = _prim(xa, ya, xb, yb, inputs, min_mass=min_mass, max_boxes=boxes)
    else:
        found, trajectory = _cart(xa, ya, xb, yb, min_mass=min_mass, max_boxes=boxes, seed=seed)
    ds = _dataset(found, trajectory, x, xc, yc, inputs, units or {})
    library = "ema_workbench" if method == "prim" else "scikit-learn"
    ds.attrs.update(attrs or {})
    ds.attrs.update({
        "study": "discovery",
        "method": method,
        "title": f"Scenario discovery of {outcome} ({method.upper()})",
        "outcome": outcome,
        "library": f"{library} {metadata.version(library)}",
        "paths": int(y.size),
        "peeling_paths": int(a.size),
        "selection_paths": int(b.size),
        "held_out_paths": int(c.size),
        "min_mass": float(min_mass),
        "max_boxes": int(boxes),
        "chosen_step": int(trajectory.chosen),
        "split_seed": int(seed),
        "limit_level": LIMIT_LEVEL,
        "confidence_level": CONFIDENCE,
        "seconds": round(time.perf_counter() - started, 3),
    })
    return ds


def _restricted_count(step: Sequence[tuple[np.ndarray, np.ndarray]], k: int) -> int:
    mask = np.zeros(k, dtype=bool)
    for lo, hi in step:
        mask |= np.isfinite(lo) | np.isfinite(hi)
    return int(np.count_nonzero(mask))


def _dataset(found: list[_Found], trajectory: _Trajectory, x: np.ndarray, xc: np.ndarray, yc: np.ndarray,
             inputs: Sequence[str], units: Mapping[str, str]) -> xr.Dataset:
    n_box, k = len(found), x.shape[1]
    low, high = x.min(axis=0), x.max(axis=0)
    box_lo = np.empty((n_box, k))
    box_hi = np.empty((n_box, k))
    q_lo = np.zeros((n_box, k))
    q_hi = np.ones((n_box, k))
    restricted = np.zeros((n_box, k), dtype=bool)
    qp = np.full((n_box, k, 2), np.nan)
    counts = np.zeros((n_box, 2), dtype=np.int64)
    hits_c = int(np.count_nonzero(yc))
    rest = np.ones(xc.shape[0], dtype=bool)
    for i, f in enumerate(found):
        box_lo[i] = np.where(np.isfinite(f.lo), f.lo, low)
        box_hi[i] = np.where(np.isfinite(f.hi), f.hi, high)
        restricted[i] = np.isfinite(f.lo) | np.isfinite(f.hi)
        for j in np.flatnonzero(np.isfinite(f.lo)):
            q_lo[i, j] = np.mean(x[:, j] < f.lo[j])
        for j in np.flatnonzero(np.isfinite(f.hi)):
            q_hi[i, j] = np.mean(x[:, j] <= f.hi[j])
        qp[i] = f.quasi_p
        m = inside(xc, f.lo, f.hi) & rest
        counts[i] = np.count_nonzero(m), np.count_nonzero(m & yc)
        rest &= ~m
    traj = np.zeros((len(trajectory.steps), 3))
    for s, step in enumerate(trajectory.steps):
        m = union_inside(xc, step)
        n_in, k_in = np.count_nonzero(m), np.count_nonzero(m & yc)
        traj[s] = k_in / hits_c, (k_in / n_in if n_in else np.nan), n_in / xc.shape[0]
    n_c = xc.shape[0]
    values = {
        "box_low": box_lo, "box_high": box_hi, "box_low_quantile": q_lo, "box_high_quantile": q_hi,
        "restricted": restricted, "quasi_p": qp,
        "coverage": counts[:, 1] / hits_c, "coverage_ci": wilson_interval(counts[:, 1], hits_c),
        "density": np.where(counts[:, 0] > 0, counts[:, 1] / np.maximum(counts[:, 0], 1), np.nan),
        "density_ci": wilson_interval(counts[:, 1], counts[:, 0]),
        "mass": counts[:, 0] / n_c, "box_paths": counts[:, 0], "box_outcome_paths": counts[:, 1],
        "trajectory_coverage": traj[:, 0], "trajectory_density": traj[:, 1], "trajectory_mass": traj[:, 2],
        "trajectory_coverage_fit": trajectory.fit[:, 0], "trajectory_density_fit": trajectory.fit[:, 1],
        "trajectory_mass_fit": trajectory.fit[:, 2],
        "trajectory_restricted": np.asarray([_restricted_count(s, k) for s in trajectory.steps], dtype=np.int64),
        "input_low": low, "input_high": high,
        "input_units": np.asarray([units.get(name, "") for name in inputs], dtype=object),
        "outcome_share": np.float64(hits_c / n_c), "outcome_share_ci": wilson_interval(hits_c, n_c),
    }
    variables = {name: xr.Variable(DISCOVERY_OUTPUTS[name].dims, value, attrs={
        "long_name": DISCOVERY_OUTPUTS[name].long_name, "units": DISCOVERY_OUTPUTS[name].units})
        for name, value in values.items()}
    coords = {"box": np.arange(1, n_box + 1, dtype=np.int64), "input": np.asarray(list(inputs), dtype=object),
              "step": np.arange(len(trajectory.steps), dtype=np.int64),
              "bound": np.asarray(["low", "high"], dtype=object)}
    ds = xr.Dataset(variables, coords=coords)
    for dim, (unit, long_name) in DISCOVERY_COORDS.items():
        ds[dim].attrs = {"long_name": long_name, **({"units": unit} if unit else {})}
    return ds


def _limit_text(ds: xr.Dataset, i: int, j: int) -> str:
    lo, hi = float(ds["box_low"].values[i, j]), float(ds["box_high"].values[i, j])
    has_lo = float(ds["box_low_quantile"].values[i, j]) > 0.0
    has_hi = float(ds["box_high_quantile"].values[i, j]) < 1.0
    if has_lo and has_hi:
        return f"{lo:.4g} to {hi:.4g}"
    return f">= {lo:.4g}" if has_lo else f"<= {hi:.4g}"


def discovery_table(ds: xr.Dataset) -> str:
    """The boxes of a discovery result as text: limits in each key's units, coverage, density, mass."""
    outcome = ds.attrs.get("outcome", "the outcome")
    lines = [f"Scenario discovery of {outcome} by {str(ds.attrs.get('method', '')).upper()} "
             f"({ds.attrs.get('library', '')})",
             f"{int(ds.attrs['paths']):,} paths: {int(ds.attrs['peeling_paths']):,} to fit, "
             f"{int(ds.attrs['selection_paths']):,} to choose each box and test its limits, "
             f"{int(ds.attrs['held_out_paths']):,} held out for the numbers below (95% Wilson intervals)."]
    share, (s_lo, s_hi) = float(ds["outcome_share"]), (float(v) for v in ds["outcome_share_ci"].values)
    lines.append(f"Held-out paths with the outcome: {percent(share)} [{percent(s_lo)}, {percent(s_hi)}].")
    if ds.sizes["box"] == 0:
        lines.append("\nNo box: no limit on the uncertain inputs raises the share of paths with the outcome "
                     "significantly on the selection sample; the outcome is luck more than these inputs.")
        return "\n".join(lines)
    inputs = [str(v) for v in ds["input"].values]
    units = [str(v) for v in ds["input_units"].values]
    for i in range(ds.sizes["box"]):
        cov, den = float(ds["coverage"].values[i]), float(ds["density"].values[i])
        c_lo, c_hi = ds["coverage_ci"].values[i]
        d_lo, d_hi = ds["density_ci"].values[i]
        where = "" if i == 0 else " (paths outside the boxes above)"
        lines.append(f"\nbox {i + 1}{where}: coverage {percent(cov)} [{percent(c_lo)}, {percent(c_hi)}], density "
                     f"{percent(den)} [{percent(d_lo)}, {percent(d_hi)}], mass {percent(float(ds['mass'].values[i]))}")
        rows = []
        free = []
        for j, name in enumerate(inputs):
            if not bool(ds["restricted"].values[i, j]):
                free.append(name)
                continue
            inside_share = float(ds["box_high_quantile"].values[i, j] - ds["box_low_quantile"].values[i, j])
            ps = ", ".join(f"{p:.2g}" for p in ds["quasi_p"].values[i, j] if math.isfinite(p))
            rows.append((name, _limit_text(ds, i, j), units[j] or "1", percent(inside_share), ps))
        lines += ["  " + line for line in text_table(("input", "limits", "units", "draws inside", "quasi-p"), rows,
                                                      align="lrlrr")]
        if free:
            lines.append(f"  not restricted: {', '.join(free)}")
    return "\n".join(lines)
