"""Building IR from Python: an insertion point and a builder that inserts there.

    module = ModuleOp.build()
    b = Builder.at_end(module.body)
    f = b.create(FuncOp, "add", [f32, f32], [f32], arg_names=["x", "y"])
    with b.at(InsertionPoint.at_end(f.entry)):
        s = b.create(AddFOp, *f.args).result
        b.create(ReturnOp, [s])

`create(OpClass, ...)` calls the op class's `build` classmethod (or its constructor when it
has none) and inserts the new op. Ops inserted one after another at one insertion point keep
their order: the point stays before its anchor (or at the end of its block).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import attrs

from irc.ir import Block, Operation
from irc.location import Location

OpT = TypeVar("OpT", bound=Operation)


@attrs.frozen
class InsertionPoint:
    """A place in a block: before `anchor`, or at the end of `block` when anchor is None."""

    block: Block
    anchor: Operation | None = None

    @classmethod
    def at_end(cls, block: Block) -> InsertionPoint:
        return cls(block, None)

    @classmethod
    def at_start(cls, block: Block) -> InsertionPoint:
        return cls(block, block.first_op)

    @classmethod
    def before(cls, op: Operation) -> InsertionPoint:
        if op.parent is None:
            raise ValueError(f"cannot insert before '{op.name}': it is not in a block")
        return cls(op.parent, op)

    @classmethod
    def after(cls, op: Operation) -> InsertionPoint:
        if op.parent is None:
            raise ValueError(f"cannot insert after '{op.name}': it is not in a block")
        return cls(op.parent, op.next_op)

    @classmethod
    def before_terminator(cls, block: Block) -> InsertionPoint:
        """Before the block's terminator (at the end when it has none)."""
        return cls(block, block.terminator())

    def insert(self, op: Operation) -> Operation:
        if self.anchor is not None and self.anchor.parent is not self.block:
            raise ValueError(f"the insertion point's anchor '{self.anchor.name}' left its block")
        return self.block.insert_before(op, self.anchor)


class Builder:
    """Creates ops and inserts them at its insertion point (none: ops are left detached)."""

    def __init__(self, insertion_point: InsertionPoint | None = None, location: Location | None = None) -> None:
        self.insertion_point = insertion_point
        self.location = location

    @classmethod
    def at_end(cls, block: Block) -> Builder:
        return cls(InsertionPoint.at_end(block))

    @classmethod
    def before(cls, op: Operation) -> Builder:
        return cls(InsertionPoint.before(op))

    @classmethod
    def after(cls, op: Operation) -> Builder:
        return cls(InsertionPoint.after(op))

    @contextmanager
    def at(self, where: InsertionPoint | Block) -> Iterator[Builder]:
        """Insert at `where` (a block means its end) inside the `with`; restore afterwards."""
        saved = self.insertion_point
        self.insertion_point = InsertionPoint.at_end(where) if isinstance(where, Block) else where
        try:
            yield self
        finally:
            self.insertion_point = saved

    def set_insertion_point(self, where: InsertionPoint | Block | None) -> None:
        self.insertion_point = InsertionPoint.at_end(where) if isinstance(where, Block) else where

    def insert(self, op: OpT) -> OpT:
        if self.location is not None and _is_unknown(op.location):
            op.location = self.location
        if self.insertion_point is not None:
            self.insertion_point.insert(op)
        return op

    @contextmanager
    def as_current(self) -> Iterator[Builder]:
        """Make this the builder that op-building functions (e.g. `tensor.relu(x)`) insert with."""
        _CURRENT.append(self)
        try:
            yield self
        finally:
            _CURRENT.pop()

    def create(self, cls: type[OpT], *args: Any, **kwargs: Any) -> OpT:
        """`cls.build(*args, **kwargs)` (or `cls(*args, **kwargs)` without a build), inserted."""
        build = getattr(cls, "build", None)
        op = build(*args, **kwargs) if build is not None else cls(*args, **kwargs)
        if not isinstance(op, cls):
            raise TypeError(f"{cls.__name__}.build returned {type(op).__name__}")
        return self.insert(op)


_CURRENT: list[Builder] = []


def current_builder() -> Builder | None:
    """The innermost builder made current with `Builder.as_current()`, if any."""
    return _CURRENT[-1] if _CURRENT else None


def _is_unknown(loc: Location) -> bool:
    from irc.location import UnknownLoc

    return isinstance(loc, UnknownLoc)
