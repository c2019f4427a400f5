"""Builtin types: values compared and hashed by content (frozen attrs classes).

`str(t)` is the type's MLIR spelling, e.g. `tensor<4x?xf32>`.
"""

from __future__ import annotations

import operator
from typing import Any

import attrs


class Type:
    """Base of all types."""

    __slots__ = ()


def _identity_eq(cls: type) -> type:
    """Give an attrs value class `==`/`!=` that answer at once for the same object.

    Types are mostly shared objects (`f32`, the parser's named types), so the verifier's
    many type comparisons are usually identity checks. The result is the one attrs gives:
    the tuples of fields compared, `NotImplemented` for another class.
    """
    names = [a.name for a in attrs.fields(cls) if a.eq]
    if len(names) >= 2:
        fields = operator.attrgetter(*names)
    elif names:
        name = names[0]

        def fields(obj: Any) -> tuple:
            return (getattr(obj, name),)
    else:

        def fields(obj: Any) -> tuple:
            return ()

    def __eq__(self: Any, other: Any) -> Any:
        if self is other:
            return True
        if other.__class__ is not self.__class__:
            return NotImplemented
        return fields(self) == fields(other)

    def __ne__(self: Any, other: Any) -> Any:
        if self is other:
            return False
        if other.__class__ is not self.__class__:
            return NotImplemented
        return not fields(self) == fields(other)

    __eq__.__qualname__ = f"{cls.__qualname__}.__eq__"
    __ne__.__qualname__ = f"{cls.__qualname__}.__ne__"
    cls.__eq__ = __eq__
    cls.__ne__ = __ne__
    return cls


@_identity_eq
@attrs.frozen(cache_hash=True)
class IntegerType(Type):
    width: int
    signedness: str = "signless"  # signless | signed | unsigned

    def __str__(self) -> str:
        prefix = {"signless": "i", "signed": "si", "unsigned": "ui"}[self.signedness]
        return f"{prefix}{self.width}"


FLOAT_WIDTHS = {"f16": 16, "bf16": 16, "f32": 32, "f64": 64, "f80": 80, "f128": 128}


@_identity_eq
@attrs.frozen(cache_hash=True)
class FloatType(Type):
    name: str = attrs.field(validator=attrs.validators.in_(FLOAT_WIDTHS))

    @property
    def width(self) -> int:
        return FLOAT_WIDTHS[self.name]

    def __str__(self) -> str:
        return self.name


@_identity_eq
@attrs.frozen(cache_hash=True)
class IndexType(Type):
    def __str__(self) -> str:
        return "index"


@_identity_eq
@attrs.frozen(cache_hash=True)
class NoneType(Type):
    def __str__(self) -> str:
        return "none"


def _shape(value) -> tuple[int | None, ...]:
    return tuple(None if d is None or d == -1 else int(d) for d in value)


def shape_text(shape: tuple[int | None, ...]) -> str:
    return "".join(("?" if d is None else str(d)) + "x" for d in shape)


class ShapedType(Type):
    """Common accessors of tensor, memref and vector types."""

    __slots__ = ()
    shape: tuple[int | None, ...]
    element_type: Type

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def has_static_shape(self) -> bool:
        return None not in self.shape

    @property
    def num_elements(self) -> int:
        n = 1
        for d in self.shape:
            if d is None:
                raise ValueError(f"{self} has a dynamic shape")
            n *= d
        return n


@_identity_eq
@attrs.frozen(cache_hash=True)
class TensorType(ShapedType):
    shape: tuple[int | None, ...] = attrs.field(converter=_shape)
    element_type: Type
    encoding: object | None = None

    def __str__(self) -> str:
        enc = "" if self.encoding is None else f", {self.encoding}"
        return f"tensor<{shape_text(self.shape)}{self.element_type}{enc}>"


@_identity_eq
@attrs.frozen(cache_hash=True)
class MemRefType(ShapedType):
    shape: tuple[int | None, ...] = attrs.field(converter=_shape)
    element_type: Type
    layout: object | None = None
    memory_space: object | None = None

    def __str__(self) -> str:
        extra = "".join(f", {a}" for a in (self.layout, self.memory_space) if a is not None)
        return f"memref<{shape_text(self.shape)}{self.element_type}{extra}>"


@_identity_eq
@attrs.frozen(cache_hash=True)
class VectorType(ShapedType):
    shape: tuple[int, ...] = attrs.field(converter=_shape)
    element_type: Type

    def __str__(self) -> str:
        return f"vector<{shape_text(self.shape)}{self.element_type}>"


@_identity_eq
@attrs.frozen(cache_hash=True)
class ComplexType(Type):
    element_type: Type

    def __str__(self) -> str:
        return f"complex<{self.element_type}>"


@_identity_eq
@attrs.frozen(cache_hash=True)
class TupleType(Type):
    types: tuple[Type, ...] = attrs.field(converter=tuple)

    def __str__(self) -> str:
        return f"tuple<{', '.join(map(str, self.types))}>"


@_identity_eq
@attrs.frozen(cache_hash=True)
class FunctionType(Type):
    inputs: tuple[Type, ...] = attrs.field(converter=tuple)
    results: tuple[Type, ...] = attrs.field(converter=tuple)

    def __str__(self) -> str:
        ins = ", ".join(map(str, self.inputs))
        if len(self.results) == 1 and not isinstance(self.results[0], FunctionType):
            return f"({ins}) -> {self.results[0]}"
        return f"({ins}) -> ({', '.join(map(str, self.results))})"


@_identity_eq
@attrs.frozen(cache_hash=True)
class OpaqueType(Type):
    """A type of a dialect we do not know: `!dialect.name<body>`, kept as text."""

    dialect: str
    name: str
    body: str | None = None

    def __str__(self) -> str:
        body = "" if self.body is None else f"<{self.body}>"
        dot = f".{self.name}" if self.name else ""
        return f"!{self.dialect}{dot}{body}"


# Shorthands used throughout the code base.
i1 = IntegerType(1)
i8 = IntegerType(8)
i16 = IntegerType(16)
i32 = IntegerType(32)
i64 = IntegerType(64)
f16 = FloatType("f16")
bf16 = FloatType("bf16")
f32 = FloatType("f32")
f64 = FloatType("f64")
index = IndexType()
none = NoneType()


def element_type_of(t: Type) -> Type:
    """The element type of a shaped type, or the type itself for scalars."""
    return t.element_type if isinstance(t, ShapedType) else t


def is_int_or_index(t: Type) -> bool:
    return isinstance(t, IntegerType | IndexType)
