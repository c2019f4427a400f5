"""The tensor dialect: shape inference, reference semantics (against naive loops), folding,
canonicalization and building from Python."""

from __future__ import annotations

import math

import numpy as np
import pytest

import passes
from dialects import default_context
from dialects import tensor as T
from irc.attributes import ArrayAttr, DenseElementsAttr, FloatAttr, IntegerAttr, StringAttr, TypeAttr
from irc.diagnostics import IRCError
from irc.ir import Block, Operation
from irc.pass_manager import PassManager, parse_pipeline
from irc.types import TensorType, f32, f64, i1, i32, i64
from irc.verifier import verify
from textual_ir.parser import parse_module
from textual_ir.printer import print_op


# ----------------------------------------------------------------------------- helpers
def tt(*shape: int, elt=f32) -> TensorType:
    return TensorType(shape, elt)


def ints(*values: int) -> ArrayAttr:
    return ArrayAttr([IntegerAttr(v) for v in values])


def infer(cls, *types, **props):
    attrs = {k: (v if not isinstance(v, list | tuple) else ints(*v)) for k, v in props.items()}
    attrs = {k: (IntegerAttr(v) if isinstance(v, int) and not isinstance(v, bool) else v) for k, v in attrs.items()}
    return cls.infer_result_types(list(types), attrs)


def shape_of(cls, *types, **props) -> tuple[int, ...]:
    (t,) = infer(cls, *types, **props)
    return t.shape


def make(cls, *types, num_results=None, **props) -> Operation:
    """A detached op on fresh block arguments of `types`, result types inferred."""
    block = Block(list(types))
    attrs = {k: (ints(*v) if isinstance(v, list | tuple) else v) for k, v in props.items()}
    attrs = {k: (IntegerAttr(v) if isinstance(v, int) and not isinstance(v, bool) else v) for k, v in attrs.items()}
    extra = {"num_results": num_results} if num_results is not None else {}
    return cls.build(list(block.args), attrs, **extra)


def run_ref(cls, *arrays, elt=f32, **props) -> list[np.ndarray]:
    types = [TensorType(a.shape, _elt(a)) for a in arrays]
    op = make(cls, *types, **props)
    return op.reference(*arrays)


def _elt(a: np.ndarray):
    return {np.float32: f32, np.float64: f64, np.int32: i32, np.int64: i64, np.bool_: i1}[a.dtype.type]


def canonicalize(text: str) -> str:
    module = parse_module(text)
    PassManager(parse_pipeline("builtin.module(canonicalize)", passes.get_pass), default_context()).run(module)
    verify(module)
    return print_op(module)


rng = np.random.default_rng(0)


def randn(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


# ----------------------------------------------------------------------------- broadcasting
@pytest.mark.parametrize(
    ("a", "b", "out"),
    [
        ((3, 1, 5), (4, 5), (3, 4, 5)),
        ((1,), (2, 3), (2, 3)),
        ((), (2, 3), (2, 3)),
        ((2, 1), (1, 3), (2, 3)),
        ((4,), (4,), (4,)),
        ((0, 1), (1, 3), (0, 3)),
    ],
)
def test_binary_broadcasting(a, b, out):
    assert shape_of(T.AddOp, tt(*a), tt(*b)) == out
    (cmp,) = infer(T.LessOp, tt(*a), tt(*b))
    assert cmp == TensorType(out, i1)


def test_broadcast_mismatch_names_the_dimension():
    with pytest.raises(ValueError, match=r"not broadcast-compatible: dimension -1 has sizes \[3, 4\]"):
        infer(T.AddOp, tt(2, 3), tt(4))


def test_binary_element_types_must_agree():
    with pytest.raises(ValueError, match="one element type"):
        infer(T.MulOp, tt(4), tt(4, elt=i32))
    with pytest.raises(ValueError, match="floating-point"):
        infer(T.PowOp, tt(4, elt=i32), tt(4, elt=i32))
    with pytest.raises(ValueError, match="static shape"):
        infer(T.AddOp, TensorType((None,), f32), tt(4))


def test_where_broadcasts_three_ways():
    (t,) = infer(T.WhereOp, tt(2, 1, 1, elt=i1), tt(3, 1), tt(4))
    assert t == tt(2, 3, 4)
    with pytest.raises(ValueError, match="i1"):
        infer(T.WhereOp, tt(4), tt(4), tt(4))


# ----------------------------------------------------------------------------- linear algebra
@pytest.mark.parametrize(
    ("a", "b", "out"),
    [
        ((2, 3), (3, 4), (2, 4)),
        ((3,), (3, 4), (4,)),
        ((2, 3), (3,), (2,)),
        ((3,), (3,), ()),
        ((5, 1, 2, 3), (4, 3, 6), (5, 4, 2, 6)),
    ],
)
def test_matmul_shapes(a, b, out):
    assert shape_of(T.MatMulOp, tt(*a), tt(*b)) == out
    x, y = randn(*a), randn(*b)
    (r,) = run_ref(T.MatMulOp, x, y)
    np.testing.assert_allclose(r, np.matmul(x, y), rtol=1e-5, atol=1e-5)
    assert r.dtype == np.float32
    assert r.shape == out


def test_matmul_contraction_mismatch():
    with pytest.raises(ValueError, match="contraction dimension mismatch"):
        infer(T.MatMulOp, tt(2, 3), tt(4, 5))


def test_gemm_transposes_and_broadcasts_c():
    assert shape_of(T.GemmOp, tt(3, 2), tt(4, 3), tt(4), trans_a=1, trans_b=1) == (2, 4)
    with pytest.raises(ValueError, match="does not broadcast"):
        infer(T.GemmOp, tt(2, 3), tt(3, 4), tt(3))
    a, b, c = randn(3, 2), randn(4, 3), randn(1, 4)
    (y,) = run_ref(T.GemmOp, a, b, c, trans_a=1, trans_b=1, alpha=FloatAttr(0.5, f32), beta=FloatAttr(2.0, f32))
    np.testing.assert_allclose(y, 0.5 * a.T @ b.T + 2.0 * c, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- convolution
def naive_conv(x, w, b, strides, pads, dilations, group):
    n, _c, h, wd = x.shape
    m, cg, kh, kw = w.shape
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    oh = (h + pads[0] + pads[2] - dilations[0] * (kh - 1) - 1) // strides[0] + 1
    ow = (wd + pads[1] + pads[3] - dilations[1] * (kw - 1) - 1) // strides[1] + 1
    y = np.zeros((n, m, oh, ow))
    mg = m // group
    for ni in range(n):
        for mi in range(m):
            g = mi // mg
            for i in range(oh):
                for j in range(ow):
                    acc = 0.0 if b is None else float(b[mi])
                    for ci in range(cg):
                        for u in range(kh):
                            for v in range(kw):
                                acc += (
                                    xp[
                                        ni,
                                        g * cg + ci,
                                        i * strides[0] + u * dilations[0],
                                        j * strides[1] + v * dilations[1],
                                    ]
                                    * w[mi, ci, u, v]
                                )
                    y[ni, mi, i, j] = acc
    return y


def test_conv2d_resnet_stem_shape():
    assert shape_of(T.Conv2DOp, tt(1, 3, 224, 224), tt(64, 3, 7, 7), strides=[2, 2], pads=[3, 3, 3, 3]) == (
        1,
        64,
        112,
        112,
    )


@pytest.mark.parametrize(
    ("xs", "ws", "strides", "pads", "dilations", "group", "bias"),
    [
        ((1, 3, 7, 6), (4, 3, 3, 3), [1, 1], [0, 0, 0, 0], [1, 1], 1, True),
        ((2, 4, 8, 9), (6, 2, 3, 2), [2, 1], [1, 2, 0, 1], [1, 2], 2, False),
        ((1, 4, 5, 5), (4, 1, 3, 3), [1, 1], [1, 1, 1, 1], [1, 1], 4, True),  # depthwise
        ((1, 2, 9, 9), (3, 2, 2, 2), [3, 3], [0, 0, 0, 0], [3, 3], 1, True),
        ((1, 1, 1, 1), (2, 1, 1, 1), [1, 1], [0, 0, 0, 0], [1, 1], 1, True),  # 1x1 image
    ],
)
def test_conv2d_matches_naive_loops(xs, ws, strides, pads, dilations, group, bias):
    x, w = randn(*xs), randn(*ws)
    arrays = [x, w] + ([randn(ws[0])] if bias else [])
    (y,) = run_ref(T.Conv2DOp, *arrays, strides=strides, pads=pads, dilations=dilations, group=group)
    expected = naive_conv(x, w, arrays[2] if bias else None, strides, pads, dilations, group)
    assert y.dtype == np.float32
    assert y.shape == expected.shape
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"pads": [1, 1, 1]}, "expected 'pads' to have 4 entries, got 3"),
        ({"strides": [-1, 1]}, "expected 'strides' entries to be positive"),
        ({"dilations": [0, 1]}, "expected 'dilations' entries to be positive"),
        ({"pads": [-1, 0, 0, 0]}, "expected 'pads' entries to be non-negative"),
        ({"group": 0}, "expected 'group' to be positive"),
        ({"kernel_shape": [2, 2]}, "does not match the weight's spatial dims"),
        ({"strides": IntegerAttr(2)}, "expected 'strides' to be a list of integers"),
    ],
)
def test_conv2d_attribute_errors(props, message):
    with pytest.raises(ValueError, match=message):
        infer(T.Conv2DOp, tt(1, 3, 8, 8), tt(4, 3, 3, 3), **props)


def test_conv2d_operand_errors():
    with pytest.raises(ValueError, match=r"channel mismatch: input has 3 channels but weight expects 4 \(group 1\)"):
        infer(T.Conv2DOp, tt(1, 3, 8, 8), tt(4, 4, 3, 3))
    with pytest.raises(ValueError, match="kernel of extent 5 is larger than the padded input"):
        infer(T.Conv2DOp, tt(1, 3, 2, 2), tt(4, 3, 5, 5), pads=[1, 1, 1, 1])
    with pytest.raises(ValueError, match=r"bias of shape \[4\]"):
        infer(T.Conv2DOp, tt(1, 3, 8, 8), tt(4, 3, 3, 3), tt(3))
    with pytest.raises(ValueError, match="not divisible by 'group'"):
        infer(T.Conv2DOp, tt(1, 4, 8, 8), tt(3, 2, 3, 3), group=2)
    with pytest.raises(ValueError, match="4-D input"):
        infer(T.Conv2DOp, tt(3, 8, 8), tt(4, 3, 3, 3))


def naive_conv_transpose(x, w, b, strides, pads, dilations, group, out_pad):
    n, c, h, wd = x.shape
    _, mg, kh, kw = w.shape
    cg = c // group
    fh = strides[0] * (h - 1) + dilations[0] * (kh - 1) + 1 + out_pad[0]
    fw = strides[1] * (wd - 1) + dilations[1] * (kw - 1) + 1 + out_pad[1]
    full = np.zeros((n, mg * group, fh, fw))
    for ni in range(n):
        for ci in range(c):
            g = ci // cg
            for i in range(h):
                for j in range(wd):
                    for mi in range(mg):
                        for u in range(kh):
                            for v in range(kw):
                                full[
                                    ni,
                                    g * mg + mi,
                                    i * strides[0] + u * dilations[0],
                                    j * strides[1] + v * dilations[1],
                                ] += x[ni, ci, i, j] * w[ci, mi, u, v]
    y = full[:, :, pads[0] : fh - pads[2], pads[1] : fw - pads[3]]
    if b is not None:
        y = y + b.reshape(1, -1, 1, 1)
    return y


@pytest.mark.parametrize(
    ("xs", "ws", "strides", "pads", "dilations", "group", "out_pad"),
    [
        ((1, 2, 3, 3), (2, 3, 3, 3), [1, 1], [0, 0, 0, 0], [1, 1], 1, [0, 0]),
        ((1, 2, 3, 4), (2, 2, 3, 3), [2, 2], [1, 1, 1, 1], [1, 1], 1, [1, 1]),
        ((2, 4, 3, 3), (4, 1, 2, 3), [2, 1], [0, 1, 1, 0], [2, 1], 2, [1, 0]),
    ],
)
def test_conv_transpose2d_matches_naive_loops(xs, ws, strides, pads, dilations, group, out_pad):
    x, w, b = randn(*xs), randn(*ws), randn(ws[1] * group)
    (y,) = run_ref(
        T.ConvTranspose2DOp,
        x,
        w,
        b,
        strides=strides,
        pads=pads,
        dilations=dilations,
        group=group,
        output_padding=out_pad,
    )
    expected = naive_conv_transpose(x, w, b, strides, pads, dilations, group, out_pad)
    assert y.shape == expected.shape
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)


def test_conv_transpose2d_output_padding_must_be_small():
    with pytest.raises(ValueError, match="output_padding"):
        infer(T.ConvTranspose2DOp, tt(1, 2, 3, 3), tt(2, 2, 3, 3), output_padding=[1, 1])


# ----------------------------------------------------------------------------- pooling
def naive_pool(x, kernel, strides, pads, dilations, oh, ow, kind, include_pad=False):
    n, c, h, w = x.shape
    y = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            vals, count = [], 0
            for u in range(kernel[0]):
                for v in range(kernel[1]):
                    r = i * strides[0] + u * dilations[0] - pads[0]
                    s = j * strides[1] + v * dilations[1] - pads[1]
                    inside = 0 <= r < h and 0 <= s < w
                    in_padded = -pads[0] <= r < h + pads[2] and -pads[1] <= s < w + pads[3]
                    if inside:
                        vals.append(x[:, :, r, s])
                    if inside or (include_pad and in_padded):
                        count += 1
            if kind == "max":
                y[:, :, i, j] = np.max(vals, axis=0)
            else:
                y[:, :, i, j] = np.sum(vals, axis=0) / count
    return y


@pytest.mark.parametrize(
    ("hw", "kernel", "strides", "pads", "dilations", "ceil", "out"),
    [
        ((5, 5), [2, 2], [2, 2], [0, 0, 0, 0], [1, 1], 0, (2, 2)),
        ((5, 5), [2, 2], [2, 2], [0, 0, 0, 0], [1, 1], 1, (3, 3)),
        # ceil mode, but the last window would start in the trailing padding: dropped
        ((5, 5), [2, 2], [2, 2], [1, 1, 1, 1], [1, 1], 1, (3, 3)),
        ((6, 7), [3, 3], [2, 2], [1, 1, 1, 1], [1, 1], 1, (4, 4)),
        ((8, 8), [3, 2], [1, 2], [1, 0, 1, 1], [2, 1], 0, (6, 4)),
        ((1, 1), [1, 1], [1, 1], [0, 0, 0, 0], [1, 1], 0, (1, 1)),
    ],
)
@pytest.mark.parametrize("include_pad", [0, 1])
def test_pools_match_naive_loops(hw, kernel, strides, pads, dilations, ceil, out, include_pad):
    props = {"kernel_shape": kernel, "strides": strides, "pads": pads, "dilations": dilations, "ceil_mode": ceil}
    assert shape_of(T.MaxPool2DOp, tt(2, 3, *hw), **props)[2:] == out
    x = randn(2, 3, *hw)
    (mx,) = run_ref(T.MaxPool2DOp, x, **props)
    np.testing.assert_allclose(mx, naive_pool(x, kernel, strides, pads, dilations, *out, "max"), rtol=1e-6)
    (av,) = run_ref(T.AvgPool2DOp, x, count_include_pad=include_pad, **props)
    expected = naive_pool(x, kernel, strides, pads, dilations, *out, "avg", bool(include_pad))
    np.testing.assert_allclose(av, expected, rtol=1e-5, atol=1e-6)
    assert av.dtype == np.float32


def test_avg_pool_with_padding_excludes_pad_by_default():
    x = np.ones((1, 1, 2, 2), np.float32)
    (y,) = run_ref(T.AvgPool2DOp, x, kernel_shape=[2, 2], pads=[1, 1, 1, 1])
    np.testing.assert_array_equal(y, np.ones((1, 1, 3, 3)))
    (y,) = run_ref(T.AvgPool2DOp, x, kernel_shape=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1)
    assert y[0, 0, 0, 0] == 0.25
    assert y[0, 0, 1, 1] == 1.0


def test_pool_errors():
    with pytest.raises(ValueError, match="requires attribute 'kernel_shape'"):
        infer(T.MaxPool2DOp, tt(1, 1, 4, 4))
    with pytest.raises(ValueError, match="larger than the padded input"):
        infer(T.MaxPool2DOp, tt(1, 1, 2, 2), kernel_shape=[3, 3])
    with pytest.raises(ValueError, match="'ceil_mode' to be 0 or 1"):
        infer(T.MaxPool2DOp, tt(1, 1, 4, 4), kernel_shape=[2, 2], ceil_mode=2)
    with pytest.raises(ValueError, match="smaller than the kernel extent"):
        infer(T.AvgPool2DOp, tt(1, 1, 4, 4), kernel_shape=[2, 2], pads=[2, 0, 0, 0])


def test_global_pools():
    x = randn(2, 3, 4, 5)
    assert shape_of(T.GlobalAvgPoolOp, tt(2, 3, 4, 5)) == (2, 3, 1, 1)
    (a,) = run_ref(T.GlobalAvgPoolOp, x)
    (m,) = run_ref(T.GlobalMaxPoolOp, x)
    np.testing.assert_allclose(a, x.mean(axis=(2, 3), keepdims=True), rtol=1e-6)
    np.testing.assert_array_equal(m, x.max(axis=(2, 3), keepdims=True))


# ----------------------------------------------------------------------------- reductions
@pytest.mark.parametrize(
    ("axes", "keepdims", "out"),
    [
        (None, 1, (1, 1, 1)),
        (None, 0, ()),
        ([-1], 1, (2, 3, 1)),
        ([0, -1], 0, (3,)),
        ([1], 0, (2, 4)),
    ],
)
def test_reductions(axes, keepdims, out):
    props = {"keepdims": keepdims} | ({"axes": axes} if axes is not None else {})
    x = randn(2, 3, 4)
    np_axes = tuple(range(3)) if axes is None else tuple(a % 3 for a in axes)
    for cls, fn in [
        (T.ReduceSumOp, np.sum),
        (T.ReduceMeanOp, np.mean),
        (T.ReduceMaxOp, np.max),
        (T.ReduceMinOp, np.min),
        (T.ReduceProdOp, np.prod),
    ]:
        assert shape_of(cls, tt(2, 3, 4), **props) == out
        (y,) = run_ref(cls, x, **props)
        assert y.shape == out
        assert y.dtype == np.float32
        np.testing.assert_allclose(y, fn(x.astype(np.float64), axis=np_axes, keepdims=bool(keepdims)), rtol=1e-5)


def test_reduction_axis_errors():
    with pytest.raises(ValueError, match=r"'axes' 3 is out of range for rank 3 \(expected \[-3, 2\]\)"):
        infer(T.ReduceSumOp, tt(2, 3, 4), axes=[3])
    with pytest.raises(ValueError, match="no repeated axes"):
        infer(T.ReduceSumOp, tt(2, 3, 4), axes=[1, -2])


def test_argmax_select_last_index():
    x = np.array([[1, 3, 3], [2, 2, 0]], np.float32)
    (first,) = run_ref(T.ArgMaxOp, x, axis=1)
    (last,) = run_ref(T.ArgMaxOp, x, axis=-1, keepdims=0, select_last_index=1)
    assert first.dtype == np.int64
    assert first.shape == (2, 1)
    np.testing.assert_array_equal(first, [[1], [0]])
    np.testing.assert_array_equal(last, [2, 1])


# ----------------------------------------------------------------------------- elementwise semantics
def test_integer_div_truncates_toward_zero():
    a = np.array([-7, 7, -7, 7, 6], np.int32)
    b = np.array([2, -2, -2, 2, 3], np.int32)
    (q,) = run_ref(T.DivOp, a, b)
    assert q.dtype == np.int32
    np.testing.assert_array_equal(q, [-3, -3, 3, 3, 2])


def test_activations():
    x = np.array([-1000.0, -3.0, -0.5, 0.0, 0.5, 3.0, 1000.0], np.float32)
    xd = x.astype(np.float64)
    (sp,) = run_ref(T.SoftplusOp, x)
    assert np.isfinite(sp).all()
    assert sp[-1] == 1000.0
    assert sp[0] == 0.0
    (sg,) = run_ref(T.SigmoidOp, x)
    np.testing.assert_allclose(sg[1:-1], 1 / (1 + np.exp(-xd[1:-1])), rtol=1e-6)
    assert sg[0] == 0.0
    assert sg[-1] == 1.0
    (g,) = run_ref(T.GeluOp, x, approximate=StringAttr("tanh"))
    tanh_ref = 0.5 * xd * (1 + np.tanh(math.sqrt(2 / math.pi) * (xd + 0.044715 * xd**3)))
    np.testing.assert_allclose(g, np.nan_to_num(tanh_ref), rtol=1e-6, atol=1e-7)
    (ge,) = run_ref(T.GeluOp, x)
    np.testing.assert_allclose(ge, [0, -0.0040496, -0.1542687, 0, 0.3457313, 2.9959504, 1000], rtol=1e-5, atol=1e-7)
    (hs,) = run_ref(T.HardSigmoidOp, x)
    np.testing.assert_allclose(hs, np.clip(0.2 * xd + 0.5, 0, 1), rtol=1e-6)
    (se,) = run_ref(T.SeluOp, x)
    np.testing.assert_allclose(se[4], 0.5 * T.SELU_GAMMA, rtol=1e-6)
    (lr,) = run_ref(T.LeakyReluOp, x, alpha=FloatAttr(0.1, f32))
    np.testing.assert_allclose(lr[1], -0.3, rtol=1e-6)
    (cl,) = run_ref(T.ClipOp, x, min=FloatAttr(-1.0, f32), max=FloatAttr(2.0, f32))
    np.testing.assert_array_equal(cl, np.clip(x, -1, 2))
    (er,) = run_ref(T.ErfOp, x)
    np.testing.assert_allclose(er, [math.erf(v) for v in xd], rtol=1e-6)
    for y in (sp, sg, g, ge, hs, se, lr, cl, er):
        assert y.dtype == np.float32
        assert y.shape == x.shape


def test_clip_with_min_above_max_gives_max():
    x = np.arange(5, dtype=np.int32)
    (y,) = run_ref(T.ClipOp, x, min=IntegerAttr(3), max=IntegerAttr(1))
    np.testing.assert_array_equal(y, [1, 1, 1, 1, 1])


def test_softmax_and_log_softmax_are_stable():
    x = np.array([[1000.0, 1001.0, 1002.0], [-5.0, 0.0, 5.0]], np.float32)
    (sm,) = run_ref(T.SoftmaxOp, x)
    (lsm,) = run_ref(T.LogSoftmaxOp, x)
    (sm0,) = run_ref(T.SoftmaxOp, x, axis=0)
    assert np.isfinite(lsm).all()
    np.testing.assert_allclose(sm.sum(axis=-1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(lsm, np.log(sm), rtol=1e-5)
    np.testing.assert_allclose(sm0.sum(axis=0), 1.0, rtol=1e-6)
    with pytest.raises(ValueError, match="out of range"):
        infer(T.SoftmaxOp, tt(2, 3), axis=2)


def test_normalizations():
    x, s, b, m, v = randn(2, 3, 4), randn(3), randn(3), randn(3), np.abs(randn(3)) + 0.1
    (bn,) = run_ref(T.BatchNormOp, x, s, b, m, v)
    r = (1, 3, 1)
    np.testing.assert_allclose(
        bn, (x - m.reshape(r)) / np.sqrt(v.reshape(r) + 1e-5) * s.reshape(r) + b.reshape(r), rtol=1e-4, atol=1e-5
    )
    (ln,) = run_ref(T.LayerNormOp, x, randn(3, 4), randn(4), axis=1)
    assert ln.shape == x.shape
    with pytest.raises(ValueError, match="does not broadcast to the normalized shape"):
        infer(T.LayerNormOp, tt(2, 3, 4), tt(3))
    with pytest.raises(ValueError, match="expected scale of type 'tensor<3xf32>'"):
        infer(T.BatchNormOp, tt(2, 3, 4), tt(4), tt(3), tt(3), tt(3))


# ----------------------------------------------------------------------------- shape ops
def test_transpose_default_reverses_and_perm_must_be_permutation():
    assert shape_of(T.TransposeOp, tt(2, 3, 4)) == (4, 3, 2)
    assert shape_of(T.TransposeOp, tt(2, 3, 4), perm=[1, 2, 0]) == (3, 4, 2)
    with pytest.raises(ValueError, match="permutation"):
        infer(T.TransposeOp, tt(2, 3, 4), perm=[0, 0, 1])


@pytest.mark.parametrize(
    ("shape", "allowzero", "out"),
    [([0, -1], 0, (2, 12)), ([-1], 0, (24,)), ([4, 0, 2], 0, (4, 3, 2)), ([2, 3, 4], 1, (2, 3, 4))],
)
def test_reshape(shape, allowzero, out):
    assert shape_of(T.ReshapeOp, tt(2, 3, 4), shape=shape, allowzero=allowzero) == out


@pytest.mark.parametrize(
    ("shape", "message"),
    [([-1, -1], "at most one -1"), ([5, -1], "cannot reshape"), ([2, 3], "cannot reshape"), ([-2, 12], "at least -1")],
)
def test_reshape_errors(shape, message):
    with pytest.raises(ValueError, match=message):
        infer(T.ReshapeOp, tt(2, 3, 4), shape=shape)


def test_flatten_squeeze_unsqueeze():
    assert shape_of(T.FlattenOp, tt(2, 3, 4)) == (2, 12)
    assert shape_of(T.FlattenOp, tt(2, 3, 4), axis=0) == (1, 24)
    assert shape_of(T.FlattenOp, tt(2, 3, 4), axis=-1) == (6, 4)
    assert shape_of(T.SqueezeOp, tt(1, 3, 1, 4)) == (3, 4)
    assert shape_of(T.SqueezeOp, tt(1, 3, 1, 4), axes=[-2]) == (1, 3, 4)
    assert shape_of(T.UnsqueezeOp, tt(3, 4), axes=[0, -1]) == (1, 3, 4, 1)
    with pytest.raises(ValueError, match="its size is 3, not 1"):
        infer(T.SqueezeOp, tt(1, 3), axes=[1])
    with pytest.raises(ValueError, match="out of range"):
        infer(T.UnsqueezeOp, tt(3, 4), axes=[3])


def test_broadcast_to_is_bidirectional():
    assert shape_of(T.BroadcastToOp, tt(3, 1), shape=[2, 1, 6]) == (2, 3, 6)
    (y,) = run_ref(T.BroadcastToOp, np.arange(3, dtype=np.float32).reshape(3, 1), shape=[2, 1, 2])
    assert y.shape == (2, 3, 2)
    assert y.flags["C_CONTIGUOUS"]


def test_concat_and_split():
    (t,) = infer(T.ConcatOp, tt(2, 3), tt(2, 5), axis=-1)
    assert t == tt(2, 8)
    with pytest.raises(ValueError, match="differs from"):
        infer(T.ConcatOp, tt(2, 3), tt(3, 3), axis=1)
    op = make(T.SplitOp, tt(7, 2), num_results=3)
    assert [r.type.shape for r in op.results] == [(3, 2), (3, 2), (1, 2)]
    x = np.arange(14, dtype=np.float32).reshape(7, 2)
    parts = op.reference(x)
    np.testing.assert_array_equal(np.concatenate(parts), x)
    types = T.SplitOp.infer_result_types([tt(7, 2)], {"split": ints(2, 5)})
    assert [t.shape for t in types] == [(2, 2), (5, 2)]
    with pytest.raises(ValueError, match="sums to 6"):
        T.SplitOp.infer_result_types([tt(7, 2)], {"split": ints(2, 4)})


INT_MAX, INT_MIN = 2**63 - 1, -(2**63)


@pytest.mark.parametrize(
    ("starts", "ends", "axes", "steps", "index"),
    [
        ([1], [4], None, None, (slice(1, 4),)),
        ([-3], [INT_MAX], None, None, (slice(-3, None),)),
        ([5], [0], None, [-1], (slice(5, 0, -1),)),
        ([INT_MAX], [INT_MIN], None, [-2], (slice(None, None, -2),)),
        ([-1], [-100], [0], [-3], (slice(-1, None, -3),)),
        ([0, 1], [10, -1], [1, 0], [2, 1], (slice(1, -1), slice(0, 10, 2))),
        ([8], [2], None, None, (slice(8, 2),)),
    ],
)
def test_slice_matches_python_slicing(starts, ends, axes, steps, index):
    x = np.arange(56, dtype=np.int64).reshape(7, 8)
    props = {"starts": starts, "ends": ends} | ({"axes": axes} if axes else {}) | ({"steps": steps} if steps else {})
    (y,) = run_ref(T.SliceOp, x, **props)
    np.testing.assert_array_equal(y, x[index])
    assert shape_of(T.SliceOp, tt(7, 8, elt=i64), **props) == x[index].shape


def test_slice_errors():
    with pytest.raises(ValueError, match="nonzero"):
        infer(T.SliceOp, tt(4), starts=[0], ends=[4], steps=[0])
    with pytest.raises(ValueError, match="one length"):
        infer(T.SliceOp, tt(4), starts=[0], ends=[4, 1])


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
def test_pad_modes(mode):
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    props = {"pads": [1, 2, 1, 0], "mode": StringAttr(mode), "value": FloatAttr(-1.0, f32)}
    (y,) = run_ref(T.PadOp, x, **props)
    kw = {"constant_values": -1.0} if mode == "constant" else {}
    np.testing.assert_array_equal(y, np.pad(x, ((1, 1), (2, 0)), mode=mode, **kw))


def test_pad_errors():
    with pytest.raises(ValueError, match="reflect padding of dimension 0"):
        infer(T.PadOp, tt(2, 3), pads=[2, 0, 0, 0], mode=StringAttr("reflect"))
    with pytest.raises(ValueError, match="to have 4 entries"):
        infer(T.PadOp, tt(2, 3), pads=[1, 1])
    with pytest.raises(ValueError, match="one of"):
        infer(T.PadOp, tt(2, 3), pads=[1, 1, 1, 1], mode=StringAttr("wrap"))


def test_gather_negative_indices_and_out_of_range():
    data = np.arange(12, dtype=np.float32).reshape(3, 4)
    idx = np.array([[-1, 0], [2, -4]], np.int64)
    (y,) = run_ref(T.GatherOp, data, idx, axis=1)
    assert y.shape == (3, 2, 2)
    np.testing.assert_array_equal(y, np.take(data, idx % 4, axis=1))
    with pytest.raises(ValueError, match="index 3 is out of range for dimension 0 of size 3"):
        run_ref(T.GatherOp, data, np.array([3], np.int32))


def test_cast():
    x = np.array([-1.7, 0.0, 2.9], np.float32)
    op = make(T.CastOp, tt(3), to=TypeAttr(i32))
    assert op.results[0].type == tt(3, elt=i32)
    np.testing.assert_array_equal(op.reference(x)[0], [-1, 0, 2])
    (b,) = make(T.CastOp, tt(3), to=TypeAttr(i1)).reference(x)
    np.testing.assert_array_equal(b, [True, False, True])


# ----------------------------------------------------------------------------- verification
def test_verify_reports_result_type_mismatch():
    module = parse_module(
        """
        func.func @f(%x: tensor<2x3xf32>) -> tensor<3x3xf32> {
          %y = "tensor.transpose"(%x) : (tensor<2x3xf32>) -> tensor<3x3xf32>
          func.return %y : tensor<3x3xf32>
        }
        """
    )
    message = "'tensor.transpose' op result type 'tensor<3x3xf32>' does not match the inferred type 'tensor<3x2xf32>'"
    with pytest.raises(IRCError, match=message):
        verify(module)


def test_verify_on_built_op():
    op = make(T.ReluOp, tt(4))
    op.verify_()
    bad = T.Conv2DOp(operands=make(T.AddOp, tt(1, 3, 8, 8), tt(1, 3, 8, 8)).operands, result_types=[tt(1)])
    with pytest.raises(
        IRCError, match=r"result type 'tensor<1xf32>' does not match the inferred type 'tensor<1x1x1x1xf32>'"
    ):
        bad.verify_()


# ----------------------------------------------------------------------------- folding
def test_fold_evaluates_reference():
    text = """
    func.func @f() -> tensor<2x2xf32> {
      %a = tensor.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
      %t = tensor.transpose %a : tensor<2x2xf32>
      %s = tensor.add %a, %t : tensor<2x2xf32>
      %r = tensor.relu %s : tensor<2x2xf32>
      func.return %r : tensor<2x2xf32>
    }
    """
    out = canonicalize(text)
    assert "dense<[[2.0, 5.0], [5.0, 8.0]]>" in out
    assert "tensor.add" not in out
    assert "tensor.relu" not in out


def test_fold_respects_the_size_limit():
    op = make(T.NegOp, tt(T.FOLD_LIMIT + 1))
    big = DenseElementsAttr.from_numpy(tt(T.FOLD_LIMIT + 1), np.float32(1.0))
    assert op.fold([big]) is None
    small = make(T.NegOp, tt(4))
    (folded,) = small.fold([DenseElementsAttr.from_numpy(tt(4), np.arange(4, dtype=np.float32))])
    np.testing.assert_array_equal(folded.to_numpy(), [0, -1, -2, -3])
    assert small.fold([None]) is None


def test_integer_division_by_zero_is_not_folded():
    op = make(T.DivOp, tt(2, elt=i32), tt(2, elt=i32))
    a = DenseElementsAttr.from_numpy(tt(2, elt=i32), np.array([1, 2], np.int32))
    z = DenseElementsAttr.from_numpy(tt(2, elt=i32), np.array([1, 0], np.int32))
    assert op.fold([a, z]) is None


def test_fold_multiple_results():
    op = make(T.SplitOp, tt(4), num_results=2)
    attr = DenseElementsAttr.from_numpy(tt(4), np.arange(4, dtype=np.float32))
    lo, hi = op.fold([attr])
    np.testing.assert_array_equal(hi.to_numpy(), [2, 3])
    assert lo.type == tt(2)


# ----------------------------------------------------------------------------- building from Python
def test_python_builders_infer_types():
    block = Block([tt(1, 3, 224, 224), tt(64, 3, 7, 7), tt(64)])
    x, w, b = block.args
    y = T.conv2d(x, w, b, strides=[2, 2], pads=[3, 3, 3, 3])
    assert y.type == tt(1, 64, 112, 112)
    z = T.max_pool2d(T.relu(y), [3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    assert z.type == tt(1, 64, 56, 56)
    g = T.reshape(T.global_avg_pool(z), [1, -1])
    assert g.type == tt(1, 64)
    parts = T.split(g, axis=1, num_results=4)
    assert [p.type for p in parts] == [tt(1, 16)] * 4
    assert T.add(parts[0], T.constant(np.ones(16, np.float32), tt(16))).type == tt(1, 16)
    c = T.clip(g, min=0.0, max=6.0)
    assert isinstance(c.defining_op().properties["min"], FloatAttr)
    assert T.cast(g, to=i64).type == tt(1, 64, elt=i64)
    assert T.max(g, g).type == g.type
    assert T.slice(g, [0], [8], [1]).type == tt(1, 8)
    with pytest.raises(ValueError, match="channel mismatch"):
        T.conv2d(x, block.args[1], group=3)
    assert max(1, 2) == 2  # the module's `max` does not leak into callers


def test_every_op_has_reference_and_inference():
    for cls in T.DIALECT.ops:
        assert "_reference" in {k for c in cls.__mro__ for k in vars(c)}, cls.name
        assert cls.name.startswith("tensor.")


def test_reshape_of_reshape_keeps_zero_sized_dims():
    out = canonicalize(
        """
        func.func @f(%x: tensor<2x0x3xf32>) -> tensor<3x0x2xf32> {
          %a = tensor.reshape %x {shape = [0, 3, 0]} : (tensor<2x0x3xf32>) -> tensor<2x3x0xf32>
          %b = tensor.reshape %a {shape = [3, 0, 2], allowzero = 1} : (tensor<2x3x0xf32>) -> tensor<3x0x2xf32>
          func.return %b : tensor<3x0x2xf32>
        }
        """
    )
    assert "{allowzero = 1, shape = [3, 0, 2]}" in out


def test_out_of_range_float_to_int_cast_is_not_folded():
    op = make(T.CastOp, tt(2), to=TypeAttr(i32))
    big = DenseElementsAttr.from_numpy(tt(2), np.array([1.0, 3e9], np.float32))
    assert op.fold([big]) is None
    ok = DenseElementsAttr.from_numpy(tt(2), np.array([1.5, -2.5], np.float32))
    np.testing.assert_array_equal(op.fold([ok])[0].to_numpy(), [1, -2])


def test_pool_window_of_only_padding_is_an_error():
    with pytest.raises(ValueError, match="pooling window 0 along dimension W covers only padding"):
        infer(T.MaxPool2DOp, tt(1, 1, 4, 1), kernel_shape=[2, 2], pads=[0, 1, 0, 1], dilations=[2, 2])
