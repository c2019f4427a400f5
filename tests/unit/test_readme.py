"""The README's Python examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_readme_has_a_python_example():
    assert python_blocks()


def test_readme_cnn_example_builds_verifies_prints_and_runs():
    from irc.verifier import verify
    from textual_ir.parser import parse_module
    from textual_ir.printer import print_op

    namespace: dict[str, object] = {"print": lambda *a, **k: None}
    for block in python_blocks():
        exec(compile(block, str(README), "exec"), namespace)
    module = namespace["module"]
    verify(module)
    text = print_op(module)
    assert "tensor.conv2d" in text
    assert "-> tensor<1x10xf32>" in text
    assert print_op(parse_module(text)) == text
    probs = namespace["probs"]
    assert probs.shape == (1, 10)
    assert abs(float(probs.sum()) - 1.0) < 1e-5
