"""The memref dialect: buffers and the loads and stores of loop bodies.

Every memref here has a static shape and the identity (row-major, contiguous) layout, so an
element's address is `base + linear_index * element_size`; that is what both backends assume.

- `%m = memref.alloc() : memref<4x8xf32>` / `memref.dealloc %m : memref<4x8xf32>`: a buffer
  (64-byte aligned); `allocate-buffers` turns every alloc of a function into a view of its arena.
- `%v = memref.view %arena[1024] : memref<65536xi8> to memref<4x8xf32>`: a typed window at a
  static byte offset of an `i8` buffer.
- `%r = memref.reshape %m : memref<4x8xf32> to memref<32xf32>`: the same buffer, another shape.
- `%x = memref.load %m[%i, %j] : memref<4x8xf32>`, `memref.store %x, %m[%i, %j] : memref<4x8xf32>`.
- `%v = memref.vector_load %m[%i, %j] : memref<4x8xf32>, vector<8xf32>` and
  `memref.vector_store %v, %m[%i, %j] : memref<4x8xf32>, vector<8xf32>`: consecutive elements
  along the last dimension (MLIR's `vector.load`/`vector.store`).
- `memref.copy %src, %dst : memref<4x8xf32>`.
- `memref.global @w = dense<...> : memref<4xf32>` (constant data) and
  `%w = memref.get_global @w : memref<4xf32>`.
"""

from __future__ import annotations

from collections.abc import Sequence

from irc.attributes import DenseElementsAttr, DenseResourceAttr, IntegerAttr, StringAttr, SymbolRefAttr, TypeAttr
from irc.context import Dialect
from irc.ir import Operation, Value
from irc.location import Location
from irc.opdef import AnyMemRef, Index, define_op, isa, operand, prop, result, var_operand
from irc.symbol_table import SymbolTableCollection
from irc.traits import MemoryEffects, Pure, Symbol
from irc.types import IntegerType, MemRefType, TensorType, Type, VectorType, i64

ALIGNMENT = 64


def element_bytes(t: Type) -> int:
    """Bytes one element takes in memory (i1 is stored as a byte, as numpy's bool)."""
    width = getattr(t, "width", 64)
    return max(1, (width + 7) // 8)


def byte_size(t: MemRefType) -> int:
    return t.num_elements * element_bytes(t.element_type)


def _check_static(op: Operation, t: Type, what: str) -> None:
    if not isinstance(t, MemRefType) or not t.has_static_shape:
        raise op.emit_error(f"expects {what} to be a memref of static shape, but it is '{t}'")
    if t.layout is not None or t.memory_space is not None:
        raise op.emit_error(f"expects {what} to have the identity layout and the default memory space ('{t}')")


def _check_indices(op: Operation, t: MemRefType, indices: Sequence[Value]) -> None:
    if len(indices) != t.rank:
        raise op.emit_error(f"expects {t.rank} indices for '{t}', but got {len(indices)}")


# ----------------------------------------------------------------------------- alloc, dealloc, view
@define_op("memref.alloc")
class AllocOp(Operation):
    """`%m = memref.alloc() : memref<4x8xf32>`: a new buffer, 64-byte aligned."""

    out = result(AnyMemRef)
    traits = (MemoryEffects(reads=False, writes=True),)

    @classmethod
    def build(cls, type: MemRefType, name: str | None = None, location: Location | None = None) -> AllocOp:
        return cls(result_types=[type], result_names=[name], location=location)

    def verify_(self) -> None:
        _check_static(self, self.results[0].type, "the result")

    @classmethod
    def parse_custom(cls, p) -> Operation:
        args = p.group("(")
        args.expect_end()
        props, attrs = p.attr_dict()
        p.expect_end()
        return p.build(result_types=p.type_list(), properties=props, attributes=attrs)

    def print_custom(self, p) -> None:
        p.write(f"memref.alloc(){p.op_attr_dict(self)} : {p.type(self.results[0].type)}")


@define_op("memref.dealloc")
class DeallocOp(Operation):
    """`memref.dealloc %m : memref<4x8xf32>`."""

    memref = operand(AnyMemRef)
    traits = (MemoryEffects(reads=False, writes=True),)

    @classmethod
    def build(cls, memref: Value, location: Location | None = None) -> DeallocOp:
        return cls(operands=[memref], location=location)

    @classmethod
    def parse_custom(cls, p) -> Operation:
        return p.parse_default()

    def print_custom(self, p) -> None:
        p.print_default(self)


@define_op("memref.view")
class ViewOp(Operation):
    """`%v = memref.view %arena[1024] : memref<65536xi8> to memref<4x8xf32>`."""

    source = operand(AnyMemRef)
    byte_offset = prop(IntegerAttr)
    out = result(AnyMemRef)
    traits = (Pure(),)

    @classmethod
    def build(cls, source: Value, offset: int, type: MemRefType, location: Location | None = None) -> ViewOp:
        return cls(
            operands=[source],
            properties={"byte_offset": IntegerAttr(offset, i64)},
            result_types=[type],
            location=location,
        )

    @property
    def offset(self) -> int:
        return self.byte_offset.value

    def verify_(self) -> None:
        src = self.source.type
        _check_static(self, src, "the source")
        _check_static(self, self.results[0].type, "the result")
        if src.rank != 1 or src.element_type != IntegerType(8):
            raise self.emit_error(f"expects a one-dimensional i8 source, but it is '{src}'")
        size = byte_size(self.results[0].type)
        if self.offset < 0 or self.offset + size > src.shape[0]:
            raise self.emit_error(
                f"view of {size} bytes at offset {self.offset} does not fit in a buffer of {src.shape[0]} bytes"
            )
        align = element_bytes(self.results[0].type.element_type)
        if self.offset % align:
            raise self.emit_error(f"byte offset {self.offset} is not a multiple of the element size {align}")

    @classmethod
    def parse_custom(cls, p) -> Operation:
        ref = p.value_ref()
        group = p.group("[")
        lit = group.literal()
        group.expect_end()
        offset = p.literal_attr(lit, i64)
        props, attrs = p.attr_dict()
        p.expect_end()
        src, dst = _to_types(p)
        props["byte_offset"] = offset
        return p.build(operands=p.resolve([ref], [src]), result_types=[dst], properties=props, attributes=attrs)

    def print_custom(self, p) -> None:
        p.write(
            f"memref.view {p.value(self.source)}[{self.offset}]"
            f"{p.op_attr_dict(self, elide=('byte_offset',))} : {p.type(self.source.type)} to "
            f"{p.type(self.results[0].type)}"
        )


def _to_types(p) -> tuple[Type, Type]:
    """`: A to B`."""
    section = p.type_section()
    if len(section) != 3 or getattr(section[1], "text", None) != "to":
        raise p.error("expected ': source-type to result-type'")
    return section[0], section[2]


@define_op("memref.reshape")
class ReshapeOp(Operation):
    """`%r = memref.reshape %m : memref<4x8xf32> to memref<32xf32>`: the same elements, in order."""

    source = operand(AnyMemRef)
    out = result(AnyMemRef)
    traits = (Pure(),)

    @classmethod
    def build(cls, source: Value, type: MemRefType, location: Location | None = None) -> ReshapeOp:
        return cls(operands=[source], result_types=[type], location=location)

    def verify_(self) -> None:
        src, dst = self.source.type, self.results[0].type
        _check_static(self, src, "the source")
        _check_static(self, dst, "the result")
        if src.element_type != dst.element_type or src.num_elements != dst.num_elements:
            raise self.emit_error(f"cannot reshape '{src}' to '{dst}': element type and count must match")

    @classmethod
    def parse_custom(cls, p) -> Operation:
        ref = p.value_ref()
        props, attrs = p.attr_dict()
        p.expect_end()
        src, dst = _to_types(p)
        return p.build(operands=p.resolve([ref], [src]), result_types=[dst], properties=props, attributes=attrs)

    def print_custom(self, p) -> None:
        p.write(
            f"memref.reshape {p.value(self.source)}{p.op_attr_dict(self)} : {p.type(self.source.type)} to "
            f"{p.type(self.results[0].type)}"
        )


@define_op("memref.copy")
class CopyOp(Operation):
    """`memref.copy %src, %dst : memref<4x8xf32>`: copies every element (same type)."""

    source = operand(AnyMemRef)
    target = operand(AnyMemRef)
    traits = (MemoryEffects(),)

    @classmethod
    def build(cls, source: Value, target: Value, location: Location | None = None) -> CopyOp:
        return cls(operands=[source, target], location=location)

    def verify_(self) -> None:
        if self.source.type != self.target.type:
            raise self.emit_error(f"expects source and target of one type, but got '{self.source.type}' and "
                                  f"'{self.target.type}'")  # fmt: skip
        _check_static(self, self.source.type, "the source")

    @classmethod
    def parse_custom(cls, p) -> Operation:
        refs = p.value_refs()
        props, attrs = p.attr_dict()
        p.expect_end()
        section = p.type_section()
        if len(section) == 3 and getattr(section[1], "text", None) == "to":  # MLIR's `: T1 to T2`
            types = [section[0], section[2]]
        else:
            types = p.type_list()
            if len(types) != 1:
                raise p.error("expected ': memref-type'")
            types = types * 2
        if len(refs) != 2:
            raise p.error(f"expected a source and a target, but got {len(refs)} operands")
        return p.build(operands=p.resolve(refs, types), properties=props, attributes=attrs)

    def print_custom(self, p) -> None:
        p.write(
            f"memref.copy {p.value(self.source)}, {p.value(self.target)}{p.op_attr_dict(self)} : "
            f"{p.type(self.source.type)}"
        )


# ----------------------------------------------------------------------------- load, store
def _parse_access(p, with_value: bool, vector: bool) -> Operation:
    """`[%v,] %m[%i, ...] {attrs} : memref<...>[, vector<...>]`."""
    value_ref = None
    if with_value:
        value_ref = p.value_ref()
        p.punct(",")
    mem_ref = p.value_ref()
    group = p.group("[")
    idx_refs = group.value_refs()
    group.expect_end()
    props, attrs = p.attr_dict()
    p.expect_end()
    types = p.type_list()
    if len(types) != (2 if vector else 1):
        raise p.error("expected ': memref-type, vector-type'" if vector else "expected ': memref-type'")
    mtype = types[0]
    if not isinstance(mtype, MemRefType):
        raise p.error(f"expected a memref type, found '{mtype}'")
    value_type = types[1] if vector else mtype.element_type
    operands = []
    if with_value:
        operands += p.resolve([value_ref], [value_type])
    operands += p.resolve([mem_ref], [mtype])
    from irc.types import index

    operands += p.resolve(idx_refs, [index] * len(idx_refs))
    result_types = [] if with_value else [value_type]
    return p.build(operands=operands, result_types=result_types, properties=props, attributes=attrs)


def _print_access(op: Operation, p, keyword: str, value: Value | None, vector_type: Type | None) -> None:
    head = f"{keyword} " + (f"{p.value(value)}, " if value is not None else "")
    p.write(f"{head}{p.value(op.memref)}[{p.values(op.indices)}]{p.op_attr_dict(op)} : {p.type(op.memref.type)}")
    if vector_type is not None:
        p.write(f", {p.type(vector_type)}")


class _Access(Operation):
    @property
    def memref_type(self) -> MemRefType:
        return self.memref.type

    def verify_(self) -> None:
        _check_static(self, self.memref.type, "the memref")
        _check_indices(self, self.memref.type, self.indices)


@define_op("memref.load")
class LoadOp(_Access):
    memref = operand(AnyMemRef)
    indices = var_operand(Index)
    out = result()
    traits = (MemoryEffects(reads=True, writes=False),)

    @classmethod
    def build(cls, memref: Value, indices: Sequence[Value], location: Location | None = None) -> LoadOp:
        return cls(operands=[memref, *indices], result_types=[memref.type.element_type], location=location)

    def verify_(self) -> None:
        super().verify_()
        if self.results[0].type != self.memref.type.element_type:
            raise self.emit_error(
                f"result type '{self.results[0].type}' is not the element type of '{self.memref.type}'"
            )

    @classmethod
    def parse_custom(cls, p) -> Operation:
        return _parse_access(p, with_value=False, vector=False)

    def print_custom(self, p) -> None:
        _print_access(self, p, "memref.load", None, None)


@define_op("memref.store")
class StoreOp(_Access):
    value = operand()
    memref = operand(AnyMemRef)
    indices = var_operand(Index)
    traits = (MemoryEffects(reads=False, writes=True),)

    @classmethod
    def build(cls, value: Value, memref: Value, indices: Sequence[Value], location: Location | None = None) -> StoreOp:
        return cls(operands=[value, memref, *indices], location=location)

    def verify_(self) -> None:
        super().verify_()
        if self.value.type != self.memref.type.element_type:
            raise self.emit_error(f"value type '{self.value.type}' is not the element type of '{self.memref.type}'")

    @classmethod
    def parse_custom(cls, p) -> Operation:
        return _parse_access(p, with_value=True, vector=False)

    def print_custom(self, p) -> None:
        _print_access(self, p, "memref.store", self.value, None)


def _check_vector(op: Operation, vtype: Type, mtype: MemRefType) -> None:
    if not isinstance(vtype, VectorType) or vtype.rank != 1:
        raise op.emit_error(f"expects a one-dimensional vector type, but got '{vtype}'")
    if vtype.element_type != mtype.element_type:
        raise op.emit_error(f"vector element type of '{vtype}' does not match '{mtype}'")
    if mtype.rank == 0:
        raise op.emit_error(f"expects a memref of rank at least 1 for a vector access, but got '{mtype}'")
    if vtype.shape[0] > mtype.shape[-1]:
        raise op.emit_error(f"'{vtype}' does not fit in the last dimension of '{mtype}'")


@define_op("memref.vector_load")
class VectorLoadOp(_Access):
    """Loads `n` consecutive elements along the last dimension, starting at the indices.
    The caller guarantees they are in bounds (the last index + n <= the last dimension)."""

    memref = operand(AnyMemRef)
    indices = var_operand(Index)
    out = result(isa(VectorType, description="vector"))
    traits = (MemoryEffects(reads=True, writes=False),)

    @classmethod
    def build(
        cls, memref: Value, indices: Sequence[Value], type: VectorType, location: Location | None = None
    ) -> VectorLoadOp:
        return cls(operands=[memref, *indices], result_types=[type], location=location)

    def verify_(self) -> None:
        super().verify_()
        _check_vector(self, self.results[0].type, self.memref.type)

    @classmethod
    def parse_custom(cls, p) -> Operation:
        return _parse_access(p, with_value=False, vector=True)

    def print_custom(self, p) -> None:
        _print_access(self, p, "memref.vector_load", None, self.results[0].type)


@define_op("memref.vector_store")
class VectorStoreOp(_Access):
    value = operand(isa(VectorType, description="vector"))
    memref = operand(AnyMemRef)
    indices = var_operand(Index)
    traits = (MemoryEffects(reads=False, writes=True),)

    @classmethod
    def build(
        cls, value: Value, memref: Value, indices: Sequence[Value], location: Location | None = None
    ) -> VectorStoreOp:
        return cls(operands=[value, memref, *indices], location=location)

    def verify_(self) -> None:
        super().verify_()
        _check_vector(self, self.value.type, self.memref.type)

    @classmethod
    def parse_custom(cls, p) -> Operation:
        return _parse_access(p, with_value=True, vector=True)

    def print_custom(self, p) -> None:
        _print_access(self, p, "memref.vector_store", self.value, self.value.type)


# ----------------------------------------------------------------------------- globals
@define_op("memref.global")
class GlobalOp(Operation):
    """`memref.global @w = dense<[1.0, 2.0]> : memref<2xf32>`: constant data, read-only."""

    sym_name = prop(StringAttr)
    type = prop(TypeAttr)
    initial_value = prop((DenseElementsAttr, DenseResourceAttr))
    traits = (Symbol(),)

    @classmethod
    def build(
        cls, name: str, value: DenseElementsAttr | DenseResourceAttr, location: Location | None = None
    ) -> GlobalOp:
        t = value.type
        mtype = MemRefType(t.shape, t.element_type)
        if not isinstance(t, TensorType):
            value = _retype(value, TensorType(t.shape, t.element_type))
        return cls(
            properties={"sym_name": StringAttr(name), "type": TypeAttr(mtype), "initial_value": value},
            location=location,
        )

    @property
    def memref_type(self) -> MemRefType:
        return self.type.value

    def verify_(self) -> None:
        t = self.memref_type
        _check_static(self, t, "the global's type")
        v = self.initial_value.type
        if tuple(v.shape) != tuple(t.shape) or v.element_type != t.element_type:
            raise self.emit_error(f"initial value of type '{v}' does not match '{t}'")

    @classmethod
    def parse_custom(cls, p) -> Operation:
        sym = p.symbol()
        p.punct("=")
        lit = p.literal()
        props, attrs = p.attr_dict()
        p.expect_end()
        if lit.kind in ("dense", "resource"):
            types = p.type_list()
            if len(types) != 1 or not isinstance(types[0], MemRefType):
                raise p.error("expected ': memref-type' after the initial value")
            mtype = types[0]
            value = p.literal_attr(lit, TensorType(mtype.shape, mtype.element_type))
        else:  # the grammar read `dense<...> : memref<...>` as one typed literal
            value = p.literal_attr(lit)
            if not isinstance(value, DenseElementsAttr | DenseResourceAttr):
                raise p.error("expected 'dense<...>' or 'dense_resource<...>' as the initial value", lit)
            t = value.type
            if not isinstance(t, MemRefType):
                raise p.error(f"expected ': memref-type' after the initial value, found '{t}'", lit)
            mtype = MemRefType(t.shape, t.element_type)
            value = _retype(value, TensorType(t.shape, t.element_type))
        props.update({"sym_name": StringAttr(sym.root), "type": TypeAttr(mtype), "initial_value": value})
        return p.build(properties=props, attributes=attrs)

    def print_custom(self, p) -> None:
        from irc.attributes import symbol_text

        body = p.attr(self.initial_value)
        body = body[: body.rindex(" : ")] if " : " in body else body
        p.write(
            f"memref.global {symbol_text(self.sym_name.value)} = {body}"
            f"{p.op_attr_dict(self, elide=('sym_name', 'type', 'initial_value'))} : {p.type(self.memref_type)}"
        )


def _retype(value: DenseElementsAttr | DenseResourceAttr, t: TensorType):
    import attrs

    return attrs.evolve(value, type=t)


@define_op("memref.get_global")
class GetGlobalOp(Operation):
    """`%w = memref.get_global @w : memref<2xf32>`."""

    global_name = prop(SymbolRefAttr)
    out = result(AnyMemRef)
    traits = (Pure(),)

    @classmethod
    def build(cls, name: str, type: MemRefType, location: Location | None = None) -> GetGlobalOp:
        return cls(properties={"global_name": SymbolRefAttr(name)}, result_types=[type], location=location)

    def verify_symbol_uses(self, tables: SymbolTableCollection) -> None:
        target = tables.lookup_from(self, self.global_name)
        if not isinstance(target, GlobalOp):
            raise self.emit_error(f"'{self.global_name}' does not reference a valid global memref")
        if target.memref_type != self.results[0].type:
            raise self.emit_error(
                f"result type '{self.results[0].type}' does not match the global's type '{target.memref_type}'"
            )

    @classmethod
    def parse_custom(cls, p) -> Operation:
        sym = p.symbol()
        props, attrs = p.attr_dict()
        p.expect_end()
        props["global_name"] = sym
        return p.build(result_types=p.type_list(), properties=props, attributes=attrs)

    def print_custom(self, p) -> None:
        p.write(
            f"memref.get_global {self.global_name}{p.op_attr_dict(self, elide=('global_name',))} : "
            f"{p.type(self.results[0].type)}"
        )


DIALECT = Dialect(
    "memref",
    [
        AllocOp,
        DeallocOp,
        ViewOp,
        ReshapeOp,
        CopyOp,
        LoadOp,
        StoreOp,
        VectorLoadOp,
        VectorStoreOp,
        GlobalOp,
        GetGlobalOp,
    ],
)
