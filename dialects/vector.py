"""The vector dialect: what `loop-vectorize` needs beyond element-wise arith/math on vectors.

- `%v = vector.broadcast %s : f32 to vector<8xf32>`: every lane set to a scalar.
- `%s = vector.reduction add, %v [, %acc] [fastmath<...>] : vector<8xf32> into f32`: combines
  the lanes (kinds: add, mul, maximumf, minimumf, maxnumf, minnumf for floats; add, mul, maxsi,
  minsi, maxui, minui, and, or, xor for integers and index); with `%acc`, the accumulator is
  combined too. MLIR writes the kind `<add>` and stores it as a `#vector.kind`; here it is a
  bare keyword and a string property.
"""

from __future__ import annotations

from dialects.arith import FASTMATH_NONE, FastMathAttr
from irc.attributes import StringAttr
from irc.context import Dialect
from irc.ir import Operation, Value
from irc.location import Location
from irc.opdef import AnyType, define_op, isa, operand, opt_operand, prop, result
from irc.traits import Pure
from irc.types import FloatType, IndexType, IntegerType, VectorType

AnyVector = isa(VectorType, description="vector")
FLOAT_KINDS = ("add", "mul", "maximumf", "minimumf", "maxnumf", "minnumf")
INT_KINDS = ("add", "mul", "maxsi", "minsi", "maxui", "minui", "and", "or", "xor")


@define_op("vector.broadcast")
class BroadcastOp(Operation):
    source = operand(AnyType)
    out = result(AnyVector)
    traits = (Pure(),)

    @classmethod
    def build(cls, source: Value, type: VectorType, location: Location | None = None) -> BroadcastOp:
        return cls(operands=[source], result_types=[type], location=location)

    def verify_(self) -> None:
        if self.source.type != self.results[0].type.element_type:
            raise self.emit_error(f"cannot broadcast '{self.source.type}' to '{self.results[0].type}'")

    @classmethod
    def parse_custom(cls, p) -> Operation:
        ref = p.value_ref()
        props, attrs = p.attr_dict()
        p.expect_end()
        section = p.type_section()
        if len(section) != 3 or getattr(section[1], "text", None) != "to":
            raise p.error("expected ': scalar-type to vector-type'")
        return p.build(operands=p.resolve([ref], [section[0]]), result_types=[section[2]], properties=props,
                       attributes=attrs)  # fmt: skip

    def print_custom(self, p) -> None:
        p.write(f"vector.broadcast {p.value(self.source)}{p.op_attr_dict(self)} : {p.type(self.source.type)} to "
                f"{p.type(self.results[0].type)}")  # fmt: skip


@define_op("vector.reduction")
class ReductionOp(Operation):
    kind = prop(StringAttr)
    vector = operand(AnyVector)
    acc = opt_operand(AnyType)
    fastmath = prop(FastMathAttr, default=FASTMATH_NONE)
    out = result(AnyType)
    traits = (Pure(),)

    @classmethod
    def build(
        cls, kind: str, vector: Value, acc: Value | None = None, fastmath: FastMathAttr | None = None,
        location: Location | None = None,
    ) -> ReductionOp:  # fmt: skip
        props = {"kind": StringAttr(kind)}
        if fastmath is not None and fastmath != FASTMATH_NONE:
            props["fastmath"] = fastmath
        operands = [vector] if acc is None else [vector, acc]
        return cls(operands=operands, result_types=[vector.type.element_type], properties=props, location=location)

    def verify_(self) -> None:
        vt = self.vector.type
        elt = vt.element_type
        if isinstance(elt, FloatType):
            kinds = FLOAT_KINDS
        elif isinstance(elt, IntegerType | IndexType):
            kinds = INT_KINDS
        else:
            raise self.emit_error(f"expects a vector of integers, index or floats, but got '{vt}'")
        if self.kind.value not in kinds:
            raise self.emit_error(f"unknown reduction kind '{self.kind.value}' for '{vt}' (expected one of "
                                  f"{', '.join(kinds)})")  # fmt: skip
        if vt.rank != 1:
            raise self.emit_error(f"expects a one-dimensional vector, but got '{vt}'")
        if self.results[0].type != elt or (self.acc is not None and self.acc.type != elt):
            raise self.emit_error(f"expects the accumulator and the result to be '{elt}'")

    @classmethod
    def parse_custom(cls, p) -> Operation:
        kind = p.keyword()
        p.punct(",")
        refs = p.value_refs()
        props: dict = {}
        p.flag_attr("fastmath", FastMathAttr.parse, props, "fastmath")
        more, attrs = p.attr_dict()
        p.expect_end()
        props.update(more)
        section = p.type_section()
        if len(section) != 3 or getattr(section[1], "text", None) != "into":
            raise p.error("expected ': vector-type into scalar-type'")
        vt, st = section[0], section[2]
        props["kind"] = StringAttr(kind)
        if not 1 <= len(refs) <= 2:
            raise p.error(f"expected a vector and an optional accumulator, but got {len(refs)} operands")
        operands = p.resolve(refs, [vt, st][: len(refs)])
        return p.build(operands=operands, result_types=[st], properties=props, attributes=attrs)

    def print_custom(self, p) -> None:
        p.write(f"vector.reduction {self.kind.value}, {p.values(self.operands)}{p.flag(self, 'fastmath', 'fastmath')}"
                f"{p.op_attr_dict(self, elide=('kind', 'fastmath'))} : {p.type(self.vector.type)} into "
                f"{p.type(self.results[0].type)}")  # fmt: skip


DIALECT = Dialect("vector", [BroadcastOp, ReductionOp], attribute_parsers={"fastmath": FastMathAttr.parse})
