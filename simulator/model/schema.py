"""The scenario schema: every key of a scenario file, declared once.

A scenario is a TOML file in the format of ``shared/MODEL.md``.  The pydantic
models below are the single source of each key: its type, default, units,
allowed range and description.  Everything else is derived from them: the
engines' parameter vector and dotted paths (:mod:`simulator.model.parameters`),
the reference page ``docs/scenario-reference.md`` (:mod:`simulator.report.docs`)
and the report's assumption table.  Reading a file, applying ``--set``
overrides and turning validation failures into one-line messages is
:mod:`simulator.model.scenario_file`.

Beyond pydantic's own, a field may carry two markers in ``json_schema_extra``:
``engine=False`` for a key the engines do not read (run settings, the stated
market), which is then no entry of the parameter vector, and ``fallback=NAME``
for an optional key whose value defaults to another key of the same table.

May import: :mod:`simulator.errors` only.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

__all__ = [
    "DERIVED_AMOUNTS",
    "NAMED_LISTS",
    "PATHS_MAX",
    "SECTOR_ONLY_EFFECTS",
    "SEED_MAX",
    "Branch",
    "Company",
    "Competition",
    "Event",
    "Jump",
    "Scenario",
    "derive_amounts",
    "model_of",
    "own_fields_first",
    "range_bounds",
]

MONEY = "{currency}"
MONEY_PER_YEAR = "{currency}/year"
#: Most paths a run may have (``scenario.paths``, ``--paths``, ``--max-paths``).
PATHS_MAX = 10**11
#: Largest seed (``scenario.seed``, ``--seed``): 128 bits, as the fresh entropy a run records when it
#: has no seed, so that any recorded ``seed_entropy`` can be given back to repeat the run.
SEED_MAX = 2**128 - 1


def _field(default: Any = ..., *, units: str = "1", doc: str, lo: float | None = None,
           hi: float | None = None, lo_open: bool = False, hi_open: bool = False,
           engine: bool = True, fallback: str | None = None, **kw: Any):
    """A field with a unit, a description and an inclusive/exclusive range.

    ``engine=False`` marks a key the engines do not read; ``fallback`` names the
    key of the same table whose value an unset optional key takes.
    """
    bounds: dict[str, float] = {}
    if lo is not None:
        bounds["gt" if lo_open else "ge"] = lo
    if hi is not None:
        bounds["lt" if hi_open else "le"] = hi
    extra: dict[str, Any] = {"units": units}
    if not engine:
        extra["engine"] = False
    if fallback is not None:
        extra["fallback"] = fallback
    return Field(default, description=doc, json_schema_extra=extra, **bounds, **kw)


def _range_field(default: tuple[float, float], *, doc: str, lo: float, hi: float, units: str = "1"):
    """A ``[low, high]`` range (a value drawn uniformly between its ends) with both ends in [lo, hi].

    The bounds sit in ``json_schema_extra["range"]`` (pydantic's ge/le do not
    apply to a pair); :func:`range_bounds` reads them and :class:`Effects`
    checks them, so every range key is checked, documented and swept alike.
    """
    return Field(default, description=doc, json_schema_extra={"units": units, "range": (lo, hi)})


def range_bounds(info: Any) -> tuple[float, float] | None:
    """(lowest, highest) allowed for each end of a range field, or None for a field that is no range."""
    extra = getattr(info, "json_schema_extra", None)
    bounds = extra.get("range") if isinstance(extra, dict) else None
    return None if bounds is None else (float(bounds[0]), float(bounds[1]))


class _Model(BaseModel):
    # Strict types (a quoted "5" is not a number, true is not 1), no NaN or
    # infinity, unknown keys rejected, objects immutable once validated.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


def _scalar_to_jump(value: Any) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return {"mean": value, "sd": 0.0}
    return value


def _scalar_to_range(value: Any) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (value, value)
    return _list_to_tuple(value)


def _list_to_tuple(value: Any) -> Any:
    # TOML arrays arrive as lists; the frozen models store tuples.
    return tuple(value) if isinstance(value, list) else value


class Jump(_Model):
    """A normally distributed jump: ``mean`` and standard deviation ``sd``."""

    mean: float = _field(0.0, doc="mean of the jump", lo=-50.0, hi=50.0)
    sd: float = _field(0.0, doc="standard deviation of the jump", lo=0.0, hi=50.0)


JumpField = Annotated[Jump, BeforeValidator(_scalar_to_jump)]
RangeField = Annotated[tuple[float, float], BeforeValidator(_scalar_to_range)]


def _tuple_of(item: Any) -> Any:
    return Annotated[tuple[item, ...], BeforeValidator(_list_to_tuple)]


class Effects(_Model):
    """What one event (or one branch of it) does when it happens."""

    narrative: JumpField = _field(
        Jump(), doc="jump of the narrative (sector mood S for sector events, company narrative N "
        "otherwise); a number or {mean, sd}", units="log multiple")
    growth: JumpField = _field(
        Jump(), doc="jump of expected revenue growth mu; a number or {mean, sd}", units="1/year")
    demand: JumpField = _field(
        Jump(), doc="jump of log demand revenue D (-0.1 is about -10%); a number or {mean, sd}",
        units="log")
    import_cut: RangeField = _range_field(
        (0.0, 0.0), doc="the import factor I is multiplied by 1 - cut, cut uniform in [low, high]; "
        "a number is a fixed cut", lo=0.0, hi=1.0)
    import_multiplier: RangeField = _range_field(
        (1.0, 1.0), doc="the import factor I is multiplied by this factor, drawn uniformly in [low, high]: "
        "above 1 an easing (a licence granted, a control lifted); a number is a fixed factor; with "
        "import_cut as well, I is multiplied by (1 - cut) x factor", lo=0.0, hi=100.0)
    market: JumpField = _field(
        Jump(), doc="jump of the log market size M (MODEL.md step 9: sector events only, with "
        "sector.competition on; 0.05 is about +5%); a number or {mean, sd}", units="log")
    platforms: JumpField = _field(
        Jump(), doc="jump of the log pull of the platforms (MODEL.md step 9: sector events only, with "
        "sector.competition on; positive takes share from every company); a number or {mean, sd}", units="log")
    cash: float = _field(0.0, doc="cash added (negative: removed, e.g. a fine)", units=MONEY,
                         lo=-1e15, hi=1e15)
    opex: float = _field(1.0, doc="non-compute opex is multiplied by this factor", units="1",
                         lo=0.0, hi=100.0, lo_open=True)

    @model_validator(mode="after")
    def _ranges_in_bounds(self) -> Effects:
        for name, info in type(self).model_fields.items():
            bounds = range_bounds(info)
            if bounds is None:
                continue
            low, high = getattr(self, name)
            if not (bounds[0] <= low <= high <= bounds[1]):
                raise ValueError(f"{name}: [{low:g}, {high:g}] must satisfy "
                                 f"{bounds[0]:g} <= low <= high <= {bounds[1]:g}")
        return self


#: Effects that only sector events have (MODEL.md step 9: the market and the platforms are shared).
SECTOR_ONLY_EFFECTS = ("market", "platforms")


class Branch(Effects):
    """One branch (outcome) of an event, with its probability and effects."""

    name: str = Field(..., description="branch name, unique within the event",
                      pattern=r"^[A-Za-z][A-Za-z0-9_-]*$", json_schema_extra={"units": ""})
    probability: float = _field(..., doc="probability of this branch given the event", lo=0.0, hi=1.0)


class Event(Effects):
    """A Poisson event: direct effects, or ``outcomes`` branches (not both)."""

    name: str = Field(..., description="event name, unique within its list",
                      pattern=r"^[A-Za-z][A-Za-z0-9_-]*$", json_schema_extra={"units": ""})
    hazard_per_year: float = _field(..., doc="Poisson arrival rate", units="1/year", lo=0.0, hi=1000.0)
    outcomes: _tuple_of(Branch) = Field((), description="branches with probabilities summing to 1",
                                         json_schema_extra={"units": ""})

    @model_validator(mode="after")
    def _branches(self) -> Event:
        if not self.outcomes:
            return self
        # Direct effects at their defaults (as a full dump of a scenario writes them) are harmless.
        direct = [k for k in Effects.model_fields
                  if k in self.model_fields_set and getattr(self, k) != Effects.model_fields[k].default]
        if direct:
            raise ValueError(f"{direct[0]}: put effects inside the outcomes when an event has outcomes")
        names = [b.name for b in self.outcomes]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"outcomes: duplicate branch name {dup[0]!r}")
        total = math.fsum(b.probability for b in self.outcomes)
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"outcomes: branch probabilities sum to {total:.12g}, must sum to 1")
        return self

    def branches(self) -> tuple[Branch, ...]:
        """The event's branches; an event without outcomes is one branch of probability 1."""
        if self.outcomes:
            return self.outcomes
        fields = {k: getattr(self, k) for k in Effects.model_fields}
        return (Branch(name="default", probability=1.0, **fields),)


def _unique_names(items: tuple[Any, ...], what: str) -> None:
    names = [item.name for item in items]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"{what}: duplicate name {dup[0]!r}")


class OrnsteinUhlenbeck(_Model):
    """Sector mood: an OU process in units of log valuation multiple."""

    initial: float = _field(0.0, doc="value at start", units="log multiple", lo=-20.0, hi=20.0)
    long_run: float = _field(0.0, doc="mean it reverts to", units="log multiple", lo=-20.0, hi=20.0)
    kappa: float = _field(0.5, doc="mean-reversion speed (0: a random walk)", units="1/year",
                          lo=0.0, hi=50.0)
    sigma: float = _field(0.3, doc="volatility", units="1/sqrt(year)", lo=0.0, hi=10.0)


class Competition(_Model):
    """Competition and convergence (MODEL.md step 9): the companies and the platforms share one market.

    The market M starts at ``sector.market_size`` and grows at ``sector.market_growth``
    with volatility ``market_sigma``; the platforms' pull starts at M minus the
    companies' revenue and grows ``convergence_rate`` faster; each company's share is
    its revenue at start times its pull relative to start to the power
    ``concentration``, over the same sum for every live company and the platforms.
    """

    enabled: bool = Field(False, description="true: the companies of a path and the platforms share one market "
                          "of size sector.market_size, each company's demand process becoming its pull; false: "
                          "each company grows its own demand", json_schema_extra={"units": ""})
    convergence_rate: float = _field(0.2, doc="how fast the platforms' channels gain on the labs' capability: "
                                     "growth of the platforms' pull above the market's (negative: the labs gain)",
                                     units="1/year", lo=-5.0, hi=10.0)
    concentration: float = _field(1.0, doc="share elasticity to pull: 1 shares in proportion to pull, above 1 "
                                  "winner-take-most (the leader's edge compounds), 0 freezes the shares",
                                  units="1", lo=0.0, hi=10.0)
    market_sigma: float = _field(0.1, doc="volatility of the log market size", units="1/sqrt(year)",
                                 lo=0.0, hi=5.0)
    platform_sigma: float = _field(0.1, doc="volatility of the platforms' log pull", units="1/sqrt(year)",
                                   lo=0.0, hi=5.0)


class Sector(_Model):
    """The environment shared by every company of a path."""

    market_size: float = _field(0.0, doc="annual revenue of the market the companies share, at start (0: not "
                                "stated); the implied-expectations checks compare the required revenues with it "
                                "and, with competition on, the companies and the platforms share it (then it must "
                                "exceed the companies' summed revenue)", units=MONEY_PER_YEAR, lo=0.0, hi=1e18)
    market_growth: float = _field(0.35, doc="growth of that market (with competition on, the expected growth rate of M)",
                                  units="1/year", lo=-1.0, hi=10.0)
    competition: Competition = Field(Competition(), json_schema_extra={"units": ""})
    narrative: OrnsteinUhlenbeck = Field(OrnsteinUhlenbeck(), description="sector mood S",
                                         json_schema_extra={"units": ""})
    events: _tuple_of(Event) = Field((), description="sector-wide events: they hit every company",
                                      json_schema_extra={"units": ""})

    @model_validator(mode="after")
    def _names(self) -> Sector:
        _unique_names(self.events, "events")
        return self


class Growth(_Model):
    """Schwartz-Moon revenue growth."""

    initial: float = _field(2.0, doc="expected revenue growth mu at start", units="1/year",
                            lo=-5.0, hi=20.0)
    long_run: float = _field(0.3, doc="long-run expected growth", units="1/year", lo=-5.0, hi=20.0)
    kappa: float = _field(0.6, doc="speed at which mu reverts to long_run", units="1/year",
                          lo=0.0, hi=50.0)
    sigma_growth: float = _field(0.3, doc="volatility of mu at start (decays to 0 at volatility_decay)",
                                 units="1/year/sqrt(year)", lo=0.0, hi=10.0)
    sigma_revenue: float = _field(0.4, doc="volatility of demand revenue at start",
                                  units="1/sqrt(year)", lo=0.0, hi=10.0)
    sigma_revenue_long_run: float | None = _field(
        None, doc="volatility of demand revenue in the long run (default: sigma_revenue)",
        units="1/sqrt(year)", lo=0.0, hi=10.0, fallback="sigma_revenue")
    volatility_decay: float = _field(0.0, doc="rate at which the volatilities move to their long-run "
                                     "values", units="1/year", lo=0.0, hi=50.0)
    market_price_of_risk: float = _field(0.0, doc="lambda: revenue drift is reduced by "
                                         "lambda * sigma_revenue", units="1", lo=-10.0, hi=10.0)

    @property
    def sigma_revenue_final(self) -> float:
        """The long-run revenue volatility, defaulting to the initial one."""
        if self.sigma_revenue_long_run is None:
            return self.sigma_revenue
        return self.sigma_revenue_long_run


class Pricing(_Model):
    """Price index, compute cost pass-through and scarcity."""

    price_drift: float = _field(-0.2, doc="drift of log price index P", units="1/year", lo=-5.0, hi=5.0)
    price_sigma: float = _field(0.1, doc="volatility of log P", units="1/sqrt(year)", lo=0.0, hi=5.0)
    pass_through: float = _field(0.9, doc="share of log price moves passed into unit compute cost",
                                 units="1", lo=-5.0, hi=5.0)
    elasticity: float = _field(0.5, doc="log demand falls by elasticity * dlogP", units="1",
                               lo=-10.0, hi=10.0)
    compute_cost_share: float = _field(0.8, doc="unit compute cost per unit of revenue at start "
                                       "(gross margin at start is 1 - this, before scarcity)",
                                       units="1", lo=0.0, hi=100.0)
    compute_cost_drift: float = _field(-0.1, doc="drift of log unit compute cost",
                                       units="1/year", lo=-5.0, hi=5.0)
    scarcity_premium: float = _field(0.5, doc="unit compute cost rises by this times the excess of "
                                     "demand over capacity (in multiples of capacity)", units="1",
                                     lo=0.0, hi=100.0)


class Chips(_Model):
    """Installed accelerator cards: revenue capacity and card purchases."""

    enabled: bool = Field(True, description="false: capacity unlimited and no card purchases",
                          json_schema_extra={"units": ""})
    cards: float = _field(10_000.0, doc="installed cards at start", units="cards", lo=0.0, hi=1e9)
    domestic_per_month: float = _field(300.0, doc="mean domestic cards bought a month (Poisson)",
                                       units="cards/month", lo=0.0, hi=1e7)
    imports_per_month: float = _field(200.0, doc="mean imported cards bought a month (Poisson), "
                                      "times the import factor I", units="cards/month", lo=0.0, hi=1e7)
    depreciation: float = _field(0.25, doc="share of installed cards retired a year", units="1/year",
                                 lo=0.0, hi=12.0)
    card_price: float | None = _field(None, doc="price of one new card (default: 2 x revenue_per_card, a "
                                      "card costs two years of the revenue it serves)", units=MONEY + "/card",
                                      lo=0.0, hi=1e12)
    revenue_per_card: float | None = _field(None, doc="annual revenue one card serves at start prices "
                                            "(default: 3 x revenue / cards, capacity at start three times "
                                            "revenue)", units=MONEY_PER_YEAR + "/card", lo=0.0, hi=1e12,
                                            lo_open=True)


class Costs(_Model):
    """Non-compute operating costs, taxes and interest."""

    opex: float | None = _field(None, doc="non-compute operating expenses at start (default: revenue x "
                                "(1 - pricing.compute_cost_share), operating break-even at start before "
                                "card purchases)", units=MONEY_PER_YEAR, lo=0.0, hi=1e16)
    opex_growth: float = _field(0.2, doc="growth of opex", units="1/year", lo=-1.0, hi=10.0)
    tax_rate: float = _field(0.0, doc="tax on positive operating profit after the loss "
                             "carry-forward", units="1", lo=0.0, hi=1.0)
    loss_carryforward: float = _field(0.0, doc="tax loss carry-forward at start", units=MONEY,
                                      lo=0.0, hi=1e16)
    interest_rate: float = _field(0.0, doc="interest earned on cash", units="1/year", lo=-0.5, hi=1.0)


class Funding(_Model):
    """Equity raises, the state backstop and failure."""

    enabled: bool = Field(True, description="false: no raises and no backstop; the company fails "
                          "when cash would go negative", json_schema_extra={"units": ""})
    runway_trigger_months: float = _field(12.0, doc="try to raise while cash / monthly burn is "
                                          "below this", units="months", lo=0.0, hi=1200.0)
    base_logit: float = _field(0.0, doc="logit of the monthly raise probability at zero narrative",
                               units="1", lo=-50.0, hi=50.0)
    narrative_sensitivity: float = _field(1.0, doc="raise logit per unit of effective narrative E",
                                          units="1/log multiple", lo=-50.0, hi=50.0)
    raise_fraction_of_valuation: float = _field(0.03, doc="a raise brings this share of valuation V",
                                                units="1", lo=0.0, hi=1.0)
    backstop_probability: float = _field(0.3, doc="probability the state saves the company when cash "
                                         "would go negative", units="1", lo=0.0, hi=1.0)
    backstop: float | None = _field(None, doc="cash the state injects when it saves the company "
                                    "(default: one year of costs.opex)", units=MONEY, lo=0.0, hi=1e16)
    recovery_fraction: float = _field(0.0, doc="valuation after failure, as a share of the "
                                      "valuation at failure", units="1", lo=0.0, hi=1.0)


class CompanyNarrative(_Model):
    """The company narrative N (its start value is implied by the valuation)."""

    long_run: float = _field(0.0, doc="mean it reverts to (0: the story fades unless events "
                             "sustain it)", units="log multiple", lo=-20.0, hi=20.0)
    kappa: float = _field(0.4, doc="mean-reversion speed", units="1/year", lo=0.0, hi=50.0)
    sigma: float = _field(0.4, doc="volatility", units="1/sqrt(year)", lo=0.0, hi=10.0)


class ValuationModel(_Model):
    """How the market prices revenue, and the fundamental-value inputs."""

    base_multiple: float = _field(10.0, doc="price-to-sales multiple of a company at long-run growth, "
                                  "start margin and zero narrative", units="1", lo=0.0, hi=1e6,
                                  lo_open=True)
    growth_sensitivity: float = _field(1.0, doc="log multiple per unit of growth above long_run",
                                       units="year", lo=-100.0, hi=100.0)
    margin_sensitivity: float = _field(2.0, doc="log multiple per unit of gross margin above its "
                                       "start value", units="1", lo=-100.0, hi=100.0)
    exit_multiple: float = _field(15.0, doc="multiple of annual operating profit at the horizon",
                                  units="1", lo=0.0, hi=1000.0)
    discount_rate: float = _field(0.12, doc="continuous discount rate of the fundamental value",
                                  units="1/year", lo=-0.5, hi=1.0)


#: Amount keys whose default is derived from the company's own figures, in the order they are derived
#: (each may use those before it), with the rule: an amount default in one currency means nothing in
#: another, so no amount key defaults to a fixed number (docs/model-decisions.md).
DERIVED_AMOUNTS: dict[str, str] = {
    "chips.revenue_per_card": "3 x revenue / chips.cards: capacity at start three times revenue",
    "chips.card_price": "2 x chips.revenue_per_card: a card costs two years of the revenue it serves",
    "costs.opex": "revenue x (1 - pricing.compute_cost_share): operating break-even at start, before card "
                  "purchases",
    "funding.backstop": "1 x costs.opex: one year of non-compute opex",
}


def _number_or_none(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def derive_amounts(data: Any) -> Any:
    """Raw company data with every amount key of :data:`DERIVED_AMOUNTS` it does not give filled in.

    ``data["derived"]`` lists the keys filled.  Data that is no mapping, or whose
    revenue is no number (an error reported by validation), is returned as is.
    """
    if not isinstance(data, dict):
        return data
    revenue = _number_or_none(data.get("revenue"))
    if revenue is None or revenue <= 0.0:
        return data  # validation reports the revenue
    data = dict(data)
    tables: dict[str, dict] = {}
    for table in ("chips", "costs", "funding", "pricing"):
        given = data.get(table, {})
        if isinstance(given, BaseModel):
            given = given.model_dump(exclude_unset=True)
        if not isinstance(given, dict):
            return data  # a table given as a value: validation reports it
        tables[table] = dict(given)

    def value(table: str, key: str, model: type[BaseModel]) -> float | None:
        given = tables[table].get(key)
        return _number_or_none(model.model_fields[key].default if given is None else given)

    derived = []
    for dotted in DERIVED_AMOUNTS:
        table, key = dotted.split(".")
        if tables[table].get(key) is not None:
            continue
        if dotted == "chips.revenue_per_card":
            cards = value("chips", "cards", Chips)
            amount = 3.0 * revenue / cards if cards else 3.0 * revenue
        elif dotted == "chips.card_price":
            amount = 2.0 * tables["chips"]["revenue_per_card"]
        elif dotted == "costs.opex":
            share = value("pricing", "compute_cost_share", Pricing)
            amount = revenue * max(0.0, 1.0 - share) if share is not None else None
        else:
            amount = tables["costs"].get("opex")
        amount = _number_or_none(amount)
        if amount is None:
            continue  # an input it needs is invalid: validation reports that one
        tables[table][key] = amount
        derived.append(dotted)
        data[table] = tables[table]
    data["derived"] = tuple(derived)
    return data


class Company(_Model):
    """One company; all companies of a scenario share one sector environment."""

    name: str = Field(..., description="company name, unique; used in dotted paths",
                      pattern=r"^[A-Za-z][A-Za-z0-9_-]*$", json_schema_extra={"units": ""})
    revenue: float = _field(..., doc="annualised revenue at start", units=MONEY_PER_YEAR,
                            lo=0.0, hi=1e16, lo_open=True)
    valuation: float = _field(..., doc="market valuation at start; implies the narrative E0",
                              units=MONEY, lo=0.0, hi=1e18, lo_open=True)
    cash: float = _field(..., doc="cash at start", units=MONEY, lo=0.0, hi=1e16)
    beta_sector: float = _field(1.0, doc="loading of the sector mood in E = N + beta_sector * S",
                                units="1", lo=-10.0, hi=10.0)
    growth: Growth = Field(Growth(), json_schema_extra={"units": ""})
    pricing: Pricing = Field(Pricing(), json_schema_extra={"units": ""})
    chips: Chips = Field(Chips(), json_schema_extra={"units": ""})
    costs: Costs = Field(Costs(), json_schema_extra={"units": ""})
    funding: Funding = Field(Funding(), json_schema_extra={"units": ""})
    narrative: CompanyNarrative = Field(CompanyNarrative(), json_schema_extra={"units": ""})
    valuation_model: ValuationModel = Field(ValuationModel(), json_schema_extra={"units": ""})
    events: _tuple_of(Event) = Field((), description="events of this company only",
                                      json_schema_extra={"units": ""})
    # The amount keys that were not given and took their derived default
    # (DERIVED_AMOUNTS), as dotted keys inside the company; not a TOML key.
    derived: tuple[str, ...] = Field((), exclude=True, json_schema_extra={"units": ""})

    @model_validator(mode="before")
    @classmethod
    def _derive_amounts(cls, data: Any) -> Any:
        return derive_amounts(data)

    @model_validator(mode="after")
    def _names(self) -> Company:
        _unique_names(self.events, "events")
        for event in self.events:
            for effects, where in [(event, event.name), *((b, f"{event.name}.outcomes.{b.name}")
                                                          for b in event.outcomes)]:
                for key in SECTOR_ONLY_EFFECTS:
                    if getattr(effects, key) != Jump():
                        raise ValueError(f"events.{where}.{key}: a {key} effect belongs to a sector event (the "
                                         "market is shared by every company); move the event to sector.events")
        if self.chips.enabled and self.chips.cards <= 0.0:
            raise ValueError("chips: cards must be > 0 when chips are enabled (revenue capacity at "
                             "start would be 0, so the valuation would imply an infinite narrative)")
        return self


class ScenarioMeta(_Model):
    """Name, currency, time grid, sample size and seed."""

    name: str = Field("scenario", description="scenario name (default: the file name)",
                      pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", json_schema_extra={"units": ""})
    description: str = Field("", description="free text", json_schema_extra={"units": ""})
    currency: str = Field("CNY", description="currency of every amount; labels the results' units",
                          pattern=r"^[A-Z]{3}$", json_schema_extra={"units": ""})
    horizon_months: int = _field(36, doc="number of monthly steps", units="months", lo=1, hi=1200)
    horizons: _tuple_of(int) | None = Field(
        None, description="months at which outcomes are classified (default: 6, 12, 24, 36 up to "
        "horizon_months, and horizon_months)", json_schema_extra={"units": "months"})
    paths: int = _field(100_000, doc="number of simulated paths", units="paths", lo=1, hi=PATHS_MAX)
    seed: int | None = _field(None, doc="random seed (default: fresh entropy, recorded in the "
                              "results so the run can be repeated)", lo=0, hi=SEED_MAX)

    @model_validator(mode="after")
    def _horizons(self) -> ScenarioMeta:
        if self.horizons is None:
            return self
        if not self.horizons:
            raise ValueError("horizons: must list at least one month")
        for h in self.horizons:
            if not 1 <= h <= self.horizon_months:
                raise ValueError(f"horizons: month {h} is outside 1 to horizon_months "
                                 f"({self.horizon_months})")
        if any(b <= a for a, b in zip(self.horizons, self.horizons[1:], strict=False)):
            raise ValueError(f"horizons: {list(self.horizons)} must be strictly increasing")
        return self

    @property
    def horizon_list(self) -> tuple[int, ...]:
        """The horizons, with the documented default filled in."""
        if self.horizons is not None:
            return self.horizons
        chosen = [h for h in (6, 12, 24, 36) if h < self.horizon_months]
        return (*chosen, self.horizon_months)


class Outcomes(_Model):
    """Thresholds that classify each company at each horizon."""

    champion_valuation_ratio: float = _field(1.0, doc="champion: V >= this * V0", units="1",
                                             lo=0.0, hi=1e4, lo_open=True)
    champion_max_price_to_sales: float = _field(100.0, doc="champion: V / R <= this", units="1",
                                                lo=0.0, hi=1e7, lo_open=True)
    collapse_valuation_ratio: float = _field(0.3, doc="collapse: V <= this * V0 (or failed)",
                                             units="1", lo=0.0, hi=1e4)

    @model_validator(mode="after")
    def _ordered(self) -> Outcomes:
        if self.collapse_valuation_ratio >= self.champion_valuation_ratio:
            raise ValueError(f"collapse_valuation_ratio: {self.collapse_valuation_ratio} must be "
                             f"below champion_valuation_ratio ({self.champion_valuation_ratio})")
        return self


class Scenario(_Model):
    """A whole validated scenario. Build it with :func:`load_scenario`."""

    scenario: ScenarioMeta = Field(ScenarioMeta(), json_schema_extra={"units": "", "engine": False})
    sector: Sector = Field(Sector(), json_schema_extra={"units": ""})
    companies: _tuple_of(Company) = Field(..., description="one or more companies",
                                           json_schema_extra={"units": ""})
    outcomes: Outcomes = Field(Outcomes(), json_schema_extra={"units": ""})
    # Provenance, not part of the TOML format: the text the scenario was read from.
    source_text: str = Field("", exclude=True, json_schema_extra={"units": ""})
    source_path: str = Field("", exclude=True, json_schema_extra={"units": ""})
    # Keys given as distributions (simulator.model.uncertain.UncertainSet; None: none). The
    # validated fields hold their medians; not part of the TOML keys, so excluded too.
    uncertain: Any = Field(None, exclude=True, json_schema_extra={"units": ""})

    @model_validator(mode="after")
    def _names(self) -> Scenario:
        if not self.companies:
            raise ValueError("companies: at least one company is required")
        _unique_names(self.companies, "companies")
        return self

    @model_validator(mode="after")
    def _market_holds_the_companies(self) -> Scenario:
        # MODEL.md step 9: the platforms hold the rest of the market at start, M0 - sum R > 0.
        if not self.sector.competition.enabled:
            return self
        total = math.fsum(c.revenue for c in self.companies)
        if not self.sector.market_size > total:
            raise ValueError(f"sector.market_size: must exceed the companies' summed revenue, {total:.6g} "
                             f"{self.scenario.currency}/year, when sector.competition.enabled = true (the "
                             "platforms hold the rest of the market at start)")
        return self

    @property
    def name(self) -> str:
        """The scenario's name."""
        return self.scenario.name

    @property
    def currency(self) -> str:
        """The currency of every amount."""
        return self.scenario.currency

    def company(self, name: str) -> Company:
        """The company called ``name``."""
        for company in self.companies:
            if company.name == name:
                return company
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """The scenario as plain data in the TOML layout (defaults filled in)."""
        return self.model_dump(mode="python", exclude_none=True)


def own_fields_first(model: type[BaseModel], *, own_only: bool = False) -> list[tuple[str, Any]]:
    """The model's fields in declaration order, those it declares itself before the inherited ones.

    Excluded fields (provenance, not TOML keys) are left out; ``own_only`` leaves
    out the inherited ones too.
    """
    own = inspect.get_annotations(model)
    fields = [(k, f) for k, f in model.model_fields.items() if not f.exclude]
    first = [kf for kf in fields if kf[0] in own]
    return first if own_only else first + [kf for kf in fields if kf[0] not in own]


#: Arrays of tables whose items are addressed by their ``name`` in dotted paths.
NAMED_LISTS = ("companies", "events", "outcomes")


def names_a_list(parts: Sequence[str], i: int) -> bool:
    """Whether ``parts[i]`` of a dotted path is one of :data:`NAMED_LISTS` (an event's ``outcomes``, not the
    scenario's top-level ``[outcomes]`` table)."""
    return parts[i] in NAMED_LISTS and not (i == 0 and parts[i] == "outcomes")


def model_of(annotation: Any) -> Any:
    """The pydantic model inside an annotation such as ``tuple[Event, ...]`` or ``Jump``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = model_of(arg)
        if found is not None:
            return found
    origin_meta = getattr(annotation, "__origin__", None)
    if origin_meta is not None:
        return model_of(origin_meta)
    return None


