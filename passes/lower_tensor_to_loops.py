"""The lower-tensor-to-loops pass: tensor ops to loop nests over memrefs, bufferization included.

    func.func @f(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
      %y = tensor.relu %x : tensor<4x8xf32>
      func.return %y : tensor<4x8xf32>
    }
->
    func.func @f(%x: memref<4x8xf32>, %result0: memref<4x8xf32> {irc.result = 0 : i64}) {
      %0 = memref.reshape %x : memref<4x8xf32> to memref<32xf32>
      %1 = memref.reshape %result0 : memref<4x8xf32> to memref<32xf32>
      loop.for %i = %c0 to %c32 step %c1 {
        %v = memref.load %0[%i] : memref<32xf32>
        %r = arith.maximumf %v, %zero : f32
        memref.store %r, %1[%i] : memref<32xf32>
      }
      func.return
    }

The function ABI (what the backends and the runtime expect):
- tensor arguments become memrefs of the same shape, in order, with their names; a scalar
  argument becomes a rank-0 memref (loaded once at the top);
- each result becomes an output buffer appended to the arguments, with the argument attribute
  `irc.result = <index> : i64` (and `irc.name` copied from the result's attributes); the
  function returns nothing. The op that computes a result writes straight into its output
  buffer (through `memref.reshape` views when reshapes sit in between); a result that is an
  argument, a constant or another result is `memref.copy`'d into its buffer;
- temporaries are `memref.alloc`s without deallocs (`allocate-buffers` plans them);
- `tensor.constant`s become module-level `memref.global`s read with `memref.get_global`;
  splat constants used by element-wise ops become scalar `arith.constant`s.

Loop shapes (what makes the code vectorize):
- every op works on one-dimensional `memref.reshape` views of its buffers with linear index
  arithmetic; element-wise ops (broadcasts, transposes, slices, concatenations and copies
  too) run over their output with per-operand strides (0 on broadcast dims), dims that are
  contiguous for every operand merged, size-1 dims dropped. The outer dims form one
  `loop.parallel`, the innermost dim a unit-stride `loop.for`; loads that do not depend on
  the inner loop are made before it. An inner dim of at least two `PARALLEL_CHUNKS` is split
  into chunks (a parallel dim over chunks, a `loop.for` over one chunk), so that a long flat
  element-wise loop runs on all cores;
- a reduction over the last (contiguous) axis accumulates in `loop.for` iteration arguments
  with `fastmath<reassoc,contract>` so that LLVM vectorizes it; over other axes the
  innermost loop runs over the contiguous kept dim, accumulating in the output buffer;
- matmul and gemm run i, k, j (j innermost and unit stride over B and C); a transposed B
  (or a single column) makes a dot product per element instead;
- conv2d and the pools run the output width innermost. Kernel taps that fall in the padding
  are never visited: per output row the kh taps inside the input are a loop range, and the
  columns split into an interior, where every kw tap is inside (all taps unrolled in one
  unit-stride pass), and border ranges per tap. Rows whose kh taps are all inside form
  their own parallel loop with every kh x kw tap unrolled. conv_transpose2d scatters each
  input row into the output rows and columns it reaches, again over computed ranges. No
  inner loop has a bounds check, and none reads or writes out of bounds.

Everything else in a function must be scalar arith/math; anything left (func.call after
inlining, dynamic shapes, f16/bf16 tensors, an op this pass does not know) is a located
error naming the op. Gather indices out of [-n, n) are clamped to the nearest valid index
(the reference raises); integer division by zero gives 0, as the reference does.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

import attrs
import numpy as np

from dialects import arith, loop, memref, tensor
from dialects import func as funcd
from dialects import math as mathd
from dialects.arith import FastMathAttr, OverflowAttr
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
from irc.ir import Block, Operation, Value
from irc.location import Location
from irc.pass_manager import Pass, PassState
from irc.rewriter import PatternRewriter
from irc.symbol_table import symbol_name
from irc.traits import CallLike, ReturnLike
from irc.types import (
    FloatType,
    FunctionType,
    IndexType,
    MemRefType,
    ShapedType,
    TensorType,
    Type,
    f32,
    f64,
    i1,
    i8,
    i16,
    i32,
    i64,
    index,
)

SUPPORTED_ELEMENTS = (f32, f64, i1, i8, i16, i32, i64)
REASSOC = FastMathAttr(frozenset({"reassoc", "contract"}))
# max/min reductions and pools: the sign of a zero result is unspecified, as in numpy, where
# it depends on the order of the elements; `nsz` lets the backend build a window's maximum
# from plain compare-selects with one NaN test per tree (see irc/backend/llvm.py).
REASSOC_NSZ = FastMathAttr(frozenset({"reassoc", "contract", "nsz"}))
CONTRACT = FastMathAttr(frozenset({"contract"}))
NSW = OverflowAttr(frozenset({"nsw"}))

# An index expression: a Python int (folded at lowering time) or an `index` value.
Ix = int | Value


def row_major_strides(shape: Sequence[int]) -> tuple[int, ...]:
    strides, n = [], 1
    for d in reversed(shape):
        strides.append(n)
        n *= d
    return tuple(reversed(strides))


def broadcast_strides(shape: Sequence[int], out_shape: Sequence[int]) -> tuple[int, ...]:
    """Strides over `out_shape` of an operand of `shape` that broadcasts to it (0 on broadcast dims)."""
    own = row_major_strides(shape)
    offset = len(out_shape) - len(shape)
    return tuple(0 if d < offset or shape[d - offset] == 1 else own[d - offset] for d in range(len(out_shape)))


def _prod(values: Sequence[int]) -> int:
    return math.prod(values)


def collapse(sizes: Sequence[int], strides: Sequence[Sequence[int]]) -> tuple[list[int], list[list[int]]]:
    """Drop size-1 dims and merge a dim into the one before it when every access walks the
    two as one (`stride[d - 1] == stride[d] * size[d]` for all)."""
    out_sizes: list[int] = []
    out_strides: list[list[int]] = [[] for _ in strides]
    for d, n in enumerate(sizes):
        if n == 1:
            continue
        if out_sizes and all(o[-1] == s[d] * n for o, s in zip(out_strides, strides, strict=True)):
            out_sizes[-1] *= n
            for o, s in zip(out_strides, strides, strict=True):
                o[-1] = s[d]
            continue
        out_sizes.append(n)
        for o, s in zip(out_strides, strides, strict=True):
            o.append(s[d])
    return out_sizes, out_strides


@attrs.frozen
class Strided:
    """A loop nest's access to a flat (1-D) memref: element `offset + sum(iv[d] * strides[d])`."""

    memref: Value
    offset: Ix
    strides: tuple[int, ...] = attrs.field(converter=tuple)


# ----------------------------------------------------------------------------- the emitter
class Emitter:
    """Builds loop IR through the rewriter at an insertion point, with the location of the op
    being lowered; folds index arithmetic on Python ints; keeps constants in a prologue."""

    def __init__(self, rewriter: PatternRewriter, entry: Block) -> None:
        self.rewriter = rewriter
        self.entry = entry
        self.prologue_end: Operation | None = None  # constants, globals and views: the top of the entry block
        self.block: Block = entry
        self.anchor: Operation | None = entry.first_op
        self.location: Location = self.anchor.location
        self._constants: dict[tuple[Type, Any], Value] = {}
        self._flat: dict[Value, Value] = {}

    # -- insertion
    def insert(self, op: Operation) -> Operation:
        op.location = self.location
        if self.anchor is not None:
            self.rewriter.insert_op(op, before=self.anchor)
        else:
            self.rewriter.insert_op(op, at_end=self.block)
        return op

    def insert_in_prologue(self, op: Operation) -> Operation:
        if self.prologue_end is None:
            self.rewriter.insert_op(op, at_start=self.entry)
        else:
            self.rewriter.insert_op(op, after=self.prologue_end)
        self.prologue_end = op
        return op

    @contextlib.contextmanager
    def at(self, block: Block, anchor: Operation | None = None) -> Iterator[None]:
        saved = self.block, self.anchor
        self.block, self.anchor = block, anchor
        try:
            yield
        finally:
            self.block, self.anchor = saved

    # -- constants
    def constant(self, value: Any, type: Type) -> Value:
        if isinstance(type, FloatType):
            attr: Attribute = FloatAttr(float(value), type)
            key: Any = attr  # by bit pattern: -0.0 and NaN are kept apart
        else:
            attr = IntegerAttr(int(value), type)
            key = attr
        found = self._constants.get((type, key))
        if found is None:
            op = arith.ConstantOp.build(attr)
            op.location = self.location
            found = self.insert_in_prologue(op).results[0]
            self._constants[(type, key)] = found
        return found

    def v(self, x: Ix) -> Value:
        """An index expression as a value."""
        return self.constant(x, index) if isinstance(x, int) else x

    # -- index arithmetic (Python ints fold)
    def add(self, a: Ix, b: Ix) -> Ix:
        if isinstance(a, int) and isinstance(b, int):
            return a + b
        if isinstance(b, int) and b == 0:
            return a
        if isinstance(a, int) and a == 0:
            return b
        return self._index_op(arith.AddIOp, a, b)

    def sub(self, a: Ix, b: Ix) -> Ix:
        if isinstance(a, int) and isinstance(b, int):
            return a - b
        if isinstance(b, int) and b == 0:
            return a
        return self._index_op(arith.SubIOp, a, b)

    def mul(self, a: Ix, b: Ix) -> Ix:
        if isinstance(a, int) and isinstance(b, int):
            return a * b
        if isinstance(a, int):
            a, b = b, a
        if isinstance(b, int) and b == 0:
            return 0
        if isinstance(b, int) and b == 1:
            return a
        return self._index_op(arith.MulIOp, a, b)

    def _index_op(self, cls: type[Operation], a: Ix, b: Ix) -> Value:
        op = cls(operands=[self.v(a), self.v(b)], result_types=[index], properties={"overflowFlags": NSW})
        return self.insert(op).results[0]

    def max_ix(self, a: Ix, b: Ix) -> Ix:
        if isinstance(a, int) and isinstance(b, int):
            return max(a, b)
        return self.insert(arith.MaxSIOp.build(self.v(a), self.v(b))).results[0]

    def min_ix(self, a: Ix, b: Ix) -> Ix:
        if isinstance(a, int) and isinstance(b, int):
            return min(a, b)
        return self.insert(arith.MinSIOp.build(self.v(a), self.v(b))).results[0]

    def ceildiv_nonneg(self, a: Ix, b: int) -> Ix:
        """ceil(a / b) for a >= 0 and a positive constant b."""
        if isinstance(a, int):
            return -(-a // b)
        if b == 1:
            return a
        return self.insert(arith.DivSIOp.build(self.v(self.add(a, b - 1)), self.v(b))).results[0]

    def div_ix(self, a: Ix, b: int) -> Ix:
        """a / b for a >= 0 and a positive constant b."""
        if isinstance(a, int):
            return a // b
        if b == 1:
            return a
        return self.insert(arith.DivSIOp.build(self.v(a), self.v(b))).results[0]

    def rem_ix(self, a: Ix, b: int) -> Ix:
        if isinstance(a, int):
            return a % b
        if b == 1:
            return 0
        return self.insert(arith.RemSIOp.build(self.v(a), self.v(b))).results[0]

    def linear(self, offset: Ix, ivs: Sequence[Ix], strides: Sequence[int]) -> Ix:
        for iv, s in zip(ivs, strides, strict=True):
            offset = self.add(offset, self.mul(iv, s))
        return offset

    # -- scalar arithmetic
    def op(self, cls: type[Operation], *operands: Value, fastmath: FastMathAttr | None = None) -> Value:
        props = {"fastmath": fastmath} if fastmath is not None else None
        return self.insert(cls(operands=list(operands), result_types=[operands[0].type], properties=props)).results[0]

    def cmp(self, predicate: str, a: Value, b: Value) -> Value:
        cls = arith.CmpFOp if isinstance(a.type, FloatType) else arith.CmpIOp
        return self.insert(cls.build(predicate, a, b)).results[0]

    def select(self, c: Value, a: Value, b: Value) -> Value:
        return self.insert(arith.SelectOp.build(c, a, b)).results[0]

    def cast(self, cls: type[Operation], x: Value, to: Type) -> Value:
        return self.insert(cls.build(x, to)).results[0]

    # -- memory
    def load(self, mem: Value, *idx: Ix) -> Value:
        return self.insert(memref.LoadOp.build(mem, [self.v(i) for i in idx])).results[0]

    def store(self, value: Value, mem: Value, *idx: Ix) -> None:
        self.insert(memref.StoreOp.build(value, mem, [self.v(i) for i in idx]))

    def alloc(self, type: MemRefType) -> Value:
        return self.insert(memref.AllocOp.build(type)).results[0]

    def reshape(self, mem: Value, shape: Sequence[int]) -> Value:
        t = mem.type
        if tuple(t.shape) == tuple(shape):
            return mem
        source = mem.defining_op()
        if isinstance(source, memref.ReshapeOp):  # a view of a view: view the original
            return self.reshape(source.source, shape)
        op = memref.ReshapeOp.build(mem, MemRefType(tuple(shape), t.element_type), location=self.location)
        # Buffers are function-level values: their views go right after them (arguments' views
        # in the prologue), so that a view made inside a loop nest serves the later ones too.
        producer = mem.defining_op()
        if producer is None:
            return self.insert_in_prologue(op).results[0]
        return self.rewriter.insert_op(op, after=producer).results[0]

    def flat(self, mem: Value) -> Value:
        """The one-dimensional view of a buffer (cached)."""
        found = self._flat.get(mem)
        if found is None:
            found = self.reshape(mem, (mem.type.num_elements,))
            self._flat[mem] = found
        return found

    # -- loops
    def for_(
        self,
        lb: Ix,
        ub: Ix,
        body: Callable[[Ix, list[Value]], Sequence[Value] | None],
        inits: Sequence[Value] = (),
        step: int = 1,
    ) -> list[Value]:
        """A `loop.for` whose body `body(iv, iter_args)` builds (returning the yielded values).
        A loop of one iteration known at lowering time is not built: the body runs inline."""
        if isinstance(lb, int) and isinstance(ub, int):
            if ub <= lb:
                return list(inits)
            if ub - lb <= step:
                return list(body(lb, list(inits)) or [])
        op = loop.ForOp.build(self.v(lb), self.v(ub), self.v(step), list(inits))
        self.insert(op)
        with self.at(op.body_block):
            yields = body(op.induction_var, op.iter_args) or []
            self.insert(loop.YieldOp.build(list(yields)))
        return list(op.results)

    def parallel(self, sizes: Sequence[int], body: Callable[[list[Ix]], None]) -> None:
        """A `loop.parallel` over `[0, size)` per dim (size-1 dims are not looped over)."""
        if 0 in sizes:
            return
        dims = [d for d, n in enumerate(sizes) if n != 1]
        if not dims:
            body([0] * len(sizes))
            return
        zero, one = self.v(0), self.v(1)
        op = loop.ParallelOp.build([zero] * len(dims), [self.v(sizes[d]) for d in dims], [one] * len(dims))
        self.insert(op)
        with self.at(op.body_block):
            ivs: list[Ix] = [0] * len(sizes)
            for d, iv in zip(dims, op.induction_vars, strict=True):
                ivs[d] = iv
            body(ivs)
            self.insert(loop.YieldOp.build([]))

    def nest(self, sizes: Sequence[int], body: Callable[[list[Ix]], None], parallel: bool = True) -> None:
        """All of `sizes` as one parallel loop, or as nested sequential loops."""
        if parallel:
            self.parallel(sizes, body)
            return

        def level(d: int, ivs: list[Ix]) -> None:
            if d == len(sizes):
                body(ivs)
                return
            self.for_(0, sizes[d], lambda iv, _: level(d + 1, [*ivs, iv]))

        level(0, [])

    def pointwise(
        self,
        sizes: Sequence[int],
        inputs: Sequence[Strided | Value],
        outputs: Sequence[Strided],
        fn: Callable[[list[Value]], Sequence[Value]],
        parallel: bool = True,
    ) -> None:
        """For every index of the box `sizes`: load the inputs (a Value input is a scalar used
        as is), `fn` them, store the results. Dims are collapsed first; the outer dims form
        one parallel loop (nested sequential loops when not `parallel`), the innermost is a
        unit-stride loop.for; inputs invariant in it are loaded before it."""
        if 0 in sizes:
            return
        accesses = [a for a in (*inputs, *outputs) if isinstance(a, Strided)]
        dims, strides = collapse(sizes, [a.strides for a in accesses])
        collapsed = {id(a): s for a, s in zip(accesses, strides, strict=True)}

        def at_inner(offsets: dict[int, Ix], inner: int | None) -> None:
            pre: dict[int, Value] = {}
            for i, a in enumerate(inputs):
                if isinstance(a, Strided) and (inner is None or collapsed[id(a)][-1] == 0):
                    pre[i] = self.load(a.memref, offsets[id(a)])

            def body(iv: Ix, _: list[Value]) -> None:
                values = []
                for i, a in enumerate(inputs):
                    if not isinstance(a, Strided):
                        values.append(a)
                    elif i in pre:
                        values.append(pre[i])
                    else:
                        values.append(self.load(a.memref, self.add(offsets[id(a)], self.mul(iv, collapsed[id(a)][-1]))))
                results = fn(values)
                for a, r in zip(outputs, results, strict=True):
                    step = collapsed[id(a)][-1] if inner is not None else 0
                    self.store(r, a.memref, self.add(offsets[id(a)], self.mul(iv, step)))

            if inner is None:
                body(0, [])
            else:
                self.for_(0, inner, body)

        if not dims:
            at_inner({id(a): a.offset for a in accesses}, None)
            return
        if parallel:
            dims, strides = _split_long_inner(dims, strides)
            collapsed = {id(a): s for a, s in zip(accesses, strides, strict=True)}
        outer = dims[:-1]

        def outer_body(ivs: list[Ix]) -> None:
            offsets = {id(a): self.linear(a.offset, ivs, collapsed[id(a)][:-1]) for a in accesses}
            at_inner(offsets, dims[-1])

        self.nest(outer, outer_body, parallel)


# A unit-stride inner loop at least twice this long is split into chunks of this many
# elements (when they divide it), the chunks forming a parallel dimension: a same-shape
# element-wise op collapses to one long loop, which would otherwise run on one thread.
PARALLEL_CHUNKS = (65536, 32768, 16384, 8192)


def _split_long_inner(dims: list[int], strides: list[list[int]]) -> tuple[list[int], list[list[int]]]:
    n = dims[-1]
    for chunk in PARALLEL_CHUNKS:
        if n % chunk == 0 and n // chunk >= 2:
            return [*dims[:-1], n // chunk, chunk], [[*s[:-1], s[-1] * chunk, s[-1]] for s in strides]
    return dims, strides


# ----------------------------------------------------------------------------- the pass
@attrs.frozen
class LowerTensorToLoops(Pass):
    """Lower every tensor op to loop nests over memrefs, results into output buffers.

        func.func @f(%x: tensor<8xf32>) -> tensor<8xf32> {     func.func @f(%x: memref<8xf32>,
          %y = tensor.exp %x : tensor<8xf32>           ->                   %result0: memref<8xf32> {irc.result = 0}) {
          func.return %y : tensor<8xf32>                         loop.for %i = %c0 to %c8 step %c1 {
        }                                                          %v = memref.load %x[%i] : memref<8xf32>
                                                                   %e = math.exp %v : f32
                                                                   memref.store %e, %result0[%i] : memref<8xf32>
                                                                 }
                                                                 func.return
                                                               }

    Tensor arguments become memrefs, results output buffers appended to the arguments (see
    the module docstring for the ABI and the shapes of the loop nests).
    """

    name: ClassVar[str] = "lower-tensor-to-loops"
    statistics: ClassVar[dict[str, str]] = {
        "num-lowered-ops": "Number of tensor ops lowered",
        "num-temporaries": "Number of temporary buffers allocated",
        "num-globals": "Number of constants made memref.globals",
    }

    def run(self, op: Operation, state: PassState) -> None:
        rewriter = PatternRewriter()
        for inner in op.walk():
            if inner.has_trait(CallLike):
                raise inner.emit_error(
                    f"cannot lower '{inner.name}': calls must be inlined before lower-tensor-to-loops"
                )
        functions = [f for f in op.walk_ops(funcd.FuncOp)]
        globals_ = _Globals(op, rewriter, state)
        for f in functions:
            _check_function(f)
        for f in functions:
            _FunctionLowering(f, globals_, rewriter, state).run()
        state.changed = rewriter.changed


def _element_problem(t: Type) -> str | None:
    """Why a value of type `t` cannot be lowered (None when it can)."""
    if isinstance(t, ShapedType):
        if not isinstance(t, TensorType):
            return f"'{t}' values are not supported"
        if not t.has_static_shape:
            return f"dynamic shapes are not supported ('{t}')"
        t = t.element_type
    if t not in SUPPORTED_ELEMENTS and not isinstance(t, IndexType):
        return f"element type '{t}' is not supported (f32, f64, i1, i8, i16, i32, i64)"
    return None


def _check_function(f: funcd.FuncOp) -> None:
    """Fail with a located error before anything changes when a function cannot be lowered."""
    ftype = f.type
    for i, t in enumerate([*ftype.inputs, *ftype.results]):
        what = f"argument #{i}" if i < len(ftype.inputs) else f"result #{i - len(ftype.inputs)}"
        problem = _element_problem(t)
        if problem is None and t == index:
            problem = "'index' values have no array type"
        if problem is not None:
            raise f.emit_error(f"cannot lower the function's {what}: {problem}")
    if f.is_declaration:
        return
    if len(f.regions[0].blocks) != 1:
        raise f.emit_error("cannot lower a function of more than one block")
    for op in f.entry.ops:
        known = type(op) in LOWERINGS or op.has_trait(ReturnLike) or isinstance(op, arith.ArithOp)
        if not known or op.regions:
            raise op.emit_error(f"cannot lower '{op.name}': lower-tensor-to-loops has no lowering for it")
        for v in [*op.operands, *op.results]:
            problem = _element_problem(v.type)
            if problem is not None:
                raise op.emit_error(f"cannot lower '{op.name}': {problem}")
        if type(op) not in LOWERINGS and any(isinstance(v.type, ShapedType) for v in [*op.operands, *op.results]):
            if not op.has_trait(ReturnLike):
                raise op.emit_error(f"cannot lower '{op.name}' on tensors: only tensor ops are lowered")


class _Globals:
    """Module-level `memref.global`s for constants, one per distinct value, uniquely named."""

    def __init__(self, module: Operation, rewriter: PatternRewriter, state: PassState) -> None:
        self.module = module
        self.rewriter = rewriter
        self.state = state
        self.taken = {symbol_name(op) for op in module.regions[0].ops if symbol_name(op) is not None}
        self.by_value: dict[Attribute, str] = {}
        self.counter = 0

    def name_for(self, value: DenseElementsAttr | DenseResourceAttr, before: Operation, location: Location) -> str:
        found = self.by_value.get(value)
        if found is not None:
            return found
        while f"cst_{self.counter}" in self.taken:
            self.counter += 1
        name = f"cst_{self.counter}"
        self.taken.add(name)
        self.by_value[value] = name
        self.rewriter.insert_op(memref.GlobalOp.build(name, value, location=location), before=before)
        self.state.stat("num-globals")
        return name


# Tensor ops whose result is the operand's buffer seen with another shape (no copy).
RESHAPES = (tensor.ReshapeOp, tensor.FlattenOp, tensor.SqueezeOp, tensor.UnsqueezeOp)


class _FunctionLowering:
    """Lowers one function: its signature, then each op in order, writing results into the
    output buffers where they are function results."""

    def __init__(self, f: funcd.FuncOp, globals_: _Globals, rewriter: PatternRewriter, state: PassState) -> None:
        self.f = f
        self.globals = globals_
        self.rewriter = rewriter
        self.state = state
        self.buffers: dict[Value, Value] = {}  # tensor value -> its memref
        self.dest: dict[Value, tuple[Value, int]] = {}  # tensor value -> (output buffer, result index)
        self.result_types = list(f.type.results)
        self.em: Emitter

    # -- driver
    def run(self) -> None:
        f = self.f
        if f.is_declaration:
            self._retype(list(map(_buffer_type, f.type.inputs)), [])
            return
        block = f.entry
        ret = block.last_op
        self.em = Emitter(self.rewriter, block)
        outputs = self._rewrite_signature(ret)
        self._plan_destinations(ret, outputs)
        for op in list(block.ops):
            if op is ret:
                break
            lower = LOWERINGS.get(type(op))
            if lower is None:
                continue  # scalar arith/math stays
            self.em.location = op.location
            self.em.block, self.em.anchor = block, op
            if not isinstance(op, (*RESHAPES, tensor.ConstantOp)) and not any(r.type.num_elements for r in op.results):
                for r in op.results:  # empty results: nothing to compute
                    self.result_buffer(r)
                continue
            lower(self, op)
            self.state.stat("num-lowered-ops")
        self.em.location = ret.location
        self.em.block, self.em.anchor = block, ret
        self._write_results(ret, outputs)
        for op in reversed(list(block.ops)):
            if type(op) in LOWERINGS:
                self.rewriter.erase_op(op)

    def _retype(self, inputs: list[Type], results: list[Type]) -> None:
        with self.rewriter.modify_op_in_place(self.f):
            self.f.properties["function_type"] = TypeAttr(FunctionType(inputs, results))

    def _rewrite_signature(self, ret: Operation) -> list[Value]:
        """Arguments to memrefs, one output buffer per result; returns the output buffers."""
        f, block = self.f, self.f.entry
        scalars = [arg for arg in block.args if not isinstance(arg.type, TensorType)]
        res_attrs = f.res_attrs.elements if f.res_attrs is not None else [None] * len(f.type.results)
        arg_attrs = list(f.arg_attrs.elements) if f.arg_attrs is not None else [DictionaryAttr({})] * len(block.args)
        outputs = []
        with self.rewriter.modify_op_in_place(f):
            for arg in block.args:
                arg.type = _buffer_type(arg.type)  # a scalar: a rank-0 memref
                self.buffers[arg] = arg
            for i, (t, extra) in enumerate(zip(f.type.results, res_attrs, strict=True)):
                entries: dict[str, Attribute] = dict(extra.entries) if extra is not None else {}
                name = entries.get("irc.name")
                entries["irc.result"] = IntegerAttr(i, i64)
                hint = name.value if isinstance(name, StringAttr) and name.value.isidentifier() else f"result{i}"
                outputs.append(block.add_arg(_buffer_type(t), hint))
                arg_attrs.append(DictionaryAttr(entries))
            f.properties["arg_attrs"] = ArrayAttr(arg_attrs)
            f.properties.pop("res_attrs", None)
            f.properties["function_type"] = TypeAttr(FunctionType([a.type for a in block.args], []))
        for arg in scalars:  # loaded once at the top
            load = self.em.insert_in_prologue(memref.LoadOp.build(arg, [], location=f.location))
            self.rewriter.replace_uses_if(arg, load.results[0], lambda user, _, load=load: user is not load)
        return outputs

    def _plan_destinations(self, ret: Operation, outputs: list[Value]) -> None:
        """The ops computing function results write into the output buffers: through reshape
        ops too, when the reshaped value is computed here and is not a result itself."""
        for i, v in enumerate(ret.operands):
            chain = []
            while v not in self.dest and _computed(v):
                chain.append(v)
                producer = v.defining_op()
                if not isinstance(producer, RESHAPES):
                    for w in chain:  # the chain ends at an op that can write the buffer
                        self.dest[w] = (outputs[i], i)
                    break
                v = producer.operand(0)

    def _write_results(self, ret: Operation, outputs: list[Value]) -> None:
        for i, (v, out) in enumerate(zip(ret.operands, outputs, strict=True)):
            if not isinstance(self.result_types[i], TensorType):
                self.em.store(v, out)
                continue
            planned = self.dest.get(v)
            if planned is not None and planned[1] == i:
                continue  # computed in place
            if v.type.num_elements:
                self.em.insert(memref.CopyOp.build(self.buffer(v), out))
        self.rewriter.replace_op(ret, funcd.ReturnOp.build([]))
        self.em.block, self.em.anchor = self.f.entry, None

    # -- buffers
    def buffer(self, v: Value) -> Value:
        """The memref holding tensor `v` (a constant's global, made on first use)."""
        found = self.buffers.get(v)
        if found is not None:
            return found
        producer = v.defining_op()
        if not isinstance(producer, tensor.ConstantOp):
            raise AssertionError(f"no buffer for {v}")
        name = self.globals.name_for(producer.value, self.f, producer.location)
        op = memref.GetGlobalOp.build(name, _buffer_type(v.type), location=producer.location)
        found = self.em.insert_in_prologue(op).results[0]
        self.buffers[v] = found
        return found

    def result_buffer(self, v: Value) -> Value:
        """Where the op defining `v` writes it: a view of an output buffer, or a new temporary."""
        planned = self.dest.get(v)
        if planned is not None:
            found = self.em.reshape(planned[0], v.type.shape)
        else:
            found = self.em.alloc(_buffer_type(v.type))
            self.state.stat("num-temporaries")
        self.buffers[v] = found
        return found

    def flat(self, v: Value) -> Value:
        return self.em.flat(self.buffer(v))

    def constant_buffer(self, array: np.ndarray, elt: Type) -> Value:
        """A global holding `array` (as `elt`), read in the prologue."""
        t = TensorType(array.shape, elt)
        name = self.globals.name_for(DenseElementsAttr.from_numpy(t, array), self.f, self.em.location)
        op = memref.GetGlobalOp.build(name, _buffer_type(t), location=self.em.location)
        return self.em.insert_in_prologue(op).results[0]

    def splat(self, v: Value) -> Value | None:
        """A scalar `arith.constant` for a splat constant tensor, else None."""
        producer = v.defining_op()
        if not isinstance(producer, tensor.ConstantOp) or not isinstance(producer.value, DenseElementsAttr):
            return None
        attr = producer.value
        if not attr.splat and attr.type.num_elements != 1:
            return None
        scalar = attr.to_numpy().reshape(-1)[0].item()
        return self.em.constant(scalar, v.type.element_type)

    def access(self, v: Value, out_shape: Sequence[int]) -> Strided | Value:
        """How an element-wise nest over `out_shape` reads `v` (broadcast), or its splat scalar."""
        scalar = self.splat(v)
        if scalar is not None:
            return scalar
        return Strided(self.flat(v), 0, broadcast_strides(v.type.shape, out_shape))

    def output(self, v: Value) -> Strided:
        buf = self.result_buffer(v)
        return Strided(self.em.flat(buf), 0, row_major_strides(v.type.shape))


def _buffer_type(t: Type) -> MemRefType:
    if isinstance(t, TensorType):
        return MemRefType(t.shape, t.element_type)
    return MemRefType((), t)


def _computed(v: Value) -> bool:
    """`v` is computed by a tensor op of the function (not an argument, not a constant)."""
    producer = v.defining_op()
    return producer is not None and type(producer) in LOWERINGS and not isinstance(producer, tensor.ConstantOp)


LOWERINGS: dict[type[Operation], Callable[[_FunctionLowering, Operation], None]] = {}


def lowers(*classes: type[Operation]) -> Callable:
    def register(fn: Callable[[_FunctionLowering, Operation], None]) -> Callable:
        for cls in classes:
            LOWERINGS[cls] = fn
        return fn

    return register


# ----------------------------------------------------------------------------- constants and views
@lowers(tensor.ConstantOp)
def _lower_constant(fl: _FunctionLowering, op: Operation) -> None:
    """Nothing to do here: uses read the global (made on first use) or a splat scalar."""


@lowers(*RESHAPES)
def _lower_reshape(fl: _FunctionLowering, op: Operation) -> None:
    """The operand's buffer with the result's shape: same elements, same order, no copy."""
    out = op.results[0]
    fl.buffers[out] = fl.em.reshape(fl.buffer(op.operand(0)), out.type.shape)


# ----------------------------------------------------------------------------- element-wise
def _is_float(t: Type) -> bool:
    return isinstance(t, FloatType)


_BINARY = {
    tensor.AddOp: (arith.AddFOp, arith.AddIOp),
    tensor.SubOp: (arith.SubFOp, arith.SubIOp),
    tensor.MulOp: (arith.MulFOp, arith.MulIOp),
    tensor.MaxOp: (arith.MaximumFOp, arith.MaxSIOp),  # maximumf: NaN propagates, as np.maximum
    tensor.MinOp: (arith.MinimumFOp, arith.MinSIOp),
    tensor.PowOp: (mathd.PowFOp, None),
}
_COMPARE = {
    tensor.EqualOp: ("oeq", "eq"),
    tensor.LessOp: ("olt", "slt"),
    tensor.LessOrEqualOp: ("ole", "sle"),
    tensor.GreaterOp: ("ogt", "sgt"),
    tensor.GreaterOrEqualOp: ("oge", "sge"),
}


def _int_div(em: Emitter, a: Value, b: Value) -> Value:
    """C division (toward zero); x / 0 = 0 and MIN / -1 = MIN (wrapping), as the reference,
    without ever executing a trapping division."""
    t = a.type
    zero, one, minus_one = em.constant(0, t), em.constant(1, t), em.constant(-1, t)
    by_zero, by_minus_one = em.cmp("eq", b, zero), em.cmp("eq", b, minus_one)
    safe = em.select(em.op(arith.OrIOp, by_zero, by_minus_one), one, b)
    q = em.select(by_minus_one, em.op(arith.SubIOp, zero, a), em.op(arith.DivSIOp, a, safe))
    return em.select(by_zero, zero, q)


def binary_fn(em: Emitter, op: Operation) -> Callable[[Value, Value], Value]:
    elt = op.operand(0).type.element_type
    cls = type(op)
    if cls in _COMPARE:
        pred = _COMPARE[cls][0 if _is_float(elt) else 1]
        return lambda a, b: em.cmp(pred, a, b)
    if cls is tensor.DivOp:
        if _is_float(elt):
            return lambda a, b: em.op(arith.DivFOp, a, b)
        return lambda a, b: _int_div(em, a, b)
    impl = _BINARY[cls][0 if _is_float(elt) else 1]
    return lambda a, b: em.op(impl, a, b)


def _gelu(em: Emitter, x: Value, approximate: str) -> Value:
    t = x.type
    half, one = em.constant(0.5, t), em.constant(1.0, t)
    if approximate == "tanh":
        cube = em.op(arith.MulFOp, em.op(arith.MulFOp, x, x), x)
        inner = em.op(arith.AddFOp, x, em.op(arith.MulFOp, em.constant(0.044715, t), cube))
        k = em.op(mathd.TanhOp, em.op(arith.MulFOp, em.constant(math.sqrt(2.0 / math.pi), t), inner))
    else:
        k = em.op(mathd.ErfOp, em.op(arith.MulFOp, x, em.constant(1.0 / math.sqrt(2.0), t)))
    return em.op(arith.MulFOp, em.op(arith.MulFOp, half, x), em.op(arith.AddFOp, one, k))


def _elu_core(em: Emitter, x: Value, alpha: float) -> Value:
    """x > 0 ? x : alpha * expm1(min(x, 0))."""
    t = x.type
    zero = em.constant(0.0, t)
    neg = em.op(arith.MulFOp, em.constant(alpha, t), em.op(mathd.ExpM1Op, em.op(arith.MinimumFOp, x, zero)))
    return em.select(em.cmp("ogt", x, zero), x, neg)


def unary_fn(em: Emitter, op: Operation) -> Callable[[Value], Value]:
    """The scalar function of a unary element-wise op (its `reference`, for one element)."""
    elt = op.operand(0).type.element_type
    p = op.attrs
    cls = type(op)
    f = em.op
    if not _is_float(elt):
        zero = em.constant(0, elt)
        if cls is tensor.NegOp:
            return lambda x: f(arith.SubIOp, zero, x)
        if cls is tensor.AbsOp:
            return lambda x: em.select(em.cmp("slt", x, zero), f(arith.SubIOp, zero, x), x)
        if cls is tensor.ReluOp:
            return lambda x: f(arith.MaxSIOp, x, zero)
        if cls is tensor.ClipOp:
            return _clip_fn(em, op, arith.MaxSIOp, arith.MinSIOp)
        raise op.emit_error(f"cannot lower '{op.name}' on '{elt}'")
    zero, one = em.constant(0.0, elt), em.constant(1.0, elt)
    simple = {
        tensor.ExpOp: mathd.ExpOp,
        tensor.LogOp: mathd.LogOp,
        tensor.SqrtOp: mathd.SqrtOp,
        tensor.ErfOp: mathd.ErfOp,
        tensor.TanhOp: mathd.TanhOp,
        tensor.AbsOp: mathd.AbsFOp,
        tensor.NegOp: arith.NegFOp,
    }
    if cls in simple:
        return lambda x: f(simple[cls], x)
    if cls is tensor.RsqrtOp:
        return lambda x: f(arith.DivFOp, one, f(mathd.SqrtOp, x))
    if cls is tensor.ReluOp:
        return lambda x: f(arith.MaximumFOp, x, zero)
    if cls is tensor.SigmoidOp:

        def sigmoid(x: Value) -> Value:
            # 1 / (1 + exp(-x)): exp overflowing to inf gives the limit 0, so no branch is needed.
            return f(arith.DivFOp, one, f(arith.AddFOp, one, f(mathd.ExpOp, f(arith.NegFOp, x))))

        return sigmoid
    if cls is tensor.SoftplusOp:  # logaddexp(0, x) = max(x, 0) + log1p(exp(-|x|))
        return lambda x: f(
            arith.AddFOp,
            f(arith.MaximumFOp, x, zero),
            f(mathd.Log1pOp, f(mathd.ExpOp, f(arith.NegFOp, f(mathd.AbsFOp, x)))),
        )
    if cls is tensor.LeakyReluOp:
        alpha = em.constant(p.float("alpha", 0.01), elt)
        return lambda x: em.select(em.cmp("oge", x, zero), x, f(arith.MulFOp, x, alpha))
    if cls is tensor.GeluOp:
        approximate = p.string("approximate", "none", ("none", "tanh"))
        return lambda x: _gelu(em, x, approximate)
    if cls is tensor.EluOp:
        alpha_value = p.float("alpha", 1.0)
        return lambda x: _elu_core(em, x, alpha_value)
    if cls is tensor.SeluOp:
        alpha_value = p.float("alpha", tensor.SELU_ALPHA)
        gamma = em.constant(p.float("gamma", tensor.SELU_GAMMA), elt)
        return lambda x: f(arith.MulFOp, gamma, _elu_core(em, x, alpha_value))
    if cls is tensor.HardSigmoidOp:
        alpha, beta = em.constant(p.float("alpha", 0.2), elt), em.constant(p.float("beta", 0.5), elt)
        return lambda x: f(
            arith.MinimumFOp, f(arith.MaximumFOp, f(arith.AddFOp, f(arith.MulFOp, alpha, x), beta), zero), one
        )
    if cls is tensor.ClipOp:
        return _clip_fn(em, op, arith.MaximumFOp, arith.MinimumFOp)
    raise op.emit_error(f"cannot lower '{op.name}': no scalar lowering")


def _clip_fn(em: Emitter, op: Operation, maximum: type, minimum: type) -> Callable[[Value], Value]:
    elt = op.operand(0).type.element_type
    lo, hi = op.attrs.number("min", elt), op.attrs.number("max", elt)
    lo_v = None if lo is None else em.constant(lo, elt)
    hi_v = None if hi is None else em.constant(hi, elt)

    def clip(x: Value) -> Value:
        if lo_v is not None:
            x = em.op(maximum, x, lo_v)
        if hi_v is not None:
            x = em.op(minimum, x, hi_v)
        return x

    return clip


def cast_fn(em: Emitter, src: Type, dst: Type) -> Callable[[Value], Value]:
    """numpy's astype for one element: floats to ints truncate (through i32 for i8/i16, as
    numpy does on x86), anything to i1 is `!= 0` (NaN is true), i1 to numbers is 0/1."""
    if src == dst:
        return lambda x: x
    if dst == i1:
        if _is_float(src):
            return lambda x: em.cmp("une", x, em.constant(0.0, src))
        return lambda x: em.cmp("ne", x, em.constant(0, src))
    if _is_float(src) and _is_float(dst):
        cls = arith.ExtFOp if dst.width > src.width else arith.TruncFOp
        return lambda x: em.cast(cls, x, dst)
    if _is_float(dst):
        cls = arith.UIToFPOp if src == i1 else arith.SIToFPOp
        return lambda x: em.cast(cls, x, dst)
    if _is_float(src):
        if dst.width < 32:
            return lambda x: em.cast(arith.TruncIOp, em.cast(arith.FPToSIOp, x, i32), dst)
        return lambda x: em.cast(arith.FPToSIOp, x, dst)
    if dst.width > src.width:
        cls = arith.ExtUIOp if src == i1 else arith.ExtSIOp
        return lambda x: em.cast(cls, x, dst)
    return lambda x: em.cast(arith.TruncIOp, x, dst)


ELEMENTWISE_UNARY = (
    tensor.NegOp, tensor.AbsOp, tensor.ExpOp, tensor.LogOp, tensor.SqrtOp, tensor.RsqrtOp, tensor.ErfOp,
    tensor.ReluOp, tensor.SigmoidOp, tensor.TanhOp, tensor.SoftplusOp, tensor.LeakyReluOp, tensor.GeluOp,
    tensor.EluOp, tensor.SeluOp, tensor.HardSigmoidOp, tensor.ClipOp,
)  # fmt: skip
ELEMENTWISE_BINARY = (*_BINARY, tensor.DivOp, *_COMPARE)


@lowers(*ELEMENTWISE_UNARY, *ELEMENTWISE_BINARY, tensor.WhereOp, tensor.CastOp, tensor.BroadcastToOp)
def _lower_elementwise(fl: _FunctionLowering, op: Operation) -> None:
    """One loop nest over the output; operands broadcast with stride 0."""
    out = op.results[0]
    em = fl.em
    if isinstance(op, tensor.WhereOp):
        fn: Callable[..., Value] = em.select
    elif isinstance(op, tensor.CastOp):
        fn = cast_fn(em, op.operand(0).type.element_type, out.type.element_type)
    elif isinstance(op, tensor.BroadcastToOp):
        fn = lambda x: x  # noqa: E731
    elif op.num_operands == 2:
        fn = binary_fn(em, op)
    else:
        fn = unary_fn(em, op)
    shape = out.type.shape
    inputs = [fl.access(v, shape) for v in op.operands]
    em.pointwise(shape, inputs, [fl.output(out)], lambda values: [fn(*values)])


# ----------------------------------------------------------------------------- reductions
@attrs.frozen
class Reduction:
    """How to reduce: the accumulator's type, its initial value, how an element joins it,
    and the output element made of the final accumulator."""

    acc_type: Type
    identity: float | int
    combine: Callable[[Emitter, Value, Value], Value]
    finalize: Callable[[Emitter, Value, int], Value] | None = None  # (acc, count) -> output element


def _combiner(float_cls: type, int_cls: type, fastmath: FastMathAttr | None = REASSOC) -> Callable:
    def combine(em: Emitter, acc: Value, x: Value) -> Value:
        if _is_float(acc.type):
            return em.op(float_cls, acc, x, fastmath=fastmath)
        if x.type != acc.type:
            x = em.cast(arith.ExtSIOp, x, acc.type)
        return em.op(int_cls, acc, x)

    return combine


def _int_limits(t: Type) -> tuple[int, int]:
    return -(1 << (t.width - 1)), (1 << (t.width - 1)) - 1


def reduction_kind(kind: str, elt: Type) -> Reduction:
    """sum, prod, max, min, mean of elements of type `elt` (as the reference: integers wrap,
    an integer mean is the float64 mean truncated)."""
    floating = _is_float(elt)
    if kind == "sum":
        return Reduction(elt, 0, _combiner(arith.AddFOp, arith.AddIOp))
    if kind == "prod":
        return Reduction(elt, 1, _combiner(arith.MulFOp, arith.MulIOp))
    if kind == "max":
        return Reduction(
            elt,
            -math.inf if floating else _int_limits(elt)[0],
            _combiner(arith.MaximumFOp, arith.MaxSIOp, REASSOC_NSZ),
        )
    if kind == "min":
        return Reduction(
            elt,
            math.inf if floating else _int_limits(elt)[1],
            _combiner(arith.MinimumFOp, arith.MinSIOp, REASSOC_NSZ),
        )
    assert kind == "mean"
    if floating:
        return Reduction(
            elt,
            0,
            _combiner(arith.AddFOp, arith.AddIOp),
            lambda em, acc, n: em.op(arith.DivFOp, acc, em.constant(float(n), elt)),
        )

    def int_mean(em: Emitter, acc: Value, n: int) -> Value:
        mean = em.op(arith.DivFOp, em.cast(arith.SIToFPOp, acc, f64), em.constant(float(n), f64))
        return cast_fn(em, f64, elt)(mean)

    return Reduction(i64, 0, _combiner(arith.AddFOp, arith.AddIOp), int_mean)


def _reduce_groups(shape: Sequence[int], axes: Sequence[int]) -> list[tuple[int, bool, int]]:
    """(size, reduced, input stride) per run of same-kind dims (size-1 dims dropped)."""
    strides = row_major_strides(shape)
    groups: list[tuple[int, bool, int]] = []
    for d, n in enumerate(shape):
        if n == 1:
            continue
        reduced = d in axes
        if groups and groups[-1][1] == reduced:
            groups[-1] = (groups[-1][0] * n, reduced, strides[d])
        else:
            groups.append((n, reduced, strides[d]))
    return groups


def emit_reduction(
    fl: _FunctionLowering, x: Value, axes: Sequence[int], out: Value, out_buffer: Value, kind: str
) -> None:
    """out = reduce(x over axes), `out_buffer` holding out's elements in order (kept dims)."""
    em = fl.em
    shape = x.type.shape
    elt = x.type.element_type
    red = reduction_kind(kind, elt)
    count = _prod([shape[a] for a in axes])
    dst = em.flat(out_buffer)
    if _prod(shape) == 0:  # an empty reduction (sum or prod): the identity
        value = em.constant(red.identity, elt)
        em.pointwise([out.type.num_elements], [value], [Strided(dst, 0, [1])], lambda v: v)
        return
    src = fl.flat(x)
    groups = _reduce_groups(shape, axes)
    kept = [g for g in groups if not g[1]]
    reduced = [g for g in groups if g[1]]
    out_strides = row_major_strides([g[0] for g in kept])

    def finish(acc: Value) -> Value:
        return red.finalize(em, acc, count) if red.finalize is not None else acc

    def load_acc(offset: Ix) -> Value:
        value = em.load(src, offset)
        return value if value.type == red.acc_type else em.cast(arith.ExtSIOp, value, red.acc_type)

    if not reduced:  # only size-1 dims are reduced: the same elements, finalized
        em.pointwise(
            [out.type.num_elements],
            [Strided(src, 0, [1])],
            [Strided(dst, 0, [1])],
            lambda v: [finish(red.combine(em, em.constant(red.identity, red.acc_type), v[0]))],
        )
        return
    if not kept or groups[-1][1]:
        # The last dims are reduced: per output element, loops with the accumulator in
        # iteration arguments (reassociable, so the innermost vectorizes).
        def per_output(ivs: list[Ix]) -> None:
            in_off = em.linear(0, ivs, [g[2] for g in kept])
            out_off = em.linear(0, ivs, out_strides)

            def level(k: int, offset: Ix, acc: Value) -> Value:
                size, _, stride = reduced[k]

                def body(iv: Ix, args: list[Value]) -> list[Value]:
                    o = em.add(offset, em.mul(iv, stride))
                    if k + 1 == len(reduced):
                        return [red.combine(em, args[0], em.load(src, o))]
                    return [level(k + 1, o, args[0])]

                return em.for_(0, size, body, [acc])[0]

            acc = level(0, in_off, em.constant(red.identity, red.acc_type))
            em.store(finish(acc), dst, out_off)

        em.parallel([g[0] for g in kept], per_output)
        return

    # The last dims are kept: the innermost loop runs over them (unit stride), accumulating
    # into the output buffer (a temporary when the accumulator has another type).
    inner = kept[-1][0]
    acc_buf = dst
    if red.acc_type != elt:
        acc_buf = em.flat(em.alloc(MemRefType((out.type.num_elements,), red.acc_type)))
        fl.state.stat("num-temporaries")
    identity = em.constant(red.identity, red.acc_type)

    def per_row(ivs: list[Ix]) -> None:
        in_off = em.linear(0, ivs, [g[2] for g in kept[:-1]])
        out_off = em.linear(0, ivs, out_strides[:-1])

        def init(j: Ix, _: list[Value]) -> None:
            em.store(identity, acc_buf, em.add(out_off, j))

        em.for_(0, inner, init)

        def level(k: int, offset: Ix) -> None:
            if k == len(reduced):

                def body(j: Ix, _: list[Value]) -> None:
                    o = em.add(out_off, j)
                    value = load_acc(em.add(offset, j))
                    em.store(red.combine(em, em.load(acc_buf, o), value), acc_buf, o)

                em.for_(0, inner, body)
                return
            size, _, stride = reduced[k]
            em.for_(0, size, lambda iv, _: level(k + 1, em.add(offset, em.mul(iv, stride))))

        level(0, in_off)
        if red.finalize is not None:

            def final(j: Ix, _: list[Value]) -> None:
                o = em.add(out_off, j)
                em.store(finish(em.load(acc_buf, o)), dst, o)

            em.for_(0, inner, final)

    em.parallel([g[0] for g in kept[:-1]], per_row)


_REDUCE_KINDS = {
    tensor.ReduceSumOp: "sum",
    tensor.ReduceMeanOp: "mean",
    tensor.ReduceMaxOp: "max",
    tensor.ReduceMinOp: "min",
    tensor.ReduceProdOp: "prod",
    tensor.GlobalAvgPoolOp: "mean",
    tensor.GlobalMaxPoolOp: "max",
}


@lowers(*_REDUCE_KINDS)
def _lower_reduce(fl: _FunctionLowering, op: Operation) -> None:
    x, out = op.operand(0), op.results[0]
    if isinstance(op, tensor.GlobalAvgPoolOp | tensor.GlobalMaxPoolOp):
        axes = [2, 3]
    else:
        axes = type(op).reduced_axes(x.type.rank, op.attrs)
    emit_reduction(fl, x, axes, out, fl.result_buffer(out), _REDUCE_KINDS[type(op)])


def _outer_axis_inner(shape: Sequence[int], axis: int) -> tuple[int, int, int]:
    return _prod(shape[:axis]), shape[axis], _prod(shape[axis + 1 :])


@lowers(tensor.ArgMaxOp)
def _lower_argmax(fl: _FunctionLowering, op: Operation) -> None:
    """The first (or last) index of the largest element; NaN counts as the largest (numpy)."""
    em = fl.em
    x, out = op.operand(0), op.results[0]
    p = op.attrs
    axis = p.int("axis", 0)
    axis = axis + x.type.rank if axis < 0 else axis
    last = p.flag("select_last_index", False)
    outer, k, inner = _outer_axis_inner(x.type.shape, axis)
    src, dst = fl.flat(x), em.flat(fl.result_buffer(out))
    floating = _is_float(x.type.element_type)

    def better(v: Value, best: Value) -> Value:
        if not floating:
            return em.cmp("sge" if last else "sgt", v, best)
        if last:  # v >= best, or v is NaN (the last NaN wins)
            return em.op(arith.OrIOp, em.cmp("oge", v, best), em.cmp("uno", v, v))
        # v > best, or v is the first NaN
        return em.op(
            arith.OrIOp, em.cmp("ogt", v, best), em.op(arith.AndIOp, em.cmp("uno", v, v), em.cmp("ord", best, best))
        )

    def to_i64(iv: Ix) -> Value:
        return em.cast(arith.IndexCastOp, em.v(iv), i64)

    if inner == 1:

        def per_row(ivs: list[Ix]) -> None:
            base = em.mul(ivs[0], k)

            def body(j: Ix, args: list[Value]) -> list[Value]:
                v = em.load(src, em.add(base, j))
                take = better(v, args[0])
                return [em.select(take, v, args[0]), em.select(take, to_i64(j), args[1])]

            _, idx = em.for_(1, k, body, [em.load(src, base), em.constant(0, i64)])
            em.store(idx, dst, ivs[0])

        em.parallel([outer], per_row)
        return
    best_buf = em.flat(em.alloc(MemRefType((outer * inner,), x.type.element_type)))
    fl.state.stat("num-temporaries")

    def per_block(ivs: list[Ix]) -> None:
        base = em.mul(ivs[0], k * inner)
        row = em.mul(ivs[0], inner)
        zero = em.constant(0, i64)

        def init(j: Ix, _: list[Value]) -> None:
            em.store(em.load(src, em.add(base, j)), best_buf, em.add(row, j))
            em.store(zero, dst, em.add(row, j))

        em.for_(0, inner, init)

        def step(kk: Ix, _: list[Value]) -> None:
            offset = em.add(base, em.mul(kk, inner))
            kk64 = to_i64(kk)

            def body(j: Ix, _: list[Value]) -> None:
                o = em.add(row, j)
                v, best = em.load(src, em.add(offset, j)), em.load(best_buf, o)
                take = better(v, best)
                em.store(em.select(take, v, best), best_buf, o)
                em.store(em.select(take, kk64, em.load(dst, o)), dst, o)

            em.for_(0, inner, body)

        em.for_(1, k, step)

    em.parallel([outer], per_block)


# ----------------------------------------------------------------------------- softmax, norms
@lowers(tensor.SoftmaxOp, tensor.LogSoftmaxOp)
def _lower_softmax(fl: _FunctionLowering, op: Operation) -> None:
    """Per row: the max, then exp(x - max) with its sum (softmax stores the exps), then the
    scaling (softmax) or x - max - log(sum) (log_softmax)."""
    em = fl.em
    x, out = op.operand(0), op.results[0]
    elt = x.type.element_type
    axis = op.attrs.int("axis", -1)
    axis = axis + x.type.rank if axis < 0 else axis
    outer, k, inner = _outer_axis_inner(x.type.shape, axis)
    src, dst = fl.flat(x), em.flat(fl.result_buffer(out))
    log = isinstance(op, tensor.LogSoftmaxOp)
    neg_inf, zero, one = em.constant(-math.inf, elt), em.constant(0.0, elt), em.constant(1.0, elt)
    f = em.op

    if inner == 1:

        def per_row(ivs: list[Ix]) -> None:
            base = em.mul(ivs[0], k)

            # The max only keeps exp() in range: maxnumf (NaN ignored, cheaper than the
            # NaN-propagating maximumf on x86) gives the same softmax, since a NaN in the row
            # still reaches every output through exp(NaN - m) in the sum.
            def max_body(j: Ix, args: list[Value]) -> list[Value]:
                return [f(arith.MaxNumFOp, args[0], em.load(src, em.add(base, j)), fastmath=REASSOC)]

            m = em.for_(0, k, max_body, [neg_inf])[0]

            def sum_body(j: Ix, args: list[Value]) -> list[Value]:
                e = f(mathd.ExpOp, f(arith.SubFOp, em.load(src, em.add(base, j)), m))
                if not log:
                    em.store(e, dst, em.add(base, j))
                return [f(arith.AddFOp, args[0], e, fastmath=REASSOC)]

            s = em.for_(0, k, sum_body, [zero])[0]
            if log:
                ls = f(mathd.LogOp, s)

                def out_body(j: Ix, _: list[Value]) -> None:
                    o = em.add(base, j)
                    em.store(f(arith.SubFOp, f(arith.SubFOp, em.load(src, o), m), ls), dst, o)

            else:
                r = f(arith.DivFOp, one, s)

                def out_body(j: Ix, _: list[Value]) -> None:
                    o = em.add(base, j)
                    em.store(f(arith.MulFOp, em.load(dst, o), r), dst, o)

            em.for_(0, k, out_body)

        em.parallel([outer], per_row)
        return

    # A non-last axis: the innermost loops run over the contiguous inner dim, with the
    # running max and sum of each column in temporaries.
    m_buf = em.flat(em.alloc(MemRefType((outer * inner,), elt)))
    s_buf = em.flat(em.alloc(MemRefType((outer * inner,), elt)))
    fl.state.stat("num-temporaries", 2)

    def per_block(ivs: list[Ix]) -> None:
        base = em.mul(ivs[0], k * inner)
        row = em.mul(ivs[0], inner)

        def columns(fn: Callable[[Ix, Ix], None]) -> None:
            """fn(element offset, column offset) for every element of the block, k outer."""
            em.for_(
                0,
                k,
                lambda kk, _: em.for_(
                    0, inner, lambda j, _: fn(em.add(em.add(base, em.mul(kk, inner)), j), em.add(row, j))
                ),
            )

        def fill(buf: Value, value: Value) -> None:
            em.for_(0, inner, lambda j, _: em.store(value, buf, em.add(row, j)))

        fill(m_buf, neg_inf)
        columns(lambda o, c: em.store(f(arith.MaxNumFOp, em.load(m_buf, c), em.load(src, o)), m_buf, c))
        fill(s_buf, zero)

        def exp_sum(o: Ix, c: Ix) -> None:
            e = f(mathd.ExpOp, f(arith.SubFOp, em.load(src, o), em.load(m_buf, c)))
            if not log:
                em.store(e, dst, o)
            em.store(f(arith.AddFOp, em.load(s_buf, c), e), s_buf, c)

        columns(exp_sum)
        if log:
            em.for_(
                0, inner, lambda j, _: em.store(f(mathd.LogOp, em.load(s_buf, em.add(row, j))), s_buf, em.add(row, j))
            )
            columns(
                lambda o, c: em.store(
                    f(arith.SubFOp, f(arith.SubFOp, em.load(src, o), em.load(m_buf, c)), em.load(s_buf, c)), dst, o
                )
            )
        else:
            em.for_(
                0,
                inner,
                lambda j, _: em.store(f(arith.DivFOp, one, em.load(s_buf, em.add(row, j))), s_buf, em.add(row, j)),
            )
            columns(lambda o, c: em.store(f(arith.MulFOp, em.load(dst, o), em.load(s_buf, c)), dst, o))

    em.parallel([outer], per_block)


@lowers(tensor.BatchNormOp)
def _lower_batch_norm(fl: _FunctionLowering, op: Operation) -> None:
    """Per (n, c): inv = 1 / sqrt(var + eps); then (x - mean) * inv * scale + bias along the row."""
    em = fl.em
    x, scale, bias, mean, var = op.operands
    out = op.results[0]
    elt = x.type.element_type
    n, c = x.type.shape[:2]
    rest = _prod(x.type.shape[2:])
    eps = em.constant(op.attrs.float("epsilon", 1e-5), elt)
    src, dst = fl.flat(x), em.flat(fl.result_buffer(out))
    params = [fl.flat(v) for v in (scale, bias, mean, var)]
    f = em.op

    def per_channel(ivs: list[Ix]) -> None:
        ch = ivs[1]
        s, b, m, v = (em.load(p, ch) for p in params)
        inv = f(arith.DivFOp, em.constant(1.0, elt), f(mathd.SqrtOp, f(arith.AddFOp, v, eps)))
        k = f(arith.MulFOp, inv, s)
        base = em.mul(em.add(em.mul(ivs[0], c), ch), rest)
        em.pointwise(
            [rest],
            [Strided(src, base, [1]), m, k, b],
            [Strided(dst, base, [1])],
            lambda vals: [f(arith.AddFOp, f(arith.MulFOp, f(arith.SubFOp, vals[0], vals[1]), vals[2]), vals[3])],
            parallel=False,
        )

    em.parallel([n, c], per_channel)


@lowers(tensor.LayerNormOp)
def _lower_layer_norm(fl: _FunctionLowering, op: Operation) -> None:
    """Per row: the mean (one loop), the variance (a second), then
    (x - mean) * inv * scale + bias over the normalized dims (scale and bias broadcast)."""
    em = fl.em
    x, out = op.operand(0), op.results[0]
    scale = op.operand(1)
    bias = op.operand(2) if op.num_operands > 2 else None
    elt = x.type.element_type
    axis = op.attrs.int("axis", -1)
    axis = axis + x.type.rank if axis < 0 else axis
    norm_shape = x.type.shape[axis:]
    rows, length = _prod(x.type.shape[:axis]), _prod(norm_shape)
    eps = em.constant(op.attrs.float("epsilon", 1e-5), elt)
    src, dst = fl.flat(x), em.flat(fl.result_buffer(out))
    count = em.constant(float(length), elt)
    f = em.op
    scale_in = fl.access(scale, norm_shape)
    bias_in = fl.access(bias, norm_shape) if bias is not None else None
    row_strides = row_major_strides(norm_shape)

    def per_row(ivs: list[Ix]) -> None:
        base = em.mul(ivs[0], length)

        def sum_body(j: Ix, args: list[Value]) -> list[Value]:
            return [f(arith.AddFOp, args[0], em.load(src, em.add(base, j)), fastmath=REASSOC)]

        mean = f(arith.DivFOp, em.for_(0, length, sum_body, [em.constant(0.0, elt)])[0], count)

        def var_body(j: Ix, args: list[Value]) -> list[Value]:
            d = f(arith.SubFOp, em.load(src, em.add(base, j)), mean)
            return [f(arith.AddFOp, args[0], f(arith.MulFOp, d, d), fastmath=REASSOC)]

        var = f(arith.DivFOp, em.for_(0, length, var_body, [em.constant(0.0, elt)])[0], count)
        inv = f(arith.DivFOp, em.constant(1.0, elt), f(mathd.SqrtOp, f(arith.AddFOp, var, eps)))

        def normalize(vals: list[Value]) -> list[Value]:
            y = f(arith.MulFOp, f(arith.MulFOp, f(arith.SubFOp, vals[0], mean), inv), vals[1])
            return [f(arith.AddFOp, y, vals[2]) if bias_in is not None else y]

        inputs = [Strided(src, base, row_strides), scale_in]
        if bias_in is not None:
            inputs.append(bias_in)
        em.pointwise(norm_shape, inputs, [Strided(dst, base, row_strides)], normalize, parallel=False)

    em.parallel([rows], per_row)


# ----------------------------------------------------------------------------- data movement
def _copy(em: Emitter, sizes: Sequence[int], src: Strided, dst: Strided) -> None:
    em.pointwise(sizes, [src], [dst], lambda v: v)


@lowers(tensor.TransposeOp)
def _lower_transpose(fl: _FunctionLowering, op: Operation) -> None:
    """Over the output (innermost: its last dim), reading the input with permuted strides."""
    x, out = op.operand(0), op.results[0]
    in_strides = row_major_strides(x.type.shape)
    strides = [in_strides[p] for p in op.permutation()]
    _copy(fl.em, out.type.shape, Strided(fl.flat(x), 0, strides), fl.output(out))


@lowers(tensor.ConcatOp)
def _lower_concat(fl: _FunctionLowering, op: Operation) -> None:
    """Each input copied to its slab of the output."""
    out = op.results[0]
    axis = op.attrs.int("axis")
    axis = axis + out.type.rank if axis < 0 else axis
    dst = fl.output(out)
    offset = 0
    for v in op.operands:
        _copy(
            fl.em,
            v.type.shape,
            Strided(fl.flat(v), 0, row_major_strides(v.type.shape)),
            Strided(dst.memref, offset * dst.strides[axis], dst.strides),
        )
        offset += v.type.shape[axis]


@lowers(tensor.SplitOp)
def _lower_split(fl: _FunctionLowering, op: Operation) -> None:
    x = op.operand(0)
    axis = op.attrs.int("axis", 0)
    axis = axis + x.type.rank if axis < 0 else axis
    src = fl.flat(x)
    strides = row_major_strides(x.type.shape)
    offset = 0
    for r in op.results:
        dst = fl.output(r)
        _copy(fl.em, r.type.shape, Strided(src, offset * strides[axis], strides), dst)
        offset += r.type.shape[axis]


@lowers(tensor.SliceOp)
def _lower_slice(fl: _FunctionLowering, op: Operation) -> None:
    """A strided copy: input element start[d] + i[d] * step[d] per dim (ONNX's clamping)."""
    x, out = op.operand(0), op.results[0]
    in_strides = row_major_strides(x.type.shape)
    offset = 0
    strides = list(in_strides)
    for axis, start, end, step in tensor._slice_params(x.type, op.attrs):
        begin, _, _ = tensor.slice_bounds(x.type.shape[axis], start, end, step)
        offset += begin * in_strides[axis]
        strides[axis] = step * in_strides[axis]
    _copy(fl.em, out.type.shape, Strided(fl.flat(x), offset, strides), fl.output(out))


@lowers(tensor.PadOp)
def _lower_pad(fl: _FunctionLowering, op: Operation) -> None:
    """constant: fill, then copy the input inside; edge/reflect: every output element reads
    the input at its clamped or mirrored index."""
    em = fl.em
    x, out = op.operand(0), op.results[0]
    p = op.attrs
    rank = x.type.rank
    pads = p.ints("pads")
    begins = pads[:rank]
    mode = p.string("mode", "constant", ("constant", "reflect", "edge"))
    dst = fl.output(out)
    src = Strided(fl.flat(x), 0, row_major_strides(x.type.shape))
    elt = x.type.element_type
    if mode == "constant" or x.type.num_elements == 0:
        value = p.number("value", elt) or 0
        em.pointwise(out.type.shape, [em.constant(value, elt)], [dst], lambda v: v)
        inside = Strided(dst.memref, em.linear(0, begins, dst.strides), dst.strides)
        _copy(em, x.type.shape, src, inside)
        return
    in_shape = x.type.shape

    def source_index(d: int, o: Ix) -> Ix:
        i = em.sub(o, begins[d])
        last = in_shape[d] - 1
        if mode == "edge":
            return em.max_ix(em.min_ix(i, last), 0)
        iv = em.v(i)
        zero = em.v(0)
        i = em.select(em.cmp("slt", iv, zero), em.v(em.sub(0, iv)), iv)  # mirror at the start
        over = em.cmp("sgt", i, em.v(last))
        return em.select(over, em.v(em.sub(2 * last, i)), i)  # mirror at the end

    shape = out.type.shape
    if rank == 0:
        _copy(em, (), src, dst)
        return

    def per_row(ivs: list[Ix]) -> None:
        base = em.linear(0, [source_index(d, iv) for d, iv in enumerate(ivs)], src.strides[:-1])
        out_base = em.linear(0, ivs, dst.strides[:-1])

        def body(j: Ix, _: list[Value]) -> None:
            value = em.load(src.memref, em.add(base, source_index(rank - 1, j)))
            em.store(value, dst.memref, em.add(out_base, j))

        em.for_(0, shape[-1], body)

    em.parallel(list(shape[:-1]), per_row)


@lowers(tensor.GatherOp)
def _lower_gather(fl: _FunctionLowering, op: Operation) -> None:
    """out[p, i, q] = data[p, idx[i], q]; a negative index counts from the end, and an index
    out of range is clamped into it (the reference raises; the code never reads out of bounds)."""
    em = fl.em
    data, indices = op.operands
    out = op.results[0]
    axis = op.attrs.int("axis", 0)
    axis = axis + data.type.rank if axis < 0 else axis
    outer, n, inner = _outer_axis_inner(data.type.shape, axis)
    count = indices.type.num_elements
    src, idx, dst = fl.flat(data), fl.flat(indices), em.flat(fl.result_buffer(out))

    def per_index(ivs: list[Ix]) -> None:
        o, i = ivs
        k = em.cast(arith.IndexCastOp, em.load(idx, i), index)
        k = em.select(em.cmp("slt", k, em.v(0)), em.v(em.add(k, n)), k)
        k = em.max_ix(em.min_ix(k, n - 1), 0)
        src_base = em.mul(em.add(em.mul(o, n), k), inner)
        dst_base = em.mul(em.add(em.mul(o, count), i), inner)
        _copy(em, [inner], Strided(src, src_base, [1]), Strided(dst, dst_base, [1]))

    em.parallel([outer, count], per_index)


# ----------------------------------------------------------------------------- linear algebra
@attrs.frozen
class Operand2D:
    """A matrix operand of a (batched) product: a flat buffer, the strides of its batch dims,
    of its rows and of its columns."""

    memref: Value
    batch_strides: tuple[int, ...] = attrs.field(converter=tuple)
    row_stride: int
    col_stride: int

    def at(self, em: Emitter, batch: Sequence[Ix], row: Ix, col: Ix) -> Ix:
        offset = em.linear(0, batch, self.batch_strides)
        return em.add(offset, em.add(em.mul(row, self.row_stride), em.mul(col, self.col_stride)))


def emit_matmul(
    em: Emitter,
    batch: Sequence[int],
    m: int,
    n: int,
    k: int,
    a: Operand2D,
    b: Operand2D,
    c: Operand2D,
    acc_type: Type,
    epilogue: Callable[[Value, list[Ix], Ix, Ix], Value] | None = None,
) -> None:
    """C[batch, i, j] = epilogue(sum_k A[batch, i, k] * B[batch, k, j]).

    With B's rows contiguous (and C's type the accumulator's), the loops run i, k, j: j
    innermost, unit stride over B and C, accumulating into C's row (then the epilogue in a
    pass over the row). Otherwise a dot product per element, accumulating in iteration
    arguments (reassociable)."""
    elt = c.memref.type.element_type
    floating = _is_float(acc_type)
    mul_cls, add_cls = (arith.MulFOp, arith.AddFOp) if floating else (arith.MulIOp, arith.AddIOp)
    fm = CONTRACT if floating else None

    def widen(v: Value) -> Value:
        return v if v.type == acc_type else em.cast(arith.ExtSIOp, v, acc_type)

    def madd(acc: Value, x: Value, y: Value, flags: FastMathAttr | None) -> Value:
        return em.op(add_cls, acc, em.op(mul_cls, widen(x), widen(y), fastmath=flags), fastmath=flags)

    zero = em.constant(0, acc_type)
    if b.col_stride == 1 and n > 1 and acc_type == elt:

        def per_row(ivs: list[Ix]) -> None:
            bt, i = ivs[:-1], ivs[-1]
            row = c.at(em, bt, i, 0)
            em.for_(0, n, lambda j, _: em.store(zero, c.memref, em.add(row, j)))

            def k_body(kk: Ix, _: list[Value]) -> None:
                av = em.load(a.memref, a.at(em, bt, i, kk))
                b_row = b.at(em, bt, kk, 0)

                def j_body(j: Ix, _: list[Value]) -> None:
                    o = em.add(row, j)
                    em.store(madd(em.load(c.memref, o), av, em.load(b.memref, em.add(b_row, j)), fm), c.memref, o)

                em.for_(0, n, j_body)

            em.for_(0, k, k_body)
            if epilogue is not None:

                def epi(j: Ix, _: list[Value]) -> None:
                    o = em.add(row, j)
                    em.store(epilogue(em.load(c.memref, o), bt, i, j), c.memref, o)

                em.for_(0, n, epi)

        em.parallel([*batch, m], per_row)
        return

    def per_element(ivs: list[Ix]) -> None:
        bt, i, j = ivs[:-2], ivs[-2], ivs[-1]
        a_row, b_col = a.at(em, bt, i, 0), b.at(em, bt, 0, j)

        def k_body(kk: Ix, args: list[Value]) -> list[Value]:
            x = em.load(a.memref, em.add(a_row, em.mul(kk, a.col_stride)))
            y = em.load(b.memref, em.add(b_col, em.mul(kk, b.row_stride)))
            return [madd(args[0], x, y, REASSOC if floating else None)]

        acc = em.for_(0, k, k_body, [zero])[0]
        em.store(epilogue(acc, bt, i, j) if epilogue is not None else acc, c.memref, c.at(em, bt, i, j))

    em.parallel([*batch, m, n], per_element)


@lowers(tensor.MatMulOp)
def _lower_matmul(fl: _FunctionLowering, op: Operation) -> None:
    a, b = op.operands
    out = op.results[0]
    sa = (1, *a.type.shape) if a.type.rank == 1 else tuple(a.type.shape)
    sb = (*b.type.shape, 1) if b.type.rank == 1 else tuple(b.type.shape)
    m, k, n = sa[-2], sa[-1], sb[-1]
    batch = tensor.broadcast_shapes(sa[:-2], sb[:-2])
    a_op = Operand2D(fl.flat(a), [s * m * k for s in broadcast_strides(sa[:-2], batch)], k, 1)
    b_op = Operand2D(fl.flat(b), [s * k * n for s in broadcast_strides(sb[:-2], batch)], n, 1)
    c_op = Operand2D(fl.em.flat(fl.result_buffer(out)), [s * m * n for s in row_major_strides(batch)], n, 1)
    emit_matmul(fl.em, batch, m, n, k, a_op, b_op, c_op, out.type.element_type)


@lowers(tensor.GemmOp)
def _lower_gemm(fl: _FunctionLowering, op: Operation) -> None:
    """alpha * A' @ B' + beta * C. Integers as the reference: an exact (i64) product, then
    alpha and beta applied in f64 and the result truncated."""
    em = fl.em
    a, b = op.operand(0), op.operand(1)
    c = op.operand(2) if op.num_operands > 2 else None
    out = op.results[0]
    p = op.attrs
    alpha, beta = p.float("alpha", 1.0), p.float("beta", 1.0)
    trans_a, trans_b = p.flag("trans_a", False), p.flag("trans_b", False)
    m, n = out.type.shape
    k = a.type.shape[0] if trans_a else a.type.shape[1]
    a_op = Operand2D(fl.flat(a), [], *((1, m) if trans_a else (k, 1)))
    b_op = Operand2D(fl.flat(b), [], *((1, k) if trans_b else (n, 1)))
    c_op = Operand2D(em.flat(fl.result_buffer(out)), [], n, 1)
    elt = out.type.element_type
    floating = _is_float(elt)
    c_in: Operand2D | None = None
    c_scalar = None
    if c is not None:
        c_scalar = fl.splat(c)
        if c_scalar is None:
            cs = broadcast_strides(c.type.shape, (m, n))
            c_in = Operand2D(fl.flat(c), [], cs[0], cs[1])

    def c_value(i: Ix, j: Ix) -> Value:
        return c_scalar if c_scalar is not None else em.load(c_in.memref, c_in.at(em, [], i, j))

    if floating:

        def epilogue(acc: Value, bt: list[Ix], i: Ix, j: Ix) -> Value:
            y = acc if alpha == 1.0 else em.op(arith.MulFOp, em.constant(alpha, elt), acc)
            if c is None:
                return y
            cv = c_value(i, j)
            return em.op(arith.AddFOp, y, cv if beta == 1.0 else em.op(arith.MulFOp, em.constant(beta, elt), cv))

        plain = alpha == 1.0 and c is None
        emit_matmul(em, [], m, n, k, a_op, b_op, c_op, elt, None if plain else epilogue)
        return
    to_elt = cast_fn(em, f64, elt)

    def int_epilogue(acc: Value, bt: list[Ix], i: Ix, j: Ix) -> Value:
        y = em.op(arith.MulFOp, em.constant(alpha, f64), em.cast(arith.SIToFPOp, acc, f64))
        if c is not None:
            cv = em.cast(arith.SIToFPOp, c_value(i, j), f64)
            y = em.op(arith.AddFOp, y, em.op(arith.MulFOp, em.constant(beta, f64), cv))
        return to_elt(y)

    emit_matmul(em, [], m, n, k, a_op, b_op, c_op, i64, int_epilogue)


# ----------------------------------------------------------------------------- convolution, pooling
def _tap_range(em: Emitter, start: Ix, size: int, taps: int, dilation: int) -> tuple[Ix, Ix]:
    """The taps t in [0, taps) with 0 <= start + t * dilation < size."""
    lo = em.ceildiv_nonneg(em.max_ix(em.sub(0, start), 0), dilation)
    hi = em.min_ix(em.ceildiv_nonneg(em.max_ix(em.sub(size, start), 0), dilation), taps)
    return lo, hi


def _fill(em: Emitter, buf: Value, offset: Ix, count: int, value: Value) -> None:
    em.for_(0, count, lambda j, _: em.store(value, buf, em.add(offset, j)))


@attrs.frozen
class Tap:
    """One kernel tap of a window row: the input row's offset and the tap's column offset."""

    row: Ix
    column: int


def _window_row(
    em: Emitter,
    dst: Value,
    row: Ix,
    src: Value,
    taps: Sequence[Tap],
    width: int,
    out_width: int,
    stride: int,
    term: Callable[[int, Value], Value],
    combine: Callable[[Value, Value], Value],
    identity: Value | None = None,
) -> None:
    """dst[row + ow] = combine(dst[row + ow], term(t, src[taps[t].row + ow * stride +
    taps[t].column]) for each tap t whose input column lies in [0, width)). With `identity`
    (combine's identity) the row starts from it instead of being read.

    The interior columns, where every tap is inside, are one unit-stride loop that combines
    all the terms as a balanced tree (short dependence chains), then with the output; each
    border column range gets a loop per tap over that tap's valid columns. Bounds are static."""
    ranges = [(-(-max(-t.column, 0) // stride), min(out_width, -(-max(width - t.column, 0) // stride))) for t in taps]
    lo = max(r[0] for r in ranges)
    hi = min(r[1] for r in ranges)
    if lo >= hi:
        lo = hi = out_width

    def apply(ow: Ix, selected: Sequence[int], fresh: bool) -> None:
        o = em.add(row, ow)
        at = em.mul(ow, stride)
        terms = [term(t, em.load(src, em.add(em.add(taps[t].row, at), taps[t].column))) for t in selected]
        while len(terms) > 1:
            pairs = [combine(terms[i], terms[i + 1]) for i in range(0, len(terms) - 1, 2)]
            terms = pairs + terms[len(pairs) * 2 :]
        em.store(terms[0] if fresh else combine(em.load(dst, o), terms[0]), dst, o)

    em.for_(lo, hi, lambda ow, _: apply(ow, range(len(taps)), identity is not None))
    if identity is not None:
        for begin, end in ((0, lo), (hi, out_width)):
            _fill(em, dst, em.add(row, begin), end - begin, identity)
    for t, (a, b) in enumerate(ranges):
        for begin, end in ((a, min(b, lo)), (max(a, hi), b)):
            em.for_(begin, end, lambda ow, _, t=t: apply(ow, [t], False))


def _row_split(out_size: int, size: int, pad: int, taps: int, stride: int, dilation: int) -> tuple[int, int]:
    """[a, b): the output rows whose every tap row lies inside the input."""
    a = -(-pad // stride)
    last = size - 1 + pad - (taps - 1) * dilation  # the largest oh * stride allowed
    b = last // stride + 1 if last >= 0 else 0
    a = min(a, out_size)
    return a, max(a, min(b, out_size))


def _split_rows(
    em: Emitter,
    outer: Sequence[int],
    rows: tuple[int, int, int],
    body: Callable[[list[Ix], Ix, bool], None],
) -> None:
    """Parallel loops over `outer` x rows, in three bands: rows [0, a) and [b, n) with
    `body(ivs, row, False)`, the interior rows [a, b) with `body(ivs, row, True)`."""
    a, b, n = rows
    for begin, end, interior in ((0, a, False), (a, b, True), (b, n, False)):
        if end > begin:
            em.parallel(
                [*outer, end - begin],
                lambda ivs, begin=begin, interior=interior: body(ivs[:-1], em.add(ivs[-1], begin), interior),
            )


@lowers(tensor.Conv2DOp)
def _lower_conv2d(fl: _FunctionLowering, op: Operation) -> None:
    """Loops n, oc, oh (parallel), ic, then ow innermost (unit stride over the output row)
    with the kernel taps unrolled: out[n, oc, oh, ow] += w[oc, ic, kh, kw] *
    x[n, g*CG + ic, oh*sh - pt + kh*dh, ow*sw - pl + kw*dw] over the taps inside the input.
    In the interior rows all kh x kw taps share one pass over the row; in the border rows a
    loop runs over the kh taps inside the input (see `_window_row`)."""
    em = fl.em
    x, w = op.operand(0), op.operand(1)
    bias = op.operand(2) if op.num_operands > 2 else None
    out = op.results[0]
    (sh, sw), pads, (dh, dw), group = tensor._conv_attrs(op.attrs)
    n_, c_, h, wd = x.type.shape
    m, cg, kh_n, kw_n = w.type.shape
    oh_n, ow_n = out.type.shape[2:]
    mg = m // group
    elt = out.type.element_type
    src, wt, dst = fl.flat(x), fl.flat(w), em.flat(fl.result_buffer(out))
    bias_buf = fl.flat(bias) if bias is not None else None
    zero = em.constant(0.0, elt)
    columns = [kw * dw - pads[1] for kw in range(kw_n)]

    def per_row(ivs: list[Ix], oh: Ix, interior: bool) -> None:
        n, oc = ivs
        g = em.div_ix(oc, mg) if group > 1 else 0
        row = em.mul(em.add(em.mul(em.add(em.mul(n, m), oc), oh_n), oh), ow_n)
        _fill(em, dst, row, ow_n, em.load(bias_buf, oc) if bias_buf is not None else zero)
        ih0 = em.sub(em.mul(oh, sh), pads[0])
        first_channel = em.add(em.mul(n, c_), em.mul(g, cg))

        def ic_body(ic: Ix, _: list[Value]) -> None:
            x_chan = em.mul(em.add(first_channel, ic), h * wd)
            w_base = em.mul(em.add(em.mul(oc, cg), ic), kh_n * kw_n)

            def kernel_rows(khs: Sequence[Ix]) -> None:
                taps, weights = [], []
                for kh in khs:
                    x_row = em.add(x_chan, em.mul(em.add(ih0, em.mul(kh, dh)), wd))
                    w_row = em.add(w_base, em.mul(kh, kw_n))
                    taps += [Tap(x_row, c) for c in columns]
                    weights += [em.load(wt, em.add(w_row, kw)) for kw in range(kw_n)]

                def term(t: int, xv: Value) -> Value:
                    return em.op(arith.MulFOp, weights[t], xv, fastmath=CONTRACT)

                def add(a: Value, b: Value) -> Value:
                    return em.op(arith.AddFOp, a, b, fastmath=CONTRACT)

                _window_row(em, dst, row, src, taps, wd, ow_n, sw, term, add)

            if interior:
                kernel_rows(range(kh_n))
                return
            kh_lo, kh_hi = _tap_range(em, ih0, h, kh_n, dh)
            em.for_(kh_lo, kh_hi, lambda kh, _: kernel_rows([kh]))

        em.for_(0, cg, ic_body)

    a, b = _row_split(oh_n, h, pads[0], kh_n, sh, dh)
    _split_rows(em, [n_, m], (a, b, oh_n), per_row)


@lowers(tensor.ConvTranspose2DOp)
def _lower_conv_transpose2d(fl: _FunctionLowering, op: Operation) -> None:
    """Scatter form, parallel over (n, oc): each input row adds w * x to the output row
    oh = ih*sh + kh*dh - pt at ow = iw*sw + kw*dw - pl, over the ih and iw ranges whose
    targets lie in the output (innermost: iw)."""
    em = fl.em
    x, w = op.operand(0), op.operand(1)
    bias = op.operand(2) if op.num_operands > 2 else None
    out = op.results[0]
    (sh, sw), pads, (dh, dw), group = tensor._conv_attrs(op.attrs)
    n_, c_, h, wd = x.type.shape
    _, mg, kh_n, kw_n = w.type.shape
    m, oh_n, ow_n = out.type.shape[1:]
    cpg = c_ // group
    elt = out.type.element_type
    src, wt, dst = fl.flat(x), fl.flat(w), em.flat(fl.result_buffer(out))
    bias_buf = fl.flat(bias) if bias is not None else None
    zero = em.constant(0.0, elt)

    def per_plane(ivs: list[Ix]) -> None:
        n, oc = ivs
        g, ocl = (em.div_ix(oc, mg), em.rem_ix(oc, mg)) if group > 1 else (0, oc)
        plane = em.mul(em.add(em.mul(n, m), oc), oh_n * ow_n)
        _fill(em, dst, plane, oh_n * ow_n, em.load(bias_buf, oc) if bias_buf is not None else zero)
        first_channel = em.mul(g, cpg)

        def c_body(cl: Ix, _: list[Value]) -> None:
            ch = em.add(first_channel, cl)
            x_chan = em.mul(em.add(em.mul(n, c_), ch), h * wd)
            w_base = em.mul(em.add(em.mul(ch, mg), ocl), kh_n * kw_n)

            def kh_body(kh: Ix, _: list[Value]) -> None:
                oh0 = em.sub(em.mul(kh, dh), pads[0])
                ih_lo, ih_hi = _tap_range(em, oh0, oh_n, h, sh)
                w_row = em.add(w_base, em.mul(kh, kw_n))

                def ih_body(ih: Ix, _: list[Value]) -> None:
                    o_row = em.add(plane, em.mul(em.add(em.mul(ih, sh), oh0), ow_n))
                    x_row = em.add(x_chan, em.mul(ih, wd))

                    def kw_body(kw: Ix, _: list[Value]) -> None:
                        wv = em.load(wt, em.add(w_row, kw))
                        ow0 = em.sub(em.mul(kw, dw), pads[1])
                        lo, hi = _tap_range(em, ow0, ow_n, wd, sw)
                        o_at = em.add(o_row, ow0)

                        def iw_body(iw: Ix, _: list[Value]) -> None:
                            o = em.add(o_at, em.mul(iw, sw))
                            prod = em.op(arith.MulFOp, wv, em.load(src, em.add(x_row, iw)), fastmath=CONTRACT)
                            em.store(em.op(arith.AddFOp, em.load(dst, o), prod, fastmath=CONTRACT), dst, o)

                        em.for_(lo, hi, iw_body)

                    em.for_(0, kw_n, kw_body)

                em.for_(ih_lo, ih_hi, ih_body)

            em.for_(0, kh_n, kh_body)

        em.for_(0, cpg, c_body)

    em.parallel([n_, m], per_plane)


def _window_counts(size: int, begin: int, end: int, k: int, s: int, d: int, out: int, include_pad: bool) -> list[int]:
    lo, hi = (-begin, size + end) if include_pad else (0, size)
    return [sum(1 for t in range(k) if lo <= o * s - begin + t * d < hi) for o in range(out)]


@lowers(tensor.MaxPool2DOp, tensor.AvgPool2DOp)
def _lower_pool2d(fl: _FunctionLowering, op: Operation) -> None:
    """Parallel over (n*c, oh); per output row: the kh taps inside the input, then the ow loops
    of `_window_row` (all kw taps in the interior, one tap per border loop). Average pooling
    then divides by the window's count (static: a constant, or a global table)."""
    em = fl.em
    x, out = op.operand(0), op.results[0]
    (kh_n, kw_n), (sh, sw), pads, (dh, dw), _ = tensor._pool_attrs(op.attrs)
    n_, c_, h, wd = x.type.shape
    oh_n, ow_n = out.type.shape[2:]
    elt = out.type.element_type
    src, dst = fl.flat(x), em.flat(fl.result_buffer(out))
    average = isinstance(op, tensor.AvgPool2DOp)
    red = reduction_kind("sum" if average else "max", elt)
    init = em.constant(red.identity, elt)
    divisor: Value | None = None
    counts_buf: Value | None = None
    if average:
        include = op.attrs.flag("count_include_pad", False)
        ch = _window_counts(h, pads[0], pads[2], kh_n, sh, dh, oh_n, include)
        cw = _window_counts(wd, pads[1], pads[3], kw_n, sw, dw, ow_n, include)
        counts = np.maximum(np.outer(ch, cw), 1).astype(np.float64)
        if (counts == counts.flat[0]).all():
            divisor = em.constant(float(counts.flat[0]), elt)
        else:
            counts_buf = fl.constant_buffer(counts.reshape(-1), elt)

    columns = [kw * dw - pads[1] for kw in range(kw_n)]

    def term(_: int, xv: Value) -> Value:
        return xv

    def combine(a: Value, b: Value) -> Value:
        return red.combine(em, a, b)

    def per_row(ivs: list[Ix], oh: Ix, interior: bool) -> None:
        (nc,) = ivs
        row = em.mul(em.add(em.mul(nc, oh_n), oh), ow_n)
        ih0 = em.sub(em.mul(oh, sh), pads[0])
        x_plane = em.mul(nc, h * wd)

        def x_row(kh: Ix) -> Ix:
            return em.add(x_plane, em.mul(em.add(ih0, em.mul(kh, dh)), wd))

        if interior:
            taps = [Tap(x_row(kh), c) for kh in range(kh_n) for c in columns]
            _window_row(em, dst, row, src, taps, wd, ow_n, sw, term, combine, init)
        else:
            _fill(em, dst, row, ow_n, init)
            kh_lo, kh_hi = _tap_range(em, ih0, h, kh_n, dh)
            em.for_(kh_lo, kh_hi, lambda kh, _: _window_row(em, dst, row, src, [Tap(x_row(kh), c) for c in columns],
                                                           wd, ow_n, sw, term, combine))  # fmt: skip
        if not average:
            return
        count_row = em.mul(oh, ow_n)

        def divide(ow: Ix, _: list[Value]) -> None:
            o = em.add(row, ow)
            d = divisor if divisor is not None else em.load(counts_buf, em.add(count_row, ow))
            em.store(em.op(arith.DivFOp, em.load(dst, o), d), dst, o)

        em.for_(0, ow_n, divide)

    a, b = _row_split(oh_n, h, pads[0], kh_n, sh, dh)
    _split_rows(em, [n_ * c_], (a, b, oh_n), per_row)
