"""The canonicalize pass."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from irc.diagnostics import error
from irc.ir import Operation
from irc.pass_manager import Pass, PassState
from irc.rewriter import RewritePattern, apply_patterns_greedily


@attrs.frozen
class Canonicalize(Pass):
    """Fold ops, apply every op's canonicalization patterns and erase dead code, to a fixpoint.

        %c1 = arith.constant 1 : i32            %c3 = arith.constant 3 : i32
        %c2 = arith.constant 2 : i32     ->     func.return %c3 : i32
        %s = arith.addi %c1, %c2 : i32
        func.return %s : i32

    Patterns come from `canonicalization_patterns()` of the op classes of every dialect used
    in the IR. Not converging within `max-iterations` is an error only with `test-convergence`.
    """

    name: ClassVar[str] = "canonicalize"
    statistics: ClassVar[dict[str, str]] = {
        "num-folded": "Number of ops folded (constants merged included)",
        "num-rewritten": "Number of pattern rewrites",
        "num-dce'd": "Number of dead ops erased",
        "num-erased-blocks": "Number of unreachable blocks erased",
        "num-iterations": "Number of rounds of the greedy driver",
    }

    max_iterations: int = 10
    max_num_rewrites: int = -1
    region_simplify: bool = True
    fold: bool = True
    test_convergence: bool = False

    def run(self, op: Operation, state: PassState) -> None:
        stats: dict[str, int] = {}
        changed, converged = apply_patterns_greedily(
            op,
            collect_canonicalization_patterns(op, state.context),
            max_iterations=self.max_iterations,
            fold=self.fold,
            region_simplify=self.region_simplify,
            max_num_rewrites=None if self.max_num_rewrites < 0 else self.max_num_rewrites,
            stats=stats,
        )
        for key, amount in stats.items():
            state.stat(key, amount)
        state.changed = changed
        if self.test_convergence and not converged:
            raise error(f"canonicalizer failed to converge within {self.max_iterations} iterations", op.location)


def collect_canonicalization_patterns(root: Operation, context: Any = None) -> list[RewritePattern]:
    """The patterns of every op class in the IR, and (with a context) of every op class of
    the dialects those classes belong to, since rewrites may create ops not yet present."""
    classes = {type(op): None for op in root.walk() if type(op).definition is not None}
    if context is not None:
        for dialect_name in sorted({cls.name.partition(".")[0] for cls in list(classes)}):
            dialect = context.dialect(dialect_name)
            for cls in dialect.ops if dialect is not None else ():
                classes.setdefault(cls, None)
    patterns: list[RewritePattern] = []
    seen: set[tuple[type, Any]] = set()
    for cls in classes:
        make = getattr(cls, "canonicalization_patterns", None)
        for pattern in make() if make is not None else ():
            # Stateless patterns inherited by several op classes are kept once.
            key = (type(pattern), pattern.op_type)
            if not getattr(pattern, "__dict__", None) and key in seen:
                continue
            seen.add(key)
            patterns.append(pattern)
    return patterns
