"""The reference interpreter (irc.interpreter) and irc-run, on func and arith IR.

The tensor ops themselves are checked op by op in test_tensor_reference.py; here: choosing
the entry function, input checks, calls, constants, the located error for an op without
semantics, the checks on what a `reference` returns, and the irc-run command line.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import irc
from dialects.test import PureOp
from irc.diagnostics import IRCError
from irc.interpreter import argument_names, find_entry, interpret, result_names
from irc.location import file_location
from irc.verifier import verify
from textual_ir.parser import parse_module
from tools import irc_run

POLY = """\
func.func @poly(%x: f32) -> f32 {
  %three = arith.constant 3.0 : f32
  %a = arith.mulf %x, %three : f32
  %b = arith.addf %a, %x : f32
  func.return %b : f32
}
"""

TWO = """\
func.func private @twice(%v: i32) -> i32 {
  %s = arith.addi %v, %v : i32
  func.return %s : i32
}
func.func @main(%x: i32, %y: i32) -> (i32 {irc.name = "sum"}, i32) {
  %t = func.call @twice(%x) : (i32) -> i32
  %u = arith.addi %t, %y : i32
  func.return %u, %x : i32, i32
}
"""


def parse(text: str, name: str = "t.gir"):
    module = parse_module(text, name)
    verify(module)
    return module


def test_runs_the_only_public_function() -> None:
    (out,) = interpret(parse(POLY), np.float32(2.0))
    assert out.dtype == np.float32
    assert out.shape == ()
    assert out == np.float32(8.0)


def test_python_scalars_take_the_argument_dtype() -> None:
    (out,) = interpret(parse(POLY), 2.0)
    assert out.dtype == np.float32


def test_irc_interpret_is_the_lazy_export() -> None:
    assert irc.interpret(parse(POLY), 1.0)[0] == np.float32(4.0)


def test_calls_and_several_results() -> None:
    module = parse(TWO)
    s, x = interpret(module, np.int32(5), np.int32(1))
    assert (int(s), int(x)) == (11, 5)
    func = find_entry(module)
    assert argument_names(func) == ["x", "y"]
    assert result_names(func) == ["sum", "result1"]


def test_main_is_the_default_among_several_public_functions() -> None:
    module = parse(POLY + TWO.replace("func.func private", "func.func"))
    assert find_entry(module).get_attr("sym_name").value == "main"
    assert int(interpret(module, np.int32(1), np.int32(1), entry=None)[0]) == 3
    assert interpret(module, 1.0, entry="poly")[0] == np.float32(4.0)


def test_no_entry_to_choose() -> None:
    module = parse(POLY + POLY.replace("@poly", "@other"))
    with pytest.raises(ValueError, match=r"cannot choose an entry function.*@poly, @other"):
        interpret(module, 1.0)
    with pytest.raises(ValueError, match=r"no function @nope"):
        interpret(module, 1.0, entry="nope")


def test_wrong_input_names_the_argument_and_both_shapes() -> None:
    module = parse("""\
func.func @main(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  func.return %x : tensor<2x3xf32>
}
""")
    with pytest.raises(ValueError, match=r"%x .*\(2, 3\).*float32.*\(3, 2\).*float32"):
        interpret(module, np.zeros((3, 2), np.float32))
    with pytest.raises(ValueError, match=r"%x .*float32.*float64"):
        interpret(module, np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"takes 1 argument"):
        interpret(module)
    (out,) = interpret(module, np.ones((2, 3), np.float32))
    assert out.flags.writeable


def test_returned_constants_are_writable_copies() -> None:
    module = parse("""\
func.func @main() -> tensor<2xf32> {
  %c = arith.constant dense<[1.0, 2.0]> : tensor<2xf32>
  func.return %c : tensor<2xf32>
}
""")
    (out,) = interpret(module)
    out[0] = 5.0
    np.testing.assert_array_equal(interpret(module)[0], [1.0, 2.0])


def test_op_without_semantics_is_a_located_error() -> None:
    module = parse(
        """\
func.func @main(%x: f32) -> f32 {
  %y = "test.pure"(%x) : (f32) -> f32
  func.return %y : f32
}
""",
        "pure.gir",
    )
    with pytest.raises(IRCError, match=r"'test\.pure' op cannot be interpreted") as info:
        interpret(module, 1.0)
    loc = file_location(info.value.diagnostic.location)
    assert (loc.filename, loc.line, loc.column) == ("pure.gir", 2, 3)


PURE = """\
func.func @main(%x: tensor<3xf32>) -> tensor<3xf32> {
  %y = "test.pure"(%x) : (tensor<3xf32>) -> tensor<3xf32>
  func.return %y : tensor<3xf32>
}
"""


def test_reference_is_called_with_the_operand_arrays(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(PureOp, "reference", lambda self, x: [x * 2], raising=False)
    (out,) = interpret(parse(PURE), np.arange(3, dtype=np.float32))
    np.testing.assert_array_equal(out, [0.0, 2.0, 4.0])


@pytest.mark.parametrize(
    ("returned", "message"),
    [
        (lambda x: [x.astype(np.float64)], r"dtype float64, but the result type 'tensor<3xf32>'"),
        (lambda x: [x[:2]], r"shape \(2,\)"),
        (lambda x: x, r"instead of a list of 1 array"),
    ],
)
def test_reference_results_are_checked(monkeypatch: pytest.MonkeyPatch, returned, message: str) -> None:
    monkeypatch.setattr(PureOp, "reference", lambda self, x: returned(x), raising=False)
    with pytest.raises(IRCError, match=message):
        interpret(parse(PURE), np.zeros(3, np.float32))


def test_reference_failure_is_a_located_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(self, x):
        raise ValueError("bad input")

    monkeypatch.setattr(PureOp, "reference", boom, raising=False)
    with pytest.raises(IRCError, match=r"'test\.pure' op failed in the interpreter: ValueError: bad input"):
        interpret(parse(PURE), np.zeros(3, np.float32))


def test_import_irc_does_not_import_numpy_or_dialects() -> None:
    code = "import sys, irc; print('numpy' in sys.modules, any(m.startswith('dialects') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


# ----------------------------------------------------------------------------- irc-run
@pytest.fixture
def two_file(tmp_path):
    path = tmp_path / "two.gir"
    path.write_text(TWO)
    return path


def test_irc_run_prints_named_outputs(two_file, tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    np.save(tmp_path / "x.npy", np.array(4, np.int32))
    np.save(tmp_path / "y.npy", np.array(2, np.int32))
    argv = [str(two_file), "--interpret", "--print", "--input", f"x={tmp_path / 'x.npy'}", "--input"]
    assert irc_run.main([*argv, f"y={tmp_path / 'y.npy'}"]) == 0
    assert capsys.readouterr().out == "sum: shape (), dtype int32\n10\nresult1: shape (), dtype int32\n4\n"


def test_irc_run_inputs_npz_and_out(two_file, tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    np.savez(tmp_path / "in.npz", x=np.array(1, np.int32), y=np.array(7, np.int32))
    out = tmp_path / "out.npz"
    assert irc_run.main([str(two_file), "--interpret", "--inputs", str(tmp_path / "in.npz"), "--out", str(out)]) == 0
    with np.load(out) as data:
        assert sorted(data.files) == ["result1", "sum"]
        assert int(data["sum"]) == 9


def test_irc_run_random_inputs_are_seeded(two_file, capsys: pytest.CaptureFixture[str]) -> None:
    runs = []
    for seed in ("3", "3"):
        assert irc_run.main([str(two_file), "--interpret", "--print", "--seed", seed]) == 0
        runs.append(capsys.readouterr().out)
    assert runs[0] == runs[1]


def test_irc_run_wrong_input_is_located(two_file, tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    np.save(tmp_path / "x.npy", np.zeros((2, 2), np.int32))
    assert irc_run.main([str(two_file), "--interpret", "--input", f"x={tmp_path / 'x.npy'}"]) == 1
    err = capsys.readouterr().err
    assert "two.gir:5:1: error: argument %x of @main: expected 'i32' (shape (), dtype int32)" in err
    assert "got an array of shape (2, 2) and dtype int32" in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--input", "z=a.npy"], "no argument named 'z' (the arguments are: 'x', 'y')"),
        (["--input", "x"], "--input expects NAME=FILE.npy"),
        (["--inputs", "missing.npz"], "could not read 'missing.npz'"),
        (["--entry", "nope"], "no function @nope in the module (functions: @twice, @main)"),
    ],
)
def test_irc_run_usage_errors(two_file, capsys: pytest.CaptureFixture[str], extra: list[str], message: str) -> None:
    assert irc_run.main([str(two_file), "--interpret", *extra]) == 1
    assert message in capsys.readouterr().err


def test_irc_run_parse_error_is_located(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.gir"
    path.write_text("func.func @main() {\n  %x = arith.constant : f32\n}\n")
    assert irc_run.main([str(path), "--interpret"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{path}:2:")
    assert "Traceback" not in err


def test_irc_run_backend_not_built(two_file, capsys: pytest.CaptureFixture[str]) -> None:
    assert irc_run.main([str(two_file), "--target", "opencl"]) == 1
    assert "the OpenCL backend is not built yet" in capsys.readouterr().err
