"""What the loop passes share: affine index expressions, memory dependences, perfect nests,
and a few builders for the loops they emit.

Dependences are tested subscript by subscript (the classic ZIV / strong-SIV / GCD tests of
Allen and Kennedy, plus a bounds test that shows, e.g., that the tiles of a tiled loop do
not overlap): for two accesses to the same buffer, at least one a write, each index is an
affine form in the loop induction variables (constant coefficients); the answer is, per
loop enclosing both, the set of directions (`<`, `=`, `>`) the two iterations may have, or
"independent". Whatever is not understood (a subscript that is not affine, an op of unknown
memory effect, a buffer of unknown origin) counts as every direction, so the passes that
use the answer stay sound and merely refuse.

Buffers: two memrefs may share memory when they come from the same root (the same function
argument, `memref.alloc`, or global, through `memref.view` and `memref.reshape`) at
overlapping byte ranges. Distinct function arguments are assumed not to overlap (the
lowered calling convention passes distinct input and output buffers).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence

import attrs

from dialects.arith import AddIOp, ConstantOp, MulIOp, SubIOp
from dialects.func import FuncOp
from dialects.loop import ForOp, ParallelOp, YieldOp
from dialects.memref import (
    AllocOp,
    CopyOp,
    GetGlobalOp,
    LoadOp,
    ReshapeOp,
    StoreOp,
    VectorLoadOp,
    VectorStoreOp,
    ViewOp,
    byte_size,
)
from irc.attributes import IntegerAttr
from irc.ir import Block, BlockArgument, Operation, Value
from irc.rewriter import PatternRewriter
from irc.traits import MemoryEffects, Pure
from irc.types import IndexType, index

LOOPS = (ForOp, ParallelOp)
ALL = frozenset("<=>")

# A loop dimension: the loop op and the index of its induction variable.
Dim = tuple[Operation, int]


# ----------------------------------------------------------------------------- constants
def constant_int(v: Value) -> int | None:
    """The value of an integer or index `arith.constant`, else None."""
    op = v.defining_op()
    if not isinstance(op, ConstantOp):
        return None
    attr = op.value
    return attr.value if isinstance(attr, IntegerAttr) else None


def trip_count(lb: Value, ub: Value, step: Value) -> int | None:
    """The number of iterations when it is known: constant step and `ub - lb` constant."""
    s = constant_int(step)
    span = affine_of(ub).minus(affine_of(lb)).constant_value()
    if s is None or span is None or s <= 0:
        return None
    return max(0, -(-span // s))


# ----------------------------------------------------------------------------- affine forms
@attrs.frozen
class Affine:
    """`sum(coefficient * atom) + constant`, atoms being index values (SSA values are graph
    nodes: hashed by identity)."""

    terms: tuple[tuple[Value, int], ...] = ()
    constant: int = 0

    @classmethod
    def atom(cls, v: Value) -> Affine:
        return cls(((v, 1),), 0)

    def coefficients(self) -> dict[Value, int]:
        return dict(self.terms)

    def plus(self, other: Affine, scale: int = 1) -> Affine:
        coeffs = self.coefficients()
        for v, c in other.terms:
            coeffs[v] = coeffs.get(v, 0) + scale * c
        return Affine(tuple((v, c) for v, c in coeffs.items() if c), self.constant + scale * other.constant)

    def minus(self, other: Affine) -> Affine:
        return self.plus(other, -1)

    def scaled(self, k: int) -> Affine:
        if k == 0:
            return Affine()
        return Affine(tuple((v, c * k) for v, c in self.terms), self.constant * k)

    def constant_value(self) -> int | None:
        return None if self.terms else self.constant

    def coefficient(self, v: Value) -> int:
        return self.coefficients().get(v, 0)


def affine_of(v: Value) -> Affine:
    """`v` as an affine form over the values it is computed from by index adds, subtracts
    and multiplications by constants; anything else is an atom."""
    c = constant_int(v)
    if c is not None:
        return Affine((), c)
    op = v.defining_op()
    if not isinstance(v.type, IndexType) or op is None:
        return Affine.atom(v)
    if isinstance(op, AddIOp):
        return affine_of(op.lhs).plus(affine_of(op.rhs))
    if isinstance(op, SubIOp):
        return affine_of(op.lhs).minus(affine_of(op.rhs))
    if isinstance(op, MulIOp):
        lhs, rhs = affine_of(op.lhs), affine_of(op.rhs)
        if rhs.constant_value() is not None:
            return lhs.scaled(rhs.constant)
        if lhs.constant_value() is not None:
            return rhs.scaled(lhs.constant)
    return Affine.atom(v)


# ----------------------------------------------------------------------------- structure
def is_defined_outside(v: Value, op: Operation) -> bool:
    """`v` is defined outside `op` (not by it, not in its regions)."""
    if isinstance(v, BlockArgument):
        owner = v.block.parent_op()
        return owner is None or not op.is_ancestor(owner)
    producer = v.defining_op()
    return producer is None or not op.is_ancestor(producer)


def is_uniform(v: Value, op: Operation) -> bool:
    """`v` has one value for the whole execution of `op`: defined outside it, or computed
    inside it by side-effect-free ops from such values."""
    if is_defined_outside(v, op):
        return True
    producer = v.defining_op()
    if producer is None or not _is_pure(producer):
        return False
    return all(is_uniform(x, op) for x in producer.operands)


def _is_pure(op: Operation) -> bool:
    return op.has_trait(Pure) and not op.has_trait(MemoryEffects) and not op.regions


def enclosing_dims(op: Operation, root: Operation) -> list[Dim]:
    """Loop dimensions around `op` (outermost first), from `root` (included) inwards."""
    dims: list[Dim] = []
    current = op.parent_op()
    while current is not None:
        if isinstance(current, LOOPS):
            dims[:0] = [(current, d) for d in range(len(current.induction_vars))]
        if current is root:
            return dims
        current = current.parent_op()
    return dims


def iv_of(dim: Dim) -> Value:
    return dim[0].induction_vars[dim[1]]


def dim_bounds(dim: Dim) -> tuple[Value, Value, Value]:
    loop, d = dim
    return loop.lower_bounds[d], loop.upper_bounds[d], loop.steps[d]


def body_ops(loop: Operation) -> list[Operation]:
    """The ops of a loop body, its terminator left out."""
    return [op for op in loop.body_block.ops if not isinstance(op, YieldOp)]


def perfectly_nested_child(loop: Operation) -> Operation | None:
    """The loop that is the only op of `loop`'s body besides the terminator, and whose bounds
    are computed outside `loop` (a rectangular nest); its results, if any, are what `loop`
    yields in the same order."""
    ops = body_ops(loop)
    if len(ops) != 1 or not isinstance(ops[0], LOOPS):
        return None
    inner = ops[0]
    bounds = [*inner.lower_bounds, *inner.upper_bounds, *inner.steps]
    if not all(is_defined_outside(b, loop) for b in bounds):
        return None
    term = loop.body_block.last_op
    if list(term.operands) != list(inner.results):
        return None
    return inner


def perfect_band(loop: Operation, *, kinds: tuple[type, ...] = LOOPS, allow_iter_args: bool = False) -> list[Operation]:
    """`loop` and the loops perfectly nested in it, as long as they are of `kinds`, their
    bounds are computed outside `loop` (a rectangular band) and (unless allowed) they carry
    no iteration arguments."""
    band = [loop]
    while True:
        inner = perfectly_nested_child(band[-1])
        if inner is None or not isinstance(inner, kinds):
            return band
        bounds = [*inner.lower_bounds, *inner.upper_bounds, *inner.steps]
        if not all(is_defined_outside(b, loop) for b in bounds):
            return band  # not rectangular: a bound depends on an outer loop of the band
        if not allow_iter_args and isinstance(inner, ForOp) and inner.inits:
            return band
        band.append(inner)


def outermost_loops(root: Operation) -> list[Operation]:
    """Loops under `root` not nested in another loop, in program order."""
    found: list[Operation] = []

    def visit(op: Operation) -> None:
        for region in op.regions:
            for block in region.blocks:
                for child in block.ops:
                    if isinstance(child, LOOPS):
                        found.append(child)
                    else:
                        visit(child)

    visit(root)
    return found


def is_innermost(loop: Operation) -> bool:
    return not any(isinstance(op, LOOPS) for op in loop.walk() if op is not loop)


# ----------------------------------------------------------------------------- accesses
@attrs.define(eq=False)
class Access:
    """One memory access: `indices` None for the whole buffer (memref.copy); `width` elements
    along the last dimension (vector accesses)."""

    op: Operation
    memref: Value
    indices: list[Affine] | None
    write: bool
    width: int = 1


def collect_accesses(root: Operation) -> list[Access] | None:
    """Every memory access in `root` (a loop), or None when an op's memory effects are not
    understood (an unknown op with effects, an allocation, a region that is not a loop)."""
    out: list[Access] = []
    for op in root.walk():
        if op is root or isinstance(op, (*LOOPS, YieldOp)):
            continue
        if isinstance(op, LoadOp | StoreOp):
            out.append(Access(op, op.memref, [affine_of(i) for i in op.indices], isinstance(op, StoreOp)))
        elif isinstance(op, VectorLoadOp):
            out.append(Access(op, op.memref, [affine_of(i) for i in op.indices], False, op.results[0].type.shape[0]))
        elif isinstance(op, VectorStoreOp):
            out.append(Access(op, op.memref, [affine_of(i) for i in op.indices], True, op.value.type.shape[0]))
        elif isinstance(op, CopyOp):
            out.append(Access(op, op.source, None, False))
            out.append(Access(op, op.target, None, True))
        elif not _is_pure(op):
            return None
    return out


@attrs.frozen
class _Origin:
    root: object  # a root value, ("global", name), or None when unknown
    offset: int


def _origin(v: Value) -> _Origin:
    offset = 0
    while True:
        producer = v.defining_op()
        if isinstance(producer, ViewOp):
            offset += producer.offset
            v = producer.source
        elif isinstance(producer, ReshapeOp):
            v = producer.source
        else:
            break
    producer = v.defining_op()
    if isinstance(producer, AllocOp):
        return _Origin(v, offset)
    if isinstance(producer, GetGlobalOp):
        return _Origin(("global", str(producer.global_name)), offset)
    if isinstance(v, BlockArgument) and isinstance(v.block.parent_op(), FuncOp):
        return _Origin(v, offset)
    return _Origin(None, offset)


def _alias(a: Value, b: Value) -> str:
    """'same' (one layout over the same memory), 'may' (overlap, indices not comparable) or 'no'."""
    if a is b:
        return "same"
    oa, ob = _origin(a), _origin(b)
    if oa.root is None or ob.root is None:
        return "may"
    if oa.root != ob.root:
        return "no"
    if oa.offset + byte_size(a.type) <= ob.offset or ob.offset + byte_size(b.type) <= oa.offset:
        return "no"
    if oa.offset == ob.offset and a.type == b.type:
        return "same"
    return "may"


def may_alias(a: Value, b: Value) -> bool:
    """Whether two memrefs may share memory."""
    return _alias(a, b) != "no"


# ----------------------------------------------------------------------------- dependences
class Dependences:
    """Memory dependences between the accesses inside `root` (a loop). Values defined outside
    `root` (outer induction variables included) are the same for both accesses of a pair."""

    def __init__(self, root: Operation) -> None:
        self.root = root
        self.accesses = collect_accesses(root)
        self._dims: dict[Operation, list[Dim]] = {}

    @property
    def analyzable(self) -> bool:
        return self.accesses is not None

    def dims(self, op: Operation) -> list[Dim]:
        found = self._dims.get(op)
        if found is None:
            found = self._dims[op] = enclosing_dims(op, self.root)
        return found

    def pairs(self) -> Iterable[tuple[Access, Access, list[Dim], list[frozenset[str]]]]:
        """Every ordered pair (a, b) that may touch the same memory, at least one a write,
        with the loops enclosing both and the directions each may have (a's iteration
        compared with b's: '<' when a's comes first)."""
        assert self.accesses is not None
        for a, b in itertools.product(self.accesses, repeat=2):
            if not (a.write or b.write):
                continue
            alias = _alias(a.memref, b.memref)
            if alias == "no":
                continue
            da, db = self.dims(a.op), self.dims(b.op)
            common = da[: _common_prefix(da, db)]
            dirs = self._directions(a, b, alias, common)
            if dirs is not None:
                yield a, b, common, dirs

    def _directions(self, a: Access, b: Access, alias: str, common: list[Dim]) -> list[frozenset[str]] | None:
        dirs = [frozenset("=") if isinstance(loop, ParallelOp) else ALL for loop, _ in common]
        if alias != "same" or a.indices is None or b.indices is None:
            return dirs
        rank = len(a.indices)
        for k, (fa, fb) in enumerate(zip(a.indices, b.indices, strict=True)):
            last = k == rank - 1
            found = self._subscript(a, b, fa, fb, a.width if last else 1, b.width if last else 1, common)
            if found is None:
                return None
            for i, allowed in found.items():
                dirs[i] = dirs[i] & allowed
                if not dirs[i]:
                    return None
        return dirs

    def _subscript(
        self, a: Access, b: Access, fa: Affine, fb: Affine, wa: int, wb: int, common: list[Dim]
    ) -> dict[int, frozenset[str]] | None:
        """Constraints one index puts on the directions (by position in `common`), or None
        when the two accesses cannot touch the same element through it."""
        ivs_a = {iv_of(d): d for d in self.dims(a.op)}
        ivs_b = {iv_of(d): d for d in self.dims(b.op)}
        position = {d: i for i, d in enumerate(common)}
        symbols = fa.minus(fb)  # the part of a - b in values common to both sides
        coeffs: list[tuple[Dim, int, int]] = []  # (loop dimension, coef in a, coef in b)
        rest = Affine((), symbols.constant)
        unknown = False
        for side, f, ivs in ((0, fa, ivs_a), (1, fb, ivs_b)):
            for v, c in f.terms:
                dim = ivs.get(v)
                if dim is None:
                    if not is_uniform(v, self.root):
                        unknown = True
                    continue
                coeffs.append((dim, c if side == 0 else 0, c if side == 1 else 0))
        for v, c in symbols.terms:
            if v not in ivs_a and v not in ivs_b and is_uniform(v, self.root):
                rest = rest.plus(Affine(((v, c),), 0))
        if unknown or rest.constant_value() is None:
            return {}
        c = rest.constant
        lo, hi = -(wa - 1), wb - 1  # a - b must fall in [lo, hi] for the ranges to overlap
        # Loops enclosing both accesses (their two iterations differ by a distance), and the
        # others (an iteration of each side on its own).
        merged: dict[Dim, list[int]] = {}
        free: list[tuple[Dim, int]] = []  # (dimension, coefficient in a - b)
        for dim, ca, cb in coeffs:
            if dim not in position:
                free.append((dim, ca - cb))
                continue
            entry = merged.setdefault(dim, [0, 0])
            entry[0] += ca
            entry[1] += cb
        merged = {d: v for d, v in merged.items() if v != [0, 0]}
        if not merged and not free:  # ZIV
            return None if not lo <= c <= hi else {}
        if not free and len(merged) == 1:
            ((dim, (ca, cb)),) = merged.items()
            if ca == cb:  # strong SIV: a*x + c - a*y in [lo, hi]
                return self._strong_siv(dim, position[dim], ca, c, lo, hi)
        if wa == 1 and wb == 1:  # GCD test: sum(coef * var) = -c needs gcd | c
            g = 0
            for ca, cb in merged.values():
                g = math.gcd(g, ca, cb)
            for _, k in free:
                g = math.gcd(g, k)
            if g and c % g:
                return None
        distances: dict[Dim, int] = {}
        values = list(free)
        for d, (ca, cb) in merged.items():
            if ca == cb:
                distances[d] = ca
            else:  # a*x - b*y: two values
                values += [(d, ca), (d, -cb)]
        zero = self._zero_distances(distances, values, c, lo, hi)
        return {position[d]: frozenset("=") for d in zero}

    def _distance_range(self, dim: Dim) -> tuple[int | None, int | None]:
        """(the largest distance between two iterations of `dim`, the step they differ by a
        multiple of), each None when unknown. Both need bounds that are the same for every
        iteration of the nest (not those of a point loop starting at its tile's index)."""
        lb, ub, step = dim_bounds(dim)
        s = constant_int(step)
        if s is None or not (is_uniform(lb, self.root) and is_uniform(ub, self.root)):
            return None, None
        n = trip_count(lb, ub, step)
        return (None if n is None else max(0, n - 1) * s), s

    def _zero_distances(self, distances: dict[Dim, int], values: list[tuple[Dim, int]], c: int, lo: int,
                        hi: int) -> set[Dim]:  # fmt: skip
        """Loops whose two iterations must be equal for the index to match. The equation is
        sum(coef * d) + sum(coef * v) + c in [lo, hi] over the distances d = x - y of the
        loops around both accesses (`distances`: loop -> coef) and the values v of the other
        loop terms (`values`), each in [lb, lb + span] for a constant lb. When no nonzero
        multiple of coef * step fits what the other terms leave for coef * d, d = 0. This
        proves, e.g., that the tiles of a tiled loop (index %ti + %ii) are independent."""
        v_lo = v_hi = 0
        for dim, k in values:
            first, span = constant_int(dim_bounds(dim)[0]), self._distance_range(dim)[0]
            if first is None or span is None:
                return set()
            c += k * first
            v_lo, v_hi = v_lo + min(0, k * span), v_hi + max(0, k * span)
        ranges = {d: self._distance_range(d) for d in distances}
        zero: set[Dim] = set()
        changed = True
        while changed:
            changed = False
            for dim, k in distances.items():
                step = ranges[dim][1]
                if dim in zero or step is None:
                    continue
                others = [abs(distances[j]) * ranges[j][0] if ranges[j][0] is not None else None
                          for j in distances if j != dim and j not in zero]  # fmt: skip
                if None in others:
                    continue
                # coef * d lies in [low, high]; is there a nonzero multiple of coef * step?
                low, high = lo - c - v_hi - sum(others), hi - c - v_lo + sum(others)
                g = abs(k) * step
                m_lo, m_hi = -(-low // g), high // g
                if m_lo > m_hi or m_lo == m_hi == 0:
                    zero.add(dim)
                    changed = True
        return zero

    def _strong_siv(self, dim: Dim, pos: int, a: int, c: int, lo: int, hi: int) -> dict[int, frozenset[str]] | None:
        # a*(x - y) + c in [lo, hi], with d = y - x the distance from a's iteration to b's:
        # a*d in [c - hi, c - lo].
        lo_ad, hi_ad = c - hi, c - lo
        if a < 0:
            a, lo_ad, hi_ad = -a, -hi_ad, -lo_ad
        d_lo, d_hi = -(-lo_ad // a), hi_ad // a
        limit, s = self._distance_range(dim)
        if limit is not None:
            d_lo, d_hi = max(d_lo, -limit), min(d_hi, limit)
        if s is not None and s > 1:  # the distance is a multiple of the step
            d_lo, d_hi = -(-d_lo // s) * s, (d_hi // s) * s
        if d_lo > d_hi:
            return None
        allowed = set()
        if d_hi > 0:
            allowed.add("<")
        if d_lo <= 0 <= d_hi:
            allowed.add("=")
        if d_lo < 0:
            allowed.add(">")
        return {pos: frozenset(allowed)}

    # -- questions the passes ask
    def carried_by(self, dim: Dim) -> bool:
        """Whether two different iterations of `dim` may touch the same memory (one writing).
        True when the accesses are not understood."""
        if self.accesses is None:
            return True
        for _, _, common, dirs in self.pairs():
            if dim not in common:
                continue
            p = common.index(dim)
            if dirs[p] - {"="} and all("=" in d for d in dirs[:p]):
                return True
        return False

    def band_vectors(self, band: Sequence[Dim]) -> set[tuple[str, ...]] | None:
        """The direction vectors over `band` (a prefix of the loops around every access) of
        every dependence the nest runs in order: those whose first non-'=' is '<'. None when
        the accesses are not understood."""
        if self.accesses is None:
            return None
        out: set[tuple[str, ...]] = set()
        n = len(band)
        for _, _, common, dirs in self.pairs():
            if list(common[:n]) != list(band):
                return None
            for vector in itertools.product(*(sorted(d) for d in dirs[:n])):
                first = next((x for x in vector if x != "="), "=")
                if first == "<":
                    out.add(vector)
        return out


def _common_prefix(a: Sequence[Dim], b: Sequence[Dim]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def permutation_is_legal(vectors: Iterable[tuple[str, ...]], order: Sequence[int]) -> bool:
    """Running the loops in `order` keeps every dependence going forward."""
    for v in vectors:
        permuted = [v[i] for i in order]
        first = next((x for x in permuted if x != "="), "=")
        if first == ">":
            return False
    return True


def fully_permutable(vectors: Iterable[tuple[str, ...]]) -> bool:
    """No dependence goes backward in any loop: the band may be tiled."""
    return all(">" not in v for v in vectors)


# ----------------------------------------------------------------------------- building
class LoopBuilder:
    """Inserts new ops through a rewriter at one point (each after the previous one).

    Index constants come from a pool shared by the builders derived from one another: they
    sit at the start of the block of the loop being rewritten (reusing the constants already
    there), so they dominate every nest the rewrite emits."""

    def __init__(self, rewriter: PatternRewriter, block: Block, before: Operation | None,
                 pool: _ConstantPool | None = None) -> None:  # fmt: skip
        self.rewriter = rewriter
        self.block = block
        self.before = before
        self.pool = pool if pool is not None else _ConstantPool(rewriter, block, before)

    @classmethod
    def before_op(cls, rewriter: PatternRewriter, op: Operation) -> LoopBuilder:
        return cls(rewriter, op.parent, op)

    def inside(self, block: Block) -> LoopBuilder:
        """A builder at the end of `block` (before its terminator when it has one)."""
        last = block.last_op
        return LoopBuilder(self.rewriter, block, last if isinstance(last, YieldOp) else None, self.pool)

    def insert(self, op: Operation) -> Operation:
        if self.before is not None:
            return self.rewriter.insert_op(op, before=self.before)
        return self.rewriter.insert_op(op, at_end=self.block)

    def index(self, value: int) -> Value:
        return self.pool.get(value)

    def add(self, a: Value, b: Value | int) -> Value:
        """`a + b`, folded when both are constants."""
        ca = constant_int(a)
        cb = b if isinstance(b, int) else constant_int(b)
        if ca is not None and cb is not None:
            return self.index(ca + cb)
        if cb == 0:
            return a
        if ca == 0 and not isinstance(b, int):
            return b
        return self.insert(AddIOp.build(a, self.index(b) if isinstance(b, int) else b)).results[0]

    def sub(self, a: Value, b: Value) -> Value:
        """`a - b`, folded when both are constants or `b` is 0."""
        ca, cb = constant_int(a), constant_int(b)
        if ca is not None and cb is not None:
            return self.index(ca - cb)
        if cb == 0:
            return a
        return self.insert(SubIOp.build(a, b)).results[0]

    def mul(self, a: Value, k: int) -> Value:
        ca = constant_int(a)
        if ca is not None:
            return self.index(ca * k)
        if k == 1:
            return a
        return self.insert(MulIOp.build(a, self.index(k))).results[0]

    def clone_ops(self, ops: Iterable[Operation], mapping: dict) -> None:
        """Copies of `ops` (with what they nest), operands renamed through `mapping`."""
        for op in ops:
            self.insert(op.clone(mapping))

    @staticmethod
    def mapped(values: Iterable[Value], mapping: dict) -> list[Value]:
        return [mapping.get(v, v) for v in values]


class _ConstantPool:
    def __init__(self, rewriter: PatternRewriter, block: Block, before: Operation | None) -> None:
        self.rewriter = rewriter
        self.block = block
        self.values: dict[int, Value] = {}
        self.last: Operation | None = None
        for op in block.ops:
            if op is before:
                break
            c = constant_int(op.results[0]) if isinstance(op, ConstantOp) else None
            if c is not None and isinstance(op.results[0].type, IndexType):
                self.values.setdefault(c, op.results[0])

    def get(self, value: int) -> Value:
        found = self.values.get(value)
        if found is not None:
            return found
        op = ConstantOp.build(IntegerAttr(value, index))
        op.results[0].name_hint = f"c{value}" if value >= 0 else f"c_{-value}"
        if self.last is None:
            self.rewriter.insert_op(op, at_start=self.block)
        else:
            self.rewriter.insert_op(op, after=self.last)
        self.last = op
        self.values[value] = op.results[0]
        return op.results[0]


def finish_body(rewriter: PatternRewriter, block: Block, values: Sequence[Value] = ()) -> None:
    rewriter.insert_op(YieldOp.build(list(values)), at_end=block)
