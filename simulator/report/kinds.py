"""Which kind of result a Dataset is (run, sweep, sensitivity, attribution, discovery, batch), and what each needs.

May import: :mod:`simulator.errors`.
"""

from __future__ import annotations

import xarray as xr

from simulator.errors import ReportError

__all__ = ["GIVEN_DATA", "GIVEN_METHODS", "KIND_LABELS", "RUN_REQUIRED", "STUDY_REQUIRED", "from_batch_summary",
           "required_variables", "result_kind"]


#: What each result kind is called in a report's title and messages.
KIND_LABELS = {
    "run": "run",
    "sweep": "sweep",
    "tornado": "one-at-a-time sensitivity",
    "morris": "Morris screening",
    "sobol": "Sobol sensitivity",
    "given-data": "given-data sensitivity",
    "attribution": "attribution of outcomes to uncertain inputs",
    "discovery": "scenario discovery",
    "batch": "batch of scenarios",
}


#: Variables the report of each study kind needs (sweeps and given-data results: see _required).
STUDY_REQUIRED = {
    "tornado": ("low", "high", "base"),
    "sobol": ("S1", "ST", "S1_conf", "ST_conf"),
    "morris": ("mu_star", "mu_star_conf", "sigma"),
    "attribution": ("median_shift", "median_shift_ci", "subset_share"),
    "discovery": ("box_low", "box_high", "restricted", "coverage", "coverage_ci", "density", "density_ci", "mass",
                  "trajectory_coverage", "trajectory_density"),
    "batch": ("probability", "probability_ci"),
}


#: Given-data indices and the variables drawn with them (``simulator.studies.sensitivity`` names).
GIVEN_DATA = {"rbd_fast_S1": ("rbd_fast_S1_conf",), "delta": ("delta_conf",),
               "pawn_median": ("pawn_minimum", "pawn_maximum")}


GIVEN_METHODS = {"rbd-fast", "delta", "pawn"}


def result_kind(ds: xr.Dataset) -> str:
    """What a Dataset holds: one of the keys of :data:`KIND_LABELS` (``run``, ``sweep``, ``morris``, ...).

    A saved study says what it is in its attributes (``method`` of a
    sensitivity or attribution result, ``study = "sweep"``); otherwise its
    variables and dimensions decide (see the shapes in :mod:`simulator.report.figures`).
    Raises :class:`ReportError` for a Dataset that is none of these.
    """
    ds = from_batch_summary(ds)
    names = set(ds.variables)
    method = str(ds.attrs.get("method", ""))
    # Attributes first: a result missing a variable is still recognised, so that the
    # message names the variable instead of saying "not a results Dataset".
    by_method = {"oat": "tornado", "morris": "morris", "sobol": "sobol"}
    if method in by_method:
        return by_method[method]
    if ds.attrs.get("given_data") or (method and set(method.split(",")) <= GIVEN_METHODS):
        return "given-data"
    if method.startswith("median shift"):
        return "attribution"
    if ds.attrs.get("study") == "sweep":
        return "sweep"
    if ds.attrs.get("study") == "discovery":
        return "discovery"
    if {"S1", "ST"} <= names:
        return "sobol"
    if {"low", "high"} <= names:
        return "tornado"
    if "mu_star" in names:
        return "morris"
    if names & set(GIVEN_DATA):
        return "given-data"
    if "median_shift" in names:
        return "attribution"
    if "trajectory_coverage" in names or "box_low" in names:
        return "discovery"
    if "probability" in names:
        dims = ds["probability"].dims
        if "scenario" in dims:
            return "batch"
        if dims == ("company", "horizon", "outcome"):
            return "run"
        if {"company", "horizon", "outcome"} <= set(dims):
            return "sweep"
    raise ReportError("not a results Dataset: needs variable probability (a run, sweep or batch), "
                      "low/high (tornado), mu_star (Morris), S1/ST (Sobol), rbd_fast_S1/delta/pawn_median "
                      "(given data), median_shift (attribution) or box_low (discovery)")


def required_variables(ds: xr.Dataset, kind: str) -> tuple[str, ...]:
    """The variables the report of ``kind`` needs (some depend on what the Dataset has)."""
    if kind == "run":
        return RUN_REQUIRED
    if kind == "sweep":
        if "probability" not in ds.variables:
            return ("probability",)
        swept = [d for d in ds["probability"].dims if d not in ("company", "horizon", "outcome")]
        # One swept key is drawn with its interval bands; a heatmap needs the probabilities only.
        return ("probability", "probability_ci") if len(swept) == 1 else ("probability",)
    if kind == "given-data":
        present = [v for v in GIVEN_DATA if v in ds.variables]
        if not present:
            return ("rbd_fast_S1 (or delta or pawn_median)",)
        return tuple(v for name in present for v in (name, *GIVEN_DATA[name]))
    return STUDY_REQUIRED[kind]


#: Variables without which a run report has no key numbers.
RUN_REQUIRED = ("probability", "probability_ci", "champion_share", "champion_share_ci", "valuation_start",
                "fundamental_value", "fundamental_value_ci", "narrative_premium", "narrative_premium_share")


def from_batch_summary(ds: xr.Dataset) -> xr.Dataset:
    """A batch ``summary.nc`` (one ``row`` per scenario and company) as scenario x company arrays."""
    if "row" not in ds.dims or "scenario" not in ds.coords or "company" not in ds.coords:
        return ds
    extra = [k for k in ds.coords if k not in ("row", "scenario", "company") and "row" in ds[k].dims]
    grid = ds.drop_vars(extra).set_index(row=["scenario", "company"]).unstack("row")
    # In the batch's order (unstack sorts the names).
    order = {k: list(dict.fromkeys(str(v) for v in ds[k].values)) for k in ("scenario", "company")}
    grid = grid.sel(scenario=order["scenario"], company=order["company"])
    grid.attrs = {**ds.attrs, "currency": str(ds["currency"].values[0]) if "currency" in ds.coords else ""}
    return grid
