"""Per-op CPU speed of gir, side by side with numpy, ONNX Runtime and PyTorch (one process).

A benchmark, not a test. Each case is one tensor-dialect function at a realistic size; gir
compiles it with `irc.compile(module, target="cpu")` and every peer runs the same computation
on the same inputs (results are checked against numpy before timing). Everything runs on ONE
thread: the BLAS/OpenMP thread variables are set before numpy is imported, ONNX Runtime gets
`intra_op_num_threads=1`, PyTorch `torch.set_num_threads(1)`. A peer that is not installed is
skipped (`pip install -e '.[bench]'` installs onnx + onnxruntime; PyTorch CPU from
/opt/wheels/torch-*+cpu-*.whl).

The runners alternate call by call, so that load on a shared machine hits them alike. Printed
per case: median time per call of each runner (ms) and the ratio gir / best peer (< 1 means
gir is faster).

    .venv/bin/python benchmarks/ops_cpu.py [--repeat 20] [--only relu,softmax] [--back-to-back]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "IRC_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import irc  # noqa: E402
from textual_ir.parser import parse_module  # noqa: E402


# ----------------------------------------------------------------------------- cases
class Case:
    """One benchmark: the .gir function, numpy inputs, and each peer's implementation."""

    def __init__(
        self,
        name: str,
        gir: str,
        inputs: dict[str, np.ndarray],
        numpy_fn: Callable[..., np.ndarray],
        torch_fn: Callable[..., object] | None,
        onnx_model: object | None,
        rtol: float = 1e-4,
    ) -> None:
        self.name, self.gir, self.inputs = name, gir, inputs
        self.numpy_fn, self.torch_fn, self.onnx_model, self.rtol = numpy_fn, torch_fn, onnx_model, rtol


def _t(shape: tuple[int, ...]) -> str:
    return "tensor<" + "x".join(map(str, shape)) + "xf32>"


def _unary(name: str, op: str, n: int, np_fn, torch_name: str, onnx_op: str) -> Case:
    shape = (n,)
    t = _t(shape)
    gir = f"func.func @main(%x: {t}) -> {t} {{\n  %y = tensor.{op} %x : {t}\n  return %y : {t}\n}}\n"
    x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
    return Case(
        name,
        gir,
        {"x": x},
        np_fn,
        lambda x, _n=torch_name: _torch_call(_n, x),
        _onnx_model([("X", shape)], [("Y", shape)], [(onnx_op, ["X"], ["Y"], {})]),
    )


def _torch_call(name: str, *args):
    import torch

    return getattr(torch, name)(*args)


def cases(selected: set[str] | None) -> list[Case]:
    rng = np.random.default_rng(0)
    n = 16 * 1024 * 1024
    out: list[Case] = []

    def add(case: Case) -> None:
        if selected is None or case.name in selected:
            out.append(case)

    add(_unary("relu", "relu", n, lambda x: np.maximum(x, 0), "relu", "Relu"))
    add(_unary("exp", "exp", n, np.exp, "exp", "Exp"))
    add(_unary("sigmoid", "sigmoid", n, lambda x: 1 / (1 + np.exp(-x)), "sigmoid", "Sigmoid"))

    # relu(x * a + b), a chain a graph compiler can fuse into one pass
    s = _t((n,))
    one = "tensor<1xf32>"
    gir = (
        f"func.func @main(%x: {s}, %a: {one}, %b: {one}) -> {s} {{\n"
        f"  %m = tensor.mul %x, %a : ({s}, {one}) -> {s}\n"
        f"  %p = tensor.add %m, %b : ({s}, {one}) -> {s}\n"
        f"  %r = tensor.relu %p : {s}\n  return %r : {s}\n}}\n"
    )
    x = rng.standard_normal(n, dtype=np.float32)
    a, b = np.array([1.5], np.float32), np.array([-0.25], np.float32)
    add(
        Case(
            "relu(x*a+b)",
            gir,
            {"x": x, "a": a, "b": b},
            lambda x, a, b: np.maximum(x * a + b, 0),
            lambda x, a, b: _torch_call("relu", x * a + b),
            _onnx_model(
                [("X", (n,)), ("A", (1,)), ("B", (1,))],
                [("Y", (n,))],
                [("Mul", ["X", "A"], ["M"], {}), ("Add", ["M", "B"], ["P"], {}), ("Relu", ["P"], ["Y"], {})],
            ),
        )
    )

    shape = (4096, 1024)
    t = _t(shape)
    gir = f"func.func @main(%x: {t}) -> {t} {{\n  %y = tensor.softmax %x {{axis = -1}} : {t}\n  return %y : {t}\n}}\n"

    def np_softmax(x):
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    add(
        Case(
            "softmax",
            gir,
            {"x": rng.standard_normal(shape, dtype=np.float32)},
            np_softmax,
            lambda x: _torch_call("softmax", x, -1),
            _onnx_model([("X", shape)], [("Y", shape)], [("Softmax", ["X"], ["Y"], {"axis": -1})]),
        )
    )

    shape = (4096, 4096)
    t, r = _t(shape), _t((4096,))
    x = rng.standard_normal(shape, dtype=np.float32)
    for kind, np_fn, torch_name, onnx_op in (("sum", np.sum, "sum", "ReduceSum"), ("max", np.max, "amax", "ReduceMax")):
        gir = (
            f"func.func @main(%x: {t}) -> {r} {{\n  %y = tensor.reduce_{kind} %x {{axes = [1], keepdims = 0}} : "
            f"({t}) -> {r}\n  return %y : {r}\n}}\n"
        )
        add(
            Case(
                f"reduce_{kind}",
                gir,
                {"x": x},
                lambda x, f=np_fn: f(x, axis=1),
                lambda x, n=torch_name: _torch_call(n, x, 1),
                _onnx_reduce(onnx_op, shape),
                rtol=1e-3,
            )
        )

    ishape, oshape = (1, 64, 112, 112), (1, 64, 56, 56)
    ti, to = _t(ishape), _t(oshape)
    gir = (
        f"func.func @main(%x: {ti}) -> {to} {{\n  %y = tensor.max_pool2d %x {{kernel_shape = [3, 3], "
        f"strides = [2, 2], pads = [1, 1, 1, 1]}} : ({ti}) -> {to}\n  return %y : {to}\n}}\n"
    )

    def np_maxpool(x):
        p = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
        win = np.lib.stride_tricks.sliding_window_view(p, (3, 3), axis=(2, 3))[:, :, ::2, ::2]
        return win.max(axis=(-2, -1))

    add(
        Case(
            "max_pool2d",
            gir,
            {"x": rng.standard_normal(ishape, dtype=np.float32)},
            np_maxpool,
            lambda x: _torch_fn("max_pool2d")(x, 3, 2, 1),
            _onnx_model(
                [("X", ishape)],
                [("Y", oshape)],
                [("MaxPool", ["X"], ["Y"], {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]})],
            ),
        )
    )

    ishape, wshape, oshape = (1, 64, 56, 56), (64, 64, 3, 3), (1, 64, 56, 56)
    ti, tw, to = _t(ishape), _t(wshape), _t(oshape)
    gir = (
        f"func.func @main(%x: {ti}, %w: {tw}) -> {to} {{\n  %y = tensor.conv2d %x, %w {{pads = [1, 1, 1, 1]}} : "
        f"({ti}, {tw}) -> {to}\n  return %y : {to}\n}}\n"
    )

    def np_conv(x, w):
        p = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
        win = np.lib.stride_tricks.sliding_window_view(p, (3, 3), axis=(2, 3))  # 1,C,H,W,3,3
        return np.einsum("nchwij,ocij->nohw", win, w, optimize=True)

    add(
        Case(
            "conv2d",
            gir,
            {"x": rng.standard_normal(ishape, dtype=np.float32), "w": rng.standard_normal(wshape, dtype=np.float32)},
            np_conv,
            lambda x, w: _torch_fn("conv2d")(x, w, None, 1, 1),
            _onnx_model(
                [("X", ishape), ("W", wshape)], [("Y", oshape)], [("Conv", ["X", "W"], ["Y"], {"pads": [1, 1, 1, 1]})]
            ),
            rtol=1e-3,
        )
    )

    shape = (512, 512)
    t = _t(shape)
    gir = (
        f"func.func @main(%a: {t}, %b: {t}) -> {t} {{\n  %y = tensor.matmul %a, %b : ({t}, {t}) -> {t}\n"
        f"  return %y : {t}\n}}\n"
    )
    add(
        Case(
            "matmul",
            gir,
            {"a": rng.standard_normal(shape, dtype=np.float32), "b": rng.standard_normal(shape, dtype=np.float32)},
            np.matmul,
            lambda a, b: _torch_call("matmul", a, b),
            _onnx_model([("A", shape), ("B", shape)], [("Y", shape)], [("MatMul", ["A", "B"], ["Y"], {})]),
            rtol=1e-3,
        )
    )
    return out


def _torch_fn(name: str):
    import torch.nn.functional as F

    return getattr(F, name)


# ----------------------------------------------------------------------------- peers
def _onnx_model(inputs, outputs, nodes, initializers=()):
    """The ONNX model of a case, or None without the `onnx` package."""
    try:
        from onnx import TensorProto, helper
    except ImportError:
        return None

    graph = helper.make_graph(
        [helper.make_node(op, ins, outs, **attrs) for op, ins, outs, attrs in nodes],
        "bench",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(s)) for n, s in inputs],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(s)) for n, s in outputs],
        initializer=list(initializers),
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _onnx_reduce(op: str, shape):
    """ReduceSum (axes an input since opset 13) or ReduceMax (an attribute until opset 18) over
    axis 1, in the opset-17 model of `_onnx_model`."""
    try:
        from onnx import numpy_helper
    except ImportError:
        return None

    if op == "ReduceSum":
        axes = numpy_helper.from_array(np.array([1], np.int64), "axes")
        node = (op, ["X", "axes"], ["Y"], {"keepdims": 0})
        return _onnx_model([("X", shape)], [("Y", (shape[0],))], [node], [axes])
    return _onnx_model([("X", shape)], [("Y", (shape[0],))], [(op, ["X"], ["Y"], {"keepdims": 0, "axes": [1]})])


def _ort_runner(case: Case):
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    if case.onnx_model is None:
        return None
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(case.onnx_model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    feeds = dict(zip(names, case.inputs.values(), strict=True))
    return lambda: session.run(None, feeds)[0]


def _torch_runner(case: Case):
    try:
        import torch
    except ImportError:
        return None
    if case.torch_fn is None:
        return None
    torch.set_num_threads(1)
    args = [torch.from_numpy(a) for a in case.inputs.values()]

    def run():
        with torch.no_grad():
            return case.torch_fn(*args).numpy()

    return run


def _gir_runner(case: Case):
    module = parse_module(case.gir, f"<{case.name}>")
    start = time.perf_counter()
    exe = irc.compile(module, target="cpu")
    compile_s = time.perf_counter() - start
    fn = exe.main
    args = list(case.inputs.values())
    return (lambda: fn(*args)), compile_s


def _median_times(
    fns: dict[str, Callable[[], object]], repeat: int, back_to_back: bool = False, budget_s: float = 20.0
) -> dict[str, float]:
    """Median seconds per call of each runner. The runners alternate call by call (the order
    rotating each round), so that load and memory state on a shared machine hit them alike;
    timing each runner in its own block made memory-bound cases swing by 20-30% between
    runners. Fewer than `repeat` rounds when a round is slow (at least 3, about `budget_s`).
    `back_to_back` times each runner in its own block instead: its data stays in the caches
    from call to call, as it would for a small tensor inside a network."""
    if back_to_back:
        return {k: _median_times({k: fn}, repeat, budget_s=budget_s / len(fns))[k] for k, fn in fns.items()}
    for fn in fns.values():
        fn()  # warm up
    names = list(fns)
    times: dict[str, list[float]] = {k: [] for k in names}
    start = time.perf_counter()
    for r in range(repeat):
        for k in names[r % len(names) :] + names[: r % len(names)]:
            t0 = time.perf_counter()
            fns[k]()
            times[k].append(time.perf_counter() - t0)
        if r >= 2 and time.perf_counter() - start > budget_s:
            break
    return {k: statistics.median(v) for k, v in times.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--only", help="comma-separated case names")
    ap.add_argument(
        "--back-to-back", action="store_true", help="time each runner in its own block (warm caches), not alternating"
    )
    args = ap.parse_args(argv)
    selected = set(args.only.split(",")) if args.only else None

    mode = "each runner back to back" if args.back_to_back else "runners alternating call by call"
    print(f"# {platform.processor() or platform.machine()}, Python {platform.python_version()}, 1 thread, {mode}")
    header = f"{'case':<14}{'gir ms':>10}{'numpy':>10}{'onnxrt':>10}{'torch':>10}{'gir/best':>10}{'compile s':>11}"
    print(header)
    for case in cases(selected):
        expected = case.numpy_fn(*case.inputs.values())
        gir_fn, compile_s = _gir_runner(case)
        runners = {"gir": gir_fn, "numpy": lambda c=case: c.numpy_fn(*c.inputs.values())}
        for name, make in (("onnxrt", _ort_runner), ("torch", _torch_runner)):
            runner = make(case)
            if runner is not None:
                runners[name] = runner
        for name, fn in runners.items():
            got = np.asarray(fn())
            if not np.allclose(got, expected, rtol=case.rtol, atol=case.rtol):
                err = float(np.max(np.abs(got - expected)))
                print(f"{case.name}: {name} differs from numpy (max abs error {err:.3g})", file=sys.stderr)
        times = _median_times(runners, args.repeat, args.back_to_back)
        best = min(t for k, t in times.items() if k != "gir")
        cols = "".join(f"{times[k] * 1e3:>10.2f}" if k in times else f"{'-':>10}" for k in ("numpy", "onnxrt", "torch"))
        print(f"{case.name:<14}{times['gir'] * 1e3:>10.2f}{cols}{times['gir'] / best:>10.2f}{compile_s:>11.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
