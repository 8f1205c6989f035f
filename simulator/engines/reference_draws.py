"""Where the reference engine's random numbers come from: block streams, or the kernels' lane streams.

The numpy reference engine (:mod:`simulator.engines.reference`) asks a draw
source for every variate, by what it is for.  Two sources:

- :class:`BlockDraws`, the default: the block's four ``numpy.random.Generator``
  streams, drawn a vector at a time (one variate per path for each quantity).
  The reference engine then agrees with the numba kernels *in distribution*
  only: it is an independent implementation, checked statistically
  (tests/test_engines_agree.py).
- :class:`LaneDraws`: every path gets its own five SFC64 streams, seeded exactly
  as the kernels seed their lanes (three outputs of the block stream per path,
  counter 1, twelve rounds), and a variate is drawn only where and when the
  kernels draw one, by the same algorithm: the sector and company normals and
  one uniform per event type from the diffusion stream; a branch uniform, the
  jump normals with a positive sd and the import-cut uniform of each arrival
  from the events stream; one supply uniform per path and month when chips are
  on, inverted through the Poisson CDF at the set's starting rate, else numpy's
  Poisson sampler on the same stream; a raise uniform where the runway is short
  and a backstop uniform where cash is still negative; with competition on, the
  market's and the platforms' normals of each month from the market stream,
  and a sector event's market and platforms jump normals (positive sd) after
  its other draws from the events stream.  Both engines then
  consume identical variates, and must agree path by path
  (tests/test_engines_paths.py).  It loops over paths in Python: for small
  runs only.

May import: :mod:`simulator.model`, :mod:`simulator.engines.streams`.
"""

from __future__ import annotations

import math

import numpy as np

from simulator.engines.streams import N_STREAMS
from simulator.model.parameters import COMPANY, ParameterLayout

__all__ = ["MAX_TABLE", "BlockDraws", "LaneDraws", "poisson_cdf"]

#: Longest Poisson CDF table the kernels invert (chips.MAX_TABLE); larger rates use the sampler.
MAX_TABLE = 8192


def poisson_cdf(lam: float) -> np.ndarray | None:
    """P(X <= k), k = 0 .. n - 1, X ~ Poisson(lam), with the kernels' length rule; None when they keep none."""
    n = int(lam + 12.0 * math.sqrt(lam) + 30.0) if lam > 0.0 else 0
    if n > MAX_TABLE or lam <= 0.0:
        return None
    log_lam = math.log(lam)
    cdf = np.empty(n)
    acc = 0.0
    for k in range(n):
        acc += math.exp(-lam + k * log_lam - math.lgamma(k + 1.0))
        cdf[k] = acc
    return cdf


class BlockDraws:
    """The block's streams, a vector of variates at a time (the reference engine's own way)."""

    def __init__(self, gens: list[np.random.Generator]):
        self.gd, self.ge, self.gs, self.gf, self.gm = gens
        self._funding = None

    def sector_normals(self, n: int) -> np.ndarray:
        return self.gd.standard_normal(n)

    def event_uniforms(self, n: int) -> np.ndarray:
        return self.gd.random(n)

    def company_normals(self, n_comp: int, n: int) -> np.ndarray:
        return self.gd.standard_normal((n_comp, 4, n))

    def branch_uniforms(self, idx: np.ndarray) -> np.ndarray:
        return self.ge.random(idx.size)

    def jump_normals(self, sub: np.ndarray, sd) -> np.ndarray | None:
        """Normals for the paths ``sub`` (None: every sd is 0, nothing drawn)."""
        if np.all(np.asarray(sd) == 0.0):
            return None
        return self.ge.standard_normal(sub.size)

    def range_uniforms(self, sub: np.ndarray, width) -> np.ndarray | None:
        """Uniforms of a range effect (import cut, import multiplier) for the paths ``sub`` (None: no range
        has a width, nothing drawn)."""
        if not np.any(width > 0.0):
            return None
        return self.ge.random(sub.size)

    def new_cards(self, c: int, lam: np.ndarray, live: np.ndarray, chips_on) -> np.ndarray:
        """Cards delivered this month (Poisson of ``lam``, 0 where it is 0)."""
        return self.gs.poisson(lam).astype(np.float64)

    def raise_uniforms(self, want: np.ndarray) -> np.ndarray:
        """One uniform per path for a raise; the block draws both funding uniforms of every path here."""
        self._funding = self.gf.random((2, want.size))
        return self._funding[0]

    def backstop_uniforms(self, short: np.ndarray) -> np.ndarray:
        return self._funding[1]

    def market_normals(self, n: int) -> np.ndarray:
        """The month's normals of the market (row 0) and of the platforms' pull (row 1)."""
        return self.gm.standard_normal((2, n))


class LaneDraws:
    """Per-path streams seeded as the kernels' lanes; a variate only where the kernels draw one.

    Parameters
    ----------
    block_state : ndarray of uint64, shape (5, 4)
        The block's stream states (:func:`simulator.engines.streams.block_states`).
    n : int
        Paths of the block.
    layout : ParameterLayout
        The scenario's layout.
    theta_row : ndarray
        The parameter set (its starting card supply rates give the inversion tables).
    """

    def __init__(self, block_state: np.ndarray, n: int, layout: ParameterLayout, theta_row: np.ndarray):
        self.n = n
        self.streams = [self._lanes(block_state[j], n) for j in range(N_STREAMS)]
        self.gd, self.ge, self.gs, self.gf, self.gm = self.streams
        self.tables = []
        for c in range(layout.n_companies):
            off = ParameterLayout.company_offset(c)
            lam = float(theta_row[off + COMPANY.slot("chips.domestic_per_month")]
                        + theta_row[off + COMPANY.slot("chips.imports_per_month")])
            self.tables.append((lam, poisson_cdf(lam)))

    @staticmethod
    def _lanes(state: np.ndarray, n: int) -> list[np.random.Generator]:
        block = np.random.SFC64()
        block.state = {"bit_generator": "SFC64", "state": {"state": np.asarray(state, dtype=np.uint64).copy()},
                       "has_uint32": 0, "uinteger": 0}
        gens = []
        for _ in range(n):
            a, b, c = block.random_raw(3)
            lane = np.random.SFC64()
            lane.state = {"bit_generator": "SFC64", "state": {"state": np.array([a, b, c, 1], dtype=np.uint64)},
                          "has_uint32": 0, "uinteger": 0}
            lane.random_raw(12)  # numpy's SFC64 seeding: counter 1, then twelve rounds
            gens.append(np.random.Generator(lane))
        return gens

    @staticmethod
    def _each(gens, paths, draw) -> np.ndarray:
        return np.array([draw(gens[p]) for p in paths], dtype=np.float64)

    def sector_normals(self, n: int) -> np.ndarray:
        return self._each(self.gd, range(n), lambda g: g.standard_normal())

    def event_uniforms(self, n: int) -> np.ndarray:
        return self._each(self.gd, range(n), lambda g: g.random())

    def company_normals(self, n_comp: int, n: int) -> np.ndarray:
        # The kernels draw a month's normals company by company, four each, path by path.
        out = np.empty((n_comp, 4, n))
        for c in range(n_comp):
            for k in range(4):
                out[c, k] = self._each(self.gd, range(n), lambda g: g.standard_normal())
        return out

    def branch_uniforms(self, idx: np.ndarray) -> np.ndarray:
        return self._each(self.ge, idx, lambda g: g.random())

    def jump_normals(self, sub: np.ndarray, sd) -> np.ndarray | None:
        sd = np.broadcast_to(np.asarray(sd, dtype=np.float64), sub.shape)
        return np.array([self.ge[p].standard_normal() if s > 0.0 else 0.0 for p, s in zip(sub, sd, strict=True)])

    def range_uniforms(self, sub: np.ndarray, width) -> np.ndarray | None:
        width = np.broadcast_to(np.asarray(width, dtype=np.float64), sub.shape)
        return np.array([self.ge[p].random() if w > 0.0 else 0.0 for p, w in zip(sub, width, strict=True)])

    def new_cards(self, c: int, lam: np.ndarray, live: np.ndarray, chips_on) -> np.ndarray:
        out = np.zeros(self.n)
        if not np.all(np.asarray(chips_on)):
            return out  # the kernels draw no supply uniform for a company without chips
        lam_tab, cdf = self.tables[c]
        for p in range(self.n):
            g = self.gs[p]
            u = g.random()  # every path, live or not (common random numbers)
            if not live[p] or lam[p] <= 0.0:
                continue
            if cdf is not None and lam[p] == lam_tab and u <= cdf[-1]:
                out[p] = float(np.searchsorted(cdf, u, side="left"))
            else:
                out[p] = float(g.poisson(lam[p]))
        return out

    def raise_uniforms(self, want: np.ndarray) -> np.ndarray:
        return np.array([self.gf[p].random() if w else np.nan for p, w in enumerate(want)])

    def backstop_uniforms(self, short: np.ndarray) -> np.ndarray:
        return np.array([self.gf[p].random() if s else np.nan for p, s in enumerate(short)])

    def market_normals(self, n: int) -> np.ndarray:
        # The kernels draw the market's normal of every lane, then the platforms' (one path's stream each).
        out = np.empty((2, n))
        for k in range(2):
            out[k] = self._each(self.gm, range(n), lambda g: g.standard_normal())
        return out
