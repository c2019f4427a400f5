"""The IR graph: values, operations, blocks and regions.

These are graph nodes (`attrs.define(eq=False)`: identity equality and hashing). Every value
keeps a use-list, an insertion-ordered dict of `(operation, operand index)` pairs, so
replacing all uses and erasing are O(uses). Blocks hold their operations in a doubly linked
list, so insertion and erasure are O(1); a per-block order index, rebuilt lazily, answers
"is a before b" for the dominance checks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from irc.attributes import Attribute
from irc.diagnostics import Diagnostic, IRCError, Severity
from irc.location import Location, UnknownLoc
from irc.types import Type

if TYPE_CHECKING:
    from irc.opdef import OpDefinition
    from irc.traits import OpTrait

Use = tuple["Operation", int]


# ----------------------------------------------------------------------------- values
@attrs.define(eq=False, slots=True)
class Value:
    """An SSA value. `uses` maps (user operation, operand index) to None, in insertion order."""

    type: Type
    name_hint: str | None = None
    uses: dict[Use, None] = attrs.field(factory=dict, repr=False)

    def users(self) -> list[Operation]:
        seen: dict[Operation, None] = {}
        for op, _ in self.uses:
            seen[op] = None
        return list(seen)

    @property
    def has_uses(self) -> bool:
        return bool(self.uses)

    def has_one_use(self) -> bool:
        return len(self.uses) == 1

    def replace_all_uses_with(self, new: Value) -> None:
        if new is self:
            return
        for op, index in list(self.uses):
            op._operands[index] = new
            new.uses[(op, index)] = None
        self.uses.clear()

    def replace_uses_if(self, new: Value, pred: Callable[[Operation, int], bool]) -> None:
        for op, index in list(self.uses):
            if pred(op, index):
                op.set_operand(index, new)

    def owner_block(self) -> Block | None:
        raise NotImplementedError

    def defining_op(self) -> Operation | None:
        return None

    def parent_region(self) -> Region | None:
        block = self.owner_block()
        return block.parent if block is not None else None


@attrs.define(eq=False, slots=True, repr=False)
class OpResult(Value):
    op: Operation = attrs.field(default=None, kw_only=True)
    index: int = attrs.field(default=0, kw_only=True)

    def owner_block(self) -> Block | None:
        return self.op.parent

    def defining_op(self) -> Operation | None:
        return self.op

    def __repr__(self) -> str:
        return f"<OpResult #{self.index} of {self.op.name}: {self.type}>"


@attrs.define(eq=False, slots=True, repr=False)
class BlockArgument(Value):
    block: Block = attrs.field(default=None, kw_only=True)
    index: int = attrs.field(default=0, kw_only=True)
    location: Location | None = attrs.field(default=None, kw_only=True)

    def owner_block(self) -> Block | None:
        return self.block

    def __repr__(self) -> str:
        return f"<BlockArgument #{self.index}: {self.type}>"


def _new_result(type: Type, name_hint: str | None, op: Operation, index: int) -> OpResult:
    """`OpResult(type, name_hint, op=op, index=index)` without the keyword-argument call."""
    r = _new_object(OpResult)
    r.type = type
    r.name_hint = name_hint
    r.uses = {}
    r.op = op
    r.index = index
    return r


_new_object = object.__new__


# ----------------------------------------------------------------------------- operations
@attrs.define(eq=False, slots=True, repr=False, init=False)
class Operation:
    """An operation. Registered op classes are declared with `irc.opdef.define_op`, which
    fills `definition` and the typed accessors; unregistered ops are `UnregisteredOp`."""

    name: ClassVar[str] = "<abstract>"
    definition: ClassVar[OpDefinition | None] = None
    trait_types: ClassVar[frozenset[type]] = frozenset()
    traits: ClassVar[tuple[OpTrait, ...]] = ()

    _operands: list[Value]
    results: list[OpResult]
    properties: dict[str, Attribute]
    attributes: dict[str, Attribute]
    regions: list[Region]
    successors: list[Block]
    location: Location
    parent: Block | None
    _prev: Operation | None
    _next: Operation | None
    _order: int

    def __init__(
        self,
        operands: Sequence[Value] = (),
        result_types: Sequence[Type] = (),
        properties: dict[str, Attribute] | None = None,
        attributes: dict[str, Attribute] | None = None,
        regions: Sequence[Region] = (),
        successors: Sequence[Block] = (),
        location: Location | None = None,
        result_names: Sequence[str | None] | None = None,
    ):
        # The hot path of parsing and rewriting: kept to plain loops and slot stores.
        ops = self._operands = list(operands)
        i = 0
        for v in ops:
            v.uses[(self, i)] = None
            i += 1
        if not result_types:
            self.results = []
        elif result_names:
            names = result_names
            n = len(names)
            self.results = [_new_result(t, names[i] if i < n else None, self, i) for i, t in enumerate(result_types)]
        else:
            self.results = [_new_result(t, None, self, i) for i, t in enumerate(result_types)]
        self.properties = dict(properties) if properties else {}
        self.attributes = dict(attributes) if attributes else {}
        self.regions = []
        if regions:
            for r in regions:
                self.add_region(r)
        self.successors = list(successors) if successors else []
        self.location = location if location is not None else UnknownLoc()
        self.parent = None
        self._prev = None
        self._next = None
        self._order = -1

    # -- operands
    @property
    def operands(self) -> tuple[Value, ...]:
        return tuple(self._operands)

    @property
    def num_operands(self) -> int:
        return len(self._operands)

    def operand(self, i: int) -> Value:
        return self._operands[i]

    def set_operand(self, i: int, value: Value) -> None:
        old = self._operands[i]
        del old.uses[(self, i)]
        self._operands[i] = value
        value.uses[(self, i)] = None

    def set_operands(self, values: Sequence[Value]) -> None:
        self.drop_operand_uses()
        self._operands = list(values)
        for i, v in enumerate(self._operands):
            v.uses[(self, i)] = None

    def drop_operand_uses(self) -> None:
        for i, v in enumerate(self._operands):
            v.uses.pop((self, i), None)

    # -- results
    @property
    def result(self) -> OpResult:
        if len(self.results) != 1:
            raise ValueError(f"'{self.name}' has {len(self.results)} results, not one")
        return self.results[0]

    @property
    def result_types(self) -> tuple[Type, ...]:
        return tuple(r.type for r in self.results)

    @property
    def operand_types(self) -> tuple[Type, ...]:
        return tuple(v.type for v in self._operands)

    def replace_all_uses_with(self, values: Sequence[Value]) -> None:
        if len(values) != len(self.results):
            raise ValueError(f"replacing {len(self.results)} results of '{self.name}' with {len(values)} values")
        for old, new in zip(self.results, values, strict=True):
            old.replace_all_uses_with(new)

    def has_uses(self) -> bool:
        return any(r.uses for r in self.results)

    # -- regions
    def add_region(self, region: Region | None = None) -> Region:
        region = region if region is not None else Region()
        if region.parent is not None:
            raise ValueError("region already has a parent operation")
        region.parent = self
        self.regions.append(region)
        return region

    @property
    def body(self) -> Block:
        """The single block of the first region (for single-block ops such as modules)."""
        return self.regions[0].blocks[0]

    # -- attributes
    def get_attr(self, name: str, default: Any = None) -> Any:
        value = self.properties.get(name)
        if value is None:
            value = self.attributes.get(name, default)
        return value

    # -- traits
    @classmethod
    def has_trait(cls, trait: type) -> bool:
        return trait in cls.trait_types

    @classmethod
    def get_trait(cls, trait: type) -> Any:
        for t in cls.traits:
            if isinstance(t, trait):
                return t
        return None

    # -- position in the IR
    def parent_region(self) -> Region | None:
        return self.parent.parent if self.parent is not None else None

    def parent_op(self) -> Operation | None:
        region = self.parent_region()
        return region.parent if region is not None else None

    def parent_of_type(self, cls: type) -> Operation | None:
        op = self.parent_op()
        while op is not None and not isinstance(op, cls):
            op = op.parent_op()
        return op

    def is_ancestor(self, other: Operation) -> bool:
        """True if `other` is this op or nested inside it."""
        op: Operation | None = other
        while op is not None:
            if op is self:
                return True
            op = op.parent_op()
        return False

    @property
    def next_op(self) -> Operation | None:
        return self._next

    @property
    def prev_op(self) -> Operation | None:
        return self._prev

    def is_before_in_block(self, other: Operation) -> bool:
        block = self.parent
        assert block is not None
        assert other.parent is block
        if not block._order_valid:
            block._recompute_order()
        return self._order < other._order

    def detach(self) -> Operation:
        if self.parent is not None:
            self.parent._unlink(self)
        return self

    def erase(self, *, drop_uses: bool = False) -> None:
        """Remove from the IR and drop operand uses of this op and everything nested in it."""
        for r in self.results:
            if r.uses and not drop_uses:
                users = ", ".join(sorted({op.name for op, _ in r.uses}))
                raise ValueError(f"cannot erase '{self.name}': its result is still used by {users}")
        self.detach()
        self._drop_all_references()

    def _drop_all_references(self) -> None:
        self.drop_operand_uses()
        self._operands = []
        for region in self.regions:
            for block in region.blocks:
                for op in block.ops_reversed():
                    op._drop_all_references()
                    op.parent = None
                block._first = block._last = None

    # -- walking
    def walk(self, *, reverse: bool = False, post_order: bool = False) -> Iterator[Operation]:
        """Every op nested in this one (this one included), pre-order by default. Safe against
        erasing the op just yielded."""
        if not post_order:
            yield self
        regions = reversed(self.regions) if reverse else self.regions
        for region in regions:
            blocks = reversed(region.blocks) if reverse else region.blocks
            for block in list(blocks):
                for op in block.ops_reversed() if reverse else block.ops:
                    yield from op.walk(reverse=reverse, post_order=post_order)
        if post_order:
            yield self

    def walk_ops(self, cls: type) -> Iterator[Any]:
        for op in self.walk():
            if isinstance(op, cls):
                yield op

    # -- cloning
    def clone(self, mapping: dict[Any, Any] | None = None) -> Operation:
        """A deep copy; `mapping` maps old values/blocks to new ones and is filled in."""
        mapping = {} if mapping is None else mapping
        operands = [mapping.get(v, v) for v in self._operands]
        new = type(self).__new__(type(self))
        Operation.__init__(
            new,
            operands,
            [r.type for r in self.results],
            self.properties,
            self.attributes,
            (),
            [mapping.get(b, b) for b in self.successors],
            self.location,
            [r.name_hint for r in self.results],
        )
        if isinstance(self, UnregisteredOp):
            new._name = self._name
        for old, res in zip(self.results, new.results, strict=True):
            mapping[old] = res
        for region in self.regions:
            new.add_region(region.clone(mapping))
        return new

    # -- diagnostics
    def emit_error(self, message: str) -> IRCError:
        return IRCError(Diagnostic(Severity.ERROR, f"'{self.name}' op {message}", self.location))

    def emit_warning(self, message: str) -> Diagnostic:
        return Diagnostic(Severity.WARNING, f"'{self.name}' op {message}", self.location)

    def __repr__(self) -> str:
        return f"<{self.name} at {id(self):#x}>"

    def __str__(self) -> str:
        from textual_ir.printer import print_op

        return print_op(self)


class UnregisteredOp(Operation):
    """An op of a dialect nobody registered (allowed with --allow-unregistered-dialect)."""

    __slots__ = ("_name",)

    @property
    def name(self) -> str:  # type: ignore[override]
        return self._name

    @classmethod
    def make(cls, name: str, **kwargs: Any) -> UnregisteredOp:
        op = cls.__new__(cls)
        op._name = name
        Operation.__init__(op, **kwargs)
        return op


# ----------------------------------------------------------------------------- blocks
@attrs.define(eq=False, slots=True, repr=False, init=False)
class Block:
    args: list[BlockArgument]
    parent: Region | None
    _first: Operation | None
    _last: Operation | None
    _order_valid: bool

    def __init__(self, arg_types: Iterable[Type] = (), arg_names: Sequence[str | None] = ()):
        self.args = []
        self.parent = None
        self._first = None
        self._last = None
        self._order_valid = True
        for i, t in enumerate(arg_types):
            self.add_arg(t, arg_names[i] if i < len(arg_names) else None)

    def add_arg(self, type: Type, name: str | None = None, location: Location | None = None) -> BlockArgument:
        arg = BlockArgument(type, name, block=self, index=len(self.args), location=location)
        self.args.append(arg)
        return arg

    def erase_arg(self, index: int) -> None:
        arg = self.args[index]
        if arg.uses:
            raise ValueError("cannot erase a block argument that is still used")
        del self.args[index]
        for i, a in enumerate(self.args):
            a.index = i

    @property
    def ops(self) -> Iterator[Operation]:
        op = self._first
        while op is not None:
            nxt = op._next
            yield op
            op = nxt

    def ops_reversed(self) -> Iterator[Operation]:
        op = self._last
        while op is not None:
            prev = op._prev
            yield op
            op = prev

    def __iter__(self) -> Iterator[Operation]:
        return self.ops

    @property
    def first_op(self) -> Operation | None:
        return self._first

    @property
    def last_op(self) -> Operation | None:
        return self._last

    @property
    def is_empty(self) -> bool:
        return self._first is None

    def __len__(self) -> int:
        return sum(1 for _ in self.ops)

    def terminator(self) -> Operation | None:
        from irc.traits import IsTerminator

        last = self._last
        if last is not None and last.has_trait(IsTerminator):
            return last
        return None

    def append(self, op: Operation) -> Operation:
        self._link(op, self._last, None)
        return op

    def insert_before(self, op: Operation, anchor: Operation | None) -> Operation:
        """Insert `op` before `anchor` (at the end when anchor is None)."""
        if anchor is None:
            return self.append(op)
        assert anchor.parent is self
        self._link(op, anchor._prev, anchor)
        return op

    def insert_after(self, op: Operation, anchor: Operation) -> Operation:
        assert anchor.parent is self
        self._link(op, anchor, anchor._next)
        return op

    def _link(self, op: Operation, prev: Operation | None, nxt: Operation | None) -> None:
        if op.parent is not None:
            raise ValueError(f"'{op.name}' is already in a block")
        op.parent = self
        op._prev = prev
        op._next = nxt
        if prev is None:
            self._first = op
        else:
            prev._next = op
        if nxt is None:
            self._last = op
        else:
            nxt._prev = op
        if self._order_valid:
            if nxt is None and (prev is None or prev._order >= 0):
                op._order = prev._order + 1 if prev is not None else 0
            else:
                self._order_valid = False

    def _unlink(self, op: Operation) -> None:
        prev, nxt = op._prev, op._next
        if prev is None:
            self._first = nxt
        else:
            prev._next = nxt
        if nxt is None:
            self._last = prev
        else:
            nxt._prev = prev
        op.parent = None
        op._prev = op._next = None

    def _recompute_order(self) -> None:
        for i, op in enumerate(self.ops):
            op._order = i
        self._order_valid = True

    def index_in_region(self) -> int:
        assert self.parent is not None
        return self.parent.blocks.index(self)

    def parent_op(self) -> Operation | None:
        return self.parent.parent if self.parent is not None else None

    def predecessors(self) -> list[Block]:
        if self.parent is None:
            return []
        preds = []
        for block in self.parent.blocks:
            term = block._last
            if term is not None and any(s is self for s in term.successors):
                preds.append(block)
        return preds

    def erase(self) -> None:
        """Erase the block and its ops; its values must not be used outside it."""
        user = self.outside_user()
        if user is not None:
            raise ValueError(f"cannot erase a block whose value is still used by '{user.name}' outside it")
        for op in list(self.ops_reversed()):
            op.erase(drop_uses=True)
        if self.parent is not None:
            self.parent.blocks.remove(self)
            self.parent = None

    def outside_user(self) -> Operation | None:
        """An op outside this block that uses a value defined in it (None if there is none)."""
        inside = {op for top in self.ops for op in top.walk()}
        for value in self._values():
            for user, _ in value.uses:
                if user not in inside:
                    return user
        return None

    def _values(self) -> Iterator[Value]:
        yield from self.args
        for top in self.ops:
            for op in top.walk():
                yield from op.results
                for region in op.regions:
                    for block in region.blocks:
                        yield from block.args

    def __repr__(self) -> str:
        return f"<Block with {len(self.args)} args at {id(self):#x}>"


# ----------------------------------------------------------------------------- regions
@attrs.define(eq=False, slots=True, repr=False, init=False)
class Region:
    blocks: list[Block]
    parent: Operation | None

    def __init__(self, blocks: Iterable[Block] = ()):
        self.blocks = []
        self.parent = None
        for b in blocks:
            self.add_block(b)

    def add_block(self, block: Block | None = None) -> Block:
        block = block if block is not None else Block()
        if block.parent is not None:
            raise ValueError("block already belongs to a region")
        block.parent = self
        self.blocks.append(block)
        return block

    def insert_block(self, index: int, block: Block) -> Block:
        if block.parent is not None:
            raise ValueError("block already belongs to a region")
        block.parent = self
        self.blocks.insert(index, block)
        return block

    @property
    def entry(self) -> Block | None:
        return self.blocks[0] if self.blocks else None

    @property
    def is_empty(self) -> bool:
        return not self.blocks

    @property
    def ops(self) -> Iterator[Operation]:
        for block in self.blocks:
            yield from block.ops

    def walk(self) -> Iterator[Operation]:
        for block in list(self.blocks):
            for op in block.ops:
                yield from op.walk()

    def is_ancestor_of(self, other: Region | None) -> bool:
        while other is not None:
            if other is self:
                return True
            op = other.parent
            other = op.parent_region() if op is not None else None
        return False

    def clone(self, mapping: dict[Any, Any] | None = None) -> Region:
        mapping = {} if mapping is None else mapping
        new = Region()
        for block in self.blocks:
            nb = Block()
            for a in block.args:
                mapping[a] = nb.add_arg(a.type, a.name_hint, a.location)
            mapping[block] = nb
            new.add_block(nb)
        for block in self.blocks:
            nb = mapping[block]
            for op in block.ops:
                nb.append(op.clone(mapping))
        return new

    def take_body(self, other: Region) -> None:
        """Move all blocks of `other` into this region (this region must be empty)."""
        assert not self.blocks
        for block in other.blocks:
            block.parent = self
        self.blocks = other.blocks
        other.blocks = []

    def __repr__(self) -> str:
        return f"<Region with {len(self.blocks)} blocks>"
