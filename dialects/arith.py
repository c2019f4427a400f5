"""The arith dialect: constants and integer/float/index arithmetic, with folders.

Semantics follow MLIR's `arith`: signless integers wrap in two's complement, `*si`/`*ui`
ops pick the signed or unsigned reading, float ops round to the result type.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import attrs as _attrs

from irc.attributes import (
    Attribute,
    DenseElementsAttr,
    DenseResourceAttr,
    FloatAttr,
    IntegerAttr,
    round_float,
    wrap_int,
)
from irc.context import Dialect
from irc.ir import Operation, Value
from irc.location import Location
from irc.opdef import (
    AnyType,
    BoolLike,
    Constraint,
    FloatLike,
    IntegerLike,
    define_op,
    operand,
    prop,
    result,
)
from irc.traits import Commutative, ConstantLike, Pure, SameOperandsAndResultType
from irc.types import FloatType, IndexType, IntegerType, ShapedType, Type, i1

# ----------------------------------------------------------------------------- attributes
_FASTMATH_FLAGS = ("reassoc", "nnan", "ninf", "nsz", "arcp", "contract", "afn")


@_attrs.frozen(cache_hash=True)
class FastMathAttr(Attribute):
    """`#arith.fastmath<nnan,ninf>`; `fast` is all flags, `none` is the empty set."""

    flags: frozenset[str] = _attrs.field(converter=frozenset)

    @classmethod
    def parse(cls, body: str | None) -> FastMathAttr:
        words = [w.strip() for w in (body or "").split(",") if w.strip()]
        flags: set[str] = set()
        for w in words:
            if w == "fast":
                flags.update(_FASTMATH_FLAGS)
            elif w == "none":
                continue
            elif w in _FASTMATH_FLAGS:
                flags.add(w)
            else:
                raise ValueError(f"unknown fastmath flag '{w}'")
        return cls(flags)

    def __str__(self) -> str:
        if not self.flags:
            body = "none"
        elif set(_FASTMATH_FLAGS) <= self.flags:
            body = "fast"
        else:
            body = ",".join(f for f in _FASTMATH_FLAGS if f in self.flags)
        return f"#arith.fastmath<{body}>"


_OVERFLOW_FLAGS = ("nsw", "nuw")


@_attrs.frozen(cache_hash=True)
class OverflowAttr(Attribute):
    """`#arith.overflow<nsw, nuw>` on integer add/sub/mul/shl."""

    flags: frozenset[str] = _attrs.field(converter=frozenset)

    @classmethod
    def parse(cls, body: str | None) -> OverflowAttr:
        words = [w.strip() for w in (body or "").split(",") if w.strip()]
        flags = set()
        for w in words:
            if w == "none":
                continue
            if w not in _OVERFLOW_FLAGS:
                raise ValueError(f"unknown overflow flag '{w}'")
            flags.add(w)
        return cls(flags)

    def __str__(self) -> str:
        body = ", ".join(f for f in _OVERFLOW_FLAGS if f in self.flags) or "none"
        return f"#arith.overflow<{body}>"


FASTMATH_NONE = FastMathAttr(frozenset())
OVERFLOW_NONE = OverflowAttr(frozenset())


# ----------------------------------------------------------------------------- helpers
def _scalar(t: Type) -> Type:
    return t.element_type if isinstance(t, ShapedType) else t


def constant_value(value: Value) -> Attribute | None:
    """The constant attribute behind `value`, if it is produced by a ConstantLike op."""
    op = value.defining_op()
    if op is None or not op.has_trait(ConstantLike):
        return None
    return op.constant_value()


def materialize_constant(attr: Attribute, type: Type, location: Location) -> Operation | None:
    if isinstance(attr, IntegerAttr | FloatAttr | DenseElementsAttr) and _attr_type(attr) == type:
        return ConstantOp.build(attr, location=location)
    return None


def _attr_type(attr: Attribute) -> Type:
    return attr.type


class ArithOp(Operation):
    """Common base: folded results become `arith.constant`s; the pretty form is the default
    format with the op's flags (if any) as MLIR's `fastmath<...>` / `overflow<...>` keyword."""

    materialize_constant = staticmethod(materialize_constant)

    @classmethod
    def parse_custom(cls, p) -> Operation:
        return p.parse_default(_flag(cls))

    def print_custom(self, p) -> None:
        flag = _flag(type(self))
        p.print_default(self, None if flag is None else (flag[0], flag[2]))


def _int_unsigned(v: int, t: Type) -> int:
    width = 64 if isinstance(t, IndexType) else t.width
    return v & ((1 << width) - 1)


def _wrap(v: int, t: Type) -> int:
    if isinstance(t, IndexType):
        return wrap_int(v, IntegerType(64))
    return wrap_int(v, t)


# ----------------------------------------------------------------------------- constant
TypedValue = (IntegerAttr, FloatAttr, DenseElementsAttr, DenseResourceAttr)


@define_op("arith.constant")
class ConstantOp(ArithOp):
    """`%c = arith.constant 1.0 : f32`, `arith.constant dense<...> : tensor<4xf32>`."""

    value = prop(TypedValue)
    out = result()
    traits = (Pure(), ConstantLike())

    @classmethod
    def build(
        cls, value: Attribute | float | bool, type: Type | None = None, location: Location | None = None
    ) -> ConstantOp:
        """From an attribute, or from a Python number (or numpy array) and its type."""
        if not isinstance(value, Attribute):
            value = _constant_attr(value, type)
        elif type is not None and value.type != type:
            raise ValueError(f"constant of type '{value.type}' given the type '{type}'")
        return cls(result_types=[value.type], properties={"value": value}, location=location)

    def constant_value(self) -> Attribute:
        return self.value

    def fold(self, operands: list[Attribute | None]) -> list[Attribute] | None:
        return [self.value]

    def verify_(self) -> None:
        if self.value.type != self.results[0].type:
            raise self.emit_error(f"value type '{self.value.type}' does not match result type '{self.results[0].type}'")

    @classmethod
    def parse_custom(cls, p) -> ConstantOp:
        props, attrs = p.attr_dict()
        lit = p.literal()
        props2, attrs2 = p.attr_dict()
        p.expect_end()
        props.update(props2)
        attrs.update(attrs2)
        types = p.type_list() if p.types is not None else []
        if len(types) > 1:
            raise p.error("expected one type")
        value = p.literal_attr(lit, types[0] if types else None)
        if not isinstance(value, TypedValue):
            raise p.error("expected an integer, float or dense literal", lit)
        props["value"] = value
        return p.build(result_types=[value.type], properties=props, attributes=attrs)

    def print_custom(self, p) -> None:
        p.write("arith.constant")
        p.write(p.op_attr_dict(self, elide=("value",)))
        value = self.value
        if isinstance(value, IntegerAttr) and value.type == i1:
            p.write(" " + p.attr(value))
        elif isinstance(value, IntegerAttr | FloatAttr):
            text = p.attr(value)
            if " : " not in text:
                text += f" : {value.type}"
            p.write(" " + text)
        else:
            p.write(" " + p.attr(value))


def _constant_attr(value: Any, type: Type | None) -> Attribute:
    if type is None:
        raise ValueError("a constant from a Python value needs a type")
    if isinstance(type, ShapedType):
        return DenseElementsAttr.from_numpy(type, value)
    if isinstance(type, FloatType):
        return FloatAttr(float(value), type)
    if isinstance(type, IntegerType | IndexType):
        return IntegerAttr(int(value), type)
    raise ValueError(f"cannot make a constant of type '{type}'")


# ----------------------------------------------------------------------------- binary ops
def _flag(cls: type[Operation]) -> tuple[str, Any, str] | None:
    """The `keyword<...>` form of the op's flags property (MLIR's `fastmath<fast>`, `overflow<nsw>`)."""
    props = cls.definition.props
    if "fastmath" in props:
        return ("fastmath", FastMathAttr.parse, "fastmath")
    if "overflowFlags" in props:
        return ("overflow", OverflowAttr.parse, "overflowFlags")
    return None


class _Binary(ArithOp):
    """`arith.addf %a, %b [fastmath<...>] {attrs} : T` (the flags may also be in the dictionary)."""

    lhs = operand(AnyType)
    rhs = operand(AnyType)
    out = result(AnyType)

    @classmethod
    def build(cls, lhs: Value, rhs: Value, location: Location | None = None) -> Operation:
        return cls(operands=[lhs, rhs], result_types=[lhs.type], location=location)


class _IntBinary(_Binary):
    lhs = operand(IntegerLike)
    rhs = operand(IntegerLike)
    out = result(IntegerLike)
    traits = (Pure(), SameOperandsAndResultType())
    # (a, b, type) -> int or None (None: do not fold, e.g. division by zero)
    compute: Callable[[int, int, Type], int | None]

    def fold(self, operands: list[Attribute | None]) -> list[Any] | None:
        a, b = operands
        t = self.results[0].type
        if isinstance(a, IntegerAttr) and isinstance(b, IntegerAttr):
            value = type(self).compute(a.value, b.value, _scalar(t))
            if value is None:
                return None
            return [IntegerAttr(_wrap(value, t), t)] if isinstance(t, IntegerType | IndexType) else None
        return self.fold_identity(a, b)

    def fold_identity(self, a: Attribute | None, b: Attribute | None) -> list[Any] | None:
        return None


def _is_int(attr: Attribute | None, value: int) -> bool:
    return isinstance(attr, IntegerAttr) and attr.value == value


class _Overflow:
    overflowFlags = prop(OverflowAttr, default=OVERFLOW_NONE)


@define_op("arith.addi")
class AddIOp(_IntBinary, _Overflow):
    traits = (Pure(), Commutative(), SameOperandsAndResultType())
    compute = staticmethod(lambda a, b, t: a + b)

    def fold_identity(self, a, b):
        return [self.lhs] if _is_int(b, 0) else None  # x + 0 -> x


@define_op("arith.subi")
class SubIOp(_IntBinary, _Overflow):
    compute = staticmethod(lambda a, b, t: a - b)

    def fold_identity(self, a, b):
        if self.lhs is self.rhs:  # x - x -> 0
            t = self.results[0].type
            return [IntegerAttr(0, t)] if isinstance(t, IntegerType | IndexType) else None
        return [self.lhs] if _is_int(b, 0) else None  # x - 0 -> x


@define_op("arith.muli")
class MulIOp(_IntBinary, _Overflow):
    traits = (Pure(), Commutative(), SameOperandsAndResultType())
    compute = staticmethod(lambda a, b, t: a * b)

    def fold_identity(self, a, b):
        if _is_int(b, 1):  # x * 1 -> x
            return [self.lhs]
        if _is_int(b, 0):  # x * 0 -> 0
            return [b]
        return None


def _div_trunc(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _is_signed_overflow(a: int, b: int, t: Type) -> bool:
    width = 64 if isinstance(t, IndexType) else t.width
    return b == -1 and a == -(1 << (width - 1))


@define_op("arith.divsi")
class DivSIOp(_IntBinary):
    compute = staticmethod(lambda a, b, t: None if b == 0 or _is_signed_overflow(a, b, t) else _div_trunc(a, b))

    def fold_identity(self, a, b):
        return [self.lhs] if _is_int(b, 1) else None  # x / 1 -> x


@define_op("arith.divui")
class DivUIOp(_IntBinary):
    compute = staticmethod(lambda a, b, t: None if b == 0 else _int_unsigned(a, t) // _int_unsigned(b, t))

    def fold_identity(self, a, b):
        return [self.lhs] if _is_int(b, 1) else None


@define_op("arith.ceildivsi")
class CeilDivSIOp(_IntBinary):
    compute = staticmethod(lambda a, b, t: None if b == 0 or _is_signed_overflow(a, b, t) else -((-a) // b))


@define_op("arith.floordivsi")
class FloorDivSIOp(_IntBinary):
    compute = staticmethod(lambda a, b, t: None if b == 0 or _is_signed_overflow(a, b, t) else a // b)


@define_op("arith.remsi")
class RemSIOp(_IntBinary):
    compute = staticmethod(lambda a, b, t: None if b == 0 else a - b * _div_trunc(a, b))


@define_op("arith.remui")
class RemUIOp(_IntBinary):
    compute = staticmethod(lambda a, b, t: None if b == 0 else _int_unsigned(a, t) % _int_unsigned(b, t))


@define_op("arith.andi")
class AndIOp(_IntBinary):
    traits = (Pure(), Commutative(), SameOperandsAndResultType())
    compute = staticmethod(lambda a, b, t: a & b)

    def fold_identity(self, a, b):
        if self.lhs is self.rhs:  # x & x -> x
            return [self.lhs]
        if _is_int(b, 0):  # x & 0 -> 0
            return [b]
        if _is_int(b, -1) or (_is_int(b, 1) and _scalar(self.results[0].type) == i1):  # x & ~0 -> x
            return [self.lhs]
        return None


@define_op("arith.ori")
class OrIOp(_IntBinary):
    traits = (Pure(), Commutative(), SameOperandsAndResultType())
    compute = staticmethod(lambda a, b, t: a | b)

    def fold_identity(self, a, b):
        if self.lhs is self.rhs or _is_int(b, 0):  # x | x -> x, x | 0 -> x
            return [self.lhs]
        return None


@define_op("arith.xori")
class XOrIOp(_IntBinary):
    traits = (Pure(), Commutative(), SameOperandsAndResultType())
    compute = staticmethod(lambda a, b, t: a ^ b)

    def fold_identity(self, a, b):
        if _is_int(b, 0):  # x ^ 0 -> x
            return [self.lhs]
        if self.lhs is self.rhs:  # x ^ x -> 0
            t = self.results[0].type
            return [IntegerAttr(0, t)] if isinstance(t, IntegerType | IndexType) else None
        return None


def _width(t: Type) -> int:
    return 64 if isinstance(t, IndexType) else t.width


@define_op("arith.shli")
class ShLIOp(_IntBinary, _Overflow):
    compute = staticmethod(
        lambda a, b, t: None if not 0 <= _int_unsigned(b, t) < _width(t) else a << _int_unsigned(b, t)
    )


@define_op("arith.shrsi")
class ShRSIOp(_IntBinary):
    compute = staticmethod(
        lambda a, b, t: None if not 0 <= _int_unsigned(b, t) < _width(t) else a >> _int_unsigned(b, t)
    )


@define_op("arith.shrui")
class ShRUIOp(_IntBinary):
    compute = staticmethod(
        lambda a, b, t: None if not 0 <= _int_unsigned(b, t) < _width(t) else _int_unsigned(a, t) >> _int_unsigned(b, t)
    )


@define_op("arith.maxsi")
class MaxSIOp(_IntBinary):
    traits = (Pure(), Commutative(), SameOperandsAndResultType())
    compute = staticmethod(lambda a, b, t: max(a, b))


@define_op("arith.minsi")
class MinSIOp(_IntBinary):
    traits = (Pure(), Commutative(), SameOperandsAndResultType())
    compute = staticmethod(lambda a, b, t: min(a, b))


@define_op("arith.maxui")
class MaxUIOp(_IntBinary):
    traits = (Pure(), Commutative(), SameOperandsAndResultType())
    compute = staticmethod(lambda a, b, t: max(_int_unsigned(a, t), _int_unsigned(b, t)))


@define_op("arith.minui")
class MinUIOp(_IntBinary):
    traits = (Pure(), Commutative(), SameOperandsAndResultType())
    compute = staticmethod(lambda a, b, t: min(_int_unsigned(a, t), _int_unsigned(b, t)))


# -- floats
class _FloatBinary(_Binary):
    lhs = operand(FloatLike)
    rhs = operand(FloatLike)
    out = result(FloatLike)
    fastmath = prop(FastMathAttr, default=FASTMATH_NONE)
    traits = (Pure(), SameOperandsAndResultType())
    compute: Callable[[float, float], float | None]

    def fold(self, operands: list[Attribute | None]) -> list[Any] | None:
        a, b = operands
        t = self.results[0].type
        if isinstance(a, FloatAttr) and isinstance(b, FloatAttr) and isinstance(t, FloatType):
            try:
                value = type(self).compute(a.value, b.value)
            except (OverflowError, ZeroDivisionError, ValueError):
                return None
            if value is None:
                return None
            return [FloatAttr(round_float(value, t), t)]
        return self.fold_identity(a, b)

    def fold_identity(self, a, b) -> list[Any] | None:
        return None


def _is_float(attr: Attribute | None, value: float) -> bool:
    return (
        isinstance(attr, FloatAttr) and attr.value == value and math.copysign(1, attr.value) == math.copysign(1, value)
    )


def _fdiv(a: float, b: float) -> float:
    if b == 0:
        if math.isnan(a) or a == 0:
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1, b)
    return a / b


def _fmax(a: float, b: float) -> float:  # IEEE maximum: NaN propagates, +0 > -0
    if math.isnan(a) or math.isnan(b):
        return math.nan
    if a == b == 0:
        return a if math.copysign(1, a) > 0 else b
    return max(a, b)


def _fmin(a: float, b: float) -> float:
    if math.isnan(a) or math.isnan(b):
        return math.nan
    if a == b == 0:
        return a if math.copysign(1, a) < 0 else b
    return min(a, b)


def _fmaxnum(a: float, b: float) -> float:  # maxNum: a NaN operand yields the other
    if math.isnan(a):
        return b
    if math.isnan(b):
        return a
    return _fmax(a, b)


def _fminnum(a: float, b: float) -> float:
    if math.isnan(a):
        return b
    if math.isnan(b):
        return a
    return _fmin(a, b)


@define_op("arith.addf")
class AddFOp(_FloatBinary):
    traits = (Pure(), Commutative(), SameOperandsAndResultType())
    compute = staticmethod(lambda a, b: a + b)

    def fold_identity(self, a, b):
        return [self.lhs] if _is_float(b, -0.0) else None  # x + -0.0 -> x


@define_op("arith.subf")
class SubFOp(_FloatBinary):
    compute = staticmethod(lambda a, b: a - b)

    def fold_identity(self, a, b):
        return [self.lhs] if _is_float(b, 0.0) else None  # x - 0.0 -> x


@define_op("arith.mulf")
class MulFOp(_FloatBinary):
    traits = (Pure(), Commutative(), SameOperandsAndResultType())
    compute = staticmethod(lambda a, b: a * b)

    def fold_identity(self, a, b):
        return [self.lhs] if _is_float(b, 1.0) else None  # x * 1.0 -> x


@define_op("arith.divf")
class DivFOp(_FloatBinary):
    compute = staticmethod(_fdiv)

    def fold_identity(self, a, b):
        return [self.lhs] if _is_float(b, 1.0) else None  # x / 1.0 -> x


@define_op("arith.remf")
class RemFOp(_FloatBinary):
    compute = staticmethod(lambda a, b: math.fmod(a, b) if b != 0 else math.nan)


@define_op("arith.maximumf")
class MaximumFOp(_FloatBinary):
    traits = (Pure(), Commutative(), SameOperandsAndResultType())
    compute = staticmethod(_fmax)


@define_op("arith.minimumf")
class MinimumFOp(_FloatBinary):
    traits = (Pure(), Commutative(), SameOperandsAndResultType())
    compute = staticmethod(_fmin)


@define_op("arith.maxnumf")
class MaxNumFOp(_FloatBinary):
    traits = (Pure(), Commutative(), SameOperandsAndResultType())
    compute = staticmethod(_fmaxnum)


@define_op("arith.minnumf")
class MinNumFOp(_FloatBinary):
    traits = (Pure(), Commutative(), SameOperandsAndResultType())
    compute = staticmethod(_fminnum)


@define_op("arith.negf")
class NegFOp(ArithOp):
    operand_ = operand(FloatLike)
    out = result(FloatLike)
    fastmath = prop(FastMathAttr, default=FASTMATH_NONE)
    traits = (Pure(), SameOperandsAndResultType())

    @classmethod
    def build(cls, value: Value, location: Location | None = None) -> NegFOp:
        return cls(operands=[value], result_types=[value.type], location=location)

    def fold(self, operands):
        (a,) = operands
        if isinstance(a, FloatAttr):
            return [FloatAttr(-a.value, a.type)]
        producer = self._operands[0].defining_op()
        if isinstance(producer, NegFOp):  # -(-x) -> x
            return [producer._operands[0]]
        return None


# ----------------------------------------------------------------------------- compare/select
CMPI_PREDICATES = ("eq", "ne", "slt", "sle", "sgt", "sge", "ult", "ule", "ugt", "uge")
CMPF_PREDICATES = (
    "false", "oeq", "ogt", "oge", "olt", "ole", "one", "ord",
    "ueq", "ugt", "uge", "ult", "ule", "une", "uno", "true",
)  # fmt: skip


def _bool_of(t: Type) -> Type:
    if isinstance(t, ShapedType):
        return type(t)(t.shape, i1)
    return i1


class _Compare(ArithOp):
    lhs = operand(AnyType)
    rhs = operand(AnyType)
    out = result(BoolLike)
    predicate = prop(IntegerAttr)
    traits = (Pure(),)
    predicates: tuple[str, ...]

    @classmethod
    def build(cls, predicate: str, lhs: Value, rhs: Value, location: Location | None = None) -> Operation:
        if predicate not in cls.predicates:
            raise ValueError(f"unknown predicate '{predicate}' for '{cls.name}'")
        return cls(
            operands=[lhs, rhs],
            result_types=[_bool_of(lhs.type)],
            properties={"predicate": IntegerAttr(cls.predicates.index(predicate))},
            location=location,
        )

    @property
    def predicate_name(self) -> str:
        return type(self).predicates[self.predicate.value]

    def verify_(self) -> None:
        if not 0 <= self.predicate.value < len(type(self).predicates):
            raise self.emit_error(f"predicate {self.predicate.value} is out of range")
        if self.lhs.type != self.rhs.type:
            raise self.emit_error("requires both operands to have the same type")
        if self.results[0].type != _bool_of(self.lhs.type):
            raise self.emit_error(f"result must be '{_bool_of(self.lhs.type)}', but got '{self.results[0].type}'")

    @classmethod
    def parse_custom(cls, p) -> Operation:
        item = p.peek()
        if getattr(item, "kind", None) == "bool" and "true" in cls.predicates:
            # cmpf's `true`/`false` predicates are lexed as boolean literals.
            name = "true" if p.literal().value else "false"
        else:
            name = p.keyword(cls.predicates)
        p.punct(",")
        refs = p.value_refs()
        flag, flag_props = _flag(cls), {}
        if flag is not None:
            p.flag_attr(flag[0], flag[1], flag_props, flag[2])
        props, attrs = p.attr_dict()
        p.expect_end()
        props.update(flag_props)
        types = p.type_list()
        if len(types) != 1:
            raise p.error("expected the operand type")
        operands = p.resolve(refs, [types[0]] * len(refs))
        props["predicate"] = IntegerAttr(cls.predicates.index(name))
        return p.build(operands=operands, result_types=[_bool_of(types[0])], properties=props, attributes=attrs)

    def print_custom(self, p) -> None:
        p.write(f"{self.name} {self.predicate_name}, {p.values(self._operands)}")
        flag = _flag(type(self))
        elide: tuple[str, ...] = ("predicate",)
        if flag is not None:
            p.write(p.flag(self, flag[0], flag[2]))
            elide = ("predicate", flag[2])
        p.write(p.op_attr_dict(self, elide=elide))
        p.write(" : " + p.type(self.lhs.type))


def _cmpi(pred: str, a: int, b: int, t: Type) -> bool:
    ua, ub = _int_unsigned(a, t), _int_unsigned(b, t)
    return {
        "eq": a == b, "ne": a != b, "slt": a < b, "sle": a <= b, "sgt": a > b, "sge": a >= b,
        "ult": ua < ub, "ule": ua <= ub, "ugt": ua > ub, "uge": ua >= ub,
    }[pred]  # fmt: skip


@define_op("arith.cmpi")
class CmpIOp(_Compare):
    lhs = operand(IntegerLike)
    rhs = operand(IntegerLike)
    predicates = CMPI_PREDICATES

    def fold(self, operands):
        a, b = operands
        if isinstance(a, IntegerAttr) and isinstance(b, IntegerAttr):
            return [IntegerAttr(int(_cmpi(self.predicate_name, a.value, b.value, a.type)), i1)]
        if self.lhs is self.rhs and isinstance(self.lhs.type, IntegerType | IndexType):
            return [IntegerAttr(int(self.predicate_name in ("eq", "sle", "sge", "ule", "uge")), i1)]
        return None


def _cmpf(pred: str, a: float, b: float) -> bool:
    unordered = math.isnan(a) or math.isnan(b)
    if pred == "false":
        return False
    if pred == "true":
        return True
    if pred == "ord":
        return not unordered
    if pred == "uno":
        return unordered
    base = {"eq": a == b, "gt": a > b, "ge": a >= b, "lt": a < b, "le": a <= b, "ne": a != b}[pred[1:]]
    if pred[0] == "o":
        return not unordered and base
    return unordered or base


@define_op("arith.cmpf")
class CmpFOp(_Compare):
    lhs = operand(FloatLike)
    rhs = operand(FloatLike)
    fastmath = prop(FastMathAttr, default=FASTMATH_NONE)
    predicates = CMPF_PREDICATES

    def fold(self, operands):
        a, b = operands
        if isinstance(a, FloatAttr) and isinstance(b, FloatAttr):
            return [IntegerAttr(int(_cmpf(self.predicate_name, a.value, b.value)), i1)]
        return None


@define_op("arith.select")
class SelectOp(ArithOp):
    """`arith.select %cond, %a, %b : T` (`: C, T` when the condition is not i1)."""

    condition = operand(BoolLike)
    true_value = operand(AnyType)
    false_value = operand(AnyType)
    out = result(AnyType)
    traits = (Pure(),)

    @classmethod
    def build(cls, condition: Value, true_value: Value, false_value: Value, location: Location | None = None):
        return cls(operands=[condition, true_value, false_value], result_types=[true_value.type], location=location)

    def verify_(self) -> None:
        t = self.results[0].type
        if self.true_value.type != t or self.false_value.type != t:
            raise self.emit_error("requires the true/false values and the result to have one type")
        cond = self.condition.type
        if isinstance(cond, ShapedType) and not (isinstance(t, ShapedType) and tuple(cond.shape) == tuple(t.shape)):
            raise self.emit_error(
                f"expects a condition of type '{cond}' to have the shape of the values ('{t}'), or to be a scalar i1"
            )

    def fold(self, operands):
        cond = operands[0]
        if self.true_value is self.false_value:  # select(c, x, x) -> x
            return [self.true_value]
        if isinstance(cond, IntegerAttr):  # select(true, a, b) -> a
            return [self.true_value if cond.value else self.false_value]
        return None

    @classmethod
    def parse_custom(cls, p) -> Operation:
        refs = p.value_refs()
        props, attrs = p.attr_dict()
        p.expect_end()
        types = p.type_list()
        if len(types) == 1:
            cond_t, t = i1, types[0]
        elif len(types) == 2:
            cond_t, t = types
        else:
            raise p.error("expected ': T' or ': C, T'")
        operands = p.resolve(refs, [cond_t, t, t])
        return p.build(operands=operands, result_types=[t], properties=props, attributes=attrs)

    def print_custom(self, p) -> None:
        p.write(f"arith.select {p.values(self._operands)}")
        p.write(p.op_attr_dict(self))
        t = self.results[0].type
        if self.condition.type == i1:
            p.write(f" : {p.type(t)}")
        else:
            p.write(f" : {p.type(self.condition.type)}, {p.type(t)}")


# ----------------------------------------------------------------------------- casts
class _Cast(ArithOp):
    """`arith.extsi %x : i32 to i64`."""

    input = operand(AnyType)
    out = result(AnyType)
    traits = (Pure(),)
    source_ok: Constraint
    result_ok: Constraint
    check: Callable[[Type, Type], bool] = staticmethod(lambda s, r: True)
    convert: Callable[[Attribute, Type], Attribute | None] = staticmethod(lambda a, t: None)

    @classmethod
    def build(cls, value: Value, to: Type, location: Location | None = None) -> Operation:
        return cls(operands=[value], result_types=[to], location=location)

    def verify_(self) -> None:
        src, dst = self.input.type, self.results[0].type
        if isinstance(src, ShapedType) != isinstance(dst, ShapedType) or (
            isinstance(src, ShapedType) and src.shape != dst.shape
        ):
            raise self.emit_error(f"requires matching shapes, got '{src}' and '{dst}'")
        s, r = _scalar(src), _scalar(dst)
        cls = type(self)
        if not cls.source_ok(s) or not cls.result_ok(r) or not cls.check(s, r):
            raise self.emit_error(f"cannot cast '{src}' to '{dst}'")

    def fold(self, operands):
        (a,) = operands
        t = self.results[0].type
        if a is None or isinstance(t, ShapedType):
            return None
        value = type(self).convert(a, t)
        return None if value is None else [value]

    @classmethod
    def parse_custom(cls, p) -> Operation:
        ref = p.value_ref()
        flag, flag_props = _flag(cls), {}
        if flag is not None:
            p.flag_attr(flag[0], flag[1], flag_props, flag[2])
        props, attrs = p.attr_dict()
        p.expect_end()
        props.update(flag_props)
        section = p.type_section()
        if len(section) != 3 or getattr(section[1], "text", None) != "to":
            raise p.error("expected ': T to U'")
        (value,) = p.resolve([ref], [section[0]])
        return p.build(operands=[value], result_types=[section[2]], properties=props, attributes=attrs)

    def print_custom(self, p) -> None:
        p.write(f"{self.name} {p.value(self.input)}")
        flag = _flag(type(self))
        elide: tuple[str, ...] = ()
        if flag is not None:
            p.write(p.flag(self, flag[0], flag[2]))
            elide = (flag[2],)
        p.write(p.op_attr_dict(self, elide=elide))
        p.write(f" : {p.type(self.input.type)} to {p.type(self.results[0].type)}")


_INT = Constraint("integer", lambda t: isinstance(t, IntegerType))
_FLOAT = Constraint("float", lambda t: isinstance(t, FloatType))
_INT_OR_INDEX = Constraint("integer or index", lambda t: isinstance(t, IntegerType | IndexType))


def _int_to_float(a: Attribute, t: Type, unsigned: bool) -> Attribute | None:
    if not isinstance(a, IntegerAttr):
        return None
    v = _int_unsigned(a.value, a.type) if unsigned else a.value
    return FloatAttr(round_float(float(v), t), t)


def _float_to_int(a: Attribute, t: Type, unsigned: bool) -> Attribute | None:
    if not isinstance(a, FloatAttr) or math.isnan(a.value) or math.isinf(a.value):
        return None
    v = math.trunc(a.value)
    lo, hi = (0, (1 << t.width) - 1) if unsigned else (-(1 << (t.width - 1)), (1 << (t.width - 1)) - 1)
    if not lo <= v <= hi:
        return None
    return IntegerAttr(v, t)


@define_op("arith.extsi")
class ExtSIOp(_Cast):
    source_ok = result_ok = _INT
    check = staticmethod(lambda s, r: r.width > s.width)
    convert = staticmethod(lambda a, t: IntegerAttr(a.value, t) if isinstance(a, IntegerAttr) else None)


@define_op("arith.extui")
class ExtUIOp(_Cast):
    source_ok = result_ok = _INT
    check = staticmethod(lambda s, r: r.width > s.width)
    convert = staticmethod(
        lambda a, t: IntegerAttr(_int_unsigned(a.value, a.type), t) if isinstance(a, IntegerAttr) else None
    )


@define_op("arith.trunci")
class TruncIOp(_Cast, _Overflow):
    source_ok = result_ok = _INT
    check = staticmethod(lambda s, r: r.width < s.width)
    convert = staticmethod(lambda a, t: IntegerAttr(a.value, t) if isinstance(a, IntegerAttr) else None)


@define_op("arith.sitofp")
class SIToFPOp(_Cast):
    source_ok, result_ok = _INT, _FLOAT
    convert = staticmethod(lambda a, t: _int_to_float(a, t, False))


@define_op("arith.uitofp")
class UIToFPOp(_Cast):
    source_ok, result_ok = _INT, _FLOAT
    convert = staticmethod(lambda a, t: _int_to_float(a, t, True))


@define_op("arith.fptosi")
class FPToSIOp(_Cast):
    source_ok, result_ok = _FLOAT, _INT
    convert = staticmethod(lambda a, t: _float_to_int(a, t, False))


@define_op("arith.fptoui")
class FPToUIOp(_Cast):
    source_ok, result_ok = _FLOAT, _INT
    convert = staticmethod(lambda a, t: _float_to_int(a, t, True))


@define_op("arith.extf")
class ExtFOp(_Cast):
    source_ok = result_ok = _FLOAT
    check = staticmethod(lambda s, r: r.width > s.width)
    convert = staticmethod(lambda a, t: FloatAttr(a.value, t) if isinstance(a, FloatAttr) else None)


@define_op("arith.truncf")
class TruncFOp(_Cast):
    source_ok = result_ok = _FLOAT
    check = staticmethod(lambda s, r: r.width < s.width)
    convert = staticmethod(lambda a, t: FloatAttr(round_float(a.value, t), t) if isinstance(a, FloatAttr) else None)


@define_op("arith.index_cast")
class IndexCastOp(_Cast):
    source_ok = result_ok = _INT_OR_INDEX
    check = staticmethod(lambda s, r: isinstance(s, IndexType) != isinstance(r, IndexType))
    convert = staticmethod(lambda a, t: IntegerAttr(a.value, t) if isinstance(a, IntegerAttr) else None)


@define_op("arith.index_castui")
class IndexCastUIOp(_Cast):
    source_ok = result_ok = _INT_OR_INDEX
    check = staticmethod(lambda s, r: isinstance(s, IndexType) != isinstance(r, IndexType))
    convert = staticmethod(
        lambda a, t: IntegerAttr(_int_unsigned(a.value, a.type), t) if isinstance(a, IntegerAttr) else None
    )


@define_op("arith.bitcast")
class BitcastOp(_Cast):
    source_ok = result_ok = Constraint("integer or float", lambda t: isinstance(t, IntegerType | FloatType))
    check = staticmethod(lambda s, r: s.width == r.width)

    @staticmethod
    def convert(a: Attribute, t: Type) -> Attribute | None:

        if isinstance(a, FloatAttr):
            bits = a.bits
        elif isinstance(a, IntegerAttr):
            bits = _int_unsigned(a.value, a.type)
        else:
            return None
        if isinstance(t, FloatType):
            return FloatAttr.from_bits(bits, t)
        return IntegerAttr(bits, t)


DIALECT = Dialect(
    "arith",
    [
        ConstantOp, AddIOp, SubIOp, MulIOp, DivSIOp, DivUIOp, CeilDivSIOp, FloorDivSIOp, RemSIOp,
        RemUIOp, AndIOp, OrIOp, XOrIOp, ShLIOp, ShRSIOp, ShRUIOp, MaxSIOp, MinSIOp, MaxUIOp, MinUIOp,
        AddFOp, SubFOp, MulFOp, DivFOp, RemFOp, MaximumFOp, MinimumFOp, MaxNumFOp, MinNumFOp, NegFOp,
        CmpIOp, CmpFOp, SelectOp, ExtSIOp, ExtUIOp, TruncIOp, SIToFPOp, UIToFPOp, FPToSIOp, FPToUIOp,
        ExtFOp, TruncFOp, IndexCastOp, IndexCastUIOp, BitcastOp,
    ],
    attribute_parsers={"fastmath": FastMathAttr.parse, "overflow": OverflowAttr.parse},
)  # fmt: skip
