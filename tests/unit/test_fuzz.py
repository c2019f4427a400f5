"""Mutated and truncated .gir files never crash irc-opt: exit 0, or exit 1 with a located error.

Inputs come from examples/*.gir and tests/filecheck/**/*.gir, cut, with characters deleted,
inserted, duplicated or swapped, and with tokens of other files spliced in. irc-opt runs
in-process on stdin; an internal error (exit 2) or a traceback fails the test.
"""

from __future__ import annotations

import contextlib
import io
import random
import re
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tools.irc_opt import main

ROOT = Path(__file__).resolve().parents[2]
CORPUS = sorted(
    p.read_text(encoding="utf-8")
    for p in [*ROOT.glob("examples/*.gir"), *ROOT.glob("tests/filecheck/**/*.gir")]
    if p.stat().st_size < 200_000
)
TOKEN = re.compile(r'%[\w$.\-]+(?:#\d+)?|\^[\w$.\-]+|@[\w$.\-]+|"(?:[^"\\\n]|\\.)*"|[\w.]+<?|[^\s\w]')
TOKENS = sorted({t for text in CORPUS for t in TOKEN.findall(text)})
# Fragments that reach the corners of the grammar and of literal conversion.
SNIPPETS = [
    "dense<[1, 2]>", "dense<0x7FC00000>", 'dense<"0xZZ">', "dense<[[1], 2]>", "1e999", "-", "0x1FFFFFFFF",
    "99999999999999999999", "tensor<2x?xf32>", "array<i32: 1>", "array<f32: 0xFFFFFFFFFF>", "#map", "!t",
    '#a = loc("a":1:2)', "loc(#a)", "{-#", "#-}", '"\\', '"\\zz"', "[[[[[[[[", "(((((", "^bb9", "%x:0",
    "%x:999999999999", "%y#7", "i0", "i99999", "f80", "vector<0xf32>", "#arith.fastmath<zz>",
    "<{operandSegmentSizes = array<i32: 1>}>", "attributes {sym_name = 1}", "() -> () -> ()", "\x00", "\u2028",
]  # fmt: skip
LOCATED = re.compile(r"^[^:\n]+:\d+:\d+: error: ")
# An op's written location may have no file position (`loc("name")`, reported as written) or
# a file name of any text (`loc("":1:2)`).
WRITTEN_LOC = re.compile(r"^(?:loc\(.*\)|.*:\d+:\d+): error: ")


def mutate(rng: random.Random, text: str) -> str:
    for _ in range(rng.randint(1, 4)):
        n = len(text)
        i = rng.randrange(n + 1)
        kind = rng.randrange(8)
        if kind == 0:  # truncate
            text = text[:i]
        elif kind == 1:  # delete a few characters
            text = text[:i] + text[i + rng.randint(1, 6) :]
        elif kind == 2:  # insert a character
            text = text[:i] + rng.choice('%^@#!"{}()[]<>:,=-0123456789x.\\\n ') + text[i:]
        elif kind == 3 and n:  # duplicate a slice
            j = rng.randrange(n)
            text = text[:i] + text[j : j + rng.randint(1, 40)] + text[i:]
        elif kind == 4 and n > 1:  # swap two characters
            a, b = sorted(rng.sample(range(n), 2))
            text = text[:a] + text[b] + text[a + 1 : b] + text[a] + text[b + 1 :]
        elif kind == 5:  # splice a token of another file
            text = text[:i] + " " + rng.choice(TOKENS) + " " + text[i:]
        elif kind == 6:  # replace a token by another
            matches = list(TOKEN.finditer(text))
            if matches:
                m = rng.choice(matches)
                text = text[: m.start()] + rng.choice(TOKENS) + text[m.end() :]
        else:
            text = text[:i] + rng.choice(SNIPPETS) + text[i:]
    return text


def run_irc_opt(text: str, *flags: str) -> tuple[int, str]:
    stdin = sys.stdin
    err, out = io.StringIO(), io.StringIO()
    sys.stdin = io.TextIOWrapper(io.BytesIO(text.encode("utf-8", "surrogatepass")), encoding="utf-8")
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            code = main(["-", *flags])
    finally:
        sys.stdin = stdin
    return code, err.getvalue()


def check(text: str, *flags: str) -> None:
    code, err = run_irc_opt(text, *flags)
    # (the error quotes the input line, so a corpus comment that says "Traceback" is no crash)
    assert "Traceback (most recent call last)" not in err or "Traceback (most recent call last)" in text
    assert code in (0, 1), f"irc-opt exited {code}: {err}\n--- input ---\n{text}"
    if code == 1:
        first = err.splitlines()[0] if err else ""
        located = LOCATED.match(first) or ("loc(" in text and WRITTEN_LOC.match(first))
        assert located, f"error is not located: {first!r}\n--- input ---\n{text}"


def test_corpus_is_not_empty():
    assert len(CORPUS) >= 2
    assert len(TOKENS) > 50


@pytest.mark.parametrize("index", range(len(CORPUS)))
def test_corpus_files_run(index):
    check(CORPUS[index], "--split-input-file")


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
@given(st.randoms(use_true_random=False), st.sampled_from(range(len(CORPUS))))
def test_mutated_files_fail_cleanly(rng, index):
    """200 examples x 10 mutants = 2000 inputs."""
    for _ in range(10):
        text = mutate(rng, CORPUS[index])
        check(text, *(["--split-input-file"] if rng.random() < 0.5 else []))


@settings(max_examples=50, deadline=None, derandomize=True)
@given(st.randoms(use_true_random=False), st.sampled_from(range(len(CORPUS))))
def test_truncated_files_fail_cleanly(rng, index):
    text = CORPUS[index]
    for _ in range(4):
        check(text[: rng.randrange(len(text) + 1)], "--print-generic")


@pytest.mark.parametrize(
    "text",
    [
        '"test.region"() ({ ' * 300 + "}) : () -> () " * 300,
        "func.func private @f() attributes {a = " + "[" * 5000 + "]" * 5000 + "}",
        "func.func private @f(" + "() -> " * 5000 + "i32)",
        "func.func private @f() loc(" + "callsite(" * 3000 + '"b"' + ' at "c")' * 3000 + ")",
        'func.func private @f() attributes {a = "\\FF"}',
        "\ufeffmodule {}",
    ],
)
def test_hostile_inputs_fail_cleanly(text):
    check(text)
    check(text, "--print-generic", "--print-debuginfo")
