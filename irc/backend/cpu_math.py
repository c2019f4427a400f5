"""Vectorizable math functions for the CPU backend, emitted as LLVM IR.

MCJIT has no vector math library, and a call to `expf` stops the loop vectorizer. So the f32
functions are our own branch-free polynomial code, one `alwaysinline` internal function per
(function, type): after inlining, a scalar loop calling `__irc_exp_f32` is plain arithmetic
that the loop vectorizer widens, and a `vector<16xf32>` op calls `__irc_exp_v16f32` directly.

The f32 algorithms are Cephes' (Moshier) with their coefficients: range reduction, a short
polynomial, and the exponent handled in integer bits. Special values go through `select`s:
exp(-inf) = 0, exp(x > 88.72) = inf, log(0) = -inf, log(x < 0) = nan, tanh saturates at +-1,
erf is odd and saturates at +-1, NaN in gives NaN out. Subnormal inputs and results are
handled (log rescales subnormal inputs; exp scales by 2^n in two steps so that results down to
2^-149 round correctly). Relative error stays within a few ulp (tests check < 1e-6).

f64 functions call the C library (`exp`, `log`, `tanh`, `erf`, ...), lane by lane for vectors:
correct, not vectorized. sin, cos and pow use LLVM intrinsics (libm calls after lowering).
"""

from __future__ import annotations

from collections.abc import Callable

from llvmlite import ir

F32 = ir.FloatType()
F64 = ir.DoubleType()
I32 = ir.IntType(32)

LOG2E = 1.44269504088896341
LN2 = 0.693147180559945309
# Cody-Waite split of ln 2: C1 has few bits so that n * C1 is exact for |n| < 512.
LN2_C1 = 0.693359375
LN2_C2 = -2.12194440e-4
SQRTHF = 0.707106781186547524
LOG2EA = 0.44269504088896340736  # log2(e) - 1

EXP_P = (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1)
LOG_P = (
    7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1,
    -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1,
)  # fmt: skip
TANH_P = (-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2, 1.33314422036e-1, -3.33332819422e-1)
ERF_T = (
    7.853861353153693e-5, -8.010193625184903e-4, 5.188327685732524e-3, -2.685381193529856e-2,
    1.128358514861418e-1, -3.761262582423300e-1, 1.128379165726710e0,
)  # fmt: skip
ERFC_P = (
    2.326819970068386e-2, -1.387039388740657e-1, 3.687424674597105e-1, -5.824733027278666e-1,
    6.210004621745983e-1, -4.944515323274145e-1, 3.404879937665872e-1, -2.741127028184656e-1,
    5.638259427386472e-1,
)  # fmt: skip
ERFC_R = (
    -1.047766399936249e1, 1.297719955372516e1, -7.495518717768503e0, 2.921019019210786e0,
    -1.015265279202700e0, 4.218463358204948e-1, -2.820767439740514e-1, 5.641895067754075e-1,
)  # fmt: skip

# Functions with an own f32 implementation, and the C library name of each f64 one.
POLYNOMIAL = ("exp", "exp2", "expm1", "log", "log2", "log1p", "tanh", "erf")
LIBM_F64 = {name: name for name in POLYNOMIAL}


def mangle(t: ir.Type) -> str:
    """LLVM's overload suffix of a type: f32, v8f32, i64, p0."""
    if isinstance(t, ir.FloatType):
        return "f32"
    if isinstance(t, ir.DoubleType):
        return "f64"
    if isinstance(t, ir.IntType):
        return f"i{t.width}"
    if isinstance(t, ir.VectorType):
        return f"v{t.count}{mangle(t.element)}"
    if isinstance(t, ir.PointerType):
        return "p0"
    raise TypeError(f"no intrinsic suffix for {t}")


def declare(module: ir.Module, name: str, ret: ir.Type, args: list[ir.Type]) -> ir.Function:
    """The function `name` of `module`, declared on first use."""
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    return ir.Function(module, ir.FunctionType(ret, args), name)


def intrinsic(module: ir.Module, base: str, ret: ir.Type, args: list[ir.Type], overload: list[ir.Type]) -> ir.Function:
    """`llvm.<base>.<suffixes>`: e.g. intrinsic(m, "maximum", t, [t, t], [t])."""
    name = "llvm." + base + "".join("." + mangle(t) for t in overload)
    return declare(module, name, ret, args)


class _Emit:
    """Arithmetic on a float type `t` (scalar or vector) and its same-width integer type."""

    FLAGS = ("contract",)  # lets LLVM fuse the polynomials' multiply-adds where FMA exists

    def __init__(self, module: ir.Module, b: ir.IRBuilder, t: ir.Type) -> None:
        self.m, self.b, self.t = module, b, t
        scalar = t.element if isinstance(t, ir.VectorType) else t
        width = 32 if isinstance(scalar, ir.FloatType) else 64
        self.it = ir.VectorType(ir.IntType(width), t.count) if isinstance(t, ir.VectorType) else ir.IntType(width)
        self.bt = ir.VectorType(ir.IntType(1), t.count) if isinstance(t, ir.VectorType) else ir.IntType(1)

    def c(self, v: float) -> ir.Constant:
        return _splat(self.t, v)

    def ci(self, v: int) -> ir.Constant:
        return _splat(self.it, v)

    def add(self, a, b):
        return self.b.fadd(a, b, flags=self.FLAGS)

    def sub(self, a, b):
        return self.b.fsub(a, b, flags=self.FLAGS)

    def mul(self, a, b):
        return self.b.fmul(a, b, flags=self.FLAGS)

    def div(self, a, b):
        return self.b.fdiv(a, b)

    def cmp(self, pred: str, a, b):
        return self.b.fcmp_ordered(pred, a, b) if pred[0] == "o" else self.b.fcmp_unordered(pred, a, b)

    def sel(self, c, a, b):
        return self.b.select(c, a, b)

    def call(self, base: str, *args):
        fn = intrinsic(self.m, base, self.t, [self.t] * len(args), [self.t])
        return self.b.call(fn, list(args))

    def poly(self, x, coeffs: tuple[float, ...]):
        """Horner: coeffs[0] * x^n + ... + coeffs[n]."""
        acc = self.c(coeffs[0])
        for k in coeffs[1:]:
            acc = self.add(self.mul(acc, x), self.c(k))
        return acc

    def to_int(self, x):
        return self.b.fptosi(x, self.it)

    def bits(self, x):
        return self.b.bitcast(x, self.it)

    def from_bits(self, i):
        return self.b.bitcast(i, self.t)

    def is_nan(self, x):
        return self.b.fcmp_unordered("uno", x, x)

    def copysign(self, mag, sign):
        return self.call("copysign", mag, sign)


def _splat(t: ir.Type, v: float | int) -> ir.Constant:
    if isinstance(t, ir.VectorType):
        return ir.Constant(t, [ir.Constant(t.element, v)] * t.count)
    return ir.Constant(t, v)


# ----------------------------------------------------------------------------- f32 algorithms
def _exp_scale(e: _Emit, y, n):
    """y * 2^n for integer-valued float n in [-150, 128], in two exact power-of-two steps."""
    ni = e.to_int(n)
    n1 = e.b.ashr(ni, e.ci(1))
    n2 = e.b.sub(ni, n1)
    s1 = e.from_bits(e.b.shl(e.b.add(n1, e.ci(127)), e.ci(23)))
    s2 = e.from_bits(e.b.shl(e.b.add(n2, e.ci(127)), e.ci(23)))
    return e.b.fmul(e.b.fmul(y, s1), s2)


def _exp_poly(e: _Emit, r):
    """e^r for |r| <= ln(2)/2 (Cephes expf)."""
    z = e.mul(r, r)
    return e.add(e.add(e.mul(e.poly(r, EXP_P), z), r), e.c(1.0))


def _exp(e: _Emit, x):
    # Outside [-104, 88.8] the result is 0 or inf; the clamp keeps n within [-150, 128]
    # (NaN compares unordered and is clamped too; the last select restores it).
    xc = e.sel(e.cmp("ugt", x, e.c(88.8)), e.c(88.8), x)
    xc = e.sel(e.cmp("olt", xc, e.c(-104.0)), e.c(-104.0), xc)
    n = e.call("rint", e.mul(xc, e.c(LOG2E)))
    r = e.sub(xc, e.mul(n, e.c(LN2_C1)))
    r = e.sub(r, e.mul(n, e.c(LN2_C2)))
    out = _exp_scale(e, _exp_poly(e, r), n)
    return e.sel(e.is_nan(x), x, out)


def _exp2(e: _Emit, x):
    xc = e.sel(e.cmp("ugt", x, e.c(128.5)), e.c(128.5), x)
    xc = e.sel(e.cmp("olt", xc, e.c(-150.5)), e.c(-150.5), xc)
    n = e.call("rint", xc)
    r = e.b.fmul(e.b.fsub(xc, n), e.c(LN2))  # xc - n is exact
    out = _exp_scale(e, _exp_poly(e, r), n)
    return e.sel(e.is_nan(x), x, out)


def _expm1(e: _Emit, x):
    # |x| < 0.5: the Taylor series to x^9 (the next term is below 2^-27 relative); else e^x - 1.
    coeffs = tuple(1.0 / f for f in (362880.0, 40320.0, 5040.0, 720.0, 120.0, 24.0, 6.0, 2.0, 1.0))
    small = e.mul(e.poly(x, coeffs), x)
    big = e.b.fsub(_exp(e, x), e.c(1.0))
    return e.sel(e.cmp("olt", e.call("fabs", x), e.c(0.5)), small, big)


def _log_parts(e: _Emit, x):
    """(f, y, fe) with ln(x) = f + y + fe * ln 2 for finite x > 0 (Cephes logf): x = m 2^fe,
    m in [sqrt(1/2), sqrt(2)), f = m - 1, y the polynomial part."""
    tiny = e.cmp("olt", x, e.c(1.1754943508222875e-38))  # subnormal: scale by 2^23 first
    xs = e.sel(tiny, e.b.fmul(x, e.c(8388608.0)), x)
    i = e.bits(xs)
    exponent = e.b.sub(e.b.and_(e.b.lshr(i, e.ci(23)), e.ci(255)), e.ci(126))
    exponent = e.b.sub(exponent, e.b.select(tiny, e.ci(23), e.ci(0)))
    m = e.from_bits(e.b.or_(e.b.and_(i, e.ci(0x007FFFFF)), e.ci(0x3F000000)))  # [0.5, 1)
    low = e.cmp("olt", m, e.c(SQRTHF))
    exponent = e.b.sub(exponent, e.b.select(low, e.ci(1), e.ci(0)))
    f = e.b.fsub(e.sel(low, e.b.fadd(m, m), m), e.c(1.0))
    z = e.mul(f, f)
    y = e.mul(e.mul(e.poly(f, LOG_P), f), z)
    y = e.sub(y, e.mul(e.c(0.5), z))
    return f, y, e.b.sitofp(exponent, e.t)


def _log_specials(e: _Emit, x, out):
    out = e.sel(e.cmp("oeq", x, e.c(float("inf"))), x, out)
    out = e.sel(e.cmp("olt", x, e.c(0.0)), e.c(float("nan")), out)
    out = e.sel(e.cmp("oeq", x, e.c(0.0)), e.c(float("-inf")), out)
    return e.sel(e.is_nan(x), x, out)


def _log(e: _Emit, x):
    f, y, fe = _log_parts(e, x)
    y = e.add(y, e.mul(fe, e.c(LN2_C2)))
    out = e.add(e.add(f, y), e.mul(fe, e.c(LN2_C1)))
    return _log_specials(e, x, out)


def _log2(e: _Emit, x):
    f, y, fe = _log_parts(e, x)
    # (f + y) * log2(e) with log2(e) = 1 + LOG2EA, so that powers of two come out exact.
    z = e.add(e.mul(y, e.c(LOG2EA)), e.mul(f, e.c(LOG2EA)))
    out = e.add(e.add(e.add(z, y), f), fe)
    return _log_specials(e, x, out)


def _log1p(e: _Emit, x):
    # log1p(x) = log(u) * x / (u - 1) with u = 1 + x: the rounding of u cancels (Goldberg).
    u = e.b.fadd(x, e.c(1.0))
    ratio = e.div(x, e.b.fsub(u, e.c(1.0)))
    out = e.sel(e.cmp("oeq", u, e.c(1.0)), x, e.b.fmul(_log(e, u), ratio))
    return e.sel(e.cmp("oeq", x, e.c(float("inf"))), x, out)


def _tanh(e: _Emit, x):
    a = e.call("fabs", x)
    z = e.mul(x, x)
    small = e.add(e.mul(e.mul(e.poly(z, TANH_P), z), x), x)
    # 1 - 2 / (e^2a + 1): e^2a overflows to inf for large a and the result saturates at 1.
    big = e.b.fsub(e.c(1.0), e.div(e.c(2.0), e.b.fadd(_exp(e, e.b.fadd(a, a)), e.c(1.0))))
    return e.sel(e.cmp("olt", a, e.c(0.625)), small, e.copysign(big, x))


def _erf(e: _Emit, x):
    a = e.call("fabs", x)
    small = e.mul(x, e.poly(e.mul(x, x), ERF_T))
    # erfc(a) = e^(-a^2) / a * P(1/a^2) on [1, 2), R(1/a^2) beyond; erf = 1 - erfc. Past 10
    # erf is 1 in f32; the clamp keeps e^(-a^2) finite (NaN stays NaN: ordered compare).
    ac = e.sel(e.cmp("ogt", a, e.c(10.0)), e.c(10.0), a)
    q = e.div(e.c(1.0), ac)
    w = e.mul(q, q)
    p = e.sel(e.cmp("olt", ac, e.c(2.0)), e.poly(w, ERFC_P), e.poly(w, ERFC_R))
    erfc = e.mul(e.mul(_exp(e, e.b.fneg(e.b.fmul(ac, ac))), q), p)
    big = e.copysign(e.b.fsub(e.c(1.0), erfc), x)
    return e.sel(e.cmp("olt", a, e.c(1.0)), small, big)


F32_IMPLS: dict[str, Callable] = {
    "exp": _exp,
    "exp2": _exp2,
    "expm1": _expm1,
    "log": _log,
    "log2": _log2,
    "log1p": _log1p,
    "tanh": _tanh,
    "erf": _erf,
}


class MathLibrary:
    """The math functions of one LLVM module, each defined on first use."""

    def __init__(self, module: ir.Module) -> None:
        self.module = module

    def call(self, b: ir.IRBuilder, name: str, x: ir.Value, flags: tuple[str, ...] = ()) -> ir.Value:
        """`name`(x) for a float or float-vector value x."""
        t = x.type
        scalar = t.element if isinstance(t, ir.VectorType) else t
        if isinstance(scalar, ir.FloatType):
            return b.call(self._f32(name, t), [x], fastmath=flags)
        if isinstance(scalar, ir.DoubleType):
            return self._libm(b, LIBM_F64[name], x)
        raise TypeError(f"math.{name} on {t}")

    def _f32(self, name: str, t: ir.Type) -> ir.Function:
        fname = f"__irc_{name}_{mangle(t)}"
        fn = self.module.globals.get(fname)
        if fn is not None:
            return fn
        fn = ir.Function(self.module, ir.FunctionType(t, [t]), fname)
        fn.linkage = "internal"
        fn.attributes.add("alwaysinline")
        fn.attributes.add("nounwind")
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        b.ret(F32_IMPLS[name](_Emit(self.module, b, t), fn.args[0]))
        return fn

    def _libm(self, b: ir.IRBuilder, cname: str, x: ir.Value) -> ir.Value:
        fn = declare(self.module, cname, F64, [F64])
        if not isinstance(x.type, ir.VectorType):
            return b.call(fn, [x])
        out = ir.Constant(x.type, ir.Undefined)
        for lane in range(x.type.count):
            idx = ir.Constant(I32, lane)
            out = b.insert_element(out, b.call(fn, [b.extract_element(x, idx)]), idx)
        return out
