"""The math dialect: transcendental and rounding functions on floats and float vectors.

`%y = math.exp %x fastmath<fast> : vector<8xf32>`. Each op folds on scalar constants through
Python's `math` (rounded to the result type). The CPU backend emits vectorizable polynomial
code for them, the OpenCL backend the OpenCL C built-ins.
"""

from __future__ import annotations

import math as _m
from collections.abc import Callable
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


def _pow(a: float, b: float) -> float:
    try:
        return _m.pow(a, b)
    except ValueError:
        return _m.nan
    except (OverflowError, ZeroDivisionError):
        return _m.inf


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
SinOp = _unary("math.sin", _m.sin, "Sine.")
CosOp = _unary("math.cos", _m.cos, "Cosine.")
AbsFOp = _unary("math.absf", abs, "Absolute value.")
FloorOp = _unary("math.floor", lambda x: float(_m.floor(x)) if _m.isfinite(x) else x, "Round down.")
CeilOp = _unary("math.ceil", lambda x: float(_m.ceil(x)) if _m.isfinite(x) else x, "Round up.")
RoundEvenOp = _unary(
    "math.roundeven", lambda x: float(round(x)) if _m.isfinite(x) else x, "Round to nearest, ties to even."
)


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
    compute = staticmethod(lambda a, b, c: a * b + c)


DIALECT = Dialect(
    "math",
    [
        ExpOp, Exp2Op, ExpM1Op, LogOp, Log2Op, Log1pOp, SqrtOp, RsqrtOp, TanhOp, ErfOp, SinOp, CosOp,
        AbsFOp, FloorOp, CeilOp, RoundEvenOp, PowFOp, FmaOp,
    ],
    attribute_parsers={"fastmath": FastMathAttr.parse},
)  # fmt: skip
