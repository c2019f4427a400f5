"""Pattern rewriting: the rewriter every pattern edits IR through, and the greedy driver.

`PatternRewriter` performs each IR change (insert, replace, erase, modify in place, inline a
block) and tells a `RewriteListener` about it, so a driver can keep its worklist exact.
`apply_patterns_greedily` is MLIR's GreedyPatternRewriteDriver: it pops ops off a worklist,
erases dead ones, folds them (materializing and de-duplicating constants, as MLIR's
OperationFolder does), then tries the patterns indexed by op class, until nothing changes.

    class FoldDoubleNeg(RewritePattern):
        op_type = NegFOp

        def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
            inner = op.operand(0).defining_op()
            if not isinstance(inner, NegFOp):
                return False
            rewriter.replace_op(op, [inner.operand(0)])
            return True
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, ClassVar

from irc.attributes import Attribute
from irc.ir import Block, Operation, Region, UnregisteredOp, Value
from irc.traits import (
    Commutative,
    ConstantLike,
    IsolatedFromAbove,
    IsTerminator,
    MemoryEffects,
    Pure,
    ReturnLike,
    Symbol,
)
from irc.types import Type


# ----------------------------------------------------------------------------- listener
class RewriteListener:
    """Hears about every change a `PatternRewriter` makes. All hooks do nothing by default."""

    def notify_op_inserted(self, op: Operation) -> None:
        """`op` (or an op nested in it) was inserted or moved."""

    def notify_op_modified(self, op: Operation) -> None:
        """`op` was changed in place (operands, attributes, ...)."""

    def notify_op_replaced(self, op: Operation, values: Sequence[Value]) -> None:
        """The results of `op` are about to be replaced by `values`."""

    def notify_op_erased(self, op: Operation) -> None:
        """`op` is about to be erased (called for nested ops first; operands are still set)."""

    def notify_users_changed(self, op: Operation) -> None:
        """A result of `op` lost a use, so `op` may now be dead."""


# ----------------------------------------------------------------------------- rewriter
class PatternRewriter:
    """Makes IR changes on behalf of patterns and passes and reports them to the listener.

    An insertion point (a block and the op to insert before, None for the end) is where
    `insert_op` puts ops when no position is given; the greedy driver sets it before the op
    being rewritten. `changed` becomes True at the first change.
    """

    def __init__(self, listener: RewriteListener | None = None) -> None:
        self.listener = listener if listener is not None else RewriteListener()
        self.changed = False
        self._block: Block | None = None
        self._anchor: Operation | None = None

    # -- insertion point
    def set_insertion_point_before(self, op: Operation) -> None:
        if op.parent is None:
            raise ValueError(f"'{op.name}' is not in a block")
        self._block, self._anchor = op.parent, op

    def set_insertion_point_after(self, op: Operation) -> None:
        if op.parent is None:
            raise ValueError(f"'{op.name}' is not in a block")
        self._block, self._anchor = op.parent, op.next_op

    def set_insertion_point_to_start(self, block: Block) -> None:
        self._block, self._anchor = block, block.first_op

    def set_insertion_point_to_end(self, block: Block) -> None:
        self._block, self._anchor = block, None

    @property
    def insertion_block(self) -> Block | None:
        return self._block

    # -- creating ops and blocks
    def insert_op(
        self,
        op: Operation,
        *,
        before: Operation | None = None,
        after: Operation | None = None,
        at_end: Block | None = None,
        at_start: Block | None = None,
    ) -> Operation:
        """Insert a detached `op` at the given position, else at the insertion point."""
        if sum(x is not None for x in (before, after, at_end, at_start)) > 1:
            raise ValueError("insert_op takes at most one position")
        if before is not None:
            assert before.parent is not None, "anchor op is not in a block"
            before.parent.insert_before(op, before)
        elif after is not None:
            assert after.parent is not None, "anchor op is not in a block"
            after.parent.insert_after(op, after)
        elif at_end is not None:
            at_end.append(op)
        elif at_start is not None:
            at_start.insert_before(op, at_start.first_op)
        else:
            if self._block is None:
                raise ValueError("insert_op needs a position or an insertion point")
            self._block.insert_before(op, self._anchor)
        self._notify_inserted(op)
        return op

    def insert_ops(self, ops: Iterable[Operation], **position: Any) -> list[Operation]:
        """Insert ops in order at one position (each after the previous one)."""
        out: list[Operation] = []
        for op in ops:
            if out:
                self.insert_op(op, after=out[-1])
            else:
                self.insert_op(op, **position)
            out.append(op)
        return out

    def create_block(
        self,
        region: Region,
        arg_types: Sequence[Type] = (),
        arg_names: Sequence[str | None] = (),
        *,
        index: int | None = None,
    ) -> Block:
        """A new block in `region` (at the end, or at `index`); the insertion point moves to its end."""
        block = Block(arg_types, arg_names)
        if index is None:
            region.add_block(block)
        else:
            region.insert_block(index, block)
        self.set_insertion_point_to_end(block)
        self.changed = True
        return block

    # -- replacing and erasing
    def replace_all_uses_with(self, old: Value, new: Value) -> None:
        """Make every user of `old` use `new`; users are reported as modified."""
        if old is new or not old.uses:
            return
        users = old.users()
        old.replace_all_uses_with(new)
        self.changed = True
        for user in users:
            self.listener.notify_op_modified(user)
        producer = old.defining_op()
        if producer is not None:
            self.listener.notify_users_changed(producer)

    def replace_uses_if(self, old: Value, new: Value, pred: Callable[[Operation, int], bool]) -> None:
        """Replace the uses `(user, index)` of `old` for which `pred(user, index)` holds."""
        hits = [(user, index) for user, index in old.uses if pred(user, index)]
        if not hits:
            return
        for user, index in hits:
            user.set_operand(index, new)
        self.changed = True
        for user in dict.fromkeys(user for user, _ in hits):
            self.listener.notify_op_modified(user)
        producer = old.defining_op()
        if producer is not None:
            self.listener.notify_users_changed(producer)

    def replace_op(self, op: Operation, new: Operation | Value | Sequence[Value]) -> None:
        """Replace the results of `op` by `new` (an op, inserted before `op` if detached, or
        values) and erase `op`."""
        if isinstance(new, Operation):
            if new.parent is None:
                self.insert_op(new, before=op)
            values: Sequence[Value] = new.results
        elif isinstance(new, Value):
            values = [new]
        else:
            values = list(new)
        if len(values) != len(op.results):
            raise ValueError(f"replacing {len(op.results)} results of '{op.name}' with {len(values)} values")
        self.listener.notify_op_replaced(op, values)
        for old, value in zip(op.results, values, strict=True):
            self.replace_all_uses_with(old, value)
        self.erase_op(op)

    def erase_op(self, op: Operation) -> None:
        """Erase `op` and everything nested in it; its results must be unused."""
        if op.has_uses():
            raise ValueError(f"cannot erase '{op.name}': its results are still used")
        nested = list(op.walk(post_order=True))
        inside = set(nested)
        for child in nested:
            self.listener.notify_op_erased(child)
        producers = _operand_producers(nested, inside)
        op.erase()
        self.changed = True
        for producer in producers:
            self.listener.notify_users_changed(producer)

    def erase_block(self, block: Block) -> None:
        """Erase `block` and its ops; values it defines may only be used inside it."""
        if block.outside_user() is not None:
            raise ValueError("cannot erase a block whose values are used outside it")
        nested = [inner for op in block.ops for inner in op.walk(post_order=True)]
        inside = set(nested)
        for op in nested:
            self.listener.notify_op_erased(op)
        producers = _operand_producers(nested, inside)
        block.erase()
        self.changed = True
        for producer in producers:
            self.listener.notify_users_changed(producer)

    @contextlib.contextmanager
    def modify_op_in_place(self, op: Operation) -> Iterator[Operation]:
        """`with rewriter.modify_op_in_place(op): op.properties[...] = ...` reports the change."""
        yield op
        self.changed = True
        self.listener.notify_op_modified(op)

    def set_operand(self, op: Operation, index: int, value: Value) -> None:
        old = op.operand(index)
        if old is value:
            return
        with self.modify_op_in_place(op):
            op.set_operand(index, value)
        producer = old.defining_op()
        if producer is not None:
            self.listener.notify_users_changed(producer)

    # -- moving ops and blocks
    def move_op_before(self, op: Operation, anchor: Operation) -> None:
        op.detach()
        self.insert_op(op, before=anchor)

    def move_op_after(self, op: Operation, anchor: Operation) -> None:
        op.detach()
        self.insert_op(op, after=anchor)

    def inline_block_before(self, block: Block, anchor: Operation, arg_values: Sequence[Value] = ()) -> None:
        """Move the ops of `block` before `anchor`, using `arg_values` for its arguments;
        the emptied block is removed from its region."""
        if anchor.parent is None:
            raise ValueError(f"'{anchor.name}' is not in a block")
        self._inline_block(block, anchor.parent, anchor, arg_values)

    def merge_blocks(self, source: Block, dest: Block, arg_values: Sequence[Value] = ()) -> None:
        """Move the ops of `source` to the end of `dest` (MLIR's mergeBlocks)."""
        self._inline_block(source, dest, None, arg_values)

    def _inline_block(self, block: Block, dest: Block, anchor: Operation | None, arg_values: Sequence[Value]) -> None:
        if len(arg_values) != len(block.args):
            raise ValueError(f"inlining a block of {len(block.args)} arguments with {len(arg_values)} values")
        if block is dest:
            raise ValueError("cannot inline a block into itself")
        for arg, value in zip(block.args, arg_values, strict=True):
            self.replace_all_uses_with(arg, value)
        for op in list(block.ops):
            op.detach()
            dest.insert_before(op, anchor)
            self._notify_inserted(op)
        if block.parent is not None:
            block.parent.blocks.remove(block)
            block.parent = None
        self.changed = True

    def _notify_inserted(self, op: Operation) -> None:
        self.changed = True
        for inner in op.walk():
            self.listener.notify_op_inserted(inner)


def _operand_producers(ops: Iterable[Operation], inside: set[Operation]) -> list[Operation]:
    """Defining ops outside `inside` of the operands of `ops`, each once."""
    found: dict[Operation, None] = {}
    for op in ops:
        for value in op.operands:
            producer = value.defining_op()
            if producer is not None and producer not in inside:
                found[producer] = None
    return list(found)


# ----------------------------------------------------------------------------- patterns
class RewritePattern:
    """One rewrite. `op_type` (an op class, a tuple of them, or None for any op) picks the ops
    the driver offers; `match_and_rewrite` returns True iff it changed the IR, and makes
    every change through the rewriter. Higher `benefit` is tried first."""

    op_type: ClassVar[type[Operation] | tuple[type[Operation], ...] | None] = None
    benefit: ClassVar[int] = 1

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        raise NotImplementedError

    def __repr__(self) -> str:
        return type(self).__name__


class MoveConstantsRight(RewritePattern):
    """Commutative ops take their constant operands last: `addi %c, %x` -> `addi %x, %c`, so
    folders and patterns only look for constants on the right."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        if not op.has_trait(Commutative) or op.num_operands < 2:
            return False
        operands = op.operands
        is_const = [constant_attr(v) is not None for v in operands]
        if is_const == sorted(is_const):
            return False
        reordered = [v for v, c in zip(operands, is_const, strict=True) if not c]
        reordered += [v for v, c in zip(operands, is_const, strict=True) if c]
        with rewriter.modify_op_in_place(op):
            op.set_operands(reordered)
        return True


def constant_attr(value: Value) -> Attribute | None:
    """The attribute behind `value` when a ConstantLike op produces it."""
    op = value.defining_op()
    if op is None or not op.has_trait(ConstantLike):
        return None
    return op.constant_value()


# ----------------------------------------------------------------------------- dead code
def is_side_effect_free(op: Operation) -> bool:
    """Pure, and so is every op nested in it (yield-like terminators aside)."""
    if not op.has_trait(Pure) or op.has_trait(MemoryEffects):
        return False
    for region in op.regions:
        for inner in region.walk():
            if inner.has_trait(Pure) and not inner.has_trait(MemoryEffects):
                continue
            if inner.has_trait(IsTerminator) and inner.has_trait(ReturnLike):
                continue
            return False
    return True


def is_trivially_dead(op: Operation) -> bool:
    """Erasing `op` changes nothing: no result is used and it has no side effects."""
    if op.has_uses() or op.has_trait(IsTerminator) or op.has_trait(Symbol):
        return False
    return is_side_effect_free(op)


def reachable_blocks(region: Region) -> set[Block]:
    if not region.blocks:
        return set()
    seen = {region.blocks[0]}
    stack = [region.blocks[0]]
    while stack:
        last = stack.pop().last_op
        for succ in last.successors if last is not None else ():
            if succ not in seen:
                seen.add(succ)
                stack.append(succ)
    return seen


def erase_unreachable_blocks(root: Operation, rewriter: PatternRewriter) -> int:
    """Erase the blocks no branch reaches from their region's entry, in every region under
    `root`. Returns how many were erased."""
    erased = 0
    regions = [region for op in root.walk() for region in op.regions if len(region.blocks) > 1]
    for region in regions:
        if region.parent is None or not _in_tree(region.parent, root):
            continue
        live = reachable_blocks(region)
        dead = [block for block in region.blocks if block not in live]
        for block in dead:
            # Values of a dead block are used only in dead blocks: drop those uses first.
            for op in block.ops:
                for inner in op.walk():
                    inner.drop_operand_uses()
        for block in dead:
            rewriter.erase_block(block)
        erased += len(dead)
    return erased


def _in_tree(op: Operation, root: Operation) -> bool:
    return op is root or (op.parent is not None and root.is_ancestor(op))


# ----------------------------------------------------------------------------- folding
class ConstantFolder:
    """Materializes fold results as constants, one per (op class, value, type) in each
    constant scope: the entry block of the nearest region whose parent is isolated from
    above (or is the driver's root). Constants sit at the front of that block."""

    def __init__(self, root: Operation, rewriter: PatternRewriter) -> None:
        self.root = root
        self.rewriter = rewriter
        self.scopes: dict[Region, dict[tuple[Any, Attribute, Type], Operation]] = {}
        self.owned: dict[Operation, tuple[Region, tuple[Any, Attribute, Type]]] = {}
        self.last_constant: dict[Region, Operation] = {}

    def scope_of(self, op: Operation) -> Region | None:
        block = op.parent
        region = block.parent if block is not None else None
        while region is not None:
            parent = region.parent
            if parent is None or parent is self.root or parent.has_trait(IsolatedFromAbove):
                return region
            if isinstance(parent, UnregisteredOp) or parent.parent is None:
                return region
            region = parent.parent.parent
        return None

    def forget(self, op: Operation) -> None:
        entry = self.owned.pop(op, None)
        if entry is None:
            return
        region, key = entry
        if self.scopes.get(region, {}).get(key) is op:
            del self.scopes[region][key]
        if self.last_constant.get(region) is op:
            prev = op.prev_op
            if prev is not None and prev in self.owned:
                self.last_constant[region] = prev
            else:
                del self.last_constant[region]

    def insert_known_constant(self, op: Operation) -> bool:
        """Record constant `op`; if its scope already holds the same constant, replace `op`
        by it and return False. Otherwise hoist `op` to the front of the scope."""
        if op in self.owned:
            return True
        region = self.scope_of(op)
        if region is None or not op.results:
            return True
        key = (type(op), op.constant_value(), op.results[0].type)
        table = self.scopes.setdefault(region, {})
        existing = table.get(key)
        if existing is not None and existing is not op:
            self.rewriter.replace_op(op, existing.results)
            return False
        table[key] = op
        self.owned[op] = (region, key)
        self._hoist(op, region)
        return True

    def get_or_create(
        self, cls: type[Operation], attr: Attribute, type_: Type, near: Operation
    ) -> tuple[Value, Operation | None] | None:
        """A constant of value `attr` and type `type_` in the scope of `near`, made with
        `cls.materialize_constant` when there is none yet (then also returned)."""
        region = self.scope_of(near)
        materialize = getattr(cls, "materialize_constant", None)
        if region is None or materialize is None:
            return None
        new = materialize(attr, type_, near.location)
        if new is None:
            return None
        if not _is_constant(new) or new.results[0].type != type_:
            new.erase()
            return None
        key = (type(new), new.constant_value(), type_)
        table = self.scopes.setdefault(region, {})
        existing = table.get(key)
        if existing is not None:
            new.erase()
            return existing.results[0], None
        anchor = self._anchor(region)
        if anchor is not None:
            self.rewriter.insert_op(new, after=anchor)
        else:
            self.rewriter.insert_op(new, at_start=region.blocks[0])
        table[key] = new
        self.owned[new] = (region, key)
        self.last_constant[region] = new
        return new.results[0], new

    def _anchor(self, region: Region) -> Operation | None:
        """The last folder constant at the front of the scope's entry block, if still there."""
        anchor = self.last_constant.get(region)
        if anchor is not None and anchor.parent is not region.blocks[0]:
            del self.last_constant[region]
            return None
        return anchor

    def _hoist(self, op: Operation, region: Region) -> None:
        entry = region.blocks[0]
        anchor = self._anchor(region)
        if op.parent is entry and op.prev_op is anchor:
            pass  # already in place
        elif anchor is not None:
            self.rewriter.move_op_after(op, anchor)
        else:
            assert entry.first_op is not None
            self.rewriter.move_op_before(op, entry.first_op)
        self.last_constant[region] = op


# ----------------------------------------------------------------------------- driver
class GreedyRewriteDriver(RewriteListener):
    """MLIR's GreedyPatternRewriteDriver: a worklist of ops, each popped op is erased if dead,
    folded, or offered to the patterns of its class; ops touched by a change go back on."""

    def __init__(
        self,
        root: Operation,
        patterns: Sequence[RewritePattern],
        *,
        fold: bool = True,
        dce: bool = True,
        max_num_rewrites: int | None = None,
        stats: dict[str, int] | None = None,
    ) -> None:
        self.root = root
        self.fold = fold
        self.dce = dce
        self.max_num_rewrites = max_num_rewrites
        self.stats = stats if stats is not None else {}
        all_patterns = list(patterns)
        if fold:
            all_patterns.append(MoveConstantsRight())
        # Stable: equal benefits keep the caller's order.
        self.patterns = sorted(all_patterns, key=lambda p: -p.benefit)
        self._by_class: dict[type, list[RewritePattern]] = {}
        self.rewriter = PatternRewriter(self)
        self.folder = ConstantFolder(root, self.rewriter)
        self.worklist: list[Operation] = []
        self.on_worklist: set[Operation] = set()
        self.num_rewrites = 0

    # -- worklist
    def add(self, op: Operation) -> None:
        if op is self.root or op in self.on_worklist:
            return
        self.on_worklist.add(op)
        self.worklist.append(op)

    def pop(self) -> Operation | None:
        while self.worklist:
            op = self.worklist.pop()
            if op not in self.on_worklist:
                continue
            self.on_worklist.discard(op)
            if op.parent is not None and _in_tree(op, self.root):
                return op
        return None

    # -- listener
    def notify_op_inserted(self, op: Operation) -> None:
        self.add(op)

    def notify_op_modified(self, op: Operation) -> None:
        self.add(op)

    def notify_op_replaced(self, op: Operation, values: Sequence[Value]) -> None:
        for value in values:
            producer = value.defining_op()
            if producer is not None:
                self.add(producer)

    def notify_op_erased(self, op: Operation) -> None:
        self.on_worklist.discard(op)
        self.folder.forget(op)

    def notify_users_changed(self, op: Operation) -> None:
        self.add(op)

    # -- the loop
    def seed(self) -> bool:
        """Put every op under the root on the worklist, in post-order so operands come before
        their users; known constants are de-duplicated and hoisted. True if that changed IR."""
        self.rewriter.changed = False
        ops = [op for op in self.root.walk(post_order=True) if op is not self.root]
        kept: list[Operation] = []
        for op in ops:
            if op.parent is None:
                continue  # erased while seeding
            if self.fold and _is_constant(op) and not self.folder.insert_known_constant(op):
                self.stat("num-folded")
                continue
            kept.append(op)
        self.worklist = [op for op in reversed(kept) if op.parent is not None]
        self.on_worklist = set(self.worklist)
        return self.rewriter.changed

    def process(self) -> bool:
        """Empty the worklist; True if anything changed."""
        self.rewriter.changed = False
        changed = False
        while (op := self.pop()) is not None:
            if self.max_num_rewrites is not None and self.num_rewrites >= self.max_num_rewrites:
                self.worklist.clear()
                self.on_worklist.clear()
                return True
            if self.step(op):
                changed = True
                self.num_rewrites += 1
        return changed

    def step(self, op: Operation) -> bool:
        if self.dce and is_trivially_dead(op):
            self.rewriter.erase_op(op)
            self.stat("num-dce'd")
            return True
        if self.fold and self.try_fold(op):
            self.stat("num-folded")
            return True
        return self.try_patterns(op)

    def try_fold(self, op: Operation) -> bool:
        if _is_constant(op):
            return not self.folder.insert_known_constant(op)
        fold = getattr(op, "fold", None)
        if fold is None or not op.results:
            return False
        operands = [constant_attr(v) for v in op.operands]
        folded = fold(operands)
        if not folded or len(folded) != len(op.results):
            return False
        if any(r is res for r, res in zip(folded, op.results, strict=True)):
            return False  # folded in place or to itself: nothing to replace
        values: list[Value] = []
        created: list[Operation] = []
        for result, item in zip(op.results, folded, strict=True):
            if isinstance(item, Value):
                values.append(item)
                continue
            made = self.folder.get_or_create(type(op), item, result.type, op) if isinstance(item, Attribute) else None
            if made is None:
                self._drop_unused(created)
                return False
            value, new = made
            if new is not None:
                created.append(new)
            values.append(value)
        self.rewriter.replace_op(op, values)
        return True

    def _drop_unused(self, ops: list[Operation]) -> None:
        for op in ops:
            if op.parent is not None and not op.has_uses():
                self.rewriter.erase_op(op)

    def patterns_for(self, cls: type) -> list[RewritePattern]:
        found = self._by_class.get(cls)
        if found is None:
            found = [p for p in self.patterns if p.op_type is None or issubclass(cls, p.op_type)]
            self._by_class[cls] = found
        return found

    def try_patterns(self, op: Operation) -> bool:
        for pattern in self.patterns_for(type(op)):
            self.rewriter.set_insertion_point_before(op)
            self.rewriter.changed = False
            if pattern.match_and_rewrite(op, self.rewriter):
                self.stat("num-rewritten")
                return True
            if self.rewriter.changed:
                raise RuntimeError(f"pattern {pattern!r} changed the IR but reported no match on '{op.name}'")
        return False

    def stat(self, name: str) -> None:
        self.stats[name] = self.stats.get(name, 0) + 1


def _is_constant(op: Operation) -> bool:
    return op.has_trait(ConstantLike) and not op.operands and len(op.results) == 1


def apply_patterns_greedily(
    root: Operation,
    patterns: Sequence[RewritePattern] = (),
    *,
    max_iterations: int = 10,
    fold: bool = True,
    dce: bool = True,
    region_simplify: bool = True,
    max_num_rewrites: int | None = None,
    stats: dict[str, int] | None = None,
) -> tuple[bool, bool]:
    """Rewrite the ops nested in `root` until a fixpoint, at most `max_iterations` rounds.

    Returns `(changed, converged)`: whether the IR changed, and whether the last round
    changed nothing. `stats` (if given) counts num-folded, num-dce'd, num-rewritten,
    num-erased-blocks and num-iterations.
    """
    driver = GreedyRewriteDriver(root, patterns, fold=fold, dce=dce, max_num_rewrites=max_num_rewrites, stats=stats)
    changed = False
    round_changed = True
    iteration = 0
    while round_changed and iteration < max_iterations:
        iteration += 1
        driver.stat("num-iterations")
        # Hoisting and merging known constants while seeding does not count against
        # convergence: the next round finds them in place (MLIR does the same).
        changed |= driver.seed()
        round_changed = driver.process()
        if region_simplify:
            erased = erase_unreachable_blocks(root, driver.rewriter)
            if erased:
                driver.stats["num-erased-blocks"] = driver.stats.get("num-erased-blocks", 0) + erased
                round_changed = True
        changed |= round_changed
        if max_num_rewrites is not None and driver.num_rewrites >= max_num_rewrites:
            break
    return changed, not round_changed
