"""Graphviz DOT of each function's data flow (irc-opt --view-graph)."""

from __future__ import annotations

from irc.ir import Operation
from irc.traits import CallableOp


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def module_to_dot(module: Operation) -> str:
    out = []
    for func in module.walk():
        if not func.has_trait(CallableOp) or not func.regions or not func.regions[0].blocks:
            continue
        name = func.properties["sym_name"].value
        out.append(f'digraph "{_escape(name)}" {{')
        out.append("  rankdir=TB;")
        ids: dict[object, str] = {}
        for i, arg in enumerate(func.regions[0].blocks[0].args):
            node = f"arg{i}"
            ids[arg] = node
            label = f"%{arg.name_hint or f'arg{i}'} : {arg.type}"
            out.append(f'  {node} [shape=ellipse, label="{_escape(label)}"];')
        for index, op in enumerate(op for op in func.walk() if op is not func):
            node = f"op{index}"
            for r in op.results:
                ids[r] = node
            types = ", ".join(str(r.type) for r in op.results)
            label = op.name + (f"\\n{_escape(types)}" if types else "")
            out.append(f'  {node} [shape=box, label="{label}"];')
            for j, v in enumerate(op._operands):
                src = ids.get(v)
                if src is not None:
                    out.append(f'  {src} -> {node} [label="{j}"];')
        out.append("}")
    return "\n".join(out) + "\n"
