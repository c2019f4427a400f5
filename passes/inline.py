"""The inline pass."""

from __future__ import annotations

from typing import ClassVar

import attrs

from irc.attributes import SymbolRefAttr
from irc.ir import Operation
from irc.location import CallSiteLoc, UnknownLoc
from irc.pass_manager import Pass, PassState
from irc.rewriter import PatternRewriter
from irc.symbol_table import SymbolTableCollection
from irc.traits import CallableOp, CallLike, ReturnLike


@attrs.frozen
class Inline(Pass):
    """Inline calls to functions with a single-block body, callees first; recursion stays a call.

        func.func private @twice(%x: i32) -> i32 {      func.func @f(%a: i32) -> i32 {
          %y = arith.addi %x, %x : i32                     %y = arith.addi %a, %a : i32
          func.return %y : i32                             func.return %y : i32
        }                                         ->     }
        func.func @f(%a: i32) -> i32 {
          %r = func.call @twice(%a) : (i32) -> i32
          func.return %r : i32
        }

    Callables are visited bottom-up over the call graph's strongly connected components, so a
    chain of calls collapses in one run; calls within one component (direct or mutual
    recursion) are kept. Dead private callees are left for symbol-dce (not shown above).
    """

    name: ClassVar[str] = "inline"
    statistics: ClassVar[dict[str, str]] = {"num-inlined-calls": "Number of calls inlined"}

    def run(self, op: Operation, state: PassState) -> None:
        graph = _CallGraph(op)
        rewriter = PatternRewriter()
        for scc in graph.bottom_up_sccs():
            for caller in scc:
                for call in graph.calls.get(caller, ()):
                    if self._try_inline(call, graph, rewriter):
                        state.stat("num-inlined-calls")
        state.changed = rewriter.changed

    def _try_inline(self, call: Operation, graph: _CallGraph, rewriter: PatternRewriter) -> bool:
        if call.parent is None:
            return False
        callee = graph.callee_of(call)
        if callee is None or graph.same_scc(graph.owner_of(call), callee):
            return False
        body = callee.regions[0] if callee.regions else None
        if body is None or len(body.blocks) != 1:
            return False  # declarations and multi-block bodies stay calls
        block = body.blocks[0]
        ret = block.last_op
        if ret is None or not ret.has_trait(ReturnLike) or ret.num_operands != len(call.results):
            return False
        if len(block.args) != call.num_operands:
            return False
        clone = body.clone().blocks[0]
        if not isinstance(call.location, UnknownLoc):
            for op in clone.ops:
                for inner in op.walk():
                    inner.location = CallSiteLoc(inner.location, call.location)
        returned = clone.last_op
        assert returned is not None
        rewriter.inline_block_before(clone, call, call.operands)
        values = list(returned.operands)
        rewriter.erase_op(returned)
        rewriter.replace_op(call, values)
        return True


class _CallGraph:
    """Callables under a root, the calls made from each, and the strongly connected
    components of the caller -> callee graph."""

    def __init__(self, root: Operation) -> None:
        self.root = root
        self.symbols = SymbolTableCollection()
        self.calls: dict[Operation | None, list[Operation]] = {}
        self.edges: dict[Operation, list[Operation]] = {}
        self.callables: list[Operation] = []
        for op in root.walk():
            if op.has_trait(CallableOp):
                self.callables.append(op)
                self.edges.setdefault(op, [])
            if not op.has_trait(CallLike):
                continue
            owner = self.owner_of(op)
            self.calls.setdefault(owner, []).append(op)
            callee = self.callee_of(op)
            if owner is not None and callee is not None:
                self.edges[owner].append(callee)
        self.scc_index: dict[Operation, int] = {}
        self.sccs = self._tarjan()

    def owner_of(self, op: Operation) -> Operation | None:
        parent = op.parent_op()
        while parent is not None and not parent.has_trait(CallableOp):
            parent = parent.parent_op()
        return parent

    def callee_of(self, call: Operation) -> Operation | None:
        ref = call.properties.get("callee") or call.attributes.get("callee")
        if not isinstance(ref, SymbolRefAttr):
            return None
        target = self.symbols.lookup_from(call, ref)
        return target if target is not None and target.has_trait(CallableOp) else None

    def same_scc(self, caller: Operation | None, callee: Operation) -> bool:
        if caller is None:
            return False
        return caller is callee or self.scc_index.get(caller) == self.scc_index.get(callee)

    def bottom_up_sccs(self) -> list[list[Operation | None]]:
        """Callees before callers; calls outside any callable come last."""
        return [*self.sccs, [None]]

    def _tarjan(self) -> list[list[Operation | None]]:
        """Iterative Tarjan: components come out callees first."""
        index: dict[Operation, int] = {}
        low: dict[Operation, int] = {}
        on_stack: set[Operation] = set()
        stack: list[Operation] = []
        sccs: list[list[Operation | None]] = []
        for start in self.callables:
            if start in index:
                continue
            work = [(start, 0)]
            index[start] = low[start] = len(index)
            stack.append(start)
            on_stack.add(start)
            while work:
                node, i = work.pop()
                succs = self.edges.get(node, [])
                if i < len(succs):
                    work.append((node, i + 1))
                    succ = succs[i]
                    if succ not in index:
                        index[succ] = low[succ] = len(index)
                        stack.append(succ)
                        on_stack.add(succ)
                        work.append((succ, 0))
                    elif succ in on_stack:
                        low[node] = min(low[node], index[succ])
                    continue
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    scc: list[Operation | None] = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        self.scc_index[member] = len(sccs)
                        scc.append(member)
                        if member is node:
                            break
                    sccs.append(scc[::-1])
        return sccs
