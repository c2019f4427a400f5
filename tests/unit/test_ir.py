"""The IR graph: use-lists, block lists, regions, cloning and walking."""

from __future__ import annotations

import pytest

from dialects.arith import AddIOp, ConstantOp
from dialects.test import PureOp, RegionOp
from irc.attributes import IntegerAttr
from irc.ir import Block, Operation, Region, UnregisteredOp, Value
from irc.types import i32


def const(v: int = 0) -> ConstantOp:
    return ConstantOp.build(IntegerAttr(v, i32))


def uses(v: Value) -> list[tuple[Operation, int]]:
    return list(v.uses)


def add(a: Value, b: Value) -> AddIOp:
    return AddIOp.build(a, b)


def check_use_lists(*ops: Operation) -> None:
    """Every operand slot appears in its value's use-list and every use points at a real slot."""
    for op in ops:
        for i, v in enumerate(op.operands):
            assert (op, i) in v.uses
        for r in op.results:
            for user, i in r.uses:
                assert user.operand(i) is r


# ----------------------------------------------------------------------------- use-lists
def test_operands_register_uses_in_order():
    a, b = const(1), const(2)
    s = add(a.result, b.result)
    t = add(a.result, a.result)
    assert uses(a.result) == [(s, 0), (t, 0), (t, 1)]
    assert a.result.users() == [s, t]
    assert b.result.has_one_use()
    check_use_lists(a, b, s, t)


def test_set_operand_moves_the_use():
    a, b = const(1), const(2)
    s = add(a.result, a.result)
    s.set_operand(1, b.result)
    assert uses(a.result) == [(s, 0)]
    assert uses(b.result) == [(s, 1)]
    assert s.operands == (a.result, b.result)
    s.set_operands([b.result, b.result])
    assert not a.result.has_uses
    assert uses(b.result) == [(s, 0), (s, 1)]


def test_replace_all_uses_with():
    a, b = const(1), const(2)
    s, t = add(a.result, b.result), add(b.result, a.result)
    a.result.replace_all_uses_with(b.result)
    assert not a.result.uses
    assert s.operands == (b.result, b.result)
    assert t.operands == (b.result, b.result)
    assert set(uses(b.result)) == {(s, 0), (s, 1), (t, 0), (t, 1)}
    b.result.replace_all_uses_with(b.result)  # no-op
    assert len(uses(b.result)) == 4
    check_use_lists(s, t)


def test_replace_uses_if():
    a, b = const(1), const(2)
    s, t = add(a.result, a.result), add(a.result, a.result)
    a.result.replace_uses_if(b.result, lambda op, i: op is t or i == 0)
    assert s.operands == (b.result, a.result)
    assert t.operands == (b.result, b.result)
    check_use_lists(s, t)


def test_op_replace_all_uses_with_checks_count():
    a, b = const(1), const(2)
    s = add(a.result, a.result)
    with pytest.raises(ValueError, match="replacing 1 results"):
        a.replace_all_uses_with([])
    a.replace_all_uses_with([b.result])
    assert s.operands == (b.result, b.result)


def test_erase_with_uses_raises_and_erase_drops_operand_uses():
    block = Block()
    a = block.append(const(1))
    s = block.append(add(a.result, a.result))
    with pytest.raises(ValueError, match=r"still used by arith\.addi"):
        a.erase()
    assert a.parent is block
    s.erase()
    assert not a.result.uses
    assert s.parent is None
    a.erase()
    assert block.is_empty


def test_erase_drop_uses_and_nested_ops():
    outer = Block()
    a = outer.append(const(1))
    region_op = outer.append(RegionOp(operands=[a.result], regions=[Region([Block()])]))
    inner = region_op.regions[0].blocks[0].append(add(a.result, a.result))
    assert len(a.result.uses) == 3
    region_op.erase()
    assert not a.result.uses  # uses from nested ops went too
    assert inner.parent is None
    b = outer.append(const(2))
    c = outer.append(add(b.result, b.result))
    b.erase(drop_uses=True)
    assert b.parent is None
    assert c.parent is outer


def test_block_erase_arg_needs_no_uses_and_reindexes():
    block = Block([i32, i32, i32])
    x, y, z = block.args
    op = block.append(add(y, y))
    with pytest.raises(ValueError, match="still used"):
        block.erase_arg(1)
    block.erase_arg(0)
    assert [a.index for a in block.args] == [0, 1]
    assert block.args == [y, z]
    op.erase()
    block.erase_arg(0)
    assert block.args == [z]
    del x


# ----------------------------------------------------------------------------- blocks
def test_block_list_insert_erase_order():
    block = Block()
    a, b, c, d = const(1), const(2), const(3), const(4)
    block.append(b)
    block.insert_before(a, b)
    block.append(d)
    block.insert_after(c, b)
    assert list(block.ops) == [a, b, c, d]
    assert list(block.ops_reversed()) == [d, c, b, a]
    assert block.first_op is a
    assert block.last_op is d
    assert (a.prev_op, a.next_op, d.next_op) == (None, b, None)
    assert a.is_before_in_block(d)
    assert not c.is_before_in_block(b)
    c.detach()
    assert list(block.ops) == [a, b, d]
    assert b.next_op is d
    assert d.prev_op is b
    block.insert_before(c, a)
    assert list(block.ops) == [c, a, b, d]
    assert c.is_before_in_block(a)
    assert b.is_before_in_block(d)
    assert len(block) == 4
    block.insert_before(const(5), None)
    assert len(block) == 5


def test_op_in_two_blocks_is_refused():
    a = const()
    Block().append(a)
    with pytest.raises(ValueError, match="already in a block"):
        Block().append(a)


def test_iteration_survives_erasing_current_op():
    block = Block()
    ops = [block.append(const(i)) for i in range(4)]
    for op in block.ops:
        op.erase()
    assert block.is_empty
    assert all(op.parent is None for op in ops)


def test_block_predecessors_and_terminator():
    from dialects.test import TerminatorOp

    region = Region([Block(), Block(), Block()])
    b0, b1, b2 = region.blocks
    b0.append(TerminatorOp(successors=[b1, b2]))
    b1.append(TerminatorOp(successors=[b2]))
    assert b2.predecessors() == [b0, b1]
    assert b0.predecessors() == []
    assert b0.terminator() is b0.last_op
    assert b2.terminator() is None
    assert b1.index_in_region() == 1


def test_block_erase_removes_from_region():
    region = Region([Block(), Block()])
    b1 = region.blocks[1]
    b1.append(const())
    b1.erase()
    assert len(region.blocks) == 1
    assert b1.parent is None
    with pytest.raises(ValueError, match="already belongs"):
        region.add_block(region.blocks[0])


# ----------------------------------------------------------------------------- regions and cloning
def make_nested() -> tuple[Block, Operation]:
    """%a = const; %r = test.region(%a) ({ ^bb0(%x): %s = addi %x, %a ; ^bb1: %t = addi %s?.. })."""
    outer = Block()
    a = outer.append(const(1))
    body = Block([i32], ["x"])
    second = Block()
    holder = RegionOp(operands=[a.result], result_types=[i32], regions=[Region([body, second])])
    outer.append(holder)
    s = body.append(add(body.args[0], a.result))
    second.append(add(s.result, a.result))
    return outer, holder


def test_region_clone_remaps_inner_values_and_keeps_outer_ones():
    outer, holder = make_nested()
    a = outer.first_op
    mapping: dict = {}
    copy = holder.clone(mapping)
    assert copy is not holder
    assert type(copy) is RegionOp
    assert copy.operands == (a.result,)
    new_body, new_second = copy.regions[0].blocks
    orig_body = holder.regions[0].blocks[0]
    assert mapping[orig_body] is new_body
    assert mapping[orig_body.args[0]] is new_body.args[0]
    assert new_body.args[0].name_hint == "x"
    s2 = new_body.first_op
    assert s2.operands == (new_body.args[0], a.result)
    t2 = new_second.first_op
    assert t2.operand(0) is s2.result  # use in another block remapped
    assert t2.operand(1) is a.result
    assert mapping[holder.results[0]] is copy.results[0]
    check_use_lists(s2, t2)
    # the original is untouched
    assert holder.regions[0].blocks[0].first_op.operand(0) is orig_body.args[0]


def test_clone_with_outer_mapping_and_successors():
    from dialects.test import TerminatorOp

    region = Region([Block(), Block([i32])])
    b0, b1 = region.blocks
    c = b0.append(const(7))
    b0.append(TerminatorOp(operands=[c.result], successors=[b1]))
    clone = region.clone()
    n0, n1 = clone.blocks
    assert n0.last_op.successors == [n1]
    assert n0.last_op.operand(0) is n0.first_op.result


def test_clone_unregistered_op_keeps_name():
    op = UnregisteredOp.make("foo.bar", result_types=[i32], attributes={"k": IntegerAttr(1)})
    copy = op.clone()
    assert copy.name == "foo.bar"
    assert copy.attributes == op.attributes
    assert copy.attributes is not op.attributes


def test_take_body_moves_blocks():
    src = Region([Block(), Block()])
    blocks = list(src.blocks)
    dst = Region()
    dst.take_body(src)
    assert dst.blocks == blocks
    assert all(b.parent is dst for b in blocks)
    assert src.blocks == []


def test_add_region_twice_refused():
    r = Region()
    RegionOp(regions=[r])
    with pytest.raises(ValueError, match="already has a parent"):
        RegionOp(regions=[r])


# ----------------------------------------------------------------------------- walking
def test_walk_orders():
    outer, holder = make_nested()
    top = RegionOp(regions=[Region([outer])])
    a = outer.first_op
    s = holder.regions[0].blocks[0].first_op
    t = holder.regions[0].blocks[1].first_op
    assert list(top.walk()) == [top, a, holder, s, t]
    assert list(top.walk(post_order=True)) == [a, s, t, holder, top]
    assert list(top.walk(reverse=True)) == [top, holder, t, s, a]
    assert list(top.walk(reverse=True, post_order=True)) == [t, s, holder, a, top]
    assert list(top.walk_ops(AddIOp)) == [s, t]
    assert list(top.regions[0].walk()) == [a, holder, s, t]


def test_walk_tolerates_erasing_yielded_op():
    outer, _ = make_nested()
    top = RegionOp(regions=[Region([outer])])
    for op in top.walk(post_order=True):
        if isinstance(op, AddIOp):
            op.erase(drop_uses=True)
    assert list(top.walk_ops(AddIOp)) == []


def test_parent_queries():
    outer, holder = make_nested()
    top = RegionOp(regions=[Region([outer])])
    s = holder.regions[0].blocks[0].first_op
    assert s.parent_op() is holder
    assert s.parent_of_type(RegionOp) is holder
    assert holder.parent_op() is top
    assert top.is_ancestor(s)
    assert not holder.is_ancestor(outer.first_op)
    assert top.regions[0].is_ancestor_of(holder.regions[0])
    assert not holder.regions[0].is_ancestor_of(top.regions[0])
    assert s.results[0].parent_region() is holder.regions[0]
    assert PureOp.has_trait(type(PureOp.traits[0]))


# ----------------------------------------------------------------------------- verifier
def parse(text: str):
    from textual_ir.parser import parse_module

    return parse_module(text)


def verify_error(text: str) -> str:
    from irc.diagnostics import IRCError
    from irc.verifier import verify

    module = parse(text)
    with pytest.raises(IRCError) as info:
        verify(module)
    return str(info.value)


def verify_ok(text: str) -> None:
    from irc.verifier import verify

    verify(parse(text))


def test_dominance_in_one_block():
    assert "operand #0 does not dominate this use" in verify_error(
        """
        func.func @f() {
          %a = "test.pure"(%b) : (i32) -> i32
          %b = "test.pure"() : () -> i32
          func.return
        }
        """
    )


def test_self_use_does_not_dominate():
    assert "does not dominate" in verify_error(
        """
        func.func @f() {
          %a = "test.pure"(%a) : (i32) -> i32
          func.return
        }
        """
    )


CFG = """
func.func @f(%c: i1) -> i32 {
  %x = "test.pure"() : () -> i32
  "test.terminator"(%c)[^left, ^right] : (i1) -> ()
^left:
  %y = "test.pure"(%x) : (i32) -> i32
  "test.terminator"(%y)[^join] : (i32) -> ()
^right:
  %z = "test.pure"(%x) : (i32) -> i32
  "test.terminator"(%z)[^join] : (i32) -> ()
^join(%m: i32):
  USE
  func.return %m : i32
}
"""


def test_multi_block_dominance_through_successors():
    verify_ok(CFG.replace("USE", '"test.pure"(%x, %m) : (i32, i32) -> ()'))
    assert "operand #0 does not dominate this use" in verify_error(CFG.replace("USE", '"test.pure"(%y) : (i32) -> ()'))


def test_block_listed_before_its_dominator_is_fine():
    verify_ok(
        """
        func.func @f() -> i32 {
          "test.terminator"()[^def] : () -> ()
        ^use:
          func.return %v : i32
        ^def:
          %v = "test.pure"() : () -> i32
          "test.terminator"()[^use] : () -> ()
        }
        """
    )


def test_use_in_nested_region_of_later_value():
    assert "does not dominate" in verify_error(
        """
        func.func @f() {
          "test.region"() ({
            "test.pure"(%a) : (i32) -> ()
          }) : () -> ()
          %a = "test.pure"() : () -> i32
          func.return
        }
        """
    )


def test_nested_region_may_use_values_from_above():
    verify_ok(
        """
        func.func @f(%a: i32) {
          %b = "test.pure"() : () -> i32
          "test.region"() ({
          ^bb0(%x: i32):
            "test.pure"(%a, %b, %x) : (i32, i32, i32) -> ()
          }) : () -> ()
          func.return
        }
        """
    )


def test_graph_regions_allow_use_before_definition():
    verify_ok(
        """
        "test.graph"() ({
          %a = "test.pure"(%b) : (i32) -> i32
          %b = "test.pure"(%a) : (i32) -> i32
        }) : () -> ()
        """
    )


def test_isolated_from_above():
    text = """
        func.func @f(%a: i32) {
          "test.isolated"() ({
            "test.pure"(%a) : (i32) -> ()
          }) : () -> ()
          func.return
        }
        """
    message = verify_error(text)
    assert "using value defined outside the region" in message


def test_terminators():
    assert "must be the last operation" in verify_error(
        """
        func.func @f() {
          func.return
          "test.pure"() : () -> ()
        }
        """
    )
    assert "block with no terminator, has 'test.pure'" in verify_error(
        """
        func.func @f() {
          "test.pure"() : () -> ()
        }
        """
    )
    assert "has successors but is not a terminator" in verify_error(
        """
        func.func @f() {
          "test.pure"()[^bb1] : () -> ()
        ^bb1:
          func.return
        }
        """
    )


def test_entry_block_may_not_have_predecessors():
    assert "entry block of region may not have predecessors" in verify_error(
        """
        func.func @f() {
          "test.terminator"()[^bb0] : () -> ()
        }
        """.replace("{\n", "{\n^bb0:\n", 1)
    )


def test_symbol_table_redefinition_and_missing_name():
    assert "redefinition of symbol named 'f'" in verify_error(
        """
        func.func private @f()
        func.func private @f()
        """
    )
    assert "'test.symbol' op requires string attribute 'sym_name'" in verify_error(
        """
        "test.symbol_table"() ({
          "test.symbol"() : () -> ()
        }) : () -> ()
        """
    )


def test_unnamed_nested_modules_are_optional_symbols():
    verify_ok("module {\n  module {\n  }\n}\n")


def test_symbol_uses_are_checked():
    assert "'g' does not reference a valid function" in verify_error(
        """
        func.func @f() {
          func.call @g() : () -> ()
          func.return
        }
        """
    )
    assert "incorrect number of operands for callee" in verify_error(
        """
        func.func private @g(i32)
        func.func @f() {
          func.call @g() : () -> ()
          func.return
        }
        """
    )
    verify_ok(
        """
        func.func private @g(i32) -> i32
        func.func @f(%a: i32) -> i32 {
          %r = func.call @g(%a) : (i32) -> i32
          func.return %r : i32
        }
        """
    )


def test_erased_value_use_is_reported():
    from irc.diagnostics import IRCError
    from irc.verifier import verify

    module = parse(
        """
        func.func @f() {
          %a = "test.pure"() : () -> i32
          "test.pure"(%a) : (i32) -> ()
          func.return
        }
        """
    )
    func = module.body.first_op
    func.entry.first_op.detach()
    with pytest.raises(IRCError, match="no longer in the IR"):
        verify(module)
