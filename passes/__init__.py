"""The pass registry: pass name -> "module:Class", imported only when the pass is used.

Named pipelines (`cpu`, ...) expand to ordinary pass lists.
"""

from __future__ import annotations

import importlib

from irc.pass_manager import Pass

PASSES: dict[str, str] = {
    "canonicalize": "passes.canonicalize:Canonicalize",
    "cse": "passes.cse:CSE",
    "dce": "passes.dce:DCE",
    "symbol-dce": "passes.symbol_dce:SymbolDCE",
    "inline": "passes.inline:Inline",
    "lower-tensor-to-loops": "passes.lower_tensor_to_loops:LowerTensorToLoops",
    "loop-tile": "passes.loop_tile:LoopTile",
    "loop-unroll": "passes.loop_unroll:LoopUnroll",
    "loop-interchange": "passes.loop_interchange:LoopInterchange",
    "loop-vectorize": "passes.loop_vectorize:LoopVectorize",
    "loop-invariant-code-motion": "passes.loop_invariant_code_motion:LoopInvariantCodeMotion",
    "parallelize-loops": "passes.parallelize_loops:ParallelizeLoops",
    "allocate-buffers": "passes.allocate_buffers:AllocateBuffers",
}

# Named pipelines, written in the pipeline syntax (expanded by irc-opt and irc.compile).
PIPELINES: dict[str, str] = {
    "default": "builtin.module(inline,canonicalize,cse,symbol-dce)",
    # irc.compile(m, target="cpu") and `irc-opt --pass-pipeline=cpu`: tensor graph -> planned loop IR
    "cpu": (
        "builtin.module(inline,canonicalize,cse,symbol-dce,lower-tensor-to-loops,canonicalize,cse,"
        "loop-invariant-code-motion,allocate-buffers)"
    ),
}


def get_pass(name: str) -> type[Pass] | None:
    target = PASSES.get(name)
    if target is None:
        return None
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)


def all_passes() -> list[type[Pass]]:
    return [get_pass(name) for name in sorted(PASSES)]
