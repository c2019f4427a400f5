"""The math dialect: transcendental and rounding functions on floats and float vectors.

`%y = math.exp %x fastmath<fast> : vector<8xf32>`. Each op folds on scalar constants through
Python's `math` (rounded to the result type). The CPU backend emits vectorizable polynomial
code for them, the OpenCL backend the OpenCL C built-ins.
"""

from __future__ import annotations

import math as _m
import struct
from collections.abc import Callable
from fractions import Fraction
from typing import Any

from dialects.arith import FASTMATH_NONE, ArithOp, FastMathAttr
from irc.attributes import Attribute, FloatAttr, round_float
from irc.context import Dialect
from irc.ir import Operation, Value
from irc.location import Location
from irc.opdef import FloatLike, define_op, operand, prop, result
from irc.traits import Elementwise, Pure, SameOperandsAndResultType
from irc.types import FloatType


class _MathOp(ArithOp):
    fastmath = prop(FastMathAttr, default=FASTMATH_NONE)
    traits = (Pure(), Elementwise(), SameOperandsAndResultType())
    compute: Callable[..., float]

    @classmethod
    def build(cls, *operands: Value, location: Location | None = None) -> Operation:
        return cls(operands=list(operands), result_types=[operands[0].type], location=location)

    def fold(self, operands: list[Attribute | None]) -> list[Any] | None:
        t = self.results[0].type
        if not isinstance(t, FloatType) or not all(isinstance(a, FloatAttr) for a in operands):
            return None
        try:
            value = type(self).compute(*(a.value for a in operands))
        except (OverflowError, ValueError, ZeroDivisionError):
            return None
        return [FloatAttr(round_float(value, t), t)]


class _Unary(_MathOp):
    input = operand(FloatLike)
    out = result(FloatLike)


class _Binary(_MathOp):
    lhs = operand(FloatLike)
    rhs = operand(FloatLike)
    out = result(FloatLike)


def _unary(name: str, fn: Callable[[float], float], doc: str) -> type:
    cls = type(
        name.split(".")[1].title().replace("_", "") + "Op", (_Unary,), {"__doc__": doc, "compute": staticmethod(fn)}
    )
    return define_op(name)(cls)


def _erf(x: float) -> float:
    return _m.erf(x)


def _rsqrt(x: float) -> float:
    if x == 0:
        return _m.copysign(_m.inf, x)
    if x < 0 or _m.isnan(x):
        return _m.nan
    return 1.0 / _m.sqrt(x)


def _log(fn: Callable[[float], float]) -> Callable[[float], float]:
    def f(x: float) -> float:
        if x == 0:
            return -_m.inf
        if x < 0 or _m.isnan(x):
            return _m.nan
        return fn(x) if x != _m.inf else _m.inf

    return f


def _trig(fn: Callable[[float], float]) -> Callable[[float], float]:
    def f(x: float) -> float:
        return fn(x) if _m.isfinite(x) else _m.nan  # sin(inf) is NaN; Python raises instead

    return f


def _rounding(fn: Callable[[float], int]) -> Callable[[float], float]:
    """floor, ceil, roundeven: the result keeps the input's sign (ceil(-0.5) is -0.0)."""

    def f(x: float) -> float:
        return _m.copysign(float(fn(x)), x) if _m.isfinite(x) else x

    return f


def _sqrt(x: float) -> float:
    if _m.isnan(x) or x < 0:
        return _m.nan
    return _m.sqrt(x)


def _log1p(x: float) -> float:
    if x == -1:
        return -_m.inf
    if x < -1 or _m.isnan(x):
        return _m.nan
    return _m.log1p(x) if x != _m.inf else _m.inf


def _exp(fn: Callable[[float], float]) -> Callable[[float], float]:
    def f(x: float) -> float:
        try:
            return fn(x)
        except OverflowError:
            return _m.inf

    return f


def _is_odd_integer(y: float) -> bool:
    return _m.isfinite(y) and y == int(y) and int(y) % 2 == 1


def _pow(a: float, b: float) -> float:
    """IEEE `pow`: Python raises on the poles and overflows, where C returns signed infinities."""
    try:
        return _m.pow(a, b)
    except ValueError:
        if a == 0:  # pow(+-0, y < 0): +inf, or -inf for -0 and an odd integer y
            return _m.copysign(_m.inf, a) if _is_odd_integer(b) else _m.inf
        return _m.nan  # a negative base and a non-integer exponent
    except OverflowError:
        return -_m.inf if a < 0 and _is_odd_integer(b) else _m.inf


def _fma_exact(a: float, b: float, c: float) -> Fraction | None:
    """The exact `a * b + c` when it is finite and not zero (else None: no rounding to do)."""
    if not all(_m.isfinite(x) for x in (a, b, c)):
        return None
    exact = Fraction(a) * Fraction(b) + Fraction(c)
    return exact if exact != 0 else None


def _fma(a: float, b: float, c: float) -> float:
    """`a * b + c` rounded once (to f64), as C's `fma`; Python's `a * b + c` rounds twice."""
    exact = _fma_exact(a, b, c)
    if exact is not None:
        return _to_double(exact)
    if _m.isfinite(a) and _m.isfinite(b) and not _m.isfinite(c):
        return c  # a finite product cannot overflow into the infinity
    if a == 0 or b == 0 or not (_m.isfinite(a) and _m.isfinite(b)):
        return a * b + c  # the product is exact (a signed zero, an infinity or NaN)
    return 0.0  # an exact cancellation rounds to +0


def _to_double(q: Fraction) -> float:
    try:
        return float(q)
    except OverflowError:
        return _m.copysign(_m.inf, q)


def _round_exact(q: Fraction, t: FloatType) -> float:
    """`q` rounded once to `t`: to f64 directly; to a narrower type through an f64 rounded to
    odd (an inexact result gets an odd last bit), which then rounds to `t` as `q` would."""
    d = _to_double(q)
    if t.width >= 64 or not _m.isfinite(d) or Fraction(d) == q:
        return round_float(d, t)
    if struct.unpack("<Q", struct.pack("<d", d))[0] & 1 == 0:
        d = _m.nextafter(d, _m.inf if q > Fraction(d) else -_m.inf)
    return round_float(d, t)


ExpOp = _unary("math.exp", _exp(_m.exp), "e to the x.")
Exp2Op = _unary("math.exp2", _exp(lambda x: 2.0**x), "2 to the x.")
ExpM1Op = _unary("math.expm1", _exp(_m.expm1), "e to the x, minus 1 (exact near 0).")
LogOp = _unary("math.log", _log(_m.log), "Natural logarithm.")
Log2Op = _unary("math.log2", _log(_m.log2), "Base-2 logarithm.")
Log1pOp = _unary("math.log1p", _log1p, "log(1 + x) (exact near 0).")
SqrtOp = _unary("math.sqrt", _sqrt, "Square root.")
RsqrtOp = _unary("math.rsqrt", _rsqrt, "1 / sqrt(x).")
TanhOp = _unary("math.tanh", _m.tanh, "Hyperbolic tangent.")
ErfOp = _unary("math.erf", _erf, "The error function.")
SinOp = _unary("math.sin", _trig(_m.sin), "Sine.")
CosOp = _unary("math.cos", _trig(_m.cos), "Cosine.")
AbsFOp = _unary("math.absf", abs, "Absolute value.")
FloorOp = _unary("math.floor", _rounding(_m.floor), "Round down.")
CeilOp = _unary("math.ceil", _rounding(_m.ceil), "Round up.")
RoundEvenOp = _unary("math.roundeven", _rounding(round), "Round to nearest, ties to even.")


@define_op("math.powf")
class PowFOp(_Binary):
    """x to the y."""

    compute = staticmethod(_pow)


@define_op("math.fma")
class FmaOp(_MathOp):
    """a * b + c with one rounding."""

    a = operand(FloatLike)
    b = operand(FloatLike)
    c = operand(FloatLike)
    out = result(FloatLike)
    compute = staticmethod(_fma)

    def fold(self, operands: list[Attribute | None]) -> list[Any] | None:
        t = self.results[0].type
        if not isinstance(t, FloatType) or not all(isinstance(a, FloatAttr) for a in operands):
            return None
        values = [a.value for a in operands]
        exact = _fma_exact(*values)
        value = _round_exact(exact, t) if exact is not None else round_float(_fma(*values), t)
        return [FloatAttr(value, t)]


DIALECT = Dialect(
    "math",
    [
        ExpOp, Exp2Op, ExpM1Op, LogOp, Log2Op, Log1pOp, SqrtOp, RsqrtOp, TanhOp, ErfOp, SinOp, CosOp,
        AbsFOp, FloorOp, CeilOp, RoundEvenOp, PowFOp, FmaOp,
    ],
    attribute_parsers={"fastmath": FastMathAttr.parse},
)  # fmt: skip
