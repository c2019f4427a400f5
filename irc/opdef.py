"""Declarative op definitions.

An op class lists its pieces in the class body and `define_op` turns them into one
`OpDefinition`, typed accessors and a generated verifier:

    @define_op("arith.addf")
    class AddFOp(Operation):
        lhs = operand(FloatLike)
        rhs = operand(FloatLike)
        out = result(FloatLike)
        fastmath = prop(FastMathAttr, default=FastMathAttr.NONE)
        traits = (Pure(), Commutative(), SameOperandsAndResultType())
        format = "default"

Operands and results may be single, optional or variadic. With more than one non-single
group, the sizes live in the `operandSegmentSizes` / `resultSegmentSizes` property, as in MLIR.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs

from irc.attributes import Attribute, DenseArrayAttr
from irc.ir import Operation, Value
from irc.types import (
    FloatType,
    IndexType,
    IntegerType,
    MemRefType,
    ShapedType,
    TensorType,
    Type,
    VectorType,
    i32,
)


# ----------------------------------------------------------------------------- constraints
@attrs.frozen
class Constraint:
    """A named predicate on a type (or attribute)."""

    description: str
    predicate: Callable[[Any], bool] = attrs.field(eq=False)

    def __call__(self, value: Any) -> bool:
        return self.predicate(value)

    def __or__(self, other: Constraint) -> Constraint:
        return Constraint(f"{self.description} or {other.description}", lambda t: self(t) or other(t))


def isa(*classes: type, description: str | None = None) -> Constraint:
    desc = description or " or ".join(c.__name__ for c in classes)
    return Constraint(desc, lambda t: isinstance(t, classes))


def equals(expected: Any) -> Constraint:
    return Constraint(f"'{expected}'", lambda t: t == expected)


_ELEMENTWISE_CONTAINERS = (VectorType, TensorType)
_INT_OR_INDEX = (IntegerType, IndexType)


def _element(t: Type) -> Type:
    return t.element_type if isinstance(t, _ELEMENTWISE_CONTAINERS) else t


def _signless_int_or_index(t: Any) -> bool:
    return isinstance(t, IndexType) or (isinstance(t, IntegerType) and t.signedness == "signless")


def _integer_like(t: Any) -> bool:
    if isinstance(t, _ELEMENTWISE_CONTAINERS):
        t = t.element_type
    return isinstance(t, _INT_OR_INDEX)


def _float_like(t: Any) -> bool:
    if isinstance(t, _ELEMENTWISE_CONTAINERS):
        t = t.element_type
    return isinstance(t, FloatType)


def _bool_like(t: Any) -> bool:
    if isinstance(t, _ELEMENTWISE_CONTAINERS):
        t = t.element_type
    return isinstance(t, IntegerType) and t.width == 1


AnyType = Constraint("any type", lambda t: True)
AnyInteger = isa(IntegerType, description="integer")
Index = isa(IndexType, description="index")
SignlessIntegerOrIndex = Constraint("signless integer or index", _signless_int_or_index)
AnyFloat = isa(FloatType, description="floating-point")
IntegerLike = Constraint("signless-integer-like", _integer_like)
FloatLike = Constraint("floating-point-like", _float_like)
BoolLike = Constraint("bool-like", _bool_like)
AnyTensor = isa(TensorType, description="tensor")
AnyMemRef = isa(MemRefType, description="memref")
AnyShaped = isa(ShapedType, description="shaped type")


def _attr_check(constraint: Any) -> tuple[Callable[[Any], bool], str]:
    if isinstance(constraint, Constraint):
        return constraint.predicate, constraint.description
    if isinstance(constraint, tuple):
        return (lambda a: isinstance(a, constraint)), " or ".join(c.__name__ for c in constraint)
    if isinstance(constraint, type):
        return (lambda a: isinstance(a, constraint)), constraint.__name__
    raise TypeError(f"bad attribute constraint {constraint!r}")


# ----------------------------------------------------------------------------- definitions
SINGLE, OPTIONAL, VARIADIC = "single", "optional", "variadic"


@attrs.define
class OperandDef:
    constraint: Constraint = AnyType
    kind: str = SINGLE
    name: str = ""


@attrs.define
class ResultDef:
    constraint: Constraint = AnyType
    kind: str = SINGLE
    name: str = ""


@attrs.define
class PropDef:
    constraint: Any = Attribute
    default: Attribute | None = None
    optional: bool = False
    name: str = ""


@attrs.define
class RegionDef:
    kind: str = SINGLE
    name: str = ""


@attrs.define
class SuccessorDef:
    kind: str = SINGLE
    name: str = ""


def operand(constraint: Constraint = AnyType) -> Any:
    return OperandDef(constraint, SINGLE)


def opt_operand(constraint: Constraint = AnyType) -> Any:
    return OperandDef(constraint, OPTIONAL)


def var_operand(constraint: Constraint = AnyType) -> Any:
    return OperandDef(constraint, VARIADIC)


def result(constraint: Constraint = AnyType) -> Any:
    return ResultDef(constraint, SINGLE)


def opt_result(constraint: Constraint = AnyType) -> Any:
    return ResultDef(constraint, OPTIONAL)


def var_result(constraint: Constraint = AnyType) -> Any:
    return ResultDef(constraint, VARIADIC)


def prop(constraint: Any = Attribute, *, default: Attribute | None = None, optional: bool = False) -> Any:
    """An inherent attribute (printed in `<{...}>` in generic form)."""
    return PropDef(constraint, default, optional or default is not None)


def region() -> Any:
    return RegionDef(SINGLE)


def var_region() -> Any:
    return RegionDef(VARIADIC)


def successor() -> Any:
    return SuccessorDef(SINGLE)


def var_successor() -> Any:
    return SuccessorDef(VARIADIC)


@attrs.define
class OpDefinition:
    name: str
    operands: list[OperandDef]
    results: list[ResultDef]
    props: dict[str, PropDef]
    regions: list[RegionDef]
    successors: list[SuccessorDef]
    # Filled by `verify_definition` on first use (a `_VerifyPlan`).
    verify_plan: Any = attrs.field(default=None, init=False, eq=False, repr=False)

    def operand_segments(self, op: Operation) -> list[tuple[int, int]]:
        return _segments(self.operands, len(op._operands), op, "operandSegmentSizes", "operand")

    def result_segments(self, op: Operation) -> list[tuple[int, int]]:
        return _segments(self.results, len(op.results), op, "resultSegmentSizes", "result")


def _segments(defs: Sequence[Any], count: int, op: Operation, seg_attr: str, what: str) -> list[tuple[int, int]]:
    """(start, size) of each declared group. Raises ValueError on a count mismatch."""
    flexible = [i for i, d in enumerate(defs) if d.kind != SINGLE]
    if not flexible:
        if count != len(defs):
            raise ValueError(f"expected {len(defs)} {what}s, but found {count}")
        return [(i, 1) for i in range(count)]
    if len(flexible) == 1:
        rest = count - (len(defs) - 1)
        kind = defs[flexible[0]].kind
        if rest < 0 or (kind == OPTIONAL and rest > 1):
            fixed = len(defs) - 1
            bound = f"{fixed} or {fixed + 1}" if kind == OPTIONAL else f"at least {fixed}"
            raise ValueError(f"expected {bound} {what}s, but found {count}")
        sizes = [rest if i == flexible[0] else 1 for i in range(len(defs))]
    else:
        seg = op.properties.get(seg_attr)
        if not isinstance(seg, DenseArrayAttr) or len(seg.values) != len(defs):
            raise ValueError(f"requires the '{seg_attr}' property with {len(defs)} entries")
        sizes = list(seg.values)
        if sum(sizes) != count:
            raise ValueError(f"'{seg_attr}' sums to {sum(sizes)}, but the op has {count} {what}s")
        for d, s in zip(defs, sizes, strict=True):
            if s < 0 or (d.kind == SINGLE and s != 1) or (d.kind == OPTIONAL and s > 1):
                raise ValueError(f"'{seg_attr}' gives {s} {what}s to the {d.kind} group '{d.name}'")
    out, start = [], 0
    for s in sizes:
        out.append((start, s))
        start += s
    return out


def segment_sizes_attr(sizes: Sequence[int]) -> DenseArrayAttr:
    return DenseArrayAttr(i32, tuple(sizes))


def _group_accessor(index: int, kind: str, getter: Callable[[Operation], list[tuple[int, int]]], attr: str):
    def get(self: Operation):
        start, size = getter(self)[index]
        values = getattr(self, attr)[start : start + size]
        if kind == SINGLE:
            return values[0]
        if kind == OPTIONAL:
            return values[0] if values else None
        return tuple(values)

    return property(get)


def _static_accessor(index: int, attr: str):
    # Direct slot reads for the two lists it is used with: accessors are hot in passes.
    if attr == "_operands":
        return property(lambda self: self._operands[index])
    if attr == "results":
        return property(lambda self: self.results[index])
    return property(lambda self: getattr(self, attr)[index])


def _install_group_accessors(cls: type, defs: Sequence[Any], attr: str, seg_method: str) -> None:
    flexible = [i for i, d in enumerate(defs) if d.kind != SINGLE]
    for i, d in enumerate(defs):
        if not flexible or i < flexible[0]:
            setattr(cls, d.name, _static_accessor(i, attr))
        elif len(flexible) == 1 and i > flexible[0]:
            setattr(cls, d.name, _static_accessor(i - len(defs), attr))
        else:
            definition = cls.definition
            getter = getattr(definition, seg_method)
            setattr(cls, d.name, _group_accessor(i, d.kind, getter, attr))


def _prop_accessor(name: str, default: Attribute | None):
    def get(self: Operation):
        return self.properties.get(name, default)

    def set_(self: Operation, value: Attribute) -> None:
        self.properties[name] = value

    return property(get, set_)


def _region_accessor(index: int, kind: str):
    if kind == SINGLE:
        return property(lambda self: self.regions[index])
    return property(lambda self: tuple(self.regions[index:]))


def define_op(name: str) -> Callable[[type], type]:
    """Class decorator: build the op definition and accessors from the class body."""

    def wrap(cls: type) -> type:
        operands, results, regions, successors = [], [], [], []
        props: dict[str, PropDef] = {}
        declared: dict[str, Any] = {}
        for klass in reversed(cls.__mro__):
            for attr_name, value in vars(klass).items():
                if isinstance(value, OperandDef | ResultDef | PropDef | RegionDef | SuccessorDef):
                    declared.pop(attr_name, None)
                    declared[attr_name] = value
                elif attr_name in declared and klass is not cls:
                    del declared[attr_name]
        for attr_name, value in declared.items():
            value.name = attr_name
            if attr_name in vars(cls):
                delattr(cls, attr_name)
            if isinstance(value, OperandDef):
                operands.append(value)
            elif isinstance(value, ResultDef):
                results.append(value)
            elif isinstance(value, PropDef):
                props[attr_name] = value
            elif isinstance(value, RegionDef):
                regions.append(value)
            else:
                successors.append(value)
        cls.name = name
        cls.definition = OpDefinition(name, operands, results, props, regions, successors)
        cls.trait_types = frozenset(type(t) for t in cls.traits)
        _install_group_accessors(cls, operands, "_operands", "operand_segments")
        _install_group_accessors(cls, results, "results", "result_segments")
        for pname, pdef in props.items():
            setattr(cls, pname, _prop_accessor(pname, pdef.default))
        for i, rdef in enumerate(regions):
            setattr(cls, rdef.name, _region_accessor(i, rdef.kind))
        if getattr(cls, "format", None) == "default":
            if "parse_custom" not in vars(cls):
                cls.parse_custom = classmethod(lambda c, parser: parser.parse_default())
            if "print_custom" not in vars(cls):
                cls.print_custom = lambda self, printer: printer.print_default(self)
        for i, sdef in enumerate(successors):
            if sdef.kind == SINGLE:
                setattr(cls, sdef.name, property(lambda self, i=i: self.successors[i]))
            else:
                setattr(cls, sdef.name, property(lambda self, i=i: tuple(self.successors[i:])))
        return cls

    return wrap


# ----------------------------------------------------------------------------- verification
class _VerifyPlan:
    """What `verify_definition` checks for one op class, worked out once (on first use).

    Groups of single operands/results need no segment computation: a count and a list of
    `(index, predicate, description)` checks. Other layouts fall back to `_segments`.
    """

    __slots__ = ("operand_checks", "props", "region_count", "result_checks", "successor_count")

    def __init__(self, definition: OpDefinition) -> None:
        self.operand_checks = _static_checks(definition.operands)
        self.result_checks = _static_checks(definition.results)
        self.props = tuple(
            (pname, pdef.optional, *_attr_check(pdef.constraint)) for pname, pdef in definition.props.items()
        )
        self.region_count = _count_bounds(definition.regions)
        self.successor_count = _count_bounds(definition.successors)


def _static_checks(defs: Sequence[Any]) -> tuple[int, tuple[tuple[int, Callable[[Any], bool], str], ...]] | None:
    """(count, checks) when every group is single; None when segments must be computed."""
    if any(d.kind != SINGLE for d in defs):
        return None
    checks = tuple(
        (i, d.constraint.predicate if type(d.constraint) is Constraint else d.constraint, d.constraint.description)
        for i, d in enumerate(defs)
        if d.constraint is not AnyType
    )
    return len(defs), checks


def _count_bounds(defs: Sequence[Any]) -> tuple[int, bool]:
    return sum(1 for d in defs if d.kind == SINGLE), any(d.kind != SINGLE for d in defs)


def verify_definition(op: Operation) -> None:
    """Check the op against its declaration: counts, type constraints, properties, regions."""
    definition = type(op).definition
    if definition is None:
        return
    plan = definition.verify_plan
    if plan is None:
        plan = definition.verify_plan = _VerifyPlan(definition)
    # `_check_group` for the operands and the results, with its static case inlined
    static = plan.operand_checks
    if static is not None:
        values = op._operands
        if len(values) != static[0]:
            raise op.emit_error(f"expected {static[0]} operands, but found {len(values)}")
        for i, predicate, description in static[1]:
            t = values[i].type
            if not predicate(t):
                raise op.emit_error(f"operand #{i} must be {description}, but got '{t}'")
    else:
        _check_group(op, None, op._operands, "operand", definition.operands, definition.operand_segments)
    static = plan.result_checks
    if static is not None:
        values = op.results
        if len(values) != static[0]:
            raise op.emit_error(f"expected {static[0]} results, but found {len(values)}")
        for i, predicate, description in static[1]:
            t = values[i].type
            if not predicate(t):
                raise op.emit_error(f"result #{i} must be {description}, but got '{t}'")
    else:
        _check_group(op, None, op.results, "result", definition.results, definition.result_segments)
    if plan.props:
        properties = op.properties
        for pname, optional, check, desc in plan.props:
            value = properties.get(pname)
            if value is None:
                if not optional:
                    raise op.emit_error(f"requires attribute '{pname}'")
                continue
            if not check(value):
                raise op.emit_error(f"attribute '{pname}' failed to satisfy constraint: {desc}")
    fixed, variadic = plan.region_count
    count = len(op.regions)
    if count != fixed and (count < fixed or not variadic):
        _count_error(op, fixed, variadic, count, "region")
    fixed, variadic = plan.successor_count
    count = len(op.successors)
    if count != fixed and (count < fixed or not variadic):
        _count_error(op, fixed, variadic, count, "successor")


def _check_group(op: Operation, static, values: Sequence[Value], what: str, defs, segments) -> None:
    """Counts and type constraints of the operands (or results): from the class's precomputed
    plan when every group is single, else through the segment sizes."""
    if static is not None:
        if len(values) != static[0]:
            raise op.emit_error(f"expected {static[0]} {what}s, but found {len(values)}")
        for i, predicate, description in static[1]:
            t = values[i].type
            if not predicate(t):
                raise op.emit_error(f"{what} #{i} must be {description}, but got '{t}'")
        return
    try:
        segs = segments(op)
    except ValueError as err:
        raise op.emit_error(str(err)) from None
    _check_types(op, defs, segs, values, what)


def _check_types(op: Operation, defs, segments, values: Sequence[Value], what: str) -> None:
    for d, (start, size) in zip(defs, segments, strict=True):
        if d.constraint is AnyType:
            continue
        for i in range(start, start + size):
            t = values[i].type
            if not d.constraint(t):
                raise op.emit_error(f"{what} #{i} must be {d.constraint.description}, but got '{t}'")


def _count_error(op: Operation, fixed: int, variadic: bool, count: int, what: str) -> None:
    bound = f"at least {fixed}" if variadic else str(fixed)
    raise op.emit_error(f"requires {bound} {what}{'s' if fixed != 1 or variadic else ''}, but found {count}")
