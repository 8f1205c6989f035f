"""Numba kernels: the only module that imports numba.

``simulate_tasks`` runs the whole model of MODEL.md for a list of *tasks*: a
task is one block of paths under one parameter set.  Tasks run in parallel
(``prange``); each task owns its four random streams (``numpy.random.Generator``
objects spawned per block by ``engine.py``), so results never depend on the
number of threads.  Integer tallies (outcome counts, histograms) are
accumulated per thread and are exact in any order; floating-point tallies are
written per task and merged in task order by the caller.
"""

import math

import numpy as np
from llvmlite import ir
from numba import get_thread_id, njit, prange
from numba.cpython.unsafe.numbers import trailing_zeros
from numba.core import types
from numba.extending import intrinsic
from numba.np.random import _constants as _zig

from simulator._layout import (
    B_CASH, B_CUT_HIGH, B_CUT_LOW, B_DEMAND_MEAN, B_DEMAND_SD, B_GROWTH_MEAN, B_GROWTH_SD,
    B_NARR_MEAN, B_NARR_SD, B_OPEX, B_PROB, C_BETA, C_CASH, C_REVENUE, C_VALUATION, CHAMPION,
    COLLAPSE, CONTESTED, E_HAZARD, EV_COMPANY, EV_FIRST_BRANCH, EV_N_BRANCHES, EV_SLOT,
    F_BACKSTOP, F_BACKSTOP_PROB, F_BASE_LOGIT, F_ENABLED, F_NARRATIVE_SENS, F_RAISE_FRACTION,
    F_RECOVERY, F_TRIGGER, G_DECAY, G_INITIAL, G_KAPPA, G_LAMBDA, G_LONG_RUN, G_SIGMA_GROWTH,
    G_SIGMA_REVENUE, G_SIGMA_REVENUE_LR, HIST_BINS, HIST_HIGH, HIST_LOG10, HIST_LOW, K_CARD_PRICE, K_CARDS, K_DEPRECIATION,
    K_DOMESTIC, K_ENABLED, K_IMPORTS, K_REVENUE_PER_CARD, MAX_LOG_VALUATION_RATIO, N_COMPANY, N_GLOBAL, N_KAPPA,
    N_LONG_RUN, N_SIGMA, N_VARS, O_GROWTH, O_INTEREST, O_LOSS_CF, O_OPEX, O_TAX,
    OUT_CHAMPION_MAX_PS, OUT_CHAMPION_RATIO, OUT_COLLAPSE_RATIO, P_COST_DRIFT, P_COST_SHARE,
    P_DRIFT, P_ELASTICITY, P_PASS_THROUGH, P_SCARCITY, P_SIGMA, S_INIT, S_KAPPA, S_LONG_RUN,
    S_SIGMA, V_BASE_MULTIPLE, V_DISCOUNT, V_EXIT_MULTIPLE, V_GROWTH_SENS, V_MARGIN_SENS,
    VAR_CAPACITY, VAR_CASH, VAR_MARGIN, VAR_NARRATIVE, VAR_REVENUE, VAR_VALUATION,
)

#: Helpers that take arrays and allocate none are compiled without numba's
#: reference counting: with it, every call of a compiled function increments
#: and decrements each array argument's count atomically (two locked
#: instructions per array per call), which was a tenth of the month loop.
_no_refcounts = njit(cache=True, error_model="numpy", _nrt=False)

# ---------------------------------------------------------------------------
# Random streams.  Each stream is numpy's SFC64 bit generator, its state taken
# from the block's ``numpy.random.Generator`` (``engine.block_states``) and
# advanced here inline: a call through numba's Generator goes through a
# function pointer per variate, which cost more than the model itself.  The
# draws are numpy's own algorithms (``next_double``, the ziggurat normal, the
# PTRS / multiplication Poisson), so every variate equals the one the
# Generator would give (tests/test_rng.py checks this bit for bit).
# ---------------------------------------------------------------------------
_U0 = np.uint64(0)
_U1 = np.uint64(1)
_U3 = np.uint64(3)
_U8 = np.uint64(8)
_U11 = np.uint64(11)
_U24 = np.uint64(24)
_U40 = np.uint64(40)
_U_BYTE = np.uint64(0xFF)
_U_MANTISSA = np.uint64(0x000FFFFFFFFFFFFF)
_TWO_M53 = 1.0 / 9007199254740992.0
_ZIG_W = _zig.wi_double
_ZIG_K = _zig.ki_double
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
    s[3] += _U1
    s[0] = b ^ (b >> _U11)
    s[1] = c + (c << _U3)
    s[2] = ((c << _U24) | (c >> _U40)) + tmp
    return tmp


@njit(cache=True, error_model="numpy", inline="always")
def next_double(s):
    """Uniform on [0, 1) with 53 random bits (numpy's ``Generator.random``)."""
    return float(next_uint64(s) >> _U11) * _TWO_M53


@njit(cache=True, error_model="numpy", inline="always")
def standard_normal(s):
    """numpy's ziggurat standard normal (``Generator.standard_normal``).

    The first rectangle test (99.3% of draws) is inlined at every call site;
    the rest of numpy's loop is one out-of-line function, which keeps the
    compiled kernel (and its compile time) small.
    """
    r = next_uint64(s)
    idx = np.intp(r & _U_BYTE)
    r >>= _U8
    rabs = (r >> _U1) & _U_MANTISSA
    x = float(rabs) * _ZIG_W[idx]
    if r & _U1:
        x = -x
    if rabs < _ZIG_K[idx]:
        return x
    return _normal_rest(s, idx, rabs, x)


@_no_refcounts
def _normal_rest(s, idx, rabs, x):
    """numpy's ziggurat after a failed rectangle test: tail or wedge test, then draw again."""
    while True:
        if idx == 0:
            while True:
                xx = -_ZIG_INV_R * math.log1p(-next_double(s))
                yy = -math.log1p(-next_double(s))
                if yy + yy > xx * xx:
                    if (rabs >> _U8) & _U1:
                        return -(_ZIG_R + xx)
                    return _ZIG_R + xx
        else:
            if (_ZIG_F[idx - 1] - _ZIG_F[idx]) * next_double(s) + _ZIG_F[idx] < math.exp(-0.5 * x * x):
                return x
        r = next_uint64(s)
        idx = np.intp(r & _U_BYTE)
        r >>= _U8
        rabs = (r >> _U1) & _U_MANTISSA
        x = float(rabs) * _ZIG_W[idx]
        if r & _U1:
            x = -x
        if rabs < _ZIG_K[idx]:
            return x


@_no_refcounts
def _loggam(x):
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


#: ``_loggam(k + 1)`` for the PTRS acceptance test, computed by ``_loggam`` itself
#: (so a lookup gives the same value): a rejected draw no longer costs a
#: logarithm and a ten-term polynomial.  Supply rates of a few thousand cards a
#: month stay inside it; larger ``k`` calls ``_loggam``.
_N_LOGGAM = 8192
_LOGGAM_TABLE = np.array([_loggam(k + 1.0) for k in range(_N_LOGGAM)])


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
def poisson_ptrs(s, lam, loglam, a, b, log_invalpha, vr):
    """numpy's PTRS Poisson draw for lam >= 10, with its constants given.

    The quick acceptance (about 86% of draws at the engine's rates) is inlined;
    the rest of numpy's loop runs out of line.
    """
    u = next_double(s) - 0.5
    v = next_double(s)
    us = 0.5 - abs(u)
    k = math.floor((2.0 * a / us + b) * u + lam + 0.43)
    if us >= 0.07 and v <= vr:
        return k
    return _poisson_ptrs_rest(s, lam, loglam, a, b, log_invalpha, vr, u, v, us, k)


@_no_refcounts
def _poisson_ptrs_rest(s, lam, loglam, a, b, log_invalpha, vr, u, v, us, k):
    """numpy's PTRS loop after the quick acceptance failed for (u, v)."""
    while True:
        if not (k < 0 or (us < 0.013 and v > us)):
            lg = _LOGGAM_TABLE[np.intp(k)] if k < _N_LOGGAM else _loggam(k + 1.0)
            if math.log(v) + log_invalpha - math.log(a / (us * us) + b) <= -lam + k * loglam - lg:
                return k
        u = next_double(s) - 0.5
        v = next_double(s)
        us = 0.5 - abs(u)
        k = math.floor((2.0 * a / us + b) * u + lam + 0.43)
        if us >= 0.07 and v <= vr:
            return k


@_no_refcounts
def poisson(s, lam):
    """numpy's Poisson sampler (``Generator.poisson``): PTRS for lam >= 10, else multiplication."""
    if lam >= 10.0:
        loglam, a, b, log_invalpha, vr = ptrs_constants(lam)
        return poisson_ptrs(s, lam, loglam, a, b, log_invalpha, vr)
    if lam == 0.0:
        return 0
    enlam = math.exp(-lam)
    x = 0
    prod = 1.0
    while True:
        prod *= next_double(s)
        if prod > enlam:
            x += 1
        else:
            return x


@njit(cache=True, error_model="numpy")
def fill_draws(state, kind, lam, out):
    """Fill ``out`` with draws of one kind, for tests.

    Kinds: 0 uniform, 1 standard normal, 2 Poisson(lam), 3 Poisson(lam >= 10)
    through the engine's path with cached PTRS constants.
    """
    loglam, a, b, log_invalpha, vr = ptrs_constants(max(lam, 10.0))
    for i in range(out.shape[0]):
        if kind == 3:
            out[i] = poisson_ptrs(state, lam, loglam, a, b, log_invalpha, vr)
            continue
        if kind == 0:
            out[i] = next_double(state)
        elif kind == 1:
            out[i] = standard_normal(state)
        else:
            out[i] = poisson(state, lam)


# ---------------------------------------------------------------------------
# Branch-free exp and log.  glibc's exp/log are calls, which stop LLVM from
# vectorising a loop over lanes; these are plain arithmetic on the IEEE bits
# (Cody-Waite reduction with a degree-13 Taylor polynomial; fdlibm's log, their
# polynomials in fused multiply-adds, ``_fma``) and agree with the library to
# within an ulp (tests/test_fastmath.py).
# ---------------------------------------------------------------------------
@intrinsic
def _bits(typingctx, x):
    """The IEEE-754 bits of a float64, as an int64."""
    if not isinstance(x, types.Float):
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _from_bits(typingctx, x):
    """The float64 whose IEEE-754 bits are the int64 ``x``."""
    if not isinstance(x, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def _fma(typingctx, a, b, c):
    """``a * b + c`` with one rounding (LLVM's ``fma``: one instruction, and it vectorises).

    Only ``fast_exp`` and ``fast_log`` use it: their polynomials are chains of
    multiply-adds whose latency bounds the lane loops; elsewhere the model's
    arithmetic stays as written (separately rounded).
    """
    if not all(isinstance(x, types.Float) for x in (a, b, c)):
        return None

    def codegen(context, builder, signature, args):
        f64 = ir.DoubleType()
        fn = builder.module.declare_intrinsic("llvm.fma", [f64], ir.FunctionType(f64, [f64, f64, f64]))
        return builder.call(fn, args)

    return types.float64(types.float64, types.float64, types.float64), codegen


_MAGIC = 6755399441055744.0  # 1.5 * 2**52: x + _MAGIC holds round(x) in its low bits
_MAGIC_BITS = np.int64(0x4338000000000000)
_TWO52 = 4503599627370496.0
_TWO52_BITS = np.int64(0x4330000000000000)
_ONE_BITS = np.int64(0x3FF0000000000000)
_MANT_BITS = np.int64(0x000FFFFFFFFFFFFF)
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_SQRT2 = 1.4142135623730951
_LG1 = 6.666666666666735130e-01
_LG2 = 3.999999999940941908e-01
_LG3 = 2.857142874366239149e-01
_LG4 = 2.222219843214978396e-01
_LG5 = 1.818357216161805012e-01
_LG6 = 1.531383769920937332e-01
_LG7 = 1.479819860511658591e-01
_TINY = 2.2250738585072014e-308
_E52 = np.int64(52)
_I1023 = np.int64(1023)


@njit(cache=True, error_model="numpy", inline="always")
def fast_exp(x):
    """exp(x) without calls or branches (so a loop over lanes vectorises).

    Results below exp(-708) (subnormal numbers, about 3e-308) are returned as
    0: arithmetic on subnormals takes a slow microcode path, four times slower
    for the whole loop.
    """
    xc = x if x > -708.0 else -708.0  # NaN too; restored at the end
    xc = xc if xc < 710.0 else 710.0
    t = xc * _LOG2E + _MAGIC
    k = t - _MAGIC
    ki = _bits(t) - _MAGIC_BITS
    r = (xc - k * _LN2_HI) - k * _LN2_LO
    p = 1.0 / 6227020800.0
    p = _fma(p, r, 1.0 / 479001600.0)
    p = _fma(p, r, 1.0 / 39916800.0)
    p = _fma(p, r, 1.0 / 3628800.0)
    p = _fma(p, r, 1.0 / 362880.0)
    p = _fma(p, r, 1.0 / 40320.0)
    p = _fma(p, r, 1.0 / 5040.0)
    p = _fma(p, r, 1.0 / 720.0)
    p = _fma(p, r, 1.0 / 120.0)
    p = _fma(p, r, 1.0 / 24.0)
    p = _fma(p, r, 1.0 / 6.0)
    p = _fma(p, r, 0.5)
    p = _fma(p, r, 1.0)
    p = _fma(p, r, 1.0)
    # 2**k in two factors, so subnormal results and k = 1024 stay exact.
    k1 = ki >> np.int64(1)
    k2 = ki - k1
    res = p * _from_bits((k1 + _I1023) << _E52) * _from_bits((k2 + _I1023) << _E52)
    res = res if x > -708.0 else 0.0
    return res if x == x else x


@njit(cache=True, error_model="numpy", inline="always")
def fast_log(x):
    """log(x) without calls or branches (fdlibm's algorithm); log(0) = -inf, log(<0) = nan."""
    sub = x < _TINY
    xs = x * 18014398509481984.0 if sub else x  # 2**54: subnormals become normal
    bits = _bits(xs)
    e_bits = (bits >> _E52) - (np.int64(1077) if sub else _I1023)
    m = _from_bits((bits & _MANT_BITS) | _ONE_BITS)
    big = m > _SQRT2
    m = m * 0.5 if big else m
    e_bits = e_bits + np.int64(1) if big else e_bits
    dk = _from_bits(e_bits + _MAGIC_BITS) - _MAGIC
    f = m - 1.0
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * _fma(w, _fma(w, _LG6, _LG4), _LG2)
    t2 = z * _fma(w, _fma(w, _fma(w, _LG7, _LG5), _LG3), _LG1)
    res = dk * _LN2_HI - ((hfsq - (s * (hfsq + t2 + t1) + dk * _LN2_LO)) - f)
    res = res if x < _INF else x
    res = res if x > 0.0 else (-_INF if x == 0.0 else np.nan)
    return res


@njit(cache=True, error_model="numpy")
def fill_fast_math(kind, x, out):
    """``out = fast_exp(x)`` (kind 0) or ``fast_log(x)`` (kind 1), for tests."""
    for i in range(x.shape[0]):
        out[i] = fast_exp(x[i]) if kind == 0 else fast_log(x[i])


# ---------------------------------------------------------------------------
# Lanes.  The engine advances LANES paths together, month by month, each path
# with its own four SFC64 streams (diffusion, events, supply, funding), so the
# loops over lanes vectorise and a path's draws never depend on its
# neighbours.  A path's streams are seeded from its block's four streams
# (``engine.block_states``): three consecutive outputs of block stream j seed
# stream j of the next path, as numpy seeds SFC64 from three words (counter
# 1, then twelve rounds).  Every draw from a lane stream is numpy's algorithm
# on that SFC64 state, so it equals what a ``numpy.random.Generator`` holding
# that state would give (tests/test_rng.py).
# ---------------------------------------------------------------------------
LANES = 64  # at most 64: _events_lanes keeps one bit per lane
_DIFFUSION, _EVENTS, _SUPPLY, _FUNDING = 0, 1, 2, 3  # stream order of engine.py
N_STREAMS_K = 4  # diffusion, events, supply, funding (engine.py)
_SFC64_WARMUP = 12


@njit(cache=True, error_model="numpy", inline="always")
def _at(row, i):
    """Index of lane ``i`` in ``row`` of a flat lane array (unsigned: no negative-index wraparound).

    Lane arrays are flat, rows of LANES values: the compile-time row stride
    lets LLVM prove that rows do not overlap, so the lane loops vectorise, and
    no array views are made in the loops (a view costs two atomic reference
    counts).
    """
    return np.uint64(row) * np.uint64(LANES) + np.uint64(i)


@_no_refcounts
def seed_lanes(block_state, rs, n):
    """Seed the next ``n`` paths' streams from the block's states.

    ``rs`` holds, for stream j and SFC64 word w, row ``4 j + w`` of LANES lanes.
    """
    for i in range(n):
        for j in range(block_state.shape[0]):
            a = next_uint64(block_state[j])
            b = next_uint64(block_state[j])
            c = next_uint64(block_state[j])
            w = _U1
            for _ in range(_SFC64_WARMUP):
                tmp = a + b + w
                w += _U1
                a = b ^ (b >> _U11)
                b = c + (c << _U3)
                c = ((c << _U24) | (c >> _U40)) + tmp
            rs[_at(4 * j, i)] = a
            rs[_at(4 * j + 1, i)] = b
            rs[_at(4 * j + 2, i)] = c
            rs[_at(4 * j + 3, i)] = w


@njit(cache=True, error_model="numpy", inline="always")
def _lane_next(rs, r, i, on):
    """Next output of lane ``i`` of the stream at row ``r`` of ``rs``; the state moves only if ``on``."""
    ia = _at(r, i)
    ib = _at(r + 1, i)
    ic = _at(r + 2, i)
    iw = _at(r + 3, i)
    ai = rs[ia]
    bi = rs[ib]
    ci = rs[ic]
    wi = rs[iw]
    tmp = ai + bi + wi
    rs[ia] = bi ^ (bi >> _U11) if on else ai
    rs[ib] = ci + (ci << _U3) if on else bi
    rs[ic] = ((ci << _U24) | (ci >> _U40)) + tmp if on else ci
    rs[iw] = wi + _U1 if on else wi
    return tmp


@njit(cache=True, error_model="numpy", inline="always")
def _u52_to_float(v):
    """A uint64 below 2**52 as a float64, through its bits (AVX2 has no 64-bit integer conversion)."""
    return _from_bits(np.int64(v) | _TWO52_BITS) - _TWO52


@njit(cache=True, error_model="numpy", inline="always")
def _to_double(r):
    """numpy's ``next_double`` of a 64-bit output: its top 53 bits over 2**53."""
    v = r >> _U11
    hi = _u52_to_float(v >> _U1)
    return (hi + hi + (1.0 if v & _U1 else 0.0)) * _TWO_M53


@_no_refcounts
def lane_doubles(rs, stream, out, row, n):
    """One uniform on [0, 1) per lane of ``stream`` into ``out[row]`` (numpy's ``next_double``)."""
    r = 4 * stream
    for i in range(n):
        out[_at(row, i)] = _to_double(_lane_next(rs, r, i, True))


@njit(cache=True, error_model="numpy", inline="always")
def _lane_masked_double(rs, stream, i, on):
    """Next uniform of lane ``i`` if ``on``; otherwise the lane's stream is left as it was."""
    return _to_double(_lane_next(rs, 4 * stream, i, on))


@_no_refcounts
def _lane_normals_fast(rs, r, out, row, raw, n):
    """The ziggurat's rectangle test for every lane; NaN (and the raw word) where it failed."""
    bad = 0
    for i in range(n):
        x_raw = _lane_next(rs, r, i, True)
        idx = np.intp(x_raw & _U_BYTE)
        rr = x_raw >> _U8
        rabs = (rr >> _U1) & _U_MANTISSA
        x = _u52_to_float(rabs) * _ZIG_W[idx]
        x = -x if rr & _U1 else x
        ok = rabs < _ZIG_K[idx]
        out[_at(row, i)] = x if ok else np.nan
        raw[i] = x_raw
        bad += 0 if ok else 1
    return bad


@_no_refcounts
def lane_normals(rs, stream, out, row, raw, n, one):
    """One standard normal per lane of ``stream`` into ``out[row]`` (numpy's ziggurat)."""
    lane_normal_rows(rs, stream, out, row, 1, raw, n, one)


@_no_refcounts
def lane_double_rows(rs, stream, out, row, n_rows, n):
    """Uniforms into rows ``row .. row + n_rows - 1`` of ``out``, a row at a time (one call: no refcounts)."""
    r = 4 * stream
    for k in range(n_rows):
        for i in range(n):
            out[_at(row + k, i)] = _to_double(_lane_next(rs, r, i, True))


@_no_refcounts
def lane_normal_rows(rs, stream, out, row, n_rows, raw, n, one):
    """Standard normals into rows ``row .. row + n_rows - 1`` of ``out``, a row at a time."""
    for k in range(n_rows):
        _lane_normal_row(rs, stream, out, row + k, raw, n, one)


@njit(cache=True, error_model="numpy", inline="always")
def _lane_normal_row(rs, stream, out, row, raw, n, one):
    if _lane_normals_fast(rs, 4 * stream, out, row, raw, n) == 0:
        return
    for i in range(n):
        if out[_at(row, i)] != out[_at(row, i)]:
            r = raw[i]
            idx = np.intp(r & _U_BYTE)
            r >>= _U8
            rabs = (r >> _U1) & _U_MANTISSA
            x = float(rabs) * _ZIG_W[idx]
            if r & _U1:
                x = -x
            _lane_load(rs, stream, i, one)
            out[_at(row, i)] = _normal_rest(one, idx, rabs, x)
            _lane_store(rs, stream, i, one)


@njit(cache=True, error_model="numpy", inline="always")
def _lane_load(rs, stream, i, one):
    """Copy lane ``i``'s state of ``stream`` into ``one`` for the scalar samplers."""
    for w in range(4):
        one[w] = rs[_at(4 * stream + w, i)]


@njit(cache=True, error_model="numpy", inline="always")
def _lane_store(rs, stream, i, one):
    for w in range(4):
        rs[_at(4 * stream + w, i)] = one[w]


@njit(cache=True, error_model="numpy")
def fill_lane_draws(block_state, kind, n_lanes, n_draws, out):
    """Seed ``n_lanes`` lanes from one block stream and draw ``n_draws`` per lane, for tests.

    ``out`` (n_draws, n_lanes); kinds 0 uniform, 1 standard normal, 2 uniform
    drawn only where ``(lane + draw) % 3 != 0`` (NaN elsewhere: the masked
    draws of the funding and supply passes).  Returns the lane states after
    the draws, shape (4 words, n_lanes).
    """
    final = np.empty((4, n_lanes), dtype=np.uint64)
    state = block_state.reshape((1, 4)).copy()
    rs = np.zeros(4 * LANES, dtype=np.uint64)
    buf = np.empty(LANES)
    raw = np.empty(LANES, dtype=np.uint64)
    one = np.empty(4, dtype=np.uint64)
    for base in range(0, n_lanes, LANES):
        n = min(LANES, n_lanes - base)
        seed_lanes(state, rs, n)
        for d in range(n_draws):
            if kind == 0:
                lane_doubles(rs, 0, buf, 0, n)
            elif kind == 1:
                lane_normals(rs, 0, buf, 0, raw, n, one)
            else:
                for i in range(n):
                    on = (base + i + d) % 3 != 0
                    x = _lane_masked_double(rs, 0, i, on)
                    buf[i] = x if on else np.nan
            for i in range(n):
                out[d, base + i] = buf[i]
        for w in range(4):
            for i in range(n):
                final[w, base + i] = rs[_at(w, i)]
    return final


_INV_LN10 = 1.0 / math.log(10.0)
_INF = np.inf
# Largest table for Poisson inversion of card supply; larger means use the
# generator's own sampler.
_MAX_TABLE = 8192

# Company state rows (per company, per lane).
_N = 0       # company narrative
_MU = 1      # expected growth
_LOGD = 2    # log demand revenue
_LOGP = 3    # log price index
_LOGC = 4    # log unit compute cost
_K = 5       # installed cards
_I = 6       # import factor
_CASH = 7
_OPEX = 8
_LCF = 9     # loss carry-forward
_ALIVE = 10
_VFAIL = 11  # valuation frozen at failure (recovery applied)
_G0 = 12     # gross margin at start
_E0 = 13     # implied narrative at start
_LOGV0 = 14
_FAILM = 15  # month of failure (0: alive)
_SIGR = 16   # current revenue volatility
_SIGG = 17   # current growth volatility
_R = 18      # last served revenue
_CAP = 19    # new cards this month
_G = 20      # last gross margin
_LOGV = 21   # last log valuation
_LOGR = 22   # log served revenue
_LOGCAP = 23  # log capacity (inf: unlimited)
_FLOW = 24   # last month's cash flow
# Per-company constants of a path, derived at its start.
_AN = 25      # exp(-kappa_N dt)
_BN = 26      # OU noise scale of N
_AG = 27      # exp(-kappa dt) for growth
_BG = 28      # OU noise scale of growth per unit sigma
_DECAY = 29   # exp(-volatility_decay dt)
_LOGBASE = 30
_PTRS_LAM = 31  # supply rate whose PTRS constants are cached in _PTRS .. _PTRS + 4
_GROWO = 32   # exp(opex_growth dt)
_LOGRPC = 33  # log revenue per card
_PTRS = 34
_NST = 39

# Sector rows (per lane).
_SS = 0      # sector narrative
_SS_A = 1
_SS_B = 2
_LOG_CHAMP = 3
_LOG_PS = 4
_LOG_COLLAPSE = 5
_NSEC = 6


@njit(cache=True, error_model="numpy")
def fill_lane_poisson(block_state, lams, n_lanes, n_draws, out):
    """Card-supply Poisson draws by the lanes' PTRS passes, for tests.

    Lanes are seeded from ``block_state`` (one SFC64 state) as the supply
    stream; lane ``i`` draws Poisson(``lams[i % len(lams)]``), all >= 10, except
    where ``(lane + draw) % 5 == 0`` (NaN there: a lane that draws nothing).
    ``out`` (n_draws, n_lanes); returns the lane states after the draws.
    """
    final = np.empty((4, n_lanes), dtype=np.uint64)
    state = np.empty((N_STREAMS_K, 4), dtype=np.uint64)
    for j in range(N_STREAMS_K):
        state[j] = block_state
    rs = np.zeros(N_STREAMS_K * 4 * LANES, dtype=np.uint64)
    S = np.zeros(_NST * LANES)
    sup = np.zeros(5 * LANES)
    one = np.empty(4, dtype=np.uint64)
    for base in range(0, n_lanes, LANES):
        n = min(LANES, n_lanes - base)
        seed_lanes(state, rs, n)
        for i in range(n):
            lam = lams[(base + i) % lams.shape[0]]
            S[_at(_PTRS_LAM, i)] = lam
            (S[_at(_PTRS, i)], S[_at(_PTRS + 1, i)], S[_at(_PTRS + 2, i)], S[_at(_PTRS + 3, i)],
             S[_at(_PTRS + 4, i)]) = ptrs_constants(lam)
        for d in range(n_draws):
            for i in range(n):
                on = (base + i + d) % 5 != 0
                sup[_at(0, i)] = 1.0 if on else 0.0
                S[_at(_CAP, i)] = -1.0 if on else np.nan
            _ptrs_lanes(S, 0, n, rs, sup, one)
            for i in range(n):
                out[d, base + i] = S[_at(_CAP, i)]
        for w in range(4):
            for i in range(n):
                final[w, base + i] = rs[_at(4 * _SUPPLY + w, i)]
    return final


@njit(cache=True, error_model="numpy", inline="always")
def _ou_coefficients(kappa, sigma, dt):
    """Exact OU step: x' = m + (x - m) a + b z; kappa = 0 is a random walk."""
    if kappa > 0.0:
        a = math.exp(-kappa * dt)
        b = sigma * math.sqrt((1.0 - a * a) / (2.0 * kappa))
    else:
        a = 1.0
        b = sigma * math.sqrt(dt)
    return a, b


@njit(cache=True, error_model="numpy", inline="always")
def _poisson_inverse(u, lam, p0):
    """Poisson(lam) by inversion of one uniform (``p0`` = exp(-lam)): monotone in lam (common random numbers)."""
    if lam <= 0.0 or u <= p0:
        return 0
    # The first step without the division (lam / 1 is lam): most arrivals are
    # single, and the division's latency was most of their inversion.
    p = p0 * lam
    cdf = p0 + p
    k = 1
    while u > cdf and k < 10_000:
        k += 1
        p *= lam / k
        cdf += p
    return k


@_no_refcounts
def poisson_cdf_table(lam, out, guide):
    """Fill ``out`` with P(X <= k), X ~ Poisson(lam), and ``guide`` with a guide table.

    ``guide[j]`` is the smallest k with P(X <= k) >= j / n, so inversion starts
    next to the answer (Devroye's guide-table method: about two comparisons a
    draw instead of a branchy bisection).  Returns the table length n, or 0 if
    ``out`` is too short.
    """
    n = int(lam + 12.0 * math.sqrt(lam) + 30.0)
    if n > out.shape[0] or lam <= 0.0:
        return 0
    log_lam = math.log(lam)
    cdf = 0.0
    for k in range(n):
        cdf += math.exp(-lam + k * log_lam - math.lgamma(k + 1.0))
        out[k] = cdf
    k = 0
    for j in range(n):
        target = j / n
        while k < n - 1 and out[k] < target:
            k += 1
        guide[j] = k
    return n


@njit(cache=True, error_model="numpy", inline="always")
def _serve(logd, logp, logc, cards, chips_on, log_rpc, scarcity):
    """(log served revenue, served revenue, log capacity, gross margin) from demand, price, cost, cards."""
    if chips_on:
        logcap = fast_log(cards) + log_rpc + logp
    else:
        logcap = _INF
    logr = logd if logd < logcap else logcap
    unit = fast_exp(logc - logp)  # compute cost per unit of price
    short = logd > logcap
    # fast_exp(inf) would not arise: short implies logcap < logd < inf.
    premium = 1.0 + scarcity * (fast_exp(logd - logcap) - 1.0)
    unit = unit * premium if (scarcity > 0.0 and short and logcap > -_INF) else unit
    return logr, fast_exp(logr), logcap, 1.0 - unit


# Histogram grids as compile-time constants: the bin scale is folded into the code.
_LOW_R, _LOW_V, _LOW_C, _LOW_K, _LOW_G, _LOW_E = HIST_LOW
_HIGH_R, _HIGH_V, _HIGH_C, _HIGH_K, _HIGH_G, _HIGH_E = HIST_HIGH
_HIST_LOG = np.asarray(HIST_LOG10, dtype=np.bool_)


@njit(cache=True, error_model="numpy", inline="always")
def _bin_of(x, low, high):
    """Histogram bin of ``x`` on a grid of HIST_BINS - 2 bins over [low, high) plus two edge bins."""
    nb = HIST_BINS
    y = (x - low) * ((nb - 2) / (high - low))
    y = y if y > -1.0 else -1.0  # also -inf and NaN
    y = y if y < nb - 2.5 else nb - 2.5  # so j <= nb - 2 whenever x < high
    j = np.int32(y + 1.0)  # truncation: floor for y + 1 >= 0
    j = j if x >= low else np.int32(0)
    j = j if x < high else np.int32(nb - 1)
    return np.uint16(j)


@njit(cache=True, error_model="numpy", inline="always")
def _min_max(vals, v, n, lo, hi):
    """Smallest and largest of row ``v`` of ``vals`` (n lanes) and (lo, hi): eight running pairs.

    One running pair is a chain of dependent compares (LLVM does not vectorise
    a floating-point min/max reduction without fast-math); eight interleaved
    pairs run in parallel.  The result does not depend on the order.
    """
    l0 = l1 = l2 = l3 = l4 = l5 = l6 = l7 = lo
    h0 = h1 = h2 = h3 = h4 = h5 = h6 = h7 = hi
    n8 = n - n % 8
    for i in range(0, n8, 8):
        x0 = vals[_at(v, i)]
        x1 = vals[_at(v, i + 1)]
        x2 = vals[_at(v, i + 2)]
        x3 = vals[_at(v, i + 3)]
        x4 = vals[_at(v, i + 4)]
        x5 = vals[_at(v, i + 5)]
        x6 = vals[_at(v, i + 6)]
        x7 = vals[_at(v, i + 7)]
        l0 = x0 if x0 < l0 else l0
        l1 = x1 if x1 < l1 else l1
        l2 = x2 if x2 < l2 else l2
        l3 = x3 if x3 < l3 else l3
        l4 = x4 if x4 < l4 else l4
        l5 = x5 if x5 < l5 else l5
        l6 = x6 if x6 < l6 else l6
        l7 = x7 if x7 < l7 else l7
        h0 = x0 if x0 > h0 else h0
        h1 = x1 if x1 > h1 else h1
        h2 = x2 if x2 > h2 else h2
        h3 = x3 if x3 > h3 else h3
        h4 = x4 if x4 > h4 else h4
        h5 = x5 if x5 > h5 else h5
        h6 = x6 if x6 > h6 else h6
        h7 = x7 if x7 > h7 else h7
    for i in range(n8, n):
        x = vals[_at(v, i)]
        l0 = x if x < l0 else l0
        h0 = x if x > h0 else h0
    l0 = l1 if l1 < l0 else l0
    l2 = l3 if l3 < l2 else l2
    l4 = l5 if l5 < l4 else l4
    l6 = l7 if l7 < l6 else l6
    l0 = l2 if l2 < l0 else l0
    l4 = l6 if l6 < l4 else l4
    h0 = h1 if h1 > h0 else h0
    h2 = h3 if h3 > h2 else h2
    h4 = h5 if h5 > h4 else h4
    h6 = h7 if h7 > h6 else h6
    h0 = h2 if h2 > h0 else h0
    h4 = h6 if h6 > h4 else h4
    return (l4 if l4 < l0 else l0), (h4 if h4 > h0 else h0)


@_no_refcounts
def _record_lanes(S, r0, sec, beta, n, base, binbuf, c, row, mm, vals, bins):
    """Bins of every lane's company state in the task's buffer; min/max per variable.

    Amounts are binned on log10 grids and their extremes tracked in natural
    logs (no exp here); ``_flush_bins`` converts the extremes back.  ``vals``
    and ``bins`` are (N_VARS * LANES) scratch rows with a compile-time stride,
    so the loop vectorises.
    """
    for i in range(n):
        alive = S[_at(r0 + _ALIVE, i)] > 0.5
        cash = S[_at(r0 + _CASH, i)]
        vf = S[_at(r0 + _VFAIL, i)]
        log_r = S[_at(r0 + _LOGR, i)] if alive else -_INF
        log_v = S[_at(r0 + _LOGV, i)] if alive else (fast_log(vf) if vf > 0.0 else -_INF)
        log_cash = fast_log(cash) if (alive and cash > 0.0) else -_INF
        log_cap = S[_at(r0 + _LOGCAP, i)] if alive else -_INF
        g = S[_at(r0 + _G, i)]
        e = S[_at(r0 + _N, i)] + beta[_at(c, i)] * sec[_at(_SS, i)]
        bins[_at(VAR_REVENUE, i)] = _bin_of(log_r * _INV_LN10, _LOW_R, _HIGH_R)
        bins[_at(VAR_VALUATION, i)] = _bin_of(log_v * _INV_LN10, _LOW_V, _HIGH_V)
        bins[_at(VAR_CASH, i)] = _bin_of(log_cash * _INV_LN10, _LOW_C, _HIGH_C)
        bins[_at(VAR_CAPACITY, i)] = _bin_of(log_cap * _INV_LN10, _LOW_K, _HIGH_K)
        bins[_at(VAR_MARGIN, i)] = _bin_of(g, _LOW_G, _HIGH_G)
        bins[_at(VAR_NARRATIVE, i)] = _bin_of(e, _LOW_E, _HIGH_E)
        vals[_at(VAR_REVENUE, i)] = log_r
        vals[_at(VAR_VALUATION, i)] = log_v
        vals[_at(VAR_CASH, i)] = log_cash
        vals[_at(VAR_CAPACITY, i)] = log_cap
        vals[_at(VAR_MARGIN, i)] = g
        vals[_at(VAR_NARRATIVE, i)] = e
    for v in range(N_VARS):
        # Unsigned indices: a signed one gets a negative-index check per lane, and
        # LLVM then stores the 64 bins one by one instead of as vectors.
        out = binbuf[c, row, v]
        for i in range(n):
            out[np.uint64(base) + np.uint64(i)] = bins[_at(v, i)]
        mm[c, row, v, 0], mm[c, row, v, 1] = _min_max(vals, v, n, mm[c, row, v, 0], mm[c, row, v, 1])


@_no_refcounts
def _flush_bins(binbuf, n_paths, mm, hist, minmax, tid, s):
    """Add a task's buffered bins to this thread's histograms, one row at a time."""
    n_comp, n_rec, n_vars = binbuf.shape[0], binbuf.shape[1], binbuf.shape[2]
    for c in range(n_comp):
        for r in range(n_rec):
            for v in range(n_vars):
                counts = hist[tid, s, c, v, r]
                bins = binbuf[c, r, v]
                for ip in range(n_paths):
                    counts[bins[ip]] += 1
                lo = mm[c, r, v, 0]
                hi = mm[c, r, v, 1]
                if _HIST_LOG[v]:
                    lo = math.exp(lo)
                    hi = math.exp(hi)
                if lo < minmax[tid, s, c, v, r, 0]:
                    minmax[tid, s, c, v, r, 0] = lo
                if hi > minmax[tid, s, c, v, r, 1]:
                    minmax[tid, s, c, v, r, 1] = hi


@_no_refcounts
def _keep_lanes(S, sec, beta, n, n_comp, p0, keep_n, kept, m):
    """Store month ``m`` of the lanes whose path index ``p0 + i`` is below ``keep_n``."""
    for i in range(n):
        if p0 + i < keep_n:
            for c in range(n_comp):
                _keep(S, c * _NST, sec[_at(_SS, i)], beta[_at(c, i)], kept, p0 + i, c, m, i)


@_no_refcounts
def _keep(S, r0, sector_s, beta, kept, p, c, m, i):
    alive = S[_at(r0 + _ALIVE, i)] > 0.5
    kept[VAR_REVENUE, p, c, m] = S[_at(r0 + _R, i)] if alive else 0.0
    kept[VAR_VALUATION, p, c, m] = math.exp(S[_at(r0 + _LOGV, i)]) if alive else S[_at(r0 + _VFAIL, i)]
    kept[VAR_CASH, p, c, m] = S[_at(r0 + _CASH, i)] if alive else 0.0
    kept[VAR_CAPACITY, p, c, m] = math.exp(S[_at(r0 + _LOGCAP, i)]) if alive else 0.0
    kept[VAR_MARGIN, p, c, m] = S[_at(r0 + _G, i)]
    kept[VAR_NARRATIVE, p, c, m] = S[_at(r0 + _N, i)] + beta * sector_s


@njit(cache=True, error_model="numpy", inline="always")
def _draw_jump(gen, mean, sd):
    if sd > 0.0:
        return mean + sd * standard_normal(gen)
    return mean


@_no_refcounts
def _events_lanes(P, S, sec, ev, br, p_none, draws, d0, n, n_comp, dt, rs, ge, tape_i, tape_f, tape_n, record):
    """Event arrivals of every lane this month, by inversion of its uniform, and their effects.

    Per event type, the lanes with arrivals (u > P(none)) are first found as
    a bit mask in one branch-free pass, then only those lanes are visited, in
    lane order: a per-lane test mispredicted at every rare arrival.  One call
    a month, the arrivals handled inline: every call of a compiled function
    with arrays has a fixed cost.  The month's uniforms are rows ``d0 + 1 ..``
    of ``draws``.  With ``record``, every arrival's draws are also appended to
    the tape (``tape_n[0]`` records; ``tape_n[1]`` set when it is full), so
    that parameter sets with the same events can replay them
    (``_replay_events``) instead of drawing them again.
    """
    for e in range(ev.shape[0]):
        hit = _U0
        for i in range(n):
            hit |= (_U1 << np.uint64(i)) if draws[_at(d0 + 1 + e, i)] > p_none[_at(e, i)] else _U0
        while hit != _U0:
            i = np.int64(trailing_zeros(hit))
            hit &= hit - _U1
            _lane_load(rs, _EVENTS, i, ge)
            _event_lane(P, S, sec, ev, br, e, draws[_at(d0 + 1 + e, i)], p_none[_at(e, i)], i, n_comp, dt, ge,
                        tape_i, tape_f, tape_n, record)
            _lane_store(rs, _EVENTS, i, ge)


@njit(cache=True, error_model="numpy", inline="always")
def _event_lane(P, S, sec, ev, br, e, u, p0, i, n_comp, dt, ge, tape_i, tape_f, tape_n, record):
    """Arrivals of event ``e`` in lane ``i`` this month (u > P(none)) and their effects."""
    slot_e = ev[e, EV_SLOT]
    count = _poisson_inverse(u, P[_at(slot_e + E_HAZARD, i)] * dt, p0)
    comp = ev[e, EV_COMPANY]
    for _ in range(count):
        first = ev[e, EV_FIRST_BRANCH]
        nbr = ev[e, EV_N_BRANCHES]
        b = first + nbr - 1
        if nbr > 1:
            total = 0.0
            for k in range(nbr):
                total += P[_at(br[first + k] + B_PROB, i)]
            ub = next_double(ge) * total
            acc = 0.0
            for k in range(nbr):
                acc += P[_at(br[first + k] + B_PROB, i)]
                if ub < acc:
                    b = first + k
                    break
        slot = br[b]
        narr = _draw_jump(ge, P[_at(slot + B_NARR_MEAN, i)], P[_at(slot + B_NARR_SD, i)])
        growth = _draw_jump(ge, P[_at(slot + B_GROWTH_MEAN, i)], P[_at(slot + B_GROWTH_SD, i)])
        demand = _draw_jump(ge, P[_at(slot + B_DEMAND_MEAN, i)], P[_at(slot + B_DEMAND_SD, i)])
        lo = P[_at(slot + B_CUT_LOW, i)]
        hi = P[_at(slot + B_CUT_HIGH, i)]
        cut = lo + (hi - lo) * next_double(ge) if hi > lo else lo
        if record:
            k = tape_n[0]
            if k < tape_i.shape[0]:
                tape_i[k, 0] = i
                tape_i[k, 1] = comp
                tape_i[k, 2] = slot
                tape_f[k, 0] = narr
                tape_f[k, 1] = growth
                tape_f[k, 2] = demand
                tape_f[k, 3] = cut
                tape_n[0] = k + 1
            else:
                tape_n[1] = 1
        _apply_event(P, S, sec, slot, comp, narr, growth, demand, cut, i, n_comp)


@njit(cache=True, error_model="numpy", inline="always")
def _apply_event(P, S, sec, slot, comp, narr, growth, demand, cut, i, n_comp):
    """Effects of one arrival (branch record at ``slot``) on lane ``i``."""
    cash = P[_at(slot + B_CASH, i)]
    opex_mult = P[_at(slot + B_OPEX, i)]
    if comp < 0:
        sec[_at(_SS, i)] += narr
        c0, c1 = 0, n_comp
    else:
        S[_at(comp * _NST + _N, i)] += narr
        c0, c1 = comp, comp + 1
    for c in range(c0, c1):
        r0 = c * _NST
        if S[_at(r0 + _ALIVE, i)] < 0.5:
            continue
        S[_at(r0 + _MU, i)] += growth
        S[_at(r0 + _LOGD, i)] += demand
        S[_at(r0 + _I, i)] *= 1.0 - cut
        S[_at(r0 + _CASH, i)] += cash
        S[_at(r0 + _OPEX, i)] *= opex_mult


@_no_refcounts
def _replay_events(P, S, sec, tape_i, tape_f, k0, k1, n_comp):
    """Apply the recorded arrivals ``k0 .. k1 - 1`` in their order (same draws, this set's state)."""
    for k in range(k0, k1):
        _apply_event(P, S, sec, tape_i[k, 2], tape_i[k, 1], tape_f[k, 0], tape_f[k, 1], tape_f[k, 2],
                     tape_f[k, 3], tape_i[k, 0], n_comp)


@_no_refcounts
def _diffuse_lanes(S, r0, P, off, Z, zr, n, dt, sqdt):
    """Narrative, growth, demand, price and cost of every live lane for one month."""
    for i in range(n):
        alive = S[_at(r0 + _ALIVE, i)] > 0.5
        lr_n = P[_at(off + N_LONG_RUN, i)]
        nn = lr_n + (S[_at(r0 + _N, i)] - lr_n) * S[_at(r0 + _AN, i)] + S[_at(r0 + _BN, i)] * Z[_at(zr + 0, i)]
        sig_r = S[_at(r0 + _SIGR, i)]
        sig_g = S[_at(r0 + _SIGG, i)]
        mu = S[_at(r0 + _MU, i)]
        dlogp = P[_at(off + P_DRIFT, i)] * dt + P[_at(off + P_SIGMA, i)] * sqdt * Z[_at(zr + 3, i)]
        logd = S[_at(r0 + _LOGD, i)] + ((mu - P[_at(off + G_LAMBDA, i)] * sig_r - 0.5 * sig_r * sig_r) * dt
                                   + sig_r * sqdt * Z[_at(zr + 2, i)] - P[_at(off + P_ELASTICITY, i)] * dlogp)
        lr_g = P[_at(off + G_LONG_RUN, i)]
        mu_new = lr_g + (mu - lr_g) * S[_at(r0 + _AG, i)] + sig_g * S[_at(r0 + _BG, i)] * Z[_at(zr + 1, i)]
        logp = S[_at(r0 + _LOGP, i)] + dlogp
        logc = S[_at(r0 + _LOGC, i)] + P[_at(off + P_PASS_THROUGH, i)] * dlogp + P[_at(off + P_COST_DRIFT, i)] * dt
        # Schwartz-Moon volatility decay towards the long-run values.
        decay = S[_at(r0 + _DECAY, i)]
        sr_inf = P[_at(off + G_SIGMA_REVENUE_LR, i)]
        S[_at(r0 + _N, i)] = nn if alive else S[_at(r0 + _N, i)]
        S[_at(r0 + _MU, i)] = mu_new if alive else mu
        S[_at(r0 + _LOGD, i)] = logd if alive else S[_at(r0 + _LOGD, i)]
        S[_at(r0 + _LOGP, i)] = logp if alive else S[_at(r0 + _LOGP, i)]
        S[_at(r0 + _LOGC, i)] = logc if alive else S[_at(r0 + _LOGC, i)]
        S[_at(r0 + _SIGR, i)] = sr_inf + (sig_r - sr_inf) * decay if alive else sig_r
        S[_at(r0 + _SIGG, i)] = sig_g * decay if alive else sig_g


@_no_refcounts
def _supply_lanes(S, r0, P, off, us, n, dt, tables, guides, table_len, table_lam, c, one, rs, sup):
    """New cards of every live lane (MODEL.md chips): Poisson(domestic + imports x import factor).

    At the block's starting rate, inversion of the lane's uniform from a table
    (monotone: common random numbers); at any other rate numpy's PTRS sampler
    (its quick acceptance for all lanes at once, the rest lane by lane), or
    below a rate of 10 numpy's multiplication sampler.  A first branch-free
    pass sorts the lanes (bit masks), so no per-lane branch is mispredicted
    when lanes with and without an export cut are mixed.
    ``sup`` is (5 * LANES) scratch: PTRS flag, u (first the rate), v, us, k.
    """
    n_tab = table_len[c]
    lam_tab = table_lam[c]
    last = tables[c, n_tab - 1] if n_tab > 0 else -1.0
    tab = _U0  # lanes served by the table
    rare = _U0  # lanes needing fresh PTRS constants or the multiplication sampler
    n_ptrs = 0
    for i in range(n):
        alive = S[_at(r0 + _ALIVE, i)] > 0.5
        lam = P[_at(off + K_DOMESTIC, i)] + P[_at(off + K_IMPORTS, i)] * S[_at(r0 + _I, i)]
        on_tab = alive and lam == lam_tab and us[i] <= last
        ptrs = alive and not on_tab and lam >= 10.0
        small = alive and not on_tab and not ptrs and lam > 0.0
        stale = ptrs and lam != S[_at(r0 + _PTRS_LAM, i)]
        bit = _U1 << np.uint64(i)
        tab |= bit if on_tab else _U0
        rare |= bit if (small or stale) else _U0
        n_ptrs += 1 if ptrs else 0
        sup[_at(0, i)] = 1.0 if ptrs else 0.0
        sup[_at(1, i)] = lam
        S[_at(r0 + _CAP, i)] = 0.0  # dead and zero-rate lanes; the samplers write the others
    while tab != _U0:
        i = np.int64(trailing_zeros(tab))
        tab &= tab - _U1
        u = us[i]
        j = guides[c, int(u * n_tab)]
        while tables[c, j] < u:
            j += 1
        S[_at(r0 + _CAP, i)] = float(j)
    while rare != _U0:
        i = np.int64(trailing_zeros(rare))
        rare &= rare - _U1
        lam = sup[_at(1, i)]
        if sup[_at(0, i)] > 0.5:
            S[_at(r0 + _PTRS_LAM, i)] = lam
            (S[_at(r0 + _PTRS, i)], S[_at(r0 + _PTRS + 1, i)], S[_at(r0 + _PTRS + 2, i)],
             S[_at(r0 + _PTRS + 3, i)], S[_at(r0 + _PTRS + 4, i)]) = ptrs_constants(lam)
        else:
            _lane_load(rs, _SUPPLY, i, one)
            S[_at(r0 + _CAP, i)] = float(poisson(one, lam))
            _lane_store(rs, _SUPPLY, i, one)
    if n_ptrs > 0:
        _ptrs_lanes(S, r0, n, rs, sup, one)
    for i in range(n):
        alive = S[_at(r0 + _ALIVE, i)] > 0.5
        cards = S[_at(r0 + _K, i)] * (1.0 - P[_at(off + K_DEPRECIATION, i)] * dt) + S[_at(r0 + _CAP, i)]
        S[_at(r0 + _K, i)] = cards if alive else S[_at(r0 + _K, i)]


@_no_refcounts
def _ptrs_quick_lanes(S, r0, n, rs, sup):
    """numpy's PTRS first try for the flagged lanes: new cards where it accepts.

    Returns the lanes it rejected as a bit mask (their u, v, us, k are left in
    ``sup`` for numpy's loop, which writes their cards).
    """
    pending = _U0
    for i in range(n):
        on = sup[_at(0, i)] > 0.5
        u = _lane_masked_double(rs, _SUPPLY, i, on) - 0.5
        v = _lane_masked_double(rs, _SUPPLY, i, on)
        lam = S[_at(r0 + _PTRS_LAM, i)]
        pa = S[_at(r0 + _PTRS + 1, i)]
        pb = S[_at(r0 + _PTRS + 2, i)]
        vr = S[_at(r0 + _PTRS + 4, i)]
        us = 0.5 - abs(u)
        k = np.floor((2.0 * pa / us + pb) * u + lam + 0.43)
        ok = us >= 0.07 and v <= vr
        sup[_at(1, i)] = u
        sup[_at(2, i)] = v
        sup[_at(3, i)] = us
        sup[_at(4, i)] = k
        S[_at(r0 + _CAP, i)] = k if (on and ok) else S[_at(r0 + _CAP, i)]
        pending |= (_U1 << np.uint64(i)) if (on and not ok) else _U0
    return pending


@_no_refcounts
def _ptrs_lanes(S, r0, n, rs, sup, one):
    """New cards by numpy's PTRS for the flagged lanes (``sup`` row 0), from their supply streams.

    The quick acceptance (most draws) for all lanes at once; numpy's loop for
    the lanes it rejects (about a quarter, at random: visited through a bit
    mask, as a per-lane test would be mispredicted), lane by lane.
    """
    pending = _ptrs_quick_lanes(S, r0, n, rs, sup)
    while pending != _U0:
        i = np.int64(trailing_zeros(pending))
        pending &= pending - _U1
        _lane_load(rs, _SUPPLY, i, one)
        S[_at(r0 + _CAP, i)] = float(_poisson_ptrs_rest(
            one, S[_at(r0 + _PTRS_LAM, i)], S[_at(r0 + _PTRS, i)], S[_at(r0 + _PTRS + 1, i)],
            S[_at(r0 + _PTRS + 2, i)], S[_at(r0 + _PTRS + 3, i)], S[_at(r0 + _PTRS + 4, i)],
            sup[_at(1, i)], sup[_at(2, i)], sup[_at(3, i)], sup[_at(4, i)]))
        _lane_store(rs, _SUPPLY, i, one)


@_no_refcounts
def _operate_lanes(S, r0, P, off, sec, n, dt, chips_on, funding_on):
    """Served revenue, margin, taxes, cash and valuation of every live lane.

    Returns the lanes needing funding as a bit mask, and how many they are.
    """
    need = _U0
    n_need = 0
    for i in range(n):
        alive = S[_at(r0 + _ALIVE, i)] > 0.5
        logr, rev, logcap, g = _serve(S[_at(r0 + _LOGD, i)], S[_at(r0 + _LOGP, i)], S[_at(r0 + _LOGC, i)], S[_at(r0 + _K, i)],
                                      chips_on, S[_at(r0 + _LOGRPC, i)], P[_at(off + P_SCARCITY, i)])
        opex = S[_at(r0 + _OPEX, i)]
        op = (rev * g - opex) * dt
        lcf = S[_at(r0 + _LCF, i)]
        used = lcf if lcf < op else op
        tax = 0.0 if op < 0.0 else P[_at(off + O_TAX, i)] * (op - used)
        lcf_new = lcf - op if op < 0.0 else lcf - used
        cash = S[_at(r0 + _CASH, i)]
        flow = (op - S[_at(r0 + _CAP, i)] * P[_at(off + K_CARD_PRICE, i)] + P[_at(off + O_INTEREST, i)] * cash * dt - tax)
        cash_new = cash + flow
        # Valuation (before any failure).
        e = S[_at(r0 + _N, i)] + P[_at(off + C_BETA, i)] * sec[_at(_SS, i)]
        logv = (logr + S[_at(r0 + _LOGBASE, i)] + P[_at(off + V_GROWTH_SENS, i)] * (S[_at(r0 + _MU, i)] - P[_at(off + G_LONG_RUN, i)])
                + P[_at(off + V_MARGIN_SENS, i)] * (g - S[_at(r0 + _G0, i)]) + e)
        cap = S[_at(r0 + _LOGV0, i)] + MAX_LOG_VALUATION_RATIO
        logv = logv if logv < cap else cap
        logv = logv if logr > -_INF else -_INF
        S[_at(r0 + _LOGR, i)] = logr if alive else S[_at(r0 + _LOGR, i)]
        S[_at(r0 + _R, i)] = rev if alive else S[_at(r0 + _R, i)]
        S[_at(r0 + _LOGCAP, i)] = logcap if alive else S[_at(r0 + _LOGCAP, i)]
        S[_at(r0 + _G, i)] = g if alive else S[_at(r0 + _G, i)]
        S[_at(r0 + _LCF, i)] = lcf_new if alive else lcf
        S[_at(r0 + _CASH, i)] = cash_new if alive else cash
        S[_at(r0 + _FLOW, i)] = flow
        S[_at(r0 + _OPEX, i)] = opex * S[_at(r0 + _GROWO, i)] if alive else opex
        S[_at(r0 + _LOGV, i)] = logv if alive else S[_at(r0 + _LOGV, i)]
        low = (-flow > 0.0 and cash_new < P[_at(off + F_TRIGGER, i)] * -flow) or cash_new < 0.0
        flag = alive and low and funding_on
        need |= (_U1 << np.uint64(i)) if flag else _U0
        n_need += 1 if flag else 0
    return need, n_need


@_no_refcounts
def _fund_lanes(S, r0, P, off, sec, n, need, n_need, rs):
    """Market raises and the state backstop of the lanes in ``need`` (short of cash), from their funding streams.

    A lane draws one uniform for a raise when its runway is short, then one
    for the backstop if its cash is still negative; other lanes draw nothing.
    With few lanes in the mask only those are visited; with many, one
    branch-free pass over all lanes is cheaper (lanes outside the mask neither
    want a raise nor have negative cash, so the pass leaves them as they are).
    """
    if n_need > 12:
        for i in range(n):
            _fund_lane(S, r0, P, off, sec, rs, i)
        return
    while need != _U0:
        i = np.int64(trailing_zeros(need))
        need &= need - _U1
        _fund_lane(S, r0, P, off, sec, rs, i)


@njit(cache=True, error_model="numpy", inline="always")
def _fund_lane(S, r0, P, off, sec, rs, i):
    """Raise and backstop of lane ``i``, branch-free (masked draws), so a loop over lanes vectorises."""
    alive = S[_at(r0 + _ALIVE, i)] > 0.5
    burn = -S[_at(r0 + _FLOW, i)]
    cash = S[_at(r0 + _CASH, i)]
    want = alive and burn > 0.0 and cash < P[_at(off + F_TRIGGER, i)] * burn
    e_eff = S[_at(r0 + _N, i)] + P[_at(off + C_BETA, i)] * sec[_at(_SS, i)]
    x = P[_at(off + F_BASE_LOGIT, i)] + P[_at(off + F_NARRATIVE_SENS, i)] * e_eff
    prob = 1.0 / (1.0 + fast_exp(-x))
    u = _lane_masked_double(rs, _FUNDING, i, want)
    raised = P[_at(off + F_RAISE_FRACTION, i)] * fast_exp(S[_at(r0 + _LOGV, i)])
    cash = cash + raised if (want and u < prob) else cash
    short = alive and cash < 0.0
    u = _lane_masked_double(rs, _FUNDING, i, short)
    cash = cash + P[_at(off + F_BACKSTOP, i)] if (short and u < P[_at(off + F_BACKSTOP_PROB, i)]) else cash
    S[_at(r0 + _CASH, i)] = cash


@_no_refcounts
def _fail_lanes(S, r0, P, off, n, m):
    """Absorbing failure of live lanes with negative cash."""
    for i in range(n):
        if S[_at(r0 + _ALIVE, i)] > 0.5 and S[_at(r0 + _CASH, i)] < 0.0:
            S[_at(r0 + _ALIVE, i)] = 0.0
            S[_at(r0 + _FAILM, i)] = m
            S[_at(r0 + _VFAIL, i)] = P[_at(off + F_RECOVERY, i)] * math.exp(S[_at(r0 + _LOGV, i)])


@_no_refcounts
def _copy_lane0(a, rows, n):
    """Copy lane 0 of each of the first ``rows`` rows to lanes 1 .. n - 1."""
    for r in range(rows):
        x = a[_at(r, 0)]
        for i in range(1, n):
            a[_at(r, i)] = x


@_no_refcounts
def _start_lanes(P, S, sec, ev, n_comp, n, dt, chips_on, p_none):
    """Initial state and per-path constants of every lane (MODEL.md, start of a path)."""
    for i in range(n):
        ss_a, ss_b = _ou_coefficients(P[_at(S_KAPPA, i)], P[_at(S_SIGMA, i)], dt)
        sec[_at(_SS, i)] = P[_at(S_INIT, i)]
        sec[_at(_SS_A, i)] = ss_a
        sec[_at(_SS_B, i)] = ss_b
        sec[_at(_LOG_CHAMP, i)] = math.log(P[_at(OUT_CHAMPION_RATIO, i)])
        sec[_at(_LOG_PS, i)] = math.log(P[_at(OUT_CHAMPION_MAX_PS, i)])
        collapse_ratio = P[_at(OUT_COLLAPSE_RATIO, i)]
        sec[_at(_LOG_COLLAPSE, i)] = math.log(collapse_ratio) if collapse_ratio > 0.0 else -_INF
        for e in range(ev.shape[0]):
            p_none[_at(e, i)] = math.exp(-P[_at(ev[e, EV_SLOT] + E_HAZARD, i)] * dt)
        for c in range(n_comp):
            off = N_GLOBAL + c * N_COMPANY
            r0 = c * _NST
            a, b = _ou_coefficients(P[_at(off + N_KAPPA, i)], P[_at(off + N_SIGMA, i)], dt)
            S[_at(r0 + _AN, i)] = a
            S[_at(r0 + _BN, i)] = b
            a, b = _ou_coefficients(P[_at(off + G_KAPPA, i)], 1.0, dt)
            S[_at(r0 + _AG, i)] = a
            S[_at(r0 + _BG, i)] = b
            S[_at(r0 + _DECAY, i)] = math.exp(-P[_at(off + G_DECAY, i)] * dt)
            S[_at(r0 + _LOGBASE, i)] = math.log(P[_at(off + V_BASE_MULTIPLE, i)])
            S[_at(r0 + _GROWO, i)] = math.exp(P[_at(off + O_GROWTH, i)] * dt)
            rpc = P[_at(off + K_REVENUE_PER_CARD, i)]
            S[_at(r0 + _LOGRPC, i)] = math.log(rpc) if rpc > 0.0 else -_INF
            S[_at(r0 + _PTRS_LAM, i)] = -1.0
            S[_at(r0 + _MU, i)] = P[_at(off + G_INITIAL, i)]
            S[_at(r0 + _LOGD, i)] = math.log(P[_at(off + C_REVENUE, i)])
            S[_at(r0 + _LOGP, i)] = 0.0
            share = P[_at(off + P_COST_SHARE, i)]
            S[_at(r0 + _LOGC, i)] = math.log(share) if share > 0.0 else -_INF
            S[_at(r0 + _K, i)] = P[_at(off + K_CARDS, i)]
            S[_at(r0 + _I, i)] = 1.0
            S[_at(r0 + _CASH, i)] = P[_at(off + C_CASH, i)]
            S[_at(r0 + _OPEX, i)] = P[_at(off + O_OPEX, i)]
            S[_at(r0 + _LCF, i)] = P[_at(off + O_LOSS_CF, i)]
            S[_at(r0 + _ALIVE, i)] = 1.0
            S[_at(r0 + _VFAIL, i)] = 0.0
            S[_at(r0 + _FAILM, i)] = 0.0
            S[_at(r0 + _SIGR, i)] = P[_at(off + G_SIGMA_REVENUE, i)]
            S[_at(r0 + _SIGG, i)] = P[_at(off + G_SIGMA_GROWTH, i)]
            S[_at(r0 + _CAP, i)] = 0.0
            S[_at(r0 + _FLOW, i)] = 0.0
            logr, rev, logcap, g = _serve(S[_at(r0 + _LOGD, i)], 0.0, S[_at(r0 + _LOGC, i)], S[_at(r0 + _K, i)],
                                          chips_on[c], S[_at(r0 + _LOGRPC, i)], P[_at(off + P_SCARCITY, i)])
            S[_at(r0 + _LOGR, i)] = logr
            S[_at(r0 + _R, i)] = rev
            S[_at(r0 + _LOGCAP, i)] = logcap
            S[_at(r0 + _G, i)] = g
            S[_at(r0 + _G0, i)] = g
            # The narrative at start is implied by the stated valuation.
            e0 = (math.log(P[_at(off + C_VALUATION, i)] / rev) - S[_at(r0 + _LOGBASE, i)]
                  - P[_at(off + V_GROWTH_SENS, i)] * (S[_at(r0 + _MU, i)] - P[_at(off + G_LONG_RUN, i)]))
            S[_at(r0 + _E0, i)] = e0
            S[_at(r0 + _N, i)] = e0 - P[_at(off + C_BETA, i)] * sec[_at(_SS, i)]
            S[_at(r0 + _LOGV0, i)] = math.log(P[_at(off + C_VALUATION, i)])
            S[_at(r0 + _LOGV, i)] = S[_at(r0 + _LOGV0, i)]


@njit(cache=True, error_model="numpy")
def _lane_workspaces(theta_row, n_comp, n_events):
    """Lane workspaces of one parameter set: parameters, company state, sector state, scratch rows.

    Rows of LANES values in flat arrays: the compile-time row stride lets
    LLVM prove that rows do not overlap, so the lane loops vectorise.
    """
    n_theta = theta_row.shape[0]
    P = np.empty(n_theta * LANES)
    for j in range(n_theta):
        P[j * LANES:(j + 1) * LANES] = theta_row[j]
    S = np.zeros(n_comp * _NST * LANES)
    sec = np.zeros(_NSEC * LANES)
    p_none = np.empty(n_events * LANES)
    beta = np.empty(n_comp * LANES)
    return P, S, sec, p_none, beta


@njit(cache=True, error_model="numpy")
def _switches(theta_row, n_comp):
    """Which companies have the chips and the funding channels switched on."""
    chips_on = np.empty(n_comp, dtype=np.bool_)
    funding_on = np.empty(n_comp, dtype=np.bool_)
    for c in range(n_comp):
        off = N_GLOBAL + c * N_COMPANY
        chips_on[c] = theta_row[off + K_ENABLED] > 0.5
        funding_on[c] = theta_row[off + F_ENABLED] > 0.5
    return chips_on, funding_on


@_no_refcounts
def _start_group(P, S, sec, p_none, beta, ev, n_comp, n, dt, chips_on, unc_slots, unc_values, unc_row):
    """Per-path parameters and the start state of the next lanes (paths ``unc_row ..`` of the values)."""
    n_unc = unc_slots.shape[0]
    for j in range(n_unc):
        for i in range(n):
            P[_at(unc_slots[j], i)] = unc_values[unc_row + i, j]
    if n_unc > 0:
        _start_lanes(P, S, sec, ev, n_comp, n, dt, chips_on, p_none)
    else:
        # Every lane starts from the same parameters: one lane's start state, copied.
        _start_lanes(P, S, sec, ev, n_comp, 1, dt, chips_on, p_none)
        _copy_lane0(S, n_comp * _NST, n)
        _copy_lane0(sec, _NSEC, n)
        _copy_lane0(p_none, ev.shape[0], n)
    for c in range(n_comp):
        for i in range(n):
            beta[_at(c, i)] = P[_at(N_GLOBAL + c * N_COMPANY + C_BETA, i)]


@_no_refcounts
def _draw_month(rs, draws, d0, n_events, n_comp, raw, n, one):
    """The diffusion stream's draws of one month, in each path's order, into rows ``d0 ..``.

    The sector normal, one uniform per event type, four normals per company:
    a fixed number whatever the state, so they can be drawn ahead.
    """
    lane_normals(rs, _DIFFUSION, draws, d0, raw, n, one)
    lane_double_rows(rs, _DIFFUSION, draws, d0 + 1, n_events, n)
    lane_normal_rows(rs, _DIFFUSION, draws, d0 + 1 + n_events, 4 * n_comp, raw, n, one)


@_no_refcounts
def _run_months(P, S, sec, p_none, beta, ev, br, n_comp, n_months, hz_month, n_hor, rec_row, dt,
                chips_on, funding_on, draws, drawn, rs, raw, one, us, sup, tables, guides, table_len,
                table_lam, hist_on, binbuf, mm, rec_vals, rec_bins, base, n, path0, keep_n, kept,
                tid, s, task, counts, any_champ, n_champ, vh_stats, market_h, market_exceed,
                path_outcome, tape_i, tape_f, tape_n, tape_end, tape_mode):
    """Months 1 .. n_months of ``n`` lanes (paths ``path0 + base ..``) under one parameter set.

    ``drawn``: the diffusion draws of every month are already in ``draws``
    (month m in rows ``(m - 1) * rows ..``), drawn once for several sets;
    otherwise each month's are drawn into rows ``0 ..``.  ``tape_mode`` 1
    records the event arrivals (their month ends in ``tape_end``), 2 replays
    them (sets whose event parameters are those of the recording set).
    """
    n_events = ev.shape[0]
    rows = 1 + n_events + 4 * n_comp
    z0 = 1 + n_events
    sqdt = math.sqrt(dt)
    keeping = path0 + base < keep_n
    h_idx = 0
    for m in range(1, n_months + 1):
        # 1. Draws of the diffusion stream.
        if drawn:
            d0 = (m - 1) * rows
        else:
            d0 = 0
            _draw_month(rs, draws, d0, n_events, n_comp, raw, n, one)
        # 2. Events: arrivals by inversion of one uniform each (fixed draws);
        # most months have none (one comparison with P(0 events)).
        if tape_mode == 2:
            _replay_events(P, S, sec, tape_i, tape_f, tape_end[m - 1], tape_end[m], n_comp)
        else:
            _events_lanes(P, S, sec, ev, br, p_none, draws, d0, n, n_comp, dt, rs, one,
                          tape_i, tape_f, tape_n, tape_mode == 1)
            tape_end[m] = tape_n[0]
        # 3. Sector mood.
        for i in range(n):
            lr = P[_at(S_LONG_RUN, i)]
            sec[_at(_SS, i)] = lr + (sec[_at(_SS, i)] - lr) * sec[_at(_SS_A, i)] + sec[_at(_SS_B, i)] * draws[_at(d0, i)]
        for c in range(n_comp):
            off = N_GLOBAL + c * N_COMPANY
            r0 = c * _NST
            _diffuse_lanes(S, r0, P, off, draws, d0 + z0 + 4 * c, n, dt, sqdt)
            # 4. Chips: one supply uniform per path, live or not (common random numbers).
            if chips_on[c]:
                lane_doubles(rs, _SUPPLY, us, 0, n)
                _supply_lanes(S, r0, P, off, us, n, dt, tables, guides, table_len, table_lam, c, one, rs, sup)
            # 5. Revenue, margin, cash; funding, backstop, failure.
            need, n_need = _operate_lanes(S, r0, P, off, sec, n, dt, chips_on[c], funding_on[c])
            if n_need > 0:
                _fund_lanes(S, r0, P, off, sec, n, need, n_need, rs)
            _fail_lanes(S, r0, P, off, n, m)
        # 6. Record the month.
        row = rec_row[m]
        if hist_on and row >= 0:
            for c in range(n_comp):
                _record_lanes(S, c * _NST, sec, beta, n, base, binbuf, c, row, mm, rec_vals, rec_bins)
        if keeping:
            _keep_lanes(S, sec, beta, n, n_comp, path0 + base, keep_n, kept, m)
        if h_idx < n_hor and hz_month[h_idx] == m:
            _horizon_lanes(P, S, sec, n, n_comp, base, path0, h_idx, tid, s, task, counts,
                           any_champ, n_champ, vh_stats, market_h, market_exceed, path_outcome)
            h_idx += 1


@_no_refcounts
def _month0(S, sec, beta, n, n_comp, base, path0, keep_n, kept, hist_on, rec_row, binbuf, mm,
            rec_vals, rec_bins):
    """Record and keep month 0 of the lanes."""
    if hist_on and rec_row[0] >= 0:
        for c in range(n_comp):
            _record_lanes(S, c * _NST, sec, beta, n, base, binbuf, c, rec_row[0], mm, rec_vals, rec_bins)
    if path0 + base < keep_n:
        _keep_lanes(S, sec, beta, n, n_comp, path0 + base, keep_n, kept, 0)


@njit(cache=True, error_model="numpy")
def _simulate_task(theta_row, unc_slots, unc_values, unc_row0, ev, br, n_comp, n_months,
                   hz_month, n_hor, rec_row, dt, path0, n_paths, block_state,
                   tid, s, task, counts, any_champ, n_champ, fail_counts, hist, minmax,
                   hist_on, fv_stats, vh_stats, kept, keep_n,
                   tables, guides, table_len, table_lam, fail_month, binbuf,
                   mm, market_h, market_exceed, path_outcome):
    n_events = ev.shape[0]
    if s != 0:
        keep_n = 0  # kept paths are those of the first parameter set
    horizon_t = n_months * dt
    chips_on, funding_on = _switches(theta_row, n_comp)
    P, S, sec, p_none, beta = _lane_workspaces(theta_row, n_comp, n_events)
    draws = np.empty((1 + n_events + 4 * n_comp) * LANES)
    us = np.empty(LANES)
    sup = np.empty(5 * LANES)
    raw = np.empty(LANES, dtype=np.uint64)
    rs = np.empty(N_STREAMS_K * 4 * LANES, dtype=np.uint64)
    one = np.empty(4, dtype=np.uint64)
    rec_vals = np.empty(N_VARS * LANES)
    rec_bins = np.empty(N_VARS * LANES, dtype=np.uint16)
    tape_i = np.empty((0, 3), dtype=np.int64)
    tape_f = np.empty((0, 4))
    tape_n = np.zeros(2, dtype=np.int64)
    tape_end = np.zeros(n_months + 1, dtype=np.int64)
    for base in range(0, n_paths, LANES):
        n = min(LANES, n_paths - base)
        seed_lanes(block_state, rs, n)
        _start_group(P, S, sec, p_none, beta, ev, n_comp, n, dt, chips_on, unc_slots, unc_values, unc_row0 + base)
        _month0(S, sec, beta, n, n_comp, base, path0, keep_n, kept, hist_on, rec_row, binbuf, mm,
                rec_vals, rec_bins)
        _run_months(P, S, sec, p_none, beta, ev, br, n_comp, n_months, hz_month, n_hor, rec_row, dt,
                    chips_on, funding_on, draws, False, rs, raw, one, us, sup, tables, guides, table_len,
                    table_lam, hist_on, binbuf, mm, rec_vals, rec_bins, base, n, path0, keep_n, kept,
                    tid, s, task, counts, any_champ, n_champ, vh_stats, market_h, market_exceed,
                    path_outcome, tape_i, tape_f, tape_n, tape_end, 0)
        _finish_lanes(P, S, n, n_comp, base, path0, horizon_t, tid, s, task, fv_stats,
                      fail_counts, fail_month, keep_n)
    if hist_on:
        # One histogram slot per thread, or one shared slot when each set is
        # simulated by one task group (simulate_tasks' group_start).
        _flush_bins(binbuf, n_paths, mm, hist, minmax, tid if hist.shape[0] > 1 else 0, s)


@_no_refcounts
def _supply_tables(theta_row, n_comp, tables, guides, table_len, table_lam):
    """Inversion table of each company's card supply at its starting rate (``table_len`` 0: none).

    ``tables`` and ``guides`` may be uninitialised: ``poisson_cdf_table`` writes
    every entry inversion reads (below ``table_len``).
    """
    for c in range(n_comp):
        off = N_GLOBAL + c * N_COMPANY
        lam = theta_row[off + K_DOMESTIC] + theta_row[off + K_IMPORTS]
        if lam > 0.0:
            table_len[c] = poisson_cdf_table(lam, tables[c], guides[c])
            table_lam[c] = lam


@njit(cache=True, error_model="numpy")
def _simulate_set_group(theta, t0, n_sg, nb, task_set, task_start, task_n, rng, share_events,
                        unc_slots, unc_values, task_unc_row, ev, br, n_comp, n_months, hz_month, n_hor,
                        rec_row, dt, tid, counts, any_champ, n_champ, fail_counts, hist, minmax, hist_on,
                        fv_stats, vh_stats, kept, keep_n, fail_month, market_h, market_exceed, path_outcome,
                        bin_pool):
    """Tasks ``t0 ..`` of ``n_sg`` parameter sets x the same ``nb`` blocks (set-major), on one thread.

    The sets see the same random numbers (common random numbers), so each
    group of lanes is seeded once, its diffusion draws for every month are
    drawn once into a buffer shared by the sets, and, when the sets' event
    parameters are equal (``share_events``), the event arrivals drawn for the
    first set are replayed for the others.  Every set's results are those it
    gets when simulated alone (tests/test_sensitivity.py checks it).
    """
    n_events = ev.shape[0]
    horizon_t = n_months * dt
    rows = 1 + n_events + 4 * n_comp
    s0 = task_set[t0]
    # Slots whose value differs between the group's sets: rewritten per set.
    n_theta = theta.shape[1]
    differs = np.zeros(n_theta, dtype=np.bool_)
    for j in range(1, n_sg):
        for k in range(n_theta):
            if theta[s0 + j, k] != theta[s0, k]:
                differs[k] = True
    diff_slots = np.nonzero(differs)[0]
    P, S, sec, p_none, beta = _lane_workspaces(theta[s0], n_comp, n_events)
    chips = np.empty((n_sg, n_comp), dtype=np.bool_)
    funding = np.empty((n_sg, n_comp), dtype=np.bool_)
    # Uninitialised (_supply_tables): numba's np.zeros would write all 2 MB per group.
    tables = np.empty((n_sg, n_comp, _MAX_TABLE))
    guides = np.empty((n_sg, n_comp, _MAX_TABLE), dtype=np.int64)
    table_len = np.zeros((n_sg, n_comp), dtype=np.int64)
    table_lam = np.full((n_sg, n_comp), -1.0)
    for j in range(n_sg):
        chips[j], funding[j] = _switches(theta[s0 + j], n_comp)
        _supply_tables(theta[s0 + j], n_comp, tables[j], guides[j], table_len[j], table_lam[j])
    draws = np.empty(n_months * rows * LANES)
    us = np.empty(LANES)
    sup = np.empty(5 * LANES)
    raw = np.empty(LANES, dtype=np.uint64)
    rs0 = np.empty(N_STREAMS_K * 4 * LANES, dtype=np.uint64)
    rs = np.empty(N_STREAMS_K * 4 * LANES, dtype=np.uint64)
    one = np.empty(4, dtype=np.uint64)
    rec_vals = np.empty(N_VARS * LANES)
    rec_bins = np.empty(N_VARS * LANES, dtype=np.uint16)
    cap = (n_months * LANES * max(2, n_events)) if share_events else 0
    tape_i = np.empty((cap, 3), dtype=np.int64)
    tape_f = np.empty((cap, 4))
    tape_n = np.zeros(2, dtype=np.int64)
    tape_end = np.zeros(n_months + 1, dtype=np.int64)
    n_rec = hist.shape[4] if hist_on else 1
    slot = tid if hist.shape[0] > 1 else 0
    for b in range(nb):
        tb = t0 + b  # the block's task of the group's first set
        n_paths = task_n[tb]
        path0 = task_start[tb]
        block_state = rng[tb].copy()
        # The thread's buffer, reused from group to group: fresh pages for every
        # group cost a twentieth of a sweep in page faults.  Every entry is written
        # before it is read (each recorded month of every path).
        n_bins = n_sg * n_comp * n_rec * N_VARS * (n_paths if hist_on else 1)
        if n_bins <= bin_pool.shape[1]:
            binbuf = bin_pool[tid, :n_bins].reshape((n_sg, n_comp, n_rec, N_VARS, n_paths if hist_on else 1))
        else:
            binbuf = np.zeros((n_sg, n_comp, n_rec, N_VARS, n_paths if hist_on else 1), dtype=np.uint16)
        mm = np.empty((n_sg, n_comp, n_rec, N_VARS, 2))
        mm[..., 0] = _INF
        mm[..., 1] = -_INF
        for base in range(0, n_paths, LANES):
            n = min(LANES, n_paths - base)
            seed_lanes(block_state, rs0, n)
            for m in range(n_months):
                _draw_month(rs0, draws, m * rows, n_events, n_comp, raw, n, one)
            tape_n[0] = 0
            tape_n[1] = 0
            for j in range(n_sg):
                s = s0 + j
                t = tb + j * nb
                keep_j = keep_n if s == 0 else 0
                for k in diff_slots:
                    x = theta[s, k]
                    for i in range(LANES):
                        P[_at(k, i)] = x
                for k in range(rs.shape[0]):
                    rs[k] = rs0[k]
                _start_group(P, S, sec, p_none, beta, ev, n_comp, n, dt, chips[j], unc_slots, unc_values,
                             task_unc_row[t] + base)
                _month0(S, sec, beta, n, n_comp, base, path0, keep_j, kept, hist_on, rec_row, binbuf[j], mm[j],
                        rec_vals, rec_bins)
                if not share_events or tape_n[1] != 0:
                    mode = 0
                else:
                    mode = 1 if j == 0 else 2
                _run_months(P, S, sec, p_none, beta, ev, br, n_comp, n_months, hz_month, n_hor, rec_row, dt,
                            chips[j], funding[j], draws, True, rs, raw, one, us, sup, tables[j], guides[j],
                            table_len[j], table_lam[j], hist_on, binbuf[j], mm[j], rec_vals, rec_bins, base, n,
                            path0, keep_j, kept, tid, s, t, counts, any_champ, n_champ, vh_stats, market_h,
                            market_exceed, path_outcome, tape_i, tape_f, tape_n, tape_end, mode)
                _finish_lanes(P, S, n, n_comp, base, path0, horizon_t, tid, s, t, fv_stats,
                              fail_counts, fail_month, keep_j)
        if hist_on:
            for j in range(n_sg):
                _flush_bins(binbuf[j], n_paths, mm[j], hist, minmax, slot, s0 + j)


@_no_refcounts
def _horizon_lanes(P, S, sec, n, n_comp, base, path0, h_idx, tid, s, task, counts,
                   any_champ, n_champ, vh_stats, market_h, market_exceed, path_outcome):
    """Outcomes at a horizon, lane by lane in path order (the moments are order-dependent)."""
    for i in range(n):
        p = path0 + base + i
        ip = base + i
        n_ch = 0
        combined = 0.0
        for c in range(n_comp):
            off = N_GLOBAL + c * N_COMPANY
            r0 = c * _NST
            logv = S[_at(r0 + _LOGV, i)]
            if S[_at(r0 + _ALIVE, i)] > 0.5:
                v = math.exp(logv)
                rev = S[_at(r0 + _R, i)]
                logr = math.log(rev) if rev > 0.0 else -_INF
                rel = logv - S[_at(r0 + _LOGV0, i)]
                if rel <= sec[_at(_LOG_COLLAPSE, i)]:
                    outcome = COLLAPSE
                elif rel >= sec[_at(_LOG_CHAMP, i)] and logv - logr <= sec[_at(_LOG_PS, i)]:
                    outcome = CHAMPION
                else:
                    outcome = CONTESTED
                combined += rev
            else:
                v = S[_at(r0 + _VFAIL, i)]
                outcome = COLLAPSE
            counts[tid, s, c, h_idx, outcome] += 1
            if p < path_outcome.shape[1]:
                path_outcome[s, p, c, h_idx] = outcome
            if outcome == CHAMPION:
                n_ch += 1
            # Welford update of the valuation relative to V0, in path order.
            x = v / P[_at(off + C_VALUATION, i)]
            nn = ip + 1.0
            delta = x - vh_stats[task, c, h_idx, 0]
            vh_stats[task, c, h_idx, 0] += delta / nn
            vh_stats[task, c, h_idx, 1] += delta * (x - vh_stats[task, c, h_idx, 0])
        if market_h[h_idx] > 0.0 and combined > market_h[h_idx]:
            market_exceed[tid, s, h_idx] += 1
        if n_ch > 0:
            any_champ[tid, s, h_idx] += 1
        n_champ[tid, s, h_idx, n_ch] += 1


@_no_refcounts
def _finish_lanes(P, S, n, n_comp, base, path0, horizon_t, tid, s, task, fv_stats,
                  fail_counts, fail_month, keep_n):
    """Fundamental value (discounted cash plus exit multiple of operating profit) and month of failure."""
    for i in range(n):
        p = path0 + base + i
        ip = base + i
        for c in range(n_comp):
            off = N_GLOBAL + c * N_COMPANY
            r0 = c * _NST
            value = 0.0
            if S[_at(r0 + _ALIVE, i)] > 0.5:
                profit = S[_at(r0 + _R, i)] * S[_at(r0 + _G, i)] - S[_at(r0 + _OPEX, i)] / S[_at(r0 + _GROWO, i)]
                value = S[_at(r0 + _CASH, i)] + P[_at(off + V_EXIT_MULTIPLE, i)] * profit
                if value < 0.0:
                    value = 0.0  # limited liability
                value *= math.exp(-P[_at(off + V_DISCOUNT, i)] * horizon_t)
            x = value / P[_at(off + C_VALUATION, i)]
            nn = ip + 1.0
            delta = x - fv_stats[task, c, 0]
            fv_stats[task, c, 0] += delta / nn
            fv_stats[task, c, 1] += delta * (x - fv_stats[task, c, 0])
            if p < keep_n:
                fail_month[p, c] = S[_at(r0 + _FAILM, i)]
            # Paths by month of failure (0: never failed); the caller turns these into survival.
            fail_counts[tid, s, c, int(S[_at(r0 + _FAILM, i)])] += 1


@njit(cache=True, error_model="numpy", parallel=True)
def simulate_tasks(theta, unc_slots, unc_values, task_unc_row, ev, br, n_comp, n_months,
                   hz_month, rec_row, dt, task_set, task_start, task_n, rng, counts, any_champ, n_champ,
                   fail_counts, hist, minmax, hist_on, fv_stats, vh_stats, kept, keep_n,
                   fail_month, market_h, market_exceed, path_outcome, group_start, share_events,
                   hist_dirty):
    """Simulate every task (one block of paths under one parameter set) in parallel.

    Parameters are described in ``engine.py`` (``_run_chunk``), which allocates
    every output array; this function only fills them.  ``rng[t]`` holds the
    four stream states of task t's block, from which its paths' streams are seeded.
    Tasks run in groups, ``group_start[g]`` .. ``group_start[g + 1] - 1`` on one
    thread: one group per task, or, for many parameter sets, one group per few
    consecutive sets (all their blocks, set-major), whose histograms then need no
    per-thread copy (``hist.shape[0] == 1``: only the set's own group writes them)
    and whose sets share each lane group's diffusion draws, and their event
    arrivals where ``share_events[g]`` (``_simulate_set_group``).  With
    ``hist_dirty`` (a reused buffer, one slot) each group first zeroes its sets'
    histograms: in parallel, and just before they are used.
    """
    n_hor = hz_month.shape[0]
    # Histogram buffers of the groups of several sets, one per thread (pages touched only when used).
    pool_len = 0
    if hist_on:
        for g in range(group_start.shape[0] - 1):
            t0 = group_start[g]
            t1 = group_start[g + 1]
            n_sg = task_set[t1 - 1] - task_set[t0] + 1
            if n_sg > 1:
                for t in range(t0, t1):
                    pool_len = max(pool_len, n_sg * n_comp * hist.shape[4] * N_VARS * task_n[t])
    bin_pool = np.empty((counts.shape[0], pool_len), dtype=np.uint16)
    for g in prange(group_start.shape[0] - 1):
        t0 = group_start[g]
        t1 = group_start[g + 1]
        n_sg = task_set[t1 - 1] - task_set[t0] + 1
        if hist_on and hist_dirty:
            for s_own in range(task_set[t0], task_set[t1 - 1] + 1):
                hist[0, s_own] = 0
        if n_sg > 1:
            _simulate_set_group(theta, t0, n_sg, (t1 - t0) // n_sg, task_set, task_start, task_n, rng,
                                share_events[g], unc_slots, unc_values, task_unc_row, ev, br, n_comp,
                                n_months, hz_month, n_hor, rec_row, dt, get_thread_id(), counts, any_champ,
                                n_champ, fail_counts, hist, minmax, hist_on, fv_stats, vh_stats, kept, keep_n,
                                fail_month, market_h, market_exceed, path_outcome, bin_pool)
            continue
        # A group's tasks share one parameter set, hence one supply table per company.
        s = task_set[t0]
        theta_row = theta[s]
        tables = np.empty((n_comp, _MAX_TABLE))
        guides = np.empty((n_comp, _MAX_TABLE), dtype=np.int64)
        table_len = np.zeros(n_comp, dtype=np.int64)
        table_lam = np.full(n_comp, -1.0)
        _supply_tables(theta_row, n_comp, tables, guides, table_len, table_lam)
        for t in range(t0, t1):
            tid = get_thread_id()
            n_rec = hist.shape[4] if hist_on else 1
            binbuf = np.zeros((n_comp, n_rec if hist_on else 1, N_VARS, task_n[t] if hist_on else 1), dtype=np.uint16)
            mm = np.empty((n_comp, n_rec, N_VARS, 2))
            mm[..., 0] = _INF
            mm[..., 1] = -_INF
            block_state = rng[t].copy()
            _simulate_task(theta_row, unc_slots, unc_values, task_unc_row[t], ev, br, n_comp, n_months,
                           hz_month, n_hor, rec_row, dt, task_start[t], task_n[t], block_state,
                           tid, s, t, counts, any_champ, n_champ, fail_counts, hist, minmax, hist_on,
                           fv_stats, vh_stats, kept, keep_n, tables, guides, table_len, table_lam,
                           fail_month, binbuf, mm, market_h, market_exceed, path_outcome)


@njit(cache=True, error_model="numpy", parallel=True)
def draw_only_tasks(n_events, n_comp, n_months, task_n, rng, out):
    """The random-number bound: seed each path's streams and draw the variates one path-month consumes.

    Per path and month: one sector normal, one uniform per event type, and per
    company four normals and one supply uniform (the table-inversion case),
    drawn lane by lane exactly as the engine draws them; nothing else.
    """
    n_tasks = task_n.shape[0]
    for t in prange(n_tasks):
        block_state = rng[t].copy()
        rs = np.empty(N_STREAMS_K * 4 * LANES, dtype=np.uint64)
        buf = np.zeros(LANES)
        raw = np.empty(LANES, dtype=np.uint64)
        one = np.empty(4, dtype=np.uint64)
        acc = 0.0
        for base in range(0, task_n[t], LANES):
            n = min(LANES, task_n[t] - base)
            seed_lanes(block_state, rs, n)
            for _m in range(n_months):
                lane_normals(rs, _DIFFUSION, buf, 0, raw, n, one)
                acc += buf[0]
                for _e in range(n_events):
                    lane_doubles(rs, _DIFFUSION, buf, 0, n)
                    acc += buf[0]
                for _c in range(n_comp):
                    for _j in range(4):
                        lane_normals(rs, _DIFFUSION, buf, 0, raw, n, one)
                        acc += buf[0]
                    lane_doubles(rs, _SUPPLY, buf, 0, n)
                    acc += buf[0]
        out[t] = acc


@njit(cache=True, error_model="numpy")
def hist_quantile_rows(hist, minmax, levels, low, width, log10, out):
    """Quantiles of each row of binned counts, interpolated within a bin, in one scan per row.

    ``hist`` (rows, bins) counts on a grid of ``bins - 2`` bins of ``width`` from
    ``low`` plus two edge bins; ``minmax`` (rows, 2) the exact extremes, used in
    the edge bins; ``levels`` ascending; ``out`` (rows, levels), NaN for an
    empty row.  The bin of level q is the first whose cumulative count reaches
    ceil(q x total) (the integer counts below a real target are those below its
    ceiling); amounts on log10 grids are returned as ``10 ** x``.
    """
    rows, nb = hist.shape
    for r in range(rows):
        total = 0
        for b in range(nb):
            total += hist[r, b]
        lo = minmax[r, 0]
        hi = minmax[r, 1]
        j = 0
        cum = hist[r, 0]
        for i in range(levels.shape[0]):
            if total == 0:
                out[r, i] = np.nan
                continue
            target = levels[i] * total
            key = math.ceil(max(target, 1e-300))
            while cum < key and j < nb - 1:
                j += 1
                cum += hist[r, j]
            count = float(hist[r, j])
            before = float(cum) - count
            frac = (target - before) / count if count > 0.0 else 0.5
            frac = min(max(frac, 0.0), 1.0)
            x = low + (j - 1 + frac) * width
            value = 10.0 ** x if log10 else x
            if j == 0:
                value = lo
            elif j == nb - 1:
                value = hi
            out[r, i] = min(max(value, lo), hi)


def tasks_handed_out_one_by_one():
    """Context in which ``prange`` hands out iterations one at a time to whichever thread is free.

    numba's default splits a prange into one equal run per thread up front;
    a run of task groups that are few and long (a sweep's groups of sets) then
    leaves one thread idle while the other finishes its last group.  Results
    do not depend on which thread runs which task.
    """
    import numba

    return numba.parallel_chunksize(1)


def set_threads(n):
    """Set the number of numba threads; returns the previous number."""
    import numba

    previous = numba.get_num_threads()
    numba.set_num_threads(int(n))
    return previous


def max_threads():
    """Size of numba's thread pool (the per-thread accumulators' first axis)."""
    import numba

    return int(numba.config.NUMBA_NUM_THREADS)


def get_threads():
    """Number of numba threads in use."""
    import numba

    return int(numba.get_num_threads())
