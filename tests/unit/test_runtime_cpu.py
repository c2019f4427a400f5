"""The CPU runtime (irc.runtime.cpu) and irc.compile: calling conventions, input checks, the
arena, the disk cache, external globals, and `irc-run --target cpu`."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import irc
from irc.api import needs_lowering
from irc.diagnostics import IRCError
from irc.runtime import cpu
from textual_ir.parser import parse_module
from tools import irc_run

ADD = """
func.func @add(%x: memref<3x4xf32>, %y: memref<3x4xf32>, %sum: memref<3x4xf32> {irc.result = 0 : i64, irc.name = "sum"},
               %diff: memref<3x4xf32> {irc.result = 1 : i64}) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c3 = arith.constant 3 : index
  %c4 = arith.constant 4 : index
  loop.parallel (%i, %j) = (%c0, %c0) to (%c3, %c4) step (%c1, %c1) {
    %a = memref.load %x[%i, %j] : memref<3x4xf32>
    %b = memref.load %y[%i, %j] : memref<3x4xf32>
    %s = arith.addf %a, %b : f32
    %d = arith.subf %a, %b : f32
    memref.store %s, %sum[%i, %j] : memref<3x4xf32>
    memref.store %d, %diff[%i, %j] : memref<3x4xf32>
    loop.yield
  }
  func.return
}
func.func @neg(%x: memref<3x4xf32>, %out: memref<3x4xf32> {irc.result = 0 : i64}) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c3 = arith.constant 3 : index
  %c4 = arith.constant 4 : index
  loop.parallel (%i, %j) = (%c0, %c0) to (%c3, %c4) step (%c1, %c1) {
    %a = memref.load %x[%i, %j] : memref<3x4xf32>
    %n = arith.negf %a : f32
    memref.store %n, %out[%i, %j] : memref<3x4xf32>
    loop.yield
  }
  func.return
}
"""

X = np.arange(12, dtype=np.float32).reshape(3, 4)
Y = np.full((3, 4), 0.5, dtype=np.float32)


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("IRC_NO_CACHE", raising=False)


@pytest.fixture(scope="module")
def exe():
    return irc.compile(ADD, cache=False)


def test_three_ways_to_call(exe) -> None:
    s, d = exe.add(X, Y)
    np.testing.assert_array_equal(s, X + Y)
    np.testing.assert_array_equal(d, X - Y)
    np.testing.assert_array_equal(exe["add"](X, y=Y)[0], X + Y)
    np.testing.assert_array_equal(exe["@neg"](X), -X)  # one output: an array, not a tuple
    outs = exe.run("add", {"x": X, "y": Y})
    assert list(outs) == ["sum", "result1"]
    np.testing.assert_array_equal(outs["result1"], X - Y)
    assert "add" in exe
    assert "mul" not in exe
    assert sorted(exe.functions) == ["add", "neg"]


def test_outputs_are_fresh_aligned_arrays(exe) -> None:
    a, _ = exe.add(X, Y)
    b, _ = exe.add(X, Y)
    assert a.ctypes.data != b.ctypes.data
    assert a.ctypes.data % 64 == 0
    assert a.flags.c_contiguous
    assert a.flags.writeable


def test_dropped_outputs_are_recycled_and_held_ones_are_not(exe) -> None:
    held = exe["neg"](X)
    view = held[1:]
    address = held.ctypes.data
    del held
    for _ in range(3):  # a view keeps the memory: later calls get other buffers
        out = exe["neg"](X + 1)
        assert out.ctypes.data != address
        del out
    np.testing.assert_array_equal(view, -X[1:])
    del view
    assert exe["neg"](X).ctypes.data == address  # the memory came back to the pool


def test_the_pool_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    pool = cpu.BufferPool()
    monkeypatch.setattr(cpu.BufferPool, "MAX_CACHED_BYTES", 1024)
    arrays = [pool.take((100,), np.dtype(np.float32)) for _ in range(5)]
    del arrays
    assert pool._cached <= 1024
    assert sum(len(v) for v in pool._free.values()) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((X.T, Y), r"argument %x of @add: expected an array of shape \(3, 4\) and dtype float32, got an array of "
                   r"shape \(4, 3\) and dtype float32"),
        ((X, Y.astype(np.float64)), r"argument %y of @add: .*got an array of shape \(3, 4\) and dtype float64"),
        ((X, Y, Y), r"@add takes 2 argument\(s\) \(%x, %y\), but 3 were given"),
        ((X,), r"@add: missing argument\(s\) %y"),
    ],
)  # fmt: skip
def test_wrong_inputs_raise_value_errors(exe, args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        exe.add(*args)


def test_wrong_names_raise_value_errors(exe) -> None:
    with pytest.raises(ValueError, match="@add has no argument named 'z'"):
        exe.run("add", {"x": X, "z": Y})
    with pytest.raises(KeyError, match="no function @mul"):
        exe["mul"]
    with pytest.raises(AttributeError):
        _ = exe.mul


def test_non_contiguous_byte_swapped_and_overlapping_inputs(exe) -> None:
    big = np.arange(48, dtype=np.float32).reshape(6, 8)
    strided = big[::2, 1::2]
    swapped = Y.astype(">f4")
    s, _ = exe.add(strided, swapped)
    np.testing.assert_array_equal(s, strided + 0.5)
    s, d = exe.add(X, X)  # the same buffer twice: copied, so the code's noalias holds
    np.testing.assert_array_equal(s, 2 * X)
    np.testing.assert_array_equal(d, 0 * X)


def test_calls_release_the_gil(exe) -> None:
    results = []
    threads = [threading.Thread(target=lambda: results.append(exe.neg(X))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4


ARENA = """
func.func @f(%x: memref<16xf32>, %out: memref<16xf32> {irc.result = 0 : i64}, %arena: memref<128xi8> {irc.arena})
    attributes {irc.arena_size = 128 : i64, irc.naive_size = 128 : i64, irc.lower_bound = 64 : i64} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c16 = arith.constant 16 : index
  %t = memref.view %arena[64] : memref<128xi8> to memref<16xf32>
  loop.for %i = %c0 to %c16 step %c1 {
    %v = memref.load %x[%i] : memref<16xf32>
    %w = arith.mulf %v, %v : f32
    memref.store %w, %t[%i] : memref<16xf32>
    loop.yield
  }
  memref.copy %t, %out : memref<16xf32>
  func.return
}
"""


def test_the_arena_is_allocated_once() -> None:
    exe = irc.compile(ARENA)
    fn = exe["f"]
    assert fn.input_names == ["x"]
    assert fn.memory_plan == {"arena_size": 128, "naive_size": 128, "lower_bound": 64}
    assert exe.arena_size == 128
    address = exe._arena_address
    x = np.arange(16, dtype=np.float32)
    for k in range(3):
        np.testing.assert_array_equal(exe.f(x + k), (x + k) ** 2)
    assert exe._arena_address == address
    np.testing.assert_array_equal(exe._arena[64:].view(np.float32), (x + 2) ** 2)


def test_second_compile_is_a_cache_hit(tmp_path) -> None:
    first = irc.compile(ARENA)
    assert (first.cache_hit, first.info["cache"]) == (False, "miss")
    assert list((tmp_path / "gir").glob("*.o"))
    second = irc.compile(ARENA)
    assert (second.cache_hit, second.info["cache"]) == (True, "hit")
    assert second.key == first.key
    x = np.ones(16, np.float32) * 3
    np.testing.assert_array_equal(second.f(x), x * x)
    changed = irc.compile(ARENA.replace("arith.mulf %v, %v", "arith.addf %v, %v"))
    assert not changed.cache_hit
    np.testing.assert_array_equal(changed.f(x), x + x)


def test_a_cache_hit_skips_code_generation(monkeypatch: pytest.MonkeyPatch) -> None:
    irc.compile(ARENA)
    from irc.backend import llvm

    def fail(*args, **kwargs):
        raise AssertionError("code generation ran on a cache hit")

    monkeypatch.setattr(llvm, "compile_module", fail)
    assert irc.compile(ARENA).cache_hit


def test_no_cache_environment_variable(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IRC_NO_CACHE", "1")
    exe = irc.compile(ARENA)
    assert exe.info["cache"] == "off"
    assert not (tmp_path / "gir").exists()


def test_large_globals_are_bound_at_load_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpu, "EXTERNAL_GLOBAL_BYTES", 16)
    text = """
memref.global @big = dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]> : memref<8xf32>
memref.global @small = dense<[1, 2]> : memref<2xi32>
func.func @f(%x: memref<8xf32>, %out: memref<8xf32> {irc.result = 0 : i64}, %s: memref<2xi32> {irc.result = 1 : i64}) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %w = memref.get_global @big : memref<8xf32>
  %g = memref.get_global @small : memref<2xi32>
  loop.parallel (%i) = (%c0) to (%c8) step (%c1) {
    %a = memref.load %x[%i] : memref<8xf32>
    %b = memref.load %w[%i] : memref<8xf32>
    %m = arith.mulf %a, %b : f32
    memref.store %m, %out[%i] : memref<8xf32>
    loop.yield
  }
  memref.copy %g, %s : memref<2xi32>
  func.return
}
"""
    for _ in range(2):  # a miss, then a hit: the slot is filled either way
        exe = irc.compile(text)
        out, s = exe.f(np.full(8, 2.0, np.float32))
        np.testing.assert_array_equal(out, 2 * np.arange(1, 9))
        np.testing.assert_array_equal(s, [1, 2])
    assert exe.cache_hit


def test_needs_lowering_sees_tensor_types() -> None:
    assert not needs_lowering(parse_module(ARENA, "a.gir"))
    tensor = "func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {\n  func.return %x : tensor<4xf32>\n}\n"
    assert needs_lowering(parse_module(tensor, "t.gir"))


def test_unknown_target_and_bad_ir_are_located_errors() -> None:
    with pytest.raises(IRCError, match="unknown target 'tpu'"):
        irc.compile(ARENA, target="tpu")
    bad = ARENA.replace("memref<16xf32>", "memref<16xf16>").replace("%v, %v : f32", "%v, %v : f16")
    with pytest.raises(IRCError, match="type 'f16' has no LLVM translation") as err:
        irc.compile(bad)
    assert err.value.diagnostic.location.line > 1


# ----------------------------------------------------------------------------- irc-run
def test_irc_run_target_cpu(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "arena.gir"
    path.write_text(ARENA)
    np.save(tmp_path / "x.npy", np.arange(16, dtype=np.float32))
    assert irc_run.main([str(path), "--target", "cpu", "--input", f"x={tmp_path / 'x.npy'}", "--print",
                         "--benchmark", "3", "--out", str(tmp_path / "o.npz")]) == 0  # fmt: skip
    out, err = capsys.readouterr()
    assert out.startswith("result0: shape (16,), dtype float32\n[  0.,   1.,   4.,")
    assert "benchmark: 3 runs, median" in err
    assert "memory plan: arena 128 bytes, naive 128 bytes, lower bound 64 bytes" in err
    np.testing.assert_array_equal(np.load(tmp_path / "o.npz")["result0"], np.arange(16) ** 2)


def test_irc_run_target_cpu_reports_bad_inputs(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "arena.gir"
    path.write_text(ARENA)
    np.save(tmp_path / "x.npy", np.zeros(15, dtype=np.float32))
    assert irc_run.main([str(path), "--input", f"x={tmp_path / 'x.npy'}"]) == 1
    err = capsys.readouterr().err
    assert "arena.gir:2:1: error: argument %x of @f: expected an array of shape (16,)" in err
    assert "Traceback" not in err
