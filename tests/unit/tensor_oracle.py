"""An independent oracle for the tensor dialect's semantics (ONNX's, in snake_case).

Every function here restates one op from its definition, the slow and obvious way: loops
over output positions with explicit index arithmetic, per-element `math` functions computed
in float64, and window sums written out tap by tap. Nothing calls the implementation under
test, and the vectorized numpy one would write for it (np.pad, np.transpose, np.take, ...)
is avoided on purpose, so that a shared misunderstanding is unlikely to hide a bug.

Each function takes numpy arrays and plain Python attribute values and returns a list of
arrays with the dtypes the op's result types call for. `*_shape` helpers give the result
shapes, which the tests use to write the expected result types into the .gir text.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import numpy as np

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)


# ----------------------------------------------------------------------------- indexing helpers
def positions(shape: Sequence[int]):
    """Every index of `shape` in row-major order (one empty index for rank 0)."""
    return itertools.product(*(range(d) for d in shape))


def norm_axis(axis: int, rank: int) -> int:
    return axis + rank if axis < 0 else axis


def broadcast_shape(*shapes: Sequence[int]) -> tuple[int, ...]:
    """numpy's rule, written out: align right, a dim of 1 stretches, others must agree."""
    rank = max(len(s) for s in shapes)
    out = []
    for i in range(rank):
        dims = {s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0}
        dims.discard(1)
        assert len(dims) <= 1, f"shapes {shapes} do not broadcast"
        out.append(dims.pop() if dims else 1)
    return tuple(out)


def source_index(out_index: Sequence[int], shape: Sequence[int]) -> tuple[int, ...]:
    """The element of an operand of `shape` that broadcasting sends to `out_index`."""
    offset = len(out_index) - len(shape)
    return tuple(0 if shape[k] == 1 else out_index[offset + k] for k in range(len(shape)))


def _elementwise(fn: Callable, arrays: Sequence[np.ndarray], dtype) -> np.ndarray:
    shape = broadcast_shape(*(a.shape for a in arrays))
    out = np.empty(shape, dtype=dtype)
    for idx in positions(shape):
        out[idx] = fn(*(a[source_index(idx, a.shape)] for a in arrays))
    return out


# ----------------------------------------------------------------------------- elementwise binary
def _trunc_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def binary(op: str, a: np.ndarray, b: np.ndarray) -> list[np.ndarray]:
    """add sub mul div pow max min, broadcasting; ints exact, floats in the operand dtype."""
    dtype = a.dtype
    if dtype.kind in "iu":
        fns = {
            "add": lambda x, y: int(x) + int(y),
            "sub": lambda x, y: int(x) - int(y),
            "mul": lambda x, y: int(x) * int(y),
            "div": lambda x, y: _trunc_div(int(x), int(y)),
            "max": lambda x, y: max(int(x), int(y)),
            "min": lambda x, y: min(int(x), int(y)),
        }
        bits = dtype.itemsize * 8

        def wrapped(x, y):  # two's complement wrap, as ONNX's integer arithmetic does
            v = fns[op](x, y) & ((1 << bits) - 1)
            return v - (1 << bits) if v >= 1 << (bits - 1) else v

        return [_elementwise(wrapped, [a, b], dtype)]
    fns = {
        "add": lambda x, y: float(x) + float(y),
        "sub": lambda x, y: float(x) - float(y),
        "mul": lambda x, y: float(x) * float(y),
        "div": lambda x, y: float(x) / float(y),
        "pow": lambda x, y: math.pow(float(x), float(y)),
        "max": lambda x, y: max(float(x), float(y)),
        "min": lambda x, y: min(float(x), float(y)),
    }
    return [_elementwise(fns[op], [a, b], dtype)]


def compare(op: str, a: np.ndarray, b: np.ndarray) -> list[np.ndarray]:
    fns = {
        "equal": lambda x, y: x == y,
        "less": lambda x, y: x < y,
        "less_or_equal": lambda x, y: x <= y,
        "greater": lambda x, y: x > y,
        "greater_or_equal": lambda x, y: x >= y,
    }
    return [_elementwise(lambda x, y: bool(fns[op](x.item(), y.item())), [a, b], np.bool_)]


def where(cond: np.ndarray, x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    return [_elementwise(lambda c, p, q: p if c else q, [cond, x, y], x.dtype)]


# ----------------------------------------------------------------------------- elementwise unary
SELU_ALPHA = 1.67326319217681884765625
SELU_GAMMA = 1.05070102214813232421875


def _softplus(x: float) -> float:
    return x + math.log1p(math.exp(-x)) if x > 0 else math.log1p(math.exp(x))


def _gelu_tanh(x: float) -> float:
    return 0.5 * x * (1.0 + math.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def scalar_function(op: str, attrs: dict) -> Callable[[float], float]:
    """The float64 function of a unary op with its attributes."""
    alpha = attrs.get("alpha")
    if op == "leaky_relu":
        a = 0.01 if alpha is None else alpha
        return lambda x: x if x >= 0 else a * x
    if op == "elu":
        a = 1.0 if alpha is None else alpha
        return lambda x: x if x > 0 else a * (math.exp(x) - 1.0)
    if op == "selu":
        a = SELU_ALPHA if alpha is None else alpha
        g = attrs.get("gamma", SELU_GAMMA)
        return lambda x: g * x if x > 0 else g * a * (math.exp(x) - 1.0)
    if op == "hard_sigmoid":
        a = 0.2 if alpha is None else alpha
        b = attrs.get("beta", 0.5)
        return lambda x: max(0.0, min(1.0, a * x + b))
    if op == "gelu":
        if attrs.get("approximate", "none") == "tanh":
            return _gelu_tanh
        return lambda x: 0.5 * x * (1.0 + math.erf(x / math.sqrt(2.0)))
    if op == "clip":
        lo, hi = attrs.get("min"), attrs.get("max")
        return lambda x: min(max(x, -math.inf if lo is None else lo), math.inf if hi is None else hi)
    table: dict[str, Callable[[float], float]] = {
        "neg": lambda x: -x,
        "abs": abs,
        "exp": math.exp,
        "log": math.log,
        "sqrt": math.sqrt,
        "rsqrt": lambda x: 1.0 / math.sqrt(x),
        "erf": math.erf,
        "relu": lambda x: x if x > 0 else 0.0 * x,
        "sigmoid": lambda x: 1.0 / (1.0 + math.exp(-x)),
        "tanh": math.tanh,
        "softplus": _softplus,
    }
    return table[op]


def unary(op: str, x: np.ndarray, attrs: dict | None = None) -> list[np.ndarray]:
    attrs = attrs or {}
    out = np.empty(x.shape, dtype=x.dtype)
    if x.dtype.kind in "iu":
        int_fns: dict[str, Callable[[int], int]] = {"neg": lambda v: -v, "abs": abs, "relu": lambda v: max(v, 0)}
        if op == "clip":
            lo, hi = attrs.get("min"), attrs.get("max")
            int_fns["clip"] = lambda v: (v if lo is None or v >= lo else lo) if hi is None or v <= hi else hi
        for idx in positions(x.shape):
            out[idx] = int_fns[op](int(x[idx]))
        return [out]
    fn = scalar_function(op, attrs)
    for idx in positions(x.shape):
        out[idx] = fn(float(x[idx]))
    return [out]


# ----------------------------------------------------------------------------- matmul, gemm
def matmul(a: np.ndarray, b: np.ndarray) -> list[np.ndarray]:
    """numpy.matmul: 1-D operands are promoted (then the added dim removed), batch dims broadcast."""
    a2 = a.reshape((1, a.shape[0])) if a.ndim == 1 else a
    b2 = b.reshape((b.shape[0], 1)) if b.ndim == 1 else b
    batch = broadcast_shape(a2.shape[:-2], b2.shape[:-2])
    m, k, n = a2.shape[-2], a2.shape[-1], b2.shape[-1]
    assert b2.shape[-2] == k
    out = np.empty((*batch, m, n), dtype=a.dtype)
    for bidx in positions(batch):
        ai = source_index(bidx, a2.shape[:-2])
        bi = source_index(bidx, b2.shape[:-2])
        for i, j in positions((m, n)):
            out[(*bidx, i, j)] = math.fsum(float(a2[(*ai, i, t)]) * float(b2[(*bi, t, j)]) for t in range(k))
    shape = list(out.shape)
    if b.ndim == 1:
        shape.pop(-1)
    if a.ndim == 1:
        shape.pop(-2 if b.ndim != 1 else -1)
    return [out.reshape(shape)]


def matmul_shape(a: Sequence[int], b: Sequence[int]) -> tuple[int, ...]:
    a2 = (1, a[0]) if len(a) == 1 else tuple(a)
    b2 = (b[0], 1) if len(b) == 1 else tuple(b)
    shape = [*broadcast_shape(a2[:-2], b2[:-2]), a2[-2], b2[-1]]
    if len(b) == 1:
        shape.pop(-1)
    if len(a) == 1:
        shape.pop(-2 if len(b) != 1 else -1)
    return tuple(shape)


def gemm(
    a: np.ndarray, b: np.ndarray, c: np.ndarray | None, trans_a: int, trans_b: int, alpha: float, beta: float
) -> list[np.ndarray]:
    m = a.shape[1] if trans_a else a.shape[0]
    k = a.shape[0] if trans_a else a.shape[1]
    n = b.shape[0] if trans_b else b.shape[1]
    out = np.empty((m, n), dtype=a.dtype)
    for i, j in positions((m, n)):
        acc = math.fsum(
            float(a[t, i] if trans_a else a[i, t]) * float(b[j, t] if trans_b else b[t, j]) for t in range(k)
        )
        value = alpha * acc
        if c is not None:
            value += beta * float(c[source_index((i, j), c.shape)])
        out[i, j] = value
    return [out]


# ----------------------------------------------------------------------------- convolution
def conv_out_size(size: int, kernel: int, stride: int, pad_begin: int, pad_end: int, dilation: int) -> int:
    extent = dilation * (kernel - 1) + 1
    return (size + pad_begin + pad_end - extent) // stride + 1


def conv2d(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    strides: Sequence[int],
    pads: Sequence[int],
    dilations: Sequence[int],
    group: int,
) -> list[np.ndarray]:
    """Y[n, m, oh, ow] = B[m] + sum over the group's channels and the kernel taps that land
    inside X (taps in the padding contribute zero)."""
    n_, c_, h, w_in = x.shape
    m_, cg, kh_, kw_ = w.shape
    oh_ = conv_out_size(h, kh_, strides[0], pads[0], pads[2], dilations[0])
    ow_ = conv_out_size(w_in, kw_, strides[1], pads[1], pads[3], dilations[1])
    per_group = m_ // group
    out = np.empty((n_, m_, oh_, ow_), dtype=x.dtype)
    for n, m, oh, ow in positions(out.shape):
        g = m // per_group
        terms = [] if b is None else [float(b[m])]
        for c, kh, kw in positions((cg, kh_, kw_)):
            ih = oh * strides[0] - pads[0] + kh * dilations[0]
            iw = ow * strides[1] - pads[1] + kw * dilations[1]
            if 0 <= ih < h and 0 <= iw < w_in:
                terms.append(float(x[n, g * cg + c, ih, iw]) * float(w[m, c, kh, kw]))
        out[n, m, oh, ow] = math.fsum(terms)
    assert c_ == cg * group
    return [out]


def conv_transpose_out_size(
    size: int, kernel: int, stride: int, pad_begin: int, pad_end: int, dilation: int, output_padding: int
) -> int:
    return stride * (size - 1) + output_padding + (kernel - 1) * dilation + 1 - pad_begin - pad_end


def conv_transpose2d(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    strides: Sequence[int],
    pads: Sequence[int],
    dilations: Sequence[int],
    group: int,
    output_padding: Sequence[int],
) -> list[np.ndarray]:
    """The scatter form: every input element adds x * w into the outputs its taps reach,
    output position = input position * stride + tap * dilation - pad_begin."""
    n_, c_, h, w_in = x.shape
    _, mg, kh_, kw_ = w.shape
    cg = c_ // group
    oh_ = conv_transpose_out_size(h, kh_, strides[0], pads[0], pads[2], dilations[0], output_padding[0])
    ow_ = conv_transpose_out_size(w_in, kw_, strides[1], pads[1], pads[3], dilations[1], output_padding[1])
    acc: dict[tuple[int, ...], list[float]] = {idx: [] for idx in positions((n_, mg * group, oh_, ow_))}
    for n, c, ih, iw in positions(x.shape):
        g = c // cg
        for mm, kh, kw in positions((mg, kh_, kw_)):
            oh = ih * strides[0] + kh * dilations[0] - pads[0]
            ow = iw * strides[1] + kw * dilations[1] - pads[1]
            if 0 <= oh < oh_ and 0 <= ow < ow_:
                acc[(n, g * mg + mm, oh, ow)].append(float(x[n, c, ih, iw]) * float(w[c, mm, kh, kw]))
    out = np.empty((n_, mg * group, oh_, ow_), dtype=x.dtype)
    for idx, terms in acc.items():
        out[idx] = math.fsum(terms) + (0.0 if b is None else float(b[idx[1]]))
    return [out]


# ----------------------------------------------------------------------------- pooling
def pool_out_size(size: int, kernel: int, stride: int, pad_begin: int, pad_end: int, dilation: int, ceil: int) -> int:
    """ONNX: floor or ceil of (padded - extent) / stride, plus one; in ceil mode a last
    window that would start past the input and the left padding is dropped."""
    extent = dilation * (kernel - 1) + 1
    span = size + pad_begin + pad_end - extent
    out = (-(-span // stride) if ceil else span // stride) + 1
    if ceil and (out - 1) * stride >= size + pad_begin:
        out -= 1
    return out


def pool2d(
    kind: str,
    x: np.ndarray,
    kernel_shape: Sequence[int],
    strides: Sequence[int],
    pads: Sequence[int],
    dilations: Sequence[int],
    ceil_mode: int,
    count_include_pad: int = 0,
) -> list[np.ndarray]:
    """max: the largest tap inside X. avg: the sum of the taps inside X, divided by the
    taps inside X (count_include_pad=0) or inside the padded extent [-pad_begin, size +
    pad_end) (count_include_pad=1; taps past the padding, which ceil mode can create, never
    count)."""
    n_, c_, h, w_in = x.shape
    oh_ = pool_out_size(h, kernel_shape[0], strides[0], pads[0], pads[2], dilations[0], ceil_mode)
    ow_ = pool_out_size(w_in, kernel_shape[1], strides[1], pads[1], pads[3], dilations[1], ceil_mode)
    out = np.empty((n_, c_, oh_, ow_), dtype=x.dtype)
    for n, c, oh, ow in positions(out.shape):
        inside: list[float] = []
        padded_taps = 0
        for kh, kw in positions(kernel_shape):
            ih = oh * strides[0] - pads[0] + kh * dilations[0]
            iw = ow * strides[1] - pads[1] + kw * dilations[1]
            if -pads[0] <= ih < h + pads[2] and -pads[1] <= iw < w_in + pads[3]:
                padded_taps += 1
            if 0 <= ih < h and 0 <= iw < w_in:
                inside.append(float(x[n, c, ih, iw]))
        if kind == "max":
            out[n, c, oh, ow] = max(inside)
        else:
            out[n, c, oh, ow] = math.fsum(inside) / (padded_taps if count_include_pad else len(inside))
    return [out]


def global_pool(kind: str, x: np.ndarray) -> list[np.ndarray]:
    n_, c_ = x.shape[:2]
    out = np.empty((n_, c_, 1, 1), dtype=x.dtype)
    for n, c in positions((n_, c_)):
        values = [float(x[(n, c, *s)]) for s in positions(x.shape[2:])]
        out[n, c, 0, 0] = max(values) if kind == "max" else math.fsum(values) / len(values)
    return [out]


# ----------------------------------------------------------------------------- reductions
def reduce_shape(shape: Sequence[int], axes: Sequence[int] | None, keepdims: int) -> tuple[int, ...]:
    rank = len(shape)
    red = set(range(rank)) if axes is None else {norm_axis(a, rank) for a in axes}
    if keepdims:
        return tuple(1 if i in red else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in red)


def reduce(kind: str, x: np.ndarray, axes: Sequence[int] | None, keepdims: int) -> list[np.ndarray]:
    rank = x.ndim
    red = sorted(set(range(rank)) if axes is None else {norm_axis(a, rank) for a in axes})
    kept = [i for i in range(rank) if i not in red]
    groups: dict[tuple[int, ...], list] = {}
    for idx in positions(x.shape):
        key = tuple(idx[i] for i in kept)
        groups.setdefault(key, []).append(x[idx].item())
    folds: dict[str, Callable[[list], float]] = {
        "sum": math.fsum,
        "mean": lambda v: math.fsum(v) / len(v),
        "max": max,
        "min": min,
        "prod": math.prod,
    }
    if x.dtype.kind in "iu":
        folds["sum"] = sum
    out = np.empty(reduce_shape(x.shape, axes, keepdims), dtype=x.dtype)
    for key, values in groups.items():
        if keepdims:
            full = [0] * rank
            for pos, i in enumerate(kept):
                full[i] = key[pos]
            key = tuple(full)
        out[key] = folds[kind](values)
    return [out]


def argmax(x: np.ndarray, axis: int, keepdims: int, select_last_index: int) -> list[np.ndarray]:
    axis = norm_axis(axis, x.ndim)
    out_shape = tuple(1 if i == axis else d for i, d in enumerate(x.shape))
    out = np.empty(out_shape, dtype=np.int64)
    for idx in positions(out_shape):
        best, best_i = None, 0
        for i in range(x.shape[axis]):
            v = x[(*idx[:axis], i, *idx[axis + 1 :])].item()
            if best is None or v > best or (select_last_index and v == best):
                best, best_i = v, i
        out[idx] = best_i
    if not keepdims:
        out = out.reshape(tuple(d for i, d in enumerate(x.shape) if i != axis))
    return [out]


# ----------------------------------------------------------------------------- normalization
def _lines(shape: Sequence[int], axis: int):
    """For each position with `axis` left out, the list of indices along `axis`."""
    others = [d if i != axis else 1 for i, d in enumerate(shape)]
    for idx in positions(others):
        yield [(*idx[:axis], i, *idx[axis + 1 :]) for i in range(shape[axis])]


def softmax(x: np.ndarray, axis: int, log: bool = False) -> list[np.ndarray]:
    axis = norm_axis(axis, x.ndim)
    out = np.empty(x.shape, dtype=x.dtype)
    for line in _lines(x.shape, axis):
        values = [float(x[i]) for i in line]
        top = max(values)
        total = math.fsum(math.exp(v - top) for v in values)
        for i, v in zip(line, values, strict=True):
            out[i] = (v - top - math.log(total)) if log else math.exp(v - top) / total
    return [out]


def batch_norm(x, scale, bias, mean, var, epsilon: float) -> list[np.ndarray]:
    out = np.empty(x.shape, dtype=x.dtype)
    for idx in positions(x.shape):
        c = idx[1]
        out[idx] = (float(x[idx]) - float(mean[c])) / math.sqrt(float(var[c]) + epsilon) * float(scale[c]) + float(
            bias[c]
        )
    return [out]


def layer_norm(x, scale, bias, axis: int, epsilon: float) -> list[np.ndarray]:
    axis = norm_axis(axis, x.ndim)
    outer, inner = x.shape[:axis], x.shape[axis:]
    out = np.empty(x.shape, dtype=x.dtype)
    for o in positions(outer):
        values = [float(x[(*o, *i)]) for i in positions(inner)]
        mu = math.fsum(values) / len(values)
        var = math.fsum((v - mu) ** 2 for v in values) / len(values)
        for i, v in zip(positions(inner), values, strict=True):
            y = (v - mu) / math.sqrt(var + epsilon) * float(scale[source_index(i, scale.shape)])
            out[(*o, *i)] = y + (float(bias[source_index(i, bias.shape)]) if bias is not None else 0.0)
    return [out]


# ----------------------------------------------------------------------------- layout
def transpose(x: np.ndarray, perm: Sequence[int] | None) -> list[np.ndarray]:
    perm = list(range(x.ndim))[::-1] if perm is None else list(perm)
    out = np.empty(tuple(x.shape[p] for p in perm), dtype=x.dtype)
    for idx in positions(out.shape):
        src = [0] * x.ndim
        for i, p in enumerate(perm):
            src[p] = idx[i]
        out[idx] = x[tuple(src)]
    return [out]


def reshape_shape(shape: Sequence[int], target: Sequence[int]) -> tuple[int, ...]:
    dims = [shape[i] if t == 0 else t for i, t in enumerate(target)]
    if -1 in dims:
        known = math.prod(d for d in dims if d != -1)
        dims[dims.index(-1)] = math.prod(shape) // known
    return tuple(dims)


def relayout(x: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """The elements of x in row-major order, laid into `shape` one by one."""
    flat = [x[idx] for idx in positions(x.shape)]
    out = np.empty(tuple(shape), dtype=x.dtype)
    for k, idx in enumerate(positions(out.shape)):
        out[idx] = flat[k]
    return out


def reshape(x: np.ndarray, target: Sequence[int]) -> list[np.ndarray]:
    return [relayout(x, reshape_shape(x.shape, target))]


def flatten(x: np.ndarray, axis: int) -> list[np.ndarray]:
    axis = norm_axis(axis, x.ndim)
    return [relayout(x, (math.prod(x.shape[:axis]), math.prod(x.shape[axis:])))]


def squeeze_shape(shape: Sequence[int], axes: Sequence[int] | None) -> tuple[int, ...]:
    drop = {i for i, d in enumerate(shape) if d == 1} if axes is None else {norm_axis(a, len(shape)) for a in axes}
    return tuple(d for i, d in enumerate(shape) if i not in drop)


def squeeze(x: np.ndarray, axes: Sequence[int] | None) -> list[np.ndarray]:
    return [relayout(x, squeeze_shape(x.shape, axes))]


def unsqueeze_shape(shape: Sequence[int], axes: Sequence[int]) -> tuple[int, ...]:
    rank = len(shape) + len(axes)
    new = {norm_axis(a, rank) for a in axes}
    rest = iter(shape)
    return tuple(1 if i in new else next(rest) for i in range(rank))


def unsqueeze(x: np.ndarray, axes: Sequence[int]) -> list[np.ndarray]:
    return [relayout(x, unsqueeze_shape(x.shape, axes))]


def broadcast_to(x: np.ndarray, shape: Sequence[int]) -> list[np.ndarray]:
    out_shape = broadcast_shape(x.shape, shape)
    out = np.empty(out_shape, dtype=x.dtype)
    for idx in positions(out_shape):
        out[idx] = x[source_index(idx, x.shape)]
    return [out]


def concat(xs: Sequence[np.ndarray], axis: int) -> list[np.ndarray]:
    axis = norm_axis(axis, xs[0].ndim)
    shape = list(xs[0].shape)
    shape[axis] = sum(a.shape[axis] for a in xs)
    out = np.empty(tuple(shape), dtype=xs[0].dtype)
    offset = 0
    for a in xs:
        for idx in positions(a.shape):
            out[(*idx[:axis], idx[axis] + offset, *idx[axis + 1 :])] = a[idx]
        offset += a.shape[axis]
    return [out]


def split(x: np.ndarray, axis: int, sizes: Sequence[int]) -> list[np.ndarray]:
    axis = norm_axis(axis, x.ndim)
    outs, offset = [], 0
    for size in sizes:
        shape = tuple(size if i == axis else d for i, d in enumerate(x.shape))
        out = np.empty(shape, dtype=x.dtype)
        for idx in positions(shape):
            out[idx] = x[(*idx[:axis], idx[axis] + offset, *idx[axis + 1 :])]
        outs.append(out)
        offset += size
    return outs


def slice_indices(dim: int, start: int, end: int, step: int) -> list[int]:
    """ONNX Slice on one axis: negative starts/ends count from the end, then clamp
    ([0, dim] going forward, [-1, dim - 1] going backward), then walk."""
    start = start + dim if start < 0 else start
    end = end + dim if end < 0 else end
    if step > 0:
        start, end = min(max(start, 0), dim), min(max(end, 0), dim)
    else:
        start, end = min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)
    out, i = [], start
    while (step > 0 and i < end) or (step < 0 and i > end):
        out.append(i)
        i += step
    return out


def slice_(
    x: np.ndarray, starts: Sequence[int], ends: Sequence[int], axes: Sequence[int] | None, steps: Sequence[int] | None
) -> list[np.ndarray]:
    axes = list(range(len(starts))) if axes is None else [norm_axis(a, x.ndim) for a in axes]
    steps = [1] * len(starts) if steps is None else list(steps)
    chosen = [list(range(d)) for d in x.shape]
    for a, s, e, st in zip(axes, starts, ends, steps, strict=True):
        chosen[a] = slice_indices(x.shape[a], s, e, st)
    out = np.empty(tuple(len(c) for c in chosen), dtype=x.dtype)
    for idx in positions(out.shape):
        out[idx] = x[tuple(chosen[k][i] for k, i in enumerate(idx))]
    return [out]


def pad(x: np.ndarray, pads: Sequence[int], mode: str, value: float | int) -> list[np.ndarray]:
    rank = x.ndim
    begins, ends = pads[:rank], pads[rank:]
    out = np.empty(tuple(d + begins[i] + ends[i] for i, d in enumerate(x.shape)), dtype=x.dtype)
    for idx in positions(out.shape):
        src = []
        for k, o in enumerate(idx):
            i, d = o - begins[k], x.shape[k]
            if mode == "edge":
                i = min(max(i, 0), d - 1)
            elif mode == "reflect":
                i = -i if i < 0 else (2 * (d - 1) - i if i >= d else i)
            src.append(i)
        if all(0 <= i < x.shape[k] for k, i in enumerate(src)):
            out[idx] = x[tuple(src)]
        else:
            out[idx] = value
    return [out]


def gather(data: np.ndarray, indices: np.ndarray, axis: int) -> list[np.ndarray]:
    axis = norm_axis(axis, data.ndim)
    shape = (*data.shape[:axis], *indices.shape, *data.shape[axis + 1 :])
    out = np.empty(shape, dtype=data.dtype)
    q = indices.ndim
    for idx in positions(shape):
        j = int(indices[idx[axis : axis + q]])
        j = j + data.shape[axis] if j < 0 else j
        out[idx] = data[(*idx[:axis], j, *idx[axis + q :])]
    return [out]


def cast(x: np.ndarray, dtype) -> list[np.ndarray]:
    """Float to int truncates toward zero; anything to bool is `!= 0`; bool to number is 0/1."""
    dtype = np.dtype(dtype)
    out = np.empty(x.shape, dtype=dtype)
    for idx in positions(x.shape):
        v = x[idx].item()
        if dtype.kind == "b":
            out[idx] = v != 0
        elif dtype.kind in "iu":
            out[idx] = math.trunc(v)
        else:
            out[idx] = float(v)
    return [out]
