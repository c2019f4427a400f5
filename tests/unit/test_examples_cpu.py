"""Every examples/*.gir compiles for the CPU and matches the reference interpreter, both through
`irc.compile` and through `irc-run --target cpu` (the same seed gives the same inputs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import irc
from irc.interpreter import find_entry, interpret
from irc.symbol_table import symbol_name
from irc.verifier import verify
from textual_ir.parser import parse_module
from tools import irc_run

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.gir"))


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "cache"))


def _assert_matches(got: np.ndarray, want: np.ndarray, what: str) -> None:
    assert got.shape == want.shape, what
    assert got.dtype == want.dtype, what
    if want.dtype.kind == "f":
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5, err_msg=what)
    else:
        np.testing.assert_array_equal(got, want, err_msg=what)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
@pytest.mark.parametrize("seed", [0, 1])
def test_example_on_cpu_matches_the_interpreter(path: Path, seed: int) -> None:
    module = parse_module(path.read_text(), str(path))
    verify(module)
    func = find_entry(module)
    rng = np.random.default_rng(seed)
    inputs = [irc_run._random(shape, dtype, rng, np) for _, shape, dtype in irc_run._specs(func)]
    want = interpret(module, *inputs)
    exe = irc.compile(module)
    fn = exe[symbol_name(func)]
    got = fn.call_list(inputs)
    assert len(got) == len(want)
    for name, g, w in zip(fn.output_names, got, want, strict=True):
        _assert_matches(g, w, f"{path.name}: output {name}")
    again = fn.call_list(inputs)  # the arena is reused: a second call gives the same outputs
    for g, a in zip(got, again, strict=True):
        np.testing.assert_array_equal(g, a)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_with_irc_run_target_cpu(path: Path, tmp_path: Path) -> None:
    cpu, ref = tmp_path / "cpu.npz", tmp_path / "ref.npz"
    assert irc_run.main([str(path), "--target", "cpu", "--seed", "3", "--out", str(cpu)]) == 0
    assert irc_run.main([str(path), "--interpret", "--seed", "3", "--out", str(ref)]) == 0
    with np.load(cpu) as got, np.load(ref) as want:
        assert sorted(got.files) == sorted(want.files)
        for name in want.files:
            _assert_matches(got[name], want[name], f"{path.name}: output {name}")
