"""Every tensor op compiled for the CPU (`irc.compile(module, target="cpu")`: the `cpu`
pipeline, lower-tensor-to-loops, allocate-buffers, LLVM) against the reference interpreter
(`irc.interpret`), on shapes and attributes drawn by hypothesis; then random graphs of
several ops drawn from the whole dialect.

Each case is built with the Python builders, so the result types are the inferred ones.
Floats must agree to rtol 1e-4 (f32) or 1e-9 (f64), integers and booleans exactly. On failure
hypothesis prints the module (`note`). IRC_TEST_EXAMPLES raises the number of examples.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from test_tensor_reference import broadcast_operand, rng_of, shape_of, values

import irc
from dialects import tensor
from dialects.builtin import ModuleOp
from dialects.func import FunctionBuilder
from irc.ir import Operation, Value
from irc.types import TensorType, Type, f32, f64, i1, i8, i16, i32, i64
from irc.verifier import verify

EXAMPLES = int(os.environ.get("IRC_TEST_EXAMPLES", "6"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

FLOATS = [np.float32, np.float64]
INTS = [np.int8, np.int16, np.int32, np.int64]
ELEMENT = {
    "float32": f32, "float64": f64, "bool": i1, "int8": i8, "int16": i16, "int32": i32, "int64": i64,
}  # fmt: skip
RTOL = {"float32": 1e-4, "float64": 1e-9}


def element_of(dtype: Any) -> Type:
    return ELEMENT[np.dtype(dtype).name]


def build_module(build: Callable[..., Value | Sequence[Value]], inputs: Sequence[np.ndarray]) -> Operation:
    """`func.func @main` over arguments typed like `inputs`, returning what `build` makes of them."""
    module = ModuleOp.build()
    with FunctionBuilder("main", module) as f:
        args = [f.arg(TensorType(a.shape, element_of(a.dtype)), f"a{i}") for i, a in enumerate(inputs)]
        outs = build(*args)
        f.ret(*(outs if isinstance(outs, tuple | list) else [outs]))
    verify(module)
    return module


def compare(module: Operation, inputs: Sequence[np.ndarray], atol: float = 1e-5) -> list[np.ndarray]:
    """Interpret and compile `module`; the CPU's outputs must equal the reference's."""
    with contextlib.suppress(InvalidArgument):  # outside hypothesis: nothing to note
        note(str(module))
    expected = irc.interpret(module, *inputs)
    exe = irc.compile(module, target="cpu", cache=False)
    actual = exe["main"].call_list(list(inputs))
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected, strict=True):
        assert (a.shape, a.dtype) == (e.shape, e.dtype)
        if e.dtype.kind == "f":
            np.testing.assert_allclose(a, e, rtol=RTOL[e.dtype.name], atol=atol)
        else:
            np.testing.assert_array_equal(a, e)
    return expected


def check(build: Callable[..., Value | Sequence[Value]], *inputs: np.ndarray, atol: float = 1e-5) -> None:
    compare(build_module(build, inputs), inputs, atol)


def buildable(fn: Callable[[], Any]) -> Any:
    """Run a builder; a combination of attributes the op rejects is not a test case."""
    try:
        return fn()
    except ValueError:
        assume(False)
        raise


# ----------------------------------------------------------------------------- element-wise
BINARY_FLOAT = ["add", "sub", "mul", "div", "pow", "max", "min"]
BINARY_INT = ["add", "sub", "mul", "div", "max", "min"]
COMPARE = ["equal", "less", "less_or_equal", "greater", "greater_or_equal"]


@pytest.mark.parametrize("op", BINARY_FLOAT)
@SETTINGS
@given(data=st.data())
def test_binary_float(op: str, data: st.DataObject) -> None:
    rng = rng_of(data)
    dtype = data.draw(st.sampled_from(FLOATS))
    out = shape_of(data, max_dim=6)
    sa, sb = broadcast_operand(data, out), broadcast_operand(data, out)
    a = values(rng, sa, dtype, "positive" if op == "pow" else "normal")
    b = rng.uniform(-2.0, 2.0, sb).astype(dtype) if op == "pow" else values(rng, sb, dtype)
    check(getattr(tensor, op), a, b)


@pytest.mark.parametrize("op", BINARY_INT)
@SETTINGS
@given(data=st.data())
def test_binary_int(op: str, data: st.DataObject) -> None:
    """Wrapping arithmetic; division truncates, x / 0 = 0 and MIN / -1 = MIN as the reference."""
    rng = rng_of(data)
    dtype = data.draw(st.sampled_from(INTS))
    out = shape_of(data, max_dim=6)
    sa, sb = broadcast_operand(data, out), broadcast_operand(data, out)
    info = np.iinfo(dtype)
    a = rng.choice(np.array([info.min, info.max, -7, -1, 0, 1, 5, 100], dtype=np.int64), sa).astype(dtype)
    a = np.where(rng.random(sa) < 0.5, values(rng, sa, dtype), a).astype(dtype)
    b = np.where(rng.random(sb) < 0.3, rng.choice([-1, 0, 1], sb), values(rng, sb, dtype)).astype(dtype)
    check(getattr(tensor, op), a, b)


@pytest.mark.parametrize("op", COMPARE)
@SETTINGS
@given(data=st.data())
def test_compare(op: str, data: st.DataObject) -> None:
    rng = rng_of(data)
    dtype = data.draw(st.sampled_from([*FLOATS, *INTS, *([np.bool_] if op == "equal" else [])]))
    out = shape_of(data)
    sa, sb = broadcast_operand(data, out), broadcast_operand(data, out)
    a, b = values(rng, sa, dtype, "ties"), values(rng, sb, dtype, "ties")
    if np.dtype(dtype).kind in "iu":
        a, b = rng.integers(0, 3, sa).astype(dtype), rng.integers(0, 3, sb).astype(dtype)
    check(getattr(tensor, op), a, b)


@SETTINGS
@given(data=st.data())
def test_where(data: st.DataObject) -> None:
    rng = rng_of(data)
    dtype = data.draw(st.sampled_from([*FLOATS, *INTS, np.bool_]))
    out = shape_of(data)
    sc, sx, sy = (broadcast_operand(data, out) for _ in range(3))
    check(tensor.where, values(rng, sc, np.bool_), values(rng, sx, dtype), values(rng, sy, dtype))


UNARY = [
    "neg", "abs", "exp", "log", "sqrt", "rsqrt", "erf", "relu", "sigmoid", "tanh", "softplus",
    "leaky_relu", "gelu", "elu", "selu", "hard_sigmoid", "clip",
]  # fmt: skip


def unary_builder(op: str, data: st.DataObject, integer: bool = False) -> Callable[[Value], Value]:
    maybe = st.none() | st.floats(-3.0, 3.0, allow_nan=False)
    fn = getattr(tensor, op)
    if op in ("leaky_relu", "elu"):
        alpha = data.draw(maybe, label="alpha")
        return lambda x: fn(x, alpha=alpha)
    if op == "selu":
        alpha, gamma = data.draw(maybe, label="alpha"), data.draw(maybe, label="gamma")
        return lambda x: tensor.selu(x, alpha=alpha, gamma=gamma)
    if op == "hard_sigmoid":
        alpha, beta = data.draw(maybe, label="alpha"), data.draw(maybe, label="beta")
        return lambda x: tensor.hard_sigmoid(x, alpha=alpha, beta=beta)
    if op == "gelu":
        approximate = data.draw(st.sampled_from([None, "none", "tanh"]), label="approximate")
        return lambda x: tensor.gelu(x, approximate=approximate)
    if op == "clip":
        bound = st.integers(-10, 10) if integer else st.floats(-2.0, 2.0)
        lo, hi = data.draw(st.none() | bound, label="min"), data.draw(st.none() | bound, label="max")
        return lambda x: tensor.clip(x, min=lo, max=hi)
    return fn


@pytest.mark.parametrize("op", UNARY)
@SETTINGS
@given(data=st.data())
def test_unary_float(op: str, data: st.DataObject) -> None:
    rng = rng_of(data)
    dtype = data.draw(st.sampled_from(FLOATS))
    shape = shape_of(data, max_dim=6)
    x = values(rng, shape, dtype, "positive" if op in ("log", "sqrt", "rsqrt") else "normal") * 3
    check(unary_builder(op, data), x.astype(dtype))


@pytest.mark.parametrize("op", ["neg", "abs", "relu", "clip"])
@SETTINGS
@given(data=st.data())
def test_unary_int(op: str, data: st.DataObject) -> None:
    rng = rng_of(data)
    dtype = data.draw(st.sampled_from(INTS))
    shape = shape_of(data)
    info = np.iinfo(dtype)
    x = np.where(rng.random(shape) < 0.2, info.min, values(rng, shape, dtype)).astype(dtype)
    check(unary_builder(op, data, integer=True), x)


@pytest.mark.parametrize("op", ["max", "min", "relu", "clip", "reduce_max", "reduce_min", "argmax", "softmax"])
def test_nan_propagates(op: str) -> None:
    """NaN behaviour as numpy: np.maximum/np.max propagate NaN, argmax points at the first NaN."""
    x = np.array([[1.0, np.nan, 3.0, -np.inf], [2.0, 0.5, np.nan, np.nan], [0.0, -1.0, 4.0, 2.0]], np.float32)
    y = np.array([np.nan, 1.0, 2.0, 5.0], np.float32)
    builders: dict[str, Callable[..., Value]] = {
        "max": tensor.max,
        "min": tensor.min,
        "relu": lambda a, b: tensor.relu(a),
        "clip": lambda a, b: tensor.clip(a, min=0.5, max=2.5),
        "reduce_max": lambda a, b: tensor.reduce_max(a, axes=[1]),
        "reduce_min": lambda a, b: tensor.reduce_min(a, axes=[0]),
        "argmax": lambda a, b: (tensor.argmax(a, axis=1), tensor.argmax(a, axis=0, select_last_index=True)),
        "softmax": lambda a, b: tensor.softmax(a, axis=0),
    }
    check(builders[op], x, y)


@pytest.mark.parametrize("op", ["sigmoid", "softplus", "tanh", "exp", "gelu", "elu", "selu", "erf", "hard_sigmoid"])
@pytest.mark.parametrize("dtype", FLOATS, ids=lambda t: np.dtype(t).name)
def test_extreme_values(op: str, dtype: Any) -> None:
    """Overflowing exponentials, infinities and NaN give the reference's limits."""
    x = np.array([-1e4, -1000.0, -100.0, -88.0, -20.0, -0.0, 0.0, 20.0, 88.0, 100.0, 1000.0, np.inf, -np.inf, np.nan])
    check(getattr(tensor, op), x.astype(dtype))


CAST_TYPES = [np.float32, np.float64, np.bool_, np.int8, np.int16, np.int32, np.int64]


@pytest.mark.parametrize("src", CAST_TYPES, ids=lambda t: np.dtype(t).name)
@SETTINGS
@given(data=st.data())
def test_cast(src: Any, data: st.DataObject) -> None:
    """numpy's astype for every pair (float to int in range: truncation toward zero)."""
    rng = rng_of(data)
    dst = data.draw(st.sampled_from(CAST_TYPES), label="to")
    shape = shape_of(data, max_dim=6)
    kind = np.dtype(src).kind
    if kind == "f":
        x = (rng.standard_normal(shape) * 40).astype(src)
        x = np.where(rng.random(shape) < 0.2, 0.0, x).astype(src)  # zeros become false
    else:
        x = values(rng, shape, src)
    check(lambda a: tensor.cast(a, element_of(dst)), x)


# ----------------------------------------------------------------------------- linear algebra
@SETTINGS
@given(data=st.data())
def test_matmul(data: st.DataObject) -> None:
    rng = rng_of(data)
    dtype = data.draw(st.sampled_from([np.float32, np.float64, np.int32, np.int8]))
    m, k, n = (data.draw(st.integers(1, 9)) for _ in range(3))
    batch = shape_of(data, 0, 2, 3)
    ba, bb = broadcast_operand(data, batch), broadcast_operand(data, batch)
    sa = (k,) if data.draw(st.booleans(), label="a is 1-D") else (*ba, m, k)
    sb = (k,) if data.draw(st.booleans(), label="b is 1-D") else (*bb, k, n)
    check(tensor.matmul, values(rng, sa, dtype), values(rng, sb, dtype))


@SETTINGS
@given(data=st.data())
def test_gemm(data: st.DataObject) -> None:
    rng = rng_of(data)
    dtype = data.draw(st.sampled_from([np.float32, np.float64, np.int32, np.int64]))
    m, k, n = (data.draw(st.integers(1, 9)) for _ in range(3))
    trans_a, trans_b = data.draw(st.booleans()), data.draw(st.booleans())
    alpha = data.draw(st.sampled_from([None, 1.0, 0.5, -2.0]), label="alpha")
    beta = data.draw(st.sampled_from([None, 1.0, 0.25, 3.0]), label="beta")
    c_shape = data.draw(st.sampled_from([None, (), (n,), (m, 1), (1, n), (m, n)]), label="C shape")
    a = values(rng, (k, m) if trans_a else (m, k), dtype)
    b = values(rng, (n, k) if trans_b else (k, n), dtype)
    inputs = [a, b] + ([values(rng, c_shape, dtype)] if c_shape is not None else [])

    def build(a: Value, b: Value, c: Value | None = None) -> Value:
        return tensor.gemm(a, b, c, trans_a=trans_a, trans_b=trans_b, alpha=alpha, beta=beta)

    check(build, *inputs)


@SETTINGS
@given(data=st.data())
def test_gemm_constant_c(data: st.DataObject) -> None:
    """A splat C becomes a scalar in the epilogue."""
    rng = rng_of(data)
    m, k, n = (data.draw(st.integers(1, 6)) for _ in range(3))
    check(lambda a, b: tensor.gemm(a, b, tensor.constant(np.full((n,), 0.5, np.float32)), beta=2.0),
          values(rng, (m, k), np.float32), values(rng, (k, n), np.float32))  # fmt: skip


# ----------------------------------------------------------------------------- convolution, pooling
def with_specials(data: st.DataObject, rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    """Floats: some draws sprinkle NaN, +inf and -inf, for ops whose max/min must propagate
    NaN (pools and max/min reductions build a NaN mask per window in the backend)."""
    if x.dtype.kind != "f" or not data.draw(st.booleans(), label="NaN and inf"):
        return x
    special = rng.choice(np.array([np.nan, np.inf, -np.inf], x.dtype), x.shape)
    return np.where(rng.random(x.shape) < 0.15, special, x).astype(x.dtype)


def window_attrs(data: st.DataObject, pool: bool) -> dict[str, Any]:
    kernel = [data.draw(st.integers(1, 3), label="kh"), data.draw(st.integers(1, 3), label="kw")]
    strides = data.draw(st.none() | st.lists(st.integers(1, 3), min_size=2, max_size=2), label="strides")
    dilations = data.draw(st.none() | st.lists(st.integers(1, 2), min_size=2, max_size=2), label="dilations")
    d = dilations or [1, 1]
    extent = [d[0] * (kernel[0] - 1) + 1, d[1] * (kernel[1] - 1) + 1]
    limit = [extent[i % 2] - 1 for i in range(4)] if pool else [2] * 4
    pads = data.draw(st.none() | st.tuples(*(st.integers(0, max(v, 0)) for v in limit)).map(list), label="pads")
    return {"kernel": kernel, "strides": strides, "dilations": dilations, "pads": pads}


@SETTINGS
@given(data=st.data())
def test_conv2d(data: st.DataObject) -> None:
    rng = rng_of(data)
    dtype = data.draw(st.sampled_from(FLOATS))
    group = data.draw(st.sampled_from([1, 1, 2, 3]), label="group")
    n = data.draw(st.integers(1, 2))
    cg, mg = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    h, w = data.draw(st.integers(1, 9)), data.draw(st.integers(1, 9))
    a = window_attrs(data, pool=False)
    x = values(rng, (n, cg * group, h, w), dtype)
    wt = values(rng, (mg * group, cg, *a["kernel"]), dtype)
    with_bias = data.draw(st.booleans(), label="bias")
    inputs = [x, wt] + ([values(rng, (mg * group,), dtype)] if with_bias else [])

    def build(x: Value, w: Value, b: Value | None = None) -> Value:
        return tensor.conv2d(x, w, b, strides=a["strides"], pads=a["pads"], dilations=a["dilations"], group=group)

    buildable(lambda: build_module(build, inputs))
    check(build, *inputs)


@SETTINGS
@given(data=st.data())
def test_conv_transpose2d(data: st.DataObject) -> None:
    rng = rng_of(data)
    dtype = data.draw(st.sampled_from(FLOATS))
    group = data.draw(st.sampled_from([1, 1, 2]), label="group")
    n = data.draw(st.integers(1, 2))
    cg, mg = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    h, w = data.draw(st.integers(1, 6)), data.draw(st.integers(1, 6))
    a = window_attrs(data, pool=False)
    s = a["strides"] or [1, 1]
    d = a["dilations"] or [1, 1]
    out_pad = data.draw(
        st.none() | st.tuples(st.integers(0, max(s[0], d[0]) - 1), st.integers(0, max(s[1], d[1]) - 1)).map(list),
        label="output_padding",
    )
    x = values(rng, (n, cg * group, h, w), dtype)
    wt = values(rng, (cg * group, mg, *a["kernel"]), dtype)
    with_bias = data.draw(st.booleans(), label="bias")
    inputs = [x, wt] + ([values(rng, (mg * group,), dtype)] if with_bias else [])

    def build(x: Value, w: Value, b: Value | None = None) -> Value:
        return tensor.conv_transpose2d(
            x, w, b, strides=a["strides"], pads=a["pads"], dilations=a["dilations"], group=group,
            output_padding=out_pad,
        )  # fmt: skip

    buildable(lambda: build_module(build, inputs))
    check(build, *inputs)


@pytest.mark.parametrize("op", ["max_pool2d", "avg_pool2d"])
@SETTINGS
@given(data=st.data())
def test_pool2d(op: str, data: st.DataObject) -> None:
    rng = rng_of(data)
    dtype = data.draw(st.sampled_from(FLOATS + ([np.int32, np.int8] if op == "max_pool2d" else [])))
    shape = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 3)), data.draw(st.integers(1, 9)),
             data.draw(st.integers(1, 9)))  # fmt: skip
    a = window_attrs(data, pool=True)
    extra = {"ceil_mode": data.draw(st.booleans(), label="ceil_mode")}
    if op == "avg_pool2d":
        extra["count_include_pad"] = data.draw(st.booleans(), label="count_include_pad")
    fn = getattr(tensor, op)

    def build(x: Value) -> Value:
        return fn(x, a["kernel"], strides=a["strides"], pads=a["pads"], dilations=a["dilations"], **extra)

    x = values(rng, shape, dtype)
    if op == "max_pool2d":
        x = with_specials(data, rng, x)
    buildable(lambda: build_module(build, [x]))
    check(build, x)


@pytest.mark.parametrize("op", ["global_avg_pool", "global_max_pool"])
@SETTINGS
@given(data=st.data())
def test_global_pool(op: str, data: st.DataObject) -> None:
    rng = rng_of(data)
    dtype = data.draw(st.sampled_from(FLOATS + ([np.int32] if op == "global_max_pool" else [])))
    shape = tuple(data.draw(st.integers(1, 5)) for _ in range(4))
    x = values(rng, shape, dtype)
    check(getattr(tensor, op), with_specials(data, rng, x) if op == "global_max_pool" else x)


# ----------------------------------------------------------------------------- reductions, normalization
@pytest.mark.parametrize("op", ["reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod"])
@SETTINGS
@given(data=st.data())
def test_reduce(op: str, data: st.DataObject) -> None:
    rng = rng_of(data)
    dtype = data.draw(st.sampled_from([*FLOATS, np.int32, np.int64, np.int8]))
    shape = shape_of(data, 1, 4, 6)
    axes = data.draw(
        st.none()
        | st.lists(st.integers(-len(shape), len(shape) - 1), max_size=len(shape), unique_by=lambda a: a % len(shape)),
        label="axes",
    )
    keepdims = data.draw(st.none() | st.booleans(), label="keepdims")
    x = values(rng, shape, dtype)
    if op == "reduce_prod" and np.dtype(dtype).kind == "f":
        x = (np.sign(x) * rng.uniform(0.5, 1.5, shape)).astype(dtype)
    if op in ("reduce_max", "reduce_min"):
        x = with_specials(data, rng, x)
    check(lambda a: getattr(tensor, op)(a, axes=axes, keepdims=keepdims), x)


@SETTINGS
@given(data=st.data())
def test_argmax(data: st.DataObject) -> None:
    rng = rng_of(data)
    dtype = data.draw(st.sampled_from([*FLOATS, np.int32, np.int16]))
    shape = shape_of(data, 1, 4, 5)
    axis = data.draw(st.none() | st.integers(-len(shape), len(shape) - 1), label="axis")
    keepdims = data.draw(st.none() | st.booleans(), label="keepdims")
    last = data.draw(st.none() | st.booleans(), label="select_last_index")
    check(
        lambda a: tensor.argmax(a, axis=axis, keepdims=keepdims, select_last_index=last),
        values(rng, shape, dtype, "ties"),
    )


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
@SETTINGS
@given(data=st.data())
def test_softmax(op: str, data: st.DataObject) -> None:
    rng = rng_of(data)
    dtype = data.draw(st.sampled_from(FLOATS))
    shape = shape_of(data, 1, 4, 6)
    axis = data.draw(st.none() | st.integers(-len(shape), len(shape) - 1), label="axis")
    check(lambda a: getattr(tensor, op)(a, axis=axis), (values(rng, shape, dtype) * 4).astype(dtype))


@SETTINGS
@given(data=st.data())
def test_batch_norm(data: st.DataObject) -> None:
    rng = rng_of(data)
    dtype = data.draw(st.sampled_from(FLOATS))
    shape = shape_of(data, 2, 4, 5)
    c = shape[1]
    eps = data.draw(st.none() | st.sampled_from([1e-3, 0.1]), label="epsilon")
    params = [values(rng, (c,), dtype), values(rng, (c,), dtype), values(rng, (c,), dtype),
              values(rng, (c,), dtype, "positive")]  # fmt: skip
    check(lambda x, *p: tensor.batch_norm(x, *p, epsilon=eps), values(rng, shape, dtype), *params)


@SETTINGS
@given(data=st.data())
def test_layer_norm(data: st.DataObject) -> None:
    rng = rng_of(data)
    dtype = data.draw(st.sampled_from(FLOATS))
    shape = shape_of(data, 1, 4, 6)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")
    normalized = shape[axis % len(shape) :]
    scale = values(rng, broadcast_operand(data, normalized), dtype)
    with_bias = data.draw(st.booleans(), label="bias")
    inputs = [values(rng, shape, dtype), scale]
    if with_bias:
        inputs.append(values(rng, broadcast_operand(data, normalized), dtype))
    eps = data.draw(st.none() | st.sampled_from([1e-3, 0.1]), label="epsilon")
    check(lambda x, s, b=None: tensor.layer_norm(x, s, b, axis=axis, epsilon=eps), *inputs, atol=1e-4)


# ----------------------------------------------------------------------------- data movement
ANY_DTYPE = st.sampled_from([np.float32, np.float64, np.int8, np.int32, np.int64, np.bool_])


@SETTINGS
@given(data=st.data())
def test_transpose(data: st.DataObject) -> None:
    rng = rng_of(data)
    shape = shape_of(data, 0, 5, 5)
    perm = data.draw(st.none() | st.permutations(range(len(shape))), label="perm")
    check(lambda a: tensor.transpose(a, perm), values(rng, shape, data.draw(ANY_DTYPE)))


@pytest.mark.parametrize("op", ["reshape", "flatten", "squeeze", "unsqueeze"])
@SETTINGS
@given(data=st.data())
def test_reshapes(op: str, data: st.DataObject) -> None:
    """Views without copies; results are copied into the output buffer (the input is an
    argument), or computed in it (the reshaped value is computed here)."""
    rng = rng_of(data)
    shape = shape_of(data, 1, 4, 4)
    if op == "squeeze":
        shape = tuple(1 if data.draw(st.booleans(), label="one") else d for d in shape)
    x = values(rng, shape, data.draw(ANY_DTYPE))
    rank = len(shape)
    builders: dict[str, Callable[[Value], Value]] = {
        "reshape": lambda a: tensor.reshape(a, [-1, shape[-1]] if data.draw(st.booleans()) else [int(x.size)]),
        "flatten": lambda a: tensor.flatten(a, axis=data.draw(st.integers(-rank, rank), label="axis")),
        "squeeze": lambda a: tensor.squeeze(a),
        "unsqueeze": lambda a: tensor.unsqueeze(a, axes=[0, rank + 1]),
    }
    computed = data.draw(st.booleans(), label="reshape a computed value")
    if computed and x.dtype.kind in "fi" and x.dtype != np.int8:
        check(lambda a: builders[op](tensor.neg(a)), x)
    else:
        check(builders[op], x)


@SETTINGS
@given(data=st.data())
def test_broadcast_to(data: st.DataObject) -> None:
    rng = rng_of(data)
    out = shape_of(data, 0, 4, 4)
    src = broadcast_operand(data, out)
    check(lambda a: tensor.broadcast_to(a, list(out)), values(rng, src, data.draw(ANY_DTYPE)))


@SETTINGS
@given(data=st.data())
def test_concat_split(data: st.DataObject) -> None:
    rng = rng_of(data)
    dtype = data.draw(ANY_DTYPE)
    shape = shape_of(data, 1, 4, 4)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")
    count = data.draw(st.integers(1, 3), label="inputs")
    inputs = []
    for _ in range(count):
        s = list(shape)
        s[axis] = data.draw(st.integers(0, 3), label="size along the axis")
        inputs.append(values(rng, s, dtype))
    total = sum(a.shape[axis] for a in inputs)
    parts = data.draw(st.integers(1, 3), label="split parts")
    sizes = data.draw(st.none() | st.just([total // parts] * (parts - 1) + [total - total // parts * (parts - 1)]))
    assume(sizes is not None or total >= parts)

    def build(*args: Value) -> tuple[Value, ...]:
        joined = tensor.concat(list(args), axis)
        pieces = tensor.split(joined, sizes, axis=axis, num_results=parts)
        return (joined, *pieces)

    buildable(lambda: build_module(build, inputs))
    check(build, *inputs)


@SETTINGS
@given(data=st.data())
def test_slice(data: st.DataObject) -> None:
    rng = rng_of(data)
    shape = shape_of(data, 1, 4, 6)
    n = data.draw(st.integers(1, len(shape)), label="sliced axes")
    axes = data.draw(st.permutations(range(len(shape))), label="axes")[:n]
    starts = [data.draw(st.integers(-8, 8)) for _ in range(n)]
    ends = [data.draw(st.integers(-8, 8)) for _ in range(n)]
    steps = [data.draw(st.sampled_from([1, 2, 3, -1, -2])) for _ in range(n)]
    x = values(rng, shape, data.draw(ANY_DTYPE))
    check(lambda a: tensor.slice(a, starts, ends, axes, steps), x)


@SETTINGS
@given(data=st.data())
def test_pad(data: st.DataObject) -> None:
    rng = rng_of(data)
    shape = shape_of(data, 0, 4, 5)
    mode = data.draw(st.sampled_from([None, "constant", "reflect", "edge"]), label="mode")
    limit = [max(d - 1, 0) if mode == "reflect" else 3 for d in shape]
    pads = [data.draw(st.integers(0, v)) for v in limit] + [data.draw(st.integers(0, v)) for v in limit]
    dtype = data.draw(ANY_DTYPE)
    value = data.draw(st.none() | st.sampled_from([1, -2]), label="value") if mode in (None, "constant") else None
    if np.dtype(dtype).kind == "b":
        value = None
    check(lambda a: tensor.pad(a, pads, mode=mode, value=value), values(rng, shape, dtype))


@SETTINGS
@given(data=st.data())
def test_gather(data: st.DataObject) -> None:
    rng = rng_of(data)
    shape = shape_of(data, 1, 3, 5)
    axis = data.draw(st.none() | st.integers(-len(shape), len(shape) - 1), label="axis")
    dim = shape[(axis or 0) % len(shape)]
    idx_shape = shape_of(data, 0, 2, 3)
    idx_type = data.draw(st.sampled_from([np.int32, np.int64]))
    indices = rng.integers(-dim, dim, idx_shape).astype(idx_type)
    check(lambda d, i: tensor.gather(d, i, axis=axis), values(rng, shape, data.draw(ANY_DTYPE)), indices)


# ----------------------------------------------------------------------------- bufferization
def test_results_that_are_arguments_constants_or_repeated() -> None:
    """Each output buffer gets its value: a copy of an argument, of a constant, of another result."""
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    table = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], np.float32)

    def build(a: Value) -> tuple[Value, ...]:
        c = tensor.constant(table)
        s = tensor.constant(np.full((2, 3), 7.0, np.float32))
        y = tensor.add(a, c)
        return (a, c, s, y, y, tensor.reshape(y, [3, 2]), tensor.flatten(a))

    check(build, x)


def test_scalar_function() -> None:
    """A function of scalars: arguments and results are rank-0 buffers."""
    from textual_ir.parser import parse_module

    text = "func.func @main(%x: f32, %n: i32) -> (f32, i32) {\n  %y = arith.mulf %x, %x : f32\n  func.return %y, %n : f32, i32\n}"  # noqa: E501
    module = parse_module(text, "scalar.gir")
    exe = irc.compile(module, target="cpu", cache=False)
    y, n = exe["main"].call_list([np.array(3.0, np.float32), np.array(5, np.int32)])
    assert (float(y), int(n)) == (9.0, 5)


def test_empty_tensors() -> None:
    """Zero-sized results compute nothing; reductions over empty dims give the identity."""
    x = np.zeros((3, 0, 2), np.float32)
    check(
        lambda a: (tensor.relu(a), tensor.reduce_sum(a, axes=[1]), tensor.reduce_prod(a, axes=[1], keepdims=False)), x
    )


EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("path", sorted(EXAMPLES_DIR.glob("*.gir")), ids=lambda p: p.name)
def test_examples(path: Path) -> None:
    from irc.interpreter import find_entry
    from textual_ir.parser import parse_module

    module = parse_module(path.read_text(), path.name)
    rng = np.random.default_rng(0)
    inputs = []
    for arg in find_entry(module).entry.args:
        t = arg.type
        shape, elt = (t.shape, t.element_type) if isinstance(t, TensorType) else ((), t)
        dtype = next(np.dtype(k) for k, v in ELEMENT.items() if v == elt)
        inputs.append(values(rng, shape, dtype))
    expected = irc.interpret(module, *inputs)
    actual = irc.compile(module, target="cpu", cache=False)[find_entry(module).sym_name.value].call_list(inputs)
    for a, e in zip(actual, expected, strict=True):
        np.testing.assert_allclose(a, e, rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------- random graphs
def _graph_step(data: st.DataObject, rng: np.random.Generator, pool: list[Value]) -> Value | None:
    """One op drawn from the whole dialect on values of `pool` (None when the draw does not fit)."""
    x = data.draw(st.sampled_from(pool), label="operand")
    shape = list(x.type.shape)
    rank = len(shape)
    kind = data.draw(
        st.sampled_from([
            "unary", "binary", "binary_const", "reduce", "softmax", "transpose", "reshape", "slice", "pad",
            "concat", "matmul", "layer_norm", "where", "cast", "clip", "broadcast", "gather", "argmax_cast",
            "conv", "pool", "batch_norm", "split", "gemm",
        ]),
        label="op",
    )  # fmt: skip
    if kind == "unary":
        op = data.draw(st.sampled_from(["exp", "tanh", "sigmoid", "relu", "neg", "abs", "erf", "gelu", "elu",
                                        "softplus", "leaky_relu", "selu", "hard_sigmoid"]))  # fmt: skip
        return getattr(tensor, op)(tensor.clip(x, min=-4.0, max=4.0) if op == "exp" else x)
    if kind in ("binary", "binary_const"):
        op = data.draw(st.sampled_from(["add", "sub", "mul", "max", "min"]))
        if kind == "binary":
            y = data.draw(st.sampled_from(pool), label="other operand")
            try:
                tensor.broadcast_shapes(shape, y.type.shape)
            except ValueError:
                return None
        else:
            cshape = broadcast_operand(data, shape)
            y = tensor.constant(values(rng, cshape, np.float32))
        return getattr(tensor, op)(x, y)
    if kind == "reduce" and rank:
        op = data.draw(st.sampled_from(["reduce_sum", "reduce_mean", "reduce_max", "reduce_min"]))
        axes = data.draw(st.lists(st.integers(0, rank - 1), min_size=1, max_size=rank, unique=True))
        return getattr(tensor, op)(x, axes=axes, keepdims=True)
    if kind == "softmax" and rank:
        return tensor.softmax(x, axis=data.draw(st.integers(0, rank - 1)))
    if kind == "transpose":
        return tensor.transpose(x, data.draw(st.permutations(range(rank))))
    if kind == "reshape":
        return tensor.reshape(x, [-1])
    if kind == "slice" and rank:
        axis = data.draw(st.integers(0, rank - 1))
        return tensor.slice(
            x, [data.draw(st.integers(0, 1))], [shape[axis]], [axis], [data.draw(st.sampled_from([1, 2]))]
        )
    if kind == "pad":
        pads = [data.draw(st.integers(0, 1)) for _ in range(2 * rank)]
        return tensor.pad(x, pads, mode=data.draw(st.sampled_from(["constant", "edge"])))
    if kind == "concat" and rank:
        return tensor.concat([x, tensor.neg(x)], data.draw(st.integers(0, rank - 1)))
    if kind == "split" and rank and shape[-1] >= 2:
        return tensor.split(x, axis=-1, num_results=2)[data.draw(st.integers(0, 1))]
    if kind == "matmul" and rank:
        n = data.draw(st.integers(1, 4))
        return tensor.matmul(x, tensor.constant(values(rng, (shape[-1], n), np.float32)))
    if kind == "gemm" and rank == 2:
        n = data.draw(st.integers(1, 4))
        w = tensor.constant(values(rng, (n, shape[1]), np.float32))
        return tensor.gemm(x, w, tensor.constant(values(rng, (n,), np.float32)), trans_b=True, alpha=0.5)
    if kind == "layer_norm" and rank:
        return tensor.layer_norm(x, tensor.constant(values(rng, shape[-1:], np.float32)), axis=-1)
    if kind == "batch_norm" and rank >= 2:
        c = shape[1]
        params = [tensor.constant(values(rng, (c,), np.float32, k)) for k in ("normal", "normal", "normal", "positive")]
        return tensor.batch_norm(x, *params)
    if kind == "where":
        return tensor.where(
            tensor.greater(x, tensor.constant(np.float32(0.1))), x, tensor.exp(tensor.neg(tensor.abs(x)))
        )
    if kind == "cast":
        return tensor.cast(tensor.cast(tensor.mul(x, tensor.constant(np.float32(10.0))), i32), f32)
    if kind == "clip":
        return tensor.clip(x, min=-0.5, max=0.7)
    if kind == "broadcast":
        return tensor.broadcast_to(x, [2, *shape])
    if kind == "gather" and rank:
        idx = tensor.constant(rng.integers(-shape[0], shape[0], (3,)).astype(np.int64))
        return tensor.gather(x, idx, axis=0)
    if kind == "argmax_cast" and rank:
        return tensor.cast(tensor.argmax(x, axis=-1), f32)
    if kind == "conv" and rank == 4 and min(shape[2:]) >= 2:
        w = tensor.constant(values(rng, (2, shape[1], 2, 2), np.float32))
        return tensor.conv2d(x, w, pads=[1, 0, 0, 1])
    if kind == "pool" and rank == 4:
        fn = data.draw(st.sampled_from([tensor.max_pool2d, tensor.avg_pool2d]))
        return fn(x, [2, 2], pads=[1, 1, 0, 0], ceil_mode=True)
    return None


@settings(max_examples=max(EXAMPLES * 3, 10), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_graph(data: st.DataObject) -> None:
    """At least five ops drawn from the whole dialect, on one to three inputs."""
    rng = rng_of(data)
    count = data.draw(st.integers(1, 3), label="inputs")
    base = shape_of(data, 1, 4, 4)
    inputs = [values(rng, broadcast_operand(data, base) if i else base, np.float32) for i in range(count)]
    module = ModuleOp.build()
    with FunctionBuilder("main", module) as f:
        pool: list[Value] = [f.arg(TensorType(a.shape, f32), f"a{i}") for i, a in enumerate(inputs)]
        made = 0
        for _ in range(40):
            if made >= data.draw(st.integers(5, 8), label="ops"):
                break
            try:
                value = _graph_step(data, rng, pool)
            except ValueError:
                value = None
            if value is None or value.type.num_elements > 4096:
                continue
            pool.append(value)
            made += 1
        assume(made >= 5)
        outs = data.draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3), label="results")
        f.ret(pool[-1], *outs)
    verify(module)
    compare(module, inputs, atol=1e-4)
