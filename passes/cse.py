"""The cse pass."""

from __future__ import annotations

from collections import ChainMap
from typing import Any, ClassVar

import attrs

from irc.ir import Block, Operation, Region, UnregisteredOp
from irc.pass_manager import Pass, PassState
from irc.rewriter import PatternRewriter, is_trivially_dead
from irc.traits import GraphRegion, IsolatedFromAbove, IsTerminator, MemoryEffects, Pure

Scope = ChainMap[Any, Operation]


@attrs.frozen
class CSE(Pass):
    """Merge identical side-effect-free ops where the first one dominates the second.

        %a = arith.addi %x, %y : i32            %a = arith.addi %x, %y : i32
        %b = arith.addi %x, %y : i32     ->     func.return %a, %a : i32, i32
        func.return %a, %b : i32, i32

    Ops match on class, operands, properties, attributes and result types. Nested regions
    see the ops above them, except under an op isolated from above; blocks of a region see
    the ops of the blocks that dominate them.
    """

    name: ClassVar[str] = "cse"
    statistics: ClassVar[dict[str, str]] = {
        "num-cse'd": "Number of operations CSE'd",
        "num-dce'd": "Number of operations DCE'd",
    }

    def run(self, op: Operation, state: PassState) -> None:
        driver = _CSEDriver(state)
        for region in op.regions:
            driver.simplify_region(region, ChainMap())
        state.changed = driver.rewriter.changed


class _CSEDriver:
    def __init__(self, state: PassState) -> None:
        self.state = state
        self.rewriter = PatternRewriter()

    def simplify_region(self, region: Region, outer: Scope) -> None:
        if not region.blocks:
            return
        ssa = _has_ssa_dominance(region)
        if len(region.blocks) == 1:
            self.simplify_block(region.blocks[0], outer.new_child(), ssa)
            return
        idom = immediate_dominators(region)
        scopes: dict[Block, Scope] = {}
        for block in dominator_tree_preorder(region, idom):
            parent = idom[block]
            scopes[block] = (outer if parent is None else scopes[parent]).new_child()
            self.simplify_block(block, scopes[block], ssa)
        for block in region.blocks:
            if block not in idom:  # unreachable: only what is defined outside the region
                self.simplify_block(block, outer.new_child(), ssa)

    def simplify_block(self, block: Block, scope: Scope, ssa: bool) -> None:
        for op in block.ops:
            if op.regions:
                # Isolated ops (and unregistered ones, which might be) start from nothing.
                isolated = op.has_trait(IsolatedFromAbove) or isinstance(op, UnregisteredOp)
                for region in op.regions:
                    self.simplify_region(region, ChainMap() if isolated else scope)
            self.simplify_op(op, scope, ssa)

    def simplify_op(self, op: Operation, scope: Scope, ssa: bool) -> None:
        if op.has_trait(IsTerminator):
            return
        if is_trivially_dead(op):
            self.rewriter.erase_op(op)
            self.state.stat("num-dce'd")
            return
        if not ssa or not _mergeable(op):
            return
        key = _key(op)
        existing = scope.get(key)
        if existing is None:
            scope[key] = op
            return
        self.rewriter.replace_op(op, existing.results)
        self.state.stat("num-cse'd")


def _mergeable(op: Operation) -> bool:
    return op.has_trait(Pure) and not op.has_trait(MemoryEffects) and not op.regions and bool(op.results)


def _key(op: Operation) -> tuple[Any, ...]:
    return (
        type(op),
        op.operands,
        tuple(sorted(op.properties.items())),
        tuple(sorted(op.attributes.items())),
        op.result_types,
        tuple(op.successors),
    )


def _has_ssa_dominance(region: Region) -> bool:
    parent = region.parent
    return parent is None or not (parent.has_trait(GraphRegion) or isinstance(parent, UnregisteredOp))


# ----------------------------------------------------------------------------- dominance
def _successors(block: Block) -> list[Block]:
    last = block.last_op
    return list(last.successors) if last is not None else []


def immediate_dominators(region: Region) -> dict[Block, Block | None]:
    """Immediate dominator of each block reachable from the entry (the entry maps to None),
    by Cooper, Harvey and Kennedy's iterative algorithm over reverse post-order."""
    entry = region.blocks[0]
    order: list[Block] = []
    seen = {entry}
    stack: list[tuple[Block, int]] = [(entry, 0)]
    while stack:
        block, i = stack.pop()
        succs = _successors(block)
        if i < len(succs):
            stack.append((block, i + 1))
            if succs[i] not in seen:
                seen.add(succs[i])
                stack.append((succs[i], 0))
            continue
        order.append(block)
    rpo = order[::-1]
    index = {block: i for i, block in enumerate(rpo)}
    preds: dict[Block, list[Block]] = {block: [] for block in rpo}
    for block in rpo:
        for succ in _successors(block):
            preds[succ].append(block)
    idom: dict[Block, Block] = {entry: entry}

    def intersect(a: Block, b: Block) -> Block:
        while a is not b:
            while index[a] > index[b]:
                a = idom[a]
            while index[b] > index[a]:
                b = idom[b]
        return a

    changed = True
    while changed:
        changed = False
        for block in rpo[1:]:
            done = [p for p in preds[block] if p in idom]
            new = done[0]
            for p in done[1:]:
                new = intersect(p, new)
            if idom.get(block) is not new:
                idom[block] = new
                changed = True
    return {block: (None if block is entry else idom[block]) for block in rpo}


def dominator_tree_preorder(region: Region, idom: dict[Block, Block | None]) -> list[Block]:
    children: dict[Block | None, list[Block]] = {}
    for block in region.blocks:
        if block in idom:
            children.setdefault(idom[block], []).append(block)
    out: list[Block] = []
    stack = list(reversed(children.get(None, [])))
    while stack:
        block = stack.pop()
        out.append(block)
        stack.extend(reversed(children.get(block, [])))
    return out
