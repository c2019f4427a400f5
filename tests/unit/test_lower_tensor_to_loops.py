"""lower-tensor-to-loops at the IR level: the function ABI, what the loop nests look like, and
the located errors. (Numerics: tests/unit/test_cpu_differential.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

import passes
from dialects import arith, default_context, loop, memref, tensor
from dialects.func import FuncOp
from irc.diagnostics import IRCError
from irc.ir import Operation
from irc.location import FileLineColLoc
from irc.pass_manager import PassManager, parse_pipeline
from irc.types import MemRefType, ShapedType, TensorType, f32
from irc.verifier import verify
from passes.lower_tensor_to_loops import LOWERINGS, LowerTensorToLoops, broadcast_strides, collapse
from textual_ir.parser import parse_module

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.gir"))
PIPELINE = "builtin.module(inline,canonicalize,cse,lower-tensor-to-loops,canonicalize,cse)"
LOOP_LEVEL = ("builtin", "func", "arith", "math", "memref", "loop", "vector")


def lower(text: str, pipeline: str = PIPELINE) -> Operation:
    module = parse_module(text, "case.gir", default_context())
    PassManager(parse_pipeline(pipeline, passes.get_pass), default_context()).run(module)
    verify(module)
    return module


def ops_of(module: Operation, cls: type) -> list[Operation]:
    return list(module.walk_ops(cls))


def func_of(module: Operation) -> FuncOp:
    return next(module.walk_ops(FuncOp))


def test_registered_under_its_name() -> None:
    assert passes.get_pass("lower-tensor-to-loops") is LowerTensorToLoops
    assert LowerTensorToLoops.name == "lower-tensor-to-loops"


def test_every_tensor_op_has_a_lowering() -> None:
    assert [op.name for op in tensor.DIALECT.ops if op not in LOWERINGS] == []


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_lower_to_the_loop_level(path: Path) -> None:
    """No tensor value or op is left; results became output buffers marked irc.result."""
    module = lower(path.read_text())
    for op in module.walk():
        assert op.name.split(".")[0] in LOOP_LEVEL, op.name
        for t in (*op.operand_types, *op.result_types):
            assert not isinstance(t, TensorType), op
            assert not isinstance(t, ShapedType) or t.has_static_shape
    for f in module.walk_ops(FuncOp):
        assert f.type.results == ()
        assert all(isinstance(t, MemRefType) for t in f.type.inputs)
        marked = [a.get("irc.result") for a in f.arg_attrs.elements if a.get("irc.result") is not None]
        assert [m.value for m in marked] == list(range(len(marked)))


def test_signature_abi() -> None:
    module = lower(
        'func.func @f(%x: tensor<2x3xf32>, %y: tensor<3xf32>) -> (tensor<2x3xf32> {irc.name = "sum"}, '
        "tensor<3xf32>) {\n"
        "  %s = tensor.add %x, %y : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>\n"
        "  %n = tensor.neg %y : tensor<3xf32>\n"
        "  func.return %s, %n : tensor<2x3xf32>, tensor<3xf32>\n}"
    )
    f = func_of(module)
    assert [str(t) for t in f.type.inputs] == ["memref<2x3xf32>", "memref<3xf32>", "memref<2x3xf32>", "memref<3xf32>"]
    assert [a.name_hint for a in f.entry.args] == ["x", "y", "sum", "result1"]
    attrs = [a.as_dict() for a in f.arg_attrs.elements]
    assert attrs[:2] == [{}, {}]
    assert (attrs[2]["irc.result"].value, attrs[2]["irc.name"].value) == (0, "sum")
    assert (attrs[3]["irc.result"].value, attrs[3].get("irc.name")) == (1, None)
    assert f.entry.last_op.num_operands == 0
    # Both results are computed straight into their buffers: no temporaries, no copies.
    assert ops_of(module, memref.AllocOp) + ops_of(module, memref.CopyOp) == []


def test_results_that_are_not_computed_are_copied() -> None:
    module = lower(
        "func.func @f(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) {\n"
        "  %c = tensor.constant {value = dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>} : tensor<4xf32>\n"
        "  %e = tensor.exp %x : tensor<4xf32>\n"
        "  func.return %x, %c, %e : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>\n}"
    )
    f = func_of(module)
    copies = ops_of(module, memref.CopyOp)
    assert [c.target for c in copies] == list(f.entry.args[1:3])
    assert copies[0].source is f.entry.args[0]
    assert isinstance(copies[1].source.defining_op(), memref.GetGlobalOp)


def test_a_result_returned_twice_is_computed_once_and_copied() -> None:
    module = lower(
        "func.func @f(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {\n"
        "  %e = tensor.exp %x : tensor<4xf32>\n"
        "  func.return %e, %e : tensor<4xf32>, tensor<4xf32>\n}"
    )
    f = func_of(module)
    (copy,) = ops_of(module, memref.CopyOp)
    assert (copy.source, copy.target) == (f.entry.args[1], f.entry.args[2])


def test_identical_constants_share_one_global() -> None:
    module = lower(
        "func.func @f(%x: tensor<3xf32>) -> tensor<3xf32> {\n"
        "  %a = tensor.constant {value = dense<[1.0, 2.0, 3.0]> : tensor<3xf32>} : tensor<3xf32>\n"
        "  %b = tensor.constant {value = dense<[1.0, 2.0, 3.0]> : tensor<3xf32>} : tensor<3xf32>\n"
        "  %w = tensor.constant {value = dense<[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 2.0]]> : tensor<3x3xf32>}"
        " : tensor<3x3xf32>\n"
        "  %m = tensor.matmul %x, %w : (tensor<3xf32>, tensor<3x3xf32>) -> tensor<3xf32>\n"
        "  %s = tensor.add %m, %a : tensor<3xf32>\n"
        "  %t = tensor.mul %s, %b : tensor<3xf32>\n"
        "  func.return %t : tensor<3xf32>\n}",
        "builtin.module(lower-tensor-to-loops)",
    )
    names = sorted(g.sym_name.value for g in ops_of(module, memref.GlobalOp))
    assert len(names) == 2  # the vector once, the matrix once


def test_global_names_avoid_existing_symbols() -> None:
    module = lower(
        "memref.global @cst_0 = dense<1.0> : memref<2xf32>\n"
        "func.func @f(%x: tensor<2xf32>) -> tensor<2xf32> {\n"
        "  %c = tensor.constant {value = dense<[1.0, 2.0]> : tensor<2xf32>} : tensor<2xf32>\n"
        "  %y = tensor.sub %x, %c : tensor<2xf32>\n"
        "  func.return %y : tensor<2xf32>\n}",
        "builtin.module(lower-tensor-to-loops)",
    )
    assert sorted(g.sym_name.value for g in ops_of(module, memref.GlobalOp)) == ["cst_0", "cst_1"]


def test_same_shape_elementwise_is_one_flat_loop() -> None:
    module = lower(
        "func.func @f(%x: tensor<2x3x4xf32>, %y: tensor<2x3x4xf32>) -> tensor<2x3x4xf32> {\n"
        "  %s = tensor.mul %x, %y : tensor<2x3x4xf32>\n"
        "  func.return %s : tensor<2x3x4xf32>\n}"
    )
    (for_op,) = ops_of(module, loop.ForOp)
    assert for_op.constant_bounds() == [(0, 24, 1)]
    assert not ops_of(module, loop.ParallelOp)


@pytest.mark.parametrize(
    ("shape", "chunks", "chunk"),
    [((4, 65536), 4, 65536), ((3, 16384), 3, 16384), ((2, 8192), 2, 8192)],
)
def test_a_long_flat_loop_is_split_into_parallel_chunks(shape: tuple[int, int], chunks: int, chunk: int) -> None:
    """A same-shape op long enough to share between threads: a parallel loop over chunks of
    a power-of-two size that divides it, a unit-stride loop.for inside; numerically the same."""
    import numpy as np

    import irc

    t = f"tensor<{shape[0]}x{shape[1]}xf32>"
    text = f"func.func @f(%x: {t}, %y: {t}) -> {t} {{\n  %s = tensor.sub %x, %y : {t}\n  func.return %s : {t}\n}}"
    module = lower(text)
    (par,) = ops_of(module, loop.ParallelOp)
    (inner,) = ops_of(module, loop.ForOp)
    assert par.constant_bounds() == [(0, chunks, 1)]
    assert inner.constant_bounds() == [(0, chunk, 1)]
    rng = np.random.default_rng(0)
    x, y = (rng.standard_normal(shape, dtype=np.float32) for _ in range(2))
    exe = irc.compile(parse_module(text), target="cpu")
    for threads in (1, 2):
        exe.num_threads = threads
        np.testing.assert_array_equal(exe.f(x, y), x - y)


def test_an_odd_length_loop_is_not_split() -> None:
    module = lower(
        "func.func @f(%x: tensor<65537xf32>) -> tensor<65537xf32> {\n"
        "  %s = tensor.neg %x : tensor<65537xf32>\n  func.return %s : tensor<65537xf32>\n}"
    )
    assert not ops_of(module, loop.ParallelOp)


def test_broadcast_collapses_contiguous_dims() -> None:
    """[2, 3, 4] + [4]: the output dims 2 and 3 merge into one parallel dim of 6."""
    module = lower(
        "func.func @f(%x: tensor<2x3x4xf32>, %b: tensor<4xf32>) -> tensor<2x3x4xf32> {\n"
        "  %s = tensor.add %x, %b : (tensor<2x3x4xf32>, tensor<4xf32>) -> tensor<2x3x4xf32>\n"
        "  func.return %s : tensor<2x3x4xf32>\n}"
    )
    (par,) = ops_of(module, loop.ParallelOp)
    (inner,) = ops_of(module, loop.ForOp)
    assert par.constant_bounds() == [(0, 6, 1)]
    assert inner.constant_bounds() == [(0, 4, 1)]


def test_invariant_broadcast_loads_are_hoisted() -> None:
    """[4, 8] * [4, 1]: the per-row scalar is loaded once per row, outside the inner loop."""
    module = lower(
        "func.func @f(%x: tensor<4x8xf32>, %s: tensor<4x1xf32>) -> tensor<4x8xf32> {\n"
        "  %y = tensor.mul %x, %s : (tensor<4x8xf32>, tensor<4x1xf32>) -> tensor<4x8xf32>\n"
        "  func.return %y : tensor<4x8xf32>\n}"
    )
    (par,) = ops_of(module, loop.ParallelOp)
    (inner,) = ops_of(module, loop.ForOp)
    row_loads = [op for op in par.body_block.ops if isinstance(op, memref.LoadOp)]
    assert [load.memref.type for load in row_loads] == [MemRefType((4,), f32)]
    assert len([op for op in inner.body_block.ops if isinstance(op, memref.LoadOp)]) == 1


def test_last_axis_reduction_accumulates_in_iter_args_with_reassoc() -> None:
    module = lower(
        "func.func @f(%x: tensor<8x16xf32>) -> tensor<8xf32> {\n"
        "  %y = tensor.reduce_sum %x {axes = [1], keepdims = 0} : (tensor<8x16xf32>) -> tensor<8xf32>\n"
        "  func.return %y : tensor<8xf32>\n}"
    )
    (for_op,) = ops_of(module, loop.ForOp)
    assert len(for_op.inits) == 1
    (add,) = ops_of(module, arith.AddFOp)
    assert {"reassoc", "contract"} <= add.fastmath.flags


def test_softmax_is_three_loops_per_row_without_temporaries() -> None:
    module = lower(
        "func.func @f(%x: tensor<8x16xf32>) -> tensor<8x16xf32> {\n"
        "  %y = tensor.softmax %x : tensor<8x16xf32>\n"
        "  func.return %y : tensor<8x16xf32>\n}"
    )
    (par,) = ops_of(module, loop.ParallelOp)
    loops = [op for op in par.body_block.ops if isinstance(op, loop.ForOp)]
    assert [len(op.inits) for op in loops] == [1, 1, 0]
    assert not ops_of(module, memref.AllocOp)


def test_conv_inner_loop_has_no_bounds_checks() -> None:
    module = lower(
        "func.func @f(%x: tensor<1x2x7x7xf32>, %w: tensor<4x2x3x3xf32>) -> tensor<1x4x4x4xf32> {\n"
        "  %y = tensor.conv2d %x, %w {pads = [1, 1, 1, 1], strides = [2, 2]} : "
        "(tensor<1x2x7x7xf32>, tensor<4x2x3x3xf32>) -> tensor<1x4x4x4xf32>\n"
        "  func.return %y : tensor<1x4x4x4xf32>\n}"
    )
    innermost = [op for op in ops_of(module, loop.ForOp) if not list(op.body_block.ops)[0:-1] or
                 not any(isinstance(o, loop.ForOp) for o in op.body_block.ops)]  # fmt: skip
    for op in innermost:
        assert not any(isinstance(o, arith.CmpIOp | arith.SelectOp) for o in op.body_block.ops)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "func.func @f(%x: tensor<4xf16>) -> tensor<4xf16> {\n  %y = tensor.relu %x : tensor<4xf16>\n"
            "  func.return %y : tensor<4xf16>\n}",
            "cannot lower the function's argument #0: element type 'f16' is not supported",
        ),
        (
            "func.func @f(%x: tensor<?xf32>) {\n  func.return\n}",
            "dynamic shapes are not supported",
        ),
        (
            "func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {\n"
            "  %y = arith.addf %x, %x : tensor<4xf32>\n  func.return %y : tensor<4xf32>\n}",
            "cannot lower 'arith.addf' on tensors",
        ),
        (
            "func.func private @g(tensor<4xf32>) -> tensor<4xf32>\n"
            "func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {\n"
            "  %y = func.call @g(%x) : (tensor<4xf32>) -> tensor<4xf32>\n  func.return %y : tensor<4xf32>\n}",
            "cannot lower 'func.call': calls must be inlined",
        ),
    ],
)
def test_located_errors(text: str, message: str) -> None:
    with pytest.raises(IRCError, match=message) as err:
        lower(text, "builtin.module(lower-tensor-to-loops)")
    assert isinstance(err.value.diagnostic.location, FileLineColLoc)
    assert err.value.diagnostic.location.filename == "case.gir"


def test_nothing_changes_when_the_lowering_fails() -> None:
    """Functions are checked before any is rewritten: a failure leaves the module as it was."""
    text = (
        "func.func @good(%x: tensor<4xf32>) -> tensor<4xf32> {\n  %y = tensor.relu %x : tensor<4xf32>\n"
        "  func.return %y : tensor<4xf32>\n}\n"
        "func.func @bad(%x: tensor<4xbf16>) {\n  func.return\n}"
    )
    module = parse_module(text, "case.gir", default_context())
    before = str(module)
    with pytest.raises(IRCError):
        PassManager(parse_pipeline("builtin.module(lower-tensor-to-loops)", passes.get_pass), default_context()).run(
            module
        )
    assert str(module) == before


def test_collapse_merges_dims_walked_as_one() -> None:
    # Row-major [2, 3, 4] with a [4] operand: dims 0 and 1 merge, dim 2 stays.
    out = (12, 4, 1)
    bias = broadcast_strides((4,), (2, 3, 4))
    assert bias == (0, 0, 1)
    assert collapse((2, 3, 4), [out, bias]) == ([6, 4], [[4, 1], [0, 1]])
    # A transpose's input strides do not merge; size-1 dims vanish.
    assert collapse((3, 1, 2), [(2, 2, 1), (1, 6, 3)]) == ([3, 2], [[2, 1], [1, 3]])
    assert collapse((1, 1), [(1, 1)]) == ([], [[]])


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
@pytest.mark.parametrize("axis", [-1, 0])
def test_softmax_rows_with_nan_and_inf_match_the_reference(op: str, axis: int) -> None:
    """The row max uses maxnumf (NaN ignored); a NaN or inf still gives the reference's
    outputs through the sum."""
    import numpy as np

    import irc

    t = "tensor<5x4xf32>"
    text = f"func.func @f(%x: {t}) -> {t} {{\n  %y = tensor.{op} %x {{axis = {axis}}} : {t}\n  func.return %y : {t}\n}}"
    x = np.arange(20, dtype=np.float32).reshape(5, 4) / 7
    x[0, 1] = np.nan
    x[1, 2] = np.inf
    x[2, :] = -np.inf
    x[3, 0] = -np.inf
    exe = irc.compile(parse_module(text), target="cpu")
    (want,) = irc.interpret(parse_module(text), x)
    np.testing.assert_allclose(exe.f(x), want, rtol=1e-5, equal_nan=True)
