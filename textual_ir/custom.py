"""The interface op classes use to read their pretty form.

The grammar reads a pretty op as a flat sequence of items (values, keywords, literals,
groups, an attribute dictionary) and an optional `: types` section; `OpParser` is a cursor
over those items with the helpers an op's `parse_custom` needs. `parse_default` reads the
default format `name %a, %b {attrs} : T` / `: (T1, T2) -> T3` / `: T1, T2` (no results).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from irc.attributes import Attribute, StringAttr, SymbolRefAttr, TypeAttr
from irc.diagnostics import IRCError
from irc.ir import Block, Operation, Region, Value
from irc.location import Location
from irc.types import FunctionType, Type
from textual_ir.parser import AngleItem, AttrDictItem, Group, Keyword, Literal, Parser, Punct, ValueRef


class OpParser:
    __slots__ = ("cls", "index", "items", "location", "num_results", "op_pos", "parser", "types")

    def __init__(
        self,
        parser: Parser,
        cls: type[Operation],
        items: list[Any],
        types: list[Any] | None,
        num_results: int,
        location: Location,
        pos: int,
    ) -> None:
        self.parser = parser
        self.cls = cls
        self.items = items
        self.index = 0
        self.types = types
        self.num_results = num_results
        self.location = location
        self.op_pos = pos

    # -- errors
    def error(self, message: str, item: Any = None) -> IRCError:
        pos = getattr(item, "pos", None)
        return self.parser.error(f"'{self.cls.name}' {message}", pos if pos is not None else self.op_pos)

    def _here(self) -> Any:
        return self.items[self.index] if self.index < len(self.items) else None

    # -- cursor
    def peek(self) -> Any:
        return self._here()

    def at_end(self) -> bool:
        return self.index >= len(self.items)

    def expect_end(self) -> None:
        item = self._here()
        if item is not None:
            raise self.error(f"did not expect {_describe(item)} here", item)

    def _take(self, kind: type, what: str) -> Any:
        item = self._here()
        if not isinstance(item, kind):
            raise self.error(f"expected {what}, found {_describe(item)}", item)
        self.index += 1
        return item

    def value_ref(self) -> ValueRef:
        return self._take(ValueRef, "an SSA value")

    def value_refs(self) -> list[ValueRef]:
        """`%a, %b, ...` (possibly none)."""
        refs: list[ValueRef] = []
        items, i, n = self.items, self.index, len(self.items)
        while i < n and type(items[i]) is ValueRef:
            refs.append(items[i])
            i += 1
            if i < n and type(items[i]) is Punct and items[i].text == ",":
                i += 1
            else:
                break
        self.index = i
        return refs

    def optional_punct(self, text: str) -> bool:
        item = self._here()
        if isinstance(item, Punct) and item.text == text:
            self.index += 1
            return True
        return False

    def punct(self, text: str) -> None:
        if not self.optional_punct(text):
            raise self.error(f"expected '{text}', found {_describe(self._here())}", self._here())

    def keyword(self, options: Sequence[str] | None = None) -> str:
        item = self._take(Keyword, "a keyword" if not options else "one of " + ", ".join(options))
        if options is not None and item.text not in options:
            raise self.error(f"expected one of {', '.join(options)}, found '{item.text}'", item)
        return item.text

    def optional_keyword(self, text: str) -> bool:
        item = self._here()
        if isinstance(item, Keyword) and item.text == text:
            self.index += 1
            return True
        return False

    def optional_angle(self, keyword: str) -> AngleItem | None:
        """`keyword<body>` (MLIR's `fastmath<fast>`), if it comes next."""
        item = self._here()
        if isinstance(item, AngleItem) and item.text == keyword:
            self.index += 1
            return item
        return None

    def flag_attr(self, keyword: str, parse: Any, props: dict[str, Attribute], name: str) -> None:
        """An optional `keyword<flags>` read with `parse(body)` into `props[name]`."""
        item = self.optional_angle(keyword)
        if item is None:
            return
        try:
            props[name] = parse(item.body)
        except ValueError as err:
            raise self.error(str(err), item) from None

    def literal(self) -> Literal:
        return self._take(Literal, "a literal")

    def symbol(self) -> SymbolRefAttr:
        return self._take(SymbolRefAttr, "a symbol (@name)")

    def group(self, kind: str) -> OpParser:
        item = self._take(Group, f"'{kind}'")
        if item.kind != kind:
            raise self.error(f"expected '{kind}', found '{item.kind}'", item)
        sub = OpParser(self.parser, self.cls, item.items, None, 0, self.location, item.pos)
        return sub

    def optional_group(self, kind: str) -> OpParser | None:
        item = self._here()
        if isinstance(item, Group) and item.kind == kind:
            return self.group(kind)
        return None

    def attr_dict(self) -> tuple[dict[str, Attribute], dict[str, Attribute]]:
        """An optional `{...}`, split into (properties, discardable attributes)."""
        item = self._here()
        if not isinstance(item, AttrDictItem):
            return {}, {}
        self.index += 1
        return self.split_attrs(dict(item.entries))

    def split_attrs(self, entries: dict[str, Attribute]) -> tuple[dict[str, Attribute], dict[str, Attribute]]:
        declared = self.cls.definition.props if self.cls.definition is not None else {}
        props = {k: v for k, v in entries.items() if k in declared or k.endswith("SegmentSizes")}
        attrs = {k: v for k, v in entries.items() if k not in props}
        return props, attrs

    # -- types and values
    def type_list(self) -> list[Type]:
        if self.types is None:
            raise self.error("expected ':' followed by types")
        out = []
        for t in self.types:
            if isinstance(t, Keyword):
                raise self.error(f"unexpected '{t.text}' among the types", t)
            out.append(t)
        return out

    def type_section(self) -> list[Any]:
        """The raw `: ...` section: types and keywords such as `to`."""
        if self.types is None:
            raise self.error("expected ':' followed by types")
        return self.types

    def resolve(self, refs: Sequence[ValueRef], types: Sequence[Type]) -> list[Value]:
        if len(refs) != len(types):
            raise self.error(f"expected {len(refs)} operand types, but found {len(types)}")
        return [self.parser.resolve(r, t) for r, t in zip(refs, types, strict=True)]

    def literal_attr(self, lit: Literal, type: Type | None = None) -> Attribute:
        return self.parser.literal_attr(lit, type)

    def build(self, **kwargs: Any) -> Operation:
        return self.cls(location=self.location, **kwargs)

    # -- the default format
    def parse_default(self, flag: tuple[str, Any, str] | None = None) -> Operation:
        """The default format; `flag` = (keyword, parse, property) also reads an optional
        `keyword<...>` after the operands (MLIR's `fastmath<fast>`)."""
        items = self.items
        count = len(items)
        # `%a, %b, ...` (as `value_refs`, inlined: this is the most common op form)
        refs: list[ValueRef] = []
        i = 0
        while i < count:
            item = items[i]
            if type(item) is not ValueRef:
                break
            refs.append(item)
            i += 1
            if i < count and type(items[i]) is Punct and items[i].text == ",":
                i += 1
            else:
                break
        self.index = i
        if i < count:
            flag_props: dict[str, Attribute] = {}
            if flag is not None:
                self.flag_attr(flag[0], flag[1], flag_props, flag[2])
            props, attrs = self.attr_dict()
            self.expect_end()
            props.update(flag_props)
        else:
            props, attrs = {}, {}
        types = self.types
        if types is None:
            if refs or self.num_results:
                raise self.error("expected ':' followed by types")
            types = []
        elif len(types) != 1 or isinstance(types[0], Keyword):
            types = self.type_list()
        num_results = self.num_results
        if len(types) == 1:
            first = types[0]
            if isinstance(first, FunctionType):
                ins, outs = list(first.inputs), list(first.results)
            elif num_results == 0:
                ins, outs = types, []
            else:
                ins, outs = [first] * len(refs), [first] * num_results
        elif num_results == 0:
            ins, outs = types, []
        else:
            raise self.error("expected one type, or a function type '(operands) -> results'")
        if len(refs) != len(ins):
            raise self.error(f"expected {len(refs)} operand types, but found {len(ins)}")
        resolve = self.parser.resolve
        operands = [resolve(r, t) for r, t in zip(refs, ins)]
        return self.cls(
            operands=operands, result_types=outs, properties=props, attributes=attrs, location=self.location
        )


def _describe(item: Any) -> str:
    if item is None:
        return "the end of the operation"
    if isinstance(item, ValueRef):
        return f"'%{item.name}'"
    if isinstance(item, Keyword):
        return f"'{item.text}'"
    if isinstance(item, Punct):
        return f"'{item.text}'"
    if isinstance(item, Group):
        return f"'{item.kind}'"
    if isinstance(item, AttrDictItem):
        return "an attribute dictionary"
    if isinstance(item, Literal):
        return "a literal"
    if isinstance(item, AngleItem):
        return f"'{item.text}<{item.body}>'"
    return f"'{item}'"


def build_func(p: Parser, body: tuple, location: Location) -> Operation:
    """`func.func [visibility] @name(args) [-> results] [attributes {...}] [{body}]`."""
    from irc.attributes import ArrayAttr, DictionaryAttr

    _, visibility, sym, args, results, attrs, region, pos = body
    cls = p.ctx.lookup_op("func.func")
    arg_types = [a[2] for a in args]
    for a in args:
        if isinstance(a[2], Keyword):
            raise p.error(f"unknown type '{a[2].text}'", a[5])
    result_types = [r[0] for r in results]
    props: dict[str, Attribute] = {
        "sym_name": StringAttr(sym.root),
        "function_type": TypeAttr(FunctionType(arg_types, result_types)),
    }
    if visibility is not None:
        if visibility not in ("private", "public", "nested"):
            raise p.error(f"expected 'private', 'public' or 'nested', found '{visibility}'", pos)
        props["sym_visibility"] = StringAttr(visibility)
    arg_attrs = [a[3] for a in args]
    if any(d is not None and d.entries for d in arg_attrs):
        props["arg_attrs"] = ArrayAttr([DictionaryAttr(d.entries if d is not None else []) for d in arg_attrs])
    res_attrs = [r[1] for r in results]
    if any(d is not None and d.entries for d in res_attrs):
        props["res_attrs"] = ArrayAttr([DictionaryAttr(d.entries if d is not None else []) for d in res_attrs])
    extra = dict(attrs.entries) if attrs is not None else {}
    for key in list(extra):
        if key in cls.definition.props:
            if key in props:
                raise p.error(f"'{key}' is set by the function syntax and may not appear in 'attributes'", pos)
            props[key] = extra.pop(key)
    regions = []
    if region is not None:
        if region.blocks and len(region.blocks[0].args) != len(args):
            raise p.error("function body's entry block does not match the signature", pos)
        if not region.blocks:
            region.add_block(Block())
            if args:
                raise p.error("a function with a body needs named arguments", pos)
        regions = [region]
    else:
        regions = [Region()]
        if any(a[0] == "named" for a in args):
            raise p.error("a function declaration takes argument types only; add a body or drop the names", pos)
    return cls(properties=props, attributes=extra, regions=regions, location=location)
