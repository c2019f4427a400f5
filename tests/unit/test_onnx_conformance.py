"""ONNX backend node tests that pass today keep passing (CONFORMANCE.md).

tests/unit/onnx_conformance_expected.txt lists the node tests that pass through
`irc.import_onnx` + `irc.compile(target="cpu")`; each is run here exactly as
benchmarks/onnx_conformance.py runs it (same harness: attribute-like graph inputs frozen into
initializers, outputs compared with the test's rtol/atol after shape and dtype). That script
runs every in-scope test and regenerates both the list and CONFORMANCE.md.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
EXPECTED = Path(__file__).with_name("onnx_conformance_expected.txt")


def _harness() -> Any:
    name = "onnx_conformance_harness"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / "onnx_conformance.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def _expected() -> list[str]:
    lines = (ln.strip() for ln in EXPECTED.read_text().splitlines())
    return [ln for ln in lines if ln and not ln.startswith("#")]


class NodeTests:
    """The ONNX node tests by name, and the graph inputs each runs with frozen."""

    def __init__(self) -> None:
        harness = _harness()
        cases = harness.load_node_tests()
        self.cases = {case.name: case for case in cases}
        self.static = harness.static_inputs(cases)

    def run(self, name: str) -> tuple[str, str]:
        return _harness().run_case(self.cases[name], self.static[name])


@pytest.fixture(scope="module")
def node_tests() -> NodeTests:
    pytest.importorskip("onnx")
    return NodeTests()


def test_expected_list_is_sorted_and_in_scope(node_tests: NodeTests) -> None:
    harness = _harness()
    names = _expected()
    assert names == sorted(set(names)), "the expected list must be sorted, without duplicates"
    unknown = [n for n in names if n not in node_tests.cases]
    assert not unknown, f"not ONNX node tests (renamed in this onnx version?): {unknown}"
    importer = harness.ImporterOps.load()
    graphs = {n: node_tests.cases[n].model.graph for n in names}
    out_of_scope = [n for n, g in graphs.items() if not importer.importable(harness.graph_op_types(g))]
    assert not out_of_scope, f"tests using op types the importer does not handle: {out_of_scope}"


@pytest.mark.parametrize("name", _expected())
def test_node(name: str, node_tests: NodeTests) -> None:
    category, detail = node_tests.run(name)
    assert category == "pass", f"{name}: {category}: {detail}"


def test_compare_reports_what_differs() -> None:
    def compare(want: list[np.ndarray], got: list[np.ndarray]) -> str | None:
        return _harness().compare(want, got, rtol=1e-3, atol=1e-7)

    a = np.arange(1, 7, dtype=np.float32).reshape(2, 3)
    assert compare([a], [a * (1 + 1e-4)]) is None
    assert compare([a], [a, a]) == "2 outputs, expected 1"
    assert compare([a], [a.reshape(3, 2)]) == "output 0: float32[3, 2], expected float32[2, 3]"
    assert compare([a], [a.astype(np.float64)]) == "output 0: float64[2, 3], expected float32[2, 3]"
    assert "Mismatched elements: 1 / 6" in compare([a], [a + np.eye(2, 3, k=2, dtype=np.float32)])


def test_frozen_inputs_become_initializers(node_tests: NodeTests) -> None:
    case = node_tests.cases["test_reshape_reordered_all_dims"]
    static = node_tests.static[case.name]
    assert static == {"shape"}
    data, shape = case.data_sets[0][0]
    model, inputs = _harness().freeze_static_inputs(case.model, [data, shape], static)
    assert [vi.name for vi in model.graph.input] == ["data"]
    assert [t.name for t in model.graph.initializer] == ["shape"]
    assert len(inputs) == 1
    assert inputs[0] is data
    assert [vi.name for vi in case.model.graph.input] == ["data", "shape"], "the test's own model is unchanged"
    expanded = "test_center_crop_pad_crop_expanded"
    assert node_tests.static[expanded] == node_tests.static["test_center_crop_pad_crop"] == {"shape"}
