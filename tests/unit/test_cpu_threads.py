"""`loop.parallel` on CPU threads (irc.backend.threads, the outlining in irc.backend.llvm).

Results must not depend on the thread count: every element is computed by one thread, so
integers and floats alike are identical for 1, 2, 3 and 4 threads (more threads than this
machine's cores is fine: only speed suffers)."""

from __future__ import annotations

import os
import re
import threading

import numpy as np
import pytest

import irc
from irc.backend import llvm, threads
from irc.verifier import verify
from textual_ir.parser import parse_module

THREAD_COUNTS = (1, 2, 3, 4)


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "cache"))


def parse(text: str):
    module = parse_module(text, "t.gir")
    verify(module)
    return module


def compile_with(monkeypatch: pytest.MonkeyPatch, text: str, n: int, **kw):
    monkeypatch.setenv("IRC_NUM_THREADS", str(n))
    exe = irc.compile(parse(text), **kw)
    assert exe.num_threads == n
    return exe


def same_for_every_thread_count(monkeypatch, text: str, name: str, args: tuple, **kw) -> list:
    """Runs `name` with 1..4 threads; asserts identical outputs; returns them (1 thread)."""
    results = []
    for n in THREAD_COUNTS:
        out = compile_with(monkeypatch, text, n, **kw)[name](*args)
        results.append(out if isinstance(out, tuple) else (out,))
    for other, n in zip(results[1:], THREAD_COUNTS[1:], strict=True):
        for a, b in zip(results[0], other, strict=True):
            np.testing.assert_array_equal(a, b, err_msg=f"{n} threads differ from 1")
    return list(results[0])


# ----------------------------------------------------------------------------- thread count
def test_thread_count_honours_irc_num_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IRC_NUM_THREADS", "3")
    assert threads.num_threads() == 3
    monkeypatch.setenv("IRC_NUM_THREADS", "64")
    assert threads.num_threads() == 64
    for bad in ("0", "-2", "two"):
        monkeypatch.setenv("IRC_NUM_THREADS", bad)
        with pytest.raises(ValueError, match="IRC_NUM_THREADS must be a positive integer"):
            threads.num_threads()
    monkeypatch.delenv("IRC_NUM_THREADS")
    expected = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert threads.num_threads() == expected


def test_executable_thread_count_is_set_at_load_and_settable(monkeypatch: pytest.MonkeyPatch) -> None:
    text = elementwise_2d(512, 512)
    exe = compile_with(monkeypatch, text, 3)
    assert exe.num_threads == 3
    exe.num_threads = 1
    assert exe.num_threads == 1
    x = np.arange(512 * 512, dtype=np.int32).reshape(512, 512)
    np.testing.assert_array_equal(exe.f(x), x * 3 + 1)
    with pytest.raises(ValueError, match="at least 1"):
        exe.num_threads = 0
    # A cached object (same text) gets the thread count of its own load.
    again = compile_with(monkeypatch, text, 2)
    assert again.cache_hit or again.info["cache"] == "off"
    assert again.num_threads == 2
    assert exe.num_threads == 1


# ----------------------------------------------------------------------------- the pool
def test_pool_covers_the_range_once_per_index_on_several_threads() -> None:
    task_t, parallel_for = threads.parallel_for_function()
    hits = np.zeros(1000, dtype=np.int64)
    chunks: list[tuple[int, int, int]] = []

    @task_t
    def mark(ctx, begin, end):
        hits[begin:end] += 1
        chunks.append((begin, end, threading.get_native_id()))

    for total in (0, 1, 2, 3, 7, 1000):
        for n in (1, 2, 3, 4, 7):
            hits[:] = 0
            chunks.clear()
            parallel_for(mark, None, total, n)
            assert (hits[:total] == 1).all(), (total, n)
            assert hits[total:].sum() == 0, (total, n)
            if n == 1 or total <= 1:
                assert len(chunks) <= 1
            else:
                # n contiguous chunks, sizes differing by at most one
                sizes = sorted(e - b for b, e, _ in chunks)
                assert len(chunks) == min(n, total)
                assert 0 < sizes[0] <= sizes[-1] <= sizes[0] + 1
    parallel_for(mark, None, 1000, 4)
    assert len({tid for _, _, tid in chunks[-4:]}) >= 2


def test_pool_is_shared_by_concurrent_callers(monkeypatch: pytest.MonkeyPatch) -> None:
    # Two Python threads run two executables at once: one gets the pool, the other runs its
    # loops on its own thread; both are right.
    exe_a = compile_with(monkeypatch, elementwise_2d(256, 1024), 4)
    exe_b = compile_with(monkeypatch, elementwise_2d(512, 512), 4)
    xa = np.arange(256 * 1024, dtype=np.int32).reshape(256, 1024)
    xb = np.arange(512 * 512, dtype=np.int32).reshape(512, 512)
    errors: list[BaseException] = []

    def run(exe, x) -> None:
        try:
            for _ in range(50):
                np.testing.assert_array_equal(exe.f(x), x * 3 + 1)
        except BaseException as err:
            errors.append(err)

    ts = [threading.Thread(target=run, args=a) for a in ((exe_a, xa), (exe_b, xb))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_pool_works_in_a_forked_child(monkeypatch: pytest.MonkeyPatch) -> None:
    exe = compile_with(monkeypatch, elementwise_2d(512, 512), 2)
    x = np.arange(512 * 512, dtype=np.int32).reshape(512, 512)
    np.testing.assert_array_equal(exe.f(x), x * 3 + 1)  # the pool's workers exist now
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no workers; the pool starts afresh
        ok = False
        try:
            ok = bool((exe.f(x) == x * 3 + 1).all())
        finally:
            os.write(w, b"1" if ok else b"0")
            os._exit(0)
    os.close(w)
    answer = os.read(r, 1)
    os.close(r)
    os.waitpid(pid, 0)
    assert answer == b"1"


# ----------------------------------------------------------------------------- hand-written loops
def elementwise_2d(rows: int, cols: int) -> str:
    return f"""
func.func @f(%x: memref<{rows}x{cols}xi32>, %out: memref<{rows}x{cols}xi32> {{irc.result = 0 : i64}}) {{
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %r = arith.constant {rows} : index
  %c = arith.constant {cols} : index
  %three = arith.constant 3 : i32
  %one = arith.constant 1 : i32
  loop.parallel (%i, %j) = (%c0, %c0) to (%r, %c) step (%c1, %c1) {{
    %a = memref.load %x[%i, %j] : memref<{rows}x{cols}xi32>
    %m = arith.muli %a, %three : i32
    %s = arith.addi %m, %one : i32
    memref.store %s, %out[%i, %j] : memref<{rows}x{cols}xi32>
    loop.yield
  }}
  func.return
}}
"""


def test_elementwise_2d_is_outlined_vectorized_and_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    text = elementwise_2d(1000, 999)  # rows and columns not divisible by 2, 3, 4
    x = np.random.default_rng(0).integers(-1000, 1000, (1000, 999)).astype(np.int32)
    (out,) = same_for_every_thread_count(monkeypatch, text, "f", (x,))
    np.testing.assert_array_equal(out, x * 3 + 1)
    raw = str(llvm.translate(parse(text)))
    assert '@"__irc_parallel_for"' in raw
    assert re.search(r'define internal void @"f.parallel0"\(i64 %"begin", i64 %"end", ptr noalias', raw)
    assert "llvm.loop.parallel_accesses" in raw
    asm = llvm.emit_assembly(parse(text))
    task = asm[asm.index("f.parallel0.task:") :]
    assert re.search(r"%[xyz]mm|\bv\d+\.\d+[sd]\b|\bq\d+\b", task), "the outlined loop should be vectorized"


def test_small_loops_stay_inline() -> None:
    raw = str(llvm.translate(parse(elementwise_2d(4, 8))))
    assert "__irc_parallel_for" not in raw
    assert "parallel0" not in raw
    assert "llvm.loop.parallel_accesses" in raw


DYNAMIC = """
func.func @f(%lb0: index, %ub0: index, %s0: index, %lb1: index, %ub1: index, %s1: index,
             %out: memref<40x50xi64> {irc.result = 0 : i64}) {
  loop.parallel (%i, %j) = (%lb0, %lb1) to (%ub0, %ub1) step (%s0, %s1) {
    %a = arith.index_cast %i : index to i64
    %b = arith.index_cast %j : index to i64
    %k = arith.constant 1000 : i64
    %m = arith.muli %a, %k : i64
    %v = arith.addi %m, %b : i64
    memref.store %v, %out[%i, %j] : memref<40x50xi64>
    loop.yield
  }
  func.return
}
"""

DYNAMIC_1D = """
func.func @f(%lb: index, %ub: index, %s: index, %out: memref<100xi64> {irc.result = 0 : i64}) {
  loop.parallel (%i) = (%lb) to (%ub) step (%s) {
    %a = arith.index_cast %i : index to i64
    %v = arith.addi %a, %a : i64
    memref.store %v, %out[%i] : memref<100xi64>
    loop.yield
  }
  func.return
}
"""


@pytest.mark.parametrize(
    "bounds",
    [
        (0, 40, 1, 0, 50, 1),  # 2000 iterations
        (3, 40, 2, 1, 50, 3),  # steps that do not divide the ranges
        (0, 0, 1, 0, 50, 1),  # trip count 0 (outer)
        (0, 40, 1, 7, 7, 1),  # trip count 0 (inner)
        (5, 2, 1, 0, 50, 1),  # upper bound below the lower bound
        (39, 40, 1, 49, 50, 1),  # trip count 1
        (0, 40, 1, 10, 11, 1),  # one column: rows split over threads
        (0, 1, 1, 0, 50, 1),  # one row: the row split over threads
        (0, 3, 1, 0, 5, 2),  # 9 iterations over 4 threads
    ],
)
def test_every_trip_count_with_every_thread_count(monkeypatch: pytest.MonkeyPatch, bounds: tuple) -> None:
    # Make every loop worth threads, so that tiny ones go through the pool too.
    monkeypatch.setattr(threads, "MIN_PARALLEL_WORK", 1)
    lb0, ub0, s0, lb1, ub1, s1 = bounds
    expected = np.zeros((40, 50), dtype=np.int64)
    for i in range(lb0, ub0, s0):
        for j in range(lb1, ub1, s1):
            expected[i, j] = 1000 * i + j
    for n in THREAD_COUNTS:
        exe = compile_with(monkeypatch, DYNAMIC, n, cache=False)
        out = exe.f(*bounds)
        out[expected == 0] = 0  # outputs are not initialized where the loop does not write
        np.testing.assert_array_equal(out, expected, err_msg=f"{n} threads, bounds {bounds}")


@pytest.mark.parametrize("bounds", [(0, 100, 1), (1, 100, 3), (0, 0, 1), (99, 100, 1), (0, 2, 1), (0, 5, 1)])
def test_one_dimensional_trip_counts(monkeypatch: pytest.MonkeyPatch, bounds: tuple) -> None:
    monkeypatch.setattr(threads, "MIN_PARALLEL_WORK", 1)
    expected = np.full(100, -1, dtype=np.int64)
    idx = np.arange(*bounds)
    expected[idx] = 2 * idx
    for n in THREAD_COUNTS:
        out = compile_with(monkeypatch, DYNAMIC_1D, n, cache=False).f(*bounds)
        out[expected == -1] = -1
        np.testing.assert_array_equal(out, expected)


NESTED = """
func.func @f(%x: memref<64x96x8xf32>, %out: memref<64x96x8xf32> {irc.result = 0 : i64},
             %sums: memref<64x96xf32> {irc.result = 1 : i64}) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %c64 = arith.constant 64 : index
  %c96 = arith.constant 96 : index
  %zero = arith.constant 0.0 : f32
  %two = arith.constant 2.0 : f32
  loop.parallel (%i) = (%c0) to (%c64) step (%c1) {
    loop.parallel (%j, %k) = (%c0, %c0) to (%c96, %c8) step (%c1, %c1) {
      %a = memref.load %x[%i, %j, %k] : memref<64x96x8xf32>
      %e = math.exp %a : f32
      %m = arith.mulf %e, %two : f32
      memref.store %m, %out[%i, %j, %k] : memref<64x96x8xf32>
      loop.yield
    }
    loop.parallel (%j) = (%c0) to (%c96) step (%c1) {
      %s = loop.for %k = %c0 to %c8 step %c1 iter_args(%acc = %zero) -> (f32) {
        %v = memref.load %out[%i, %j, %k] : memref<64x96x8xf32>
        %t = arith.addf %acc, %v : f32
        loop.yield %t : f32
      }
      memref.store %s, %sums[%i, %j] : memref<64x96xf32>
      loop.yield
    }
    loop.yield
  }
  func.return
}
"""


def test_nested_parallel_loops_run_inside_the_outer_ones_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    x = np.random.default_rng(1).standard_normal((64, 96, 8)).astype(np.float32)
    out, sums = same_for_every_thread_count(monkeypatch, NESTED, "f", (x,))
    np.testing.assert_allclose(out, 2 * np.exp(x), rtol=1e-5)
    np.testing.assert_allclose(sums, out.sum(axis=2), rtol=1e-5)
    raw = str(llvm.translate(parse(NESTED)))
    assert raw.count('call void @"__irc_parallel_for"') == 1  # only the outer loop


IN_FOR = """
func.func @f(%x: memref<6x300x128xi32>, %out: memref<6x300x128xi32> {irc.result = 0 : i64}) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c6 = arith.constant 6 : index
  %c128 = arith.constant 128 : index
  %c300 = arith.constant 300 : index
  %init = arith.constant 0 : i32
  %r = loop.for %t = %c0 to %c6 step %c1 iter_args(%acc = %init) -> (i32) {
    %ti = arith.index_cast %t : index to i32
    %shift = arith.addi %ti, %acc : i32
    loop.parallel (%i, %j) = (%c0, %c0) to (%c300, %c128) step (%c1, %c1) {
      %a = memref.load %x[%t, %i, %j] : memref<6x300x128xi32>
      %b = arith.addi %a, %shift : i32
      memref.store %b, %out[%t, %i, %j] : memref<6x300x128xi32>
      loop.yield
    }
    %next = arith.addi %acc, %ti : i32
    loop.yield %next : i32
  }
  func.return
}
"""


def test_parallel_loops_inside_a_sequential_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    x = np.random.default_rng(2).integers(-(2**20), 2**20, (6, 300, 128)).astype(np.int32)
    (out,) = same_for_every_thread_count(monkeypatch, IN_FOR, "f", (x,))
    shifts = [t + sum(range(t)) for t in range(6)]  # the loop-carried value the body captures
    np.testing.assert_array_equal(out, x + np.array(shifts, dtype=np.int32)[:, None, None])


ARENA = """
func.func @f(%x: memref<256x128xf32>, %out: memref<256x128xf32> {irc.result = 0 : i64},
             %arena: memref<262144xi8> {irc.arena}) attributes {irc.arena_size = 262144 : i64} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c128 = arith.constant 128 : index
  %c256 = arith.constant 256 : index
  %half = arith.constant 0.5 : f32
  %t0 = memref.view %arena[0] : memref<262144xi8> to memref<256x128xf32>
  %t1 = memref.view %arena[131072] : memref<262144xi8> to memref<128x256xf32>
  loop.parallel (%i, %j) = (%c0, %c0) to (%c256, %c128) step (%c1, %c1) {
    %a = memref.load %x[%i, %j] : memref<256x128xf32>
    %b = arith.mulf %a, %half : f32
    memref.store %b, %t0[%i, %j] : memref<256x128xf32>
    loop.yield
  }
  loop.parallel (%j, %i) = (%c0, %c0) to (%c128, %c256) step (%c1, %c1) {
    %a = memref.load %t0[%i, %j] : memref<256x128xf32>
    %e = math.tanh %a : f32
    memref.store %e, %t1[%j, %i] : memref<128x256xf32>
    loop.yield
  }
  loop.parallel (%i, %j) = (%c0, %c0) to (%c256, %c128) step (%c1, %c1) {
    %a = memref.load %t1[%j, %i] : memref<128x256xf32>
    %b = memref.load %t0[%i, %j] : memref<256x128xf32>
    %s = arith.addf %a, %b : f32
    memref.store %s, %out[%i, %j] : memref<256x128xf32>
    loop.yield
  }
  func.return
}
"""


def test_parallel_loops_writing_into_arena_views(monkeypatch: pytest.MonkeyPatch) -> None:
    x = np.random.default_rng(3).standard_normal((256, 128)).astype(np.float32)
    (out,) = same_for_every_thread_count(monkeypatch, ARENA, "f", (x,))
    np.testing.assert_allclose(out, np.tanh(x / 2) + x / 2, rtol=1e-5, atol=1e-6)
    raw = str(llvm.translate(parse(ARENA)))
    assert raw.count('call void @"__irc_parallel_for"') == 3
    # The views are recomputed from the arena pointer inside each outlined body.
    body = r'@"f.parallel1"\(i64 %"begin", i64 %"end", ptr noalias align 64 dereferenceable\(\d+\) %"arena"\)'
    assert re.search(body, raw)


CALLS = """
func.func private @scale(%x: memref<2x128x128xf32>, %out: memref<2x128x128xf32>, %k: f32, %t: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %n = arith.constant 128 : index
  loop.parallel (%i, %j) = (%c0, %c0) to (%n, %n) step (%c1, %c1) {
    %a = memref.load %x[%t, %i, %j] : memref<2x128x128xf32>
    %b = arith.mulf %a, %k : f32
    memref.store %b, %out[%t, %i, %j] : memref<2x128x128xf32>
    loop.yield
  }
  func.return
}
func.func @f(%x: memref<2x128x128xf32>, %out: memref<2x128x128xf32> {irc.result = 0 : i64},
             %arena: memref<131072xi8> {irc.arena}) attributes {irc.arena_size = 131072 : i64} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %two = arith.constant 2.0 : f32
  %tmp = memref.view %arena[0] : memref<131072xi8> to memref<2x128x128xf32>
  func.call @scale(%x, %tmp, %two, %c0) : (memref<2x128x128xf32>, memref<2x128x128xf32>, f32, index) -> ()
  func.call @scale(%x, %tmp, %two, %c1) : (memref<2x128x128xf32>, memref<2x128x128xf32>, f32, index) -> ()
  loop.parallel (%t) = (%c0) to (%c2) step (%c1) {
    func.call @scale(%tmp, %out, %two, %t) : (memref<2x128x128xf32>, memref<2x128x128xf32>, f32, index) -> ()
    loop.yield
  }
  func.return
}
"""


def test_parallel_loops_in_called_functions(monkeypatch: pytest.MonkeyPatch) -> None:
    # @scale's loop runs on the pool when called from the top level, and on the calling
    # thread when called from inside a parallel loop's body (the pool is busy then).
    monkeypatch.setattr(threads, "MIN_PARALLEL_WORK", 1)
    x = np.random.default_rng(4).standard_normal((2, 128, 128)).astype(np.float32)
    (out,) = same_for_every_thread_count(monkeypatch, CALLS, "f", (x,), cache=False)
    np.testing.assert_array_equal(out, x * 4)
    raw = str(llvm.translate(parse(CALLS)))
    assert raw.count('call void @"__irc_parallel_for"') == 2  # in @scale and in @f


# ----------------------------------------------------------------------------- tensor functions
TENSOR = """
func.func @net(%x: tensor<2x8x20x20xf32>, %w: tensor<16x8x3x3xf32>, %m: tensor<3200x96xf32>,
               %i: tensor<300x200xi32>)
    -> (tensor<2x96xf32>, tensor<2x16x20x20xf32>, tensor<200x300xi32>, tensor<300xi32>) {
  %0 = tensor.conv2d %x, %w {pads = [1, 1, 1, 1]}
    : (tensor<2x8x20x20xf32>, tensor<16x8x3x3xf32>) -> tensor<2x16x20x20xf32>
  %1 = tensor.relu %0 : tensor<2x16x20x20xf32>
  %2 = tensor.max_pool2d %1 {kernel_shape = [2, 2], strides = [2, 2]}
    : (tensor<2x16x20x20xf32>) -> tensor<2x16x10x10xf32>
  %3 = tensor.flatten %2 {axis = 1} : (tensor<2x16x10x10xf32>) -> tensor<2x1600xf32>
  %4 = tensor.concat %3, %3 {axis = 1} : (tensor<2x1600xf32>, tensor<2x1600xf32>) -> tensor<2x3200xf32>
  %5 = tensor.matmul %4, %m : (tensor<2x3200xf32>, tensor<3200x96xf32>) -> tensor<2x96xf32>
  %6 = tensor.softmax %5 {axis = 1} : (tensor<2x96xf32>) -> tensor<2x96xf32>
  %7 = tensor.transpose %i {perm = [1, 0]} : (tensor<300x200xi32>) -> tensor<200x300xi32>
  %8 = tensor.reduce_sum %i {axes = [1], keepdims = 0} : (tensor<300x200xi32>) -> tensor<300xi32>
  func.return %6, %1, %7, %8 : tensor<2x96xf32>, tensor<2x16x20x20xf32>, tensor<200x300xi32>, tensor<300xi32>
}
"""


def test_tensor_functions_give_the_same_results_on_any_thread_count(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(5)
    args = (
        rng.standard_normal((2, 8, 20, 20)).astype(np.float32),
        rng.standard_normal((16, 8, 3, 3)).astype(np.float32),
        (rng.standard_normal((3200, 96)) * 0.01).astype(np.float32),
        rng.integers(-1000, 1000, (300, 200)).astype(np.int32),
    )
    outs = same_for_every_thread_count(monkeypatch, TENSOR, "net", args)
    ref = irc.interpret(parse_module(TENSOR, "t.gir"), *args)
    for got, want in zip(outs, ref, strict=True):
        if got.dtype.kind == "i":
            np.testing.assert_array_equal(got, want)
        else:
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


MATMUL = """
func.func @mm(%a: tensor<200x300xf32>, %b: tensor<300x170xf32>, %c: tensor<170xf32>) -> tensor<200x170xf32> {
  %0 = tensor.matmul %a, %b : (tensor<200x300xf32>, tensor<300x170xf32>) -> tensor<200x170xf32>
  %1 = tensor.add %0, %c : (tensor<200x170xf32>, tensor<170xf32>) -> tensor<200x170xf32>
  %2 = tensor.gelu %1 : tensor<200x170xf32>
  func.return %2 : tensor<200x170xf32>
}
"""


def test_generated_matmul_is_split_over_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(6)
    a = rng.standard_normal((200, 300)).astype(np.float32)
    b = rng.standard_normal((300, 170)).astype(np.float32)
    c = rng.standard_normal(170).astype(np.float32)
    (out,) = same_for_every_thread_count(monkeypatch, MATMUL, "mm", (a, b, c))
    (want,) = irc.interpret(parse_module(MATMUL, "t.gir"), a, b, c)
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4)
