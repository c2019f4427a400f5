"""Op traits: properties passes can ask about (`op.has_trait(Pure)`), some with a verifier.

A trait is an instance in the op's `traits` tuple; `has_trait` takes the trait class.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from irc.ir import Operation


class OpTrait:
    """Base of all traits; `verify` runs after the op's declared constraints."""

    def verify(self, op: Operation) -> None:
        return None


class _FieldlessTrait(OpTrait):
    """A trait with no fields: what `@attrs.frozen` gives such a class (equal to any instance
    of its class, hashable, `Pure()` repr, immutable), without building an attrs class for
    each at import time (this keeps `irc-opt` start-up down)."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return True

    def __ne__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return False

    def __hash__(self) -> int:
        return hash((self.__class__, ()))

    def __repr__(self) -> str:
        return f"{self.__class__.__qualname__}()"

    def __setattr__(self, name: str, value: object) -> None:
        raise attrs.exceptions.FrozenInstanceError()

    def __delattr__(self, name: str) -> None:
        raise attrs.exceptions.FrozenInstanceError()


class Pure(_FieldlessTrait):
    """No side effects: unused results make the op dead, and CSE may merge it."""


class Commutative(_FieldlessTrait):
    """Operands may be reordered; canonicalization moves constants to the right."""


class ConstantLike(_FieldlessTrait):
    """The op materializes a constant; it implements `constant_value()`."""


class IsTerminator(_FieldlessTrait):
    """Must be the last op of its block."""

    def verify(self, op: Operation) -> None:
        if op.parent is not None and op.parent.last_op is not op:
            raise op.emit_error("must be the last operation in the parent block")


class NoTerminator(_FieldlessTrait):
    """The op's regions need no terminator (e.g. modules)."""


class IsolatedFromAbove(_FieldlessTrait):
    """Regions may not use values defined outside the op."""


class SymbolTable(_FieldlessTrait):
    """The op's single block holds symbols with unique names (`sym_name`)."""


class Symbol(_FieldlessTrait):
    """The op defines a symbol named by its `sym_name` property."""


class GraphRegion(_FieldlessTrait):
    """The op's regions are graphs: no dominance order between ops (MLIR's RegionKind::Graph)."""


class SingleBlock(_FieldlessTrait):
    """Each region of the op has at most one block."""

    def verify(self, op: Operation) -> None:
        for i, region in enumerate(op.regions):
            if len(region.blocks) > 1:
                raise op.emit_error(f"expects region #{i} to have 0 or 1 blocks")


class SameOperandsAndResultType(_FieldlessTrait):
    """All operands and results have one type."""

    def verify(self, op: Operation) -> None:
        values = op._operands or op.results
        if not values:
            return
        first = values[0].type
        # Types are usually shared objects, so `is` settles most comparisons.
        for v in op._operands:
            t = v.type
            if t is not first and t != first:
                raise op.emit_error("requires the same type for all operands and results")
        for v in op.results:
            t = v.type
            if t is not first and t != first:
                raise op.emit_error("requires the same type for all operands and results")


class SameTypeOperands(_FieldlessTrait):
    def verify(self, op: Operation) -> None:
        operands = op._operands
        if not operands:
            return
        first = operands[0].type
        for v in operands:
            t = v.type
            if t is not first and t != first:
                raise op.emit_error("requires all operands to have the same type")


class Elementwise(_FieldlessTrait):
    """Applies a scalar function to each element (with broadcasting for tensors)."""


@attrs.frozen
class HasParent(OpTrait):
    """The op must sit directly inside an op of one of these classes."""

    parents: tuple[type, ...]

    def verify(self, op: Operation) -> None:
        parent = op.parent_op()
        if parent is None or not isinstance(parent, self.parents):
            names = ", ".join(f"'{p.name}'" for p in self.parents)
            raise op.emit_error(f"expects parent op {'to be one of ' if len(self.parents) > 1 else ''}{names}")


class ReturnLike(_FieldlessTrait):
    """Terminator that returns values to the parent op."""


class CallableOp(_FieldlessTrait):
    """Function-like op: a body region, a `function_type` property (MLIR's CallableOpInterface)."""


class CallLike(_FieldlessTrait):
    """Calls a symbol named by the `callee` property (MLIR's CallOpInterface)."""


@attrs.frozen
class MemoryEffects(OpTrait):
    """Reads and/or writes memory; such ops are never CSE'd or hoisted."""

    reads: bool = True
    writes: bool = True
