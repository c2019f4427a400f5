"""Graphviz DOT of each function's data flow (irc-opt --view-graph)."""

from __future__ import annotations

from collections.abc import Iterator

from irc.ir import Block, Operation
from irc.traits import CallableOp


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _blocks(op: Operation) -> Iterator[Block]:
    """Every block nested in `op`, outer blocks first."""
    for region in op.regions:
        for block in region.blocks:
            yield block
            for child in block.ops:
                yield from _blocks(child)


def module_to_dot(module: Operation) -> str:
    out = []
    for func in module.walk():
        if not func.has_trait(CallableOp) or not func.regions or not func.regions[0].blocks:
            continue
        name = func.properties["sym_name"].value
        out.append(f'digraph "{_escape(name)}" {{')
        out.append("  rankdir=TB;")
        ids: dict[object, str] = {}
        # Arguments of every block (the entry block's are the function's), named up front so
        # that edges from them exist wherever they are used.
        for b, block in enumerate(_blocks(func)):
            for i, arg in enumerate(block.args):
                node = f"arg{i}" if b == 0 else f"bb{b}_arg{i}"
                ids[arg] = node
                label = f"%{arg.name_hint or node} : {arg.type}"
                out.append(f'  {node} [shape=ellipse, label="{_escape(label)}"];')
        ops = [op for op in func.walk() if op is not func]
        for index, op in enumerate(ops):
            for r in op.results:
                ids[r] = f"op{index}"
        for index, op in enumerate(ops):
            node = f"op{index}"
            types = ", ".join(str(r.type) for r in op.results)
            label = _escape(op.name) + (f"\\n{_escape(types)}" if types else "")
            out.append(f'  {node} [shape=box, label="{label}"];')
            for j, v in enumerate(op._operands):
                src = ids.get(v)
                if src is not None:
                    out.append(f'  {src} -> {node} [label="{j}"];')
        out.append("}")
    return "\n".join(out) + "\n"
