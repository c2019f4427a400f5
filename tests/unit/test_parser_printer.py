"""The .gir parser and printer: round trips, SSA naming, and located errors for bad input."""

from __future__ import annotations

import re

import pytest

from dialects import default_context
from irc.diagnostics import IRCError
from irc.location import FileLineColLoc
from irc.verifier import verify
from textual_ir.parser import parse_module
from textual_ir.printer import print_op


def round_trip(text: str, *, generic: bool = False) -> str:
    module = parse_module(text)
    verify(module)
    printed = print_op(module, generic=generic)
    again = parse_module(printed)
    verify(again)
    assert print_op(again, generic=generic) == printed
    return printed


def parse_error(text: str, **kwargs) -> tuple[str, int, int]:
    """(message, line, column) of the error parsing `text` raises."""
    with pytest.raises(IRCError) as info:
        parse_module(text, "input.gir", **kwargs)
    loc = info.value.diagnostic.location
    assert isinstance(loc, FileLineColLoc)
    assert loc.filename == "input.gir"
    return info.value.diagnostic.message, loc.line, loc.column


# ----------------------------------------------------------------------------- round trips
def test_empty_module_generic_round_trip():
    printed = round_trip("module {\n}\n", generic=True)
    assert "^bb0:" in printed
    assert print_op(parse_module(printed)) == "module {\n}\n"


def test_empty_regions_and_empty_blocks_are_kept_apart():
    text = """
    "test.region"() ({
    }, {
    ^bb0:
    }) : () -> ()
    """
    for generic in (False, True):
        printed = round_trip(text, generic=generic)
        op = parse_module(printed).body.first_op
        assert [len(r.blocks) for r in op.regions] == [0, 1]


def test_name_hints_are_kept_and_uniqued():
    printed = round_trip(
        """
        func.func @f(%x: i32, %x_0: i32) {
          %x_1 = "test.pure"() : () -> i32
          %v:2 = "test.pure"() : () -> (i32, i32)
          %a, %b = "test.pure"() : () -> (i32, i32)
          "test.pure"(%v#1, %a, %x_0) : (i32, i32, i32) -> ()
          func.return
        }
        """
    )
    assert "func.func @f(%x: i32, %x_0: i32)" in printed
    assert "%x_1 = test.pure : i32" in printed
    assert "%v:2 = test.pure" in printed
    assert "%a, %b = test.pure" in printed
    assert "test.pure %v#1, %a, %x_0 : i32, i32, i32" in printed


def test_clashing_hints_from_the_python_api_are_uniqued():
    from dialects.arith import ConstantOp
    from dialects.builtin import ModuleOp
    from dialects.func import FuncOp, ReturnOp
    from irc.types import i32

    func = FuncOp.build("f", [i32, i32], [], arg_names=["v", "v"])
    for _ in range(3):
        c = func.entry.append(ConstantOp.build(1, i32))
        c.results[0].name_hint = "v"
    func.entry.append(ReturnOp.build())
    printed = print_op(ModuleOp.build([func]))
    names = re.findall(r"%[\w.$-]+", printed)
    assert names == ["%v", "%v_0", "%v_1", "%v_2", "%v_3"]
    verify(parse_module(printed))


def test_invalid_name_hints_are_sanitized():
    from dialects.arith import ConstantOp
    from dialects.builtin import ModuleOp
    from dialects.func import FuncOp, ReturnOp
    from irc.types import i32

    func = FuncOp.build("f", [], [])
    for hint in ("has space", "x#1", "", "a:2"):
        c = func.entry.append(ConstantOp.build(1, i32))
        c.results[0].name_hint = hint
    func.entry.append(ReturnOp.build())
    printed = print_op(ModuleOp.build([func]))
    verify(parse_module(printed))


def test_numbering_restarts_in_isolated_regions_and_names_block_args():
    printed = round_trip(
        """
        func.func @f(%arg0: i32) {
          %0 = "test.pure"() : () -> i32
          "test.region"() ({
          ^bb0(%1: i32):
            %2 = "test.pure"(%0, %1) : (i32, i32) -> i32
          }) : () -> ()
          func.return
        }
        func.func @g(%arg0: i32) {
          %0 = "test.pure"() : () -> i32
          func.return
        }
        """
    )
    assert printed.count("%0 = test.pure : i32") == 2
    assert "^bb0(%arg1: i32):" in printed
    assert "%1 = test.pure %0, %arg1 : i32" in printed


def test_graph_region_forward_references_print():
    text = """
    "test.graph"() ({
      %0 = "test.pure"(%1) : (i32) -> i32
      %1 = "test.pure"(%0) : (i32) -> i32
      "test.region"() ({
        "test.pure"(%2) : (i32) -> ()
      }) : () -> ()
      %2 = "test.pure"() : () -> i32
    }) : () -> ()
    """
    for generic in (False, True):
        printed = round_trip(text, generic=generic)
        assert "UNKNOWN" not in printed


def test_block_order_need_not_follow_dominance():
    printed = round_trip(
        """
        func.func @f() -> i32 {
          "test.terminator"()[^def] : () -> ()
        ^use:
          func.return %v : i32
        ^def:
          %v = "test.pure"() : () -> i32
          "test.terminator"()[^use] : () -> ()
        }
        """
    )
    assert "func.return %v : i32" in printed


def test_printing_a_nested_op_names_values_defined_outside():
    module = parse_module(
        """
        func.func @f(%x: i32) {
          %0 = "test.pure"() : () -> i32
          "test.region"() ({
          ^bb0(%a: i32):
            %r = "test.pure"(%x, %a, %0) : (i32, i32, i32) -> i32
            "test.pure"(%r) : (i32) -> ()
          }) : () -> ()
          func.return
        }
        """
    )
    region_op = module.body.first_op.entry.args[0].users()[0].parent_op()
    inner = region_op.regions[0].blocks[0].first_op
    text = print_op(inner)
    assert "UNKNOWN" not in text
    assert text.startswith("%r = test.pure %x, %a, %")
    assert "UNKNOWN" not in print_op(region_op)
    assert "UNKNOWN" not in print_op(inner.next_op)
    assert str(inner.next_op) == "test.pure %r : i32\n"


def test_aliases_and_locations():
    text = """
    #loc1 = loc("a.py":3:4)
    !t = tensor<2xf32>
    #arr = [1, 2]
    func.func private @f(!t) attributes {x = #arr} loc(#loc1)
    func.func private @g() loc(#later)
    #later = loc(callsite("x" at fused["y", "z":1:2]))
    """
    module = parse_module(text)
    f, g = module.body.ops
    assert f.location == FileLineColLoc("a.py", 3, 4)
    assert "fused" in str(g.location)
    printed = print_op(module, debuginfo=True)
    assert 'loc("a.py":3:4)' in printed
    assert "func.func private @f(tensor<2xf32>) attributes {x = [1, 2]}" in printed
    assert print_op(parse_module(printed), debuginfo=True) == printed


def test_dense_resources_round_trip():
    text = """
    func.func @f() -> tensor<2xf32> {
      %c = arith.constant dense_resource<w> : tensor<2xf32>
      func.return %c : tensor<2xf32>
    }
    {-#
      dialect_resources: {
        builtin: {
          w: "0x040000000000803F00000040"
        }
      }
    #-}
    """
    printed = round_trip(text)
    assert 'w: "0x040000000000803F00000040"' in printed
    const = parse_module(printed).body.first_op.entry.first_op
    assert const.value.to_numpy().tolist() == [1.0, 2.0]


@pytest.mark.parametrize(
    "literal",
    [
        "dense<[1.5, -0.0]> : tensor<2xf32>",
        "dense<0x7FC00000> : tensor<3xf32>",
        'dense<"0x0000803F00000040"> : tensor<2xf32>',
        "dense<[[1, 2], [3, 4]]> : tensor<2x2xi8>",
        "dense<[true, false]> : tensor<2xi1>",
        "dense<> : tensor<0xf32>",
        "dense<5> : tensor<index>",
    ],
)
def test_dense_literals_round_trip(literal):
    elt_type = literal.rsplit(":", 1)[1].strip()
    text = f"func.func @f() -> {elt_type} {{\n  %c = arith.constant {literal}\n  func.return %c : {elt_type}\n}}\n"
    round_trip(text)
    round_trip(text, generic=True)


def test_special_float_constants_round_trip():
    text = """
    func.func @f() {
      %a = arith.constant 0x7F800000 : f32
      %b = arith.constant -0.0 : f16
      %c = arith.constant 0x7FF8000000000000 : f64
      %d = arith.constant 1.0e-45 : f32
      %e = arith.constant 65504.0 : f16
      %g = arith.constant 0xFF80 : bf16
      func.return
    }
    """
    printed = round_trip(text)
    assert "%a = arith.constant 0x7F800000 : f32" in printed
    assert "%b = arith.constant -0.0 : f16" in printed
    assert "%g = arith.constant 0xFF80 : bf16" in printed
    round_trip(text, generic=True)


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("text", "message", "line", "column"),
    [
        ("func.func @f() {\n  %0 = \n}", "unexpected '}'", 3, 1),
        ("func.func @f() {\n  func.return %x : i32\n}", "use of undeclared SSA value name '%x'", 2, 15),
        ('func.func private @f() attributes {a = "\\zz"}', "invalid escape sequence", 1, 40),
        ('func.func private @"\\q"()', "invalid escape sequence", 1, 19),
        ("func.func private @f() attributes {a = 0x1FFFFFFFF : f32}", "out of range", 1, 40),
        ("func.func private @f() attributes {a = 300 : i8}", "out of range for type 'i8'", 1, 40),
        ("func.func private @f() attributes {a = 1.5 : f80}", "not supported", 1, 40),
        ("func.func private @f() attributes {a = array<i8: 1000>}", "out of range", 1, 40),
        ("func.func private @f() attributes {a = array<f32: 0xFFFFFFFFFFFF>}", "invalid element", 1, 40),
        ("func.func private @f() attributes {a = dense<1> : tensor<99999999999x99999999999xi32>}", "too many", 1, 40),
        ("func.func private @f() attributes {a = dense<[1, [2]]> : tensor<2xi32>}", "invalid dense literal", 1, 40),
        ("func.func private @f() attributes {a = dense<[1, 2]> : tensor<?xi32>}", "statically shaped", 1, 40),
        ('func.func @f() {\n  %c = arith.constant "s" : i32\n  func.return\n}', "expected an integer", 2, 23),
        ("func.func @f() {\n  %c = arith.constant unit\n  func.return\n}", "expected an integer", 2, 23),
        ('func.func @f() {\n  %x:0 = "test.pure"() : () -> ()\n  func.return\n}', "at least one result", 2, 3),
        ("func.func @f() {\n  %x:99999999999 = test.pure : i32\n  func.return\n}", "too many results", 2, 3),
        ('{-# dialect_resources: { builtin: { r: "0x0400000" } } #-}', "malformed resource blob", 1, 1),
        ("#a = 1\n#a = 2\n", "redefinition of attribute alias id 'a'", 2, 1),
        ("func.func private @f() loc(#nowhere)", "undefined location alias", 1, 28),
        ("func.func private @f(!nope)", "undefined symbol alias id 'nope'", 1, 22),
        ("func.func @f() {\n  %a = test.pure : i32\n  %a = test.pure : i32\n  func.return\n}", "redefinition", 3, 3),
        ('func.func @f() {\n  "test.pure"()[^nope] : () -> ()\n}', "undefined block '^nope'", 2, 3),
        ("func.func @f(%a: i32) {\n  %b = arith.cmpf zz, %a, %a : f32\n}", "expected one of", 2, 19),
        ("foo.bar", "dialect 'foo' is not registered", 1, 1),
        ('"foo.bar"() : () -> ()', "unregistered dialect", 1, 1),
    ],
)
def test_errors_are_located(text, message, line, column):
    got, got_line, got_column = parse_error(text)
    assert message in got
    assert (got_line, got_column) == (line, column)


@pytest.mark.parametrize(
    "text",
    [
        '"test.region"() ({ ' * 200 + "}) : () -> () " * 200,
        "func.func private @f() attributes {a = " + "[" * 5000 + "]" * 5000 + "}",
        "func.func private @f(" + "tuple<" * 3000 + "i32" + ">" * 3000 + ")",
        "func.func private @f(" + "() -> " * 3000 + "i32)",
        "func.func private @f() loc(" + '"a"(' * 3000 + '"b"' + ")" * 3000 + ")",
    ],
)
def test_deep_nesting_is_a_located_error(text):
    message, line, _ = parse_error(text)
    assert "nested too deeply" in message
    assert line == 1


def test_nesting_below_the_limit_prints_and_verifies():
    depth = 30
    text = '"test.region"() ({ ' * depth + "}) : () -> () " * depth
    round_trip(text)
    text = "func.func private @f() attributes {a = " + "[" * 60 + "]" * 60 + "}"
    round_trip(text)


def test_unregistered_ops_need_the_flag():
    text = '%0 = "foo.bar"() {a = #foo.attr<1>} : () -> !foo.type<x>'
    with pytest.raises(IRCError, match="dialect 'foo' is unknown"):
        parse_module(text)
    module = parse_module(text, ctx=default_context(allow_unregistered=True))
    printed = print_op(module)
    assert '%0 = "foo.bar"() {a = #foo.attr<1>} : () -> !foo.type<x>' in printed


def test_location_alias_cycles_are_located_errors():
    message, line, column = parse_error('#a = loc(#b)\n#b = loc("x"(#a))\nfunc.func private @f() loc(#a)\n')
    assert "location alias '#a' refers to itself" in message
    assert (line, column) == (2, 14)


def test_aliases_of_aliases_are_bounded():
    chain = "!t0 = i32\n" + "\n".join(f"!t{i + 1} = tuple<!t{i}>" for i in range(200))
    message, _, _ = parse_error(chain)
    assert "nested too deeply" in message
    doubling = "#a0 = [1]\n" + "\n".join(f"#a{i + 1} = [#a{i}, #a{i}]" for i in range(40))
    message, line, _ = parse_error(doubling)
    assert "more than 1048576 parts" in message
    assert line == 20


def test_resource_marker_inside_strings_and_comments_is_text():
    printed = round_trip('func.func private @f() attributes {a = "x{-#y"} // {-# not a section\n')
    assert '"x{-#y"' in printed


def test_mlir_flag_keywords_and_boolean_cmpf_predicates():
    text = """
    func.func @f(%x: f32, %a: i64) {
      %0 = arith.addf %x, %x fastmath<fast> : f32
      %1 = arith.cmpf olt, %x, %x fastmath<nnan> : f32
      %2 = arith.addi %a, %a overflow<nsw> : i64
      %3 = arith.trunci %a overflow<nsw, nuw> : i64 to i32
      %4 = arith.negf %x fastmath<nnan,ninf> : f32
      %5 = arith.cmpf false, %x, %x : f32
      %6 = arith.cmpf true, %x, %x : f32
      func.return
    }
    """
    printed = round_trip(text)
    assert "arith.addf %x, %x fastmath<fast> : f32" in printed
    assert "arith.cmpf olt, %x, %x fastmath<nnan> : f32" in printed
    assert "arith.addi %a, %a overflow<nsw> : i64" in printed
    assert "arith.trunci %a overflow<nsw, nuw> : i64 to i32" in printed
    assert "arith.negf %x fastmath<nnan,ninf> : f32" in printed
    assert "arith.cmpf false, %x, %x : f32" in printed
    assert "arith.cmpf true, %x, %x : f32" in printed
    message, line, column = parse_error("func.func @f(%x: f32) {\n  %0 = arith.addf %x, %x fastmath<zz> : f32\n}")
    assert "unknown fastmath flag 'zz'" in message
    assert (line, column) == (2, 26)
    message, _, _ = parse_error("func.func @f(%a: i64) {\n  %0 = arith.divsi %a, %a overflow<nsw> : i64\n}")
    assert "did not expect 'overflow<nsw>'" in message
