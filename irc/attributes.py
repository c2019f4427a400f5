"""Builtin attributes: compile-time constants attached to operations.

All are values (frozen attrs classes). `str(a)` is the MLIR spelling; integer attributes of
type i64 and float attributes of type f64 elide their type, as MLIR accepts.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import attrs

from irc.types import (
    FloatType,
    IndexType,
    IntegerType,
    ShapedType,
    Type,
    f64,
    i1,
    i64,
)


class Attribute:
    """Base of all attributes."""

    __slots__ = ()


def quote_string(text: str) -> str:
    out = []
    for ch in text:
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\{ord(ch):02X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def unquote_string(text: str) -> str:
    """Decode an MLIR string literal body (without quotes): `\\n`, `\\t`, `\\"`, `\\XX` hex."""
    if "\\" not in text:
        return text
    out = bytearray()
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "\\":
            out += ch.encode()
            i += 1
            continue
        nxt = text[i + 1]
        if nxt in '"\\':
            out += nxt.encode()
            i += 2
        elif nxt == "n":
            out += b"\n"
            i += 2
        elif nxt == "t":
            out += b"\t"
            i += 2
        else:
            out.append(int(text[i + 1 : i + 3], 16))
            i += 3
    return out.decode("utf-8", errors="surrogateescape")


# ----------------------------------------------------------------------------- scalars
@attrs.frozen(cache_hash=True)
class IntegerAttr(Attribute):
    value: int
    type: Type = i64

    def __attrs_post_init__(self) -> None:
        # Signless and signed integers are kept in two's complement signed form, as MLIR
        # prints them (`255 : i8` reads back as `-1 : i8`).
        t = self.type
        if isinstance(t, IntegerType):
            object.__setattr__(self, "value", wrap_int(int(self.value), t))

    def __str__(self) -> str:
        if self.type == i1:
            return "true" if self.value else "false"
        if self.type == i64:
            return str(self.value)
        return f"{self.value} : {self.type}"


def wrap_int(value: int, t: IntegerType) -> int:
    """`value` reduced to the range of `t` (signed unless `t` is unsigned; i1 is 0/1)."""
    width = t.width
    value &= (1 << width) - 1
    if t.signedness != "unsigned" and width > 1 and value >= 1 << (width - 1):
        value -= 1 << width
    return value


def BoolAttr(value: bool) -> IntegerAttr:
    return IntegerAttr(1 if value else 0, i1)


_FLOAT_FORMATS = {16: "e", 32: "f", 64: "d"}


def float_bits(value: float, ftype: FloatType) -> int:
    """The bit pattern of `value` rounded to `ftype`."""
    width = ftype.width
    if ftype.name == "bf16":
        return struct.unpack("<I", struct.pack("<f", _round_bf16(value)))[0] >> 16
    fmt = _FLOAT_FORMATS.get(width)
    if fmt is None:
        raise ValueError(f"cannot encode {ftype}")
    size = width // 8
    return int.from_bytes(struct.pack("<" + fmt, value), "little", signed=False) & ((1 << (8 * size)) - 1)


def _round_bf16(value: float) -> float:
    """`value` rounded to the nearest bfloat16 (ties to even; 8 significant bits, the exponent
    range of f32 with its subnormals), as a float that f32 represents exactly."""
    if not math.isfinite(value) or value == 0:
        return value
    _, exp = math.frexp(value)
    step = max(exp - 8, -133)  # the weight of the last significant bit; 2**-133 is the smallest subnormal
    rounded = round(value / 2.0**step) * 2.0**step  # exact scaling, then Python's ties-to-even
    if abs(rounded) > 3.3895313892515355e38:  # past bf16's largest finite value: overflow
        return math.copysign(math.inf, value)
    return math.copysign(rounded, value)  # keeps the sign of a result that rounds to zero


def float_from_bits(bits: int, ftype: FloatType) -> float:
    if ftype.name == "bf16":
        return struct.unpack("<f", struct.pack("<I", bits << 16))[0]
    fmt = _FLOAT_FORMATS[ftype.width]
    return struct.unpack("<" + fmt, bits.to_bytes(ftype.width // 8, "little"))[0]


def round_float(value: float, ftype: FloatType) -> float:
    """`value` rounded to the precision of `ftype` (as a Python float)."""
    if ftype.width >= 64:
        return float(value)
    try:
        return float_from_bits(float_bits(value, ftype), ftype)
    except OverflowError:
        return math.copysign(math.inf, value)


def format_float(value: float, ftype: FloatType = f64) -> str | None:
    """Shortest decimal text that reads back to the same value of `ftype`.

    Returns None for inf/nan, which must be printed as a hex bit pattern.
    """
    if math.isinf(value) or math.isnan(value):
        return None
    if ftype.width >= 64:
        text = repr(float(value))
    else:
        text = None
        for digits in range(1, 18):
            cand = f"{value:.{digits}g}"
            if round_float(float(cand), ftype) == value:
                text = cand
                break
        assert text is not None
    if "e" in text:
        mant, exp = text.split("e")
        if "." not in mant:
            mant += ".0"
        exp_val = int(exp)
        return f"{mant}e{'+' if exp_val >= 0 else '-'}{abs(exp_val):02d}"
    if "." not in text and "inf" not in text and "nan" not in text:
        text += ".0"
    return text


@attrs.frozen(eq=False)
class FloatAttr(Attribute):
    """A floating-point constant; equality is by bit pattern (so NaN == NaN, -0.0 != 0.0)."""

    value: float
    type: FloatType = f64
    # The bit pattern, worked out on first use (hashing, equality, hex printing); `from_bits`
    # sets it to keep a NaN's payload and signalling bit, which a Python float loses.
    _bits: int | None = attrs.field(default=None, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        # Keep the value exactly representable in the attribute's type.
        object.__setattr__(self, "value", round_float(float(self.value), self.type))

    @classmethod
    def from_bits(cls, bits: int, type: FloatType) -> FloatAttr:
        """The attribute of a bit pattern (e.g. a hex literal), NaN payloads included."""
        attr = cls(float_from_bits(bits, type), type)
        if math.isnan(attr.value):
            object.__setattr__(attr, "_bits", bits & ((1 << type.width) - 1))
        return attr

    @property
    def bits(self) -> int:
        bits = self._bits
        if bits is None:
            bits = float_bits(self.value, self.type)
            object.__setattr__(self, "_bits", bits)
        return bits

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FloatAttr) and self.type == other.type and self.bits == other.bits

    def __hash__(self) -> int:
        return hash((FloatAttr, self.type, self.bits))

    def __str__(self) -> str:
        text = format_float(self.value, self.type)
        if text is None:
            # inf/nan: a hex bit pattern, which reads back as an integer without its type.
            width = max(self.type.width // 4, 1)
            return f"0x{self.bits:0{width}X} : {self.type}"
        if self.type == f64:
            return text
        return f"{text} : {self.type}"


@attrs.frozen(cache_hash=True)
class StringAttr(Attribute):
    value: str

    def __str__(self) -> str:
        return quote_string(self.value)


@attrs.frozen(cache_hash=True)
class UnitAttr(Attribute):
    def __str__(self) -> str:
        return "unit"


@attrs.frozen(cache_hash=True)
class TypeAttr(Attribute):
    value: Type

    def __str__(self) -> str:
        return str(self.value)


@attrs.frozen(cache_hash=True)
class SymbolRefAttr(Attribute):
    root: str
    nested: tuple[str, ...] = attrs.field(default=(), converter=tuple)

    def __str__(self) -> str:
        return "::".join(symbol_text(n) for n in (self.root, *self.nested))


def symbol_text(name: str) -> str:
    if name and (name[0].isalpha() or name[0] == "_") and all(c.isalnum() or c in "_$." for c in name):
        return "@" + name
    return "@" + quote_string(name)


# ----------------------------------------------------------------------------- containers
@attrs.frozen(cache_hash=True)
class ArrayAttr(Attribute):
    elements: tuple[Attribute, ...] = attrs.field(converter=tuple)

    def __iter__(self):
        return iter(self.elements)

    def __len__(self) -> int:
        return len(self.elements)

    def __getitem__(self, i):
        return self.elements[i]

    def __str__(self) -> str:
        return "[" + ", ".join(map(str, self.elements)) + "]"


def _sorted_items(value) -> tuple[tuple[str, Attribute], ...]:
    items = value.items() if isinstance(value, dict) else value
    return tuple(sorted(items, key=lambda kv: kv[0]))


def attr_key_text(name: str) -> str:
    if name and (name[0].isalpha() or name[0] == "_") and all(c.isalnum() or c in "_$." for c in name):
        return name
    return quote_string(name)


def dict_entries_text(items) -> str:
    return ", ".join(attr_key_text(k) if isinstance(v, UnitAttr) else f"{attr_key_text(k)} = {v}" for k, v in items)


@attrs.frozen(cache_hash=True)
class DictionaryAttr(Attribute):
    entries: tuple[tuple[str, Attribute], ...] = attrs.field(converter=_sorted_items)

    def get(self, key: str, default: Any = None) -> Any:
        for k, v in self.entries:
            if k == key:
                return v
        return default

    def as_dict(self) -> dict[str, Attribute]:
        return dict(self.entries)

    def __str__(self) -> str:
        return "{" + dict_entries_text(self.entries) + "}"


@attrs.frozen(cache_hash=True)
class DenseArrayAttr(Attribute):
    """MLIR's `array<i64: 1, 2>`: a flat list of scalars of one type."""

    element_type: Type
    values: tuple = attrs.field(converter=tuple)

    def __str__(self) -> str:
        if not self.values:
            return f"array<{self.element_type}>"
        if isinstance(self.element_type, FloatType):
            items = [
                format_float(v, self.element_type) or f"0x{float_bits(v, self.element_type):X}" for v in self.values
            ]
        elif self.element_type == i1:
            items = ["true" if v else "false" for v in self.values]
        else:
            items = [str(v) for v in self.values]
        return f"array<{self.element_type}: {', '.join(items)}>"


# ----------------------------------------------------------------------------- dense data
def numpy_dtype(t: Type):
    """The numpy dtype for an element type (imports numpy lazily)."""
    import numpy as np

    if isinstance(t, FloatType):
        table = {"f16": np.float16, "f32": np.float32, "f64": np.float64}
        if t.name not in table:
            raise ValueError(f"no numpy dtype for {t}")
        return np.dtype(table[t.name])
    if isinstance(t, IndexType):
        return np.dtype(np.int64)
    if isinstance(t, IntegerType):
        if t.width == 1:
            return np.dtype(np.bool_)
        if t.width not in (8, 16, 32, 64):
            raise ValueError(f"no numpy dtype for {t}")
        kind = "u" if t.signedness == "unsigned" else "i"
        return np.dtype(f"{kind}{t.width // 8}")
    raise ValueError(f"no numpy dtype for {t}")


HEX_PRINT_THRESHOLD = 512


@attrs.frozen(cache_hash=True)
class DenseElementsAttr(Attribute):
    """Constant tensor data: raw little-endian bytes of the whole array, or of one element
    when `splat`. `to_numpy()` gives a read-only array."""

    type: ShapedType
    data: bytes
    splat: bool = False

    @classmethod
    def from_numpy(cls, shaped_type: ShapedType, array) -> DenseElementsAttr:
        import numpy as np

        dtype = numpy_dtype(shaped_type.element_type)
        arr = np.asarray(array, dtype=dtype)
        if (arr.size == 1 and shaped_type.num_elements != 1) or arr.ndim == 0:
            return cls(shaped_type, arr.reshape(()).astype(dtype.newbyteorder("<")).tobytes(), True)
        arr = np.broadcast_to(arr, shaped_type.shape) if arr.shape != tuple(shaped_type.shape) else arr
        flat = np.ascontiguousarray(arr, dtype=dtype.newbyteorder("<"))
        if (
            flat.size > 1
            and bool((flat.reshape(-1) == flat.reshape(-1)[0]).all())
            and not (dtype.kind == "f" and np.isnan(flat).any())
        ):
            return cls(shaped_type, flat.reshape(-1)[:1].tobytes(), True)
        return cls(shaped_type, flat.tobytes(), False)

    def to_numpy(self):
        import numpy as np

        dtype = numpy_dtype(self.type.element_type).newbyteorder("<")
        arr = np.frombuffer(self.data, dtype=dtype)
        if self.splat:
            arr = np.broadcast_to(arr.reshape(()), self.type.shape)
        else:
            arr = arr.reshape(self.type.shape)
        return arr.astype(dtype.newbyteorder("="), copy=False)

    def __str__(self) -> str:
        return f"dense<{self.body_text()}> : {self.type}"

    def body_text(self) -> str:
        arr = self.to_numpy()
        elt = self.type.element_type
        if arr.size == 0:
            return ""
        if arr.size > HEX_PRINT_THRESHOLD and not self.splat and elt != i1:
            return '"0x' + self.data.hex().upper() + '"'
        flat = arr.reshape(-1)[:1] if self.splat else arr.reshape(-1)
        if isinstance(elt, FloatType) and flat.dtype.kind == "f":
            # NaN payloads (signalling NaNs too) print from the stored bits, not via a Python float.
            width = max(elt.width // 4, 1)
            bits = flat.view(f"u{flat.dtype.itemsize}").tolist()
            texts = [format_float(v, elt) or f"0x{b:0{width}X}" for v, b in zip(flat.tolist(), bits, strict=True)]
        else:
            texts = [_element_text(v, elt) for v in flat.tolist()]
        if self.splat:
            return texts[0] if texts else _element_text(0, elt)
        return _nest(texts, tuple(arr.shape))


def _element_text(value, elt: Type) -> str:
    if isinstance(elt, FloatType):
        text = format_float(float(value), elt)
        if text is None:
            return f"0x{float_bits(float(value), elt):0{max(elt.width // 4, 1)}X}"
        return text
    if elt == i1:
        return "true" if value else "false"
    return str(int(value))


def _nest(texts: list[str], shape: tuple[int, ...]) -> str:
    """Element texts (row-major) nested as `[[a, b], [c, d]]` by `shape`."""
    if not shape:
        return texts[0]
    if len(shape) == 1:
        return "[" + ", ".join(texts) + "]"
    step = len(texts) // shape[0] if shape[0] else 0
    return "[" + ", ".join(_nest(texts[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])) + "]"


@attrs.frozen(eq=False)
class DenseResourceAttr(Attribute):
    """`dense_resource<name>`: tensor data kept in the file's `{-# dialect_resources #-}`
    section. The blob travels with the attribute; equality is by (type, name)."""

    type: ShapedType
    name: str
    blob: bytes | None = attrs.field(default=None, repr=False)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DenseResourceAttr) and (self.type, self.name) == (other.type, other.name)

    def __hash__(self) -> int:
        return hash((DenseResourceAttr, self.type, self.name))

    def to_numpy(self):
        import numpy as np

        if self.blob is None:
            raise ValueError(f"dense_resource<{self.name}> has no data")
        dtype = numpy_dtype(self.type.element_type).newbyteorder("<")
        return np.frombuffer(self.blob, dtype=dtype).reshape(self.type.shape).astype(dtype.newbyteorder("="))

    def __str__(self) -> str:
        return f"dense_resource<{self.name}> : {self.type}"


@attrs.frozen(cache_hash=True)
class OpaqueAttr(Attribute):
    """An attribute of a dialect we do not know: `#dialect.name<body>`, kept as text."""

    dialect: str
    name: str
    body: str | None = None

    def __str__(self) -> str:
        body = "" if self.body is None else f"<{self.body}>"
        dot = f".{self.name}" if self.name else ""
        return f"#{self.dialect}{dot}{body}"


def int_attr(value: int, t: Type = i64) -> IntegerAttr:
    return IntegerAttr(int(value), t)


def index_attr(value: int) -> IntegerAttr:
    return IntegerAttr(int(value), IndexType())


def float_attr(value: float, t: FloatType = f64) -> FloatAttr:
    return FloatAttr(round_float(float(value), t), t)
