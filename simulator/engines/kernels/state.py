"""The names of the lane arrays' rows: company state, sector state, and the parameters by the schema's names.

Every name below is the offset of a row in a flat lane array (row number times
LANES, unsigned).  Company state ``S`` holds :data:`COMPANY_ROWS` rows per
company (company ``c`` from :func:`company_state`); the sector state ``sec``
holds :data:`SECTOR_ROWS` rows; the lane parameters ``P`` hold one row per
slot of the parameter vector (:mod:`simulator.model.parameters`), so that a
per-path uncertain input is just another value in its row.  Parameters are
read by the schema's own names: ``P[cp + COMPANY.growth.kappa + i]`` with
``cp = company_params(c)``, ``P[GLOBAL.sector.narrative.kappa + i]``.
"""

import numpy as np
from numba import njit

from simulator.engines.kernels.lanes import LANES, row
from simulator.model import parameters as registry
from simulator.model.quantities import SECTOR_STATE_NAMES, STATE_NAMES

__all__ = [
    "ALIVE",
    "BRANCH",
    "CARDS",
    "CASH",
    "COMPANY",
    "COMPANY_ROWS",
    "COMPANY_SLOT",
    "EVENT",
    "FAILURE_MONTH",
    "FLOW",
    "GLOBAL",
    "GLOBAL_SLOT",
    "GROWTH",
    "GROWTH_DECAY",
    "GROWTH_NOISE",
    "IMPORT_FACTOR",
    "LOG_BASE_MULTIPLE",
    "LOG_CAPACITY",
    "LOG_CHAMPION_RATIO",
    "LOG_COLLAPSE_RATIO",
    "LOG_COMPETED",
    "LOG_DEMAND",
    "LOG_MARKET",
    "LOG_MAX_PRICE_TO_SALES",
    "LOG_PLATFORMS_AT_START",
    "LOG_PLATFORM_SHARE",
    "LOG_PRICE",
    "LOG_PULL_AT_START",
    "LOG_REVENUE",
    "LOG_REVENUE_PER_CARD",
    "LOG_SHARE",
    "LOG_UNIT_COST",
    "LOG_VALUATION",
    "LOG_VALUATION_AT_START",
    "LOSS_CARRYFORWARD",
    "MARGIN",
    "MARGIN_AT_START",
    "MOOD",
    "MOOD_DECAY",
    "MOOD_NOISE",
    "NARRATIVE",
    "NARRATIVE_AT_START",
    "NARRATIVE_DECAY",
    "NARRATIVE_NOISE",
    "NEW_CARDS",
    "OPEX",
    "OPEX_GROWTH",
    "PLATFORM_PULL",
    "PLATFORM_SHARE",
    "PTRS",
    "PTRS_RATE",
    "RAISED",
    "REVENUE",
    "SECTOR_ROWS",
    "SECTOR_TRACED",
    "SHARE_MAX",
    "SHARE_SUM",
    "SIGMA_GROWTH",
    "SIGMA_REVENUE",
    "TRACED",
    "VALUE_AT_FAILURE",
    "VOLATILITY_DECAY",
    "company_params",
    "company_slot",
    "company_state",
]

# Company state: what a company is in a path, month by month.
NARRATIVE = row(0)            # company narrative N
GROWTH = row(1)               # expected revenue growth mu
LOG_DEMAND = row(2)           # log demand revenue D
LOG_PRICE = row(3)            # log price index P
LOG_UNIT_COST = row(4)        # log unit compute cost c
CARDS = row(5)                # installed cards K
IMPORT_FACTOR = row(6)        # import factor I
CASH = row(7)
OPEX = row(8)                 # non-compute opex rate of the coming month
LOSS_CARRYFORWARD = row(9)
ALIVE = row(10)               # 1 alive, 0 failed (failure is absorbing)
VALUE_AT_FAILURE = row(11)    # valuation frozen at failure (recovery applied)
MARGIN_AT_START = row(12)     # gross margin g0
NARRATIVE_AT_START = row(13)  # implied effective narrative E0
LOG_VALUATION_AT_START = row(14)
FAILURE_MONTH = row(15)       # 0 while alive
SIGMA_REVENUE = row(16)       # current revenue volatility (Schwartz-Moon decay)
SIGMA_GROWTH = row(17)        # current growth volatility
REVENUE = row(18)             # served revenue R of the last month
NEW_CARDS = row(19)           # cards delivered this month
MARGIN = row(20)              # gross margin g of the last month
LOG_VALUATION = row(21)       # log market valuation of the last month
LOG_REVENUE = row(22)         # log served revenue
LOG_CAPACITY = row(23)        # log revenue capacity (inf: unlimited)
FLOW = row(24)                # last month's cash flow
# Per-path constants of a company, derived at its start.
NARRATIVE_DECAY = row(25)     # exp(-kappa_N dt)
NARRATIVE_NOISE = row(26)     # OU noise scale of N
GROWTH_DECAY = row(27)        # exp(-kappa dt)
GROWTH_NOISE = row(28)        # OU noise scale of mu per unit sigma
VOLATILITY_DECAY = row(29)    # exp(-volatility_decay dt)
LOG_BASE_MULTIPLE = row(30)
PTRS_RATE = row(31)           # supply rate whose PTRS constants are cached in the 5 rows at PTRS
OPEX_GROWTH = row(32)         # exp(opex_growth dt)
LOG_REVENUE_PER_CARD = row(33)
PTRS = row(34)                # rows PTRS .. PTRS + 4: numpy's PTRS constants
# Accumulated over the path.
RAISED = row(39)              # money raised after the start (market and backstop), discounted to the start
# Competition (MODEL.md step 9; LOG_DEMAND is then the company's pull A). Without it -inf (no share).
LOG_PULL_AT_START = row(40)   # log revenue at start: the pull's reference (a = A / A(start))
LOG_SHARE = row(41)           # log market share of the month (-inf after failure)
LOG_COMPETED = row(42)        # log competed demand, log(share * M): the demand served in place of D
COMPANY_ROWS = 43

# Sector state, one set of rows per path.
MOOD = row(0)                 # sector mood S
MOOD_DECAY = row(1)           # exp(-kappa_S dt)
MOOD_NOISE = row(2)           # OU noise scale of S
LOG_CHAMPION_RATIO = row(3)
LOG_MAX_PRICE_TO_SALES = row(4)
LOG_COLLAPSE_RATIO = row(5)
# Competition (MODEL.md step 9); without it the market is -inf and the platforms' share 0.
LOG_MARKET = row(6)           # log market size M
PLATFORM_PULL = row(7)        # log of the platforms' pull relative to its start, log a0
LOG_PLATFORMS_AT_START = row(8)  # log P0 = log(M(start) - sum of the companies' revenue at start)
PLATFORM_SHARE = row(9)       # the platforms' market share of the month
SHARE_MAX = row(10)           # scratch of the share computation (log-sum-exp shift)
SHARE_SUM = row(11)           # scratch of the share computation (sum of the shifted pulls)
LOG_PLATFORM_SHARE = row(12)  # log of the platforms' share (-inf: none), for the recorded fans
SECTOR_ROWS = 13

#: The rows of the traced state (simulator.model.quantities.STATE_NAMES), in that order.
TRACED = (NARRATIVE, GROWTH, LOG_DEMAND, LOG_PRICE, LOG_UNIT_COST, CARDS, IMPORT_FACTOR, CASH, OPEX,
          LOSS_CARRYFORWARD, ALIVE, VALUE_AT_FAILURE, FAILURE_MONTH, SIGMA_REVENUE, SIGMA_GROWTH, REVENUE,
          NEW_CARDS, MARGIN, LOG_VALUATION, LOG_CAPACITY, RAISED, LOG_SHARE, LOG_COMPETED)
if len(TRACED) != len(STATE_NAMES):  # pragma: no cover - a new state name needs its row here
    raise ImportError("kernels/state.py: TRACED must give one row per simulator.model.quantities.STATE_NAMES")
#: The rows of the traced sector state (simulator.model.quantities.SECTOR_STATE_NAMES), in that order.
SECTOR_TRACED = (MOOD, LOG_MARKET, PLATFORM_PULL, PLATFORM_SHARE)
if len(SECTOR_TRACED) != len(SECTOR_STATE_NAMES):  # pragma: no cover
    raise ImportError("kernels/state.py: SECTOR_TRACED must give one row per SECTOR_STATE_NAMES")

# The parameters' rows in ``P``, by the schema's attribute names.
GLOBAL = registry.GLOBAL.namespace(LANES, np.uint64)
COMPANY = registry.COMPANY.namespace(LANES, np.uint64)
EVENT = registry.EVENT.namespace(LANES, np.uint64)
BRANCH = registry.BRANCH.namespace(LANES, np.uint64)
#: The same parameters as slots of one parameter vector ``theta`` (a company's from :func:`company_slot`).
COMPANY_SLOT = registry.COMPANY.namespace()
GLOBAL_SLOT = registry.GLOBAL.namespace()
_COMPANY_STATE = np.uint64(COMPANY_ROWS * LANES)
_COMPANY_PARAMS = np.uint64(registry.COMPANY.size * LANES)
_FIRST_COMPANY_PARAMS = np.uint64(registry.GLOBAL.size * LANES)
_FIRST_COMPANY_SLOT = registry.GLOBAL.size
_COMPANY_SIZE = registry.COMPANY.size


@njit(cache=True, error_model="numpy", inline="always")
def company_state(c):
    """Offset of company ``c``'s first state row in ``S``."""
    return np.uint64(c) * _COMPANY_STATE


@njit(cache=True, error_model="numpy", inline="always")
def company_slot(c):
    """Slot of company ``c``'s first parameter in ``theta``."""
    return _FIRST_COMPANY_SLOT + c * _COMPANY_SIZE


@njit(cache=True, error_model="numpy", inline="always")
def company_params(c):
    """Offset of company ``c``'s first parameter row in ``P``."""
    return _FIRST_COMPANY_PARAMS + np.uint64(c) * _COMPANY_PARAMS
