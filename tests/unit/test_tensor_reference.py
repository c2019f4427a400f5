"""Every tensor op against an independent oracle (tests/unit/tensor_oracle.py).

Each test draws shapes and attribute values, writes the op as .gir text (the pretty form or,
drawn at random, the generic one) with the result type the oracle predicts, parses and
verifies it, runs it through the interpreter (`irc.interpreter.interpret`, which calls the
op's `reference`) and compares with the oracle: exact for integers and booleans, rtol 1e-5
for elementwise float ops, a little looser for ops that accumulate (matmul, conv, reductions).
On failure hypothesis prints the .gir text of the case (`note`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
import tensor_oracle as oracle
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

pytest.importorskip("dialects.tensor", reason="the tensor dialect is not built yet")

# IRC_TEST_EXAMPLES=500 for a longer hunt than the default run.
EXAMPLES = int(os.environ.get("IRC_TEST_EXAMPLES", "40"))
SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
FEW = settings(max_examples=max(EXAMPLES // 2, 1), deadline=None, suppress_health_check=[HealthCheck.too_slow])

ELT = {"float32": "f32", "float64": "f64", "int32": "i32", "int64": "i64", "bool": "i1"}
FLOATS = [np.float32, np.float64]
INTS = [np.int32, np.int64]

# Tolerances: (rtol, atol) by kind of op.
ELEMENTWISE = (1e-5, 1e-6)
ACCUMULATE = (1e-4, 1e-5)


# ----------------------------------------------------------------------------- .gir text
class F32(float):
    """A float attribute printed as `FloatAttr f32` (`0.5 : f32`)."""


class Type_(str):
    """A type attribute (`to = f64`)."""


def tensor_type(shape: Sequence[int], dtype: Any) -> str:
    dims = "".join(f"{d}x" for d in shape)
    return f"tensor<{dims}{ELT[np.dtype(dtype).name]}>"


def _float_text(v: float) -> str:
    text = repr(float(v))
    return text if ("." in text or "e" in text or "inf" in text or "nan" in text) else text + ".0"


def attr_text(v: Any) -> str:
    if isinstance(v, Type_):
        return str(v)
    if isinstance(v, F32):
        return f"{_float_text(v)} : f32"
    if isinstance(v, str):
        return '"' + v + '"'
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return f"{_float_text(v)} : f32"
    if isinstance(v, list | tuple):
        return "[" + ", ".join(attr_text(x) for x in v) + "]"
    if isinstance(v, np.ndarray):
        return f"dense<{dense_body(v)}> : {tensor_type(v.shape, v.dtype)}"
    raise TypeError(v)


def dense_body(a: np.ndarray) -> str:
    def item(x: Any) -> str:
        if isinstance(x, list):
            return "[" + ", ".join(item(y) for y in x) + "]"
        if isinstance(x, bool):
            return "true" if x else "false"
        if isinstance(x, float):
            return _float_text(x)
        return str(x)

    return item(a.tolist())


def gir_text(
    op: str,
    inputs: Sequence[np.ndarray],
    attrs: dict[str, Any],
    results: Sequence[tuple[Sequence[int], Any]],
    generic: bool = False,
) -> str:
    arg_types = [tensor_type(a.shape, a.dtype) for a in inputs]
    res_types = [tensor_type(s, d) for s, d in results]
    args = ", ".join(f"%a{i}: {t}" for i, t in enumerate(arg_types))
    operands = ", ".join(f"%a{i}" for i in range(len(inputs)))
    names = ", ".join(f"%r{i}" for i in range(len(results)))
    attr_dict = ", ".join(f"{k} = {attr_text(v)}" for k, v in attrs.items() if v is not None)
    attr_dict = f" {{{attr_dict}}}" if attr_dict else ""
    ftype = f"({', '.join(arg_types)}) -> ({', '.join(res_types)})"
    if generic:
        body = f'{names} = "tensor.{op}"({operands}){attr_dict} : {ftype}'
    else:
        body = f"{names} = tensor.{op} {operands}{attr_dict} : {ftype}"
    return (
        f"func.func @main({args}) -> ({', '.join(res_types)}) {{\n"
        f"  {body}\n"
        f"  func.return {names} : {', '.join(res_types)}\n"
        "}\n"
    )


def run_op(
    op: str,
    inputs: Sequence[np.ndarray],
    attrs: dict[str, Any],
    expected: Sequence[np.ndarray],
    generic: bool = False,
) -> list[np.ndarray]:
    """Parse, verify and interpret one op whose results have the shapes/dtypes of `expected`."""
    from irc.interpreter import interpret
    from irc.verifier import verify
    from textual_ir.parser import parse_module

    text = gir_text(op, inputs, attrs, [(e.shape, e.dtype) for e in expected], generic)
    note(text)
    module = parse_module(text, "case.gir")
    verify(module)
    return interpret(module, *inputs)


def check(op: str, inputs, attrs, expected, tol=ELEMENTWISE, generic: bool = False) -> None:
    actual = run_op(op, inputs, attrs, expected, generic)
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected, strict=True):
        assert (a.shape, a.dtype) == (e.shape, e.dtype)
        if e.dtype.kind == "f":
            np.testing.assert_allclose(a, e, rtol=tol[0], atol=tol[1])
        else:
            np.testing.assert_array_equal(a, e)


# ----------------------------------------------------------------------------- strategies
def rng_of(data: st.DataObject) -> np.random.Generator:
    return np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))


def shape_of(data: st.DataObject, min_rank: int = 0, max_rank: int = 4, max_dim: int = 4) -> tuple[int, ...]:
    rank = data.draw(st.integers(min_rank, max_rank), label="rank")
    return tuple(data.draw(st.lists(st.integers(1, max_dim), min_size=rank, max_size=rank), label="shape"))


def broadcast_operand(data: st.DataObject, shape: Sequence[int]) -> tuple[int, ...]:
    """A shape that broadcasts to `shape`: leading dims dropped, some dims set to 1."""
    drop = data.draw(st.integers(0, len(shape)), label="dropped leading dims")
    return tuple(1 if data.draw(st.booleans(), label="ones") else d for d in shape[drop:])


def values(rng: np.random.Generator, shape: Sequence[int], dtype: Any, kind: str = "normal") -> np.ndarray:
    return np.asarray(_values(rng, shape, dtype, kind))


def _values(rng: np.random.Generator, shape: Sequence[int], dtype: Any, kind: str) -> Any:
    dtype = np.dtype(dtype)
    shape = tuple(shape)
    if dtype.kind == "b":
        return rng.random(shape) < 0.5
    if dtype.kind in "iu":
        if kind == "nonzero":
            return (rng.integers(1, 20, shape) * rng.choice([-1, 1], shape)).astype(dtype)
        return rng.integers(-20, 20, shape).astype(dtype)
    if kind == "positive":
        return rng.uniform(0.1, 4.0, shape).astype(dtype)
    if kind == "nonzero":
        return (rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)).astype(dtype)
    if kind == "ties":
        return rng.integers(0, 3, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def f32(value: float) -> F32:
    return F32(float(np.float32(value)))


def generic_form(data: st.DataObject) -> bool:
    return data.draw(st.booleans(), label="generic form")


# ----------------------------------------------------------------------------- elementwise
BINARY_FLOAT = ["add", "sub", "mul", "div", "pow", "max", "min"]
BINARY_INT = ["add", "sub", "mul", "div", "max", "min"]


@pytest.mark.parametrize("op", BINARY_FLOAT)
@SETTINGS
@given(data=st.data())
def test_binary_float(op: str, data: st.DataObject) -> None:
    rng = rng_of(data)
    dtype = data.draw(st.sampled_from(FLOATS))
    out = shape_of(data)
    sa, sb = broadcast_operand(data, out), broadcast_operand(data, out)
    a = values(rng, sa, dtype, "positive" if op == "pow" else "normal")
    b = values(rng, sb, dtype, "nonzero" if op == "div" else "normal")
    if op == "pow":
        b = rng.uniform(-2.0, 2.0, sb).astype(dtype)
    check(op, [a, b], {}, oracle.binary(op, a, b), generic=generic_form(data))


@pytest.mark.parametrize("op", BINARY_INT)
@SETTINGS
@given(data=st.data())
def test_binary_int(op: str, data: st.DataObject) -> None:
    rng = rng_of(data)
    dtype = data.draw(st.sampled_from(INTS))
    out = shape_of(data)
    sa, sb = broadcast_operand(data, out), broadcast_operand(data, out)
    a = values(rng, sa, dtype)
    b = values(rng, sb, dtype, "nonzero" if op == "div" else "normal")
    check(op, [a, b], {}, oracle.binary(op, a, b))


@pytest.mark.parametrize("op", ["equal", "less", "less_or_equal", "greater", "greater_or_equal"])
@SETTINGS
@given(data=st.data())
def test_compare(op: str, data: st.DataObject) -> None:
    rng = rng_of(data)
    dtype = data.draw(st.sampled_from([*FLOATS, *INTS, *([np.bool_] if op == "equal" else [])]))
    out = shape_of(data)
    sa, sb = broadcast_operand(data, out), broadcast_operand(data, out)
    # Small integers (as floats too) so that equal values occur.
    a, b = values(rng, sa, dtype, "ties"), values(rng, sb, dtype, "ties")
    if np.dtype(dtype).kind in "iu":
        a, b = rng.integers(0, 3, sa).astype(dtype), rng.integers(0, 3, sb).astype(dtype)
    check(op, [a, b], {}, oracle.compare(op, a, b), generic=generic_form(data))


@SETTINGS
@given(data=st.data())
def test_where(data: st.DataObject) -> None:
    rng = rng_of(data)
    dtype = data.draw(st.sampled_from([*FLOATS, *INTS]))
    out = shape_of(data)
    sc, sx, sy = (broadcast_operand(data, out) for _ in range(3))
    c, x, y = values(rng, sc, np.bool_), values(rng, sx, dtype), values(rng, sy, dtype)
    check("where", [c, x, y], {}, oracle.where(c, x, y))


UNARY = [
    "neg",
    "abs",
    "exp",
    "log",
    "sqrt",
    "rsqrt",
    "erf",
    "relu",
    "sigmoid",
    "tanh",
    "softplus",
    "leaky_relu",
    "gelu",
    "elu",
    "selu",
    "hard_sigmoid",
    "clip",
]


def unary_attrs(op: str, data: st.DataObject) -> dict[str, Any]:
    """Attributes of a unary op: each either left to its default or drawn."""
    maybe = st.none() | st.floats(-3.0, 3.0, allow_nan=False).map(f32)
    if op in ("leaky_relu", "elu"):
        return {"alpha": data.draw(maybe, label="alpha")}
    if op == "selu":
        return {"alpha": data.draw(maybe, label="alpha"), "gamma": data.draw(maybe, label="gamma")}
    if op == "hard_sigmoid":
        return {"alpha": data.draw(maybe, label="alpha"), "beta": data.draw(maybe, label="beta")}
    if op == "gelu":
        return {"approximate": data.draw(st.sampled_from([None, "none", "tanh"]), label="approximate")}
    if op == "clip":
        lo = data.draw(st.none() | st.floats(-2.0, 0.0).map(f32), label="min")
        hi = data.draw(st.none() | st.floats(0.0, 2.0).map(f32), label="max")
        return {"min": lo, "max": hi}
    return {}


@pytest.mark.parametrize("op", UNARY)
@SETTINGS
@given(data=st.data())
def test_unary_float(op: str, data: st.DataObject) -> None:
    rng = rng_of(data)
    dtype = data.draw(st.sampled_from(FLOATS))
    x = values(rng, shape_of(data), dtype, "positive" if op in ("log", "sqrt", "rsqrt") else "normal")
    attrs = unary_attrs(op, data)
    given_attrs = {k: v for k, v in attrs.items() if v is not None}
    check(op, [x], attrs, oracle.unary(op, x, given_attrs), generic=generic_form(data))


@pytest.mark.parametrize("op", ["neg", "abs", "relu", "clip"])
@SETTINGS
@given(data=st.data())
def test_unary_int(op: str, data: st.DataObject) -> None:
    rng = rng_of(data)
    dtype = data.draw(st.sampled_from(INTS))
    x = values(rng, shape_of(data), dtype)
    attrs: dict[str, Any] = {}
    if op == "clip":
        attrs = {
            "min": data.draw(st.none() | st.integers(-10, 0), label="min"),
            "max": data.draw(st.none() | st.integers(0, 10), label="max"),
        }
    given_attrs = {k: v for k, v in attrs.items() if v is not None}
    check(op, [x], attrs, oracle.unary(op, x, given_attrs))


# ----------------------------------------------------------------------------- matmul, gemm
@SETTINGS
@given(data=st.data())
def test_matmul(data: st.DataObject) -> None:
    rng = rng_of(data)
    dtype = data.draw(st.sampled_from(FLOATS))
    m, k, n = (data.draw(st.integers(1, 5)) for _ in range(3))
    batch = shape_of(data, 0, 2, 3)
    vector_a = data.draw(st.booleans(), label="a is 1-D")
    vector_b = data.draw(st.booleans(), label="b is 1-D")
    sa = (k,) if vector_a else (*broadcast_operand(data, batch), m, k)
    sb = (k,) if vector_b else (*broadcast_operand(data, batch), k, n)
    a, b = values(rng, sa, dtype), values(rng, sb, dtype)
    expected = oracle.matmul(a, b)
    assert expected[0].shape == oracle.matmul_shape(sa, sb)
    check("matmul", [a, b], {}, expected, ACCUMULATE, generic=generic_form(data))


@SETTINGS
@given(data=st.data())
def test_gemm(data: st.DataObject) -> None:
    rng = rng_of(data)
    dtype = np.float32
    m, k, n = (data.draw(st.integers(1, 5)) for _ in range(3))
    trans_a = data.draw(st.sampled_from([None, 0, 1]), label="trans_a")
    trans_b = data.draw(st.sampled_from([None, 0, 1]), label="trans_b")
    alpha = data.draw(st.none() | st.floats(-2.0, 2.0).map(f32), label="alpha")
    beta = data.draw(st.none() | st.floats(-2.0, 2.0).map(f32), label="beta")
    c_shape = data.draw(
        st.sampled_from([None, (), (1,), (n,), (1, n), (m, 1), (m, n), (1, 1)]),
        label="C shape",
    )
    a = values(rng, (k, m) if trans_a else (m, k), dtype)
    b = values(rng, (n, k) if trans_b else (k, n), dtype)
    inputs = [a, b]
    c = None
    if c_shape is not None:
        c = values(rng, c_shape, dtype)
        inputs.append(c)
    expected = oracle.gemm(
        a, b, c, trans_a or 0, trans_b or 0, 1.0 if alpha is None else alpha, 1.0 if beta is None else beta
    )
    attrs = {"trans_a": trans_a, "trans_b": trans_b, "alpha": alpha, "beta": beta}
    check("gemm", inputs, attrs, expected, ACCUMULATE, generic=generic_form(data))


# ----------------------------------------------------------------------------- convolution
def _opt(data: st.DataObject, label: str, value: Any, default: Any) -> Any:
    """`value`, or None (attribute omitted) when it equals the default and a coin says so."""
    if value == default and data.draw(st.booleans(), label=f"omit {label}"):
        return None
    return value


@SETTINGS
@given(data=st.data())
def test_conv2d(data: st.DataObject) -> None:
    rng = rng_of(data)
    n = data.draw(st.integers(1, 2), label="N")
    group = data.draw(st.integers(1, 3), label="group")
    depthwise = data.draw(st.booleans(), label="depthwise")
    cg = 1 if depthwise else data.draw(st.integers(1, 2), label="C/group")
    mg = data.draw(st.integers(1, 2), label="M/group")
    h, w = data.draw(st.integers(1, 6), label="H"), data.draw(st.integers(1, 6), label="W")
    kh, kw = data.draw(st.integers(1, 3), label="kH"), data.draw(st.integers(1, 3), label="kW")
    strides = [data.draw(st.integers(1, 3), label="stride") for _ in range(2)]
    dilations = [data.draw(st.integers(1, 2), label="dilation") for _ in range(2)]
    pads = [data.draw(st.integers(0, 2), label="pad") for _ in range(4)]
    oh = oracle.conv_out_size(h, kh, strides[0], pads[0], pads[2], dilations[0])
    ow = oracle.conv_out_size(w, kw, strides[1], pads[1], pads[3], dilations[1])
    assume(oh >= 1 and ow >= 1)
    x = values(rng, (n, cg * group, h, w), np.float32)
    wt = values(rng, (mg * group, cg, kh, kw), np.float32)
    inputs = [x, wt]
    b = None
    if data.draw(st.booleans(), label="bias"):
        b = values(rng, (mg * group,), np.float32)
        inputs.append(b)
    attrs = {
        "strides": _opt(data, "strides", strides, [1, 1]),
        "pads": _opt(data, "pads", pads, [0, 0, 0, 0]),
        "dilations": _opt(data, "dilations", dilations, [1, 1]),
        "group": _opt(data, "group", group, 1),
        "kernel_shape": [kh, kw] if data.draw(st.booleans(), label="kernel_shape") else None,
    }
    expected = oracle.conv2d(x, wt, b, strides, pads, dilations, group)
    check("conv2d", inputs, attrs, expected, ACCUMULATE, generic=generic_form(data))


@SETTINGS
@given(data=st.data())
def test_conv_transpose2d(data: st.DataObject) -> None:
    rng = rng_of(data)
    n = data.draw(st.integers(1, 2), label="N")
    group = data.draw(st.integers(1, 2), label="group")
    cg, mg = data.draw(st.integers(1, 2), label="C/group"), data.draw(st.integers(1, 2), label="M/group")
    h, w = data.draw(st.integers(1, 4), label="H"), data.draw(st.integers(1, 4), label="W")
    kh, kw = data.draw(st.integers(1, 3), label="kH"), data.draw(st.integers(1, 3), label="kW")
    strides = [data.draw(st.integers(1, 3), label="stride") for _ in range(2)]
    dilations = [data.draw(st.integers(1, 2), label="dilation") for _ in range(2)]
    pads = [data.draw(st.integers(0, 2), label="pad") for _ in range(4)]
    output_padding = [data.draw(st.integers(0, s - 1), label="output_padding") for s in strides]
    oh = oracle.conv_transpose_out_size(h, kh, strides[0], pads[0], pads[2], dilations[0], output_padding[0])
    ow = oracle.conv_transpose_out_size(w, kw, strides[1], pads[1], pads[3], dilations[1], output_padding[1])
    assume(oh >= 1 and ow >= 1)
    x = values(rng, (n, cg * group, h, w), np.float32)
    wt = values(rng, (cg * group, mg, kh, kw), np.float32)
    inputs = [x, wt]
    b = None
    if data.draw(st.booleans(), label="bias"):
        b = values(rng, (mg * group,), np.float32)
        inputs.append(b)
    attrs = {
        "strides": _opt(data, "strides", strides, [1, 1]),
        "pads": _opt(data, "pads", pads, [0, 0, 0, 0]),
        "dilations": _opt(data, "dilations", dilations, [1, 1]),
        "group": _opt(data, "group", group, 1),
        "output_padding": _opt(data, "output_padding", output_padding, [0, 0]),
    }
    expected = oracle.conv_transpose2d(x, wt, b, strides, pads, dilations, group, output_padding)
    check("conv_transpose2d", inputs, attrs, expected, ACCUMULATE, generic=generic_form(data))


# ----------------------------------------------------------------------------- pooling
def _every_window_touches_input(size, kernel, stride, pad_begin, dilation, out) -> bool:
    for o in range(out):
        taps = [o * stride - pad_begin + k * dilation for k in range(kernel)]
        if not any(0 <= t < size for t in taps):
            return False
    return True


@pytest.mark.parametrize("kind", ["max", "avg"])
@SETTINGS
@given(data=st.data())
def test_pool2d(kind: str, data: st.DataObject) -> None:
    rng = rng_of(data)
    dtype = data.draw(st.sampled_from(FLOATS))
    n, c = data.draw(st.integers(1, 2), label="N"), data.draw(st.integers(1, 3), label="C")
    h, w = data.draw(st.integers(1, 6), label="H"), data.draw(st.integers(1, 6), label="W")
    kernel = [data.draw(st.integers(1, 3), label="kernel") for _ in range(2)]
    strides = [data.draw(st.integers(1, 3), label="stride") for _ in range(2)]
    dilations = [data.draw(st.integers(1, 2), label="dilation") for _ in range(2)]
    pads = [data.draw(st.integers(0, kernel[i % 2] - 1), label="pad") for i in range(4)]
    ceil_mode = data.draw(st.integers(0, 1), label="ceil_mode")
    sizes = (h, w)
    outs = [
        oracle.pool_out_size(sizes[i], kernel[i], strides[i], pads[i], pads[i + 2], dilations[i], ceil_mode)
        for i in range(2)
    ]
    for i in range(2):
        extent = dilations[i] * (kernel[i] - 1) + 1
        assume(sizes[i] + pads[i] + pads[i + 2] >= extent)
        assume(_every_window_touches_input(sizes[i], kernel[i], strides[i], pads[i], dilations[i], outs[i]))
    x = values(rng, (n, c, h, w), dtype)
    attrs: dict[str, Any] = {
        "kernel_shape": kernel,
        "strides": _opt(data, "strides", strides, [1, 1]),
        "pads": _opt(data, "pads", pads, [0, 0, 0, 0]),
        "dilations": _opt(data, "dilations", dilations, [1, 1]),
        "ceil_mode": _opt(data, "ceil_mode", ceil_mode, 0),
    }
    count_include_pad = 0
    if kind == "avg":
        count_include_pad = data.draw(st.integers(0, 1), label="count_include_pad")
        attrs["count_include_pad"] = _opt(data, "count_include_pad", count_include_pad, 0)
    expected = oracle.pool2d(kind, x, kernel, strides, pads, dilations, ceil_mode, count_include_pad)
    check(f"{kind}_pool2d", [x], attrs, expected, ACCUMULATE, generic=generic_form(data))


@pytest.mark.parametrize("kind", ["max", "avg"])
@SETTINGS
@given(data=st.data())
def test_global_pool(kind: str, data: st.DataObject) -> None:
    rng = rng_of(data)
    x = values(rng, shape_of(data, 4, 4, 5), data.draw(st.sampled_from(FLOATS)))
    check(f"global_{kind}_pool", [x], {}, oracle.global_pool(kind, x), ACCUMULATE)


# ----------------------------------------------------------------------------- reductions
@pytest.mark.parametrize("kind", ["sum", "mean", "max", "min", "prod"])
@SETTINGS
@given(data=st.data())
def test_reduce(kind: str, data: st.DataObject) -> None:
    rng = rng_of(data)
    dtype = data.draw(st.sampled_from([*FLOATS, *INTS] if kind != "mean" else FLOATS))
    shape = shape_of(data, 1, 4)
    rank = len(shape)
    axes = data.draw(
        st.none() | st.lists(st.integers(0, rank - 1), min_size=1, max_size=rank, unique=True), label="axes"
    )
    if axes is not None:
        axes = [a - rank if data.draw(st.booleans(), label="negative axis") else a for a in axes]
    keepdims = data.draw(st.sampled_from([None, 0, 1]), label="keepdims")
    x = values(rng, shape, dtype)
    if kind == "prod":
        x = (rng.uniform(0.5, 1.5, shape) * rng.choice([-1, 1], shape)).astype(dtype)
        if np.dtype(dtype).kind in "iu":
            x = rng.integers(-2, 3, shape).astype(dtype)
    expected = oracle.reduce(kind, x, axes, 1 if keepdims is None else keepdims)
    check(f"reduce_{kind}", [x], {"axes": axes, "keepdims": keepdims}, expected, ACCUMULATE, generic_form(data))


@SETTINGS
@given(data=st.data())
def test_argmax(data: st.DataObject) -> None:
    rng = rng_of(data)
    dtype = data.draw(st.sampled_from([*FLOATS, *INTS]))
    shape = shape_of(data, 1, 4)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")
    keepdims = data.draw(st.sampled_from([None, 0, 1]), label="keepdims")
    last = data.draw(st.sampled_from([None, 0, 1]), label="select_last_index")
    x = values(rng, shape, dtype, "ties")  # small integers: ties decide select_last_index
    if np.dtype(dtype).kind in "iu":
        x = rng.integers(0, 3, shape).astype(dtype)
    expected = oracle.argmax(x, axis, 1 if keepdims is None else keepdims, last or 0)
    attrs = {"axis": _opt(data, "axis", axis, 0), "keepdims": keepdims, "select_last_index": last}
    check("argmax", [x], attrs, expected)


# ----------------------------------------------------------------------------- normalization
@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
@SETTINGS
@given(data=st.data())
def test_softmax(op: str, data: st.DataObject) -> None:
    rng = rng_of(data)
    dtype = data.draw(st.sampled_from(FLOATS))
    shape = shape_of(data, 1, 4)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")
    x = (values(rng, shape, dtype) * 4).astype(dtype)
    expected = oracle.softmax(x, axis, log=op == "log_softmax")
    check(op, [x], {"axis": _opt(data, "axis", axis, -1)}, expected, ACCUMULATE, generic_form(data))


@SETTINGS
@given(data=st.data())
def test_batch_norm(data: st.DataObject) -> None:
    rng = rng_of(data)
    dtype = data.draw(st.sampled_from(FLOATS))
    shape = shape_of(data, 2, 4)
    c = shape[1]
    x = values(rng, shape, dtype)
    scale, bias, mean = values(rng, (c,), dtype), values(rng, (c,), dtype), values(rng, (c,), dtype)
    var = values(rng, (c,), dtype, "positive")
    eps = data.draw(st.none() | st.sampled_from([1e-5, 1e-3, 0.1]).map(f32), label="epsilon")
    expected = oracle.batch_norm(x, scale, bias, mean, var, float(np.float32(1e-5)) if eps is None else eps)
    check("batch_norm", [x, scale, bias, mean, var], {"epsilon": eps}, expected, ACCUMULATE, generic_form(data))


@SETTINGS
@given(data=st.data())
def test_layer_norm(data: st.DataObject) -> None:
    rng = rng_of(data)
    dtype = data.draw(st.sampled_from(FLOATS))
    shape = shape_of(data, 1, 4)
    rank = len(shape)
    axis = data.draw(st.integers(-rank, rank - 1), label="axis")
    inner = shape[oracle.norm_axis(axis, rank) :]
    x = values(rng, shape, dtype)
    # Scale and bias broadcast to the normalized shape (ONNX): leading dims may be missing or 1.
    scale = values(rng, broadcast_operand(data, inner), dtype)
    inputs = [x, scale]
    bias = None
    if data.draw(st.booleans(), label="bias"):
        bias = values(rng, broadcast_operand(data, inner), dtype)
        inputs.append(bias)
    eps = data.draw(st.none() | st.sampled_from([1e-5, 1e-3, 0.1]).map(f32), label="epsilon")
    expected = oracle.layer_norm(x, scale, bias, axis, float(np.float32(1e-5)) if eps is None else eps)
    attrs = {"axis": _opt(data, "axis", axis, -1), "epsilon": eps}
    # A row of equal values has variance 0, so the result is 0 up to eps: keep atol loose.
    check("layer_norm", inputs, attrs, expected, (1e-4, 1e-4), generic_form(data))


# ----------------------------------------------------------------------------- layout
ANY_DTYPE = [np.float32, np.float64, np.int32, np.int64, np.bool_]


@SETTINGS
@given(data=st.data())
def test_transpose(data: st.DataObject) -> None:
    rng = rng_of(data)
    shape = shape_of(data, 0, 4)
    perm = data.draw(st.none() | st.permutations(range(len(shape))), label="perm")
    x = values(rng, shape, data.draw(st.sampled_from(ANY_DTYPE)))
    check("transpose", [x], {"perm": perm}, oracle.transpose(x, perm), generic=generic_form(data))


@SETTINGS
@given(data=st.data())
def test_reshape(data: st.DataObject) -> None:
    rng = rng_of(data)
    shape = shape_of(data, 0, 4)
    x = values(rng, shape, data.draw(st.sampled_from(ANY_DTYPE)))
    # A target shape: a random factorization of the element count ...
    count, target = math.prod(shape), []
    while count > 1 and len(target) < 4:
        d = data.draw(st.sampled_from([f for f in range(1, count + 1) if count % f == 0]), label="dim")
        target.append(d)
        count //= d
    if count > 1:
        target.append(count)
    if data.draw(st.booleans(), label="extra ones"):
        target.insert(data.draw(st.integers(0, len(target))), 1)
    # ... then one dim as -1, and dims equal to the input's at the same position as 0.
    if target and data.draw(st.booleans(), label="use -1"):
        target[data.draw(st.integers(0, len(target) - 1), label="-1 at")] = -1
    target = [0 if i < len(shape) and t == shape[i] and data.draw(st.booleans()) else t for i, t in enumerate(target)]
    expected = oracle.reshape(x, target)
    check("reshape", [x], {"shape": target}, expected, generic=generic_form(data))


@SETTINGS
@given(data=st.data())
def test_flatten(data: st.DataObject) -> None:
    rng = rng_of(data)
    shape = shape_of(data, 1, 4)
    axis = data.draw(st.integers(-len(shape), len(shape)), label="axis")
    x = values(rng, shape, data.draw(st.sampled_from(ANY_DTYPE)))
    check("flatten", [x], {"axis": _opt(data, "axis", axis, 1)}, oracle.flatten(x, axis))


@SETTINGS
@given(data=st.data())
def test_squeeze(data: st.DataObject) -> None:
    rng = rng_of(data)
    shape = shape_of(data, 0, 4, 3)
    ones = [i for i, d in enumerate(shape) if d == 1]
    axes = None
    if ones and data.draw(st.booleans(), label="axes given"):
        axes = data.draw(st.lists(st.sampled_from(ones), min_size=1, unique=True), label="axes")
        axes = [a - len(shape) if data.draw(st.booleans(), label="negative") else a for a in axes]
    x = values(rng, shape, data.draw(st.sampled_from(ANY_DTYPE)))
    check("squeeze", [x], {"axes": axes}, oracle.squeeze(x, axes), generic=generic_form(data))


@SETTINGS
@given(data=st.data())
def test_unsqueeze(data: st.DataObject) -> None:
    rng = rng_of(data)
    shape = shape_of(data, 0, 3)
    k = data.draw(st.integers(1, 2), label="new dims")
    rank = len(shape) + k
    axes = data.draw(st.lists(st.integers(0, rank - 1), min_size=k, max_size=k, unique=True), label="axes")
    axes = [a - rank if data.draw(st.booleans(), label="negative") else a for a in axes]
    x = values(rng, shape, data.draw(st.sampled_from(ANY_DTYPE)))
    check("unsqueeze", [x], {"axes": axes}, oracle.unsqueeze(x, axes), generic=generic_form(data))


@SETTINGS
@given(data=st.data())
def test_broadcast_to(data: st.DataObject) -> None:
    rng = rng_of(data)
    out = shape_of(data, 0, 4)
    sx = broadcast_operand(data, out)
    # The shape attribute may itself have 1s where x is larger, and fewer dims than x.
    target = list(broadcast_operand(data, out))
    target = [1 if data.draw(st.booleans()) else d for d in target]
    x = values(rng, sx, data.draw(st.sampled_from(ANY_DTYPE)))
    check("broadcast_to", [x], {"shape": target}, oracle.broadcast_to(x, target), generic=generic_form(data))


@SETTINGS
@given(data=st.data())
def test_concat(data: st.DataObject) -> None:
    rng = rng_of(data)
    shape = shape_of(data, 1, 4)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")
    dtype = data.draw(st.sampled_from(ANY_DTYPE))
    count = data.draw(st.integers(1, 4), label="inputs")
    a = oracle.norm_axis(axis, len(shape))
    xs = []
    for _ in range(count):
        s = list(shape)
        s[a] = data.draw(st.integers(1, 3), label="size along axis")
        xs.append(values(rng, s, dtype))
    check("concat", xs, {"axis": axis}, oracle.concat(xs, axis), generic=generic_form(data))


@SETTINGS
@given(data=st.data())
def test_split(data: st.DataObject) -> None:
    rng = rng_of(data)
    shape = list(shape_of(data, 1, 3))
    rank = len(shape)
    axis = data.draw(st.integers(-rank, rank - 1), label="axis")
    a = oracle.norm_axis(axis, rank)
    explicit = data.draw(st.booleans(), label="split given")
    if explicit:
        sizes = data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=4), label="split")
        shape[a] = sum(sizes)
    else:
        parts = data.draw(st.integers(1, 3), label="parts")
        shape[a] = parts * data.draw(st.integers(1, 2), label="part size")
        sizes = [shape[a] // parts] * parts
    x = values(rng, shape, data.draw(st.sampled_from(ANY_DTYPE)))
    attrs = {"axis": _opt(data, "axis", axis, 0), "split": sizes if explicit else None}
    check("split", [x], attrs, oracle.split(x, axis, sizes), generic=generic_form(data))


@SETTINGS
@given(data=st.data())
def test_slice(data: st.DataObject) -> None:
    rng = rng_of(data)
    shape = shape_of(data, 1, 3, 6)
    rank = len(shape)
    chosen = data.draw(st.lists(st.integers(0, rank - 1), min_size=1, max_size=rank, unique=True), label="axes")
    bound = st.integers(-8, 8) | st.sampled_from([oracle.INT64_MAX, oracle.INT64_MIN])
    starts = [data.draw(bound, label="start") for _ in chosen]
    ends = [data.draw(bound, label="end") for _ in chosen]
    steps = [data.draw(st.sampled_from([1, 2, 3, -1, -2, -3]), label="step") for _ in chosen]
    default_axes = chosen == list(range(len(chosen)))
    axes = [a - rank if data.draw(st.booleans(), label="negative") else a for a in chosen]
    if default_axes and data.draw(st.booleans(), label="omit axes"):
        axes = None
    if all(s == 1 for s in steps) and data.draw(st.booleans(), label="omit steps"):
        steps_attr = None
    else:
        steps_attr = steps
    x = values(rng, shape, data.draw(st.sampled_from(ANY_DTYPE)))
    expected = oracle.slice_(x, starts, ends, axes, steps)
    assume(expected[0].size > 0)
    attrs = {"starts": starts, "ends": ends, "axes": axes, "steps": steps_attr}
    check("slice", [x], attrs, expected, generic=generic_form(data))


@SETTINGS
@given(data=st.data())
def test_pad(data: st.DataObject) -> None:
    rng = rng_of(data)
    shape = shape_of(data, 1, 3)
    rank = len(shape)
    mode = data.draw(st.sampled_from([None, "constant", "reflect", "edge"]), label="mode")
    dtype = data.draw(st.sampled_from([np.float32, np.float64, np.int32, np.int64]))
    limit = [d - 1 if mode == "reflect" else 3 for d in shape]
    pads = [data.draw(st.integers(0, limit[i % rank]), label="pad") for i in range(2 * rank)]
    x = values(rng, shape, dtype)
    value: Any = None
    if mode in (None, "constant") and data.draw(st.booleans(), label="value given"):
        value = data.draw(st.integers(-5, 5)) if np.dtype(dtype).kind in "iu" else f32(data.draw(st.floats(-5, 5)))
    expected = oracle.pad(x, pads, mode or "constant", 0 if value is None else value)
    check("pad", [x], {"pads": pads, "mode": mode, "value": value}, expected, generic=generic_form(data))


@SETTINGS
@given(data=st.data())
def test_gather(data: st.DataObject) -> None:
    rng = rng_of(data)
    shape = shape_of(data, 1, 3)
    rank = len(shape)
    axis = data.draw(st.integers(-rank, rank - 1), label="axis")
    d = shape[oracle.norm_axis(axis, rank)]
    idx_shape = shape_of(data, 0, 2, 3)
    idx_dtype = data.draw(st.sampled_from(INTS))
    indices = rng.integers(-d, d, idx_shape).astype(idx_dtype)
    x = values(rng, shape, data.draw(st.sampled_from(ANY_DTYPE)))
    attrs = {"axis": _opt(data, "axis", axis, 0)}
    check("gather", [x, indices], attrs, oracle.gather(x, indices, axis), generic=generic_form(data))


CASTS = [
    (np.float32, np.int32),
    (np.float32, np.int64),
    (np.float32, np.float64),
    (np.float64, np.float32),
    (np.int32, np.float32),
    (np.int64, np.float64),
    (np.int32, np.int64),
    (np.int64, np.int32),
    (np.float32, np.bool_),
    (np.bool_, np.float32),
    (np.bool_, np.int32),
    (np.int32, np.bool_),
]


@pytest.mark.parametrize(("src", "dst"), CASTS, ids=lambda t: np.dtype(t).name)
@FEW
@given(data=st.data())
def test_cast(src: Any, dst: Any, data: st.DataObject) -> None:
    rng = rng_of(data)
    shape = shape_of(data, 0, 3)
    x = values(rng, shape, src)
    if np.dtype(src).kind == "f":
        x = np.asarray(rng.standard_normal(shape) * 50).astype(src)
        x[rng.random(shape) < 0.3] = 0
    to = Type_(ELT[np.dtype(dst).name])
    check("cast", [x], {"to": to}, oracle.cast(x, dst), generic=generic_form(data))


@SETTINGS
@given(data=st.data())
def test_constant(data: st.DataObject) -> None:
    rng = rng_of(data)
    shape = shape_of(data, 0, 3)
    x = values(rng, shape, data.draw(st.sampled_from(ANY_DTYPE)))
    if data.draw(st.booleans(), label="splat") and x.size:
        x = np.full(shape, x.reshape(-1)[0], dtype=x.dtype)
    check("constant", [], {"value": x}, [x.copy()], generic=True)


# ----------------------------------------------------------------------------- invalid ops
INVALID = {
    "conv2d kernel larger than the padded input": (
        "tensor.conv2d %x, %w : (tensor<1x1x2x2xf32>, tensor<1x1x3x3xf32>) -> tensor<1x1x0x0xf32>"
    ),
    "conv2d channels do not match the weight": (
        "tensor.conv2d %x, %w : (tensor<1x2x4x4xf32>, tensor<1x3x3x3xf32>) -> tensor<1x1x2x2xf32>"
    ),
    "conv2d wrong result shape": (
        "tensor.conv2d %x, %w : (tensor<1x1x4x4xf32>, tensor<1x1x3x3xf32>) -> tensor<1x1x4x4xf32>"
    ),
    "matmul inner dims differ": "tensor.matmul %x, %w : (tensor<2x3xf32>, tensor<4x2xf32>) -> tensor<2x2xf32>",
    "add shapes do not broadcast": "tensor.add %x, %w : (tensor<2x3xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>",
    "reshape changes the element count": ("tensor.reshape %x {shape = [4, 2]} : (tensor<2x3xf32>) -> tensor<4x2xf32>"),
    "concat dims differ off the axis": (
        "tensor.concat %x, %w {axis = 0} : (tensor<2x3xf32>, tensor<2x4xf32>) -> tensor<4x3xf32>"
    ),
    "transpose perm is not a permutation": (
        "tensor.transpose %x {perm = [0, 0]} : (tensor<2x3xf32>) -> tensor<2x2xf32>"
    ),
    "gather with float indices": "tensor.gather %x, %w : (tensor<2x3xf32>, tensor<2xf32>) -> tensor<2x3xf32>",
    "reduce axis out of range": "tensor.reduce_sum %x {axes = [2]} : (tensor<2x3xf32>) -> tensor<2x3xf32>",
    "max_pool2d without kernel_shape": "tensor.max_pool2d %x : (tensor<1x1x4x4xf32>) -> tensor<1x1x4x4xf32>",
    "squeeze of a dim that is not 1": "tensor.squeeze %x {axes = [0]} : (tensor<2x3xf32>) -> tensor<3xf32>",
    "slice step 0": ("tensor.slice %x {starts = [0], ends = [2], steps = [0]} : (tensor<2x3xf32>) -> tensor<2x3xf32>"),
}


@pytest.mark.parametrize("op_text", INVALID.values(), ids=list(INVALID))
def test_invalid_op_is_a_located_error(op_text: str) -> None:
    """Ill-typed ops fail in the parser or verifier with a located error, never later."""
    from irc.diagnostics import IRCError
    from irc.location import file_location
    from irc.verifier import verify
    from textual_ir.parser import parse_module

    signature = op_text[op_text.rindex(": (") + 2 :]
    ins, out = signature.split(" -> ")
    types = [t.strip() for t in ins.strip("()").split(", ")] if ins != "()" else []
    names = ["%x", "%w"][: len(types)]
    args = ", ".join(f"{n}: {t}" for n, t in zip(names, types, strict=True))
    text = f"func.func @main({args}) -> {out} {{\n  %y = {op_text}\n  func.return %y : {out}\n}}\n"
    with pytest.raises(IRCError) as info:
        verify(parse_module(text, "bad.gir"))
    loc = file_location(info.value.diagnostic.location)
    assert loc is not None
    assert loc.line == 2
