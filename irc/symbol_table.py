"""Symbols: ops named by a `sym_name` property inside an op with the SymbolTable trait."""

from __future__ import annotations

from irc.attributes import StringAttr, SymbolRefAttr
from irc.ir import Operation
from irc.traits import SymbolTable


def symbol_name(op: Operation) -> str | None:
    name = op.properties.get("sym_name") or op.attributes.get("sym_name")
    return name.value if isinstance(name, StringAttr) else None


def is_private(op: Operation) -> bool:
    vis = op.properties.get("sym_visibility") or op.attributes.get("sym_visibility")
    return isinstance(vis, StringAttr) and vis.value == "private"


def nearest_symbol_table(op: Operation) -> Operation | None:
    current = op.parent_op()
    while current is not None and not current.has_trait(SymbolTable):
        current = current.parent_op()
    return current


class SymbolTableCollection:
    """Caches name -> op for each symbol table op; invalidate with `clear()` after edits."""

    def __init__(self) -> None:
        self._tables: dict[Operation, dict[str, Operation]] = {}

    def clear(self) -> None:
        self._tables.clear()

    def table(self, table_op: Operation) -> dict[str, Operation]:
        table = self._tables.get(table_op)
        if table is None:
            table = {}
            for region in table_op.regions:
                for op in region.ops:
                    name = symbol_name(op)
                    if name is not None and name not in table:
                        table[name] = op
            self._tables[table_op] = table
        return table

    def lookup_in(self, table_op: Operation, ref: SymbolRefAttr) -> Operation | None:
        found = self.table(table_op).get(ref.root)
        for nested in ref.nested:
            if found is None or not found.has_trait(SymbolTable):
                return None
            found = self.table(found).get(nested)
        return found

    def lookup_from(self, op: Operation, ref: SymbolRefAttr) -> Operation | None:
        """Resolve `ref` from the nearest enclosing symbol table outwards (as MLIR does)."""
        table_op = nearest_symbol_table(op)
        while table_op is not None:
            found = self.lookup_in(table_op, ref)
            if found is not None:
                return found
            table_op = nearest_symbol_table(table_op)
        return None


def symbol_refs(op: Operation) -> list[SymbolRefAttr]:
    """Every SymbolRefAttr in op's properties and attributes, nested arrays and dicts included."""
    found: list[SymbolRefAttr] = []
    for value in (*op.properties.values(), *op.attributes.values()):
        _collect_refs(value, found)
    return found


def _collect_refs(attr: object, out: list[SymbolRefAttr]) -> None:
    from irc.attributes import ArrayAttr, DictionaryAttr

    if isinstance(attr, SymbolRefAttr):
        out.append(attr)
    elif isinstance(attr, ArrayAttr):
        for a in attr.elements:
            _collect_refs(a, out)
    elif isinstance(attr, DictionaryAttr):
        for _, a in attr.entries:
            _collect_refs(a, out)
