"""Parse `.gir` text into IR.

Lark builds the LALR(1) automaton from grammar.lark (cached on disk); this module runs that
automaton with a tight loop of its own, a contextual lexer (textual_ir/lexer.py) and one
callback per grammar alternative that builds IR directly, so no parse tree is made. The
`{-# dialect_resources ... #-}` section is split off and decoded before Lark sees the text.
"""

from __future__ import annotations

import bisect
import os
import re
import struct
from typing import Any

import attrs

from irc.attributes import (
    ArrayAttr,
    Attribute,
    DenseArrayAttr,
    DenseElementsAttr,
    DenseResourceAttr,
    DictionaryAttr,
    FloatAttr,
    IntegerAttr,
    StringAttr,
    SymbolRefAttr,
    TypeAttr,
    UnitAttr,
    float_bits,
    float_from_bits,
    numpy_dtype,
    round_float,
    unquote_string,
    wrap_int,
)
from irc.context import Context
from irc.diagnostics import Diagnostic, IRCError, Severity
from irc.gcpause import gc_paused
from irc.ir import Block, Operation, Region, UnregisteredOp, Value
from irc.location import CallSiteLoc, FileLineColLoc, FusedLoc, Location, NameLoc, UnknownLoc
from irc.types import (
    ComplexType,
    FloatType,
    FunctionType,
    IndexType,
    IntegerType,
    MemRefType,
    NoneType,
    ShapedType,
    TensorType,
    TupleType,
    Type,
    VectorType,
    f64,
    i1,
    i64,
)
from irc.types import (
    index as index_type,
)
from textual_ir.lexer import SKIP, TerminalTable

_GRAMMAR = os.path.join(os.path.dirname(__file__), "grammar.lark")


# ----------------------------------------------------------------------------- tables
class _Tables:
    """The LALR tables of grammar.lark, built once per process (Lark caches them on disk)."""

    _instance: _Tables | None = None

    def __init__(self) -> None:
        from lark import Lark
        from lark.parsers.lalr_analysis import Shift

        lark = Lark.open(_GRAMMAR, parser="lalr", lexer="basic", cache=_cache_path())
        table = lark.parser.parser.parser.parse_table
        self.start = table.start_states["start"]
        self.end = table.end_states["start"]
        self.terminals = TerminalTable(lark.terminals)
        self.accepted: dict[int, frozenset[str]] = {}
        # Lark numbers the states 0..n-1: lists index faster than dicts in the driver loop.
        count = len(table.states)
        self.actions: list[dict[str, tuple[bool, Any]]] = [{} for _ in range(count)]
        for state, row in table.states.items():
            out = self.actions[state]
            for term, (action, arg) in row.items():
                if action is Shift:
                    out[term] = (True, arg)
                else:
                    name = arg.alias or arg.origin.name
                    size = len(arg.expansion)
                    callback = _CALLBACKS.get(name, _default)
                    if callback is _default and size == 1 and arg.origin.name != "start":
                        callback = None  # passes its one value on: the driver only changes state
                    out[term] = (False, (size, arg.origin.name, callback))
            self.accepted[state] = frozenset(t for t in row if t.isupper() or t.startswith("__"))
        # state -> token regex with the whitespace/comments to skip in front (made on first use)
        self.lexers: list[re.Pattern[str] | None] = [None] * count
        # The fast path for the most common op form (see `Parser._fast_ops`): in the states
        # that shift SSA_DEFS to start an `operation`, the state the automaton reaches once
        # that operation is reduced.
        self.fast_goto: list[int | None] = [None] * count
        for state, row in enumerate(self.actions):
            shift = row.get("SSA_DEFS")
            goto = row.get("operation")
            if shift is not None and shift[0] and goto is not None:
                self.fast_goto[state] = goto[1]
        self.fast_op, self.fast_item = _fast_op_regex(self.terminals)
        # goto state -> the lookaheads on which it reduces `op_list: op_list operation`, which
        # goes back to the state the operation started in (the fast path appends to the list)
        self.fast_appends: list[frozenset[str]] = [frozenset()] * count
        for after in {a for a in self.fast_goto if a is not None}:
            self.fast_appends[after] = frozenset(
                term
                for term, (shift, arg) in self.actions[after].items()
                if not shift and arg[:3] == (2, "op_list", _list_append)
            )

    @classmethod
    def get(cls) -> _Tables:
        if cls._instance is None:
            cls._instance = _Tables()
        return cls._instance


def _fast_op_regex(terminals: TerminalTable) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """`%r = dialect.op %a, %b : T` followed by the start of what may follow an operation,
    and the scanner of its items (for `Parser._fast_ops`).

    Matches exactly the token sequence SSA_DEFS (one plain result), DOTTED_ID (no keyword),
    items, ":" and a BARE_ID type, with only whitespace between the tokens, when the next token
    (after whitespace and comments) is SSA_DEFS, "}" or a dotted name: tokens that every state
    on the way lexes alike and that end the operation. Items are values, commas, identifiers
    (no keyword), `true`/`false` and numbers. Every token is matched atomically and with the
    lexer's own pattern, in the order of the lexer's alternatives, so the match splits the
    text as the lexer does; an identifier followed by `.` or `<` (a dotted name,
    `fastmath<...>`) is left to the LALR path, as are other items, comments inside the op,
    `loc(...)`, several results and several types."""
    pat = terminals.patterns
    name = pat["DOTTED_ID"]
    dotted = "|".join(re.escape(k) for k in sorted(terminals.keywords) if "." in k)
    keywords = "|".join(re.escape(k) for k in sorted(terminals.keywords))
    no_dotted = rf"(?!(?:{dotted})(?![\w$.]))" if dotted else ""
    item = (
        rf"(?P<value>(?>{pat['VALUE']}))|(?P<comma>,)|(?P<bool>true|false)(?![\w$.<])"
        rf"|(?P<hex>(?>{pat['HEX']}))"
        rf"|(?P<minus>-\s*)?(?:(?P<float>(?>{pat['FLOAT']}))|(?P<int>(?>{pat['INT']})))"
        rf"|(?!(?:{keywords})(?![\w$.]))(?P<word>(?>{pat['BARE_ID']}))(?![.<])"
    )
    strip = re.compile(r"\(\?P<\w+>")
    plain_item = strip.sub("(?:", item)
    value = rf"(?>{pat['VALUE']})"
    op = re.compile(
        r"%(?P<res>[\w$.\-]+)\s*=(?!=)\s*"  # the result's name
        rf"{no_dotted}(?P<op>(?>{name}))"  # the op name
        # the items: up to three values (the common case, read from this match's groups) or
        # any items (read with the item scanner)
        rf"(?:\s*(?P<v1>{value})(?:\s*(?P<c1>,)\s*(?P<v2>{value})(?:\s*(?P<c2>,)\s*(?P<v3>{value}))?)?\s*(?=:)"
        rf"|(?P<items>(?:\s*(?:{plain_item}))*)\s*)"
        rf":\s*(?P<type>(?>{pat['BARE_ID']}))"  # the type
        r"(?=(?>(?:\s+|//[^\n]*)*)"
        rf"(?:(?P<defs>{pat['SSA_DEFS']})|(?P<brace>\}})|(?P<name>(?>{name}))(?![\w$.<])))"
    )
    return op, re.compile(rf"\s*(?:{item})")


def _with_skip(regex: re.Pattern[str]) -> re.Pattern[str]:
    """`regex` preceded by the whitespace and comments to skip, so one match reads one token.
    The skip is atomic: a long run of blanks must not make the regex backtrack."""
    return re.compile(r"(?>(?:\s+|//[^\n]*)*)(?:" + regex.pattern + ")")


def _cache_path() -> str | bool:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(base, "gir")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return True
    stamp = int(os.path.getmtime(_GRAMMAR))
    return os.path.join(folder, f"grammar-{stamp}.lark-cache")


# ----------------------------------------------------------------------------- syntax objects
class ValueRef:
    __slots__ = ("index", "name", "pos")

    def __init__(self, name: str, index: int, pos: int) -> None:
        self.name, self.index, self.pos = name, index, pos


class Keyword:
    __slots__ = ("pos", "text")

    def __init__(self, text: str, pos: int) -> None:
        self.text, self.pos = text, pos

    def __repr__(self) -> str:
        return f"Keyword({self.text})"


class Punct:
    """`,`, `->` or `=` among the items of a pretty op."""

    __slots__ = ("pos", "text")

    def __init__(self, text: str, pos: int) -> None:
        self.text, self.pos = text, pos


class AngleItem:
    """`keyword<body>` among the items of a pretty op (MLIR's `fastmath<fast>`)."""

    __slots__ = ("body", "pos", "text")

    def __init__(self, text: str, body: str, pos: int) -> None:
        self.text, self.body, self.pos = text, body, pos


class Group:
    """`[...]` or `(...)` among the items of a pretty op."""

    __slots__ = ("items", "kind", "pos")

    def __init__(self, kind: str, items: list[Any], pos: int) -> None:
        self.kind, self.items, self.pos = kind, items, pos


class Literal:
    """An untyped literal: its attribute is decided by the context (a `: type`, an op)."""

    __slots__ = ("kind", "pos", "value")

    def __init__(self, kind: str, value: Any, pos: int) -> None:
        self.kind, self.value, self.pos = kind, value, pos

    def __repr__(self) -> str:
        return f"Literal({self.kind}, {self.value!r})"


class AttrDictItem:
    __slots__ = ("entries", "pos")

    def __init__(self, entries: list[tuple[str, Attribute]], pos: int) -> None:
        self.entries, self.pos = entries, pos


@attrs.frozen
class _LocRef(Location):
    """A `#loc` alias used before its definition; resolved when the file is read."""

    name: str
    pos: int


class _Scope:
    __slots__ = ("blocks", "entry", "forward", "values")

    def __init__(self, entry: Block) -> None:
        self.values: dict[str, tuple[list[Value], int]] = {}
        self.forward: dict[str, list[tuple[Value, int, int]]] = {}
        self.blocks: dict[str, list[Any]] = {}  # name -> [block, defined_pos or None, first_use_pos]
        self.entry = entry


# ----------------------------------------------------------------------------- driver
# The automaton's stack grows by a few entries per level of nesting (regions, `[...]`,
# `tuple<...>`); past this, later stages (printing, verifying, hashing nested attributes) would
# run out of Python stack, so deep input is refused with a located error instead.
_MAX_STACK = 800
_MAX_NESTING = 80
# The fast path (`Parser._fast_ops`) is taken only where the LALR path could not reach
# _MAX_STACK while reading the op (it pushes at most 6 states for it).
_FAST_STACK = _MAX_STACK - 8
_NESTING = {
    **dict.fromkeys(("(", "[", "{", "<", "tensor<", "memref<", "vector<", "complex<", "tuple<", "loc("), 1),
    **dict.fromkeys((")", "]", "}", ">"), -1),
}


class Parser:
    """One parse of one buffer."""

    def __init__(self, text: str, filename: str, ctx: Context, line_offset: int = 0) -> None:
        self.filename = filename
        self.ctx = ctx
        self.line_offset = line_offset
        self.text, resources_text, self.resources_pos = _split_resources(text)
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", self.text)]
        self.resources = _decode_resources(self, resources_text) if resources_text else {}
        self.attr_aliases: dict[str, Attribute] = {}
        self.type_aliases: dict[str, Type] = {}
        self.loc_aliases: dict[str, Location] = {}
        self.alias_depths: dict[int, tuple[Any, int, int]] = {}
        self.scopes: list[_Scope] = [_Scope(Block())]
        self.pending_entry_args: list[tuple] | None = None
        self.op_classes: dict[str, Any] = {}
        self.custom_parsers: dict[str, tuple] = {}  # op name -> (class, its parse_custom, OpParser)
        self.named_types: dict[str, Type] = dict(_NAMED_TYPES)  # type names read so far
        self.last_pos = 0  # position of the last symbol of the rule being reduced
        self.has_loc_refs = False

    # -- positions and errors
    def location(self, pos: int) -> FileLineColLoc:
        line = bisect.bisect_right(self.line_starts, pos)
        return FileLineColLoc(self.filename, line + self.line_offset, pos - self.line_starts[line - 1] + 1)

    def error(self, message: str, pos: int) -> IRCError:
        return IRCError(Diagnostic(Severity.ERROR, message, self.location(pos)))

    # -- the automaton
    def run(self) -> list[Operation]:
        tables = _Tables.get()
        actions, accepted_of = tables.actions, tables.accepted
        for_state, describe = tables.terminals.for_state, tables.terminals.describe
        text = self.text
        length = len(text)
        skip = SKIP.match
        states = [tables.start]
        values: list[Any] = []
        positions: list[int] = []
        pos = 0
        depth = 0
        nesting = _NESTING
        lexers = tables.lexers
        fast_goto = tables.fast_goto
        while True:
            state = states[-1]
            regex = lexers[state]
            if regex is None:
                regex = lexers[state] = _with_skip(for_state(accepted_of[state]))
            match = regex.match(text, pos)
            if match is None or match.lastgroup is None:
                pos = skip(text, pos).end()
                if pos < length:
                    raise self._unexpected(pos, accepted_of[state], describe)
                kind, token, start = "$END", None, length
            else:
                kind = match.lastgroup
                start, pos = match.span(kind)
                token = match.group(kind)
                step = nesting.get(token)
                if step is not None:
                    depth += step
                    if depth > _MAX_NESTING:
                        raise self.error(f"the input is nested too deeply (more than {_MAX_NESTING} levels)", start)
            while True:
                row = actions[states[-1]]
                step = row.get(kind)
                if step is None:
                    raise self._unexpected(start, frozenset(row), describe, token)
                shift, arg = step
                if shift:
                    if kind == "SSA_DEFS" and fast_goto[states[-1]] is not None and len(states) < _FAST_STACK:
                        after = self._fast_ops(start, states, values, positions, tables)
                        if after is not None:
                            pos = after
                            break
                    if len(states) >= _MAX_STACK:
                        raise self.error("the input is nested too deeply", start)
                    states.append(arg)
                    values.append(token)
                    positions.append(start)
                    break
                size, origin, callback = arg
                if callback is None:
                    # A one-symbol rule that passes its value on: only the state changes.
                    states[-1] = actions[states[-2]][origin][1]
                    continue
                if size:
                    args = values[-size:]
                    span_start = positions[-size]
                    self.last_pos = positions[-1]
                    del values[-size:]
                    del positions[-size:]
                    del states[-size:]
                else:
                    args = []
                    span_start = start
                result = callback(self, args, span_start)
                if origin == "start":
                    return result
                states.append(actions[states[-1]][origin][1])
                values.append(result)
                positions.append(span_start)

    def _fast_ops(self, start: int, states: list, values: list, positions: list, tables: _Tables) -> int | None:
        """Read `%r = dialect.op %a, %b : T` ops at `start` without the automaton: each is
        built with the callbacks the LALR path would run, pushed as the `operation` it
        reduces to, and reduced into the enclosing list on the lookahead token, as that path
        does (see `_fast_op_regex` for when the two agree). Returns where the automaton goes on
        (the token after the last op read), or None when the op at `start` is not of that
        form."""
        fast, scan = tables.fast_op.match, tables.fast_item.finditer
        actions, fast_goto, keywords = tables.actions, tables.fast_goto, tables.terminals.keywords
        appends = tables.fast_appends
        text = self.text
        m = fast(text, start)
        resume = None
        while m is not None:
            after = fast_goto[states[-1]]
            if m.group("defs") is not None:
                kind = "SSA_DEFS"
            elif m.group("name") is not None:
                kind = keywords.get(m.group("name"), "DOTTED_ID")
            else:
                kind = "RBRACE"
                if kind not in actions[after]:
                    break  # an error: the LALR path reports it from the state it detects it in
            op = _build_fast_op(self, m, start, scan)
            resume = m.end()
            if kind in appends[after]:
                # The reduction is `op_list: op_list operation` back to the same state.
                self.last_pos = start
                values[-1].append(op)
            else:
                states.append(after)
                values.append(op)
                positions.append(start)
                # Reduce on the lookahead `kind` up to its shift, as the driver would.
                while True:
                    shift, arg = actions[states[-1]][kind]
                    if shift:
                        break
                    size, origin, callback = arg
                    if callback is None:
                        states[-1] = actions[states[-2]][origin][1]
                        continue
                    args = values[-size:]
                    span_start = positions[-size]
                    self.last_pos = positions[-1]
                    del values[-size:]
                    del positions[-size:]
                    del states[-size:]
                    values.append(callback(self, args, span_start))
                    positions.append(span_start)
                    states.append(actions[states[-1]][origin][1])
            if kind != "SSA_DEFS" or fast_goto[states[-1]] is None or len(states) >= _FAST_STACK:
                break
            start = m.start("defs")
            m = fast(text, start)
        return resume

    def _unexpected(self, pos: int, accepted: frozenset[str], describe, token: str | None = None) -> IRCError:
        expected = sorted({describe(t) for t in accepted if not t.startswith("_") or t.startswith("__ANON")})
        if len(expected) > 8:
            expected = [*expected[:8], "..."]
        if token is None and pos < len(self.text):
            found = repr(self.text[pos])
        elif token is None:
            found = "end of input"
        else:
            found = f"'{token}'"
        return self.error(f"unexpected {found}, expected {', '.join(expected)}", pos)

    # -- SSA scopes
    def push_scope(self) -> _Scope:
        scope = _Scope(Block())
        self.scopes.append(scope)
        return scope

    def define(self, name: str, values: list[Value], pos: int) -> None:
        for scope in self.scopes:
            prior = scope.values.get(name)
            if prior is not None:
                err = self.error(f"redefinition of SSA value '%{name}'", pos)
                err.diagnostic.attach_note("previously defined here", self.location(prior[1]))
                raise err
        scope = self.scopes[-1]
        scope.values[name] = (values, pos)
        pending = scope.forward.pop(name, None)
        if pending is None:
            return
        for placeholder, index, use_pos in pending:
            if index >= len(values):
                raise self.error(f"use of '%{name}#{index}' but '%{name}' has {len(values)} results", use_pos)
            real = values[index]
            if real.type != placeholder.type:
                raise self.error(
                    f"definition of SSA value '%{name}#{index}' has type '{real.type}', "
                    f"but it was used with type '{placeholder.type}'",
                    pos,
                )
            placeholder.replace_all_uses_with(real)

    def resolve(self, ref: ValueRef, type: Type) -> Value:
        for scope in reversed(self.scopes):
            found = scope.values.get(ref.name)
            if found is None:
                continue
            group = found[0]
            if ref.index >= len(group):
                raise self.error(f"invalid result number #{ref.index} of '%{ref.name}' (it has {len(group)})", ref.pos)
            value = group[ref.index]
            if value.type is not type and value.type != type:
                raise self.error(
                    f"use of value '%{ref.name}' expects different type than prior uses: '{type}' vs '{value.type}'",
                    ref.pos,
                )
            return value
        for scope in reversed(self.scopes):
            for placeholder, index, _ in scope.forward.get(ref.name, ()):
                if index == ref.index:
                    if placeholder.type != type:
                        raise self.error(
                            f"use of value '%{ref.name}' expects different type than prior uses: "
                            f"'{type}' vs '{placeholder.type}'",
                            ref.pos,
                        )
                    return placeholder
        placeholder = Value(type, ref.name)
        self.scopes[-1].forward.setdefault(ref.name, []).append((placeholder, ref.index, ref.pos))
        return placeholder

    def close_scope(self) -> _Scope:
        scope = self.scopes.pop()
        for name, (block, defined, first_use) in scope.blocks.items():
            if defined is None:
                raise self.error(f"reference to an undefined block '^{name}'", first_use)
        if scope.forward:
            if len(self.scopes) > 0:
                outer = self.scopes[-1].forward
                for name, refs in scope.forward.items():
                    outer.setdefault(name, []).extend(refs)
            else:
                name, refs = next(iter(scope.forward.items()))
                raise self.error(f"use of undeclared SSA value name '%{name}'", refs[0][2])
        return scope

    def block_ref(self, label: str, pos: int, defining: bool) -> Block:
        scope = self.scopes[-1]
        name = label[1:]
        entry = scope.blocks.get(name)
        if entry is None:
            entry = [Block(), None, pos]
            scope.blocks[name] = entry
        if defining:
            if entry[1] is not None:
                raise self.error(f"redefinition of block '^{name}'", pos)
            entry[1] = pos
        return entry[0]

    # -- attributes from literals
    def literal_attr(self, lit: Literal, type: Type | None = None) -> Attribute:
        """The attribute a literal denotes, with `type` when given (else i64/f64 defaults)."""
        try:
            return self._literal_attr(lit, type)
        except (ValueError, OverflowError, KeyError, struct.error) as err:
            raise self.error(f"cannot make a constant of type '{type}' from this literal: {err}", lit.pos) from None

    def _literal_attr(self, lit: Literal, type: Type | None) -> Attribute:
        kind, value = lit.kind, lit.value
        if isinstance(type, FloatType) and type.name not in _SCALAR_FLOATS and kind in ("int", "hex", "float"):
            raise self.error(f"constants of type '{type}' are not supported", lit.pos)
        if kind in ("int", "hex"):
            if type is None:
                return IntegerAttr(value, i64)
            if isinstance(type, FloatType):
                if kind == "hex":
                    if value >> type.width:
                        raise self.error(f"hexadecimal float constant out of range for type '{type}'", lit.pos)
                    return FloatAttr.from_bits(value, type)
                return FloatAttr(round_float(float(value), type), type)
            if isinstance(type, IntegerType | IndexType):
                _check_int_range(self, value, type, lit.pos)
                return IntegerAttr(value, type)
            raise self.error(f"integer literal not valid for type '{type}'", lit.pos)
        if kind == "float":
            if type is None:
                return FloatAttr(value, f64)
            if not isinstance(type, FloatType):
                raise self.error(f"floating point literal not valid for type '{type}'", lit.pos)
            return FloatAttr(round_float(value, type), type)
        if kind == "bool":
            if type is not None and type != i1:
                raise self.error(f"boolean literal not valid for type '{type}'", lit.pos)
            return IntegerAttr(1 if value else 0, i1)
        if kind == "string":
            return StringAttr(value)
        if kind == "unit":
            return UnitAttr()
        if kind == "dense":
            if type is None:
                raise self.error("expected ':' and a type after 'dense<...>'", lit.pos)
            return self.dense_attr(value, type, lit.pos)
        if kind == "resource":
            if type is None:
                raise self.error("expected ':' and a type after 'dense_resource<...>'", lit.pos)
            return self.resource_attr(value, type, lit.pos)
        if kind == "attr":
            if type is not None:
                raise self.error("unexpected type after attribute", lit.pos)
            return value
        raise self.error(f"unexpected literal {kind}", lit.pos)

    def dense_attr(self, body: str, type: Type, pos: int) -> Attribute:
        if not isinstance(type, ShapedType) or not type.has_static_shape:
            raise self.error(f"dense literal needs a statically shaped type, not '{type}'", pos)
        if type.num_elements * 16 >= _MAX_DENSE_BYTES:
            raise self.error(f"dense literal of type '{type}' has too many elements", pos)
        try:
            return _parse_dense(body, type)
        except (ValueError, OverflowError, IndexError) as err:
            raise self.error(f"invalid dense literal for '{type}': {err}", pos) from None

    def resource_attr(self, name: str, type: Type, pos: int) -> Attribute:
        if not isinstance(type, ShapedType) or not type.has_static_shape:
            raise self.error(f"dense_resource needs a statically shaped type, not '{type}'", pos)
        blob = self.resources.get(name)
        if blob is not None:
            try:
                expected = type.num_elements * numpy_dtype(type.element_type).itemsize
            except ValueError as err:
                raise self.error(str(err), pos) from None
            if len(blob) != expected:
                raise self.error(f"dense_resource<{name}> holds {len(blob)} bytes, but '{type}' needs {expected}", pos)
        return DenseResourceAttr(type, name, blob)

    def dialect_entity(self, token: str, pos: int, is_type: bool) -> Any:
        body = None
        lt = token.find("<")
        head = token[1:lt] if lt >= 0 else token[1:]
        if lt >= 0:
            body = token[lt + 1 : -1]
        dialect_name, _, name = head.partition(".")
        dialect = self.ctx.dialect(dialect_name)
        if dialect is None:
            if self.ctx.allow_unregistered:
                from irc.attributes import OpaqueAttr
                from irc.types import OpaqueType

                return (OpaqueType if is_type else OpaqueAttr)(dialect_name, name, body)
            what = "type" if is_type else "attribute"
            raise self.error(f"dialect '{dialect_name}' is unknown (in {what} '{token}')", pos)
        parsers = dialect.type_parsers if is_type else dialect.attribute_parsers
        parse = parsers.get(name)
        if parse is None:
            what = "type" if is_type else "attribute"
            raise self.error(f"dialect '{dialect_name}' has no {what} named '{name}'", pos)
        try:
            return parse(body)
        except ValueError as err:
            raise self.error(str(err), pos) from None

    # -- building operations
    def make_op(self, name: str, pos: int, **kwargs: Any) -> Operation:
        cls = self.ctx.lookup_op(name)
        if cls is not None:
            return cls(**kwargs)
        dialect_name = name.partition(".")[0]
        if self.ctx.dialect(dialect_name) is not None and dialect_name != "test":
            raise self.error(
                f"unregistered operation '{name}' found in dialect ('{dialect_name}') "
                "that does not allow unknown operations",
                pos,
            )
        if not self.ctx.allow_unregistered and dialect_name != "test":
            raise self.error(
                f"operation '{name}' belongs to an unregistered dialect; use --allow-unregistered-dialect to accept it",
                pos,
            )
        return UnregisteredOp.make(name, **kwargs)

    def split_props(self, name: str, props: dict, attrs: dict, pos: int) -> tuple[dict, dict]:
        cls = self.ctx.lookup_op(name)
        if cls is None or cls.definition is None:
            return props, attrs
        declared = cls.definition.props
        for key in props:
            if key not in declared and not key.endswith("SegmentSizes"):
                raise self.error(f"'{name}' has no property named '{key}'", pos)
        if not props:
            props = {k: v for k, v in attrs.items() if k in declared or k.endswith("SegmentSizes")}
            attrs = {k: v for k, v in attrs.items() if k not in props}
        return props, attrs


_SCALAR_FLOATS = ("f16", "bf16", "f32", "f64")
# Element counts past this cannot be materialized by numpy, even as a broadcast splat.
_MAX_DENSE_BYTES = 1 << 62


def _unquote(p: Parser, body: str, pos: int) -> str:
    """The text of a string literal's body; a bad escape is a located error."""
    try:
        return unquote_string(body)
    except (ValueError, IndexError):
        raise p.error('invalid escape sequence in string literal (expected \\n, \\t, \\", \\\\ or \\XX)', pos) from None


def _check_int_range(parser: Parser, value: int, type: Type, pos: int) -> None:
    if isinstance(type, IndexType):
        return
    width = type.width
    low = -(1 << (width - 1)) if type.signedness != "unsigned" and width > 1 else 0
    high = (1 << width) - 1
    if width == 1:
        low, high = -1, 1
    if not low <= value <= high:
        raise parser.error(f"integer constant out of range for type '{type}'", pos)


# ----------------------------------------------------------------------------- dense bodies
_DENSE_TOKEN = re.compile(
    r'\s*(?:(\[)|(\])|(,)|(-?0x[0-9a-fA-F]+)|(-?\d+\.\d*(?:[eE][-+]?\d+)?)|(-?\d+)|(true|false)|"([^"]*)")'
)


def _parse_dense(body: str, type: ShapedType) -> Attribute:
    import numpy as np

    body = body[len("dense<") : -1].strip()
    elt = type.element_type
    dtype = numpy_dtype(elt)
    if body.startswith('"'):
        raw = bytes.fromhex(body.strip('"')[2:])
        size = dtype.itemsize
        if len(raw) == size:
            return DenseElementsAttr(type, raw, type.num_elements != 1)
        if len(raw) != size * type.num_elements:
            raise ValueError(f"hex data has {len(raw)} bytes, expected {size * type.num_elements}")
        return DenseElementsAttr(type, raw, False)
    if not body:
        if type.num_elements != 0:
            raise ValueError("empty literal for a non-empty type")
        return DenseElementsAttr(type, b"", False)
    values, shape = _dense_nested(body, elt)
    if isinstance(elt, FloatType):
        # Float elements come as bit patterns, so NaN payloads (signaling NaNs) stay exact.
        arr = np.array(values, dtype=f"<u{dtype.itemsize}").view(dtype.newbyteorder("<"))
    else:
        arr = np.array(values, dtype=dtype)
    if not shape:
        if len(values) != 1:
            raise ValueError("expected one value, or a nested list in '[...]'")
        return DenseElementsAttr(type, arr.astype(dtype.newbyteorder("<")).tobytes(), type.num_elements != 1)
    if tuple(shape) != tuple(type.shape):
        raise ValueError(f"literal has shape {'x'.join(map(str, shape))}")
    return DenseElementsAttr(type, arr.astype(dtype.newbyteorder("<")).tobytes(), False)


def _dense_nested(body: str, elt: Type) -> tuple[list[Any], list[int]]:
    """Flat element values and the nesting shape of a dense literal body."""
    pos, n = 0, len(body)
    flat: list[Any] = []
    shape: list[int] = []
    counts: list[int] = []
    depth = 0
    expect_value = True
    while pos < n:
        m = _DENSE_TOKEN.match(body, pos)
        if m is None:
            if body[pos:].strip() == "":
                break
            raise ValueError(f"unexpected {body[pos : pos + 10]!r}")
        pos = m.end()
        if m.group(1):
            if len(counts) == len(shape):
                shape.append(0)
            counts.append(0)
            depth += 1
            continue
        if m.group(2):
            count = counts.pop()
            depth -= 1
            if shape[depth] == 0 and (depth == len(shape) - 1 or count):
                shape[depth] = count
            elif shape[depth] != count:
                raise ValueError("literal is not rectangular")
            if counts:
                counts[-1] += 1
            continue
        if m.group(3):
            continue
        flat.append(_dense_element(m, elt))
        if counts:
            counts[-1] += 1
        expect_value = False
    del expect_value
    if depth != 0:
        raise ValueError("unbalanced brackets")
    return flat, shape


def _dense_element(m: re.Match[str], elt: Type) -> Any:
    if m.group(4):
        bits = int(m.group(4), 16)
        if isinstance(elt, FloatType):
            if bits < 0 or bits >> elt.width:
                raise ValueError(f"hexadecimal value out of range for {elt}")
            return bits
        return _dense_int(bits, elt)
    if m.group(5):
        if not isinstance(elt, FloatType):
            raise ValueError(f"float value for element type {elt}")
        return float_bits(round_float(float(m.group(5)), elt), elt)
    if m.group(6):
        if isinstance(elt, FloatType):
            return float_bits(round_float(float(m.group(6)), elt), elt)
        return _dense_int(int(m.group(6)), elt)
    if m.group(7):
        if isinstance(elt, FloatType):
            raise ValueError(f"boolean value for element type {elt}")
        return m.group(7) == "true"
    raise ValueError("string elements are not supported")


def _dense_int(value: int, elt: Type) -> int:
    """An integer element, range-checked and wrapped as IntegerAttr does (255 : i8 is -1)."""
    t = IntegerType(64) if isinstance(elt, IndexType) else elt
    if not isinstance(t, IntegerType):
        raise ValueError(f"integer value for element type {elt}")
    width = t.width
    low = 0 if t.signedness == "unsigned" or width == 1 else -(1 << (width - 1))
    if width == 1:
        low = -1
    if not low <= value <= (1 << width) - 1:
        raise ValueError(f"integer {value} out of range for {elt}")
    return wrap_int(value, t)


# ----------------------------------------------------------------------------- resources


# A line's text up to a point, when that point is outside strings and `//` comments (neither
# spans lines, so looking at the one line is enough).
_OUTSIDE_STRINGS = re.compile(r'(?:[^"/\n]|/(?!/)|"(?:[^"\\\n]|\\.)*")*')


def _find_resources(text: str) -> int:
    """Where the `{-#` of the resource section starts (-1: none), skipping strings and comments."""
    start = 0
    while True:
        at = text.find("{-#", start)
        if at < 0:
            return -1
        line_start = text.rfind("\n", 0, at) + 1
        if _OUTSIDE_STRINGS.match(text, line_start, at).end() == at:
            return at
        start = at + 1


def _split_resources(text: str) -> tuple[str, str | None, int]:
    begin = _find_resources(text)
    if begin < 0:
        return text, None, -1
    end = text.find("#-}", begin + 3)
    if end < 0:
        end = len(text)
    # The section becomes its newlines plus the columns of its last line, so that whatever
    # follows it keeps its line and column (and the lexer does not skip megabytes of blanks).
    section = text[begin : end + 3]
    last_line = len(section) - (section.rfind("\n") + 1)  # the whole section when on one line
    return text[:begin] + "\n" * section.count("\n") + " " * last_line + text[end + 3 :], text[begin + 3 : end], begin


_RESOURCE_ENTRY = re.compile(r'([\w$.\-]+|"[^"]*")\s*:\s*"0x([0-9a-fA-F]*)"')


def _decode_resources(parser: Parser, section: str) -> dict[str, bytes]:
    """Blobs of the `builtin` resource group; the first 4 bytes are the alignment."""
    out: dict[str, bytes] = {}
    marker = section.find("builtin")
    if marker < 0:
        return out
    for m in _RESOURCE_ENTRY.finditer(section, marker):
        name = m.group(1).strip('"')
        data = bytes.fromhex(m.group(2)) if len(m.group(2)) % 2 == 0 else None
        if data is None or len(data) < 4:
            raise parser.error(f"malformed resource blob '{name}'", parser.resources_pos)
        out[name] = data[4:]
    return out


# ----------------------------------------------------------------------------- callbacks
def _default(p: Parser, a: list, pos: int) -> Any:
    return a[0] if len(a) == 1 else a


def _none(p: Parser, a: list, pos: int) -> Any:
    return None


def _empty_list(p: Parser, a: list, pos: int) -> list:
    return []


def _list_one(p: Parser, a: list, pos: int) -> list:
    return [a[0]]


def _list_append(p: Parser, a: list, pos: int) -> list:
    a[0].append(a[-1])
    return a[0]


def _pass_middle(p: Parser, a: list, pos: int) -> Any:
    return a[1]


def _pass_last(p: Parser, a: list, pos: int) -> Any:
    return a[-1]


_MAX_RESULTS = 1 << 20
_SSA_DEF = re.compile(r"%([\w$.\-]+)(?::(\d+))?")


def _hint(name: str) -> str | None:
    return None if name.isdigit() else name


def _build_operation(p: Parser, defs: str | None, body: tuple, loc: Location | None, pos: int) -> Operation:
    if defs is not None and "," not in defs and ":" not in defs:
        return _build_single_result(p, defs, body, loc, pos)
    groups = [(m.group(1), int(m.group(2) or 1)) for m in _SSA_DEF.finditer(defs)] if defs else []
    for name, count in groups:
        if count == 0:
            raise p.error(f"result group '%{name}' must have at least one result", pos)
        if count > _MAX_RESULTS:
            raise p.error(f"result group '%{name}' has too many results ({count})", pos)
    num_results = sum(c for _, c in groups)
    names: list[str | None] = []
    for name, count in groups:
        names.extend([_hint(name)] * count)
    location = loc if loc is not None else p.location(pos)
    op = _BODY_BUILDERS[body[0]](p, body, num_results, location)
    if len(op.results) != num_results:
        raise p.error(f"operation defines {len(op.results)} results but was provided {num_results} to bind", pos)
    for r, name in zip(op.results, names, strict=True):
        r.name_hint = name
    start = 0
    for name, count in groups:
        p.define(name, op.results[start : start + count], pos)
        start += count
    return op


def _build_single_result(p: Parser, defs: str, body: tuple, loc: Location | None, pos: int) -> Operation:
    """The common `%name = ...` case of `_build_operation`, without the group bookkeeping."""
    name = defs[1 : defs.index("=")].rstrip()
    location = loc if loc is not None else p.location(pos)
    op = _BODY_BUILDERS[body[0]](p, body, 1, location)
    if len(op.results) != 1:
        raise p.error(f"operation defines {len(op.results)} results but was provided 1 to bind", pos)
    result = op.results[0]
    result.name_hint = _hint(name)
    p.define(name, [result], pos)
    return op


def _build_fast_op(p: Parser, m: re.Match[str], pos: int, scan: Any) -> Operation:
    """The op of a `_fast_op_regex` match, as the callbacks of its LALR reductions build it
    (`_ci_append_value` and the other item callbacks, `_type_name`, `_custom_op` and
    `_build_single_result`)."""
    items: list[Any] = []
    append = items.append
    token = m.group("v1")
    if token is not None:
        hash_at = token.find("#")
        if hash_at < 0:
            append(ValueRef(token[1:], 0, m.start("v1")))
        else:
            append(ValueRef(token[1:hash_at], int(token[hash_at + 1 :]), m.start("v1")))
        token = m.group("v2")
        if token is not None:
            append(Punct(",", m.start("c1")))
            hash_at = token.find("#")
            if hash_at < 0:
                append(ValueRef(token[1:], 0, m.start("v2")))
            else:
                append(ValueRef(token[1:hash_at], int(token[hash_at + 1 :]), m.start("v2")))
            token = m.group("v3")
            if token is not None:
                append(Punct(",", m.start("c2")))
                hash_at = token.find("#")
                if hash_at < 0:
                    append(ValueRef(token[1:], 0, m.start("v3")))
                else:
                    append(ValueRef(token[1:hash_at], int(token[hash_at + 1 :]), m.start("v3")))
    else:
        for item in scan(m.string, m.start("items"), m.end("items")):
            kind = item.lastgroup
            if kind == "value":
                token = item.group(kind)
                hash_at = token.find("#")
                if hash_at < 0:
                    append(ValueRef(token[1:], 0, item.start(kind)))
                else:
                    append(ValueRef(token[1:hash_at], int(token[hash_at + 1 :]), item.start(kind)))
            elif kind == "comma":
                append(Punct(",", item.start(kind)))
            elif kind == "word":
                append(Keyword(item.group(kind), item.start(kind)))
            elif kind == "bool":
                append(Literal("bool", item.group(kind) == "true", item.start(kind)))
            elif kind == "hex":
                append(Literal("hex", int(item.group(kind), 16), item.start(kind)))
            else:
                minus = item.start("minus")
                value = float(item.group(kind)) if kind == "float" else int(item.group(kind))
                if minus >= 0:
                    append(Literal(kind, -value, minus))
                else:
                    append(Literal(kind, value, item.start(kind)))
    type = _type_name(p, [m.group("type")], m.start("type"))
    # `_build_single_result`, inlined
    name = m.group("res")
    op = _build_custom(p, ("custom", m.group("op"), items, [type], m.start("op")), 1, p.location(pos))
    if len(op.results) != 1:
        raise p.error(f"operation defines {len(op.results)} results but was provided 1 to bind", pos)
    result = op.results[0]
    result.name_hint = None if name.isdigit() else name
    p.define(name, [result], pos)
    return op


def _op_with_results(p: Parser, a: list, pos: int) -> Operation:
    return _build_operation(p, a[0], a[1], None, pos)


def _op_with_results_loc(p: Parser, a: list, pos: int) -> Operation:
    return _build_operation(p, a[0], a[1], a[3], pos)


def _op_no_results(p: Parser, a: list, pos: int) -> Operation:
    return _build_operation(p, None, a[0], None, pos)


def _op_no_results_loc(p: Parser, a: list, pos: int) -> Operation:
    return _build_operation(p, None, a[0], a[2], pos)


def _loc_some(p: Parser, a: list, pos: int) -> Location:
    return a[1]


def _generic_op(p: Parser, a: list, pos: int) -> tuple:
    name_tok, operands, succs, props, regions, attrs, ftype = a[0], a[2], a[4], a[5], a[6], a[7], a[9]
    return ("generic", _unquote(p, name_tok[1:-1], pos), operands, succs, props, regions, attrs, ftype, pos)


def _build_generic(p: Parser, body: tuple, num_results: int, location: Location) -> Operation:
    _, name, operands, succs, props, regions, attrs, ftype, pos = body
    if not isinstance(ftype, FunctionType):
        raise p.error("expected a function type after ':' in a generic operation", pos)
    if len(ftype.inputs) != len(operands):
        raise p.error(f"expected {len(operands)} operand types but had {len(ftype.inputs)}", pos)
    values = [p.resolve(ref, t) for ref, t in zip(operands, ftype.inputs, strict=True)]
    successors = [p.block_ref(s, pos, False) for s in succs]
    props_d = dict(props.entries) if props is not None else {}
    attrs_d = dict(attrs.entries) if attrs is not None else {}
    props_d, attrs_d = p.split_props(name, props_d, attrs_d, pos)
    return p.make_op(
        name,
        pos,
        operands=values,
        result_types=ftype.results,
        properties=props_d,
        attributes=attrs_d,
        regions=regions,
        successors=successors,
        location=location,
    )


def _custom_op(p: Parser, a: list, pos: int) -> tuple:
    return ("custom", a[0], a[1], a[2], pos)


def _custom_func_default_op(p: Parser, a: list, pos: int) -> tuple:
    return ("custom", "func." + a[0], a[1], a[2], pos)


def _build_custom(p: Parser, body: tuple, num_results: int, location: Location) -> Operation:
    _, name, items, types, pos = body
    found = p.custom_parsers.get(name)
    if found is None:
        cls = p.op_classes.get(name)
        if cls is None:
            cls = p.op_classes[name] = p.ctx.lookup_op(name)
        if cls is None:
            dialect_name = name.partition(".")[0]
            if p.ctx.dialect(dialect_name) is None:
                raise p.error(f"custom op '{name}' is unknown: dialect '{dialect_name}' is not registered", pos)
            raise p.error(f"custom op '{name}' is unknown", pos)
        parse = getattr(cls, "parse_custom", None)
        if parse is None:
            raise p.error(f"'{name}' has no pretty form; write it in the generic form", pos)
        found = p.custom_parsers[name] = (cls, parse, _op_parser_class())
    cls, parse, op_parser = found
    return parse(op_parser(p, cls, items, types, num_results, location, pos))


def _op_parser_class() -> type:
    """`textual_ir.custom.OpParser` (imported on first use: custom.py imports this module)."""
    global _OP_PARSER
    if _OP_PARSER is None:
        from textual_ir.custom import OpParser

        _OP_PARSER = OpParser
    return _OP_PARSER


_OP_PARSER: type | None = None


def _ci_append_value(p: Parser, a: list, pos: int) -> list:
    items, text = a
    hash_at = text.find("#")
    if hash_at < 0:
        items.append(ValueRef(text[1:], 0, p.last_pos))
    else:
        items.append(ValueRef(text[1:hash_at], int(text[hash_at + 1 :]), p.last_pos))
    return items


def _ci_append_comma(p: Parser, a: list, pos: int) -> list:
    a[0].append(Punct(",", p.last_pos))
    return a[0]


def _ci_arrow(p: Parser, a: list, pos: int) -> Punct:
    return Punct("->", pos)


def _ci_equal(p: Parser, a: list, pos: int) -> Punct:
    return Punct("=", pos)


def _ci_square(p: Parser, a: list, pos: int) -> Group:
    return Group("[", a[1], pos)


def _ci_paren(p: Parser, a: list, pos: int) -> Group:
    return Group("(", a[1], pos)


def _ci_keyword(p: Parser, a: list, pos: int) -> Keyword:
    return Keyword(a[0], pos)


def _ci_angle(p: Parser, a: list, pos: int) -> AngleItem:
    head, _, body = a[0].partition("<")
    return AngleItem(head, body[:-1], pos)


def _ts_keyword(p: Parser, a: list, pos: int) -> list:
    a[0].append(Keyword(a[1], pos))
    a[0].append(a[2])
    return a[0]


def _value_use(p: Parser, a: list, pos: int) -> ValueRef:
    text = a[0]
    hash_at = text.find("#")
    if hash_at < 0:
        return ValueRef(text[1:], 0, pos)
    return ValueRef(text[1:hash_at], int(text[hash_at + 1 :]), pos)


# -- func.func and module
def _func_args_set(p: Parser, a: list, pos: int) -> list:
    args = a[0] if a else []
    p.pending_entry_args = args
    return args


def _named_arg(p: Parser, a: list, pos: int) -> tuple:
    return ("named", a[0][1:], a[2], a[3], a[4], pos)


def _anon_arg(p: Parser, a: list, pos: int) -> tuple:
    return ("anon", None, a[0], a[1], None, pos)


def _func_result_one(p: Parser, a: list, pos: int) -> list:
    return [(a[1], None)]


def _func_result_paren(p: Parser, a: list, pos: int) -> list:
    return a[1]


def _func_op(p: Parser, a: list, pos: int) -> tuple:
    p.pending_entry_args = None
    return ("func", a[1], a[2], a[4], a[6] or [], a[7], a[8], pos)


def _build_func(p: Parser, body: tuple, num_results: int, location: Location) -> Operation:
    from textual_ir.custom import build_func

    return build_func(p, body, location)


def _module_op(p: Parser, a: list, pos: int) -> tuple:
    return ("module", a[1], a[2], a[3], pos)


def _build_module(p: Parser, body: tuple, num_results: int, location: Location) -> Operation:
    _, sym, attrs, region, pos = body
    props: dict[str, Attribute] = {}
    if sym is not None:
        props["sym_name"] = StringAttr(sym.root)
    attrs_d = dict(attrs.entries) if attrs is not None else {}
    props, attrs_d = p.split_props("builtin.module", props, attrs_d, pos)
    if not region.blocks:
        region.add_block(Block())
    return p.make_op("builtin.module", pos, regions=[region], properties=props, attributes=attrs_d, location=location)


# -- loops (dialects/loop.py): the header names the body's arguments, defined when it opens
def _for_head(p: Parser, a: list, pos: int) -> tuple:
    return _loop_for_head(p, a, [], [], pos)


def _for_head_iter(p: Parser, a: list, pos: int) -> tuple:
    return _loop_for_head(p, a, a[10], a[13], pos)


def _loop_for_head(p: Parser, a: list, iter_args: list, types: list, pos: int) -> tuple:
    if len(iter_args) != len(types):
        raise p.error(f"'loop.for' has {len(iter_args)} iteration arguments but {len(types)} result types", pos)
    if "#" in a[1]:
        raise p.error("expected an induction variable name", pos)
    args = [("named", a[1][1:], index_type, None, None, pos)]
    args += [("named", name[1:], t, None, None, ref.pos) for (name, ref), t in zip(iter_args, types, strict=True)]
    p.pending_entry_args = args
    return (a[3], a[5], a[7], [(n[1:], ref) for n, ref in iter_args], types, pos)


def _iter_arg(p: Parser, a: list, pos: int) -> tuple:
    return (a[0], a[2])


def _for_paren_types(p: Parser, a: list, pos: int) -> list:
    return _plain_types(p, a[0], pos)


def _loop_for_op(p: Parser, a: list, pos: int) -> tuple:
    return ("loop_for", a[0], a[1], a[2], pos)


def _build_loop_for(p: Parser, body: tuple, num_results: int, location: Location) -> Operation:
    _, (lb, ub, step, iter_args, types, _), region, attrs, pos = body
    cls = p.ctx.lookup_op("loop.for")
    return cls.parse_syntax(p, lb, ub, step, iter_args, types, region, attrs, location, pos)


def _loop_parallel_head(p: Parser, a: list, pos: int) -> tuple:
    ivs = a[2]
    p.pending_entry_args = [("named", ref.name, index_type, None, None, ref.pos) for ref in ivs]
    for ref in ivs:
        if ref.index:
            raise p.error("expected an induction variable name", ref.pos)
    return (ivs, a[6], a[10], a[14])


def _loop_parallel_op(p: Parser, a: list, pos: int) -> tuple:
    return ("loop_parallel", a[0], a[1], a[2], pos)


def _build_loop_parallel(p: Parser, body: tuple, num_results: int, location: Location) -> Operation:
    _, (ivs, lbs, ubs, steps), region, attrs, pos = body
    cls = p.ctx.lookup_op("loop.parallel")
    return cls.parse_syntax(p, ivs, lbs, ubs, steps, region, attrs, location, pos)


_BODY_BUILDERS = {
    "generic": _build_generic,
    "custom": _build_custom,
    "func": _build_func,
    "module": _build_module,
    "loop_for": _build_loop_for,
    "loop_parallel": _build_loop_parallel,
}


# -- regions and blocks
def _region_open(p: Parser, a: list, pos: int) -> _Scope:
    scope = p.push_scope()
    args = p.pending_entry_args
    p.pending_entry_args = None
    if args:
        for kind, name, type, _attrs, loc, arg_pos in args:
            if kind != "named":
                raise p.error("expected named arguments (%name: type) in a function with a body", arg_pos)
            arg = scope.entry.add_arg(type, _hint(name), loc)
            p.define(name, [arg], arg_pos)
    return scope


def _region(p: Parser, a: list, pos: int) -> Region:
    scope, (entry_ops, blocks) = a[0], a[1]
    p.close_scope()
    region = Region()
    entry = scope.entry
    if entry_ops or entry.args or not blocks:
        for op in entry_ops:
            entry.append(op)
        if entry_ops or entry.args:
            region.add_block(entry)
    for block in blocks:
        region.add_block(block)
    return region


def _entry_only(p: Parser, a: list, pos: int) -> tuple:
    return (a[0], [])


def _entry_and_blocks(p: Parser, a: list, pos: int) -> tuple:
    return (a[0], a[1])


def _block(p: Parser, a: list, pos: int) -> Block:
    block = a[0]
    for op in a[1]:
        block.append(op)
    return block


def _label_plain(p: Parser, a: list, pos: int) -> Block:
    return p.block_ref(a[0], pos, True)


def _label_args(p: Parser, a: list, pos: int) -> Block:
    block = p.block_ref(a[0], pos, True)
    for name, type, loc, arg_pos in a[2]:
        arg = block.add_arg(type, _hint(name), loc)
        p.define(name, [arg], arg_pos)
    return block


def _block_arg(p: Parser, a: list, pos: int) -> tuple:
    return (a[0][1:], a[2], a[3], pos)


# -- types
_INT_TYPE = re.compile(r"(si|ui|i)([1-9]\d*)\Z")
_NAMED_TYPES: dict[str, Type] = {
    "index": IndexType(),
    "none": NoneType(),
    **{n: FloatType(n) for n in ("f16", "bf16", "f32", "f64", "f80", "f128")},
}


def _type_name(p: Parser, a: list, pos: int) -> Type:
    name = a[0]
    t = p.named_types.get(name)
    if t is not None:
        return t
    m = _INT_TYPE.match(name)
    if m is not None:
        width = int(m.group(2))
        if width > 1 << 16:
            raise p.error(f"integer bitwidth {width} is too large", pos)
        t = p.named_types[name] = IntegerType(width, {"i": "signless", "si": "signed", "ui": "unsigned"}[m.group(1)])
        return t
    return _TypeKeyword(name, pos)


class _TypeKeyword(Keyword):
    """An identifier in type position that is no type: a keyword such as `to` (or an error)."""


def _real_type(p: Parser, t: Any) -> Type:
    if isinstance(t, _TypeKeyword):
        raise p.error(f"unknown type '{t.text}'", t.pos)
    return t


def _type_alias(p: Parser, a: list, pos: int) -> Type:
    t = p.type_aliases.get(a[0][1:])
    if t is None:
        raise p.error(f"undefined symbol alias id '{a[0][1:]}'", pos)
    return t


def _dialect_type(p: Parser, a: list, pos: int) -> Type:
    return p.dialect_entity(a[0], pos, True)


def _shape_dims(p: Parser, a: list, pos: int) -> tuple:
    dims = tuple(None if d == "?" else int(d) for d in a[0].split("x")[:-1])
    return (dims, _real_type(p, a[1]))


def _shape_scalar(p: Parser, a: list, pos: int) -> tuple:
    return ((), _real_type(p, a[0]))


def _tensor_type(p: Parser, a: list, pos: int) -> Type:
    return TensorType(a[1][0], a[1][1])


def _tensor_type_enc(p: Parser, a: list, pos: int) -> Type:
    return TensorType(a[1][0], a[1][1], a[3])


def _memref_type(p: Parser, a: list, pos: int) -> Type:
    return MemRefType(a[1][0], a[1][1])


def _memref_type_1(p: Parser, a: list, pos: int) -> Type:
    extra = a[3]
    if isinstance(extra, IntegerAttr | StringAttr):
        return MemRefType(a[1][0], a[1][1], None, extra)
    return MemRefType(a[1][0], a[1][1], extra, None)


def _memref_type_2(p: Parser, a: list, pos: int) -> Type:
    return MemRefType(a[1][0], a[1][1], a[3], a[5])


def _vector_type(p: Parser, a: list, pos: int) -> Type:
    dims, elt = a[1]
    if not dims or None in dims:
        raise p.error("vector types need a static, non-empty shape", pos)
    return VectorType(dims, elt)


def _complex_type(p: Parser, a: list, pos: int) -> Type:
    return ComplexType(_real_type(p, a[1]))


def _tuple_empty(p: Parser, a: list, pos: int) -> Type:
    return TupleType(())


def _tuple_type(p: Parser, a: list, pos: int) -> Type:
    return TupleType([_real_type(p, t) for t in a[1]])


def _plain_types(p: Parser, items: list, pos: int) -> list[Type]:
    out = []
    for t, attr_dict in items:
        if attr_dict is not None:
            raise p.error("unexpected attribute dictionary in a type list", pos)
        out.append(_real_type(p, t))
    return out


def _fn_single(p: Parser, a: list, pos: int) -> Type:
    result = _real_type(p, a[2])
    # `() -> () -> ... -> T` nests without brackets: bound it like bracketed nesting.
    chain, depth = result, 0
    while isinstance(chain, FunctionType) and len(chain.results) == 1:
        chain, depth = chain.results[0], depth + 1
        if depth > _MAX_NESTING:
            raise p.error(f"the input is nested too deeply (more than {_MAX_NESTING} levels)", pos)
    return FunctionType(_plain_types(p, a[0], pos), [result])


def _fn_multi(p: Parser, a: list, pos: int) -> Type:
    return FunctionType(_plain_types(p, a[0], pos), _plain_types(p, a[2], pos))


def _typed_item(p: Parser, a: list, pos: int) -> tuple:
    return (a[0], a[1])


# -- attributes
def _dict(p: Parser, a: list, pos: int) -> AttrDictItem:
    seen: set[str] = set()
    for key, _ in a[1]:
        if key in seen:
            raise p.error(f"duplicate key '{key}' in dictionary attribute", pos)
        seen.add(key)
    return AttrDictItem(a[1], pos)


def _empty_dict(p: Parser, a: list, pos: int) -> AttrDictItem:
    return AttrDictItem([], pos)


def _attr_key(p: Parser, a: list, pos: int) -> str:
    key = a[0]
    return _unquote(p, key[1:-1], pos) if key.startswith('"') else key


def _entry_value(p: Parser, a: list, pos: int) -> tuple:
    return (a[0], a[2])


def _entry_unit(p: Parser, a: list, pos: int) -> tuple:
    return (a[0], UnitAttr())


def _attr_untyped(p: Parser, a: list, pos: int) -> Attribute:
    return p.literal_attr(a[0])


def _attr_typed_number(p: Parser, a: list, pos: int) -> Attribute:
    return p.literal_attr(a[0], _real_type(p, a[2]))


def _attr_typed_string(p: Parser, a: list, pos: int) -> Attribute:
    raise p.error("typed string attributes are not supported", pos)


def _attr_empty_array(p: Parser, a: list, pos: int) -> Attribute:
    return ArrayAttr(())


def _attr_array(p: Parser, a: list, pos: int) -> Attribute:
    return ArrayAttr(a[1])


def _attr_dictionary(p: Parser, a: list, pos: int) -> Attribute:
    return DictionaryAttr(a[0].entries)


def _attr_type(p: Parser, a: list, pos: int) -> Attribute:
    return TypeAttr(_real_type(p, a[0]))


def _attr_loc(p: Parser, a: list, pos: int) -> Any:
    return a[1]


def _lit_number(p: Parser, a: list, pos: int) -> Literal:
    return a[0]


def _lit_string(p: Parser, a: list, pos: int) -> Literal:
    return Literal("string", _unquote(p, a[0][1:-1], pos), pos)


def _lit_true(p: Parser, a: list, pos: int) -> Literal:
    return Literal("bool", True, pos)


def _lit_false(p: Parser, a: list, pos: int) -> Literal:
    return Literal("bool", False, pos)


def _lit_unit(p: Parser, a: list, pos: int) -> Literal:
    return Literal("unit", None, pos)


def _lit_dense(p: Parser, a: list, pos: int) -> Literal:
    return Literal("dense", a[0], pos)


def _lit_dense_typed(p: Parser, a: list, pos: int) -> Literal:
    return Literal("attr", p.dense_attr(a[0], _real_type(p, a[2]), pos), pos)


def _lit_resource(p: Parser, a: list, pos: int) -> Literal:
    return Literal("resource", a[0][len("dense_resource<") : -1], pos)


def _lit_resource_typed(p: Parser, a: list, pos: int) -> Literal:
    name = a[0][len("dense_resource<") : -1]
    return Literal("attr", p.resource_attr(name, _real_type(p, a[2]), pos), pos)


_ARRAY = re.compile(r"array<\s*([\w]+)\s*(?::(.*))?>\Z", re.S)


def _lit_array(p: Parser, a: list, pos: int) -> Literal:
    m = _ARRAY.match(a[0])
    if m is None:
        raise p.error("expected 'array<type: values>'", pos)
    elt = _type_name(p, [m.group(1)], pos)
    if not isinstance(elt, IntegerType | FloatType):
        raise p.error(f"array<...> needs an integer or float element type, not '{m.group(1)}'", pos)
    items = [s.strip() for s in (m.group(2) or "").split(",") if s.strip()]
    try:
        if isinstance(elt, FloatType):
            values = tuple(
                float_from_bits(int(s, 16), elt) if s.lower().startswith(("0x", "-0x")) else round_float(float(s), elt)
                for s in items
            )
        elif elt == i1:
            values = tuple(1 if s == "true" else 0 if s == "false" else int(s) for s in items)
        else:
            values = tuple(int(s, 0) for s in items)
    except (ValueError, OverflowError, KeyError, struct.error):
        raise p.error(f"invalid element in '{a[0]}'", pos) from None
    if isinstance(elt, IntegerType):
        for v in values:
            _check_int_range(p, v, elt, pos)
    return Literal("attr", DenseArrayAttr(elt, values), pos)


def _lit_alias(p: Parser, a: list, pos: int) -> Literal:
    name = a[0][1:]
    value = p.attr_aliases.get(name)
    if value is None:
        raise p.error(f"undefined symbol alias id '{name}'", pos)
    return Literal("attr", value, pos)


def _lit_dialect(p: Parser, a: list, pos: int) -> Literal:
    return Literal("attr", p.dialect_entity(a[0], pos, False), pos)


def _num_int(p: Parser, a: list, pos: int) -> Literal:
    return Literal("int", int(a[0]), pos)


def _num_neg_int(p: Parser, a: list, pos: int) -> Literal:
    return Literal("int", -int(a[1]), pos)


def _num_float(p: Parser, a: list, pos: int) -> Literal:
    return Literal("float", float(a[0]), pos)


def _num_neg_float(p: Parser, a: list, pos: int) -> Literal:
    return Literal("float", -float(a[1]), pos)


def _num_hex(p: Parser, a: list, pos: int) -> Literal:
    return Literal("hex", int(a[0], 16), pos)


def _sym_name(p: Parser, token: str, pos: int) -> str:
    body = token[1:]
    return _unquote(p, body[1:-1], pos) if body.startswith('"') else body


def _sym_root(p: Parser, a: list, pos: int) -> SymbolRefAttr:
    return SymbolRefAttr(_sym_name(p, a[0], pos))


def _sym_nested(p: Parser, a: list, pos: int) -> SymbolRefAttr:
    return SymbolRefAttr(a[0].root, (*a[0].nested, _sym_name(p, a[2], pos)))


# -- locations
def _loc_file(p: Parser, a: list, pos: int) -> Location:
    return FileLineColLoc(_unquote(p, a[0][1:-1], pos), int(a[2]), int(a[4]))


def _loc_name(p: Parser, a: list, pos: int) -> Location:
    return NameLoc(_unquote(p, a[0][1:-1], pos))


def _loc_name_child(p: Parser, a: list, pos: int) -> Location:
    return NameLoc(_unquote(p, a[0][1:-1], pos), a[2])


def _loc_callsite(p: Parser, a: list, pos: int) -> Location:
    return CallSiteLoc(a[2], a[4])


def _loc_fused(p: Parser, a: list, pos: int) -> Location:
    return FusedLoc(a[2])


def _loc_fused_meta(p: Parser, a: list, pos: int) -> Location:
    return FusedLoc(a[5], a[2])


def _loc_unknown(p: Parser, a: list, pos: int) -> Location:
    return UnknownLoc()


def _loc_alias(p: Parser, a: list, pos: int) -> Location:
    p.has_loc_refs = True
    return _LocRef(a[0][1:], pos)


# -- top level
def _attr_alias_def(p: Parser, a: list, pos: int) -> None:
    name = a[0][1:]
    if name in p.attr_aliases or name in p.loc_aliases:
        raise p.error(f"redefinition of attribute alias id '{name}'", pos)
    if isinstance(a[2], Location):
        p.loc_aliases[name] = a[2]
    else:
        _check_alias_depth(p, a[2], pos)
        p.attr_aliases[name] = a[2]
    return None


def _type_alias_def(p: Parser, a: list, pos: int) -> None:
    name = a[0][1:]
    if name in p.type_aliases:
        raise p.error(f"redefinition of type alias id '{name}'", pos)
    p.type_aliases[name] = _check_alias_depth(p, _real_type(p, a[2]), pos)
    return None


# Aliases of aliases can describe a value exponentially larger than their text.
_MAX_ALIAS_SIZE = 1 << 20


def _check_alias_depth(p: Parser, value: Any, pos: int) -> Any:
    """Aliases of aliases nest values without nesting the text: bound that nesting (and the
    size the value has once printed without aliases)."""
    depth, size = _alias_depth(p.alias_depths, value)
    if depth > _MAX_NESTING:
        raise p.error(f"the input is nested too deeply (more than {_MAX_NESTING} levels)", pos)
    if size > _MAX_ALIAS_SIZE:
        raise p.error(f"the alias stands for a value of more than {_MAX_ALIAS_SIZE} parts", pos)
    return value


def _alias_depth(memo: dict[int, tuple[Any, int, int]], value: Any) -> tuple[int, int]:
    """(nesting depth, number of parts) of an attribute or type."""
    # Memoized by identity (the value is kept alive in the memo): an alias's value is measured
    # once, so the recursion only walks the new text, whose nesting the lexer already bounds.
    found = memo.get(id(value))
    if found is not None:
        return found[1], found[2]
    if isinstance(value, ArrayAttr):
        children: tuple = value.elements
    elif isinstance(value, DictionaryAttr):
        children = tuple(v for _, v in value.entries)
    elif isinstance(value, TypeAttr):
        children = (value.value,)
    elif isinstance(value, TupleType):
        children = value.types
    elif isinstance(value, FunctionType):
        children = (*value.inputs, *value.results)
    elif isinstance(value, ShapedType | ComplexType):
        children = (value.element_type, getattr(value, "encoding", None), getattr(value, "layout", None))
    else:
        children = ()
    measures = [_alias_depth(memo, c) for c in children if c is not None]
    depth = 1 + max((d for d, _ in measures), default=0)
    size = 1 + sum(n for _, n in measures)
    memo[id(value)] = (value, depth, size)
    return depth, size


def _top_empty(p: Parser, a: list, pos: int) -> list:
    return []


def _top_append(p: Parser, a: list, pos: int) -> list:
    if a[1] is not None:
        a[0].append(a[1])
    return a[0]


def _start(p: Parser, a: list, pos: int) -> list:
    return a[0]


_CALLBACKS = {
    "none": _none,
    "empty_list": _empty_list,
    "list_one": _list_one,
    "list_append": _list_append,
    "pass_middle": _pass_middle,
    "pass_last": _pass_last,
    "op_with_results": _op_with_results,
    "op_no_results": _op_no_results,
    "op_with_results_loc": _op_with_results_loc,
    "op_no_results_loc": _op_no_results_loc,
    "ci_append_value": _ci_append_value,
    "ci_append_comma": _ci_append_comma,
    "loc_none": _none,
    "loc_some": _loc_some,
    "generic_op": _generic_op,
    "custom_op": _custom_op,
    "custom_func_default_op": _custom_func_default_op,
    "ci_arrow": _ci_arrow,
    "ci_equal": _ci_equal,
    "ci_square": _ci_square,
    "ci_paren": _ci_paren,
    "ci_keyword": _ci_keyword,
    "ci_angle": _ci_angle,
    "ts_keyword": _ts_keyword,
    "value_use": _value_use,
    "opt_func_args": _func_args_set,
    "named_arg": _named_arg,
    "anon_arg": _anon_arg,
    "func_result_one": _func_result_one,
    "func_result_paren": _func_result_paren,
    "func_op": _func_op,
    "module_op": _module_op,
    "for_head": _for_head,
    "for_head_iter": _for_head_iter,
    "iter_arg": _iter_arg,
    "for_paren_types": _for_paren_types,
    "loop_for_op": _loop_for_op,
    "loop_parallel_head": _loop_parallel_head,
    "loop_parallel_op": _loop_parallel_op,
    "region_open": _region_open,
    "region": _region,
    "entry_only": _entry_only,
    "entry_and_blocks": _entry_and_blocks,
    "block": _block,
    "label_plain": _label_plain,
    "label_args": _label_args,
    "block_arg": _block_arg,
    "type_name": _type_name,
    "type_alias": _type_alias,
    "dialect_type": _dialect_type,
    "shape_dims": _shape_dims,
    "shape_scalar": _shape_scalar,
    "tensor_type": _tensor_type,
    "tensor_type_enc": _tensor_type_enc,
    "memref_type": _memref_type,
    "memref_type_1": _memref_type_1,
    "memref_type_2": _memref_type_2,
    "vector_type": _vector_type,
    "complex_type": _complex_type,
    "tuple_empty": _tuple_empty,
    "tuple_type": _tuple_type,
    "fn_single": _fn_single,
    "fn_multi": _fn_multi,
    "typed_item": _typed_item,
    "dict": _dict,
    "empty_dict": _empty_dict,
    "attr_key": _attr_key,
    "entry_value": _entry_value,
    "entry_unit": _entry_unit,
    "attr_untyped": _attr_untyped,
    "attr_typed_number": _attr_typed_number,
    "attr_typed_string": _attr_typed_string,
    "attr_empty_array": _attr_empty_array,
    "attr_array": _attr_array,
    "attr_dictionary": _attr_dictionary,
    "attr_type": _attr_type,
    "attr_loc": _attr_loc,
    "attr_symbol": _default,
    "lit_number": _lit_number,
    "lit_string": _lit_string,
    "lit_true": _lit_true,
    "lit_false": _lit_false,
    "lit_unit": _lit_unit,
    "lit_dense": _lit_dense,
    "lit_dense_typed": _lit_dense_typed,
    "lit_resource": _lit_resource,
    "lit_resource_typed": _lit_resource_typed,
    "lit_array": _lit_array,
    "lit_alias": _lit_alias,
    "lit_dialect": _lit_dialect,
    "num_int": _num_int,
    "num_neg_int": _num_neg_int,
    "num_float": _num_float,
    "num_neg_float": _num_neg_float,
    "num_hex": _num_hex,
    "sym_root": _sym_root,
    "sym_nested": _sym_nested,
    "loc_file": _loc_file,
    "loc_name": _loc_name,
    "loc_name_child": _loc_name_child,
    "loc_callsite": _loc_callsite,
    "loc_fused": _loc_fused,
    "loc_fused_meta": _loc_fused_meta,
    "loc_unknown": _loc_unknown,
    "loc_alias": _loc_alias,
    "attr_alias_def": _attr_alias_def,
    "type_alias_def": _type_alias_def,
    "top_empty": _top_empty,
    "top_append": _top_append,
    "start": _start,
}


# ----------------------------------------------------------------------------- entry points
def _resolve_locations(p: Parser, ops: list[Operation]) -> None:
    resolving: set[str] = set()

    def fix(loc: Any) -> Any:
        if isinstance(loc, _LocRef):
            target = p.loc_aliases.get(loc.name)
            if target is None:
                raise p.error(f"undefined location alias '#{loc.name}'", loc.pos)
            if loc.name in resolving:
                raise p.error(f"location alias '#{loc.name}' refers to itself", loc.pos)
            if len(resolving) > _MAX_NESTING:
                raise p.error(f"the input is nested too deeply (more than {_MAX_NESTING} levels)", loc.pos)
            resolving.add(loc.name)
            try:
                return fix(target)
            finally:
                resolving.discard(loc.name)
        if isinstance(loc, NameLoc) and loc.child is not None:
            return NameLoc(loc.name, fix(loc.child))
        if isinstance(loc, CallSiteLoc):
            return CallSiteLoc(fix(loc.callee), fix(loc.caller))
        if isinstance(loc, FusedLoc):
            return FusedLoc([fix(x) for x in loc.locations], loc.metadata)
        return loc

    for top in ops:
        for op in top.walk():
            op.location = fix(op.location)
            for region in op.regions:
                for block in region.blocks:
                    for arg in block.args:
                        if arg.location is not None:
                            arg.location = fix(arg.location)


def parse_ops(text: str, filename: str, ctx: Context, line_offset: int = 0) -> list[Operation]:
    """The top-level ops of `text` (not wrapped in a module)."""
    p = Parser(text, filename, ctx, line_offset)
    with gc_paused():
        ops = p.run()
    p.close_scope()
    if p.has_loc_refs:
        _resolve_locations(p, ops)
    return ops


def parse_module(text: str, filename: str = "<stdin>", ctx: Context | None = None, line_offset: int = 0) -> Operation:
    """Parse a file into one `builtin.module` (wrapping top-level ops that are not one)."""
    if ctx is None:
        from dialects import default_context

        ctx = default_context()
    ops = parse_ops(text, filename, ctx, line_offset)
    module_cls = ctx.lookup_op("builtin.module")
    if len(ops) == 1 and isinstance(ops[0], module_cls):
        return ops[0]
    module = module_cls(regions=[Region([Block()])], location=FileLineColLoc(filename, 1 + line_offset, 1))
    for op in ops:
        module.body.append(op)
    return module
