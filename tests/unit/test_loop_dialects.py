"""The loop, memref, math and vector dialects: Python builders and math folders.

Builders must produce IR that verifies and prints in the documented pretty forms (and reads
back to the same text); math folders must agree with IEEE arithmetic, checked against Python's
`math` where it answers and against numpy where Python raises (poles, overflow, NaN).
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dialects.math as m
from dialects.arith import AddFOp, ConstantOp, FastMathAttr, MaximumFOp
from dialects.builtin import ModuleOp
from dialects.func import FuncOp, ReturnOp
from dialects.loop import ForOp, ParallelOp, YieldOp
from dialects.memref import (
    ALIGNMENT,
    AllocOp,
    CopyOp,
    DeallocOp,
    GetGlobalOp,
    GlobalOp,
    LoadOp,
    ReshapeOp,
    StoreOp,
    VectorLoadOp,
    VectorStoreOp,
    ViewOp,
    byte_size,
    element_bytes,
)
from dialects.vector import BroadcastOp, ReductionOp
from irc.attributes import DenseElementsAttr, FloatAttr, round_float
from irc.builder import Builder
from irc.diagnostics import IRCError
from irc.ir import Block
from irc.types import FloatType, IntegerType, MemRefType, TensorType, VectorType, f32, f64, i1, i8, i32, i64, index
from irc.verifier import verify
from textual_ir.parser import parse_module
from textual_ir.printer import print_op


def _func(inputs, results=(), names=()) -> tuple[ModuleOp, FuncOp, Builder]:
    module = ModuleOp.build()
    f = Builder.at_end(module.body).create(FuncOp, "f", list(inputs), list(results), arg_names=list(names))
    return module, f, Builder.at_end(f.entry)


def _round_trips(module: ModuleOp) -> str:
    """Verifies, prints, and checks that the text and the generic text read back unchanged."""
    verify(module)
    text = print_op(module)
    reparsed = parse_module(text)
    verify(reparsed)
    assert print_op(reparsed) == text
    generic = print_op(module, generic=True)
    assert print_op(parse_module(generic), generic=True) == generic
    return text


# ----------------------------------------------------------------------------- loop
def _index_consts(b: Builder, *values: int) -> list:
    out = []
    for v in values:
        out.append(b.create(ConstantOp, v, index).result)
        out[-1].name_hint = f"c{v}" if v >= 0 else f"cm{-v}"
    return out


def test_for_with_two_iter_args_builds_verifies_and_prints():
    module, f, b = _func([MemRefType([16], f32)], [f32, f32], ["a"])
    c0, c16, c1 = _index_consts(b, 0, 16, 1)
    zero = b.create(ConstantOp, 0.0, f32).result
    zero.name_hint = "zero"
    loop = b.create(ForOp, c0, c16, c1, [zero, zero], iv_name="i")
    assert [a.type for a in loop.body_block.args] == [index, f32, f32]
    assert not list(loop.body_block.ops)
    with b.at(loop.body_block):
        x = b.create(LoadOp, f.args[0], [loop.induction_var]).result
        s = b.create(AddFOp, loop.iter_args[0], x).result
        mx = b.create(MaximumFOp, loop.iter_args[1], x).result
        b.create(YieldOp, [s, mx])
    b.create(ReturnOp, list(loop.results))
    text = _round_trips(module)
    assert "%0:2 = loop.for %i = %c0 to %c16 step %c1 iter_args(%arg0 = %zero, %arg1 = %zero) -> (f32, f32) {" in text
    assert "%2 = arith.addf %arg0, %1 : f32" in text
    assert "loop.yield %2, %3 : f32, f32" in text
    assert "func.return %0#0, %0#1 : f32, f32" in text
    assert loop.constant_bounds() == [(0, 16, 1)]
    assert loop.lower_bounds == [c0]
    assert loop.upper_bounds == [c16]
    assert loop.steps == [c1]
    assert loop.induction_vars == [loop.induction_var]
    assert list(loop.inits) == [zero, zero]


def test_for_without_iter_args_prints_no_iter_args():
    module, f, b = _func([MemRefType([4], index)], [], ["m"])
    c0, c4, c1 = _index_consts(b, 0, 4, 1)
    loop = b.create(ForOp, c0, c4, c1, iv_name="i")
    assert not loop.results
    assert not loop.iter_args
    with b.at(loop.body_block):
        b.create(StoreOp, loop.induction_var, f.args[0], [loop.induction_var])
        b.create(YieldOp)
    b.create(ReturnOp)
    text = _round_trips(module)
    assert "loop.for %i = %c0 to %c4 step %c1 {" in text
    assert "iter_args" not in text
    assert "memref.store %i, %m[%i] : memref<4xindex>" in text


def test_for_bounds_that_are_not_constants():
    module, f, b = _func([index, index], [], ["lb", "ub"])
    (c2,) = _index_consts(b, 2)
    loop = b.create(ForOp, f.args[0], f.args[1], c2, iv_name="i")
    with b.at(loop.body_block):
        b.create(YieldOp)
    b.create(ReturnOp)
    verify(module)
    assert loop.constant_bounds() == [None]
    assert "loop.for %i = %lb to %ub step %c2 {" in print_op(module)


def test_nested_for_loops_carry_a_value_through_both():
    module, f, b = _func([MemRefType([4, 8], f32)], [f32], ["a"])
    c0, c4, c8, c1 = _index_consts(b, 0, 4, 8, 1)
    zero = b.create(ConstantOp, 0.0, f32).result
    outer = b.create(ForOp, c0, c4, c1, [zero], iv_name="i")
    with b.at(outer.body_block):
        inner = b.create(ForOp, c0, c8, c1, [outer.iter_args[0]], iv_name="j")
        with b.at(inner.body_block):
            x = b.create(LoadOp, f.args[0], [outer.induction_var, inner.induction_var]).result
            b.create(YieldOp, [b.create(AddFOp, inner.iter_args[0], x).result])
        b.create(YieldOp, [inner.results[0]])
    b.create(ReturnOp, [outer.results[0]])
    text = _round_trips(module)
    assert "memref.load %a[%i, %j] : memref<4x8xf32>" in text


def test_for_yield_of_the_wrong_type_fails_verification_at_the_yield():
    module, f, b = _func([f32], [], ["x"])
    c0, c4, c1 = _index_consts(b, 0, 4, 1)
    loop = b.create(ForOp, c0, c4, c1, [f.args[0]])
    with b.at(loop.body_block):
        b.create(YieldOp, [loop.induction_var])
    b.create(ReturnOp)
    with pytest.raises(IRCError, match=r"must yield \(f32\) to match the loop's iteration arguments, but yields"):
        verify(module)


def test_for_without_yield_fails_verification():
    module, _, b = _func([], [])
    c0, c4, c1 = _index_consts(b, 0, 4, 1)
    b.create(ForOp, c0, c4, c1)
    b.create(ReturnOp)
    with pytest.raises(IRCError, match=re.escape("expects its body to end with 'loop.yield'")):
        verify(module)


@pytest.mark.parametrize("step", [0, -3])
def test_non_positive_constant_step_fails_verification(step: int):
    module, _, b = _func([], [])
    c0, c4, cs = _index_consts(b, 0, 4, step)
    loop = b.create(ParallelOp, [c0], [c4], [cs])
    with b.at(loop.body_block):
        b.create(YieldOp)
    b.create(ReturnOp)
    with pytest.raises(IRCError, match=f"constant step must be positive, but got {step}"):
        verify(module)


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_parallel_builds_with_one_to_three_dims(dims: int):
    shape = [2, 3, 4][:dims]
    module, f, b = _func([MemRefType(shape, f32), f32], [], ["m", "x"])
    zeros = _index_consts(b, *([0] * dims))
    ubs = _index_consts(b, *shape)
    ones = _index_consts(b, *([1] * dims))
    names = ["i", "j", "k"][:dims]
    loop = b.create(ParallelOp, zeros, ubs, ones, names)
    assert [a.type for a in loop.body_block.args] == [index] * dims
    assert loop.induction_vars == list(loop.body_block.args)
    with b.at(loop.body_block):
        b.create(StoreOp, f.args[1], f.args[0], loop.induction_vars)
        b.create(YieldOp)
    b.create(ReturnOp)
    text = _round_trips(module)
    ivs = ", ".join(f"%{n}" for n in names)
    assert f"loop.parallel ({ivs}) = (" in text
    assert f"memref.store %x, %m[{ivs}]" in text
    assert f"operandSegmentSizes = array<i32: {dims}, {dims}, {dims}>" in print_op(module, generic=True)
    assert "operandSegmentSizes" not in text
    assert loop.constant_bounds() == [(0, n, 1) for n in shape]
    assert len(loop.lower_bounds) == len(loop.upper_bounds) == len(loop.steps) == dims


def test_parallel_rejects_yielded_values():
    module, f, b = _func([index], [], ["n"])
    c0, c1 = _index_consts(b, 0, 1)
    loop = b.create(ParallelOp, [c0], [f.args[0]], [c1])
    with b.at(loop.body_block):
        b.create(YieldOp, [loop.induction_vars[0]])
    b.create(ReturnOp)
    with pytest.raises(IRCError, match=re.escape("must not yield values in a 'loop.parallel'")):
        verify(module)


def test_yield_outside_a_loop_fails_verification():
    module, _, b = _func([], [])
    b.create(YieldOp)
    with pytest.raises(IRCError, match=re.escape("expects parent op to be one of 'loop.for', 'loop.parallel'")):
        verify(module)


# ----------------------------------------------------------------------------- memref
def test_element_and_byte_sizes():
    assert [element_bytes(t) for t in (i1, i8, i32, i64, f32, f64, index)] == [1, 1, 4, 8, 4, 8, 8]
    assert byte_size(MemRefType([4, 8], f32)) == 128
    assert byte_size(MemRefType([3], i1)) == 3
    assert byte_size(MemRefType([], f64)) == 8
    assert ALIGNMENT == 64


def test_memref_builders_verify_and_print():
    arena_t = MemRefType([4096], i8)
    module, f, b = _func([arena_t, MemRefType([32], f32), index], [], ["arena", "out", "i"])
    arena, out, i = f.args
    (c0,) = _index_consts(b, 0)
    t = b.create(ViewOp, arena, 256, MemRefType([4, 8], f32))
    assert t.offset == 256
    a = b.create(AllocOp, MemRefType([4, 8], f32), "tmp")
    x = b.create(LoadOp, t.result, [i, c0])
    assert x.result.type == f32
    b.create(StoreOp, x.result, a.result, [c0, i])
    v = b.create(VectorLoadOp, t.result, [i, c0], VectorType([8], f32))
    b.create(VectorStoreOp, v.result, a.result, [i, c0])
    r = b.create(ReshapeOp, a.result, MemRefType([32], f32))
    b.create(CopyOp, r.result, out)
    b.create(DeallocOp, a.result)
    b.create(ReturnOp)
    text = _round_trips(module)
    for line in [
        "%0 = memref.view %arena[256] : memref<4096xi8> to memref<4x8xf32>",
        "%tmp = memref.alloc() : memref<4x8xf32>",
        "memref.load %0[%i, %c0] : memref<4x8xf32>",
        "memref.store %1, %tmp[%c0, %i] : memref<4x8xf32>",
        "memref.vector_load %0[%i, %c0] : memref<4x8xf32>, vector<8xf32>",
        "memref.vector_store %2, %tmp[%i, %c0] : memref<4x8xf32>, vector<8xf32>",
        "memref.reshape %tmp : memref<4x8xf32> to memref<32xf32>",
        "memref.copy %3, %out : memref<32xf32>",
        "memref.dealloc %tmp : memref<4x8xf32>",
    ]:
        assert line in text, line


def test_view_out_of_bounds_fails_verification():
    module, f, b = _func([MemRefType([64], i8)], [], ["arena"])
    b.create(ViewOp, f.args[0], 48, MemRefType([8], f32))
    b.create(ReturnOp)
    with pytest.raises(IRCError, match="view of 32 bytes at offset 48 does not fit in a buffer of 64 bytes"):
        verify(module)


def test_global_from_a_dense_attribute():
    data = np.arange(6, dtype=np.float32).reshape(2, 3)
    value = DenseElementsAttr.from_numpy(TensorType([2, 3], f32), data)
    module = ModuleOp.build()
    mb = Builder.at_end(module.body)
    g = mb.create(GlobalOp, "cst_0", value)
    assert g.memref_type == MemRefType([2, 3], f32)
    assert g.sym_name.value == "cst_0"
    f = mb.create(FuncOp, "f", [], [MemRefType([2, 3], f32)])
    b = Builder.at_end(f.entry)
    w = b.create(GetGlobalOp, "cst_0", g.memref_type)
    b.create(ReturnOp, [w.result])
    text = _round_trips(module)
    assert "memref.global @cst_0 = dense<[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]> : memref<2x3xf32>" in text
    assert "memref.get_global @cst_0 : memref<2x3xf32>" in text
    assert "initial_value = dense<[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]> : tensor<2x3xf32>" in print_op(
        module, generic=True
    )
    np.testing.assert_array_equal(g.initial_value.to_numpy(), data)


def test_global_from_a_memref_typed_attribute_stores_a_tensor_type():
    value = DenseElementsAttr.from_numpy(MemRefType([2], i32), np.array([1, 2], dtype=np.int32))
    g = GlobalOp.build("w", value)
    assert isinstance(g.initial_value.type, TensorType)
    assert g.memref_type == MemRefType([2], i32)
    module = ModuleOp.build()
    module.body.append(g)
    verify(module)
    assert "memref.global @w = dense<[1, 2]> : memref<2xi32>" in print_op(module)


def test_global_splat():
    value = DenseElementsAttr.from_numpy(TensorType([4, 4], f64), 0.5)
    module = ModuleOp.build()
    module.body.append(GlobalOp.build("half", value))
    assert "memref.global @half = dense<0.5> : memref<4x4xf64>" in _round_trips(module)


def test_get_global_of_a_wrong_type_fails_verification():
    module = ModuleOp.build()
    mb = Builder.at_end(module.body)
    mb.create(GlobalOp, "w", DenseElementsAttr.from_numpy(TensorType([4], f32), 1.0))
    f = mb.create(FuncOp, "f", [], [])
    b = Builder.at_end(f.entry)
    b.create(GetGlobalOp, "w", MemRefType([8], f32))
    b.create(ReturnOp)
    with pytest.raises(IRCError, match="does not match the global's type 'memref<4xf32>'"):
        verify(module)


# ----------------------------------------------------------------------------- vector, math
def test_vector_builders_verify_and_print():
    module, f, b = _func([f32, VectorType([8], f32)], [f32], ["s", "v"])
    s, v = f.args
    bc = b.create(BroadcastOp, s, VectorType([8], f32))
    red = b.create(ReductionOp, "add", bc.result, s, FastMathAttr.parse("reassoc"))
    plain = b.create(ReductionOp, "maximumf", v, None, FastMathAttr.parse("none"))
    assert "fastmath" not in plain.properties
    assert red.results[0].type == f32
    assert red.acc is s
    b.create(ReturnOp, [b.create(AddFOp, red.result, plain.result).result])
    text = _round_trips(module)
    assert "%0 = vector.broadcast %s : f32 to vector<8xf32>" in text
    assert "vector.reduction add, %0, %s fastmath<reassoc> : vector<8xf32> into f32" in text
    assert "vector.reduction maximumf, %v : vector<8xf32> into f32" in text


def test_math_builders_verify_and_print():
    module, f, b = _func([f32, VectorType([4], f64)], [], ["x", "v"])
    x, v = f.args
    b.create(m.ExpOp, x)
    b.create(m.PowFOp, x, x)
    b.create(m.FmaOp, v, v, v)
    b.create(m.RoundEvenOp, v)
    b.create(ReturnOp)
    text = _round_trips(module)
    assert "math.exp %x : f32" in text
    assert "math.powf %x, %x : f32" in text
    assert "math.fma %v, %v, %v : vector<4xf64>" in text
    assert "math.roundeven %v : vector<4xf64>" in text


# ----------------------------------------------------------------------------- math folders
# (op class, Python's function, numpy's function) for the unary ops.
UNARY = [
    (m.ExpOp, math.exp, np.exp),
    (m.Exp2Op, lambda x: 2.0**x, np.exp2),
    (m.ExpM1Op, math.expm1, np.expm1),
    (m.LogOp, math.log, np.log),
    (m.Log2Op, math.log2, np.log2),
    (m.Log1pOp, math.log1p, np.log1p),
    (m.SqrtOp, math.sqrt, np.sqrt),
    (m.RsqrtOp, lambda x: 1.0 / math.sqrt(x), lambda x: 1.0 / np.sqrt(x)),
    (m.TanhOp, math.tanh, np.tanh),
    (m.ErfOp, math.erf, None),
    (m.SinOp, math.sin, np.sin),
    (m.CosOp, math.cos, np.cos),
    (m.AbsFOp, abs, np.abs),
    (m.FloorOp, lambda x: float(math.floor(x)), np.floor),
    (m.CeilOp, lambda x: float(math.ceil(x)), np.ceil),
    (m.RoundEvenOp, lambda x: float(round(x)), np.rint),
]
EXACT = (m.AbsFOp, m.FloorOp, m.CeilOp, m.RoundEvenOp, m.SqrtOp)


def _fold(cls, t: FloatType, *values: float) -> float:
    block = Block([t] * len(values))
    op = cls.build(*block.args)
    (out,) = op.fold([FloatAttr(v, t) for v in values])
    assert isinstance(out, FloatAttr)
    assert out.type == t
    return out.value


def _same(a: float, b: float) -> bool:
    """Equal as IEEE values: NaN matches NaN, and the sign of a zero counts."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def _close(a: float, b: float, t: FloatType) -> bool:
    """Within a few units in the last place of `t` (special values and zero signs exactly)."""
    if not (math.isfinite(a) and math.isfinite(b)) or a == 0 or b == 0:
        return _same(a, b) or (a == b == 0.0)
    eps, tiny = (2.0**-21, 2.0**-147) if t.width == 32 else (2.0**-50, 2.0**-1072)
    return abs(a - b) <= eps * max(abs(a), abs(b)) + tiny


def _python(fn, *args: float) -> float | None:
    try:
        return fn(*args)
    except (ValueError, OverflowError, ZeroDivisionError):
        return None


def _numpy(fn, *args: float) -> float:
    # On one-element arrays: numpy's scalar paths differ (its scalar power(-inf, 0.5) is NaN).
    with np.errstate(all="ignore"):
        return float(fn(*(np.array([a], dtype=np.float64) for a in args))[0])


SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 1.5, -2.5, 1e-310, 100.0, 1000.0, -1000.0, math.inf, -math.inf, math.nan]
floats64 = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(SPECIAL)
floats32 = st.floats(allow_nan=True, allow_infinity=True, width=32) | st.sampled_from(SPECIAL)


@pytest.mark.parametrize(("cls", "py", "npf"), UNARY, ids=[c.name for c, _, _ in UNARY])
@settings(max_examples=150, deadline=None)
@given(x64=floats64, x32=floats32)
def test_unary_folds_agree_with_python_and_numpy(cls, py, npf, x64: float, x32: float):
    rounding = cls in (m.FloorOp, m.CeilOp, m.RoundEvenOp)
    for t, x in ((f64, x64), (f32, round_float(x32, f32))):
        got = _fold(cls, t, x)
        ref = _python(py, x)
        if ref is not None:
            # Where Python answers, it is the reference (rounded to the type); Python's
            # floor/ceil/round give integers, which have no negative zero.
            want = round_float(ref, t)
            assert got == want if rounding and want == 0 else _same(got, want), (t, x, got, want)
        if npf is None:
            continue
        # numpy follows IEEE where Python raises (poles, overflow), and keeps zero signs.
        expected = round_float(_numpy(npf, x), t)
        if cls in EXACT or ref is None:
            assert _same(got, expected), (t, x, got, expected)
        else:
            assert _close(got, expected, t), (t, x, got, expected)


@settings(max_examples=300, deadline=None)
@given(a=floats64, b=floats64)
def test_powf_fold_follows_ieee_pow(a: float, b: float):
    got = _fold(m.PowFOp, f64, a, b)
    expected = _numpy(np.power, a, b)
    ref = _python(math.pow, a, b)
    if ref is not None:
        assert _same(got, ref), (a, b, got, ref)
    assert _close(got, expected, f64), (a, b, got, expected)


@pytest.mark.parametrize(
    ("a", "b", "want"),
    [
        (0.0, -1.0, math.inf),
        (-0.0, -1.0, -math.inf),
        (-0.0, -2.0, math.inf),
        (-0.0, -0.5, math.inf),
        (0.0, -math.inf, math.inf),
        (-10.0, 401.0, -math.inf),
        (-10.0, 400.0, math.inf),
        (-8.0, 1.0 / 3.0, math.nan),
        (math.nan, 0.0, 1.0),
        (1.0, math.nan, 1.0),
        (-1.0, math.inf, 1.0),
    ],
)
def test_powf_fold_special_cases(a: float, b: float, want: float):
    assert _same(_fold(m.PowFOp, f64, a, b), want)


F32_OVERFLOW = Fraction(2**128 - 2**103)  # halfway from the largest f32 to 2^128: rounds to inf


def _correctly_rounded_f32(exact: Fraction, got: float) -> bool:
    """`got` is the f32 nearest `exact` (ties to an even bit pattern)."""
    if abs(exact) >= F32_OVERFLOW:
        return got == math.copysign(math.inf, exact)
    g = np.float32(got)
    with np.errstate(over="ignore"):
        neighbours = [float(np.nextafter(g, np.float32(d))) for d in (-np.inf, np.inf)]
    d = abs(exact - Fraction(got))
    for n in neighbours:
        if math.isinf(n):
            continue
        dn = abs(exact - Fraction(n))
        if dn < d or (dn == d and int(g.view(np.uint32)) & 1):
            return False
    return True


@settings(max_examples=300, deadline=None)
@given(
    a=st.floats(allow_nan=False, allow_infinity=False, width=32),
    b=st.floats(allow_nan=False, allow_infinity=False, width=32),
    c=st.floats(allow_nan=False, allow_infinity=False, width=32),
)
def test_fma_fold_rounds_once(a: float, b: float, c: float):
    exact = Fraction(a) * Fraction(b) + Fraction(c)
    got64 = _fold(m.FmaOp, f64, a, b, c)
    if exact != 0:
        assert got64 == float(exact)  # Fraction -> float rounds correctly
    got32 = _fold(m.FmaOp, f32, a, b, c)
    if exact != 0:
        assert _correctly_rounded_f32(exact, got32), (a, b, c, got32)


@pytest.mark.parametrize(
    ("a", "b", "c", "want"),
    [
        # (1 + 2^-30)^2 - (1 + 2^-29) = 2^-60, which a * b + c in doubles loses.
        (1 + 2.0**-30, 1 + 2.0**-30, -(1 + 2.0**-29), 2.0**-60),
        (math.inf, 0.0, 1.0, math.nan),
        (1e300, 1e300, -math.inf, -math.inf),  # the product overflows, but fma is exact
        (2.0, 3.0, math.nan, math.nan),
        (-0.0, 1.0, -0.0, -0.0),
        (1.0, 1.0, -1.0, 0.0),
    ],
)
def test_fma_fold_special_cases(a: float, b: float, c: float, want: float):
    assert _same(_fold(m.FmaOp, f64, a, b, c), want)


def test_fma_fold_to_f32_avoids_double_rounding():
    # (1 + 2^-12)^2 = 1 + 2^-11 + 2^-24: exactly between two f32 values; ties go to even.
    a = 1.0 + 2.0**-12
    assert _fold(m.FmaOp, f32, a, a, 0.0) == 1.0 + 2.0**-11
    # Adding 2^-60 breaks the tie upwards, but an f64 rounds it back onto the tie, and
    # rounding that f64 to f32 would then go down.
    assert _fold(m.FmaOp, f32, a, a, 2.0**-60) == 1.0 + 2.0**-11 + 2.0**-23


def test_folds_on_non_float_or_missing_constants_do_nothing():
    block = Block([f32, VectorType([4], f32)])
    op = m.ExpOp.build(block.args[0])
    assert op.fold([None]) is None
    vec = m.ExpOp.build(block.args[1])
    assert vec.fold([DenseElementsAttr.from_numpy(VectorType([4], f32), 1.0)]) is None
    fma = m.FmaOp.build(block.args[0], block.args[0], block.args[0])
    assert fma.fold([FloatAttr(1.0, f32), None, FloatAttr(1.0, f32)]) is None


def test_integer_types_are_not_math_operands():
    module, f, b = _func([IntegerType(32)], [], ["n"])
    b.create(m.ExpOp, f.args[0])
    b.create(ReturnOp)
    with pytest.raises(IRCError, match="operand #0 must be floating-point-like, but got 'i32'"):
        verify(module)


# ----------------------------------------------------------------------------- MLIR interop
def _mlir_opt() -> str | None:
    for name in ("mlir-opt", "mlir-opt-22"):
        found = shutil.which(name)
        if found is not None:
            return found
    path = "/usr/lib/llvm-22/bin/mlir-opt"
    return path if os.path.exists(path) else None


INTEROP = """
func.func @f(%m: memref<4x8xf32>, %s: memref<f64>, %i: index, %x: f32, %v: vector<8xf32>) -> f32 {
  %a = memref.alloc() : memref<4x8xf32>
  %y = memref.load %m[%i, %i] : memref<4x8xf32>
  memref.store %y, %a[%i, %i] : memref<4x8xf32>
  %d = memref.load %s[] : memref<f64>
  %r = math.rsqrt %d fastmath<afn> : f64
  memref.store %r, %s[] : memref<f64>
  memref.copy %a, %m : memref<4x8xf32>
  memref.dealloc %a : memref<4x8xf32>
  %e = math.exp %y fastmath<fast> : f32
  %p = math.powf %e, %x : f32
  %f = math.fma %v, %v, %v fastmath<contract> : vector<8xf32>
  %t = math.tanh %f : vector<8xf32>
  %g = math.roundeven %t : vector<8xf32>
  %b = vector.broadcast %p : f32 to vector<8xf32>
  %c = arith.cmpf olt, %g, %b : vector<8xf32>
  %sel = arith.select %c, %g, %b : vector<8xi1>, vector<8xf32>
  func.return %p : f32
}
"""


@pytest.mark.skipif(_mlir_opt() is None, reason="mlir-opt not found")
def test_memref_and_math_generic_forms_interoperate_with_mlir():
    """MLIR reads (and verifies) the generic forms of memref.alloc/load/store/copy/dealloc,
    the math ops and vector.broadcast that irc-opt prints, and irc-opt reads MLIR's back."""

    def mlir(text: str) -> str:
        cmd = [_mlir_opt(), "--mlir-print-op-generic", "--allow-unregistered-dialect", "-"]
        proc = subprocess.run(cmd, input=text, capture_output=True, text=True, timeout=60, check=False)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    ours = print_op(parse_module(INTEROP), generic=True)
    theirs = mlir(ours)
    assert '"memref.alloc"() <{operandSegmentSizes = array<i32: 0, 0>}>' in theirs
    back = print_op(parse_module(theirs), generic=True)
    assert mlir(back) == theirs
