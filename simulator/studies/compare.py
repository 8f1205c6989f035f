"""Compare two results files: differences of every probability and key quantile, with CIs.

When both runs used the same seed, path count and block size and their scenarios
have the same structure (companies, events, horizons), the two runs saw the same
random numbers path by path.  The comparison is then *paired*: both scenarios are
re-simulated together as two parameter sets (so exactly the same streams) and the
per-path outcomes give the discordant counts; the difference of two proportions
has variance ``(p01 + p10 - (p01 - p10)^2) / n``, which common random numbers make
far smaller than the unpaired one.  Otherwise the comparison is *unpaired*:
Newcombe's hybrid score interval from the two Wilson intervals.  Quantile and mean
differences are always unpaired (normal theory from each run's own interval).
Runs with keys given as distributions pair only when both give the same
distributions (``uncertain_inputs``); the re-simulation draws them per path from
the same streams as :func:`simulator.run`.
"""

from __future__ import annotations

import json
import math

import numpy as np
import xarray as xr
from scipy import stats

from simulator.engines.input_draws import input_callback
from simulator.errors import UserError
from simulator.model.parameters import build_layout
from simulator.model.schema import Scenario
from simulator.runner.prepared import prepare_run

__all__ = ["compare", "compare_table", "run_problem"]

MAX_PAIRED_PATHS = 4_000_000  # per-path outcome codes for pairing: 1 byte each
_Z = float(stats.norm.ppf(0.975))
_ORDER_LEVELS = (0.05, 0.5, 0.95)


def _scenario_of(ds: xr.Dataset) -> Scenario:
    data = json.loads(ds.attrs["scenario_json"])
    return Scenario.model_validate({**data, "source_text": ds.attrs.get("scenario_text", ""),
                                    "source_path": ds.attrs.get("scenario_source", "")})


def _pairing_problem(a: xr.Dataset, b: xr.Dataset) -> str | None:
    """Why the two runs cannot be paired (None when they can)."""
    for key in ("seed_entropy", "seed_spawn_key", "paths", "block_size"):
        if str(a.attrs.get(key)) != str(b.attrs.get(key)):
            return f"different {key} ({a.attrs.get(key)} vs {b.attrs.get(key)})"
    if int(a.attrs["paths"]) > MAX_PAIRED_PATHS:
        return f"more than {MAX_PAIRED_PATHS:,} paths"
    if list(a["company"].values) != list(b["company"].values):
        return "different companies"
    if list(a["horizon"].values) != list(b["horizon"].values):
        return "different horizons"
    # One set of per-path draws serves both parameter sets of the re-simulation.
    for key in ("uncertain_inputs", "uncertain_held_fixed"):
        if str(a.attrs.get(key, "")) != str(b.attrs.get(key, "")):
            return "different uncertain inputs (keys given as distributions)"
    la, lb = build_layout(_scenario_of(a)), build_layout(_scenario_of(b))
    if (la.n_theta != lb.n_theta or not np.array_equal(la.events, lb.events)
            or not np.array_equal(la.branches, lb.branches)
            or a.attrs.get("horizon_months") != b.attrs.get("horizon_months")):
        return "different scenario structure (events, branches or months)"
    return None


def _paired_codes(a: xr.Dataset, b: xr.Dataset) -> np.ndarray | None:
    """Per-path outcome codes (set, path, company, horizon) of both runs, or None if the
    re-simulation does not reproduce the stored counts (e.g. another version)."""
    sa, sb = _scenario_of(a), _scenario_of(b)
    root = np.random.SeedSequence(int(a.attrs["seed_entropy"]),
                                  spawn_key=tuple(json.loads(a.attrs.get("seed_spawn_key", "[]"))))
    n = int(a.attrs["paths"])
    prepared = prepare_run(sa, paths=n, seed=root, engine=str(a.attrs.get("engine", "numba")),
                           block_size=int(a.attrs["block_size"]), fans=False)
    la, lb = prepared.layout, build_layout(sb)
    root = prepared.seed
    uncertain = None
    if a.attrs.get("uncertain_inputs"):
        from simulator.model.uncertain import UncertainSet

        unc = UncertainSet.from_json(str(a.attrs["uncertain_inputs"]))
        held = json.loads(str(a.attrs.get("uncertain_held_fixed", "[]")))
        uncertain = input_callback(unc, la, root, exclude=held)
    # The stored run's draws (not the scenario text's): the run may have had overrides.
    tally = prepared.simulate(theta_sets=np.stack([la.theta, lb.theta]), fans=False, outcome_paths=n,
                              inputs=uncertain)
    for s, ds in enumerate((a, b)):
        if not np.array_equal(tally.counts[s], ds["outcome_count"].values):
            return None
    return tally.path_outcome


def _newcombe(p1, ci1, p2, ci2):
    """Newcombe's hybrid score interval for p2 - p1 (independent samples)."""
    l1, u1 = ci1[..., 0], ci1[..., 1]
    l2, u2 = ci2[..., 0], ci2[..., 1]
    d = p2 - p1
    low = d - np.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2)
    high = d + np.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)
    return d, np.stack([low, high], axis=-1)


def _paired(codes: np.ndarray, n: int):
    """Paired differences (b - a) of each outcome's probability and their intervals."""
    ca, cb = codes[0].astype(np.int16), codes[1].astype(np.int16)
    diffs, cis = [], []
    for o in range(3):
        in_a, in_b = ca == o, cb == o
        p01 = np.count_nonzero(~in_a & in_b, axis=0) / n
        p10 = np.count_nonzero(in_a & ~in_b, axis=0) / n
        d = p01 - p10
        half = _Z * np.sqrt(np.maximum(p01 + p10 - d * d, 0.0) / n)
        diffs.append(d)
        cis.append(np.stack([d - half, d + half], axis=-1))
    return np.stack(diffs, axis=-1), np.stack(cis, axis=-2)


def run_problem(ds: xr.Dataset) -> str | None:
    """Why ``ds`` is not the results of one run (None when it is)."""
    study, method = str(ds.attrs.get("study", "")), str(ds.attrs.get("method", ""))
    if study or method:
        return f"a {study or 'study'} result" + (f" ({method})" if method and method != study else "")
    dims = ds["probability"].dims if "probability" in ds else None
    if dims != ("company", "horizon", "outcome"):
        return "no probability by company, horizon and outcome" if dims is None else f"probability over {dims}"
    missing = [k for k in ("scenario_json", "paths") if k not in ds.attrs]
    if missing:
        return f"no {missing[0]} attribute"
    return None


def compare(a: xr.Dataset, b: xr.Dataset, *, paired: bool | None = None) -> xr.Dataset:
    """Differences ``b - a`` of every probability and key quantile, with 95% intervals.

    Parameters
    ----------
    a, b : xarray.Dataset
        Results of :func:`simulator.run` (same companies and horizons).
    paired : bool, optional
        Force (True) or refuse (False) pairing; default: pair when possible.

    Returns
    -------
    xarray.Dataset
        ``probability_difference`` (company, horizon, outcome) with ``_ci`` (bound),
        champion share, any_champion, valuation quantiles at the horizons, fundamental
        value; attrs ``paired`` (0/1) and ``pairing`` (why or why not).
    """
    for label, ds in (("a", a), ("b", b)):
        problem = run_problem(ds)
        if problem:
            raise UserError(f"compare: {label} is not the results of one run ({problem}); compare takes two "
                            "results files of simulator run")
    if list(a["company"].values) != list(b["company"].values) or \
            list(a["horizon"].values) != list(b["horizon"].values):
        raise UserError("compare: the two results must have the same companies and horizons "
                        f"({list(a['company'].values)} @ {list(a['horizon'].values)} vs "
                        f"{list(b['company'].values)} @ {list(b['horizon'].values)})")
    problem = _pairing_problem(a, b)
    if paired and problem:
        raise UserError(f"compare: cannot pair the runs: {problem}")
    codes = None
    if problem is None and paired is not False:
        codes = _paired_codes(a, b)
        if codes is None:
            problem = "re-simulating did not reproduce the stored counts (another version or engine?)"
    coords = {k: a[k] for k in ("company", "horizon", "outcome", "bound")}
    out = xr.Dataset(coords=coords)
    pa, pb = a["probability"].values, b["probability"].values
    if codes is not None:
        d, ci = _paired(codes, int(a.attrs["paths"]))
        method = "paired: same seed and paths, both re-simulated with common random numbers"
    else:
        d, ci = _newcombe(pa, a["probability_ci"].values, pb, b["probability_ci"].values)
        method = "unpaired: Newcombe hybrid score interval"
    out["probability_difference"] = (("company", "horizon", "outcome"), d,
                                     {"long_name": "P(b) - P(a)", "units": "1"})
    out["probability_difference_ci"] = (("company", "horizon", "outcome", "bound"), ci,
                                        {"long_name": "95% interval of the difference", "units": "1"})
    d, ci = _newcombe(a["champion_share"].values, a["champion_share_ci"].values,
                      b["champion_share"].values, b["champion_share_ci"].values)
    out["champion_share_difference"] = (("company", "horizon"), d, {"long_name": "share(b) - share(a)",
                                                                    "units": "1"})
    out["champion_share_difference_ci"] = (("company", "horizon", "bound"), ci,
                                           {"long_name": "95% Newcombe interval", "units": "1"})
    if "any_champion" in a and "any_champion" in b:
        d, ci = _newcombe(a["any_champion"].values, a["any_champion_ci"].values,
                          b["any_champion"].values, b["any_champion_ci"].values)
        out["any_champion_difference"] = (("horizon",), d, {"long_name": "any(b) - any(a)", "units": "1"})
        out["any_champion_difference_ci"] = (("horizon", "bound"), ci,
                                             {"long_name": "95% Newcombe interval", "units": "1"})
    units = a["valuation_start"].attrs.get("units", "")
    if "valuation_quantile" in a and "valuation_quantile" in b:
        qa = a["valuation_quantile"].sel(month=a["horizon"].values, quantile=list(_ORDER_LEVELS))
        qb = b["valuation_quantile"].sel(month=b["horizon"].values, quantile=list(_ORDER_LEVELS))
        d = qb.values - qa.values
        ha = _quantile_half_width(a, qa)
        hb = _quantile_half_width(b, qb)
        half = np.sqrt(ha**2 + hb**2)
        out = out.assign_coords(quantile=list(_ORDER_LEVELS))
        out["valuation_quantile_difference"] = (("company", "horizon", "quantile"), d,
                                                {"long_name": "valuation quantile, b - a", "units": units})
        out["valuation_quantile_difference_ci"] = (("company", "horizon", "quantile", "bound"),
                                                   np.stack([d - half, d + half], axis=-1),
                                                   {"long_name": "95% interval (unpaired)", "units": units})
    for name, label in (("fundamental_value", "equity value"), ("business_value", "business value")):
        if name not in a or name not in b:  # results written before the business value existed
            continue
        fa, fb = a[name].values, b[name].values
        ha = (a[f"{name}_ci"].values[..., 1] - a[f"{name}_ci"].values[..., 0]) / 2
        hb = (b[f"{name}_ci"].values[..., 1] - b[f"{name}_ci"].values[..., 0]) / 2
        half = np.sqrt(ha**2 + hb**2)
        out[f"{name}_difference"] = (("company",), fb - fa, {"long_name": f"{label}, b - a", "units": units})
        out[f"{name}_difference_ci"] = (("company", "bound"), np.stack([fb - fa - half, fb - fa + half], -1),
                                        {"long_name": "95% interval (unpaired)", "units": units})
    out.attrs.update({"a": a.attrs.get("scenario_name", "a"), "b": b.attrs.get("scenario_name", "b"),
                      "a_hash": a.attrs.get("scenario_hash", ""), "b_hash": b.attrs.get("scenario_hash", ""),
                      "paired": int(codes is not None), "method": method,
                      "pairing": "paired" if codes is not None else f"unpaired: {problem or 'not requested'}",
                      "currency": a.attrs.get("currency", "")})
    return out


def _quantile_half_width(ds: xr.Dataset, q: xr.DataArray) -> np.ndarray:
    """Distribution-free 95% half-width of quantiles: the values at the order-statistic ranks
    n q -/+ z sqrt(n q (1 - q)), read from the run's own quantile fan (interpolated)."""
    n = float(ds.attrs["paths"])
    levels = np.asarray(ds["quantile"].values)
    months = ds["horizon"].values
    out = np.empty(q.shape)
    for i, level in enumerate(_ORDER_LEVELS):
        delta = _Z * math.sqrt(level * (1 - level) / n)
        lo_level, hi_level = max(level - delta, levels[0]), min(level + delta, levels[-1])
        fan = ds["valuation_quantile"].sel(month=months)
        lo = np.apply_along_axis(lambda row, x=lo_level: np.interp(x, levels, row), -1, fan.values)
        hi = np.apply_along_axis(lambda row, x=hi_level: np.interp(x, levels, row), -1, fan.values)
        out[..., i] = (hi - lo) / 2.0
    return out


def compare_table(diff: xr.Dataset) -> str:
    """A readable table of the differences."""
    cur = diff.attrs.get("currency", "")
    from simulator.results.formatting import points, text_table

    lines = [f"b - a: {diff.attrs['b']} minus {diff.attrs['a']} ({diff.attrs['method']}; percentage points)", ""]
    rows = []
    for c in diff["company"].values:
        for h in diff["horizon"].values:
            for o in diff["outcome"].values:
                d = float(diff["probability_difference"].sel(company=c, horizon=h, outcome=o))
                lo, hi = diff["probability_difference_ci"].sel(company=c, horizon=h, outcome=o).values
                rows.append([str(c), str(int(h)), str(o), points(d, sign=True),
                             f"[{points(lo, sign=True)}, {points(hi, sign=True)}]"])
            d = float(diff["champion_share_difference"].sel(company=c, horizon=h))
            lo, hi = diff["champion_share_difference_ci"].sel(company=c, horizon=h).values
            if np.isfinite(d):
                rows.append([str(c), str(int(h)), "champion share", points(d, sign=True),
                             f"[{points(lo, sign=True)}, {points(hi, sign=True)}]"])
    lines += text_table(["company", "month", "outcome", "difference", "95% interval"], rows, align="lrlrl")
    from simulator.results.formatting import format_amount

    if "valuation_quantile_difference" in diff:
        lines += ["", f"Valuation quantiles at each horizon, b - a ({cur}; unpaired intervals)"]
        for c in diff["company"].values:
            for h in diff["horizon"].values:
                cells = []
                for q in diff["quantile"].values:
                    d = float(diff["valuation_quantile_difference"].sel(company=c, horizon=h, quantile=q))
                    lo, hi = diff["valuation_quantile_difference_ci"].sel(company=c, horizon=h, quantile=q).values
                    cells.append(f"q{round(100 * q):02d} {format_amount(d)} [{format_amount(lo)}, "
                                 f"{format_amount(hi)}]")
                lines.append(f"{c:<12}{int(h):>6}  " + "   ".join(cells))
    for name, label in (("fundamental_value", "Equity value"), ("business_value", "Business value")):
        if f"{name}_difference" not in diff:
            continue
        lines += ["", f"{label}, b - a ({cur})"]
        for c in diff["company"].values:
            d = float(diff[f"{name}_difference"].sel(company=c))
            lo, hi = diff[f"{name}_difference_ci"].sel(company=c).values
            lines.append(f"{c:<12} {format_amount(d)} [{format_amount(lo)}, {format_amount(hi)}]")
    lines.append(f"\npairing: {diff.attrs['pairing']}")
    return "\n".join(lines)

