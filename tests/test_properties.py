"""Property-based tests: any valid scenario gives finite outputs and coherent probabilities."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import simulator
from simulator.model.scenario_file import parse_scenario

finite = dict(allow_nan=False, allow_infinity=False)


@st.composite
def branch_effects(draw, *, name: str | None = None, probability: float | None = None) -> list[str]:
    parts = []
    if name is not None:
        parts += [f'name = "{name}"', f"probability = {probability!r}"]
    if draw(st.booleans()):
        parts.append(f"narrative = {{ mean = {draw(st.floats(-1.5, 1.5, **finite))!r}, "
                     f"sd = {draw(st.floats(0, 0.5, **finite))!r} }}")
    if draw(st.booleans()):
        parts.append(f"growth = {draw(st.floats(-0.5, 0.5, **finite))!r}")
    if draw(st.booleans()):
        parts.append(f"demand = {{ mean = {draw(st.floats(-0.5, 0.5, **finite))!r}, sd = 0.1 }}")
    if draw(st.booleans()):
        lo = draw(st.floats(0, 1, **finite))
        parts.append(f"import_cut = [{lo!r}, {draw(st.floats(lo, 1, **finite))!r}]")
    if draw(st.booleans()):
        parts.append(f"cash = {draw(st.floats(-2e9, 2e9, **finite))!r}")
    if draw(st.booleans()):
        parts.append(f"opex = {draw(st.floats(0.5, 2.0, **finite))!r}")
    return parts


@st.composite
def event_table(draw, header: str, name: str) -> str:
    hazard = draw(st.floats(0, 6, **finite))
    if draw(st.booleans()):
        return f"[[{header}]]\nname = \"{name}\"\nhazard_per_year = {hazard!r}\n" + \
            "\n".join(draw(branch_effects())) + "\n"
    k = draw(st.integers(2, 3))
    weights = [draw(st.floats(0.05, 1, **finite)) for _ in range(k)]
    probs = [w / sum(weights) for w in weights]
    probs[-1] = 1.0 - sum(probs[:-1])
    rows = ",\n".join("  { " + ", ".join(draw(branch_effects(name=f"b{i}", probability=p))) + " }"
                      for i, p in enumerate(probs))
    return f"[[{header}]]\nname = \"{name}\"\nhazard_per_year = {hazard!r}\noutcomes = [\n{rows}\n]\n"


@st.composite
def scenarios(draw) -> str:
    n_comp = draw(st.integers(1, 3))
    horizon = draw(st.integers(1, 24))
    text = [f"[scenario]\nname = \"prop\"\nhorizon_months = {horizon}\npaths = 300\nseed = 1\n",
            "[sector.narrative]\n"
            f"kappa = {draw(st.floats(0, 3, **finite))!r}\nsigma = {draw(st.floats(0, 1, **finite))!r}\n"]
    for e in range(draw(st.integers(0, 2))):
        text.append(draw(event_table("sector.events", f"s{e}")))
    for c in range(n_comp):
        chips = draw(st.booleans())
        text.append(f"""[[companies]]
name = "c{c}"
revenue = {draw(st.floats(1e6, 1e10, **finite))!r}
valuation = {draw(st.floats(1e8, 1e12, **finite))!r}
cash = {draw(st.floats(0, 2e10, **finite))!r}
beta_sector = {draw(st.floats(-1, 2, **finite))!r}
[companies.growth]
initial = {draw(st.floats(-0.5, 3, **finite))!r}
kappa = {draw(st.floats(0, 2, **finite))!r}
sigma_growth = {draw(st.floats(0, 0.8, **finite))!r}
sigma_revenue = {draw(st.floats(0, 1, **finite))!r}
volatility_decay = {draw(st.floats(0, 1, **finite))!r}
[companies.pricing]
price_sigma = {draw(st.floats(0, 0.5, **finite))!r}
pass_through = {draw(st.floats(0, 1.5, **finite))!r}
compute_cost_share = {draw(st.floats(0, 1.5, **finite))!r}
scarcity_premium = {draw(st.floats(0, 3, **finite))!r}
[companies.chips]
enabled = {str(chips).lower()}
cards = {draw(st.floats(1, 1e5, **finite))!r}
domestic_per_month = {draw(st.floats(0, 2000, **finite))!r}
imports_per_month = {draw(st.floats(0, 2000, **finite))!r}
[companies.costs]
opex = {draw(st.floats(0, 1e10, **finite))!r}
tax_rate = {draw(st.floats(0, 0.5, **finite))!r}
interest_rate = {draw(st.floats(0, 0.1, **finite))!r}
[companies.funding]
enabled = {str(draw(st.booleans())).lower()}
backstop_probability = {draw(st.floats(0, 1, **finite))!r}
recovery_fraction = {draw(st.floats(0, 1, **finite))!r}
""")
        for e in range(draw(st.integers(0, 2))):
            text.append(draw(event_table("companies.events", f"e{e}")))
    return "\n".join(text)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=scenarios())
def test_random_valid_scenarios_give_finite_coherent_outputs(text):
    sc = parse_scenario(text, source="hypothesis.toml")
    ds = simulator.run(sc, keep_paths=300)
    # Two tallies that must agree: every failed path is a collapse, and survival is what the
    # kept paths' months of failure say (0: never failed).
    failed = 1.0 - ds["survival"].sel(month=ds["horizon"].values).transpose("company", "month").values
    collapse = ds["probability"].sel(outcome="collapse").transpose("company", "horizon").values
    assert (collapse >= failed - 1e-12).all()
    months = ds["failure_month"].values
    alive = np.stack([((months == 0) | (months > m)).mean(axis=0) for m in ds["month"].values], axis=-1)
    np.testing.assert_array_equal(ds["survival"].values, alive)
    for name in ("probability", "probability_ci", "survival", "survival_ci", "valuation_quantile",
                 "revenue_quantile", "cash_quantile", "gross_margin_quantile", "narrative_quantile",
                 "fundamental_value", "mean_valuation", "valuation_start", "implied_narrative"):
        assert np.isfinite(ds[name].values).all(), name
    survival = ds["survival"].values
    assert (np.diff(survival, axis=-1) <= 0).all()
    q = ds["valuation_quantile"].values
    assert (np.diff(q, axis=-1) >= 0).all()
    assert (ds["valuation_quantile"].values >= 0).all()
    # Per path the equity value is the business value plus the floor's shortfall and the money
    # raised, both >= 0 (MODEL.md step 8).
    assert (ds["fundamental_value"].values >= ds["business_value"].values - 1e-9 * ds["valuation_start"].values).all()
