"""Branch-free exp and log, and the bit casts and fused multiply-add they are built from.

glibc's exp and log are calls, which stop LLVM from vectorising a loop over
lanes; these are plain arithmetic on the IEEE bits (Cody-Waite reduction with
a degree-13 Taylor polynomial; fdlibm's log), their polynomials in fused
multiply-adds, and agree with the library to within an ulp
(tests/test_fastmath.py).
"""

import numpy as np
from llvmlite import ir
from numba import njit
from numba.core import types
from numba.extending import intrinsic

__all__ = ["INF", "bits", "fast_exp", "fast_log", "fma", "from_bits"]

INF = np.inf


@intrinsic
def bits(typingctx, x):
    """The IEEE-754 bits of a float64, as an int64."""
    if not isinstance(x, types.Float):
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def from_bits(typingctx, x):
    """The float64 whose IEEE-754 bits are the int64 ``x``."""
    if not isinstance(x, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def fma(typingctx, a, b, c):
    """``a * b + c`` with one rounding (LLVM's ``fma``: one instruction, and it vectorises).

    Only :func:`fast_exp` and :func:`fast_log` use it: their polynomials are
    chains of multiply-adds whose latency bounds the lane loops; elsewhere the
    model's arithmetic stays as written (separately rounded).
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
    ki = bits(t) - _MAGIC_BITS
    r = (xc - k * _LN2_HI) - k * _LN2_LO
    p = 1.0 / 6227020800.0
    p = fma(p, r, 1.0 / 479001600.0)
    p = fma(p, r, 1.0 / 39916800.0)
    p = fma(p, r, 1.0 / 3628800.0)
    p = fma(p, r, 1.0 / 362880.0)
    p = fma(p, r, 1.0 / 40320.0)
    p = fma(p, r, 1.0 / 5040.0)
    p = fma(p, r, 1.0 / 720.0)
    p = fma(p, r, 1.0 / 120.0)
    p = fma(p, r, 1.0 / 24.0)
    p = fma(p, r, 1.0 / 6.0)
    p = fma(p, r, 0.5)
    p = fma(p, r, 1.0)
    p = fma(p, r, 1.0)
    # 2**k in two factors, so subnormal results and k = 1024 stay exact.
    k1 = ki >> np.int64(1)
    k2 = ki - k1
    res = p * from_bits((k1 + _I1023) << _E52) * from_bits((k2 + _I1023) << _E52)
    res = res if x > -708.0 else 0.0
    return res if x == x else x


@njit(cache=True, error_model="numpy", inline="always")
def fast_log(x):
    """log(x) without calls or branches (fdlibm's algorithm); log(0) = -inf, log(<0) = nan."""
    sub = x < _TINY
    xs = x * 18014398509481984.0 if sub else x  # 2**54: subnormals become normal
    b = bits(xs)
    e_bits = (b >> _E52) - (np.int64(1077) if sub else _I1023)
    m = from_bits((b & _MANT_BITS) | _ONE_BITS)
    big = m > _SQRT2
    m = m * 0.5 if big else m
    e_bits = e_bits + np.int64(1) if big else e_bits
    dk = from_bits(e_bits + _MAGIC_BITS) - _MAGIC
    f = m - 1.0
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * fma(w, fma(w, _LG6, _LG4), _LG2)
    t2 = z * fma(w, fma(w, fma(w, _LG7, _LG5), _LG3), _LG1)
    res = dk * _LN2_HI - ((hfsq - (s * (hfsq + t2 + t1) + dk * _LN2_LO)) - f)
    res = res if x < INF else x
    res = res if x > 0.0 else (-INF if x == 0.0 else np.nan)
    return res
