"""The user-facing entry point: `irc.compile(module, target="cpu")`.

    exe = irc.compile(module)            # a parsed module, or .gir text
    y = exe.main(x)                      # numpy in, numpy out (one output: an array)
    outs = exe.run("main", {"x": x})     # outputs keyed by name (`irc.name`, else result<k>)

A module that still has tensor ops (or tensor-typed values) runs through the named pipeline
`cpu` (see `passes.PIPELINES`; `pipeline=` picks another name or a pipeline text) on a clone;
a module already at the loop level is compiled as it is (give `pipeline=` to run passes on it
anyway). Every failure to lower or translate raises a located IRCError at compile time.
"""

from __future__ import annotations

from typing import Any

from irc.diagnostics import error
from irc.ir import Operation
from irc.types import ShapedType, TensorType

TARGETS = ("cpu",)


def needs_lowering(module: Operation) -> bool:
    """True when some value of the module (or a function signature) has a tensor type."""
    for op in module.walk():
        ftype = op.get_attr("function_type")
        types = list(op.result_types) + list(op.operand_types)
        if ftype is not None and hasattr(ftype, "value"):
            types += list(getattr(ftype.value, "inputs", ())) + list(getattr(ftype.value, "results", ()))
        for region in op.regions:
            for block in region.blocks:
                types += [a.type for a in block.args]
        if any(isinstance(t, TensorType) for t in types):
            return True
    return False


def lower(module: Operation, pipeline: str | None = None) -> Operation:
    """A lowered clone of `module`: the `cpu` pipeline (or `pipeline`) applied when needed."""
    import passes
    from dialects import default_context
    from irc.pass_manager import PassManager, parse_pipeline
    from irc.verifier import verify

    lowered = module.clone()
    if pipeline is None and needs_lowering(lowered):
        pipeline = "cpu"
    if pipeline:
        text = passes.PIPELINES.get(pipeline, pipeline)
        pm = parse_pipeline(text, passes.get_pass)
        PassManager(pm, default_context()).run(lowered)
    verify(lowered)
    _check_lowered(lowered)
    return lowered


def _check_lowered(module: Operation) -> None:
    for op in module.walk():
        for t in (*op.result_types, *op.operand_types):
            if isinstance(t, TensorType) or (isinstance(t, ShapedType) and not t.has_static_shape):
                raise op.emit_error(f"has a value of type '{t}' after lowering; the CPU backend needs static memrefs")


def compile(
    module: Operation | str,
    target: str = "cpu",
    pipeline: str | None = None,
    *,
    opt_level: int = 3,
    cache: bool = True,
) -> Any:
    """Compiles `module` (an IR module or .gir text) for `target`; returns an executable whose
    functions take and return numpy arrays (see irc.runtime.cpu.CPUExecutable)."""
    if isinstance(module, str):
        from dialects import default_context
        from textual_ir.parser import parse_module

        module = parse_module(module, "<string>", default_context())
    if target not in TARGETS:
        raise error(f"unknown target '{target}' (available: {', '.join(TARGETS)})", module.location)
    from irc.runtime.cpu import CPUExecutable

    lowered = lower(module, pipeline)
    return CPUExecutable.build(lowered, opt_level=opt_level, use_cache=cache)
