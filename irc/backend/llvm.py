"""Translation of loop-level IR (func, arith, math, memref, loop, vector) to LLVM IR.

The input is what the `cpu` pipeline leaves: functions over memrefs with static shapes and the
identity layout (see `irc.backend.abi` for the lowered signature). The output is an llvmlite
`ir.Module` with opaque pointers; `optimize` runs LLVM's new pass manager at -O3 for the host
CPU (its name and features, so AVX2 / AVX-512 are used), and `emit_assembly` / `emit_object`
run the code generator.

Code generation is a value map plus a dispatch table keyed by op class (`_HANDLERS`).
- Types: index is i64; iN, f32, f64 map to themselves; `vector<8xf32>` to `<8 x float>`; every
  memref is a bare `ptr` to its first element. i1 elements are stored as one byte (i8).
- Addresses: `getelementptr inbounds` of the element type by the row-major linear index (i64).
- `loop.for` is a header block with one phi per induction variable and iteration argument;
  `loop.parallel` is a nest of such loops, one per dimension; when its body is straight-line
  code, each is marked `llvm.loop.parallel_accesses` with an access group that tags every
  load and store of the body: the loop vectorizer then knows the iterations are independent
  and needs no run-time alias checks.
- Threads: a top-level `loop.parallel` (not inside another one) whose trip count times work
  per iteration may reach `threads.MIN_PARALLEL_WORK` is outlined into an internal function
  over a range of its flattened iterations, which the process's thread pool runs in chunks
  (`__irc_parallel_for`, see `irc.backend.threads`) when `@__irc_num_threads` > 1; the
  outlined function's pointers keep their `noalias`, so the loops vectorize as before.
- `memref.alloc` calls `aligned_alloc(64, size)`, `memref.dealloc` calls `free`; `memref.view`
  is a byte offset from the arena pointer, `memref.reshape` the same pointer, `memref.copy`
  `llvm.memcpy`; `memref.global` a private constant (64-byte aligned) holding the data bytes.
- Math functions: see `irc.backend.cpu_math` (own vectorizable f32 polynomials).

Aliasing (`noalias`): every memref argument is `dereferenceable(bytes)`; those of a function
that no `func.call` reaches (an entry point: after inlining, all of them) are also `noalias`,
and its outputs and arena `align 64`. The ABI makes that true: the caller passes distinct,
non-overlapping buffers for all memref arguments, outputs and the arena 64-byte aligned (the
runtime allocates outputs and the arena itself and copies an input that overlaps another).
Views into the arena alias the arena and each other only where the memory plan lets their
live ranges meet, and they are derived from the one arena pointer, so LLVM's own analysis sees
them. Each function also gets an entry point `__irc_call_<name>(ptr args)` (see `abi`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from llvmlite import ir

from dialects import arith, func, loop, math, memref, vector
from dialects.builtin import ModuleOp
from irc.attributes import DenseElementsAttr, DenseResourceAttr, FloatAttr, IntegerAttr
from irc.backend import abi, threads
from irc.backend.cpu_math import MathLibrary, declare, intrinsic, mangle
from irc.diagnostics import error
from irc.ir import Block, BlockArgument, Operation, Value
from irc.types import FloatType, IndexType, IntegerType, MemRefType, Type, VectorType

PTR = ir.PointerType()
I1, I8, I32, I64 = ir.IntType(1), ir.IntType(8), ir.IntType(32), ir.IntType(64)
VOID = ir.VoidType()
ALIGNMENT = 64

_FASTMATH = ("reassoc", "nnan", "ninf", "nsz", "arcp", "contract", "afn")


# ----------------------------------------------------------------------------- types
def llvm_type(t: Type, op: Operation | None = None) -> ir.Type:
    """The LLVM type of a value of type `t` (memrefs are pointers)."""
    if isinstance(t, IndexType):
        return I64
    if isinstance(t, IntegerType):
        return ir.IntType(t.width)
    if isinstance(t, FloatType) and t.width in (32, 64):
        return ir.FloatType() if t.width == 32 else ir.DoubleType()
    if isinstance(t, VectorType) and t.rank == 1 and t.has_static_shape:
        return ir.VectorType(llvm_type(t.element_type, op), t.shape[0])
    if isinstance(t, MemRefType):
        return PTR
    raise _error(op, f"type '{t}' has no LLVM translation (supported: f32, f64, i1-i64, index, 1-D vectors, memrefs)")


def memory_type(t: Type, op: Operation | None = None) -> ir.Type:
    """The type of an element in memory: i1 is stored as i8."""
    lt = llvm_type(t, op)
    if isinstance(lt, ir.IntType) and lt.width == 1:
        return I8
    if isinstance(lt, ir.VectorType) and isinstance(lt.element, ir.IntType) and lt.element.width == 1:
        return ir.VectorType(I8, lt.count)
    return lt


def _error(op: Operation | None, message: str) -> Exception:
    if op is None:
        return ValueError(message)
    return op.emit_error(message)


def _const(t: ir.Type, value: Any) -> ir.Constant:
    if isinstance(t, ir.VectorType):
        return ir.Constant(t, [ir.Constant(t.element, value)] * t.count)
    return ir.Constant(t, value)


def _flags(op: Operation) -> tuple[str, ...]:
    attr = op.get_attr("fastmath")
    flags = getattr(attr, "flags", frozenset())
    if set(_FASTMATH) <= flags:
        return ("fast",)
    return tuple(f for f in _FASTMATH if f in flags)


# ----------------------------------------------------------------------------- metadata
class _DistinctMD(ir.values.MDValue):
    """`distinct !{...}`: access groups and loop IDs (compared by identity)."""

    def descr(self, buf: list) -> None:
        buf.append("distinct ")
        super().descr(buf)

    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)


def _distinct(module: ir.Module, operands: Sequence[Any]) -> _DistinctMD:
    return _DistinctMD(module, list(operands), name=str(len(module.metadata)))


# ----------------------------------------------------------------------------- module
def translate(module: Operation, *, external_globals: frozenset[str] = frozenset()) -> ir.Module:
    """The LLVM module of a lowered gir module. Raises a located IRCError for what it cannot
    translate. Globals named in `external_globals` are declared, not defined (the runtime
    binds them to arrays it owns; large weights then do not go through LLVM's text parser)."""
    return _ModuleTranslator(module, external_globals).run()


class _ModuleTranslator:
    def __init__(self, module: Operation, external_globals: frozenset[str]) -> None:
        if not isinstance(module, ModuleOp):
            raise _error(module, "expects a 'builtin.module'")
        self.op = module
        self.external = external_globals
        self.m = ir.Module(name="gir")
        tm = host_target_machine()
        self.m.triple = tm.triple
        self.m.data_layout = str(tm.target_data)
        self.math = MathLibrary(self.m)
        self.globals: dict[str, ir.GlobalVariable] = {}
        self.slots: dict[str, ir.GlobalVariable] = {}
        self.functions: dict[str, ir.Function] = {}
        self._num_threads: ir.GlobalVariable | None = None

    def num_threads(self) -> ir.GlobalVariable:
        """`@__irc_num_threads` (i32, 1 here; the runtime sets it when it loads the object)."""
        if self._num_threads is None:
            gv = ir.GlobalVariable(self.m, I32, name=threads.NUM_THREADS_GLOBAL)
            gv.initializer = ir.Constant(I32, 1)
            gv.align = 4
            self._num_threads = gv
        return self._num_threads

    def run(self) -> ir.Module:
        # Functions that no func.call reaches are called only through their entry point, whose
        # caller (the runtime) passes distinct, aligned buffers: their pointers are noalias.
        self.called = {call.callee.root for call in self.op.walk_ops(func.CallOp)}
        funcs = []
        for op in self.op.body.ops:
            if isinstance(op, memref.GlobalOp):
                self._global(op)
            elif isinstance(op, func.FuncOp):
                funcs.append((op, self._declare(op)))
            else:
                raise op.emit_error("cannot be translated to LLVM IR at module level")
        for op, fn in funcs:
            if op.is_declaration:
                continue
            _FunctionTranslator(self, op, fn).run()
            self._wrapper(abi.signature(op), fn)
        return self.m

    def _global(self, op: memref.GlobalOp) -> None:
        name = op.sym_name.value
        t = op.memref_type
        size = memref.byte_size(t)
        if name in self.external:
            # A pointer slot that the runtime fills with the address of its own copy of the data.
            slot = ir.GlobalVariable(self.m, PTR, name=global_slot_symbol(name))
            slot.initializer = ir.Constant(PTR, None)
            slot.align = 8
            self.slots[name] = slot
            return
        gv = ir.GlobalVariable(self.m, ir.ArrayType(I8, size), name=_global_symbol(name))
        gv.align = ALIGNMENT
        gv.global_constant = True
        self.globals[name] = gv
        gv.linkage = "private"
        gv.unnamed_addr = True
        gv.initializer = _data_constant(global_bytes(op), size)

    def _declare(self, op: func.FuncOp) -> ir.Function:
        ftype = op.type
        args = [llvm_type(t, op) for t in ftype.inputs]
        results = [llvm_type(t, op) for t in ftype.results]
        if not results:
            ret = VOID
        elif len(results) == 1:
            ret = results[0]
        else:
            ret = ir.LiteralStructType(results)
        name = op.sym_name.value
        fn = ir.Function(self.m, ir.FunctionType(ret, args), name=name)
        fn.attributes.add("nounwind")
        if op.sym_visibility is not None and op.sym_visibility.value == "private" and not op.is_declaration:
            fn.linkage = "internal"
        if not op.is_declaration:
            sig = abi.signature(op)
            entry_only = name not in self.called
            for p, arg in zip(sig.params[: sig.num_args], fn.args, strict=True):
                if not p.is_buffer:
                    continue
                if p.byte_size:
                    arg.attributes.dereferenceable = p.byte_size
                if entry_only:
                    arg.add_attribute("noalias")
                    if p.kind != abi.INPUT:
                        arg.attributes.align = ALIGNMENT
        self.functions[name] = fn
        return fn

    def _wrapper(self, sig: abi.Signature, fn: ir.Function) -> None:
        """`void __irc_call_f(ptr args)`: unpacks the pointer array, calls f, stores scalar results."""
        w = ir.Function(self.m, ir.FunctionType(VOID, [PTR]), name=sig.wrapper_name)
        w.attributes.add("nounwind")
        b = ir.IRBuilder(w.append_basic_block("entry"))

        def slot(i: int) -> ir.Value:
            return b.load(b.gep(w.args[0], [ir.Constant(I64, i)], inbounds=True, source_etype=PTR), typ=PTR)

        args = []
        for p in sig.params[: sig.num_args]:
            ptr = slot(p.slot)
            args.append(ptr if p.is_buffer else _load(b, ptr, p.type, None))
        result = b.call(fn, args)
        outs = [p for p in sig.params if p.slot >= sig.num_args]
        for k, p in enumerate(outs):
            value = result if len(outs) == 1 else b.extract_value(result, k)
            _store(b, value, slot(p.slot), p.type, None)
        b.ret_void()


def _global_symbol(name: str) -> str:
    return "__irc_global_" + name


def global_slot_symbol(name: str) -> str:
    """The pointer slot of an external `memref.global @name` (see `translate`)."""
    return "__irc_gslot_" + name


def global_bytes(op: memref.GlobalOp) -> bytes:
    """The little-endian bytes of a global's data (i1 as one byte per element)."""
    value = op.initial_value
    t = op.memref_type
    if isinstance(value, DenseResourceAttr) and value.blob is not None and t.element_type != IntegerType(1):
        return bytes(value.blob)
    if isinstance(value, DenseElementsAttr) and not value.splat and t.element_type != IntegerType(1):
        return bytes(value.data)
    try:
        arr = value.to_numpy()
    except ValueError as err:
        raise op.emit_error(str(err)) from None
    return np.ascontiguousarray(np.broadcast_to(arr, tuple(t.shape))).astype(arr.dtype.newbyteorder("<")).tobytes()


def _data_constant(data: bytes, size: int) -> ir.Constant:
    if not any(data):
        return ir.Constant(ir.ArrayType(I8, size), None)
    # c"\01\02...": formatted directly (llvmlite's per-byte formatting is slow for big weights).
    text = "".join(_BYTE_TEXT[b] for b in data)
    return ir.FormattedConstant(ir.ArrayType(I8, size), f'c"{text}"')


_BYTE_TEXT = [chr(i) if 32 <= i < 127 and chr(i) not in '"\\' else f"\\{i:02X}" for i in range(256)]


# ----------------------------------------------------------------------------- functions
class _FunctionTranslator:
    def __init__(self, mt: _ModuleTranslator, op: func.FuncOp, fn: ir.Function) -> None:
        self.mt = mt
        self.m = mt.m
        self.op = op
        self.fn = fn
        self.values: dict[Value, ir.Value] = {}
        self.b = ir.IRBuilder(fn.append_basic_block("entry"))
        # Access groups of the enclosing loop.parallel ops; loads and stores are tagged with them.
        self.groups: list[_DistinctMD] = []
        self._group_node: ir.values.MDValue | None = None
        # Inside the body of a loop.parallel (outlined or not): nested ones run sequentially.
        self.in_parallel = False
        self.outlined = 0
        # maximumf/minimumf trees: a result's NaN-blind value and its NaN mask (_minmax_tree).
        self.minmax_parts: dict[Value, tuple[ir.Value, ir.Value]] = {}

    def run(self) -> None:
        block = self.op.entry
        for arg, llarg in zip(block.args, self.fn.args, strict=True):
            if arg.name_hint is not None:
                llarg.name = arg.name_hint
            self.values[arg] = llarg
        self.emit_ops(block)

    # -- values
    def get(self, v: Value) -> ir.Value:
        return self.values[v]

    def set(self, op: Operation, *values: ir.Value) -> None:
        for res, val in zip(op.results, values, strict=True):
            hint = res.name_hint
            if hint is not None and isinstance(val, ir.Instruction) and val.name.startswith(".") and hint[0].isalpha():
                val.name = hint
            self.values[res] = val

    def emit_ops(self, block: Block) -> list[ir.Value]:
        """Emits the ops of a region's block; returns the operands of its terminator (yield)."""
        for op in block.ops:
            if isinstance(op, loop.YieldOp):
                return [self.get(v) for v in op.operands]
            handler = _HANDLERS.get(type(op))
            if handler is None:
                raise op.emit_error("cannot be translated to LLVM IR (no CPU lowering for this op)")
            handler(self, op)
        return []

    # -- memory
    def address(self, op: Operation, mem: Value, indices: Sequence[Value]) -> ir.Value:
        t = mem.type
        base = self.get(mem)
        if t.rank == 0:
            return base
        b = self.b
        linear = self.get(indices[0])
        for dim, idx in zip(t.shape[1:], indices[1:], strict=True):
            linear = b.add(b.mul(linear, ir.Constant(I64, dim), flags=("nsw",)), self.get(idx), flags=("nsw",))
        return b.gep(base, [linear], inbounds=True, source_etype=memory_type(t.element_type, op))

    def tag(self, inst: ir.Instruction) -> ir.Instruction:
        """Puts a load or store into the access groups of the enclosing parallel loops."""
        if not self.groups:
            return inst
        if self._group_node is None:
            self._group_node = self.groups[0] if len(self.groups) == 1 else self.m.add_metadata(list(self.groups))
        inst.set_metadata("llvm.access.group", self._group_node)
        return inst

    # -- loops
    def counted_loop(
        self, lb: ir.Value, ub: ir.Value, step: ir.Value, inits: Sequence[ir.Value], name: str | None,
        body: Callable[[ir.Value, list[ir.Value]], list[ir.Value]], loop_md: ir.values.MDValue | None = None,
    ) -> list[ir.Value]:  # fmt: skip
        """for (iv = lb; iv < ub; iv += step) with loop-carried values; returns their final values."""
        b = self.b
        pre = b.block
        header = self.fn.append_basic_block("loop.header")
        body_bb = self.fn.append_basic_block("loop.body")
        exit_bb = self.fn.append_basic_block("loop.exit")
        b.branch(header)
        b.position_at_end(header)
        iv = b.phi(I64, name=name or "iv")
        iv.add_incoming(lb, pre)
        phis = []
        for init in inits:
            phi = b.phi(init.type)
            phi.add_incoming(init, pre)
            phis.append(phi)
        b.cbranch(b.icmp_signed("<", iv, ub), body_bb, exit_bb)
        b.position_at_end(body_bb)
        yielded = body(iv, phis)
        latch = b.block
        nxt = b.add(iv, step, flags=("nsw",))
        back = b.branch(header)
        if loop_md is not None:
            back.set_metadata("llvm.loop", loop_md)
        iv.add_incoming(nxt, latch)
        for phi, value in zip(phis, yielded, strict=True):
            phi.add_incoming(value, latch)
        b.position_at_end(exit_bb)
        return phis


# ----------------------------------------------------------------------------- op handlers
_HANDLERS: dict[type, Callable[[_FunctionTranslator, Any], None]] = {}


def _handles(*classes: type) -> Callable:
    def register(fn: Callable) -> Callable:
        for cls in classes:
            _HANDLERS[cls] = fn
        return fn

    return register


# -- func
@_handles(func.ReturnOp)
def _return(t: _FunctionTranslator, op: func.ReturnOp) -> None:
    values = [t.get(v) for v in op.operands]
    if not values:
        t.b.ret_void()
    elif len(values) == 1:
        t.b.ret(values[0])
    else:
        agg = ir.Constant(t.fn.function_type.return_type, ir.Undefined)
        for i, v in enumerate(values):
            agg = t.b.insert_value(agg, v, i)
        t.b.ret(agg)


@_handles(func.CallOp)
def _call(t: _FunctionTranslator, op: func.CallOp) -> None:
    callee = t.mt.functions.get(op.callee.root)
    if callee is None:
        raise op.emit_error(f"calls '@{op.callee.root}', which is not a function of the module")
    result = t.b.call(callee, [t.get(v) for v in op.operands])
    if len(op.results) == 1:
        t.set(op, result)
    elif op.results:
        t.set(op, *(t.b.extract_value(result, i) for i in range(len(op.results))))


# -- arith: constants
@_handles(arith.ConstantOp)
def _constant(t: _FunctionTranslator, op: arith.ConstantOp) -> None:
    value = op.value
    lt = llvm_type(op.results[0].type, op)
    if isinstance(value, IntegerAttr):
        v = value.value & 1 if lt == I1 else value.value
        t.set(op, ir.Constant(lt, v))
    elif isinstance(value, FloatAttr):
        t.set(op, ir.Constant(lt, value.value))
    elif isinstance(value, DenseElementsAttr) and isinstance(lt, ir.VectorType):
        items = value.to_numpy().reshape(-1).tolist()
        elt = lt.element
        conv = (lambda x: int(x) & 1) if elt == I1 else (int if isinstance(elt, ir.IntType) else float)
        if len(items) == 1:
            items = items * lt.count
        t.set(op, ir.Constant(lt, [ir.Constant(elt, conv(x)) for x in items]))
    else:
        raise op.emit_error(f"constant of type '{op.results[0].type}' cannot be translated to LLVM IR")


# -- arith: integers
_INT_BINARY = {
    arith.AddIOp: "add",
    arith.SubIOp: "sub",
    arith.MulIOp: "mul",
    arith.AndIOp: "and_",
    arith.OrIOp: "or_",
    arith.XOrIOp: "xor",
    arith.ShLIOp: "shl",
    arith.ShRSIOp: "ashr",
    arith.ShRUIOp: "lshr",
}


@_handles(*_INT_BINARY)
def _int_binary(t: _FunctionTranslator, op: Operation) -> None:
    flags = tuple(sorted(getattr(op.get_attr("overflowFlags"), "flags", ())))
    fn = getattr(t.b, _INT_BINARY[type(op)])
    a, b = t.get(op.lhs), t.get(op.rhs)
    t.set(op, fn(a, b, flags=flags) if flags else fn(a, b))


_INT_MINMAX = {arith.MaxSIOp: "smax", arith.MinSIOp: "smin", arith.MaxUIOp: "umax", arith.MinUIOp: "umin"}


@_handles(*_INT_MINMAX)
def _int_minmax(t: _FunctionTranslator, op: Operation) -> None:
    a, b = t.get(op.lhs), t.get(op.rhs)
    fn = intrinsic(t.m, _INT_MINMAX[type(op)], a.type, [a.type, a.type], [a.type])
    t.set(op, t.b.call(fn, [a, b]))


def _int_min(lt: ir.Type) -> ir.Constant:
    width = (lt.element if isinstance(lt, ir.VectorType) else lt).width
    return _const(lt, -(1 << (width - 1)))


@_handles(arith.DivSIOp, arith.DivUIOp, arith.RemSIOp, arith.RemUIOp, arith.CeilDivSIOp, arith.FloorDivSIOp)
def _int_division(t: _FunctionTranslator, op: Operation) -> None:
    """Division never traps: x / 0 and x % 0 are 0 (numpy's result), MIN / -1 wraps to MIN."""
    b = t.b
    a, d = t.get(op.lhs), t.get(op.rhs)
    lt = a.type
    zero, one = _const(lt, 0), _const(lt, 1)
    by_zero = b.icmp_unsigned("==", d, zero)
    signed = not isinstance(op, arith.DivUIOp | arith.RemUIOp)
    unsafe = by_zero
    if signed:
        overflow = b.and_(b.icmp_signed("==", a, _int_min(lt)), b.icmp_signed("==", d, _const(lt, -1)))
        unsafe = b.or_(by_zero, overflow)
    safe_d = b.select(unsafe, one, d)
    if isinstance(op, arith.DivUIOp):
        q = b.udiv(a, safe_d)
    elif isinstance(op, arith.RemUIOp):
        q = b.urem(a, safe_d)
    elif isinstance(op, arith.RemSIOp):
        q = b.srem(a, safe_d)
    else:
        q = b.sdiv(a, safe_d)
        if isinstance(op, arith.CeilDivSIOp | arith.FloorDivSIOp):
            r = b.srem(a, safe_d)
            nonzero = b.icmp_signed("!=", r, zero)
            same_sign = b.icmp_signed("==", b.icmp_signed("<", r, zero), b.icmp_signed("<", safe_d, zero))
            if isinstance(op, arith.CeilDivSIOp):
                q = b.select(b.and_(nonzero, same_sign), b.add(q, one), q)
            else:
                q = b.select(b.and_(nonzero, b.not_(same_sign)), b.sub(q, one), q)
    t.set(op, b.select(by_zero, zero, q))


_CMPI = {
    "eq": ("==", True), "ne": ("!=", True), "slt": ("<", True), "sle": ("<=", True), "sgt": (">", True),
    "sge": (">=", True), "ult": ("<", False), "ule": ("<=", False), "ugt": (">", False), "uge": (">=", False),
}  # fmt: skip


@_handles(arith.CmpIOp)
def _cmpi(t: _FunctionTranslator, op: arith.CmpIOp) -> None:
    pred, signed = _CMPI[op.predicate_name]
    a, b = t.get(op.lhs), t.get(op.rhs)
    t.set(op, (t.b.icmp_signed if signed else t.b.icmp_unsigned)(pred, a, b))


# -- arith: floats
_FLOAT_BINARY = {
    arith.AddFOp: "fadd",
    arith.SubFOp: "fsub",
    arith.MulFOp: "fmul",
    arith.DivFOp: "fdiv",
    arith.RemFOp: "frem",
}


@_handles(*_FLOAT_BINARY)
def _float_binary(t: _FunctionTranslator, op: Operation) -> None:
    fn = getattr(t.b, _FLOAT_BINARY[type(op)])
    t.set(op, fn(t.get(op.lhs), t.get(op.rhs), flags=_flags(op)))


_FLOAT_MINMAX = {
    arith.MaximumFOp: "maximum",
    arith.MinimumFOp: "minimum",
    arith.MaxNumFOp: "maxnum",
    arith.MinNumFOp: "minnum",
}
# NaN-propagating max/min as a compare-select: `select(a > b, a, b)` is x86's maxps exactly.
_SELECT_PREDICATE = {arith.MaximumFOp: "ogt", arith.MinimumFOp: "olt"}


def _tree_node(op: Operation) -> bool:
    """An nsz maximumf/minimumf that may join a tree: not one combining a loop-carried value
    (a block argument of its block), which stays `llvm.maximum` so that LLVM recognizes and
    vectorizes the reduction."""
    if type(op) not in _SELECT_PREDICATE or "nsz" not in getattr(op.get_attr("fastmath"), "flags", ()):
        return False
    return not any(isinstance(v, BlockArgument) and v.block is op.parent for v in op.operands)


def _linked(a: Operation, b: Operation | None) -> bool:
    return b is not None and type(b) is type(a) and b.parent is a.parent and _tree_node(b)


def _tree_minmax(op: Operation) -> bool:
    """Whether `op` is built by `_minmax_tree`: a tree node with an operand or a user that is
    a tree node of the same kind in the same block (a lone one keeps `llvm.maximum`)."""
    if not _tree_node(op):
        return False
    return any(_linked(op, v.defining_op()) for v in op.operands) or any(
        _linked(op, user) for user in op.results[0].users()
    )


@_handles(*_FLOAT_MINMAX)
def _float_minmax(t: _FunctionTranslator, op: Operation) -> None:
    if _tree_minmax(op):
        _minmax_tree(t, op)
        return
    a, b = t.get(op.lhs), t.get(op.rhs)
    fn = intrinsic(t.m, _FLOAT_MINMAX[type(op)], a.type, [a.type, a.type], [a.type])
    t.set(op, t.b.call(fn, [a, b], fastmath=_flags(op)))


def _minmax_tree(t: _FunctionTranslator, op: Operation) -> None:
    """maximumf/minimumf with `nsz`, built as a tree. `llvm.maximum` costs three instructions
    per op on x86 (max, unordered compare, blend); a tree of them in one block (a pooling
    window's taps) is emitted instead as NaN-blind compare-selects (one `maxps` each) and one
    NaN mask for the whole tree: the leaves are tested pairwise with one `fcmp uno`, the masks
    or-ed up the tree, and a single select puts the NaN in where a value leaves the tree (a
    use that is not the same op in the same block). Without `nsz` the sign of a zero would
    differ: the select returns its second operand on a tie."""
    b = t.b
    cls = type(op)
    leaves: list[ir.Value] = []
    masks: list[ir.Value] = []
    plain: list[ir.Value] = []
    for v in (op.lhs, op.rhs):
        if _linked(op, v.defining_op()):  # a tree op emitted before: its NaN-blind value and mask
            part = t.minmax_parts[v]
            plain.append(part[0])
            masks.append(part[1])
        else:
            value = t.get(v)
            plain.append(value)
            leaves.append(value)
    if len(leaves) == 2:
        masks.append(b.fcmp_unordered("uno", leaves[0], leaves[1]))
    elif leaves:
        masks.append(b.fcmp_unordered("uno", leaves[0], leaves[0]))
    mask = masks[0] if len(masks) == 1 else b.or_(masks[0], masks[1])
    m = b.select(b.fcmp_ordered(_SELECT_PREDICATE[cls], plain[0], plain[1]), plain[0], plain[1])
    result = op.results[0]
    t.minmax_parts[result] = (m, mask)
    inside = all(_linked(op, user) for user in result.users())
    t.set(op, m if inside and result.has_uses else b.select(mask, _const(m.type, float("nan")), m))


@_handles(arith.NegFOp)
def _negf(t: _FunctionTranslator, op: arith.NegFOp) -> None:
    t.set(op, t.b.fneg(t.get(op.operand_), flags=_flags(op)))


@_handles(arith.CmpFOp)
def _cmpf(t: _FunctionTranslator, op: arith.CmpFOp) -> None:
    pred = op.predicate_name
    a, b = t.get(op.lhs), t.get(op.rhs)
    if pred in ("true", "false"):
        lt = llvm_type(op.results[0].type, op)
        t.set(op, _const(lt, 1 if pred == "true" else 0))
        return
    emit = t.b.fcmp_unordered if pred[0] == "u" else t.b.fcmp_ordered
    t.set(op, emit(pred, a, b, flags=_flags(op)))


@_handles(arith.SelectOp)
def _select(t: _FunctionTranslator, op: arith.SelectOp) -> None:
    t.set(op, t.b.select(t.get(op.condition), t.get(op.true_value), t.get(op.false_value)))


# -- arith: casts
_CASTS = {
    arith.ExtSIOp: "sext",
    arith.ExtUIOp: "zext",
    arith.TruncIOp: "trunc",
    arith.SIToFPOp: "sitofp",
    arith.UIToFPOp: "uitofp",
    arith.FPToSIOp: "fptosi",
    arith.FPToUIOp: "fptoui",
    arith.ExtFOp: "fpext",
    arith.TruncFOp: "fptrunc",
    arith.BitcastOp: "bitcast",
}


@_handles(*_CASTS)
def _cast(t: _FunctionTranslator, op: Operation) -> None:
    to = llvm_type(op.results[0].type, op)
    t.set(op, getattr(t.b, _CASTS[type(op)])(t.get(op.input), to))


def _int_width(lt: ir.Type) -> int:
    return (lt.element if isinstance(lt, ir.VectorType) else lt).width


@_handles(arith.IndexCastOp, arith.IndexCastUIOp)
def _index_cast(t: _FunctionTranslator, op: Operation) -> None:
    v = t.get(op.input)
    to = llvm_type(op.results[0].type, op)
    src, dst = _int_width(v.type), _int_width(to)
    if src == dst:
        t.set(op, v)
    elif src > dst:
        t.set(op, t.b.trunc(v, to))
    else:
        t.set(op, (t.b.sext if isinstance(op, arith.IndexCastOp) else t.b.zext)(v, to))


# -- math
_MATH_POLY = {
    math.ExpOp: "exp",
    math.Exp2Op: "exp2",
    math.ExpM1Op: "expm1",
    math.LogOp: "log",
    math.Log2Op: "log2",
    math.Log1pOp: "log1p",
    math.TanhOp: "tanh",
    math.ErfOp: "erf",
}


@_handles(*_MATH_POLY)
def _math_poly(t: _FunctionTranslator, op: Operation) -> None:
    t.set(op, t.mt.math.call(t.b, _MATH_POLY[type(op)], t.get(op.input), _flags(op)))


_MATH_INTRINSIC = {
    math.SqrtOp: "sqrt",
    math.AbsFOp: "fabs",
    math.FloorOp: "floor",
    math.CeilOp: "ceil",
    math.RoundEvenOp: "roundeven",
    math.SinOp: "sin",
    math.CosOp: "cos",
    math.PowFOp: "pow",
    math.FmaOp: "fma",
}


@_handles(*_MATH_INTRINSIC)
def _math_intrinsic(t: _FunctionTranslator, op: Operation) -> None:
    args = [t.get(v) for v in op.operands]
    lt = args[0].type
    fn = intrinsic(t.m, _MATH_INTRINSIC[type(op)], lt, [lt] * len(args), [lt])
    t.set(op, t.b.call(fn, args, fastmath=_flags(op)))


@_handles(math.RsqrtOp)
def _rsqrt(t: _FunctionTranslator, op: math.RsqrtOp) -> None:
    x = t.get(op.input)
    sqrt = t.b.call(intrinsic(t.m, "sqrt", x.type, [x.type], [x.type]), [x], fastmath=_flags(op))
    t.set(op, t.b.fdiv(_const(x.type, 1.0), sqrt, flags=_flags(op)))


# -- vector
@_handles(vector.BroadcastOp)
def _broadcast(t: _FunctionTranslator, op: vector.BroadcastOp) -> None:
    vt = llvm_type(op.results[0].type, op)
    one = t.b.insert_element(ir.Constant(vt, ir.Undefined), t.get(op.source), ir.Constant(I32, 0))
    mask = ir.Constant(ir.VectorType(I32, vt.count), [ir.Constant(I32, 0)] * vt.count)
    t.set(op, t.b.shuffle_vector(one, ir.Constant(vt, ir.Undefined), mask))


# kind -> (float reduction, float combine, int reduction, int combine)
_REDUCE_FLOAT = {
    "maximumf": ("fmaximum", "maximum"),
    "minimumf": ("fminimum", "minimum"),
    "maxnumf": ("fmax", "maxnum"),
    "minnumf": ("fmin", "minnum"),
}
_REDUCE_INT = {
    "add": "add", "mul": "mul", "and": "and", "or": "or", "xor": "xor",
    "maxsi": "smax", "minsi": "smin", "maxui": "umax", "minui": "umin",
}  # fmt: skip
_INT_COMBINE = {"add": "add", "mul": "mul", "and": "and_", "or": "or_", "xor": "xor"}


@_handles(vector.ReductionOp)
def _reduction(t: _FunctionTranslator, op: vector.ReductionOp) -> None:
    b = t.b
    kind = op.kind.value
    v = t.get(op.vector)
    acc = t.get(op.acc) if op.acc is not None else None
    vt = v.type
    elt = vt.element
    flags = _flags(op)
    if isinstance(elt, ir.IntType):
        fn = intrinsic(t.m, "vector.reduce." + _REDUCE_INT[kind], elt, [vt], [vt])
        r = b.call(fn, [v])
        if acc is not None:
            if kind in _INT_COMBINE:
                r = getattr(b, _INT_COMBINE[kind])(r, acc)
            else:
                r = b.call(intrinsic(t.m, _REDUCE_INT[kind], elt, [elt, elt], [elt]), [r, acc])
        t.set(op, r)
        return
    if kind in ("add", "mul"):
        start = acc if acc is not None else ir.Constant(elt, -0.0 if kind == "add" else 1.0)
        fn = intrinsic(t.m, f"vector.reduce.f{kind}", elt, [elt, vt], [vt])
        t.set(op, b.call(fn, [start, v], fastmath=flags))
        return
    reduce_name, combine = _REDUCE_FLOAT[kind]
    r = b.call(intrinsic(t.m, "vector.reduce." + reduce_name, elt, [vt], [vt]), [v], fastmath=flags)
    if acc is not None:
        r = b.call(intrinsic(t.m, combine, elt, [elt, elt], [elt]), [r, acc], fastmath=flags)
    t.set(op, r)


# -- memref
def _load(b: ir.IRBuilder, ptr: ir.Value, t: Type, op: Operation | None) -> ir.Instruction:
    lt, mt = llvm_type(t, op), memory_type(t, op)
    value = b.load(ptr, typ=mt, align=abi.element_bytes(_scalar(t)))
    return b.trunc(value, lt) if mt != lt else value


def _store(b: ir.IRBuilder, value: ir.Value, ptr: ir.Value, t: Type, op: Operation | None) -> ir.Instruction:
    lt, mt = llvm_type(t, op), memory_type(t, op)
    if mt != lt:
        value = b.zext(value, mt)
    return b.store(value, ptr, align=abi.element_bytes(_scalar(t)))


def _scalar(t: Type) -> Type:
    return t.element_type if isinstance(t, VectorType) else t


def _loaded(t: _FunctionTranslator, op: Operation, value: ir.Instruction) -> ir.Value:
    inst = value.operands[0] if isinstance(value, ir.CastInstr) else value
    t.tag(inst)
    return value


@_handles(memref.LoadOp, memref.VectorLoadOp)
def _mem_load(t: _FunctionTranslator, op: Operation) -> None:
    ptr = t.address(op, op.memref, op.indices)
    t.set(op, _loaded(t, op, _load(t.b, ptr, op.results[0].type, op)))


@_handles(memref.StoreOp, memref.VectorStoreOp)
def _mem_store(t: _FunctionTranslator, op: Operation) -> None:
    ptr = t.address(op, op.memref, op.indices)
    t.tag(_store(t.b, t.get(op.value), ptr, op.value.type, op))


@_handles(memref.AllocOp)
def _alloc(t: _FunctionTranslator, op: memref.AllocOp) -> None:
    size = memref.byte_size(op.results[0].type)
    size = max(ALIGNMENT, -(-size // ALIGNMENT) * ALIGNMENT)  # aligned_alloc wants a multiple
    fn = declare(t.m, "aligned_alloc", PTR, [I64, I64])
    t.set(op, t.b.call(fn, [ir.Constant(I64, ALIGNMENT), ir.Constant(I64, size)]))


@_handles(memref.DeallocOp)
def _dealloc(t: _FunctionTranslator, op: memref.DeallocOp) -> None:
    t.b.call(declare(t.m, "free", VOID, [PTR]), [t.get(op.memref)])


@_handles(memref.ViewOp)
def _view(t: _FunctionTranslator, op: memref.ViewOp) -> None:
    base = t.get(op.source)
    t.set(op, t.b.gep(base, [ir.Constant(I64, op.offset)], inbounds=True, source_etype=I8) if op.offset else base)


@_handles(memref.ReshapeOp)
def _reshape(t: _FunctionTranslator, op: memref.ReshapeOp) -> None:
    t.set(op, t.get(op.source))


@_handles(memref.CopyOp)
def _copy(t: _FunctionTranslator, op: memref.CopyOp) -> None:
    size = memref.byte_size(op.source.type)
    if size == 0:
        return
    fn = intrinsic(t.m, "memcpy", VOID, [PTR, PTR, I64, I1], [PTR, PTR, I64])
    t.b.call(fn, [t.get(op.target), t.get(op.source), ir.Constant(I64, size), ir.Constant(I1, 0)])


@_handles(memref.GetGlobalOp)
def _get_global(t: _FunctionTranslator, op: memref.GetGlobalOp) -> None:
    name = op.global_name.root
    slot = t.mt.slots.get(name)
    if slot is not None:
        ptr = t.b.load(slot, typ=PTR, align=8)
        ptr.set_metadata("invariant.load", t.m.add_metadata([]))
        t.set(op, ptr)
        return
    gv = t.mt.globals.get(name)
    if gv is None:
        raise op.emit_error(f"'@{op.global_name.root}' is not a memref.global of the module")
    t.set(op, gv)


# -- loops
@_handles(loop.ForOp)
def _for(t: _FunctionTranslator, op: loop.ForOp) -> None:
    block = op.body_block

    def body(iv: ir.Value, carried: list[ir.Value]) -> list[ir.Value]:
        for arg, value in zip(block.args, [iv, *carried], strict=True):
            t.values[arg] = value
        return t.emit_ops(block)

    inits = [t.get(v) for v in op.inits]
    results = t.counted_loop(
        t.get(op.lower_bound), t.get(op.upper_bound), t.get(op.step), inits, block.args[0].name_hint, body
    )
    t.set(op, *results)


@_handles(loop.ParallelOp)
def _parallel(t: _FunctionTranslator, op: loop.ParallelOp) -> None:
    """A top-level loop.parallel big enough to be worth threads is outlined and run by the pool
    (`_outline_parallel`); any other (nested in a parallel body, or small) is a nest of counted
    loops, outermost dimension first (`_parallel_nest`)."""
    if not t.in_parallel and _worth_threads(op):
        _outline_parallel(t, op)
        return
    saved = t.in_parallel
    t.in_parallel = True
    lbs = [t.get(v) for v in op.lower_bounds]
    ubs = [t.get(v) for v in op.upper_bounds]
    steps = [t.get(v) for v in op.steps]
    _parallel_nest(t, op, lbs, ubs, steps)
    t.in_parallel = saved


def _parallel_group(t: _FunctionTranslator, op: loop.ParallelOp) -> _DistinctMD | None:
    """The access group of a straight-line body (see `_parallel_nest`), else None."""
    straight = not any(inner.regions for inner in op.body_block.ops)
    return _distinct(t.m, []) if straight else None


def _loop_md(t: _FunctionTranslator, group: _DistinctMD | None) -> _DistinctMD | None:
    if group is None:
        return None
    loop_md = _distinct(t.m, [])
    accesses = t.m.add_metadata([ir.MetaDataString(t.m, "llvm.loop.parallel_accesses"), group])
    loop_md.operands = (loop_md, accesses)
    return loop_md


class _Groups:
    """Puts the loads and stores emitted inside into `group` (nothing when it is None: a body
    with nested loops leaves the enclosing groups too, see `_parallel_nest`)."""

    def __init__(self, t: _FunctionTranslator, group: _DistinctMD | None) -> None:
        self.t, self.group = t, group

    def __enter__(self) -> None:
        t = self.t
        self.saved = t._group_node, t.groups
        t.groups = [*t.groups, self.group] if self.group is not None else []
        t._group_node = None

    def __exit__(self, *exc: object) -> None:
        self.t._group_node, self.t.groups = self.saved


def _parallel_nest(
    t: _FunctionTranslator, op: loop.ParallelOp, lbs: list[ir.Value], ubs: list[ir.Value], steps: list[ir.Value]
) -> None:
    """A nest of counted loops, outermost dimension first. When the body is straight-line code
    (no nested loops), each level is marked `llvm.loop.parallel_accesses` and the body's loads
    and stores are tagged with its access group, so LLVM vectorizes without dependence checks.
    A body with nested loops is left unmarked: LLVM would take the tags as a promise about
    the accesses of the nested loops too (e.g. a prefix sum along a row of a parallel loop
    over rows was miscompiled that way)."""
    block = op.body_block
    group = _parallel_group(t, op)

    def nest(dim: int) -> Callable[[ir.Value, list[ir.Value]], list[ir.Value]]:
        def body(iv: ir.Value, _: list[ir.Value]) -> list[ir.Value]:
            t.values[block.args[dim]] = iv
            if dim + 1 < len(lbs):
                _emit_level(dim + 1)
            else:
                t.emit_ops(block)
            return []

        return body

    def _emit_level(dim: int) -> None:
        t.counted_loop(lbs[dim], ubs[dim], steps[dim], [], block.args[dim].name_hint, nest(dim), _loop_md(t, group))

    with _Groups(t, group):
        _emit_level(0)


# -- loop.parallel on threads
def _worth_threads(op: loop.ParallelOp) -> bool:
    """Whether a top-level parallel loop is outlined: its trip count times the ops of one
    iteration may reach `threads.MIN_PARALLEL_WORK` (always, when a bound is not constant: the
    code then decides at run time)."""
    total = 1
    for bound in op.constant_bounds():
        if bound is None:
            return True
        lb, ub, step = bound
        total *= max(0, -(-(ub - lb) // step))
    return total >= threads.min_parallel_trips(threads.work_estimate(op.body_block))


# Ops defined outside a parallel loop that the outlined body recomputes instead of receiving:
# constants stay constants (bounds, strides: what the vectorizer needs to see), views and
# reshapes stay derived from their base pointer (so the base's noalias covers them).
_REMATERIALIZED = (arith.ConstantOp, memref.ViewOp, memref.ReshapeOp, memref.GetGlobalOp)


def _captures(op: Operation) -> tuple[list[Value], list[Operation]]:
    """The values the body of `op` (its bounds included) uses from outside, and the ops it
    recomputes (in an order where each comes after the ops it uses)."""
    inside: set[Value] = set()
    for inner in op.walk():
        if inner is not op:
            inside.update(inner.results)
        for region in inner.regions:
            for block in region.blocks:
                inside.update(block.args)
    captured: dict[Value, None] = {}
    remat: dict[Operation, None] = {}

    def visit(v: Value) -> None:
        d = v.defining_op()
        if isinstance(d, _REMATERIALIZED):
            if d not in remat:
                for w in d.operands:
                    visit(w)
                remat[d] = None
        else:
            captured[v] = None

    for inner in op.walk():
        for v in inner.operands:
            if v not in inside:
                visit(v)
    return list(captured), list(remat)


def _trip_count(b: ir.IRBuilder, lb: ir.Value, ub: ir.Value, step: ir.Value) -> ir.Value:
    """Iterations of `for (iv = lb; iv < ub; iv += step)` (step > 0)."""
    diff = b.sub(ub, lb)
    count = b.sdiv(b.add(diff, b.sub(step, ir.Constant(I64, 1))), step)
    return b.select(b.icmp_signed(">", diff, ir.Constant(I64, 0)), count, ir.Constant(I64, 0))


def _smin(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    return b.select(b.icmp_signed("<", x, y), x, y)


def _smax(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    return b.select(b.icmp_signed(">", x, y), x, y)


def _outline_parallel(t: _FunctionTranslator, op: loop.ParallelOp) -> None:
    """Runs a top-level loop.parallel on the thread pool (see `irc.backend.threads`).

    The body goes to `@<f>.parallel<k>(i64 begin, i64 end, captures...)`, which runs the
    iterations [begin, end) of the flattened (row-major) iteration space: a loop over the rows
    of the outer dimensions and, per row, a counted loop over the innermost one (the loop the
    vectorizer sees, marked parallel as in `_parallel_nest`). Captured pointers keep the
    function's `noalias`, `align` and `dereferenceable` (and allocations get `noalias`), so
    after LLVM inlines the body into its callers it knows what it knew before. At the loop:
    with more than one thread and at least `threads.min_parallel_trips` iterations, the
    captures are stored to a stack struct and `__irc_parallel_for(@<f>.parallel<k>.task, ctx,
    total, n)` splits the range over `n = min(threads, total)` threads (the task loads the
    captures and calls the body); otherwise the body is called on the whole range."""
    mt, parent = t.mt, t.fn
    captures, remat = _captures(op)
    cap_types = [llvm_type(v.type, op) for v in captures]
    name = f"{parent.name}.parallel{t.outlined}"
    t.outlined += 1

    body_fn = ir.Function(t.m, ir.FunctionType(VOID, [I64, I64, *cap_types]), name=name)
    body_fn.linkage = "internal"
    body_fn.attributes.add("nounwind")
    body_fn.args[0].name, body_fn.args[1].name = "begin", "end"
    _capture_attributes(t, captures, body_fn.args[2:])
    for v, arg in zip(captures, body_fn.args[2:], strict=True):
        if v.name_hint is not None and v.name_hint[:1].isalpha():
            arg.name = v.name_hint

    # -- the body: emitted into its own function with the same translator
    saved = (t.fn, t.b, t.values, t.in_parallel)
    t.fn, t.values, t.in_parallel = body_fn, dict(zip(captures, body_fn.args[2:], strict=True)), True
    t.b = ir.IRBuilder(body_fn.append_basic_block("entry"))
    for rop in remat:
        _HANDLERS[type(rop)](t, rop)
    _emit_chunk(t, op, body_fn.args[0], body_fn.args[1])
    t.b.ret_void()
    t.fn, t.b, t.values, t.in_parallel = saved

    # -- the task the pool calls: unpacks the captures
    ctx_type = ir.LiteralStructType(cap_types)
    task = ir.Function(t.m, ir.FunctionType(VOID, [PTR, I64, I64]), name=name + ".task")
    task.linkage = "internal"
    task.attributes.add("nounwind")
    tb = ir.IRBuilder(task.append_basic_block("entry"))
    ctx_arg = task.args[0]
    ctx_arg.add_attribute("noalias")
    loaded = [
        tb.load(
            tb.gep(ctx_arg, [ir.Constant(I32, 0), ir.Constant(I32, k)], inbounds=True, source_etype=ctx_type), typ=ct
        )
        for k, ct in enumerate(cap_types)
    ]
    tb.call(body_fn, [task.args[1], task.args[2], *loaded])
    tb.ret_void()

    # -- the call site
    b = t.b
    lbs = [t.get(v) for v in op.lower_bounds]
    ubs = [t.get(v) for v in op.upper_bounds]
    steps = [t.get(v) for v in op.steps]
    total = ir.Constant(I64, 1)
    for lb, ub, step in zip(lbs, ubs, steps, strict=True):
        total = b.mul(total, _trip_count(b, lb, ub, step))
    nthreads = b.sext(b.load(mt.num_threads(), typ=I32, align=4), I64)
    min_trips = threads.min_parallel_trips(threads.work_estimate(op.body_block))
    wide = b.and_(
        b.icmp_signed(">", nthreads, ir.Constant(I64, 1)),
        b.icmp_signed(">=", total, ir.Constant(I64, min_trips)),
    )
    args = [t.get(v) for v in captures]
    with b.if_else(wide) as (on_threads, on_this_thread):
        with on_threads:
            if cap_types:
                entry = parent.blocks[0]
                eb = ir.IRBuilder(entry)
                eb.position_at_start(entry)
                ctx = eb.alloca(ctx_type, name="ctx")
                ctx.type = PTR  # llvmlite types allocas as typed pointers; the module is opaque
                for k, value in enumerate(args):
                    b.store(
                        value,
                        b.gep(ctx, [ir.Constant(I32, 0), ir.Constant(I32, k)], inbounds=True, source_etype=ctx_type),
                    )
            else:
                ctx = ir.Constant(PTR, None)
            n = _smin(b, nthreads, total)
            pool = declare(t.m, threads.PARALLEL_FOR, VOID, [PTR, PTR, I64, I64])
            pool.attributes.add("nounwind")
            b.call(pool, [task, ctx, total, n])
        with on_this_thread:
            b.call(body_fn, [ir.Constant(I64, 0), total, *args])


def _capture_attributes(t: _FunctionTranslator, captures: list[Value], params: Sequence[ir.Argument]) -> None:
    """`noalias` (and `align`, `dereferenceable`) on the outlined body's pointer parameters:
    a function argument's own attributes, and for a `memref.alloc` a fresh buffer's. Only when
    every captured pointer is one of those (a pointer of unknown origin might alias them)."""
    pointers = [(v, p) for v, p in zip(captures, params, strict=True) if isinstance(v.type, MemRefType)]
    known: list[tuple[ir.Argument, ir.Argument | None, Value]] = []
    for v, p in pointers:
        if isinstance(v, BlockArgument) and v.block is t.op.entry:
            known.append((p, t.fn.args[v.index], v))
        elif isinstance(v.defining_op(), memref.AllocOp):
            known.append((p, None, v))
        else:
            return
    for param, source, v in known:
        if source is None:
            param.add_attribute("noalias")
            param.attributes.align = ALIGNMENT
            size = memref.byte_size(v.type)
            if size:
                param.attributes.dereferenceable = size
            continue
        for attr in source.attributes:
            param.add_attribute(attr)
        if source.attributes.align:
            param.attributes.align = source.attributes.align
        if source.attributes.dereferenceable:
            param.attributes.dereferenceable = source.attributes.dereferenceable


def _emit_chunk(t: _FunctionTranslator, op: loop.ParallelOp, begin: ir.Value, end: ir.Value) -> None:
    """The iterations [begin, end) of `op`'s flattened iteration space (in the current function)."""
    b = t.b
    block = op.body_block
    lbs = [t.get(v) for v in op.lower_bounds]
    ubs = [t.get(v) for v in op.upper_bounds]
    steps = [t.get(v) for v in op.steps]
    group = _parallel_group(t, op)
    n = len(lbs)
    inner_name = block.args[-1].name_hint

    def innermost(iv: ir.Value, _: list[ir.Value]) -> list[ir.Value]:
        t.values[block.args[-1]] = iv
        t.emit_ops(block)
        return []

    def inner_loop(jlo: ir.Value, jhi: ir.Value) -> None:
        lo = b.add(lbs[-1], b.mul(jlo, steps[-1], flags=("nsw",)), flags=("nsw",))
        hi = b.add(lbs[-1], b.mul(jhi, steps[-1], flags=("nsw",)), flags=("nsw",))
        t.counted_loop(lo, hi, steps[-1], [], inner_name, innermost, _loop_md(t, group))

    with _Groups(t, group):
        if n == 1:
            inner_loop(begin, end)
            return
        trips = [_trip_count(b, lb, ub, st) for lb, ub, st in zip(lbs, ubs, steps, strict=True)]
        inner = trips[-1]
        with b.if_then(b.icmp_signed("<", begin, end)):  # then every trip count is positive
            first = b.udiv(begin, inner)
            last = b.udiv(b.add(end, b.sub(inner, ir.Constant(I64, 1))), inner)

            def row(r: ir.Value, _: list[ir.Value]) -> list[ir.Value]:
                rest = r
                for d in range(n - 2, 0, -1):
                    t.values[block.args[d]] = b.add(lbs[d], b.mul(b.urem(rest, trips[d]), steps[d]))
                    rest = b.udiv(rest, trips[d])
                t.values[block.args[0]] = b.add(lbs[0], b.mul(rest, steps[0]))
                base = b.mul(r, inner)
                jlo = _smax(b, b.sub(begin, base), ir.Constant(I64, 0))
                jhi = _smin(b, b.sub(end, base), inner)
                inner_loop(jlo, jhi)
                return []

            t.counted_loop(first, last, ir.Constant(I64, 1), [], "row", row, _loop_md(t, group))


# ----------------------------------------------------------------------------- LLVM
@functools.cache
def _initialize() -> None:
    import llvmlite.binding as llvm

    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    llvm.initialize_native_asmparser()
    # Lets the JIT resolve the C library's symbols (aligned_alloc, free, memset, libm's sinf,
    # powf, ...): the libraries are already loaded in this process, this makes them searchable.
    import ctypes.util

    for lib in ("c", "m", "gcc_s"):
        path = ctypes.util.find_library(lib)
        if path is not None:
            try:
                llvm.load_library_permanently(path)
            except RuntimeError:
                pass


def host_cpu() -> tuple[str, str]:
    """(CPU name, feature string) of this machine, as LLVM sees them."""
    import llvmlite.binding as llvm

    _initialize()
    return llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten()


@functools.cache
def host_target_machine(opt_level: int = 3) -> Any:
    """A target machine for this CPU (name and features), position-independent code."""
    import llvmlite.binding as llvm

    _initialize()
    cpu, features = host_cpu()
    target = llvm.Target.from_default_triple()
    return target.create_target_machine(cpu=cpu, features=features, opt=opt_level, reloc="pic", codemodel="default")


def parse(llvm_ir: str) -> Any:
    """Parses and verifies LLVM IR text; a ModuleRef."""
    import llvmlite.binding as llvm

    _initialize()
    mod = llvm.parse_assembly(llvm_ir)
    mod.verify()
    return mod


def optimize(mod: Any, opt_level: int = 3) -> Any:
    """Runs the new pass manager's default pipeline (-O<opt_level>) on a ModuleRef, in place."""
    import llvmlite.binding as llvm

    if opt_level <= 0:
        return mod
    tm = host_target_machine()
    pto = llvm.create_pipeline_tuning_options(speed_level=opt_level)
    pto.loop_vectorization = True
    pto.slp_vectorization = True
    pto.loop_unrolling = True
    pb = llvm.create_pass_builder(tm, pto)
    pm = pb.getModulePassManager()
    pm.run(mod, pb)
    return mod


def compile_module(module: Operation, opt_level: int = 3, external_globals: frozenset[str] = frozenset()) -> Any:
    """Translates, parses and optimizes: the optimized ModuleRef of a lowered gir module."""
    llmod = translate(module, external_globals=external_globals)
    try:
        ref = parse(str(llmod))
    except RuntimeError as err:  # a translation bug: LLVM rejected what we generated
        raise error(f"LLVM rejected the generated IR (a compiler bug): {err}", module.location) from None
    return optimize(ref, opt_level)


def emit_llvm_ir(module: Operation, opt_level: int = 3) -> str:
    return str(compile_module(module, opt_level))


def emit_assembly(module: Operation, opt_level: int = 3) -> str:
    return host_target_machine().emit_assembly(compile_module(module, opt_level))


def emit_object(module: Operation, opt_level: int = 3) -> bytes:
    return host_target_machine().emit_object(compile_module(module, opt_level))


__all__ = [
    "compile_module",
    "emit_assembly",
    "emit_llvm_ir",
    "emit_object",
    "global_slot_symbol",
    "host_cpu",
    "host_target_machine",
    "llvm_type",
    "mangle",
    "optimize",
    "parse",
    "translate",
]
