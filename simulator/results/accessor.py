"""Domain helpers on results Datasets: ``ds.sim.table()``, ``ds.sim.outcome(...)``."""

from __future__ import annotations

from typing import NamedTuple

import xarray as xr

from simulator.results.formatting import correlation_ci, format_amount, percent, text_table

__all__ = ["FundamentalValue", "SimulationAccessor", "format_amount"]  # format_amount: results.formatting


def _cell(p: float, lo: float, hi: float) -> str:
    """A probability and its interval, the point value right-aligned so that columns of them line up."""
    return f"{percent(p):>7} [{percent(lo)}, {percent(hi)}]"


class FundamentalValue(NamedTuple):
    """A company's stated valuation and its fundamental value in both readings (currency)."""

    valuation: float
    equity: float
    equity_ci: tuple[float, float]
    business: float
    business_ci: tuple[float, float]
    premium: float


@xr.register_dataset_accessor("sim")
class SimulationAccessor:
    """Helpers for a results Dataset made by :func:`simulator.run`."""

    def __init__(self, ds: xr.Dataset) -> None:
        self._ds = ds

    def outcome(self, company: str, horizon: int, outcome: str) -> tuple[float, float, float]:
        """(probability, low, high) of an outcome of a company at a horizon (months)."""
        ds = self._ds
        sel = {"company": company, "horizon": horizon, "outcome": outcome}
        p = float(ds["probability"].sel(sel))
        lo, hi = (float(x) for x in ds["probability_ci"].sel(sel).values)
        return p, lo, hi

    def fundamental(self, company: str) -> FundamentalValue:
        """The two readings of the fundamental value of ``company`` at start (MODEL.md step 8), in currency.

        ``equity`` floors every surviving path at zero (limited liability) and
        counts the money raised after the start; ``business`` is not floored and
        subtracts that money (discounted), so it is what the business itself is
        worth to today's holders.  ``premium`` is V0 minus the equity value.
        """
        sel = self._ds.sel(company=company)
        return FundamentalValue(
            valuation=float(sel["valuation_start"]),
            equity=float(sel["fundamental_value"]),
            equity_ci=tuple(float(x) for x in sel["fundamental_value_ci"].values),
            business=float(sel["business_value"]),
            business_ci=tuple(float(x) for x in sel["business_value_ci"].values),
            premium=float(sel["narrative_premium"]),
        )

    def _joint_lines(self) -> list[str]:
        """P(exactly k champions) per horizon, and the pairs' outcome correlations at the last horizon."""
        ds = self._ds
        if "champion_count_probability_ci" not in ds:
            return []
        ks = [int(k) for k in ds["champions"].values]
        rows = []
        for h in ds["horizon"].values:
            cells = []
            for k in ks:
                sel = {"horizon": h, "champions": k}
                lo, hi = (float(x) for x in ds["champion_count_probability_ci"].sel(sel).values)
                cells.append(_cell(float(ds["champion_count_probability"].sel(sel)), lo, hi))
            rows.append([str(int(h)), *cells])
        lines = ["", "Exactly k champions, 95% Wilson intervals",
                 *text_table(["month", *(f"k = {k}" for k in ks)], rows, align="r" + "l" * len(ks))]
        last = int(ds["horizon"].values[-1])
        names = [str(c) for c in ds["company"].values]
        rows = []
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                cells = []
                for kind in ("champion", "collapse"):
                    sel = {"horizon": last, "company": a, "rival": b}
                    lo, hi = (float(x) for x in ds[f"{kind}_correlation_ci"].sel(sel).values)
                    cells.append(correlation_ci(float(ds[f"{kind}_correlation"].sel(sel)), lo, hi))
                rows.append([f"{a} - {b}", *cells])
        lines += ["", f"Correlation of outcomes between companies at month {last} (phi, 95% CI; n/a: an outcome "
                  "in fewer than 10 paths)", *text_table(["pair", "champion", "collapse"], rows, align="lll")]
        return lines

    def _competition_lines(self) -> list[str]:
        """With competition on: shares and the market at start and at the last horizon, required revenue reached."""
        ds = self._ds
        if "required_revenue_reached" not in ds:
            return []
        cur = ds.attrs.get("currency", "")
        last = int(ds["horizon"].values[-1])
        lines = []
        if "market_share_quantile" in ds:
            rows = []
            named = [(str(c), ds["market_share_quantile"].sel(company=c)) for c in ds["company"].values]
            named.append(("platforms", ds["platform_share_quantile"]))
            for name, q in named:
                end = q.sel(month=last)
                rows.append([name, percent(float(q.sel(month=0, quantile=0.5))),
                             f"{percent(float(end.sel(quantile=0.5)))} [{percent(float(end.sel(quantile=0.05)))}, "
                             f"{percent(float(end.sel(quantile=0.95)))}]"])
            m = ds["market_quantile"]
            end = m.sel(month=last)
            rows.append([f"market ({cur}/year)", format_amount(float(m.sel(month=0, quantile=0.5))),
                         f"{format_amount(float(end.sel(quantile=0.5)))} [{format_amount(float(end.sel(quantile=0.05)))}, "
                         f"{format_amount(float(end.sel(quantile=0.95)))}]"])
            lines += ["", "Market shares (competition on): at start, and median [5%, 95%] at the last horizon",
                      *text_table(["", "start", f"month {last}"], rows, align="lrl")]
        rows = []
        for c in ds["company"].values:
            sel = {"company": c, "horizon": last}
            lo, hi = (float(x) for x in ds["required_revenue_reached_ci"].sel(sel).values)
            rows.append([str(c), format_amount(float(ds["required_revenue"].sel(sel)), cur),
                         _cell(float(ds["required_revenue_reached"].sel(sel)), lo, hi)])
        lines += ["", f"Revenue reaches what the valuation requires (required_revenue) at month {last}, "
                  "under competition",
                  *text_table(["company", "required revenue/year", "P(reached)"], rows, align="lrl")]
        return lines

    def tables(self) -> dict:
        """Every variable in tidy pandas DataFrames, by table name (the tables of ``simulator export --csv``).

        Variables over the same dimensions share a table: one column per
        dimension, one per variable, ``<name>_low``/``<name>_high`` for an
        interval.  E.g. ``ds.sim.tables()["company-horizon-outcome"]`` holds the
        outcome probabilities with their intervals (see :mod:`simulator.results.export`).
        """
        from simulator.results.export import tables

        return tables(self._ds)

    def frame(self, name: str):
        """One variable as a tidy pandas DataFrame (``ds.sim.frame("probability")``)."""
        from simulator.results.export import frame

        return frame(self._ds, name)

    def table(self) -> str:
        """A readable text summary: outcome probabilities with 95% intervals, champion share,
        valuation against fundamental value."""
        ds = self._ds
        cur = ds.attrs.get("currency", "")
        lines = [f"{ds.attrs.get('scenario_name', 'scenario')}: {ds.attrs.get('paths', 0):,} paths, "
                 f"seed entropy {ds.attrs.get('seed_entropy', '?')}, engine {ds.attrs.get('engine', '?')}",
                 "",
                 "Outcome probabilities, 95% Wilson intervals "
                 "(champion share = P(champion) / (P(champion) + P(collapse)))"]
        rows = []
        for company in ds["company"].values:
            for h in ds["horizon"].values:
                cells = [_cell(*self.outcome(company, int(h), outcome))
                         for outcome in ("champion", "contested", "collapse")]
                share = float(ds["champion_share"].sel(company=company, horizon=h))
                slo, shi = ds["champion_share_ci"].sel(company=company, horizon=h).values
                cells.append(_cell(share, slo, shi))
                rows.append([str(company), str(int(h)), *cells])
        lines += text_table(["company", "month", "champion", "contested", "collapse", "champion share"], rows,
                            align="lrllll")
        if "any_champion" in ds:
            lines += ["", "At least one champion (the 'insurance' view)"]
            rows = []
            for h in ds["horizon"].values:
                lo, hi = ds["any_champion_ci"].sel(horizon=h).values
                rows.append([str(int(h)), _cell(float(ds["any_champion"].sel(horizon=h)), lo, hi)])
            lines += text_table(["month", "P(at least one champion)"], rows, align="rl")
        lines += self._joint_lines()
        lines += self._competition_lines()
        lines += ["", f"Valuation at start vs fundamental value ({cur})",
                  "(equity value: each path floored at 0, limited liability; business value: not floored, "
                  "minus the money raised after the start)"]
        rows = []
        for company in ds["company"].values:
            sel = ds.sel(company=company)
            cells = []
            for name in ("fundamental_value", "business_value"):
                if name not in sel:  # results written before the business value existed
                    cells.append("n/a")
                    continue
                lo, hi = (float(x) for x in sel[f"{name}_ci"].values)
                cells.append(f"{format_amount(float(sel[name]))} [{format_amount(lo)}, {format_amount(hi)}]")
            premium = float(sel["narrative_premium"])
            share = float(sel["narrative_premium_share"])
            rows.append([str(company), format_amount(float(sel["valuation_start"])),
                         f"{float(sel['price_to_sales_start']):.0f}", cells[0], cells[1],
                         f"{format_amount(premium)} ({percent(share)})", f"{float(sel['implied_narrative']):.2f}"])
        lines += text_table(["company", "valuation", "P/S", "equity value [95% CI]", "business value [95% CI]",
                             "narrative premium", "E0"], rows)
        if "valuation_quantile" in ds:
            last = int(ds["horizon"].values[-1])
            lines += ["", f"Valuation at month {last}: median and 5-95% range ({cur})"]
            for company in ds["company"].values:
                q = ds["valuation_quantile"].sel(company=company, month=last)
                lines.append(f"{company:<12} median {format_amount(float(q.sel(quantile=0.5))):>10}   "
                             f"5% {format_amount(float(q.sel(quantile=0.05))):>10}   "
                             f"95% {format_amount(float(q.sel(quantile=0.95))):>10}")
        return "\n".join(lines)
