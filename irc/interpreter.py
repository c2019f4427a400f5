"""The reference interpreter: runs a function of a module with numpy.

`interpret(module, *arrays, entry=None)` evaluates the ops of one function in order. Each op
says what it computes through its own `reference(*inputs) -> list[ndarray]` (the numpy
semantics of the tensor dialect); constants come from `constant_value()`, calls and returns
are found by their traits (CallLike, ReturnLike). Scalar ops without a reference (arith) run
through their folder. Nothing here names a dialect: `irc/` does not import `dialects/`.

    >>> interpret(module, x)            # the only public function, or @main
    [array(...)]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from irc.attributes import (
    Attribute,
    DenseElementsAttr,
    DenseResourceAttr,
    FloatAttr,
    IntegerAttr,
    StringAttr,
    numpy_dtype,
)
from irc.diagnostics import IRCError
from irc.ir import Operation, Value
from irc.symbol_table import SymbolTableCollection, is_private, symbol_name
from irc.traits import CallableOp, CallLike, ConstantLike, Pure, ReturnLike
from irc.types import FloatType, FunctionType, IndexType, IntegerType, ShapedType, Type

__all__ = ["argument_names", "array_spec", "check_inputs", "find_entry", "interpret", "result_names"]


def interpret(module: Operation, *arrays: Any, entry: str | None = None) -> list[np.ndarray]:
    """Run `entry` (default: the only public function, else @main) of `module` on `arrays`.

    Inputs are checked against the function's argument types (shape and dtype); a mismatch
    raises ValueError naming the argument. Python scalars are converted to the argument's
    dtype; arrays must match exactly. Returns one array per function result.
    """
    func = find_entry(module, entry)
    inputs = check_inputs(func, arrays)
    with np.errstate(all="ignore"):
        outputs = _Interpreter().run(func, inputs)
    # Constants are read-only views of attribute data; callers get arrays they own.
    return [out if out.flags.writeable else out.copy() for out in outputs]


# ----------------------------------------------------------------------------- entry points
def _functions(module: Operation) -> list[Operation]:
    if not module.regions or not module.regions[0].blocks:
        return []
    return [op for op in module.regions[0].blocks[0].ops if op.has_trait(CallableOp)]


def _has_body(func: Operation) -> bool:
    return bool(func.regions) and bool(func.regions[0].blocks)


def find_entry(module: Operation, entry: str | None = None) -> Operation:
    """The function to run: `entry` by name, else the only public function, else @main."""
    if module.has_trait(CallableOp):
        return module
    funcs = [f for f in _functions(module) if _has_body(f)]
    by_name = {symbol_name(f): f for f in funcs}
    if entry is not None:
        found = by_name.get(entry.removeprefix("@"))
        if found is None:
            raise ValueError(f"no function @{entry.removeprefix('@')} in the module{_listing(funcs)}")
        return found
    public = [f for f in funcs if not is_private(f)]
    if len(public) == 1:
        return public[0]
    if "main" in by_name:
        return by_name["main"]
    if not funcs:
        raise ValueError("the module has no function with a body to run")
    raise ValueError(f"cannot choose an entry function: no @main and {len(public)} public functions{_listing(funcs)}")


def _listing(funcs: Sequence[Operation]) -> str:
    if not funcs:
        return ""
    return " (functions: " + ", ".join(f"@{symbol_name(f)}" for f in funcs) + ")"


def _function_type(func: Operation) -> FunctionType:
    ftype = func.get_attr("function_type").value
    assert isinstance(ftype, FunctionType)
    return ftype


def argument_names(func: Operation) -> list[str]:
    """`x` for `%x`; `arg<i>` where the argument has no name."""
    names = []
    for i, arg in enumerate(func.regions[0].blocks[0].args):
        hint = arg.name_hint
        names.append(hint if hint is not None and not hint[:1].isdigit() else f"arg{i}")
    return names


def result_names(func: Operation) -> list[str]:
    """Each result's `irc.name` result attribute where present, else `result<i>`."""
    res_attrs = func.get_attr("res_attrs")
    names = []
    for i in range(len(_function_type(func).results)):
        name = res_attrs.elements[i].get("irc.name") if res_attrs is not None else None
        names.append(name.value if isinstance(name, StringAttr) else f"result{i}")
    return names


# ----------------------------------------------------------------------------- input checks
def array_spec(t: Type) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and dtype of an array that holds a value of type `t`."""
    if isinstance(t, ShapedType):
        if not t.has_static_shape:
            raise ValueError(f"type '{t}' has a dynamic shape, which the interpreter does not support")
        return tuple(t.shape), numpy_dtype(t.element_type)
    return (), numpy_dtype(t)


def check_inputs(func: Operation, arrays: Sequence[Any]) -> list[np.ndarray]:
    """The inputs as arrays of the argument types; ValueError naming the first bad one."""
    types = _function_type(func).inputs
    names = argument_names(func)
    fname = symbol_name(func)
    if len(arrays) != len(types):
        listing = ", ".join(f"%{n}" for n in names)
        raise ValueError(f"@{fname} takes {len(types)} argument(s) ({listing}), but {len(arrays)} were given")
    out = []
    for name, t, given in zip(names, types, arrays, strict=True):
        shape, dtype = array_spec(t)
        if isinstance(given, bool | int | float) and not isinstance(given, np.generic):
            given = np.asarray(given, dtype=dtype)
        arr = np.asarray(given)
        if arr.shape != shape or arr.dtype != dtype:
            raise ValueError(
                f"argument %{name} of @{fname}: expected '{t}' (shape {shape}, dtype {dtype}), "
                f"got an array of shape {arr.shape} and dtype {arr.dtype}"
            )
        out.append(arr)
    return out


# ----------------------------------------------------------------------------- evaluation
def constant_array(attr: Attribute, t: Type) -> np.ndarray:
    """The value of a constant attribute as an array of type `t`."""
    if isinstance(attr, DenseElementsAttr | DenseResourceAttr):
        return attr.to_numpy()
    shape, dtype = array_spec(t)
    if isinstance(attr, IntegerAttr | FloatAttr):
        return np.full(shape, attr.value, dtype=dtype)
    raise ValueError(f"cannot make an array of the attribute '{attr}'")


def _scalar_attr(value: np.ndarray, t: Type) -> Attribute | None:
    if isinstance(t, FloatType):
        return FloatAttr(float(value), t)
    if isinstance(t, IntegerType | IndexType):
        return IntegerAttr(int(value), t)
    return None


class _Interpreter:
    def __init__(self) -> None:
        self.symbols = SymbolTableCollection()

    def run(self, func: Operation, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        blocks = func.regions[0].blocks
        if len(blocks) != 1:
            raise func.emit_error(f"has {len(blocks)} blocks; the interpreter runs single-block functions only")
        env: dict[Value, np.ndarray] = dict(zip(blocks[0].args, inputs, strict=True))
        for op in blocks[0].ops:
            if op.has_trait(ReturnLike):
                return [env[v] for v in op.operands]
            outputs = self.evaluate(op, [env[v] for v in op.operands], env)
            for result, value in zip(op.results, outputs, strict=True):
                env[result] = value
        raise func.emit_error("ended without a return")

    def evaluate(self, op: Operation, inputs: list[np.ndarray], env: dict[Value, np.ndarray]) -> list[np.ndarray]:
        if op.has_trait(ConstantLike):
            try:
                return [constant_array(op.constant_value(), op.results[0].type)]
            except ValueError as err:
                raise op.emit_error(f"cannot be interpreted: {err}") from err
        if op.has_trait(CallLike):
            return self.call(op, inputs)
        if op.regions:
            raise op.emit_error("cannot be interpreted: ops with regions are not supported by the interpreter")
        reference = getattr(op, "reference", None)
        if reference is not None:
            return self.checked(op, self.apply(op, reference, inputs))
        if hasattr(op, "fold") and op.has_trait(Pure):
            return self.checked(op, self.fold(op, inputs, env))
        raise op.emit_error("cannot be interpreted: it has no reference implementation")

    def apply(self, op: Operation, reference, inputs: list[np.ndarray]) -> list[np.ndarray]:
        try:
            return reference(*inputs)
        except IRCError:
            raise
        except Exception as err:
            raise op.emit_error(f"failed in the interpreter: {type(err).__name__}: {err}") from err

    def fold(self, op: Operation, inputs: list[np.ndarray], env: dict[Value, np.ndarray]) -> list[Any]:
        """Scalar ops without a reference (arith): fold with every operand a constant."""
        attrs = [_scalar_attr(x, v.type) for x, v in zip(inputs, op.operands, strict=True)]
        folded = op.fold(attrs) if None not in attrs else None
        if folded is None:
            raise op.emit_error("cannot be interpreted: it has no reference implementation and does not fold")
        out = []
        for item, result in zip(folded, op.results, strict=True):
            out.append(env[item] if isinstance(item, Value) else constant_array(item, result.type))
        return out

    def call(self, op: Operation, inputs: list[np.ndarray]) -> list[np.ndarray]:
        callee = op.get_attr("callee")
        target = self.symbols.lookup_from(op, callee) if callee is not None else None
        if target is None or not target.has_trait(CallableOp):
            raise op.emit_error(f"calls '{callee}', which is not a function of the module")
        if not _has_body(target):
            raise op.emit_error(f"calls '{callee}', which is a declaration without a body")
        return self.run(target, inputs)

    def checked(self, op: Operation, outputs: Any) -> list[np.ndarray]:
        """The op's outputs as arrays, checked against its result types."""
        if not isinstance(outputs, list | tuple) or len(outputs) != len(op.results):
            raise op.emit_error(
                f"reference returned {type(outputs).__name__} instead of a list of {len(op.results)} array(s)"
            )
        out = []
        for i, (value, result) in enumerate(zip(outputs, op.results, strict=True)):
            arr = np.asarray(value)
            shape, dtype = array_spec(result.type)
            if arr.shape != shape or arr.dtype != dtype:
                raise op.emit_error(
                    f"reference result #{i} has shape {arr.shape} and dtype {arr.dtype}, "
                    f"but the result type '{result.type}' needs shape {shape} and dtype {dtype}"
                )
            out.append(arr)
        return out
