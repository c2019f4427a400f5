"""The tensor dialect: the graph level, every standard network operation.

Value semantics, static shapes, numpy broadcasting; attribute names are ONNX's in snake_case
and the semantics are ONNX's. Each op class has

- `infer_result_types(operand_types, properties)`: shape inference; ValueError on bad input,
- `verify_()`: the written result types must be the inferred ones (a located error if not),
- `reference(*arrays)`: the numpy semantics (what the interpreter, the folder and every
  backend are checked against); outputs have exactly the result dtypes and shapes,
- `fold(...)`: with every operand a constant and a small result, `reference` evaluated at
  compile time (see `FOLD_LIMIT`).

Floating-point max and min (max/min, the max pools, reduce_max/reduce_min) propagate NaN, as
numpy's do. Where their result is a zero, its sign is unspecified: numpy returns the second
operand of a tie (`np.maximum(0.0, -0.0)` is -0.0), IEEE maximum returns +0.0, and backends
may use either (the CPU backend uses the hardware's plain max in pools and reductions).

Module-level functions (`tensor.conv2d(x, w, strides=[2, 2])`, `tensor.relu(x)`, ...) build
ops from Python: they infer the result type and insert the op where the current builder
points (detached when there is none).

    %y = tensor.conv2d %x, %w {strides = [2, 2], pads = [3, 3, 3, 3]} : (tensor<1x3x224x224xf32>, tensor<64x3x7x7xf32>) -> tensor<1x64x112x112xf32>
    %z = tensor.relu %y : tensor<1x64x112x112xf32>
"""  # noqa: E501

from __future__ import annotations

import builtins
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from irc.attributes import (
    ArrayAttr,
    Attribute,
    DenseElementsAttr,
    DenseResourceAttr,
    FloatAttr,
    IntegerAttr,
    StringAttr,
    TypeAttr,
    numpy_dtype,
)
from irc.context import Dialect
from irc.ir import Operation, Value
from irc.location import Location
from irc.opdef import (
    Constraint,
    define_op,
    operand,
    opt_operand,
    prop,
    result,
    var_operand,
    var_result,
)
from irc.rewriter import PatternRewriter, RewritePattern, constant_attr
from irc.traits import Commutative, ConstantLike, Elementwise, Pure, SameOperandsAndResultType
from irc.types import FloatType, IntegerType, TensorType, Type, f16, f32, f64, i1, i8, i16, i32, i64

# Folding evaluates `reference` at compile time only when every result has at most this many
# elements, so that folding never bloats the IR with huge constants.
FOLD_LIMIT = 65536

FLOAT_TYPES = (f16, f32, f64)
INT_TYPES = (i8, i16, i32, i64)
NUMERIC_TYPES = FLOAT_TYPES + INT_TYPES
ALL_TYPES = (*NUMERIC_TYPES, i1)
INDEX_TYPES = (i32, i64)

# Python builtins that the builder functions at the end of this module shadow.
_max, _min, _abs, _slice = builtins.max, builtins.min, builtins.abs, builtins.slice


# ----------------------------------------------------------------------------- constraints
def _tensor_of(elements: tuple[Type, ...], description: str) -> Constraint:
    return Constraint(description, lambda t: isinstance(t, TensorType) and t.element_type in elements)


FloatTensor = _tensor_of(FLOAT_TYPES, "tensor of f16, f32 or f64 values")
NumericTensor = _tensor_of(NUMERIC_TYPES, "tensor of floating-point or integer (i8 to i64) values")
AnyTensorOf = _tensor_of(ALL_TYPES, "tensor of floating-point, integer or i1 values")
BoolTensor = _tensor_of((i1,), "tensor of i1 values")
IndexTensor = _tensor_of(INDEX_TYPES, "tensor of i32 or i64 values")

_KIND_NAMES = {
    FLOAT_TYPES: "floating-point",
    NUMERIC_TYPES: "floating-point or integer (i8 to i64)",
    ALL_TYPES: "floating-point, integer or i1",
    (i1,): "i1",
    INDEX_TYPES: "i32 or i64",
}


def _check_element(t: TensorType, allowed: tuple[Type, ...], what: str) -> None:
    if t.element_type not in allowed:
        raise ValueError(f"{what} must be a tensor of {_KIND_NAMES[allowed]} values, got '{t}'")


# ----------------------------------------------------------------------------- attributes
class Props:
    """Reads an op's attributes with ONNX defaults; ValueError with a specific message when an
    attribute has the wrong kind or value."""

    def __init__(self, props: Mapping[str, Attribute] | None) -> None:
        self.props = dict(props or {})

    def has(self, name: str) -> bool:
        return self.props.get(name) is not None

    def _get(self, name: str, required: bool) -> Attribute | None:
        value = self.props.get(name)
        if value is None and required:
            raise ValueError(f"requires attribute '{name}'")
        return value

    def int(self, name: str, default: int | None = None) -> int:
        value = self._get(name, default is None)
        if value is None:
            return default  # type: ignore[return-value]
        if not isinstance(value, IntegerAttr) or value.type == i1:
            raise ValueError(f"expected '{name}' to be an integer, got {value}")
        return value.value

    def flag(self, name: str, default: bool) -> bool:
        value = self.int(name, int(default))
        if value not in (0, 1):
            raise ValueError(f"expected '{name}' to be 0 or 1, got {value}")
        return bool(value)

    def ints(self, name: str, default: Sequence[int] | None = None, count: int | None = None) -> list[int]:
        value = self._get(name, default is None)
        if value is None:
            return list(default)  # type: ignore[arg-type]
        if not isinstance(value, ArrayAttr) or not all(
            isinstance(e, IntegerAttr) and e.type != i1 for e in value.elements
        ):
            raise ValueError(f"expected '{name}' to be a list of integers, got {value}")
        out = [e.value for e in value.elements]
        if count is not None and len(out) != count:
            raise ValueError(f"expected '{name}' to have {count} entries, got {len(out)}")
        return out

    def opt_ints(self, name: str) -> list[int] | None:
        return self.ints(name) if self.has(name) else None

    def float(self, name: str, default: float | None = None) -> float:
        value = self._get(name, default is None)
        if value is None:
            return default  # type: ignore[return-value]
        if isinstance(value, FloatAttr):
            return value.value
        if isinstance(value, IntegerAttr) and value.type != i1:
            return float(value.value)
        raise ValueError(f"expected '{name}' to be a float, got {value}")

    def number(self, name: str, element: Type) -> float | int | None:
        """An optional scalar for a tensor of `element`: integral for integer tensors."""
        value = self.props.get(name)
        if value is None:
            return None
        if isinstance(element, FloatType):
            return self.float(name)
        if isinstance(value, IntegerAttr):
            return value.value
        if isinstance(value, FloatAttr) and float(value.value).is_integer():
            return int(value.value)
        raise ValueError(f"expected '{name}' to be an integer for a tensor of {element}, got {value}")

    def string(self, name: str, default: str, choices: Sequence[str]) -> str:
        value = self.props.get(name)
        if value is None:
            return default
        if not isinstance(value, StringAttr):
            raise ValueError(f"expected '{name}' to be a string, got {value}")
        if value.value not in choices:
            options = ", ".join(f'"{c}"' for c in choices)
            raise ValueError(f"expected '{name}' to be one of {options}, got \"{value.value}\"")
        return value.value

    def type(self, name: str) -> Type:
        value = self._get(name, True)
        if not isinstance(value, TypeAttr):
            raise ValueError(f"expected '{name}' to be a type, got {value}")
        return value.value


def _positive(name: str, values: Sequence[int]) -> None:
    if any(v <= 0 for v in values):
        raise ValueError(f"expected '{name}' entries to be positive, got {list(values)}")


def _non_negative(name: str, values: Sequence[int]) -> None:
    if any(v < 0 for v in values):
        raise ValueError(f"expected '{name}' entries to be non-negative, got {list(values)}")


def _axis(axis: int, rank: int, name: str = "axis") -> int:
    """`axis` in [-rank, rank) made non-negative."""
    if not -rank <= axis < rank:
        raise ValueError(f"'{name}' {axis} is out of range for rank {rank} (expected [{-rank}, {rank - 1}])")
    return axis + rank if axis < 0 else axis


def _axes(axes: Sequence[int], rank: int, name: str = "axes") -> list[int]:
    out = [_axis(a, rank, name) for a in axes]
    if len(set(out)) != len(out):
        raise ValueError(f"expected '{name}' to have no repeated axes, got {list(axes)}")
    return out


def _shape_text(shape: Sequence[int]) -> str:
    return "x".join(str(d) for d in shape) if shape else "scalar"


def broadcast_shapes(*shapes: Sequence[int]) -> tuple[int, ...]:
    """numpy broadcasting of static shapes; ValueError naming the first clashing dimension."""
    rank = _max((len(s) for s in shapes), default=0)
    out = []
    for i in range(rank):
        dims = [s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0]
        sizes = {d for d in dims if d != 1}
        if len(sizes) > 1:
            texts = " and ".join(f"[{_shape_text(s)}]" for s in shapes)
            raise ValueError(
                f"shapes {texts} are not broadcast-compatible: dimension {i - rank} has sizes {sorted(sizes)}"
            )
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


def _broadcasts_to(src: Sequence[int], dst: Sequence[int]) -> bool:
    """Unidirectional broadcasting: `src` stretches to exactly `dst`."""
    if len(src) > len(dst):
        return False
    return all(s in (1, d) for s, d in zip(src, dst[len(dst) - len(src) :], strict=True))


def _prod(values: Sequence[int]) -> int:
    n = 1
    for v in values:
        n *= v
    return n


# ----------------------------------------------------------------------------- base class
def materialize_constant(attr: Attribute, type: Type, location: Location) -> Operation | None:
    if isinstance(attr, DenseElementsAttr | DenseResourceAttr) and attr.type == type:
        return ConstantOp.build(attr, location=location)
    return None


def _constant_array(attr: Attribute | None) -> np.ndarray | None:
    if isinstance(attr, DenseElementsAttr):
        return attr.to_numpy()
    if isinstance(attr, DenseResourceAttr) and attr.blob is not None:
        return attr.to_numpy()
    return None


class TensorOp(Operation):
    """Common base: shape inference drives verification, `reference` drives folding."""

    format = "default"
    traits = (Pure(),)
    materialize_constant = staticmethod(materialize_constant)

    # -- shape inference
    @classmethod
    def infer_result_types(
        cls, operand_types: Sequence[Type], properties: Mapping[str, Attribute] | None = None, **kwargs: Any
    ) -> list[Type]:
        """The result types of the op for these operand types and attributes (ValueError if
        they are not valid for the op)."""
        types = list(operand_types)
        for i, t in enumerate(types):
            if not isinstance(t, TensorType):
                raise ValueError(f"operand #{i} must be a tensor, got '{t}'")
            if not t.has_static_shape:
                raise ValueError(f"operand #{i} must have a static shape, got '{t}'")
        return cls._infer(types, Props(properties), **kwargs)

    @classmethod
    def _infer(cls, types: list[TensorType], props: Props, **kwargs: Any) -> list[Type]:
        raise NotImplementedError

    def _inferred(self) -> list[Type]:
        return type(self).infer_result_types([v.type for v in self._operands], self.properties)

    def verify_(self) -> None:
        try:
            expected = self._inferred()
        except ValueError as err:
            raise self.emit_error(str(err)) from None
        actual = [r.type for r in self.results]
        if len(actual) != len(expected):
            raise self.emit_error(f"expected {len(expected)} results, but found {len(actual)}")
        for i, (got, want) in enumerate(zip(actual, expected, strict=True)):
            if got != want:
                which = "result type" if len(actual) == 1 else f"result #{i} type"
                raise self.emit_error(f"{which} '{got}' does not match the inferred type '{want}'")

    # -- semantics
    def reference(self, *inputs: np.ndarray) -> list[np.ndarray]:
        """The numpy semantics of the op (ONNX's): outputs have the result dtypes and shapes."""
        operands = self._operands
        if len(inputs) != len(operands):
            raise ValueError(f"'{self.name}' takes {len(operands)} inputs, got {len(inputs)}")
        arrays = []
        for i, (x, v) in enumerate(zip(inputs, operands, strict=True)):
            t = v.type
            arr = np.asarray(x)
            if arr.shape != tuple(t.shape):
                raise ValueError(f"'{self.name}' input #{i} has shape {arr.shape}, expected '{t}'")
            arrays.append(arr.astype(numpy_dtype(t.element_type), copy=False))
        if all(r.type.num_elements == 0 for r in self.results):
            # Fully determined by the types; numpy reductions of empty arrays would raise.
            return [np.zeros(r.type.shape, numpy_dtype(r.type.element_type)) for r in self.results]
        with np.errstate(all="ignore"):
            outputs = self._reference(*arrays)
            out = [
                np.asarray(o).astype(numpy_dtype(r.type.element_type), copy=False)
                for o, r in zip(outputs, self.results, strict=True)
            ]
        for arr, r in zip(out, self.results, strict=True):
            if arr.shape != tuple(r.type.shape):
                raise RuntimeError(f"'{self.name}' reference gave shape {arr.shape} for '{r.type}'")
        return [np.array(a, order="C") for a in out]  # a fresh array, never a view of an input

    def _reference(self, *inputs: np.ndarray) -> list[np.ndarray]:
        raise NotImplementedError

    @property
    def attrs(self) -> Props:
        return Props(self.properties)

    # -- folding
    def fold(self, operands: list[Attribute | None]) -> list[Attribute] | None:
        arrays = [_constant_array(a) for a in operands]
        if any(a is None for a in arrays) or not self.results:
            return None
        if any(r.type.num_elements > FOLD_LIMIT for r in self.results):
            return None
        if not self.can_fold(arrays):
            return None
        try:
            outputs = self.reference(*arrays)
        except (ValueError, ArithmeticError):
            return None
        return [DenseElementsAttr.from_numpy(r.type, o) for r, o in zip(self.results, outputs, strict=True)]

    def can_fold(self, arrays: list[np.ndarray]) -> bool:
        """False where evaluating at compile time would fix undefined behaviour."""
        return True

    @classmethod
    def canonicalization_patterns(cls) -> list[RewritePattern]:
        return []

    # -- building
    @classmethod
    def build(
        cls,
        operands: Sequence[Value],
        properties: Mapping[str, Attribute] | None = None,
        location: Location | None = None,
        **kwargs: Any,
    ) -> Operation:
        """An op on `operands` with its result types inferred (ValueError if invalid)."""
        props = {k: v for k, v in (properties or {}).items() if v is not None}
        types = cls.infer_result_types([v.type for v in operands], props, **kwargs)
        return cls(operands=list(operands), result_types=types, properties=props, location=location)


# ----------------------------------------------------------------------------- constant
@define_op("tensor.constant")
class ConstantOp(TensorOp):
    """`%c = tensor.constant {value = dense<1.0> : tensor<4xf32>} : tensor<4xf32>`."""

    value = prop((DenseElementsAttr, DenseResourceAttr))
    out = result(AnyTensorOf)
    traits = (Pure(), ConstantLike())

    @classmethod
    def build(cls, value: Attribute, location: Location | None = None) -> ConstantOp:  # type: ignore[override]
        return cls(result_types=[value.type], properties={"value": value}, location=location)

    @classmethod
    def _infer(cls, types, props, **kwargs):
        value = props.props.get("value")
        if value is None:
            raise ValueError("requires attribute 'value'")
        if not isinstance(value, DenseElementsAttr | DenseResourceAttr) or not isinstance(value.type, TensorType):
            raise ValueError(f"expected 'value' to be a dense tensor constant, got {value}")
        return [value.type]

    def constant_value(self) -> Attribute:
        return self.value

    def fold(self, operands):
        return [self.value]

    def _reference(self):
        arr = _constant_array(self.value)
        if arr is None:
            raise ValueError(f"'{self.name}' has no data")
        return [arr]

    @classmethod
    def parse_custom(cls, p) -> ConstantOp:
        """The default form; `tensor.constant dense<...> : T` is read too."""
        from textual_ir.parser import Literal

        if not isinstance(p.peek(), Literal):
            return p.parse_default()
        lit = p.literal()
        props, attrs = p.attr_dict()
        p.expect_end()
        types = p.type_list() if p.types is not None else []
        if len(types) > 1:
            raise p.error("expected one type")
        value = p.literal_attr(lit, types[0] if types else None)
        if not isinstance(value, DenseElementsAttr | DenseResourceAttr):
            raise p.error("expected a dense tensor literal", lit)
        props["value"] = value
        return p.build(result_types=[value.type], properties=props, attributes=attrs)


# ----------------------------------------------------------------------------- elementwise binary
def _trunc_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """C-style integer division (toward zero), as ONNX Div on integers."""
    safe = np.where(b == 0, 1, b)
    q = a // safe
    fix = (a % safe != 0) & ((a < 0) != (safe < 0))
    return np.where(b == 0, 0, q + fix)


class _Binary(TensorOp):
    lhs = operand(NumericTensor)
    rhs = operand(NumericTensor)
    out = result(NumericTensor)
    traits = (Pure(), Elementwise())
    allowed: ClassVar[tuple[Type, ...]] = NUMERIC_TYPES
    compute: ClassVar[Callable[..., np.ndarray]]

    @classmethod
    def _infer(cls, types, props, **kwargs):
        a, b = _expect(types, 2)
        _check_element(a, cls.allowed, "operand #0")
        if b.element_type != a.element_type:
            raise ValueError(f"expected operands of one element type, got '{a}' and '{b}'")
        return [TensorType(broadcast_shapes(a.shape, b.shape), cls.result_element(a.element_type))]

    @classmethod
    def result_element(cls, element: Type) -> Type:
        return element

    def _reference(self, a, b):
        return [type(self).compute(a, b)]


def _expect(types: list[TensorType], count: int, optional: int = 0) -> list[TensorType | None]:
    if not count <= len(types) <= count + optional:
        bound = str(count) if not optional else f"{count} to {count + optional}"
        raise ValueError(f"expected {bound} operands, got {len(types)}")
    return types + [None] * (count + optional - len(types))


@define_op("tensor.add")
class AddOp(_Binary):
    traits = (Pure(), Elementwise(), Commutative())
    compute = staticmethod(np.add)

    @classmethod
    def canonicalization_patterns(cls):
        return [FoldAddZero()]


@define_op("tensor.sub")
class SubOp(_Binary):
    compute = staticmethod(np.subtract)

    @classmethod
    def canonicalization_patterns(cls):
        return [FoldSubZero()]


@define_op("tensor.mul")
class MulOp(_Binary):
    traits = (Pure(), Elementwise(), Commutative())
    compute = staticmethod(np.multiply)

    @classmethod
    def canonicalization_patterns(cls):
        return [FoldMulOne()]


@define_op("tensor.div")
class DivOp(_Binary):
    """Float division; integer division truncates toward zero (C, ONNX)."""

    @staticmethod
    def compute(a, b):
        if a.dtype.kind == "f":
            return a / b
        return _trunc_div(a, b)

    def can_fold(self, arrays):
        return arrays[0].dtype.kind == "f" or not (arrays[1] == 0).any()  # integer x/0 is undefined

    @classmethod
    def canonicalization_patterns(cls):
        return [FoldDivOne()]


@define_op("tensor.pow")
class PowOp(_Binary):
    lhs = operand(FloatTensor)
    rhs = operand(FloatTensor)
    out = result(FloatTensor)
    allowed = FLOAT_TYPES
    compute = staticmethod(np.power)


@define_op("tensor.max")
class MaxOp(_Binary):
    traits = (Pure(), Elementwise(), Commutative())
    compute = staticmethod(np.maximum)


@define_op("tensor.min")
class MinOp(_Binary):
    traits = (Pure(), Elementwise(), Commutative())
    compute = staticmethod(np.minimum)


class _Compare(_Binary):
    out = result(BoolTensor)

    @classmethod
    def result_element(cls, element):
        return i1


@define_op("tensor.equal")
class EqualOp(_Compare):
    lhs = operand(AnyTensorOf)
    rhs = operand(AnyTensorOf)
    traits = (Pure(), Elementwise(), Commutative())
    allowed = ALL_TYPES
    compute = staticmethod(np.equal)


@define_op("tensor.less")
class LessOp(_Compare):
    compute = staticmethod(np.less)


@define_op("tensor.less_or_equal")
class LessOrEqualOp(_Compare):
    compute = staticmethod(np.less_equal)


@define_op("tensor.greater")
class GreaterOp(_Compare):
    compute = staticmethod(np.greater)


@define_op("tensor.greater_or_equal")
class GreaterOrEqualOp(_Compare):
    compute = staticmethod(np.greater_equal)


@define_op("tensor.where")
class WhereOp(TensorOp):
    """`where(cond, x, y)`: x where cond holds, else y; all three broadcast."""

    condition = operand(BoolTensor)
    true_value = operand(AnyTensorOf)
    false_value = operand(AnyTensorOf)
    out = result(AnyTensorOf)
    traits = (Pure(), Elementwise())

    @classmethod
    def _infer(cls, types, props, **kwargs):
        c, x, y = _expect(types, 3)
        _check_element(c, (i1,), "the condition")
        _check_element(x, ALL_TYPES, "operand #1")
        if x.element_type != y.element_type:
            raise ValueError(f"expected the two values to have one element type, got '{x}' and '{y}'")
        return [TensorType(broadcast_shapes(c.shape, x.shape, y.shape), x.element_type)]

    def _reference(self, c, x, y):
        return [np.where(c, x, y)]


# ----------------------------------------------------------------------------- elementwise unary
def _erf(x: np.ndarray) -> np.ndarray:
    """erf in double precision (numpy has none; math.erf is correctly rounded enough)."""
    flat = np.asarray(x, dtype=np.float64).reshape(-1)
    return np.fromiter((math.erf(v) for v in flat), dtype=np.float64, count=flat.size).reshape(np.shape(x))


class _Unary(TensorOp):
    input = operand(FloatTensor)
    out = result(FloatTensor)
    traits = (Pure(), Elementwise(), SameOperandsAndResultType())
    allowed: ClassVar[tuple[Type, ...]] = FLOAT_TYPES

    @classmethod
    def _infer(cls, types, props, **kwargs):
        (x,) = _expect(types, 1)
        _check_element(x, cls.allowed, "operand #0")
        cls.check_attrs(x, props)
        return [x]

    @classmethod
    def check_attrs(cls, x: TensorType, props: Props) -> None:
        """Read every attribute once, so that a bad one is a verification error."""

    def _reference(self, x):
        return [self.compute(x)]

    def compute(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class _NumericUnary(_Unary):
    input = operand(NumericTensor)
    out = result(NumericTensor)
    allowed = NUMERIC_TYPES


@define_op("tensor.neg")
class NegOp(_NumericUnary):
    def compute(self, x):
        return -x


@define_op("tensor.abs")
class AbsOp(_NumericUnary):
    def compute(self, x):
        return np.abs(x)


@define_op("tensor.exp")
class ExpOp(_Unary):
    def compute(self, x):
        return np.exp(x)


@define_op("tensor.log")
class LogOp(_Unary):
    def compute(self, x):
        return np.log(x)


@define_op("tensor.sqrt")
class SqrtOp(_Unary):
    def compute(self, x):
        return np.sqrt(x)


@define_op("tensor.rsqrt")
class RsqrtOp(_Unary):
    def compute(self, x):
        return 1.0 / np.sqrt(x.astype(np.float64))


@define_op("tensor.erf")
class ErfOp(_Unary):
    def compute(self, x):
        return _erf(x)


@define_op("tensor.relu")
class ReluOp(_NumericUnary):
    def compute(self, x):
        return np.maximum(x, x.dtype.type(0))

    @classmethod
    def canonicalization_patterns(cls):
        return [FoldReluOfRelu()]


@define_op("tensor.sigmoid")
class SigmoidOp(_Unary):
    def compute(self, x):
        x = x.astype(np.float64)
        e = np.exp(-np.abs(x))  # never overflows
        return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


@define_op("tensor.tanh")
class TanhOp(_Unary):
    def compute(self, x):
        return np.tanh(x)


@define_op("tensor.softplus")
class SoftplusOp(_Unary):
    """log(1 + exp(x)), computed without overflow."""

    def compute(self, x):
        return np.logaddexp(0.0, x.astype(np.float64))


@define_op("tensor.leaky_relu")
class LeakyReluOp(_Unary):
    alpha = prop((FloatAttr, IntegerAttr), optional=True)

    @classmethod
    def check_attrs(cls, x, props):
        props.float("alpha", 0.01)

    def compute(self, x):
        alpha = self.attrs.float("alpha", 0.01)
        return np.where(x >= 0, x, x * x.dtype.type(alpha))


@define_op("tensor.gelu")
class GeluOp(_Unary):
    """`approximate = "none"`: x * Phi(x); `"tanh"`: the tanh approximation."""

    approximate = prop(StringAttr, optional=True)

    @classmethod
    def check_attrs(cls, x, props):
        props.string("approximate", "none", ("none", "tanh"))

    def compute(self, x):
        x = x.astype(np.float64)
        if self.attrs.string("approximate", "none", ("none", "tanh")) == "tanh":
            return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))
        return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


@define_op("tensor.elu")
class EluOp(_Unary):
    alpha = prop((FloatAttr, IntegerAttr), optional=True)

    @classmethod
    def check_attrs(cls, x, props):
        props.float("alpha", 1.0)

    def compute(self, x):
        alpha = self.attrs.float("alpha", 1.0)
        x = x.astype(np.float64)
        return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


SELU_ALPHA = 1.67326319217681884765625
SELU_GAMMA = 1.05070102214813232421875


@define_op("tensor.selu")
class SeluOp(_Unary):
    alpha = prop((FloatAttr, IntegerAttr), optional=True)
    gamma = prop((FloatAttr, IntegerAttr), optional=True)

    @classmethod
    def check_attrs(cls, x, props):
        props.float("alpha", SELU_ALPHA)
        props.float("gamma", SELU_GAMMA)

    def compute(self, x):
        alpha, gamma = self.attrs.float("alpha", SELU_ALPHA), self.attrs.float("gamma", SELU_GAMMA)
        x = x.astype(np.float64)
        return gamma * np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


@define_op("tensor.hard_sigmoid")
class HardSigmoidOp(_Unary):
    """max(0, min(1, alpha * x + beta))."""

    alpha = prop((FloatAttr, IntegerAttr), optional=True)
    beta = prop((FloatAttr, IntegerAttr), optional=True)

    @classmethod
    def check_attrs(cls, x, props):
        props.float("alpha", 0.2)
        props.float("beta", 0.5)

    def compute(self, x):
        alpha, beta = self.attrs.float("alpha", 0.2), self.attrs.float("beta", 0.5)
        return np.clip(alpha * x.astype(np.float64) + beta, 0.0, 1.0)


@define_op("tensor.clip")
class ClipOp(_NumericUnary):
    """min(max(x, min), max); with min > max every value becomes max (ONNX)."""

    min = prop((FloatAttr, IntegerAttr), optional=True)
    max = prop((FloatAttr, IntegerAttr), optional=True)

    @classmethod
    def check_attrs(cls, x, props):
        props.number("min", x.element_type)
        props.number("max", x.element_type)

    def compute(self, x):
        element = self._operands[0].type.element_type
        lo, hi = self.attrs.number("min", element), self.attrs.number("max", element)
        if lo is not None:
            x = np.maximum(x, np.array(lo).astype(x.dtype))
        if hi is not None:
            x = np.minimum(x, np.array(hi).astype(x.dtype))
        return x


@define_op("tensor.cast")
class CastOp(TensorOp):
    """Element type conversion (`to`); float to integer truncates, nonzero to i1 is true."""

    input = operand(AnyTensorOf)
    out = result(AnyTensorOf)
    to = prop(TypeAttr)
    traits = (Pure(), Elementwise())

    @classmethod
    def _infer(cls, types, props, **kwargs):
        (x,) = _expect(types, 1)
        _check_element(x, ALL_TYPES, "operand #0")
        to = props.type("to")
        if to not in ALL_TYPES:
            raise ValueError(f"expected 'to' to be one of f16, f32, f64, i1, i8, i16, i32, i64, got {to}")
        return [TensorType(x.shape, to)]

    def _reference(self, x):
        return [x.astype(numpy_dtype(self.results[0].type.element_type))]

    def can_fold(self, arrays):
        x = arrays[0]
        to = self.results[0].type.element_type
        if x.dtype.kind != "f" or not isinstance(to, IntegerType) or to.width == 1:
            return True
        # Out-of-range float to integer conversions are undefined: leave them to run time.
        info = np.iinfo(numpy_dtype(to))
        return bool(np.all((x > info.min - 1.0) & (x < info.max + 1.0)))


# ----------------------------------------------------------------------------- linear algebra
@define_op("tensor.matmul")
class MatMulOp(TensorOp):
    """numpy.matmul: 1-D operands are promoted and the promoted dims dropped; batch dims broadcast."""

    lhs = operand(NumericTensor)
    rhs = operand(NumericTensor)
    out = result(NumericTensor)

    @classmethod
    def _infer(cls, types, props, **kwargs):
        a, b = _expect(types, 2)
        _check_element(a, NUMERIC_TYPES, "operand #0")
        if a.element_type != b.element_type:
            raise ValueError(f"expected operands of one element type, got '{a}' and '{b}'")
        if a.rank == 0 or b.rank == 0:
            raise ValueError(f"expected operands of rank at least 1, got '{a}' and '{b}'")
        sa = (1, *a.shape) if a.rank == 1 else a.shape
        sb = (*b.shape, 1) if b.rank == 1 else b.shape
        if sa[-1] != sb[-2]:
            raise ValueError(f"contraction dimension mismatch: '{a}' has {sa[-1]} columns but '{b}' has {sb[-2]} rows")
        batch = broadcast_shapes(sa[:-2], sb[:-2])
        shape = [*batch]
        if a.rank > 1:
            shape.append(sa[-2])
        if b.rank > 1:
            shape.append(sb[-1])
        return [TensorType(shape, a.element_type)]

    def _reference(self, a, b):
        if a.dtype.kind == "f" and a.dtype != np.float64:
            return [np.matmul(a.astype(np.float64), b.astype(np.float64))]
        return [np.matmul(a, b)]


@define_op("tensor.gemm")
class GemmOp(TensorOp):
    """Y = alpha * A' @ B' + beta * C, A' = A or A^T (trans_a), B' likewise; C broadcasts to (M, N)."""

    a = operand(NumericTensor)
    b = operand(NumericTensor)
    c = opt_operand(NumericTensor)
    out = result(NumericTensor)
    trans_a = prop(IntegerAttr, optional=True)
    trans_b = prop(IntegerAttr, optional=True)
    alpha = prop((FloatAttr, IntegerAttr), optional=True)
    beta = prop((FloatAttr, IntegerAttr), optional=True)

    @classmethod
    def _infer(cls, types, props, **kwargs):
        a, b, c = _expect(types, 2, 1)
        _check_element(a, NUMERIC_TYPES, "operand #0")
        for t in (b, c):
            if t is not None and t.element_type != a.element_type:
                raise ValueError(f"expected operands of one element type, got '{a}' and '{t}'")
        if a.rank != 2 or b.rank != 2:
            raise ValueError(f"expected 2-D A and B, got '{a}' and '{b}'")
        props.float("alpha", 1.0)
        props.float("beta", 1.0)
        m, ka = a.shape[::-1] if props.flag("trans_a", False) else a.shape
        kb, n = b.shape[::-1] if props.flag("trans_b", False) else b.shape
        if ka != kb:
            raise ValueError(f"contraction dimension mismatch: A gives K = {ka} but B gives K = {kb}")
        if c is not None and not _broadcasts_to(c.shape, (m, n)):
            raise ValueError(f"C of shape [{_shape_text(c.shape)}] does not broadcast to [{m}x{n}]")
        return [TensorType((m, n), a.element_type)]

    def _reference(self, a, b, c=None):
        p = self.attrs
        if p.flag("trans_a", False):
            a = a.T
        if p.flag("trans_b", False):
            b = b.T
        wide = np.float64 if a.dtype.kind == "f" else np.int64
        y = p.float("alpha", 1.0) * np.matmul(a.astype(wide), b.astype(wide))
        if c is not None:
            y = y + p.float("beta", 1.0) * c.astype(wide)
        return [y]


# ----------------------------------------------------------------------------- convolution
def _conv_attrs(props: Props) -> tuple[list[int], list[int], list[int], int]:
    strides = props.ints("strides", (1, 1), 2)
    pads = props.ints("pads", (0, 0, 0, 0), 4)
    dilations = props.ints("dilations", (1, 1), 2)
    group = props.int("group", 1)
    _positive("strides", strides)
    _non_negative("pads", pads)
    _positive("dilations", dilations)
    if group <= 0:
        raise ValueError(f"expected 'group' to be positive, got {group}")
    return strides, pads, dilations, group


def _check_kernel_shape(props: Props, w: TensorType) -> None:
    kernel = props.opt_ints("kernel_shape")
    if kernel is not None and kernel != list(w.shape[2:]):
        raise ValueError(f"'kernel_shape' {kernel} does not match the weight's spatial dims {list(w.shape[2:])}")


def _conv_operands(types: list[TensorType]) -> tuple[TensorType, TensorType, TensorType | None]:
    x, w, b = _expect(types, 2, 1)
    _check_element(x, FLOAT_TYPES, "the input")
    for what, t in (("the weight", w), ("the bias", b)):
        if t is not None and t.element_type != x.element_type:
            raise ValueError(f"{what} '{t}' must have the input's element type {x.element_type}")
    if x.rank != 4:
        raise ValueError(f"expected a 4-D input [N, C, H, W], got '{x}'")
    if w.rank != 4:
        raise ValueError(f"expected a 4-D weight, got '{w}'")
    return x, w, b


def _window_out(
    size: int, pad_begin: int, pad_end: int, kernel: int, stride: int, dilation: int, ceil: bool, dim: str
) -> int:
    """ONNX's output size of a sliding window (ceil: the last window must start in the input
    or its leading padding)."""
    extent = dilation * (kernel - 1) + 1
    padded = size + pad_begin + pad_end
    if extent > padded:
        raise ValueError(f"kernel of extent {extent} is larger than the padded input ({padded}) along dimension {dim}")
    span = padded - extent
    out = (-(-span // stride) if ceil else span // stride) + 1
    if ceil and (out - 1) * stride >= size + pad_begin:
        out -= 1
    return out


@define_op("tensor.conv2d")
class Conv2DOp(TensorOp):
    """2-D convolution, NCHW input, OIHW weight ([M, C/group, kH, kW]), optional bias [M]."""

    input = operand(FloatTensor)
    weight = operand(FloatTensor)
    bias = opt_operand(FloatTensor)
    out = result(FloatTensor)
    kernel_shape = prop(ArrayAttr, optional=True)
    strides = prop(ArrayAttr, optional=True)
    pads = prop(ArrayAttr, optional=True)
    dilations = prop(ArrayAttr, optional=True)
    group = prop(IntegerAttr, optional=True)

    @classmethod
    def _infer(cls, types, props, **kwargs):
        x, w, b = _conv_operands(types)
        strides, pads, dilations, group = _conv_attrs(props)
        _check_kernel_shape(props, w)
        n, c, h, wd = x.shape
        m, cg, kh, kw = w.shape
        if c != cg * group:
            raise ValueError(
                f"channel mismatch: input has {c} channels but weight expects {cg * group} (group {group})"
            )
        if m % group:
            raise ValueError(f"the weight's {m} output channels are not divisible by 'group' {group}")
        if b is not None and b.shape != (m,):
            raise ValueError(f"expected a bias of shape [{m}], got '{b}'")
        oh = _window_out(h, pads[0], pads[2], kh, strides[0], dilations[0], False, "H")
        ow = _window_out(wd, pads[1], pads[3], kw, strides[1], dilations[1], False, "W")
        return [TensorType((n, m, oh, ow), x.element_type)]

    def _reference(self, x, w, b=None):
        strides, pads, dilations, group = _conv_attrs(self.attrs)
        return [conv2d_reference(x, w, b, strides, pads, dilations, group, self.results[0].type.shape)]


def conv2d_reference(x, w, b, strides, pads, dilations, group, out_shape) -> np.ndarray:
    n = x.shape[0]
    m, cg, kh, kw = w.shape
    _, _, oh, ow = out_shape
    (sh, sw), (dh, dw) = strides, dilations
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    xg = xp.reshape(n, group, cg, *xp.shape[2:])
    wg = w.astype(np.float64).reshape(group, m // group, cg, kh, kw)
    y = np.zeros((n, group, m // group, oh, ow))
    for i in range(kh):
        for j in range(kw):
            patch = xg[:, :, :, i * dh : i * dh + (oh - 1) * sh + 1 : sh, j * dw : j * dw + (ow - 1) * sw + 1 : sw]
            y += np.einsum("ngcyx,gmc->ngmyx", patch, wg[:, :, :, i, j])
    y = y.reshape(n, m, oh, ow)
    if b is not None:
        y += b.astype(np.float64).reshape(1, m, 1, 1)
    return y


@define_op("tensor.conv_transpose2d")
class ConvTranspose2DOp(TensorOp):
    """Transposed 2-D convolution, weight [C, M/group, kH, kW]; output size
    stride * (H - 1) + output_padding + dilation * (k - 1) + 1 - pad_begin - pad_end."""

    input = operand(FloatTensor)
    weight = operand(FloatTensor)
    bias = opt_operand(FloatTensor)
    out = result(FloatTensor)
    kernel_shape = prop(ArrayAttr, optional=True)
    strides = prop(ArrayAttr, optional=True)
    pads = prop(ArrayAttr, optional=True)
    dilations = prop(ArrayAttr, optional=True)
    group = prop(IntegerAttr, optional=True)
    output_padding = prop(ArrayAttr, optional=True)

    @classmethod
    def _infer(cls, types, props, **kwargs):
        x, w, b = _conv_operands(types)
        strides, pads, dilations, group = _conv_attrs(props)
        _check_kernel_shape(props, w)
        out_pad = props.ints("output_padding", (0, 0), 2)
        _non_negative("output_padding", out_pad)
        for i in range(2):
            if out_pad[i] >= _max(strides[i], dilations[i]):
                raise ValueError(f"expected 'output_padding' {out_pad} to be smaller than the stride or the dilation")
        n, c, h, wd = x.shape
        cw, mg, kh, kw = w.shape
        if c != cw:
            raise ValueError(f"channel mismatch: input has {c} channels but weight expects {cw} (group {group})")
        if c % group:
            raise ValueError(f"the input's {c} channels are not divisible by 'group' {group}")
        m = mg * group
        if b is not None and b.shape != (m,):
            raise ValueError(f"expected a bias of shape [{m}], got '{b}'")
        sizes = []
        for dim, size, k, s, d, p0, p1, op in (
            ("H", h, kh, strides[0], dilations[0], pads[0], pads[2], out_pad[0]),
            ("W", wd, kw, strides[1], dilations[1], pads[1], pads[3], out_pad[1]),
        ):
            out = s * (size - 1) + op + d * (k - 1) + 1 - p0 - p1
            if out <= 0:
                raise ValueError(f"the padding removes the whole output along dimension {dim} (size {out})")
            sizes.append(out)
        return [TensorType((n, m, *sizes), x.element_type)]

    def _reference(self, x, w, b=None):
        p = self.attrs
        (sh, sw), pads, (dh, dw), group = _conv_attrs(p)
        n, c, h, wd = x.shape
        _, mg, kh, kw = w.shape
        _, m, oh, ow = self.results[0].type.shape
        full_h = sh * (h - 1) + dh * (kh - 1) + 1 + pads[0] + oh
        full_w = sw * (wd - 1) + dw * (kw - 1) + 1 + pads[1] + ow
        full = np.zeros((n, group, mg, full_h, full_w))
        xg = x.astype(np.float64).reshape(n, group, c // group, h, wd)
        wg = w.astype(np.float64).reshape(group, c // group, mg, kh, kw)
        for i in range(kh):
            for j in range(kw):
                contrib = np.einsum("ngcyx,gcm->ngmyx", xg, wg[:, :, :, i, j])
                full[:, :, :, i * dh : i * dh + (h - 1) * sh + 1 : sh, j * dw : j * dw + (wd - 1) * sw + 1 : sw] += (
                    contrib
                )
        y = full.reshape(n, m, full_h, full_w)[:, :, pads[0] : pads[0] + oh, pads[1] : pads[1] + ow]
        if b is not None:
            y = y + b.astype(np.float64).reshape(1, m, 1, 1)
        return [y]


# ----------------------------------------------------------------------------- pooling
def _pool_attrs(props: Props) -> tuple[list[int], list[int], list[int], list[int], bool]:
    kernel = props.ints("kernel_shape", None, 2)
    strides = props.ints("strides", (1, 1), 2)
    pads = props.ints("pads", (0, 0, 0, 0), 4)
    dilations = props.ints("dilations", (1, 1), 2)
    _positive("kernel_shape", kernel)
    _positive("strides", strides)
    _non_negative("pads", pads)
    _positive("dilations", dilations)
    for i, pad in enumerate(pads):
        extent = dilations[i % 2] * (kernel[i % 2] - 1) + 1
        if pad >= extent:
            raise ValueError(f"expected 'pads' entries to be smaller than the kernel extent {extent}, got {pads}")
    return kernel, strides, pads, dilations, props.flag("ceil_mode", False)


def _check_windows(size: int, pad_begin: int, kernel: int, stride: int, dilation: int, out: int, dim: str) -> None:
    """Every pooling window must hold an input element (else max and average are undefined)."""
    for o in range(out):
        start = o * stride - pad_begin
        if not any(0 <= start + k * dilation < size for k in range(kernel)):
            raise ValueError(f"pooling window {o} along dimension {dim} covers only padding")


def _pool_windows(x: np.ndarray, kernel, strides, pads, dilations, out_hw, fill) -> np.ndarray:
    """Every window's taps, stacked on a last axis: [N, C, oH, oW, kH * kW]. Cells outside
    the input hold `fill`."""
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel, strides, dilations, out_hw
    total_h = _max(pads[0] + (oh - 1) * sh + (kh - 1) * dh + 1, pads[0] + h + pads[2])
    total_w = _max(pads[1] + (ow - 1) * sw + (kw - 1) * dw + 1, pads[1] + w + pads[3])
    xp = np.full((n, c, total_h, total_w), fill, dtype=x.dtype)
    xp[:, :, pads[0] : pads[0] + h, pads[1] : pads[1] + w] = x
    taps = [
        xp[:, :, i * dh : i * dh + (oh - 1) * sh + 1 : sh, j * dw : j * dw + (ow - 1) * sw + 1 : sw]
        for i in range(kh)
        for j in range(kw)
    ]
    return np.stack(taps, axis=-1)


class _Pool2D(TensorOp):
    input = operand(NumericTensor)
    out = result(NumericTensor)
    kernel_shape = prop(ArrayAttr)
    strides = prop(ArrayAttr, optional=True)
    pads = prop(ArrayAttr, optional=True)
    dilations = prop(ArrayAttr, optional=True)
    ceil_mode = prop(IntegerAttr, optional=True)
    allowed: ClassVar[tuple[Type, ...]] = NUMERIC_TYPES

    @classmethod
    def _infer(cls, types, props, **kwargs):
        (x,) = _expect(types, 1)
        _check_element(x, cls.allowed, "the input")
        if x.rank != 4:
            raise ValueError(f"expected a 4-D input [N, C, H, W], got '{x}'")
        kernel, strides, pads, dilations, ceil = _pool_attrs(props)
        cls.check_attrs(props)
        n, c, h, w = x.shape
        oh = _window_out(h, pads[0], pads[2], kernel[0], strides[0], dilations[0], ceil, "H")
        ow = _window_out(w, pads[1], pads[3], kernel[1], strides[1], dilations[1], ceil, "W")
        _check_windows(h, pads[0], kernel[0], strides[0], dilations[0], oh, "H")
        _check_windows(w, pads[1], kernel[1], strides[1], dilations[1], ow, "W")
        return [TensorType((n, c, oh, ow), x.element_type)]

    @classmethod
    def check_attrs(cls, props: Props) -> None:
        pass


@define_op("tensor.max_pool2d")
class MaxPool2DOp(_Pool2D):
    def _reference(self, x):
        kernel, strides, pads, dilations, _ = _pool_attrs(self.attrs)
        fill = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
        out_hw = self.results[0].type.shape[2:]
        return [_pool_windows(x, kernel, strides, pads, dilations, out_hw, fill).max(axis=-1)]


@define_op("tensor.avg_pool2d")
class AvgPool2DOp(_Pool2D):
    """Average over each window; padding cells count only with `count_include_pad` (and cells
    past the padding, in ceil mode, never count)."""

    input = operand(FloatTensor)
    out = result(FloatTensor)
    count_include_pad = prop(IntegerAttr, optional=True)
    allowed = FLOAT_TYPES

    @classmethod
    def check_attrs(cls, props):
        props.flag("count_include_pad", False)

    def _reference(self, x):
        kernel, strides, pads, dilations, _ = _pool_attrs(self.attrs)
        include_pad = self.attrs.flag("count_include_pad", False)
        h, w = x.shape[2:]
        out_hw = self.results[0].type.shape[2:]
        sums = _pool_windows(x.astype(np.float64), kernel, strides, pads, dilations, out_hw, 0.0).sum(axis=-1)
        if include_pad:
            ones = np.ones((1, 1, h + pads[0] + pads[2], w + pads[1] + pads[3]))
            counts = _pool_windows(ones, kernel, strides, [0, 0, 0, 0], dilations, out_hw, 0.0).sum(axis=-1)
        else:
            ones = np.ones((1, 1, h, w))
            counts = _pool_windows(ones, kernel, strides, pads, dilations, out_hw, 0.0).sum(axis=-1)
        return [sums / np.maximum(counts, 1.0)]


class _GlobalPool(TensorOp):
    input = operand(NumericTensor)
    out = result(NumericTensor)
    allowed: ClassVar[tuple[Type, ...]] = NUMERIC_TYPES

    @classmethod
    def _infer(cls, types, props, **kwargs):
        (x,) = _expect(types, 1)
        _check_element(x, cls.allowed, "the input")
        if x.rank != 4:
            raise ValueError(f"expected a 4-D input [N, C, H, W], got '{x}'")
        if x.shape[2] == 0 or x.shape[3] == 0:
            raise ValueError(f"cannot pool an empty image, got '{x}'")
        return [TensorType((*x.shape[:2], 1, 1), x.element_type)]


@define_op("tensor.global_avg_pool")
class GlobalAvgPoolOp(_GlobalPool):
    input = operand(FloatTensor)
    out = result(FloatTensor)
    allowed = FLOAT_TYPES

    def _reference(self, x):
        return [x.astype(np.float64).mean(axis=(2, 3), keepdims=True)]


@define_op("tensor.global_max_pool")
class GlobalMaxPoolOp(_GlobalPool):
    def _reference(self, x):
        return [x.max(axis=(2, 3), keepdims=True)]


# ----------------------------------------------------------------------------- reductions
class _Reduce(TensorOp):
    input = operand(NumericTensor)
    out = result(NumericTensor)
    axes = prop(ArrayAttr, optional=True)
    keepdims = prop(IntegerAttr, optional=True)
    needs_elements: ClassVar[bool] = False

    @classmethod
    def reduced_axes(cls, rank: int, props: Props) -> list[int]:
        axes = props.opt_ints("axes")
        if not axes:  # absent or empty: every axis (ONNX with noop_with_empty_axes = 0)
            return list(range(rank))
        return sorted(_axes(axes, rank))

    @classmethod
    def _infer(cls, types, props, **kwargs):
        (x,) = _expect(types, 1)
        _check_element(x, NUMERIC_TYPES, "operand #0")
        axes = cls.reduced_axes(x.rank, props)
        keep = props.flag("keepdims", True)
        if cls.needs_elements and any(x.shape[a] == 0 for a in axes):
            raise ValueError(f"cannot reduce over an empty dimension of '{x}'")
        shape = [1 if i in axes else d for i, d in enumerate(x.shape) if keep or i not in axes]
        return [TensorType(shape, x.element_type)]

    def _reference(self, x):
        p = self.attrs
        axes = tuple(self.reduced_axes(x.ndim, p))
        return [self.compute(x, axes, p.flag("keepdims", True))]

    def compute(self, x: np.ndarray, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
        raise NotImplementedError


def _wide(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float64 if x.dtype.kind == "f" else np.int64)


@define_op("tensor.reduce_sum")
class ReduceSumOp(_Reduce):
    def compute(self, x, axes, keepdims):
        return np.sum(_wide(x), axis=axes, keepdims=keepdims)


@define_op("tensor.reduce_mean")
class ReduceMeanOp(_Reduce):
    needs_elements = True

    def compute(self, x, axes, keepdims):
        return np.mean(x.astype(np.float64), axis=axes, keepdims=keepdims)


@define_op("tensor.reduce_max")
class ReduceMaxOp(_Reduce):
    needs_elements = True

    def compute(self, x, axes, keepdims):
        return np.max(x, axis=axes, keepdims=keepdims)


@define_op("tensor.reduce_min")
class ReduceMinOp(_Reduce):
    needs_elements = True

    def compute(self, x, axes, keepdims):
        return np.min(x, axis=axes, keepdims=keepdims)


@define_op("tensor.reduce_prod")
class ReduceProdOp(_Reduce):
    def compute(self, x, axes, keepdims):
        return np.prod(_wide(x), axis=axes, keepdims=keepdims)


@define_op("tensor.argmax")
class ArgMaxOp(TensorOp):
    """Index (i64) of the largest element along `axis`: the first one, or the last one with
    `select_last_index`."""

    input = operand(NumericTensor)
    out = result(_tensor_of((i64,), "tensor of i64 values"))
    axis = prop(IntegerAttr, optional=True)
    keepdims = prop(IntegerAttr, optional=True)
    select_last_index = prop(IntegerAttr, optional=True)

    @classmethod
    def _infer(cls, types, props, **kwargs):
        (x,) = _expect(types, 1)
        _check_element(x, NUMERIC_TYPES, "operand #0")
        if x.rank == 0:
            raise ValueError(f"expected an operand of rank at least 1, got '{x}'")
        axis = _axis(props.int("axis", 0), x.rank)
        props.flag("select_last_index", False)
        if x.shape[axis] == 0:
            raise ValueError(f"cannot take the argmax over an empty dimension of '{x}'")
        keep = props.flag("keepdims", True)
        shape = [1 if i == axis else d for i, d in enumerate(x.shape) if keep or i != axis]
        return [TensorType(shape, i64)]

    def _reference(self, x):
        p = self.attrs
        axis = _axis(p.int("axis", 0), x.ndim)
        if p.flag("select_last_index", False):
            index = x.shape[axis] - 1 - np.argmax(np.flip(x, axis=axis), axis=axis)
        else:
            index = np.argmax(x, axis=axis)
        if p.flag("keepdims", True):
            index = np.expand_dims(index, axis)
        return [index]


# ----------------------------------------------------------------------------- normalization
class _Softmax(TensorOp):
    input = operand(FloatTensor)
    out = result(FloatTensor)
    axis = prop(IntegerAttr, optional=True)
    traits = (Pure(), SameOperandsAndResultType())

    @classmethod
    def _infer(cls, types, props, **kwargs):
        (x,) = _expect(types, 1)
        _check_element(x, FLOAT_TYPES, "operand #0")
        if x.rank == 0:
            raise ValueError(f"expected an operand of rank at least 1, got '{x}'")
        _axis(props.int("axis", -1), x.rank)
        return [x]

    def _shifted(self, x: np.ndarray) -> tuple[np.ndarray, int]:
        axis = _axis(self.attrs.int("axis", -1), x.ndim)
        x = x.astype(np.float64)
        return x - np.max(x, axis=axis, keepdims=True), axis


@define_op("tensor.softmax")
class SoftmaxOp(_Softmax):
    def _reference(self, x):
        shifted, axis = self._shifted(x)
        e = np.exp(shifted)
        return [e / np.sum(e, axis=axis, keepdims=True)]


@define_op("tensor.log_softmax")
class LogSoftmaxOp(_Softmax):
    def _reference(self, x):
        shifted, axis = self._shifted(x)
        return [shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))]


@define_op("tensor.batch_norm")
class BatchNormOp(TensorOp):
    """Inference batch normalization over channel axis 1:
    (x - mean) / sqrt(var + epsilon) * scale + bias."""

    input = operand(FloatTensor)
    scale = operand(FloatTensor)
    bias = operand(FloatTensor)
    mean = operand(FloatTensor)
    var = operand(FloatTensor)
    out = result(FloatTensor)
    epsilon = prop((FloatAttr, IntegerAttr), optional=True)

    @classmethod
    def _infer(cls, types, props, **kwargs):
        x, *params = _expect(types, 5)
        _check_element(x, FLOAT_TYPES, "the input")
        if x.rank < 2:
            raise ValueError(f"expected an input of rank at least 2 [N, C, ...], got '{x}'")
        props.float("epsilon", 1e-5)
        c = x.shape[1]
        for name, t in zip(("scale", "bias", "mean", "var"), params, strict=True):
            if t.shape != (c,) or t.element_type != x.element_type:
                raise ValueError(f"expected {name} of type '{TensorType((c,), x.element_type)}', got '{t}'")
        return [x]

    def _reference(self, x, scale, bias, mean, var):
        shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
        eps = self.attrs.float("epsilon", 1e-5)
        s, b, m, v = (np.asarray(a, dtype=np.float64).reshape(shape) for a in (scale, bias, mean, var))
        return [(x.astype(np.float64) - m) / np.sqrt(v + eps) * s + b]


@define_op("tensor.layer_norm")
class LayerNormOp(TensorOp):
    """Normalize over the axes [axis, rank): (x - mean) / sqrt(var + epsilon) * scale + bias;
    scale and bias broadcast to the normalized shape."""

    input = operand(FloatTensor)
    scale = operand(FloatTensor)
    bias = opt_operand(FloatTensor)
    out = result(FloatTensor)
    axis = prop(IntegerAttr, optional=True)
    epsilon = prop((FloatAttr, IntegerAttr), optional=True)

    @classmethod
    def _infer(cls, types, props, **kwargs):
        x, scale, bias = _expect(types, 2, 1)
        _check_element(x, FLOAT_TYPES, "the input")
        if x.rank == 0:
            raise ValueError(f"expected an input of rank at least 1, got '{x}'")
        axis = _axis(props.int("axis", -1), x.rank)
        props.float("epsilon", 1e-5)
        normalized = x.shape[axis:]
        for name, t in (("scale", scale), ("bias", bias)):
            if t is None:
                continue
            if t.element_type != x.element_type:
                raise ValueError(f"expected {name} with element type {x.element_type}, got '{t}'")
            if not _broadcasts_to(t.shape, normalized):
                raise ValueError(
                    f"{name} of shape [{_shape_text(t.shape)}] does not broadcast to the normalized shape "
                    f"[{_shape_text(normalized)}]"
                )
        return [x]

    def _reference(self, x, scale, bias=None):
        p = self.attrs
        axes = tuple(range(_axis(p.int("axis", -1), x.ndim), x.ndim))
        x = x.astype(np.float64)
        mean = x.mean(axis=axes, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
        y = (x - mean) / np.sqrt(var + p.float("epsilon", 1e-5)) * scale.astype(np.float64)
        if bias is not None:
            y = y + bias.astype(np.float64)
        return [y]


# ----------------------------------------------------------------------------- shape ops
class _ShapeOp(TensorOp):
    input = operand(AnyTensorOf)
    out = result(AnyTensorOf)


def _perm(props: Props, rank: int) -> list[int]:
    perm = props.opt_ints("perm")
    if perm is None:
        return list(range(rank))[::-1]
    if sorted(perm) != list(range(rank)):
        raise ValueError(f"expected 'perm' to be a permutation of [0, {rank}), got {perm}")
    return perm


@define_op("tensor.transpose")
class TransposeOp(_ShapeOp):
    """Permute dimensions: result dim i is input dim perm[i] (default: reversed)."""

    perm = prop(ArrayAttr, optional=True)

    @classmethod
    def _infer(cls, types, props, **kwargs):
        (x,) = _expect(types, 1)
        _check_element(x, ALL_TYPES, "operand #0")
        perm = _perm(props, x.rank)
        return [TensorType([x.shape[p] for p in perm], x.element_type)]

    def permutation(self) -> list[int]:
        return _perm(self.attrs, self._operands[0].type.rank)

    def _reference(self, x):
        return [np.transpose(x, self.permutation())]

    @classmethod
    def canonicalization_patterns(cls):
        return [FoldTransposeOfTranspose(), FoldIdentityTranspose()]


def reshape_target(in_shape: Sequence[int], shape: Sequence[int], allowzero: bool) -> tuple[int, ...]:
    """ONNX Reshape's output shape: 0 copies the input dim (unless allowzero), one -1 is inferred."""
    if any(d < -1 for d in shape):
        raise ValueError(f"expected 'shape' entries of at least -1, got {list(shape)}")
    if list(shape).count(-1) > 1:
        raise ValueError(f"expected at most one -1 in 'shape', got {list(shape)}")
    if allowzero and -1 in shape and 0 in shape:
        raise ValueError(f"'shape' {list(shape)} has both 0 and -1 with 'allowzero'")
    out = []
    for i, d in enumerate(shape):
        if d == 0 and not allowzero:
            if i >= len(in_shape):
                raise ValueError(f"'shape' entry {i} is 0 but the input has only {len(in_shape)} dims")
            d = in_shape[i]
        out.append(d)
    total = _prod(in_shape)
    if -1 in out:
        known = _prod([d for d in out if d != -1])
        if known == 0 or total % known:
            raise ValueError(f"cannot reshape [{_shape_text(in_shape)}] ({total} elements) to {list(shape)}")
        out[out.index(-1)] = total // known
    if _prod(out) != total:
        raise ValueError(
            f"cannot reshape [{_shape_text(in_shape)}] ({total} elements) to [{_shape_text(out)}] "
            f"({_prod(out)} elements)"
        )
    return tuple(out)


@define_op("tensor.reshape")
class ReshapeOp(_ShapeOp):
    """Same elements in row-major order, new shape (`shape`: 0 copies a dim, one -1 is inferred)."""

    shape = prop(ArrayAttr)
    allowzero = prop(IntegerAttr, optional=True)

    @classmethod
    def _infer(cls, types, props, **kwargs):
        (x,) = _expect(types, 1)
        _check_element(x, ALL_TYPES, "operand #0")
        target = reshape_target(x.shape, props.ints("shape"), props.flag("allowzero", False))
        return [TensorType(target, x.element_type)]

    def _reference(self, x):
        return [x.reshape(self.results[0].type.shape)]

    @classmethod
    def canonicalization_patterns(cls):
        return [FoldReshapeOfReshape(), FoldIdentityReshape()]


@define_op("tensor.flatten")
class FlattenOp(_ShapeOp):
    """[d0 * ... * d(axis-1), d(axis) * ... * d(rank-1)]; axis in [-rank, rank]."""

    axis = prop(IntegerAttr, optional=True)

    @classmethod
    def _infer(cls, types, props, **kwargs):
        (x,) = _expect(types, 1)
        _check_element(x, ALL_TYPES, "operand #0")
        axis = props.int("axis", 1)
        if not -x.rank <= axis <= x.rank:
            raise ValueError(f"'axis' {axis} is out of range for rank {x.rank} (expected [{-x.rank}, {x.rank}])")
        axis = axis + x.rank if axis < 0 else axis
        return [TensorType((_prod(x.shape[:axis]), _prod(x.shape[axis:])), x.element_type)]

    def _reference(self, x):
        return [x.reshape(self.results[0].type.shape)]


@define_op("tensor.squeeze")
class SqueezeOp(_ShapeOp):
    """Drop the size-1 dims `axes` (default: every size-1 dim)."""

    axes = prop(ArrayAttr, optional=True)

    @classmethod
    def _infer(cls, types, props, **kwargs):
        (x,) = _expect(types, 1)
        _check_element(x, ALL_TYPES, "operand #0")
        axes = props.opt_ints("axes")
        if axes is None:
            drop = [i for i, d in enumerate(x.shape) if d == 1]
        else:
            drop = _axes(axes, x.rank)
            for a in drop:
                if x.shape[a] != 1:
                    raise ValueError(f"cannot squeeze dimension {a} of '{x}': its size is {x.shape[a]}, not 1")
        return [TensorType([d for i, d in enumerate(x.shape) if i not in drop], x.element_type)]

    def _reference(self, x):
        return [x.reshape(self.results[0].type.shape)]


@define_op("tensor.unsqueeze")
class UnsqueezeOp(_ShapeOp):
    """Insert size-1 dims at `axes` (positions in the output)."""

    axes = prop(ArrayAttr)

    @classmethod
    def _infer(cls, types, props, **kwargs):
        (x,) = _expect(types, 1)
        _check_element(x, ALL_TYPES, "operand #0")
        axes = props.ints("axes")
        rank = x.rank + len(axes)
        positions = set(_axes(axes, rank))
        dims = iter(x.shape)
        return [TensorType([1 if i in positions else next(dims) for i in range(rank)], x.element_type)]

    def _reference(self, x):
        return [x.reshape(self.results[0].type.shape)]


@define_op("tensor.broadcast_to")
class BroadcastToOp(_ShapeOp):
    """ONNX Expand: the input broadcast with `shape` (both ways, so the result may be larger
    than `shape`)."""

    shape = prop(ArrayAttr)

    @classmethod
    def _infer(cls, types, props, **kwargs):
        (x,) = _expect(types, 1)
        _check_element(x, ALL_TYPES, "operand #0")
        shape = props.ints("shape")
        _non_negative("shape", shape)
        return [TensorType(broadcast_shapes(x.shape, shape), x.element_type)]

    def _reference(self, x):
        return [np.broadcast_to(x, self.results[0].type.shape)]

    @classmethod
    def canonicalization_patterns(cls):
        return [FoldIdentityBroadcast()]


@define_op("tensor.concat")
class ConcatOp(TensorOp):
    """Join along `axis`; the other dims must agree."""

    inputs = var_operand(AnyTensorOf)
    out = result(AnyTensorOf)
    axis = prop(IntegerAttr)

    @classmethod
    def _infer(cls, types, props, **kwargs):
        if not types:
            raise ValueError("expected at least 1 operand, got 0")
        first = types[0]
        _check_element(first, ALL_TYPES, "operand #0")
        if first.rank == 0:
            raise ValueError(f"cannot concatenate rank-0 tensors, got '{first}'")
        axis = _axis(props.int("axis"), first.rank)
        total = 0
        for i, t in enumerate(types):
            if t.element_type != first.element_type or t.rank != first.rank:
                raise ValueError(f"operand #{i} '{t}' must have the rank and element type of '{first}'")
            for d in range(first.rank):
                if d != axis and t.shape[d] != first.shape[d]:
                    raise ValueError(
                        f"operand #{i} '{t}' differs from '{first}' in dimension {d}, which is not the axis {axis}"
                    )
            total += t.shape[axis]
        shape = list(first.shape)
        shape[axis] = total
        return [TensorType(shape, first.element_type)]

    def _reference(self, *inputs):
        return [np.concatenate(inputs, axis=_axis(self.attrs.int("axis"), inputs[0].ndim))]


@define_op("tensor.split")
class SplitOp(TensorOp):
    """Cut along `axis` into the sizes `split` (default: equal parts, one per result; the last
    part smaller when the dim does not divide)."""

    input = operand(AnyTensorOf)
    outs = var_result(AnyTensorOf)
    axis = prop(IntegerAttr, optional=True)
    split = prop(ArrayAttr, optional=True)

    @classmethod
    def _infer(cls, types, props, num_results: int | None = None, **kwargs):
        (x,) = _expect(types, 1)
        _check_element(x, ALL_TYPES, "operand #0")
        if x.rank == 0:
            raise ValueError(f"cannot split a rank-0 tensor, got '{x}'")
        axis = _axis(props.int("axis", 0), x.rank)
        dim = x.shape[axis]
        sizes = props.opt_ints("split")
        if sizes is not None:
            _non_negative("split", sizes)
            if sum(sizes) != dim:
                raise ValueError(f"'split' {sizes} sums to {sum(sizes)}, but dimension {axis} has size {dim}")
            if num_results is not None and len(sizes) != num_results:
                raise ValueError(f"'split' has {len(sizes)} entries but the op has {num_results} results")
        else:
            if num_results is None:
                raise ValueError("needs the 'split' sizes or the number of results (num_results)")
            if num_results < 1:
                raise ValueError("expected at least 1 result")
            chunk = -(-dim // num_results)
            sizes = [chunk] * (num_results - 1) + [dim - chunk * (num_results - 1)]
            if sizes[-1] < 0 or (sizes[-1] == 0 and dim > 0):
                raise ValueError(f"cannot split dimension {axis} of size {dim} into {num_results} parts")
        out = []
        for s in sizes:
            shape = list(x.shape)
            shape[axis] = s
            out.append(TensorType(shape, x.element_type))
        return out

    def _inferred(self) -> list[Type]:
        return type(self).infer_result_types(
            [v.type for v in self._operands], self.properties, num_results=len(self.results)
        )

    def _reference(self, x):
        axis = _axis(self.attrs.int("axis", 0), x.ndim)
        bounds = np.cumsum([r.type.shape[axis] for r in self.results])[:-1]
        return np.split(x, bounds, axis=axis)


def slice_bounds(dim: int, start: int, end: int, step: int) -> tuple[int, int, int]:
    """ONNX Slice clamping: (start, end, size), end == -1 meaning 'before index 0' for negative steps."""
    if dim == 0:
        return 0, 0, 0
    if start < 0:
        start += dim
    if end < 0:
        end += dim
    if step > 0:
        start = _min(_max(start, 0), dim)
        end = _min(_max(end, 0), dim)
    else:
        start = _min(_max(start, 0), dim - 1)
        end = _min(_max(end, -1), dim - 1)
    return start, end, len(range(start, end, step))


def _slice_params(x: TensorType, props: Props) -> list[tuple[int, int, int, int]]:
    """(axis, start, end, step) per sliced axis."""
    starts = props.ints("starts")
    ends = props.ints("ends")
    n = len(starts)
    if len(ends) != n:
        raise ValueError(f"expected 'starts' and 'ends' of one length, got {n} and {len(ends)}")
    axes = _axes(props.ints("axes", list(range(n))), x.rank)
    steps = props.ints("steps", [1] * n)
    for name, values in (("axes", axes), ("steps", steps)):
        if len(values) != n:
            raise ValueError(f"expected '{name}' to have {n} entries (one per start), got {len(values)}")
    if 0 in steps:
        raise ValueError(f"expected 'steps' entries to be nonzero, got {steps}")
    return list(zip(axes, starts, ends, steps, strict=True))


@define_op("tensor.slice")
class SliceOp(_ShapeOp):
    """ONNX Slice: starts/ends clamped to the dim (negative values count from the end),
    negative steps walk backwards."""

    starts = prop(ArrayAttr)
    ends = prop(ArrayAttr)
    axes = prop(ArrayAttr, optional=True)
    steps = prop(ArrayAttr, optional=True)

    @classmethod
    def _infer(cls, types, props, **kwargs):
        (x,) = _expect(types, 1)
        _check_element(x, ALL_TYPES, "operand #0")
        shape = list(x.shape)
        for axis, start, end, step in _slice_params(x, props):
            shape[axis] = slice_bounds(x.shape[axis], start, end, step)[2]
        return [TensorType(shape, x.element_type)]

    def _reference(self, x):
        index: list[Any] = [_slice(None)] * x.ndim
        for axis, start, end, step in _slice_params(self._operands[0].type, self.attrs):
            s, e, _ = slice_bounds(x.shape[axis], start, end, step)
            index[axis] = _slice(s, None if e < 0 else e, step)
        return [x[tuple(index)]]


@define_op("tensor.pad")
class PadOp(_ShapeOp):
    """Pad with `pads` (all begins, then all ends): `mode` "constant" (with `value`),
    "reflect" (mirror without the edge) or "edge" (repeat the edge)."""

    pads = prop(ArrayAttr)
    mode = prop(StringAttr, optional=True)
    value = prop((FloatAttr, IntegerAttr), optional=True)

    @classmethod
    def _infer(cls, types, props, **kwargs):
        (x,) = _expect(types, 1)
        _check_element(x, ALL_TYPES, "operand #0")
        pads = props.ints("pads", None, 2 * x.rank)
        _non_negative("pads", pads)
        mode = props.string("mode", "constant", ("constant", "reflect", "edge"))
        props.number("value", x.element_type)
        begins, ends = pads[: x.rank], pads[x.rank :]
        for i, d in enumerate(x.shape):
            if mode == "reflect" and _max(begins[i], ends[i]) >= d and (begins[i] or ends[i]):
                raise ValueError(f"reflect padding of dimension {i} (size {d}) must be smaller than the size")
            if mode == "edge" and d == 0 and (begins[i] or ends[i]):
                raise ValueError(f"edge padding of the empty dimension {i}")
        return [TensorType([d + b + e for d, b, e in zip(x.shape, begins, ends, strict=True)], x.element_type)]

    def _reference(self, x):
        p = self.attrs
        pads = p.ints("pads")
        widths = list(zip(pads[: x.ndim], pads[x.ndim :], strict=True))
        mode = p.string("mode", "constant", ("constant", "reflect", "edge"))
        if x.ndim == 0:
            return [x]
        if mode != "constant":
            return [np.pad(x, widths, mode=mode)]
        value = p.number("value", self._operands[0].type.element_type) or 0
        return [np.pad(x, widths, mode="constant", constant_values=np.array(value).astype(x.dtype))]


@define_op("tensor.gather")
class GatherOp(TensorOp):
    """ONNX Gather: data[..., indices, ...] along `axis`; negative indices count from the end."""

    data = operand(AnyTensorOf)
    indices = operand(IndexTensor)
    out = result(AnyTensorOf)
    axis = prop(IntegerAttr, optional=True)

    @classmethod
    def _infer(cls, types, props, **kwargs):
        data, indices = _expect(types, 2)
        _check_element(data, ALL_TYPES, "the data")
        _check_element(indices, INDEX_TYPES, "the indices")
        if data.rank == 0:
            raise ValueError(f"expected data of rank at least 1, got '{data}'")
        axis = _axis(props.int("axis", 0), data.rank)
        shape = (*data.shape[:axis], *indices.shape, *data.shape[axis + 1 :])
        return [TensorType(shape, data.element_type)]

    def _reference(self, data, indices):
        axis = _axis(self.attrs.int("axis", 0), data.ndim)
        n = data.shape[axis]
        idx = indices.astype(np.int64)
        bad = (idx < -n) | (idx >= n)
        if bad.any():
            raise ValueError(
                f"'{self.name}' index {int(idx[bad].reshape(-1)[0])} is out of range for dimension {axis} of size {n}"
            )
        return [np.take(data, np.where(idx < 0, idx + n, idx), axis=axis)]


# ----------------------------------------------------------------------------- canonicalization
def _splat_value(value: Value) -> float | None:
    """The single value of a splat (or uniform) constant tensor, else None."""
    attr = constant_attr(value)
    if isinstance(attr, DenseElementsAttr) and (attr.splat or attr.type.num_elements <= FOLD_LIMIT):
        arr = attr.to_numpy()
        if arr.size and (arr == arr.reshape(-1)[0]).all():
            return arr.reshape(-1)[0].item()
    return None


class _FoldIdentityOperand(RewritePattern):
    """x op c -> x when c is a splat of `identity` and the result type is x's type; with
    `commutes`, c op x -> x too."""

    identity: ClassVar[float]
    commutes: ClassVar[bool] = False

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        lhs, rhs = op.operand(0), op.operand(1)
        candidates = [(lhs, rhs), (rhs, lhs)] if self.commutes else [(lhs, rhs)]
        for x, c in candidates:
            if x.type == op.results[0].type and _splat_value(c) == self.identity:
                rewriter.replace_op(op, [x])
                return True
        return False


class FoldAddZero(_FoldIdentityOperand):
    """x + 0 -> x (as ONNX optimizers do; for floats this turns -0.0 + 0.0 into -0.0)."""

    op_type = AddOp
    identity = 0
    commutes = True


class FoldSubZero(_FoldIdentityOperand):
    """x - 0 -> x."""

    op_type = SubOp
    identity = 0


class FoldMulOne(_FoldIdentityOperand):
    """x * 1 -> x."""

    op_type = MulOp
    identity = 1
    commutes = True


class FoldDivOne(_FoldIdentityOperand):
    """x / 1 -> x."""

    op_type = DivOp
    identity = 1


class FoldTransposeOfTranspose(RewritePattern):
    """transpose(transpose(x, p1), p2) -> transpose(x, p1[p2]), or x when that is the identity."""

    op_type = TransposeOp

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        inner = op.operand(0).defining_op()
        if not isinstance(inner, TransposeOp) or not isinstance(op, TransposeOp):
            return False
        first, second = inner.permutation(), op.permutation()
        combined = [first[p] for p in second]
        source = inner.operand(0)
        if combined == list(range(len(combined))):
            rewriter.replace_op(op, [source])
            return True
        new = TransposeOp(
            operands=[source],
            result_types=[op.results[0].type],
            properties={"perm": _int_array(combined)},
            location=op.location,
        )
        rewriter.replace_op(op, new)
        return True


class FoldIdentityTranspose(RewritePattern):
    """transpose(x, [0, 1, ..., n-1]) -> x."""

    op_type = TransposeOp

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        if not isinstance(op, TransposeOp) or op.permutation() != list(range(op.operand(0).type.rank)):
            return False
        rewriter.replace_op(op, [op.operand(0)])
        return True


class FoldReshapeOfReshape(RewritePattern):
    """reshape(reshape(x)) -> reshape(x) to the outer result shape."""

    op_type = ReshapeOp

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        inner = op.operand(0).defining_op()
        if not isinstance(inner, ReshapeOp):
            return False
        t = op.results[0].type
        props = {"shape": _int_array(t.shape)}
        if 0 in t.shape:  # a 0 in `shape` would otherwise copy the input dim
            props["allowzero"] = IntegerAttr(1)
        new = ReshapeOp(operands=[inner.operand(0)], result_types=[t], properties=props, location=op.location)
        rewriter.replace_op(op, new)
        return True


class _FoldSameType(RewritePattern):
    """op(x) -> x when the result type is x's type (the op then copies its input)."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        if op.operand(0).type != op.results[0].type:
            return False
        rewriter.replace_op(op, [op.operand(0)])
        return True


class FoldIdentityReshape(_FoldSameType):
    """reshape(x) -> x when the shape does not change."""

    op_type = ReshapeOp


class FoldIdentityBroadcast(_FoldSameType):
    """broadcast_to(x) -> x when the shape does not change."""

    op_type = BroadcastToOp


class FoldReluOfRelu(RewritePattern):
    """relu(relu(x)) -> relu(x)."""

    op_type = ReluOp

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        inner = op.operand(0).defining_op()
        if not isinstance(inner, ReluOp):
            return False
        rewriter.replace_op(op, [inner.results[0]])
        return True


# ----------------------------------------------------------------------------- building from Python
def _int_array(values: Sequence[int]) -> ArrayAttr:
    return ArrayAttr([IntegerAttr(int(v)) for v in values])


def _to_attr(value: Any) -> Attribute | None:
    """A Python value as the spec encodes it: int -> i64, list of ints -> array, float -> f32,
    str -> string, Type -> type attribute. None stays None (the attribute is left out)."""
    if value is None or isinstance(value, Attribute):
        return value
    if isinstance(value, bool):
        return IntegerAttr(int(value))
    if isinstance(value, int | np.integer):
        return IntegerAttr(int(value))
    if isinstance(value, float | np.floating):
        return FloatAttr(float(value), f32)
    if isinstance(value, str):
        return StringAttr(value)
    if isinstance(value, Type):
        return TypeAttr(value)
    if isinstance(value, Sequence | np.ndarray):
        return _int_array(value)
    raise TypeError(f"cannot make an attribute of {value!r}")


def _current_builder() -> Any:
    from irc.builder import current_builder

    return current_builder()


def build_op(cls: type[TensorOp], operands: Sequence[Value], location: Location | None = None, **attrs: Any) -> Any:
    """A detached `cls` on `operands` with `attrs` (Python values, see `_to_attr`; a
    `num_results` of split is passed on); ValueError when the types or attributes are bad."""
    props = {k: a for k, v in attrs.items() if (a := _to_attr(v)) is not None}
    num_results = props.pop("num_results", None)
    extra = {"num_results": num_results.value} if num_results is not None else {}
    return cls.build(list(operands), props, location=location, **extra)


def create(cls: type[TensorOp], operands: Sequence[Value], location: Location | None = None, **attrs: Any) -> Any:
    """Build `cls` on `operands` with `attrs` (Python values), insert it at the current
    builder's insertion point if there is one, and return its result (a tuple for split)."""
    op = build_op(cls, operands, location, **attrs)
    b = _current_builder()
    if b is not None:
        b.insert(op)
    return tuple(op.results) if cls is SplitOp else op.results[0]


_DTYPE_ELEMENT_TYPES = {
    "float16": "f16", "float32": "f32", "float64": "f64", "bool": "i1",
    "int8": "i8", "int16": "i16", "int32": "i32", "int64": "i64",
}  # fmt: skip


def _element_type_of_dtype(dtype: np.dtype) -> Type:
    name = _DTYPE_ELEMENT_TYPES.get(np.dtype(dtype).name)
    if name is None:
        raise ValueError(f"no tensor element type for numpy dtype {dtype}")
    if name.startswith("f"):
        return FloatType(name)
    return IntegerType(int(name[1:]))


def constant(value: Any, type: TensorType | None = None) -> Value:
    """A tensor.constant from a DenseElementsAttr, or from an array (and its type)."""
    if not isinstance(value, Attribute):
        arr = np.asarray(value)
        if type is None:
            type = TensorType(arr.shape, _element_type_of_dtype(arr.dtype))
        value = DenseElementsAttr.from_numpy(type, arr)
    op = ConstantOp.build(value)
    b = _current_builder()
    if b is not None:
        b.insert(op)
    return op.results[0]


def _binary(cls: type[TensorOp]) -> Callable[[Value, Value], Value]:
    def build(a: Value, b: Value) -> Value:
        return create(cls, [a, b])

    build.__name__ = cls.name.partition(".")[2]
    build.__doc__ = f"`{cls.name}` of two values (numpy broadcasting)."
    return build


def _unary(cls: type[TensorOp]) -> Callable[[Value], Value]:
    def build(x: Value) -> Value:
        return create(cls, [x])

    build.__name__ = cls.name.partition(".")[2]
    build.__doc__ = f"`{cls.name}` of a value."
    return build


add, sub, mul, div = _binary(AddOp), _binary(SubOp), _binary(MulOp), _binary(DivOp)
pow, max, min = _binary(PowOp), _binary(MaxOp), _binary(MinOp)
equal, less, less_or_equal = _binary(EqualOp), _binary(LessOp), _binary(LessOrEqualOp)
greater, greater_or_equal = _binary(GreaterOp), _binary(GreaterOrEqualOp)
neg, abs, exp, log, sqrt, rsqrt = (
    _unary(NegOp),
    _unary(AbsOp),
    _unary(ExpOp),
    _unary(LogOp),
    _unary(SqrtOp),
    _unary(RsqrtOp),
)
erf, relu, sigmoid, tanh, softplus = (
    _unary(ErfOp),
    _unary(ReluOp),
    _unary(SigmoidOp),
    _unary(TanhOp),
    _unary(SoftplusOp),
)
matmul = _binary(MatMulOp)


def where(condition: Value, x: Value, y: Value) -> Value:
    return create(WhereOp, [condition, x, y])


def leaky_relu(x: Value, alpha: float | None = None) -> Value:
    return create(LeakyReluOp, [x], alpha=alpha)


def gelu(x: Value, approximate: str | None = None) -> Value:
    return create(GeluOp, [x], approximate=approximate)


def elu(x: Value, alpha: float | None = None) -> Value:
    return create(EluOp, [x], alpha=alpha)


def selu(x: Value, alpha: float | None = None, gamma: float | None = None) -> Value:
    return create(SeluOp, [x], alpha=alpha, gamma=gamma)


def hard_sigmoid(x: Value, alpha: float | None = None, beta: float | None = None) -> Value:
    return create(HardSigmoidOp, [x], alpha=alpha, beta=beta)


def _scalar_attr(value: float | None, x: Value) -> Attribute | None:
    if value is None:
        return None
    if isinstance(x.type.element_type, FloatType):
        return FloatAttr(float(value), f32)
    return IntegerAttr(int(value))


def clip(x: Value, min: float | None = None, max: float | None = None) -> Value:
    return create(ClipOp, [x], min=_scalar_attr(min, x), max=_scalar_attr(max, x))


def cast(x: Value, to: Type) -> Value:
    return create(CastOp, [x], to=to)


def gemm(
    a: Value,
    b: Value,
    c: Value | None = None,
    *,
    trans_a: bool | None = None,
    trans_b: bool | None = None,
    alpha: float | None = None,
    beta: float | None = None,
) -> Value:
    return create(
        GemmOp, [a, b] + ([c] if c is not None else []), trans_a=trans_a, trans_b=trans_b, alpha=alpha, beta=beta
    )


def conv2d(
    x: Value,
    w: Value,
    bias: Value | None = None,
    *,
    strides: Sequence[int] | None = None,
    pads: Sequence[int] | None = None,
    dilations: Sequence[int] | None = None,
    group: int | None = None,
    kernel_shape: Sequence[int] | None = None,
) -> Value:
    """`tensor.conv2d`; attributes left as None take ONNX's defaults and are not written."""
    return create(
        Conv2DOp,
        [x, w] + ([bias] if bias is not None else []),
        strides=strides,
        pads=pads,
        dilations=dilations,
        group=group,
        kernel_shape=kernel_shape,
    )


def conv_transpose2d(
    x: Value,
    w: Value,
    bias: Value | None = None,
    *,
    strides: Sequence[int] | None = None,
    pads: Sequence[int] | None = None,
    dilations: Sequence[int] | None = None,
    group: int | None = None,
    output_padding: Sequence[int] | None = None,
    kernel_shape: Sequence[int] | None = None,
) -> Value:
    return create(
        ConvTranspose2DOp,
        [x, w] + ([bias] if bias is not None else []),
        strides=strides,
        pads=pads,
        dilations=dilations,
        group=group,
        output_padding=output_padding,
        kernel_shape=kernel_shape,
    )


def max_pool2d(
    x: Value,
    kernel_shape: Sequence[int],
    *,
    strides: Sequence[int] | None = None,
    pads: Sequence[int] | None = None,
    dilations: Sequence[int] | None = None,
    ceil_mode: bool | None = None,
) -> Value:
    return create(
        MaxPool2DOp,
        [x],
        kernel_shape=kernel_shape,
        strides=strides,
        pads=pads,
        dilations=dilations,
        ceil_mode=ceil_mode,
    )


def avg_pool2d(
    x: Value,
    kernel_shape: Sequence[int],
    *,
    strides: Sequence[int] | None = None,
    pads: Sequence[int] | None = None,
    dilations: Sequence[int] | None = None,
    ceil_mode: bool | None = None,
    count_include_pad: bool | None = None,
) -> Value:
    return create(
        AvgPool2DOp,
        [x],
        kernel_shape=kernel_shape,
        strides=strides,
        pads=pads,
        dilations=dilations,
        ceil_mode=ceil_mode,
        count_include_pad=count_include_pad,
    )


global_avg_pool, global_max_pool = _unary(GlobalAvgPoolOp), _unary(GlobalMaxPoolOp)


def _reduction(cls: type[TensorOp]) -> Callable[..., Value]:
    def build(x: Value, axes: Sequence[int] | None = None, keepdims: bool | None = None) -> Value:
        return create(cls, [x], axes=axes, keepdims=keepdims)

    build.__name__ = cls.name.partition(".")[2]
    build.__doc__ = f"`{cls.name}` over `axes` (default: all)."
    return build


reduce_sum, reduce_mean, reduce_max = _reduction(ReduceSumOp), _reduction(ReduceMeanOp), _reduction(ReduceMaxOp)
reduce_min, reduce_prod = _reduction(ReduceMinOp), _reduction(ReduceProdOp)


def argmax(
    x: Value, axis: int | None = None, keepdims: bool | None = None, select_last_index: bool | None = None
) -> Value:
    return create(ArgMaxOp, [x], axis=axis, keepdims=keepdims, select_last_index=select_last_index)


def softmax(x: Value, axis: int | None = None) -> Value:
    return create(SoftmaxOp, [x], axis=axis)


def log_softmax(x: Value, axis: int | None = None) -> Value:
    return create(LogSoftmaxOp, [x], axis=axis)


def batch_norm(x: Value, scale: Value, bias: Value, mean: Value, var: Value, epsilon: float | None = None) -> Value:
    return create(BatchNormOp, [x, scale, bias, mean, var], epsilon=epsilon)


def layer_norm(
    x: Value, scale: Value, bias: Value | None = None, *, axis: int | None = None, epsilon: float | None = None
) -> Value:
    return create(LayerNormOp, [x, scale] + ([bias] if bias is not None else []), axis=axis, epsilon=epsilon)


def transpose(x: Value, perm: Sequence[int] | None = None) -> Value:
    return create(TransposeOp, [x], perm=perm)


def reshape(x: Value, shape: Sequence[int], allowzero: bool | None = None) -> Value:
    return create(ReshapeOp, [x], shape=shape, allowzero=allowzero)


def flatten(x: Value, axis: int | None = None) -> Value:
    return create(FlattenOp, [x], axis=axis)


def squeeze(x: Value, axes: Sequence[int] | None = None) -> Value:
    return create(SqueezeOp, [x], axes=axes)


def unsqueeze(x: Value, axes: Sequence[int]) -> Value:
    return create(UnsqueezeOp, [x], axes=axes)


def broadcast_to(x: Value, shape: Sequence[int]) -> Value:
    return create(BroadcastToOp, [x], shape=shape)


def concat(inputs: Sequence[Value], axis: int) -> Value:
    return create(ConcatOp, list(inputs), axis=axis)


def split(
    x: Value, split: Sequence[int] | None = None, *, axis: int | None = None, num_results: int | None = None
) -> tuple[Value, ...]:
    """`tensor.split` into the sizes `split`, or into `num_results` equal parts."""
    return create(SplitOp, [x], axis=axis, split=split, num_results=num_results)


def slice(
    x: Value,
    starts: Sequence[int],
    ends: Sequence[int],
    axes: Sequence[int] | None = None,
    steps: Sequence[int] | None = None,
) -> Value:
    return create(SliceOp, [x], starts=starts, ends=ends, axes=axes, steps=steps)


def pad(x: Value, pads: Sequence[int], mode: str | None = None, value: float | None = None) -> Value:
    return create(PadOp, [x], pads=pads, mode=mode, value=_scalar_attr(value, x))


def gather(data: Value, indices: Value, axis: int | None = None) -> Value:
    return create(GatherOp, [data, indices], axis=axis)


DIALECT = Dialect(
    "tensor",
    [
        ConstantOp,
        AddOp, SubOp, MulOp, DivOp, PowOp, MaxOp, MinOp,
        EqualOp, LessOp, LessOrEqualOp, GreaterOp, GreaterOrEqualOp, WhereOp,
        NegOp, AbsOp, ExpOp, LogOp, SqrtOp, RsqrtOp, ErfOp, ReluOp, SigmoidOp, TanhOp, SoftplusOp,
        LeakyReluOp, GeluOp, EluOp, SeluOp, HardSigmoidOp, ClipOp, CastOp,
        MatMulOp, GemmOp, Conv2DOp, ConvTranspose2DOp,
        MaxPool2DOp, AvgPool2DOp, GlobalAvgPoolOp, GlobalMaxPoolOp,
        ReduceSumOp, ReduceMeanOp, ReduceMaxOp, ReduceMinOp, ReduceProdOp, ArgMaxOp,
        SoftmaxOp, LogSoftmaxOp, BatchNormOp, LayerNormOp,
        TransposeOp, ReshapeOp, FlattenOp, SqueezeOp, UnsqueezeOp, BroadcastToOp, ConcatOp, SplitOp, SliceOp,
        PadOp, GatherOp,
    ],
)  # fmt: skip
