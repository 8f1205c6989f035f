"""Numpy reference engine: the model of MODEL.md, vectorised over a block's paths.

This engine exists to be checked against: the numba kernels (``_kernels.py``)
are fast but hard to read, so the tests compare their results with this
second, independent implementation written from MODEL.md.  The two agree *in
distribution*, not bit for bit: both use the same four random streams of a
block (:func:`simulator.engines.streams.block_generators`), but this engine draws
whole vectors at a time (one variate per path for each quantity) where the
kernel walks one path after another.

Python loops run over months, parameter sets, companies, events and event
occurrences, never over paths; every path-level quantity is a numpy array of
length ``n_paths`` (state arrays are ``(n_companies, n_paths)``).

Choices the model leaves open follow the numba engine, so that both estimate
the same quantities (the tests would flag any difference):

* a month runs: event arrivals and their effects; the sector mood's OU step;
  per company the narrative, revenue, growth, price and cost steps (revenue
  drift uses the growth rate before its own step, Euler-style as in
  Schwartz-Moon) and volatility decay; with competition on, the market, the
  platforms' pull and the shares (:mod:`simulator.engines.reference_competition`);
  then per company card supply, served revenue and margin, the cash flow, the
  valuation, then funding, backstop and failure;
* the runway test uses cash after the month's flow and the month's burn
  ``-flow``; a raise is tried before the backstop, and the backstop is tried
  once, only when cash is below zero; a company fails when cash stays below
  zero;
* a failed company records revenue, cash and capacity 0, valuation
  ``recovery_fraction * V`` at failure, its margin frozen at failure and its
  narrative ``N + beta_sector * S`` (S keeps moving; N is no longer diffused
  but still takes the jumps of its own events);
* with no capacity (no cards) the scarcity premium is taken as zero (the
  formula's ``D / capacity`` is undefined and served revenue is 0 anyway);
* the fundamental value is ``cash + exit_multiple * (R g - O)`` at the end
  discounted over the horizon, ``O`` being the opex rate of the last month,
  and 0 for failed companies: floored at 0 on every path as the equity value
  (limited liability); not floored and minus the money raised after the start
  (raises and backstop, each discounted from the end of its month) as the
  business value.
"""

from __future__ import annotations

import math

import numpy as np

from simulator.engines.plan import RunPlan
from simulator.engines.reference_competition import Market
from simulator.engines.reference_draws import BlockDraws, LaneDraws
from simulator.engines.streams import block_generators, block_states
from simulator.engines.tally import Tally, empty_tally
from simulator.model import quantities as Q
from simulator.model.parameters import BRANCH, COMPANY, EVENT, GLOBAL, ParameterLayout

__all__ = ["bin_index", "simulate_block"]

_LN10 = math.log(10.0)


# ----------------------------------------------------------------------------- helpers


def bin_index(values: np.ndarray, var: int | tuple[bool, float, float]) -> np.ndarray:
    """Histogram bin of each value of variable ``var`` (its grid in :mod:`simulator.model.quantities`).

    Bin 0 holds values below ``HIST_LOW`` (for amounts, binned in log10: any
    value below 1, including zero and negative amounts), the last bin values at
    or above ``HIST_HIGH``, and the bins in between split the range uniformly.

    Parameters
    ----------
    values : array_like
        Values of one variable.
    var : int or tuple
        Variable index (``quantities.VAR_*``), or a grid ``(log10, low, high)``
        (the competition histograms, :func:`simulator.model.quantities.share_grid`).

    Returns
    -------
    ndarray of int64
        Bin indices in ``0 .. HIST_BINS - 1``.

    Notes
    -----
    The arithmetic is the same as the kernel's (natural log divided by ln 10,
    then ``(x - low) / (high - low) * (bins - 2)`` truncated), so identical
    values land in identical bins and fans from both engines line up.  NaN,
    which valid states never produce, falls in bin 0 (it is not ``>= LOW``),
    so every path is still counted once.
    """
    values = np.asarray(values, dtype=np.float64)
    log10, low, high = var if isinstance(var, tuple) else (Q.HIST_LOG10[var], Q.HIST_LOW[var], Q.HIST_HIGH[var])
    nb = Q.HIST_BINS
    if log10:
        positive = values > 0.0
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.log(np.where(positive, values, 1.0)) / _LN10
        # Zero and negative amounts have no logarithm: they belong to bin 0.
        x = np.where(positive, x, -np.inf)
    else:
        x = values
    with np.errstate(invalid="ignore"):
        scaled = (x - low) / (high - low) * (nb - 2)
        below = ~(x >= low)  # NaN included
        above = x >= high
    inner = ~(below | above)
    j = np.ones(values.shape, dtype=np.int64)
    # Truncation and floor agree here: scaled >= 0 inside the range.
    j[inner] += np.floor(scaled[inner]).astype(np.int64)
    np.minimum(j, nb - 2, out=j)
    j[below] = 0
    j[above] = nb - 1
    return j


def _take(x, idx):
    """``x`` at paths ``idx`` when it is per-path, else the scalar itself."""
    if isinstance(x, np.ndarray) and x.ndim:
        return x[idx]
    return x


def _ou_coefficients(kappa, sigma, dt):
    """Exact OU step ``x' = m + (x - m) a + b z``; ``kappa = 0`` is a random walk.

    Works on scalars and per-path arrays alike; ``-expm1`` keeps ``1 - e^{-2 k dt}``
    accurate for small ``kappa`` and the ``kappa = 0`` limit is ``sigma^2 dt``.
    """
    kappa = np.asarray(kappa, dtype=np.float64)
    a = np.exp(-kappa * dt)
    positive = kappa > 0.0
    safe = np.where(positive, kappa, 1.0)
    var = np.where(positive, -np.expm1(-2.0 * safe * dt) / (2.0 * safe), dt)
    return a, sigma * np.sqrt(var)


def _poisson_by_inversion(u: np.ndarray, lam) -> np.ndarray:
    """Poisson(lam) counts from uniforms ``u`` by inversion of the CDF.

    Inversion uses exactly one uniform per path whatever the rate, so parameter
    sets with different hazards consume the diffusion stream identically and
    their event counts are coupled monotonically (common random numbers).
    The loop runs over count values, on the ever fewer paths still above the CDF.
    """
    lam = np.broadcast_to(np.asarray(lam, dtype=np.float64), u.shape)
    count = np.zeros(u.shape, dtype=np.int64)
    p = np.exp(-lam)
    idx = np.flatnonzero(u > p)
    if idx.size == 0:
        return count
    u_i, lam_i, p_i = u[idx], lam[idx], p[idx]
    cdf = p_i.copy()
    k = 0
    active = np.ones(idx.size, dtype=bool)
    # 10,000 exceeds any monthly mean the scenario ranges allow (hazard <= 1000/year).
    while k < 10_000:
        k += 1
        p_i = p_i * lam_i / k
        cdf = cdf + p_i
        count[idx[active]] += 1
        active &= u_i > cdf
        if not active.any():
            break
    return count


def _logistic(x):
    """``1 / (1 + exp(-x))`` without overflow warnings for large ``|x|``."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=np.float64)))


class _Theta:
    """One parameter set: scalars, except uncertain slots, which are per-path arrays."""

    def __init__(self, row: np.ndarray, slots: np.ndarray, values: np.ndarray):
        self._row = row
        # Later columns win if a slot is listed twice, as when overriding in order.
        self._over = {int(slot): np.ascontiguousarray(values[:, j], dtype=np.float64)
                      for j, slot in enumerate(slots)}

    def __getitem__(self, slot: int):
        value = self._over.get(int(slot))
        return float(self._row[slot]) if value is None else value


class _Company:
    """A company's parameters (``p``, by the schema's names) and the per-step constants derived from them."""

    def __init__(self, th: _Theta, c: int, dt: float):
        off = ParameterLayout.company_offset(c)
        p = self.p = COMPANY.view(lambda slot: th[off + slot])
        self.a_n, self.b_n = _ou_coefficients(p.narrative.kappa, p.narrative.sigma, dt)
        # Growth noise scale per unit sigma: sigma_growth itself decays with time.
        self.a_g, self.b_g = _ou_coefficients(p.growth.kappa, 1.0, dt)
        self.decay = np.exp(-np.asarray(p.growth.volatility_decay) * dt)
        self.chips_on = np.asarray(p.chips.enabled) > 0.5
        self.opex_growth_factor = np.exp(np.asarray(p.costs.opex_growth) * dt)
        self.funding_on = np.asarray(p.funding.enabled) > 0.5
        self.log_base = np.log(p.valuation_model.base_multiple)


def _serve(cp: _Company, log_d, log_p, log_c, cards):
    """Served revenue, capacity and gross margin (MODEL.md items 4 and 5)."""
    demand = np.exp(log_d)
    price = np.exp(log_p)
    cap = np.where(cp.chips_on, cards * cp.p.chips.revenue_per_card * price, np.inf)
    served = np.minimum(demand, cap)
    # The scarcity premium needs a finite, positive capacity; without cards
    # nothing is served and the premium is taken as zero.
    limited = np.isfinite(cap) & (cap > 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        excess = np.where(limited, np.maximum(demand / np.where(limited, cap, 1.0) - 1.0, 0.0), 0.0)
    c_eff = np.exp(log_c) * (1.0 + cp.p.pricing.scarcity_premium * excess)
    margin = 1.0 - c_eff / price
    return served, cap, margin


# ----------------------------------------------------------------------------- one set


class _SetRun:
    """All paths of one block under one parameter set, month by month."""

    def __init__(self, layout: ParameterLayout, plan: RunPlan, th: _Theta, n: int,
                 draws: BlockDraws | LaneDraws):
        self.layout = layout
        self.plan = plan
        self.th = th
        self.g = GLOBAL.view(th.__getitem__)
        self.n = n
        self.dt = float(plan.dt)
        self.sqdt = math.sqrt(self.dt)
        self.draws = draws
        self.n_comp = len(layout.company_names)
        self.cps = [_Company(th, c, self.dt) for c in range(self.n_comp)]
        self.s_a, self.s_b = _ou_coefficients(self.g.sector.narrative.kappa, self.g.sector.narrative.sigma, self.dt)
        self.s_long_run = self.g.sector.narrative.long_run

        shape = (self.n_comp, n)
        self.sector = np.full(n, 1.0) * self.g.sector.narrative.initial
        self.narr = np.zeros(shape)      # company narrative N
        self.mu = np.zeros(shape)        # expected growth
        self.log_d = np.zeros(shape)     # log demand revenue
        self.log_p = np.zeros(shape)     # log price index
        self.log_c = np.zeros(shape)     # log unit compute cost
        self.cards = np.zeros(shape)
        self.imp = np.ones(shape)        # import factor I
        self.cash = np.zeros(shape)
        self.opex = np.zeros(shape)      # opex rate for the coming month
        self.opex_used = np.zeros(shape)  # opex rate of the month just simulated
        self.lcf = np.zeros(shape)       # tax loss carry-forward
        self.sig_r = np.zeros(shape)
        self.sig_g = np.zeros(shape)
        self.served = np.zeros(shape)
        self.cap = np.zeros(shape)
        self.margin = np.zeros(shape)
        self.margin0 = np.zeros(shape)
        self.log_v = np.zeros(shape)
        self.alive = np.ones(shape, dtype=bool)
        self.v_fail = np.zeros(shape)
        self.fail_month = np.zeros(shape, dtype=np.int64)
        self.new_cards = np.zeros(shape)  # cards delivered in the month just simulated
        self.raised = np.zeros(shape)    # money raised after the start, discounted to it
        with np.errstate(divide="ignore"):
            for c, cp in enumerate(self.cps):
                self.mu[c] = cp.p.growth.initial
                self.log_d[c] = np.log(cp.p.revenue)
                self.log_c[c] = np.log(cp.p.pricing.compute_cost_share)  # -inf for a zero share: no compute cost
                self.cards[c] = cp.p.chips.cards
                self.cash[c] = cp.p.cash
                self.opex[c] = cp.p.costs.opex
                self.opex_used[c] = cp.p.costs.opex
                self.lcf[c] = cp.p.costs.loss_carryforward
                self.sig_r[c] = cp.p.growth.sigma_revenue
                self.sig_g[c] = cp.p.growth.sigma_growth
                served, cap, margin = _serve(cp, self.log_d[c], self.log_p[c], self.log_c[c],
                                             self.cards[c])
                self.served[c], self.cap[c], self.margin[c] = served, cap, margin
                self.margin0[c] = margin
                # MODEL.md item 7: the stated valuation implies today's narrative
                # (the margin term is zero at start by construction).
                e0 = (np.log(cp.p.valuation / served) - cp.log_base
                      - cp.p.valuation_model.growth_sensitivity * (cp.p.growth.initial - cp.p.growth.long_run))
                self.narr[c] = e0 - cp.p.beta_sector * self.sector
                self.log_v[c] = np.log(cp.p.valuation)
        self.market = Market(self.g, [cp.p.revenue for cp in self.cps], n)

    # -- events ----------------------------------------------------------------

    def events(self) -> None:
        """Arrivals of every event type this month, and their effects."""
        th, lay = self.th, self.layout
        for comp, slot, first, n_br in lay.events:
            # One uniform per path and event type, from the diffusion stream, so
            # the number of variates drawn does not depend on the hazards.
            u = self.draws.event_uniforms(self.n)
            count = _poisson_by_inversion(u, EVENT.view(lambda s, record=slot: th[record + s]).hazard_per_year * self.dt)
            for k in range(1, int(count.max(initial=0)) + 1):
                idx = np.flatnonzero(count >= k)
                if n_br > 1:
                    probs = [th[lay.branches[first + b] + BRANCH.slot("probability")] for b in range(n_br)]
                    total = sum(probs)
                    ub = self.draws.branch_uniforms(idx) * _take(total, idx)
                    # Branch = number of cumulative-probability boundaries passed.
                    choice = np.zeros(idx.size, dtype=np.int64)
                    acc = 0.0
                    for b in range(n_br - 1):
                        acc = acc + _take(probs[b], idx)
                        choice += ub >= acc
                else:
                    choice = np.zeros(idx.size, dtype=np.int64)
                for b in range(n_br):
                    sub = idx[choice == b]
                    if sub.size:
                        self._apply_branch(int(comp), int(lay.branches[first + b]), sub)

    def _jump(self, mean, sd, sub):
        mean, sd = _take(mean, sub), _take(sd, sub)
        z = self.draws.jump_normals(sub, sd)
        if z is None:
            return np.broadcast_to(np.asarray(mean, dtype=np.float64), sub.shape)
        return mean + sd * z

    def _uniform_in(self, bounds, sub):
        """A value drawn uniformly in a range effect's [low, high] for each path of ``sub`` (drawn only
        where the range has a width, as the kernels draw)."""
        lo, hi = _take(bounds.low, sub), _take(bounds.high, sub)
        width = np.maximum(np.asarray(hi) - lo, 0.0)
        u = self.draws.range_uniforms(sub, width)
        return lo + width * u if u is not None else np.broadcast_to(np.asarray(lo, dtype=np.float64), sub.shape)

    def _apply_branch(self, comp: int, bslot: int, sub: np.ndarray) -> None:
        br = BRANCH.view(lambda slot: self.th[bslot + slot])
        narr = self._jump(br.narrative.mean, br.narrative.sd, sub)
        growth = self._jump(br.growth.mean, br.growth.sd, sub)
        demand = self._jump(br.demand.mean, br.demand.sd, sub)
        cut = self._uniform_in(br.import_cut, sub)
        # The import factor's multiplier of one arrival: 1 - cut times the easing factor.
        imports = (1.0 - cut) * self._uniform_in(br.import_multiplier, sub)
        if comp < 0 and self.market.on:
            # The shared market's jumps, drawn after the others (nothing is drawn without competition).
            market = self._jump(br.market.mean, br.market.sd, sub)
            self.market.jump(sub, market, self._jump(br.platforms.mean, br.platforms.sd, sub))
        cash = _take(br.cash, sub)
        opex_mult = _take(br.opex, sub)
        # Sector events move the mood S and hit every company with the same
        # draw (one shared shock per path); company events move that company's N.
        if comp < 0:
            self.sector[sub] += narr
            targets = range(self.n_comp)
        else:
            self.narr[comp, sub] += narr
            targets = (comp,)
        for c in targets:
            # A failed company's economics are frozen: effects only hit live ones.
            live = self.alive[c, sub]
            self.mu[c, sub] += np.where(live, growth, 0.0)
            self.log_d[c, sub] += np.where(live, demand, 0.0)
            self.imp[c, sub] *= np.where(live, imports, 1.0)
            self.cash[c, sub] += np.where(live, cash, 0.0)
            self.opex[c, sub] *= np.where(live, opex_mult, 1.0)

    # -- diffusion, chips, cash, funding ------------------------------------------

    def diffuse_company(self, c: int, z: np.ndarray) -> dict[str, np.ndarray]:
        """Company ``c``'s narrative, demand, growth, price, cost and volatility steps of the month (not committed)."""
        cp, dt, sqdt = self.cps[c], self.dt, self.sqdt
        z_n, z_mu, z_d, z_p = z
        narr = cp.p.narrative.long_run + (self.narr[c] - cp.p.narrative.long_run) * cp.a_n + cp.b_n * z_n
        sig_r, sig_g = self.sig_r[c], self.sig_g[c]
        dlogp = cp.p.pricing.price_drift * dt + cp.p.pricing.price_sigma * sqdt * z_p
        # Schwartz-Moon revenue step with this month's growth and volatility,
        # lowered by the market price of risk, and the demand response to price.
        log_d = (self.log_d[c] + (self.mu[c] - cp.p.growth.market_price_of_risk * sig_r - 0.5 * sig_r * sig_r) * dt
                 + sig_r * sqdt * z_d - cp.p.pricing.elasticity * dlogp)
        mu = cp.p.growth.long_run + (self.mu[c] - cp.p.growth.long_run) * cp.a_g + sig_g * cp.b_g * z_mu
        log_p = self.log_p[c] + dlogp
        log_c = self.log_c[c] + cp.p.pricing.pass_through * dlogp + cp.p.pricing.compute_cost_drift * dt
        # Volatilities move to their long-run values: x0 e^{-kt} + x_inf (1 - e^{-kt}).
        sig_r_next = cp.p.growth.sigma_revenue_long_run + (sig_r - cp.p.growth.sigma_revenue_long_run) * cp.decay
        sig_g_next = sig_g * cp.decay
        return {"narr": narr, "log_d": log_d, "mu": mu, "log_p": log_p, "log_c": log_c, "sig_r": sig_r_next,
                "sig_g": sig_g_next}

    def step_company(self, c: int, moved: dict[str, np.ndarray], m: int) -> None:
        """The rest of company ``c``'s month, after every company's diffusion (and the shares)."""
        cp, dt = self.cps[c], self.dt
        live = self.alive[c].copy()  # a copy: alive is updated at the end of the month
        narr, log_d, mu, log_p, log_c = (moved[k] for k in ("narr", "log_d", "mu", "log_p", "log_c"))
        # With competition the demand served is the competed demand share * M (MODEL.md step 9).
        demand = self.market.log_competed[c] if self.market.on else log_d

        # Chips: depreciation plus Poisson deliveries (domestic + imports * I in
        # one draw, equal in law to the sum of two Poissons); none for the dead.
        lam = np.where(live & cp.chips_on, cp.p.chips.domestic_per_month + cp.p.chips.imports_per_month * self.imp[c], 0.0)
        new_cards = self.draws.new_cards(c, lam, live, cp.chips_on)
        cards = np.where(cp.chips_on, self.cards[c] * (1.0 - cp.p.chips.depreciation * dt) + new_cards,
                         self.cards[c])
        served, cap, margin = _serve(cp, demand, log_p, log_c, cards)

        # Cash: operating result, card purchases, interest on the cash held at the
        # start of the month, taxes once the loss carry-forward is used up.
        opex = self.opex[c].copy()
        op = (served * margin - opex) * dt
        loss = op < 0.0
        used = np.where(loss, 0.0, np.minimum(self.lcf[c], op))
        lcf = np.where(loss, self.lcf[c] - op, self.lcf[c] - used)
        tax = np.where(loss, 0.0, cp.p.costs.tax_rate * (op - used))
        flow = op - new_cards * cp.p.chips.card_price + cp.p.costs.interest_rate * self.cash[c] * dt - tax
        cash = self.cash[c] + flow

        e_eff = narr + cp.p.beta_sector * self.sector
        with np.errstate(divide="ignore"):
            log_v = np.where(served > 0.0,
                             np.log(np.where(served > 0.0, served, 1.0)) + cp.log_base
                             + cp.p.valuation_model.growth_sensitivity * (mu - cp.p.growth.long_run)
                             + cp.p.valuation_model.margin_sensitivity * (margin - self.margin0[c]) + e_eff,
                             -np.inf)
        # Cap at MAX_LOG_MULTIPLE above V0, as the kernel does, so statistics stay finite.
        log_v = np.minimum(log_v, np.log(cp.p.valuation) + Q.MAX_LOG_VALUATION_RATIO)
        value = np.exp(log_v)

        # Funding: block draws are two uniforms per path every month (raise, backstop)
        # whether used or not, so the funding stream stays aligned across paths and
        # sets; lane draws only where a raise is tried and where cash is still short.
        burn = -flow
        trying = cp.funding_on & (burn > 0.0) & (cash < cp.p.funding.runway_trigger_months * burn)
        u_raise = self.draws.raise_uniforms(live & trying)
        raised = trying & (u_raise < _logistic(cp.p.funding.base_logit + cp.p.funding.narrative_sensitivity * e_eff))
        cash = cash + np.where(raised, cp.p.funding.raise_fraction_of_valuation * value, 0.0)
        short = cp.funding_on & (cash < 0.0)
        u_back = self.draws.backstop_uniforms(live & short)
        saved = short & (u_back < cp.p.funding.backstop_probability)
        cash = cash + np.where(saved, cp.p.funding.backstop, 0.0)
        fails = live & (cash < 0.0)
        # Money brought in, discounted to the start from the month's end (the business value's deduction).
        brought = (np.where(raised, cp.p.funding.raise_fraction_of_valuation * value, 0.0)
                   + np.where(saved, cp.p.funding.backstop, 0.0))
        self.raised[c] = np.where(live, self.raised[c] + brought * np.exp(-cp.p.valuation_model.discount_rate * (m * dt)),
                                  self.raised[c])

        # Commit the month for live companies only: failure is absorbing.
        for name, new in (("narr", narr), ("log_d", log_d), ("mu", mu), ("log_p", log_p),
                          ("log_c", log_c), ("sig_r", moved["sig_r"]), ("sig_g", moved["sig_g"]),
                          ("cards", cards), ("served", served), ("cap", cap),
                          ("margin", margin), ("lcf", lcf), ("cash", cash), ("log_v", log_v),
                          ("opex_used", np.broadcast_to(opex, live.shape)),
                          ("opex", opex * cp.opex_growth_factor)):
            arr = getattr(self, name)
            arr[c] = np.where(live, new, arr[c])
        self.new_cards[c] = np.where(live, new_cards, 0.0)
        self.alive[c] = live & ~fails
        self.fail_month[c][fails] = m
        self.v_fail[c] = np.where(fails, cp.p.funding.recovery_fraction * value, self.v_fail[c])

    def step(self, m: int) -> None:
        """Month ``m``: events, sector mood, then every company."""
        z_s = self.draws.sector_normals(self.n)
        self.events()
        # Jumps of this month are part of the state the OU step starts from.
        self.sector = self.s_long_run + (self.sector - self.s_long_run) * self.s_a + self.s_b * z_s
        # Diffusion shocks for every company and path, failed or not: a fixed
        # number of variates per month keeps parameter sets on common numbers.
        z = self.draws.company_normals(self.n_comp, self.n)
        moved = [self.diffuse_company(c, z[c]) for c in range(self.n_comp)]
        if self.market.on:
            # The shares need every company's pull; the market's normals come from their own stream.
            pulls = np.stack([np.where(self.alive[c], moved[c]["log_d"], self.log_d[c]) for c in range(self.n_comp)])
            self.market.step(self.draws.market_normals(self.n), self.dt, pulls, self.alive)
        for c in range(self.n_comp):
            self.step_company(c, moved[c], m)

    # -- what is recorded ----------------------------------------------------------

    def recorded(self, c: int) -> list[np.ndarray]:
        """Company ``c``'s recorded variables (``_layout.VAR_*`` order)."""
        live = self.alive[c]
        return [
            np.where(live, self.served[c], 0.0),
            np.where(live, np.exp(self.log_v[c]), self.v_fail[c]),
            np.where(live, self.cash[c], 0.0),
            np.where(live, self.cap[c], 0.0),
            self.margin[c].copy(),
            self.narr[c] + self.cps[c].p.beta_sector * self.sector,
        ]

    def state(self, c: int) -> list[np.ndarray]:
        """Company ``c``'s whole state (:data:`simulator.model.quantities.STATE_NAMES` order), for traces."""
        with np.errstate(divide="ignore"):
            log_cap = np.log(self.cap[c])
        return [self.narr[c], self.mu[c], self.log_d[c], self.log_p[c], self.log_c[c], self.cards[c], self.imp[c],
                self.cash[c], self.opex[c], self.lcf[c], self.alive[c].astype(np.float64), self.v_fail[c],
                self.fail_month[c].astype(np.float64), self.sig_r[c], self.sig_g[c], self.served[c],
                self.new_cards[c], self.margin[c], self.log_v[c], log_cap, self.raised[c],
                self.market.log_share[c], self.market.log_competed[c]]

    def sector_state(self) -> list[np.ndarray]:
        """The sector's state (:data:`simulator.model.quantities.SECTOR_STATE_NAMES` order), for traces."""
        return [self.sector, *self.market.state()]

    def required_revenue(self, c: int, t: float) -> np.ndarray:
        """Annual revenue at time ``t`` (years) that makes company ``c``'s stated valuation fair, per path.

        As :func:`simulator.results.dataset.required_revenue`, with each path's own parameters.
        """
        p = self.cps[c].p
        multiple, margin = p.valuation_model.exit_multiple, self.margin0[c]
        ok = (np.asarray(multiple) > 0.0) & (margin > 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            need = (p.valuation * np.exp(p.valuation_model.discount_rate * t) / multiple
                    + p.costs.opex * np.exp(p.costs.opex_growth * t)) / margin
        return np.where(ok, need, np.inf)

    def outcome(self, c: int, valuation: np.ndarray) -> np.ndarray:
        """Outcome of company ``c`` at a horizon (MODEL.md "Outcomes")."""
        cp = self.cps[c]
        v0 = cp.p.valuation
        live = self.alive[c]
        collapse = ~live | (valuation <= self.g.outcomes.collapse_valuation_ratio * v0)
        # V / R <= max written as V <= max * R: R > 0 whenever V > 0.
        champion = (~collapse & (valuation >= self.g.outcomes.champion_valuation_ratio * v0)
                    & (valuation <= self.g.outcomes.champion_max_price_to_sales * self.served[c]))
        return np.where(collapse, Q.COLLAPSE, np.where(champion, Q.CHAMPION, Q.CONTESTED))

    def fundamental(self, c: int) -> tuple[np.ndarray, np.ndarray]:
        """Equity value and business value at start relative to V0 (MODEL.md step 8)."""
        cp = self.cps[c]
        horizon = self.plan.n_months * self.dt
        profit = self.served[c] * self.margin[c] - self.opex_used[c]
        value = self.cash[c] + cp.p.valuation_model.exit_multiple * profit
        discount = np.exp(-cp.p.valuation_model.discount_rate * horizon)
        equity = np.where(self.alive[c], np.maximum(value, 0.0) * discount, 0.0)  # limited liability
        business = np.where(self.alive[c], value * discount, 0.0) - self.raised[c]
        return equity / cp.p.valuation, business / cp.p.valuation


def _pair_counts(outcomes: np.ndarray) -> np.ndarray:
    """Paths in which both companies of a pair (first < second) are champions (0) or collapse (1).

    ``outcomes`` (company, path) outcome codes; returns (2, company, company) int64.
    """
    n_comp = outcomes.shape[0]
    out = np.zeros((2, n_comp, n_comp), dtype=np.int64)
    for k, code in enumerate((Q.CHAMPION, Q.COLLAPSE)):
        hit = outcomes == code
        for c in range(n_comp):
            for d in range(c + 1, n_comp):
                out[k, c, d] = int(np.count_nonzero(hit[c] & hit[d]))
    return out


def _moments(x: np.ndarray) -> np.ndarray:
    """(count, mean, M2) of ``x``; two-pass, so the mean is accurate."""
    mean = float(np.mean(x))
    return np.array([float(x.size), mean, float(np.sum((x - mean) ** 2))])


# ----------------------------------------------------------------------------- entry point


def simulate_block(layout: ParameterLayout, plan: RunPlan, theta_sets: np.ndarray,
                   blk: tuple[int, int, int], seed: np.random.SeedSequence, *, fans: bool,
                   keep: int, uncertain=None, market=None, outcome_paths: int = 0, trace: int = 0,
                   draws: str = "block") -> Tally:
    """Simulate one block of paths under every parameter set, with numpy.

    Parameters
    ----------
    layout : ParameterLayout
        The scenario's flattened parameters and event tables.
    plan : RunPlan
        Months, horizons and recorded months.
    theta_sets : ndarray, shape (n_sets, n_theta)
        Parameter sets.  Each set restarts the block's generators, so all sets
        see the same random numbers (common random numbers).
    blk : tuple of int
        ``(block_index, first_path, n_paths)``.
    seed : SeedSequence
        Root of the run's streams (see :func:`simulator.engines.streams.block_generators`).
    fans : bool
        Fill the histograms and min/max of the recorded months.
    keep : int
        Keep the full paths whose global index is below ``keep`` (float32, the
        first parameter set's paths) and their failure months.
    uncertain : callable, optional
        ``uncertain(block, first_path, n_paths) -> (slots, values)``: per-path
        values (shape ``(n_paths, n_slots)``) overriding those theta slots in
        every set.
    market : ndarray, optional
        Market size at each horizon, (horizon,) or (set, horizon): count the paths
        whose combined served revenue exceeds it.
    outcome_paths : int
        Record outcome codes for paths whose global index is below this.
    trace : int
        Trace the whole state of the paths whose global index is below this (set 0).
    draws : {"block", "lanes"}
        The block's own streams, or the kernels' per-path lane streams and sampling
        choices (:mod:`simulator.engines.reference_draws`).

    Returns
    -------
    Tally
        This block's tallies, to be merged with
        :func:`simulator.engines.tally.merge_tallies` in block order.

    Notes
    -----
    Kept paths come from set 0 only: with several sets a kept path would
    otherwise have several histories for one index.
    """
    block, first, n = (int(v) for v in blk)
    theta_sets = np.asarray(theta_sets, dtype=np.float64)
    n_sets = theta_sets.shape[0]
    n_comp = len(layout.company_names)
    n_hor = plan.horizons.size
    n_kept = max(0, min(first + n, keep) - first)
    enabled = theta_sets[:, GLOBAL.slot("sector.competition.enabled")] > 0.5
    tally = empty_tally(n_sets, n_comp, plan, fans=fans, keep=keep, outcome_paths=outcome_paths, trace=trace,
                        competition=bool(enabled.any()))
    n_traced = max(0, min(first + n, trace) - first)
    n_out = max(0, min(first + n, outcome_paths) - first)
    markets = np.zeros((n_sets, n_hor))
    if market is not None:
        markets[:] = np.asarray(market, dtype=np.float64).reshape(-1, n_hor)
    if n_kept == 0:
        # A block past the kept paths contributes nothing there (merge skips None).
        tally.kept = None
        tally.kept_market = None
        tally.fail_month = None
    if uncertain is not None:
        slots, values = uncertain(block, first, n)
        slots = np.asarray(slots, dtype=np.int64).ravel()
        values = np.asarray(values, dtype=np.float64).reshape(n, slots.size)
    else:
        slots, values = np.zeros(0, dtype=np.int64), np.zeros((n, 0))
    fv_block = np.zeros((1, n_sets, n_comp, 3))
    bv_block = np.zeros((1, n_sets, n_comp, 3))
    vh_block = np.zeros((1, n_sets, n_comp, n_hor, 3))
    rec_row = plan.rec_row
    horizon_index = {int(h): i for i, h in enumerate(plan.horizons)}

    for s in range(n_sets):
        market = markets[s]
        source = (LaneDraws(block_states(seed, block), n, layout, theta_sets[s]) if draws == "lanes"
                  else BlockDraws(block_generators(seed, block)))
        run = _SetRun(layout, plan, _Theta(theta_sets[s], slots, values), n, source)
        keep_here = s == 0 and n_kept > 0
        vh_values = [[None] * n_hor for _ in range(n_comp)]
        for m in range(plan.n_months + 1):
            if m > 0:
                run.step(m)
            row = int(rec_row[m])
            h = horizon_index.get(m)
            n_champ = np.zeros(n, dtype=np.int64)
            combined = np.zeros(n)
            outcomes = np.zeros((n_comp, n), dtype=np.int64)
            if s == 0 and n_traced:
                for k, values_k in enumerate(run.sector_state()):
                    tally.trace_sector[k, first:first + n_traced, m] = values_k[:n_traced]
                for c in range(n_comp):
                    for k, values_k in enumerate(run.state(c)):
                        tally.trace[k, first:first + n_traced, c, m] = values_k[:n_traced]
            for c in range(n_comp):
                tally.alive[s, c, m] += int(np.count_nonzero(run.alive[c]))
                if not ((fans and row >= 0) or keep_here or h is not None):
                    continue
                vals = run.recorded(c)
                if fans and row >= 0:
                    for v in range(Q.N_VARS):
                        tally.hist[s, c, v, row] += np.bincount(bin_index(vals[v], v),
                                                                minlength=Q.HIST_BINS)
                        # fmin/fmax ignore NaN, as comparisons in a running min do.
                        mm = tally.minmax[s, c, v, row]
                        mm[0] = np.fmin(mm[0], np.fmin.reduce(vals[v]))
                        mm[1] = np.fmax(mm[1], np.fmax.reduce(vals[v]))
                if keep_here:
                    for v in range(Q.N_VARS):
                        tally.kept[v, first:first + n_kept, c, m] = vals[v][:n_kept]
                if h is not None:
                    outcome = run.outcome(c, vals[Q.VAR_VALUATION])
                    tally.counts[s, c, h] += np.bincount(outcome, minlength=3)
                    n_champ += outcome == Q.CHAMPION
                    outcomes[c] = outcome
                    combined += vals[Q.VAR_REVENUE]
                    if run.market.on:  # reported with competition on only, as the kernels count it
                        tally.reached[s, c, h] += int(np.count_nonzero(
                            run.alive[c] & (run.served[c] >= run.required_revenue(c, m * run.dt))))
                    if n_out:
                        tally.path_outcome[s, first:first + n_out, c, h] = outcome[:n_out]
                    vh_values[c][h] = vals[Q.VAR_VALUATION] / run.cps[c].p.valuation
            if fans and row >= 0 and run.market.on:
                for q, vals_q in enumerate(run.market.recorded()):
                    tally.share_hist[s, q, row] += np.bincount(bin_index(vals_q, Q.share_grid(q, n_comp)),
                                                               minlength=Q.HIST_BINS)
                    mm = tally.share_minmax[s, q, row]
                    mm[0] = np.fmin(mm[0], np.fmin.reduce(vals_q))
                    mm[1] = np.fmax(mm[1], np.fmax.reduce(vals_q))
            if keep_here:
                tally.kept_market[first:first + n_kept, m] = np.exp(run.market.log_m[:n_kept])
            if h is not None:
                tally.pairs[s, h] += _pair_counts(outcomes)
                if market[h] > 0.0:
                    tally.market_exceed[s, h] += int(np.count_nonzero(combined > market[h]))
                tally.any_champion[s, h] += int(np.count_nonzero(n_champ))
                tally.n_champions[s, h] += np.bincount(n_champ, minlength=n_comp + 1)
        for c in range(n_comp):
            equity, business = run.fundamental(c)
            fv_block[0, s, c] = _moments(equity)
            bv_block[0, s, c] = _moments(business)
            for h in range(n_hor):
                vh_block[0, s, c, h] = _moments(vh_values[c][h])
            if keep_here:
                tally.fail_month[first:first + n_kept, c] = run.fail_month[c][:n_kept]
    # Float moments stay per block; the Tally merges them in block order when read.
    tally.block_ids = np.array([block], dtype=np.int64)
    tally.fv_blocks = fv_block
    tally.bv_blocks = bv_block
    tally.vh_blocks = vh_block
    tally.n_paths[:] = n
    tally.blocks_done = 1
    return tally
