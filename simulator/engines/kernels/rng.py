"""numpy's random streams, advanced inline: SFC64 and numpy's own samplers on its state.

Each stream is numpy's SFC64 bit generator, its state taken from a block's
``numpy.random.Generator`` (:func:`simulator.engines.streams.block_states`)
and advanced here: a call through numba's Generator goes through a function
pointer per variate, which cost more than the model itself.  The draws are
numpy's own algorithms (``next_double``, the ziggurat normal, the PTRS /
multiplication Poisson), so every variate equals the one the Generator would
give (tests/test_rng.py checks this bit for bit).  A state is a uint64[4]:
a, b, c and the counter.
"""

import math

import numpy as np
from numba import njit
from numba.np.random import _constants as _zig

__all__ = [
    "TWO_M53",
    "U0",
    "U1",
    "U3",
    "U8",
    "U11",
    "U24",
    "U40",
    "U_BYTE",
    "U_MANTISSA",
    "ZIG_K",
    "ZIG_W",
    "next_double",
    "next_uint64",
    "no_refcounts",
    "normal_rest",
    "poisson",
    "poisson_ptrs",
    "poisson_ptrs_rest",
    "ptrs_constants",
    "standard_normal",
]

#: Helpers that take arrays and allocate none are compiled without numba's
#: reference counting: with it, every call of a compiled function increments
#: and decrements each array argument's count atomically (two locked
#: instructions per array per call), which was a tenth of the month loop.
no_refcounts = njit(cache=True, error_model="numpy", _nrt=False)

U0 = np.uint64(0)
U1 = np.uint64(1)
U3 = np.uint64(3)
U8 = np.uint64(8)
U11 = np.uint64(11)
U24 = np.uint64(24)
U40 = np.uint64(40)
U_BYTE = np.uint64(0xFF)
U_MANTISSA = np.uint64(0x000FFFFFFFFFFFFF)
TWO_M53 = 1.0 / 9007199254740992.0
ZIG_W = _zig.wi_double
ZIG_K = _zig.ki_double
_ZIG_F = _zig.fi_double
_ZIG_R = float(_zig.ziggurat_nor_r)
_ZIG_INV_R = float(_zig.ziggurat_nor_inv_r)
_LOGGAM_A = np.array([8.333333333333333e-02, -2.777777777777778e-03, 7.936507936507937e-04,
                      -5.952380952380952e-04, 8.417508417508418e-04, -1.917526917526918e-03,
                      6.410256410256410e-03, -2.955065359477124e-02, 1.796443723688307e-01,
                      -1.39243221690590e+00])


@njit(cache=True, error_model="numpy", inline="always")
def next_uint64(s):
    """Advance SFC64 state ``s`` (uint64[4]: a, b, c, counter) and return its output."""
    a = s[0]
    b = s[1]
    c = s[2]
    tmp = a + b + s[3]
    s[3] += U1
    s[0] = b ^ (b >> U11)
    s[1] = c + (c << U3)
    s[2] = ((c << U24) | (c >> U40)) + tmp
    return tmp


@njit(cache=True, error_model="numpy", inline="always")
def next_double(s):
    """Uniform on [0, 1) with 53 random bits (numpy's ``Generator.random``)."""
    return float(next_uint64(s) >> U11) * TWO_M53


@njit(cache=True, error_model="numpy", inline="always")
def standard_normal(s):
    """numpy's ziggurat standard normal (``Generator.standard_normal``).

    The first rectangle test (99.3% of draws) is inlined at every call site;
    the rest of numpy's loop is one out-of-line function, which keeps the
    compiled kernel (and its compile time) small.
    """
    r = next_uint64(s)
    idx = np.intp(r & U_BYTE)
    r >>= U8
    rabs = (r >> U1) & U_MANTISSA
    x = float(rabs) * ZIG_W[idx]
    if r & U1:
        x = -x
    if rabs < ZIG_K[idx]:
        return x
    return normal_rest(s, idx, rabs, x)


@no_refcounts
def normal_rest(s, idx, rabs, x):
    """numpy's ziggurat after a failed rectangle test: tail or wedge test, then draw again."""
    while True:
        if idx == 0:
            while True:
                xx = -_ZIG_INV_R * math.log1p(-next_double(s))
                yy = -math.log1p(-next_double(s))
                if yy + yy > xx * xx:
                    if (rabs >> U8) & U1:
                        return -(_ZIG_R + xx)
                    return _ZIG_R + xx
        else:
            if (_ZIG_F[idx - 1] - _ZIG_F[idx]) * next_double(s) + _ZIG_F[idx] < math.exp(-0.5 * x * x):
                return x
        r = next_uint64(s)
        idx = np.intp(r & U_BYTE)
        r >>= U8
        rabs = (r >> U1) & U_MANTISSA
        x = float(rabs) * ZIG_W[idx]
        if r & U1:
            x = -x
        if rabs < ZIG_K[idx]:
            return x


@no_refcounts
def loggam(x):
    """numpy's ``random_loggam`` (log-gamma used inside its Poisson sampler)."""
    if x == 1.0 or x == 2.0:
        return 0.0
    n = int(7 - x) if x < 7.0 else 0
    x0 = x + n
    x2 = (1.0 / x0) * (1.0 / x0)
    gl0 = _LOGGAM_A[9]
    for k in range(9):
        gl0 *= x2
        gl0 += _LOGGAM_A[8 - k]
    gl = gl0 / x0 + 0.5 * 1.8378770664093453 + (x0 - 0.5) * math.log(x0) - x0
    if x < 7.0:
        for _ in range(n):
            gl -= math.log(x0 - 1.0)
            x0 -= 1.0
    return gl


#: ``loggam(k + 1)`` for the PTRS acceptance test, computed by ``loggam`` itself
#: (so a lookup gives the same value): a rejected draw no longer costs a
#: logarithm and a ten-term polynomial.  Supply rates of a few thousand cards a
#: month stay inside it; larger ``k`` calls ``loggam``.
_N_LOGGAM = 8192
_LOGGAM_TABLE = np.array([loggam(k + 1.0) for k in range(_N_LOGGAM)])


@njit(cache=True, error_model="numpy", inline="always")
def ptrs_constants(lam):
    """Constants of numpy's PTRS Poisson sampler for ``lam`` (>= 10): (loglam, a, b, log(invalpha), vr).

    The engine keeps them per company and recomputes them only when the supply
    rate changes, which saves a square root, two logarithms and two divisions
    per draw (numpy takes ``log(invalpha)`` at every rejection test: same value).
    """
    b = 0.931 + 2.53 * math.sqrt(lam)
    return (math.log(lam), -0.059 + 0.02483 * b, b, math.log(1.1239 + 1.1328 / (b - 3.4)),
            0.9277 - 3.6224 / (b - 2.0))


@njit(cache=True, error_model="numpy", inline="always")
def poisson_ptrs(s, lam, constants):
    """numpy's PTRS Poisson draw for lam >= 10, with its constants (:func:`ptrs_constants`) given.

    The quick acceptance (about 86% of draws at the engine's rates) is inlined;
    the rest of numpy's loop runs out of line.
    """
    _, a, b, _, vr = constants
    u = next_double(s) - 0.5
    v = next_double(s)
    us = 0.5 - abs(u)
    k = np.floor((2.0 * a / us + b) * u + lam + 0.43)
    if us >= 0.07 and v <= vr:
        return k
    return poisson_ptrs_rest(s, lam, constants, (u, v, us, k))


@no_refcounts
def poisson_ptrs_rest(s, lam, constants, first):
    """numpy's PTRS loop after the quick acceptance failed for ``first`` = (u, v, us, k)."""
    loglam, a, b, log_invalpha, vr = constants
    u, v, us, k = first
    while True:
        if not (k < 0 or (us < 0.013 and v > us)):
            lg = _LOGGAM_TABLE[np.intp(k)] if k < _N_LOGGAM else loggam(k + 1.0)
            if math.log(v) + log_invalpha - math.log(a / (us * us) + b) <= -lam + k * loglam - lg:
                return k
        u = next_double(s) - 0.5
        v = next_double(s)
        us = 0.5 - abs(u)
        k = np.floor((2.0 * a / us + b) * u + lam + 0.43)
        if us >= 0.07 and v <= vr:
            return k


@no_refcounts
def poisson(s, lam):
    """numpy's Poisson sampler (``Generator.poisson``): PTRS for lam >= 10, else multiplication; as a float."""
    if lam >= 10.0:
        return poisson_ptrs(s, lam, ptrs_constants(lam))
    if lam == 0.0:
        return 0.0
    enlam = math.exp(-lam)
    x = 0.0
    prod = 1.0
    while True:
        prod *= next_double(s)
        if prod > enlam:
            x += 1.0
        else:
            return x
