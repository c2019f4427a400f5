"""The dce pass."""

from __future__ import annotations

from typing import ClassVar

import attrs

from irc.ir import Operation
from irc.pass_manager import Pass, PassState
from irc.rewriter import PatternRewriter, erase_unreachable_blocks, is_trivially_dead


@attrs.frozen
class DCE(Pass):
    """Erase side-effect-free ops whose results are unused, and unreachable blocks.

        %a = arith.addi %x, %y : i32
        %b = arith.muli %a, %a : i32     ->     func.return %x : i32
        func.return %x : i32

    Ops are visited backwards, users before producers, so a dead chain goes in one sweep;
    sweeps repeat while something is erased (uses across blocks and graph regions).
    """

    name: ClassVar[str] = "dce"
    statistics: ClassVar[dict[str, str]] = {
        "num-dce'd": "Number of operations erased",
        "num-erased-blocks": "Number of unreachable blocks erased",
    }

    def run(self, op: Operation, state: PassState) -> None:
        rewriter = PatternRewriter()
        blocks = erase_unreachable_blocks(op, rewriter)
        if blocks:
            state.stat("num-erased-blocks", blocks)
        erased = True
        while erased:
            erased = False
            for inner in op.walk(reverse=True, post_order=True):
                if inner is op or not is_trivially_dead(inner):
                    continue
                rewriter.erase_op(inner)
                state.stat("num-dce'd")
                erased = True
        state.changed = rewriter.changed
