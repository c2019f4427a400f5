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


@attrs.frozen
class Pure(OpTrait):
    """No side effects: unused results make the op dead, and CSE may merge it."""


@attrs.frozen
class Commutative(OpTrait):
    """Operands may be reordered; canonicalization moves constants to the right."""


@attrs.frozen
class ConstantLike(OpTrait):
    """The op materializes a constant; it implements `constant_value()`."""


@attrs.frozen
class IsTerminator(OpTrait):
    """Must be the last op of its block."""

    def verify(self, op: Operation) -> None:
        if op.parent is not None and op.parent.last_op is not op:
            raise op.emit_error("must be the last operation in the parent block")


@attrs.frozen
class NoTerminator(OpTrait):
    """The op's regions need no terminator (e.g. modules)."""


@attrs.frozen
class IsolatedFromAbove(OpTrait):
    """Regions may not use values defined outside the op."""


@attrs.frozen
class SymbolTable(OpTrait):
    """The op's single block holds symbols with unique names (`sym_name`)."""


@attrs.frozen
class Symbol(OpTrait):
    """The op defines a symbol named by its `sym_name` property."""


@attrs.frozen
class GraphRegion(OpTrait):
    """The op's regions are graphs: no dominance order between ops (MLIR's RegionKind::Graph)."""


@attrs.frozen
class SingleBlock(OpTrait):
    """Each region of the op has at most one block."""

    def verify(self, op: Operation) -> None:
        for i, region in enumerate(op.regions):
            if len(region.blocks) > 1:
                raise op.emit_error(f"expects region #{i} to have 0 or 1 blocks")


@attrs.frozen
class SameOperandsAndResultType(OpTrait):
    """All operands and results have one type."""

    def verify(self, op: Operation) -> None:
        types = [v.type for v in op._operands] + [r.type for r in op.results]
        if types and any(t != types[0] for t in types):
            raise op.emit_error("requires the same type for all operands and results")


@attrs.frozen
class SameTypeOperands(OpTrait):
    def verify(self, op: Operation) -> None:
        types = [v.type for v in op._operands]
        if types and any(t != types[0] for t in types):
            raise op.emit_error("requires all operands to have the same type")


@attrs.frozen
class Elementwise(OpTrait):
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


@attrs.frozen
class ReturnLike(OpTrait):
    """Terminator that returns values to the parent op."""


@attrs.frozen
class CallableOp(OpTrait):
    """Function-like op: a body region, a `function_type` property (MLIR's CallableOpInterface)."""


@attrs.frozen
class CallLike(OpTrait):
    """Calls a symbol named by the `callee` property (MLIR's CallOpInterface)."""


@attrs.frozen
class MemoryEffects(OpTrait):
    """Reads and/or writes memory; such ops are never CSE'd or hoisted."""

    reads: bool = True
    writes: bool = True
