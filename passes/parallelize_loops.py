"""The parallelize-loops pass."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import attrs

from dialects.loop import ForOp, ParallelOp
from irc.ir import Operation
from irc.pass_manager import Pass, PassState
from irc.rewriter import PatternRewriter, RewritePattern
from passes.loop_analysis import (
    LOOPS,
    Dependences,
    LoopBuilder,
    body_ops,
    finish_body,
    is_innermost,
    outermost_loops,
    perfectly_nested_child,
)


@attrs.frozen
class ParallelizeLoops(Pass):
    """Turn outer `loop.for`s with independent iterations into (merged) `loop.parallel`s.

        loop.for %i = %c0 to %c4 step %c1 {             loop.parallel (%i, %j) = (%c0, %c0)
          loop.for %j = %c0 to %c8 step %c1 {    ->          to (%c4, %c8) step (%c1, %c1) {
            loop.for %k ... { C[i, j] += ... }                loop.for %k ... { C[i, j] += ... }

    A loop qualifies when it has no iteration arguments and no two of its iterations touch
    the same memory with one writing (every store indexed by the loop with a nonzero
    coefficient, as the dependence test shows). Each nest is parallelized at its outermost
    qualifying loop only (a loop that does not qualify is looked into), so no parallel loop
    ends up inside another. `max-depth` bounds how deep (counted in loop dimensions from the
    outermost) a parallel dimension may be; the default -1 takes every loop but the
    innermost one of a nest, which stays sequential for vectorization.
    """

    name: ClassVar[str] = "parallelize-loops"
    statistics: ClassVar[dict[str, str]] = {
        "num-parallelized": "Number of loop.for ops made loop.parallel",
        "num-merged": "Number of loops merged into an outer loop.parallel",
    }

    max_depth: int = -1

    def run(self, op: Operation, state: PassState) -> None:
        rewriter = PatternRewriter()
        to_parallel = ForToParallel(self._qualifies, state)
        merge = MergeNestedParallel(self._qualifies, state)
        work = outermost_loops(op)
        while work:
            loop = work.pop(0)
            if isinstance(loop, ForOp):
                after = loop.next_op
                if not to_parallel.match_and_rewrite(loop, rewriter):
                    work[:0] = [x for x in body_ops(loop) if isinstance(x, LOOPS)]
                    continue
                loop = after.prev_op
            # Each rewrite puts the new loop where the old one was: just before its successor.
            after = loop.next_op
            while merge.match_and_rewrite(loop, rewriter):
                loop = after.prev_op
        state.changed = rewriter.changed

    def _qualifies(self, loop: ForOp) -> bool:
        if loop.inits:
            return False
        if self.max_depth < 0 and is_innermost(loop):
            return False
        if self.max_depth >= 0 and _depth(loop) >= self.max_depth:
            return False
        return not Dependences(loop).carried_by((loop, 0))


def _depth(loop: Operation) -> int:
    """Loop dimensions around `loop`."""
    n = 0
    parent = loop.parent_op()
    while parent is not None:
        if isinstance(parent, LOOPS):
            n += len(parent.induction_vars)
        parent = parent.parent_op()
    return n


class ForToParallel(RewritePattern):
    """`loop.for` without iteration arguments and loop-carried dependence -> `loop.parallel`."""

    op_type = ForOp

    def __init__(self, qualifies: Callable[[ForOp], bool], state: PassState | None = None) -> None:
        self.qualifies = qualifies
        self.state = state

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        if not isinstance(op, ForOp) or not self.qualifies(op):
            return False
        b = LoopBuilder.before_op(rewriter, op)
        new = b.insert(ParallelOp.build([op.lower_bound], [op.upper_bound], [op.step], [op.induction_var.name_hint]))
        _move_body(rewriter, [op], new)
        if self.state is not None:
            self.state.stat("num-parallelized")
        return True


class MergeNestedParallel(RewritePattern):
    """`loop.parallel` whose body is one loop (a `loop.parallel`, or a qualifying `loop.for`)
    with bounds computed outside -> one `loop.parallel` over the dimensions of both."""

    op_type = ParallelOp

    def __init__(self, qualifies: Callable[[ForOp], bool], state: PassState | None = None) -> None:
        self.qualifies = qualifies
        self.state = state

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        if not isinstance(op, ParallelOp):
            return False
        inner = perfectly_nested_child(op)
        if inner is None or (isinstance(inner, ForOp) and not self.qualifies(inner)):
            return False
        b = LoopBuilder.before_op(rewriter, op)
        names = [iv.name_hint for iv in (*op.induction_vars, *inner.induction_vars)]
        lbs = [*op.lower_bounds, *inner.lower_bounds]
        ubs = [*op.upper_bounds, *inner.upper_bounds]
        new = b.insert(ParallelOp.build(lbs, ubs, [*op.steps, *inner.steps], names))
        _move_body(rewriter, [op, inner], new)
        if self.state is not None:
            self.state.stat("num-merged")
        return True


def _move_body(rewriter: PatternRewriter, loops: list[Operation], new: ParallelOp) -> None:
    """Move the body of the innermost of `loops` (a perfect nest) into `new`, whose induction
    variables replace theirs in order; erase the nest."""
    finish_body(rewriter, new.body_block)
    old_ivs = [iv for loop in loops for iv in loop.induction_vars]
    for old, iv in zip(old_ivs, new.induction_vars, strict=True):
        rewriter.replace_all_uses_with(old, iv)
    terminator = new.body_block.last_op
    for op in body_ops(loops[-1]):
        rewriter.move_op_before(op, terminator)
    rewriter.erase_op(loops[0])
