"""Passes, pass pipelines and the pass manager.

A pass is a frozen attrs record whose fields are its options (`max_iterations` is the
pipeline option `max-iterations`), with a kebab-case `name` and a `run(op, state)` method.
Pipelines use MLIR's textual syntax:

    builtin.module(func.func(canonicalize{max-iterations=3}, cse), symbol-dce)

A nested `op-name(...)` runs its passes on every op of that name directly inside the
current op (`any(...)` on every op). After each pass the op it ran on is verified.
"""

from __future__ import annotations

import time
import typing
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, TextIO

import attrs

from irc.diagnostics import Diagnostic, IRCError, Severity
from irc.ir import Operation
from irc.location import FileLineColLoc

PIPELINE_FILE = "<pass-pipeline>"


class Pass:
    """Base of all passes. Subclasses are `@attrs.frozen` and set `name`."""

    name: ClassVar[str] = ""
    # The op name the pass expects to run on (None: any op).
    anchor: ClassVar[str | None] = None
    # Statistic name -> description, bumped with `state.stat(name)`.
    statistics: ClassVar[dict[str, str]] = {}

    def run(self, op: Operation, state: PassState) -> None:
        raise NotImplementedError

    @classmethod
    def summary(cls) -> str:
        doc = (cls.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""

    @classmethod
    def options(cls) -> list[attrs.Attribute]:
        return list(attrs.fields(cls)) if attrs.has(cls) else []

    def pipeline_text(self) -> str:
        opts = [f"{_kebab(f.name)}={_format_option(getattr(self, f.name))}" for f in self.options()]
        return self.name + ("{" + " ".join(opts) + "}" if opts else "")

    @property
    def display_name(self) -> str:
        return type(self).__name__


def _kebab(name: str) -> str:
    return name.replace("_", "-")


def _format_option(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        return ",".join(_format_option(v) for v in value)
    text = str(value)
    if text == "" or any(c.isspace() or c in "{}[](),'\"" for c in text):
        return '"' + text + '"' if '"' not in text else "'" + text + "'"
    return text


@attrs.define(eq=False)
class PassState:
    """What a running pass may touch besides the IR: its statistics and the context."""

    context: Any
    counters: dict[str, int] = attrs.field(factory=dict)
    changed: bool = True

    def stat(self, name: str, amount: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + amount


# ----------------------------------------------------------------------------- pipelines
@attrs.define(eq=False)
class OpPassManager:
    """Passes and nested managers, anchored on an op name (`any` for any op)."""

    anchor: str = "builtin.module"
    items: list[Pass | OpPassManager] = attrs.field(factory=list)

    def add(self, item: Pass | OpPassManager) -> OpPassManager:
        self.items.append(item)
        return self

    def nest(self, anchor: str) -> OpPassManager:
        nested = OpPassManager(anchor)
        self.items.append(nested)
        return nested

    def pipeline_text(self) -> str:
        inner = ",".join(item.pipeline_text() for item in self.items)
        return f"{self.anchor}({inner})"

    def passes(self) -> Iterator[Pass]:
        for item in self.items:
            if isinstance(item, OpPassManager):
                yield from item.passes()
            else:
                yield item


@attrs.define(eq=False)
class Instrumentation:
    """What irc-opt's --print-ir-*, --timing and --pass-statistics ask of a run."""

    print_before: set[str] = attrs.field(factory=set)
    print_after: set[str] = attrs.field(factory=set)
    print_after_all: bool = False
    print_after_change: bool = False
    print_after_failure: bool = False
    timing: bool = False
    statistics: bool = False
    stream: TextIO | None = None
    printer: Callable[[Operation], str] | None = None
    # Collected during the run:
    times: list[tuple[int, str, float]] = attrs.field(factory=list)
    # (depth, pass or pipeline name, counters, pass class; None for a nested pipeline)
    stats: list[tuple[int, str, dict[str, int], type | None]] = attrs.field(factory=list)

    def dump(self, when: str, p: Pass, op: Operation) -> None:
        assert self.stream is not None
        assert self.printer is not None
        where = f" ('{op.name}' operation"
        sym = op.properties.get("sym_name")
        where += f": @{sym.value})" if sym is not None else ")"
        self.stream.write(f"// -----// IR Dump {when} {p.display_name} ({p.name}){where} //----- //\n")
        self.stream.write(self.printer(op))
        self.stream.write("\n")


class PassManager:
    """Runs a pipeline on an op, verifying after each pass unless told not to."""

    def __init__(
        self,
        pipeline: OpPassManager,
        context: Any,
        *,
        verify: bool = True,
        instrumentation: Instrumentation | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.context = context
        self.verify = verify
        self.instr = instrumentation or Instrumentation()

    def run(self, op: Operation) -> None:
        if self.pipeline.anchor not in ("any", op.name):
            raise IRCError(
                Diagnostic(
                    Severity.ERROR,
                    f"can't run '{self.pipeline.anchor}' pass manager on '{op.name}' op",
                    op.location,
                )
            )
        self._run_manager(self.pipeline, op, 0)

    def _run_manager(self, pm: OpPassManager, op: Operation, depth: int) -> None:
        for item in pm.items:
            if isinstance(item, OpPassManager):
                # The pipeline's row goes before the rows of its passes, as in MLIR's report.
                row = len(self.instr.times)
                if self.instr.statistics:
                    self.instr.stats.append((depth, f"'{item.anchor}' Pipeline", {}, None))
                start = time.perf_counter()
                self._run_nested(item, op, depth + 1)
                self._time(depth, f"'{item.anchor}' Pipeline", start, row)
            else:
                self._run_pass(item, op, depth)

    def _run_nested(self, pm: OpPassManager, op: Operation, depth: int) -> None:
        for region in op.regions:
            for block in region.blocks:
                for child in list(block.ops):
                    if pm.anchor == "any" or child.name == pm.anchor:
                        self._run_manager(pm, child, depth)

    def _run_pass(self, p: Pass, op: Operation, depth: int) -> None:
        instr = self.instr
        if p.anchor is not None and op.name != p.anchor:
            raise IRCError(
                Diagnostic(
                    Severity.ERROR,
                    f"pass '{p.name}' runs on '{p.anchor}' ops, but was scheduled on '{op.name}'",
                    op.location,
                )
            )
        if instr.print_before and (p.name in instr.print_before or "all" in instr.print_before):
            instr.dump("Before", p, op)
        before = instr.printer(op) if instr.print_after_change else None
        state = PassState(self.context)
        start = time.perf_counter()
        try:
            p.run(op, state)
            if self.verify:
                from irc.verifier import verify

                verify(op)
        except IRCError:
            if instr.print_after_failure:
                instr.dump("After Failed", p, op)
            raise
        self._time(depth, p.display_name, start)
        if instr.statistics:
            instr.stats.append((depth, p.display_name, state.counters, type(p)))
        if instr.print_after_all or p.name in instr.print_after:
            instr.dump("After", p, op)
        elif before is not None and instr.printer(op) != before:
            instr.dump("After", p, op)

    def _time(self, depth: int, name: str, start: float, row: int | None = None) -> None:
        if not self.instr.timing:
            return
        entry = (depth, name, time.perf_counter() - start)
        self.instr.times.insert(len(self.instr.times) if row is None else row, entry)


# ----------------------------------------------------------------------------- parsing
class PipelineParser:
    """Reads MLIR's pass pipeline syntax; errors point into the pipeline text."""

    def __init__(self, text: str, lookup: Callable[[str], type[Pass] | None]) -> None:
        self.text = text
        self.pos = 0
        self.lookup = lookup

    def error(self, message: str, pos: int | None = None) -> IRCError:
        col = (self.pos if pos is None else pos) + 1
        return IRCError(Diagnostic(Severity.ERROR, message, FileLineColLoc(PIPELINE_FILE, 1, col)))

    def _skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def _name(self) -> str:
        self._skip()
        start = self.pos
        while self.pos < len(self.text) and (self.text[self.pos].isalnum() or self.text[self.pos] in "-_."):
            self.pos += 1
        if start == self.pos:
            found = repr(self.text[self.pos]) if self.pos < len(self.text) else "end of pipeline"
            raise self.error(f"expected a pass or op name, found {found}")
        return self.text[start : self.pos]

    def _peek(self) -> str:
        self._skip()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def parse(self, default_anchor: str = "builtin.module") -> OpPassManager:
        """A full pipeline: `anchor(...)`, or a bare list of passes run on `default_anchor`."""
        self._skip()
        if not self.text.strip():
            return OpPassManager(default_anchor)
        items = self._elements()
        self._skip()
        if self.pos != len(self.text):
            raise self.error(f"unexpected {self.text[self.pos]!r} after the pipeline")
        if len(items) == 1 and isinstance(items[0], OpPassManager):
            return items[0]
        return OpPassManager(default_anchor, items)

    def _elements(self) -> list[Pass | OpPassManager]:
        items = [self._element()]
        while self._peek() == ",":
            self.pos += 1
            items.append(self._element())
        return items

    def _element(self) -> Pass | OpPassManager:
        self._skip()
        start = self.pos
        name = self._name()
        if self._peek() == "(":
            self.pos += 1
            if self._peek() == ")":
                self.pos += 1
                return OpPassManager(name)
            items = self._elements()
            if self._peek() != ")":
                raise self.error("expected ',' or ')' in nested pipeline")
            self.pos += 1
            return OpPassManager(name, items)
        cls = self.lookup(name)
        if cls is None:
            raise self.error(f"'{name}' does not refer to a registered pass or pass pipeline", start)
        options: dict[str, str] = {}
        if self._peek() == "{":
            self.pos += 1
            options = self._options(cls)
        return make_pass(cls, options, self.error, start)

    def _options(self, cls: type[Pass]) -> dict[str, tuple[str, int]]:
        options: dict[str, tuple[str, int]] = {}
        while True:
            if self._peek() == "}":
                self.pos += 1
                return options
            if self._peek() == "":
                raise self.error("expected '}' to close the pass options")
            key_pos = self.pos
            key = self._name()
            if self._peek() != "=":
                options[key] = ("true", key_pos)
                continue
            self.pos += 1
            self._skip()
            value_start = self.pos
            quote = self.text[self.pos] if self.pos < len(self.text) else ""
            if quote in ("'", '"'):
                # A quoted value may hold spaces and braces.
                end = self.text.find(quote, self.pos + 1)
                if end < 0:
                    raise self.error(f"unterminated {quote} in the value of option '{key}'", value_start)
                self.pos = end + 1
                options[key] = (self.text[value_start + 1 : end], key_pos)
                continue
            depth = 0
            while self.pos < len(self.text):
                ch = self.text[self.pos]
                if ch in "{[(":
                    depth += 1
                elif ch in "}])" and depth:
                    depth -= 1
                elif (ch.isspace() or ch == "}") and depth == 0:
                    break
                self.pos += 1
            options[key] = (self.text[value_start : self.pos].strip("'\""), key_pos)


def make_pass(
    cls: type[Pass], options: dict[str, Any], error: Callable[..., IRCError] | None = None, pos: int = 0
) -> Pass:
    """Build a pass from option strings (`{"max-iterations": ("3", pos)}`), typed by its fields."""
    fields = {_kebab(f.name): f for f in cls.options()}
    hints = typing.get_type_hints(cls) if fields else {}
    kwargs: dict[str, Any] = {}
    for key, raw in options.items():
        text, key_pos = raw if isinstance(raw, tuple) else (raw, pos)
        field = fields.get(key)
        if field is None:
            known = ", ".join(sorted(fields)) or "none"
            message = f"no option named '{key}' for pass '{cls.name}' (options: {known})"
            if error is None:
                raise ValueError(message)
            raise error(message, key_pos)
        try:
            kwargs[field.name] = _convert(text, hints.get(field.name, str))
        except ValueError as err:
            message = f"invalid value '{text}' for option '{key}' of pass '{cls.name}': {err}"
            if error is None:
                raise ValueError(message) from None
            raise error(message, key_pos) from None
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as err:
        if error is None:
            raise
        raise error(f"bad options for pass '{cls.name}': {err}", pos) from None


def _convert(text: str, hint: Any) -> Any:
    origin = typing.get_origin(hint)
    if hint is bool:
        if text.lower() in ("true", "1", "on"):
            return True
        if text.lower() in ("false", "0", "off"):
            return False
        raise ValueError("expected true or false")
    if hint is int:
        try:
            return int(text, 0)
        except ValueError:
            raise ValueError("expected an integer") from None
    if hint is float:
        try:
            return float(text)
        except ValueError:
            raise ValueError("expected a number") from None
    if origin in (tuple, list):
        (elt, *_) = typing.get_args(hint) or (str,)
        parts = [p for p in text.strip("[]").split(",") if p.strip()]
        return tuple(_convert(p.strip(), elt) for p in parts)
    if hint is str or hint is Any:
        return text
    if typing.get_origin(hint) is typing.Literal:
        allowed = typing.get_args(hint)
        if text not in allowed:
            raise ValueError("expected one of " + ", ".join(map(str, allowed)))
        return text
    return text


def parse_pipeline(
    text: str, lookup: Callable[[str], type[Pass] | None], default_anchor: str = "builtin.module"
) -> OpPassManager:
    return PipelineParser(text, lookup).parse(default_anchor)
