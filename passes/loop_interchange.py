"""The loop-interchange pass."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import attrs

from dialects.loop import ForOp
from irc.ir import Operation
from irc.pass_manager import Pass, PassState
from irc.rewriter import PatternRewriter, RewritePattern
from passes.loop_analysis import (
    Dependences,
    LoopBuilder,
    body_ops,
    collect_accesses,
    finish_body,
    perfect_band,
    perfectly_nested_child,
    permutation_is_legal,
)


def _permutation(instance: object, attribute: attrs.Attribute, value: tuple[int, ...]) -> None:
    if value and sorted(value) != list(range(len(value))):
        raise ValueError(f"'order' must be a permutation of 0..{len(value) - 1}, but got {list(value)}")


@attrs.frozen
class LoopInterchange(Pass):
    """Reorder perfectly nested `loop.for`s so the innermost loop walks memory with unit stride.

        loop.for %i ... {                          loop.for %i ... {
          loop.for %j ... {                          loop.for %k ... {
            loop.for %k ... {              ->          loop.for %j ... {
              C[i, j] += A[i, k] * B[k, j]                C[i, j] += A[i, k] * B[k, j]

    The loop that becomes innermost is the one that leaves the fewest accesses with a
    stride other than 0 or 1 (its induction variable only in the last index, coefficient
    +-1), then the one giving the most unit-stride accesses; the other loops keep their
    order. `order` instead gives the new order of the outermost `len(order)` loops of every
    band that deep (`order=2,0,1`: the third loop becomes the outermost). Bands with
    iteration arguments, with bounds depending on the band, or whose memory dependences
    would be reversed (or cannot be analysed) are left alone.
    """

    name: ClassVar[str] = "loop-interchange"
    statistics: ClassVar[dict[str, str]] = {
        "num-interchanged": "Number of loop bands reordered",
        "num-refused": "Number of reorderings refused as illegal or not analysable",
    }

    order: tuple[int, ...] = attrs.field(default=(), validator=_permutation)

    def run(self, op: Operation, state: PassState) -> None:
        rewriter = PatternRewriter()
        pattern = InterchangeBand(self.order, state)
        heads = [loop for loop in op.walk() if isinstance(loop, ForOp) and _is_band_head(loop)]
        for loop in heads:
            pattern.match_and_rewrite(loop, rewriter)
        state.changed = rewriter.changed


def _is_band_head(loop: ForOp) -> bool:
    parent = loop.parent_op()
    return not (isinstance(parent, ForOp) and not parent.inits and perfectly_nested_child(parent) is loop)


class InterchangeBand(RewritePattern):
    """Permute the loops of one perfectly nested band of `loop.for`s."""

    op_type = ForOp

    def __init__(self, order: Sequence[int] = (), state: PassState | None = None) -> None:
        self.order = tuple(order)
        self.state = state

    def _stat(self, name: str) -> None:
        if self.state is not None:
            self.state.stat(name)

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        if not isinstance(op, ForOp) or op.inits:
            return False
        band = perfect_band(op, kinds=(ForOp,))
        order = self._choose(band)
        if order is None or list(order) == list(range(len(order))):
            return False
        band = band[: len(order)]
        vectors = Dependences(op).band_vectors([(loop, 0) for loop in band])
        if vectors is None or not permutation_is_legal(vectors, order):
            self._stat("num-refused")
            return False
        self._rewrite(band, order, rewriter)
        self._stat("num-interchanged")
        return True

    def _choose(self, band: list[ForOp]) -> tuple[int, ...] | None:
        if self.order:
            return self.order if len(band) >= len(self.order) else None
        if len(band) < 2:
            return None
        accesses = collect_accesses(band[0])
        if accesses is None:
            return None
        costs = []
        for position, loop in enumerate(band):
            iv = loop.induction_var
            strided = unit = 0
            for access in accesses:
                if access.indices is None:
                    continue
                *outer, last = access.indices
                if any(f.coefficient(iv) for f in outer) or abs(last.coefficient(iv)) > 1:
                    strided += 1
                elif last.coefficient(iv):
                    unit += 1
            # fewest strided accesses, then most unit-stride ones, then the current innermost
            costs.append((strided, -unit, position != len(band) - 1, position))
        best = min(costs)[3]
        return tuple([i for i in range(len(band)) if i != best] + [best])

    def _rewrite(self, band: list[ForOp], order: Sequence[int], rewriter: PatternRewriter) -> None:
        b = LoopBuilder.before_op(rewriter, band[0])
        loops = []
        for position in order:
            old = band[position]
            new = b.insert(ForOp.build(old.lower_bound, old.upper_bound, old.step, [], old.induction_var.name_hint))
            loops.append(new)
            b = b.inside(new.body_block)
        for position, new in zip(order, loops, strict=True):
            rewriter.replace_all_uses_with(band[position].induction_var, new.induction_var)
        for new in reversed(loops):
            finish_body(rewriter, new.body_block)
        terminator = loops[-1].body_block.last_op
        for op in body_ops(band[-1]):
            rewriter.move_op_before(op, terminator)
        rewriter.erase_op(band[0])
