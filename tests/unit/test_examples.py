"""Every examples/*.gir parses, verifies and runs through the reference interpreter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from irc.interpreter import find_entry, interpret
from irc.verifier import verify
from textual_ir.parser import parse_module
from tools import irc_run

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.gir"))


def _random_inputs(func, rng: np.random.Generator) -> list[np.ndarray]:
    from irc.interpreter import array_spec

    arrays = []
    for t in func.get_attr("function_type").value.inputs:
        shape, dtype = array_spec(t)
        arrays.append(np.asarray(rng.standard_normal(shape)).astype(dtype))
    return arrays


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(path: Path) -> None:
    module = parse_module(path.read_text(), str(path))
    verify(module)
    func = find_entry(module)
    outputs = interpret(module, *_random_inputs(func, np.random.default_rng(0)))
    assert len(outputs) == len(func.get_attr("function_type").value.results)
    for out in outputs:
        assert np.all(np.isfinite(out))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_runs_with_irc_run(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert irc_run.main([str(path), "--interpret", "--print"]) == 0
    assert "shape" in capsys.readouterr().out


def test_every_example_has_a_header_comment() -> None:
    assert len(EXAMPLES) >= 6
    for path in EXAMPLES:
        assert path.read_text().startswith("// "), path.name
