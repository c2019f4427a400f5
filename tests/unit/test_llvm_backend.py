"""The LLVM code generator (irc.backend.llvm): loop-level IR written by hand, compiled for this
CPU and run on numpy arrays, checked against numpy. Math functions are checked over their whole
range (random values at every magnitude plus 0, -0, inf, nan, subnormals and the overflow and
underflow edges) to a relative error of 1e-6 for f32."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import irc
from irc.backend import llvm
from irc.diagnostics import IRCError
from irc.verifier import verify
from textual_ir.parser import parse_module


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "cache"))


def compile_text(text: str):
    return irc.compile(parse(text))


def parse(text: str):
    module = parse_module(text, "t.gir")
    verify(module)
    return module


# ----------------------------------------------------------------------------- loops
SUM = """
func.func @sum(%a: memref<37xf32>, %n: memref<37xi32>, %out: memref<1xf32> {irc.result = 0 : i64},
               %count: memref<1xi32> {irc.result = 1 : i64, irc.name = "count"}) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c37 = arith.constant 37 : index
  %zero = arith.constant 0.0 : f32
  %izero = arith.constant 0 : i32
  %s, %k = loop.for %i = %c0 to %c37 step %c1 iter_args(%acc = %zero, %kacc = %izero) -> (f32, i32) {
    %x = memref.load %a[%i] : memref<37xf32>
    %y = memref.load %n[%i] : memref<37xi32>
    %t = arith.addf %acc, %x : f32
    %u = arith.addi %kacc, %y : i32
    loop.yield %t, %u : f32, i32
  }
  memref.store %s, %out[%c0] : memref<1xf32>
  memref.store %k, %count[%c0] : memref<1xi32>
  func.return
}
"""


def test_for_loop_with_iteration_arguments() -> None:
    exe = compile_text(SUM)
    a = np.arange(37, dtype=np.float32) / 4
    n = np.arange(37, dtype=np.int32) * 3
    total, count = exe.sum(a, n)
    assert total.shape == (1,)
    assert total[0] == pytest.approx(a.sum(), rel=1e-6)
    assert count[0] == n.sum()
    assert exe["sum"].output_names == ["result0", "count"]


def test_zero_trip_loop_yields_the_initial_values() -> None:
    exe = compile_text(SUM.replace("%c37 step", "%c0 step"))
    total, count = exe.sum(np.ones(37, np.float32), np.ones(37, np.int32))
    assert total[0] == 0
    assert count[0] == 0


TRANSPOSE = """
func.func @transpose(%a: memref<5x7xf64>, %out: memref<7x5xf64> {irc.result = 0 : i64}) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c5 = arith.constant 5 : index
  %c7 = arith.constant 7 : index
  loop.parallel (%i, %j) = (%c0, %c0) to (%c5, %c7) step (%c1, %c1) {
    %x = memref.load %a[%i, %j] : memref<5x7xf64>
    memref.store %x, %out[%j, %i] : memref<7x5xf64>
    loop.yield
  }
  func.return
}
"""


def test_parallel_loop_nest_2d() -> None:
    a = np.random.default_rng(0).standard_normal((5, 7))
    np.testing.assert_array_equal(compile_text(TRANSPOSE).transpose(a), a.T)


def test_loop_with_a_step_that_does_not_divide_the_range() -> None:
    text = """
func.func @f(%out: memref<10xi64> {irc.result = 0 : i64}) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c3 = arith.constant 3 : index
  %c10 = arith.constant 10 : index
  %m1 = arith.constant -1 : i64
  loop.for %i = %c0 to %c10 step %c1 {
    memref.store %m1, %out[%i] : memref<10xi64>
    loop.yield
  }
  loop.for %i = %c1 to %c10 step %c3 {
    %v = arith.index_cast %i : index to i64
    memref.store %v, %out[%i] : memref<10xi64>
    loop.yield
  }
  func.return
}
"""
    out = compile_text(text).f()
    assert out.tolist() == [-1, 1, -1, -1, 4, -1, -1, 7, -1, -1]


def elementwise(op: str, t: str, n: int, arity: int = 1, out_t: str | None = None) -> str:
    """A function applying `op` (a line using %a, %b, %c, producing %r) to n elements."""
    out_t = out_t or t
    args = ", ".join(f"%x{k}: memref<{n}x{t}>" for k in range(arity))
    loads = "\n".join(f"    %{'abc'[k]} = memref.load %x{k}[%i] : memref<{n}x{t}>" for k in range(arity))
    return f"""
func.func @f({args}, %out: memref<{n}x{out_t}> {{irc.result = 0 : i64}}) {{
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %n = arith.constant {n} : index
  loop.parallel (%i) = (%c0) to (%n) step (%c1) {{
{loads}
    {op}
    memref.store %r, %out[%i] : memref<{n}x{out_t}>
    loop.yield
  }}
  func.return
}}
"""


@settings(max_examples=15, deadline=None)
@given(n=st.integers(0, 70))
def test_vectorized_loop_handles_every_remainder(n: int) -> None:
    # The vectorized loop runs in blocks of 16 or more lanes; the remainder is scalar.
    exe = irc.compile(parse(elementwise("%r = arith.mulf %a, %b : f32", "f32", n, 2)))
    x = np.arange(n, dtype=np.float32)
    y = np.full(n, 2.5, dtype=np.float32)
    np.testing.assert_array_equal(exe.f(x, y), x * y)


# ----------------------------------------------------------------------------- element types
@pytest.mark.parametrize(
    ("t", "dtype"),
    [("i8", np.int8), ("i16", np.int16), ("i32", np.int32), ("i64", np.int64), ("f64", np.float64)],
)
def test_element_types(t: str, dtype: type) -> None:
    op = "%r = arith.subi %a, %b : T" if t[0] == "i" else "%r = arith.subf %a, %b : T"
    exe = compile_text(elementwise(op.replace("T", t), t, 33, 2))
    info = np.iinfo(dtype) if t[0] == "i" else np.finfo(dtype)
    x = np.linspace(info.min / 2, info.max / 2, 33).astype(dtype)
    y = np.arange(33).astype(dtype)
    np.testing.assert_array_equal(exe.f(x, y), x - y)


def test_booleans_are_stored_as_bytes() -> None:
    text = elementwise("%t = arith.constant true\n    %r = arith.xori %a, %t : i1", "i1", 19)
    x = np.arange(19) % 3 == 0
    out = compile_text(text).f(x)
    assert out.dtype == np.bool_
    np.testing.assert_array_equal(out, ~x)
    assert set(out.view(np.uint8).tolist()) <= {0, 1}


CMP_OPS = ["oeq", "ogt", "oge", "olt", "ole", "one", "ord", "ueq", "ugt", "uge", "ult", "ule", "une", "uno"]


@pytest.mark.parametrize("pred", CMP_OPS)
def test_cmpf_predicates_with_nan(pred: str) -> None:
    exe = compile_text(elementwise(f"%r = arith.cmpf {pred}, %a, %b : f32", "f32", 9, 2, out_t="i1"))
    x = np.array([1, 2, 3, np.nan, 1, np.nan, -0.0, np.inf, 5], np.float32)
    y = np.array([1, 1, 4, 1, np.nan, np.nan, 0.0, np.inf, -5], np.float32)
    unordered = np.isnan(x) | np.isnan(y)
    base = {"eq": x == y, "gt": x > y, "ge": x >= y, "lt": x < y, "le": x <= y, "ne": (x != y) & ~unordered}
    if pred == "ord":
        want = ~unordered
    elif pred == "uno":
        want = unordered
    else:
        want = base[pred[1:]] & ~unordered if pred[0] == "o" else base[pred[1:]] | unordered
    np.testing.assert_array_equal(exe.f(x, y), want)


@pytest.mark.parametrize(
    ("pred", "fn"),
    [("slt", np.less), ("sge", np.greater_equal), ("ult", None), ("ugt", None), ("eq", np.equal), ("ne", np.not_equal)],
)
def test_cmpi_predicates(pred: str, fn) -> None:
    exe = compile_text(elementwise(f"%r = arith.cmpi {pred}, %a, %b : i32", "i32", 6, 2, out_t="i1"))
    x = np.array([-1, 0, 5, -7, 3, 2**31 - 1], np.int32)
    y = np.array([1, 0, -5, -7, 4, -(2**31)], np.int32)
    if fn is None:
        ux, uy = x.view(np.uint32), y.view(np.uint32)
        want = ux < uy if pred == "ult" else ux > uy
    else:
        want = fn(x, y)
    np.testing.assert_array_equal(exe.f(x, y), want)


@pytest.mark.parametrize(
    ("op", "want"),
    [
        ("divsi", [3, -3, 0, -(2**31), 0, -2]),
        ("remsi", [1, -1, 0, 0, 0, -1]),
        ("divui", [3, 1431655762, 0, 0, 0, 2147483645]),
        ("floordivsi", [3, -4, 0, -(2**31), 0, -3]),
        ("ceildivsi", [4, -3, 0, -(2**31), 0, -2]),
    ],
)
def test_integer_division_never_traps(op: str, want: list[int]) -> None:
    exe = compile_text(elementwise(f"%r = arith.{op} %a, %b : i32", "i32", 6, 2))
    x = np.array([10, -10, 7, -(2**31), 0, -5], np.int32)
    y = np.array([3, 3, 0, -1, 0, 2], np.int32)
    out = exe.f(x, y)
    if op == "divui":
        want = np.array(want, np.int64).astype(np.uint32).view(np.int32)
    np.testing.assert_array_equal(out, np.array(want, np.int64).astype(np.int32))


@pytest.mark.parametrize(
    ("op", "src", "dst", "x", "want"),
    [
        ("sitofp", "i32", "f32", [-3, 7], [-3.0, 7.0]),
        ("uitofp", "i8", "f64", [-1, 7], [255.0, 7.0]),
        ("fptosi", "f64", "i16", [-3.7, 7.9], [-3, 7]),
        ("fptoui", "f32", "i8", [200.5, 7.9], [-56, 7]),
        ("extsi", "i8", "i64", [-1, 7], [-1, 7]),
        ("extui", "i8", "i32", [-1, 7], [255, 7]),
        ("trunci", "i32", "i8", [257, -1], [1, -1]),
        ("extf", "f32", "f64", [0.1, -2.5], [float(np.float32(0.1)), -2.5]),
        ("truncf", "f64", "f32", [0.1, 1e300], [np.float32(0.1), np.inf]),
        ("bitcast", "f32", "i32", [1.0, -0.0], [0x3F800000, -(2**31)]),
    ],
)
def test_casts(op: str, src: str, dst: str, x: list, want: list) -> None:
    text = elementwise(f"%r = arith.{op} %a : {src} to {dst}", src, 2, out_t=dst)
    dtypes = {"i8": np.int8, "i16": np.int16, "i32": np.int32, "i64": np.int64, "f32": np.float32, "f64": np.float64}
    out = compile_text(text).f(np.array(x).astype(dtypes[src]))
    np.testing.assert_array_equal(out, np.array(want).astype(dtypes[dst]))


def test_index_cast_and_integer_min_max() -> None:
    text = """
func.func @f(%x: memref<4xi32>, %out: memref<4xi32> {irc.result = 0 : i64}) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %lo = arith.constant 1 : i32
  loop.for %i = %c0 to %c4 step %c1 {
    %v = memref.load %x[%i] : memref<4xi32>
    %iv = arith.index_cast %i : index to i32
    %m = arith.maxsi %v, %iv : i32
    %u = arith.minui %m, %lo : i32
    %w = arith.addi %m, %u : i32
    memref.store %w, %out[%i] : memref<4xi32>
    loop.yield
  }
  func.return
}
"""
    x = np.array([-5, 0, 9, 2], np.int32)
    m = np.maximum(x, np.arange(4, dtype=np.int32))
    want = m + np.minimum(m.view(np.uint32), 1).astype(np.int32)
    np.testing.assert_array_equal(compile_text(text).f(x), want)


@pytest.mark.parametrize(
    ("op", "fn"),
    [
        ("maximumf", np.maximum),
        ("minimumf", np.minimum),
        ("maxnumf", np.fmax),
        ("minnumf", np.fmin),
        ("remf", np.fmod),
        ("divf", np.divide),
    ],
)
def test_float_binary_ops(op: str, fn) -> None:
    exe = compile_text(elementwise(f"%r = arith.{op} %a, %b : f32", "f32", 6, 2))
    x = np.array([1.5, np.nan, -2, 3, 0.0, -7.25], np.float32)
    y = np.array([2.0, 1.0, np.nan, -3, -0.0, 2.0], np.float32)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(exe.f(x, y), fn(x, y))


# ----------------------------------------------------------------------------- math
def _math_inputs(fn: str, dtype: type) -> np.ndarray:
    rng = np.random.default_rng(1)
    big = 38 if dtype == np.float32 else 300
    parts = [
        rng.uniform(-1, 1, 3000) * 10.0 ** rng.uniform(-40, big, 3000),
        rng.uniform(-6, 6, 3000),
        rng.uniform(-120, 100, 3000),
        rng.uniform(-1e-3, 1e-3, 1000),
        rng.uniform(-1, 0, 1000),  # log1p near -1
    ]
    specials = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 1e-40, 1.17e-38, 3.4e38, -3.4e38, 88.72, 88.73,
                -87.3, -103.9, -104.0, 1.0, -1.0, 0.5, -0.5, 0.625, -0.625, 2.0, -2.0, 3.9, 10.0, -10.0, 128.0,
                -149.0, -150.0, 0.99, 1.01]  # fmt: skip
    with np.errstate(over="ignore"):
        return np.concatenate([np.array(specials), *parts]).astype(dtype)


_ERF = np.vectorize(math.erf, otypes=[np.float64])
MATH_REFERENCE = {
    "exp": np.exp,
    "exp2": np.exp2,
    "expm1": np.expm1,
    "log": np.log,
    "log2": np.log2,
    "log1p": np.log1p,
    "tanh": np.tanh,
    "erf": _ERF,
    "sqrt": np.sqrt,
    "rsqrt": lambda x: 1 / np.sqrt(x),
    "absf": np.abs,
    "floor": np.floor,
    "ceil": np.ceil,
    "roundeven": np.round,
    "sin": np.sin,
    "cos": np.cos,
}


def _check_close(got: np.ndarray, x: np.ndarray, fn: str, rtol: float) -> None:
    with np.errstate(all="ignore"):
        exact = MATH_REFERENCE[fn](x.astype(np.float64))
        want = exact.astype(x.dtype)
    # Same NaNs, infinities and zeros (with their signs) as the correctly rounded result.
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"NaNs of {fn}")
    special = np.isinf(want) | (want == 0)
    np.testing.assert_array_equal(got[special], want[special], err_msg=f"inf/zero results of {fn}")
    tiny = np.finfo(x.dtype).tiny
    normal = np.isfinite(want) & (np.abs(exact) >= tiny)
    with np.errstate(all="ignore"):
        rel = np.abs(got[normal].astype(np.float64) - exact[normal]) / np.abs(exact[normal])
    worst = int(np.argmax(rel)) if rel.size else 0
    assert rel.size == 0 or rel.max() < rtol, (
        f"{fn}({x[normal][worst]!r}) = {got[normal][worst]!r}, want {exact[normal][worst]!r}"
    )
    # Subnormal results: within one subnormal step (2^-149 for f32).
    sub = np.isfinite(want) & (np.abs(exact) < tiny) & (want != 0)
    step = np.finfo(x.dtype).smallest_subnormal
    assert np.all(np.abs(got[sub].astype(np.float64) - exact[sub]) <= step), f"subnormal results of {fn}"


POLY_FUNCTIONS = ["exp", "exp2", "expm1", "log", "log2", "log1p", "tanh", "erf"]


@pytest.mark.parametrize("fn", POLY_FUNCTIONS)
def test_f32_math_polynomials_are_accurate_over_the_whole_range(fn: str) -> None:
    x = _math_inputs(fn, np.float32)
    exe = compile_text(elementwise(f"%r = math.{fn} %a : f32", "f32", x.size))
    _check_close(exe.f(x), x, fn, rtol=1e-6)


@pytest.mark.parametrize("fn", POLY_FUNCTIONS)
def test_f64_math_functions_match_the_c_library(fn: str) -> None:
    x = _math_inputs(fn, np.float64)
    exe = compile_text(elementwise(f"%r = math.{fn} %a : f64", "f64", x.size))
    _check_close(exe.f(x), x, fn, rtol=1e-13)


@pytest.mark.parametrize("fn", ["sqrt", "rsqrt", "absf", "floor", "ceil", "roundeven", "sin", "cos"])
@pytest.mark.parametrize("t", ["f32", "f64"])
def test_math_intrinsics(fn: str, t: str) -> None:
    dtype = np.float32 if t == "f32" else np.float64
    x = np.array([0.0, -0.0, 2.5, -2.5, 3.5, 0.49, 1e-3, 1e30, -7.0, np.inf, -np.inf, np.nan, 1e-42], dtype)
    if fn in ("sin", "cos"):
        x = np.concatenate([x[:9], np.linspace(-20, 20, 101).astype(dtype)])
    exe = compile_text(elementwise(f"%r = math.{fn} %a : {t}", t, x.size))
    rtol = 2e-7 if t == "f32" else 1e-15
    _check_close(exe.f(x), x, fn, rtol=rtol)


def test_powf_and_fma() -> None:
    x = np.array([2.0, 0.5, 9.0, 0.0, -2.0, 1.0, 10.0], np.float32)
    y = np.array([10.0, -1.0, 0.5, 0.0, 3.0, np.nan, 38.6], np.float32)
    exe = compile_text(elementwise("%r = math.powf %a, %b : f32", "f32", x.size, 2))
    with np.errstate(all="ignore"):
        np.testing.assert_allclose(exe.f(x, y), np.power(x, y), rtol=1e-6)
    fma = compile_text(elementwise("%r = math.fma %a, %b, %c : f64", "f64", 3, 3))
    a = np.array([1 + 2.0**-30, 3.0, -1.0])
    np.testing.assert_array_equal(fma.f(a, a, -np.ones(3)), [2.0**-29 + 2.0**-60, 8.0, 0.0])


VECTOR_MATH = """
func.func @f(%x: memref<64xf32>, %out: memref<64xf32> {irc.result = 0 : i64}) {
  %c0 = arith.constant 0 : index
  %c16 = arith.constant 16 : index
  %c64 = arith.constant 64 : index
  loop.for %i = %c0 to %c64 step %c16 {
    %v = memref.vector_load %x[%i] : memref<64xf32>, vector<16xf32>
    %e = math.FN %v : vector<16xf32>
    memref.vector_store %e, %out[%i] : memref<64xf32>, vector<16xf32>
    loop.yield
  }
  func.return
}
"""


@pytest.mark.parametrize("fn", ["exp", "log", "tanh", "erf", "sqrt", "sin"])
def test_math_on_vectors_equals_the_scalar_code(fn: str) -> None:
    x = np.random.default_rng(2).uniform(0.01, 5, 64).astype(np.float32)
    vec = compile_text(VECTOR_MATH.replace("FN", fn)).f(x)
    scalar = compile_text(elementwise(f"%r = math.{fn} %a : f32", "f32", 64)).f(x)
    np.testing.assert_allclose(vec, scalar, rtol=2e-7)


def test_f64_math_on_vectors_goes_lane_by_lane() -> None:
    text = VECTOR_MATH.replace("f32", "f64").replace("FN", "tanh").replace("16x", "4x").replace("%c16", "%c4")
    text = text.replace("arith.constant 16", "arith.constant 4")
    x = np.linspace(-3, 3, 64)
    np.testing.assert_allclose(compile_text(text).f(x), np.tanh(x), rtol=1e-15)


# ----------------------------------------------------------------------------- vectors
VECTOR_OPS = """
func.func @f(%x: memref<4x16xf32>, %y: memref<4x16xi32>, %out: memref<4x16xf32> {irc.result = 0 : i64},
             %sums: memref<4xf32> {irc.result = 1 : i64}, %maxes: memref<4xf32> {irc.result = 2 : i64},
             %isums: memref<4xi32> {irc.result = 3 : i64}, %imax: memref<4xi32> {irc.result = 4 : i64}) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %zero = arith.constant 0.0 : f32
  %ten = arith.constant 10.0 : f32
  %half = arith.constant dense<0.5> : vector<16xf32>
  loop.parallel (%i) = (%c0) to (%c4) step (%c1) {
    %v = memref.vector_load %x[%i, %c0] : memref<4x16xf32>, vector<16xf32>
    %w = memref.vector_load %y[%i, %c0] : memref<4x16xi32>, vector<16xi32>
    %z = vector.broadcast %zero : f32 to vector<16xf32>
    %pos = arith.cmpf ogt, %v, %z : vector<16xf32>
    %scaled = arith.mulf %v, %half : vector<16xf32>
    %r = arith.select %pos, %v, %scaled : vector<16xi1>, vector<16xf32>
    memref.vector_store %r, %out[%i, %c0] : memref<4x16xf32>, vector<16xf32>
    %s = vector.reduction add, %r, %ten fastmath<reassoc> : vector<16xf32> into f32
    memref.store %s, %sums[%i] : memref<4xf32>
    %m = vector.reduction maximumf, %v : vector<16xf32> into f32
    memref.store %m, %maxes[%i] : memref<4xf32>
    %is = vector.reduction add, %w : vector<16xi32> into i32
    memref.store %is, %isums[%i] : memref<4xi32>
    %im = vector.reduction maxsi, %w : vector<16xi32> into i32
    memref.store %im, %imax[%i] : memref<4xi32>
    loop.yield
  }
  func.return
}
"""


def test_vector_ops_and_reductions() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 16)).astype(np.float32)
    y = rng.integers(-100, 100, (4, 16)).astype(np.int32)
    out, sums, maxes, isums, imax = compile_text(VECTOR_OPS).f(x, y)
    r = np.where(x > 0, x, x * 0.5)
    np.testing.assert_array_equal(out, r)
    np.testing.assert_allclose(sums, r.sum(axis=1) + 10, rtol=1e-5)
    np.testing.assert_array_equal(maxes, x.max(axis=1))
    np.testing.assert_array_equal(isums, y.sum(axis=1))
    np.testing.assert_array_equal(imax, y.max(axis=1))


def test_ordered_reduction_keeps_the_order() -> None:
    text = """
func.func @f(%x: memref<4xf32>, %out: memref<1xf32> {irc.result = 0 : i64}) {
  %c0 = arith.constant 0 : index
  %acc = arith.constant 1.0e8 : f32
  %v = memref.vector_load %x[%c0] : memref<4xf32>, vector<4xf32>
  %s = vector.reduction add, %v, %acc : vector<4xf32> into f32
  memref.store %s, %out[%c0] : memref<1xf32>
  func.return
}
"""
    x = np.array([4, 4, -1e8, 3], np.float32)
    acc = np.float32(1e8)
    for v in x:
        acc = np.float32(acc + v)
    assert compile_text(text).f(x)[0] == acc


# ----------------------------------------------------------------------------- memory
GLOBALS = """
memref.global @w = dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : memref<2x3xf32>
memref.global @s = dense<7> : memref<3xi16>
memref.global @b = dense<[true, false, true]> : memref<3xi1>
memref.global @r = dense_resource<blob> : memref<2xf32>
func.func @f(%out: memref<2x3xf32> {irc.result = 0 : i64}, %t: memref<3xi16> {irc.result = 1 : i64},
             %u: memref<3xi1> {irc.result = 2 : i64}, %v: memref<2xf32> {irc.result = 3 : i64}) {
  %w = memref.get_global @w : memref<2x3xf32>
  %s = memref.get_global @s : memref<3xi16>
  %b = memref.get_global @b : memref<3xi1>
  %r = memref.get_global @r : memref<2xf32>
  memref.copy %w, %out : memref<2x3xf32>
  memref.copy %s, %t : memref<3xi16>
  memref.copy %b, %u : memref<3xi1>
  memref.copy %r, %v : memref<2xf32>
  func.return
}

{-#
  dialect_resources: {
    builtin: {
      blob: "0x040000000000803F00000040"
    }
  }
#-}
"""


def test_globals_dense_splat_bool_and_resource() -> None:
    out, s, b, r = compile_text(GLOBALS).f()
    np.testing.assert_array_equal(out, [[1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(s, [7, 7, 7])
    np.testing.assert_array_equal(b, [True, False, True])
    np.testing.assert_array_equal(r, [1.0, 2.0])


ARENA = """
func.func @f(%x: memref<8xf32>, %out: memref<2x4xf32> {irc.result = 0 : i64},
             %arena: memref<192xi8> {irc.arena}) attributes {irc.arena_size = 192 : i64, irc.naive_size = 256 : i64,
             irc.lower_bound = 160 : i64} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %one = arith.constant 1.0 : f32
  %a = memref.view %arena[0] : memref<192xi8> to memref<8xf32>
  %b = memref.view %arena[64] : memref<192xi8> to memref<8xf32>
  %h = memref.alloc() : memref<8xf32>
  loop.for %i = %c0 to %c8 step %c1 {
    %v = memref.load %x[%i] : memref<8xf32>
    %w = arith.addf %v, %one : f32
    memref.store %w, %a[%i] : memref<8xf32>
    loop.yield
  }
  loop.for %i = %c0 to %c8 step %c1 {
    %v = memref.load %a[%i] : memref<8xf32>
    %w = arith.mulf %v, %v : f32
    memref.store %w, %b[%i] : memref<8xf32>
    loop.yield
  }
  memref.copy %b, %h : memref<8xf32>
  %r = memref.reshape %h : memref<8xf32> to memref<2x4xf32>
  memref.copy %r, %out : memref<2x4xf32>
  memref.dealloc %h : memref<8xf32>
  func.return
}
"""


def test_views_of_the_arena_alloc_copy_and_reshape() -> None:
    exe = compile_text(ARENA)
    x = np.arange(8, dtype=np.float32)
    np.testing.assert_array_equal(exe.f(x), ((x + 1) ** 2).reshape(2, 4))
    assert exe["f"].input_names == ["x"]
    assert exe["f"].memory_plan == {"arena_size": 192, "naive_size": 256, "lower_bound": 160}


def test_calls_scalar_arguments_and_results() -> None:
    text = """
func.func private @axpy(%a: f64, %x: f64, %y: f64) -> f64 {
  %m = arith.mulf %a, %x : f64
  %s = arith.addf %m, %y : f64
  func.return %s : f64
}
func.func @main(%a: f64, %x: i32, %flag: i1) -> (f64 {irc.name = "value"}, i1) {
  %xf = arith.sitofp %x : i32 to f64
  %one = arith.constant 1.0 : f64
  %r = func.call @axpy(%a, %xf, %one) : (f64, f64, f64) -> f64
  %t = arith.constant true
  %n = arith.xori %flag, %t : i1
  func.return %r, %n : f64, i1
}
"""
    exe = compile_text(text)
    value, flag = exe.main(2.5, np.int32(4), True)
    assert value.shape == ()
    assert value == 11.0
    assert flag.dtype == np.bool_
    assert not flag
    assert list(exe.run("main", {"a": 1.0, "x": 2, "flag": False})) == ["value", "result1"]


# ----------------------------------------------------------------------------- LLVM IR
def test_llvm_ir_marks_buffers_noalias_and_parallel_loops() -> None:
    raw = str(llvm.translate(parse(elementwise("%r = math.exp %a : f32", "f32", 1024))))
    assert re.search(r'define void @"f"\(ptr noalias dereferenceable\(4096\) %"x0", ptr noalias align 64', raw)
    assert "llvm.loop.parallel_accesses" in raw
    assert "!llvm.access.group" in raw
    assert 'define void @"__irc_call_f"(ptr %".1")' in raw
    opt = llvm.emit_llvm_ir(parse(elementwise("%r = math.exp %a : f32", "f32", 1024)))
    assert re.search(r"<\d+ x float>", opt), "the elementwise exp loop should be vectorized"
    assert "call float @expf" not in opt


def test_large_constants_are_formatted_compactly() -> None:
    data = ", ".join(str(float(i % 7)) for i in range(600))
    text = f"""
memref.global @w = dense<[{data}]> : memref<600xf32>
func.func @f(%out: memref<600xf32> {{irc.result = 0 : i64}}) {{
  %w = memref.get_global @w : memref<600xf32>
  memref.copy %w, %out : memref<600xf32>
  func.return
}}
"""
    np.testing.assert_array_equal(compile_text(text).f(), np.arange(600) % 7)


def test_unsupported_types_and_ops_are_located_errors() -> None:
    f16 = elementwise("%r = arith.addf %a, %a : f16", "f16", 4)
    with pytest.raises(IRCError) as err:
        llvm.translate(parse(f16))
    assert "type 'f16' has no LLVM translation" in str(err.value)
    assert err.value.diagnostic.location.line > 1
    unknown = elementwise('%r = "test.pure"(%a) : (f32) -> f32', "f32", 4)
    with pytest.raises(IRCError, match=r"'test\.pure' op cannot be translated to LLVM IR"):
        llvm.translate(parse(unknown))


def test_overflow_and_fastmath_flags_reach_llvm() -> None:
    ints = str(llvm.translate(parse(elementwise("%r = arith.addi %a, %b overflow<nsw, nuw> : i32", "i32", 4, 2))))
    assert re.search(r"add nsw nuw i32 %\"a\", %\"b\"", ints)
    floats = str(
        llvm.translate(parse(elementwise("%r = arith.mulf %a, %b fastmath<nnan,contract> : f32", "f32", 4, 2)))
    )
    assert re.search(r"fmul nnan contract float %\"a\", %\"b\"", floats)
    fast = str(llvm.translate(parse(elementwise("%r = arith.maxnumf %a, %b fastmath<fast> : f32", "f32", 4, 2))))
    assert re.search(r"call fast float @\"llvm.maxnum.f32\"", fast)
