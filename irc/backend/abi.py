"""The lowered function ABI, as both backends and the runtimes read it.

After `lower-tensor-to-loops` and `allocate-buffers` a function looks like

    func.func @f(%x: memref<4xf32>, %y: memref<4xf32>,
                 %out: memref<4xf32> {irc.result = 0 : i64, irc.name = "out"},
                 %arena: memref<256xi8> {irc.arena}) attributes {irc.arena_size = 256 : i64, ...}

Inputs are the arguments without `irc.result` / `irc.arena`; outputs are the arguments with
`irc.result = k` (ordered by k) and then, for hand-written loop functions, the scalar results
of `func.return`; the arena is the argument marked `irc.arena`. A `Signature` describes this
once, so the code generator, the runtime and the tools agree on names and positions.

The compiled entry point of a function `f` is `__irc_call_f(ptr args)`: `args` is an array of
pointers, one per function argument in order (a memref's buffer, or the address of a scalar
argument's value) followed by one per scalar function result (where the result is stored).
Every call therefore has the same C signature, `void(void**)`.
"""

from __future__ import annotations

from typing import Any

import attrs

from irc.attributes import ArrayAttr, DictionaryAttr, IntegerAttr, StringAttr
from irc.ir import Operation
from irc.symbol_table import is_private, symbol_name
from irc.types import FloatType, FunctionType, IndexType, IntegerType, MemRefType, Type

RESULT_ATTR = "irc.result"
NAME_ATTR = "irc.name"
ARENA_ATTR = "irc.arena"
PLAN_ATTRS = ("irc.arena_size", "irc.naive_size", "irc.lower_bound")
WRAPPER_PREFIX = "__irc_call_"

INPUT, OUTPUT, ARENA = "input", "output", "arena"


@attrs.frozen
class Param:
    """One slot of the entry point's argument array."""

    name: str  # inputs: the argument's name (`%x` is x); outputs: `irc.name`, else result<k>
    kind: str  # INPUT, OUTPUT or ARENA
    type: Type  # a memref type, or a scalar type (passed through a pointer to its value)
    slot: int  # position in the argument array
    result_index: int | None = None  # outputs: their position among the outputs

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.type.shape) if isinstance(self.type, MemRefType) else ()

    @property
    def element_type(self) -> Type:
        return self.type.element_type if isinstance(self.type, MemRefType) else self.type

    @property
    def is_buffer(self) -> bool:
        return isinstance(self.type, MemRefType)

    @property
    def byte_size(self) -> int:
        count = 1
        for d in self.shape:
            count *= d
        return count * element_bytes(self.element_type)


@attrs.frozen
class Signature:
    """The lowered signature of one function: its parameters and memory-plan totals."""

    name: str
    params: tuple[Param, ...]
    num_args: int  # function arguments (the slots after them hold scalar results)
    plan: dict[str, int] = attrs.field(factory=dict)
    public: bool = True

    @property
    def inputs(self) -> list[Param]:
        return [p for p in self.params if p.kind == INPUT]

    @property
    def outputs(self) -> list[Param]:
        return sorted((p for p in self.params if p.kind == OUTPUT), key=lambda p: p.result_index)

    @property
    def arena(self) -> Param | None:
        return next((p for p in self.params if p.kind == ARENA), None)

    @property
    def wrapper_name(self) -> str:
        return WRAPPER_PREFIX + self.name


def element_bytes(t: Type) -> int:
    """Bytes one element takes in memory (i1 is stored as a byte, as numpy's bool)."""
    if isinstance(t, IndexType):
        return 8
    width = getattr(t, "width", 64)
    return max(1, (width + 7) // 8)


def is_scalar(t: Type) -> bool:
    return isinstance(t, FloatType | IntegerType | IndexType)


def _arg_attrs(func: Operation, i: int) -> dict[str, Any]:
    arg_attrs = func.get_attr("arg_attrs")
    if not isinstance(arg_attrs, ArrayAttr):
        return {}
    entry = arg_attrs.elements[i]
    return dict(entry.entries) if isinstance(entry, DictionaryAttr) else {}


def _res_attrs(func: Operation, i: int) -> dict[str, Any]:
    res_attrs = func.get_attr("res_attrs")
    if not isinstance(res_attrs, ArrayAttr):
        return {}
    entry = res_attrs.elements[i]
    return dict(entry.entries) if isinstance(entry, DictionaryAttr) else {}


def _arg_name(func: Operation, i: int) -> str:
    hint = func.regions[0].blocks[0].args[i].name_hint if func.regions[0].blocks else None
    return hint if hint is not None and not hint[:1].isdigit() else f"arg{i}"


def signature(func: Operation) -> Signature:
    """The lowered signature of `func`. Raises a located IRCError for an argument or result
    type the backends cannot pass (tensors: the function is not lowered yet)."""
    ftype = func.get_attr("function_type").value
    assert isinstance(ftype, FunctionType)
    params: list[Param] = []
    n_outputs = 0
    for i, t in enumerate(ftype.inputs):
        if not (isinstance(t, MemRefType) or is_scalar(t)):
            raise func.emit_error(f"argument #{i} has type '{t}', which the backends cannot pass (lower it first)")
        attrs_ = _arg_attrs(func, i)
        result = attrs_.get(RESULT_ATTR)
        if ARENA_ATTR in attrs_:
            params.append(Param("arena", ARENA, t, i))
        elif isinstance(result, IntegerAttr):
            name = attrs_.get(NAME_ATTR)
            label = name.value if isinstance(name, StringAttr) else f"result{result.value}"
            params.append(Param(label, OUTPUT, t, i, result.value))
            n_outputs += 1
        else:
            params.append(Param(_arg_name(func, i), INPUT, t, i))
    for k, t in enumerate(ftype.results):
        if not is_scalar(t):
            raise func.emit_error(f"result #{k} has type '{t}'; lowered functions return only scalars")
        name = _res_attrs(func, k).get(NAME_ATTR)
        index = n_outputs + k
        label = name.value if isinstance(name, StringAttr) else f"result{index}"
        params.append(Param(label, OUTPUT, t, len(ftype.inputs) + k, index))
    plan = {}
    for key in PLAN_ATTRS:
        value = func.get_attr(key)
        if isinstance(value, IntegerAttr):
            plan[key.removeprefix("irc.")] = value.value
    return Signature(symbol_name(func), tuple(params), len(ftype.inputs), plan, not is_private(func))
