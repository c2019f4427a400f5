"""The verifier: structure, dominance, declared constraints, traits, then the op's own check.

`verify(op)` raises `IRCError` with a located diagnostic at the first problem.
"""

from __future__ import annotations

from irc.diagnostics import error
from irc.gcpause import gc_paused
from irc.ir import Block, BlockArgument, Operation, OpResult, Region, UnregisteredOp, Value
from irc.opdef import verify_definition
from irc.symbol_table import SymbolTableCollection, symbol_name
from irc.traits import (
    GraphRegion,
    IsolatedFromAbove,
    IsTerminator,
    NoTerminator,
    OpTrait,
    Symbol,
    SymbolTable,
)


def verify(root: Operation) -> None:
    verifier = _Verifier()
    with gc_paused():
        verifier.verify_op(root)
        symbols = SymbolTableCollection()
        for op in verifier.symbol_users:
            op.verify_symbol_uses(symbols)


_NO_TRAIT_VERIFY = OpTrait.verify


class _Verifier:
    def __init__(self) -> None:
        self.dominators: dict[Region, dict[Block, set[Block] | None]] = {}
        self.symbol_users: list[Operation] = []
        self.graph_blocks: dict[Block, bool] = {}  # block -> _graph(block), computed once
        # op class -> (its traits that have a verifier, whether it is a symbol table)
        self.class_info: dict[type, tuple[tuple, bool]] = {}

    def verify_op(self, op: Operation) -> None:
        operands = op._operands
        if operands:
            parent = op.parent
            graph_blocks = self.graph_blocks
            for i, value in enumerate(operands):
                # The common case (`check_operand`'s first branch, inlined): a result of an
                # earlier op of the same block.
                if isinstance(value, OpResult) and parent is not None:
                    def_op = value.op
                    if def_op.parent is parent:
                        graph = graph_blocks.get(parent)
                        if graph is None:
                            graph = graph_blocks[parent] = _graph(parent)
                        if not graph and not def_op.is_before_in_block(op):
                            self.dominance_error(op, i, value)
                        continue
                self.check_operand(op, i, value)
        if op.successors and not op.has_trait(IsTerminator) and not isinstance(op, UnregisteredOp):
            raise op.emit_error("has successors but is not a terminator")
        for succ in op.successors:
            if op.parent is None or succ.parent is not op.parent.parent:
                raise op.emit_error("reference to block defined in another region")
        verify_definition(op)
        info = self.class_info.get(type(op))
        if info is None:
            # Traits without a verifier of their own are skipped (their `verify` does nothing).
            checked = tuple(t for t in op.traits if type(t).verify is not _NO_TRAIT_VERIFY)
            info = self.class_info[type(op)] = (checked, op.has_trait(SymbolTable))
        for trait in info[0]:
            trait.verify(op)
        if info[1]:
            self.check_symbol_table(op)
        own = getattr(op, "verify_", None)
        if own is not None:
            own()
        if hasattr(op, "verify_symbol_uses"):
            self.symbol_users.append(op)
        for region in op.regions:
            self.verify_region(op, region)

    def verify_region(self, op: Operation, region: Region) -> None:
        needs_terminator = not (
            op.has_trait(NoTerminator) or op.has_trait(GraphRegion) or isinstance(op, UnregisteredOp)
        )
        for index, block in enumerate(region.blocks):
            if index == 0 and block.predecessors():
                raise op.emit_error("entry block of region may not have predecessors")
            for child in block.ops:
                if child.parent is not block:
                    raise child.emit_error("has a broken parent link")
                self.verify_op(child)
            if needs_terminator:
                last = block.last_op
                if last is None:
                    raise op.emit_error(
                        f"empty block: expect at least a terminator (region #{op.regions.index(region)})"
                    )
                if not last.has_trait(IsTerminator) and not isinstance(last, UnregisteredOp):
                    raise error(f"block with no terminator, has '{last.name}'", last.location)

    # -- dominance
    def check_operand(self, user: Operation, index: int, value: Value) -> None:
        if isinstance(value, OpResult):
            def_op = value.op
            def_block = def_op.parent
            if def_block is not None and def_block is user.parent:
                if not _graph(def_block) and not def_op.is_before_in_block(user):
                    self.dominance_error(user, index, value)
                return
        else:
            def_block = value.owner_block()
        if def_block is None:
            raise user.emit_error(f"operand #{index} uses a value that is no longer in the IR")
        def_region = def_block.parent
        ancestor = user
        while ancestor.parent is None or ancestor.parent.parent is not def_region:
            parent = ancestor.parent_op()
            if parent is None:
                self.dominance_error(user, index, value)
            if parent.has_trait(IsolatedFromAbove):
                err = user.emit_error("using value defined outside the region")
                err.diagnostic.attach_note("required by region isolation constraints", parent.location)
                raise err
            ancestor = parent
        use_block = ancestor.parent
        if _graph(def_block):
            return
        if use_block is def_block:
            if isinstance(value, BlockArgument):
                return
            if ancestor is value.op or not value.op.is_before_in_block(ancestor):
                self.dominance_error(user, index, value)
            return
        if not self.block_dominates(def_block, use_block):
            self.dominance_error(user, index, value)

    def dominance_error(self, user: Operation, index: int, value: Value) -> None:
        err = user.emit_error(f"operand #{index} does not dominate this use")
        if isinstance(value, OpResult):
            err.diagnostic.attach_note("operand defined here", value.op.location)
        raise err

    def block_dominates(self, a: Block, b: Block) -> bool:
        region = a.parent
        assert region is not None
        doms = self.dominators.get(region)
        if doms is None:
            doms = _dominators(region)
            self.dominators[region] = doms
        b_doms = doms.get(b)
        return b_doms is None or a in b_doms  # unreachable blocks are dominated by anything

    # -- symbols
    def check_symbol_table(self, op: Operation) -> None:
        seen: dict[str, Operation] = {}
        for region in op.regions:
            for child in region.ops:
                name = symbol_name(child)
                if name is None:
                    if child.has_trait(Symbol) and not _optional_symbol(child):
                        raise child.emit_error("requires string attribute 'sym_name'")
                    continue
                first = seen.get(name)
                if first is not None:
                    err = error(f"redefinition of symbol named '{name}'", child.location)
                    err.diagnostic.attach_note("see existing symbol definition here", first.location)
                    raise err
                seen[name] = child


def _optional_symbol(op: Operation) -> bool:
    """A Symbol op whose declared `sym_name` is optional (MLIR's OptionalSymbol: modules)."""
    definition = type(op).definition
    pdef = definition.props.get("sym_name") if definition is not None else None
    return pdef is not None and pdef.optional


def _graph(block: Block) -> bool:
    op = block.parent.parent if block.parent is not None else None
    return op is not None and (op.has_trait(GraphRegion) or isinstance(op, UnregisteredOp))


def _dominators(region: Region) -> dict[Block, set[Block] | None]:
    """Dominator sets of each block reachable from the entry (iterative data flow)."""
    blocks = region.blocks
    if not blocks:
        return {}
    entry = blocks[0]
    succs = {b: [s for s in (b.last_op.successors if b.last_op is not None else ())] for b in blocks}
    reachable, stack = {entry}, [entry]
    while stack:
        for s in succs[stack.pop()]:
            if s not in reachable:
                reachable.add(s)
                stack.append(s)
    preds: dict[Block, list[Block]] = {b: [] for b in blocks}
    for b in blocks:
        for s in succs[b]:
            preds[s].append(b)
    doms: dict[Block, set[Block] | None] = {b: (set(reachable) if b in reachable else None) for b in blocks}
    doms[entry] = {entry}
    changed = True
    while changed:
        changed = False
        for b in blocks:
            if b is entry or b not in reachable:
                continue
            ps = [doms[p] for p in preds[b] if p in reachable]
            new = set.intersection(*ps) if ps else set()
            new = new | {b}
            if new != doms[b]:
                doms[b] = new
                changed = True
    return doms
