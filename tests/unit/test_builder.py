"""The Python builder: insertion points, create, and a built function that round-trips."""

from __future__ import annotations

import pytest

from dialects.arith import AddFOp, AddIOp, CmpFOp, ConstantOp, MulFOp, NegFOp, SelectOp, SIToFPOp
from dialects.builtin import ModuleOp
from dialects.func import CallOp, FuncOp, ReturnOp
from irc.attributes import FloatAttr, IntegerAttr
from irc.builder import Builder, InsertionPoint
from irc.ir import Block
from irc.location import NameLoc
from irc.types import TensorType, f32, i1, i32, index
from irc.verifier import verify
from textual_ir.parser import parse_module
from textual_ir.printer import print_op


def _names(block: Block) -> list[str]:
    return [op.name for op in block.ops]


def build_poly() -> ModuleOp:
    module = ModuleOp.build()
    b = Builder.at_end(module.body)
    f = b.create(FuncOp, "poly", [f32, i32], [f32], arg_names=["x", "n"])
    with b.at(InsertionPoint.at_end(f.entry)):
        x, n = f.args
        one = b.create(ConstantOp, 1.5, f32).result
        nf = b.create(SIToFPOp, n, f32).result
        s = b.create(AddFOp, x, one).result
        p = b.create(MulFOp, s, nf).result
        neg = b.create(NegFOp, p).result
        c = b.create(CmpFOp, "olt", p, neg).result
        sel = b.create(SelectOp, c, p, neg).result
        b.create(ReturnOp, [sel])
    return module


def test_build_function_prints_parses_and_verifies():
    module = build_poly()
    verify(module)
    text = print_op(module)
    assert "func.func @poly(%x: f32, %n: i32) -> f32" in text
    assert "arith.constant 1.5 : f32" in text
    assert "arith.cmpf olt" in text
    reparsed = parse_module(text)
    verify(reparsed)
    assert print_op(reparsed) == text
    assert print_op(reparsed, generic=True) == print_op(module, generic=True)


def test_create_returns_the_inserted_op_and_keeps_order():
    module = build_poly()
    func = next(iter(module.body.ops))
    assert _names(func.entry) == [
        "arith.constant", "arith.sitofp", "arith.addf", "arith.mulf", "arith.negf",
        "arith.cmpf", "arith.select", "func.return",
    ]  # fmt: skip


def test_insertion_points_before_after_start():
    block = Block([i32])
    b = Builder.at_end(block)
    (a,) = block.args
    first = b.create(AddIOp, a, a)
    last = b.create(AddIOp, a, a)
    with b.at(InsertionPoint.after(first)):
        x = b.create(ConstantOp, IntegerAttr(1, i32))
        y = b.create(ConstantOp, IntegerAttr(2, i32))
    with b.at(InsertionPoint.before(last)):
        z = b.create(ConstantOp, 3, i32)
    with b.at(InsertionPoint.at_start(block)):
        w = b.create(ConstantOp, 4, i32)
    assert list(block.ops) == [w, first, x, y, z, last]
    # the builder's own insertion point came back after each `with`
    end = b.create(ConstantOp, 5, i32)
    assert block.last_op is end


def test_at_accepts_a_block_and_restores_on_error():
    outer, inner = Block(), Block()
    b = Builder.at_end(outer)

    def fail() -> None:
        with b.at(inner):
            b.create(ConstantOp, 1, index)
            raise RuntimeError

    with pytest.raises(RuntimeError):
        fail()
    assert len(inner) == 1
    b.create(ConstantOp, 2, index)
    assert len(outer) == 1


def test_before_terminator_and_detached_builder():
    module = build_poly()
    func = next(iter(module.body.ops))
    b = Builder(InsertionPoint.before_terminator(func.entry))
    op = b.create(ConstantOp, 0.0, f32)
    assert op.next_op is func.entry.terminator()
    free = Builder().create(ConstantOp, 7, i32)
    assert free.parent is None


def test_insertion_point_needs_a_placed_op():
    op = ConstantOp.build(IntegerAttr(1, i32))
    with pytest.raises(ValueError, match="not in a block"):
        InsertionPoint.before(op)
    with pytest.raises(ValueError, match="not in a block"):
        InsertionPoint.after(op)


def test_builder_location_is_applied_to_unknown_locations():
    b = Builder(InsertionPoint.at_end(Block()), location=NameLoc("here"))
    op = b.create(ConstantOp, 1, i32)
    assert op.location == NameLoc("here")


def test_constant_build_from_python_values():
    assert ConstantOp.build(2.5, f32).value == FloatAttr(2.5, f32)
    assert ConstantOp.build(True, i1).value == IntegerAttr(1, i1)
    t = TensorType([2], f32)
    dense = ConstantOp.build([1.0, 2.0], t).value
    assert dense.to_numpy().tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match="needs a type"):
        ConstantOp.build(1)
    with pytest.raises(ValueError, match="given the type"):
        ConstantOp.build(IntegerAttr(1, i32), f32)


def test_calls_between_built_functions_verify():
    module = ModuleOp.build()
    b = Builder.at_end(module.body)
    callee = b.create(FuncOp, "callee", [i32], [i32], arg_names=["v"])
    with b.at(callee.entry):
        b.create(ReturnOp, callee.args)
    caller = b.create(FuncOp, "caller", [i32], [i32])
    with b.at(caller.entry):
        call = b.create(CallOp, "callee", caller.args, [i32])
        b.create(ReturnOp, call.results)
    verify(module)
    text = print_op(module)
    assert "func.call @callee(%arg0) : (i32) -> i32" in text
    verify(parse_module(text))
