"""The report of a run: key numbers, figures, assumptions and provenance.

May import: every layer below :mod:`simulator.report`, and the modules of :mod:`simulator.report`.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import xarray as xr

from simulator.report.assumptions import scenario_assumptions
from simulator.report.competition_report import joint_section
from simulator.report.document import Doc, FigureSpec, amount, draw_all, pct, pct_ci, shorten

__all__ = ["assumptions_section", "provenance_section", "run_figures", "run_report"]


#: Attributes shown first in the provenance table, in this order, with their labels.
_PROVENANCE = (
    ("scenario_name", "scenario"),
    ("scenario_source", "scenario file"),
    ("scenario_hash", "scenario hash (SHA-256 of every key)"),
    ("overrides", "overrides (--set)"),
    ("seed_entropy", "seed entropy"),
    ("seed_spawn_key", "seed spawn key"),
    ("paths", "paths"),
    ("engine", "engine"),
    ("block_size", "paths per random-stream block"),
    ("random_streams", "random streams"),
    ("kept_paths", "kept paths"),
    ("simulator_version", "simulator version"),
    ("created", "created (UTC)"),
    ("horizon_months", "months simulated"),
    ("dt_years", "time step (years)"),
    ("confidence_level", "confidence level"),
    ("interval_method", "intervals"),
    ("quantile_method", "quantiles"),
)


_NOT_PROVENANCE = {"scenario_text", "scenario_json", "scenario_description", "title", "Conventions", "currency"}


def _fan_caption(ds: xr.Dataset) -> str:
    return ("Market valuation by month: median line, 25-75% and 5-95% bands of the paths "
            "(streamed-histogram quantiles, log scale). Dashed: the stated valuation at start V0; dotted: "
            "the collapse threshold; diamond at month 0: the Schwartz-Moon fundamental value at start "
            "with its 95% interval (a value of the start, not a path). Bands that reach the bottom of the axis "
            "contain failed paths (valued 0).")


def _distribution_caption(ds: xr.Dataset) -> str:
    from simulator.report import figures as plots

    if plots.distribution_mode(ds) == "histogram":
        return (f"Log-x histogram of the valuation at each horizon over the {ds.sizes['path']:,} kept paths "
                "(not all paths; bar heights are shares of kept paths, scaled within each panel). Paths at 0 "
                "(failed) cannot be drawn on a log axis; their share is written under the horizon. Dashed: V0; "
                "dotted: the collapse threshold.")
    return ("Distribution of the valuation at each horizon, drawn from the Dataset's quantiles because no "
            "raw paths were kept (run with --keep-paths for a histogram): line 5-95%, ticks at 10% and 90%, "
            "box 25-75%, thick bar at the median, log x axis. An arrow at the left edge means that quantile "
            "is 0 (failed paths). Dashed: V0; dotted: the collapse threshold.")


def run_figures() -> tuple[FigureSpec, ...]:
    """The figures of a run report, in report order."""
    from simulator.report import figures as plots

    return (
        FigureSpec("valuation_fan", plots.valuation_fan, "Valuation fan chart", _fan_caption,
                    ("valuation_quantile", "valuation_start", "fundamental_value", "fundamental_value_ci")),
        FigureSpec("outcome_probabilities", plots.outcome_probabilities, "Outcome probabilities by horizon",
                    lambda ds: ("Probability of each outcome at each horizon with its 95% Wilson interval. Champion: "
                                "alive, valuation at least the champion threshold and price-to-sales at most the "
                                "cap; collapse: failed or below the collapse threshold; contested: neither."),
                    ("probability", "probability_ci")),
        FigureSpec("valuation_distribution", plots.valuation_distribution, "Valuation at each horizon",
                    _distribution_caption, ("valuation_start",)),
        FigureSpec("survival", plots.survival_curve, "Survival",
                    lambda ds: ("Share of paths in which each company has not failed (cash exhausted without "
                                "funding or backstop), by month, with its 95% Wilson band."),
                    ("survival", "survival_ci")),
        FigureSpec("revenue_capacity", plots.revenue_capacity, "Revenue, compute capacity and gross margin",
                    lambda ds: ("Served revenue (annualised) against the revenue capacity of the installed cards "
                                "(revenue: median and bands; capacity: dashed median, dotted 5% and 95%; log scale; "
                                "capacity is left out when chips are off), and the gross margin fan. Revenue is "
                                "capped by capacity; demand above it is lost. A failed path has no cards: where failed "
                                "paths reach the 5% of capacity it is not drawn (the fleet does not collapse), and the "
                                "revenue bands reach the bottom edge."),
                    ("revenue_quantile", "capacity_quantile", "gross_margin_quantile")),
        FigureSpec("valuation_decomposition", plots.valuation_decomposition,
                    "Valuation at start: fundamental value vs narrative premium",
                    lambda ds: ("The stated valuation V0 split into the Schwartz-Moon equity value (with its "
                                "95% interval) and the narrative premium V0 minus equity value; the red circle is the "
                                "business value (not floored, minus the money raised after the start), left of zero "
                                "when negative. Right: the positive amounts on a log scale."),
                    ("valuation_start", "fundamental_value", "fundamental_value_ci", "narrative_premium")),
        FigureSpec("any_champion", plots.any_champion, "P(at least one champion)",
                    lambda ds: ("Probability that at least one of the companies is a champion at each horizon "
                                "(the 'insurance' view of backing several companies), with each company's own "
                                "P(champion); 95% Wilson intervals. Points are offset slightly sideways so that "
                                "intervals do not hide each other."),
                    ("any_champion", "any_champion_ci")),
        FigureSpec("champion_count", plots.champion_count, "P(exactly k champions)",
                    lambda ds: ("Probability that exactly k of the companies are champions at each horizon, with "
                                "its 95% Wilson interval; right: k >= 1 on its own scale. The insurance argument "
                                "needs k >= 1; how the mass spreads over k shows how independent the bets are."),
                    ("champion_count_probability", "champion_count_probability_ci")),
        FigureSpec("market_shares", plots.market_shares, "Market shares and the market",
                    lambda ds: ("With competition on (MODEL.md step 9): each company's share of the market "
                                "(median and 25-75% band, log scale; 0 after failure), the platforms' share and "
                                "the market M (median, 25-75% and 5-95% bands)."),
                    ("market_share_quantile", "platform_share_quantile", "market_quantile")),
    )

#: Figures a run of one company has no use for (the market-share fan needs competition on).
_MULTI_COMPANY = ("any_champion", "champion_count")


def run_report(ds: xr.Dataset, doc: Doc, out: Path) -> None:
    cur = str(ds.attrs.get("currency", ""))
    companies = [str(c) for c in ds["company"].values]
    horizons = [int(h) for h in ds["horizon"].values]
    if ds.attrs.get("scenario_description"):
        doc.p(" ".join(str(ds.attrs["scenario_description"]).split()))
    doc.p(f"{int(ds.attrs.get('paths', 0)):,} paths; amounts in {cur}. Probabilities with 95% Wilson "
          "intervals in brackets.")
    specs = [s for s in run_figures() if (s.stem not in _MULTI_COMPANY or len(companies) > 1)
             and (s.stem != "market_shares" or "market_share_quantile" in ds)]
    figures, skipped = draw_all(ds, specs, out)

    doc.h(2, "Key numbers")
    last = horizons[-1]
    for company in companies:
        sel = ds.sel(company=company)
        champ, contested, collapse = (ds.sim.outcome(company, last, o) for o in ("champion", "contested", "collapse"))
        share = float(sel["champion_share"].sel(horizon=last))
        slo, shi = (float(x) for x in sel["champion_share_ci"].sel(horizon=last).values)
        doc.p(f"**{company}** at {last} months: champion {pct_ci(*champ)}, contested {pct_ci(*contested)}, "
              f"collapse {pct_ci(*collapse)}; champion share {pct_ci(share, slo, shi)}. Equity value "
              f"{amount(sel['fundamental_value'], cur)} against a valuation of "
              f"{amount(sel['valuation_start'], cur)}: narrative premium {amount(sel['narrative_premium'], cur)}, "
              f"{pct(float(sel['narrative_premium_share']))} of the valuation."
              + (f" Business value {amount(sel['business_value'], cur)}: what the business is worth without "
                 "the floor at zero and without the money raised after the start."
                 if "business_value" in ds else ""))
    if "any_champion" in ds.variables:
        lo, hi = (float(x) for x in ds["any_champion_ci"].sel(horizon=last).values)
        doc.p(f"**At least one champion** at {last} months: "
              f"{pct_ci(float(ds['any_champion'].sel(horizon=last)), lo, hi)}.")
    doc.h(3, "Outcome probabilities")
    doc.p("Champion share = P(champion) / (P(champion) + P(collapse)): the champion-or-collapse call "
          "among the paths that are decided.")
    for company in companies:
        rows = []
        for h in horizons:
            cells = [str(h)]
            for outcome in ("champion", "contested", "collapse"):
                p, lo, hi = ds.sim.outcome(company, h, outcome)
                cells.append(pct_ci(p, lo, hi))
            share = float(ds["champion_share"].sel(company=company, horizon=h))
            slo, shi = (float(x) for x in ds["champion_share_ci"].sel(company=company, horizon=h).values)
            cells.append(pct_ci(share, slo, shi))
            rows.append(cells)
        doc.p(f"**{company}**")
        doc.table(["month", "champion", "contested", "collapse", "champion share"], rows)
    if "any_champion" in ds.variables:
        doc.h(3, "At least one champion")
        rows = []
        for h in horizons:
            lo, hi = (float(x) for x in ds["any_champion_ci"].sel(horizon=h).values)
            rows.append([str(h), pct_ci(float(ds["any_champion"].sel(horizon=h)), lo, hi)])
        doc.table(["month", "P(at least one champion)"], rows)
    joint_section(ds, doc)

    doc.h(3, "Valuation at start against fundamental value")
    doc.p("Fundamental value: the Schwartz-Moon value at start (discounted mean of cash plus exit multiple "
          "times operating profit at the end, 0 for failed paths), in two readings with 95% intervals in "
          "brackets. Equity value: each surviving path floored at zero (limited liability); it counts the "
          "money the company raises after the start from investors and the state. Business value: not floored, "
          "and minus that money discounted to the start: what the business itself is worth to today's "
          "holders. Narrative premium: V0 minus the equity value. E0: the effective narrative implied by V0, "
          "in log multiple.")

    def with_ci(sel, name):
        if name not in sel:  # results written before the business value existed
            return "n/a"
        lo, hi = (float(x) for x in sel[f"{name}_ci"].values)
        return f"{amount(sel[name], cur)} [{amount(lo, cur)}, {amount(hi, cur)}]"

    rows = []
    for company in companies:
        sel = ds.sel(company=company)
        row = [company, amount(sel["valuation_start"], cur)]
        row.append(amount(sel["revenue_start"], cur) if "revenue_start" in ds else "n/a")
        row.append(f"{float(sel['price_to_sales_start']):,.0f}" if "price_to_sales_start" in ds else "n/a")
        row += [with_ci(sel, "fundamental_value"), with_ci(sel, "business_value"),
                amount(sel["narrative_premium"], cur), pct(float(sel["narrative_premium_share"]))]
        row.append(f"{float(sel['implied_narrative']):.2f}" if "implied_narrative" in ds else "n/a")
        rows.append(row)
    doc.table(["company", "valuation V0", "revenue R0 (per year)", "P/S", "equity value [95% CI]",
               "business value [95% CI]", "narrative premium", "premium share of V0", "E0"], rows)

    if "valuation_quantile" in ds.variables or "mean_valuation" in ds.variables:
        doc.h(3, "Valuation at each horizon")
        rows = []
        for company in companies:
            for h in horizons:
                row = [company, str(h)]
                if "valuation_quantile" in ds.variables:
                    q = ds["valuation_quantile"].sel(company=company, month=h)
                    row += [amount(q.sel(quantile=lv, method="nearest"), cur) for lv in (0.05, 0.5, 0.95)]
                else:
                    row += ["n/a"] * 3
                if "mean_valuation" in ds.variables:
                    m = float(ds["mean_valuation"].sel(company=company, horizon=h))
                    mlo, mhi = (float(x) for x in ds["mean_valuation_ci"].sel(company=company, horizon=h).values)
                    row.append(f"{amount(m, cur)} [{amount(mlo, cur)}, {amount(mhi, cur)}]")
                else:
                    row.append("n/a")
                rows.append(row)
        doc.table(["company", "month", "5%", "median", "95%", "mean [95% CI]"], rows)

    doc.h(2, "Figures")
    for fig in figures:
        doc.figure(fig)
    if skipped:
        doc.p("Not drawn (the Dataset lacks their variables): " + "; ".join(skipped) + ".")

    assumptions_section(ds, doc)


def assumptions_section(ds: xr.Dataset, doc: Doc) -> None:
    text = ds.attrs.get("scenario_text")
    doc.h(2, "Assumptions")
    if not text:
        doc.p("The Dataset does not carry its scenario file (attribute scenario_text).")
        return
    try:
        rows = scenario_assumptions(str(text), ds.attrs.get("scenario_json"))
    except (ValueError, tomllib.TOMLDecodeError) as exc:  # a report must not fail on a comment it cannot read
        doc.p(f"The scenario file could not be read back ({exc}).")
        return
    doc.p("Every key of the scenario file with its value as written and its source comment, by the dotted "
          "path that `--set`, sweeps and sensitivity studies use. A table's comment is on the table's own row.")
    file_rows = [r for r in rows if r.origin != "default"]
    run_paths = ds.attrs.get("paths")
    for r in file_rows:
        # --paths changes the run, not the scenario (the hash): say which number this run used.
        if r.path == "scenario.paths" and run_paths is not None:
            try:
                differs = int(str(r.value).replace("_", "")) != int(run_paths)
            except ValueError:
                differs = False
            if differs:
                r.comment = f"{r.comment} (this run: {int(run_paths):,} paths)".strip()
    doc.table(["parameter", "value", "source / comment"],
              [[r.path, r.value, r.comment] for r in file_rows], align="lll")
    defaults = [r for r in rows if r.origin == "default"]
    if defaults:
        doc.h(3, "Defaults (keys not in the file)")
        doc.p("These keys are not in the scenario file and take their documented defaults "
              "(see docs/scenario-reference.md).")
        doc.table(["parameter", "value", "source"], [[r.path, r.value, "default"] for r in defaults], align="lll")


def provenance_section(ds: xr.Dataset, doc: Doc) -> None:
    doc.h(2, "Provenance")
    rows = []
    seen = set()
    for key, label in _PROVENANCE:
        if key in ds.attrs:
            value = ds.attrs[key]
            if key == "paths":
                text = f"{int(value):,}"
            elif isinstance(value, (float, np.floating)):
                text = f"{float(value):.6g}"
            else:
                text = str(value)
            rows.append([label, text])
            seen.add(key)
    for key in sorted(ds.attrs):
        if key not in seen and key not in _NOT_PROVENANCE:
            rows.append([key, shorten(str(ds.attrs[key]), 200)])
    doc.table(["item", "value"], rows, align="ll")
    doc.p("The same scenario file, seed and number of paths give bit-identical results; the scenario hash "
          "covers every key, defaults and overrides included.")
