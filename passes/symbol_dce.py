"""The symbol-dce pass."""

from __future__ import annotations

from typing import ClassVar

import attrs

from irc.attributes import SymbolRefAttr
from irc.ir import Operation
from irc.pass_manager import Pass, PassState
from irc.rewriter import PatternRewriter
from irc.symbol_table import SymbolTableCollection, is_private, nearest_symbol_table, symbol_name, symbol_refs
from irc.traits import SymbolTable


@attrs.frozen
class SymbolDCE(Pass):
    """Erase private symbols that no live op references.

        func.func @main() { call @f }            func.func @main() { call @f }
        func.func private @f() {}         ->     func.func private @f() {}
        func.func private @g() { call @h }
        func.func private @h() {}

    Public symbols (and ops that are not symbols) are the roots; a symbol is live if a live
    op references it, so a private function used only by dead ones is dead too.
    """

    name: ClassVar[str] = "symbol-dce"
    statistics: ClassVar[dict[str, str]] = {"num-dce'd": "Number of symbols erased"}

    def run(self, op: Operation, state: PassState) -> None:
        if not op.has_trait(SymbolTable):
            raise op.emit_error("was scheduled to run under symbol-dce, but does not define a symbol table")
        live = _live_symbols(op)
        rewriter = PatternRewriter()
        dead = [s for s in _symbols(op) if s not in live]
        dead_set = set(dead)
        for symbol in dead:
            if _has_dead_ancestor(symbol, op, dead_set):
                continue  # goes with its symbol table
            rewriter.erase_op(symbol)
            state.stat("num-dce'd")
        state.changed = rewriter.changed


def _symbols(root: Operation) -> list[Operation]:
    """Every op under `root` with a symbol name that sits directly in a symbol table."""
    found = []
    for op in root.walk():
        if op is root or symbol_name(op) is None:
            continue
        parent = op.parent_op()
        if parent is not None and parent.has_trait(SymbolTable):
            found.append(op)
    return found


def _live_symbols(root: Operation) -> set[Operation]:
    symbols = _symbols(root)
    symbol_set = set(symbols)
    tables = SymbolTableCollection()
    # Who references what: the nearest enclosing symbol of the referencing op (None at the
    # top level, which is always live) -> the symbols its references resolve to.
    refs: dict[Operation | None, list[Operation]] = {}
    for op in root.walk():
        if op is root:
            continue
        targets = [t for ref in symbol_refs(op) for t in _resolve_path(op, ref, root, tables)]
        if targets:
            refs.setdefault(_owner(op, root, symbol_set), []).extend(targets)
    live: set[Operation] = set()
    stack: list[Operation] = []

    def mark(symbol: Operation | None) -> None:
        # A live symbol keeps the symbols enclosing it alive.
        while symbol is not None and symbol not in live:
            live.add(symbol)
            stack.append(symbol)
            symbol = _owner(symbol.parent_op(), root, symbol_set)

    for symbol in symbols:
        if _is_root(symbol, root):
            mark(symbol)
    for target in refs.get(None, ()):
        mark(target)
    while stack:
        for target in refs.get(stack.pop(), ()):
            mark(target)
    return live


def _is_root(symbol: Operation, root: Operation) -> bool:
    """Public, and not inside a private symbol table (whose public symbols it may hide)."""
    op: Operation | None = symbol
    while op is not None and op is not root:
        if symbol_name(op) is not None and is_private(op):
            return False
        op = op.parent_op()
    return True


def _owner(op: Operation | None, root: Operation, symbols: set[Operation]) -> Operation | None:
    while op is not None and op is not root:
        if op in symbols:
            return op
        op = op.parent_op()
    return None


def _has_dead_ancestor(op: Operation, root: Operation, dead: set[Operation]) -> bool:
    parent = op.parent_op()
    while parent is not None and parent is not root:
        if parent in dead:
            return True
        parent = parent.parent_op()
    return False


def _resolve_path(op: Operation, ref: SymbolRefAttr, root: Operation, tables: SymbolTableCollection) -> list[Operation]:
    """The symbols along `@a::@b::@c`, resolved from the nearest symbol table outwards."""
    table = nearest_symbol_table(op)
    while table is not None:
        first = tables.table(table).get(ref.root)
        if first is not None:
            path = [first]
            for nested in ref.nested:
                if not path[-1].has_trait(SymbolTable):
                    break
                found = tables.table(path[-1]).get(nested)
                if found is None:
                    break
                path.append(found)
            return path
        if table is root:
            break
        table = nearest_symbol_table(table)
    return []
