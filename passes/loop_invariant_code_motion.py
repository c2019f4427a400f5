"""The loop-invariant-code-motion pass."""

from __future__ import annotations

from typing import ClassVar

import attrs

from dialects.arith import CeilDivSIOp, DivSIOp, DivUIOp, FloorDivSIOp, RemSIOp, RemUIOp
from dialects.memref import LoadOp
from irc.ir import Operation
from irc.pass_manager import Pass, PassState
from irc.rewriter import PatternRewriter, RewritePattern
from irc.traits import IsTerminator, MemoryEffects, Pure
from passes.loop_analysis import (
    LOOPS,
    body_ops,
    collect_accesses,
    constant_int,
    is_defined_outside,
    may_alias,
    trip_count,
)

# Integer division traps on a zero divisor (and signed division on MIN / -1): such an op
# leaves a loop only when it ran anyway, or when its divisor is a safe constant.
_TRAPPING = (DivSIOp, DivUIOp, CeilDivSIOp, FloorDivSIOp, RemSIOp, RemUIOp)


@attrs.frozen
class LoopInvariantCodeMotion(Pass):
    """Hoist loop-invariant ops out of `loop.for` and `loop.parallel`, to a fixed point.

        loop.for %i = %c0 to %n step %c1 {            %s = arith.mulf %a, %b : f32
          %s = arith.mulf %a, %b : f32          ->      %x = memref.load %W[%c0] : memref<4xf32>
          %x = memref.load %W[%c0] : memref<4xf32>      loop.for %i = %c0 to %n step %c1 {
          ...                                             ...

    An op moves when all its operands are defined outside the loop and it is side-effect
    free (and cannot trap: an integer division needs a constant divisor other than 0 and -1,
    or a loop known to run), or it is a `memref.load` from a buffer that nothing in the loop
    may write, in a loop known to run at least once or at constant in-bounds indices.
    """

    name: ClassVar[str] = "loop-invariant-code-motion"
    statistics: ClassVar[dict[str, str]] = {
        "num-hoisted": "Number of ops hoisted out of a loop",
        "num-loads-hoisted": "Number of memref.load ops hoisted out of a loop",
    }

    def run(self, op: Operation, state: PassState) -> None:
        rewriter = PatternRewriter()
        pattern = HoistInvariantOps(state)
        moved = True
        while moved:
            moved = False
            for loop in [x for x in op.walk(post_order=True) if isinstance(x, LOOPS)]:
                moved |= pattern.match_and_rewrite(loop, rewriter)
        state.changed = rewriter.changed


class HoistInvariantOps(RewritePattern):
    """Move the invariant ops of one loop body in front of the loop, in order."""

    op_type = LOOPS

    def __init__(self, state: PassState | None = None) -> None:
        self.state = state

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        runs = _runs_at_least_once(op)
        writes = None  # the accesses of the loop, collected on the first load seen
        moved = False
        for inner in body_ops(op):
            if inner.regions or not all(is_defined_outside(v, op) for v in inner.operands):
                continue
            if isinstance(inner, LoadOp):
                if writes is None:
                    accesses = collect_accesses(op)
                    writes = False if accesses is None else [a.memref for a in accesses if a.write]
                if writes is False or any(may_alias(w, inner.memref) for w in writes):
                    continue
                if not (runs or _in_bounds(inner)):
                    continue
                self._stat("num-loads-hoisted")
            elif not _speculatable(inner, runs):
                continue
            rewriter.move_op_before(inner, op)
            self._stat("num-hoisted")
            moved = True
        return moved

    def _stat(self, name: str) -> None:
        if self.state is not None:
            self.state.stat(name)


def _speculatable(op: Operation, runs: bool) -> bool:
    if not op.has_trait(Pure) or op.has_trait(MemoryEffects) or op.has_trait(IsTerminator):
        return False
    if isinstance(op, _TRAPPING) and not runs:
        divisor = constant_int(op.operand(1))
        return divisor is not None and divisor not in (0, -1)
    return True


def _runs_at_least_once(loop: Operation) -> bool:
    for lb, ub, step in zip(loop.lower_bounds, loop.upper_bounds, loop.steps, strict=True):
        n = trip_count(lb, ub, step)
        if n is None or n == 0:
            return False
    return True


def _in_bounds(load: LoadOp) -> bool:
    for i, size in zip(load.indices, load.memref.type.shape, strict=True):
        c = constant_int(i)
        if c is None or not 0 <= c < size:
            return False
    return True
