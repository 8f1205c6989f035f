"""The report's section on joint outcomes and competition: P(exactly k champions), correlations, shares.

May import: every layer below :mod:`simulator.report`, and the modules of :mod:`simulator.report`.
"""

from __future__ import annotations

import xarray as xr

from simulator.report.document import Doc, amount, pct, pct_ci
from simulator.results.formatting import correlation_ci

__all__ = ["joint_section"]


def _phi(ds: xr.Dataset, name: str, sel: dict) -> str:
    lo, hi = (float(x) for x in ds[f"{name}_ci"].sel(sel).values)
    return correlation_ci(float(ds[name].sel(sel)), lo, hi)


def joint_section(ds: xr.Dataset, doc: Doc) -> None:
    """P(exactly k champions) and the pairs' outcome correlations; with competition, shares and the market."""
    if "champion_count_probability_ci" not in ds:
        return
    horizons = [int(h) for h in ds["horizon"].values]
    ks = [int(k) for k in ds["champions"].values]
    doc.h(3, "Joint outcomes")
    doc.p("How many of the companies are champions at once, with 95% Wilson intervals (each k on its own): "
          "the insurance view (seed 000: \"even if most fail, at least one could succeed\") needs k >= 1, "
          "and how independent the bets are shows in the correlation of their outcomes below.")
    rows = []
    for h in horizons:
        cells = [str(h)]
        for k in ks:
            sel = {"horizon": h, "champions": k}
            lo, hi = (float(x) for x in ds["champion_count_probability_ci"].sel(sel).values)
            cells.append(pct_ci(float(ds["champion_count_probability"].sel(sel)), lo, hi))
        rows.append(cells)
    doc.table(["month", *(f"k = {k}" for k in ks)], rows)
    names = [str(c) for c in ds["company"].values]
    last = horizons[-1]
    doc.p(f"Correlation (phi) of two companies' champion outcomes and of their collapse outcomes at month {last}, "
          "with 95% intervals (delta method on Fisher's z scale); 0 is independent bets, 1 one bet. n/a: the "
          "outcome happens (or fails to) in fewer than 10 paths for one of the two.")
    rows = [[f"{a} - {b}", _phi(ds, "champion_correlation", {"horizon": last, "company": a, "rival": b}),
             _phi(ds, "collapse_correlation", {"horizon": last, "company": a, "rival": b})]
            for i, a in enumerate(names) for b in names[i + 1:]]
    doc.table(["pair", "champion correlation", "collapse correlation"], rows)
    if "required_revenue_reached" in ds:
        _competition(ds, doc, names, horizons)


def _competition(ds: xr.Dataset, doc: Doc, names: list[str], horizons: list[int]) -> None:
    cur = str(ds.attrs.get("currency", ""))
    doc.h(3, "Competition and convergence")
    doc.p("The companies and the platforms share one market (MODEL.md step 9): each company's demand process is "
          "its pull, the platforms' pull grows `convergence_rate` faster than the market, and the market shares "
          "follow the pulls. Shares and the market by horizon: median [5%, 95%] over paths (a failed company's "
          "share is 0).")
    rows = []
    series = [(c, ds["market_share_quantile"].sel(company=c)) for c in names] if "market_share_quantile" in ds else []
    if series:
        series.append(("platforms", ds["platform_share_quantile"]))
        for name, q in series:
            row = [name, pct(float(q.sel(month=0, quantile=0.5)))]
            for h in horizons:
                at = q.sel(month=h)
                row.append(f"{pct(float(at.sel(quantile=0.5)))} [{pct(float(at.sel(quantile=0.05)))}, "
                           f"{pct(float(at.sel(quantile=0.95)))}]")
            rows.append(row)
        m = ds["market_quantile"]
        rows.append([f"market ({cur}/year)", amount(float(m.sel(month=0, quantile=0.5)), cur)]
                    + [f"{amount(float(m.sel(month=h, quantile=0.5)))} [{amount(float(m.sel(month=h, quantile=0.05)))}, "
                       f"{amount(float(m.sel(month=h, quantile=0.95)))}]" for h in horizons])
        doc.table(["", "start", *(f"month {h}" for h in horizons)], rows)
    doc.p("The big market check, dynamic: the probability that a company is alive with served revenue at least "
          "the revenue its stated valuation requires (`required_revenue`: operating profit at its start margin, "
          "capitalised at the exit multiple and discounted, equals V0), under competition.")
    rows = []
    for c in names:
        row = [c]
        for h in horizons:
            sel = {"company": c, "horizon": h}
            lo, hi = (float(x) for x in ds["required_revenue_reached_ci"].sel(sel).values)
            row.append(f"{amount(float(ds['required_revenue'].sel(sel)), cur)}: "
                       f"{pct_ci(float(ds['required_revenue_reached'].sel(sel)), lo, hi)}")
        rows.append(row)
    doc.table(["company", *(f"month {h}: required, P(reached)" for h in horizons)], rows)
