"""The builtin dialect: `builtin.module`, the top-level container (printed as `module`)."""

from __future__ import annotations

from irc.attributes import StringAttr
from irc.context import Dialect
from irc.ir import Block, Operation, Region
from irc.opdef import define_op, prop, region
from irc.traits import GraphRegion, IsolatedFromAbove, NoTerminator, SingleBlock, Symbol, SymbolTable


@define_op("builtin.module")
class ModuleOp(Operation):
    """A module: one block of ops (usually functions), a symbol table, a graph region."""

    sym_name = prop(StringAttr, optional=True)
    sym_visibility = prop(StringAttr, optional=True)
    body_region = region()
    traits = (IsolatedFromAbove(), SymbolTable(), Symbol(), NoTerminator(), GraphRegion(), SingleBlock())

    @classmethod
    def build(cls, ops: list[Operation] = (), name: str | None = None) -> ModuleOp:
        module = cls(regions=[Region([Block()])])
        if name is not None:
            module.properties["sym_name"] = StringAttr(name)
        for op in ops:
            module.body.append(op)
        return module

    def verify_(self) -> None:
        if not self.regions[0].blocks:
            raise self.emit_error("requires one block in its region")
        if self.body.args:
            raise self.emit_error("may not have region arguments")

    def print_custom(self, p) -> None:
        p.write("module")
        if self.sym_name is not None:
            from irc.attributes import symbol_text

            p.write(" " + symbol_text(self.sym_name.value))
        attrs = p.op_attr_dict(self, elide=("sym_name",), prefix="")
        if attrs:
            p.write(" attributes " + attrs)
        p.write(" ")
        p.print_region(self.regions[0], print_entry_args=False)


DIALECT = Dialect("builtin", [ModuleOp])
