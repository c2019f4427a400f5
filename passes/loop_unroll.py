"""The loop-unroll pass."""

from __future__ import annotations

from typing import ClassVar

import attrs

from dialects.loop import ForOp
from irc.ir import Operation, Value
from irc.pass_manager import Pass, PassState
from irc.rewriter import PatternRewriter, RewritePattern
from passes.loop_analysis import LoopBuilder, body_ops, constant_int, finish_body, is_innermost, trip_count


def _positive(instance: object, attribute: attrs.Attribute, value: int) -> None:
    if value < 1:
        raise ValueError(f"'factor' must be at least 1, but got {value}")


@attrs.frozen
class LoopUnroll(Pass):
    """Unroll innermost `loop.for`s whose trip count is a known constant by `factor`.

        loop.for %i = %c0 to %c10 step %c1 {           loop.for %i = %c0 to %c8 step %c4 {
          "use"(%i)                                       "use"(%i)
        }                                                 %i1 = arith.addi %i, %c1 : index
                                                   ->     "use"(%i1)   ... (4 copies)
                                                        }
                                                        loop.for %i = %c8 to %c10 step %c1 {
                                                          "use"(%i)
                                                        }

    Iteration arguments thread through the copies. The iterations left when the trip count
    is not a multiple of `factor` run in a remainder loop; a loop of at most `factor`
    iterations is unrolled completely (and disappears). The trip count is known when the
    step is a constant and the bounds differ by a constant (`%lb` to `%lb + 32` counts).
    """

    name: ClassVar[str] = "loop-unroll"
    statistics: ClassVar[dict[str, str]] = {
        "num-unrolled": "Number of loops unrolled by the factor",
        "num-fully-unrolled": "Number of loops unrolled completely",
        "num-remainder-loops": "Number of remainder loops emitted",
    }

    factor: int = attrs.field(default=4, validator=_positive)

    def run(self, op: Operation, state: PassState) -> None:
        rewriter = PatternRewriter()
        pattern = UnrollLoop(self.factor, state)
        candidates = [loop for loop in op.walk() if isinstance(loop, ForOp) and is_innermost(loop)]
        for loop in candidates:
            pattern.match_and_rewrite(loop, rewriter)
        state.changed = rewriter.changed


class UnrollLoop(RewritePattern):
    """Unroll one innermost loop of constant trip count (completely when it is short)."""

    op_type = ForOp

    def __init__(self, factor: int, state: PassState | None = None) -> None:
        self.factor = factor
        self.state = state

    def _stat(self, name: str) -> None:
        if self.state is not None:
            self.state.stat(name)

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        assert isinstance(op, ForOp)
        n = trip_count(op.lower_bound, op.upper_bound, op.step)
        if n is None or self.factor < 2 or not is_innermost(op):
            return False
        s = constant_int(op.step)
        b = LoopBuilder.before_op(rewriter, op)
        if n <= self.factor:
            values = _copies(b, op, op.lower_bound, n, s, list(op.inits))
            self._stat("num-fully-unrolled")
            rewriter.replace_op(op, values)
            return True
        main = n // self.factor * self.factor
        split = b.add(op.lower_bound, main * s)
        loop = b.insert(ForOp.build(op.lower_bound, split, b.index(s * self.factor), list(op.inits),
                                    op.induction_var.name_hint))  # fmt: skip
        for arg, old in zip(loop.iter_args, op.iter_args, strict=True):
            arg.name_hint = old.name_hint
        inner = b.inside(loop.body_block)
        finish_body(rewriter, loop.body_block, _copies(inner, op, loop.induction_var, self.factor, s, loop.iter_args))
        values = list(loop.results)
        self._stat("num-unrolled")
        if main < n:
            rest = b.insert(ForOp.build(split, op.upper_bound, op.step, values, op.induction_var.name_hint))
            for arg, old in zip(rest.iter_args, op.iter_args, strict=True):
                arg.name_hint = old.name_hint
            mapping = {op.induction_var: rest.induction_var, **dict(zip(op.iter_args, rest.iter_args, strict=True))}
            body = b.inside(rest.body_block)
            body.clone_ops(body_ops(op), mapping)
            finish_body(rewriter, rest.body_block, body.mapped(op.body_block.last_op.operands, mapping))
            values = list(rest.results)
            self._stat("num-remainder-loops")
        rewriter.replace_op(op, values)
        return True


def _copies(b: LoopBuilder, loop: ForOp, first: Value, count: int, step: int, values: list[Value]) -> list[Value]:
    """`count` copies of the body for induction values `first`, `first + step`, ...,
    threading the iteration arguments; returns the values the last copy yields."""
    for k in range(count):
        iv = b.add(first, k * step)
        mapping = {loop.induction_var: iv, **dict(zip(loop.iter_args, values, strict=True))}
        b.clone_ops(body_ops(loop), mapping)
        values = b.mapped(loop.body_block.last_op.operands, mapping)
    return values
