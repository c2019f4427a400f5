"""The allocate-buffers pass: every temporary of a function in one statically planned arena.

The planner is a pure function, `plan_function(func) -> MemoryPlan`; the pass rewrites the
function from the plan. `read_plan(func)` reads the plan back from rewritten IR (the views of
the arena argument), `check_plan(plan)` checks it, and `memory_plan_report(module)` is what
`irc-opt --print-memory-plan` prints.

**Live ranges** are over the function's top-level ops, numbered from 0 in the entry block. A
buffer is live from the top-level op of its first use to that of its last use: a use nested in
a loop (or any region) counts at the outermost op of the function body that holds it, since
the loop runs again; uses through `memref.reshape`/`memref.view` aliases count as uses of the
buffer; `memref.dealloc` and the alloc itself do not touch the data and are no uses (between
the alloc and its first use the contents are undefined, so the memory is free). An unused
buffer lives only at its alloc. Ranges are closed: two buffers whose ranges share an op are
live together. A buffer passed to a terminator (`func.return`, `loop.yield`) or to an op with
regions or memref results other than an alias cannot be planned: the pass fails, naming the op.

**In-place reuse** (a buffer C takes the memory of a buffer B that dies as C is written). At
the top-level op T where B's range ends and C's begins, C may share B's memory when T is a
loop nest that computes C from B element by element:
  1. B and C have the same byte size;
  2. inside T, B is only loaded (`memref.load`/`memref.vector_load`) and C only stored
     (`memref.store`/`memref.vector_store`), each through itself or a chain of reshapes of it
     (no view; reshapes keep the row-major order), with one element size;
  3. in each block that holds accesses, every access touches the same place: its linear
     element index (row-major over the shape of the memref it goes through) is one affine
     form of the induction variables (built by `arith.addi`/`subi`/`muli` from them,
     constants and values defined outside T), with one width (1, or n for vector<n>); and
     every load of B comes before every store to C there, so an element is read before it
     is overwritten;
  4. in each block, places of different iterations do not overlap: the loops from the block
     up to T are all that encloses it there, every one of their induction variables appears
     in the form, and sorted by |coefficient| each term's smallest move (|coefficient| *
     step) exceeds the widest reach of the terms below it (their coefficient times their
     span, from constant bounds) plus width - 1, like digits of a mixed radix (`36 * c + s`
     with s in [0, 36) qualifies; `i` under an inner loop `k` does not, nor vector<8>
     accesses at step 4);
  5. with several blocks (a vector loop and its remainder), blocks touch disjoint elements:
     their forms agree on the loops around them all (and on values from outside T), the
     rest of each spans an interval (constant bounds) apart from the others', and the shared
     terms pass rule 4 with the hull of those intervals as the width.
So no iteration reads an element that another iteration, or another block, already overwrote,
in any order of iterations (`loop.parallel`).
B's range ends at T and C's starts at T, so they overlap only there; every other buffer
live at T is disjoint from both. Chains (B -> C -> D) share one slot.

**Offsets**: in-place chains merge into slots (their footprint: the size rounded up to the
alignment, 64); slots are placed greedy-by-size with best fit (largest first; each at the
smallest gap between the slots already placed whose live ranges overlap its own that fits it,
else above them all). The same greedy also runs in two other orders (most bytes live around
the slot first; earliest start first) and the smallest arena wins. The totals: arena = the
highest slot end; naive = the sum of the footprints of all temporaries; lower bound = the
peak, over top-level ops, of the footprints of the slots live there (a slot holding an
in-place pair counts once). Each slot live at the peak needs its own aligned footprint, so
the arena is never below the lower bound.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Sequence
from typing import ClassVar

import attrs

from dialects.arith import AddIOp, MulIOp, SubIOp
from dialects.func import FuncOp
from dialects.loop import LoopLike
from dialects.memref import (
    ALIGNMENT,
    AllocOp,
    DeallocOp,
    LoadOp,
    ReshapeOp,
    StoreOp,
    VectorLoadOp,
    VectorStoreOp,
    ViewOp,
    byte_size,
    element_bytes,
)
from irc.attributes import ArrayAttr, DictionaryAttr, IntegerAttr, TypeAttr, UnitAttr
from irc.ir import Block, Operation, Value
from irc.location import file_location
from irc.pass_manager import Pass, PassState
from irc.rewriter import PatternRewriter, constant_attr
from irc.traits import CallLike, IsTerminator
from irc.types import FunctionType, IntegerType, MemRefType, i64

ARENA_ATTR = "irc.arena"
SIZE_ATTRS = ("irc.arena_size", "irc.naive_size", "irc.lower_bound")


def _align(n: int) -> int:
    return -(-n // ALIGNMENT) * ALIGNMENT


# ----------------------------------------------------------------------------- the plan
@attrs.frozen
class Buffer:
    """One temporary: bytes, live range `[start, end]` over top-level ops, offset in the arena."""

    id: int
    size: int
    start: int
    end: int
    offset: int
    name: str = ""
    location: str = ""

    @property
    def footprint(self) -> int:
        """The bytes it takes in the arena: its size rounded up to the alignment (at least one unit)."""
        return _align(max(self.size, 1))

    def lives_with(self, other: Buffer) -> bool:
        return self.start <= other.end and other.start <= self.end

    def shares_memory_with(self, other: Buffer) -> bool:
        return self.offset < other.offset + other.size and other.offset < self.offset + self.size


@attrs.frozen
class MemoryPlan:
    """The plan of one function. `in_place` holds `(b, c)` buffer ids: c took b's memory."""

    function: str
    buffers: tuple[Buffer, ...] = attrs.field(converter=tuple)
    in_place: tuple[tuple[int, int], ...] = attrs.field(converter=tuple)
    arena_size: int
    naive_size: int
    lower_bound: int

    def table(self) -> str:
        """The report of `irc-opt --print-memory-plan`, as `//` comments."""
        shares = {c: b for b, c in self.in_place}
        lines = [
            f"// memory plan of @{self.function}: {len(self.buffers)} buffers",
            f"//   {'buffer':<8}{'bytes':>10}{'offset':>10}  {'live':<14}{'in-place-of':<13}{'value':<12}location",
        ]
        for b in self.buffers:
            live = f"[{b.start}, {b.end}]"
            share = f"#{shares[b.id]}" if b.id in shares else "-"
            value = f"%{b.name}" if b.name else "-"
            lines.append(
                f"//   {'#' + str(b.id):<8}{b.size:>10}{b.offset:>10}  {live:<14}{share:<13}{value:<12}"
                f"{b.location or '-'}"
            )
        ratio = f" ({self.arena_size / self.lower_bound:.3f}x the lower bound)" if self.lower_bound else ""
        lines.append(
            f"// arena {self.arena_size} bytes, naive {self.naive_size} bytes, lower bound {self.lower_bound} bytes"
            + ratio
        )
        return "\n".join(lines) + "\n"


class PlanError(AssertionError):
    """A memory plan that would let two live buffers overwrite each other."""


def check_plan(plan: MemoryPlan) -> None:
    """Raise PlanError unless every two buffers that are live together use disjoint bytes.

    In-place pairs are the exception: they must share their offset and size, and their ranges
    must meet at exactly one op (where the input dies as the output is written)."""
    by_id = {b.id: b for b in plan.buffers}
    pairs = set(plan.in_place)
    for b, c in plan.in_place:
        src, dst = by_id[b], by_id[c]
        if src.offset != dst.offset or src.size != dst.size or src.end != dst.start:
            raise PlanError(
                f"@{plan.function}: in-place pair #{b} -> #{c} must share offset and size and meet at one op "
                f"(#{b}: {src.size} bytes at {src.offset}, live [{src.start}, {src.end}]; "
                f"#{c}: {dst.size} bytes at {dst.offset}, live [{dst.start}, {dst.end}])"
            )
    for b in plan.buffers:
        if b.offset % ALIGNMENT or b.offset < 0 or b.offset + b.size > plan.arena_size:
            raise PlanError(
                f"@{plan.function}: buffer #{b.id} ({b.size} bytes at {b.offset}) is misaligned or outside the "
                f"arena of {plan.arena_size} bytes"
            )
    ordered = sorted(plan.buffers, key=lambda b: (b.start, b.id))
    for i, a in enumerate(ordered):
        for b in ordered[i + 1 :]:
            if b.start > a.end:
                break
            if a.shares_memory_with(b) and (a.id, b.id) not in pairs and (b.id, a.id) not in pairs:
                raise PlanError(
                    f"@{plan.function}: buffers #{a.id} (live [{a.start}, {a.end}], bytes [{a.offset}, "
                    f"{a.offset + a.size})) and #{b.id} (live [{b.start}, {b.end}], bytes [{b.offset}, "
                    f"{b.offset + b.size})) are live together and overlap in memory"
                )
    if plan.lower_bound > plan.arena_size:
        raise PlanError(
            f"@{plan.function}: arena of {plan.arena_size} bytes is below the lower bound {plan.lower_bound}"
        )


# ----------------------------------------------------------------------------- liveness
@attrs.define(eq=False)
class _Liveness:
    """The buffers of one function (roots: alloc results, or views of the arena), their
    accesses, live ranges and in-place pairs."""

    func: FuncOp
    roots: list[Value]
    top_ops: list[Operation] = attrs.field(factory=list)
    uses: list[list[Operation]] = attrs.field(factory=list)  # ops touching each buffer's data
    ranges: list[tuple[int, int]] = attrs.field(factory=list)

    def __attrs_post_init__(self) -> None:
        func = self.func
        blocks = len(func.regions[0].blocks)
        if blocks != 1:
            raise func.emit_error(f"allocate-buffers expects a function body of one block, not {blocks}")
        self.top_ops = list(func.entry.ops)
        top: dict[Operation, int] = {}
        for i, op in enumerate(self.top_ops):
            for inner in op.walk():
                top[inner] = i
        for root in self.roots:
            uses, _ = _accesses(root)
            self.uses.append(uses)
            at = [top[u] for u in uses] or [top[root.defining_op()]]
            self.ranges.append((min(at), max(at)))

    def in_place_pairs(self, allowed: Callable[[int, int], bool]) -> list[tuple[int, int]]:
        """`(b, c)` pairs where c may take b's memory (see the module docstring), c taken by at
        most one b and b giving to at most one c; `allowed(b, c)` filters candidates."""
        starting: dict[int, list[int]] = {}
        for c, (start, _) in enumerate(self.ranges):
            starting.setdefault(start, []).append(c)
        taken: set[int] = set()
        pairs = []
        for b, (_, end) in enumerate(self.ranges):
            nest = self.top_ops[end]
            if not isinstance(nest, LoopLike):
                continue
            for c in starting.get(end, ()):
                if c == b or c in taken or not allowed(b, c):
                    continue
                if _elementwise_in_place(nest, self.roots[b], self.roots[c], self.uses[b], self.uses[c]):
                    pairs.append((b, c))
                    taken.add(c)
                    break
        return pairs


_ALIASES = (ReshapeOp, ViewOp)


def _accesses(root: Value) -> tuple[list[Operation], list[Operation]]:
    """The ops that touch the data of `root` (through aliases too), and its deallocs."""
    uses: list[Operation] = []
    deallocs: list[Operation] = []
    work, seen = [root], {root}
    while work:
        value = work.pop()
        for user in value.users():
            if isinstance(user, DeallocOp):
                deallocs.append(user)
            elif isinstance(user, _ALIASES):
                for r in user.results:
                    if r not in seen:
                        seen.add(r)
                        work.append(r)
            elif (
                user.has_trait(IsTerminator)
                or user.regions
                or any(isinstance(t, MemRefType) for t in user.result_types)
            ):
                raise user.emit_error(
                    f"allocate-buffers cannot plan a buffer passed to '{user.name}' (it could escape or alias)"
                )
            else:
                uses.append(user)
    return list(dict.fromkeys(uses)), deallocs


def _width(op: Operation) -> int:
    if isinstance(op, VectorLoadOp):
        return op.results[0].type.shape[0]
    if isinstance(op, VectorStoreOp):
        return op.value.type.shape[0]
    return 1


def _elementwise_in_place(
    nest: Operation, b: Value, c: Value, b_uses: list[Operation], c_uses: list[Operation]
) -> bool:
    """Rules 1-5 of the module docstring for `c` taking `b`'s memory at the loop nest `nest`."""
    if byte_size(b.type) != byte_size(c.type):
        return False
    reads = [u for u in b_uses if nest.is_ancestor(u)]
    writes = [u for u in c_uses if nest.is_ancestor(u)]
    if not reads or not writes:
        return False
    if not all(isinstance(u, LoadOp | VectorLoadOp) and _reshaped_from(u.memref) is b for u in reads):
        return False
    if not all(isinstance(u, StoreOp | VectorStoreOp) and _reshaped_from(u.memref) is c for u in writes):
        return False
    accesses = reads + writes
    if len({element_bytes(u.memref.type.element_type) for u in accesses}) != 1:
        return False
    by_block: dict[Block, list[Operation]] = {}
    for u in accesses:
        by_block.setdefault(u.parent, []).append(u)
    places = []
    for block, ops in by_block.items():
        loops = _enclosing_loops(block, nest)
        if loops is None:
            return False
        found = {_place_of(u, loops, nest) for u in ops}
        if len(found) != 1 or None in found:
            return False
        (place,) = found
        loads = [u for u in ops if isinstance(u, LoadOp | VectorLoadOp)]
        stores = [u for u in ops if isinstance(u, StoreOp | VectorStoreOp)]
        if not all(r.is_before_in_block(w) for r in loads for w in stores):
            return False
        if not _mixed_radix(place[0], place[1] - 1, loops):
            return False
        places.append((place, loops))
    return len(places) == 1 or _disjoint_blocks(places)


def _disjoint_blocks(places: list[tuple[tuple[Affine, int], dict]]) -> bool:
    """Rule 5: blocks touch disjoint elements. Their forms agree on the terms of the loops
    around all of them (and on values from outside the nest); the rest spans disjoint
    intervals (constant bounds), and those shared terms keep even their hull apart."""
    common = set.intersection(*(set(loops) for _, loops in places))
    shared: Affine | None = None
    spans = []
    for (form, width), loops in places:
        outer = frozenset((k, c) for k, c in form if k is not None and (k in common or k not in loops))
        if shared is not None and outer != shared:
            return False
        shared = outer
        lo = hi = dict(form).get(None, 0)
        for key, coef in form:
            if key is None or key not in loops or key in common:
                continue
            loop, dim = loops[key]
            bounds = loop.constant_bounds()[dim]
            if bounds is None:
                return False
            first, ub, step = bounds
            last = first + max(ub - first - 1, 0) // step * step
            lo += min(coef * first, coef * last)
            hi += max(coef * first, coef * last)
        spans.append((lo, hi + width - 1))
    spans.sort()
    if any(b[0] <= a[1] for a, b in itertools.pairwise(spans)):
        return False
    assert shared is not None
    reach = max(h for _, h in spans) - spans[0][0]
    return _mixed_radix(shared, reach, {iv: places[0][1][iv] for iv in common})


def _reshaped_from(value: Value) -> Value:
    """The buffer `value` is a reshape (or a chain of reshapes) of; `value` itself otherwise.
    Reshapes keep the row-major order, so an element's linear index is the same in both."""
    op = value.defining_op()
    while isinstance(op, ReshapeOp):
        value = op.source
        op = value.defining_op()
    return value


def _enclosing_loops(block: Block, nest: Operation) -> dict[Value, tuple[Operation, int]] | None:
    """Induction variable -> (loop, dimension) for the loops from `block` up to `nest`; None
    when something other than a loop encloses the block in the nest."""
    loop_of: dict[Value, tuple[Operation, int]] = {}
    op = block.parent_op()
    while True:
        if not isinstance(op, LoopLike):
            return None
        for dim, iv in enumerate(op.induction_vars):
            loop_of[iv] = (op, dim)
        if op is nest:
            return loop_of
        op = op.parent_op()


# An affine form: a constant (key None) plus coefficients of induction variables and of values
# defined outside the nest (fixed while it runs), as a hashable set of (key, coefficient).
Affine = frozenset


def _place_of(access: Operation, loops: dict, nest: Operation) -> tuple[Affine, int] | None:
    """The linear element index of an access (row-major over its memref's shape) as an affine
    form, and the number of consecutive elements it touches; None if not affine."""
    shape = access.memref.type.shape
    total: dict[Value | None, int] = {}
    stride = 1
    for dim in reversed(range(len(shape))):
        form = _affine(access.indices[dim], loops, nest)
        if form is None:
            return None
        for key, coef in form.items():
            total[key] = total.get(key, 0) + coef * stride
        stride *= shape[dim]
    return frozenset((k, v) for k, v in total.items() if v), _width(access)


def _affine(value: Value, loops: dict, nest: Operation) -> dict[Value | None, int] | None:
    if value in loops:
        return {value: 1}
    attr = constant_attr(value)
    if isinstance(attr, IntegerAttr):
        return {None: attr.value}
    op = value.defining_op()
    if op is None:  # a block argument, not an induction variable of the nest
        parent = value.owner_block().parent_op()
        return None if parent is not None and nest.is_ancestor(parent) else {value: 1}
    if not nest.is_ancestor(op):
        return {value: 1}  # defined outside the nest: fixed while it runs
    if not isinstance(op, AddIOp | SubIOp | MulIOp):
        return None
    lhs, rhs = (_affine(v, loops, nest) for v in op.operands)
    if lhs is None or rhs is None:
        return None
    if isinstance(op, MulIOp):
        if set(rhs) <= {None}:
            lhs, rhs = rhs, lhs
        if not set(lhs) <= {None}:
            return None  # a product of two variables
        k = lhs.get(None, 0)
        return {key: k * coef for key, coef in rhs.items()}
    sign = -1 if isinstance(op, SubIOp) else 1
    out = dict(lhs)
    for key, coef in rhs.items():
        out[key] = out.get(key, 0) + sign * coef
    return out


def _mixed_radix(form: Affine, reach: float, loops: dict) -> bool:
    """Rule 4: distinct iterations of `loops` give places more than `reach` apart (elements
    touched at one place: reach + 1). Every induction variable of `loops` appears in `form`;
    sorted by |coefficient|, each term's smallest move (|coefficient| * step) exceeds the
    reach of the terms below it plus `reach`, like the digits of a mixed radix."""
    terms = sorted(((abs(coef), key) for key, coef in form if key in loops), key=lambda t: t[0])
    if {key for _, key in terms} != set(loops):
        return False
    for coef, iv in terms:
        loop, dim = loops[iv]
        bounds = loop.constant_bounds()[dim]
        step = bounds[2] if bounds is not None else 1
        if coef * step <= reach:
            return False
        if bounds is None:
            reach = float("inf")  # unknown trip count: nothing may come above it
            continue
        lb, ub, step = bounds
        reach += coef * (max(ub - lb - 1, 0) // step) * step
    return True


# ----------------------------------------------------------------------------- planning
def _slots(n: int, pairs: Sequence[tuple[int, int]]) -> list[int]:
    """The slot of each buffer: in-place chains share one (the slot of the chain's first buffer)."""
    slot = list(range(n))
    for b, c in sorted(pairs, key=lambda p: p[1]):
        slot[c] = slot[b]
    # Allocs need not come in the order of the chain: follow each pointer to the chain's root.
    for i in range(n):
        while slot[slot[i]] != slot[i]:
            slot[i] = slot[slot[i]]
    return slot


def _slot_table(sizes: Sequence[int], ranges: Sequence[tuple[int, int]], slot: Sequence[int]):
    """Per slot: footprint and live range (union of its buffers')."""
    out: dict[int, tuple[int, int, int]] = {}
    for i, s in enumerate(slot):
        fp = _align(max(sizes[i], 1))
        start, end = ranges[i]
        if s in out:
            f0, s0, e0 = out[s]
            out[s] = (max(f0, fp), min(s0, start), max(e0, end))
        else:
            out[s] = (fp, start, end)
    return out


def _lower_bound(slots: dict[int, tuple[int, int, int]]) -> int:
    """The peak, over top-level ops, of the footprints of the slots live there."""
    events: dict[int, int] = {}
    for fp, start, end in slots.values():
        events[start] = events.get(start, 0) + fp
        events[end + 1] = events.get(end + 1, 0) - fp
    live = peak = 0
    for t in sorted(events):
        live += events[t]
        peak = max(peak, live)
    return peak


def _greedy(slots: dict[int, tuple[int, int, int]], order: list[int]) -> dict[int, int]:
    """Place slots one by one in `order`, each at the smallest gap that fits it between the
    slots already placed whose live ranges overlap its own (best fit), else above them all."""
    placed: list[tuple[int, int, int, int]] = []  # offset, footprint, start, end
    offsets: dict[int, int] = {}
    for s in order:
        fp, start, end = slots[s]
        busy = sorted((o, o + f) for o, f, s0, e0 in placed if s0 <= end and start <= e0)
        best: tuple[int, int] | None = None  # (gap, offset)
        cursor = 0
        for lo, hi in busy:
            gap = lo - cursor
            if gap >= fp and (best is None or gap < best[0]):
                best = (gap, cursor)
            cursor = max(cursor, hi)
        offsets[s] = best[1] if best is not None else cursor
        placed.append((offsets[s], fp, start, end))
    return offsets


def _place(slots: dict[int, tuple[int, int, int]]) -> dict[int, int]:
    """Greedy by size with best fit; then the same greedy in two other orders (by the bytes
    live around each slot, and by start), keeping the smallest arena (the first on a tie).
    Sizes first is the classic; equal sizes with staggered ranges (attention's small
    matrices) pack tighter in the other orders."""
    pressure = _pressure(slots)
    orders = [
        sorted(slots, key=lambda s: (-slots[s][0], slots[s][1], s)),  # size, then start
        sorted(slots, key=lambda s: (-pressure[s], -slots[s][0], slots[s][1], s)),  # breadth first
        sorted(slots, key=lambda s: (slots[s][1], -slots[s][0], s)),  # start, then size
    ]
    best: dict[int, int] | None = None
    best_size = 0
    for order in orders:
        offsets = _greedy(slots, order)
        size = max((offsets[s] + slots[s][0] for s in slots), default=0)
        if best is None or size < best_size:
            best, best_size = offsets, size
    assert best is not None
    return best


def _pressure(slots: dict[int, tuple[int, int, int]]) -> dict[int, int]:
    """For each slot, the most bytes live at one op of its range."""
    live: dict[int, int] = {}
    for fp, start, end in slots.values():
        for t in range(start, end + 1):
            live[t] = live.get(t, 0) + fp
    return {s: max(live[t] for t in range(start, end + 1)) for s, (_, start, end) in slots.items()}


def _describe(value: Value) -> tuple[str, str]:
    op = value.defining_op()
    loc = file_location(op.location) if op is not None else None
    where = f"{os.path.basename(loc.filename)}:{loc.line}:{loc.column}" if loc is not None else ""
    return value.name_hint or "", where


def _make_plan(
    func: FuncOp, live: _Liveness, pairs: list[tuple[int, int]], offsets_of: Callable[[list[int], dict], list[int]]
) -> MemoryPlan:
    sizes = [byte_size(r.type) for r in live.roots]
    slot = _slots(len(sizes), pairs)
    slots = _slot_table(sizes, live.ranges, slot)
    offsets = offsets_of(slot, slots)
    buffers = []
    for i, root in enumerate(live.roots):
        name, where = _describe(root)
        start, end = live.ranges[i]
        buffers.append(Buffer(i, sizes[i], start, end, offsets[i], name, where))
    arena = max((o + _align(max(b.size, 1)) for o, b in zip(offsets, buffers, strict=True)), default=0)
    return MemoryPlan(
        func.sym_name.value,
        buffers,
        pairs,
        arena_size=arena,
        naive_size=sum(b.footprint for b in buffers),
        lower_bound=_lower_bound(slots),
    )


def _allocs(func: FuncOp) -> list[Value]:
    return [op.results[0] for op in func.walk() if isinstance(op, AllocOp)]


def plan_function(func: FuncOp) -> MemoryPlan:
    """Plan every `memref.alloc` of `func` (the IR is not changed); ids follow the allocs' order."""
    live = _Liveness(func, _allocs(func))
    pairs = live.in_place_pairs(lambda b, c: True)

    def greedy(slot: list[int], slots: dict) -> list[int]:
        placed = _place(slots)
        return [placed[s] for s in slot]

    return _make_plan(func, live, pairs, greedy)


def arena_argument(func: FuncOp) -> Value | None:
    """The argument marked `irc.arena`, if any."""
    attrs_ = func.arg_attrs
    if attrs_ is None:
        return None
    for arg, entry in zip(func.args, attrs_, strict=True):
        if entry.get(ARENA_ATTR) is not None:
            return arg
    return None


def read_plan(func: FuncOp) -> MemoryPlan:
    """The plan a planned function carries: its buffers are the views of its arena argument,
    in-place pairs are the pairs the rule allows at one offset."""
    arena = arena_argument(func)
    roots = (
        [] if arena is None else [op.results[0] for op in func.walk() if isinstance(op, ViewOp) and op.source is arena]
    )
    live = _Liveness(func, roots)
    offsets = [r.defining_op().offset for r in roots]
    pairs = live.in_place_pairs(lambda b, c: offsets[b] == offsets[c])
    plan = _make_plan(func, live, pairs, lambda slot, slots: offsets)
    size = arena.type.shape[0] if arena is not None else 0
    return attrs.evolve(plan, arena_size=size)


def memory_plan_report(module: Operation) -> str:
    """The tables of every planned function under `module` (those with `irc.arena_size`)."""
    return "".join(
        read_plan(f).table() for f in module.walk() if isinstance(f, FuncOp) and "irc.arena_size" in f.attributes
    )


# ----------------------------------------------------------------------------- the pass
@attrs.frozen
class AllocateBuffers(Pass):
    """Plan every temporary (`memref.alloc`) of each function into one arena argument.

        func.func @f(%x: memref<8xf32>, %y: memref<8xf32>) {
          %t = memref.alloc() : memref<8xf32>
          ...                                      (last use of %t)
          %u = memref.alloc() : memref<8xf32>
          ...
      ->
        func.func @f(%x: memref<8xf32>, %y: memref<8xf32>, %arena: memref<64xi8> {irc.arena})
            attributes {irc.arena_size = 64, irc.lower_bound = 64, irc.naive_size = 128} {
          %t = memref.view %arena[0] : memref<64xi8> to memref<8xf32>
          ...
          %u = memref.view %arena[0] : memref<64xi8> to memref<8xf32>
          ...

    Live ranges over the top-level ops, in-place reuse where an elementwise loop nest's input
    dies at it, greedy-by-size best-fit offsets aligned to 64 (see the module docstring);
    deallocs of planned buffers go. The arena argument is added only for a non-empty arena;
    the three totals are set on every function planned. Functions already planned are skipped.
    """

    name: ClassVar[str] = "allocate-buffers"
    statistics: ClassVar[dict[str, str]] = {
        "num-buffers": "Number of temporaries planned",
        "num-in-place": "Number of temporaries placed in the memory of a dying input",
        "arena-bytes": "Bytes of all arenas",
        "naive-bytes": "Bytes of all temporaries, each rounded up to the alignment",
    }

    def run(self, op: Operation, state: PassState) -> None:
        rewriter = PatternRewriter()
        funcs = [f for f in op.walk() if isinstance(f, FuncOp) and not f.is_declaration]
        for func in funcs:
            if "irc.arena_size" in func.attributes or arena_argument(func) is not None:
                continue
            plan = plan_function(func)
            try:
                check_plan(plan)
            except PlanError as err:  # a bug in the planner, reported where it happened
                raise func.emit_error(f"allocate-buffers made an invalid plan: {err}") from None
            _rewrite(func, plan, rewriter)
            state.stat("num-buffers", len(plan.buffers))
            state.stat("num-in-place", len(plan.in_place))
            state.stat("arena-bytes", plan.arena_size)
            state.stat("naive-bytes", plan.naive_size)
        state.changed = rewriter.changed


def _rewrite(func: FuncOp, plan: MemoryPlan, rewriter: PatternRewriter) -> None:
    allocs = [v.defining_op() for v in _allocs(func)]
    arena = None
    if plan.arena_size > 0:
        _check_no_callers(func)
        arena = _add_arena_argument(func, plan.arena_size, rewriter)
    with rewriter.modify_op_in_place(func):
        for key, value in zip(SIZE_ATTRS, (plan.arena_size, plan.naive_size, plan.lower_bound), strict=True):
            func.attributes[key] = IntegerAttr(value, i64)
    for alloc, buffer in zip(allocs, plan.buffers, strict=True):
        for dealloc in _accesses(alloc.results[0])[1]:
            rewriter.erase_op(dealloc)
        view = ViewOp.build(arena, buffer.offset, alloc.results[0].type, location=alloc.location)
        view.results[0].name_hint = alloc.results[0].name_hint
        rewriter.replace_op(alloc, view)


def _add_arena_argument(func: FuncOp, size: int, rewriter: PatternRewriter) -> Value:
    arena_type = MemRefType((size,), IntegerType(8))
    old = func.type
    entries = list(func.arg_attrs) if func.arg_attrs is not None else [DictionaryAttr({})] * len(old.inputs)
    with rewriter.modify_op_in_place(func):
        arena = func.entry.add_arg(arena_type, "arena")
        func.properties["function_type"] = TypeAttr(FunctionType([*old.inputs, arena_type], old.results))
        func.properties["arg_attrs"] = ArrayAttr([*entries, DictionaryAttr({ARENA_ATTR: UnitAttr()})])
    return arena


def _check_no_callers(func: FuncOp) -> None:
    """A new argument would break calls; after `inline` there should be none."""
    root: Operation = func
    while root.parent_op() is not None:
        root = root.parent_op()
    name = func.sym_name.value
    for op in root.walk():
        callee = op.properties.get("callee") if op.has_trait(CallLike) else None
        if callee is not None and callee.root == name and not callee.nested:
            raise op.emit_error(
                f"allocate-buffers cannot add an arena argument to @{name}: it is called here (inline it first)"
            )
