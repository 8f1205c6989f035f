"""The two engines path by path: identical variates in, the same paths out.

The numpy reference engine can draw the numba kernels' own variates
(``draws="lanes"``: every path's four SFC64 streams seeded as the kernels seed
their lanes, a variate drawn only where and when the kernels draw one, by the
same algorithm; :mod:`simulator.engines.reference_draws`).  Both engines then
simulate the same paths, and every state variable of every company in every
path and month (``trace_paths``), the kept paths, the failure months, the
outcome codes and the tallies must agree:

- discrete quantities exactly: alive, month of failure, cards delivered and
  installed, outcome codes, outcome counts, survivors;
- continuous quantities to 1e-9 of their scale: |kernel - reference| <= 1e-9 x
  the largest |value| of that variable in that path (an absolute floor for
  values that cross zero, such as a narrative or a loss carry-forward being used
  up, where a relative error of a near-zero number means nothing).

Why they can differ at all: the kernels' exp and log are branch-free versions
within an ulp of the C library, and a few formulas are written differently
(the OU variance by expm1 in the reference); these leave differences of about
1e-15 to 1e-11.  Tie rule: a discrete decision taken on a continuous value
(u < P(raise), V <= 0.3 V0, a uniform against a Poisson CDF entry) could in
principle go either way when the two values straddle the threshold within
those ~1e-15; with fixed seeds these tests are deterministic, and none occurs
in them.  This is the check a one-line drift in either engine cannot pass
(the statistical agreement tests, tests/test_engines_agree.py, see only a
large one).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simulator.engines.dispatch import simulate
from simulator.model.quantities import SECTOR_STATE_NAMES, STATE_NAMES
from simulator.model.scenario_file import parse_scenario
from simulator.runner.prepared import prepare_run

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
PATHS = 64
RTOL = 1e-9
DISCRETE = ("alive", "failure_month", "cards", "new_cards")

#: Every channel at once, with keys given as distributions (per-path parameters),
#: correlated, branch jumps with a spread, a cut range, an easing, a backstop and taxes.
UNCERTAIN = """
[scenario]
name = "paths_uncertain"
horizon_months = 24
seed = 5

[sector]
market_size = 2500e9

[[sector.events]]
name = "export_control_escalation"
hazard_per_year = 1.5
import_cut = [0.3, 0.8]

[[sector.events]]
name = "licence"
hazard_per_year = 1.0
import_cut = [0.0, 0.2]
import_multiplier = [1.2, 2.5]

[[sector.events]]
name = "crackdown"
hazard_per_year = 0.8
narrative = { mean = -0.5, sd = 0.3 }
cash = -1e8

[[companies]]
name = "zhipu"
revenue = 724e6
valuation = 700e9
cash = 4e9

[companies.growth]
long_run = { dist = "uniform", low = 0.1, high = 0.6 }
initial = { dist = "normal", mean = 2.0, sd = 0.3, low = 1.0, high = 3.0 }

[companies.chips]
imports_per_month = { dist = "triangular", low = 0.0, mode = 200.0, high = 400.0 }

[companies.costs]
opex = 3e9
tax_rate = 0.25
loss_carryforward = 1e9
interest_rate = 0.02

[companies.funding]
backstop_probability = 0.6
backstop = 2e9

[[companies.events]]
name = "model_release"
hazard_per_year = 3.0
outcomes = [
  { name = "top3", probability = 0.25, narrative = { mean = 0.5, sd = 0.2 }, growth = { mean = 0.3, sd = 0.1 } },
  { name = "flop", probability = 0.25, narrative = { mean = -0.6, sd = 0.2 }, demand = -0.2, opex = 1.1 },
  { name = "par",  probability = 0.50 },
]

[[correlations]]
a = "companies.zhipu.growth.long_run"
b = "companies.zhipu.growth.initial"
rho = 0.5
"""


def _both(scenario, *, paths: int = PATHS, seed: int = 3):
    prepared = prepare_run(scenario, paths=paths, seed=seed)
    common = dict(paths=paths, seed=prepared.seed, keep_paths=paths, trace_paths=paths, outcome_paths=paths,
                  uncertain=prepared.input_callback(), market=prepared.market)
    kernel = simulate(prepared.layout, prepared.plan, **common)
    reference = simulate(prepared.layout, prepared.plan, engine="numpy", draws="lanes", **common)
    return kernel, reference


def _assert_same_paths(kernel, reference) -> None:
    for k, name in enumerate(STATE_NAMES):
        a, b = kernel.trace[k], reference.trace[k]
        assert not np.isnan(a).any() and not np.isnan(b).any(), f"{name}: a month was not traced"
        if name in DISCRETE:
            np.testing.assert_array_equal(a, b, err_msg=name)
            continue
        same = a == b  # equal infinities included (no capacity: log capacity = inf)
        scale = np.max(np.where(np.isfinite(a), np.abs(a), 0.0), axis=-1, keepdims=True)
        with np.errstate(invalid="ignore"):
            close = np.abs(a - b) <= RTOL * scale
        bad = ~(same | close)
        if bad.any():
            p, c, m = np.argwhere(bad)[0]
            pytest.fail(f"{name}: path {p}, company {c}, month {m}: kernel {a[p, c, m]!r}, reference "
                        f"{b[p, c, m]!r} ({int(bad.sum())} cells differ beyond {RTOL:g} of the path's scale)")
    for k, name in enumerate(SECTOR_STATE_NAMES):
        a, b = kernel.trace_sector[k], reference.trace_sector[k]
        assert not np.isnan(a).any() and not np.isnan(b).any(), f"{name}: a month was not traced"
        scale = np.max(np.where(np.isfinite(a), np.abs(a), 0.0), axis=-1, keepdims=True)
        with np.errstate(invalid="ignore"):
            ok = (a == b) | (np.abs(a - b) <= RTOL * np.maximum(scale, 1.0))
        assert ok.all(), f"sector {name}: kernel and reference differ"
    np.testing.assert_array_equal(kernel.path_outcome, reference.path_outcome, err_msg="outcome codes")
    np.testing.assert_array_equal(kernel.fail_month, reference.fail_month, err_msg="failure months")
    np.testing.assert_array_equal(kernel.counts, reference.counts, err_msg="outcome counts")
    np.testing.assert_array_equal(kernel.alive, reference.alive, err_msg="survivors")
    np.testing.assert_array_equal(kernel.n_champions, reference.n_champions, err_msg="champion counts")
    np.testing.assert_allclose(kernel.kept, reference.kept, rtol=1e-6, err_msg="kept paths (float32)")
    np.testing.assert_allclose(kernel.fv, reference.fv, rtol=1e-9, atol=1e-12, err_msg="equity value")
    np.testing.assert_allclose(kernel.bv, reference.bv, rtol=1e-9, atol=1e-12, err_msg="business value")


@pytest.mark.parametrize("name", sorted(p.stem for p in SCENARIOS.glob("*.toml")))
def test_engines_agree_path_by_path_on_every_shipped_scenario(name):
    kernel, reference = _both(SCENARIOS / f"{name}.toml")
    _assert_same_paths(kernel, reference)


def test_engines_agree_path_by_path_with_uncertain_inputs_and_every_channel():
    scenario = parse_scenario(UNCERTAIN, source="paths_uncertain.toml")
    kernel, reference = _both(scenario, paths=2 * PATHS + 7, seed=11)  # two lane groups and a partial one
    _assert_same_paths(kernel, reference)
    # The scenario exercises what it is meant to: failures, cuts, raises, PTRS supply.
    alive = kernel.trace[STATE_NAMES.index("alive")]
    assert (alive[:, :, -1] == 0).any() and (alive[:, :, -1] == 1).any()
    assert (kernel.trace[STATE_NAMES.index("import_factor")] < 1).any()
    assert (kernel.trace[STATE_NAMES.index("import_factor")] > 1).any()  # easings
    assert (kernel.trace[STATE_NAMES.index("raised")] > 0).any()


#: UNCERTAIN with a rival and competition on (MODEL.md step 9): an uncertain market, winner-take-most,
#: a platform price war with spread jumps of the market and of the platforms' pull.
COMPETING = UNCERTAIN.replace("[sector]\nmarket_size = 2500e9", """[sector]
market_size = { dist = "uniform", low = 4e9, high = 20e9 }

[sector.competition]
enabled = true
concentration = 1.5
convergence_rate = 0.3

[[sector.events]]
name = "platform_price_war"
hazard_per_year = 1.5
platforms = { mean = 0.2, sd = 0.1 }
market = { mean = 0.05, sd = 0.05 }""") + """
[[companies]]
name = "minimax"
revenue = 513e6
valuation = 265e9
cash = 3e9

[companies.costs]
opex = 4.5e9                  # heavy spending, so that some paths fail and drop out of the shares
"""


def test_engines_agree_path_by_path_with_competition():
    scenario = parse_scenario(COMPETING, source="paths_competing.toml")
    kernel, reference = _both(scenario, paths=PATHS + 9, seed=13)
    _assert_same_paths(kernel, reference)
    np.testing.assert_array_equal(kernel.pairs, reference.pairs, err_msg="pair counts")
    np.testing.assert_array_equal(kernel.reached, reference.reached, err_msg="required revenue reached")
    np.testing.assert_allclose(kernel.kept_market, reference.kept_market, rtol=1e-6, err_msg="kept market")
    # The shares move, some companies fail (their share drops to 0) and the platforms' share moves.
    share = np.exp(kernel.trace[STATE_NAMES.index("log_share")])
    assert (share[:, :, -1] == 0).any() and (np.ptp(share[:, 0, 1:], axis=-1) > 1e-3).all()
    assert np.ptp(kernel.trace_sector[SECTOR_STATE_NAMES.index("platform_share")], axis=-1).min() > 1e-3


def test_lane_draws_are_what_the_kernels_consume():
    # Reference lane draws against the kernels' traced deliveries: the supply uniform of every
    # path is drawn even for failed companies, so a wrong order would shift every later month.
    kernel, reference = _both(SCENARIOS / "export_controls.toml", paths=PATHS)
    cards = STATE_NAMES.index("new_cards")
    assert kernel.trace[cards].sum() > 0
    np.testing.assert_array_equal(kernel.trace[cards], reference.trace[cards])
