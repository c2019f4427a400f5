"""Five real networks as ONNX files, for gir's end-to-end model tests and benchmark.

The same five architectures come from two builders:

- `torch`: PyTorch modules (fixed seeds) exported with `torch.onnx.export` (the TorchScript
  exporter, opset 17, static shapes, `do_constant_folding=False` so that BatchNormalization
  stays a node of its own instead of being folded into the convolution before it).
- `onnx`: the same graphs written node by node with `onnx.helper`, with random weights from a
  fixed seed. This is the path CI takes (it has no PyTorch); it needs only onnx and numpy.

The models (input name `input`, output name `output`):

    mlp          [B, 784] -> 512 -> 256 -> 10, Gemm + Relu
    lenet        [B, 1, 28, 28] LeNet-5: conv5x5 relu maxpool, conv5x5 relu avgpool, 3 Gemm
    resnet18     [B, 3, 224, 224] ResNet-18 (BasicBlock x [2, 2, 2, 2]), BatchNormalization
                 nodes, 1000 classes
    mobilenet    [B, 3, 112, 112] MobileNetV2-style: stem, three inverted residual blocks
                 (1x1 expand, 3x3 depthwise with group = channels, 1x1 project; ReLU6 = Clip;
                 residual Add where the shape allows), head, 100 classes
    transformer  [B, 64, 128] pre-LayerNorm encoder block: 4-head self-attention written with
                 MatMul / Softmax / Transpose / Reshape, GELU (Erf) MLP 128 -> 512 -> 128

    python benchmarks/export_models.py --out DIR [--batch 1] [--builder torch|onnx]
                                       [--only mlp,resnet18] [--check]

`--check` runs each written model in ONNX Runtime (and, for `torch`, compares with PyTorch).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

MODELS = ("mlp", "lenet", "resnet18", "mobilenet", "transformer")
OPSET = 17
INPUT, OUTPUT = "input", "output"

# transformer block sizes
SEQ, DIM, HEADS, FFN = 64, 128, 4, 512


def input_shape(name: str, batch: int) -> tuple[int, ...]:
    """The static input shape of model `name` at batch size `batch`."""
    shapes = {
        "mlp": (batch, 784),
        "lenet": (batch, 1, 28, 28),
        "resnet18": (batch, 3, 224, 224),
        "mobilenet": (batch, 3, 112, 112),
        "transformer": (batch, SEQ, DIM),
    }
    if name not in shapes:
        raise ValueError(f"unknown model '{name}' (known: {', '.join(MODELS)})")
    return shapes[name]


def sample_input(name: str, batch: int, seed: int = 1) -> np.ndarray:
    """A fixed-seed standard normal input for model `name`."""
    return np.random.default_rng(seed).standard_normal(input_shape(name, batch)).astype(np.float32)


# ============================================================================= onnx.helper builder
class _Graph:
    """A tiny graph writer: initializers from a seeded generator, nodes with fresh names."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self.count: dict[str, int] = {}

    def _fresh(self, hint: str) -> str:
        k = self.count.get(hint, 0)
        self.count[hint] = k + 1
        return f"{hint}_{k}"

    def const(self, hint: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        name = self._fresh(hint)
        self.inits.append(numpy_helper.from_array(np.asarray(value, order="C"), name))
        return name

    def node(self, op: str, inputs: list[str], outputs: int = 1, name: str | None = None, **attrs: Any) -> Any:
        from onnx import helper

        node_name = name or self._fresh(op)
        outs = [f"{node_name}_out{k}" if outputs > 1 else f"{node_name}_out" for k in range(outputs)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=node_name, **attrs))
        return outs if outputs > 1 else outs[0]

    # ---- weights (PyTorch's default initializations, so activations stay O(1))
    def _uniform(self, bound: float, shape: tuple[int, ...]) -> np.ndarray:
        return self.rng.uniform(-bound, bound, shape).astype(np.float32)

    def conv(self, x: str, cin: int, cout: int, k: int, stride: int = 1, pad: int = 0, group: int = 1, bias=True):
        fan_in = cin // group * k * k
        w = self.const("conv.weight", self._uniform(1 / np.sqrt(fan_in), (cout, cin // group, k, k)))
        inputs = [x, w]
        if bias:
            inputs.append(self.const("conv.bias", self._uniform(1 / np.sqrt(fan_in), (cout,))))
        return self.node(
            "Conv",
            inputs,
            kernel_shape=[k, k],
            strides=[stride, stride],
            pads=[pad] * 4,
            dilations=[1, 1],
            group=group,
        )

    def bn(self, x: str, c: int) -> str:
        """BatchNormalization with trained-looking statistics (not the identity)."""
        scale = self.rng.uniform(0.5, 1.5, c).astype(np.float32)
        bias = (0.1 * self.rng.standard_normal(c)).astype(np.float32)
        mean = (0.1 * self.rng.standard_normal(c)).astype(np.float32)
        var = self.rng.uniform(0.5, 1.5, c).astype(np.float32)
        names = [self.const(f"bn.{n}", a) for n, a in zip(("weight", "bias", "mean", "var"), (scale, bias, mean, var))]
        return self.node("BatchNormalization", [x, *names], epsilon=1e-5, momentum=0.9)

    def gemm(self, x: str, fin: int, fout: int) -> str:
        """nn.Linear on a matrix, as the exporter writes it: Gemm with transB = 1."""
        bound = 1 / np.sqrt(fin)
        w = self.const("fc.weight", self._uniform(bound, (fout, fin)))
        b = self.const("fc.bias", self._uniform(bound, (fout,)))
        return self.node("Gemm", [x, w, b], alpha=1.0, beta=1.0, transB=1)

    def linear(self, x: str, fin: int, fout: int) -> str:
        """nn.Linear on a rank-3 tensor: MatMul with the transposed weight, then Add."""
        bound = 1 / np.sqrt(fin)
        w = self.const("linear.weight", self._uniform(bound, (fin, fout)))
        b = self.const("linear.bias", self._uniform(bound, (fout,)))
        return self.node("Add", [self.node("MatMul", [x, w]), b])

    def relu6(self, x: str) -> str:
        lo = self.const("clip.min", np.array(0.0, np.float32))
        hi = self.const("clip.max", np.array(6.0, np.float32))
        return self.node("Clip", [x, lo, hi])

    def model(self, in_shape: tuple[int, ...], out: str, out_shape: tuple[int, ...], graph_name: str) -> Any:
        from onnx import TensorProto, helper

        self.nodes.append(helper.make_node("Identity", [out], [OUTPUT], name="output_identity"))
        graph = helper.make_graph(
            self.nodes,
            graph_name,
            [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, list(in_shape))],
            [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, list(out_shape))],
            self.inits,
        )
        model = helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="gir export_models.py"
        )
        model.ir_version = 8
        return model


def _onnx_mlp(g: _Graph, batch: int) -> tuple[str, tuple[int, ...]]:
    h = g.node("Relu", [g.gemm(INPUT, 784, 512)])
    h = g.node("Relu", [g.gemm(h, 512, 256)])
    return g.gemm(h, 256, 10), (batch, 10)


def _onnx_lenet(g: _Graph, batch: int) -> tuple[str, tuple[int, ...]]:
    h = g.node("Relu", [g.conv(INPUT, 1, 6, 5, pad=2)])
    h = g.node("MaxPool", [h], kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 0, 0], ceil_mode=0)
    h = g.node("Relu", [g.conv(h, 6, 16, 5)])
    h = g.node("AveragePool", [h], kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 0, 0], ceil_mode=0)
    h = g.node("Flatten", [h], axis=1)
    h = g.node("Relu", [g.gemm(h, 400, 120)])
    h = g.node("Relu", [g.gemm(h, 120, 84)])
    return g.gemm(h, 84, 10), (batch, 10)


def _onnx_resnet18(g: _Graph, batch: int) -> tuple[str, tuple[int, ...]]:
    h = g.node("Relu", [g.bn(g.conv(INPUT, 3, 64, 7, stride=2, pad=3, bias=False), 64)])
    h = g.node("MaxPool", [h], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=0)
    cin = 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        for block in range(2):
            s = stride if block == 0 else 1
            y = g.node("Relu", [g.bn(g.conv(h, cin, cout, 3, stride=s, pad=1, bias=False), cout)])
            y = g.bn(g.conv(y, cout, cout, 3, pad=1, bias=False), cout)
            skip = h if (s == 1 and cin == cout) else g.bn(g.conv(h, cin, cout, 1, stride=s, bias=False), cout)
            h = g.node("Relu", [g.node("Add", [y, skip])])
            cin = cout
    h = g.node("Flatten", [g.node("GlobalAveragePool", [h])], axis=1)
    return g.gemm(h, 512, 1000), (batch, 1000)


MOBILENET_BLOCKS = ((32, 32, 1), (32, 64, 2), (64, 64, 1))  # (in, out, stride), expansion 6


def _onnx_mobilenet(g: _Graph, batch: int) -> tuple[str, tuple[int, ...]]:
    h = g.relu6(g.bn(g.conv(INPUT, 3, 32, 3, stride=2, pad=1, bias=False), 32))
    for cin, cout, stride in MOBILENET_BLOCKS:
        mid = 6 * cin
        y = g.relu6(g.bn(g.conv(h, cin, mid, 1, bias=False), mid))
        y = g.relu6(g.bn(g.conv(y, mid, mid, 3, stride=stride, pad=1, group=mid, bias=False), mid))
        y = g.bn(g.conv(y, mid, cout, 1, bias=False), cout)
        h = g.node("Add", [h, y]) if (stride == 1 and cin == cout) else y
    h = g.relu6(g.bn(g.conv(h, 64, 256, 1, bias=False), 256))
    h = g.node("Flatten", [g.node("GlobalAveragePool", [h])], axis=1)
    return g.gemm(h, 256, 100), (batch, 100)


def _onnx_transformer(g: _Graph, batch: int) -> tuple[str, tuple[int, ...]]:
    dh = DIM // HEADS

    def layer_norm(x: str) -> str:
        scale = g.const("ln.weight", g.rng.uniform(0.5, 1.5, DIM).astype(np.float32))
        bias = g.const("ln.bias", (0.1 * g.rng.standard_normal(DIM)).astype(np.float32))
        return g.node("LayerNormalization", [x, scale, bias], axis=-1, epsilon=1e-5)

    def heads(x: str) -> str:  # [B, S, D] -> [B, H, S, dh]
        shape = g.const("shape", np.array([batch, SEQ, HEADS, dh], np.int64))
        return g.node("Transpose", [g.node("Reshape", [x, shape])], perm=[0, 2, 1, 3])

    h = layer_norm(INPUT)
    q, k, v = (heads(g.linear(h, DIM, DIM)) for _ in range(3))
    scores = g.node("MatMul", [q, g.node("Transpose", [k], perm=[0, 1, 3, 2])])
    scores = g.node("Mul", [scores, g.const("scale", np.array(1 / np.sqrt(dh), np.float32))])
    attn = g.node("Softmax", [scores], axis=-1)
    o = g.node("Transpose", [g.node("MatMul", [attn, v])], perm=[0, 2, 1, 3])
    # [B, S, D] from the input's own shape, as exporters that trace `x.shape` write it
    dims = g.node("Shape", [INPUT])
    b, s = (
        g.node(
            "Unsqueeze",
            [
                g.node("Gather", [dims, g.const("index", np.array(i, np.int64))], axis=0),
                g.const("axes", np.array([0], np.int64)),
            ],
        )
        for i in (0, 1)
    )
    o = g.node("Reshape", [o, g.node("Concat", [b, s, g.const("dim", np.array([DIM], np.int64))], axis=0)])
    x = g.node("Add", [INPUT, g.linear(o, DIM, DIM)])
    # GELU exactly as the opset-17 exporter writes it: x * 0.5 * (1 + erf(x / sqrt 2))
    f = g.linear(layer_norm(x), DIM, FFN)
    e = g.node("Erf", [g.node("Div", [f, g.const("sqrt2", np.array(np.sqrt(2), np.float32))])])
    e = g.node("Add", [e, g.const("one", np.array(1.0, np.float32))])
    f = g.node("Mul", [g.node("Mul", [f, e]), g.const("half", np.array(0.5, np.float32))])
    return g.node("Add", [x, g.linear(f, FFN, DIM)]), (batch, SEQ, DIM)


_ONNX_BUILDERS: dict[str, Callable[[_Graph, int], tuple[str, tuple[int, ...]]]] = {
    "mlp": _onnx_mlp,
    "lenet": _onnx_lenet,
    "resnet18": _onnx_resnet18,
    "mobilenet": _onnx_mobilenet,
    "transformer": _onnx_transformer,
}


def build_onnx(name: str, batch: int = 1, seed: int = 0) -> Any:
    """Model `name` written with onnx.helper (random weights from `seed`): an onnx.ModelProto."""
    import onnx

    in_shape = input_shape(name, batch)
    g = _Graph(seed)
    out, out_shape = _ONNX_BUILDERS[name](g, batch)
    model = g.model(in_shape, out, out_shape, name)
    onnx.checker.check_model(model)
    return model


# ============================================================================= PyTorch builder
def torch_module(name: str, seed: int = 0) -> Any:
    """Model `name` as a PyTorch module in eval mode (weights from `torch.manual_seed(seed)`;
    BatchNorm statistics randomized so that the normalization is not the identity)."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    class MLP(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1, self.fc2, self.fc3 = nn.Linear(784, 512), nn.Linear(512, 256), nn.Linear(256, 10)

        def forward(self, x):
            return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))

    class LeNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1, self.conv2 = nn.Conv2d(1, 6, 5, padding=2), nn.Conv2d(6, 16, 5)
            self.fc1, self.fc2, self.fc3 = nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, 10)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv1(x)), 2)
            x = F.avg_pool2d(F.relu(self.conv2(x)), 2)
            x = torch.flatten(x, 1)
            return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))

    class BasicBlock(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.down = None
            if stride != 1 or cin != cout:
                self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
            return F.relu(y + (x if self.down is None else self.down(x)))

    class ResNet18(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.pool = nn.MaxPool2d(3, 2, 1)
            blocks, cin = [], 64
            for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
                blocks += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
                cin = cout
            self.layers = nn.Sequential(*blocks)
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(512, 1000)

        def forward(self, x):
            x = self.layers(self.pool(F.relu(self.bn1(self.conv1(x)))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    class InvertedResidual(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            mid = 6 * cin
            self.residual = stride == 1 and cin == cout
            self.body = nn.Sequential(
                nn.Conv2d(cin, mid, 1, bias=False),
                nn.BatchNorm2d(mid),
                nn.ReLU6(),
                nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False),
                nn.BatchNorm2d(mid),
                nn.ReLU6(),
                nn.Conv2d(mid, cout, 1, bias=False),
                nn.BatchNorm2d(cout),
            )

        def forward(self, x):
            return x + self.body(x) if self.residual else self.body(x)

    class MobileNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU6())
            self.blocks = nn.Sequential(*(InvertedResidual(*b) for b in MOBILENET_BLOCKS))
            self.head = nn.Sequential(nn.Conv2d(64, 256, 1, bias=False), nn.BatchNorm2d(256), nn.ReLU6())
            self.fc = nn.Linear(256, 100)

        def forward(self, x):
            x = self.head(self.blocks(self.stem(x)))
            return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))

    class EncoderBlock(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(DIM), nn.LayerNorm(DIM)
            self.q, self.k, self.v, self.proj = (nn.Linear(DIM, DIM) for _ in range(4))
            self.fc1, self.fc2 = nn.Linear(DIM, FFN), nn.Linear(FFN, DIM)

        def forward(self, x):
            b, s, d = x.shape  # traced: Shape / Gather chains that the importer folds
            dh = d // HEADS
            h = self.ln1(x)
            q, k, v = (m(h).reshape(b, s, HEADS, dh).transpose(1, 2) for m in (self.q, self.k, self.v))
            attn = torch.softmax((q @ k.transpose(-2, -1)) * dh**-0.5, dim=-1)
            o = (attn @ v).transpose(1, 2).reshape(b, s, d)
            x = x + self.proj(o)
            return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))

    classes = {
        "mlp": MLP,
        "lenet": LeNet,
        "resnet18": ResNet18,
        "mobilenet": MobileNet,
        "transformer": EncoderBlock,
    }
    if name not in classes:
        raise ValueError(f"unknown model '{name}' (known: {', '.join(MODELS)})")
    torch.manual_seed(seed)
    module = classes[name]()
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d | nn.LayerNorm):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.1)
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0.0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return module.eval()


def export_torch(name: str, path: str | Path, batch: int = 1, seed: int = 0) -> Any:
    """Exports `torch_module(name, seed)` at batch `batch` to `path`; returns the onnx.ModelProto."""
    import warnings

    import onnx
    import torch

    module = torch_module(name, seed)
    x = torch.from_numpy(sample_input(name, batch))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notices
        torch.onnx.export(
            module,
            (x,),
            str(path),
            dynamo=False,  # the TorchScript exporter (the dynamo one needs onnxscript)
            opset_version=OPSET,
            input_names=[INPUT],
            output_names=[OUTPUT],
            do_constant_folding=False,  # keeps BatchNormalization nodes
        )
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    return model


def count_ops(model: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for node in model.graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts


def run_ort(model: Any, x: np.ndarray, threads: int = 1) -> np.ndarray:
    """The model's output under ONNX Runtime (CPU, `threads` intra-op threads)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    data = model if isinstance(model, bytes | str) else model.SerializeToString()
    sess = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
    return sess.run([OUTPUT], {INPUT: x})[0]


def write(name: str, out_dir: str | Path, batch: int = 1, builder: str = "onnx", seed: int = 0) -> Path:
    """Builds model `name` with `builder` and writes `<out_dir>/<name>_b<batch>[_torch].onnx`."""
    import onnx

    suffix = "_torch" if builder == "torch" else ""
    path = Path(out_dir) / f"{name}_b{batch}{suffix}.onnx"
    if builder == "torch":
        export_torch(name, path, batch, seed)
    elif builder == "onnx":
        onnx.save(build_onnx(name, batch, seed), str(path))
    else:
        raise ValueError(f"unknown builder '{builder}' (torch or onnx)")
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="folder for the .onnx files")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--builder", choices=("torch", "onnx"), default="torch")
    ap.add_argument("--only", default=None, help="comma-separated model names (default: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--check", action="store_true", help="run each model in ONNX Runtime (and PyTorch)")
    args = ap.parse_args(argv)
    names = args.only.split(",") if args.only else list(MODELS)
    for name in names:
        if name not in MODELS:
            ap.error(f"unknown model '{name}' (known: {', '.join(MODELS)})")
    if args.builder == "torch" and importlib.util.find_spec("torch") is None:
        ap.error("--builder torch needs PyTorch (pip install /opt/wheels/torch-*+cpu-*.whl); --builder onnx does not")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    import onnx

    for name in names:
        path = write(name, args.out, args.batch, args.builder, args.seed)
        model = onnx.load(str(path))
        ops = ", ".join(f"{k} {v}" for k, v in sorted(count_ops(model).items()))
        print(f"{path}: {len(model.graph.node)} nodes ({ops})")
        if args.check:
            x = sample_input(name, args.batch)
            y = run_ort(model, x)
            line = f"  onnxruntime: output {tuple(y.shape)}, max |y| {np.abs(y).max():.4g}"
            if args.builder == "torch":
                import torch

                with torch.no_grad():
                    ref = torch_module(name, args.seed)(torch.from_numpy(x)).numpy()
                line += f", max |ort - torch| {np.abs(y - ref).max():.3g}"
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
