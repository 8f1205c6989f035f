"""The numpy reference engine's market, platforms and shares (MODEL.md step 9), written from MODEL.md.

With ``sector.competition.enabled`` the companies of a path and the platforms
share one market ``M``: ``log M`` moves by ``(market_growth - market_sigma^2 / 2)
dt + market_sigma sqrt(dt) z`` plus the sector events' ``market`` jumps; the
platforms' log pull relative to its start by ``(market_growth +
convergence_rate) dt + platform_sigma sqrt(dt) z`` plus their ``platforms``
jumps; each company's demand process is its pull ``A``, and with ``a = A /
A(start)`` and ``c = concentration``

    share_i = R_i a_i^c / (P0 a0^c + sum_j R_j a_j^c),

``P0 = M(start) - sum R`` (a failed company drops out of the sum), competed
demand ``share_i * M``.  As in the kernels the sum is taken in logs with the
largest term factored out, and the start shares come from the same arithmetic
(so that with ``c = 0`` they never move); the competed demand at start is each
company's revenue exactly.  Without competition the market is -inf, the
platforms' share 0 and every log share -inf, as the kernels keep them.

May import: nothing of the package.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Market"]


class Market:
    """The market and the shares of one block's paths under one parameter set.

    Parameters
    ----------
    g : named tuple
        The set's global parameters by the schema's names (``g.sector.market_size``, ...).
    revenues : list
        Each company's revenue at start (a number, or an array of the paths' draws).
    n : int
        Paths.
    """

    def __init__(self, g, revenues: list, n: int):
        self.on = float(g.sector.competition.enabled) > 0.5
        comp = g.sector.competition
        self.growth, self.sigma_m = g.sector.market_growth, comp.market_sigma
        self.convergence, self.sigma_p, self.concentration = comp.convergence_rate, comp.platform_sigma, comp.concentration
        n_comp = len(revenues)
        total = np.zeros(n)
        for revenue in revenues:  # company by company, as the kernels sum
            total = total + revenue
        size = np.broadcast_to(np.asarray(g.sector.market_size, dtype=np.float64), (n,))
        rest = size - total
        with np.errstate(divide="ignore", invalid="ignore"):
            self.log_ref = np.log(np.stack([np.broadcast_to(np.asarray(r, dtype=np.float64), (n,))
                                            for r in revenues]))
            self.log_m = np.where(self.on & (size > 0.0), np.log(np.where(size > 0.0, size, 1.0)), -np.inf)
            # The schema requires M0 > sum R; a per-path draw that breaks it leaves the platforms nothing.
            self.log_p0 = np.where(self.on & (rest > 0.0), np.log(np.where(rest > 0.0, rest, 1.0)), -np.inf)
        self.pull0 = np.zeros(n)  # the platforms' log pull relative to its start, log a0
        self.platform_share = np.zeros(n)
        self.log_share = np.full((n_comp, n), -np.inf)
        self.log_competed = np.full((n_comp, n), -np.inf)
        if self.on:
            self.shares(self.log_ref, np.ones((n_comp, n), dtype=bool))
            self.log_competed = self.log_ref.copy()

    def jump(self, sub: np.ndarray, market: np.ndarray, platforms: np.ndarray) -> None:
        """A sector event's jumps of the log market and of the platforms' log pull in the paths ``sub``."""
        self.log_m[sub] += market
        self.pull0[sub] += platforms

    def step(self, z: np.ndarray, dt: float, log_pull: np.ndarray, alive: np.ndarray) -> None:
        """One month: the market and the platforms' pull (normals ``z`` = (market, platforms)), then the shares.

        ``log_pull`` (company, path) are the companies' log demand after this month's
        step; ``alive`` which companies are alive at the start of the month.
        """
        self.log_m = self.log_m + (self.growth - 0.5 * self.sigma_m * self.sigma_m) * dt + self.sigma_m * np.sqrt(dt) * z[0]
        self.pull0 = self.pull0 + (self.growth + self.convergence) * dt + self.sigma_p * np.sqrt(dt) * z[1]
        self.shares(log_pull, alive)

    def shares(self, log_pull: np.ndarray, alive: np.ndarray) -> None:
        """Log shares, log competed demand and the platforms' share from the pulls (log-sum-exp)."""
        c = self.concentration
        w0 = self.log_p0 + c * self.pull0
        with np.errstate(invalid="ignore"):
            w = np.where(alive, self.log_ref + c * (log_pull - self.log_ref), -np.inf)
        top = np.maximum(w0, w.max(axis=0, initial=-np.inf))
        with np.errstate(invalid="ignore", divide="ignore"):
            total = np.where(w0 > -np.inf, np.exp(w0 - top), 0.0)
            for i in range(w.shape[0]):  # company by company, as the kernels sum
                total = total + np.where(w[i] > -np.inf, np.exp(w[i] - top), 0.0)
            log_total = top + np.log(total)
            self.platform_share = np.where(w0 > -np.inf, np.exp(w0 - top), 0.0) / total
            self.log_share = np.where(w > -np.inf, w - log_total, -np.inf)
        self.log_competed = self.log_m + self.log_share

    def recorded(self) -> list[np.ndarray]:
        """Each company's share (0 after failure), the platforms' share and the market, per path."""
        return [*np.exp(self.log_share), self.platform_share.copy(), np.exp(self.log_m)]

    def state(self) -> list[np.ndarray]:
        """The sector's competition state (quantities.SECTOR_STATE_NAMES after the mood)."""
        return [self.log_m, self.pull0, self.platform_share]
