"""Positions of every numeric parameter in the flat parameter vector ``theta``.

Both engines read parameters from one float64 vector per parameter set so that
sweeps, sensitivity studies and per-path uncertain assumptions can change any
numeric key without Python work per path.  The vector is::

    [global block | company 0 block | company 1 block | ... | event records]

This module is plain Python; the numba kernels import these integers as
compile-time constants.  Changing them invalidates cached kernels, which is why
``LAYOUT_VERSION`` is part of the kernel cache key (see ``_kernels.py``).
"""

LAYOUT_VERSION = 1

# Global block: sector narrative and outcome thresholds.
S_INIT = 0
S_LONG_RUN = 1
S_KAPPA = 2
S_SIGMA = 3
OUT_CHAMPION_RATIO = 4
OUT_CHAMPION_MAX_PS = 5
OUT_COLLAPSE_RATIO = 6
N_GLOBAL = 7

# Company block, relative to the company's offset.
C_REVENUE = 0
C_VALUATION = 1
C_CASH = 2
C_BETA = 3
G_INITIAL = 4
G_LONG_RUN = 5
G_KAPPA = 6
G_SIGMA_GROWTH = 7
G_SIGMA_REVENUE = 8
G_SIGMA_REVENUE_LR = 9
G_DECAY = 10
G_LAMBDA = 11
P_DRIFT = 12
P_SIGMA = 13
P_PASS_THROUGH = 14
P_ELASTICITY = 15
P_COST_SHARE = 16
P_COST_DRIFT = 17
P_SCARCITY = 18
K_ENABLED = 19
K_CARDS = 20
K_DOMESTIC = 21
K_IMPORTS = 22
K_DEPRECIATION = 23
K_CARD_PRICE = 24
K_REVENUE_PER_CARD = 25
O_OPEX = 26
O_GROWTH = 27
O_TAX = 28
O_LOSS_CF = 29
O_INTEREST = 30
F_ENABLED = 31
F_TRIGGER = 32
F_BASE_LOGIT = 33
F_NARRATIVE_SENS = 34
F_RAISE_FRACTION = 35
F_BACKSTOP_PROB = 36
F_BACKSTOP = 37
F_RECOVERY = 38
N_LONG_RUN = 39
N_KAPPA = 40
N_SIGMA = 41
V_BASE_MULTIPLE = 42
V_GROWTH_SENS = 43
V_MARGIN_SENS = 44
V_EXIT_MULTIPLE = 45
V_DISCOUNT = 46
N_COMPANY = 47

# One record per event: its hazard.  One record per branch, relative to the
# branch's offset.
E_HAZARD = 0
N_EVENT = 1

B_PROB = 0
B_NARR_MEAN = 1
B_NARR_SD = 2
B_GROWTH_MEAN = 3
B_GROWTH_SD = 4
B_DEMAND_MEAN = 5
B_DEMAND_SD = 6
B_CUT_LOW = 7
B_CUT_HIGH = 8
B_CASH = 9
B_OPEX = 10
N_BRANCH = 11

# Columns of the integer event table.
EV_COMPANY = 0  # -1 for a sector event
EV_SLOT = 1  # offset of the event record in theta
EV_FIRST_BRANCH = 2
EV_N_BRANCHES = 3
N_EV_COLUMNS = 4

# Variables tracked month by month (histograms for quantile fans, kept paths).
VAR_REVENUE = 0
VAR_VALUATION = 1
VAR_CASH = 2
VAR_CAPACITY = 3
VAR_MARGIN = 4
VAR_NARRATIVE = 5
N_VARS = 6
VAR_NAMES = ("revenue", "valuation", "cash", "capacity", "gross_margin", "narrative")

# Histogram grid: bin 0 holds values below LOW (for amounts: zero), the last bin
# values at or above HIGH; bins in between are uniform, in log10 for amounts.
HIST_BINS = 4096
HIST_LOG10 = (True, True, True, True, False, False)
HIST_LOW = (0.0, 0.0, 0.0, 0.0, -20.0, -15.0)
HIST_HIGH = (16.0, 16.0, 16.0, 16.0, 1.0, 15.0)

# Valuations are capped at exp(MAX_LOG_VALUATION_RATIO) = 1e12 times their start value: far
# beyond any meaningful outcome, it keeps exp() and the moments finite for extreme inputs.
MAX_LOG_VALUATION_RATIO = 27.631021115928547  # log(1e12)

# Outcomes, in the order of the ``outcome`` dimension.
OUTCOME_NAMES = ("champion", "contested", "collapse")
CHAMPION = 0
CONTESTED = 1
COLLAPSE = 2

# Random streams spawned for each block of paths (see engine.py).
STREAM_NAMES = ("diffusion", "events", "supply", "funding")
N_STREAMS = 4
