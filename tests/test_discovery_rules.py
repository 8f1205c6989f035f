"""Scenario discovery's rules, each against a truth computed here: the box arithmetic (numpy masks), the
quasi-p-values and Wilson intervals (scipy), the one-standard-error rule (its textbook definition), PRIM's
trajectory (EMA Workbench run directly), CART's tree (scikit-learn fitted directly with the documented
settings), the held-out numbers on held-out halves built by hand, the refusals' exact messages, and the data
discovery reads (a plain run of the same scenario).

Data are small and seeded; every check is exact (counts) or to rounding (ratios of counts), so no test here
carries a statistical error rate.
"""

from __future__ import annotations

import contextlib
import math
import sys
import warnings
from importlib import metadata

import numpy as np
import pytest
from scipy import stats
from test_derived_numbers import _wilson
from test_discovery import PLANTED as DISCOVERY_PLANTED
from test_discovery import _two_regions

from simulator.errors import UserError
from simulator.studies import discovery as D
from simulator.studies.discovery import (
    LIMIT_LEVEL,
    discover,
    discovery_table,
    inside,
    one_standard_error,
    prune_box,
    require_libraries,
    split_paths,
)


def _uniform(n: int, k: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((n, k))


def _p_greater(k: int, n: int, p: float) -> float:
    """Bryant and Lempert's quasi-p: P(X >= k) for X ~ Binomial(n, p) (scipy's survival function)."""
    return float(stats.binom.sf(k - 1, n, p))


# --------------------------------------------------------------------------- the box arithmetic


def test_inside_is_the_closed_box_of_numpy_masks():
    """Rows with every finite limit met, ends included (draws placed exactly on the limits)."""
    x = np.array([[0.2, 0.5, 1.0], [0.1, 0.5, 1.0], [0.2, 0.7, 1.0], [0.3, 0.6, 9.0], [0.25, 0.4, 2.0],
                  [0.3, 0.7, 0.0]])
    lo = np.array([0.2, 0.5, -np.inf])
    hi = np.array([0.3, 0.7, np.inf])
    expected = (x[:, 0] >= 0.2) & (x[:, 0] <= 0.3) & (x[:, 1] >= 0.5) & (x[:, 1] <= 0.7)
    assert expected.tolist() == [True, False, True, True, False, True]
    assert inside(x, lo, hi).tolist() == expected.tolist()
    # Two lower limits only: a row failing the first must stay out whatever the second says.
    lo2, hi2 = np.array([0.2, 0.5, 0.5]), np.full(3, np.inf)
    assert inside(x, lo2, hi2).tolist() == ((x[:, 0] >= 0.2) & (x[:, 1] >= 0.5) & (x[:, 2] >= 0.5)).tolist()
    assert inside(x, np.full(3, -np.inf), np.full(3, np.inf)).all()


def test_split_sizes_follow_the_documented_halves():
    """Held-out n // 2; peeling min(rest // 2, peel_paths); selection the rest; a permutation of the paths."""
    for n, peel in ((1001, 10**9), (1000, 10**9), (999, 100), (40, 3)):
        a, b, c = split_paths(n, 7, peel)
        rest = n - n // 2
        assert (a.size, b.size, c.size) == (min(rest // 2, peel), rest - min(rest // 2, peel), n // 2)
        assert np.array_equal(np.sort(np.concatenate([a, b, c])), np.arange(n))
        for s in (a, b, c):
            assert np.all(np.diff(s) > 0)
    a, _, _ = split_paths(1001, 7)  # the default allows far more than half of the fitting half
    assert a.size == 250


def test_one_standard_error_rule_is_breimans_on_random_trajectories():
    """The first step whose density is at least the best density minus the best step's binomial standard error."""
    rng = np.random.default_rng(11)
    for _ in range(300):
        m = int(rng.integers(1, 8))
        n = rng.integers(0, 60, size=m)
        k = np.array([rng.integers(0, v + 1) for v in n])
        if not (n > 0).any():
            n[0], k[0] = 3, 1
        d = [kk / nn if nn > 0 else -math.inf for kk, nn in zip(k, n, strict=True)]
        best = max(range(m), key=lambda i: (d[i], -i))
        se = math.sqrt(d[best] * (1 - d[best]) / n[best])
        expected = next(i for i in range(m) if d[i] >= d[best] - se)
        assert one_standard_error(np.column_stack([n, k])) == expected, (n, k)


def test_quasi_p_of_a_box_without_paths_is_one():
    """A box no path is in (or whose relaxed box has none) is no evidence: quasi-p 1, and at a level that keeps
    every limit the limits stay with quasi-p exactly 1."""
    assert D._quasi_p(0, 0, 3, 10) == 1.0
    assert D._quasi_p(1, 1, 1, 1000) == pytest.approx(0.001, rel=1e-12)  # one path with it, against a rate of 0.001
    x = _uniform(200, 2, 1)
    y = x[:, 0] > 0.5
    lo, hi, qp = prune_box(np.array([2.0, -np.inf]), np.array([np.inf, 0.5]), x, y, level=10.0)
    assert lo[0] == 2.0 and hi[1] == 0.5
    assert qp[0, 0] == 1.0 and qp[1, 1] == 1.0 and np.isnan(qp[0, 1]) and np.isnan(qp[1, 0])


def test_prune_box_counts_closed_limits_and_drops_to_infinite_ends():
    """Each limit's quasi-p is the binomial test of the box against the box without that limit, with draws on a
    limit inside (numpy masks here); a dropped lower end is -inf, a dropped upper end +inf."""
    rng = np.random.default_rng(5)
    x = np.round(rng.random((3000, 3)), 2)  # many draws exactly on a limit
    y = rng.random(3000) < np.where((x[:, 0] >= 0.3) & (x[:, 1] <= 0.6), 0.5, 0.2)
    lo = np.array([0.3, -np.inf, 0.5])
    hi = np.array([np.inf, 0.6, 0.9])

    def p_without(drop: int) -> float:
        conds = [x[:, 0] >= 0.3, x[:, 1] <= 0.6, x[:, 2] >= 0.5, x[:, 2] <= 0.9]
        box = np.logical_and.reduce(conds)
        relaxed = np.logical_and.reduce([c for i, c in enumerate(conds) if i != drop])
        return _p_greater(int((box & y).sum()), int(box.sum()), (relaxed & y).sum() / relaxed.sum())

    ps = [p_without(i) for i in range(4)]
    _, _, qp = prune_box(lo, hi, x, y, level=10.0)
    np.testing.assert_allclose([qp[0, 0], qp[1, 1], qp[2, 0], qp[2, 1]], ps, rtol=1e-9)
    assert np.isnan([qp[0, 1], qp[1, 0]]).all()
    # The real limits are significant, the two on x2 are not: both go, to infinite ends.
    assert ps[0] < 1e-3 and ps[1] < 1e-3 and ps[2] > 0.05 and ps[3] > 0.05
    lo2, hi2, qp2 = prune_box(lo, hi, x, y)
    assert lo2.tolist() == [0.3, -np.inf, -np.inf] and hi2.tolist() == [np.inf, 0.6, np.inf]
    assert np.isnan(qp2[2]).all()


def test_prune_box_keeps_a_limit_whose_quasi_p_equals_the_bonferroni_level():
    """The test keeps a limit at quasi-p <= level / limits (the boundary included), and drops it above; the
    level is divided, not multiplied, by the number of limits."""
    x = _uniform(2000, 2, 3)
    y = np.random.default_rng(4).random(2000) < np.where(x[:, 0] >= 0.5, 0.3, 0.22)
    lo, hi = np.array([0.5, 0.5]), np.full(2, np.inf)
    box = (x[:, 0] >= 0.5) & (x[:, 1] >= 0.5)
    p = []
    for other in (x[:, 1] >= 0.5, x[:, 0] >= 0.5):
        p.append(_p_greater(int((box & y).sum()), int(box.sum()), (other & y).sum() / other.sum()))
    worst = max(p)
    _, _, qp = prune_box(lo, hi, x, y, level=10.0)
    np.testing.assert_allclose([qp[0, 0], qp[1, 0]], p, rtol=1e-12)
    exact = max(qp[0, 0], qp[1, 0])
    kept = prune_box(lo, hi, x, y, level=2 * exact)  # level / 2 is exactly the worst quasi-p
    assert np.isfinite(kept[0]).all()
    # At a level between worst and 2 * worst, dividing by the two limits drops the worst.
    lo3, _, _ = prune_box(lo, hi, x, y, level=1.5 * worst)
    assert np.isfinite(lo3).sum() < 2


# --------------------------------------------------------------------------- the refusals


def _ok_data(n=400, k=2, seed=0):
    x = _uniform(n, k, seed)
    return x, x[:, 0] > 0.5


@pytest.mark.parametrize(("options", "message"), [
    ({"method": "tree"}, "--method tree: not one of prim, cart"),
    ({"min_mass": 0.0}, "--min-mass 0: out of range (allowed: > 0 and < 0.5, a share of the paths)"),
    ({"min_mass": 0.5}, "--min-mass 0.5: out of range (allowed: > 0 and < 0.5, a share of the paths)"),
    ({"min_mass": 1.2}, "--min-mass 1.2: out of range (allowed: > 0 and < 0.5, a share of the paths)"),
    ({"boxes": 0}, "--boxes 0: must be >= 1"),
    ({"peel_paths": 9}, "--peel-paths 9: must be >= 10"),
    ({"peel_paths": 1}, "--peel-paths 1: must be >= 10"),
])
def test_bad_options_are_refused_in_one_line_naming_option_value_and_range(options, message):
    x, y = _ok_data()
    with pytest.raises(UserError) as err:
        discover(x, y, inputs=["a", "b"], **options)
    assert str(err.value) == message


def test_draws_and_outcomes_that_do_not_match_are_refused():
    x, y = _ok_data()
    for draws, outcome in ((x[:, 0], y), (x[:, :0], y), (x, y[:-1])):
        with pytest.raises(UserError) as err:
            discover(draws, outcome, inputs=["a", "b"])
        assert str(err.value) == (f"draws of shape {draws.shape} and outcomes of shape {outcome.shape} do not "
                                  "match (paths, inputs) and (paths,)")


def test_an_outcome_no_path_or_every_path_has_is_refused():
    x, _ = _ok_data(1200)
    with pytest.raises(UserError) as err:
        discover(x, np.zeros(1200, dtype=bool), inputs=["a", "b"], outcome="co.collapse@36")
    assert str(err.value) == ("co.collapse@36: no path of 1,200 has this outcome, so no box of inputs can "
                              "concentrate it; ask about another outcome or threshold, or run more paths")
    with pytest.raises(UserError) as err:
        discover(x, np.ones(1200, dtype=bool), inputs=["a", "b"], outcome="co.collapse@36")
    assert str(err.value) == ("co.collapse@36: every path of 1,200 has this outcome, so no box of inputs can "
                              "concentrate it")


def _y_with(n: int, seed: int, peel_paths: int, counts: dict[int, tuple[int, int]]) -> np.ndarray:
    """An outcome whose sample s (0 peeling, 1 selection, 2 held-out) has counts[s] = (with, without) at the
    front of its sorted indices, the rest half and half."""
    samples = split_paths(n, seed, peel_paths)
    y = np.zeros(n, dtype=bool)
    for s, idx in enumerate(samples):
        if s in counts:
            w, _ = counts[s]
            y[idx[:w]] = True
        else:
            y[idx[: idx.size // 2]] = True
    return y


@pytest.mark.parametrize(("sample", "name", "w"), [(0, "peeling", 4), (1, "selection", 3), (2, "held-out", 2)])
def test_a_sample_with_too_few_paths_with_the_outcome_is_named(sample, name, w):
    n = 400
    a, b, c = split_paths(n, 0, 10**9)
    size = (a, b, c)[sample].size
    y = _y_with(n, 0, 10**9, {sample: (w, size - w)})
    x = _uniform(n, 2, 1)
    with pytest.raises(UserError) as err:
        discover(x, y, inputs=["a", "b"], outcome="co.cash@36>0", method="cart")
    assert str(err.value) == (f"co.cash@36>0: {int(y.sum()):,} of {n:,} paths have the outcome; the {name} sample "
                              f"({size:,} paths) has {w:,} with it and {size - w:,} without, fewer than 5: run "
                              "more paths")


def test_a_sample_with_too_few_paths_without_the_outcome_is_named():
    n = 400
    a, _, _ = split_paths(n, 0, 10**9)
    y = _y_with(n, 0, 10**9, {0: (a.size - 3, 3)})
    with pytest.raises(UserError) as err:
        discover(_uniform(n, 2, 1), y, inputs=["a", "b"], method="cart")
    assert str(err.value) == (f"outcome: {int(y.sum()):,} of {n:,} paths have the outcome; the peeling sample "
                              f"({a.size:,} paths) has {a.size - 3:,} with it and 3 without, fewer than 5: run "
                              "more paths")


def test_five_paths_each_way_and_ten_peeling_paths_are_enough():
    """The smallest allowed samples run: exactly 5 paths with and 5 without the outcome in a peeling sample of
    --peel-paths 10 (the limits are inclusive), and a single input."""
    n = 600
    a, b, c = split_paths(n, 3, 10)
    assert a.size == 10
    y = _y_with(n, 3, 10, {0: (5, 5)})
    x = _uniform(n, 1, 2)
    for method in ("cart", "prim"):
        ds = discover(x, y, inputs=["only"], method=method, seed=3, peel_paths=10)
        assert (ds.attrs["peeling_paths"], ds.attrs["selection_paths"], ds.attrs["held_out_paths"]) == (
            10, b.size, c.size)
        assert ds.sizes["input"] == 1


def test_missing_libraries_name_the_library_and_the_install_command(monkeypatch):
    for method, top, name in (("prim", "ema_workbench", "ema_workbench"), ("cart", "sklearn", "scikit-learn")):
        with monkeypatch.context() as m:
            for mod in [k for k in sys.modules if k.split(".")[0] == top] + [top]:
                m.setitem(sys.modules, mod, None)
            with pytest.raises(UserError) as err:
                require_libraries(method)
        assert str(err.value) == (f"simulator discover --method {method} needs {name}, which is not installed; "
                                  "install the discovery extra: pip install -e '.[discovery]'")
    with monkeypatch.context() as m:
        for mod in [k for k in sys.modules if k.split(".")[0] == "sklearn"] + ["sklearn"]:
            m.setitem(sys.modules, mod, None)
        x, y = _ok_data()
        with pytest.raises(UserError) as err:
            discover(x, y, inputs=["a", "b"], method="cart")
        assert str(err.value).startswith("simulator discover --method cart needs scikit-learn, which is not installed")


# --------------------------------------------------------------------------- the result's provenance and table


class _Clock:
    """A perf_counter that returns the given instants."""

    def __init__(self, *instants):
        self.instants = list(instants)

    def perf_counter(self):
        return self.instants.pop(0)


def test_defaults_and_provenance_attributes(monkeypatch):
    """Defaults (PRIM, 3 boxes at most, mass 0.05, split seed 0, the label "outcome") and every provenance
    attribute, the elapsed seconds to the millisecond from the clock the study read."""
    x, y = _two_regions(3000, 2)
    monkeypatch.setattr(D, "time", _Clock(100.0, 101.2345678))
    ds = discover(x, y, inputs=["a", "b", "c"], attrs={"scenario_name": "planted"})
    a, b, c = split_paths(3000, 0)
    assert ds.attrs == {
        "scenario_name": "planted", "study": "discovery", "method": "prim",
        "title": "Scenario discovery of outcome (PRIM)", "outcome": "outcome",
        "library": f"ema_workbench {metadata.version('ema_workbench')}", "paths": 3000,
        "peeling_paths": a.size, "selection_paths": b.size, "held_out_paths": c.size, "min_mass": 0.05,
        "max_boxes": 3, "chosen_step": ds.attrs["chosen_step"], "split_seed": 0, "limit_level": 0.05,
        "confidence_level": 0.95, "seconds": 1.235}
    assert isinstance(ds.attrs["seconds"], float)
    monkeypatch.setattr(D, "time", _Clock(5.0, 5.5))
    ds = discover(x, y, inputs=["a", "b", "c"], method="cart", min_mass=0.1, boxes=2, seed=4, peel_paths=300,
                  outcome="co.champion@36")
    assert (ds.attrs["title"], ds.attrs["library"], ds.attrs["seconds"]) == (
        "Scenario discovery of co.champion@36 (CART)", f"scikit-learn {metadata.version('scikit-learn')}", 0.5)
    assert (ds.attrs["min_mass"], ds.attrs["max_boxes"], ds.attrs["split_seed"], ds.attrs["peeling_paths"]) == (
        0.1, 2, 4, 300)


def test_integer_and_single_precision_draws_give_the_float64_result():
    """Draws are read as float64: integer or float32 draws give the Dataset (values and types) of the same
    draws in float64."""
    rng = np.random.default_rng(3)
    xi = rng.integers(0, 50, size=(2000, 2))
    y = rng.random(2000) < np.where(xi[:, 0] < 10, 0.8, 0.1)
    for draws in (xi, xi.astype(np.float32)):
        for method in ("prim", "cart"):
            got = discover(draws, y, inputs=["a", "b"], method=method, seed=1)
            want = discover(xi.astype(np.float64), y, inputs=["a", "b"], method=method, seed=1)
            for name in want.variables:
                assert got[name].dtype == want[name].dtype, name
            for ds in (got, want):
                ds.attrs.pop("seconds")
            assert got.identical(want)


def _table_ds():
    x, y = _two_regions(8000, 1)
    ds = discover(x, y, inputs=["a", "b", "c"], method="cart", min_mass=0.02, boxes=3, seed=1,
                  units={"a": "CNY", "c": "1/year"}, outcome="co.champion@36")
    assert ds.sizes["box"] == 2
    return ds


def test_the_table_s_rows_columns_and_defaults():
    """The limits' table laid out by hand (input and units left-aligned, numbers right-aligned, two spaces
    apart), the share of draws inside a two-sided limit, every quasi-p-value, "1" for an input without units,
    and the header of a Dataset without a method, library or outcome attribute."""
    from simulator.results.formatting import percent

    ds = _table_ds()
    # Make box 2 two-sided on b and give it a second limit (on c): the table must show them all.
    ds["box_high"][1, 1], ds["box_high_quantile"][1, 1] = 0.97, 0.96
    ds["quasi_p"][1, 1, 1] = 0.0123
    ds["restricted"][1, 2] = True
    ds["box_low"][1, 2], ds["box_low_quantile"][1, 2], ds["quasi_p"][1, 2, 0] = 0.4, 0.41, 3.4e-7
    lines = discovery_table(ds).splitlines()
    lo_b, q_lo_b = float(ds["box_low"][1, 1]), float(ds["box_low_quantile"][1, 1])
    cells = [("input", "limits", "units", "draws inside", "quasi-p"),
             ("b", f"{lo_b:.4g} to 0.97", "1", percent(0.96 - q_lo_b),
              f"{float(ds['quasi_p'][1, 1, 0]):.2g}, 0.012"),
             ("c", ">= 0.4", "1/year", percent(1 - 0.41), "3.4e-07")]
    widths = [max(len(r[j]) for r in cells) for j in range(5)]
    expected = ["  " + "  ".join(cell.ljust(w) if a == "l" else cell.rjust(w)
                                 for cell, w, a in zip(row, widths, "lrlrr", strict=True)).rstrip()
                for row in cells]
    start = lines.index(next(line for line in lines if line.startswith("box 2")))
    assert lines[start + 1:start + 4] == expected
    assert lines[start + 4] == "  not restricted: a"
    for key in ("method", "library", "outcome"):
        del ds.attrs[key]
    assert discovery_table(ds).splitlines()[0] == "Scenario discovery of the outcome by  ()"


# --------------------------------------------------------------------------- the Dataset's layout


def test_the_dataset_s_coordinates_types_and_units():
    """Coordinates named and valued as documented (boxes from 1, steps from 0, bounds low and high, text as
    Python strings), counts as integers, the inputs' units (empty where none is given)."""
    from simulator.results.outputs import DISCOVERY_OUTPUTS

    ds = _table_ds()
    assert ds["box"].values.tolist() == [1, 2] and ds["box"].dtype == np.int64
    assert ds["step"].values.tolist() == list(range(ds.sizes["step"])) and ds["step"].dtype == np.int64
    assert ds["bound"].values.tolist() == ["low", "high"] and ds["bound"].dtype == object
    assert ds["input"].values.tolist() == ["a", "b", "c"] and ds["input"].dtype == object
    assert ds["input_units"].values.tolist() == ["CNY", "", "1/year"] and ds["input_units"].dtype == object
    for name in ("box_paths", "box_outcome_paths", "trajectory_restricted"):
        assert ds[name].dtype == np.int64, name
    for name, spec in DISCOVERY_OUTPUTS.items():
        assert ds[name].dims == tuple(spec.dims) and ds[name].attrs["units"] == spec.units, name
    assert ds["quasi_p"].dims == ("box", "input", "bound")


def _with_held_out(x, y, seed, held_x, held_y):
    """The same peeling and selection samples; a held-out half built by hand."""
    _, _, c = split_paths(x.shape[0], seed)
    x, y = x.copy(), y.copy()
    x[c], y[c] = held_x, held_y
    return x, y


def _held_out_rest(m: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Held-out paths in neither planted region (a >= 0.3, b <= 0.8), a third with the outcome."""
    rng = np.random.default_rng(seed)
    xs = np.column_stack([0.3 + 0.7 * rng.random(m), 0.8 * rng.random(m), rng.random(m)])
    return xs, np.arange(m) % 3 == 0


@pytest.mark.parametrize("case", ["one_path_with", "empty"])
def test_held_out_numbers_of_boxes_with_one_path_or_none(case):
    """The boxes are found on the peeling and selection samples; the held-out half is built here so that box 1
    holds one path (with the outcome) or none, and box 2 three paths without it: density 1, NaN where the box
    is empty, 0 where no path has the outcome; the trade-off's first step (box 1's leaf) likewise."""
    n = 8000
    x, y = _two_regions(n, 1)
    _, _, c = split_paths(n, 1)
    hx, hy = _held_out_rest(c.size, 9)
    hx[:3], hy[:3] = [0.5, 0.95, 0.5], False            # in box 2 only
    if case == "one_path_with":
        hx[3], hy[3] = [0.05, 0.5, 0.5], True           # in box 1
    xx, yy = _with_held_out(x, y, 1, hx, hy)
    ds = discover(xx, yy, inputs=["a", "b", "c"], method="cart", min_mass=0.02, boxes=3, seed=1)
    assert ds["restricted"].values.tolist() == [[True, False, False], [False, True, False]]
    hits = int(hy.sum())
    m1 = 1 if case == "one_path_with" else 0
    assert ds["box_paths"].values.tolist() == [m1, 3] and ds["box_outcome_paths"].values.tolist() == [m1, 0]
    np.testing.assert_allclose(ds["coverage"].values, [m1 / hits, 0.0], rtol=1e-15)
    np.testing.assert_allclose(ds["mass"].values, [m1 / c.size, 3 / c.size], rtol=1e-15)
    density = ds["density"].values
    assert (density[0] == 1.0) if m1 else np.isnan(density[0])
    assert density[1] == 0.0
    np.testing.assert_allclose(ds["density_ci"].values, _wilson([m1, 0], [m1, 3]), rtol=1e-9)
    t_den = ds["trajectory_density"].values
    assert (t_den[0] == 1.0) if m1 else np.isnan(t_den[0])
    assert ds["trajectory_mass"].values[0] == m1 / c.size
    assert ds.attrs["chosen_step"] == 0


# --------------------------------------------------------------------------- PRIM against EMA Workbench


def test_prim_trajectory_and_chosen_step_are_ema_workbench_s_with_the_one_standard_error_rule():
    """On inputs of different ranges: the trade-off on the peeling sample is EMA's own peeling trajectory with
    the given --min-mass; each step restricts the inputs EMA says it restricts (none at the first); the chosen
    step is the first within one standard error of the best density on the selection sample (counted here)."""
    import pandas as pd

    prim = require_libraries("prim")
    n, min_mass = 4000, 0.2
    rng = np.random.default_rng(2)
    x = np.column_stack([rng.random(n), 10 + 10 * rng.random(n), -5 + 10 * rng.random(n)])
    y = rng.random(n) < np.where(x[:, 0] > 0.6, 0.8, 0.1)
    ds = discover(x, y, inputs=["a", "b", "c"], min_mass=min_mass, boxes=1, seed=2)
    a, b, _ = split_paths(n, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        box = prim.Prim(pd.DataFrame(x[a], columns=["a", "b", "c"]), y[a].astype(int), threshold=1e-9,
                        mass_min=min_mass).find_box()
    traj = box.peeling_trajectory
    for name in ("coverage", "density", "mass"):
        np.testing.assert_allclose(ds[f"trajectory_{name}_fit"].values, traj[name].to_numpy(float), rtol=1e-12)
    assert ds["trajectory_restricted"].values.tolist() == traj["res_dim"].astype(int).tolist()
    assert ds["trajectory_restricted"].values[0] == 0 and min(traj["mass"]) >= min_mass
    counts = []
    for lims in box.box_lims:
        m = np.logical_and.reduce([(x[b, j] >= lims.iloc[0, j]) & (x[b, j] <= lims.iloc[1, j]) for j in range(3)])
        counts.append((m.sum(), (m & y[b]).sum()))
    d = [k / m for m, k in counts]
    best = int(np.argmax(d))
    se = math.sqrt(d[best] * (1 - d[best]) / counts[best][0])
    assert ds.attrs["chosen_step"] == next(i for i in range(len(d)) if d[i] >= d[best] - se)
    assert ds.attrs["chosen_step"] > 0


def _three_regions(n: int, seed: int):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 3))
    p = np.where(x[:, 0] < 0.2, 0.9, np.where(x[:, 1] > 0.8, 0.7, np.where(x[:, 2] > 0.8, 0.5, 0.03)))
    return x, rng.random(n) < p


def test_prim_covering_counts_each_box_outside_all_the_boxes_before():
    """Three PRIM boxes by covering; each box's held-out paths are those in it and in none of the boxes before
    (numpy masks here), though box 3's limits alone overlap box 1."""
    n = 12_000
    x, y = _three_regions(n, 5)
    ds = discover(x, y, inputs=["a", "b", "c"], min_mass=0.03, boxes=3, seed=5)
    _, _, c = split_paths(n, 5)
    xc, yc = x[c], y[c]
    assert ds.sizes["box"] == 3
    lo, hi = ds["box_low"].values, ds["box_high"].values
    rest = np.ones(c.size, dtype=bool)
    overlap = 0
    for i in range(3):
        box = np.all((xc >= lo[i]) & (xc <= hi[i]), axis=1)
        overlap += int((box & ~rest).sum())
        box &= rest
        rest &= ~box
        assert (int(ds["box_paths"][i]), int(ds["box_outcome_paths"][i])) == (int(box.sum()), int((box & yc).sum()))
    assert overlap > 0


# --------------------------------------------------------------------------- CART against scikit-learn


def _sklearn_chosen(xa, ya, xb, yb, leaf: int, seed: int):
    """The documented tree: scikit-learn's classifier with min_samples_leaf = ceil(min_mass * peeling paths)
    and the split seed, pruned along its cost-complexity path to the best Brier score on the selection sample."""
    from sklearn.tree import DecisionTreeClassifier

    full = DecisionTreeClassifier(min_samples_leaf=leaf, random_state=seed).fit(xa, ya)
    alphas = [a for a in np.unique(full.cost_complexity_pruning_path(xa, ya).ccp_alphas) if a > 0]
    trees = [full] + [DecisionTreeClassifier(min_samples_leaf=leaf, ccp_alpha=a, random_state=seed).fit(xa, ya)
                      for a in alphas]
    brier = [np.mean((yb - t.predict_proba(xb)[:, 1]) ** 2) for t in trees]
    return trees[int(np.argmin(brier))]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cart_leaves_and_boxes_are_scikit_learn_s_tree(seed):
    """Six identical copies of one input (ties between features that only the tree's random state breaks) and
    two noise inputs: the trade-off's steps are the chosen tree's leaves (paths and outcome paths of each, by
    scikit-learn's own leaf assignment), densest first; the boxes limit only the copies the tree split on,
    at most --boxes of them."""
    n, min_mass = 6000, 0.03
    rng = np.random.default_rng(20 + seed)
    u = rng.random(n)
    x = np.column_stack([u] * 6 + [rng.random(n), rng.random(n)])
    y = rng.random(n) < np.where(u < 0.25, 0.85, np.where(u > 0.8, 0.45, 0.1))
    ds = discover(x, y, inputs=[f"x{j}" for j in range(8)], method="cart", min_mass=min_mass, boxes=1, seed=seed)
    a, b, _ = split_paths(n, seed)
    clf = _sklearn_chosen(x[a], y[a], x[b], y[b], math.ceil(min_mass * a.size), seed)
    leaf_of = clf.apply(x[a])
    leaves = sorted(((leaf_of == v).sum(), (y[a] & (leaf_of == v)).sum()) for v in np.unique(leaf_of))
    positives = int(y[a].sum())
    paths = np.diff(np.concatenate([[0], np.round(ds["trajectory_mass_fit"].values * a.size)])).astype(int)
    hits = np.diff(np.concatenate([[0], np.round(ds["trajectory_coverage_fit"].values * positives)])).astype(int)
    assert sorted(zip(paths.tolist(), hits.tolist(), strict=True)) == [(int(p), int(k)) for p, k in leaves]
    dens = hits / paths
    assert np.all(np.diff(dens) <= 1e-12) and len(leaves) >= 3
    np.testing.assert_allclose(ds["trajectory_density_fit"].values,
                               np.cumsum(hits) / np.cumsum(paths), rtol=1e-12)
    used = {int(f) for f in clf.tree_.feature if f >= 0}
    assert ds.sizes["box"] == 1
    restricted = set(np.flatnonzero(ds["restricted"].values[0]).tolist())
    assert restricted and restricted <= used, (restricted, used)


def test_cart_leaf_of_one_path_and_a_box_per_significant_leaf():
    """A peeling sample of 10 paths (--peel-paths 10, leaves of one path allowed at --min-mass 0.05) whose
    last path alone has the outcome beyond the others: its one-path leaf is a step of the trade-off (density 1,
    counted with its one path), and the boxes are the leaves significantly denser than the selection sample's
    rate (binomial tests here), densest first."""
    n, seed = 4000, 6
    a, b, _c = split_paths(n, seed, 10)
    rng = np.random.default_rng(6)
    x = rng.random((n, 2)) * 10
    y = ((x[:, 0] >= 3.5) & (x[:, 0] < 7.5)) | (x[:, 0] >= 8.5)
    x[a, 0] = np.arange(10.0)
    x[a, 1] = 1.0
    y[a] = [False, False, False, False, True, True, True, True, False, True]
    ds = discover(x, y, inputs=["u", "v"], method="cart", min_mass=0.05, boxes=3, seed=seed, peel_paths=10)
    mass, den = ds["trajectory_mass_fit"].values, ds["trajectory_density_fit"].values
    cov = ds["trajectory_coverage_fit"].values
    np.testing.assert_allclose(den * mass * 10, cov * 5, rtol=1e-12)
    assert 0.1 in np.round(np.diff(np.concatenate([[0.0], mass])), 12).tolist()  # a leaf of one path
    assert ds.sizes["step"] == 4  # the four pure runs of the peeling sample, which the selection sample repeats
    # Boxes: the leaves denser than the selection sample's rate (binomial test, Bonferroni over the 4 leaves).
    xb, yb = x[b, 0], y[b]
    regions = [(3.5, 7.5), (8.5, np.inf), (-np.inf, 3.5), (7.5, 8.5)]
    good = []
    for lo, hi in regions:
        m = (xb > lo) & (xb <= hi)
        if _p_greater(int((m & yb).sum()), int(m.sum()), yb.mean()) <= LIMIT_LEVEL / 4:
            good.append((-(m & yb).sum() / m.sum(), lo, hi))
    assert len(good) == 2 and ds.sizes["box"] == 2
    # Both are pure (density 1), so their order is a tie; each box is one of them.
    found = sorted((round(float(ds["box_low"][i, 0]) if ds["box_low_quantile"][i, 0] > 0 else -np.inf, 1),
                    round(float(ds["box_high"][i, 0]) if ds["box_high_quantile"][i, 0] < 1 else np.inf, 1))
                   for i in range(2))
    assert found == sorted((lo, hi) for _, lo, hi in good)


# --------------------------------------------------------------------------- the data discovery reads

# test_discovery's planted scenario without its funding backstop: two uncertain inputs (cash, imports).
PLANTED = DISCOVERY_PLANTED.replace(
    '[companies.funding]\nenabled = false\nbackstop = { dist = "uniform", low = 1e9, high = 5e9 }\n\n', "")
assert PLANTED != DISCOVERY_PLANTED


@pytest.mark.parametrize("event", ["co.collapse@36", "co.cash@36>0"])
def test_scenario_data_is_the_plain_run_with_progress_threads_engine_and_memory_passed_on(tmp_path, monkeypatch,
                                                                                        event):
    """From a scenario: the draws and events of a plain run with the same options; the progress bar (when asked
    for) advances once over every path and is off by default; the engine runs with the threads and engine
    asked for and without quantile fans; the memory check counts that run's arrays besides discovery's."""
    import simulator
    from simulator.engines import dispatch
    from simulator.runner import memory, progress
    from simulator.runner import prepared as prepared_module
    from simulator.runner.prepared import prepare_run
    from simulator.studies import discovery_data as dd

    toml = tmp_path / "planted.toml"
    toml.write_text(PLANTED, encoding="utf-8")
    opts = {"paths": 5000, "seed": 9, "overrides": ["companies.co.costs.opex=2.5e9"], "engine": "numpy"}
    bars, calls, checks = [], [], []
    real_bar, real_simulate = progress.progress_bar, dispatch.simulate

    @contextlib.contextmanager
    def bar(job, enabled):
        counted = [job.paths, enabled, 0]
        bars.append(counted)

        def update(k):
            counted[2] += k

        with real_bar(job, False):
            yield update if enabled else None

    def simulate(*args, **kw):
        calls.append(kw)
        return real_simulate(*args, **kw)

    monkeypatch.setattr(progress, "progress_bar", bar)
    monkeypatch.setattr(dispatch, "simulate", simulate)
    monkeypatch.setattr(prepared_module, "simulate", simulate)
    monkeypatch.setattr(memory, "check", lambda needs, sizes, *, what: checks.append((needs, sizes, what)))
    monkeypatch.setattr(dd, "KEEP_CHUNK_PATHS", 1024)  # two chunks of blocks
    data = dd.discovery_data(toml, event, threads=1, progress=True, **opts)
    quiet = dd.discovery_data(toml, event, threads=1, **opts)
    assert [b[:2] for b in bars] == [[5000, True], [5000, False]] and bars[0][2] == 5000
    assert calls and {(kw["threads"], kw["engine"], kw["fans"]) for kw in calls} == {(1, "numpy", False)}
    run = prepare_run(toml, paths=5000, seed=9, overrides=opts["overrides"], engine="numpy", threads=1, fans=False)
    needs, sizes = run.memory_needs(paths_option="--paths")
    assert checks[0][0][:-1] == needs and checks[0][1] == {**sizes, "--paths": 5000}
    monkeypatch.undo()
    truth = simulator.run(toml, keep_paths=5000, block_size=data.attrs["block_size"], **opts)
    np.testing.assert_array_equal(data.draws, truth["input_draw"].values)
    want = (truth["path_outcome"].sel(company="co", horizon=36).values == 2 if event.endswith("@36")
            else truth["path_cash"].sel(company="co", month=36).values > 0)
    np.testing.assert_array_equal(data.y, want)
    np.testing.assert_array_equal(quiet.y, want)
    assert 0 < want.mean() < 1


def test_a_scenario_without_uncertain_inputs_is_named(tmp_path):
    from simulator.studies import discovery_data as dd

    toml = tmp_path / "fixed.toml"
    toml.write_text(PLANTED.replace('cash = { dist = "uniform", low = 0.5e9, high = 6e9 }', "cash = 2e9")
                    .replace('imports_per_month = { dist = "uniform", low = 0, high = 500 }', "imports_per_month = 1"),
                    encoding="utf-8")
    with pytest.raises(UserError) as err:
        dd.discovery_data(toml, "co.collapse@36", paths=200)
    assert str(err.value) == (f"{toml}: no uncertain inputs; give some keys as distributions, e.g. long_run = "
                              '{dist = "uniform", low = 0.1, high = 0.6}')


def test_cart_leaf_below_the_selection_rate_is_no_box_though_denser_than_its_neighbour():
    """Three regions on a (0.9 below 0.2, 0.05 up to 0.6, 0.25 above): the leaf a >= 0.6 is denser than the
    paths left after box 1, but below the selection sample's rate (binomial test here), so it is not a box."""
    n = 8000
    rng = np.random.default_rng(8)
    x = rng.random((n, 2))
    y = rng.random(n) < np.where(x[:, 0] < 0.2, 0.9, np.where(x[:, 0] < 0.6, 0.05, 0.25))
    ds = discover(x, y, inputs=["a", "b"], method="cart", min_mass=0.05, boxes=3, seed=8)
    _, b, _ = split_paths(n, 8)
    xb, yb = x[b], y[b]
    high = xb[:, 0] >= 0.6
    assert _p_greater(int((high & yb).sum()), int(high.sum()), yb.mean()) > 0.5
    assert ds.sizes["box"] == 1 and ds["restricted"].values.tolist() == [[True, False]]
    assert abs(float(ds["box_high"][0, 0]) - 0.2) < 0.02
