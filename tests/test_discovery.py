"""Scenario discovery (``simulator discover``): planted truths, honest intervals, one-line errors.

Planted data: inputs uniform on [0, 1]; a path has the outcome with probability
0.8 when ``x0 > 0.6`` and 0.1 otherwise, whatever the other inputs.  Planted
scenario: a company with no randomness but its starting cash (uniform), whose
fixed burn ruins it below a cash level the model decides; two other uncertain
inputs are keys of switched-off channels (chips, funding), so they cannot matter.
"""

from __future__ import annotations

import math
import re
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from simulator.cli.main import main
from simulator.errors import UserError
from simulator.studies.discovery import (
    DEFAULT_PEEL_PATHS,
    INSTALL,
    discover,
    discovery_table,
    inside,
    prune_box,
    require_libraries,
    split_paths,
)

ROOT = Path(__file__).resolve().parents[1]
THRESHOLD, P_IN, P_OUT = 0.6, 0.8, 0.1
PEEL_ALPHA = 0.05  # EMA Workbench's default peel, which discover uses


def planted(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(n, k))
    return x, rng.uniform(size=n) < np.where(x[:, 0] > THRESHOLD, P_IN, P_OUT)


def truth(lo: np.ndarray, hi: np.ndarray) -> tuple[float, float]:
    """True coverage and density of a box of the planted data (inputs uniform on [0, 1])."""
    a, b = np.clip(lo, 0.0, 1.0), np.clip(hi, 0.0, 1.0)
    mass = float(np.prod(b - a))
    above = max(0.0, b[0] - max(a[0], THRESHOLD)) / (b[0] - a[0])
    density = P_OUT + (P_IN - P_OUT) * above
    return mass * density / (P_OUT + (P_IN - P_OUT) * (1.0 - THRESHOLD)), density


@pytest.mark.parametrize("method", ["prim", "cart"])
def test_planted_threshold_is_found_and_other_inputs_left_free(method):
    n, k = 40_000, 5
    x, y = planted(n, k, seed=3)
    ds = discover(x, y, inputs=[f"x{j}" for j in range(k)], method=method, seed=3)
    assert ds.sizes["box"] >= 1
    first = ds.sel(box=1)
    assert first["restricted"].values.tolist() == [True] + [False] * (k - 1)
    assert float(first["box_high_quantile"].sel(input="x0")) == 1.0  # no upper limit
    # Sampling error of the limit: PRIM's limits move by one peel (PEEL_ALPHA of the
    # box's x0 range, [0.6, 1] at the truth), and the box is chosen within one standard
    # error of the best density on the selection sample, which moves the limit by that
    # error over the density's slope in the limit (d/dL of the box's density at L = 0.6);
    # three such errors and two peels.
    n_sel = int(ds.attrs["selection_paths"])
    d = P_IN
    se = math.sqrt(d * (1 - d) / (n_sel * (1 - THRESHOLD) * 0.5))  # the box holds at least half of x0 > 0.6
    slope = (P_IN * (1 - THRESHOLD)) / (1 - THRESHOLD) ** 2 - P_OUT / (1 - THRESHOLD)
    tolerance = 2 * PEEL_ALPHA * (1 - THRESHOLD) + 3 * se / slope
    assert abs(float(first["box_low"].sel(input="x0")) - THRESHOLD) <= tolerance
    # Held-out numbers agree with the truth of the box found, within four binomial standard errors.
    lo = np.where(first["restricted"].values & (first["box_low_quantile"].values > 0), first["box_low"].values, 0.0)
    cov, den = truth(lo, np.ones(k))
    hits = float(first["box_outcome_paths"]) / float(first["coverage"])
    assert abs(float(first["coverage"]) - cov) <= 4 * math.sqrt(cov * (1 - cov) / hits)
    assert abs(float(first["density"]) - den) <= 4 * math.sqrt(den * (1 - den) / float(first["box_paths"]))
    text = discovery_table(ds)
    assert "x0" in text and ">= 0.6" in text and "not restricted: x1, x2, x3, x4" in text


def test_held_out_intervals_cover_the_truth_at_the_nominal_rate():
    """Over independent seeds, the 95% intervals of the first box hold its true coverage and density 95% of the time."""
    reps, n, k = 100, 2_000, 3
    hits = np.zeros(2, dtype=int)
    for seed in range(reps):
        x, y = planted(n, k, seed=100 + seed)
        ds = discover(x, y, inputs=["a", "b", "c"], method="cart", seed=seed, boxes=1)
        first = ds.isel(box=0)
        lo = np.where(np.isfinite(first["box_low"].values) & (first["box_low_quantile"].values > 0),
                      first["box_low"].values, 0.0)
        hi = np.where(first["box_high_quantile"].values < 1, first["box_high"].values, 1.0)
        cov, den = truth(lo, hi)
        hits += [first["coverage_ci"].values[0] <= cov <= first["coverage_ci"].values[1],
                 first["density_ci"].values[0] <= den <= first["density_ci"].values[1]]
    for count in hits:
        # Wilson intervals hold close to 95%; far fewer hits means the numbers are not honest.
        assert stats.binomtest(int(count), reps, 0.95).pvalue > 1e-3, hits


def test_noise_limits_of_the_last_prim_box_are_dropped_on_unseen_paths():
    """EMA's last box limits inputs that cannot matter, with small in-sample quasi-p-values; pruning on
    paths PRIM did not see keeps the real limit only (why discover has its own selection step)."""
    prim = require_libraries("prim")
    import pandas as pd

    x, y = planted(40_000, 6, seed=7)
    names = [f"x{j}" for j in range(6)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # EMA Workbench's own deprecation warnings from pandas
        box = prim.Prim(pd.DataFrame(x[:20_000], columns=names), y[:20_000].astype(int), threshold=1e-9).find_box()
    last = box.box_lims[-1]
    lo = np.where(last.loc[0].values > x[:20_000].min(axis=0), last.loc[0].values, -np.inf).astype(float)
    hi = np.where(last.loc[1].values < x[:20_000].max(axis=0), last.loc[1].values, np.inf).astype(float)
    assert (np.isfinite(lo[1:]) | np.isfinite(hi[1:])).sum() >= 3  # noise limits
    lo2, hi2, qp = prune_box(lo, hi, x[20_000:], y[20_000:])
    assert np.isfinite(lo2[0]) and not np.isfinite(hi2[0])
    assert not (np.isfinite(lo2[1:]) | np.isfinite(hi2[1:])).any()
    assert qp[0, 0] < 1e-10 and np.isnan(qp[1:]).all()


def test_quasi_p_values_are_ema_workbench_s():
    prim = require_libraries("prim")
    import pandas as pd
    from ema_workbench.analysis.prim_util import calculate_qp

    x, y = planted(5_000, 2, seed=1)
    frame = pd.DataFrame(x, columns=["a", "b"])
    init = pd.DataFrame({"a": [x[:, 0].min(), x[:, 0].max()], "b": [x[:, 1].min(), x[:, 1].max()]})
    lims = init.copy()
    lims.loc[0, "a"], lims.loc[1, "b"] = 0.58, 0.9
    box = inside(x, np.array([0.58, -np.inf]), np.array([np.inf, 0.9]))
    expected = [calculate_qp(lims[u], frame, y.astype(int), int(y[box].sum()), int(box.sum()), lims, init)
                for u in ("a", "b")]
    _, _, qp = prune_box(np.array([0.58, -np.inf]), np.array([np.inf, 0.9]), x, y, level=10.0)  # keep both
    assert qp[0, 0] == pytest.approx(expected[0][0], rel=1e-9)
    assert qp[1, 1] == pytest.approx(expected[1][1], rel=1e-9)
    del prim


def test_split_is_three_disjoint_samples_with_half_held_out():
    a, b, c = split_paths(1001, seed=4, peel_paths=100)
    assert a.size == 100 and c.size == 500 and a.size + b.size + c.size == 1001
    assert np.unique(np.concatenate([a, b, c])).size == 1001
    assert split_paths(1001, 4, 100)[0].tolist() == a.tolist()
    assert DEFAULT_PEEL_PATHS == 100_000


def test_outcome_no_path_has_is_one_line_error():
    x, _ = planted(1000, 2, seed=0)
    with pytest.raises(UserError, match="no path of 1,000 has this outcome"):
        discover(x, np.zeros(1000, dtype=bool), inputs=["a", "b"], outcome="co.champion@36")
    with pytest.raises(UserError, match="the peeling sample"):
        discover(x, np.arange(1000) < 8, inputs=["a", "b"], outcome="rare")


def test_missing_library_names_the_install_command(monkeypatch):
    for name in [m for m in sys.modules if m.split(".")[0] == "ema_workbench"] + ["ema_workbench"]:
        monkeypatch.setitem(sys.modules, name, None)  # a None entry makes the import fail
    with pytest.raises(UserError, match=f"install the discovery extra: {INSTALL.replace('[', '.').replace(']', '.')}"):
        require_libraries("prim")


# --------------------------------------------------------------------------- the command, on a planted scenario

PLANTED = """\
[scenario]
name = "planted"
horizon_months = 36
horizons = [12, 36]
paths = 8000
seed = 5

[sector.narrative]
sigma = 0.0

[[companies]]
name = "co"
revenue = 1e9
valuation = 10e9
cash = { dist = "uniform", low = 0.5e9, high = 6e9 }

[companies.growth]
sigma_growth = 0.0
sigma_revenue = 0.0
sigma_revenue_long_run = 0.0

[companies.pricing]
price_sigma = 0.0

[companies.narrative]
sigma = 0.0

[companies.chips]
enabled = false
imports_per_month = { dist = "uniform", low = 0, high = 500 }

[companies.funding]
enabled = false
backstop = { dist = "uniform", low = 1e9, high = 5e9 }

[companies.costs]
opex = 2e9
"""
CASH = "companies.co.cash"


@pytest.fixture(scope="module")
def planted_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("discover")
    toml = d / "planted.toml"
    toml.write_text(PLANTED, encoding="utf-8")
    nc = d / "planted.nc"
    assert main(["run", str(toml), "--keep-paths", "8000", "--out", str(nc), "--quiet"]) == 0
    ds = xr.open_dataset(nc)
    cash = ds["input_draw"].sel(input=CASH).values
    failed = ds["path_outcome"].sel(company="co", horizon=36).values == 2
    # The model's own cash threshold, bracketed by the draws on each side of it.
    bracket = (float(cash[failed].max()), float(cash[~failed].min()))
    ds.close()
    assert bracket[0] < bracket[1] and 0.05 < failed.mean() < 0.95
    return toml, nc, bracket


def _limit_ok(value: float, bracket: tuple[float, float], side: str) -> bool:
    # Within the bracket, or short of it by at most one peel of the box's cash range
    # (PRIM stops at the first peel that makes the box pure; CART splits inside the bracket).
    step = PEEL_ALPHA * (6e9 - 0.5e9) * 1.05
    return (bracket[0] - step <= value <= bracket[1]) if side == "high" else (bracket[0] <= value <= bracket[1] + step)


@pytest.mark.parametrize("method", ["prim", "cart"])
@pytest.mark.parametrize(("event", "side"), [("co.collapse@36", "high"), ("co.cash@36>0", "low")])
def test_discover_finds_the_model_s_cash_threshold(planted_files, tmp_path, capsys, method, event, side):
    toml, _, bracket = planted_files
    out = tmp_path / "boxes.nc"
    assert main(["discover", str(toml), "--outcome", event, "--method", method, "--out", str(out), "--quiet"]) == 0
    ds = xr.open_dataset(out)
    first = ds.sel(box=1)
    assert [str(i) for i in ds["input"].values if bool(first["restricted"].sel(input=i))] == [CASH]
    limit = float(first["box_high" if side == "high" else "box_low"].sel(input=CASH))
    assert _limit_ok(limit, bracket, side), (limit, bracket)
    assert float(first["density"]) == 1.0  # nothing but the cash decides
    assert ds.attrs["study"] == "discovery" and ds.attrs["outcome"] == event
    assert ds["box_low"].attrs["units"] and ds["coverage_ci"].attrs["long_name"]
    ds.close()


def test_a_threshold_read_in_chunks_of_kept_paths_equals_one_chunk(planted_files, monkeypatch):
    # A threshold's quantity is kept a group of blocks at a time: the chunks' own kept arrays
    # (paths, and the market with competition) must not be merged, and the values must not
    # depend on the chunk size.
    from simulator.studies import discovery_data

    toml, _, _ = planted_files
    one = discovery_data.discovery_data(toml, "co.cash@36>0", paths=6000, seed=3, overrides=(), threads=None)
    monkeypatch.setattr(discovery_data, "KEEP_CHUNK_PATHS", 1024)
    chunked = discovery_data.discovery_data(toml, "co.cash@36>0", paths=6000, seed=3, overrides=(), threads=None)
    np.testing.assert_array_equal(one.y, chunked.y)
    np.testing.assert_array_equal(one.draws, chunked.draws)
    assert 0 < one.y.mean() < 1


def test_results_file_and_scenario_file_give_the_same_boxes(planted_files, tmp_path):
    toml, nc, _ = planted_files
    a, b = tmp_path / "a.nc", tmp_path / "b.nc"
    for src, out in ((toml, a), (nc, b)):
        assert main(["discover", str(src), "--outcome", "co.champion@36", "--out", str(out), "--quiet"]) == 0
    da, db = xr.open_dataset(a), xr.open_dataset(b)
    for var in ("box_low", "box_high", "coverage", "density", "trajectory_density"):
        np.testing.assert_array_equal(da[var].values, db[var].values)
    da.close()
    db.close()


def test_threshold_from_a_results_file_uses_its_kept_paths(planted_files, tmp_path, capsys):
    _, nc, _ = planted_files
    assert main(["discover", str(nc), "--outcome", "co.cash@36>0", "--method", "cart"]) == 0
    text = capsys.readouterr().out
    assert f"{CASH}  >= " in text and "not restricted: companies.co.chips.imports_per_month" in text


def test_report_of_a_boxes_file_draws_the_trade_off_and_the_limits(planted_files, tmp_path):
    toml, _, _ = planted_files
    out = tmp_path / "boxes.nc"
    assert main(["discover", str(toml), "--outcome", "co.collapse@36", "--out", str(out), "--quiet"]) == 0
    assert main(["report", str(out), "--out", str(tmp_path / "rep")]) == 0
    names = {p.name for p in (tmp_path / "rep").iterdir()}
    assert {"discovery_tradeoff.png", "discovery_box_1.png", "report.md", "report.html"} <= names
    assert "coverage [95%]" in (tmp_path / "rep" / "report.md").read_text(encoding="utf-8")
    # A notebook gets the same figures (simulator.figures), by the stems of the report's files.
    import simulator

    pngs = sorted(name.removesuffix(".png") for name in names if name.endswith(".png"))
    assert sorted(simulator.figures(xr.open_dataset(out))) == pngs


def _cli(args: list[str], capsys) -> tuple[int, str]:
    """Exit code and standard error of ``simulator ARGS`` (in process, as the console script runs it)."""
    capsys.readouterr()
    code = main(args)
    return code, capsys.readouterr().err


@pytest.mark.parametrize(("outcome", "message"), [
    ("co.champion_share@36", "champion_share is a ratio"),
    ("co.champion@30", "horizon 30 is not one of"),
    ("nobody.champion@36", "no company named 'nobody'"),
    ("co.champion@36=0.5", "takes no =VALUE"),
    ("co.valuation@36>=lots", "threshold 'lots' is not a number"),
    ("co.value@36>=1", "unknown quantity 'value'"),
    ("valuation@36>=1", "name the company"),
    ("co.cash@40>0", "month 40 is outside the run"),
    ("co.contested@36", "no path of 8,000 has this outcome"),
])
def test_bad_outcomes_are_one_line_errors(planted_files, capsys, outcome, message):
    _, nc, _ = planted_files
    code, err = _cli(["discover", str(nc), "--outcome", outcome], capsys)
    assert code == 2, err
    assert message in err and len(err.strip().splitlines()) == 1


def test_results_without_draws_or_kept_paths_are_one_line_errors(planted_files, tmp_path, capsys):
    toml, _, _ = planted_files
    fixed = tmp_path / "fixed.nc"
    assert main(["run", str(toml), "--set", "companies.co.cash=2e9", "--set", "companies.co.chips.imports_per_month=1",
                 "--set", "companies.co.funding.backstop=1e9", "--paths", "500", "--out", str(fixed), "--quiet"]) == 0
    code, err = _cli(["discover", str(fixed), "--outcome", "co.collapse@36"], capsys)
    assert code == 2 and "no per-path draws" in err and len(err.strip().splitlines()) == 1
    plain = tmp_path / "plain.nc"
    assert main(["run", str(toml), "--paths", "500", "--out", str(plain), "--quiet"]) == 0
    code, err = _cli(["discover", str(plain), "--outcome", "co.cash@36>0"], capsys)
    assert code == 2 and "--keep-paths" in err and len(err.strip().splitlines()) == 1
    code, err = _cli(["discover", str(toml), "--outcome", "co.collapse@36", "--min-mass", "0.7"], capsys)
    assert code == 2 and "--min-mass" in err
    code, err = _cli(["discover", str(Path(tmp_path) / "missing.nc"), "--outcome", "co.collapse@36"], capsys)
    assert code == 2 and "no such file" in err
    code, err = _cli(["discover", str(plain), "--outcome", "co.collapse@36", "--paths", "100"], capsys)
    assert code == 2 and "--paths and --set apply to a scenario file" in err


def test_path_events_per_path():
    from simulator.model.scenario_file import parse_scenario
    from simulator.results.targets import parse_event

    sc = parse_scenario(PLANTED.replace('name = "co"', 'name = "co"\n'), source="planted.toml")
    codes = np.array([[[0, 0]], [[1, 2]], [[2, 0]]], dtype=np.int8)  # (path, company, horizon)
    assert parse_event("any_champion@36", sc).from_outcomes(codes, ["co"], [12, 36]).tolist() == [True, False, True]
    assert parse_event("co.collapse@36", sc).from_outcomes(codes, ["co"], [12, 36]).tolist() == [False, True, False]
    values = np.array([1.0, 2.0, 3.0])
    for text, expected in (("co.cash@36>=2", [False, True, True]), ("co.cash@36>2", [False, False, True]),
                           ("co.cash@36<=2", [True, True, False]), ("co.cash@36 < 2", [True, False, False])):
        event = parse_event(text, sc)
        assert event.from_values(values).tolist() == expected and event.month == 36 and event.company == "co"
    assert parse_event("co.valuation@36>=700e9", sc).label == "co.valuation@36>=7e+11"


def test_no_box_when_the_inputs_do_not_matter(tmp_path):
    from simulator.report.writer import write_report

    rng = np.random.default_rng(2)
    x = rng.uniform(size=(20_000, 4))
    y = rng.uniform(size=20_000) < 0.3
    for method in ("cart", "prim"):
        ds = discover(x, y, inputs=list("abcd"), method=method, seed=2)
        assert ds.sizes["box"] == 0 and ds.sizes["step"] >= 1
        assert "No box" in discovery_table(ds)
        write_report(ds, tmp_path / method)
        assert "No box" in (tmp_path / method / "report.md").read_text(encoding="utf-8")


def test_too_many_paths_for_the_memory_is_one_line_error():
    from simulator.studies.discovery_data import check_memory

    with pytest.raises(UserError, match=r"--paths 1,000,000,000,000: discovery over 10 inputs needs about"):
        check_memory(10**12, 10)
    check_memory(1000, 10)


# --------------------------------------------------------------------------- CART against what it must report

def _two_regions(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Three inputs uniform on [0, 1]; the outcome has probability 0.9 where a < 0.2, 0.6 where b > 0.85
    outside that, 0.1 elsewhere (a tree of three leaves; the densest is on the low side of the first split, the
    side a tree lists last)."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 3))
    p = np.where(x[:, 0] < 0.2, 0.9, np.where(x[:, 1] > 0.85, 0.6, 0.1))
    return x, rng.random(n) < p


def test_cart_finds_two_planted_regions_densest_first_with_its_trade_off_counted():
    """CART's pruned tree is the three leaves of the truth; its boxes are the two dense ones, densest first,
    each limit with a quasi-p-value below its Bonferroni level (the others NaN); the trade-off on the
    peeling sample is the union of the densest leaves, recounted here from the split of the paths."""
    from simulator.studies.discovery import LIMIT_LEVEL

    n, min_mass = 20_000, 0.02
    x, y = _two_regions(n, 1)
    ds = discover(x, y, inputs=["a", "b", "c"], method="cart", min_mass=min_mass, boxes=3, seed=1)
    assert ds.sizes["box"] == 2 and ds.sizes["step"] == 3 and ds.attrs["chosen_step"] == 0
    restricted = ds["restricted"].values
    assert restricted.tolist() == [[True, False, False], [False, True, False]]
    # The planted thresholds, within the gap between neighbouring draws of the peeling sample.
    assert abs(float(ds["box_high"].sel(box=1, input="a")) - 0.2) < 0.01
    assert abs(float(ds["box_low"].sel(box=2, input="b")) - 0.85) < 0.01
    qp = ds["quasi_p"].values  # (box, input, bound)
    for i in range(2):
        limits = np.isfinite(qp[i])
        assert limits.sum() == restricted[i].sum()  # one limit each, nothing else
        assert np.all(qp[i][limits] <= LIMIT_LEVEL / limits.sum())
    # The trade-off on the peeling sample: unions of leaves, densest first, ending with every path.
    a, _, _ = split_paths(n, 1)
    ya = y[a]
    cov, den, mass = (ds[f"trajectory_{v}_fit"].values for v in ("coverage", "density", "mass"))
    np.testing.assert_allclose([cov[-1], mass[-1], den[-1]], [1.0, 1.0, ya.mean()], rtol=1e-12)
    assert np.all(np.diff(den) < 0) and np.all(np.diff(cov) > 0) and np.all(np.diff(mass) > 0)
    leaf = math.ceil(min_mass * a.size) / a.size  # no leaf smaller than --min-mass of the peeling sample
    assert np.all(np.diff(np.concatenate([[0.0], mass])) >= leaf - 1e-12)
    # Coverage, density and mass are one count seen three ways.
    np.testing.assert_allclose(den * mass * a.size, cov * np.count_nonzero(ya), rtol=1e-12)
    # The first step is the leaf a < 0.2, counted here.
    leaf_a = x[a, 0] <= float(ds["box_high"].sel(box=1, input="a"))
    np.testing.assert_allclose([mass[0], den[0]], [leaf_a.mean(), ya[leaf_a].mean()], rtol=1e-12)


def test_cart_without_a_box_marks_the_first_step():
    rng = np.random.default_rng(4)
    x = rng.uniform(size=(20_000, 3))
    y = rng.uniform(size=20_000) < 0.3
    ds = discover(x, y, inputs=list("abc"), method="cart", seed=4)
    assert ds.sizes["box"] == 0 and ds.attrs["chosen_step"] == 0


@pytest.mark.parametrize(("low_q", "high_q", "text"), [(0.2, 0.7, "0.25 to 0.75"), (0.0, 0.7, "<= 0.75"),
                                                        (0.2, 1.0, ">= 0.25")])
def test_the_table_writes_each_kind_of_limit(low_q, high_q, text):
    """A limit with both ends, only an upper end, only a lower end, as the box's quantiles say."""
    x, y = _two_regions(20_000, 1)
    ds = discover(x, y, inputs=["a", "b", "c"], method="cart", min_mass=0.02, boxes=1, seed=1)
    ds["box_low"][0, 0], ds["box_high"][0, 0] = 0.25, 0.75
    ds["box_low_quantile"][0, 0], ds["box_high_quantile"][0, 0] = low_q, high_q
    row = next(line for line in discovery_table(ds).splitlines() if line.strip().startswith("a "))
    assert row.split()[1:1 + len(text.split())] == text.split()


# --------------------------------------------------------------------------- the data discovery reads

def _run_truth(source, event_month: int, **kw):
    """What a plain run of the same scenario and options records per path (draws, outcome codes, cash)."""
    import simulator

    return simulator.run(source, keep_paths=kw["paths"], **kw)


@pytest.mark.parametrize("engine", ["numba", "numpy"])
def test_discovery_data_of_a_scenario_is_its_runs_paths(planted_files, engine):
    """The draws and the per-path event discovery reads from a scenario file are those of a plain run with
    the same paths, seed, overrides and engine: an outcome from its outcome codes, a threshold from its kept
    paths (read a chunk of blocks at a time)."""
    from simulator.studies import discovery_data as dd

    toml, _, _ = planted_files
    opts = {"paths": 1500, "seed": 9, "overrides": ["companies.co.costs.opex=2.5e9"], "engine": engine}
    run = _run_truth(toml, 36, block_size=4096, **opts)
    collapse = dd.discovery_data(toml, "co.collapse@36", threads=1, **opts)
    threshold = dd.discovery_data(toml, "co.cash@36>0", threads=1, **opts)
    assert collapse.scenario.companies[0].costs.opex == 2.5e9
    for data in (collapse, threshold):
        np.testing.assert_array_equal(data.draws, run["input_draw"].values)
        assert data.attrs["seed_entropy"] == "9" and data.attrs["engine"] == engine
    np.testing.assert_array_equal(collapse.y, run["path_outcome"].sel(company="co", horizon=36).values == 2)
    np.testing.assert_array_equal(threshold.y, run["path_cash"].sel(company="co", month=36).values > 0)
    assert 0 < collapse.y.mean() < 1 and 0 < threshold.y.mean() < 1


def test_discovery_data_of_a_threshold_with_competition_reads_the_market_each_chunk(monkeypatch, tmp_path):
    """With competition the kept paths of each chunk of blocks come from the run's own market: the values
    equal a plain run's kept paths, chunk by chunk."""
    import simulator
    from simulator.studies import discovery_data as dd

    text = (ROOT / "scenarios" / "convergence.toml").read_text(encoding="utf-8")
    text = text.replace("imports_per_month = 100 ", 'imports_per_month = { dist = "uniform", low = 0, high = 400 } ', 1)
    path = tmp_path / "convergence_uncertain.toml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setattr(dd, "KEEP_CHUNK_PATHS", 256)
    data = dd.discovery_data(path, "zhipu.revenue@36>1e9", paths=1200, seed=4)
    run = simulator.run(path, paths=1200, seed=4, keep_paths=1200, block_size=data.attrs["block_size"])
    np.testing.assert_array_equal(data.y, run["path_revenue"].sel(company="zhipu", month=36).values > 1e9)
    assert 0 < data.y.mean() < 1


def test_discovery_data_of_a_results_file_names_what_it_lacks(planted_files, tmp_path):
    """A threshold at a month the file did not keep, and one on paths a file did not keep, are one line each;
    a file that kept fewer paths than it drew reads the draws of the kept ones."""
    from simulator.studies import discovery_data as dd

    toml, _, _ = planted_files
    nc = tmp_path / "some.nc"
    assert main(["run", str(toml), "--paths", "3000", "--keep-paths", "1000", "--out", str(nc), "--quiet"]) == 0
    data = dd.discovery_data(nc, "co.cash@36>0")
    ds = xr.open_dataset(nc)
    np.testing.assert_array_equal(data.draws, ds["input_draw"].values[:1000])
    np.testing.assert_array_equal(data.y, ds["path_cash"].sel(company="co", month=36).values > 0)
    assert data.draws.dtype == np.float64 and data.y.dtype == bool and data.scenario.name == "planted"
    ds.close()
    # A file whose kept paths lost months (cut by hand) says which month is missing.
    cut = tmp_path / "cut.nc"
    with xr.open_dataset(nc) as whole:
        whole.isel(month=slice(0, 30)).to_netcdf(cut)
    with pytest.raises(UserError, match=rf"^{re.escape(str(cut))}: co\.cash@36>0: month 36 is not among the kept "
                                        "months$"):
        dd.discovery_data(cut, "co.cash@36>0")
    bare = tmp_path / "bare.nc"
    assert main(["run", str(toml), "--paths", "500", "--out", str(bare), "--quiet"]) == 0
    with pytest.raises(UserError, match=r"needs the kept paths' cash \(path_cash\), which this file does not hold; "
                                        r"run it with `simulator run --keep-paths N`, or give the scenario file$"):
        dd.discovery_data(bare, "co.cash@36>0")


@pytest.mark.parametrize("method", ["prim", "cart"])
def test_the_memory_discovery_counts_bounds_what_it_allocates(method):
    """The estimate the memory check uses for discovery's own arrays is at least the peak that numpy and
    pandas allocate while it runs (tracemalloc, after the libraries are imported and warm)."""
    import tracemalloc

    from simulator.studies import discovery_data as dd

    require_libraries(method)
    for n, k in ((20_000, 3), (30_000, 6)):
        rng = np.random.default_rng(k)
        x = rng.random((n, k))
        y = rng.random(n) < np.where(x[:, 0] > 0.8, 0.9, 0.1)
        names = [f"i{j}" for j in range(k)]
        discover(x[:2000], y[:2000], inputs=names, method=method, seed=1)  # first-call caches
        tracemalloc.start()
        try:
            discover(x, y, inputs=names, method=method, seed=1)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak <= n * (k * dd.BYTES_PER_PATH_INPUT + dd.BYTES_PER_PATH), (n, k, peak)


def test_the_memory_check_of_a_discovery_adds_its_arrays_to_the_runs(planted_files, monkeypatch):
    from simulator.runner import memory
    from simulator.runner.prepared import prepare_run
    from simulator.studies import discovery_data as dd

    toml, _, _ = planted_files
    run = prepare_run(toml, paths=5000, fans=False)
    calls = []
    monkeypatch.setattr(memory, "check", lambda needs, sizes, *, what: calls.append((needs, sizes, what)))
    dd.check_memory(5000, 3, option="--paths", run=run)
    dd.check_memory(7000, 2, option="--samples")
    needs, sizes = run.memory_needs(paths_option="--paths")
    own = memory.Need("discovery's draws and samples", 5000 * (3 * dd.BYTES_PER_PATH_INPUT + dd.BYTES_PER_PATH),
                      ("--paths",))
    assert calls[0] == ([*needs, own], {**sizes, "--paths": 5000}, "discovery over 3 inputs")
    assert calls[1] == ([memory.Need("discovery's draws and samples", 7000 * (2 * dd.BYTES_PER_PATH_INPUT
                                                                           + dd.BYTES_PER_PATH), ("--samples",))],
                        {"--samples": 7000}, "discovery over 2 inputs")


def test_the_table_of_boxes_says_each_number_of_the_held_out_half():
    """The table's header, the held-out share and each box's coverage, density and mass, recounted here on
    the held-out half (Wilson intervals from scipy), the limits in the inputs' units, the free inputs."""
    from importlib import metadata

    from simulator.results.formatting import percent

    n = 20_000
    x, y = _two_regions(n, 1)
    ds = discover(x, y, inputs=["a", "b", "c"], method="cart", min_mass=0.02, boxes=3, seed=1,
                  units={"a": "CNY", "b": "1/year"}, outcome="co.champion@36")
    a, b, c = split_paths(n, 1)
    xc, yc = x[c], y[c]

    def pct(k, m):
        ci = stats.binomtest(int(k), int(m)).proportion_ci(0.95, method="wilson")
        return f"{percent(k / m)} [{percent(ci.low)}, {percent(ci.high)}]"

    lines = discovery_table(ds).splitlines()
    assert lines[:3] == [
        f"Scenario discovery of co.champion@36 by CART (scikit-learn {metadata.version('scikit-learn')})",
        f"{n:,} paths: {a.size:,} to fit, {b.size:,} to choose each box and test its limits, {c.size:,} held out "
        "for the numbers below (95% Wilson intervals).",
        f"Held-out paths with the outcome: {pct(yc.sum(), yc.size)}."]
    in_a = xc[:, 0] <= float(ds["box_high"].sel(box=1, input="a"))
    in_b = ~in_a & (xc[:, 1] >= float(ds["box_low"].sel(box=2, input="b")))
    heads = [line for line in lines if line.startswith("box ")]
    for i, (box, where) in enumerate(((in_a, ""), (in_b, " (paths outside the boxes above)"))):
        assert heads[i] == (f"box {i + 1}{where}: coverage {pct((box & yc).sum(), yc.sum())}, density "
                            f"{pct((box & yc).sum(), box.sum())}, mass {percent(box.mean())}")
    rows = [line.split() for line in lines if line.startswith("  ") and not line.startswith("  input")]
    assert [r[:4] for r in rows] == [["a", "<=", f"{float(ds['box_high'].sel(box=1, input='a')):.4g}", "CNY"],
                                     ["not", "restricted:", "b,", "c"],
                                     ["b", ">=", f"{float(ds['box_low'].sel(box=2, input='b')):.4g}", "1/year"],
                                     ["not", "restricted:", "a,", "c"]]
    assert rows[0][4] == percent(float(np.mean(x[:, 0] <= float(ds["box_high"].sel(box=1, input="a")))))
    no_box = discover(x, np.random.default_rng(0).random(n) < 0.3, inputs=["a", "b", "c"], method="cart", seed=1)
    assert discovery_table(no_box).splitlines()[3:] == [
        "", "No box: no limit on the uncertain inputs raises the share of paths with the outcome significantly on "
        "the selection sample; the outcome is luck more than these inputs."]


def _wilson(k, n) -> list[float]:
    ci = stats.binomtest(int(k), int(n)).proportion_ci(0.95, method="wilson")
    return [ci.low, ci.high]


@pytest.mark.parametrize("method", ["prim", "cart"])
def test_every_number_of_the_boxes_is_recounted_on_the_held_out_half(method):
    """Both planted regions are found, densest first; every held-out number (paths, outcome paths, coverage,
    density, mass and their Wilson intervals, each box counted outside the ones before), the limits' shares of
    the draws, the quasi-p-values' places and the inputs' ranges, recounted here from the box limits."""
    n = 20_000
    x, y = _two_regions(n, 1)
    ds = discover(x, y, inputs=["a", "b", "c"], method=method, min_mass=0.02, boxes=3, seed=1)
    _, _, c = split_paths(n, 1)
    xc, yc = x[c], y[c]
    assert ds.sizes["box"] == 2
    assert ds["restricted"].values.tolist() == [[True, False, False], [False, True, False]]
    lo, hi = ds["box_low"].values, ds["box_high"].values
    np.testing.assert_array_equal(ds["input_low"].values, x.min(axis=0))
    np.testing.assert_array_equal(ds["input_high"].values, x.max(axis=0))
    rest = np.ones(c.size, dtype=bool)
    for i in range(2):
        box = np.all((xc >= lo[i]) & (xc <= hi[i]), axis=1) & rest
        rest &= ~box
        k, m = int((box & yc).sum()), int(box.sum())
        assert (int(ds["box_paths"][i]), int(ds["box_outcome_paths"][i])) == (m, k)
        np.testing.assert_allclose([ds["coverage"][i], ds["density"][i], ds["mass"][i]],
                                   [k / yc.sum(), k / m, m / c.size], rtol=1e-14)
        np.testing.assert_allclose(ds["coverage_ci"][i], _wilson(k, yc.sum()), rtol=1e-9)
        np.testing.assert_allclose(ds["density_ci"][i], _wilson(k, m), rtol=1e-9)
        # Box 1 has an upper limit on a, box 2 a lower limit on b.
        upper, lower = (i == 0) & np.array([True, False, False]), (i == 1) & np.array([False, True, False])
        np.testing.assert_allclose(ds["box_low_quantile"][i],
                                   np.where(lower, [np.mean(x[:, j] < lo[i, j]) for j in range(3)], 0.0), rtol=1e-14)
        np.testing.assert_allclose(ds["box_high_quantile"][i],
                                   np.where(upper, [np.mean(x[:, j] <= hi[i, j]) for j in range(3)], 1.0), rtol=1e-14)
        qp = ds["quasi_p"].values[i]
        assert np.isfinite(qp).tolist() == [[bool(lw), bool(up)] for lw, up in zip(lower, upper, strict=True)]
    assert 0.85 < float(ds["density"][0]) < 0.95 and 0.5 < float(ds["density"][1]) < 0.7
    np.testing.assert_allclose(ds["outcome_share"], yc.mean(), rtol=1e-14)
    np.testing.assert_allclose(ds["outcome_share_ci"], _wilson(yc.sum(), yc.size), rtol=1e-9)
    if method == "cart":
        # The trade-off's steps are unions of leaves: a <= t_a; then also b > t_b; then everything.
        in_a = xc[:, 0] <= hi[0, 0]
        steps = [in_a, in_a | (xc[:, 1] >= lo[1, 1]), np.ones(c.size, dtype=bool)]
        for name, values in (("coverage", [(s & yc).sum() / yc.sum() for s in steps]),
                             ("density", [(s & yc).sum() / s.sum() for s in steps]),
                             ("mass", [s.mean() for s in steps])):
            np.testing.assert_allclose(ds[f"trajectory_{name}"].values, values, rtol=1e-14, err_msg=name)
        assert ds["trajectory_restricted"].values.tolist() == [1, 2, 2]


@pytest.mark.parametrize(("counts", "chosen"), [
    ([[0, 0], [100, 50], [50, 40], [10, 9]], 3),  # a step without paths is never the best
    ([[100, 50], [1, 1], [50, 45]], 1),          # one path, all with the outcome: density 1, no spread
    ([[200, 180], [12, 11]], 0),                 # the best is within one standard error of the first
])
def test_one_standard_error_rule(counts, chosen):
    from simulator.studies.discovery import one_standard_error

    assert one_standard_error(np.asarray(counts)) == chosen

