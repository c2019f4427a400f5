"""The loop-vectorize pass."""

from __future__ import annotations

from typing import ClassVar

import attrs

from dialects import arith
from dialects.arith import ArithOp, ConstantOp, RemSIOp
from dialects.loop import ForOp, ParallelOp, YieldOp
from dialects.memref import LoadOp, StoreOp, VectorLoadOp, VectorStoreOp
from dialects.vector import BroadcastOp, ReductionOp
from irc.attributes import FloatAttr, IntegerAttr
from irc.ir import Operation, Value
from irc.pass_manager import Pass, PassState
from irc.rewriter import PatternRewriter, RewritePattern
from irc.traits import MemoryEffects, Pure
from irc.types import FloatType, IndexType, IntegerType, Type, VectorType
from passes.loop_analysis import (
    LOOPS,
    Dependences,
    LoopBuilder,
    affine_of,
    body_ops,
    constant_int,
    finish_body,
    is_defined_outside,
    is_innermost,
    trip_count,
)

# Reductions: op class -> (vector.reduction kind, identity or None when the op is idempotent
# (then the initial value itself seeds every lane), whether floats need `reassoc`).
_REDUCTIONS: dict[type, tuple[str, float | int | None, bool]] = {
    arith.AddFOp: ("add", -0.0, True),
    arith.MulFOp: ("mul", 1.0, True),
    arith.MaximumFOp: ("maximumf", None, False),
    arith.MinimumFOp: ("minimumf", None, False),
    arith.MaxNumFOp: ("maxnumf", None, False),
    arith.MinNumFOp: ("minnumf", None, False),
    arith.AddIOp: ("add", 0, False),
    arith.MulIOp: ("mul", 1, False),
    arith.XOrIOp: ("xor", 0, False),
    arith.AndIOp: ("and", None, False),
    arith.OrIOp: ("or", None, False),
    arith.MaxSIOp: ("maxsi", None, False),
    arith.MinSIOp: ("minsi", None, False),
    arith.MaxUIOp: ("maxui", None, False),
    arith.MinUIOp: ("minui", None, False),
}


def _positive(instance: object, attribute: attrs.Attribute, value: int) -> None:
    if value < 2:
        raise ValueError(f"'width' must be at least 2, but got {value}")


@attrs.frozen
class LoopVectorize(Pass):
    """Vectorize innermost unit-stride loops, with a scalar remainder loop.

        loop.for %i = %c0 to %c100 step %c1 {          loop.for %i = %c0 to %c96 step %c8 {
          %x = memref.load %A[%i]                         %x = memref.vector_load %A[%i] : ..., vector<8xf32>
          %y = arith.mulf %x, %s : f32            ->      %b = vector.broadcast %s : f32 to vector<8xf32>
          memref.store %y, %B[%i]                         %y = arith.mulf %x, %b : vector<8xf32>
        }                                                 memref.vector_store %y, %B[%i] : ...
                                                        }
                                                        loop.for %i = %c96 to %c100 step %c1 { (scalar) }

    A `loop.for`, or the last dimension of a `loop.parallel`, with step 1 and no nested loop
    qualifies when its body holds only: loads and stores whose last index is the induction
    variable plus an invariant (coefficient 1) and whose other indices are invariant (loads
    at invariant indices stay scalar), arith and math ops (invariant operands are
    broadcast), index arithmetic feeding those indices, and, in a `loop.for`, reductions of
    iteration arguments (`addf`/`mulf` with `reassoc`, the float min/max, and integer
    add/mul/and/or/xor/min/max), which become vector accumulators combined by
    `vector.reduction` after the loop. Loops whose iterations depend on one another through
    memory, and loops of fewer than `width` iterations, are left alone, as is anything else.
    """

    name: ClassVar[str] = "loop-vectorize"
    statistics: ClassVar[dict[str, str]] = {
        "num-vectorized": "Number of loops vectorized",
        "num-reductions": "Number of reductions turned into vector accumulators",
        "num-remainder-loops": "Number of scalar remainder loops kept",
        "num-refused": "Number of innermost unit-stride loops not vectorized",
    }

    width: int = attrs.field(default=8, validator=_positive)

    def run(self, op: Operation, state: PassState) -> None:
        rewriter = PatternRewriter()
        pattern = VectorizeLoop(self.width, state)
        candidates = [loop for loop in op.walk() if isinstance(loop, LOOPS) and is_innermost(loop)]
        for loop in candidates:
            pattern.match_and_rewrite(loop, rewriter)
        state.changed = rewriter.changed


@attrs.define(eq=False)
class _Reduction:
    arg: Value  # the iteration argument
    op: Operation  # the op combining it with the next element
    kind: str
    identity: float | int | None


class _Refused(Exception):
    """The loop does not qualify (the message says why, for debugging)."""


@attrs.define(eq=False)
class _Plan:
    """How each value of the body is vectorized: 'uniform' (one scalar for all lanes),
    'index' (an index value, affine in the induction variable: the first lane's), 'vector'."""

    loop: Operation
    iv: Value
    kinds: dict[Value, str] = attrs.field(factory=dict)
    reductions: list[_Reduction] = attrs.field(factory=list)

    def kind(self, v: Value) -> str:
        if v is self.iv:
            return "index"
        found = self.kinds.get(v)
        if found is not None:
            return found
        if is_defined_outside(v, self.loop) or v in self.loop.induction_vars:
            return "uniform"
        raise _Refused(f"value {v!r} is not understood")

    def unit_stride(self, indices: list[Value]) -> bool:
        """The last index is `iv + invariant`, the others invariant."""
        *outer, last = indices
        if any(self.kind(i) != "uniform" for i in outer):
            return False
        form = affine_of(last)
        if form.coefficient(self.iv) != 1:
            return False
        return all(v is self.iv or self.kind(v) == "uniform" for v, _ in form.terms)


def _plan(loop: Operation, width: int) -> _Plan:
    """Classify the body of `loop` or raise `_Refused`."""
    iv = loop.induction_vars[-1]
    step = constant_int(loop.steps[-1])
    if step != 1:
        raise _Refused("the step is not 1")
    n = trip_count(loop.lower_bounds[-1], loop.upper_bounds[-1], loop.steps[-1])
    if n is not None and n < width:
        raise _Refused("fewer iterations than the vector width")
    plan = _Plan(loop, iv)
    if isinstance(loop, ForOp):
        for arg in loop.iter_args:
            plan.reductions.append(_reduction(loop, arg))
            plan.kinds[arg] = "vector"
    reducing = {r.op for r in plan.reductions}
    for op in body_ops(loop):
        if op in reducing:
            plan.kinds[op.results[0]] = "vector"
            continue
        kind = _classify(plan, op)
        for r in op.results:
            plan.kinds[r] = kind
    for op in body_ops(loop):  # index values may only feed the indices of accesses
        for r in op.results:
            if plan.kinds[r] == "index" and not all(_index_use(user, r) for user in r.users()):
                raise _Refused("an index value is used as data")
    for r in plan.reductions:
        if any(plan.kind(v) == "index" for v in r.op.operands):
            raise _Refused("the induction variable is reduced")
    deps = Dependences(loop)
    if not deps.analyzable or deps.carried_by((loop, len(loop.induction_vars) - 1)):
        raise _Refused("iterations depend on one another through memory")
    return plan


def _index_use(user: Operation, v: Value) -> bool:
    if isinstance(user, arith.AddIOp | arith.SubIOp | arith.MulIOp) and isinstance(user.results[0].type, IndexType):
        return True
    if isinstance(user, LoadOp | StoreOp):
        return v in user.indices and (not isinstance(user, StoreOp) or user.value is not v)
    return False


def _reduction(loop: ForOp, arg: Value) -> _Reduction:
    users = arg.users()
    if len(arg.uses) != 1 or type(users[0]) not in _REDUCTIONS:
        raise _Refused("an iteration argument is not a reduction")
    op = users[0]
    kind, identity, needs_reassoc = _REDUCTIONS[type(op)]
    t = arg.type
    if not isinstance(t, FloatType | IntegerType):
        raise _Refused("a reduction of a type other than integers and floats")
    if needs_reassoc and "reassoc" not in op.fastmath.flags:
        raise _Refused("a float reduction without reassoc")
    position = loop.iter_args.index(arg)
    result = op.results[0]
    term = loop.body_block.last_op
    if list(result.uses) != [(term, position)]:
        raise _Refused("a reduction's partial value is used in the loop")
    return _Reduction(arg, op, kind, identity)


def _is_element(t: Type) -> bool:
    return isinstance(t, FloatType | IntegerType)


def _classify(plan: _Plan, op: Operation) -> str:
    kinds = [plan.kind(v) for v in op.operands]
    if isinstance(op, LoadOp):
        if all(k == "uniform" for k in kinds):
            return "uniform"
        if not plan.unit_stride(list(op.indices)) or not _storable(op.memref.type.element_type):
            raise _Refused("a load that is not unit-stride")
        return "vector"
    if isinstance(op, StoreOp):
        if not plan.unit_stride(list(op.indices)) or not _storable(op.value.type):
            raise _Refused("a store that is not unit-stride")
        if plan.kind(op.value) == "index":
            raise _Refused("an index value is stored")
        return "none"
    if not op.has_trait(Pure) or op.has_trait(MemoryEffects) or op.regions or isinstance(op, YieldOp):
        raise _Refused(f"'{op.name}' cannot be vectorized")
    if all(k == "uniform" for k in kinds):
        return "uniform"
    if "index" in kinds:
        if isinstance(op, arith.AddIOp | arith.SubIOp | arith.MulIOp) and "vector" not in kinds:
            return "index"
        raise _Refused(f"'{op.name}' uses the induction variable as data")
    if not isinstance(op, ArithOp) or isinstance(op, ConstantOp):
        raise _Refused(f"'{op.name}' has no vector form")
    if not all(_is_element(t) for t in (*op.operand_types, *op.result_types)):
        raise _Refused(f"'{op.name}' works on types without vectors here")
    return "vector"


def _storable(t: Type) -> bool:
    # i1 buffers hold one byte per element, which a vector<Nxi1> access does not match.
    return _is_element(t) and not (isinstance(t, IntegerType) and t.width == 1)


class VectorizeLoop(RewritePattern):
    """Vectorize one innermost loop (its last dimension), keeping the original as the
    scalar remainder loop."""

    op_type = LOOPS

    def __init__(self, width: int, state: PassState | None = None) -> None:
        self.width = width
        self.state = state

    def _stat(self, name: str, amount: int = 1) -> None:
        if self.state is not None:
            self.state.stat(name, amount)

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        if not isinstance(op, LOOPS) or not is_innermost(op):
            return False
        try:
            plan = _plan(op, self.width)
        except _Refused:
            if constant_int(op.steps[-1]) == 1:
                self._stat("num-refused")
            return False
        b = LoopBuilder.before_op(rewriter, op)
        lb, ub = op.lower_bounds[-1], op.upper_bounds[-1]
        n = trip_count(lb, ub, op.steps[-1])
        if n is not None:
            split = b.add(lb, n // self.width * self.width)
        else:  # ub - (ub - lb) rem W: also right for empty ranges
            span = b.sub(ub, lb)
            rem = b.insert(RemSIOp.build(span, b.index(self.width))).results[0]
            split = b.sub(ub, rem)
        w = b.index(self.width)
        vectors = _Vectors(b, self.width)
        if isinstance(op, ForOp):
            seeds = [vectors.seed(r, init) for r, init in zip(plan.reductions, op.inits, strict=True)]
            new = b.insert(ForOp.build(lb, split, w, seeds, op.induction_var.name_hint))
            _name_like(new.iter_args, op.iter_args)
            mapping: dict = {op.induction_var: new.induction_var, **dict(zip(op.iter_args, new.iter_args, strict=True))}
        else:
            names = [iv.name_hint for iv in op.induction_vars]
            new = b.insert(ParallelOp.build([*op.lower_bounds[:-1], lb], [*op.upper_bounds[:-1], split],
                                            [*op.steps[:-1], w], names))  # fmt: skip
            mapping = dict(zip(op.induction_vars, new.induction_vars, strict=True))
        vectors.outer = LoopBuilder(rewriter, new.parent, new, b.pool)  # broadcasts go before the new loop
        body = b.inside(new.body_block)
        for inner in body_ops(op):
            _emit(plan, inner, body, vectors, mapping)
        yielded = body.mapped(op.body_block.last_op.operands, mapping)
        finish_body(rewriter, new.body_block, yielded)
        results = []
        inits = op.inits if isinstance(op, ForOp) else []
        for r, partial, init in zip(plan.reductions, new.results, inits, strict=True):
            acc = None if r.identity is None else init
            fastmath = getattr(r.op, "fastmath", None)
            results.append(b.insert(ReductionOp.build(r.kind, partial, acc, fastmath)).results[0])
        self._stat("num-vectorized")
        self._stat("num-reductions", len(plan.reductions))
        if n is not None and n % self.width == 0:
            rewriter.replace_op(op, results)
            return True
        # The original loop runs what is left: from the split on, from the reduced values.
        rewriter.set_operand(op, len(op.induction_vars) - 1, split)
        for k, value in enumerate(results):
            rewriter.set_operand(op, 3 + k, value)
        self._stat("num-remainder-loops")
        return True


def _name_like(new: list[Value], old: list[Value]) -> None:
    for a, b in zip(new, old, strict=True):
        a.name_hint = b.name_hint


class _Vectors:
    """Broadcasts of scalars, made once each: before the vector loop for values defined
    outside it, else where first needed."""

    def __init__(self, outer: LoopBuilder, width: int) -> None:
        self.outer = outer
        self.width = width
        self.cache: dict[Value, Value] = {}

    def type(self, t: Type) -> VectorType:
        return VectorType((self.width,), t)

    def broadcast(self, scalar: Value, b: LoopBuilder, outside: bool) -> Value:
        found = self.cache.get(scalar)
        if found is None:
            where = self.outer if outside else b
            found = self.cache[scalar] = where.insert(BroadcastOp.build(scalar, self.type(scalar.type))).results[0]
        return found

    def seed(self, r: _Reduction, init: Value) -> Value:
        """The accumulator's first value: the identity in every lane, or the initial value
        itself for idempotent reductions (min, max, and, or)."""
        if r.identity is None:
            return self.broadcast(init, self.outer, True)
        t = init.type
        attr = FloatAttr(float(r.identity), t) if isinstance(t, FloatType) else IntegerAttr(int(r.identity), t)
        scalar = self.outer.insert(ConstantOp.build(attr)).results[0]
        return self.broadcast(scalar, self.outer, True)


def _emit(plan: _Plan, op: Operation, b: LoopBuilder, vectors: _Vectors, mapping: dict) -> None:
    """The vector form of one body op, inserted with `b`; `mapping` takes old values to new."""
    kind = plan.kinds.get(op.results[0]) if op.results else "none"
    if kind in ("uniform", "index"):
        b.insert(op.clone(mapping))
        return

    def vec(v: Value) -> Value:
        if plan.kind(v) == "vector":
            return mapping[v]
        scalar = mapping.get(v, v)
        return vectors.broadcast(scalar, b, is_defined_outside(v, plan.loop))

    indices = b.mapped(getattr(op, "indices", ()), mapping)
    if isinstance(op, LoadOp):
        new = VectorLoadOp.build(mapping.get(op.memref, op.memref), indices, vectors.type(op.results[0].type))
    elif isinstance(op, StoreOp):
        new = VectorStoreOp.build(vec(op.value), mapping.get(op.memref, op.memref), indices)
    else:
        new = type(op)(
            operands=[vec(v) for v in op.operands],
            result_types=[vectors.type(t) for t in op.result_types],
            properties=op.properties,
            attributes=op.attributes,
            location=op.location,
            result_names=[r.name_hint for r in op.results],
        )
    b.insert(new)
    for old, value in zip(op.results, new.results, strict=True):
        if value.name_hint is None:
            value.name_hint = old.name_hint
        mapping[old] = value
