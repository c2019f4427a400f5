"""The loop dialect: the loop nests tensor ops lower to (MLIR's `scf`, reduced to two loops).

- `loop.for %i = %lb to %ub step %s iter_args(%acc = %init) -> (f32) { ... loop.yield %v : f32 }`:
  sequential, with loop-carried values; its results are the values yielded by the last
  iteration (the initial values when it runs zero times).
- `loop.parallel (%i, %j) = (%a, %b) to (%c, %d) step (%e, %f) { ... loop.yield }`: a
  multi-dimensional loop whose iterations are independent, in any order or at once. It is
  target-neutral: the CPU backend runs it on threads, the OpenCL backend maps it onto
  work-items.

Bounds and steps are `index` values; a step must be positive (checked when it is a constant).
The pretty forms are grammar rules (`loop_for_op`, `loop_parallel_op` in grammar.lark) because
the region's arguments are named in the op's header; the parser calls `parse_syntax` with
the pieces.
"""

from __future__ import annotations

from collections.abc import Sequence

from irc.attributes import IntegerAttr
from irc.context import Dialect
from irc.ir import Block, Operation, Region, Value
from irc.location import Location
from irc.opdef import Index, define_op, operand, region, var_operand, var_result
from irc.traits import HasParent, IsTerminator, MemoryEffects, Pure, ReturnLike, SingleBlock
from irc.types import index


class LoopLike:
    """What loop passes ask of both loops: bounds, steps, induction variables and body."""

    @property
    def body_block(self) -> Block:
        return self.regions[0].blocks[0]

    def constant_bounds(self) -> list[tuple[int, int, int] | None]:
        """Per dimension `(lb, ub, step)` when all three are `arith.constant`s, else None."""
        out = []
        for lb, ub, step in zip(self.lower_bounds, self.upper_bounds, self.steps, strict=True):
            values = [_const_index(v) for v in (lb, ub, step)]
            out.append(None if None in values else tuple(values))
        return out


def _const_index(v: Value) -> int | None:
    op = v.defining_op()
    if op is None or op.name != "arith.constant":
        return None
    attr = op.value
    return attr.value if isinstance(attr, IntegerAttr) else None


def _check_steps(op: Operation, steps: Sequence[Value]) -> None:
    for s in steps:
        c = _const_index(s)
        if c is not None and c <= 0:
            raise op.emit_error(f"constant step must be positive, but got {c}")


# ----------------------------------------------------------------------------- for
@define_op("loop.for")
class ForOp(LoopLike, Operation):
    """A sequential loop with iteration arguments (MLIR's `scf.for`)."""

    lower_bound = operand(Index)
    upper_bound = operand(Index)
    step = operand(Index)
    inits = var_operand()
    outs = var_result()
    body = region()
    traits = (SingleBlock(), MemoryEffects())

    @classmethod
    def build(
        cls,
        lb: Value,
        ub: Value,
        step: Value,
        inits: Sequence[Value] = (),
        iv_name: str | None = None,
        location: Location | None = None,
    ) -> ForOp:
        """A loop whose body holds only its block arguments (the caller adds ops and a yield)."""
        block = Block([index, *(v.type for v in inits)], [iv_name])
        return cls(
            operands=[lb, ub, step, *inits],
            result_types=[v.type for v in inits],
            regions=[Region([block])],
            location=location,
        )

    @property
    def lower_bounds(self) -> list[Value]:
        return [self.lower_bound]

    @property
    def upper_bounds(self) -> list[Value]:
        return [self.upper_bound]

    @property
    def steps(self) -> list[Value]:
        return [self.step]

    @property
    def induction_var(self) -> Value:
        return self.body_block.args[0]

    @property
    def induction_vars(self) -> list[Value]:
        return [self.body_block.args[0]]

    @property
    def iter_args(self) -> list[Value]:
        return list(self.body_block.args[1:])

    def verify_(self) -> None:
        if len(self.regions[0].blocks) != 1:
            raise self.emit_error("expects a body of one block")
        block = self.body_block
        types = [a.type for a in block.args]
        want = [index, *(v.type for v in self.inits)]
        if types != want:
            raise self.emit_error(
                f"expects body arguments ({', '.join(map(str, want))}) (the induction variable, then one per "
                f"iteration argument), but they are ({', '.join(map(str, types))})"
            )
        if [r.type for r in self.results] != [v.type for v in self.inits]:
            raise self.emit_error("expects one result per iteration argument, of the same type")
        term = block.last_op
        if not isinstance(term, YieldOp):
            raise self.emit_error("expects its body to end with 'loop.yield'")
        if [v.type for v in term.operands] != want[1:]:
            raise term.emit_error(
                f"must yield ({', '.join(map(str, want[1:]))}) to match the loop's iteration arguments, but yields "
                f"({', '.join(str(v.type) for v in term.operands)})"
            )
        _check_steps(self, [self.step])

    # -- pretty form: loop.for %i = %lb to %ub step %s [iter_args(%a = %x, ...) -> (T, ...)] {body} [{attrs}]
    @classmethod
    def parse_syntax(cls, p, lb, ub, step, iter_args, result_types, region_, attrs, location, pos) -> ForOp:
        if len(iter_args) != len(result_types):
            raise p.error(
                f"'loop.for' has {len(iter_args)} iteration arguments but {len(result_types)} result types", pos
            )
        inits = [p.resolve(ref, t) for (_, ref), t in zip(iter_args, result_types, strict=True)]
        operands = [p.resolve(lb, index), p.resolve(ub, index), p.resolve(step, index), *inits]
        props, extra = p.split_props("loop.for", {}, dict(attrs.entries) if attrs is not None else {}, pos)
        return cls(
            operands=operands,
            result_types=result_types,
            regions=[region_],
            properties=props,
            attributes=extra,
            location=location,
        )

    def print_custom(self, p) -> None:
        block = self.body_block
        p.name_block_args(block)
        p.write(
            f"loop.for {p.value(block.args[0])} = {p.value(self.lower_bound)} to {p.value(self.upper_bound)} "
            f"step {p.value(self.step)} "
        )
        if self.inits:
            pairs = ", ".join(f"{p.value(a)} = {p.value(v)}" for a, v in zip(block.args[1:], self.inits, strict=True))
            p.write(f"iter_args({pairs}) -> ({p.types(r.type for r in self.results)}) ")
        p.print_region(self.regions[0], print_entry_args=False)
        p.write(p.op_attr_dict(self))


# ----------------------------------------------------------------------------- parallel
@define_op("loop.parallel")
class ParallelOp(LoopLike, Operation):
    """Independent iterations over a box of indices (MLIR's `scf.parallel` without reductions)."""

    lower_bounds = var_operand(Index)
    upper_bounds = var_operand(Index)
    steps = var_operand(Index)
    body = region()
    traits = (SingleBlock(), MemoryEffects())

    @classmethod
    def build(
        cls,
        lbs: Sequence[Value],
        ubs: Sequence[Value],
        steps: Sequence[Value],
        iv_names: Sequence[str | None] = (),
        location: Location | None = None,
    ) -> ParallelOp:
        """A loop whose body holds only its block arguments (the caller adds ops and a yield)."""
        from irc.opdef import segment_sizes_attr

        n = len(lbs)
        block = Block([index] * n, iv_names)
        return cls(
            operands=[*lbs, *ubs, *steps],
            properties={"operandSegmentSizes": segment_sizes_attr([n, n, n])},
            regions=[Region([block])],
            location=location,
        )

    @property
    def induction_vars(self) -> list[Value]:
        return list(self.body_block.args)

    def verify_(self) -> None:
        n = len(self.lower_bounds)
        if n == 0 or len(self.upper_bounds) != n or len(self.steps) != n:
            raise self.emit_error(
                "expects as many upper bounds and steps as lower bounds (at least one), but got "
                f"{n}, {len(self.upper_bounds)} and {len(self.steps)}"
            )
        if len(self.regions[0].blocks) != 1:
            raise self.emit_error("expects a body of one block")
        block = self.body_block
        if [a.type for a in block.args] != [index] * n:
            raise self.emit_error(f"expects {n} body arguments of type 'index', one per dimension")
        term = block.last_op
        if not isinstance(term, YieldOp):
            raise self.emit_error("expects its body to end with 'loop.yield'")
        if term.operands:
            raise term.emit_error("must not yield values in a 'loop.parallel'")
        _check_steps(self, self.steps)

    @classmethod
    def parse_syntax(cls, p, ivs, lbs, ubs, steps, region_, attrs, location, pos) -> ParallelOp:
        from irc.opdef import segment_sizes_attr

        n = len(ivs)
        for what, group in (("lower bounds", lbs), ("upper bounds", ubs), ("steps", steps)):
            if len(group) != n:
                raise p.error(f"'loop.parallel' has {n} induction variables but {len(group)} {what}", pos)
        operands = [p.resolve(ref, index) for ref in (*lbs, *ubs, *steps)]
        props, extra = p.split_props("loop.parallel", {}, dict(attrs.entries) if attrs is not None else {}, pos)
        props["operandSegmentSizes"] = segment_sizes_attr([n, n, n])
        return cls(operands=operands, properties=props, regions=[region_], attributes=extra, location=location)

    def print_custom(self, p) -> None:
        block = self.body_block
        p.name_block_args(block)
        p.write(
            f"loop.parallel ({p.values(block.args)}) = ({p.values(self.lower_bounds)}) to "
            f"({p.values(self.upper_bounds)}) step ({p.values(self.steps)}) "
        )
        p.print_region(self.regions[0], print_entry_args=False)
        p.write(p.op_attr_dict(self, elide=("operandSegmentSizes",)))


# ----------------------------------------------------------------------------- yield
@define_op("loop.yield")
class YieldOp(Operation):
    """Ends a loop body: `loop.yield %a, %b : f32, f32` (no operands in a parallel loop)."""

    values = var_operand()
    traits = (Pure(), IsTerminator(), ReturnLike(), HasParent((ForOp, ParallelOp)))

    @classmethod
    def build(cls, values: Sequence[Value] = (), location: Location | None = None) -> YieldOp:
        return cls(operands=list(values), location=location)

    @classmethod
    def parse_custom(cls, p) -> Operation:
        refs = p.value_refs()
        props, attrs = p.attr_dict()
        p.expect_end()
        types = p.type_list() if p.types is not None else []
        return p.build(operands=p.resolve(refs, types), properties=props, attributes=attrs)

    def print_custom(self, p) -> None:
        p.write("loop.yield")
        if self.operands:
            p.write(f" {p.values(self.operands)}")
        p.write(p.op_attr_dict(self))
        if self.operands:
            p.write(f" : {p.types(v.type for v in self.operands)}")


DIALECT = Dialect("loop", [ForOp, ParallelOp, YieldOp])
