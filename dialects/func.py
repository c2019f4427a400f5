"""The func dialect: functions, calls and returns (MLIR's `func`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from irc.attributes import ArrayAttr, DictionaryAttr, StringAttr, SymbolRefAttr, TypeAttr, symbol_text
from irc.context import Dialect
from irc.ir import Block, Operation, Region, Value
from irc.opdef import define_op, prop, region, var_operand, var_result
from irc.symbol_table import SymbolTableCollection
from irc.traits import (
    CallableOp,
    CallLike,
    HasParent,
    IsolatedFromAbove,
    IsTerminator,
    Pure,
    ReturnLike,
    Symbol,
)
from irc.types import FunctionType, Type


@define_op("func.func")
class FuncOp(Operation):
    """A function: `func.func @name(%a: T) -> T { ... }`; without a body, a declaration."""

    sym_name = prop(StringAttr)
    function_type = prop(TypeAttr)
    sym_visibility = prop(StringAttr, optional=True)
    arg_attrs = prop(ArrayAttr, optional=True)
    res_attrs = prop(ArrayAttr, optional=True)
    body_region = region()
    traits = (Symbol(), IsolatedFromAbove(), CallableOp())

    @classmethod
    def build(
        cls,
        name: str,
        inputs: Sequence[Type],
        results: Sequence[Type],
        arg_names: Sequence[str | None] = (),
        private: bool = False,
    ) -> FuncOp:
        props = {"sym_name": StringAttr(name), "function_type": TypeAttr(FunctionType(inputs, results))}
        if private:
            props["sym_visibility"] = StringAttr("private")
        return cls(properties=props, regions=[Region([Block(inputs, arg_names)])])

    @property
    def type(self) -> FunctionType:
        return self.function_type.value

    @property
    def is_declaration(self) -> bool:
        return not self.regions[0].blocks

    @property
    def entry(self) -> Block:
        return self.regions[0].blocks[0]

    @property
    def args(self) -> list:
        return self.entry.args

    def verify_(self) -> None:
        ftype = self.function_type.value
        if not isinstance(ftype, FunctionType):
            raise self.emit_error("requires 'function_type' to be a function type")
        for key, count in (("arg_attrs", len(ftype.inputs)), ("res_attrs", len(ftype.results))):
            value = self.properties.get(key)
            if value is not None and len(value) != count:
                raise self.emit_error(f"expects '{key}' to have {count} entries, but it has {len(value)}")
            if value is not None and not all(isinstance(d, DictionaryAttr) for d in value):
                raise self.emit_error(f"expects '{key}' to be an array of dictionaries")
        if self.is_declaration:
            vis = self.sym_visibility
            if vis is None or vis.value == "public":
                raise self.emit_error("symbol declaration cannot have public visibility")
            return
        args = self.entry.args
        if len(args) != len(ftype.inputs):
            raise self.emit_error(f"entry block must have {len(ftype.inputs)} arguments to match function signature")
        for i, (arg, t) in enumerate(zip(args, ftype.inputs, strict=True)):
            if arg.type != t:
                raise self.emit_error(
                    f"type of entry block argument #{i}('{arg.type}') must match the type of the "
                    f"corresponding argument in function signature('{t}')"
                )

    def print_custom(self, p) -> None:
        ftype = self.function_type.value
        p.write("func.func ")
        if self.sym_visibility is not None:
            p.write(self.sym_visibility.value + " ")
        p.write(symbol_text(self.sym_name.value) + "(")
        arg_attrs = self.arg_attrs
        if self.is_declaration:
            parts = [p.type(t) + _attrs_suffix(p, arg_attrs, i) for i, t in enumerate(ftype.inputs)]
        else:
            p.name_block_args(self.entry)
            parts = []
            for i, arg in enumerate(self.entry.args):
                text = f"{p.value(arg)}: {p.type(arg.type)}" + _attrs_suffix(p, arg_attrs, i)
                if p.debuginfo and arg.location is not None:
                    text += " " + p.location(arg.location)
                parts.append(text)
        p.write(", ".join(parts) + ")")
        results = ftype.results
        res_attrs = self.res_attrs
        if results:
            if len(results) == 1 and res_attrs is None and not isinstance(results[0], FunctionType):
                p.write(" -> " + p.type(results[0]))
            else:
                p.write(
                    " -> (" + ", ".join(p.type(t) + _attrs_suffix(p, res_attrs, i) for i, t in enumerate(results)) + ")"
                )
        extra = p.op_attr_dict(
            self, elide=("sym_name", "function_type", "sym_visibility", "arg_attrs", "res_attrs"), prefix=""
        )
        if extra:
            p.write(" attributes " + extra)
        if not self.is_declaration:
            p.write(" ")
            p.print_region(self.regions[0], print_entry_args=False)


def _attrs_suffix(p, attrs: ArrayAttr | None, index: int) -> str:
    if attrs is None:
        return ""
    entry = attrs.elements[index]
    assert isinstance(entry, DictionaryAttr)
    return p.attr_dict(dict(entry.entries))


@define_op("func.return")
class ReturnOp(Operation):
    """Return from a function: `func.return %a, %b : T1, T2`."""

    values = var_operand()
    traits = (Pure(), IsTerminator(), ReturnLike(), HasParent((FuncOp,)))
    format = "default"

    @classmethod
    def build(cls, values: Sequence[Value] = ()) -> ReturnOp:
        return cls(operands=values)

    def verify_(self) -> None:
        func = self.parent_op()
        assert isinstance(func, FuncOp)
        results = func.function_type.value.results
        name = func.sym_name.value
        if len(self._operands) != len(results):
            raise self.emit_error(
                f"has {len(self._operands)} operands, but enclosing function (@{name}) returns {len(results)}"
            )
        for i, (v, t) in enumerate(zip(self._operands, results, strict=True)):
            if v.type != t:
                raise self.emit_error(
                    f"type of return operand {i} ('{v.type}') doesn't match function result type ('{t}')"
                    f" in function @{name}"
                )


@define_op("func.call")
class CallOp(Operation):
    """Call a function by symbol: `func.call @f(%a) : (T) -> T`."""

    callee = prop(SymbolRefAttr)
    args = var_operand()
    outs = var_result()
    traits = (CallLike(),)

    @classmethod
    def build(cls, callee: str, args: Sequence[Value], result_types: Sequence[Type]) -> CallOp:
        return cls(operands=args, result_types=result_types, properties={"callee": SymbolRefAttr(callee)})

    def verify_symbol_uses(self, symbols: SymbolTableCollection) -> None:
        target = symbols.lookup_from(self, self.callee)
        name = self.callee.root
        if not isinstance(target, FuncOp):
            raise self.emit_error(f"'{name}' does not reference a valid function")
        ftype = target.function_type.value
        if len(ftype.inputs) != len(self._operands):
            raise self.emit_error("incorrect number of operands for callee")
        for i, (v, t) in enumerate(zip(self._operands, ftype.inputs, strict=True)):
            if v.type != t:
                raise self.emit_error(
                    f"operand type mismatch: expected operand type '{t}', but provided '{v.type}' "
                    f"for operand number {i}"
                )
        if len(ftype.results) != len(self.results):
            raise self.emit_error("incorrect number of results for callee")
        for i, (r, t) in enumerate(zip(self.results, ftype.results, strict=True)):
            if r.type != t:
                raise self.emit_error(
                    f"result type mismatch at index {i}: expected result type '{t}', but provided '{r.type}'"
                )

    @classmethod
    def parse_custom(cls, p) -> CallOp:
        callee = p.symbol()
        refs = p.group("(").value_refs()
        props, attrs = p.attr_dict()
        p.expect_end()
        types = p.type_list()
        if len(types) != 1 or not isinstance(types[0], FunctionType):
            raise p.error("expected a function type '(args) -> results'")
        ftype = types[0]
        operands = p.resolve(refs, ftype.inputs)
        props["callee"] = callee
        return p.build(operands=operands, result_types=ftype.results, properties=props, attributes=attrs)

    def print_custom(self, p) -> None:
        p.write(f"func.call {self.callee}({p.values(self._operands)})")
        p.write(p.op_attr_dict(self, elide=("callee",)))
        p.write(" : " + p.function_type(self.operand_types, self.result_types))


class FunctionBuilder:
    """Build a function from Python; op-building functions called inside the `with` insert
    into its body, and `ret` fixes the function type from the returned values:

        with FunctionBuilder("net", module) as f:
            x = f.arg(TensorType((1, 3, 32, 32), f32), "x")
            f.ret(tensor.relu(x))
    """

    def __init__(self, name: str, module: Operation | None = None, *, private: bool = False) -> None:
        from irc.builder import Builder

        self.func = FuncOp.build(name, [], [], private=private)
        if module is not None:
            module.body.append(self.func)
        self.builder = Builder.at_end(self.func.entry)
        self._scope: Any = None

    def arg(self, type: Type, name: str | None = None) -> Value:
        """A new function argument of `type` (named `%name` in the printed IR)."""
        value = self.func.entry.add_arg(type, name)
        self._retype([a.type for a in self.func.entry.args], self.func.type.results)
        return value

    def ret(self, *values: Value) -> ReturnOp:
        op = self.builder.insert(ReturnOp(operands=values))
        self._retype(self.func.type.inputs, [v.type for v in values])
        return op

    def _retype(self, inputs: Sequence[Type], results: Sequence[Type]) -> None:
        self.func.properties["function_type"] = TypeAttr(FunctionType(inputs, results))

    def __enter__(self) -> FunctionBuilder:
        self._scope = self.builder.as_current()
        self._scope.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._scope.__exit__(*exc)


DIALECT = Dialect("func", [FuncOp, ReturnOp, CallOp])
