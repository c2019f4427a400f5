"""The loop passes (tile, unroll, interchange, vectorize, LICM, parallelize): hand-written
loop-IR kernels run through each pass compute what the untransformed kernel computes, on
random sizes; the dependence analysis says what it should on known cases."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import irc
import passes
from dialects import default_context
from dialects.loop import ForOp, ParallelOp
from irc.ir import Operation
from irc.pass_manager import PassManager, PassState, parse_pipeline
from irc.verifier import verify
from passes.loop_analysis import Dependences, affine_of, outermost_loops
from textual_ir.parser import parse_module
from textual_ir.printer import print_op

SETTINGS = settings(max_examples=15, deadline=None, derandomize=True)


# ----------------------------------------------------------------------------- kernels
def _consts(*values: int) -> str:
    return "\n".join(f"  %c{v} = arith.constant {v} : index" for v in sorted({0, 1, *values}))


def elementwise(m: int, n: int) -> str:
    """B = select(A > 0, exp(A) * w[0] + A, A): loads, math, an invariant load, a select."""
    return f"""
func.func @f(%A: memref<{m}x{n}xf32>, %w: memref<1xf32>, %B: memref<{m}x{n}xf32> {{irc.result = 0 : i64}}) {{
{_consts(m, n)}
  %zero = arith.constant 0.0 : f32
  loop.for %i = %c0 to %c{m} step %c1 {{
    loop.for %j = %c0 to %c{n} step %c1 {{
      %x = memref.load %A[%i, %j] : memref<{m}x{n}xf32>
      %s = memref.load %w[%c0] : memref<1xf32>
      %e = math.exp %x : f32
      %y = arith.mulf %e, %s : f32
      %z = arith.addf %y, %x : f32
      %p = arith.cmpf ogt, %x, %zero : f32
      %r = arith.select %p, %z, %x : f32
      memref.store %r, %B[%i, %j] : memref<{m}x{n}xf32>
      loop.yield
    }}
    loop.yield
  }}
  func.return
}}"""


def reductions(m: int, n: int) -> str:
    """Row sums (addf with reassoc), row maxima and an integer sum of squares, through
    iteration arguments."""
    return f"""
func.func @f(%A: memref<{m}x{n}xf32>, %I: memref<{m}x{n}xi32>, %S: memref<{m}xf32> {{irc.result = 0 : i64}},
             %M: memref<{m}xf32> {{irc.result = 1 : i64}}, %Q: memref<{m}xi32> {{irc.result = 2 : i64}}) {{
{_consts(m, n)}
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant -1.0e30 : f32
  %izero = arith.constant 0 : i32
  loop.for %i = %c0 to %c{m} step %c1 {{
    %s, %mx, %q = loop.for %j = %c0 to %c{n} step %c1 iter_args(%acc = %zero, %best = %ninf, %iacc = %izero)
        -> (f32, f32, i32) {{
      %x = memref.load %A[%i, %j] : memref<{m}x{n}xf32>
      %a2 = arith.addf %acc, %x fastmath<reassoc> : f32
      %b2 = arith.maximumf %best, %x : f32
      %k = memref.load %I[%i, %j] : memref<{m}x{n}xi32>
      %kk = arith.muli %k, %k : i32
      %q2 = arith.addi %iacc, %kk : i32
      loop.yield %a2, %b2, %q2 : f32, f32, i32
    }}
    memref.store %s, %S[%i] : memref<{m}xf32>
    memref.store %mx, %M[%i] : memref<{m}xf32>
    memref.store %q, %Q[%i] : memref<{m}xi32>
    loop.yield
  }}
  func.return
}}"""


def matmul(m: int, n: int, k: int) -> str:
    """C = A @ B accumulated in memory, i, j, k order (k innermost)."""
    return f"""
func.func @f(%A: memref<{m}x{k}xf32>, %B: memref<{k}x{n}xf32>, %C: memref<{m}x{n}xf32> {{irc.result = 0 : i64}}) {{
{_consts(m, n, k)}
  %zero = arith.constant 0.0 : f32
  loop.for %i = %c0 to %c{m} step %c1 {{
    loop.for %j = %c0 to %c{n} step %c1 {{
      memref.store %zero, %C[%i, %j] : memref<{m}x{n}xf32>
      loop.yield
    }}
    loop.yield
  }}
  loop.for %i = %c0 to %c{m} step %c1 {{
    loop.for %j = %c0 to %c{n} step %c1 {{
      loop.for %l = %c0 to %c{k} step %c1 {{
        %a = memref.load %A[%i, %l] : memref<{m}x{k}xf32>
        %b = memref.load %B[%l, %j] : memref<{k}x{n}xf32>
        %c = memref.load %C[%i, %j] : memref<{m}x{n}xf32>
        %p = arith.mulf %a, %b : f32
        %s = arith.addf %c, %p : f32
        memref.store %s, %C[%i, %j] : memref<{m}x{n}xf32>
        loop.yield
      }}
      loop.yield
    }}
    loop.yield
  }}
  func.return
}}"""


def transpose(m: int, n: int) -> str:
    """B[j, i] = A[i, j] + 1 (as a loop.parallel)."""
    return f"""
func.func @f(%A: memref<{m}x{n}xf32>, %B: memref<{n}x{m}xf32> {{irc.result = 0 : i64}}) {{
{_consts(m, n)}
  %one = arith.constant 1.0 : f32
  loop.parallel (%i, %j) = (%c0, %c0) to (%c{m}, %c{n}) step (%c1, %c1) {{
    %x = memref.load %A[%i, %j] : memref<{m}x{n}xf32>
    %y = arith.addf %x, %one : f32
    memref.store %y, %B[%j, %i] : memref<{n}x{m}xf32>
    loop.yield
  }}
  func.return
}}"""


def recurrences(m: int, n: int) -> str:
    """Loop-carried dependences through memory: a prefix sum along each row, then
    B[i, j] += B[i - 1, j + 1] (direction (<, >): no interchange, no tiling)."""
    return f"""
func.func @f(%X: memref<{m}x{n}xf32>, %B: memref<{m}x{n}xf32> {{irc.result = 0 : i64}}) {{
{_consts(m, n, m - 1, n - 1)}
  loop.for %i = %c0 to %c{m} step %c1 {{
    %x0 = memref.load %X[%i, %c0] : memref<{m}x{n}xf32>
    memref.store %x0, %B[%i, %c0] : memref<{m}x{n}xf32>
    loop.for %j = %c1 to %c{n} step %c1 {{
      %jm = arith.subi %j, %c1 : index
      %p = memref.load %B[%i, %jm] : memref<{m}x{n}xf32>
      %x = memref.load %X[%i, %j] : memref<{m}x{n}xf32>
      %s = arith.addf %p, %x : f32
      memref.store %s, %B[%i, %j] : memref<{m}x{n}xf32>
      loop.yield
    }}
    loop.yield
  }}
  loop.for %i = %c1 to %c{m} step %c1 {{
    loop.for %j = %c0 to %c{n - 1} step %c1 {{
      %im = arith.subi %i, %c1 : index
      %jp = arith.addi %j, %c1 : index
      %p = memref.load %B[%im, %jp] : memref<{m}x{n}xf32>
      %q = memref.load %B[%i, %j] : memref<{m}x{n}xf32>
      %s = arith.addf %p, %q : f32
      memref.store %s, %B[%i, %j] : memref<{m}x{n}xf32>
      loop.yield
    }}
    loop.yield
  }}
  func.return
}}"""


KERNELS = {
    "elementwise": (elementwise, 2),
    "reductions": (reductions, 2),
    "matmul": (matmul, 3),
    "transpose": (transpose, 2),
    "recurrences": (recurrences, 2),
}

_sizes = st.integers(2, 37)


@st.composite
def kernels(draw, names: tuple[str, ...] = tuple(KERNELS)) -> tuple[str, tuple[int, ...]]:
    name = draw(st.sampled_from(names))
    return name, tuple(draw(_sizes) for _ in range(KERNELS[name][1]))


# ----------------------------------------------------------------------------- helpers
def _inputs(fn) -> list[np.ndarray]:
    """Random inputs (the same for every compilation of a kernel) for a compiled function."""
    rng = np.random.default_rng(0)
    out = []
    for p in fn.signature.inputs:
        if str(p.element_type) == "i32":
            out.append(rng.integers(-50, 50, size=p.shape).astype(np.int32))
        else:
            out.append(rng.standard_normal(p.shape).astype(np.float32))
    return out


def _run(module: Operation) -> tuple[np.ndarray, ...]:
    fn = irc.compile(module, target="cpu").f
    outs = fn(*_inputs(fn))
    return outs if isinstance(outs, tuple) else (outs,)


@functools.cache
def _reference(name: str, sizes: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    return _run(parse_module(KERNELS[name][0](*sizes)))


def transform(text: str, pipeline: str) -> tuple[Operation, dict[str, int]]:
    """Run `pipeline` (verifying after each pass); the module and the summed statistics."""
    module = parse_module(text)
    counters: dict[str, int] = {}
    pm = parse_pipeline(pipeline, passes.get_pass)
    for p in pm.passes():
        state = PassState(default_context())
        p.run(module, state)
        verify(module)
        for key, value in state.counters.items():
            counters[key] = counters.get(key, 0) + value
    return module, counters


def check_same(name: str, sizes: tuple[int, ...], pipeline: str) -> dict[str, int]:
    """The transformed kernel computes what the original does (exactly, except where a
    reduction was reassociated); returns the pass statistics."""
    module, counters = transform(KERNELS[name][0](*sizes), pipeline)
    for got, want in zip(_run(module), _reference(name, sizes), strict=True):
        if counters.get("num-reductions"):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
        else:
            np.testing.assert_array_equal(got, want)
    return counters


# ----------------------------------------------------------------------------- semantics
@SETTINGS
@given(kernels(), st.lists(st.sampled_from([0, 1, 2, 3, 4, 5, 8, 16]), min_size=1, max_size=3))
def test_tile_preserves_results(kernel, sizes) -> None:
    check_same(*kernel, f"loop-tile{{sizes={','.join(map(str, sizes))}}}")


@SETTINGS
@given(kernels(), st.integers(2, 6))
def test_unroll_preserves_results(kernel, factor) -> None:
    check_same(*kernel, f"loop-unroll{{factor={factor}}}")


@SETTINGS
@given(kernels(("matmul", "elementwise", "recurrences", "reductions")), st.sampled_from(["", "{order=1,0}"]))
def test_interchange_preserves_results(kernel, option) -> None:
    check_same(*kernel, f"loop-interchange{option}")


@SETTINGS
@given(kernels(), st.sampled_from([2, 4, 8]))
def test_vectorize_preserves_results(kernel, width) -> None:
    check_same(*kernel, f"loop-vectorize{{width={width}}}")


@SETTINGS
@given(kernels(), st.sampled_from(["", "{max-depth=1}", "{max-depth=3}"]))
def test_licm_and_parallelize_preserve_results(kernel, option) -> None:
    check_same(*kernel, f"loop-invariant-code-motion,parallelize-loops{option}")


@SETTINGS
@given(kernels(), st.sampled_from([4, 8]), st.integers(2, 4))
def test_pipeline_preserves_results(kernel, tile, factor) -> None:
    check_same(
        *kernel,
        f"loop-interchange,loop-tile{{sizes={tile},{tile}}},loop-vectorize,loop-unroll{{factor={factor}}},"
        "loop-invariant-code-motion,parallelize-loops",
    )


# ----------------------------------------------------------------------------- what the passes do
@pytest.mark.parametrize(
    ("pipeline", "kernel", "sizes", "stats"),
    [
        ("loop-tile{sizes=4,4}", "elementwise", (9, 8), {"num-tiled-bands": 1, "num-epilogues": 1}),
        ("loop-tile{sizes=4,4}", "recurrences", (9, 8), {"num-refused": 1}),
        ("loop-unroll{factor=4}", "reductions", (3, 10), {"num-unrolled": 1, "num-remainder-loops": 1}),
        ("loop-interchange", "matmul", (5, 6, 7), {"num-interchanged": 1}),
        ("loop-interchange{order=1,0}", "recurrences", (5, 6), {"num-refused": 1}),
        ("loop-vectorize", "elementwise", (3, 20), {"num-vectorized": 1, "num-remainder-loops": 1}),
        ("loop-vectorize", "reductions", (3, 16), {"num-vectorized": 1, "num-reductions": 3}),
        # the prefix sum is refused, the stencil's inner loop reads the row above: vectorized
        ("loop-vectorize", "recurrences", (3, 20), {"num-refused": 1, "num-vectorized": 1}),
        ("loop-invariant-code-motion", "elementwise", (3, 20), {"num-loads-hoisted": 2}),  # out of j, then i
        ("parallelize-loops", "matmul", (5, 6, 7), {"num-parallelized": 2, "num-merged": 1}),
        ("parallelize-loops{max-depth=1}", "recurrences", (5, 6), {}),
    ],
)
def test_pass_statistics(pipeline: str, kernel: str, sizes: tuple[int, ...], stats: dict[str, int]) -> None:
    counters = check_same(kernel, sizes, pipeline)
    for key, value in stats.items():
        assert counters.get(key, 0) == value, (key, counters)


def test_parallelize_leaves_recurrences_sequential() -> None:
    module, counters = transform(recurrences(6, 7), "parallelize-loops{max-depth=5}")
    # The rows of the prefix sum are independent, its columns are not; the stencil's rows
    # are not (each reads the row above), its columns are.
    assert counters.get("num-parallelized", 0) == 2
    prefix, stencil = outermost_loops(module)
    assert isinstance(prefix, ParallelOp)
    assert [type(op) for op in prefix.walk()].count(ForOp) == 1
    assert isinstance(stencil, ForOp)
    assert isinstance(stencil.body_block.first_op, ParallelOp)


def test_vectorized_matmul_after_interchange() -> None:
    module, counters = transform(matmul(4, 19, 5), "loop-interchange,loop-vectorize{width=4}")
    assert counters["num-interchanged"] == 1
    assert counters["num-vectorized"] == 2  # the zeroing loop and the j loop of the product
    text = print_op(module)
    assert "memref.vector_load %B" in text
    assert "memref.vector_store" in text


# ----------------------------------------------------------------------------- the analysis
def _loops(text: str) -> list[Operation]:
    module = parse_module(text)
    return [op for op in module.walk() if isinstance(op, ForOp | ParallelOp)]


def test_dependences_of_matmul() -> None:
    i, j, k = _loops(matmul(4, 4, 4))[2:]
    deps = Dependences(i)
    assert deps.band_vectors([(i, 0), (j, 0), (k, 0)]) == {("=", "=", "<")}
    assert not deps.carried_by((i, 0))
    assert Dependences(k).carried_by((k, 0))


def test_dependences_of_stencil() -> None:
    loops = _loops(recurrences(4, 4))
    i, j = loops[2:]
    vectors = Dependences(i).band_vectors([(i, 0), (j, 0)])
    assert ("<", ">") in vectors
    assert Dependences(i).carried_by((i, 0))
    assert not Dependences(j).carried_by((j, 0))  # within a row the stencil reads the row above


def test_affine_forms() -> None:
    (loop,) = _loops(
        """
func.func @f(%n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c3 = arith.constant 3 : index
  loop.for %i = %c0 to %n step %c1 {
    %a = arith.muli %i, %c3 : index
    %b = arith.addi %a, %n : index
    %c = arith.subi %b, %c1 : index
    "test.effect"(%c) : (index) -> ()
    loop.yield
  }
  func.return
}"""
    )
    c = [op for op in loop.body_block.ops][2].results[0]
    form = affine_of(c)
    assert form.coefficient(loop.induction_var) == 3
    assert form.constant == -1
    assert Dependences(loop).accesses is None  # an op of unknown effects


def test_option_validation() -> None:
    with pytest.raises(ValueError, match="permutation"):
        passes.get_pass("loop-interchange")(order=(0, 0))
    with pytest.raises(ValueError, match="factor"):
        passes.get_pass("loop-unroll")(factor=0)
    with pytest.raises(ValueError, match="width"):
        passes.get_pass("loop-vectorize")(width=1)


def test_pass_manager_runs_the_passes() -> None:
    module = parse_module(elementwise(4, 9))
    pipeline = "builtin.module(loop-tile{sizes=2,4},loop-vectorize{width=4},loop-invariant-code-motion)"
    PassManager(parse_pipeline(pipeline, passes.get_pass), default_context()).run(module)
    assert "vector<4xf32>" in print_op(module)


# ----------------------------------------------------------------------------- soundness of the analysis
def _index_expr(name: str, coeffs: tuple[int, int, int], lines: list[str]) -> str:
    """Emit `a*i + b*j + c` as index ops; returns the value's name."""
    a, b, c = coeffs
    lines.append(f"    %{name}_a = arith.muli %i, %k{a} : index")
    lines.append(f"    %{name}_b = arith.muli %j, %k{b} : index")
    lines.append(f"    %{name}_s = arith.addi %{name}_a, %{name}_b : index")
    lines.append(f"    %{name} = arith.addi %{name}_s, %k{c} : index")
    return f"%{name}"


def _access(indices: list[str], width: int, value: str | None) -> str:
    where = f"%A[{', '.join(indices)}] : memref<64x64xf32>"
    vector = f", vector<{width}xf32>" if width > 1 else ""
    kind = "vector_" if width > 1 else ""
    if value is None:
        return f"%x = memref.{kind}load {where}{vector}"
    return f"memref.{kind}store {value}, {where}{vector}"


_coeffs = st.tuples(st.integers(-2, 2), st.integers(-2, 2), st.integers(-3, 3))


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.integers(1, 5), st.integers(1, 5), st.integers(1, 2), _coeffs, _coeffs, _coeffs, _coeffs,
       st.sampled_from([1, 2, 4]), st.sampled_from([1, 2, 4]))  # fmt: skip
def test_dependence_analysis_is_sound(n, m, step, s0, s1, l0, l1, ws, wl) -> None:
    """Whatever two iterations really touch the same element, the analysis must allow
    (`ws`, `wl`: the widths of the store and the load, vector accesses when above 1)."""
    lines: list[str] = []
    consts = sorted({*s0, *s1, *l0, *l1, 0, 1, n, m, step})
    store = [_index_expr("s0", s0, lines), _index_expr("s1", s1, lines)]
    load = [_index_expr("l0", l0, lines), _index_expr("l1", l1, lines)]
    body = "\n".join(lines)
    text = f"""
func.func @f(%A: memref<64x64xf32>, %v1: f32, %v2: vector<2xf32>, %v4: vector<4xf32>) {{
{chr(10).join(f"  %k{c} = arith.constant {c} : index".replace("%k-", "%km") for c in consts)}
  loop.for %i = %k0 to %k{n} step %k{step} {{
    loop.for %j = %k0 to %k{m} step %k1 {{
{body}
    {_access(load, wl, None)}
    {_access(store, ws, f"%v{ws}")}
    loop.yield
    }}
    loop.yield
  }}
  func.return
}}""".replace("%k-", "%km")
    i_loop, j_loop = _loops(text)
    deps = Dependences(i_loop)
    vectors = deps.band_vectors([(i_loop, 0), (j_loop, 0)])
    assert vectors is not None

    def at(coeffs, x, y):
        return coeffs[0] * x + coeffs[1] * y + coeffs[2]

    def sign(d: int) -> str:
        return "<" if d > 0 else "=" if d == 0 else ">"

    iterations = [(x, y) for x in range(0, n, step) for y in range(m)]
    accesses = [(s0, s1, True, ws), (l0, l1, False, wl)]
    carried_i = carried_j = False
    for a0, a1, wa, na in accesses:
        for b0, b1, wb, nb in accesses:
            if not (wa or wb):
                continue
            for x1, y1 in iterations:
                for x2, y2 in iterations:
                    row_a, col_a = at(a0, x1, y1), at(a1, x1, y1)
                    row_b, col_b = at(b0, x2, y2), at(b1, x2, y2)
                    if row_a != row_b or not (col_a < col_b + nb and col_b < col_a + na):
                        continue
                    v = (sign(x2 - x1), sign(y2 - y1))
                    if (x1, y1) < (x2, y2):  # a runs first: a dependence a -> b
                        assert v in vectors, (v, vectors)
                    carried_i |= x1 != x2
                    carried_j |= x1 == x2 and y1 != y2
    if carried_i:
        assert deps.carried_by((i_loop, 0))
    if carried_j:
        assert Dependences(j_loop).carried_by((j_loop, 0))


_biased = st.tuples(st.sampled_from([-1, 0, 1, 1, 1, 2]), st.sampled_from([-1, 0, 1, 1, 1, 2]), st.integers(-3, 3))


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.integers(1, 9), st.integers(1, 4), st.integers(1, 4), st.integers(1, 4), _biased, _biased, _biased,
       _biased)  # fmt: skip
def test_dependence_analysis_is_sound_across_nests(n, m, m2, step, s0, s1, l0, l1) -> None:
    """Like the test above with the store and the load in two loops inside the outer one (a
    tile loop over two point nests, when the step is the inner trip count)."""
    lines: list[str] = []
    consts = sorted({*s0, *s1, *l0, *l1, 0, 1, n, m, m2, step})
    store = [_index_expr("s0", s0, lines), _index_expr("s1", s1, lines)]
    store_body, lines = "\n".join(lines), []
    load = [_index_expr("l0", l0, lines), _index_expr("l1", l1, lines)]
    load_body = "\n".join(lines).replace("%j,", "%j2,")
    text = f"""
func.func @f(%A: memref<64x64xf32>, %v: f32) {{
{chr(10).join(f"  %k{c} = arith.constant {c} : index" for c in consts)}
  loop.for %i = %k0 to %k{n} step %k{step} {{
    loop.for %j = %k0 to %k{m} step %k1 {{
{store_body}
    memref.store %v, %A[{", ".join(store)}] : memref<64x64xf32>
    loop.yield
    }}
    loop.for %j2 = %k0 to %k{m2} step %k1 {{
{load_body}
    %x = memref.load %A[{", ".join(load)}] : memref<64x64xf32>
    loop.yield
    }}
    loop.yield
  }}
  func.return
}}""".replace("%k-", "%km")
    i_loop = _loops(text)[0]

    def at(coeffs, x, y):
        return coeffs[0] * x + coeffs[1] * y + coeffs[2]

    rows = range(0, n, step)
    stores = {(x, (at(s0, x, y), at(s1, x, y))) for x in rows for y in range(m)}
    loads = {(x, (at(l0, x, y), at(l1, x, y))) for x in rows for y in range(m2)}
    carried = any(x1 != x2 and e1 == e2 for x1, e1 in stores for x2, e2 in stores | loads)
    if carried:
        assert Dependences(i_loop).carried_by((i_loop, 0))
