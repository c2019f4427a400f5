"""The passes: registry hygiene, canonicalize, cse, dce, symbol-dce and inline."""

from __future__ import annotations

import attrs
import pytest

import passes
from dialects import default_context
from dialects.arith import AddIOp, ConstantOp, MulIOp
from dialects.func import CallOp, FuncOp
from dialects.test import EffectOp, PureOp
from irc.diagnostics import IRCError
from irc.ir import Operation, Value
from irc.pass_manager import Pass, PassManager, PassState, parse_pipeline
from irc.rewriter import PatternRewriter, RewritePattern
from irc.symbol_table import symbol_name
from irc.verifier import verify
from textual_ir.parser import parse_module
from textual_ir.printer import print_op


# ----------------------------------------------------------------------------- helpers
def check_use_lists(root: Operation) -> None:
    values: set[Value] = set()
    for op in root.walk():
        for i, value in enumerate(op.operands):
            assert (op, i) in value.uses
            values.add(value)
        values.update(op.results)
    for value in values:
        for user, index in value.uses:
            assert user.operand(index) is value
            assert user.parent is not None


def run(pipeline: str, text: str) -> Operation:
    """Parse `text`, run `pipeline` through the pass manager (which verifies), check uses."""
    module = parse_module(text)
    PassManager(parse_pipeline(pipeline, passes.get_pass), default_context()).run(module)
    check_use_lists(module)
    return module


def run_pass(p: Pass, text: str) -> tuple[Operation, dict[str, int]]:
    module = parse_module(text)
    state = PassState(default_context())
    p.run(module, state)
    verify(module)
    check_use_lists(module)
    return module, state.counters


def func(module: Operation, name: str) -> FuncOp:
    for op in module.body.ops:
        if isinstance(op, FuncOp) and op.sym_name.value == name:
            return op
    raise KeyError(name)


def count(root: Operation, cls: type) -> int:
    return sum(1 for _ in root.walk_ops(cls))


def symbols(module: Operation) -> set[str]:
    return {name for op in module.body.ops if (name := symbol_name(op)) is not None}


# ----------------------------------------------------------------------------- registry
@pytest.mark.parametrize("key", sorted(passes.PASSES))
def test_registry_key_is_the_pass_name(key: str):
    cls = passes.get_pass(key)
    assert cls is not None
    assert cls.name == key


@pytest.mark.parametrize("cls", passes.all_passes(), ids=lambda c: c.name)
def test_pass_is_a_documented_frozen_record(cls: type[Pass]):
    assert issubclass(cls, Pass)
    assert attrs.has(cls)
    assert cls.summary(), f"{cls.__name__} needs a one-line summary docstring"
    assert cls.summary().endswith(".")
    assert "->" in (cls.__doc__ or ""), f"{cls.__name__} docstring needs a before -> after example"
    instance = cls()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        instance.x = 1  # type: ignore[attr-defined]
    assert cls.statistics, f"{cls.__name__} declares no statistics"


def test_pipeline_text_round_trips_options():
    pm = parse_pipeline("builtin.module(canonicalize{max-iterations=3 test-convergence=true})", passes.get_pass)
    (p,) = pm.passes()
    assert p.max_iterations == 3
    assert p.test_convergence
    assert "max-iterations=3" in p.pipeline_text()


# ----------------------------------------------------------------------------- canonicalize
def test_canonicalize_should_fold_constants_and_erase_dead_code():
    module, stats = run_pass(
        passes.get_pass("canonicalize")(),
        """
        func.func @f(%x: i32) -> i32 {
          %c1 = arith.constant 1 : i32
          %c2 = arith.constant 2 : i32
          %s = arith.addi %c1, %c2 : i32
          %dead = arith.muli %x, %s : i32
          %r = arith.addi %s, %x : i32
          func.return %r : i32
        }""",
    )
    assert count(module, ConstantOp) == 1
    assert count(module, MulIOp) == 0
    add = next(module.walk_ops(AddIOp))
    assert add.lhs is func(module, "f").args[0]
    assert stats["num-folded"] >= 1
    assert stats["num-dce'd"] >= 1


def test_canonicalize_should_fail_to_converge_only_when_asked():
    text = """
    func.func @f() -> i32 {
      %c1 = arith.constant 1 : i32
      %x = arith.addi %c1, %c1 : i32
      func.return %x : i32
    }"""
    run("builtin.module(canonicalize{max-iterations=1})", text)
    with pytest.raises(IRCError, match="failed to converge"):
        run("builtin.module(canonicalize{max-iterations=1 test-convergence=true})", text)
    run("builtin.module(canonicalize{test-convergence=true})", text)


def test_canonicalize_without_fold_keeps_constant_arithmetic():
    module = run(
        "builtin.module(canonicalize{fold=false})",
        """
        func.func @f() -> i32 {
          %c1 = arith.constant 1 : i32
          %x = arith.addi %c1, %c1 : i32
          func.return %x : i32
        }""",
    )
    assert count(module, AddIOp) == 1


class EraseUnusedEffect(RewritePattern):
    """Test-only: `test.effect` with a `droppable` attribute and no results is erased."""

    op_type = EffectOp

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        if "droppable" not in op.attributes:
            return False
        rewriter.erase_op(op)
        return True


def test_canonicalize_collects_patterns_from_op_classes(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(
        EffectOp, "canonicalization_patterns", classmethod(lambda cls: [EraseUnusedEffect()]), raising=False
    )
    module = run(
        "builtin.module(canonicalize)",
        """
        func.func @f() {
          "test.effect"() {droppable} : () -> ()
          "test.effect"() : () -> ()
          func.return
        }""",
    )
    assert count(module, EffectOp) == 1


def test_canonicalize_erases_unreachable_blocks_only_with_region_simplify():
    text = """
    func.func @f(%x: i32) -> i32 {
      func.return %x : i32
    ^bb1:
      "test.effect"() : () -> ()
      func.return %x : i32
    }"""
    module = run("builtin.module(canonicalize{region-simplify=false})", text)
    assert len(func(module, "f").regions[0].blocks) == 2
    module = run("builtin.module(canonicalize)", text)
    assert len(func(module, "f").regions[0].blocks) == 1


# ----------------------------------------------------------------------------- cse
def test_cse_should_merge_identical_pure_ops():
    module, stats = run_pass(
        passes.get_pass("cse")(),
        """
        func.func @f(%a: i32, %b: i32) -> (i32, i32, i32) {
          %x = arith.addi %a, %b : i32
          %y = arith.addi %a, %b : i32
          %z = arith.addi %b, %a : i32
          func.return %x, %y, %z : i32, i32, i32
        }""",
    )
    assert count(module, AddIOp) == 2  # operand order differs: not merged by cse
    assert stats["num-cse'd"] == 1


def test_cse_should_not_merge_side_effects_or_different_attributes():
    module = run(
        "builtin.module(cse)",
        """
        func.func @f(%a: i32) -> (i32, i32, i32, i32) {
          %e1 = "test.effect"(%a) : (i32) -> i32
          %e2 = "test.effect"(%a) : (i32) -> i32
          %p1 = "test.pure"(%a) {k = 1} : (i32) -> i32
          %p2 = "test.pure"(%a) {k = 2} : (i32) -> i32
          func.return %e1, %e2, %p1, %p2 : i32, i32, i32, i32
        }""",
    )
    assert count(module, EffectOp) == 2
    assert count(module, PureOp) == 2


def test_cse_should_merge_into_nested_regions_but_not_isolated_ones():
    module = run(
        "builtin.module(cse)",
        """
        func.func @f(%a: i32) -> i32 {
          %c = arith.constant 7 : i32
          %x = arith.addi %a, %c : i32
          "test.region"() ({
            %y = arith.addi %a, %c : i32
            "test.effect"(%y) : (i32) -> ()
          }) : () -> ()
          "test.isolated"() ({
            %c2 = arith.constant 7 : i32
            %c3 = arith.constant 7 : i32
            "test.effect"(%c2, %c3) : (i32, i32) -> ()
          }) : () -> ()
          func.return %x : i32
        }""",
    )
    assert count(module, AddIOp) == 1
    effects = list(module.walk_ops(EffectOp))
    assert effects[0].operand(0) is next(module.walk_ops(AddIOp)).result
    isolated_consts = [op for op in module.walk_ops(ConstantOp) if op.parent_op().name == "test.isolated"]
    assert len(isolated_consts) == 1  # merged with each other, not with the outer one
    assert count(module, ConstantOp) == 2


def test_cse_should_not_merge_between_sibling_regions():
    module = run(
        "builtin.module(cse)",
        """
        func.func @f(%a: i32) {
          "test.region"() ({
            %x = arith.addi %a, %a : i32
            "test.effect"(%x) : (i32) -> ()
          }, {
            %y = arith.addi %a, %a : i32
            "test.effect"(%y) : (i32) -> ()
          }) : () -> ()
          func.return
        }""",
    )
    assert count(module, AddIOp) == 2


def test_cse_should_respect_dominance_between_blocks():
    module = run(
        "builtin.module(cse)",
        """
        func.func @f(%a: i32) -> i32 {
          %x = arith.muli %a, %a : i32
          "test.terminator"()[^bb1, ^bb2] : () -> ()
        ^bb1:
          %y = arith.muli %a, %a : i32
          %p = arith.addi %a, %a : i32
          "test.terminator"(%y, %p)[^bb3] : (i32, i32) -> ()
        ^bb2:
          %q = arith.addi %a, %a : i32
          "test.terminator"(%q)[^bb3] : (i32) -> ()
        ^bb3:
          %r = arith.addi %a, %a : i32
          func.return %r : i32
        }""",
    )
    assert count(module, MulIOp) == 1  # entry dominates ^bb1
    assert count(module, AddIOp) == 3  # neither ^bb1 nor ^bb2 dominates the other or ^bb3


# ----------------------------------------------------------------------------- dce
def test_dce_should_erase_dead_chains_and_keep_effects():
    module, stats = run_pass(
        passes.get_pass("dce")(),
        """
        func.func @f(%a: i32) {
          %x = arith.addi %a, %a : i32
          %y = arith.muli %x, %x : i32
          %z = "test.pure"(%y) : (i32) -> i32
          %e = "test.effect"(%a) : (i32) -> i32
          func.return
        }""",
    )
    assert count(module, AddIOp) + count(module, MulIOp) + count(module, PureOp) == 0
    assert count(module, EffectOp) == 1
    assert stats["num-dce'd"] == 3


def test_dce_should_erase_unreachable_blocks():
    module = run(
        "builtin.module(dce)",
        """
        func.func @f(%a: i32) -> i32 {
          "test.terminator"()[^bb2] : () -> ()
        ^bb1:
          %x = "test.effect"(%a) : (i32) -> i32
          "test.terminator"(%x)[^bb1] : (i32) -> ()
        ^bb2:
          func.return %a : i32
        }""",
    )
    assert len(func(module, "f").regions[0].blocks) == 2
    assert count(module, EffectOp) == 0


# ----------------------------------------------------------------------------- symbol-dce
def test_symbol_dce_should_erase_unreferenced_private_symbols_transitively():
    module, stats = run_pass(
        passes.get_pass("symbol-dce")(),
        """
        func.func @main() {
          func.call @live() : () -> ()
          func.return
        }
        func.func private @live() {
          func.call @live_leaf() : () -> ()
          func.return
        }
        func.func private @live_leaf() {
          func.return
        }
        func.func private @dead() {
          func.call @dead_leaf() : () -> ()
          func.return
        }
        func.func private @dead_leaf() {
          func.return
        }
        func.func private @dead_decl()
        func.func @public_unused() {
          func.return
        }""",
    )
    assert symbols(module) == {"main", "live", "live_leaf", "public_unused"}
    assert stats["num-dce'd"] == 3


def test_symbol_dce_should_erase_dead_recursive_cycles():
    module = run(
        "builtin.module(symbol-dce)",
        """
        func.func private @ping() {
          func.call @pong() : () -> ()
          func.return
        }
        func.func private @pong() {
          func.call @ping() : () -> ()
          func.return
        }
        func.func @main() {
          func.return
        }""",
    )
    assert symbols(module) == {"main"}


def test_symbol_dce_should_resolve_references_into_nested_symbol_tables():
    module = run(
        "builtin.module(symbol-dce)",
        """
        module @inner attributes {sym_visibility = "private"} {
          func.func private @used() {
            func.return
          }
          func.func private @unused() {
            func.return
          }
        }
        module @dead_inner attributes {sym_visibility = "private"} {
        }
        func.func @main() {
          "test.effect"() {ref = @inner::@used} : () -> ()
          func.return
        }""",
    )
    assert symbols(module) == {"inner", "main"}
    inner = next(op for op in module.body.ops if symbol_name(op) == "inner")
    assert {symbol_name(op) for op in inner.body.ops} == {"used"}


def test_symbol_dce_requires_a_symbol_table():
    module = parse_module("func.func @f() {\n  func.return\n}")
    with pytest.raises(IRCError, match="symbol table"):
        passes.get_pass("symbol-dce")().run(func(module, "f"), PassState(None))


# ----------------------------------------------------------------------------- inline
def test_inline_should_collapse_a_chain_of_calls():
    module, stats = run_pass(
        passes.get_pass("inline")(),
        """
        func.func private @leaf(%x: i32) -> i32 {
          %y = arith.addi %x, %x : i32
          func.return %y : i32
        }
        func.func private @middle(%x: i32) -> i32 {
          %y = func.call @leaf(%x) : (i32) -> i32
          %z = arith.muli %y, %y : i32
          func.return %z : i32
        }
        func.func @top(%x: i32) -> i32 {
          %y = func.call @middle(%x) : (i32) -> i32
          func.return %y : i32
        }""",
    )
    top = func(module, "top")
    assert count(top, CallOp) == 0
    assert count(top, AddIOp) == 1
    assert count(top, MulIOp) == 1
    assert top.entry.last_op.operand(0) is next(top.walk_ops(MulIOp)).result
    assert next(top.walk_ops(AddIOp)).lhs is top.args[0]
    assert stats["num-inlined-calls"] == 2
    # The callees stay for symbol-dce.
    assert symbols(module) == {"leaf", "middle", "top"}
    module = run("builtin.module(inline, symbol-dce)", print_op(module))
    assert symbols(module) == {"top"}


def test_inline_should_not_inline_recursive_calls():
    module = run(
        "builtin.module(inline)",
        """
        func.func @self(%x: i32) -> i32 {
          %y = func.call @self(%x) : (i32) -> i32
          func.return %y : i32
        }
        func.func @even(%x: i32) -> i32 {
          %y = func.call @odd(%x) : (i32) -> i32
          func.return %y : i32
        }
        func.func @odd(%x: i32) -> i32 {
          %y = func.call @even(%x) : (i32) -> i32
          func.return %y : i32
        }""",
    )
    for name in ("self", "even", "odd"):
        assert count(func(module, name), CallOp) == 1


def test_inline_should_inline_a_recursive_function_once_into_an_outside_caller():
    module = run(
        "builtin.module(inline)",
        """
        func.func @self(%x: i32) -> i32 {
          %y = func.call @self(%x) : (i32) -> i32
          func.return %y : i32
        }
        func.func @user(%x: i32) -> i32 {
          %y = func.call @self(%x) : (i32) -> i32
          func.return %y : i32
        }""",
    )
    calls = list(func(module, "user").walk_ops(CallOp))
    assert len(calls) == 1
    assert calls[0].callee.root == "self"


def test_inline_should_skip_declarations_and_multi_block_callees():
    module = run(
        "builtin.module(inline)",
        """
        func.func private @decl(i32) -> i32
        func.func private @branchy(%x: i32) -> i32 {
          "test.terminator"()[^bb1] : () -> ()
        ^bb1:
          func.return %x : i32
        }
        func.func @user(%x: i32) -> i32 {
          %y = func.call @decl(%x) : (i32) -> i32
          %z = func.call @branchy(%y) : (i32) -> i32
          func.return %z : i32
        }""",
    )
    assert count(func(module, "user"), CallOp) == 2


def test_inline_then_canonicalize_folds_across_the_call():
    module = run(
        "builtin.module(inline, canonicalize, symbol-dce)",
        """
        func.func private @add1(%x: i32) -> i32 {
          %c1 = arith.constant 1 : i32
          %y = arith.addi %x, %c1 : i32
          func.return %y : i32
        }
        func.func @main() -> i32 {
          %c41 = arith.constant 41 : i32
          %r = func.call @add1(%c41) : (i32) -> i32
          func.return %r : i32
        }""",
    )
    main = func(module, "main")
    assert symbols(module) == {"main"}
    (const,) = main.walk_ops(ConstantOp)
    assert const.value.value == 42
