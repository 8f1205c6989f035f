"""Branch-free exp and log, and the bit casts and fused multiply-add they are built from.

glibc's exp and log are calls, which stop LLVM from vectorising a loop over
lanes; these are plain arithmetic on the IEEE bits (Cody-Waite reduction with
a degree-13 Taylor polynomial; fdlibm's log), their polynomials in fused
multiply-adds, and agree with the library to within an ulp
(tests/test_fastmath.py).
"""

import numpy as np
from llvmlite import ir
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
# 1 / k!, the Taylor coefficients of exp (module constants: no division per call site).
_INV_FACT13 = 1.0 / 6227020800.0
_INV_FACT12 = 1.0 / 479001600.0
_INV_FACT11 = 1.0 / 39916800.0
_INV_FACT10 = 1.0 / 3628800.0
_INV_FACT9 = 1.0 / 362880.0
_INV_FACT8 = 1.0 / 40320.0
_INV_FACT7 = 1.0 / 5040.0
_INV_FACT6 = 1.0 / 720.0
_INV_FACT5 = 1.0 / 120.0
_INV_FACT4 = 1.0 / 24.0
_INV_FACT3 = 1.0 / 6.0


# exp and log are emitted as LLVM IR at each call site (``intrinsic``): numba would
# otherwise copy and type their forty statements at every use, which was a tenth of
# the kernels' compile time.  Each line below is one line of the algorithm as it
# reads in Python (the comment), with IEEE operations in that order and no
# fast-math flags, so the results are those of the Python-level version.

_F64 = ir.DoubleType()
_I64 = ir.IntType(64)


def _f(value):
    return ir.Constant(_F64, value)


def _i(value):
    return ir.Constant(_I64, int(value))


def _fma_of(builder):
    fn = builder.module.declare_intrinsic("llvm.fma", [_F64], ir.FunctionType(_F64, [_F64, _F64, _F64]))
    return lambda a, b, c: builder.call(fn, [a, b, c])


def _select(builder, op, a, b, then, otherwise):
    return builder.select(builder.fcmp_ordered(op, a, b), then, otherwise)


def emit_exp(builder, x):
    """IR of exp(x) without calls or branches (see :func:`fast_exp`)."""
    b = builder
    fma_ = _fma_of(b)
    xc = _select(b, ">", x, _f(-708.0), x, _f(-708.0))          # xc = x if x > -708 else -708 (NaN too)
    xc = _select(b, "<", xc, _f(710.0), xc, _f(710.0))          # xc = xc if xc < 710 else 710
    t = b.fadd(b.fmul(xc, _f(_LOG2E)), _f(_MAGIC))              # t = xc * log2(e) + magic
    k = b.fsub(t, _f(_MAGIC))                                   # k = t - magic
    ki = b.sub(b.bitcast(t, _I64), _i(_MAGIC_BITS))             # ki = bits(t) - magic bits
    r = b.fsub(b.fsub(xc, b.fmul(k, _f(_LN2_HI))), b.fmul(k, _f(_LN2_LO)))  # r = (xc - k ln2_hi) - k ln2_lo
    p = _f(_INV_FACT13)
    for c in (_INV_FACT12, _INV_FACT11, _INV_FACT10, _INV_FACT9, _INV_FACT8, _INV_FACT7, _INV_FACT6, _INV_FACT5,
              _INV_FACT4, _INV_FACT3, 0.5, 1.0, 1.0):
        p = fma_(p, r, _f(c))                                   # p = p r + 1/k!, Horner
    # 2**k in two factors, so subnormal results and k = 1024 stay exact.
    k1 = b.ashr(ki, _i(1))
    k2 = b.sub(ki, k1)
    two_k1 = b.bitcast(b.shl(b.add(k1, _i(1023)), _i(52)), _F64)
    two_k2 = b.bitcast(b.shl(b.add(k2, _i(1023)), _i(52)), _F64)
    res = b.fmul(b.fmul(p, two_k1), two_k2)                     # res = p 2**k1 2**k2
    res = _select(b, ">", x, _f(-708.0), res, _f(0.0))          # exp(x < -708) is taken as 0
    return _select(b, "==", x, x, res, x)                       # NaN stays NaN


def emit_log(builder, x):
    """IR of log(x) without calls or branches (see :func:`fast_log`)."""
    b = builder
    fma_ = _fma_of(b)
    sub = b.fcmp_ordered("<", x, _f(_TINY))                     # subnormal (or <= 0)
    xs = b.select(sub, b.fmul(x, _f(18014398509481984.0)), x)   # 2**54: subnormals become normal
    xb = b.bitcast(xs, _I64)
    e_bits = b.sub(b.ashr(xb, _i(52)), b.select(sub, _i(1077), _i(1023)))
    m = b.bitcast(b.or_(b.and_(xb, _i(_MANT_BITS)), _i(_ONE_BITS)), _F64)
    big = b.fcmp_ordered(">", m, _f(_SQRT2))
    m = b.select(big, b.fmul(m, _f(0.5)), m)
    e_bits = b.select(big, b.add(e_bits, _i(1)), e_bits)
    dk = b.fsub(b.bitcast(b.add(e_bits, _i(_MAGIC_BITS)), _F64), _f(_MAGIC))
    f = b.fsub(m, _f(1.0))
    hfsq = b.fmul(b.fmul(_f(0.5), f), f)                        # hfsq = 0.5 f f
    s = b.fdiv(f, b.fadd(_f(2.0), f))                           # s = f / (2 + f)
    z = b.fmul(s, s)
    w = b.fmul(z, z)
    t1 = b.fmul(w, fma_(w, fma_(w, _f(_LG6), _f(_LG4)), _f(_LG2)))
    t2 = b.fmul(z, fma_(w, fma_(w, fma_(w, _f(_LG7), _f(_LG5)), _f(_LG3)), _f(_LG1)))
    # res = dk ln2_hi - ((hfsq - (s (hfsq + t2 + t1) + dk ln2_lo)) - f)
    inner = b.fadd(b.fmul(s, b.fadd(b.fadd(hfsq, t2), t1)), b.fmul(dk, _f(_LN2_LO)))
    res = b.fsub(b.fmul(dk, _f(_LN2_HI)), b.fsub(b.fsub(hfsq, inner), f))
    res = _select(b, "<", x, _f(INF), res, x)                   # log(inf) = inf, log(nan) = nan
    zero_or_neg = _select(b, "==", x, _f(0.0), _f(-INF), _f(np.nan))
    return _select(b, ">", x, _f(0.0), res, zero_or_neg)        # log(0) = -inf, log(< 0) = nan


@intrinsic
def fast_exp(typingctx, x):
    """exp(x) without calls or branches (so a loop over lanes vectorises).

    Cody-Waite reduction and a degree-13 Taylor polynomial in fused
    multiply-adds.  Results below exp(-708) (subnormal numbers, about 3e-308)
    are returned as 0: arithmetic on subnormals takes a slow microcode path,
    four times slower for the whole loop.
    """
    if not isinstance(x, types.Float):
        return None

    def codegen(context, builder, signature, args):
        return emit_exp(builder, args[0])

    return types.float64(types.float64), codegen


@intrinsic
def fast_log(typingctx, x):
    """log(x) without calls or branches (fdlibm's algorithm); log(0) = -inf, log(<0) = nan."""
    if not isinstance(x, types.Float):
        return None

    def codegen(context, builder, signature, args):
        return emit_log(builder, args[0])

    return types.float64(types.float64), codegen
