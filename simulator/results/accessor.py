"""Domain helpers on results Datasets: ``ds.sim.table()``, ``ds.sim.outcome(...)``."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import xarray as xr

__all__ = ["FundamentalValue", "SimulationAccessor", "format_amount"]


def format_amount(value: float, currency: str = "") -> str:
    """An amount with a K/M/B/T suffix: ``format_amount(7e11, "CNY") == "700B CNY"``."""
    if value is None or not np.isfinite(value):
        text = "unlimited" if value is not None and value > 0 else "n/a"
        return text
    sign = "-" if value < 0 else ""
    value = abs(float(value))
    for factor, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if value >= factor:
            scaled = value / factor
            digits = 0 if scaled >= 100 else (1 if scaled >= 10 else 2)
            text = f"{sign}{scaled:.{digits}f}{suffix}"
            break
    else:
        text = f"{sign}{value:.0f}"
    return f"{text} {currency}".strip()


def _pct(p: float) -> str:
    return "  n/a" if not math.isfinite(p) else f"{100 * p:5.1f}%"


class FundamentalValue(NamedTuple):
    """A company's stated valuation and its fundamental value in both readings (currency)."""

    valuation: float
    equity: float
    equity_ci: tuple[float, float]
    business: float
    business_ci: tuple[float, float]
    premium: float


def _ci(p: float, lo: float, hi: float) -> str:
    """A probability with its interval: ``12.3% [11.9%, 12.7%]``."""
    return f"{_pct(p)} [{_pct(lo).strip()}, {_pct(hi).strip()}]"


def _phi(p: float, lo: float, hi: float) -> str:
    """A correlation with its interval, or n/a where it is undefined."""
    if not math.isfinite(p):
        return "n/a"
    return f"{p:+.3f} [{lo:+.3f}, {hi:+.3f}]"


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
        lines = ["", "Exactly k champions, 95% Wilson intervals",
                 f"{'month':>6}  " + "".join(f"{f'k = {k}':<26}" for k in ks)]
        for h in ds["horizon"].values:
            cells = []
            for k in ks:
                p = float(ds["champion_count_probability"].sel(horizon=h, champions=k))
                lo, hi = (float(x) for x in ds["champion_count_probability_ci"].sel(horizon=h, champions=k).values)
                cells.append(_ci(p, lo, hi))
            lines.append(f"{int(h):>6}  " + "".join(f"{c:<26}" for c in cells))
        last = int(ds["horizon"].values[-1])
        lines += ["", f"Correlation of outcomes between companies at month {last} (phi, 95% CI; n/a: an outcome "
                  "in fewer than 10 paths)", f"{'pair':<26}{'champion':<28}{'collapse':<28}"]
        names = [str(c) for c in ds["company"].values]
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                cells = []
                for kind in ("champion", "collapse"):
                    sel = {"horizon": last, "company": a, "rival": b}
                    lo, hi = (float(x) for x in ds[f"{kind}_correlation_ci"].sel(sel).values)
                    cells.append(_phi(float(ds[f"{kind}_correlation"].sel(sel)), lo, hi))
                lines.append(f"{a + ' - ' + b:<26}{cells[0]:<28}{cells[1]:<28}")
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
            lines += ["", f"Market shares (competition on): at start, and median [5%, 95%] at month {last}"]
            rows = [(str(c), ds["market_share_quantile"].sel(company=c)) for c in ds["company"].values]
            rows.append(("platforms", ds["platform_share_quantile"]))
            for name, q in rows:
                start = float(q.sel(month=0, quantile=0.5))
                end = q.sel(month=last)
                lines.append(f"{name:<12}{_pct(start)} -> {_pct(float(end.sel(quantile=0.5)))} "
                             f"[{_pct(float(end.sel(quantile=0.05))).strip()}, "
                             f"{_pct(float(end.sel(quantile=0.95))).strip()}]")
            m = ds["market_quantile"]
            lines.append(f"{'market':<12}{format_amount(float(m.sel(month=0, quantile=0.5)), cur)} -> "
                         f"{format_amount(float(m.sel(month=last, quantile=0.5)))} "
                         f"[{format_amount(float(m.sel(month=last, quantile=0.05)))}, "
                         f"{format_amount(float(m.sel(month=last, quantile=0.95)))}] per year")
        lines += ["", f"Revenue reaches what the valuation requires (required_revenue) at month {last}, "
                  "under competition"]
        for c in ds["company"].values:
            sel = {"company": c, "horizon": last}
            lo, hi = (float(x) for x in ds["required_revenue_reached_ci"].sel(sel).values)
            lines.append(f"{c!s:<12}{format_amount(float(ds['required_revenue'].sel(sel)), cur):>14}/year  "
                         f"P = {_ci(float(ds['required_revenue_reached'].sel(sel)), lo, hi)}")
        return lines

    def table(self) -> str:
        """A readable text summary: outcome probabilities with 95% intervals, champion share,
        valuation against fundamental value."""
        ds = self._ds
        cur = ds.attrs.get("currency", "")
        lines = [f"{ds.attrs.get('scenario_name', 'scenario')}: {ds.attrs.get('paths', 0):,} paths, "
                 f"seed entropy {ds.attrs.get('seed_entropy', '?')}, engine {ds.attrs.get('engine', '?')}",
                 "",
                 "Outcome probabilities, 95% Wilson intervals "
                 "(champion share = P(champion) / (P(champion) + P(collapse)))",
                 f"{'company':<12}{'month':>6}  {'champion':<22}{'contested':<22}{'collapse':<22}"
                 f"{'champion share':<22}"]
        for company in ds["company"].values:
            for h in ds["horizon"].values:
                cells = []
                for outcome in ("champion", "contested", "collapse"):
                    p, lo, hi = self.outcome(company, int(h), outcome)
                    cells.append(f"{_pct(p)} [{_pct(lo).strip()}, {_pct(hi).strip()}]")
                share = float(ds["champion_share"].sel(company=company, horizon=h))
                slo, shi = ds["champion_share_ci"].sel(company=company, horizon=h).values
                cells.append(f"{_pct(share)} [{_pct(slo).strip()}, {_pct(shi).strip()}]")
                lines.append(f"{company:<12}{int(h):>6}  " + "".join(f"{c:<22}" for c in cells))
        if "any_champion" in ds:
            lines += ["", "At least one champion (the 'insurance' view)"]
            for h in ds["horizon"].values:
                p = float(ds["any_champion"].sel(horizon=h))
                lo, hi = ds["any_champion_ci"].sel(horizon=h).values
                lines.append(f"{'month':>6} {int(h):>4}  {_pct(p)} [{_pct(lo).strip()}, {_pct(hi).strip()}]")
        lines += self._joint_lines()
        lines += self._competition_lines()
        lines += ["", f"Valuation at start vs fundamental value ({cur})",
                  "(equity value: each path floored at 0, limited liability; business value: not floored, "
                  "minus the money raised after the start)",
                  f"{'company':<12}{'valuation':>12}{'P/S':>9}{'equity value [95% CI]':>34}"
                  f"{'business value [95% CI]':>36}{'narrative premium':>20}{'E0':>8}"]
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
            lines.append(f"{company:<12}{format_amount(float(sel['valuation_start'])):>12}"
                          f"{float(sel['price_to_sales_start']):>9.0f}{cells[0]:>34}{cells[1]:>36}"
                          f"{format_amount(premium) + f' ({100 * share:.0f}%)':>20}"
                          f"{float(sel['implied_narrative']):>8.2f}")
        if "valuation_quantile" in ds:
            last = int(ds["horizon"].values[-1])
            lines += ["", f"Valuation at month {last}: median and 5-95% range ({cur})"]
            for company in ds["company"].values:
                q = ds["valuation_quantile"].sel(company=company, month=last)
                lines.append(f"{company:<12} median {format_amount(float(q.sel(quantile=0.5))):>10}   "
                             f"5% {format_amount(float(q.sel(quantile=0.05))):>10}   "
                             f"95% {format_amount(float(q.sel(quantile=0.95))):>10}")
        return "\n".join(lines)
