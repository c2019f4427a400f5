"""The test dialect: ops of any shape, for tests only.

Any `test.*` name is accepted (generic form, or the default pretty form); the ops declared
here carry traits that tests of the passes and the verifier need.
"""

from __future__ import annotations

from irc.attributes import StringAttr
from irc.context import Dialect
from irc.ir import Operation
from irc.opdef import define_op, prop, var_operand, var_region, var_result, var_successor
from irc.traits import (
    Commutative,
    GraphRegion,
    IsolatedFromAbove,
    IsTerminator,
    NoTerminator,
    Pure,
    SingleBlock,
    Symbol,
    SymbolTable,
)


class _Any(Operation):
    args = var_operand()
    outs = var_result()
    format = "default"


@define_op("test.pure")
class PureOp(_Any):
    """No side effects: dead when unused, merged by CSE."""

    traits = (Pure(),)


@define_op("test.commutative")
class CommutativeOp(_Any):
    traits = (Pure(), Commutative())


@define_op("test.effect")
class EffectOp(_Any):
    """Has side effects: never erased or merged."""


@define_op("test.terminator")
class TerminatorOp(Operation):
    args = var_operand()
    dests = var_successor()
    traits = (IsTerminator(),)


@define_op("test.region")
class RegionOp(Operation):
    """An op with side effects and regions that may use values from above."""

    args = var_operand()
    outs = var_result()
    bodies = var_region()
    traits = (NoTerminator(),)


@define_op("test.isolated")
class IsolatedOp(Operation):
    bodies = var_region()
    traits = (IsolatedFromAbove(), NoTerminator())


@define_op("test.graph")
class GraphOp(Operation):
    """Its regions are graphs: ops may use values defined later."""

    bodies = var_region()
    traits = (GraphRegion(), NoTerminator())


@define_op("test.symbol")
class SymbolOp(Operation):
    sym_name = prop(StringAttr)
    sym_visibility = prop(StringAttr, optional=True)
    traits = (Symbol(),)


@define_op("test.symbol_table")
class SymbolTableOp(Operation):
    sym_name = prop(StringAttr, optional=True)
    bodies = var_region()
    traits = (SymbolTable(), Symbol(), NoTerminator(), SingleBlock(), GraphRegion())


DIALECT = Dialect(
    "test",
    [PureOp, CommutativeOp, EffectOp, TerminatorOp, RegionOp, IsolatedOp, GraphOp, SymbolOp, SymbolTableOp],
)
