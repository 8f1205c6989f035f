"""The reports of studies: sweeps, sensitivity (OAT, Morris, Sobol, given-data), attribution, discovery, batches.

May import: every layer below :mod:`simulator.report`, and the modules of :mod:`simulator.report`.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import xarray as xr

from simulator.model.parameters import parameter_units
from simulator.report.document import (
    Doc,
    FigureBlock,
    change_text,
    figures_section,
    index_text,
    json_attr,
    notes_section,
    pct,
    pct_ci,
    save_figure,
    shorten,
    slug,
    value_text,
)
from simulator.report.kinds import GIVEN_DATA, KIND_LABELS
from simulator.report.run_report import assumptions_section
from simulator.results.formatting import key_values_text

__all__ = ["SWEEP_TABLE_ROWS", "attribution_report", "batch_report", "discovery_report", "given_data_report", "morris_report", "sobol_report", "study_report", "sweep_report", "tornado_report"]


#: Rows of the grid table of a sweep report at most (the results file holds every number).
SWEEP_TABLE_ROWS = 400


def _outputs(ds: xr.Dataset, var: str) -> list[str | None]:
    """The outputs of a sensitivity result; ``[None]`` for a Dataset without an ``output`` dimension."""
    if "output" in ds[var].dims:
        return [str(o) for o in ds["output"].values]
    return [None]


def _at_output(ds: xr.Dataset, output: str | None) -> xr.Dataset:
    return ds if output is None else ds.sel(output=output)


def _stem(base: str, output: str | None, outputs: list) -> str:
    """File stem of a per-output figure (no suffix when there is one output)."""
    return base if len(outputs) == 1 or output is None else f"{base}_{slug(output)}"


def study_report(ds: xr.Dataset, kind: str, doc: Doc, out: Path) -> None:
    """Figures and the numbers behind them of a study result (every kind but ``run``)."""
    if ds.attrs.get("scenario_description"):
        doc.p(" ".join(str(ds.attrs["scenario_description"]).split()))
    sections = {"sweep": sweep_report, "tornado": tornado_report, "sobol": sobol_report,
                "morris": morris_report, "given-data": given_data_report, "attribution": attribution_report,
                "discovery": discovery_report, "batch": batch_report}
    sections[kind](ds, doc, out)
    if kind != "batch" and ds.attrs.get("scenario_text"):
        assumptions_section(ds, doc)


def sweep_report(ds: xr.Dataset, doc: Doc, out: Path) -> None:
    from simulator.report import figures as plots

    swept = plots.swept_dims(ds)
    companies = [str(c) for c in ds["company"].values]
    h = int(ds["horizon"].values[-1])
    points = int(np.prod([ds.sizes[d] for d in swept]))
    paths = ds.attrs.get("paths")
    doc.p(f"A sweep of {len(swept)} key{'s' if len(swept) > 1 else ''}: {points:,} grid points"
          + (f" x {int(paths):,} paths" if paths else "") + f". Probabilities at {h} months, 95% Wilson "
          "intervals in brackets.")
    if ds.attrs.get("note"):
        doc.p(f"Intervals: {ds.attrs['note']}.")
    cur = str(ds.attrs.get("currency", ""))
    doc.table(["swept key", "units", "values"],
              [[d, parameter_units(d, cur) or "n/a", ", ".join(key_values_text(ds[d].values, parameter_units(d, cur), cur))]
               for d in swept], align="lll")
    figures = []
    if len(swept) == 1:
        fig = plots.sweep_lines(ds)
        figures.append(FigureBlock(
            "sweep", f"Outcomes against {swept[0]}",
            f"P(champion), P(contested), P(collapse) and the champion share at {h} months against the swept value, "
            "one line per company (line style and marker differ) with its 95% Wilson interval shaded; dashed "
            "vertical line: the scenario's own value. All grid points share their random numbers, so the "
            "differences between neighbouring points are more precise than the bands suggest.",
            save_figure(fig, out, "sweep")))
    else:
        where = plots.sweep_slice(ds)
        held = "; ".join(f"{k} = {v:g}" for k, v in where.items())
        if where:
            doc.p(f"A sweep of {len(swept)} keys: the heatmaps show the first two, with the other swept keys held "
                  f"at the middle of their values ({held}); the table lists every grid point. Other slices: "
                  "`simulator.report.figures.sweep_heatmap(ds, fixed={key: value})`.")
        for company in companies:
            for outcome in ("champion", "collapse"):
                fig = plots.sweep_heatmap(ds, company=company, outcome=outcome)
                stem = f"sweep_{slug(company)}_{outcome}"
                figures.append(FigureBlock(
                    stem, f"P({outcome}) of {company} over the sweep",
                    f"Probability of the {outcome} outcome at {h} months for each pair of values of the first two "
                    "swept keys (cell labels in percent; the colour scale ends at the largest value)"
                    + (f", with {held}" if where else "") + ".", save_figure(fig, out, stem)))
    figures_section(doc, figures)
    doc.h(2, "Grid points")
    _sweep_table(ds, doc, swept, h)


def _sweep_table(ds: xr.Dataset, doc: Doc, swept: list[str], h: int) -> None:
    """Every grid point and company: outcome probabilities [95% CI] and the champion share at month ``h``."""

    sub = ds.sel(horizon=h)
    companies = [str(c) for c in ds["company"].values]
    outcomes = ["champion", "contested", "collapse"]
    n_c = len(companies)
    # Arrays in grid order (first key slowest), as itertools.product walks the grid.
    p = sub["probability"].sel(outcome=outcomes).transpose(*swept, "company", "outcome").values.reshape(-1, n_c, 3)
    ci = (sub["probability_ci"].sel(outcome=outcomes).transpose(*swept, "company", "outcome", "bound")
          .values.reshape(-1, n_c, 3, 2) if "probability_ci" in ds.variables else None)
    share = (sub["champion_share"].transpose(*swept, "company").values.reshape(-1, n_c)
             if "champion_share" in ds.variables else None)
    share_ci = (sub["champion_share_ci"].transpose(*swept, "company", "bound").values.reshape(-1, n_c, 2)
                if "champion_share_ci" in ds.variables else None)

    def cell(value, interval) -> str:
        return pct(value) if interval is None else pct_ci(value, *interval)

    cur = str(ds.attrs.get("currency", ""))
    texts = [dict(zip((float(v) for v in ds[d].values), key_values_text(ds[d].values, parameter_units(d, cur), cur),
                      strict=True)) for d in swept]
    rows = []
    for i, point in enumerate(itertools.product(*(ds[d].values for d in swept))):
        for c, company in enumerate(companies):
            if np.all(np.isnan(p[i, c])):
                continue  # a company absent from this grid point
            row = [texts[k][float(v)] for k, v in enumerate(point)] + [company]
            row += [cell(p[i, c, k], None if ci is None else ci[i, c, k]) for k in range(3)]
            if share is not None:
                row.append(cell(share[i, c], None if share_ci is None else share_ci[i, c]))
            rows.append(row)
    if len(rows) > SWEEP_TABLE_ROWS:
        doc.p(f"The first {SWEEP_TABLE_ROWS} of {len(rows):,} rows; the results file holds every grid point.")
        rows = rows[:SWEEP_TABLE_ROWS]
    headers = [*swept, "company", "champion", "contested", "collapse"] + (["champion share"] if share is not None
                                                                          else [])
    doc.table(headers, rows, align="r" * len(swept) + "l" + "r" * (len(headers) - len(swept) - 1))


def _sensitivity_intro(ds: xr.Dataset, doc: Doc, kind: str) -> None:
    """What was run: evaluations, paths, samples, and the studied ranges."""
    paths, sets = ds.attrs.get("paths"), ds.attrs.get("sets")
    text = f"{KIND_LABELS[kind].capitalize()}"
    if sets is not None and paths is not None:
        text += f": {int(sets):,} evaluations of {int(paths):,} paths each"
        if ds.attrs.get("common_random_numbers"):
            text += " (common random numbers: every evaluation restarts the same random streams)"
    if kind == "morris" and ds.attrs.get("samples") is not None:
        text += f"; {int(ds.attrs['samples'])} trajectories over {int(ds.attrs.get('num_levels', 4))} levels"
    if kind == "sobol" and ds.attrs.get("samples") is not None:
        text += f"; base sample N = {int(ds.attrs['samples'])}"
    doc.p(text + ".")
    ranges = json_attr(ds, "ranges", [])
    if isinstance(ranges, list) and ranges:
        doc.table(["studied key", "low", "high", "distribution"],
                  [[str(r.get("path", "")), f"{float(r.get('low', math.nan)):.6g}",
                    f"{float(r.get('high', math.nan)):.6g}",
                    shorten(r["distribution"], 60) if r.get("distribution") else "uniform over the range"]
                   for r in ranges], align="lrrl")


def tornado_report(ds: xr.Dataset, doc: Doc, out: Path) -> None:
    from simulator.report import figures as plots

    cur = str(ds.attrs.get("currency", ""))
    outputs = _outputs(ds, "low")
    _sensitivity_intro(ds, doc, "tornado")
    doc.h(2, "Key numbers")
    doc.p("Each key at the low and at the high end of its range, the others at the scenario's values; "
          "largest swing first.")
    figures = []
    for output in outputs:
        sub = _at_output(ds, output)
        label = output or str(ds.attrs.get("output", "output"))
        units = str(ds["low"].attrs.get("units", "")) or plots.output_units(ds, label)
        low, high = sub["low"].values.astype(float), sub["high"].values.astype(float)
        swing = np.abs(high - low)
        se = sub["swing_se"].values.astype(float) if "swing_se" in sub.variables else np.full(swing.shape, np.nan)
        values = "low_value" in sub.variables and "high_value" in sub.variables
        rows = []
        for j in np.argsort(-np.nan_to_num(swing, nan=-1.0), kind="stable"):
            row = [str(sub["parameter"].values[j])]
            if values:
                row += [f"{float(sub['low_value'].values[j]):.6g}", f"{float(sub['high_value'].values[j]):.6g}"]
            row += [value_text(low[j], units, cur), value_text(high[j], units, cur), change_text(swing[j], units, cur)]
            row.append(change_text(2 * se[j], units, cur) if np.isfinite(se[j]) else "n/a")
            rows.append(row)
        base = f"base {value_text(float(sub['base']), units, cur)}"
        if "base_ci" in sub.variables:
            lo, hi = (float(x) for x in sub["base_ci"].values)
            base += f" [{value_text(lo, units, cur)}, {value_text(hi, units, cur)}]"
        doc.p(f"**{label}**: {base}.")
        doc.table(["parameter", *(["low value", "high value"] if values else []), "at low", "at high",
                   "swing", "± 2 SE"], rows, align="l" + "r" * (len(rows[0]) - 1) if rows else "")
        fig = plots.sensitivity_tornado(ds, output=output)
        stem = _stem("tornado", output, outputs)
        figures.append(FigureBlock(stem, "One-at-a-time sensitivity" + (f" of {output}" if output else ""),
                               "Output with each parameter at the low (dark) and high (light, hatched) end of its "
                               "range; the vertical line is the base scenario. Largest swing on top.",
                               save_figure(fig, out, stem)))
    notes_section(ds, doc)
    figures_section(doc, figures)


def sobol_report(ds: xr.Dataset, doc: Doc, out: Path) -> None:
    from simulator.report import figures as plots

    outputs = _outputs(ds, "S1")
    _sensitivity_intro(ds, doc, "sobol")
    doc.h(2, "Key numbers")
    doc.p("First-order (S1) and total (ST) Sobol indices with the half-widths of their 95% bootstrap intervals, "
          "largest total index first" + ("; noise: the Monte Carlo noise as a share of the output variance "
                                         "(indices below it are noise)" if "noise_share" in ds.variables else "")
          + ".")
    figures = []
    for output in outputs:
        sub = _at_output(ds, output)
        label = output or str(ds.attrs.get("output", "output"))
        st = sub["ST"].values.astype(float)
        rows = []
        for j in np.argsort(-np.nan_to_num(st, nan=-1.0), kind="stable"):
            row = [str(sub["parameter"].values[j]), index_text(sub["S1"].values[j], sub["S1_conf"].values[j]),
                   index_text(st[j], sub["ST_conf"].values[j])]
            if "noise_share" in sub.variables:
                row.append(index_text(sub["noise_share"].values[j]))
            rows.append(row)
        doc.p(f"**{label}**")
        doc.table(["parameter", "S1 ± 95%", "ST ± 95%"] + (["noise"] if "noise_share" in sub.variables else []),
                  rows)
        fig = plots.sensitivity_sobol(ds, output=output)
        stem = _stem("sobol", output, outputs)
        figures.append(FigureBlock(stem, "Sobol indices" + (f" of {output}" if output else ""),
                               "First-order (S1, dark) and total (ST, light, hatched) Sobol indices with their "
                               "95% bootstrap intervals, sorted by total index.", save_figure(fig, out, stem)))
    notes_section(ds, doc)
    figures_section(doc, figures)


def morris_report(ds: xr.Dataset, doc: Doc, out: Path) -> None:
    from simulator.report import figures as plots

    cur = str(ds.attrs.get("currency", ""))
    outputs = _outputs(ds, "mu_star")
    _sensitivity_intro(ds, doc, "morris")
    doc.h(2, "Key numbers")
    doc.p("Elementary effects per whole range of each key (SALib's convention): mu* is the mean absolute effect "
          "(the ranking), with the half-width of its 95% bootstrap interval; mu the mean signed effect; sigma "
          "their standard deviation (large against mu*: non-linear or interacting)"
          + ("; noise sd: the standard deviation of one effect due to Monte Carlo noise"
             if "noise_sd" in ds.variables else "") + ". Probabilities change in percentage points (pp).")
    figures = []
    for output in outputs:
        sub = _at_output(ds, output)
        label = output or str(ds.attrs.get("output", "output"))
        units = plots.output_units(ds, label)
        mu_star = sub["mu_star"].values.astype(float)
        rows = []
        for rank, j in enumerate(np.argsort(-np.nan_to_num(mu_star, nan=-1.0), kind="stable"), start=1):
            conf = abs(float(sub["mu_star_conf"].values[j]))
            row = [str(rank), str(sub["parameter"].values[j]),
                   f"{change_text(mu_star[j], units, cur)} ± {change_text(conf, units, cur)}"]
            row.append(change_text(sub["mu"].values[j], units, cur) if "mu" in sub.variables else "n/a")
            row.append(change_text(sub["sigma"].values[j], units, cur))
            if "noise_sd" in sub.variables:
                row.append(change_text(sub["noise_sd"].values[j], units, cur))
            rows.append(row)
        doc.p(f"**{label}**")
        doc.table(["rank", "parameter", "mu* ± 95%", "mu", "sigma"]
                  + (["noise sd"] if "noise_sd" in sub.variables else []), rows, align="rl" + "r" * (len(rows[0]) - 2))
        fig = plots.sensitivity_morris(ds, output=output)
        stem = _stem("morris", output, outputs)
        figures.append(FigureBlock(stem, "Morris screening" + (f" of {output}" if output else ""),
                               "Top: mu* (mean absolute elementary effect per whole range of the key) with its 95% "
                               "bootstrap interval, largest on top. Bottom: each key at (mu*, sigma), labelled "
                               "with its rank; keys above the dashed line sigma = mu* act non-linearly or through "
                               "interactions, keys near the origin hardly matter.", save_figure(fig, out, stem)))
    notes_section(ds, doc)
    figures_section(doc, figures)


def given_data_report(ds: xr.Dataset, doc: Doc, out: Path) -> None:
    from simulator.report import figures as plots

    present = [v for v in GIVEN_DATA if v in ds.variables]
    outputs = _outputs(ds, present[0])
    samples = ds.attrs.get("samples")
    doc.p(f"Given-data indices ({ds.attrs.get('method', ', '.join(present))}) from the per-path draws of the "
          "scenario's uncertain inputs" + (f" in {int(samples):,} paths of one run" if samples else "")
          + ": no extra runs. They are shares of the per-path variance of a 0/1 outcome, most of which is the "
          "randomness of events and shocks, so they are small: rank by them, do not add them.")
    doc.h(2, "Key numbers")
    columns = [("rbd_fast_S1", "rbd_fast_S1_conf", "RBD-FAST S1 ± 95%"), ("delta", "delta_conf", "delta ± 95%"),
               ("delta_S1", "delta_S1_conf", "S1 by binning ± 95%")]
    columns = [c for c in columns if c[0] in ds.variables]
    pawn = "pawn_median" in ds.variables
    figures = []
    for output in outputs:
        sub = _at_output(ds, output)
        label = output or str(ds.attrs.get("output", "output"))
        key = sub[present[0]].values.astype(float)
        rows = []
        for rank, j in enumerate(np.argsort(-np.nan_to_num(key, nan=-np.inf), kind="stable"), start=1):
            row = [str(rank), str(sub["parameter"].values[j])]
            row += [index_text(sub[v].values[j], sub[c].values[j] if c in sub.variables else None) for v, c, _ in columns]
            if pawn:
                row.append(f"{index_text(sub['pawn_median'].values[j])} [{index_text(sub['pawn_minimum'].values[j])}, "
                           f"{index_text(sub['pawn_maximum'].values[j])}]")
            rows.append(row)
        text = f"**{label}**, ranked by {present[0]}"
        if "explained_share" in sub.variables and math.isfinite(float(sub["explained_share"])):
            text += (f"; the uncertain inputs explain {pct(float(sub['explained_share']))} of the per-path "
                     "variance (sum of the RBD-FAST indices), the rest is luck")
        doc.p(text + ".")
        doc.table(["rank", "input", *(c[2] for c in columns)] + (["PAWN median [min, max]"] if pawn else []),
                  rows, align="rl" + "r" * (len(rows[0]) - 2))
        fig = plots.sensitivity_given_data(ds, output=output)
        stem = _stem("given_data", output, outputs)
        figures.append(FigureBlock(stem, "Given-data sensitivity" + (f" of {output}" if output else ""),
                               "One panel per index, inputs in the order of the first; bars with 95% bootstrap "
                               "intervals (PAWN: dashed, the smallest to largest KS distance over the slides, "
                               "not an interval). 0: no influence; small negative values are estimation noise.",
                               save_figure(fig, out, stem)))
    notes_section(ds, doc)
    figures_section(doc, figures)


def attribution_report(ds: xr.Dataset, doc: Doc, out: Path) -> None:
    from simulator.report import figures as plots

    h = int(ds["horizon"].values[-1])
    paths = ds.attrs.get("paths")
    doc.p("For each outcome, the shift of each uncertain input's median inside the paths with that outcome from "
          "its median over all paths, in standard deviations of the input (@RISK's scenario analysis); |shift| "
          "above 0.5 is notable. 95% intervals from order statistics of the subset median"
          + (f"; {int(paths):,} paths" if paths else "") + f". At {h} months; the results file holds every "
          "horizon.")
    doc.h(2, "Key numbers")
    outcomes = [str(o) for o in ds["outcome"].values]
    figures = []
    for company in [str(c) for c in ds["company"].values]:
        sub = ds.sel(company=company, horizon=h)
        shift = sub["median_shift"].transpose("input", "outcome").values.astype(float)
        ci = sub["median_shift_ci"].transpose("input", "outcome", "bound").values.astype(float)
        score = np.max(np.abs(np.nan_to_num(shift, nan=0.0)), axis=1)
        rows = []
        for j in np.argsort(-score, kind="stable"):
            row = [str(sub["input"].values[j])]
            if "input_median" in sub.variables:
                row.append(f"{float(sub['input_median'].values[j]):.4g}")
            for k in range(len(outcomes)):
                s, (lo, hi) = shift[j, k], ci[j, k]
                row.append(f"{s:+.2f} [{lo:+.2f}, {hi:+.2f}]" if math.isfinite(s) else "n/a (no paths)")
            rows.append(row)
        shares = ", ".join(f"{o} {pct(float(sub['subset_share'].sel(outcome=o)))}" for o in outcomes)
        doc.p(f"**{company}** at {h} months: {shares} of paths.")
        doc.table(["input", *(["median (all paths)"] if "input_median" in sub.variables else []),
                   *(f"{o} shift [95%]" for o in outcomes)], rows)
        fig = plots.attribution_shifts(ds, company=company, horizon=h)
        stem = f"attribution_{slug(company)}"
        figures.append(FigureBlock(stem, f"Inputs that drive the outcomes of {company}",
                               f"Shift of each uncertain input's median inside the paths with each outcome at {h} "
                               "months, in standard deviations of the input, with its 95% interval; dotted lines "
                               "at +-0.5 (notable). Inputs sorted by their largest shift.",
                               save_figure(fig, out, stem)))
    figures_section(doc, figures)


def discovery_report(ds: xr.Dataset, doc: Doc, out: Path) -> None:
    from simulator.report import figures as plots

    outcome = ds.attrs.get("outcome", "the outcome")
    method = str(ds.attrs.get("method", "")).upper()
    share = float(ds["outcome_share"]) if "outcome_share" in ds.variables else math.nan
    doc.p(f"Scenario discovery of **{outcome}** by {method} ({ds.attrs.get('library', '')}): boxes of the uncertain "
          "inputs inside which the outcome is concentrated. "
          f"{int(ds.attrs.get('paths', 0)):,} paths, split at random: {int(ds.attrs.get('peeling_paths', 0)):,} to "
          f"fit, {int(ds.attrs.get('selection_paths', 0)):,} to choose each box on the trade-off curve and drop the "
          f"limits that do not raise its density significantly, {int(ds.attrs.get('held_out_paths', 0)):,} held out "
          f"for every number below (95% Wilson intervals). On the held-out half {pct(share)} of paths have the "
          "outcome. Coverage: share of those paths inside the box; density: share of the box's paths with the "
          "outcome; mass: share of all paths inside. Each box after the first counts only the paths outside the "
          "boxes before it. See docs/discovery.md.")
    doc.h(2, "Key numbers")
    inputs = [str(v) for v in ds["input"].values]
    units = ([str(u) for u in ds["input_units"].values] if "input_units" in ds.variables else [""] * len(inputs))
    if ds.sizes["box"] == 0:
        doc.p("No box: no limit on the uncertain inputs raises the share of paths with the outcome significantly.")
    rows = []
    for i in range(ds.sizes["box"]):
        limits = []
        for j in np.flatnonzero(ds["restricted"].values[i].astype(bool)):
            lo, hi = float(ds["box_low"].values[i, j]), float(ds["box_high"].values[i, j])
            has_lo = "box_low_quantile" not in ds.variables or float(ds["box_low_quantile"].values[i, j]) > 0
            has_hi = "box_high_quantile" not in ds.variables or float(ds["box_high_quantile"].values[i, j]) < 1
            text = (f"{lo:.4g} to {hi:.4g}" if has_lo and has_hi else f">= {lo:.4g}" if has_lo else f"<= {hi:.4g}")
            unit = "" if units[j] in ("", "1") else f" {units[j]}"
            limits.append(f"{inputs[j]} {text}{unit}")
        rows.append([str(int(ds["box"].values[i])), "; ".join(limits),
                     pct_ci(float(ds["coverage"].values[i]), *ds["coverage_ci"].values[i]),
                     pct_ci(float(ds["density"].values[i]), *ds["density_ci"].values[i]),
                     pct(float(ds["mass"].values[i]))])
    if rows:
        doc.table(["box", "limits", "coverage [95%]", "density [95%]", "mass"], rows, align="rlrrr")
    figures = [FigureBlock("discovery_tradeoff", "Coverage against density",
                           "The trade-off curve the first box was chosen from: each step of "
                           + ("PRIM's peeling and pasting" if method == "PRIM" else "adding the tree's next densest leaf")
                           + " on the held-out half (solid; numbers: inputs limited) and on the peeling sample "
                           "(dashed: optimistic, fitted there); the square marks the step chosen, the large markers the "
                           "boxes after dropping their insignificant limits, with 95% intervals; dotted: the share "
                           "of all paths with the outcome.", save_figure(plots.discovery_tradeoff(ds), out,
                                                                          "discovery_tradeoff"))]
    for b in [int(v) for v in ds["box"].values]:
        stem = f"discovery_box_{b}"
        figures.append(FigureBlock(stem, f"Box {b} against each input's range",
                                   "Each input's range over all paths (grey) and the part of it inside the box "
                                   "(hatched), limited inputs on top, limits in the input's units.",
                                   save_figure(plots.discovery_limits(ds, box=b), out, stem)))
    figures_section(doc, figures)


def batch_report(ds: xr.Dataset, doc: Doc, out: Path) -> None:
    from simulator.report import figures as plots
    from simulator.report.figures.batch import batch_rows

    rows_by = batch_rows(ds)
    last = {h[-1] for _, _, h in rows_by}
    at = f"at {last.pop()} months" if len(last) == 1 else "each at its own last horizon"
    fig = plots.batch_summary(ds)
    figure = FigureBlock("batch_summary", "Scenarios side by side",
                         f"Outcome probabilities {at} for each scenario and company, with 95% Wilson "
                         "intervals.", save_figure(fig, out, "batch_summary"))
    doc.h(2, "Key numbers")
    scenarios = sorted({s for s, _, _ in rows_by}, key=[str(x) for x in ds["scenario"].values].index)
    doc.p(f"{len(scenarios)} scenarios ({', '.join(scenarios)}), each at its own horizons; probabilities "
          "with 95% Wilson intervals.")
    rows = []
    for scen, company, horizons in rows_by:
        for h in horizons:
            sel = dict(scenario=scen, company=company, horizon=h)
            p = ds["probability"].sel(**sel)
            ci = ds["probability_ci"].sel(**sel)
            row = [scen, company, str(h)] + [pct_ci(float(p.sel(outcome=o)), *(float(x) for x in ci.sel(outcome=o).values))
                                             for o in ("champion", "contested", "collapse")]
            if "champion_share" in ds.variables:
                share_ci = (ds["champion_share_ci"].sel(**sel).values if "champion_share_ci" in ds.variables
                            else None)
                share = float(ds["champion_share"].sel(**sel))
                row.append(pct(share) if share_ci is None else pct_ci(share, *(float(x) for x in share_ci)))
            rows.append(row)
    headers = ["scenario", "company", "month", "champion", "contested", "collapse"]
    if "champion_share" in ds.variables:
        headers.append("champion share")
    doc.table(headers, rows, align="llr" + "r" * (len(headers) - 3))
    figures_section(doc, [figure])
