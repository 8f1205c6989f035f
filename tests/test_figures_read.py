"""Figures that do not mislead a reader: what each draws, checked on the drawn artists."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.collections import PolyCollection

import simulator
from simulator.report import figures as plots
from simulator.studies.sensitivity import sensitivity
from simulator.studies.sweep import sweep

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


@pytest.fixture(scope="module")
def zhipu():
    return simulator.run(SCENARIOS / "zhipu_base.toml", paths=20_000, seed=3)


def _texts(fig) -> list[str]:
    return [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]


def _bottom_is_labelled(ax) -> bool:
    ax.figure.canvas.draw()
    bottom = ax.get_ylim()[0]
    return any(np.isclose(t.get_loc(), bottom, rtol=1e-9) and t.label1.get_text()
               for t in ax.yaxis.get_major_ticks())


def test_fan_draws_the_fundamental_value_as_a_point_at_month_0_not_a_line(zhipu):
    fig = plots.valuation_fan(zhipu)
    ax = fig.axes[0]
    fv = float(zhipu["fundamental_value"].sel(company="zhipu"))
    flat_at_fv = [line for line in ax.get_lines() if np.size(line.get_ydata()) > 1
                  and np.allclose(np.asarray(line.get_ydata(), dtype=float), fv)]
    assert not flat_at_fv
    points = [line for line in ax.get_lines() if line.get_marker() == "D"]
    assert points and all(not line.get_clip_on() for line in points)  # over the spine, not behind it
    assert np.asarray(points[0].get_xdata(), dtype=float).tolist() == [0.0]
    legend = fig.legends[0]
    assert not any(h.get_marker() not in ("None", "", None, "D") for h in legend.legend_handles
                   if hasattr(h, "get_marker"))  # no arrow the plot never draws
    assert _bottom_is_labelled(ax)


def test_capacity_does_not_cover_revenue_nor_collapse_with_failed_paths(zhipu):
    fig = plots.revenue_capacity(zhipu)
    ax = fig.axes[0]
    assert not [c for c in ax.collections if isinstance(c, PolyCollection) and c.get_hatch()]
    capacity = zhipu["capacity_quantile"].sel(company="zhipu", quantile=0.05).values
    assert np.any(capacity <= 0)  # failed paths: 0 cards at the 5% level late in the run
    dotted = [line for line in ax.get_lines() if line.get_linestyle() == ":"]
    low = min(dotted, key=lambda line: np.nanmin(np.asarray(line.get_ydata(), dtype=float)))
    y = np.asarray(low.get_ydata(), dtype=float)
    assert np.all(np.isnan(y[capacity <= 0]))  # not drawn down to the floor
    assert _bottom_is_labelled(ax)


def test_decomposition_labels_v0_as_it_labels_the_fundamental_value(zhipu):
    texts = _texts(plots.valuation_decomposition(zhipu))
    assert "V0 700B" in texts and any(t.startswith("equity ") for t in texts)


def test_kept_path_histogram_says_it_shows_the_kept_paths():
    ds = simulator.run(SCENARIOS / "zhipu_base.toml", paths=3000, seed=1, keep_paths=500)
    fig = plots.valuation_distribution(ds)
    title = fig.get_suptitle().replace("\n", " ")
    assert "the 500 kept paths of 3,000" in title and "(3,000 paths)" not in title


def test_heatmap_and_tornado_write_swept_values_in_their_natural_format():
    key = "companies.zhipu.chips.imports_per_month"
    ds = sweep(SCENARIOS / "zhipu_base.toml", [f"{key}=0:2000:4", "companies.zhipu.growth.kappa=0.2:0.8:2"],
               paths=200, seed=1, quantiles=False)
    fig = plots.sweep_heatmap(ds, outcome="collapse")
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["0", "667", "1330", "2000"]
    oat = sensitivity(SCENARIOS / "zhipu_base.toml", method="oat", params=["companies.zhipu.growth.initial=0.4:0.9",
                      "companies.zhipu.funding.backstop=1e9:9e9"], paths=200, seed=1, outputs=["zhipu.collapse@36"])
    labels = " ".join(t.get_text() for t in plots.sensitivity_tornado(oat).axes[0].get_yticklabels())
    assert "[1.00B .. 9.00B]" in labels and "[0.4 .. 0.9]" in labels


def test_given_data_panels_keep_their_tick_labels_apart():
    text = (SCENARIOS / "zhipu_base.toml").read_text()
    text = text.replace("initial = 0.66 ", 'initial = { dist = "uniform", low = 0.4, high = 0.9 } ')
    text = text.replace("long_run = 0.35 ", 'long_run = { dist = "uniform", low = 0.2, high = 0.5 } ')
    sc = simulator.parse_scenario(text, source="u.toml")
    ds = sensitivity(sc, method="given-data", paths=3000, seed=1, outputs=["zhipu.collapse@36"])
    fig = plots.sensitivity_given_data(ds)
    fig.canvas.draw()
    shown = [t for ax in fig.axes for t in ax.get_xticklabels()
             if t.get_text() and min(ax.get_xlim()) <= t.get_position()[0] <= max(ax.get_xlim())]
    assert len(shown) >= 6
    boxes = [t.get_window_extent() for t in shown]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.overlaps(b)
    assert all(len(t.get_text()) <= 5 for ax in fig.axes for t in ax.get_xticklabels())
