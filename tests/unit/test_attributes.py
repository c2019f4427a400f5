"""Types and attributes are values: equality and hashing by content, exact float handling."""

from __future__ import annotations

import math

import numpy as np
import pytest

from irc.attributes import (
    ArrayAttr,
    DenseArrayAttr,
    DenseElementsAttr,
    DenseResourceAttr,
    DictionaryAttr,
    FloatAttr,
    IntegerAttr,
    StringAttr,
    SymbolRefAttr,
    TypeAttr,
    UnitAttr,
    quote_string,
    round_float,
    unquote_string,
)
from irc.types import (
    FunctionType,
    IndexType,
    IntegerType,
    MemRefType,
    TensorType,
    TupleType,
    VectorType,
    bf16,
    f16,
    f32,
    f64,
    i1,
    i8,
    i32,
    i64,
    index,
)


# ----------------------------------------------------------------------------- types
@pytest.mark.parametrize(
    ("a", "b"),
    [
        (IntegerType(32), i32),
        (IntegerType(8, "unsigned"), IntegerType(8, "unsigned")),
        (IndexType(), index),
        (TensorType([2, None], f32), TensorType((2, -1), f32)),
        (MemRefType([4], f16), MemRefType((4,), f16)),
        (VectorType([4], i1), VectorType((4,), i1)),
        (FunctionType([i32], [f32]), FunctionType((i32,), (f32,))),
        (TupleType([i32, f32]), TupleType((i32, f32))),
    ],
)
def test_types_compare_and_hash_by_value(a, b):
    assert a == b
    assert hash(a) == hash(b)
    assert a is not b or a is b  # identity does not matter
    assert len({a, b}) == 1


def test_types_differ():
    assert i32 != IntegerType(32, "signed")
    assert TensorType([2], f32) != MemRefType([2], f32)
    assert TensorType([2], f32) != TensorType([3], f32)
    assert FunctionType([i32], []) != FunctionType([], [i32])


@pytest.mark.parametrize(
    ("t", "text"),
    [
        (i1, "i1"),
        (IntegerType(7, "signed"), "si7"),
        (IntegerType(16, "unsigned"), "ui16"),
        (index, "index"),
        (bf16, "bf16"),
        (TensorType([2, None], f32), "tensor<2x?xf32>"),
        (TensorType([], f32), "tensor<f32>"),
        (VectorType([4, 4], f16), "vector<4x4xf16>"),
        (FunctionType([i32], [f32]), "(i32) -> f32"),
        (FunctionType([], [f32, i1]), "() -> (f32, i1)"),
        (FunctionType([], [FunctionType([], [])]), "() -> (() -> ())"),
        (TupleType([]), "tuple<>"),
    ],
)
def test_type_spelling(t, text):
    assert str(t) == text


def test_shaped_type_queries():
    t = TensorType([2, 3, 4], f32)
    assert t.rank == 3
    assert t.num_elements == 24
    assert t.has_static_shape
    dyn = TensorType([2, None], f32)
    assert not dyn.has_static_shape
    with pytest.raises(ValueError, match="dynamic shape"):
        _ = dyn.num_elements


# ----------------------------------------------------------------------------- scalars
def test_integer_attr_wraps_to_its_width():
    assert IntegerAttr(255, i8).value == -1
    assert IntegerAttr(128, i8).value == -128
    assert IntegerAttr(-129, i8).value == 127
    assert IntegerAttr(1 << 64, i64).value == 0
    assert IntegerAttr(255, IntegerType(8, "unsigned")).value == 255
    assert IntegerAttr(-1, IntegerType(8, "unsigned")).value == 255
    assert IntegerAttr(3, i1).value == 1
    assert IntegerAttr(255, i8) == IntegerAttr(-1, i8)
    assert hash(IntegerAttr(255, i8)) == hash(IntegerAttr(-1, i8))
    assert IntegerAttr(1 << 70, index).value == 1 << 70  # index has no fixed width here


def test_integer_attr_spelling():
    assert str(IntegerAttr(5)) == "5"
    assert str(IntegerAttr(-5, i32)) == "-5 : i32"
    assert str(IntegerAttr(1, i1)) == "true"
    assert str(IntegerAttr(0, i1)) == "false"
    assert IntegerAttr(1, i32) != IntegerAttr(1, i64)


def test_float_attr_equality_is_by_bits():
    nan = FloatAttr(math.nan, f32)
    assert nan == FloatAttr(float("nan"), f32)
    assert hash(nan) == hash(FloatAttr(float("nan"), f32))
    assert FloatAttr(0.0, f32) != FloatAttr(-0.0, f32)
    assert FloatAttr(1.0, f32) != FloatAttr(1.0, f64)
    assert FloatAttr(1.0, f32) == FloatAttr(1.0, f32)
    assert len({FloatAttr(0.0), FloatAttr(-0.0), FloatAttr(math.nan), FloatAttr(math.nan)}) == 3


def test_float_attr_rounds_to_its_type():
    a = FloatAttr(0.1, f32)
    assert a.value == float(np.float32(0.1))
    assert a == FloatAttr(float(np.float32(0.1)), f32)
    assert FloatAttr(0.1, f16).value == float(np.float16(0.1))
    assert FloatAttr(1e10, f16).value == math.inf  # overflows to infinity
    assert FloatAttr(-1e300, f32).value == -math.inf
    assert FloatAttr(1.0 + 2**-30, f32).value == 1.0
    assert FloatAttr(0.1, f64).value == 0.1


@pytest.mark.parametrize(
    ("attr", "text"),
    [
        (FloatAttr(1.0), "1.0"),
        (FloatAttr(0.1, f32), "0.1 : f32"),
        (FloatAttr(-0.0, f32), "-0.0 : f32"),
        (FloatAttr(1e20, f32), "1.0e+20 : f32"),
        (FloatAttr(math.inf, f32), "0x7F800000 : f32"),
        (FloatAttr(-math.inf, f64), "0xFFF0000000000000 : f64"),
        (FloatAttr(math.nan, f16), "0x7E00 : f16"),
        (FloatAttr(1.5, bf16), "1.5 : bf16"),
    ],
)
def test_float_attr_spelling(attr, text):
    assert str(attr) == text


def test_float_attr_bits():
    assert FloatAttr(1.0, f32).bits == 0x3F800000
    assert FloatAttr(-0.0, f16).bits == 0x8000
    assert FloatAttr(1.0, bf16).bits == 0x3F80


def test_string_quoting_round_trips():
    for text in ["plain", 'q"uote', "back\\slash", "new\nline\ttab", "\x01\x7f", "ünïcode"]:
        quoted = quote_string(text)
        assert quoted.startswith('"')
        assert unquote_string(quoted[1:-1]) == text
    assert unquote_string("\\41\\42") == "AB"


# ----------------------------------------------------------------------------- containers
def test_containers_compare_by_value():
    a = ArrayAttr([IntegerAttr(1), StringAttr("x")])
    b = ArrayAttr((IntegerAttr(1), StringAttr("x")))
    assert a == b
    assert hash(a) == hash(b)
    assert a[1] == StringAttr("x")
    assert len(a) == 2
    d1 = DictionaryAttr({"b": UnitAttr(), "a": IntegerAttr(1)})
    d2 = DictionaryAttr([("a", IntegerAttr(1)), ("b", UnitAttr())])
    assert d1 == d2
    assert hash(d1) == hash(d2)
    assert str(d1) == "{a = 1, b}"
    assert d1.get("a") == IntegerAttr(1)
    assert d1.get("zz", 3) == 3
    assert SymbolRefAttr("a", ["b"]) == SymbolRefAttr("a", ("b",))
    assert str(SymbolRefAttr("a", ["b"])) == "@a::@b"
    assert str(SymbolRefAttr("with space")) == '@"with space"'
    assert TypeAttr(i32) == TypeAttr(IntegerType(32))
    assert str(DenseArrayAttr(i32, [1, 2])) == "array<i32: 1, 2>"
    assert str(DenseArrayAttr(f32, [])) == "array<f32>"
    assert DenseArrayAttr(i32, [1]) != DenseArrayAttr(i64, [1])


def test_attribute_keys_are_quoted_when_needed():
    assert str(DictionaryAttr({"a b": UnitAttr(), "x.y": IntegerAttr(1)})) == '{"a b", x.y = 1}'


# ----------------------------------------------------------------------------- dense data
def test_dense_splat_detection():
    t = TensorType([2, 3], f32)
    splat = DenseElementsAttr.from_numpy(t, np.full((2, 3), 1.5, np.float32))
    assert splat.splat
    assert splat == DenseElementsAttr.from_numpy(t, 1.5)
    assert str(splat) == "dense<1.5> : tensor<2x3xf32>"
    mixed = DenseElementsAttr.from_numpy(t, np.arange(6, dtype=np.float32).reshape(2, 3))
    assert not mixed.splat
    assert str(mixed) == "dense<[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]> : tensor<2x3xf32>"
    one = DenseElementsAttr.from_numpy(TensorType([1], i32), [7])
    assert one.to_numpy().tolist() == [7]


def test_dense_nan_arrays_are_not_splats_but_still_round_trip():
    t = TensorType([2], f32)
    attr = DenseElementsAttr.from_numpy(t, np.array([np.nan, np.nan], np.float32))
    assert np.isnan(attr.to_numpy()).all()


@pytest.mark.parametrize(
    ("shape", "elt", "dtype"),
    [
        ([2, 2], f32, np.float32),
        ([3], f64, np.float64),
        ([4], f16, np.float16),
        ([2, 3], i32, np.int32),
        ([5], i8, np.int8),
        ([2], i1, np.bool_),
        ([3], index, np.int64),
        ([2], IntegerType(16, "unsigned"), np.uint16),
    ],
)
def test_dense_numpy_round_trip(shape, elt, dtype):
    rng = np.random.default_rng(0)
    arr = (rng.standard_normal(shape) * 100).astype(dtype)
    t = TensorType(shape, elt)
    attr = DenseElementsAttr.from_numpy(t, arr)
    back = attr.to_numpy()
    assert back.dtype == np.dtype(dtype)
    assert back.shape == tuple(shape)
    np.testing.assert_array_equal(back, arr)
    assert not back.flags.writeable or back is not arr
    same = DenseElementsAttr.from_numpy(t, arr.copy())
    assert same == attr
    assert hash(same) == hash(attr)


def test_dense_resource_equality_ignores_blob():
    t = TensorType([1], f32)
    a = DenseResourceAttr(t, "w", b"\x00\x00\x80\x3f")
    b = DenseResourceAttr(t, "w", None)
    assert a == b
    assert hash(a) == hash(b)
    assert a.to_numpy().tolist() == [1.0]
    with pytest.raises(ValueError, match="no data"):
        b.to_numpy()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1.005859375, 1.0078125),  # above the midpoint of 1.0 and 1.0078125: rounds up
        (1.00390625, 1.0),  # the exact midpoint: ties to even (1.0)
        (1.01171875, 1.015625),  # midpoint between 1.0078125 and 1.015625: ties to even (up)
        (3.4e38, math.inf),  # past the largest finite bf16 (3.3895e38): overflow
        (-1e-45, -0.0),  # below half the smallest subnormal: signed zero
    ],
)
def test_bf16_rounds_to_nearest_even(value: float, expected: float) -> None:
    got = round_float(value, bf16)
    assert got == expected
    assert math.copysign(1, got) == math.copysign(1, expected)
