"""Print IR as `.gir` text: pretty forms by default, MLIR's generic form on request.

Deterministic: attribute dictionaries are sorted, SSA names come from the values' name
hints (uniqued with a `_N` suffix) or are numbered per isolated-from-above region, as MLIR
does. Dense resources are collected and written in a `{-# dialect_resources #-}` section.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from irc.attributes import Attribute, DenseResourceAttr, attr_key_text
from irc.gcpause import gc_paused
from irc.ir import Block, BlockArgument, Operation, Region, UnregisteredOp, Value
from irc.location import Location
from irc.traits import IsolatedFromAbove
from irc.types import FunctionType, Type

_NAME = re.compile(r"[\w$.\-]+")
_BAD_NAME_CHARS = re.compile(r"[^\w$.\-]")


def _hint(hint: str | None) -> str | None:
    """Numbers are the printer's own names: a numeric hint is no hint (as the parser reads it)."""
    return None if hint is None or hint.isdigit() else hint


def _first(item: tuple[str, Attribute]) -> str:
    return item[0]


class _NameScope:
    __slots__ = ("blocks", "next_arg", "next_block", "next_value", "used")

    def __init__(self) -> None:
        self.used: set[str] = set()
        self.next_value = 0
        self.next_arg = 0
        self.next_block = 0
        self.blocks: dict[Block, str] = {}


class Printer:
    def __init__(self, *, generic: bool = False, debuginfo: bool = False) -> None:
        self.generic = generic
        self.debuginfo = debuginfo
        self.out: list[str] = []
        self.indent = 0
        self.names: dict[Value, str] = {}
        self.scopes: list[_NameScope] = [_NameScope()]
        self.resources: dict[str, bytes] = {}
        self._text_cache: dict[Any, str] = {}
        # op class -> (isolated from above, unbound print_custom or None)
        self._class_info: dict[type, tuple[bool, Any]] = {}
        self._prefixes: dict[Operation, str] = {}
        self._named_regions: set[Region] = set()

    # -- small pieces
    def write(self, text: str) -> None:
        self.out.append(text)

    def type(self, t: Type) -> str:
        text = self._text_cache.get(t)
        if text is None:
            text = str(t)
            self._text_cache[t] = text
        return text

    def attr(self, a: Attribute) -> str:
        if isinstance(a, DenseResourceAttr) and a.blob is not None:
            self.resources[a.name] = a.blob
        try:
            text = self._text_cache.get(a)
        except TypeError:
            return str(a)
        if text is None:
            text = str(a)
            self._text_cache[a] = text
        return text

    def value(self, v: Value) -> str:
        name = self.names.get(v)
        if name is None:
            return "%<<UNKNOWN SSA VALUE>>"
        return name

    def values(self, vs: Iterable[Value]) -> str:
        names = self.names
        return ", ".join(names.get(v) or "%<<UNKNOWN SSA VALUE>>" for v in vs)

    def types(self, ts: Iterable[Type]) -> str:
        return ", ".join(self.type(t) for t in ts)

    def function_type(self, ins: Sequence[Type], outs: Sequence[Type]) -> str:
        return self.type(FunctionType(tuple(ins), tuple(outs)))

    def attr_dict(self, entries: dict[str, Attribute], elide: Iterable[str] = (), prefix: str = " ") -> str:
        if not entries:
            return ""
        items = sorted(((k, v) for k, v in entries.items() if k not in elide), key=_first)
        if not items:
            return ""
        body = ", ".join(
            attr_key_text(k) if type(v).__name__ == "UnitAttr" else f"{attr_key_text(k)} = {self.attr(v)}"
            for k, v in items
        )
        return prefix + "{" + body + "}"

    def op_attr_dict(self, op: Operation, elide: Iterable[str] = (), prefix: str = " ") -> str:
        """Properties and attributes together, as pretty forms print them."""
        if not op.attributes:
            return self.attr_dict(op.properties, elide, prefix)
        merged = dict(op.attributes)
        merged.update(op.properties)
        return self.attr_dict(merged, elide, prefix)

    def location(self, loc: Location) -> str:
        return str(loc)

    # -- names
    def _unique(self, base: str) -> str:
        scope = self.scopes[-1]
        if not _NAME.fullmatch(base):
            # A hint set from Python may hold characters an SSA name cannot.
            base = _BAD_NAME_CHARS.sub("_", base) or "_"
        name = base
        counter = 0
        while name in scope.used:
            name = f"{base}_{counter}"
            counter += 1
        scope.used.add(name)
        return name

    def name_results(self, op: Operation) -> str:
        """Assign names to op's results (once); returns the `%a, %b = ` / `%0:2 = ` prefix."""
        results = op.results
        if not results:
            return ""
        prefix = self._prefixes.get(op)
        if prefix is None:
            prefix = self._prefixes[op] = self._assign_result_names(op)
        return prefix

    def _assign_result_names(self, op: Operation) -> str:
        results = op.results
        scope = self.scopes[-1]
        if len(results) == 1:
            hint = results[0].name_hint
            if hint is None or hint.isdigit():
                while str(scope.next_value) in scope.used:
                    scope.next_value += 1
                name = "%" + self._unique(str(scope.next_value))
                scope.next_value += 1
            else:
                name = "%" + self._unique(hint)
            self.names[results[0]] = name
            return name + " = "
        hints = [_hint(r.name_hint) for r in results]
        if all(h is not None for h in hints) and len(set(hints)) == len(hints):
            names = ["%" + self._unique(h) for h in hints]
            for r, n in zip(results, names, strict=True):
                self.names[r] = n
            return ", ".join(names) + " = "
        if hints[0] is not None:
            base = self._unique(hints[0])
        else:
            while str(scope.next_value) in scope.used:
                scope.next_value += 1
            base = self._unique(str(scope.next_value))
            scope.next_value += 1
        for i, r in enumerate(results):
            self.names[r] = f"%{base}#{i}"
        return f"%{base}:{len(results)} = "

    def name_block_args(self, block: Block) -> None:
        scope = self.scopes[-1]
        for arg in block.args:
            if arg in self.names:
                continue
            hint = _hint(arg.name_hint)
            if hint is not None:
                self.names[arg] = "%" + self._unique(hint)
                continue
            while f"arg{scope.next_arg}" in scope.used:
                scope.next_arg += 1
            self.names[arg] = "%" + self._unique(f"arg{scope.next_arg}")
            scope.next_arg += 1

    def block_name(self, block: Block) -> str:
        scope = self.scopes[-1]
        name = scope.blocks.get(block)
        if name is None:
            name = f"^bb{scope.next_block}"
            scope.next_block += 1
            scope.blocks[block] = name
        return name

    def block_arg_list(self, args: Sequence[BlockArgument]) -> str:
        parts = []
        for a in args:
            text = f"{self.names[a]}: {self.type(a.type)}"
            if self.debuginfo and a.location is not None:
                text += " " + self.location(a.location)
            parts.append(text)
        return ", ".join(parts)

    # -- operations
    def print_op(self, op: Operation) -> None:
        out = self.out
        out.append("  " * self.indent)
        info = self._class_info.get(type(op))
        if info is None:
            custom = None if self.generic or isinstance(op, UnregisteredOp) else getattr(type(op), "print_custom", None)
            info = self._class_info[type(op)] = (op.has_trait(IsolatedFromAbove), custom)
        isolated, custom = info
        if op.results:
            prefix = self._prefixes.get(op)
            out.append(prefix if prefix is not None else self.name_results(op))
        if isolated:
            self.scopes.append(_NameScope())
        if custom is not None:
            custom(op, self)
        else:
            self.print_generic(op)
        if isolated:
            self.scopes.pop()
        if self.debuginfo:
            out.append(" " + self.location(op.location))
        out.append("\n")

    def print_generic(self, op: Operation) -> None:
        self.write(f'"{op.name}"(')
        self.write(self.values(op._operands))
        self.write(")")
        if op.successors:
            self.write("[" + ", ".join(self.block_name(b) for b in op.successors) + "]")
        if op.properties:
            self.write(" <" + self.attr_dict(op.properties, prefix="") + ">")
        if op.regions:
            self.write(" (")
            for i, region in enumerate(op.regions):
                if i:
                    self.write(", ")
                self.print_region(region, print_entry_args=True, print_empty_block=True)
            self.write(")")
        self.write(self.attr_dict(op.attributes))
        self.write(" : ")
        self.write(self.function_type([v.type for v in op._operands], [r.type for r in op.results]))

    def name_region(self, region: Region) -> None:
        """Name every value of `region` and of the regions nested in it up to isolated ops, in
        print order, before printing: a use may come before its definition (graph regions,
        blocks listed before the blocks that dominate them)."""
        if region in self._named_regions:
            return
        stack = [region]
        prefixes = self._prefixes
        while stack:
            current = stack.pop()
            self._named_regions.add(current)
            nested: list[Region] = []
            for block in current.blocks:
                self.name_block_args(block)
                for op in block.ops:
                    if op.results and op not in prefixes:  # `name_results`, inlined
                        prefixes[op] = self._assign_result_names(op)
                    if op.regions and not op.has_trait(IsolatedFromAbove):
                        nested.extend(op.regions)
            stack.extend(reversed(nested))

    def print_region(self, region: Region, *, print_entry_args: bool = True, print_empty_block: bool = False) -> None:
        """`{ ... }`: the entry block's header is printed only when it has arguments to show."""
        if not region.blocks:
            self.write("{\n" + "  " * self.indent + "}")
            return
        self.name_region(region)
        scope = self.scopes[-1]
        entry = region.blocks[0]
        # The entry block's label is printed when it has arguments to show, or when it is empty
        # and argument-less: `{ }` would read as no block, and `{ ^bb1: ... }` would make ^bb1
        # the entry (MLIR's printEmptyBlock). An entry whose arguments the op prints itself
        # (func.func) is kept by the parser even when empty.
        entry_header = (print_entry_args and bool(entry.args)) or (
            entry.is_empty and not entry.args and (len(region.blocks) > 1 or print_empty_block)
        )
        if entry_header:
            self.block_name(entry)
        for block in region.blocks[1:]:
            self.block_name(block)
        self.write("{\n")
        self.indent += 1
        for i, block in enumerate(region.blocks):
            self.name_block_args(block)
            show_header = i > 0 or entry_header
            if show_header:
                label = scope.blocks.get(block) or self.block_name(block)
                args = f"({self.block_arg_list(block.args)})" if block.args else ""
                self.write("  " * (self.indent - 1) + f"{label}{args}:\n")
            for op in block.ops:
                self.print_op(op)
        self.indent -= 1
        self.write("  " * self.indent + "}")

    def flag(self, op: Operation, keyword: str, prop: str) -> str:
        """` keyword<body>` for a set flags property (MLIR's `fastmath<fast>`), else ''."""
        value = op.properties.get(prop)
        if value is None:
            return ""
        text = self.attr(value)
        body = text[text.index("<") + 1 : -1]
        return "" if body == "none" else f" {keyword}<{body}>"

    def print_default(self, op: Operation, flag: tuple[str, str] | None = None) -> None:
        """`name %a, %b {attrs} : T` or `: (T1, T2) -> T3`, or `: T1, T2` with no results.
        `flag` = (keyword, property) prints that property as `keyword<...>` after the operands."""
        out = self.out
        operands = op._operands
        if operands:
            names = self.names
            out.append(op.name + " " + ", ".join([names.get(v) or "%<<UNKNOWN SSA VALUE>>" for v in operands]))
        else:
            out.append(op.name)
        elide: tuple[str, ...] = ()
        if flag is not None:
            out.append(self.flag(op, *flag))
            elide = (flag[1],)
        if op.properties or op.attributes:
            out.append(self.op_attr_dict(op, elide=elide))
        results = op.results
        if not results:
            in_types = [v.type for v in operands]
            if len(in_types) == 1 and isinstance(in_types[0], FunctionType):
                # `: (A) -> B` alone would read as the op's function type.
                out.append(" : " + self.function_type(in_types, []))
            elif in_types:
                out.append(" : " + self.types(in_types))
            return
        first = results[0].type
        for v in operands:
            if v.type != first:
                break
        else:
            for r in results:
                if r.type != first:
                    break
            else:
                if not isinstance(first, FunctionType):
                    out.append(" : " + self.type(first))
                    return
        out.append(" : " + self.function_type([v.type for v in operands], [r.type for r in results]))

    # -- whole output
    def finish(self) -> str:
        if self.resources:
            self.write("\n{-#\n  dialect_resources: {\n    builtin: {\n")
            entries = []
            for name, blob in self.resources.items():
                entries.append(f'      {name}: "0x{(4).to_bytes(4, "little").hex().upper()}{blob.hex().upper()}"')
            self.write(",\n".join(entries))
            self.write("\n    }\n  }\n#-}\n")
        return "".join(self.out)


def print_op(op: Operation, *, generic: bool = False, debuginfo: bool = False) -> str:
    printer = Printer(generic=generic, debuginfo=debuginfo)
    with gc_paused():
        _prename_enclosing(printer, op)
        printer.print_op(op)
        return printer.finish()


def _prename_enclosing(printer: Printer, op: Operation) -> None:
    """Give names to values defined above `op` that it uses (when printing a nested op)."""
    names = printer.names
    inside: dict[Block | None, bool] = {}  # block -> is it nested in `op`
    stack = [op]  # `op.walk()` (pre-order), without a generator per op
    while stack:
        inner = stack.pop()
        for v in inner._operands:
            if v in names:
                continue
            block = v.owner_block()
            nested = inside.get(block)
            if nested is None:
                owner = block.parent_op() if block is not None else None
                nested = inside[block] = owner is not None and op.is_ancestor(owner)
            if nested:
                continue
            names[v] = "%" + printer._unique(v.name_hint or f"outer{len(names)}")
        if inner.regions:
            children = [child for region in inner.regions for block in region.blocks for child in block.ops]
            children.reverse()
            stack.extend(children)
