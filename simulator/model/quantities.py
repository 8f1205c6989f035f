"""What the model reports per path: recorded variables, outcome classes, histogram grid.

These are part of the model contract (MODEL.md's state and outcomes), shared by
both engines and by the results: the variables tracked month by month (for
quantile fans and kept paths), their histogram grids, the outcome classes in
the order of the ``outcome`` dimension, and the cap that keeps valuations
finite.

May import: nothing of the package.
"""

#: The model's results version: raised whenever a change moves results on purpose (the golden
#: values move with it), so results and batch checkpoints of an earlier version count as stale.
#: 2: business value beside the equity value, import multipliers above 1 (issue 19).
MODEL_VERSION = 2

__all__ = [
    "CHAMPION",
    "COLLAPSE",
    "CONTESTED",
    "HIST_BINS",
    "HIST_HIGH",
    "HIST_LOG10",
    "HIST_LOW",
    "MARKET_HIST_HIGH",
    "MARKET_HIST_LOW",
    "MAX_LOG_VALUATION_RATIO",
    "MODEL_VERSION",
    "N_SECTOR_STATE",
    "N_STATE",
    "N_VARS",
    "OUTCOME_NAMES",
    "SECTOR_STATE_NAMES",
    "SHARE_HIST_HIGH",
    "SHARE_HIST_LOW",
    "SHARE_ROWS_AFTER_COMPANIES",
    "STATE_NAMES",
    "VAR_CAPACITY",
    "VAR_CASH",
    "VAR_MARGIN",
    "VAR_NAMES",
    "VAR_NARRATIVE",
    "VAR_REVENUE",
    "VAR_VALUATION",
    "share_grid",
]

# Variables tracked month by month (histograms for quantile fans, kept paths).
VAR_REVENUE = 0
VAR_VALUATION = 1
VAR_CASH = 2
VAR_CAPACITY = 3
VAR_MARGIN = 4
VAR_NARRATIVE = 5
N_VARS = 6
VAR_NAMES = ("revenue", "valuation", "cash", "capacity", "gross_margin", "narrative")

#: A company's state in a path, as both engines can trace it month by month for their
#: path-by-path comparison (tests/test_engines_paths.py): MODEL.md's state variables.
STATE_NAMES = ("narrative", "growth", "log_demand", "log_price", "log_unit_cost", "cards", "import_factor", "cash",
               "opex", "loss_carryforward", "alive", "value_at_failure", "failure_month", "sigma_revenue",
               "sigma_growth", "revenue", "new_cards", "gross_margin", "log_valuation", "log_capacity",
               "raised", "log_share", "log_competed_demand")
N_STATE = len(STATE_NAMES)
#: The sector's state in a path, traced alike: the mood and, with competition, the market (log M), the
#: platforms' pull relative to its start (log a0) and the platforms' share.
SECTOR_STATE_NAMES = ("mood", "log_market", "platform_pull", "platform_share")
N_SECTOR_STATE = len(SECTOR_STATE_NAMES)

# Histogram grid: bin 0 holds values below LOW (for amounts: zero), the last bin
# values at or above HIGH; bins in between are uniform, in log10 for amounts.
HIST_BINS = 4096
HIST_LOG10 = (True, True, True, True, False, False)
HIST_LOW = (0.0, 0.0, 0.0, 0.0, -20.0, -15.0)
HIST_HIGH = (16.0, 16.0, 16.0, 16.0, 1.0, 15.0)

#: With competition on (MODEL.md step 9), per path and recorded month: each company's market share,
#: then the platforms' share, then the market size M; streamed into histograms like VAR_NAMES.
SHARE_ROWS_AFTER_COMPANIES = ("platform_share", "market")
#: Histogram grids (log10 of the value): shares in [1e-12, 1), the market like amounts.
SHARE_HIST_LOW = -12.0
SHARE_HIST_HIGH = 0.0
MARKET_HIST_LOW = 0.0
MARKET_HIST_HIGH = 16.0


def share_grid(q: int, n_comp: int) -> tuple[bool, float, float]:
    """(log10, low, high) histogram grid of row ``q`` of the competition histograms (shares, then the market)."""
    if q == n_comp + 1:
        return True, MARKET_HIST_LOW, MARKET_HIST_HIGH
    return True, SHARE_HIST_LOW, SHARE_HIST_HIGH

# Valuations are capped at exp(MAX_LOG_VALUATION_RATIO) = 1e12 times their start value: far
# beyond any meaningful outcome, it keeps exp() and the moments finite for extreme inputs.
MAX_LOG_VALUATION_RATIO = 27.631021115928547  # log(1e12)

# Outcomes, in the order of the ``outcome`` dimension.
OUTCOME_NAMES = ("champion", "contested", "collapse")
CHAMPION = 0
CONTESTED = 1
COLLAPSE = 2
