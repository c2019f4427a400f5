"""The pattern rewriter and the greedy driver: listener notifications, use-lists, folding,
constant de-duplication, convergence."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialects.arith import AddIOp, ConstantOp, MulIOp
from dialects.func import FuncOp
from dialects.test import EffectOp, PureOp
from irc.attributes import FloatAttr, IntegerAttr
from irc.ir import Block, Operation, Region, Value
from irc.opdef import define_op, var_region
from irc.rewriter import (
    PatternRewriter,
    RewriteListener,
    RewritePattern,
    apply_patterns_greedily,
    is_trivially_dead,
)
from irc.traits import NoTerminator, Pure
from irc.types import f32, i8, i32
from irc.verifier import verify
from textual_ir.parser import parse_module
from textual_ir.printer import print_op


# ----------------------------------------------------------------------------- helpers
def check_use_lists(root: Operation) -> None:
    """Every operand is on its value's use-list, and every use is a live operand slot."""
    values: set[Value] = set()
    for op in root.walk():
        for i, value in enumerate(op.operands):
            assert (op, i) in value.uses, f"operand #{i} of {op.name} missing from the use-list"
            values.add(value)
        values.update(op.results)
        for region in op.regions:
            for block in region.blocks:
                values.update(block.args)
    for value in values:
        for user, index in value.uses:
            assert user.operand(index) is value, f"stale use by {user.name}"
            assert user.parent is not None, f"use by detached {user.name}"
            assert root.is_ancestor(user), f"use from outside the root by {user.name}"


def func(module: Operation, name: str = "f") -> FuncOp:
    for op in module.body.ops:
        if isinstance(op, FuncOp) and op.sym_name.value == name:
            return op
    raise KeyError(name)


def ops_of(root: Operation, cls: type) -> list:
    return list(root.walk_ops(cls))


def fold(text: str) -> Operation:
    """Parse, canonicalize with folding only (no patterns), verify."""
    module = parse_module(text)
    apply_patterns_greedily(module, [])
    verify(module)
    check_use_lists(module)
    return module


def returned_constant(module: Operation):
    """The attribute of the constant that `@f` returns."""
    ret = func(module).entry.last_op
    producer = ret.operand(0).defining_op()
    assert isinstance(producer, ConstantOp), print_op(module)
    return producer.value


class Recorder(RewriteListener):
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def notify_op_inserted(self, op: Operation) -> None:
        self.events.append(("inserted", op.name))

    def notify_op_modified(self, op: Operation) -> None:
        self.events.append(("modified", op.name))

    def notify_op_erased(self, op: Operation) -> None:
        self.events.append(("erased", op.name))

    def notify_users_changed(self, op: Operation) -> None:
        self.events.append(("users-changed", op.name))


# ----------------------------------------------------------------------------- rewriter
def test_replace_op_notifies_users_and_erases():
    module = parse_module("""
    func.func @f(%a: i32) -> i32 {
      %x = arith.addi %a, %a : i32
      %y = arith.muli %x, %x : i32
      func.return %y : i32
    }""")
    rec = Recorder()
    rewriter = PatternRewriter(rec)
    add = ops_of(module, AddIOp)[0]
    rewriter.replace_op(add, [func(module).args[0]])
    assert rewriter.changed
    assert ("modified", "arith.muli") in rec.events
    assert ("erased", "arith.addi") in rec.events
    assert not ops_of(module, AddIOp)
    check_use_lists(module)
    verify(module)


def test_replace_op_with_new_op_inserts_it_before():
    module = parse_module("""
    func.func @f(%a: i32) -> i32 {
      %x = arith.addi %a, %a : i32
      func.return %x : i32
    }""")
    rec = Recorder()
    rewriter = PatternRewriter(rec)
    add = ops_of(module, AddIOp)[0]
    mul = MulIOp.build(add.lhs, add.rhs)
    rewriter.replace_op(add, mul)
    assert rec.events[0] == ("inserted", "arith.muli")
    assert func(module).entry.last_op.operand(0) is mul.result
    check_use_lists(module)
    verify(module)


def test_erase_op_with_uses_is_refused():
    module = parse_module("""
    func.func @f(%a: i32) -> i32 {
      %x = arith.addi %a, %a : i32
      func.return %x : i32
    }""")
    with pytest.raises(ValueError, match="still used"):
        PatternRewriter().erase_op(ops_of(module, AddIOp)[0])


def test_erase_op_reports_nested_ops_and_operand_producers():
    module = parse_module("""
    func.func @f(%a: i32) {
      %x = arith.addi %a, %a : i32
      "test.region"() ({
        %y = arith.muli %x, %x : i32
        "test.effect"(%y) : (i32) -> ()
      }) : () -> ()
      func.return
    }""")
    rec = Recorder()
    region_op = next(op for op in func(module).entry.ops if op.regions)
    PatternRewriter(rec).erase_op(region_op)
    erased = [name for kind, name in rec.events if kind == "erased"]
    assert erased == ["arith.muli", "test.effect", "test.region"]
    assert ("users-changed", "arith.addi") in rec.events
    check_use_lists(module)
    verify(module)


def test_modify_op_in_place_notifies_after_the_change():
    module = parse_module("""
    func.func @f(%a: i32, %b: i32) -> i32 {
      %x = arith.addi %a, %b : i32
      func.return %x : i32
    }""")
    rec = Recorder()
    rewriter = PatternRewriter(rec)
    add = ops_of(module, AddIOp)[0]
    with rewriter.modify_op_in_place(add):
        add.set_operands([add.rhs, add.lhs])
    assert rec.events == [("modified", "arith.addi")]
    assert add.lhs is func(module).args[1]
    check_use_lists(module)


def test_insert_op_at_insertion_point_and_explicit_positions():
    module = parse_module("""
    func.func @f(%a: i32) -> i32 {
      func.return %a : i32
    }""")
    rewriter = PatternRewriter()
    entry = func(module).entry
    ret = entry.last_op
    rewriter.set_insertion_point_before(ret)
    first = rewriter.insert_op(ConstantOp.build(IntegerAttr(1, i32)))
    second = rewriter.insert_op(ConstantOp.build(IntegerAttr(2, i32)))
    zeroth = rewriter.insert_op(ConstantOp.build(IntegerAttr(0, i32)), at_start=entry)
    third = rewriter.insert_op(ConstantOp.build(IntegerAttr(3, i32)), after=second)
    assert list(entry.ops) == [zeroth, first, second, third, ret]
    with pytest.raises(ValueError, match="at most one"):
        rewriter.insert_op(ConstantOp.build(IntegerAttr(4, i32)), before=ret, after=ret)


def test_inline_block_before_maps_arguments():
    module = parse_module("""
    func.func @f(%a: i32) -> i32 {
      %x = arith.addi %a, %a : i32
      func.return %x : i32
    }""")
    block = Block([i32])
    block.append(MulIOp.build(block.args[0], block.args[0]))
    rec = Recorder()
    add = ops_of(module, AddIOp)[0]
    ret = func(module).entry.last_op
    PatternRewriter(rec).inline_block_before(block, ret, [add.result])
    mul = add.next_op
    assert isinstance(mul, MulIOp)
    assert mul.lhs is add.result
    assert mul.rhs is add.result
    assert mul.next_op is ret
    assert ("inserted", "arith.muli") in rec.events
    assert block.is_empty
    check_use_lists(module)
    with pytest.raises(ValueError, match="arguments"):
        PatternRewriter().inline_block_before(Block([i32]), add, [])


def test_create_block_moves_insertion_point():
    module = parse_module("""
    "test.region"() ({
    }) : () -> ()
    """)
    region_op = next(iter(module.body.ops))
    rewriter = PatternRewriter()
    block = rewriter.create_block(region_op.regions[0], [i32])
    assert rewriter.insertion_block is block
    effect = rewriter.insert_op(EffectOp(operands=[block.args[0]]))
    assert effect.parent is block


# ----------------------------------------------------------------------------- patterns
class RewriteAddSelfToMulTwo(RewritePattern):
    """`addi %x, %x` -> `muli %x, 2`: builds a constant and an op through the rewriter."""

    op_type = AddIOp

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        if op.lhs is not op.rhs:
            return False
        two = rewriter.insert_op(ConstantOp.build(IntegerAttr(2, op.result.type)))
        rewriter.replace_op(op, MulIOp.build(op.lhs, two.result))
        return True


def test_pattern_rewrites_and_new_constants_are_hoisted_and_merged():
    module = parse_module("""
    func.func @f(%a: i32) -> (i32, i32) {
      %x = arith.addi %a, %a : i32
      %y = arith.addi %x, %x : i32
      func.return %x, %y : i32, i32
    }""")
    stats: dict[str, int] = {}
    changed, converged = apply_patterns_greedily(module, [RewriteAddSelfToMulTwo()], stats=stats)
    assert changed
    assert converged
    assert stats["num-rewritten"] == 2
    entry = func(module).entry
    consts = ops_of(module, ConstantOp)
    assert len(consts) == 1
    assert entry.first_op is consts[0]
    assert not ops_of(module, AddIOp)
    assert len(ops_of(module, MulIOp)) == 2
    check_use_lists(module)
    verify(module)


class ChangesButSaysNo(RewritePattern):
    op_type = AddIOp

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        with rewriter.modify_op_in_place(op):
            op.attributes["touched"] = IntegerAttr(1)
        return False


def test_pattern_that_changes_ir_but_reports_failure_is_an_error():
    module = parse_module("""
    func.func @f(%a: i32) -> i32 {
      %x = arith.addi %a, %a : i32
      func.return %x : i32
    }""")
    with pytest.raises(RuntimeError, match="ChangesButSaysNo"):
        apply_patterns_greedily(module, [ChangesButSaysNo()])


def test_patterns_are_indexed_by_op_class():
    seen: list[str] = []

    class RecordMul(RewritePattern):
        op_type = MulIOp

        def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
            seen.append(op.name)
            return False

    module = parse_module("""
    func.func @f(%a: i32) -> i32 {
      %x = arith.addi %a, %a : i32
      %y = arith.muli %x, %a : i32
      func.return %y : i32
    }""")
    apply_patterns_greedily(module, [RecordMul()])
    assert seen == ["arith.muli"]


def test_not_converging_within_max_iterations_is_reported():
    module = parse_module("""
    func.func @f() -> i32 {
      %c1 = arith.constant 1 : i32
      %x = arith.addi %c1, %c1 : i32
      func.return %x : i32
    }""")
    changed, converged = apply_patterns_greedily(module, [], max_iterations=1)
    assert changed
    assert not converged
    changed, converged = apply_patterns_greedily(module, [], max_iterations=1)
    assert not changed
    assert converged


# ----------------------------------------------------------------------------- folding
def test_should_fold_integer_arithmetic_chain():
    module = fold("""
    func.func @f() -> i32 {
      %c6 = arith.constant 6 : i32
      %c7 = arith.constant 7 : i32
      %m = arith.muli %c6, %c7 : i32
      %s = arith.subi %m, %c6 : i32
      %d = arith.divsi %s, %c7 : i32
      func.return %d : i32
    }""")
    assert returned_constant(module) == IntegerAttr(5, i32)
    assert len(ops_of(module, ConstantOp)) == 1


def test_should_fold_i8_addition_with_wraparound():
    module = fold("""
    func.func @f() -> i8 {
      %a = arith.constant 100 : i8
      %s = arith.addi %a, %a : i8
      func.return %s : i8
    }""")
    assert returned_constant(module) == IntegerAttr(-56, i8)


@pytest.mark.parametrize("op", ["arith.divsi", "arith.divui", "arith.remsi", "arith.remui"])
def test_should_not_fold_division_by_zero(op: str):
    module = fold(f"""
    func.func @f() -> i32 {{
      %a = arith.constant 7 : i32
      %z = arith.constant 0 : i32
      %d = {op} %a, %z : i32
      func.return %d : i32
    }}""")
    assert ops_of(module, type(func(module).entry.last_op.operand(0).defining_op()))
    assert func(module).entry.last_op.operand(0).defining_op().name == op


def test_should_not_fold_signed_division_overflow():
    module = fold("""
    func.func @f() -> i8 {
      %a = arith.constant -128 : i8
      %m = arith.constant -1 : i8
      %d = arith.divsi %a, %m : i8
      func.return %d : i8
    }""")
    assert func(module).entry.last_op.operand(0).defining_op().name == "arith.divsi"


def test_should_fold_float_addition_rounded_to_f32():
    module = fold("""
    func.func @f() -> f32 {
      %a = arith.constant 0.1 : f32
      %b = arith.constant 0.2 : f32
      %s = arith.addf %a, %b : f32
      func.return %s : f32
    }""")

    def as_f32(x: float) -> float:
        return struct.unpack("<f", struct.pack("<f", x))[0]

    expected = as_f32(as_f32(0.1) + as_f32(0.2))
    assert expected != as_f32(0.1) + as_f32(0.2)  # the f64 sum is not an f32 value
    assert returned_constant(module) == FloatAttr(expected, f32)


def test_should_fold_float_division_by_zero_to_infinity():
    module = fold("""
    func.func @f() -> f32 {
      %a = arith.constant 1.0 : f32
      %z = arith.constant 0.0 : f32
      %d = arith.divf %a, %z : f32
      func.return %d : f32
    }""")
    assert math.isinf(returned_constant(module).value)


def test_should_fold_compare_and_select():
    module = fold("""
    func.func @f(%x: i32, %y: i32) -> i32 {
      %a = arith.constant 3 : i32
      %b = arith.constant 5 : i32
      %c = arith.cmpi slt, %a, %b : i32
      %s = arith.select %c, %x, %y : i32
      func.return %s : i32
    }""")
    f = func(module)
    assert f.entry.last_op.operand(0) is f.args[0]
    assert not ops_of(module, ConstantOp)


def test_should_fold_identities_after_moving_constants_right():
    module = fold("""
    func.func @f(%x: i32) -> i32 {
      %c0 = arith.constant 0 : i32
      %c1 = arith.constant 1 : i32
      %a = arith.addi %c0, %x : i32
      %m = arith.muli %c1, %a : i32
      func.return %m : i32
    }""")
    f = func(module)
    assert f.entry.last_op.operand(0) is f.args[0]


def test_should_move_constants_right_on_commutative_ops():
    module = fold("""
    func.func @f(%x: i32) -> i32 {
      %c5 = arith.constant 5 : i32
      %a = arith.addi %c5, %x : i32
      func.return %a : i32
    }""")
    add = ops_of(module, AddIOp)[0]
    assert add.lhs is func(module).args[0]
    assert isinstance(add.rhs.defining_op(), ConstantOp)


def test_should_not_fold_oversized_shift():
    module = fold("""
    func.func @f() -> i8 {
      %a = arith.constant 1 : i8
      %s = arith.constant 8 : i8
      %r = arith.shli %a, %s : i8
      func.return %r : i8
    }""")
    assert func(module).entry.last_op.operand(0).defining_op().name == "arith.shli"


def test_should_fold_casts():
    module = fold("""
    func.func @f() -> i8 {
      %a = arith.constant 300 : i32
      %t = arith.trunci %a : i32 to i8
      func.return %t : i8
    }""")
    assert returned_constant(module) == IntegerAttr(44, i8)


# ----------------------------------------------------------------------------- constants
def test_should_merge_equal_constants_and_hoist_them_to_the_function_entry():
    module = fold("""
    func.func @f(%x: i32) {
      "test.region"() ({
        %c1 = arith.constant 1 : i32
        "test.effect"(%c1) : (i32) -> ()
      }) : () -> ()
      %c1b = arith.constant 1 : i32
      "test.effect"(%c1b, %x) : (i32, i32) -> ()
      func.return
    }""")
    consts = ops_of(module, ConstantOp)
    assert len(consts) == 1
    assert consts[0].parent is func(module).entry
    assert func(module).entry.first_op is consts[0]
    users = [op for op in module.walk() if isinstance(op, EffectOp)]
    assert all(u.operand(0) is consts[0].result for u in users)


def test_should_not_merge_constants_across_functions():
    module = fold("""
    func.func @f() -> i32 {
      %c = arith.constant 1 : i32
      func.return %c : i32
    }
    func.func @g() -> i32 {
      %c = arith.constant 1 : i32
      func.return %c : i32
    }""")
    consts = ops_of(module, ConstantOp)
    assert len(consts) == 2
    assert {c.parent_op() for c in consts} == {func(module, "f"), func(module, "g")}


def test_should_not_merge_constants_of_different_types():
    module = fold("""
    func.func @f() -> (i32, i64) {
      %a = arith.constant 1 : i32
      %b = arith.constant 1 : i64
      func.return %a, %b : i32, i64
    }""")
    assert len(ops_of(module, ConstantOp)) == 2


def test_folded_constant_reuses_existing_constant():
    module = fold("""
    func.func @f() -> (i32, i32) {
      %c3 = arith.constant 3 : i32
      %c1 = arith.constant 1 : i32
      %c2 = arith.constant 2 : i32
      %s = arith.addi %c1, %c2 : i32
      func.return %s, %c3 : i32, i32
    }""")
    consts = ops_of(module, ConstantOp)
    assert len(consts) == 1
    ret = func(module).entry.last_op
    assert ret.operand(0) is ret.operand(1) is consts[0].result
    assert consts[0].result.name_hint == "c3"


# ----------------------------------------------------------------------------- dead code
def test_dead_pure_ops_are_erased_but_side_effects_stay():
    module = fold("""
    func.func @f(%x: i32) {
      %a = arith.addi %x, %x : i32
      %b = arith.muli %a, %a : i32
      %e = "test.effect"(%x) : (i32) -> i32
      func.return
    }""")
    assert not ops_of(module, AddIOp)
    assert not ops_of(module, MulIOp)
    assert len(ops_of(module, EffectOp)) == 1


@define_op("test.pure_with_region")
class PureWithRegionOp(Operation):
    """Test-only: a Pure op with a region, which is dead only if its body is effect-free."""

    bodies = var_region()
    traits = (Pure(), NoTerminator())


def test_pure_op_with_side_effecting_region_is_not_trivially_dead():
    module = parse_module("""
    func.func @f() {
      func.return
    }""")
    entry = func(module).entry
    noisy = PureWithRegionOp(regions=[Region([Block()])])
    noisy.body.append(EffectOp())
    quiet = PureWithRegionOp(regions=[Region([Block()])])
    quiet.body.append(PureOp())
    entry.insert_before(noisy, entry.last_op)
    entry.insert_before(quiet, entry.last_op)
    assert not is_trivially_dead(noisy)
    assert is_trivially_dead(quiet)
    apply_patterns_greedily(module, [])
    assert list(entry.ops) == [noisy, entry.last_op]


def test_unreachable_blocks_are_erased_with_region_simplify():
    text = """
    func.func @f(%x: i32) -> i32 {
      "test.terminator"()[^bb1] : () -> ()
    ^bb1:
      func.return %x : i32
    ^bb2:
      %a = arith.addi %x, %x : i32
      "test.terminator"(%a)[^bb3] : (i32) -> ()
    ^bb3:
      %b = arith.muli %a, %a : i32
      "test.terminator"(%b)[^bb2] : (i32) -> ()
    }"""
    module = parse_module(text)
    apply_patterns_greedily(module, [], region_simplify=False)
    assert len(func(module).regions[0].blocks) == 4
    apply_patterns_greedily(module, [])
    assert len(func(module).regions[0].blocks) == 2
    check_use_lists(module)
    verify(module)


def test_erase_block_refuses_values_used_outside_it():
    module = parse_module("""
    func.func @f(%x: i32) -> i32 {
      "test.terminator"()[^bb1] : () -> ()
    ^bb1:
      %a = arith.addi %x, %x : i32
      "test.terminator"(%a)[^bb2] : (i32) -> ()
    ^bb2:
      func.return %a : i32
    }""")
    with pytest.raises(ValueError, match="used outside"):
        PatternRewriter().erase_block(func(module).regions[0].blocks[1])


def test_replace_uses_if_only_touches_selected_uses():
    module = parse_module("""
    func.func @f(%x: i32, %y: i32) -> (i32, i32) {
      %a = arith.addi %x, %x : i32
      func.return %a, %x : i32, i32
    }""")
    rec = Recorder()
    f = func(module)
    ret = f.entry.last_op
    PatternRewriter(rec).replace_uses_if(f.args[0], f.args[1], lambda user, _: user is ret)
    add = ops_of(module, AddIOp)[0]
    assert add.lhs is f.args[0]
    assert ret.operand(1) is f.args[1]
    assert rec.events == [("modified", "func.return")]
    check_use_lists(module)


# ----------------------------------------------------------------------------- random programs
_BINARY = {
    "arith.addi": lambda a, b: a + b,
    "arith.subi": lambda a, b: a - b,
    "arith.muli": lambda a, b: a * b,
    "arith.andi": lambda a, b: a & b,
    "arith.ori": lambda a, b: a | b,
    "arith.xori": lambda a, b: a ^ b,
}


def _wrap8(v: int) -> int:
    v &= 0xFF
    return v - 256 if v >= 128 else v


def _evaluate(module: Operation, arg: int) -> int:
    """A tiny i8 interpreter for straight-line arith code in `@f`."""
    f = func(module)
    env: dict[Value, int] = {f.args[0]: arg}
    for op in f.entry.ops:
        if isinstance(op, ConstantOp):
            env[op.result] = op.value.value
        elif op.name in _BINARY:
            env[op.result] = _wrap8(_BINARY[op.name](env[op.operand(0)], env[op.operand(1)]))
        else:
            return env[op.operand(0)]
    raise AssertionError("no return")


@st.composite
def _programs(draw: st.DrawFn) -> str:
    lines = ["func.func @f(%x: i8) -> i8 {"]
    names = ["%x"]
    for i in range(draw(st.integers(1, 12))):
        if draw(st.booleans()):
            lines.append(f"  %v{i} = arith.constant {draw(st.integers(-128, 127))} : i8")
        else:
            op = draw(st.sampled_from(sorted(_BINARY)))
            lhs, rhs = draw(st.sampled_from(names)), draw(st.sampled_from(names))
            lines.append(f"  %v{i} = {op} {lhs}, {rhs} : i8")
        names.append(f"%v{i}")
    lines.append(f"  func.return {names[-1]} : i8")
    lines.append("}")
    return "\n".join(lines)


@settings(max_examples=60, deadline=None)
@given(_programs(), st.integers(-128, 127))
def test_folding_preserves_the_value_of_random_programs(text: str, arg: int):
    module = parse_module(text)
    expected = _evaluate(module, arg)
    _, converged = apply_patterns_greedily(module, [])
    assert converged
    verify(module)
    check_use_lists(module)
    assert _evaluate(module, arg) == expected
    consts = [op.value for op in ops_of(module, ConstantOp)]
    assert len(consts) == len(set(consts)), "constants should be unique after folding"
