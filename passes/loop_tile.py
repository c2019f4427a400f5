"""The loop-tile pass."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import ClassVar

import attrs

from dialects.arith import MinSIOp
from dialects.loop import ForOp, ParallelOp
from irc.ir import Operation, Value
from irc.pass_manager import Pass, PassState
from irc.rewriter import PatternRewriter, RewritePattern
from passes.loop_analysis import (
    Dependences,
    Dim,
    LoopBuilder,
    body_ops,
    constant_int,
    dim_bounds,
    finish_body,
    fully_permutable,
    iv_of,
    outermost_loops,
    perfect_band,
    trip_count,
)


@attrs.frozen
class LoopTile(Pass):
    """Tile perfectly nested bands of `loop.for` / `loop.parallel` loops.

        loop.for %i = %c0 to %c100 step %c1 {        loop.for %ti = %c0 to %c96 step %c32 {
          ...                                          loop.for %ii = %c0 to %c32 step %c1 {
        }                                        ->       %i = arith.addi %ti, %ii : index
                                                          ...
                                                    } }
                                                    loop.for %ii = %c0 to %c4 step %c1 {  // the 4 left
                                                      %i = arith.addi %c96, %ii : index
                                                      ...
                                                    }

    Loops over tiles go outside, loops over the points of a tile inside. `sizes` gives a
    tile size per dimension of the band, outermost first (a loop.parallel counts one per
    dimension); a size of 0 or 1, or a loop of no more iterations than its tile, leaves
    that dimension untiled, and loops past the list stay in the tile body. With a constant
    trip count, full tiles have constant bounds and the leftover iterations of a dimension
    run in a separate nest inside the tile loops of the outer dimensions (so unrolling and
    vectorization see constant trip counts); otherwise the point loop ends at
    `arith.minsi(%ti + size, %ub)`. Tiling changes the order of iterations, so a band of
    `loop.for`s is tiled only when it is fully permutable (no dependence goes backward in
    any of its loops); a single loop (with iteration arguments or not) is always
    strip-mined. Only the bands starting at outermost loops are tiled.
    """

    name: ClassVar[str] = "loop-tile"
    statistics: ClassVar[dict[str, str]] = {
        "num-tiled-bands": "Number of loop bands tiled",
        "num-tiled-dims": "Number of loop dimensions tiled",
        "num-epilogues": "Number of nests for leftover (partial) tiles",
        "num-refused": "Number of bands left alone because tiling them may be illegal",
    }

    sizes: tuple[int, ...] = (32, 32)

    def run(self, op: Operation, state: PassState) -> None:
        rewriter = PatternRewriter()
        pattern = TileBand(self.sizes, state)
        for loop in outermost_loops(op):
            pattern.match_and_rewrite(loop, rewriter)
        state.changed = rewriter.changed


@attrs.frozen
class _Piece:
    """One part of a dimension's range: `tiles` (full tiles of `size`, with a tile loop up to
    `end`), `rest` (one partial tile of `size` iterations from `start`), `min` (tiles whose
    last is clamped to the upper bound) or `full` (untiled)."""

    kind: str
    start: Value | None = None
    end: Value | None = None
    size: int = 0


class TileBand(RewritePattern):
    """Tile the band of loops perfectly nested from one outermost loop."""

    op_type = (ForOp, ParallelOp)

    def __init__(self, sizes: Sequence[int], state: PassState | None = None) -> None:
        self.sizes = tuple(sizes)
        self.state = state

    def _stat(self, name: str, amount: int = 1) -> None:
        if self.state is not None:
            self.state.stat(name, amount)

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> bool:
        band = [op] if isinstance(op, ForOp) and op.inits else perfect_band(op)
        all_dims = [(loop, d) for loop in band for d in range(len(loop.induction_vars))]
        # The loops the sizes reach, all dimensions of each (a loop.parallel tiled in part too).
        band = list(dict.fromkeys(loop for loop, _ in all_dims[: len(self.sizes)]))
        dims = [(loop, d) for loop, d in all_dims if loop in band]
        sizes = [self._size(dim, s) for dim, s in itertools.zip_longest(dims, self.sizes[: len(dims)], fillvalue=0)]
        if not any(sizes):
            return False
        if not self._legal(op, dims, sizes):
            self._stat("num-refused")
            return False
        b = LoopBuilder.before_op(rewriter, op)
        pieces = [self._pieces(b, dim, size) for dim, size in zip(dims, sizes, strict=True)]
        groups = [list(g) for _, g in itertools.groupby(range(len(dims)), key=lambda i: dims[i][0])]
        inits = list(op.inits) if isinstance(op, ForOp) else []
        results = self._emit(b, dims, pieces, groups, [], band[-1], inits)
        self._stat("num-tiled-bands")
        self._stat("num-tiled-dims", sum(1 for s in sizes if s))
        self._stat("num-epilogues", sum(len(p) - 1 for p in pieces))
        if op.results:
            rewriter.replace_op(op, results)
        else:
            rewriter.erase_op(op)
        return True

    def _size(self, dim: Dim, size: int) -> int:
        """The tile size of `dim`, 0 when it stays untiled."""
        n = trip_count(*dim_bounds(dim))
        if size <= 1 or (n is not None and n <= size):
            return 0
        return size

    def _legal(self, op: Operation, dims: list[Dim], sizes: list[int]) -> bool:
        tiled = [i for i, s in enumerate(sizes) if s]
        if tiled == [len(dims) - 1] or all(isinstance(loop, ParallelOp) for loop, _ in dims):
            return True  # strip-mining the innermost dimension keeps the order
        vectors = Dependences(op).band_vectors(dims)
        return vectors is not None and fully_permutable(vectors)

    def _pieces(self, b: LoopBuilder, dim: Dim, size: int) -> list[_Piece]:
        lb, ub, step = dim_bounds(dim)
        if not size:
            return [_Piece("full")]
        n = trip_count(lb, ub, step)
        s = constant_int(step)
        if n is None or s is None:
            return [_Piece("min", size=size)]
        full, rest = divmod(n, size)
        split = b.add(lb, full * size * s)
        out = [_Piece("tiles", lb, split, size)]
        if rest:
            out.append(_Piece("rest", split, None, rest))
        return out

    def _emit(self, b: LoopBuilder, dims: list[Dim], pieces: list[list[_Piece]], groups: list[list[int]],
              chosen: list[_Piece], inner: Operation, inits: list[Value]) -> list[Value]:  # fmt: skip
        """The tile loops of the dimensions of `groups[0]` (one loop.for dimension, or the
        dimensions of one loop.parallel), once per combination of their pieces, each holding
        the nests of the remaining groups; the point loops and the body at the bottom.
        Leftover tiles of a dimension run inside the tile loops of the outer dimensions, so
        the order is that of tiling with a clamped last tile. Returns the results."""
        if not groups:
            return self._emit_points(b, dims, chosen, inner, inits)
        group, rest = groups[0], groups[1:]
        for combo in itertools.product(*(pieces[i] for i in group)):
            levels = []
            for i, piece in zip(group, combo, strict=True):
                lb, ub, step = dim_bounds(dims[i])
                name = iv_of(dims[i]).name_hint
                if piece.kind == "full":
                    levels.append((dims[i], lb, ub, step, name))
                elif piece.kind == "tiles":
                    levels.append((dims[i], lb, piece.end, b.index(piece.size * constant_int(step)), _tile(name)))
                elif piece.kind == "min":
                    levels.append((dims[i], lb, ub, self._scaled_step(b, step, piece.size), _tile(name)))
            loops, body, inits_in = _open(b, levels, inits, _arg_names(inner))
            tile_ivs = dict(zip((level[0] for level in levels), _ivs(loops), strict=True))
            placed = [attrs.evolve(p, start=tile_ivs[dims[i]]) if p.kind != "rest" else p
                      for i, p in zip(group, combo, strict=True)]  # fmt: skip
            yielded = self._emit(body, dims, pieces, rest, [*chosen, *placed], inner, inits_in)
            inits = _close(b.rewriter, loops, yielded)
        return inits

    def _emit_points(self, b: LoopBuilder, dims: list[Dim], chosen: list[_Piece], inner: Operation,
                     inits: list[Value]) -> list[Value]:  # fmt: skip
        """The point loops of every tiled dimension (each piece's `start` is its tile loop's
        induction variable, or where its partial tile starts) and a copy of the body."""
        levels = []
        for dim, piece in zip(dims, chosen, strict=True):
            _, ub, step = dim_bounds(dim)
            name = _point(iv_of(dim).name_hint)
            if piece.kind in ("tiles", "rest"):
                levels.append((dim, b.index(0), b.index(piece.size * constant_int(step)), step, name))
            elif piece.kind == "min":
                end = b.add(piece.start, self._scaled_step(b, step, piece.size))
                end = b.insert(MinSIOp.build(end, ub)).results[0]
                levels.append((dim, piece.start, end, step, name))
        loops, body, inits_in = _open(b, levels, inits, _arg_names(inner))
        point_ivs = dict(zip((level[0] for level in levels), _ivs(loops), strict=True))
        mapping: dict = {}
        for dim, piece in zip(dims, chosen, strict=True):
            if piece.kind in ("tiles", "rest"):
                value = mapping[iv_of(dim)] = body.add(piece.start, point_ivs[dim])
                if value.defining_op() is not None and value.name_hint is None:
                    value.name_hint = iv_of(dim).name_hint
            else:
                mapping[iv_of(dim)] = point_ivs.get(dim, piece.start)
        if isinstance(inner, ForOp):
            mapping.update(zip(inner.iter_args, inits_in, strict=True))
        body.clone_ops(body_ops(inner), mapping)
        yielded = body.mapped(inner.body_block.last_op.operands, mapping)
        return _close(b.rewriter, loops, yielded)

    @staticmethod
    def _scaled_step(b: LoopBuilder, step: Value, size: int) -> Value:
        return b.mul(step, size)


def _open(b: LoopBuilder, levels: list[tuple], inits: list[Value], arg_names: list[str | None]) -> tuple[
        list[Operation], LoopBuilder, list[Value]]:  # fmt: skip
    """Loops for `levels` (dimension, lb, ub, step, name), one inside the other; consecutive
    dimensions of one `loop.parallel` share a loop. Returns the loops, a builder in the
    innermost body and the iteration arguments there."""
    loops: list[Operation] = []
    for loop, group in itertools.groupby(levels, key=lambda level: level[0][0]):
        group = list(group)
        names = [g[4] for g in group]
        if isinstance(loop, ParallelOp):
            new = ParallelOp.build([g[1] for g in group], [g[2] for g in group], [g[3] for g in group], names)
        else:
            ((_, lb, ub, step, _),) = group
            new = ForOp.build(lb, ub, step, inits, names[0])
        b.insert(new)
        if isinstance(new, ForOp):
            inits = new.iter_args
            for arg, name in zip(inits, arg_names, strict=False):
                arg.name_hint = name
        loops.append(new)
        b = b.inside(new.body_block)
    return loops, b, inits


def _arg_names(loop: Operation) -> list[str | None]:
    return [a.name_hint for a in loop.iter_args] if isinstance(loop, ForOp) else []


def _tile(hint: str | None) -> str | None:
    """`%i` -> `%ti` for the loop over tiles."""
    return None if hint is None else "t" + hint


def _point(hint: str | None) -> str | None:
    """`%i` -> `%ii` for the loop over the points of a tile."""
    return None if hint is None else hint + hint


def _ivs(loops: list[Operation]) -> list[Value]:
    return [iv for loop in loops for iv in loop.induction_vars]


def _close(rewriter: PatternRewriter, loops: list[Operation], yielded: list[Value]) -> list[Value]:
    """Terminate the bodies innermost first; the results of the outermost loop (or `yielded`
    itself when there is no loop: a single partial tile of a dimension without tile loop)."""
    values = yielded
    for loop in reversed(loops):
        finish_body(rewriter, loop.body_block, values if isinstance(loop, ForOp) else [])
        values = list(loop.results) if isinstance(loop, ForOp) else []
    return values if loops else yielded
