"""Real networks end to end: ONNX -> `irc.import_onnx` -> CPU backend, against ONNX Runtime.

The five models of benchmarks/export_models.py (MLP, LeNet-5, ResNet-18 with BatchNormalization
nodes, a MobileNetV2-style network with depthwise convolutions, a transformer encoder block)
are generated into a temporary folder by two builders:

- `onnx`: written with onnx.helper, random fixed-seed weights. Needs only onnx; this is what
  CI runs (it has no PyTorch).
- `torch`: PyTorch modules exported with torch.onnx.export (opset 17); skipped, with the
  reason, where PyTorch is not installed.

Each model's output must match ONNX Runtime's with rtol 1e-4 and an absolute tolerance of
1e-5 times the output's scale (max |y|, at least 1): every output of these models is a sum
of hundreds to thousands of products whose rounding depends on the summation order, so an
output near zero may differ by a few ulps of the scale while its relative error is large.
LeNet and the transformer also run through `irc-run model.onnx --inputs --out` in a
subprocess. ResNet-18's import and compile times are printed (pytest -s), not asserted:
benchmarks/models_cpu.py records them.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

import irc  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def _load_export_models() -> Any:
    spec = importlib.util.spec_from_file_location("export_models", REPO / "benchmarks" / "export_models.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


em = _load_export_models()

BATCH = {"mlp": 4, "lenet": 2, "resnet18": 1, "mobilenet": 2, "transformer": 2}
RTOL = 1e-4
ATOL_SCALE = 1e-5


def _have_torch() -> bool:
    return importlib.util.find_spec("torch") is not None


NO_TORCH = "PyTorch is not installed (CI): the onnx.helper builds of the same architectures run instead"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


_written: dict[tuple[str, str], Path] = {}


def _model(name: str, builder: str, folder: Path) -> Path:
    """The model file, written once per test session."""
    key = (name, builder)
    if key not in _written:
        if builder == "torch" and not _have_torch():
            pytest.skip(NO_TORCH)
        _written[key] = em.write(name, folder, BATCH[name], builder)
    return _written[key]


def _entry(module: Any) -> str:
    from irc.interpreter import find_entry
    from irc.symbol_table import symbol_name

    return symbol_name(find_entry(module))


def _check(name: str, out: np.ndarray, ref: np.ndarray) -> float:
    """Asserts the tolerance; returns the max relative error (scaled by the output's scale)."""
    scale = max(1.0, float(np.abs(ref).max()))
    np.testing.assert_allclose(out, ref, rtol=RTOL, atol=ATOL_SCALE * scale, err_msg=name)
    return float(np.abs(out - ref).max() / np.abs(ref).max())


@pytest.mark.parametrize("builder", ["onnx", "torch"])
@pytest.mark.parametrize("name", em.MODELS)
def test_model_matches_onnxruntime(name: str, builder: str, model_dir: Path) -> None:
    from irc.api import lower
    from irc.runtime.cpu import CPUExecutable

    path = _model(name, builder, model_dir)
    x = em.sample_input(name, BATCH[name])
    ref = em.run_ort(onnx.load(str(path)), x)

    t0 = time.perf_counter()
    module = irc.import_onnx(str(path))
    t1 = time.perf_counter()
    lowered = lower(module)
    t2 = time.perf_counter()
    exe = CPUExecutable.build(lowered, use_cache=False)
    t3 = time.perf_counter()
    out = exe.run(_entry(module), {em.INPUT: x})[em.OUTPUT]
    assert out.shape == ref.shape
    assert out.dtype == np.float32
    err = _check(name, out, ref)
    print(
        f"\n{name} ({builder}, batch {BATCH[name]}): import {t1 - t0:.2f} s, passes {t2 - t1:.2f} s, "
        f"LLVM {t3 - t2:.2f} s, total {t3 - t0:.2f} s; arena {exe.arena_size} bytes; "
        f"max error / max |y| = {err:.2e}"
    )


@pytest.mark.parametrize("name", ["lenet", "transformer"])
def test_model_through_irc_run(name: str, model_dir: Path, tmp_path: Path) -> None:
    """`irc-run model.onnx --inputs in.npz --out out.npz --target cpu`, names = ONNX names."""
    path = _model(name, "onnx", model_dir)
    x = em.sample_input(name, BATCH[name], seed=7)
    np.savez(tmp_path / "in.npz", **{em.INPUT: x})
    cmd = [sys.executable, "-m", "tools.irc_run", str(path), "--inputs", str(tmp_path / "in.npz")]
    cmd += ["--out", str(tmp_path / "out.npz"), "--target", "cpu"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    with np.load(tmp_path / "out.npz") as data:
        assert data.files == [em.OUTPUT]
        out = data[em.OUTPUT]
    _check(name, out, em.run_ort(onnx.load(str(path)), x))


@pytest.mark.parametrize("builder", ["onnx", "torch"])
def test_batch_norm_nodes_are_kept(builder: str, model_dir: Path) -> None:
    """ResNet-18 and the MobileNet keep BatchNormalization as nodes of their own (the torch
    exporter folds them into the convolutions unless told not to)."""
    counts = {
        name: em.count_ops(onnx.load(str(_model(name, builder, model_dir)))) for name in ("resnet18", "mobilenet")
    }
    assert counts["resnet18"].get("BatchNormalization") == 20
    assert counts["resnet18"].get("Conv") == 20
    assert counts["mobilenet"].get("BatchNormalization") == 11


def test_mobilenet_has_depthwise_convolutions(model_dir: Path) -> None:
    model = onnx.load(str(_model("mobilenet", "onnx", model_dir)))
    inits = {t.name: t.dims for t in model.graph.initializer}
    depthwise = 0
    for node in model.graph.node:
        group = next((a.i for a in node.attribute if a.name == "group"), 1)
        if node.op_type == "Conv" and group > 1:
            assert inits[node.input[1]][1] == 1  # one input channel per group
            depthwise += 1
    assert depthwise == len(em.MOBILENET_BLOCKS)


def test_torch_export_matches_pytorch(model_dir: Path) -> None:
    """The exported file computes what the PyTorch module computes (checks the exporter
    settings, e.g. eval mode and the BatchNorm statistics)."""
    if not _have_torch():
        pytest.skip(NO_TORCH)
    import torch

    for name in em.MODELS:
        x = em.sample_input(name, BATCH[name])
        with torch.no_grad():
            expected = em.torch_module(name)(torch.from_numpy(x)).numpy()
        got = em.run_ort(onnx.load(str(_model(name, "torch", model_dir))), x)
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5, err_msg=name)


def test_resnet18_gir_text_round_trips(model_dir: Path) -> None:
    """The printed ResNet-18 (its weights in the dense_resource section, about 94 MB of hex)
    parses back to the same module; the parse time is printed (pytest -s), about 0.6 s here."""
    from textual_ir.parser import parse_module
    from textual_ir.printer import print_op

    module = irc.import_onnx(str(_model("resnet18", "onnx", model_dir)))
    text = print_op(module)
    assert "{-#" in text
    assert "dense_resource<" in text
    t0 = time.perf_counter()
    again = parse_module(text, "resnet18.gir")
    parse_s = time.perf_counter() - t0
    assert print_op(again) == text
    print(f"\nresnet18.gir: {len(text) / 1e6:.1f} MB parsed in {parse_s:.2f} s")
