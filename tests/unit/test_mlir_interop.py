"""Interop with MLIR's own `mlir-opt` (DESIGN.md, "Interop check").

(a) what `irc-opt --print-generic` prints parses with `mlir-opt --allow-unregistered-dialect`;
(b) MLIR generic files of builtin, func and arith (as `mlir-opt --mlir-print-op-generic
    --mlir-print-debuginfo` prints them) parse with `irc-opt`, and print back equivalently:
    mlir-opt's canonical print of irc-opt's generic output equals its print of the original.

Skipped when no `mlir-opt` is installed (Debian: `apt install mlir-22-tools`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _find_mlir_opt() -> str | None:
    for name in ("mlir-opt", "mlir-opt-22"):
        found = shutil.which(name)
        if found is not None:
            return found
    path = "/usr/lib/llvm-22/bin/mlir-opt"
    return path if os.path.exists(path) else None


def _find_irc_opt() -> list[str]:
    script = Path(sys.executable).parent / "irc-opt"
    if script.exists():
        return [str(script)]
    script = REPO / ".venv" / "bin" / "irc-opt"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from tools.irc_opt import main; sys.exit(main())"]


MLIR_OPT = _find_mlir_opt()
IRC_OPT = _find_irc_opt()

pytestmark = pytest.mark.skipif(
    MLIR_OPT is None,
    reason="mlir-opt not found (looked for mlir-opt, mlir-opt-22 on PATH and /usr/lib/llvm-22/bin/mlir-opt)",
)


def _run(cmd: list[str], text: str, what: str) -> str:
    proc = subprocess.run(cmd, input=text, capture_output=True, text=True, timeout=120, cwd=REPO, check=False)
    if proc.returncode != 0:
        command = " ".join(cmd)
        pytest.fail(
            f"{what} failed (exit {proc.returncode}): {command}\n--- input ---\n{text}\n--- stderr ---\n{proc.stderr}"
        )
    return proc.stdout


def irc_opt(text: str, *flags: str) -> str:
    return _run([*IRC_OPT, *flags, "-"], text, "irc-opt")


def mlir_opt(text: str, *flags: str) -> str:
    assert MLIR_OPT is not None
    return _run([MLIR_OPT, *flags, "-"], text, "mlir-opt")


def mlir_canonical(text: str) -> str:
    """mlir-opt's generic print without locations: the form two equivalent files share."""
    return mlir_opt(text, "--mlir-print-op-generic", "--allow-unregistered-dialect")


# ----------------------------------------------------------------------------- (a) gir -> MLIR
# Debian's mlir-opt registers MLIR's own `test` dialect (which accepts unknown ops), so gir's
# test ops must also satisfy MLIR's versions: `test.symbol` sits in a symbol table (the module).
GIR_CASES = {
    "arith_scalar": """
func.func @poly(%x: f32, %i: i32) -> (f32, i1) {
  %one = arith.constant 1.0 : f32
  %two = arith.constant 2.5 : f32
  %s = arith.addf %one, %two : f32
  %m = arith.mulf %x, %s : f32
  %d = arith.subf %m, %one : f32
  %c = arith.constant 7 : i32
  %a = arith.addi %i, %c : i32
  %p = arith.cmpi slt, %a, %c : i32
  %q = arith.cmpf olt, %d, %x : f32
  %r = arith.select %p, %d, %x : f32
  func.return %r, %q : f32, i1
}
""",
    "casts_and_constants": """
func.func @casts(%a: i32, %f: f32) -> (i64, f64, index) {
  %e = arith.extsi %a : i32 to i64
  %g = arith.extf %f : f32 to f64
  %n = arith.index_cast %a : i32 to index
  %t = arith.constant true
  %b = arith.constant -1 : i8
  %h = arith.constant 0.5 : f16
  %v = arith.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  %z = arith.constant dense<0> : tensor<2x3xi32>
  func.return %e, %g, %n : i64, f64, index
}
""",
    "calls_and_decls": """
func.func private @ext(i32) -> i32
func.func @callee(%x: i32) -> i32 {
  %y = func.call @ext(%x) : (i32) -> i32
  func.return %y : i32
}
func.func @caller(%x: i32) -> i32 {
  %y = func.call @callee(%x) : (i32) -> i32
  %z = func.call @callee(%y) : (i32) -> i32
  func.return %z : i32
}
""",
    "test_ops": """
func.func @t(%x: i32) -> i32 {
  %a = test.pure %x : (i32) -> i32
  %b = test.commutative %a, %x : (i32, i32) -> i32
  test.effect %b : i32
  %r = "test.region"(%b) ({
    %c = test.pure %x : (i32) -> i32
  }) : (i32) -> i32
  "test.isolated"() ({
  ^bb0(%arg: i32):
    %d = test.pure %arg : (i32) -> i32
  }) : () -> ()
  "test.graph"() ({
    %u = test.pure %w : (i32) -> i32
    %w = test.pure %x : (i32) -> i32
  }) : () -> ()
  func.return %r : i32
}
"test.symbol"() <{sym_name = "s"}> : () -> ()
""",
    "unicode_and_attrs": """
func.func @attrs() attributes {note = "a \\"quoted\\" string\\n", flags = [1, 2.5, "x", unit], nested = {k = 1 : i8}} {
  "test.effect"() {arr = array<i64: 1, 2, 3>, ty = tensor<2x?xf32>, sym = @attrs, b = false} : () -> ()
  func.return
}
""",
}


@pytest.mark.parametrize("name", sorted(GIR_CASES))
def test_irc_generic_output_parses_with_mlir_opt(name: str) -> None:
    generic = irc_opt(GIR_CASES[name], "--print-generic")
    mlir_opt(generic, "--allow-unregistered-dialect")


@pytest.mark.parametrize("name", sorted(GIR_CASES))
def test_irc_generic_output_with_locations_parses_with_mlir_opt(name: str) -> None:
    generic = irc_opt(GIR_CASES[name], "--print-generic", "--print-debuginfo")
    mlir_opt(generic, "--allow-unregistered-dialect", "--mlir-print-debuginfo")


# The test dialect's pretty form is gir's own syntax, which MLIR does not read.
_MLIR_READABLE_PRETTY = [n for n in sorted(GIR_CASES) if n not in ("test_ops", "unicode_and_attrs")]


@pytest.mark.parametrize("name", _MLIR_READABLE_PRETTY)
def test_irc_pretty_and_generic_outputs_agree_in_mlir(name: str) -> None:
    """The pretty and generic prints of one module are the same module to mlir-opt."""
    pretty = irc_opt(GIR_CASES[name])
    generic = irc_opt(GIR_CASES[name], "--print-generic")
    assert mlir_canonical(pretty) == mlir_canonical(generic)


# ----------------------------------------------------------------------------- (b) MLIR -> gir
_BIG = ", ".join(f"{i * 0.25 - 3.0:.2f}" for i in range(130))

MLIR_CASES = {
    "int_binary": """
func.func @int_binary(%a: i32, %b: i32) -> i32 {
  %0 = arith.addi %a, %b : i32
  %1 = arith.subi %0, %b overflow<nsw> : i32
  %2 = arith.muli %1, %a overflow<nsw, nuw> : i32
  %3 = arith.divsi %2, %b : i32
  %4 = arith.divui %3, %b : i32
  %5 = arith.ceildivsi %4, %b : i32
  %6 = arith.floordivsi %5, %b : i32
  %7 = arith.remsi %6, %b : i32
  %8 = arith.remui %7, %b : i32
  %9 = arith.andi %8, %a : i32
  %10 = arith.ori %9, %a : i32
  %11 = arith.xori %10, %a : i32
  %12 = arith.shli %11, %b overflow<nuw> : i32
  %13 = arith.shrsi %12, %b : i32
  %14 = arith.shrui %13, %b : i32
  %15 = arith.maxsi %14, %a : i32
  %16 = arith.minsi %15, %a : i32
  %17 = arith.maxui %16, %a : i32
  %18 = arith.minui %17, %a : i32
  %19 = arith.addi %18, %a overflow<nuw> : i32
  return %19 : i32
}
""",
    "index_and_vectors": """
func.func @index_and_vectors(%i: index, %j: index, %v: vector<4xi32>, %t: tensor<2x3xi64>)
    -> (index, vector<4xi32>, tensor<2x3xi64>) {
  %0 = arith.addi %i, %j : index
  %1 = arith.muli %0, %j : index
  %2 = arith.addi %v, %v : vector<4xi32>
  %3 = arith.subi %t, %t : tensor<2x3xi64>
  return %1, %2, %3 : index, vector<4xi32>, tensor<2x3xi64>
}
""",
    "float_binary": """
func.func @float_binary(%a: f32, %b: f32, %c: f64, %h: f16) -> (f32, f64, f16) {
  %0 = arith.addf %a, %b : f32
  %1 = arith.subf %0, %b fastmath<fast> : f32
  %2 = arith.mulf %1, %a fastmath<nnan,ninf> : f32
  %3 = arith.divf %2, %b fastmath<reassoc,nsz,arcp,contract,afn> : f32
  %4 = arith.remf %3, %b : f32
  %5 = arith.maximumf %4, %a : f32
  %6 = arith.minimumf %5, %a : f32
  %7 = arith.maxnumf %6, %a : f32
  %8 = arith.minnumf %7, %a fastmath<nnan> : f32
  %9 = arith.negf %8 : f32
  %10 = arith.negf %9 fastmath<fast> : f32
  %11 = arith.addf %c, %c : f64
  %12 = arith.mulf %h, %h : f16
  return %10, %11, %12 : f32, f64, f16
}
""",
    "compare_select": """
func.func @compare_select(%a: i32, %b: i32, %x: f32, %y: f32) -> (i1, f32, i32) {
  %0 = arith.cmpi eq, %a, %b : i32
  %1 = arith.cmpi ne, %a, %b : i32
  %2 = arith.cmpi slt, %a, %b : i32
  %3 = arith.cmpi sle, %a, %b : i32
  %4 = arith.cmpi sgt, %a, %b : i32
  %5 = arith.cmpi sge, %a, %b : i32
  %6 = arith.cmpi ult, %a, %b : i32
  %7 = arith.cmpi ule, %a, %b : i32
  %8 = arith.cmpi ugt, %a, %b : i32
  %9 = arith.cmpi uge, %a, %b : i32
  %10 = arith.cmpf false, %x, %y : f32
  %11 = arith.cmpf oeq, %x, %y : f32
  %12 = arith.cmpf ogt, %x, %y : f32
  %13 = arith.cmpf oge, %x, %y : f32
  %14 = arith.cmpf olt, %x, %y : f32
  %15 = arith.cmpf ole, %x, %y : f32
  %16 = arith.cmpf one, %x, %y : f32
  %17 = arith.cmpf ord, %x, %y : f32
  %18 = arith.cmpf ueq, %x, %y : f32
  %19 = arith.cmpf ugt, %x, %y : f32
  %20 = arith.cmpf uge, %x, %y : f32
  %21 = arith.cmpf ult, %x, %y : f32
  %22 = arith.cmpf ule, %x, %y : f32
  %23 = arith.cmpf une, %x, %y fastmath<nnan> : f32
  %24 = arith.cmpf uno, %x, %y : f32
  %25 = arith.cmpf true, %x, %y : f32
  %26 = arith.select %2, %x, %y : f32
  %27 = arith.select %14, %a, %b : i32
  return %25, %26, %27 : i1, f32, i32
}
""",
    "casts": """
func.func @casts(%a: i32, %f: f32, %i: index, %d: f64) -> i32 {
  %0 = arith.extsi %a : i32 to i64
  %1 = arith.extui %a : i32 to i64
  %2 = arith.trunci %0 : i64 to i16
  %3 = arith.sitofp %a : i32 to f32
  %4 = arith.uitofp %a : i32 to f64
  %5 = arith.fptosi %f : f32 to i32
  %6 = arith.fptoui %f : f32 to i64
  %7 = arith.extf %f : f32 to f64
  %8 = arith.truncf %d : f64 to f32
  %9 = arith.truncf %d : f64 to f16
  %10 = arith.index_cast %a : i32 to index
  %11 = arith.index_cast %i : index to i64
  %12 = arith.index_castui %a : i32 to index
  %13 = arith.bitcast %f : f32 to i32
  %14 = arith.bitcast %a : i32 to f32
  %15 = arith.extsi %a : i32 to i64
  return %13 : i32
}
""",
    "scalar_constants": """
func.func @scalar_constants() -> (i1, i1, i8, i32, i64, index, f32, f64, f16, bf16) {
  %t = arith.constant true
  %f = arith.constant false
  %b = arith.constant -1 : i8
  %c = arith.constant 255 : i8
  %i = arith.constant 2147483647 : i32
  %j = arith.constant -9223372036854775808 : i64
  %k = arith.constant 42 : index
  %x = arith.constant 1.000000e+00 : f32
  %y = arith.constant 0.1 : f32
  %z = arith.constant -2.5e-10 : f64
  %w = arith.constant 3.0e+38 : f32
  %h = arith.constant 6.550400e+04 : f16
  %g = arith.constant 1.5 : bf16
  %tiny = arith.constant 1.401298e-45 : f32
  %negzero = arith.constant -0.0 : f32
  return %t, %f, %b, %i, %j, %k, %x, %z, %h, %g : i1, i1, i8, i32, i64, index, f32, f64, f16, bf16
}
""",
    "special_floats": """
func.func @special_floats() -> (f32, f32, f32, f64, f64, f16) {
  %inf = arith.constant 0x7F800000 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %nan = arith.constant 0x7FC00000 : f32
  %dnan = arith.constant 0x7FF8000000000000 : f64
  %dinf = arith.constant 0x7FF0000000000000 : f64
  %hnan = arith.constant 0x7E00 : f16
  %snan = arith.constant 0x7FA00000 : f32
  return %inf, %ninf, %nan, %dnan, %dinf, %hnan : f32, f32, f32, f64, f64, f16
}
""",
    "dense_constants": f"""
func.func @dense_constants() -> (tensor<4xf32>, tensor<2x2xi32>, tensor<3xi1>) {{
  %0 = arith.constant dense<[1.0, 2.5, -3.0, 4.0e+10]> : tensor<4xf32>
  %1 = arith.constant dense<[[1, 2], [3, 4]]> : tensor<2x2xi32>
  %2 = arith.constant dense<0.0> : tensor<8x8xf32>
  %3 = arith.constant dense<[true, false, true]> : tensor<3xi1>
  %4 = arith.constant dense<7> : tensor<2x3xi64>
  %5 = arith.constant dense<[{_BIG}]> : tensor<130xf32>
  %6 = arith.constant dense<[0x7FC00000, 0x7F800000, 1.0]> : tensor<3xf32>
  %7 = arith.constant dense<[1, -2, 3]> : vector<3xi8>
  return %0, %1, %3 : tensor<4xf32>, tensor<2x2xi32>, tensor<3xi1>
}}
""",
    "calls_and_module_attrs": """
module attributes {test.flag, test.name = "m"} {
  func.func private @ext(i32, f32) -> i32
  func.func private @noresult()
  func.func @leaf(%x: i32) -> i32 {
    %c = arith.constant 1 : i32
    %y = arith.addi %x, %c : i32
    return %y : i32
  }
  func.func @caller(%x: i32, %f: f32) -> (i32, i32) {
    %a = call @leaf(%x) : (i32) -> i32
    %b = call @ext(%a, %f) : (i32, f32) -> i32
    call @noresult() : () -> ()
    return %a, %b : i32, i32
  }
  func.func public @empty() {
    return
  }
}
""",
    "func_attrs": """
func.func @func_attrs(%x: i32 {test.arg = 1 : i32}, %y: f32) -> (i32 {test.res})
    attributes {test.fn = [1, 2], llvm.emit_c_interface} {
  return %x : i32
}
""",
    "dense_resource": """
func.func @weights() -> tensor<3xf32> {
  %0 = arith.constant dense_resource<w0> : tensor<3xf32>
  return %0 : tensor<3xf32>
}
{-#
  dialect_resources: {
    builtin: {
      w0: "0x040000000000803F0000004000004040"
    }
  }
#-}
""",
    "nested_modules": """
module @outer {
  module @inner attributes {test.x = 2 : i8} {
    func.func private @decl(tensor<?x4xf32>, memref<2x3xf32>) -> (i1, index)
  }
  func.func @f(%a: tensor<2x?xf32>, %b: tuple<i32, f32>, %c: complex<f32>) -> tensor<2x?xf32> {
    return %a : tensor<2x?xf32>
  }
}
""",
}


_GENERIC_CACHE: dict[str, str] = {}


def mlir_generic(name: str) -> str:
    """MLIR case `name` as mlir-opt prints it: generic form, with locations (cached)."""
    text = _GENERIC_CACHE.get(name)
    if text is None:
        text = mlir_opt(
            MLIR_CASES[name], "--mlir-print-op-generic", "--mlir-print-debuginfo", "--allow-unregistered-dialect"
        )
        _GENERIC_CACHE[name] = text
    return text


@pytest.mark.parametrize("name", sorted(MLIR_CASES))
def test_irc_opt_reads_mlir_generic_output(name: str) -> None:
    irc_opt(mlir_generic(name), "--allow-unregistered-dialect")


@pytest.mark.parametrize("name", sorted(MLIR_CASES))
def test_irc_opt_reads_mlir_generic_output_without_locations(name: str) -> None:
    """As above without `--mlir-print-debuginfo` (no `#loc` aliases), so location syntax and
    the rest fail separately."""
    generic = mlir_opt(MLIR_CASES[name], "--mlir-print-op-generic", "--allow-unregistered-dialect")
    ours = irc_opt(generic, "--print-generic", "--allow-unregistered-dialect")
    assert mlir_canonical(ours) == mlir_canonical(MLIR_CASES[name])


@pytest.mark.parametrize("name", sorted(MLIR_CASES))
def test_irc_opt_prints_mlir_generic_back_equivalently(name: str) -> None:
    ours = irc_opt(mlir_generic(name), "--print-generic", "--allow-unregistered-dialect")
    assert mlir_canonical(ours) == mlir_canonical(MLIR_CASES[name])


@pytest.mark.parametrize("name", sorted(MLIR_CASES))
def test_irc_opt_pretty_print_of_mlir_is_equivalent(name: str) -> None:
    """gir's pretty forms of builtin/func/arith are MLIR's, so mlir-opt reads them too."""
    ours = irc_opt(mlir_generic(name), "--allow-unregistered-dialect")
    assert mlir_canonical(ours) == mlir_canonical(MLIR_CASES[name])


@pytest.mark.parametrize("name", sorted(MLIR_CASES))
def test_irc_opt_keeps_mlir_locations(name: str) -> None:
    ours = irc_opt(mlir_generic(name), "--print-generic", "--print-debuginfo", "--allow-unregistered-dialect")
    again = mlir_opt(ours, "--mlir-print-op-generic", "--mlir-print-debuginfo", "--allow-unregistered-dialect")
    assert again == mlir_generic(name)
