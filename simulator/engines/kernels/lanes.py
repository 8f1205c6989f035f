"""Lanes: LANES paths advanced together, each with its own four random streams.

The engine advances LANES paths together, month by month, so that the loops
over lanes vectorise.  Every lane array is flat: rows of LANES values, one row
per quantity.  Indices are unsigned (``uint64``): a row offset (its row number
times LANES, a compile-time constant for named rows) plus the lane ``i``, so
LLVM can prove that rows do not overlap (the loops vectorise) and no
negative-index check is emitted per access.  A lane loop is ``for i in
range(n)`` with ``n`` a ``uint64``, which makes ``i`` one too.

Each path has five SFC64 streams of its own (diffusion, events, supply,
funding, market), seeded from its block's five streams: three consecutive outputs of
block stream j seed stream j of the next path, as numpy seeds SFC64 from three
words (counter 1, then twelve rounds).  ``rs`` holds, for stream j and SFC64
word w, row ``4 j + w``.  Every draw from a lane stream is numpy's algorithm
on that SFC64 state, so it equals what a ``numpy.random.Generator`` holding
that state would give (tests/test_rng.py).  A path's draws never depend on
its neighbours.
"""

import numpy as np
from numba import njit

from simulator.engines.kernels.fastmath import from_bits
from simulator.engines.kernels.rng import (
    TWO_M53,
    U1,
    U3,
    U8,
    U11,
    U24,
    U40,
    U_BYTE,
    U_MANTISSA,
    ZIG_K,
    ZIG_W,
    next_uint64,
    no_refcounts,
    normal_rest,
)

__all__ = ["DIFFUSION", "EVENTS", "FUNDING", "LANES", "MARKET", "STREAM_ROWS", "SUPPLY", "lane_double_rows", "lane_doubles",
           "lane_load", "lane_masked_double", "lane_next", "lane_normal_rows", "lane_store", "offset", "row",
           "seed_lanes"]

LANES = 64  # at most 64: the event and supply passes keep one bit per lane in a uint64
_UL = np.uint64(LANES)
_W2 = np.uint64(2 * LANES)
_W3 = np.uint64(3 * LANES)
_TWO52_BITS = np.int64(0x4330000000000000)
_TWO52 = 4503599627370496.0
_SFC64_WARMUP = 12


def row(k: int) -> np.uint64:
    """Offset of row ``k`` of a lane array (a compile-time constant when ``k`` is)."""
    return np.uint64(k * LANES)


@njit(cache=True, error_model="numpy", inline="always")
def offset(k):
    """Offset of row ``k`` (a run-time row number) of a lane array."""
    return np.uint64(k) * _UL


#: Rows of one stream's state in ``rs``: four SFC64 words.
STREAM_ROWS = 4
#: Offset of each stream's first row in ``rs`` (the order of simulator.engines.streams).
DIFFUSION = row(0 * STREAM_ROWS)
EVENTS = row(1 * STREAM_ROWS)
SUPPLY = row(2 * STREAM_ROWS)
FUNDING = row(3 * STREAM_ROWS)
MARKET = row(4 * STREAM_ROWS)  # the market and the platforms (MODEL.md step 9), drawn only with competition on


@no_refcounts
def seed_lanes(block_state, rs, n):
    """Seed the next ``n`` paths' streams from the block's states (``block_state`` (streams, 4), advanced)."""
    for i in range(n):
        for j in range(block_state.shape[0]):
            a = next_uint64(block_state[j])
            b = next_uint64(block_state[j])
            c = next_uint64(block_state[j])
            w = U1
            for _ in range(_SFC64_WARMUP):
                tmp = a + b + w
                w += U1
                a = b ^ (b >> U11)
                b = c + (c << U3)
                c = ((c << U24) | (c >> U40)) + tmp
            r = offset(STREAM_ROWS * j)
            rs[r + i] = a
            rs[r + _UL + i] = b
            rs[r + _W2 + i] = c
            rs[r + _W3 + i] = w


@njit(cache=True, error_model="numpy", inline="always")
def lane_next(rs, stream, i, on):
    """Next output of lane ``i`` of ``stream`` (its first row in ``rs``); the state moves only if ``on``."""
    ia = stream + i
    ib = stream + _UL + i
    ic = stream + _W2 + i
    iw = stream + _W3 + i
    ai = rs[ia]
    bi = rs[ib]
    ci = rs[ic]
    wi = rs[iw]
    tmp = ai + bi + wi
    rs[ia] = bi ^ (bi >> U11) if on else ai
    rs[ib] = ci + (ci << U3) if on else bi
    rs[ic] = ((ci << U24) | (ci >> U40)) + tmp if on else ci
    rs[iw] = wi + U1 if on else wi
    return tmp


@njit(cache=True, error_model="numpy", inline="always")
def _u52_to_float(v):
    """A uint64 below 2**52 as a float64, through its bits (AVX2 has no 64-bit integer conversion)."""
    return from_bits(np.int64(v) | _TWO52_BITS) - _TWO52


@njit(cache=True, error_model="numpy", inline="always")
def _to_double(r):
    """numpy's ``next_double`` of a 64-bit output: its top 53 bits over 2**53."""
    v = r >> U11
    hi = _u52_to_float(v >> U1)
    return (hi + hi + (1.0 if v & U1 else 0.0)) * TWO_M53


@njit(cache=True, error_model="numpy", inline="always")
def lane_masked_double(rs, stream, i, on):
    """Next uniform of lane ``i`` if ``on``; otherwise the lane's stream is left as it was."""
    return _to_double(lane_next(rs, stream, i, on))


@no_refcounts
def lane_doubles(rs, stream, out, at, n):
    """One uniform on [0, 1) per lane of ``stream`` into the row of ``out`` at offset ``at``."""
    for i in range(n):
        out[at + i] = _to_double(lane_next(rs, stream, i, True))


@no_refcounts
def lane_double_rows(rs, stream, out, at, n_rows, n):
    """Uniforms into ``n_rows`` rows of ``out`` from offset ``at``, a row at a time (one call for all rows)."""
    for k in range(n_rows):
        r = at + offset(k)
        for i in range(n):
            out[r + i] = _to_double(lane_next(rs, stream, i, True))


@no_refcounts
def _lane_normals_fast(rs, stream, out, at, raw, n):
    """The ziggurat's rectangle test for every lane; NaN (and the raw word) where it failed."""
    bad = 0
    for i in range(n):
        x_raw = lane_next(rs, stream, i, True)
        idx = np.intp(x_raw & U_BYTE)
        rr = x_raw >> U8
        rabs = (rr >> U1) & U_MANTISSA
        x = _u52_to_float(rabs) * ZIG_W[idx]
        x = -x if rr & U1 else x
        ok = rabs < ZIG_K[idx]
        out[at + i] = x if ok else np.nan
        raw[i] = x_raw
        bad += 0 if ok else 1
    return bad


@no_refcounts
def lane_normal_rows(rs, stream, out, at, n_rows, scratch, n):
    """Standard normals (numpy's ziggurat) into ``n_rows`` rows of ``out`` from offset ``at``.

    ``scratch`` = (raw words, one SFC64 state): the lanes that fail the
    rectangle test finish numpy's loop one by one on a copy of their state.
    """
    raw, one = scratch
    for k in range(n_rows):
        r = at + offset(k)
        if _lane_normals_fast(rs, stream, out, r, raw, n) == 0:
            continue
        for i in range(n):
            if out[r + i] != out[r + i]:
                w = raw[i]
                idx = np.intp(w & U_BYTE)
                w >>= U8
                rabs = (w >> U1) & U_MANTISSA
                x = float(rabs) * ZIG_W[idx]
                if w & U1:
                    x = -x
                lane_load(rs, stream, i, one)
                out[r + i] = normal_rest(one, idx, rabs, x)
                lane_store(rs, stream, i, one)


@njit(cache=True, error_model="numpy", inline="always")
def lane_load(rs, stream, i, one):
    """Copy lane ``i``'s state of ``stream`` into ``one`` for the scalar samplers."""
    one[0] = rs[stream + i]
    one[1] = rs[stream + _UL + i]
    one[2] = rs[stream + _W2 + i]
    one[3] = rs[stream + _W3 + i]


@njit(cache=True, error_model="numpy", inline="always")
def lane_store(rs, stream, i, one):
    """Copy ``one`` back into lane ``i``'s state of ``stream``."""
    rs[stream + i] = one[0]
    rs[stream + _UL + i] = one[1]
    rs[stream + _W2 + i] = one[2]
    rs[stream + _W3 + i] = one[3]
