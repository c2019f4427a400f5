"""allocate-buffers: random programs of allocs and uses (straight-line and in loops) run the
same before and after planning, and every plan passes the checker; broken plans do not."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import irc
import passes
from dialects import arith, default_context, loop, memref, vector
from dialects.func import FuncOp, ReturnOp
from irc.attributes import FloatAttr, numpy_dtype
from irc.ir import Block, Operation
from irc.pass_manager import PassManager, PassState, parse_pipeline
from passes.allocate_buffers import (
    AllocateBuffers,
    MemoryPlan,
    PlanError,
    check_plan,
    memory_plan_report,
    plan_function,
    read_plan,
)
from textual_ir.parser import parse_module
from textual_ir.printer import print_op

X_SIZE = 64
SHAPES = [(8,), (16,), (32,), (4, 8), (2, 4), (3,), (4, 4)]
# Map nests: five may run in place (the last two through flat reshapes: a linearized index,
# a vector loop with a scalar remainder), four must not (a transpose, an inner loop that
# repeats each index, a store before the load, a remainder overlapping the last vector).
SAFE_MODES = ["for", "parallel", "vector", "linear", "split"]
MAP_MODES = [*SAFE_MODES, "transpose", "repeat_index", "store_first", "overlap"]


# ----------------------------------------------------------------------------- random programs
@attrs.define
class Program:
    shapes: list[tuple[int, ...]]
    steps: list[tuple]  # ("init", b, par) ("map", b, c, kind) ("add", a, b, c) ("copy", b, c)
    #                      ("observe", b, reshape) ("repeat", [steps])
    early_alloc: list[bool]
    dealloc: list[bool]


@st.composite
def programs(draw) -> Program:
    n = draw(st.integers(2, 8))
    pool = draw(st.lists(st.sampled_from(SHAPES), min_size=1, max_size=3))  # few shapes: more in-place chances
    shapes = [draw(st.sampled_from(pool)) for _ in range(n)]
    ready: set[int] = set()
    written: list[int] = []

    def step(depth: int) -> tuple:
        choices = ["init", "map", "map", "add", "copy", "observe"] + (["repeat"] if depth == 0 else [])
        kind = draw(st.sampled_from(choices)) if ready else "init"
        same = {b: [c for c in range(n) if c != b and shapes[c] == shapes[b]] for b in ready}
        if kind in ("map", "copy") and any(same.values()):
            last = written[-1]
            chain = same[last] and draw(st.booleans())  # the last result feeds the next nest: it dies there
            b = last if chain else draw(st.sampled_from(sorted(b for b in ready if same[b])))
            fresh = [c for c in same[b] if c not in ready]  # a first write: where in-place can happen
            c = draw(st.sampled_from(fresh if fresh and draw(st.booleans()) else same[b]))
            ready.add(c)
            written.append(c)
            mode = draw(st.sampled_from(MAP_MODES))
            return (kind, b, c, mode) if kind == "map" else (kind, b, c)
        if kind == "add" and any(same.values()):
            a = draw(st.sampled_from(sorted(b for b in ready if same[b])))
            b = draw(st.sampled_from([a, *[c for c in same[a] if c in ready]]))
            c = draw(st.sampled_from(same[a]))
            if c == b:
                c = a
            ready.add(c)
            written.append(c)
            return ("add", a, b, c)
        if kind == "observe":
            return ("observe", draw(st.sampled_from(sorted(ready))), draw(st.booleans()))
        if kind == "repeat":
            return ("repeat", [step(1) for _ in range(draw(st.integers(1, 3)))])
        b = draw(st.integers(0, n - 1))
        ready.add(b)
        written.append(b)
        return ("init", b, draw(st.booleans()))

    steps = [step(0) for _ in range(draw(st.integers(1, 9)))]
    steps.append(("observe", written[-1], False))
    return Program(shapes, steps, [draw(st.booleans()) for _ in range(n)], [draw(st.booleans()) for _ in range(n)])


def _mtype(shape: tuple[int, ...]) -> str:
    return f"memref<{'x'.join(map(str, shape))}xf32>"


class _Renderer:
    """The program as .gir text: one function `@f(%x, %y)`, `%y` gets one sum per observe."""

    def __init__(self, prog: Program) -> None:
        self.prog = prog
        self.lines: list[str] = []
        self.count = 0
        self.slots = 0
        self.flat: dict[int, tuple[str, str]] = {}

    def fresh(self, stem: str) -> str:
        self.count += 1
        return f"%{stem}{self.count}"

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("  " * depth + line)

    def text(self) -> str:
        prog = self.prog
        body_start = len(self.lines)
        uses: dict[int, list[int]] = {b: [] for b in range(len(prog.shapes))}
        for i, s in enumerate(prog.steps):
            for b in _buffers_of(s):
                uses[b].append(i)
        for b, shape in enumerate(prog.shapes):
            if prog.early_alloc[b] or not uses[b]:
                self.emit(1, f"%b{b} = memref.alloc() : {_mtype(shape)}")
        for i, s in enumerate(prog.steps):
            for b in sorted(set(_buffers_of(s))):
                if not prog.early_alloc[b] and uses[b][0] == i:
                    self.emit(1, f"%b{b} = memref.alloc() : {_mtype(prog.shapes[b])}")
            self.step(s, 1)
            for b in sorted(set(_buffers_of(s))):
                if prog.dealloc[b] and uses[b][-1] == i:
                    self.emit(1, f"memref.dealloc %b{b} : {_mtype(prog.shapes[b])}")
        body = self.lines[body_start:]
        consts = [f"  %c{k} = arith.constant {k} : index" for k in range(X_SIZE + 1)]
        consts.append("  %zero = arith.constant 0.0 : f32")
        y_type = f"memref<{max(self.slots, 1)}xf32>"
        head = f"func.func @f(%x: memref<{X_SIZE}xf32>, %y: {y_type}) {{"
        return "\n".join([head, *consts, *body, "  func.return", "}"]).replace("Y_TYPE", y_type) + "\n"

    def nest(self, shape: tuple[int, ...], depth: int, mode: str, body: Callable[[list[str], int, int], None]) -> None:
        """Loops over every element (or every vector<4> along the last dim) of `shape`."""
        width = 4 if mode == "vector" and shape[-1] % 4 == 0 else 1
        steps = [1] * (len(shape) - 1) + [width]
        ivs = [self.fresh("i") for _ in shape]
        if mode == "parallel":
            zeros = ", ".join("%c0" for _ in shape)
            ubs = ", ".join(f"%c{d}" for d in shape)
            sts = ", ".join(f"%c{s}" for s in steps)
            self.emit(depth, f"loop.parallel ({', '.join(ivs)}) = ({zeros}) to ({ubs}) step ({sts}) {{")
            body(ivs, depth + 1, width)
            self.emit(depth + 1, "loop.yield")
            self.emit(depth, "}")
            return
        for k, (iv, d, s) in enumerate(zip(ivs, shape, steps, strict=True)):
            self.emit(depth + k, f"loop.for {iv} = %c0 to %c{d} step %c{s} {{")
        body(ivs, depth + len(shape), width)
        for k in reversed(range(len(shape))):
            self.emit(depth + k + 1, "loop.yield")
            self.emit(depth + k, "}")

    def ref(self, b: int) -> tuple[str, str]:
        """The memref a nest accesses buffer `b` through: itself, or its flat reshape."""
        return self.flat.get(b, (f"%b{b}", _mtype(self.prog.shapes[b])))

    def access(self, depth: int, b: int, ivs: list[str], width: int) -> str:
        v = self.fresh("v")
        m, t = self.ref(b)
        if width == 1:
            self.emit(depth, f"{v} = memref.load {m}[{', '.join(ivs)}] : {t}")
        else:
            self.emit(depth, f"{v} = memref.vector_load {m}[{', '.join(ivs)}] : {t}, vector<{width}xf32>")
        return v

    def store(self, depth: int, v: str, c: int, ivs: list[str], width: int) -> None:
        m, t = self.ref(c)
        if width == 1:
            self.emit(depth, f"memref.store {v}, {m}[{', '.join(ivs)}] : {t}")
        else:
            self.emit(depth, f"memref.vector_store {v}, {m}[{', '.join(ivs)}] : {t}, vector<{width}xf32>")

    def flat_map(self, ins: tuple[int, ...], c: int, mode: str, depth: int, compute: Callable) -> None:
        """Map through flat reshapes: one linearized index over the nest ("linear"), or per row
        a vector<4> loop and a scalar remainder ("split"; "overlap" starts the remainder one
        element early, inside the last vector, when there is one)."""
        shape = self.prog.shapes[c]
        n = int(np.prod(shape))
        for b in sorted({*ins, c}):
            f = self.fresh("flat")
            self.emit(depth, f"{f} = memref.reshape %b{b} : {_mtype(shape)} to memref<{n}xf32>")
            self.flat[b] = (f, f"memref<{n}xf32>")
        if mode == "linear":

            def linear(ivs: list[str], d: int, width: int) -> None:
                lin = ivs[-1]
                if len(ivs) == 2:
                    row, lin = self.fresh("r"), self.fresh("l")
                    self.emit(d, f"{row} = arith.muli {ivs[0]}, %c{shape[1]} : index")
                    self.emit(d, f"{lin} = arith.addi {row}, {ivs[1]} : index")
                compute([lin], d, 1)

            self.nest(shape, depth, "for", linear)
        else:
            rows, cols = shape if len(shape) == 2 else (1, shape[0])
            outer, base = self.fresh("o"), self.fresh("base")
            self.emit(depth, f"loop.parallel ({outer}) = (%c0) to (%c{rows}) step (%c1) {{")
            self.emit(depth + 1, f"{base} = arith.muli {outer}, %c{cols} : index")
            cut = cols - cols % 4 - (1 if mode == "overlap" and cols >= 4 else 0)
            for lo, hi, width in ((0, cols - cols % 4, 4), (cut, cols, 1)):
                if hi <= lo:
                    continue
                iv, lin = self.fresh("i"), self.fresh("l")
                self.emit(depth + 1, f"loop.for {iv} = %c{lo} to %c{hi} step %c{width} {{")
                self.emit(depth + 2, f"{lin} = arith.addi {base}, {iv} : index")
                compute([lin], depth + 2, width)
                self.emit(depth + 2, "loop.yield")
                self.emit(depth + 1, "}")
            self.emit(depth + 1, "loop.yield")
            self.emit(depth, "}")
        self.flat.clear()

    def constant(self, depth: int, value: float, width: int) -> str:
        k = self.fresh("k")
        self.emit(depth, f"{k} = arith.constant {value} : f32")
        if width == 1:
            return k
        kv = self.fresh("kv")
        self.emit(depth, f"{kv} = vector.broadcast {k} : f32 to vector<{width}xf32>")
        return kv

    def step(self, s: tuple, depth: int) -> None:
        kind = s[0]
        vt = "f32"
        if kind == "init":
            _, b, par = s
            shape = self.prog.shapes[b]

            def init(ivs: list[str], d: int, width: int) -> None:
                lin = ivs[-1]
                if len(ivs) == 2:
                    row = self.fresh("r")
                    self.emit(d, f"{row} = arith.muli {ivs[0]}, %c{shape[1]} : index")
                    lin = self.fresh("l")
                    self.emit(d, f"{lin} = arith.addi {row}, {ivs[1]} : index")
                v = self.fresh("v")
                self.emit(d, f"{v} = memref.load %x[{lin}] : memref<{X_SIZE}xf32>")
                k = self.constant(d, float(self.count % 7 + 1), 1)
                w = self.fresh("w")
                self.emit(d, f"{w} = arith.addf {v}, {k} : {vt}")
                self.store(d, w, b, ivs, 1)

            self.nest(shape, depth, "parallel" if par else "for", init)
        elif kind in ("map", "add"):
            ins, c = (s[1:2], s[2]) if kind == "map" else (s[1:3], s[3])
            mode = s[3] if kind == "map" else "for"

            shape = self.prog.shapes[c]
            if mode == "transpose" and (len(shape) != 2 or shape[0] != shape[1]):
                mode = "for"

            def compute(ivs: list[str], d: int, width: int) -> None:
                t = "f32" if width == 1 else f"vector<{width}xf32>"
                if mode == "repeat_index":
                    self.emit(d, f"loop.for {self.fresh('k')} = %c0 to %c2 step %c1 {{")
                    d += 1
                if mode == "store_first":
                    self.store(d, self.constant(d, 7.0, width), c, ivs, width)
                read = ivs[::-1] if mode == "transpose" else ivs
                vals = [self.access(d, b, read, width) for b in ins]
                k = self.constant(d, 0.5 + self.count % 3, width)
                w = self.fresh("w")
                self.emit(d, f"{w} = arith.mulf {vals[0]}, {k} : {t}")
                for v in vals[1:]:
                    w2 = self.fresh("w")
                    self.emit(d, f"{w2} = arith.addf {w}, {v} : {t}")
                    w = w2
                self.store(d, w, c, ivs, width)
                if mode == "repeat_index":
                    self.emit(d, "loop.yield")
                    self.emit(d - 1, "}")

            if mode in ("linear", "split", "overlap"):
                self.flat_map(ins, c, mode, depth, compute)
                return

            self.nest(self.prog.shapes[c], depth, mode, compute)
        elif kind == "copy":
            _, b, c = s
            self.emit(depth, f"memref.copy %b{b}, %b{c} : {_mtype(self.prog.shapes[b])}")
        elif kind == "observe":
            self.observe(s[1], s[2], depth)
        else:
            ivar = self.fresh("t")
            self.emit(depth, f"loop.for {ivar} = %c0 to %c2 step %c1 {{")
            for inner in s[1]:
                self.step(inner, depth + 1)
            self.emit(depth + 1, "loop.yield")
            self.emit(depth, "}")

    def observe(self, b: int, reshape: bool, depth: int) -> None:
        shape = self.prog.shapes[b]
        src = f"%b{b}"
        if reshape:
            src = self.fresh("flat")
            n = int(np.prod(shape))
            self.emit(depth, f"{src} = memref.reshape %b{b} : {_mtype(shape)} to memref<{n}xf32>")
            shape = (n,)
        acc = "%zero"
        ivs = []
        for k, d in enumerate(shape):
            iv, a, r = self.fresh("i"), self.fresh("a"), self.fresh("s")
            ivs.append(iv)
            self.emit(depth + k, f"{r} = loop.for {iv} = %c0 to %c{d} step %c1 iter_args({a} = {acc}) -> (f32) {{")
            acc = a
        v, total = self.fresh("v"), self.fresh("n")
        self.emit(depth + len(shape), f"{v} = memref.load {src}[{', '.join(ivs)}] : {_mtype(shape)}")
        self.emit(depth + len(shape), f"{total} = arith.addf {acc}, {v} : f32")
        inner = total
        results = [line.split(" = ")[0].strip() for line in self.lines[-len(shape) - 2 : -2]]
        for k in reversed(range(len(shape))):
            self.emit(depth + k + 1, f"loop.yield {inner} : f32")
            self.emit(depth + k, "}")
            inner = results[k]
        self.emit(depth, f"memref.store {inner}, %y[%c{self.slots}] : Y_TYPE")
        self.slots += 1


def _buffers_of(s: tuple) -> list[int]:
    if s[0] == "repeat":
        return [b for inner in s[1] for b in _buffers_of(inner)]
    if s[0] in ("init", "observe"):
        return [s[1]]
    if s[0] == "map":
        return [s[1], s[2]]
    return list(s[1:])


def render(prog: Program) -> str:
    return _Renderer(prog).text()


# ----------------------------------------------------------------------------- a tiny interpreter
def interpret(func: FuncOp, args: list[np.ndarray], order: random.Random) -> None:
    """Runs the loop/memref/arith subset on numpy arrays (memrefs are views, so an arena's
    views alias). Parallel loops run their iterations in a shuffled order."""
    env: dict[Any, Any] = dict(zip(func.args, args, strict=True))
    _run_block(func.entry, env, order)


def _run_block(block: Block, env: dict, order: random.Random) -> list[Any]:
    for op in block.ops:
        if isinstance(op, loop.YieldOp | ReturnOp):
            return [env[v] for v in op.operands]
        _run_op(op, env, order)
    return []


def _run_op(op: Operation, env: dict, order: random.Random) -> None:
    get = [env[v] for v in op.operands]
    if isinstance(op, arith.ConstantOp):
        attr = op.value
        env[op.results[0]] = np.float32(attr.value) if isinstance(attr, FloatAttr) else attr.value
    elif isinstance(op, arith.AddIOp | arith.MulIOp | arith.AddFOp | arith.MulFOp):
        f = {arith.AddIOp: int.__add__, arith.MulIOp: int.__mul__}.get(type(op))
        a, b = get
        env[op.results[0]] = f(a, b) if f else (a + b if isinstance(op, arith.AddFOp) else a * b)
    elif isinstance(op, vector.BroadcastOp):
        env[op.results[0]] = np.full(op.results[0].type.shape, get[0], np.float32)
    elif isinstance(op, memref.AllocOp):
        env[op.results[0]] = np.full(op.results[0].type.shape, np.nan, np.float32)
    elif isinstance(op, memref.ViewOp):
        t = op.results[0].type
        n = memref.byte_size(t)
        env[op.results[0]] = get[0][op.offset : op.offset + n].view(np.float32).reshape(t.shape)
    elif isinstance(op, memref.ReshapeOp):
        view = get[0].reshape(op.results[0].type.shape)
        assert np.shares_memory(view, get[0])
        env[op.results[0]] = view
    elif isinstance(op, memref.LoadOp):
        env[op.results[0]] = get[0][tuple(get[1:])]
    elif isinstance(op, memref.StoreOp):
        get[1][tuple(get[2:])] = get[0]
    elif isinstance(op, memref.VectorLoadOp):
        w = op.results[0].type.shape[0]
        *lead, last = get[1:]
        env[op.results[0]] = get[0][(*lead, slice(last, last + w))].copy()
    elif isinstance(op, memref.VectorStoreOp):
        w = op.value.type.shape[0]
        *lead, last = get[2:]
        get[1][(*lead, slice(last, last + w))] = get[0]
    elif isinstance(op, memref.CopyOp):
        get[1][...] = get[0]
    elif isinstance(op, memref.DeallocOp):
        pass
    elif isinstance(op, loop.ForOp):
        lb, ub, step, *carried = get
        for i in range(lb, ub, step):
            env[op.induction_var] = i
            env.update(zip(op.iter_args, carried, strict=True))
            carried = _run_block(op.body_block, env, order)
        env.update(zip(op.results, carried, strict=True))
    elif isinstance(op, loop.ParallelOp):
        n = len(op.induction_vars)
        ranges = [range(lb, ub, s) for lb, ub, s in zip(get[:n], get[n : 2 * n], get[2 * n :], strict=True)]
        points = [tuple(p) for p in np.ndindex(*(len(r) for r in ranges))]
        order.shuffle(points)
        for p in points:
            env.update({iv: r[k] for iv, r, k in zip(op.induction_vars, ranges, p, strict=True)})
            _run_block(op.body_block, env, order)
    else:
        raise NotImplementedError(op.name)


# ----------------------------------------------------------------------------- helpers
def plan_module(text: str) -> Operation:
    module = parse_module(text)
    AllocateBuffers().run(module, PassState(default_context()))
    from irc.verifier import verify

    verify(module)
    return module


def the_func(module: Operation) -> FuncOp:
    return next(op for op in module.walk() if isinstance(op, FuncOp))


def run_func(func: FuncOp, x: np.ndarray, slots: int, seed: int) -> np.ndarray:
    y = np.zeros(slots, np.float32)
    args = [x, y]
    if len(func.args) == 3:
        garbage = np.random.default_rng(seed).integers(0, 256, func.args[2].type.shape[0], dtype=np.uint8)
        args.append(garbage.astype(np.uint8))
    interpret(func, args, random.Random(seed))
    return y


def totals(func: FuncOp) -> tuple[int, int, int]:
    return tuple(func.attributes[k].value for k in ("irc.arena_size", "irc.naive_size", "irc.lower_bound"))


def a_conflict(plan: MemoryPlan) -> tuple[int, int] | None:
    """Two buffers live together that are not an in-place pair."""
    pairs = set(plan.in_place) | {(c, b) for b, c in plan.in_place}
    for a in plan.buffers:
        for b in plan.buffers:
            if a.id < b.id and a.lives_with(b) and (a.id, b.id) not in pairs:
                return a.id, b.id
    return None


# ----------------------------------------------------------------------------- properties
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prog=programs(), seed=st.integers(0, 2**16))
def test_random_programs_run_the_same_in_the_arena(prog: Program, seed: int) -> None:
    text = render(prog)
    original = the_func(parse_module(text))
    slots = original.args[1].type.shape[0]
    x = np.random.default_rng(seed).standard_normal(X_SIZE).astype(np.float32)
    expected = run_func(original, x, slots, seed)

    before = plan_function(original)
    module = plan_module(text)
    func = the_func(module)
    plan = read_plan(func)
    check_plan(plan)
    arena, naive, lower = totals(func)
    assert (plan.arena_size, plan.naive_size, plan.lower_bound) == (arena, naive, lower)
    assert lower <= arena <= naive
    assert [b.offset for b in plan.buffers] == [b.offset for b in before.buffers]
    assert plan.in_place == before.in_place
    assert not any(isinstance(op, memref.AllocOp | memref.DeallocOp) for op in func.walk())
    np.testing.assert_array_equal(run_func(func, x, slots, seed), expected)

    # A plan that puts two buffers live together at one offset is caught.
    conflict = a_conflict(plan)
    if conflict is not None:
        a, b = sorted(conflict, key=lambda i: -plan.buffers[i].size)  # move the smaller onto the larger
        moved = attrs.evolve(plan.buffers[b], offset=plan.buffers[a].offset)
        broken = attrs.evolve(plan, buffers=[moved if x.id == b else x for x in plan.buffers])
        with pytest.raises(PlanError):
            check_plan(broken)


@settings(max_examples=40, deadline=None)
@given(prog=programs())
def test_broken_views_in_the_ir_are_caught(prog: Program) -> None:
    """Moving a view of the arena onto another buffer that is live at the same time: the plan
    read back from the IR fails the checker."""
    module = plan_module(render(prog))
    func = the_func(module)
    plan = read_plan(func)
    conflict = a_conflict(plan)
    if conflict is None or plan.buffers[conflict[0]].size != plan.buffers[conflict[1]].size:
        return
    a, b = conflict
    views = [op for op in func.walk() if isinstance(op, memref.ViewOp)]
    views[b].properties["byte_offset"] = views[a].byte_offset
    with pytest.raises(PlanError):
        check_plan(read_plan(func))


@pytest.mark.parametrize("shape", [(16,), (4, 4), (2, 8), (3, 3)])
@pytest.mark.parametrize("mode", MAP_MODES)
@pytest.mark.parametrize("repeat", [False, True])
def test_in_place_only_where_safe(shape: tuple[int, ...], mode: str, repeat: bool) -> None:
    """init b; c = f(b) where b dies (in a loop when `repeat`); observe c. SAFE_MODES run in
    place (outside a repeating loop), the others never (a transpose of a non-square shape and
    an overlap without a vector loop render as plain maps); results stay the same."""
    step = ("map", 0, 1, mode)
    prog = Program(
        [shape, shape], [("init", 0, False), ("repeat", [step]) if repeat else step], [True, True], [False] * 2
    )
    prog.steps.append(("observe", 1, False))
    text = render(prog)
    original = the_func(parse_module(text))
    x = np.random.default_rng(0).standard_normal(X_SIZE).astype(np.float32)
    expected = run_func(original, x, 1, 0)
    func = the_func(plan_module(text))
    plan = read_plan(func)
    check_plan(plan)
    square = len(shape) == 2 and shape[0] == shape[1]
    plain = (mode == "transpose" and not square) or (mode == "overlap" and shape[-1] < 4)
    safe = (mode in SAFE_MODES or plain) and not repeat
    assert plan.in_place == (((0, 1),) if safe else ())
    assert plan.arena_size == (64 if safe else 128)
    np.testing.assert_array_equal(run_func(func, x, 1, 0), expected)


# ----------------------------------------------------------------------------- examples
LIVE_IN_LOOP = """
func.func @f(%x: memref<8xf32>, %y: memref<8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %a = memref.alloc() : memref<8xf32>
  %b = memref.alloc() : memref<8xf32>
  loop.for %i = %c0 to %c8 step %c1 {
    %v = memref.load %x[%i] : memref<8xf32>
    memref.store %v, %a[%i] : memref<8xf32>
    %w = memref.load %a[%i] : memref<8xf32>
    memref.store %w, %b[%i] : memref<8xf32>
    loop.yield
  }
  memref.copy %b, %y : memref<8xf32>
  func.return
}
"""


def test_use_in_a_loop_lasts_to_the_end_of_the_loop() -> None:
    plan = plan_function(the_func(parse_module(LIVE_IN_LOOP)))
    a, b = plan.buffers
    assert (a.start, a.end) == (5, 5)
    assert (b.start, b.end) == (5, 6)
    assert a.offset != b.offset
    assert plan.in_place == ()
    check_plan(plan)


def test_checker_rejects_bad_offsets_and_pairs() -> None:
    plan = plan_function(the_func(parse_module(LIVE_IN_LOOP)))
    a, b = plan.buffers
    with pytest.raises(PlanError, match="misaligned or outside"):
        check_plan(attrs.evolve(plan, buffers=[attrs.evolve(a, offset=4), b]))
    with pytest.raises(PlanError, match="misaligned or outside"):
        check_plan(attrs.evolve(plan, arena_size=64))
    with pytest.raises(PlanError, match="in-place pair #0 -> #1"):
        check_plan(attrs.evolve(plan, in_place=[(0, 1)]))
    with pytest.raises(PlanError, match="below the lower bound"):
        check_plan(attrs.evolve(plan, lower_bound=plan.arena_size + 64))


def test_report_lists_planned_functions_only() -> None:
    module = parse_module(LIVE_IN_LOOP)
    assert memory_plan_report(module) == ""
    module = plan_module(LIVE_IN_LOOP)
    report = memory_plan_report(module)
    assert report.startswith("// memory plan of @f: 2 buffers\n")
    assert "// arena 128 bytes, naive 128 bytes, lower bound 128 bytes" in report
    assert "memref.view" in print_op(module)


# ----------------------------------------------------------------------------- the examples
EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.gir"))
NO_PLAN = passes.PIPELINES["cpu"].replace(",allocate-buffers", "")


def test_cpu_pipeline_ends_with_allocate_buffers() -> None:
    assert passes.PIPELINES["cpu"].endswith(",allocate-buffers)")


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_plans_pass_the_checker(path: Path) -> None:
    module = parse_module(path.read_text(), str(path), default_context())
    PassManager(parse_pipeline(passes.PIPELINES["cpu"], passes.get_pass), default_context()).run(module)
    funcs = [op for op in module.walk() if isinstance(op, FuncOp)]
    assert funcs
    for func in funcs:
        plan = read_plan(func)
        check_plan(plan)
        assert (plan.arena_size, plan.naive_size, plan.lower_bound) == totals(func)
        assert plan.lower_bound <= plan.arena_size <= plan.naive_size
        assert plan.arena_size <= 1.1 * plan.lower_bound


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_results_do_not_depend_on_the_plan(path: Path) -> None:
    """Compiled with and without allocate-buffers (separate allocations), on the same inputs."""
    module = parse_module(path.read_text(), str(path), default_context())
    planned = irc.compile(module, cache=False)
    unplanned = irc.compile(module, pipeline=NO_PLAN, cache=False)
    rng = np.random.default_rng(0)
    for name, fn in planned.functions.items():
        assert unplanned[name].memory_plan == {}
        inputs = [rng.standard_normal(p.shape).astype(numpy_dtype(p.element_type)) for p in fn.signature.inputs]
        expected = unplanned[name].call_list(inputs)
        for _ in range(2):  # the arena is reused across calls
            for got, want in zip(fn.call_list(inputs), expected, strict=True):
                np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
