"""ONNX import: a model (file, bytes or `onnx.ModelProto`) becomes a module of the tensor dialect.

    module = irc.import_onnx("model.onnx", shapes={"input": (1, 3, 224, 224)})

One `func.func @main`: the graph inputs are its arguments (names sanitized into SSA names; an
argument whose name changed keeps the ONNX name in an `irc.name` argument attribute), the graph
outputs its results (`irc.name` = the ONNX output name), the initializers `tensor.constant`s
(`dense_resource` blobs from 64 KiB on, so that a large model's text parses back fast). Each
op is located at its node's name (`loc("/layer1/Conv")`).

Shapes are static: they come from the graph inputs, or from `shapes` where an input has a
symbolic dimension. Inputs that are attributes in disguise (Reshape's shape, Slice's starts,
Pad's pads, Clip's bounds, the axes of reductions and of Squeeze/Unsqueeze, Split's sizes...)
must be constants, initializers or computable from them: every node whose inputs are all
constant is evaluated at import time with the tensor ops' numpy `reference`, and `Shape` and
`Size` are constants, so the Shape -> Gather -> Unsqueeze -> Concat -> Reshape chains of
exported models fold away.

Ops the dialect lacks are composed from its ops where that is exact (HardSwish, PRelu, Mish,
InstanceNormalization, GroupNormalization, LRN, Tile, DepthToSpace, the L1/L2/LogSumExp
reductions, 1-D convolution and pooling through 2-D ...); Floor, Ceil, Round, Mod and Range
are evaluated only on constants (shape arithmetic). `SUPPORTED_OPS` and `CONSTANT_ONLY_OPS`
list them.

Before building anything the graph is scanned: a model with op types, attribute values or
element types the importer does not handle fails with ONE error that lists all of them, with
node names and counts. Bad files (truncated, not ONNX) fail with one line. Every error is an
`ONNXImportError` (an IRCError: the tools print it and exit 1).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from dialects import tensor as T
from dialects.builtin import ModuleOp
from dialects.func import FuncOp, ReturnOp
from irc.attributes import (
    ArrayAttr,
    Attribute,
    DenseElementsAttr,
    DenseResourceAttr,
    DictionaryAttr,
    FloatAttr,
    IntegerAttr,
    StringAttr,
    TypeAttr,
)
from irc.diagnostics import Diagnostic, IRCError, Severity
from irc.ir import Block, Operation, Value
from irc.location import FileLineColLoc, Location, NameLoc
from irc.types import FloatType, FunctionType, TensorType, Type, f16, f32, f64, i1, i8, i16, i32, i64

# Initializers and folded constants of at least this many bytes become dense_resource blobs.
RESOURCE_BYTES = 64 * 1024
# Nodes with constant inputs are evaluated at import time when their results have at most
# this many elements (larger ones stay ops, so that the import never stalls on huge arrays).
FOLD_ELEMENTS = 1 << 24

# ONNX TensorProto data types the tensor dialect has (the rest are listed as unsupported).
_ELEMENT_TYPES: dict[int, Type] = {1: f32, 3: i8, 5: i16, 6: i32, 7: i64, 9: i1, 10: f16, 11: f64}
_NUMPY_ELEMENT: dict[str, Type] = {
    "float16": f16, "float32": f32, "float64": f64, "bool": i1,
    "int8": i8, "int16": i16, "int32": i32, "int64": i64,
}  # fmt: skip
_DEFAULT_DOMAINS = ("", "ai.onnx")


class ONNXImportError(IRCError):
    """A model the importer cannot read or does not support (one message says everything)."""


def import_onnx(
    model: Any,
    shapes: Mapping[str, Sequence[int]] | None = None,
    *,
    source: str | None = None,
) -> Operation:
    """The tensor-dialect module of an ONNX model: `model` is a path, the file's bytes, or an
    `onnx.ModelProto`. `shapes` fixes the shape of inputs with symbolic dimensions (by ONNX
    input name). `source` names the model in error messages (default: the path)."""
    proto, where = _load(model, source)
    if proto.functions:
        proto = _inline_functions(proto, where)
    return _Importer(proto, where, dict(shapes or {})).run()


# ----------------------------------------------------------------------------- loading
def _error(message: str, source: str) -> ONNXImportError:
    return ONNXImportError(Diagnostic(Severity.ERROR, message, FileLineColLoc(source, 1, 1)))


def _onnx(source: str) -> Any:
    try:
        import onnx
    except ImportError:
        raise _error("importing ONNX models needs the 'onnx' package (pip install 'gir[onnx]')", source) from None
    return onnx


def _load(model: Any, source: str | None) -> tuple[Any, str]:
    """(ModelProto, display name); a located error for anything that is not an ONNX model."""
    where = source or "<onnx>"
    onnx = _onnx(where)
    if isinstance(model, onnx.ModelProto):
        return model, source or "<onnx model>"
    base_dir = ""
    if isinstance(model, str | os.PathLike):
        where = source or os.fspath(model)
        base_dir = os.path.dirname(os.path.abspath(os.fspath(model)))
        try:
            with open(model, "rb") as f:
                data = f.read()
        except OSError as err:
            raise _error(f"could not open input file: {err.strerror or err}", where) from None
    elif isinstance(model, bytes | bytearray | memoryview):
        data = bytes(model)
        where = source or "<onnx bytes>"
    else:
        raise TypeError(f"import_onnx expects a path, bytes or an onnx.ModelProto, got {type(model).__name__}")
    proto = onnx.ModelProto()
    try:
        proto.ParseFromString(data)
    except Exception as err:  # protobuf's DecodeError, and the C++ parser's RuntimeWarning-like errors
        detail = str(err).strip().rstrip(".") or type(err).__name__
        detail = re.sub(r"^Error parsing message( with type '[\w.]+')?: ?", "", detail) or "unreadable"
        raise _error(f"not a valid ONNX file (truncated, or not an ONNX model): {detail}", where) from None
    if not proto.HasField("graph") or not (proto.graph.output or proto.graph.node):
        raise _error("not a valid ONNX file (truncated, or not an ONNX model): it has no graph", where)
    if base_dir and any(_is_external(t) for t in proto.graph.initializer):
        from onnx.external_data_helper import load_external_data_for_model

        try:
            load_external_data_for_model(proto, base_dir)
        except Exception as err:
            raise _error(f"could not load the model's external data: {err}", where) from None
    return proto, where


def _inline_functions(model: Any, source: str) -> Any:
    """The model with its model-local functions (exporters' custom blocks) inlined."""
    from onnx.inliner import inline_local_functions

    try:
        return inline_local_functions(model)
    except Exception as err:
        raise _error(f"could not inline the model's local functions: {err}", source) from None


def _is_external(tensor: Any) -> bool:
    return tensor.data_location == 1  # TensorProto.EXTERNAL


def _dtype_name(data_type: int) -> str:
    onnx = _onnx("<onnx>")
    try:
        return onnx.TensorProto.DataType.Name(data_type).lower()
    except ValueError:
        return f"data type {data_type}"


# ----------------------------------------------------------------------------- names
_BAD_CHARS = re.compile(r"[^A-Za-z0-9_$.\-]")


def sanitize_name(name: str) -> str:
    """An SSA / resource name for an ONNX name: odd characters become '_', never a leading digit."""
    text = _BAD_CHARS.sub("_", name) or "_"
    return "_" + text if text[0].isdigit() or text[0] in "-" else text


class _Names:
    """Unique sanitized names."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def make(self, name: str) -> str:
        base = sanitize_name(name)
        out, k = base, 0
        while out in self.used:
            out = f"{base}_{k}"
            k += 1
        self.used.add(out)
        return out


# ----------------------------------------------------------------------------- scanning
def _node_label(node: Any, index: int) -> str:
    return node.name or f"#{index}"


def _attr_value(attr: Any) -> Any:
    from onnx import helper

    value = helper.get_attribute_value(attr)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, list) and value and isinstance(value[0], bytes):
        return [v.decode("utf-8", errors="replace") for v in value]
    return value


def _attrs(node: Any) -> dict[str, Any]:
    return {a.name: _attr_value(a) for a in node.attribute}


def _unsupported_reason(node: Any, opset: int) -> str | None:
    """Why a node of a known op type cannot be imported (attribute values), or None."""
    check = _CHECKS.get(node.op_type)
    return check(_attrs(node), node, opset) if check is not None else None


def _scan(graph: Any, opset: int, source: str) -> None:
    """One error listing every unsupported op type (with node names and counts) and element type."""
    ops: dict[str, list[str]] = {}
    constant = _constant_names(graph)
    for index, node in enumerate(graph.node):
        label = _node_label(node, index)
        if node.op_type in _CONSTANT_ONLY and not all(name in constant for name in node.input if name):
            ops.setdefault(f"{node.op_type} (on values computed at run time)", []).append(label)
        elif node.domain not in _DEFAULT_DOMAINS:
            ops.setdefault(f"{node.domain}.{node.op_type}", []).append(label)
        elif node.op_type not in _HANDLERS:
            ops.setdefault(node.op_type, []).append(label)
        else:
            reason = _unsupported_reason(node, opset)
            if reason is not None:
                ops.setdefault(f"{node.op_type} ({reason})", []).append(label)
    dtypes = _scan_dtypes(graph)
    if not ops and not dtypes:
        return
    lines = []
    if ops:
        count = sum(len(v) for v in ops.values())
        lines.append(
            f"the model uses {count} node{'s' * (count != 1)} of {len(ops)} op type{'s' * (len(ops) != 1)} "
            "that the importer does not support:"
        )
        for op_type, labels in sorted(ops.items()):
            shown = ", ".join(f"'{n}'" for n in labels[:8])
            more = f", and {len(labels) - 8} more" if len(labels) > 8 else ""
            lines.append(f"  {op_type}: {len(labels)} node{'s' * (len(labels) != 1)} ({shown}{more})")
    if dtypes:
        lines.append("the model uses element types that the tensor dialect does not have:")
        for name, users in sorted(dtypes.items()):
            shown = ", ".join(users[:6])
            more = f", and {len(users) - 6} more" if len(users) > 6 else ""
            lines.append(f"  {name}: {shown}{more}")
    raise _error("\n".join(lines), source)


def _constant_names(graph: Any) -> set[str]:
    """The values known at import time: initializers, constants, static shapes, and whatever
    is computed from them alone (what the importer folds)."""
    known = {t.name for t in graph.initializer}
    for node in graph.node:
        if node.op_type in ("Shape", "Size") or all(name in known for name in node.input if name):
            known.update(node.output)
    return known


def _scan_dtypes(graph: Any) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}

    def check(data_type: int, what: str) -> None:
        if data_type not in _ELEMENT_TYPES:
            found.setdefault(_dtype_name(data_type), []).append(what)

    for kind, values in (("graph input", graph.input), ("graph output", graph.output), ("value", graph.value_info)):
        for v in values:
            t = v.type
            if t.HasField("tensor_type"):
                if t.tensor_type.elem_type != 0 or kind != "value":
                    check(t.tensor_type.elem_type, f"{kind} '{v.name}'")
            elif kind != "value":
                found.setdefault(f"non-tensor {t.WhichOneof('value') or 'value'}", []).append(f"{kind} '{v.name}'")
    for t in graph.initializer:
        check(t.data_type, f"initializer '{t.name}'")
    for index, node in enumerate(graph.node):
        if node.domain not in _DEFAULT_DOMAINS:
            continue
        label = f"node '{_node_label(node, index)}' ({node.op_type})"
        for attr in node.attribute:
            if (attr.name == "to" and node.op_type == "Cast") or (attr.name == "dtype" and node.op_type == "EyeLike"):
                check(attr.i, label)
            elif attr.type == 4 and node.op_type in ("Constant", "ConstantOfShape"):  # TENSOR
                check(attr.t.data_type, label)
    return found


# ----------------------------------------------------------------------------- the importer
class _Unavailable:
    """A node output the importer does not compute (a training-only output, say)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _element_of_array(arr: np.ndarray) -> Type | None:
    return _NUMPY_ELEMENT.get(arr.dtype.name)


def _np_dtype(t: Type) -> np.dtype:
    from irc.attributes import numpy_dtype

    return numpy_dtype(t)


class _Importer:
    def __init__(self, model: Any, source: str, shapes: dict[str, Sequence[int]]) -> None:
        self.model = model
        self.graph = model.graph
        self.source = source
        self.shapes = shapes
        self.opset = self._opset()
        self.block: Block | None = None
        self.env: dict[str, Value | _Unavailable] = {}
        self.const_of: dict[Value, np.ndarray] = {}
        self.initializers: dict[str, Any] = {t.name: t for t in self.graph.initializer}
        self.hint: str | None = None  # the output name of the node being imported
        self.value_names = _Names()
        self.resource_names = _Names()

    def error(self, message: str) -> ONNXImportError:
        return _error(message, self.source)

    def _opset(self) -> int:
        versions = [o.version for o in self.model.opset_import if o.domain in _DEFAULT_DOMAINS]
        if not versions:
            if not self.model.opset_import:
                raise self.error("the model imports no opset of the default ONNX domain")
            return 0
        return max(versions)

    # -- the whole graph
    def run(self) -> Operation:
        _scan(self.graph, self.opset, self.source)
        inputs = [v for v in self.graph.input if v.name not in self.initializers]
        self._check_shapes_option(inputs)
        types = [self._input_type(v) for v in inputs]
        arg_names = [self.value_names.make(v.name) for v in inputs]
        func = FuncOp.build("main", types, [], arg_names=arg_names)
        self.block = func.entry
        for v, arg, name in zip(inputs, func.entry.args, arg_names, strict=True):
            self.env[v.name] = arg
        if any(v.name != n for v, n in zip(inputs, arg_names, strict=True)):
            func.properties["arg_attrs"] = ArrayAttr([DictionaryAttr({"irc.name": StringAttr(v.name)}) for v in inputs])
        for index, node in self._sorted_nodes():
            self._import_node(node, index)
        results = [self._output(v) for v in self.graph.output]
        self.block.append(ReturnOp.build(results))
        func.properties["function_type"] = TypeAttr(FunctionType(types, [r.type for r in results]))
        func.properties["res_attrs"] = ArrayAttr(
            [DictionaryAttr({"irc.name": StringAttr(v.name)}) for v in self.graph.output]
        )
        return ModuleOp.build([func])

    def _check_shapes_option(self, inputs: Sequence[Any]) -> None:
        names = {v.name for v in inputs}
        for name in self.shapes:
            if name not in names:
                listing = ", ".join(f"'{n}'" for n in sorted(names)) or "none"
                raise self.error(
                    f"a shape is given for '{name}', which is not a graph input (the inputs are: {listing})"
                )

    def _input_type(self, value: Any) -> TensorType:
        t = value.type.tensor_type
        element = _ELEMENT_TYPES[t.elem_type]
        given = self.shapes.get(value.name)
        if given is not None:
            dims = [int(d) for d in given]
            if t.HasField("shape"):
                declared = t.shape.dim
                if len(declared) != len(dims):
                    raise self.error(
                        f"the shape given for input '{value.name}' has rank {len(dims)}, but the model declares "
                        f"rank {len(declared)}"
                    )
                for i, (d, g) in enumerate(zip(declared, dims, strict=True)):
                    if d.HasField("dim_value") and d.dim_value != g:
                        raise self.error(
                            f"the shape given for input '{value.name}' has size {g} in dimension {i}, but the model "
                            f"fixes it to {d.dim_value}"
                        )
            if any(d < 0 for d in dims):
                raise self.error(f"the shape given for input '{value.name}' has a negative dimension: {dims}")
            return TensorType(dims, element)
        if not t.HasField("shape"):
            raise self.error(
                f"graph input '{value.name}' has no shape; give one (shapes={{'{value.name}': (...)}} or "
                f"--input-shape {value.name}=AxBxC)"
            )
        dims = []
        for i, d in enumerate(t.shape.dim):
            if not d.HasField("dim_value") or d.dim_value < 0:
                what = f"'{d.dim_param}'" if d.dim_param else "unknown"
                raise self.error(
                    f"graph input '{value.name}' has a symbolic dimension {what} (dimension {i}); shapes must be "
                    f"static: give one (shapes={{'{value.name}': (...)}} or --input-shape {value.name}=AxBxC)"
                )
            dims.append(d.dim_value)
        return TensorType(dims, element)

    def _sorted_nodes(self) -> list[tuple[int, Any]]:
        """The nodes in a topological order (the file's order where it is one)."""
        nodes = list(enumerate(self.graph.node))
        known = set(self.env) | set(self.initializers) | {""}
        out: list[tuple[int, Any]] = []
        pending = nodes
        while pending:
            waiting = []
            for index, node in pending:
                if all(name in known for name in node.input):
                    out.append((index, node))
                    known.update(node.output)
                else:
                    waiting.append((index, node))
            if len(waiting) == len(pending):
                index, node = waiting[0]
                missing = next(n for n in node.input if n not in known)
                raise self.error(
                    f"node '{_node_label(node, index)}' ({node.op_type}) uses '{missing}', which no input, "
                    "initializer or node defines"
                )
            pending = waiting
        return out

    def _output(self, value: Any) -> Value:
        v = self.lookup(value.name, f"graph output '{value.name}'")
        self.attach(v)
        t = value.type.tensor_type if value.type.HasField("tensor_type") else None
        if t is None or not isinstance(v.type, TensorType):
            return v
        declared = _ELEMENT_TYPES.get(t.elem_type)
        if t.elem_type and declared != v.type.element_type:
            raise self.error(
                f"graph output '{value.name}' is declared {_dtype_name(t.elem_type)} but computes {v.type.element_type}"
            )
        if t.HasField("shape"):
            dims = t.shape.dim
            shape = v.type.shape
            bad = len(dims) != len(shape) or any(
                d.HasField("dim_value") and d.dim_value != s for d, s in zip(dims, shape, strict=False)
            )
            if bad and not self.shapes:
                text = "x".join(str(d.dim_value) if d.HasField("dim_value") else "?" for d in dims)
                raise self.error(f"graph output '{value.name}' is declared [{text}] but computes '{v.type}'")
        return v

    # -- values
    def lookup(self, name: str, user: str) -> Value:
        v = self.env.get(name)
        if v is None and name in self.initializers:
            v = self.env[name] = self.constant(self._initializer(name), name)
        if v is None:
            raise self.error(f"{user} uses '{name}', which no input, initializer or node defines")
        if isinstance(v, _Unavailable):
            raise self.error(f"{user} uses '{name}', {v.reason}")
        return v

    def _initializer(self, name: str) -> np.ndarray:
        from onnx import numpy_helper

        try:
            return numpy_helper.to_array(self.initializers[name])
        except Exception as err:
            raise self.error(f"could not read initializer '{name}': {err}") from None

    def constant(self, arr: np.ndarray, hint: str | None = None) -> Value:
        """A detached tensor.constant holding `arr` (inserted on its first real use)."""
        arr = np.asarray(arr)
        element = _element_of_array(arr)
        if element is None:
            raise self.error(f"constant '{hint}' has element type {arr.dtype}, which the tensor dialect does not have")
        t = TensorType(arr.shape, element)
        if arr.nbytes >= RESOURCE_BYTES:
            data = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes()
            attr: Attribute = DenseResourceAttr(t, self.resource_names.make(hint or self.hint or "blob"), data)
        else:
            attr = DenseElementsAttr.from_numpy(t, arr)
        op = T.ConstantOp.build(attr, location=NameLoc(hint) if hint else None)
        v = op.results[0]
        if hint:
            v.name_hint = sanitize_name(hint)
        self.const_of[v] = arr
        return v

    def attach(self, v: Value) -> None:
        op = v.defining_op()
        if op is not None and op.parent is None:
            self.block.append(op)

    def emit(self, cls: type[Operation], operands: Sequence[Value], location: Location, **attrs: Any) -> list[Value]:
        """Build `cls`; evaluated right away when every operand is a constant (folding), else
        inserted. ValueError (bad types or attributes) propagates for the node to report."""
        op = T.build_op(cls, operands, location, **attrs)
        arrays = [self.const_of.get(v) for v in operands]
        if operands and all(a is not None for a in arrays) and self._fold(op, arrays):
            outs = op.reference(*arrays)
            op.drop_operand_uses()
            return [self.constant(o, None) for o in outs]
        for v in operands:
            self.attach(v)
        self.block.append(op)
        return list(op.results)

    def _fold(self, op: Operation, arrays: list[np.ndarray]) -> bool:
        if sum(r.type.num_elements for r in op.results) > FOLD_ELEMENTS:
            return False
        try:
            return bool(op.can_fold(arrays))
        except (ValueError, ArithmeticError):
            return False

    # -- nodes
    def _import_node(self, node: Any, index: int) -> None:
        ctx = _Node(self, node, index)
        self.hint = next((name for name in node.output if name), None)
        handler = _HANDLERS[node.op_type]
        try:
            outputs = handler(ctx)
        except ValueError as err:
            raise ctx.error(str(err)) from None
        for k, name in enumerate(node.output):
            if not name:
                continue
            if k >= len(outputs) or outputs[k] is None:
                self.env[name] = _Unavailable(
                    f"output #{k} of node '{ctx.label}' ({node.op_type}), which the importer does not compute"
                )
                continue
            out = outputs[k]
            if isinstance(out, _Unavailable):
                self.env[name] = out
                continue
            if isinstance(out, np.ndarray):
                out = self.constant(out, name)
            elif out.name_hint is None:
                out.name_hint = sanitize_name(name)
            self.env[name] = out


def _scalar(value: float, element: Type) -> Attribute:
    """A scalar attribute for a tensor of `element` (clip bounds, pad values)."""
    if isinstance(element, FloatType):
        return FloatAttr(float(value), f64 if element == f64 else f32)
    return IntegerAttr(int(value))


class _Node:
    """One node while it is imported: its inputs as values or constants, its attributes."""

    def __init__(self, imp: _Importer, node: Any, index: int) -> None:
        self.imp = imp
        self.node = node
        self.op_type = node.op_type
        self.label = _node_label(node, index)
        self.attrs = _attrs(node)
        self.opset = imp.opset
        self.loc = NameLoc(node.name) if node.name else NameLoc(f"{node.op_type}_{index}")

    def error(self, message: str) -> ONNXImportError:
        return self.imp.error(f"node '{self.label}' ({self.op_type}): {message}")

    @property
    def num_inputs(self) -> int:
        return len(self.node.input)

    def has(self, i: int) -> bool:
        return i < len(self.node.input) and self.node.input[i] != ""

    def input(self, i: int) -> Value:
        if not self.has(i):
            raise self.error(f"input #{i} is required")
        return self.imp.lookup(self.node.input[i], f"node '{self.label}' ({self.op_type})")

    def inputs(self) -> list[Value]:
        return [self.input(i) for i in range(self.num_inputs) if self.has(i)]

    def const(self, i: int, what: str) -> np.ndarray | None:
        """Input #i as a constant array (None when the input is absent); an error when it is
        computed at run time."""
        if not self.has(i):
            return None
        v = self.input(i)
        arr = self.imp.const_of.get(v)
        if arr is None:
            raise self.error(
                f"input #{i} ('{self.node.input[i]}', {what}) must be a constant or an initializer; it is computed "
                "at run time"
            )
        return arr

    def ints(self, i: int, attr: str, what: str) -> list[int] | None:
        """Integers from input #i (newer opsets) or attribute `attr` (older ones)."""
        arr = self.const(i, what)
        if arr is not None:
            return [int(v) for v in np.asarray(arr).reshape(-1)]
        value = self.attrs.get(attr)
        return [int(v) for v in value] if value is not None else None

    def attr(self, name: str, default: Any = None) -> Any:
        return self.attrs.get(name, default)

    def emit(self, cls: type[Operation], operands: Sequence[Value], **attrs: Any) -> Value:
        return self.imp.emit(cls, operands, self.loc, **attrs)[0]

    def emit_all(self, cls: type[Operation], operands: Sequence[Value], **attrs: Any) -> list[Value]:
        return self.imp.emit(cls, operands, self.loc, **attrs)

    def constant(self, value: Any, like: Value | Type) -> Value:
        """A constant scalar/array of the element type of `like`."""
        element = like if isinstance(like, Type) else like.type.element_type
        return self.imp.constant(np.asarray(value, dtype=_np_dtype(element)))


# ----------------------------------------------------------------------------- handlers
Handler = Callable[[_Node], list[Any]]
_HANDLERS: dict[str, Handler] = {}
_CHECKS: dict[str, Callable[[dict[str, Any], Any, int], str | None]] = {}


def _handles(*op_types: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for op_type in op_types:
            _HANDLERS[op_type] = fn
        return fn

    return register


def _check(*op_types: str) -> Callable:
    def register(fn: Callable) -> Callable:
        for op_type in op_types:
            _CHECKS[op_type] = fn
        return fn

    return register


def _rank(v: Value) -> int:
    return v.type.rank


def _shape(v: Value) -> tuple[int, ...]:
    return tuple(v.type.shape)


# -- elementwise
_BINARY = {"Add": T.AddOp, "Sub": T.SubOp, "Mul": T.MulOp, "Div": T.DivOp}
_COMPARE = {
    "Equal": T.EqualOp, "Less": T.LessOp, "LessOrEqual": T.LessOrEqualOp,
    "Greater": T.GreaterOp, "GreaterOrEqual": T.GreaterOrEqualOp,
}  # fmt: skip


@_check(*_BINARY, *_COMPARE, "Pow", "And", "Or", "Xor")
def _check_legacy_broadcast(attrs: dict[str, Any], node: Any, opset: int) -> str | None:
    # Before opset 7, `broadcast = 1` with an `axis` aligned the second operand at that axis.
    if int(attrs.get("broadcast", 0)) and "axis" in attrs:
        return "legacy broadcast with 'axis'"
    return None


@_handles(*_BINARY, *_COMPARE)
def _binary(n: _Node) -> list[Any]:
    cls = _BINARY.get(n.op_type) or _COMPARE[n.op_type]
    return [n.emit(cls, [n.input(0), n.input(1)])]


@_handles("Pow")
def _pow(n: _Node) -> list[Any]:
    x, y = n.input(0), n.input(1)
    element = x.type.element_type
    if isinstance(element, FloatType):
        if y.type.element_type != element:
            y = n.emit(T.CastOp, [y], to=element)
        return [n.emit(T.PowOp, [x, y])]
    # Integer powers: exact in f64 for every result that fits the integer type.
    xf = n.emit(T.CastOp, [x], to=f64)
    yf = n.emit(T.CastOp, [y], to=f64)
    return [n.emit(T.CastOp, [n.emit(T.PowOp, [xf, yf])], to=element)]


@_handles("Max", "Min", "Sum", "Mean")
def _variadic(n: _Node) -> list[Any]:
    cls = {"Max": T.MaxOp, "Min": T.MinOp, "Sum": T.AddOp, "Mean": T.AddOp}[n.op_type]
    values = n.inputs()
    if not values:
        raise n.error("expected at least one input")
    acc = values[0]
    for v in values[1:]:
        acc = n.emit(cls, [acc, v])
    if n.op_type == "Mean" and len(values) > 1:
        acc = n.emit(T.DivOp, [acc, n.constant(len(values), acc)])
    return [acc]


_UNARY = {
    "Neg": T.NegOp, "Abs": T.AbsOp, "Exp": T.ExpOp, "Log": T.LogOp, "Sqrt": T.SqrtOp, "Erf": T.ErfOp,
    "Relu": T.ReluOp, "Sigmoid": T.SigmoidOp, "Tanh": T.TanhOp, "Softplus": T.SoftplusOp,
}  # fmt: skip


@_handles(*_UNARY)
def _unary(n: _Node) -> list[Any]:
    return [n.emit(_UNARY[n.op_type], [n.input(0)])]


@_handles("LeakyRelu")
def _leaky_relu(n: _Node) -> list[Any]:
    return [n.emit(T.LeakyReluOp, [n.input(0)], alpha=float(n.attr("alpha", 0.01)))]


@_handles("Elu")
def _elu(n: _Node) -> list[Any]:
    return [n.emit(T.EluOp, [n.input(0)], alpha=float(n.attr("alpha", 1.0)))]


@_handles("Selu")
def _selu(n: _Node) -> list[Any]:
    alpha = float(n.attr("alpha", T.SELU_ALPHA))
    gamma = float(n.attr("gamma", T.SELU_GAMMA))
    return [n.emit(T.SeluOp, [n.input(0)], alpha=alpha, gamma=gamma)]


@_handles("HardSigmoid")
def _hard_sigmoid(n: _Node) -> list[Any]:
    alpha, beta = float(n.attr("alpha", 0.2)), float(n.attr("beta", 0.5))
    return [n.emit(T.HardSigmoidOp, [n.input(0)], alpha=alpha, beta=beta)]


@_handles("HardSwish")
def _hard_swish(n: _Node) -> list[Any]:
    x = n.input(0)
    gate = n.emit(T.HardSigmoidOp, [x], alpha=1.0 / 6.0, beta=0.5)
    return [n.emit(T.MulOp, [x, gate])]


@_handles("Gelu")
def _gelu(n: _Node) -> list[Any]:
    return [n.emit(T.GeluOp, [n.input(0)], approximate=n.attr("approximate", "none"))]


@_check("Gelu")
def _check_gelu(attrs: dict[str, Any], node: Any, opset: int) -> str | None:
    approximate = attrs.get("approximate", "none")
    return None if approximate in ("none", "tanh") else f"approximate '{approximate}'"


@_handles("Reciprocal")
def _reciprocal(n: _Node) -> list[Any]:
    x = n.input(0)
    return [n.emit(T.DivOp, [n.constant(1, x), x])]


@_handles("Softsign")
def _softsign(n: _Node) -> list[Any]:
    x = n.input(0)
    return [n.emit(T.DivOp, [x, n.emit(T.AddOp, [n.constant(1, x), n.emit(T.AbsOp, [x])])])]


@_handles("Sign")
def _sign(n: _Node) -> list[Any]:
    x = n.input(0)
    zero, one, minus = n.constant(0, x), n.constant(1, x), n.constant(-1, x)
    negative = n.emit(T.WhereOp, [n.emit(T.LessOp, [x, zero]), minus, zero])
    return [n.emit(T.WhereOp, [n.emit(T.GreaterOp, [x, zero]), one, negative])]


@_handles("PRelu")
def _prelu(n: _Node) -> list[Any]:
    x, slope = n.input(0), n.input(1)
    scaled = n.emit(T.MulOp, [x, slope])
    out = n.emit(T.WhereOp, [n.emit(T.LessOp, [x, n.constant(0, x)]), scaled, x])
    if _shape(out) != _shape(x):
        raise n.error(f"the slope '{slope.type}' does not broadcast to the input '{x.type}'")
    return [out]


@_handles("ThresholdedRelu")
def _thresholded_relu(n: _Node) -> list[Any]:
    x = n.input(0)
    alpha = float(n.attr("alpha", 1.0))
    return [n.emit(T.WhereOp, [n.emit(T.GreaterOp, [x, n.constant(alpha, x)]), x, n.constant(0, x)])]


@_handles("Celu")
def _celu(n: _Node) -> list[Any]:
    # max(0, x) + min(0, alpha * (exp(x / alpha) - 1)) is elu(x / alpha) * alpha.
    x = n.input(0)
    alpha = float(n.attr("alpha", 1.0))
    scaled = n.emit(T.DivOp, [x, n.constant(alpha, x)])
    return [n.emit(T.MulOp, [n.emit(T.EluOp, [scaled], alpha=1.0), n.constant(alpha, x)])]


@_handles("Mish")
def _mish(n: _Node) -> list[Any]:
    x = n.input(0)
    return [n.emit(T.MulOp, [x, n.emit(T.TanhOp, [n.emit(T.SoftplusOp, [x])])])]


@_handles("Clip")
def _clip(n: _Node) -> list[Any]:
    x = n.input(0)
    element = x.type.element_type
    bounds: dict[str, Any] = {}
    out = x
    for i, name in ((1, "min"), (2, "max")):
        if n.has(i):
            v = n.input(i)
            arr = n.imp.const_of.get(v)
            if arr is None:  # a bound computed at run time: max/min ops
                out = n.emit(T.MaxOp if name == "min" else T.MinOp, [out, v])
                continue
            bounds[name] = _scalar(np.asarray(arr).reshape(-1)[0].item(), element)
        elif name in n.attrs:
            bounds[name] = _scalar(n.attrs[name], element)
    if out is not x:
        if bounds:
            raise n.error("mixing a constant and a computed bound is not supported")
        return [out]
    if not bounds:
        return [x]
    return [n.emit(T.ClipOp, [x], **bounds)]


# -- logical
@_handles("Where")
def _where(n: _Node) -> list[Any]:
    return [n.emit(T.WhereOp, [n.input(0), n.input(1), n.input(2)])]


@_handles("Not")
def _not(n: _Node) -> list[Any]:
    x = n.input(0)
    return [n.emit(T.EqualOp, [x, n.constant(False, x)])]


@_handles("And", "Or", "Xor")
def _logical(n: _Node) -> list[Any]:
    a, b = n.input(0), n.input(1)
    if n.op_type == "And":
        return [n.emit(T.WhereOp, [a, b, a])]
    if n.op_type == "Or":
        return [n.emit(T.WhereOp, [a, a, b])]
    same = n.emit(T.EqualOp, [a, b])
    return [n.emit(T.EqualOp, [same, n.constant(False, same)])]


@_handles("Cast", "CastLike")
def _cast(n: _Node) -> list[Any]:
    x = n.input(0)
    if n.op_type == "CastLike":
        to = n.input(1).type.element_type
    else:
        to = _ELEMENT_TYPES[int(n.attr("to"))]
    if x.type.element_type == to:
        return [x]
    return [n.emit(T.CastOp, [x], to=to)]


# -- linear algebra
@_handles("MatMul")
def _matmul(n: _Node) -> list[Any]:
    return [n.emit(T.MatMulOp, [n.input(0), n.input(1)])]


@_handles("Gemm")
def _gemm(n: _Node) -> list[Any]:
    operands = [n.input(0), n.input(1)] + ([n.input(2)] if n.has(2) else [])
    return [
        n.emit(
            T.GemmOp,
            operands,
            trans_a=int(n.attr("transA", 0)) or None,
            trans_b=int(n.attr("transB", 0)) or None,
            alpha=_float_or_none(n.attr("alpha"), 1.0),
            beta=_float_or_none(n.attr("beta"), 1.0),
        )
    ]


def _float_or_none(value: Any, default: float) -> float | None:
    return None if value is None or float(value) == default else float(value)


# -- convolution and pooling
def _spatial_check(attrs: dict[str, Any], node: Any, opset: int) -> str | None:
    kernel = attrs.get("kernel_shape")
    if kernel is not None and len(kernel) not in (1, 2):
        return f"{len(kernel)}-D"
    auto_pad = attrs.get("auto_pad", "NOTSET")
    if auto_pad not in ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID", ""):
        return f"auto_pad '{auto_pad}'"
    return None


@_check("Conv", "ConvTranspose", "AveragePool", "GlobalAveragePool", "GlobalMaxPool")
def _check_conv(attrs: dict[str, Any], node: Any, opset: int) -> str | None:
    return _spatial_check(attrs, node, opset)


@_check("MaxPool")
def _check_max_pool(attrs: dict[str, Any], node: Any, opset: int) -> str | None:
    if len(node.output) > 1 and node.output[1]:
        return "with the Indices output"
    return _spatial_check(attrs, node, opset)


def _auto_pads(
    auto_pad: str, sizes: Sequence[int], kernel: Sequence[int], strides: Sequence[int], dilations: Sequence[int]
) -> list[int] | None:
    """Explicit pads [begins..., ends...] for SAME_UPPER / SAME_LOWER / VALID (None: NOTSET)."""
    if auto_pad in ("NOTSET", ""):
        return None
    rank = len(sizes)
    if auto_pad == "VALID":
        return [0] * (2 * rank)
    begins, ends = [], []
    for size, k, s, d in zip(sizes, kernel, strides, dilations, strict=True):
        out = -(-size // s)
        total = max(0, (out - 1) * s + (k - 1) * d + 1 - size)
        small, big = total // 2, total - total // 2
        begins.append(small if auto_pad == "SAME_UPPER" else big)
        ends.append(big if auto_pad == "SAME_UPPER" else small)
    return begins + ends


class _Spatial:
    """The window attributes of a conv/pool node for 1-D or 2-D input (1-D becomes 2-D with H = 1)."""

    def __init__(self, n: _Node, x: Value, kernel: Sequence[int]) -> None:
        rank = _rank(x) - 2
        if rank not in (1, 2):
            raise n.error(f"{rank}-D windows are not supported (the tensor dialect has 2-D ops), input '{x.type}'")
        self.one_d = rank == 1
        self.kernel = list(kernel)
        if len(self.kernel) != rank:
            raise n.error(f"'kernel_shape' {self.kernel} does not match the {rank}-D input '{x.type}'")
        self.strides = list(n.attr("strides", [1] * rank))
        self.dilations = list(n.attr("dilations", [1] * rank))
        pads = _auto_pads(n.attr("auto_pad", "NOTSET"), _shape(x)[2:], self.kernel, self.strides, self.dilations)
        self.pads = pads if pads is not None else list(n.attr("pads", [0] * (2 * rank)))

    def two_d(self, values: Sequence[int], fill: int) -> list[int]:
        return [fill, *values] if self.one_d else list(values)

    def attrs(self) -> dict[str, Any]:
        if not self.one_d:
            return {"strides": self.strides, "pads": self.pads, "dilations": self.dilations}
        return {
            "strides": [1, self.strides[0]],
            "pads": [0, self.pads[0], 0, self.pads[1]],
            "dilations": [1, self.dilations[0]],
        }


def _to_2d(n: _Node, v: Value, one_d: bool) -> Value:
    return n.emit(T.UnsqueezeOp, [v], axes=[2]) if one_d else v


def _from_2d(n: _Node, v: Value, one_d: bool) -> Value:
    return n.emit(T.SqueezeOp, [v], axes=[2]) if one_d else v


_WINDOW_DEFAULTS = {"strides": [1, 1], "pads": [0, 0, 0, 0], "dilations": [1, 1], "group": 1, "output_padding": [0, 0]}


def _drop_defaults(attrs: dict[str, Any]) -> dict[str, Any]:
    """Leave out attributes at ONNX's defaults, so the IR shows only what matters."""
    return {k: v for k, v in attrs.items() if v is not None and v != _WINDOW_DEFAULTS.get(k)}


@_handles("Conv")
def _conv(n: _Node) -> list[Any]:
    x, w = n.input(0), n.input(1)
    if _rank(w) < 3:
        raise n.error(f"expected a weight of rank at least 3, got '{w.type}'")
    win = _Spatial(n, x, n.attr("kernel_shape", _shape(w)[2:]))
    operands = [_to_2d(n, x, win.one_d), _to_2d(n, w, win.one_d)]
    if n.has(2):
        operands.append(n.input(2))
    attrs = _drop_defaults({**win.attrs(), "group": int(n.attr("group", 1))})
    return [_from_2d(n, n.emit(T.Conv2DOp, operands, **attrs), win.one_d)]


@_handles("ConvTranspose")
def _conv_transpose(n: _Node) -> list[Any]:
    x, w = n.input(0), n.input(1)
    rank = _rank(x) - 2
    if rank not in (1, 2) or _rank(w) != rank + 2:
        raise n.error(f"{rank}-D transposed convolution is not supported (input '{x.type}', weight '{w.type}')")
    kernel = list(n.attr("kernel_shape", _shape(w)[2:]))
    strides = list(n.attr("strides", [1] * rank))
    dilations = list(n.attr("dilations", [1] * rank))
    out_pad = list(n.attr("output_padding", [0] * rank))
    auto_pad = n.attr("auto_pad", "NOTSET")
    output_shape = n.attr("output_shape")
    pads = list(n.attr("pads", [0] * (2 * rank)))
    if output_shape is not None or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        sizes = _shape(x)[2:]
        wanted = (
            list(output_shape)[-rank:]
            if output_shape is not None
            else [s * st for s, st in zip(sizes, strides, strict=True)]
        )
        begins, ends = [], []
        for i, (size, k, s, d, want) in enumerate(zip(sizes, kernel, strides, dilations, wanted, strict=True)):
            total = s * (size - 1) + out_pad[i] + (k - 1) * d + 1 - want
            small, big = total // 2, total - total // 2
            begin, end = (small, big) if auto_pad == "SAME_UPPER" else (big, small)
            if end < 0:  # a larger output than the windows cover: more output padding at the end
                out_pad[i] -= end
                end = 0
            if begin < 0:
                raise n.error(f"output_shape {list(wanted)} needs padding before the start, which is not supported")
            begins.append(begin)
            ends.append(end)
        pads = begins + ends
    elif auto_pad == "VALID":
        pads = [0] * (2 * rank)
    one_d = rank == 1
    if one_d:
        attrs = {
            "strides": [1, strides[0]],
            "pads": [0, pads[0], 0, pads[1]],
            "dilations": [1, dilations[0]],
            "output_padding": [0, out_pad[0]],
        }
    else:
        attrs = {"strides": strides, "pads": pads, "dilations": dilations, "output_padding": out_pad}
    attrs["group"] = int(n.attr("group", 1))
    operands = [_to_2d(n, x, one_d), _to_2d(n, w, one_d)]
    if n.has(2):
        operands.append(n.input(2))
    return [_from_2d(n, n.emit(T.ConvTranspose2DOp, operands, **_drop_defaults(attrs)), one_d)]


@_handles("MaxPool", "AveragePool")
def _pool(n: _Node) -> list[Any]:
    x = n.input(0)
    kernel = n.attr("kernel_shape")
    if kernel is None:
        raise n.error("requires attribute 'kernel_shape'")
    win = _Spatial(n, x, kernel)
    attrs = {**win.attrs(), "kernel_shape": win.two_d(win.kernel, 1), "ceil_mode": int(n.attr("ceil_mode", 0)) or None}
    if n.op_type == "MaxPool":
        cls = T.MaxPool2DOp
    else:
        cls = T.AvgPool2DOp
        attrs["count_include_pad"] = int(n.attr("count_include_pad", 0)) or None
    y = n.emit(cls, [_to_2d(n, x, win.one_d)], **_drop_defaults(attrs))
    return [_from_2d(n, y, win.one_d)]


@_handles("GlobalAveragePool", "GlobalMaxPool")
def _global_pool(n: _Node) -> list[Any]:
    x = n.input(0)
    if _rank(x) == 4:
        cls = T.GlobalAvgPoolOp if n.op_type == "GlobalAveragePool" else T.GlobalMaxPoolOp
        return [n.emit(cls, [x])]
    if _rank(x) < 3:
        raise n.error(f"expected an input of rank at least 3 [N, C, ...], got '{x.type}'")
    cls = T.ReduceMeanOp if n.op_type == "GlobalAveragePool" else T.ReduceMaxOp
    return [n.emit(cls, [x], axes=list(range(2, _rank(x))), keepdims=1)]


# -- reductions
_REDUCE = {
    "ReduceSum": T.ReduceSumOp, "ReduceMean": T.ReduceMeanOp, "ReduceMax": T.ReduceMaxOp,
    "ReduceMin": T.ReduceMinOp, "ReduceProd": T.ReduceProdOp,
}  # fmt: skip
_REDUCE_COMPOSITE = ("ReduceL1", "ReduceL2", "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp")


def _reduce_axes(n: _Node, x: Value) -> list[int] | None:
    """The axes to reduce; None: the node is the identity (empty axes with noop_with_empty_axes)."""
    axes = n.ints(1, "axes", "the axes")
    if not axes:
        if int(n.attr("noop_with_empty_axes", 0)):
            return None
        return list(range(_rank(x)))
    return axes


@_handles(*_REDUCE, *_REDUCE_COMPOSITE)
def _reduce(n: _Node) -> list[Any]:
    x = n.input(0)
    axes = _reduce_axes(n, x)
    if axes is None:
        return [x]
    keep = int(n.attr("keepdims", 1))
    shape = _shape(x)
    rank = len(shape)
    if any(shape[a + rank if a < 0 else a] == 0 for a in axes if -rank <= a < rank):
        return [_empty_reduction(n, x, axes, keep)]
    cls = _REDUCE.get(n.op_type)
    if cls is not None and x.type.element_type == i1 and n.op_type in ("ReduceMax", "ReduceMin"):
        wide = n.emit(T.CastOp, [x], to=i8)  # max/min of booleans: any/all
        return [n.emit(T.CastOp, [n.emit(cls, [wide], axes=axes, keepdims=keep)], to=i1)]
    if cls is not None:
        return [n.emit(cls, [x], axes=axes, keepdims=keep)]
    if n.op_type == "ReduceLogSumExp":
        peak = n.emit(T.ReduceMaxOp, [x], axes=axes, keepdims=1)
        shifted = n.emit(T.ExpOp, [n.emit(T.SubOp, [x, peak])])
        total = n.emit(T.LogOp, [n.emit(T.ReduceSumOp, [shifted], axes=axes, keepdims=1)])
        out = n.emit(T.AddOp, [total, peak])
        return [out if keep else n.emit(T.SqueezeOp, [out], axes=axes)]
    if n.op_type == "ReduceL1":
        return [n.emit(T.ReduceSumOp, [n.emit(T.AbsOp, [x])], axes=axes, keepdims=keep)]
    if n.op_type == "ReduceLogSum":
        return [n.emit(T.LogOp, [n.emit(T.ReduceSumOp, [x], axes=axes, keepdims=keep)])]
    squares = n.emit(T.ReduceSumOp, [n.emit(T.MulOp, [x, x])], axes=axes, keepdims=keep)
    return [squares if n.op_type == "ReduceSumSquare" else n.emit(T.SqrtOp, [squares])]


def _empty_reduction(n: _Node, x: Value, axes: list[int], keep: int) -> np.ndarray:
    """A reduction over an empty dimension is its identity everywhere (a constant)."""
    rank = _rank(x)
    reduced = {a + rank if a < 0 else a for a in axes}
    shape = [1 if i in reduced else d for i, d in enumerate(_shape(x)) if keep or i not in reduced]
    dtype = _np_dtype(x.type.element_type)
    big = np.inf if dtype.kind == "f" else (True if dtype.kind == "b" else np.iinfo(dtype).max)
    small = -np.inf if dtype.kind == "f" else (False if dtype.kind == "b" else np.iinfo(dtype).min)
    identity = {
        "ReduceMax": small, "ReduceMin": big, "ReduceProd": 1, "ReduceMean": np.nan,
        "ReduceLogSum": -np.inf, "ReduceLogSumExp": -np.inf,
    }.get(n.op_type, 0)  # fmt: skip
    return np.full(shape, identity, dtype=dtype)


@_handles("ArgMax", "ArgMin")
def _argmax(n: _Node) -> list[Any]:
    x = n.input(0)
    if n.op_type == "ArgMin":
        x = n.emit(T.NegOp, [x])  # the first (or last) smallest element is the largest of -x
    return [
        n.emit(
            T.ArgMaxOp,
            [x],
            axis=int(n.attr("axis", 0)),
            keepdims=int(n.attr("keepdims", 1)),
            select_last_index=int(n.attr("select_last_index", 0)) or None,
        )
    ]


# -- normalization
@_handles("Softmax", "LogSoftmax")
def _softmax(n: _Node) -> list[Any]:
    x = n.input(0)
    cls = T.SoftmaxOp if n.op_type == "Softmax" else T.LogSoftmaxOp
    rank = _rank(x)
    if n.opset >= 13:
        return [n.emit(cls, [x], axis=int(n.attr("axis", -1)))]
    # Before opset 13 the input is coerced to 2-D [prod(dims[:axis]), prod(dims[axis:])].
    axis = int(n.attr("axis", 1))
    if not -rank <= axis < max(rank, 1):
        raise n.error(f"'axis' {axis} is out of range for rank {rank}")
    axis = axis + rank if axis < 0 else axis
    if axis == rank - 1:
        return [n.emit(cls, [x], axis=-1)]
    flat = n.emit(T.FlattenOp, [x], axis=axis)
    return [n.emit(T.ReshapeOp, [n.emit(cls, [flat], axis=1)], shape=list(_shape(x)))]


@_check("BatchNormalization")
def _check_batch_norm(attrs: dict[str, Any], node: Any, opset: int) -> str | None:
    return "training_mode" if int(attrs.get("training_mode", 0)) else None


@_handles("BatchNormalization")
def _batch_norm(n: _Node) -> list[Any]:
    operands = [n.input(i) for i in range(5)]
    return [n.emit(T.BatchNormOp, operands, epsilon=float(n.attr("epsilon", 1e-5)))]


@_handles("LayerNormalization")
def _layer_norm(n: _Node) -> list[Any]:
    x = n.input(0)
    operands = [x, n.input(1)] + ([n.input(2)] if n.has(2) else [])
    axis, epsilon = int(n.attr("axis", -1)), float(n.attr("epsilon", 1e-5))
    outs: list[Any] = [n.emit(T.LayerNormOp, operands, axis=axis, epsilon=epsilon)]
    wanted = [k for k in (1, 2) if k < len(n.node.output) and n.node.output[k]]
    if not wanted:
        return outs
    # The optional Mean and InvStdDev outputs, over the normalized axes (kept as size 1).
    rank = _rank(x)
    axes = list(range(axis + rank if axis < 0 else axis, rank))
    mean = n.emit(T.ReduceMeanOp, [x], axes=axes, keepdims=1)
    centered = n.emit(T.SubOp, [x, mean])
    var = n.emit(T.ReduceMeanOp, [n.emit(T.MulOp, [centered, centered])], axes=axes, keepdims=1)
    inv_std = n.emit(T.RsqrtOp, [n.emit(T.AddOp, [var, n.constant(epsilon, x)])])
    return [*outs, mean, inv_std]


@_handles("InstanceNormalization")
def _instance_norm(n: _Node) -> list[Any]:
    x, scale, bias = n.input(0), n.input(1), n.input(2)
    shape = _shape(x)
    if len(shape) < 3:
        raise n.error(f"expected an input of rank at least 3 [N, C, ...], got '{x.type}'")
    flat = n.emit(T.ReshapeOp, [x], shape=[shape[0], shape[1], -1])
    ones = n.constant(np.ones(1), x)
    normed = n.emit(T.LayerNormOp, [flat, ones], axis=2, epsilon=float(n.attr("epsilon", 1e-5)))
    normed = n.emit(T.ReshapeOp, [normed], shape=list(shape))
    per_channel = [shape[1]] + [1] * (len(shape) - 2)
    scaled = n.emit(T.MulOp, [normed, n.emit(T.ReshapeOp, [scale], shape=per_channel)])
    return [n.emit(T.AddOp, [scaled, n.emit(T.ReshapeOp, [bias], shape=per_channel)])]


@_handles("GroupNormalization")
def _group_norm(n: _Node) -> list[Any]:
    x, scale, bias = n.input(0), n.input(1), n.input(2)
    shape = _shape(x)
    groups = int(n.attr("num_groups"))
    if len(shape) < 3 or shape[1] % groups:
        raise n.error(f"expected an input [N, C, ...] with C divisible by num_groups {groups}, got '{x.type}'")
    grouped = n.emit(T.ReshapeOp, [x], shape=[shape[0], groups, -1])
    ones = n.constant(np.ones(1), x)
    y = n.emit(T.LayerNormOp, [grouped, ones], axis=2, epsilon=float(n.attr("epsilon", 1e-5)))
    if n.opset < 21:  # scale and bias per group
        per_group = [groups, 1]
        y = n.emit(T.MulOp, [y, n.emit(T.ReshapeOp, [scale], shape=per_group)])
        y = n.emit(T.AddOp, [y, n.emit(T.ReshapeOp, [bias], shape=per_group)])
        return [n.emit(T.ReshapeOp, [y], shape=list(shape))]
    y = n.emit(T.ReshapeOp, [y], shape=list(shape))
    per_channel = [shape[1]] + [1] * (len(shape) - 2)
    y = n.emit(T.MulOp, [y, n.emit(T.ReshapeOp, [scale], shape=per_channel)])
    return [n.emit(T.AddOp, [y, n.emit(T.ReshapeOp, [bias], shape=per_channel)])]


@_handles("LpNormalization")
def _lp_norm(n: _Node) -> list[Any]:
    x = n.input(0)
    axis, p = int(n.attr("axis", -1)), int(n.attr("p", 2))
    if p == 1:
        norm = n.emit(T.ReduceSumOp, [n.emit(T.AbsOp, [x])], axes=[axis], keepdims=1)
    elif p == 2:
        norm = n.emit(T.SqrtOp, [n.emit(T.ReduceSumOp, [n.emit(T.MulOp, [x, x])], axes=[axis], keepdims=1)])
    else:
        raise n.error(f"p must be 1 or 2, got {p}")
    zero = n.constant(0, x)
    safe = n.emit(T.WhereOp, [n.emit(T.EqualOp, [norm, zero]), n.constant(1, x), norm])
    return [n.emit(T.DivOp, [x, safe])]  # a zero vector stays zero


@_handles("LRN")
def _lrn(n: _Node) -> list[Any]:
    # x / (bias + alpha / size * sum of x^2 over `size` neighbouring channels)^beta; the window
    # sum is an average pool (counting padding) over the channel axis of [N, 1, C, H * W].
    x = n.input(0)
    shape = _shape(x)
    if len(shape) != 4:
        raise n.error(f"expected a 4-D input, got '{x.type}'")
    size = int(n.attr("size"))
    alpha, beta, bias = float(n.attr("alpha", 1e-4)), float(n.attr("beta", 0.75)), float(n.attr("bias", 1.0))
    squares = n.emit(T.ReshapeOp, [n.emit(T.MulOp, [x, x])], shape=[shape[0], 1, shape[1], -1])
    before = (size - 1) // 2
    window = n.emit(
        T.AvgPool2DOp, [squares], kernel_shape=[size, 1], pads=[before, 0, size - 1 - before, 0], count_include_pad=1
    )
    window = n.emit(T.ReshapeOp, [window], shape=list(shape))
    base = n.emit(T.AddOp, [n.emit(T.MulOp, [window, n.constant(alpha, x)]), n.constant(bias, x)])
    return [n.emit(T.DivOp, [x, n.emit(T.PowOp, [base, n.constant(beta, x)])])]


@_handles("Hardmax")
def _hardmax(n: _Node) -> list[Any]:
    # one-hot of the first largest element along `axis` (opset < 13: of the 2-D coerced input).
    x = n.input(0)
    shape = _shape(x)
    axis = int(n.attr("axis", -1 if n.opset >= 13 else 1))
    axis = axis + len(shape) if axis < 0 else axis
    flat = n.opset < 13 and axis != len(shape) - 1
    view = n.emit(T.FlattenOp, [x], axis=axis) if flat else x
    view_axis = 1 if flat else axis
    index = n.emit(T.ArgMaxOp, [view], axis=view_axis, keepdims=1)
    view_shape = _shape(view)
    iota = np.arange(view_shape[view_axis], dtype=np.int64).reshape(
        [d if i == view_axis else 1 for i, d in enumerate(view_shape)]
    )
    hot = n.emit(T.CastOp, [n.emit(T.EqualOp, [index, n.imp.constant(iota)])], to=x.type.element_type)
    return [n.emit(T.ReshapeOp, [hot], shape=list(shape)) if flat else hot]


@_handles("Shrink")
def _shrink(n: _Node) -> list[Any]:
    x = n.input(0)
    lambd, bias = float(n.attr("lambd", 0.5)), float(n.attr("bias", 0.0))
    low = n.emit(T.LessOp, [x, n.constant(-lambd, x)])
    high = n.emit(T.GreaterOp, [x, n.constant(lambd, x)])
    zero = n.constant(0, x)
    shifted_up = n.emit(T.AddOp, [x, n.constant(bias, x)])
    shifted_down = n.emit(T.SubOp, [x, n.constant(bias, x)])
    return [n.emit(T.WhereOp, [low, shifted_up, n.emit(T.WhereOp, [high, shifted_down, zero])])]


@_handles("IsNaN")
def _is_nan(n: _Node) -> list[Any]:
    x = n.input(0)
    same = n.emit(T.EqualOp, [x, x])
    return [n.emit(T.EqualOp, [same, n.constant(False, same)])]


@_handles("IsInf")
def _is_inf(n: _Node) -> list[Any]:
    x = n.input(0)
    positive = n.emit(T.EqualOp, [x, n.constant(np.inf, x)])
    negative = n.emit(T.EqualOp, [x, n.constant(-np.inf, x)])
    detect_pos, detect_neg = int(n.attr("detect_positive", 1)), int(n.attr("detect_negative", 1))
    if detect_pos and detect_neg:
        return [n.emit(T.WhereOp, [positive, positive, negative])]
    if detect_pos:
        return [positive]
    if detect_neg:
        return [negative]
    return [np.zeros(_shape(x), dtype=bool)]


@_handles("EyeLike")
def _eye_like(n: _Node) -> list[Any]:
    x = n.input(0)
    shape = _shape(x)
    if len(shape) != 2:
        raise n.error(f"expected a 2-D input, got '{x.type}'")
    dtype = n.attr("dtype")
    element = _ELEMENT_TYPES[int(dtype)] if dtype is not None else x.type.element_type
    return [np.eye(shape[0], shape[1], k=int(n.attr("k", 0)), dtype=_np_dtype(element))]


# -- shapes
@_handles("Identity", "Dropout")
def _identity(n: _Node) -> list[Any]:
    x = n.input(0)
    if n.op_type == "Dropout":
        training = n.const(2, "training_mode") if n.has(2) else None
        ratio = n.const(1, "the ratio") if n.has(1) else None
        dropping = ratio is None or float(np.asarray(ratio).reshape(-1)[0]) != 0.0
        if training is not None and bool(np.asarray(training).reshape(-1)[0]) and dropping:
            raise n.error("training_mode is true: dropout is random in training, the importer runs inference")
        return [x, np.ones(_shape(x), dtype=bool)]
    return [x]


@_handles("Transpose")
def _transpose(n: _Node) -> list[Any]:
    perm = n.attr("perm")
    return [n.emit(T.TransposeOp, [n.input(0)], perm=list(perm) if perm is not None else None)]


@_handles("Reshape")
def _reshape(n: _Node) -> list[Any]:
    shape = n.ints(1, "shape", "the shape")
    if shape is None:
        raise n.error("requires the shape (input #1)")
    x = n.input(0)
    allowzero = int(n.attr("allowzero", 0))
    return [n.emit(T.ReshapeOp, [x], shape=shape, allowzero=allowzero or None)]


@_handles("Flatten")
def _flatten(n: _Node) -> list[Any]:
    return [n.emit(T.FlattenOp, [n.input(0)], axis=int(n.attr("axis", 1)))]


@_handles("Squeeze")
def _squeeze(n: _Node) -> list[Any]:
    axes = n.ints(1, "axes", "the axes")
    return [n.emit(T.SqueezeOp, [n.input(0)], axes=axes)]


@_handles("Unsqueeze")
def _unsqueeze(n: _Node) -> list[Any]:
    axes = n.ints(1, "axes", "the axes")
    if axes is None:
        raise n.error("requires the axes")
    return [n.emit(T.UnsqueezeOp, [n.input(0)], axes=axes)]


@_handles("Expand")
def _expand(n: _Node) -> list[Any]:
    shape = n.ints(1, "shape", "the shape")
    return [n.emit(T.BroadcastToOp, [n.input(0)], shape=shape)]


@_handles("Concat")
def _concat(n: _Node) -> list[Any]:
    if "axis" not in n.attrs and n.opset >= 4:
        raise n.error("requires attribute 'axis'")
    values = n.inputs()
    if len(values) == 1:
        return values
    return [n.emit(T.ConcatOp, values, axis=int(n.attr("axis", 1)))]


@_handles("Split")
def _split(n: _Node) -> list[Any]:
    x = n.input(0)
    sizes = n.ints(1, "split", "the split sizes")
    count = len(n.node.output)
    num_outputs = n.attr("num_outputs")
    if num_outputs is not None:
        count = int(num_outputs)
    outs = n.emit_all(T.SplitOp, [x], axis=int(n.attr("axis", 0)), split=sizes, num_results=count)
    return list(outs)


@_handles("Slice")
def _slice(n: _Node) -> list[Any]:
    x = n.input(0)
    starts = n.ints(1, "starts", "the starts")
    ends = n.ints(2, "ends", "the ends")
    if starts is None or ends is None:
        raise n.error("requires starts and ends")
    axes = n.ints(3, "axes", "the axes")
    steps = n.ints(4, "steps", "the steps")
    if axes is None:
        axes = list(range(len(starts)))
    if steps is None:
        steps = [1] * len(starts)
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise n.error(f"starts {starts}, ends {ends}, axes {axes} and steps {steps} differ in length")
    # Clamp here, so that the IR holds small numbers rather than INT64_MAX.
    shape = _shape(x)
    c_starts, c_ends = [], []
    for axis, start, end, step in zip(axes, starts, ends, steps, strict=True):
        if not -len(shape) <= axis < len(shape):
            raise n.error(f"axis {axis} is out of range for '{x.type}'")
        if step == 0:
            raise n.error("steps must be nonzero")
        dim = shape[axis]
        s, e, _ = T.slice_bounds(dim, start, end, step)
        c_starts.append(s)
        c_ends.append(e if e >= 0 else -dim - 1)
    return [
        n.emit(
            T.SliceOp,
            [x],
            starts=c_starts,
            ends=c_ends,
            axes=axes,
            steps=steps if any(s != 1 for s in steps) else None,
        )
    ]


@_check("Pad")
def _check_pad(attrs: dict[str, Any], node: Any, opset: int) -> str | None:
    mode = attrs.get("mode", "constant")
    return None if mode in ("constant", "reflect", "edge") else f"mode '{mode}'"


@_handles("Pad")
def _pad(n: _Node) -> list[Any]:
    x = n.input(0)
    rank = _rank(x)
    pads = n.ints(1, "pads", "the pads")
    if pads is None:
        raise n.error("requires the pads")
    axes = n.ints(3, "axes", "the axes")
    if axes is not None:
        full = [0] * (2 * rank)
        for k, axis in enumerate(axes):
            axis = axis + rank if axis < 0 else axis
            full[axis], full[rank + axis] = pads[k], pads[len(axes) + k]
        pads = full
    if len(pads) != 2 * rank:
        raise n.error(f"expected {2 * rank} pads for '{x.type}', got {pads}")
    value = n.const(2, "the padding value")
    fill = (
        np.asarray(value).reshape(-1)[0].item() if value is not None and np.asarray(value).size else n.attr("value", 0)
    )
    mode = n.attr("mode", "constant")
    if any(p < 0 for p in pads):  # negative pads crop
        shape = _shape(x)
        starts = [max(-pads[i], 0) for i in range(rank)]
        ends = [shape[i] - max(-pads[rank + i], 0) for i in range(rank)]
        x = n.emit(T.SliceOp, [x], starts=starts, ends=ends)
        pads = [max(p, 0) for p in pads]
    if not any(pads):
        return [x]
    element = x.type.element_type
    attrs: dict[str, Any] = {"pads": pads}
    if mode != "constant":
        attrs["mode"] = mode
    elif fill:
        attrs["value"] = _scalar(fill, element)
    return [n.emit(T.PadOp, [x], **attrs)]


@_handles("Gather")
def _gather(n: _Node) -> list[Any]:
    return [n.emit(T.GatherOp, [n.input(0), n.input(1)], axis=int(n.attr("axis", 0)) or None)]


@_handles("Tile")
def _tile(n: _Node) -> list[Any]:
    x = n.input(0)
    repeats = n.ints(1, "repeats", "the repeats")
    shape = _shape(x)
    if repeats is None or len(repeats) != len(shape):
        raise n.error(f"expected {len(shape)} repeats for '{x.type}', got {repeats}")
    if all(r == 1 for r in repeats):
        return [x]
    # [d0, d1] -> [1, d0, 1, d1] -> [r0, d0, r1, d1] -> [r0 * d0, r1 * d1]
    spread = n.emit(T.UnsqueezeOp, [x], axes=list(range(0, 2 * len(shape), 2)))
    wide = n.emit(T.BroadcastToOp, [spread], shape=[v for r, d in zip(repeats, shape, strict=True) for v in (r, d)])
    return [n.emit(T.ReshapeOp, [wide], shape=[r * d for r, d in zip(repeats, shape, strict=True)])]


@_handles("DepthToSpace", "SpaceToDepth")
def _depth_to_space(n: _Node) -> list[Any]:
    x = n.input(0)
    if _rank(x) != 4:
        raise n.error(f"expected a 4-D input, got '{x.type}'")
    b = int(n.attr("blocksize"))
    batch, c, h, w = _shape(x)
    if n.op_type == "SpaceToDepth":
        y = n.emit(T.ReshapeOp, [x], shape=[batch, c, h // b, b, w // b, b])
        perm = [0, 3, 5, 1, 2, 4] if n.attr("mode", "DCR") == "DCR" else [0, 1, 3, 5, 2, 4]
        y = n.emit(T.TransposeOp, [y], perm=perm)
        return [n.emit(T.ReshapeOp, [y], shape=[batch, c * b * b, h // b, w // b])]
    if n.attr("mode", "DCR") == "DCR":
        y = n.emit(T.ReshapeOp, [x], shape=[batch, b, b, c // (b * b), h, w])
        y = n.emit(T.TransposeOp, [y], perm=[0, 3, 4, 1, 5, 2])
    else:
        y = n.emit(T.ReshapeOp, [x], shape=[batch, c // (b * b), b, b, h, w])
        y = n.emit(T.TransposeOp, [y], perm=[0, 1, 4, 2, 5, 3])
    return [n.emit(T.ReshapeOp, [y], shape=[batch, c // (b * b), h * b, w * b])]


# -- constants and shape arithmetic
@_check("Constant")
def _check_constant(attrs: dict[str, Any], node: Any, opset: int) -> str | None:
    for key in ("sparse_value", "value_string", "value_strings"):
        if key in attrs:
            return key
    return None


@_handles("Constant")
def _constant(n: _Node) -> list[Any]:
    from onnx import numpy_helper

    a = n.attrs
    if "value" in a:
        return [numpy_helper.to_array(a["value"])]
    if "value_float" in a:
        return [np.array(a["value_float"], dtype=np.float32)]
    if "value_floats" in a:
        return [np.array(a["value_floats"], dtype=np.float32)]
    if "value_int" in a:
        return [np.array(a["value_int"], dtype=np.int64)]
    if "value_ints" in a:
        return [np.array(a["value_ints"], dtype=np.int64)]
    raise n.error("has no value")


@_handles("Shape")
def _shape_op(n: _Node) -> list[Any]:
    shape = np.array(_shape(n.input(0)), dtype=np.int64)
    start, end = int(n.attr("start", 0)), n.attr("end")
    return [shape[start : None if end is None else int(end)]]


@_handles("Size")
def _size(n: _Node) -> list[Any]:
    return [np.array(math.prod(_shape(n.input(0))), dtype=np.int64)]


@_handles("ConstantOfShape")
def _constant_of_shape(n: _Node) -> list[Any]:
    from onnx import numpy_helper

    shape = n.ints(0, "", "the shape")
    value = n.attr("value")
    fill = numpy_helper.to_array(value).reshape(-1) if value is not None else np.zeros(1, np.float32)
    return [np.full(shape or [], fill[0], dtype=fill.dtype)]


# Ops the tensor dialect lacks that exporters use in shape arithmetic: evaluated with numpy when
# every input is known at import time (the scan reports them otherwise).
def _mod(n: _Node, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if int(n.attr("fmod", 0)):
        return np.fmod(a, b)
    if a.dtype.kind != "f" and (b == 0).any():
        raise n.error("integer modulo by zero")
    return np.mod(a, b)


_CONSTANT_ONLY: dict[str, Callable[..., np.ndarray]] = {
    "Floor": lambda n, x: np.floor(x),
    "Ceil": lambda n, x: np.ceil(x),
    "Round": lambda n, x: np.round(x),  # half to even, as ONNX
    "Mod": _mod,
    "Range": lambda n, start, limit, delta: np.arange(start.item(), limit.item(), delta.item()).astype(start.dtype),
}


@_handles(*_CONSTANT_ONLY)
def _constant_only(n: _Node) -> list[Any]:
    arrays = [np.asarray(n.const(i, "a value the tensor dialect cannot compute")) for i in range(n.num_inputs)]
    with np.errstate(all="ignore"):
        out = _CONSTANT_ONLY[n.op_type](n, *arrays)
    return [np.asarray(out).astype(np.result_type(*arrays), copy=False)]


# The op types of the default domain the importer maps onto the tensor dialect (some with limits
# on attribute values, listed by the scan), and those it evaluates only on constants.
CONSTANT_ONLY_OPS: frozenset[str] = frozenset(_CONSTANT_ONLY)
SUPPORTED_OPS: frozenset[str] = frozenset(_HANDLERS) - CONSTANT_ONLY_OPS


def supported_op_types() -> list[str]:
    """Every op type the importer handles (SUPPORTED_OPS and CONSTANT_ONLY_OPS), sorted."""
    return sorted(_HANDLERS)


def parse_input_shape(text: str) -> tuple[str, tuple[int, ...]]:
    """`name=1x3x224x224` (the tools' --input-shape) as (name, shape); `name=` is a scalar.
    ValueError with the reason when the text is malformed."""
    name, eq, dims = text.rpartition("=")
    if not eq or not name:
        raise ValueError(f"--input-shape expects NAME=DxDx..., got '{text}'")
    if not dims.strip():
        return name, ()
    try:
        shape = tuple(int(d) for d in dims.lower().split("x"))
    except ValueError:
        raise ValueError(f"--input-shape expects NAME=DxDx... with integer sizes, got '{text}'") from None
    if any(d < 0 for d in shape):
        raise ValueError(f"--input-shape sizes must be non-negative, got '{text}'")
    return name, shape
