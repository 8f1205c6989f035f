"""Every figure checked by content: the data it plots, read back from its matplotlib artists
(Line2D data, bar rectangles, fill_between polygons, error-bar segments, scatter offsets, image
arrays), against the Dataset it was drawn from.

The checks look for the expected data among the artists, not for a style: a figure restyled
keeps passing, a figure that plots the wrong variable, level, company or horizon does not.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from matplotlib.collections import LineCollection, PathCollection, PolyCollection
from matplotlib.patches import Rectangle

import simulator
from simulator.report import figures as plots
from simulator.studies.attribution import attribute
from simulator.studies.sensitivity import sensitivity
from simulator.studies.sweep import sweep

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
LEVELS = (0.05, 0.10, 0.25, 0.5, 0.75, 0.90, 0.95)


# --------------------------------------------------------------------------- reading artists


def _close(a, b) -> bool:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.shape == b.shape and np.allclose(a, b, rtol=1e-9, atol=0, equal_nan=True)


def has_line(ax, x, y) -> bool:
    """Some Line2D of ``ax`` plots exactly (x, y)."""
    return any(_close(line.get_xdata(), x) and _close(line.get_ydata(), y) for line in ax.lines)


def has_band(ax, x, low, high) -> bool:
    """Some filled polygon of ``ax`` spans [low, high] at each x (fill_between)."""
    x, low, high = (np.asarray(v, dtype=float) for v in (x, low, high))
    for coll in ax.collections:
        if not isinstance(coll, PolyCollection) or not coll.get_paths():
            continue
        v = np.concatenate([p.vertices for p in coll.get_paths()])
        ok = True
        for xi, lo, hi in zip(x, low, high, strict=True):
            ys = v[np.isclose(v[:, 0], xi, rtol=1e-12, atol=0), 1]
            if ys.size == 0 or not (np.isclose(ys.min(), lo, rtol=1e-9) and np.isclose(ys.max(), hi, rtol=1e-9)):
                ok = False
                break
        if ok:
            return True
    return False


def segments(ax) -> list[np.ndarray]:
    """Every two-point segment of the line collections of ``ax`` (error bars, hlines)."""
    out = []
    for coll in ax.collections:
        if isinstance(coll, LineCollection):
            out.extend(np.asarray(s, dtype=float) for s in coll.get_segments() if len(s) == 2)
    return out


def has_segment(ax, start, end) -> bool:
    return any(_close(s[0], start) and _close(s[1], end) for s in segments(ax))


def bars(ax) -> np.ndarray:
    """(x, y, width, height) of every bar of ``ax``."""
    return np.asarray([(p.get_x(), p.get_y(), p.get_width(), p.get_height()) for p in ax.patches
                       if isinstance(p, Rectangle)], dtype=float).reshape(-1, 4)


def same_values(got, want) -> bool:
    """The same numbers, in any order."""
    got, want = np.sort(np.ravel(np.asarray(got, float))), np.sort(np.ravel(np.asarray(want, float)))
    return got.shape == want.shape and np.allclose(got, want, rtol=1e-9, atol=1e-15)


def panels(fig, names) -> dict:
    """The visible axes whose title starts with each name."""
    out = {}
    for name in names:
        found = [ax for ax in fig.axes if ax.get_visible() and ax.get_title().startswith(str(name))]
        assert found, (name, [ax.get_title() for ax in fig.axes])
        out[str(name)] = found[0]
    return out


def _q(da: xr.DataArray, level: float) -> np.ndarray:
    return np.asarray(da.sel(quantile=level).values, dtype=float)


# --------------------------------------------------------------------------- run figures


@pytest.fixture(scope="module")
def zhipu_ds():
    return simulator.run(SCENARIOS / "zhipu_base.toml", paths=1500, seed=2)


@pytest.fixture(scope="module")
def sector_ds():
    return simulator.run(SCENARIOS / "sector_portfolio.toml", paths=1500, seed=2, keep_paths=200,
                         overrides=["outcomes.champion_valuation_ratio=0.6",
                                    "outcomes.champion_max_price_to_sales=3000"])


def _labelled_floor(positive: np.ndarray) -> float:
    raw = float(positive.min()) / 3.0
    decade = 10.0 ** np.floor(np.log10(raw))
    if np.log10(float(positive.max()) / raw) >= 2.5:
        return float(decade)
    return float(max(step * decade for step in (1.0, 2.0, 5.0) if step * decade <= raw * (1 + 1e-12)))


@pytest.mark.parametrize("which", ["zhipu_ds", "sector_ds"])
def test_valuation_fan_plots_the_quantiles_v0_and_fundamental_value(which, request):
    ds = request.getfixturevalue(which)
    fig = plots.valuation_fan(ds)
    months = ds["month"].values
    for company, ax in panels(fig, ds["company"].values).items():
        sel = ds.sel(company=company)
        vq = sel["valuation_quantile"]
        floor = ax.get_ylim()[0]
        clip = {lv: np.maximum(_q(vq, lv), floor) for lv in (0.05, 0.25, 0.5, 0.75, 0.95)}
        assert has_line(ax, months, clip[0.5]), company
        assert has_band(ax, months, clip[0.05], clip[0.95]), company
        assert has_band(ax, months, clip[0.25], clip[0.75]), company
        v0 = float(sel["valuation_start"])
        assert any(_close(line.get_ydata(), [v0, v0]) for line in ax.lines), "V0 line"
        fv = float(sel["fundamental_value"])
        lo, hi = sel["fundamental_value_ci"].values
        if fv > 0:
            # A point at month 0 (known at the start only, issue 16), not a line across the months.
            assert any(_close(line.get_xdata(), [months[0]]) and _close(line.get_ydata(), [fv])
                       for line in ax.lines), "fundamental value point"
            assert not any(_close(line.get_ydata(), [fv, fv]) for line in ax.lines), "no fundamental value line"
            assert has_segment(ax, [months[0], max(lo, floor)], [months[0], hi]), "fundamental value CI"


@pytest.mark.parametrize("which", ["zhipu_ds", "sector_ds"])
def test_outcome_bars_are_the_probabilities_with_their_intervals(which, request):
    ds = request.getfixturevalue(which)
    fig = plots.outcome_probabilities(ds)
    outcomes = list(ds["outcome"].values)
    for company, ax in panels(fig, ds["company"].values).items():
        b = bars(ax)
        b = b[np.argsort(b[:, 0])]  # by position: horizon by horizon, outcome by outcome
        p = ds["probability"].sel(company=company).transpose("horizon", "outcome").sel(outcome=outcomes).values
        ci = ds["probability_ci"].sel(company=company).transpose("horizon", "outcome", "bound").sel(
            outcome=outcomes).values
        np.testing.assert_allclose(b[:, 3], p.ravel(), rtol=1e-12)
        assert np.all(b[:, 1] == 0)
        centres = b[:, 0] + b[:, 2] / 2
        for x, (lo, hi) in zip(centres, ci.reshape(-1, 2), strict=True):
            assert has_segment(ax, [x, lo], [x, hi]), (company, x, lo, hi)


def test_valuation_distribution_from_quantiles(zhipu_ds):
    ds = zhipu_ds
    assert plots.distribution_mode(ds) == "quantiles"
    fig = plots.valuation_distribution(ds)
    horizons = ds["horizon"].values
    y = np.arange(len(horizons))[::-1]
    for company, ax in panels(fig, ds["company"].values).items():
        vq = ds["valuation_quantile"].sel(company=company, month=horizons)
        q = {lv: _q(vq, lv) for lv in LEVELS}
        # The floor of a log axis: a third of the smallest positive value drawn, rounded down to a
        # labelled tick (1-2-5 steps under 2.5 decades, else a decade; issue 16).
        values = np.concatenate([*q.values(), [0.3 * float(ds["valuation_start"].sel(company=company))]])
        floor = _labelled_floor(values[values > 0])
        c = {lv: np.maximum(v, floor) for lv, v in q.items()}
        for yi, lo, hi in zip(y, c[0.05], c[0.95], strict=True):
            assert has_segment(ax, [lo, yi], [hi, yi]), (company, yi)
        b = bars(ax)
        b = b[np.argsort(-b[:, 1])]  # top row (first horizon) first
        np.testing.assert_allclose(b[:, 0], c[0.25], rtol=1e-12)
        np.testing.assert_allclose(b[:, 0] + b[:, 2], c[0.75], rtol=1e-9)
        for lv in (0.10, 0.5, 0.90):
            assert has_line(ax, c[lv], y), (company, lv)


def test_valuation_distribution_histograms_are_the_kept_paths(sector_ds):
    ds = sector_ds
    assert plots.distribution_mode(ds) == "histogram"
    fig = plots.valuation_distribution(ds)
    horizons = [int(h) for h in ds["horizon"].values]
    y = np.arange(len(horizons))[::-1]
    n = ds.sizes["path"]
    for company, ax in panels(fig, ds["company"].values).items():
        steps = [line for line in ax.lines if len(line.get_xdata()) > 10]
        assert len(steps) == len(horizons)
        scale = None
        for line, yi, h in zip(steps, y, horizons, strict=True):
            edges = np.asarray(line.get_xdata(), dtype=float)
            v = ds["path_valuation"].sel(company=company, month=h).values.astype(float)
            positive = v[np.isfinite(v) & (v > 0)]
            share = np.histogram(np.clip(positive, edges[0], edges[-1]), bins=edges)[0] / n
            heights = (np.asarray(line.get_ydata(), dtype=float) - yi)[:-1]
            # One scale for every horizon of the panel: heights are shares of the kept paths.
            k = heights.max() / share.max()
            scale = k if scale is None else scale
            np.testing.assert_allclose(heights, share * scale, rtol=1e-9, atol=1e-12)
            zero = 1.0 - positive.size / n
            label = [t.get_text() for t in ax.get_yticklabels()][list(y).index(yi)]
            assert label.startswith(f"{h} m") and ((f"{100 * zero:.0f}% at 0" in label) == (zero > 0)), label


@pytest.mark.parametrize("which", ["zhipu_ds", "sector_ds"])
def test_survival_curves_are_the_survival_with_intervals(which, request):
    ds = request.getfixturevalue(which)
    fig = plots.survival_curve(ds)
    ax = next(a for a in fig.axes if a.get_visible())
    months = ds["month"].values
    for company in ds["company"].values:
        s = ds["survival"].sel(company=company).values
        ci = ds["survival_ci"].sel(company=company).values
        assert has_line(ax, months, s), company
        assert has_band(ax, months, ci[:, 0], ci[:, 1]), company


@pytest.mark.parametrize("which", ["zhipu_ds", "sector_ds"])
def test_revenue_capacity_and_margin_fans(which, request):
    ds = request.getfixturevalue(which)
    fig = plots.revenue_capacity(ds)
    months = ds["month"].values
    for company in ds["company"].values:
        ax = panels(fig, [f"{company}: revenue"])[f"{company}: revenue"]
        axm = panels(fig, [f"{company}: gross margin"])[f"{company}: gross margin"]
        sel = ds.sel(company=company)
        floor = ax.get_ylim()[0]
        r = {lv: np.maximum(_q(sel["revenue_quantile"], lv), floor) for lv in (0.05, 0.25, 0.5, 0.75, 0.95)}
        assert has_line(ax, months, r[0.5]) and has_band(ax, months, r[0.05], r[0.95])
        assert has_band(ax, months, r[0.25], r[0.75])
        cap = _q(sel["capacity_quantile"], 0.5)
        if np.any(np.isfinite(cap) & (cap > 0)):
            assert has_line(ax, months, np.where(np.isfinite(cap), np.maximum(cap, floor), np.nan)), company
        g = {lv: _q(sel["gross_margin_quantile"], lv) for lv in (0.05, 0.25, 0.5, 0.75, 0.95)}
        assert has_line(axm, months, g[0.5]) and has_band(axm, months, g[0.05], g[0.95])
        assert has_band(axm, months, g[0.25], g[0.75])


@pytest.mark.parametrize("which", ["zhipu_ds", "sector_ds"])
def test_valuation_decomposition_bars_add_up_to_v0(which, request):
    ds = request.getfixturevalue(which)
    fig = plots.valuation_decomposition(ds)
    names = list(ds["company"].values)
    ax, axl = fig.axes[0], fig.axes[1]
    v0 = ds["valuation_start"].values
    fv = ds["fundamental_value"].values
    bv = ds["business_value"].values
    fv_bar = np.maximum(fv, 0.0)
    b = bars(ax)
    y = np.arange(len(names))[::-1]
    for yi, v, f in zip(y, v0, fv_bar, strict=True):
        row = b[np.isclose(b[:, 1] + b[:, 3] / 2, yi)]
        row = row[np.argsort(row[:, 0])]
        # Equity value from 0, the premium on top of it: the bar ends at V0.
        np.testing.assert_allclose(row[:, 0], [0.0, f], atol=1e-6 * v)
        np.testing.assert_allclose(row[:, 2], [f, v - f], rtol=1e-12, atol=1e-6 * v)
        premium = float(ds["narrative_premium"].isel(company=list(y).index(yi)))
        np.testing.assert_allclose(v - f, premium, rtol=1e-9)
    assert has_line(ax, bv, y)  # the business value markers
    lo, hi = ds["business_value_ci"].values.T
    for yi, a, c in zip(y, lo, hi, strict=True):
        assert has_segment(ax, [a, yi], [c, yi])
    assert has_line(axl, v0, y)  # V0 on the log panel
    positive = fv > 0
    if positive.any():
        assert has_line(axl, fv[positive], y[positive])


def test_any_champion_against_each_companys_champion_probability(sector_ds):
    ds = sector_ds
    fig = plots.any_champion(ds)
    ax = fig.axes[0]
    horizons = ds["horizon"].values.astype(float)

    def plotted(y, ci):
        for line in ax.lines:
            x = np.asarray(line.get_xdata(), dtype=float)
            if _close(line.get_ydata(), y) and x.shape == horizons.shape and np.all(np.abs(x - horizons) < 1):
                return all(has_segment(ax, [xi, lo], [xi, hi]) for xi, (lo, hi) in zip(x, ci, strict=True))
        return False

    assert plotted(ds["any_champion"].values, ds["any_champion_ci"].values)
    for company in ds["company"].values:
        sel = {"company": company, "outcome": "champion"}
        assert plotted(ds["probability"].sel(sel).values, ds["probability_ci"].sel(sel).values), company
    assert float(ds["any_champion"].max()) > 0  # champions exist: the check is not on zeros


# --------------------------------------------------------------------------- study figures

STUDIED = ["companies.zhipu.chips.imports_per_month=0:500", "companies.zhipu.funding.backstop_probability=0:1",
           "companies.zhipu.growth.initial=0.4:0.9"]


def test_tornado_bars_are_the_swings():
    ds = sensitivity(SCENARIOS / "zhipu_base.toml", method="oat", params=STUDIED, paths=400, seed=1,
                     outputs=["zhipu.collapse@36"])
    fig = plots.sensitivity_tornado(ds, output="zhipu.collapse@36")
    sub = ds.sel(output="zhipu.collapse@36")
    base = float(sub["base"])
    b = bars(fig.axes[0])
    np.testing.assert_allclose(b[:, 0], base, rtol=1e-12)
    assert same_values(b[:, 2], np.concatenate([sub["low"].values - base, sub["high"].values - base]))
    # Ranked by swing: the widest bar on top.
    swing = {round(y + h / 2, 6): 0.0 for _, y, _, h in b}
    for _, y, w, h in b:
        swing[round(y + h / 2, 6)] += abs(w)
    order = [swing[k] for k in sorted(swing, reverse=True)]
    assert order == sorted(order, reverse=True)


def test_sobol_bars_are_the_indices_with_their_intervals():
    ds = xr.Dataset({"S1": ("parameter", [0.5, 0.1, 0.2]), "ST": ("parameter", [0.6, 0.15, 0.3]),
                     "S1_conf": ("parameter", [0.05, 0.02, 0.03]), "ST_conf": ("parameter", [0.04, 0.01, 0.06])},
                    coords={"parameter": [s.split("=")[0] for s in STUDIED]},
                    attrs={"scenario_name": "zhipu_base", "output": "zhipu.champion@36"})
    fig = plots.sensitivity_sobol(ds)
    ax = fig.axes[0]
    b = bars(ax)
    assert same_values(b[:, 2], np.concatenate([ds["S1"].values, ds["ST"].values]))
    for value, conf in ((ds["S1"].values, ds["S1_conf"].values), (ds["ST"].values, ds["ST_conf"].values)):
        for v, c in zip(value, conf, strict=True):
            row = b[np.isclose(b[:, 2], v)][0]
            yc = row[1] + row[3] / 2
            assert has_segment(ax, [v - c, yc], [v + c, yc]), (v, c)


def test_morris_bars_and_scatter_are_mu_star_and_sigma():
    ds = sensitivity(SCENARIOS / "zhipu_base.toml", method="morris", params=STUDIED, samples=4, paths=400, seed=1,
                     outputs=["zhipu.collapse@36"])
    fig = plots.sensitivity_morris(ds, output="zhipu.collapse@36")
    sub = ds.sel(output="zhipu.collapse@36")
    ax, axs = fig.axes[0], fig.axes[1]
    assert same_values(bars(ax)[:, 2], sub["mu_star"].values)
    offsets = np.concatenate([c.get_offsets() for c in axs.collections if isinstance(c, PathCollection)])
    want = np.stack([sub["mu_star"].values, sub["sigma"].values], axis=-1)
    assert same_values(offsets[np.lexsort(offsets.T[::-1])], want[np.lexsort(want.T[::-1])])


def test_given_data_bars_are_the_indices(uncertain_toml):
    out = "zhipu.champion@36"
    ds = sensitivity(uncertain_toml, method="given-data", paths=2000, seed=1, outputs=[out])
    fig = plots.sensitivity_given_data(ds, output=out)
    sub = ds.sel(output=out)
    shown = [ax for ax in fig.axes if ax.get_visible()]
    panels_ = [(name, bounds) for name, bounds in (("rbd_fast_S1", ("rbd_fast_S1_conf",)), ("delta", ("delta_conf",)),
                                                   ("pawn_median", ("pawn_minimum", "pawn_maximum"))) if name in sub]
    assert len(shown) == len(panels_) == 3
    for ax, (name, bounds) in zip(shown, panels_, strict=True):
        values = sub[name].values.astype(float)
        b = bars(ax)
        assert same_values(b[:, 2], values), name
        if len(bounds) == 1:
            lo, hi = values - np.abs(sub[bounds[0]].values), values + np.abs(sub[bounds[0]].values)
        else:
            lo, hi = np.minimum(sub[bounds[0]].values, values), np.maximum(sub[bounds[1]].values, values)
        for v, a, c in zip(values, lo, hi, strict=True):
            yc = b[np.isclose(b[:, 2], v)][0]
            yc = yc[1] + yc[3] / 2
            assert has_segment(ax, [a, yc], [c, yc]), (name, v, a, c)


def test_attribution_bars_are_the_median_shifts(uncertain_toml):
    run = simulator.run(uncertain_toml, paths=2000, seed=1)
    ds = attribute(run["input_draw"].values, run["path_outcome"].values, inputs=list(run["input"].values),
                   companies=["zhipu"], horizons=list(run["horizon"].values))
    fig = plots.attribution_shifts(ds, company="zhipu", horizon=36)
    sub = ds.sel(company="zhipu", horizon=36)
    shown = [ax for ax in fig.axes if ax.get_visible() and bars(ax).size]
    assert len(shown) == sub.sizes["outcome"]
    for ax, outcome in zip(shown, sub["outcome"].values, strict=True):
        s = np.nan_to_num(sub["median_shift"].sel(outcome=outcome).values.astype(float))
        assert same_values(bars(ax)[:, 2], s), outcome
        ci = sub["median_shift_ci"].sel(outcome=outcome).values
        extents = {(round(a[0][0], 12), round(a[1][0], 12)) for a in segments(ax)}
        for (lo, hi), v in zip(ci, s, strict=True):
            if np.isfinite(lo) and np.isfinite(v):
                assert (round(min(lo, v), 12), round(max(hi, v), 12)) in extents, (outcome, lo, hi)


def test_sweep_heatmap_image_is_the_probability_grid():
    keys = ("companies.zhipu.chips.imports_per_month", "sector.events.export_control_escalation.hazard_per_year")
    ds = sweep(SCENARIOS / "zhipu_base.toml", [f"{keys[0]}=0:500:3", f"{keys[1]}=0.5:2:4"], paths=300, seed=1,
               quantiles=False)
    for outcome in ("champion", "collapse"):
        fig = plots.sweep_heatmap(ds, outcome=outcome)
        image = fig.axes[0].images[0]
        p = ds["probability"].sel(company="zhipu", horizon=36, outcome=outcome).transpose(*keys).values
        np.testing.assert_array_equal(np.asarray(image.get_array()), p)


def test_sweep_lines_are_the_probabilities_with_intervals():
    key = "sector.events.export_control_escalation.hazard_per_year"
    ds = sweep(SCENARIOS / "sector_portfolio.toml", [f"{key}=0.5:2:4"], paths=300, seed=1, quantiles=False)
    fig = plots.sweep_lines(ds)
    x = ds[key].values
    for outcome in ds["outcome"].values:
        ax = panels(fig, [f"P({outcome})"])[f"P({outcome})"]
        for company in ds["company"].values:
            sel = {"company": company, "horizon": 36, "outcome": outcome}
            p = ds["probability"].sel(sel).values
            ci = ds["probability_ci"].sel(sel).transpose(key, "bound").values
            assert has_line(ax, x, p), (outcome, company)
            assert has_band(ax, x, ci[:, 0], ci[:, 1]), (outcome, company)


def test_batch_summary_markers_are_each_scenarios_probabilities(tmp_path):
    from simulator.cli import main

    files = []
    for name in ("zhipu_base", "sector_portfolio"):
        text = (SCENARIOS / f"{name}.toml").read_text(encoding="utf-8")
        path = tmp_path / f"{name}.toml"
        path.write_text(text, encoding="utf-8")
        files.append(str(path))
    assert main(["batch", *files, "--out", str(tmp_path / "out"), "--paths", "500", "--quiet"]) == 0
    runs = [simulator.open_results(tmp_path / "out" / f"{n}.nc") for n in ("zhipu_base", "sector_portfolio")]
    # The figure's own input shape: probability over (scenario, company, horizon, outcome).
    companies = sorted({str(c) for ds in runs for c in ds["company"].values})
    p = np.full((2, len(companies), 4, 3), np.nan)
    ci = np.full((2, len(companies), 4, 3, 2), np.nan)
    for s, ds in enumerate(runs):
        for company in ds["company"].values:
            c = companies.index(str(company))
            p[s, c] = ds["probability"].sel(company=company).values
            ci[s, c] = ds["probability_ci"].sel(company=company).values
    table = xr.Dataset({"probability": (("scenario", "company", "horizon", "outcome"), p),
                        "probability_ci": (("scenario", "company", "horizon", "outcome", "bound"), ci)},
                       coords={"scenario": ["zhipu_base", "sector_portfolio"], "company": companies,
                               "horizon": runs[0]["horizon"].values, "outcome": runs[0]["outcome"].values,
                               "bound": ["low", "high"]})
    fig = plots.batch_summary(table)
    ax = fig.axes[0]
    rows = [(s, c) for s in range(2) for c in range(len(companies)) if np.isfinite(p[s, c]).any()]
    for k, outcome in enumerate(runs[0]["outcome"].values):
        want = np.array([p[s, c, -1, k] for s, c in rows])
        assert any(_close(line.get_xdata(), want) for line in ax.lines), outcome
        for (s, c), v in zip(rows, want, strict=True):
            lo, hi = ci[s, c, -1, k]
            assert any(_close(seg[:, 0], [lo, hi]) for seg in segments(ax)), (outcome, s, c, v)
