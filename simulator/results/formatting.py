"""How numbers are written for people: one module, so the command line, ``ds.sim`` and the reports agree.

- Probabilities in percent (:func:`percent`): one decimal from 1% up, two below
  1%, and two significant digits below 0.1% (a 0.04% chance reads ``0.040%``,
  not ``0.0%``); symmetrically near 100% (``99.96%``, not ``100.0%``); exactly
  0 and 1 read ``0.0%`` and ``100.0%``.
- Changes of probabilities in percentage points by the same rule
  (:func:`points`).
- Amounts with a K/M/B/T suffix and three significant digits
  (:func:`format_amount`).
- A scenario key's values in its natural format (:func:`key_values_text`):
  amounts with a suffix, other numbers with the fewest significant digits
  (at least three) that keep the values apart (``133``, ``267``, not
  ``133.333``).

May import: nothing of the package.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["change_text", "correlation_ci", "format_amount", "index_text", "is_amount", "key_values_text", "percent",
           "percent_ci", "points", "text_table", "value_text"]


def format_amount(value: float | None, currency: str = "") -> str:
    """An amount with a K/M/B/T suffix: ``format_amount(7e11, "CNY") == "700B CNY"``."""
    if value is None or not math.isfinite(value):
        return "unlimited" if value is not None and value > 0 else "n/a"
    sign = "-" if value < 0 else ""
    value = abs(float(value))
    for factor, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if value >= factor:
            scaled = value / factor
            digits = 0 if scaled >= 100 else (1 if scaled >= 10 else 2)
            text = f"{sign}{scaled:.{digits}f}{suffix}"
            break
    else:
        text = f"{sign}{value:.0f}"
    return f"{text} {currency}".strip()


def _decimals(small: float) -> int:
    """Decimals that show ``small`` (percent or points, >= 0): one from 1 up, two from 0.1, then two
    significant digits."""
    if small == 0.0 or small >= 1.0:
        return 1
    if small >= 0.1:
        return 2
    return max(2, 1 - math.floor(math.log10(small)))


def percent(p: float | None) -> str:
    """A probability in percent, with the digits that keep small chances (and near-certainties) readable."""
    if p is None or not math.isfinite(p):
        return "n/a"
    x = 100.0 * float(p)
    return f"{x:.{_decimals(min(abs(x), abs(100.0 - abs(x))))}f}%"  # near 0% or near 100%


def percent_ci(p: float, lo: float, hi: float) -> str:
    """``percent(p) [percent(lo), percent(hi)]``."""
    return f"{percent(p)} [{percent(lo)}, {percent(hi)}]"


def correlation_ci(phi: float, lo: float, hi: float) -> str:
    """A correlation with its interval (``+0.123 [+0.100, +0.145]``), or ``n/a`` where it is undefined."""
    if not math.isfinite(phi):
        return "n/a"
    return f"{phi:+.3f} [{lo:+.3f}, {hi:+.3f}]"


def points(x: float | None, *, sign: bool = False) -> str:
    """A change of a probability in percentage points, by the rule of :func:`percent`."""
    if x is None or not math.isfinite(x):
        return "n/a"
    y = 100.0 * float(x)
    return f"{y:{'+' if sign else ''}.{_decimals(abs(y))}f} pp"


def is_amount(units: str, currency: str = "") -> bool:
    """Whether ``units`` are an amount of money: the currency itself, or a currency code (``CNY``)."""
    units = str(units or "")
    head = units.split("/")[0]
    return bool(units) and (head == currency or (head.isalpha() and head.isupper() and len(head) == 3))


def value_text(x: float, units: str, currency: str = "") -> str:
    """An output value in its units: percent for probabilities, an amount in the currency, else 4 digits."""
    x = float(x)
    if not math.isfinite(x):
        return "n/a"
    if units == "1":
        return percent(x)
    if is_amount(units, currency):
        return format_amount(x)
    return f"{x:.4g}"


def change_text(x: float, units: str, currency: str = "") -> str:
    """A change of an output: percentage points for probabilities, else as :func:`value_text`."""
    return points(x) if units == "1" else value_text(x, units, currency)


def index_text(x: float, conf: float | None = None) -> str:
    """A sensitivity index with three decimals (and the half-width of its interval)."""
    if not math.isfinite(float(x)):
        return "n/a"
    text = f"{float(x):.3f}"
    if conf is not None and math.isfinite(float(conf)):
        text += f" ± {abs(float(conf)):.3f}"
    return text


def key_values_text(values: Sequence[float], units: str = "", currency: str = "") -> list[str]:
    """A scenario key's values in its natural format, as few digits as keep them apart.

    Amounts get a K/M/B/T suffix; other numbers 3 to 8 significant digits without an
    exponent (``1330``), the fewest that keep distinct values distinct.
    """
    values = [float(v) for v in values]
    if is_amount(units, currency):
        texts = [format_amount(v) for v in values]
        if len(set(texts)) == len(set(values)):
            return texts
    for digits in range(3, 9):
        texts = [_positional(v, digits) for v in values]
        if len(set(texts)) == len(set(values)):
            return texts
    return [f"{v:.12g}" for v in values]


def _positional(value: float, digits: int) -> str:
    """``value`` to ``digits`` significant digits without an exponent (``1330``, ``0.35``); huge or tiny: ``%g``."""
    import numpy as np

    if value != 0.0 and not 1e-4 <= abs(value) < 1e9:
        return f"{value:.{digits}g}"
    return np.format_float_positional(value, precision=digits, unique=False, fractional=False, trim="-")


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]], align: str = "") -> list[str]:
    """Lines of a plain-text table whose columns are as wide as their widest cell, two spaces apart.

    ``align`` has one ``l`` or ``r`` per column (default: first left, the rest
    right).  No cell is cut and no two columns run together, whatever the
    numbers.
    """
    n = len(headers)
    align = align or "l" + "r" * (n - 1)
    widths = [max([len(str(headers[j]))] + [len(str(r[j])) for r in rows]) for j in range(n)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(str(c).ljust(w) if a == "l" else str(c).rjust(w)
                         for c, w, a in zip(cells, widths, align, strict=True)).rstrip()

    return [line(headers), *(line(r) for r in rows)]
