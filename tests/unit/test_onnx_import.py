"""The ONNX importer (`irc.import_onnx`) and its tools: every mapped op against ONNX Runtime,
the attribute-as-input variants of each opset, constant folding of shape arithmetic, large
initializers as dense_resource blobs, and one clear error for every kind of bad model."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import irc
from irc.diagnostics import IRCError
from irc.verifier import verify
from textual_ir.parser import parse_module
from textual_ir.printer import print_op

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from irc.frontend.onnx import ONNXImportError, sanitize_name  # noqa: E402
from tools import irc_run, irc_translate  # noqa: E402

F, I64, I32, B = TensorProto.FLOAT, TensorProto.INT64, TensorProto.INT32, TensorProto.BOOL
RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "cache"))


# ----------------------------------------------------------------------------- helpers
def _elem(arr: np.ndarray) -> int:
    return helper.np_dtype_to_tensor_dtype(arr.dtype)


def make_model(
    nodes: Sequence[Any],
    feeds: dict[str, np.ndarray],
    outputs: Sequence[str] | dict[str, int],
    inits: dict[str, np.ndarray] | None = None,
    opset: int = 17,
    symbolic: dict[str, list[Any]] | None = None,
) -> Any:
    """A model of `nodes` with graph inputs typed after `feeds` and the named outputs (float
    unless `outputs` maps a name to an element type)."""
    inputs = [
        helper.make_tensor_value_info(name, _elem(a), (symbolic or {}).get(name, list(a.shape)))
        for name, a in feeds.items()
    ]
    out_types = outputs if isinstance(outputs, dict) else dict.fromkeys(outputs, F)
    outs = [helper.make_tensor_value_info(name, t, None) for name, t in out_types.items()]
    initializers = [numpy_helper.from_array(np.asarray(a), name) for name, a in (inits or {}).items()]
    graph = helper.make_graph(list(nodes), "g", inputs, outs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def run_ort(model: Any, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def assert_close(got: np.ndarray, want: np.ndarray, what: str = "", rtol: float = 1e-5) -> None:
    want = np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    if want.dtype.kind == "f":
        np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-5, err_msg=what)
    else:
        np.testing.assert_array_equal(got, want, err_msg=what)


def run_reference(model: Any, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    from onnx.reference import ReferenceEvaluator

    return list(ReferenceEvaluator(model).run(None, feeds))


def check(model: Any, feeds: dict[str, np.ndarray], cpu: bool = False, rtol: float = 1e-5, oracle: str = "ort") -> Any:
    """Import `model`, run it with the reference interpreter (and the CPU backend with `cpu`),
    compare with ONNX Runtime (or onnx's reference evaluator, for what ORT lacks); returns the
    module."""
    module = irc.import_onnx(model)
    verify(module)
    want = run_ort(model, feeds) if oracle == "ort" else run_reference(model, feeds)
    got = irc.interpret(module, *feeds.values())
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert_close(g, w, "interpreter", rtol)
    if cpu:
        exe = irc.compile(module)
        got = exe["main"].call_list(list(feeds.values()))
        for g, w in zip(got, want, strict=True):
            assert_close(g, w, "cpu", max(rtol, 1e-4))
    return module


def f32(*shape: int, low: float | None = None) -> np.ndarray:
    a = RNG.standard_normal(shape).astype(np.float32)
    return np.abs(a) + low if low is not None else a


def node(op: str, inputs: Sequence[str], outputs: Sequence[str] = ("y",), **attrs: Any) -> Any:
    return helper.make_node(op, list(inputs), list(outputs), name=f"{op.lower()}_node", **attrs)


def single(
    op: str,
    feeds: dict[str, np.ndarray],
    inits: dict[str, np.ndarray] | None = None,
    opset: int = 17,
    inputs: Sequence[str] | None = None,
    out: int = F,
    n_out: int = 1,
    **attrs: Any,
) -> tuple[Any, dict[str, np.ndarray]]:
    names = list(inputs) if inputs is not None else [*feeds, *(inits or {})]
    outs = [f"y{k}" if n_out > 1 else "y" for k in range(n_out)]
    model = make_model([node(op, names, outs, **attrs)], feeds, dict.fromkeys(outs, out), inits, opset)
    return model, feeds


# ----------------------------------------------------------------------------- every mapped op
def _cases() -> list[Any]:
    x34, y34, y4 = f32(3, 4), f32(3, 4), f32(4)
    pos = f32(3, 4, low=0.1)
    img = f32(2, 3, 7, 7)
    ints = RNG.integers(-9, 9, (3, 4)).astype(np.int64)
    nonzero = np.where(ints == 0, 3, ints).astype(np.int32)
    bools_a, bools_b = RNG.random((3, 4)) < 0.5, RNG.random((4,)) < 0.5
    c: list[Any] = []

    def add(id_: str, model_feeds: tuple[Any, dict[str, np.ndarray]], **kw: Any) -> None:
        c.append(pytest.param(*model_feeds, kw, id=id_))

    for op in ("Add", "Sub", "Mul", "Div"):
        add(op, single(op, {"a": x34, "b": y4}))
    add("Div-int-truncates", single("Div", {"a": ints.astype(np.int32), "b": nonzero}, out=I32))
    add("Pow", single("Pow", {"a": pos, "b": y34}))
    add("Pow-int-exponent", single("Pow", {"a": x34}, {"e": np.array(3, np.int64)}))
    add("Pow-int", single("Pow", {"a": ints}, {"e": np.array(2, np.int64)}, out=I64))
    for op in ("Max", "Min", "Sum", "Mean"):
        add(f"{op}-variadic", single(op, {"a": x34, "b": y4, "c": y34}))
    add("Max-one", single("Max", {"a": x34}))
    for op in ("Neg", "Abs", "Exp", "Erf", "Relu", "Sigmoid", "Tanh", "Softplus", "Reciprocal", "Softsign", "Sign"):
        add(op, single(op, {"x": x34}))
    add("Abs-int", single("Abs", {"x": ints}, out=I64))
    add("Log", single("Log", {"x": pos}))
    add("Sqrt", single("Sqrt", {"x": pos}))
    add("LeakyRelu", single("LeakyRelu", {"x": x34}, alpha=0.2))
    add("Elu", single("Elu", {"x": x34}, alpha=0.7))
    add("Selu", single("Selu", {"x": x34}))
    add("Celu", single("Celu", {"x": x34}, alpha=1.5))
    add("HardSigmoid", single("HardSigmoid", {"x": x34 * 4}, alpha=0.3, beta=0.4))
    add("HardSwish", single("HardSwish", {"x": x34 * 4}))
    add("ThresholdedRelu", single("ThresholdedRelu", {"x": x34}, alpha=0.5))
    add("Mish", single("Mish", {"x": x34}, opset=18))
    add("Gelu", single("Gelu", {"x": x34}, opset=20))
    add("Gelu-tanh", single("Gelu", {"x": x34}, opset=20, approximate="tanh"))
    add("PRelu", single("PRelu", {"x": img}, {"slope": f32(3, 1, 1)}))
    add("Clip-11-inputs", single("Clip", {"x": x34}, {"lo": np.float32(-0.5), "hi": np.float32(0.6)}, opset=11))
    add("Clip-13-max-only", single("Clip", {"x": x34}, {"hi": np.float32(0.1)}, inputs=["x", "", "hi"], opset=13))
    add("Clip-10-attrs", single("Clip", {"x": x34}, opset=10, min=-0.2, max=0.3))
    add("Clip-no-bounds", single("Clip", {"x": x34}, opset=13))
    add("Clip-computed-bound", single("Clip", {"x": x34, "lo": np.array(-0.3, np.float32)}, opset=13))
    add("Clip-int", single("Clip", {"x": ints}, {"lo": np.int64(-2), "hi": np.int64(5)}, out=I64))
    for op in ("Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual"):
        add(op, single(op, {"a": x34, "b": np.round(y4)}, out=B))
    add("Equal-int", single("Equal", {"a": ints, "b": ints[:1]}, out=B))
    add("Where", single("Where", {"c": bools_a, "a": x34, "b": y4}))
    add("Not", single("Not", {"a": bools_a}, out=B))
    add("Not-opset-1", single("Not", {"a": bools_a}, opset=1, out=B), oracle="reference")
    for op in ("And", "Or", "Xor"):
        add(op, single(op, {"a": bools_a, "b": bools_b}, out=B))
    add("Cast-float-to-int", single("Cast", {"x": x34 * 5}, out=I32, to=I32))
    add("Cast-int-to-float", single("Cast", {"x": ints}, to=F))
    add("Cast-float-to-bool", single("Cast", {"x": np.round(x34)}, out=B, to=B))
    add("Cast-same", single("Cast", {"x": x34}, to=F))
    add("CastLike", single("CastLike", {"x": ints, "like": y4}))
    add("MatMul", single("MatMul", {"a": f32(3, 5), "b": f32(5, 4)}))
    add("MatMul-batched", single("MatMul", {"a": f32(2, 3, 5), "b": f32(5, 4)}))
    add("MatMul-vector", single("MatMul", {"a": f32(5), "b": f32(2, 5, 4)}))
    add(
        "Gemm", single("Gemm", {"a": f32(5, 3), "b": f32(4, 5)}, {"c": f32(4)}, transA=1, transB=1, alpha=0.5, beta=2.0)
    )
    add("Gemm-no-c", single("Gemm", {"a": f32(3, 5), "b": f32(5, 4)}))
    w = f32(4, 3, 3, 3)
    add("Conv", single("Conv", {"x": img}, {"w": w, "b": f32(4)}))
    add("Conv-strides-pads", single("Conv", {"x": img}, {"w": w}, strides=[2, 2], pads=[1, 0, 2, 1]))
    add("Conv-dilations", single("Conv", {"x": img}, {"w": w}, dilations=[2, 1], kernel_shape=[3, 3]))
    add("Conv-depthwise", single("Conv", {"x": img}, {"w": f32(6, 1, 3, 3)}, group=3))
    for pad in ("SAME_UPPER", "SAME_LOWER", "VALID"):
        add(f"Conv-{pad}", single("Conv", {"x": f32(1, 3, 8, 8)}, {"w": f32(2, 3, 4, 4)}, auto_pad=pad, strides=[3, 3]))
    add("Conv-1d", single("Conv", {"x": f32(2, 3, 9)}, {"w": f32(4, 3, 3)}, strides=[2], pads=[1, 2]))
    wt = f32(3, 2, 3, 3)
    add("ConvTranspose", single("ConvTranspose", {"x": img}, {"w": wt, "b": f32(2)}))
    add(
        "ConvTranspose-strides",
        single("ConvTranspose", {"x": img}, {"w": wt}, strides=[2, 2], pads=[1, 1, 0, 1], output_padding=[1, 0]),
    )
    add("ConvTranspose-group", single("ConvTranspose", {"x": img}, {"w": f32(3, 1, 3, 3)}, group=3, dilations=[2, 2]))
    add(
        "ConvTranspose-output-shape",
        single("ConvTranspose", {"x": img}, {"w": wt}, strides=[2, 2], output_shape=[14, 15]),
    )
    add(
        "ConvTranspose-output-shape-larger",
        single("ConvTranspose", {"x": f32(1, 1, 3, 3)}, {"w": f32(1, 2, 3, 3)}, strides=[3, 2], output_shape=[10, 8]),
    )
    add(
        "ConvTranspose-SAME_UPPER",
        single("ConvTranspose", {"x": img}, {"w": wt}, strides=[2, 2], auto_pad="SAME_UPPER"),
    )
    add("ConvTranspose-1d", single("ConvTranspose", {"x": f32(1, 3, 5)}, {"w": f32(3, 2, 3)}, strides=[2]))
    for op in ("MaxPool", "AveragePool"):
        add(op, single(op, {"x": img}, kernel_shape=[3, 3]))
        add(f"{op}-strides-pads", single(op, {"x": img}, kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]))
        add(f"{op}-ceil", single(op, {"x": img}, kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1))
        for pad in ("SAME_UPPER", "SAME_LOWER", "VALID"):
            add(f"{op}-{pad}", single(op, {"x": img}, kernel_shape=[2, 2], strides=[2, 2], auto_pad=pad))
        add(f"{op}-1d", single(op, {"x": f32(2, 3, 9)}, kernel_shape=[3], strides=[2]))
    add("MaxPool-dilations", single("MaxPool", {"x": img}, kernel_shape=[2, 2], dilations=[2, 2]))
    add(
        "AveragePool-count-include-pad",
        single("AveragePool", {"x": img}, kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=1),
    )
    for op in ("GlobalAveragePool", "GlobalMaxPool"):
        add(op, single(op, {"x": img}))
        add(f"{op}-1d", single(op, {"x": f32(2, 3, 5)}))
    add("ReduceSum-11-attr", single("ReduceSum", {"x": img}, opset=11, axes=[1, 3], keepdims=0))
    add("ReduceSum-13-input", single("ReduceSum", {"x": img}, {"axes": np.array([-1], np.int64)}, opset=13))
    add("ReduceSum-13-all", single("ReduceSum", {"x": img}, opset=13, keepdims=0))
    add("ReduceSum-noop", single("ReduceSum", {"x": img}, opset=13, noop_with_empty_axes=1))
    for op in ("ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd"):
        add(f"{op}-13-attr", single(op, {"x": img}, opset=13, axes=[2, 3]))
        add(f"{op}-18-input", single(op, {"x": img}, {"axes": np.array([1], np.int64)}, opset=18, keepdims=0))
    for op in ("ReduceL1", "ReduceL2", "ReduceSumSquare", "ReduceLogSumExp"):
        add(op, single(op, {"x": img}, opset=13, axes=[1], keepdims=0))
    empty = np.zeros((2, 0, 3), np.float32)
    for op in ("ReduceMax", "ReduceMin", "ReduceProd", "ReduceSum", "ReduceLogSumExp"):
        add(f"{op}-empty", single(op, {"x": empty}, {"a": np.array([1], np.int64)}, opset=18), oracle="reference")
    bools = RNG.random((3, 4)) < 0.5
    add("ReduceMax-bool", single("ReduceMax", {"x": bools}, opset=20, out=B, axes=None, keepdims=0))
    add("ReduceMin-bool", single("ReduceMin", {"x": bools}, {"a": np.array([0], np.int64)}, opset=20, out=B))
    add("ReduceLogSum", single("ReduceLogSum", {"x": f32(2, 3, 4, low=0.1)}, opset=18, keepdims=1))
    add("ArgMax", single("ArgMax", {"x": img}, out=I64, axis=1))
    add("ArgMax-last", single("ArgMax", {"x": np.round(img)}, out=I64, axis=-1, keepdims=0, select_last_index=1))
    add("ArgMin", single("ArgMin", {"x": img}, out=I64, axis=2, keepdims=0))
    x3 = f32(2, 3, 4)
    for op in ("Softmax", "LogSoftmax"):
        add(f"{op}-11-coerced", single(op, {"x": x3}, opset=11, axis=1))
        add(f"{op}-11-default", single(op, {"x": x3}, opset=11))
        add(f"{op}-11-last", single(op, {"x": x3}, opset=11, axis=-1))
        add(f"{op}-13", single(op, {"x": x3}, opset=13, axis=1))
    bn = {"s": f32(3), "b": f32(3), "m": f32(3), "v": f32(3, low=0.5)}
    add("BatchNormalization-9", single("BatchNormalization", {"x": img}, bn, opset=9, epsilon=1e-3))
    add("BatchNormalization-15", single("BatchNormalization", {"x": img}, bn, opset=15))
    add("LayerNormalization", single("LayerNormalization", {"x": x3}, {"s": f32(4), "b": f32(4)}))
    add("LayerNormalization-mean-invstd", single("LayerNormalization", {"x": x3}, {"s": f32(4)}, n_out=3, axis=-2))
    add("LayerNormalization-axis", single("LayerNormalization", {"x": x3}, {"s": f32(3, 4)}, axis=1, epsilon=1e-3))
    add("InstanceNormalization", single("InstanceNormalization", {"x": img}, {"s": f32(3), "b": f32(3)}))
    add("GroupNormalization-18", single("GroupNormalization", {"x": f32(2, 4, 3, 3)}, {"s": f32(2), "b": f32(2)},
                                        opset=18, num_groups=2), oracle="reference")  # fmt: skip
    add("GroupNormalization-21", single("GroupNormalization", {"x": f32(2, 4, 3, 3)}, {"s": f32(4), "b": f32(4)},
                                        opset=21, num_groups=2, epsilon=1e-3), oracle="reference")  # fmt: skip
    add("LpNormalization-p2", single("LpNormalization", {"x": np.vstack([x34, np.zeros((1, 4), np.float32)])}))
    add("LpNormalization-p1", single("LpNormalization", {"x": x3}, axis=1, p=1))
    add("LRN", single("LRN", {"x": f32(2, 5, 3, 3)}, size=3, alpha=0.01, beta=0.6, bias=2.0))
    for opset, axis in ((11, 1), (11, -1), (13, 1)):
        add(f"Hardmax-{opset}-axis{axis}", single("Hardmax", {"x": np.round(x3)}, opset=opset, axis=axis))
    add("Shrink", single("Shrink", {"x": x34}, lambd=0.3, bias=0.1))
    special = np.array([np.nan, np.inf, -np.inf, 1.0, -0.0], np.float32)
    add("IsNaN", single("IsNaN", {"x": special}, out=B))
    add("IsInf", single("IsInf", {"x": special}, out=B))
    add("IsInf-negative", single("IsInf", {"x": special}, out=B, detect_positive=0))
    add("EyeLike", single("EyeLike", {"x": f32(3, 4)}, k=1))
    add("EyeLike-dtype", single("EyeLike", {"x": ints}, out=I32, dtype=I32, k=-1))
    add("Transpose", single("Transpose", {"x": img}, perm=[0, 2, 3, 1]))
    add("Transpose-default", single("Transpose", {"x": x3}))
    add("Reshape", single("Reshape", {"x": img}, {"s": np.array([0, -1, 7], np.int64)}))
    add("Reshape-allowzero", single("Reshape", {"x": img}, {"s": np.array([6, 49], np.int64)}, opset=14, allowzero=1))
    add("Flatten", single("Flatten", {"x": img}, axis=2))
    add("Flatten-0", single("Flatten", {"x": img}, axis=0))
    s1 = f32(3, 1, 4, 1)
    add("Squeeze-11-attr", single("Squeeze", {"x": s1}, opset=11, axes=[1]))
    add("Squeeze-13-input", single("Squeeze", {"x": s1}, {"a": np.array([-1], np.int64)}, opset=13))
    add("Squeeze-all", single("Squeeze", {"x": s1}, opset=13))
    add("Unsqueeze-11-attr", single("Unsqueeze", {"x": x3}, opset=11, axes=[0, 4]))
    add("Unsqueeze-13-input", single("Unsqueeze", {"x": x3}, {"a": np.array([1, -1], np.int64)}, opset=13))
    add("Expand", single("Expand", {"x": f32(3, 1)}, {"s": np.array([2, 1, 4], np.int64)}))
    add("Concat", single("Concat", {"a": x34, "b": y34, "c": f32(1, 4)}, axis=0))
    add("Concat-one", single("Concat", {"a": x34}, axis=1))
    add("Split-11-attr", single("Split", {"x": f32(6, 4)}, opset=11, n_out=2, axis=0, split=[2, 4]))
    add(
        "Split-13-input",
        single("Split", {"x": f32(6, 4)}, {"s": np.array([1, 3], np.int64)}, opset=13, n_out=2, axis=1),
    )
    add("Split-equal", single("Split", {"x": f32(6, 4)}, opset=13, n_out=3))
    add("Split-18-num-outputs", single("Split", {"x": f32(7, 4)}, opset=18, n_out=3, num_outputs=3))
    add("Slice-9-attrs", single("Slice", {"x": img}, opset=9, starts=[1, -3], ends=[1000, -1], axes=[1, 3]))
    sl = {
        "st": np.array([5, 0], np.int64),
        "en": np.array([-(2**63), 2**63 - 1], np.int64),
        "ax": np.array([2, 3], np.int64),
        "sp": np.array([-2, 3], np.int64),
    }
    add("Slice-13-inputs", single("Slice", {"x": img}, sl, opset=13))
    add("Slice-10-no-axes", single("Slice", {"x": img}, {"st": np.array([1], np.int64), "en": np.array([2], np.int64)}))
    pads = np.array([0, 1, 2, 0, 0, 2, 1, 1], np.int64)
    add("Pad-11-inputs", single("Pad", {"x": img}, {"p": pads, "v": np.float32(1.5)}, opset=11))
    add("Pad-10-attrs", single("Pad", {"x": img}, opset=10, pads=[0, 0, 1, 1, 0, 0, 1, 1], value=2.0))
    add("Pad-reflect", single("Pad", {"x": img}, {"p": pads}, opset=13, mode="reflect"))
    add("Pad-edge", single("Pad", {"x": img}, {"p": pads}, opset=13, mode="edge"))
    add("Pad-negative", single("Pad", {"x": img}, {"p": np.array([0, 0, -1, 2, 0, 0, 1, -2], np.int64)}, opset=13))
    axes = {"p": np.array([1, 2, 3, 0], np.int64), "v": np.float32(0), "a": np.array([2, -1], np.int64)}
    add("Pad-18-axes", single("Pad", {"x": img}, axes, opset=18))
    add("Gather", single("Gather", {"x": x34}, {"i": np.array([[2, 0], [-1, 1]], np.int64)}))
    add("Gather-axis-runtime-indices", single("Gather", {"x": x34, "i": np.array([3, 0, 1], np.int32)}, axis=1))
    add("Tile", single("Tile", {"x": x3}, {"r": np.array([2, 1, 3], np.int64)}))
    d2s = f32(1, 8, 2, 3)
    add("DepthToSpace-DCR", single("DepthToSpace", {"x": d2s}, blocksize=2))
    add("DepthToSpace-CRD", single("DepthToSpace", {"x": d2s}, blocksize=2, mode="CRD"))
    add("SpaceToDepth", single("SpaceToDepth", {"x": f32(1, 2, 4, 6)}, blocksize=2))
    add("SpaceToDepth-CRD", single("SpaceToDepth", {"x": f32(1, 2, 4, 6)}, opset=25, blocksize=2, mode="CRD"),
        oracle="reference")  # fmt: skip
    add("Identity", single("Identity", {"x": x34}))
    add("Dropout-12", single("Dropout", {"x": x34}, {"r": np.float32(0.5)}, opset=12))
    add("Dropout-10", single("Dropout", {"x": x34}, opset=10, ratio=0.3))
    dropout = node("Dropout", ["x", "r", "t"], ["y", "mask"])
    inits = {"r": np.float32(0), "t": np.array(True)}
    add("Dropout-training-ratio-0", (make_model([dropout], {"x": x34}, {"y": F, "mask": B}, inits, 13), {"x": x34}))
    add("Shape-15-start-end", single("Shape", {"x": img}, opset=15, out=I64, start=1, end=-1))
    add("Size", single("Size", {"x": img}, out=I64))
    add("ConstantOfShape", single("ConstantOfShape", {}, {"s": np.array([2, 3], np.int64)}, out=I64,
                                  value=numpy_helper.from_array(np.array([7], np.int64))))  # fmt: skip
    add("Range", single("Range", {}, {"a": np.int64(2), "b": np.int64(11), "c": np.int64(3)}, out=I64))
    add("Range-float", single("Range", {}, {"a": np.float32(1), "b": np.float32(2), "c": np.float32(0.25)}))
    halves = np.array([-2.5, -1.5, -0.4, 0.5, 1.5, 2.6], np.float32)
    for op in ("Floor", "Ceil", "Round"):
        add(f"{op}-constant", single(op, {}, {"x": halves}))
    add("Mod-constant", single("Mod", {}, {"a": np.array([7, -7, 7], np.int64), "b": np.array([3, 3, -3], np.int64)},
                               out=I64))  # fmt: skip
    add("Mod-fmod-constant", single("Mod", {}, {"a": halves, "b": np.float32(1.0)}, fmod=1))
    for key, value, out in (
        ("value", numpy_helper.from_array(f32(2, 3)), F),
        ("value_float", 2.5, F),
        ("value_floats", [1.0, 2.0], F),
        ("value_int", 3, I64),
        ("value_ints", [4, 5], I64),
    ):
        add(f"Constant-{key}", single("Constant", {}, out=out, inputs=[], **{key: value}))
    return c


CASES = _cases()


@pytest.mark.parametrize(("model", "feeds", "options"), CASES)
def test_op_matches_onnxruntime(model: Any, feeds: dict[str, np.ndarray], options: dict[str, Any]) -> None:
    check(model, feeds, **options)


# The same models compiled for the CPU (the whole pipeline, JIT included).
@pytest.mark.parametrize(("model", "feeds", "options"), CASES)
def test_op_on_cpu_matches_onnxruntime(model: Any, feeds: dict[str, np.ndarray], options: dict[str, Any]) -> None:
    check(model, feeds, cpu=True, **options)


def test_lrn_with_an_even_size_follows_the_spec() -> None:
    # ORT takes only odd sizes (and onnx's reference evaluator loops over the wrong axis): the
    # window of channel c is [c - floor((size - 1) / 2), c + ceil((size - 1) / 2)].
    x = f32(2, 6, 2, 3)
    model, _ = single("LRN", {"x": x}, size=4, alpha=0.02, beta=0.5, bias=1.5)
    squares = np.pad(x.astype(np.float64) ** 2, ((0, 0), (1, 2), (0, 0), (0, 0)))
    window = sum(squares[:, k : k + 6] for k in range(4))
    want = (x / (1.5 + 0.02 / 4 * window) ** 0.5).astype(np.float32)
    assert_close(irc.interpret(irc.import_onnx(model), x)[0], want, "LRN size 4")


def test_every_handled_op_type_is_tested() -> None:
    from irc.frontend.onnx import supported_op_types

    tested = {c.values[0].graph.node[0].op_type for c in CASES}
    assert set(supported_op_types()) - tested == set()


# ----------------------------------------------------------------------------- folding
def _shape_chain_model(opset: int) -> Any:
    """x [2, 3, 4, 5] -> Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1])): [2, 60]."""
    unsqueeze = (
        helper.make_node("Unsqueeze", ["n"], ["n1"], name="unsq", axes=[0])
        if opset < 13
        else helper.make_node("Unsqueeze", ["n", "zero_axis"], ["n1"], name="unsq")
    )
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"], name="shape"),
        helper.make_node("Gather", ["shape", "zero"], ["n"], name="gather", axis=0),
        unsqueeze,
        helper.make_node("Concat", ["n1", "minus_one"], ["target"], name="concat", axis=0),
        helper.make_node("Reshape", ["x", "target"], ["flat"], name="reshape"),
        helper.make_node("Relu", ["flat"], ["y"], name="relu"),
    ]
    inits = {"zero": np.array(0, np.int64), "minus_one": np.array([-1], np.int64)}
    if opset >= 13:
        inits["zero_axis"] = np.array([0], np.int64)
    return make_model(nodes, {"x": f32(2, 3, 4, 5)}, ["y"], inits, opset)


@pytest.mark.parametrize("opset", [11, 13, 21])
def test_shape_gather_unsqueeze_concat_reshape_folds(opset: int) -> None:
    model = _shape_chain_model(opset)
    module = check(model, {"x": f32(2, 3, 4, 5)})
    names = [op.name for op in module.walk()]
    assert names.count("tensor.reshape") == 1
    for gone in ("tensor.gather", "tensor.concat", "tensor.unsqueeze", "tensor.constant"):
        assert gone not in names
    assert "shape = [2, -1]" in print_op(module)


def test_shape_arithmetic_with_floor_and_ceil_folds() -> None:
    # Reshape(x, [-1, ceil(dim1 / 4)]) as exporters write it for dynamic shapes.
    nodes = [
        helper.make_node("Shape", ["x"], ["s"], name="shape"),
        helper.make_node("Gather", ["s", "one"], ["d"], name="gather", axis=0),
        helper.make_node("Cast", ["d"], ["df"], name="cast", to=F),
        helper.make_node("Div", ["df", "four"], ["q"], name="div"),
        helper.make_node("Ceil", ["q"], ["c"], name="ceil"),
        helper.make_node("Cast", ["c"], ["ci"], name="cast_back", to=I64),
        helper.make_node("Unsqueeze", ["ci", "zero"], ["u"], name="unsqueeze"),
        helper.make_node("Concat", ["minus_one", "u"], ["target"], name="concat", axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"], name="reshape"),
    ]
    inits = {
        "one": np.array(1, np.int64),
        "four": np.array(4, np.float32),
        "zero": np.array([0], np.int64),
        "minus_one": np.array([-1], np.int64),
    }
    feeds = {"x": f32(4, 6)}
    module = check(make_model(nodes, feeds, ["y"], inits), feeds)
    assert [op.name for op in module.walk()][2:] == ["tensor.reshape", "func.return"]


def test_constant_only_ops_on_run_time_values_are_unsupported() -> None:
    nodes = [node("Floor", ["x"], ["f"]), node("Mod", ["f", "x"], ["y"])]
    model = make_model(nodes, {"x": f32(3)}, ["y"])
    with pytest.raises(ONNXImportError) as info:
        irc.import_onnx(model)
    assert "  Floor (on values computed at run time): 1 node ('floor_node')" in str(info.value)
    assert "  Mod (on values computed at run time): 1 node ('mod_node')" in str(info.value)


def test_constant_subgraphs_fold_and_leave_no_dead_constants() -> None:
    # Transpose of an initializer is evaluated at import time; only the folded weight remains.
    nodes = [
        helper.make_node("Transpose", ["w"], ["wt"], name="t", perm=[1, 0]),
        helper.make_node("MatMul", ["x", "wt"], ["y"], name="mm"),
    ]
    model = make_model(nodes, {"x": f32(2, 3)}, ["y"], {"w": f32(4, 3)})
    module = check(model, {"x": f32(2, 3)})
    ops = [op.name for op in module.walk()]
    assert ops.count("tensor.constant") == 1
    assert "tensor.transpose" not in ops


# ----------------------------------------------------------------------------- dense_resource
def test_large_initializers_become_dense_resource_and_parse_back(tmp_path: Path) -> None:
    big, small = f32(128, 256), f32(256)  # 128 KiB and 1 KiB
    nodes = [
        helper.make_node("MatMul", ["x", "/fc/weight"], ["h"], name="/fc/MatMul"),
        helper.make_node("Add", ["h", "fc.bias"], ["y"], name="/fc/Add"),
    ]
    feeds = {"x": f32(2, 128)}
    model = make_model(nodes, feeds, ["y"], {"/fc/weight": big, "fc.bias": small})
    module = check(model, feeds)
    text = print_op(module)
    assert "dense_resource<_fc_weight> : tensor<128x256xf32>" in text
    assert "dialect_resources" in text
    assert "dense_resource<fc.bias" not in text  # small ones stay inline
    again = parse_module(text, "roundtrip.gir")
    verify(again)
    assert print_op(again) == text
    np.testing.assert_array_equal(irc.interpret(again, feeds["x"])[0], irc.interpret(module, feeds["x"])[0])


# ----------------------------------------------------------------------------- names
def test_odd_onnx_names_are_sanitized_and_kept_as_irc_name(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Conv", ["input.1", "onnx::Conv_1"], ["/layer1/Conv_output_0"], name="/layer1/Conv"),
        helper.make_node("Relu", ["/layer1/Conv_output_0"], ["output:0"], name="/layer1/Relu"),
        helper.make_node("Neg", ["0"], ["1"], name=""),
    ]
    feeds = {"input.1": f32(1, 2, 5, 5), "0": f32(3)}
    model = make_model(nodes, feeds, ["output:0", "1"], {"onnx::Conv_1": f32(3, 2, 3, 3)})
    module = check(model, feeds)
    text = print_op(module)
    assert "%input.1: tensor<1x2x5x5xf32>" in text
    assert '%_0: tensor<3xf32> {irc.name = "0"}' in text
    assert "%_layer1_Conv_output_0 = tensor.conv2d" in text
    assert '{irc.name = "output:0"}' in text
    again = parse_module(text, "names.gir")
    verify(again)
    debug = print_op(module, debuginfo=True)
    assert 'loc("/layer1/Conv")' in debug
    assert 'loc("Neg_2")' in debug
    # irc-run takes and gives the ONNX names.
    path = tmp_path / "odd.onnx"
    onnx.save(model, path)
    np.savez(tmp_path / "in.npz", **feeds)
    for mode in (["--interpret"], ["--target", "cpu"]):
        out = tmp_path / "out.npz"
        assert irc_run.main([str(path), *mode, "--inputs", str(tmp_path / "in.npz"), "--out", str(out)]) == 0
        want = run_ort(model, feeds)
        with np.load(out) as got:
            assert sorted(got.files) == ["1", "output:0"]
            assert_close(got["output:0"], want[0], str(mode), 1e-4)
            assert_close(got["1"], want[1], str(mode))


def test_sanitize_name() -> None:
    assert sanitize_name("input.1") == "input.1"
    assert sanitize_name("/a/b:0") == "_a_b_0"
    assert sanitize_name("7") == "_7"
    assert sanitize_name("") == "_"


def test_duplicate_sanitized_input_names_stay_distinct() -> None:
    nodes = [helper.make_node("Add", ["a:b", "a/b"], ["y"], name="add")]
    feeds = {"a:b": f32(2), "a/b": f32(2)}
    module = check(make_model(nodes, feeds, ["y"]), feeds)
    assert "%a_b: tensor<2xf32>" in print_op(module)
    assert "%a_b_0: tensor<2xf32>" in print_op(module)


# ----------------------------------------------------------------------------- model forms
def test_import_from_path_bytes_and_proto(tmp_path: Path) -> None:
    model, _ = single("Relu", {"x": f32(3)})
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    texts = {print_op(irc.import_onnx(m)) for m in (model, model.SerializeToString(), path, str(path))}
    assert len(texts) == 1


def test_external_data_is_loaded(tmp_path: Path) -> None:
    model, feeds = single("MatMul", {"x": f32(2, 64)}, {"w": f32(64, 300)})
    want = run_ort(model, feeds)[0]
    path = tmp_path / "ext.onnx"
    onnx.save(
        model, path, save_as_external_data=True, all_tensors_to_one_file=True, location="ext.data", size_threshold=0
    )
    assert (tmp_path / "ext.data").exists()
    module = irc.import_onnx(path)
    assert_close(irc.interpret(module, feeds["x"])[0], want, "external data")


def test_model_local_functions_are_inlined() -> None:
    body = [helper.make_node("Mul", ["a", "a"], ["sq"]), helper.make_node("Relu", ["sq"], ["out"])]
    function = helper.make_function("custom", "SquareRelu", ["a"], ["out"], body, [helper.make_opsetid("", 17)])
    nodes = [helper.make_node("SquareRelu", ["x"], ["y"], name="block", domain="custom")]
    feeds = {"x": f32(5)}
    model = make_model(nodes, feeds, ["y"])
    model.opset_import.append(helper.make_opsetid("custom", 1))
    model.functions.append(function)
    module = check(model, feeds)
    assert [op.name for op in module.walk()][2:4] == ["tensor.mul", "tensor.relu"]


def test_legacy_broadcast_with_axis_is_unsupported() -> None:
    model, _ = single("Add", {"a": f32(2, 3, 4), "b": f32(3)}, opset=6, broadcast=1, axis=1)
    with pytest.raises(ONNXImportError, match=r"Add \(legacy broadcast with 'axis'\): 1 node \('add_node'\)"):
        irc.import_onnx(model)


def test_nodes_out_of_order_are_sorted() -> None:
    nodes = [
        helper.make_node("Relu", ["h"], ["y"], name="second"),
        helper.make_node("Neg", ["x"], ["h"], name="first"),
    ]
    feeds = {"x": f32(4)}
    check(make_model(nodes, feeds, ["y"]), feeds)


def test_initializers_listed_as_inputs_are_constants() -> None:
    # IR version 3 models list every initializer among the graph inputs.
    model, _ = single("Add", {"x": f32(3)}, {"b": f32(3)})
    model.graph.input.append(helper.make_tensor_value_info("b", F, [3]))
    module = irc.import_onnx(model)
    assert len(next(iter(module.body.ops)).entry.args) == 1


def test_graph_output_that_is_an_input_or_constant() -> None:
    nodes = [helper.make_node("Shape", ["x"], ["s"], name="shape")]
    feeds = {"x": f32(2, 5)}
    model = make_model(nodes, feeds, {"s": I64, "x": F})
    check(model, feeds)


def test_symbolic_dims_need_shapes() -> None:
    model = make_model([node("Relu", ["x"])], {"x": f32(2, 3)}, ["y"], symbolic={"x": ["batch", 3]})
    with pytest.raises(ONNXImportError, match=r"graph input 'x' has a symbolic dimension 'batch' \(dimension 0\)"):
        irc.import_onnx(model)
    module = irc.import_onnx(model, shapes={"x": (5, 3)})
    assert "tensor<5x3xf32>" in print_op(module)
    with pytest.raises(ONNXImportError, match="fixes it to 3"):
        irc.import_onnx(model, shapes={"x": (5, 4)})
    with pytest.raises(ONNXImportError, match="'z', which is not a graph input"):
        irc.import_onnx(model, shapes={"z": (1,)})


# ----------------------------------------------------------------------------- bad models
def test_unsupported_ops_are_listed_in_one_error() -> None:
    nodes = [
        helper.make_node("TopK", ["x", "k"], ["v1", "i1"], name="topk_a", axis=-1),
        helper.make_node("TopK", ["v1", "k"], ["v2", "i2"], name="topk_b", axis=-1),
        helper.make_node("NonZero", ["x"], ["nz"], name=""),
        helper.make_node("Pad", ["v2", "pads"], ["p"], name="wrap_pad", mode="wrap"),
        helper.make_node("FusedGemm", ["p", "p"], ["y"], name="fused", domain="com.microsoft"),
    ]
    model = make_model(nodes, {"x": f32(4, 8)}, ["y"], {"k": np.array([2], np.int64), "pads": np.zeros(4, np.int64)})
    with pytest.raises(ONNXImportError) as info:
        irc.import_onnx(model, source="m.onnx")
    message = str(info.value)
    assert message.startswith("the model uses 5 nodes of 4 op types that the importer does not support:")
    assert "  TopK: 2 nodes ('topk_a', 'topk_b')" in message
    assert "  NonZero: 1 node ('#2')" in message
    assert "  Pad (mode 'wrap'): 1 node ('wrap_pad')" in message
    assert "  com.microsoft.FusedGemm: 1 node ('fused')" in message
    assert isinstance(info.value, IRCError)


def test_unsupported_element_types_are_listed() -> None:
    nodes = [
        helper.make_node("Cast", ["x"], ["c"], name="to_u8", to=TensorProto.UINT8),
        helper.make_node("Cast", ["c"], ["y"], name="back", to=F),
    ]
    model = make_model(nodes, {"x": f32(3)}, ["y"], {"w": np.zeros(2, np.uint16)})
    model.graph.input.append(helper.make_tensor_value_info("s", TensorProto.STRING, [1]))
    with pytest.raises(ONNXImportError) as info:
        irc.import_onnx(model)
    message = str(info.value)
    assert "element types that the tensor dialect does not have" in message
    assert "  uint8: node 'to_u8' (Cast)" in message
    assert "  uint16: initializer 'w'" in message
    assert "  string: graph input 's'" in message


def test_unknown_element_type() -> None:
    model, _ = single("Relu", {"x": f32(3)})
    model.graph.input[0].type.tensor_type.elem_type = 99
    with pytest.raises(ONNXImportError, match="  data type 99: graph input 'x'"):
        irc.import_onnx(model)


def test_a_constant_input_computed_at_run_time_is_reported() -> None:
    model, _ = single("Reshape", {"x": f32(6), "s": np.array([2, 3], np.int64)})
    with pytest.raises(ONNXImportError, match=r"node 'reshape_node' \(Reshape\): input #1 \('s', the shape\) must be"):
        irc.import_onnx(model)


def test_bad_node_attributes_are_reported_with_the_node() -> None:
    model, _ = single("Transpose", {"x": f32(2, 3)}, perm=[0, 0])
    with pytest.raises(ONNXImportError, match=r"node 'transpose_node' \(Transpose\): expected 'perm' to be a perm"):
        irc.import_onnx(model)


def test_training_outputs_are_unavailable() -> None:
    bn = {"s": f32(3), "b": f32(3), "m": f32(3), "v": f32(3, low=0.5)}
    nodes = [
        helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y", "rm"], name="bn"),
        helper.make_node("Neg", ["rm"], ["z"], name="neg"),
    ]
    model = make_model(nodes, {"x": f32(2, 3)}, ["y", "z"], bn, opset=9)
    with pytest.raises(ONNXImportError, match=r"output #1 of node 'bn'.*which the importer does not compute"):
        irc.import_onnx(model)


def test_truncated_file(tmp_path: Path) -> None:
    model, _ = single("Conv", {"x": f32(1, 3, 8, 8)}, {"w": f32(4, 3, 3, 3)})
    data = model.SerializeToString()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ONNXImportError, match=r"^not a valid ONNX file \(truncated, or not an ONNX model\): ") as info:
        irc.import_onnx(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("content", [b"hello world\n", b"", b"\x00\x01\x02garbage" * 10])
def test_not_an_onnx_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.onnx"
    path.write_bytes(content)
    with pytest.raises(ONNXImportError, match=r"^not a valid ONNX file"):
        irc.import_onnx(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ONNXImportError, match="could not open input file"):
        irc.import_onnx(tmp_path / "missing.onnx")


# ----------------------------------------------------------------------------- tools
def test_irc_translate_import_onnx(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model, _ = single("Relu", {"x": f32(2, 3)})
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "N"
    path, out = tmp_path / "m.onnx", tmp_path / "m.gir"
    onnx.save(model, path)
    assert irc_translate.main(["--import-onnx", str(path), "--input-shape", "x=4x3", "-o", str(out)]) == 0
    text = out.read_text()
    assert 'func.func @main(%x: tensor<4x3xf32>) -> (tensor<4x3xf32> {irc.name = "y"})' in text
    verify(parse_module(text, str(out)))
    assert irc_translate.main(["--import-onnx", str(path), "--input-shape", "x=1x3"]) == 0
    assert "tensor<1x3xf32>" in capsys.readouterr().out
    # The imported .gir runs with the ONNX names too.
    assert irc_run.main([str(out), "--interpret", "--print"]) == 0
    assert "y: shape (4, 3), dtype float32" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--import-onnx", "{path}"], "symbolic dimension 'N'"),
        (["--import-onnx", "{path}", "--input-shape", "x"], "--input-shape expects NAME=DxDx..., got 'x'"),
        (["--import-onnx", "{path}", "--input-shape", "x=2xa"], "with integer sizes"),
        (["--import-onnx", "{bad}"], "bad.onnx:1:1: error: not a valid ONNX file"),
        (["--import-onnx", "{missing}"], "could not open input file"),
        (["{path}", "--import-onnx", "{path}"], "either an input file or --import-onnx"),
    ],
)
def test_irc_translate_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    model, _ = single("Relu", {"x": f32(2, 3)})
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "N"
    paths = {"path": tmp_path / "m.onnx", "bad": tmp_path / "bad.onnx", "missing": tmp_path / "missing.onnx"}
    onnx.save(model, paths["path"])
    paths["bad"].write_bytes(model.SerializeToString()[:20])
    assert irc_translate.main([a.format(**paths) for a in argv]) == 1
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_irc_run_onnx(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nodes = [
        helper.make_node("Gemm", ["x", "w", "b"], ["h"], name="fc", transB=1),
        helper.make_node("Softmax", ["h"], ["probs"], name="sm", axis=1),
    ]
    inits = {"w": f32(5, 4), "b": f32(5)}
    feeds = {"x": f32(2, 4)}
    model = make_model(nodes, feeds, ["probs"], inits, opset=11, symbolic={"x": ["N", 4]})
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    np.savez(tmp_path / "in.npz", **feeds)
    np.save(tmp_path / "x.npy", feeds["x"])
    want = run_ort(model, feeds)[0]
    for extra in (["--interpret"], ["--target", "cpu"]):
        out = tmp_path / "out.npz"
        argv = [str(path), "--input-shape", "x=2x4", "--inputs", str(tmp_path / "in.npz"), "--out", str(out), *extra]
        assert irc_run.main(argv) == 0
        with np.load(out) as got:
            assert_close(got["probs"], want, str(extra), 1e-4)
    assert irc_run.main([str(path), "--input-shape", "x=2x4", "--input", f"x={tmp_path / 'x.npy'}", "--print"]) == 0
    assert "probs: shape (2, 5), dtype float32" in capsys.readouterr().out
    # Errors: symbolic dims without a shape, an unknown input name, a bad file.
    assert irc_run.main([str(path)]) == 1
    assert "symbolic dimension 'N'" in capsys.readouterr().err
    np.savez(tmp_path / "wrong.npz", z=feeds["x"])
    assert irc_run.main([str(path), "--input-shape", "x=2x4", "--inputs", str(tmp_path / "wrong.npz")]) == 1
    assert "no argument named 'z' (the arguments are: 'x')" in capsys.readouterr().err
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    assert irc_run.main([str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{bad}:1:1: error: not a valid ONNX file")
    assert err.count("\n") == 1
