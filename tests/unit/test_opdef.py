"""Declared ops: accessors for single/optional/variadic groups, the generated verifier, traits."""

from __future__ import annotations

import pytest

from dialects.arith import AddFOp, AddIOp, ConstantOp
from dialects.func import FuncOp, ReturnOp
from dialects.test import PureOp, TerminatorOp
from irc.attributes import IntegerAttr, StringAttr, TypeAttr
from irc.diagnostics import IRCError
from irc.ir import Block, Operation, Region
from irc.opdef import (
    AnyInteger,
    AnyType,
    FloatLike,
    define_op,
    operand,
    opt_operand,
    opt_result,
    prop,
    region,
    result,
    segment_sizes_attr,
    var_operand,
    var_region,
    var_result,
    verify_definition,
)
from irc.traits import Commutative, HasParent, IsTerminator, Pure, SameOperandsAndResultType, SingleBlock
from irc.types import FunctionType, f32, i1, i32, i64
from irc.verifier import verify


@define_op("test.one_variadic")
class OneVariadic(Operation):
    first = operand(AnyInteger)
    middle = var_operand(AnyType)
    last = operand(FloatLike)
    out = result()


@define_op("test.one_optional")
class OneOptional(Operation):
    a = operand()
    b = opt_operand(AnyInteger)
    r = opt_result()


@define_op("test.segments")
class Segments(Operation):
    a = operand(AnyInteger)
    b = opt_operand(AnyInteger)
    c = var_operand(FloatLike)
    d = operand()
    outs = var_result()
    extra = opt_result()


@define_op("test.props")
class Props(Operation):
    required = prop(IntegerAttr)
    with_default = prop(IntegerAttr, default=IntegerAttr(7))
    maybe = prop(StringAttr, optional=True)


@define_op("test.regions")
class Regions(Operation):
    main = region()
    rest = var_region()
    traits = (SingleBlock(),)


@define_op("test.same")
class Same(Operation):
    x = var_operand()
    y = var_result()
    traits = (Pure(), Commutative(), SameOperandsAndResultType())


@define_op("test.child")
class Child(Operation):
    traits = (HasParent((FuncOp,)),)


def values(*types):
    block = Block(types)
    return block.args


def check(op: Operation) -> None:
    verify_definition(op)
    for trait in op.traits:
        trait.verify(op)


def error_of(op: Operation) -> str:
    with pytest.raises(IRCError) as info:
        check(op)
    return str(info.value)


# ----------------------------------------------------------------------------- accessors
def test_single_variadic_group_accessors_without_segment_sizes():
    a, m1, m2, z = values(i32, f32, i64, f32)
    op = OneVariadic(operands=[a, m1, m2, z], result_types=[i32])
    assert op.first is a
    assert op.middle == (m1, m2)
    assert op.last is z
    assert op.out is op.results[0]
    verify_definition(op)
    empty = OneVariadic(operands=[a, z], result_types=[i32])
    assert empty.middle == ()
    assert empty.last is z
    verify_definition(empty)


def test_optional_group_accessors():
    a, b = values(f32, i32)
    with_b = OneOptional(operands=[a, b], result_types=[i1])
    assert with_b.b is b
    assert with_b.r is with_b.results[0]
    without = OneOptional(operands=[a])
    assert without.b is None
    assert without.r is None
    verify_definition(with_b)
    verify_definition(without)


def test_segment_sizes_accessors():
    a, b, c1, c2, d = values(i32, i64, f32, f32, i1)
    op = Segments(
        operands=[a, b, c1, c2, d],
        result_types=[i32, i32, f32],
        properties={
            "operandSegmentSizes": segment_sizes_attr([1, 1, 2, 1]),
            "resultSegmentSizes": segment_sizes_attr([2, 1]),
        },
    )
    assert op.a is a
    assert op.b is b
    assert op.c == (c1, c2)
    assert op.d is d
    assert op.outs == tuple(op.results[:2])
    assert op.extra is op.results[2]
    verify_definition(op)
    op2 = Segments(
        operands=[a, d],
        properties={
            "operandSegmentSizes": segment_sizes_attr([1, 0, 0, 1]),
            "resultSegmentSizes": segment_sizes_attr([0, 0]),
        },
    )
    assert op2.b is None
    assert op2.c == ()
    assert op2.d is d
    assert op2.extra is None
    verify_definition(op2)


def test_prop_accessors_and_defaults():
    op = Props(properties={"required": IntegerAttr(1)})
    assert op.required == IntegerAttr(1)
    assert op.with_default == IntegerAttr(7)
    assert op.maybe is None
    op.maybe = StringAttr("s")
    assert op.properties["maybe"] == StringAttr("s")
    verify_definition(op)


def test_region_accessors():
    op = Regions(regions=[Region(), Region(), Region()])
    assert op.main is op.regions[0]
    assert op.rest == (op.regions[1], op.regions[2])


def test_definition_records_declarations_in_order():
    d = Segments.definition
    assert [o.name for o in d.operands] == ["a", "b", "c", "d"]
    assert [o.kind for o in d.operands] == ["single", "optional", "variadic", "single"]
    assert [r.name for r in d.results] == ["outs", "extra"]
    assert Same.has_trait(Pure)
    assert Same.has_trait(Commutative)
    assert not Same.has_trait(IsTerminator)
    assert isinstance(Same.get_trait(Pure), Pure)
    assert Same.get_trait(IsTerminator) is None


def test_subclass_inherits_and_overrides_declarations():
    assert [o.name for o in AddIOp.definition.operands] == ["lhs", "rhs"]
    assert "overflowFlags" in AddIOp.definition.props
    assert "fastmath" in AddFOp.definition.props
    assert "overflowFlags" not in AddFOp.definition.props


# ----------------------------------------------------------------------------- generated verifier
@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda a, f: OneVariadic(operands=[a], result_types=[i32]), "expected at least 2 operands, but found 1"),
        (lambda a, f: OneVariadic(operands=[f, f], result_types=[i32]), "operand #0 must be integer, but got 'f32'"),
        (
            lambda a, f: OneVariadic(operands=[a, a, a], result_types=[i32]),
            "operand #2 must be floating-point-like, but got 'i32'",
        ),
        (lambda a, f: OneVariadic(operands=[a, f]), "expected 1 results, but found 0"),
        (lambda a, f: OneOptional(operands=[a, a, a]), "expected 1 or 2 operands, but found 3"),
        (lambda a, f: OneOptional(operands=[a], result_types=[i32, i32]), "expected 0 or 1 results, but found 2"),
        (lambda a, f: Segments(operands=[a, f]), "requires the 'operandSegmentSizes' property with 4 entries"),
        (
            lambda a, f: Segments(
                operands=[a, f, f], properties={"operandSegmentSizes": segment_sizes_attr([1, 0, 0, 2])}
            ),
            "gives 2 operands to the single group 'd'",
        ),
        (
            lambda a, f: Segments(
                operands=[a, f], properties={"operandSegmentSizes": segment_sizes_attr([1, 0, 0, 0])}
            ),
            "'operandSegmentSizes' sums to 1, but the op has 2 operands",
        ),
        (
            lambda a, f: Segments(
                operands=[a, a, a, f], properties={"operandSegmentSizes": segment_sizes_attr([1, 2, 0, 1])}
            ),
            "gives 2 operands to the optional group 'b'",
        ),
        (lambda a, f: Props(), "requires attribute 'required'"),
        (
            lambda a, f: Props(properties={"required": StringAttr("x")}),
            "attribute 'required' failed to satisfy constraint: IntegerAttr",
        ),
        (lambda a, f: Regions(), "requires at least 1 region"),
        (
            lambda a, f: FuncOp(
                properties={"sym_name": StringAttr("f"), "function_type": TypeAttr(FunctionType([], []))}
            ),
            "requires 1 region, but found 0",
        ),
        (lambda a, f: Same(operands=[a], result_types=[f]), "requires the same type for all operands and results"),
        (lambda a, f: Regions(regions=[Region([Block(), Block()])]), "expects region #0 to have 0 or 1 blocks"),
        (lambda a, f: Child(), "expects parent op 'func.func'"),
    ],
)
def test_generated_verifier_messages(make, message):
    a, f = values(i32, f32)
    op = make(a, f)
    text = error_of(op)
    assert message in text
    assert text.startswith(f"'{op.name}' op ")


def test_is_terminator_must_be_last():
    block = Block([i1])
    block.append(TerminatorOp())
    after = block.append(PureOp())
    del after
    with pytest.raises(IRCError, match="must be the last operation"):
        block.first_op.traits[0].verify(block.first_op)


def test_full_verify_runs_op_specific_checks():
    bad = ConstantOp(result_types=[i64], properties={"value": IntegerAttr(1, i32)})
    with pytest.raises(IRCError, match="value type 'i32' does not match result type 'i64'"):
        verify(bad)
    func = FuncOp.build("f", [i32], [f32])
    func.entry.append(ReturnOp.build(func.args))
    with pytest.raises(IRCError, match=r"type of return operand 0 \('i32'\) doesn't match function result type"):
        verify(func)
