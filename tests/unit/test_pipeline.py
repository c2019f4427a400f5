"""Pass pipelines in MLIR's textual syntax: nesting, typed options, located errors."""

from __future__ import annotations

from typing import Literal

import attrs
import pytest

from irc.diagnostics import IRCError
from irc.location import FileLineColLoc
from irc.pass_manager import PIPELINE_FILE, OpPassManager, Pass, PassManager, PassState, make_pass, parse_pipeline


@attrs.frozen
class Plain(Pass):
    """Does nothing."""

    name = "plain"


@attrs.frozen
class Options(Pass):
    """Has one option of each kind."""

    name = "options"
    max_iterations: int = 10
    ratio: float = 0.5
    verbose: bool = False
    label: str = "x"
    mode: Literal["fast", "slow"] = "fast"
    sizes: tuple[int, ...] = ()


@attrs.frozen
class OnFuncs(Pass):
    """Runs on functions only; records the functions it saw."""

    name = "on-funcs"
    anchor = "func.func"

    def run(self, op, state: PassState) -> None:
        SEEN.append(op.properties["sym_name"].value)
        state.stat("seen")


SEEN: list[str] = []
REGISTRY = {cls.name: cls for cls in (Plain, Options, OnFuncs)}


def lookup(name: str) -> type[Pass] | None:
    return REGISTRY.get(name)


def error_at(text: str) -> tuple[str, int]:
    with pytest.raises(IRCError) as info:
        parse_pipeline(text, lookup)
    loc = info.value.diagnostic.location
    assert isinstance(loc, FileLineColLoc)
    assert loc.filename == PIPELINE_FILE
    assert loc.line == 1
    return info.value.diagnostic.message, loc.column


def test_bare_list_runs_on_the_default_anchor():
    pm = parse_pipeline("plain, options", lookup)
    assert pm.anchor == "builtin.module"
    assert [type(p) for p in pm.passes()] == [Plain, Options]
    assert parse_pipeline("plain", lookup, default_anchor="func.func").anchor == "func.func"


def test_empty_pipeline():
    pm = parse_pipeline("   ", lookup)
    assert pm.items == []
    assert parse_pipeline("builtin.module()", lookup).items == []


def test_nested_anchors():
    pm = parse_pipeline("builtin.module(func.func(plain, on-funcs), any(plain), options)", lookup)
    assert pm.anchor == "builtin.module"
    func_pm, any_pm, opts = pm.items
    assert isinstance(func_pm, OpPassManager)
    assert func_pm.anchor == "func.func"
    assert [type(p) for p in func_pm.items] == [Plain, OnFuncs]
    assert any_pm.anchor == "any"
    assert isinstance(opts, Options)
    assert pm.pipeline_text().startswith("builtin.module(func.func(plain,on-funcs),any(plain),options{")


def test_deeply_nested_and_whitespace():
    pm = parse_pipeline(" builtin.module ( builtin.module ( func.func ( plain ) ) ) ", lookup)
    inner = pm.items[0].items[0]
    assert inner.anchor == "func.func"
    assert isinstance(inner.items[0], Plain)


def test_options_are_typed():
    (p,) = parse_pipeline(
        "options{max-iterations=0x10 ratio=2.5 verbose label='ab' mode=slow sizes=1,2,3}", lookup
    ).passes()
    assert p == Options(max_iterations=16, ratio=2.5, verbose=True, label="ab", mode="slow", sizes=(1, 2, 3))
    (q,) = parse_pipeline("options{verbose=false sizes=[4,5]}", lookup).passes()
    assert q.verbose is False
    assert q.sizes == (4, 5)
    assert q.max_iterations == 10


def test_pipeline_text_round_trips():
    text = "builtin.module(func.func(options{max-iterations=3 verbose=true sizes=1,2}),plain)"
    pm = parse_pipeline(text, lookup)
    again = parse_pipeline(pm.pipeline_text(), lookup)
    assert again.pipeline_text() == pm.pipeline_text()
    assert next(iter(again.passes())) == Options(max_iterations=3, verbose=True, sizes=(1, 2))


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("plain, nope", "'nope' does not refer to a registered pass", 8),
        ("builtin.module(func.func(nope))", "'nope' does not refer to a registered pass", 26),
        ("options{bogus=1}", "no option named 'bogus' for pass 'options'", 9),
        ("options{max-iterations=abc}", "invalid value 'abc' for option 'max-iterations'", 9),
        ("plain options{ratio=x}", "unexpected 'o' after the pipeline", 7),
        ("options{ratio=x}", "expected a number", 9),
        ("options{verbose=maybe}", "expected true or false", 9),
        ("options{mode=medium}", "expected one of fast, slow", 9),
        ("options{sizes=1,x}", "expected an integer", 9),
        ("options{max-iterations=1", "expected '}'", 25),
        ("builtin.module(plain", "expected ',' or ')'", 21),
        ("builtin.module(plain,)", "expected a pass or op name, found ')'", 22),
        ("plain)", "unexpected ')' after the pipeline", 6),
        (",plain", "expected a pass or op name, found ','", 1),
    ],
)
def test_errors_are_located(text, message, column):
    got, got_column = error_at(text)
    assert message in got
    assert got_column == column


def test_make_pass_without_error_callback_raises_value_error():
    with pytest.raises(ValueError, match="no option named"):
        make_pass(Options, {"nope": "1"})
    assert make_pass(Options, {"ratio": "0.25"}).ratio == 0.25


def test_pass_manager_runs_nested_passes_on_matching_ops():
    from dialects import default_context
    from textual_ir.parser import parse_module

    module = parse_module("func.func private @a()\nfunc.func private @b()\n")
    pm = parse_pipeline("builtin.module(func.func(on-funcs))", lookup)
    SEEN.clear()
    PassManager(pm, default_context()).run(module)
    assert SEEN == ["a", "b"]


def test_pass_manager_checks_anchors():
    from dialects import default_context
    from textual_ir.parser import parse_module

    module = parse_module("func.func private @a()\n")
    with pytest.raises(IRCError, match=r"runs on 'func\.func' ops, but was scheduled on 'builtin\.module'"):
        PassManager(parse_pipeline("on-funcs", lookup), default_context()).run(module)
    with pytest.raises(IRCError, match=r"can't run 'func\.func' pass manager on 'builtin\.module' op"):
        PassManager(OpPassManager("func.func"), default_context()).run(module)


def test_the_project_registry_resolves_names():
    import passes

    for name in passes.PASSES:
        cls = passes.get_pass(name)
        assert cls is not None
        assert cls.name == name
    assert passes.get_pass("no-such-pass") is None
    pm = parse_pipeline(passes.PIPELINES["default"], passes.get_pass)
    assert pm.anchor == "builtin.module"
