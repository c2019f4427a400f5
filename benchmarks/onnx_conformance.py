"""ONNX backend node tests through the importer and the CPU backend; the table in CONFORMANCE.md.

Builds the node tests of the installed `onnx` in memory (1884 in onnx 1.23.2;
`onnx.backend.test.loader.load_model_tests(kind="node")`, numpy seeded first), keeps those in
scope (the importer handles every node's op type: `irc.frontend.onnx.SUPPORTED_OPS`, or
`CONSTANT_ONLY_OPS` on constant inputs; and the op under test is not constant-only) and runs
each as the ONNX backend runner does: `irc.import_onnx(model)`,
`irc.compile(module, target="cpu")`, inputs bound by position to the function's arguments,
outputs compared by position with `np.testing.assert_allclose(rtol=case.rtol, atol=case.atol)`
after checking shape and dtype. Graph inputs that ONNX defines as attribute-like operands
(Reshape's shape, Slice's starts..., see `STATIC_INPUTS`) are frozen into initializers first:
the dialect has static shapes, and the importer folds such operands only when they are
constants.

Every in-scope test ends in one category: pass; unsupported (the importer rejected it with an
IRCError, e.g. a dtype or attribute value the dialect lacks: its message is recorded); backend
(irc.compile rejected the imported module with a located IRCError, e.g. an element type the
CPU backend does not lower); wrong (outputs differ: count, shape, dtype or values); crash (any
other exception at import, compile or run, or the worker process died or timed out).

Tests run in worker processes (`--jobs`, one test at a time each) so that a crash in JIT code
costs one test, not the run. Object code goes through irc.compile's disk cache
(`--no-cache` turns it off, for honest timings).

    .venv/bin/python benchmarks/onnx_conformance.py                   # run, print, rewrite the table
    .venv/bin/python benchmarks/onnx_conformance.py --update-expected # ... and the expected-pass list
    .venv/bin/python benchmarks/onnx_conformance.py --only Conv,Relu --no-write -v

The expected-pass list (tests/unit/onnx_conformance_expected.txt) is what
tests/unit/test_onnx_conformance.py holds the compiler to; this script reports regressions
against it (exit code 1) and rewrites it only with --update-expected.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
import traceback
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence, Set
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CONFORMANCE_MD = REPO / "CONFORMANCE.md"
EXPECTED = REPO / "tests" / "unit" / "onnx_conformance_expected.txt"
BEGIN, END = "<!-- BEGIN GENERATED: benchmarks/onnx_conformance.py -->", "<!-- END GENERATED -->"

# Graph inputs at these operand positions are attribute-like in ONNX (attributes that became
# inputs, or operands that decide a result shape); the harness makes them initializers.
STATIC_INPUTS: dict[str, tuple[int, ...]] = {
    "Reshape": (1,),
    "Expand": (1,),
    "Tile": (1,),
    "Slice": (1, 2, 3, 4),
    "Pad": (1, 2, 3),
    "Clip": (1, 2),
    "Squeeze": (1,),
    "Unsqueeze": (1,),
    "Split": (1,),
    "ReduceSum": (1,),
    "ReduceMean": (1,),
    "ReduceMax": (1,),
    "ReduceMin": (1,),
    "ReduceProd": (1,),
    "ReduceL1": (1,),
    "ReduceL2": (1,),
    "ReduceLogSum": (1,),
    "ReduceLogSumExp": (1,),
    "ReduceSumSquare": (1,),
    "TopK": (1,),
    "Resize": (1, 2, 3),
    "Upsample": (1,),
    "ConstantOfShape": (0,),
    "Range": (0, 1, 2),
    "OneHot": (1, 2),
    "CumSum": (1,),
    "Trilu": (1,),
    "Dropout": (1, 2),
    "CenterCropPad": (1,),
}
_EXPANDED = re.compile(r"_expanded(_ver\d+)?$")
CATEGORIES = ("pass", "unsupported", "backend", "wrong", "crash")


# ----------------------------------------------------------------------------- loading
def load_node_tests() -> list[Any]:
    """The ONNX node tests, built in memory with numpy seeded (some generators draw unseeded)."""
    np.random.seed(0)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        from onnx.backend.test.loader import load_model_tests

        return list(load_model_tests(kind="node"))


@dataclass(frozen=True)
class ImporterOps:
    """The importer's op tables: op types it maps onto the tensor dialect, and op types it only
    evaluates at import time, on constant inputs (shape arithmetic)."""

    supported: frozenset[str]
    constant_only: frozenset[str]

    @classmethod
    def load(cls) -> ImporterOps:
        from irc.frontend import onnx as frontend

        return cls(frozenset(frontend.SUPPORTED_OPS), frozenset(frontend.CONSTANT_ONLY_OPS))

    def importable(self, op_types: Set[str]) -> bool:
        return op_types <= self.supported | self.constant_only

    def in_scope(self, info: CaseInfo) -> bool:
        """Every node's op type is imported, and the op under test is a tensor-dialect one."""
        return self.importable(info.ops) and info.op not in self.constant_only


def graph_op_types(graph: Any) -> set[str]:
    """Op types of the nodes, subgraphs (If/Loop/Scan bodies) included."""
    found: set[str] = set()
    for node in graph.node:
        found.add(node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}")
        for attr in node.attribute:
            for sub in [attr.g, *attr.graphs] if attr.HasField("g") else attr.graphs:
                found |= graph_op_types(sub)
    return found


@dataclass(frozen=True)
class CaseInfo:
    """What the report needs to know about one node test, without running it."""

    name: str
    op: str  # the op under test (an _expanded test counts for the op its name is from)
    ops: frozenset[str]
    expanded: bool
    dtypes: frozenset[str]  # numpy names of the graph inputs' and outputs' element types

    @property
    def float32(self) -> bool:
        """Float32 tests: some tensor is float32 and no tensor is another floating type."""
        floats = {d for d in self.dtypes if d.startswith(("float", "bfloat"))}
        return floats == {"float32"}


def case_infos(cases: Sequence[Any]) -> list[CaseInfo]:
    from onnx import helper

    def dtype_name(value_info: Any) -> str:
        tt = value_info.type
        if not tt.HasField("tensor_type"):
            return tt.WhichOneof("value") or "unknown"
        try:
            return np.dtype(helper.tensor_dtype_to_np_dtype(tt.tensor_type.elem_type)).name
        except (KeyError, TypeError, ValueError):
            return f"onnx-type-{tt.tensor_type.elem_type}"

    base_op = {c.name: c.model.graph.node[0].op_type for c in cases if not _EXPANDED.search(c.name)}
    infos = []
    for c in cases:
        graph = c.model.graph
        base = _EXPANDED.sub("", c.name)
        dtypes = frozenset(dtype_name(v) for v in [*graph.input, *graph.output])
        op = base_op.get(base) or (graph.node[0].op_type if graph.node else "?")
        infos.append(CaseInfo(c.name, op, frozenset(graph_op_types(graph)), base != c.name, dtypes))
    return infos


# ----------------------------------------------------------------------------- running one test
def static_inputs(cases: Sequence[Any]) -> dict[str, frozenset[str]]:
    """Per test, the graph inputs to freeze: those feeding a STATIC_INPUTS position of a node;
    for an _expanded test, those of the test it expands (its graph inputs have the same names,
    and the function body consumes them through ordinary ops)."""
    found: dict[str, frozenset[str]] = {}
    for case in cases:
        graph = case.model.graph
        names = {vi.name for vi in graph.input}
        found[case.name] = frozenset(
            node.input[i]
            for node in graph.node
            for i in STATIC_INPUTS.get(node.op_type, ())
            if i < len(node.input) and node.input[i] in names
        )
    for case in cases:
        base = _EXPANDED.sub("", case.name)
        if base != case.name and base in found:
            found[case.name] |= found[base] & {vi.name for vi in case.model.graph.input}
    return found


def freeze_static_inputs(model: Any, inputs: Sequence[np.ndarray], static: Set[str]) -> tuple[Any, list[np.ndarray]]:
    """A copy of `model` whose graph inputs named in `static` are initializers with the test's
    values; the remaining inputs in graph order."""
    from onnx import ModelProto, numpy_helper

    values = {vi.name: x for vi, x in zip(model.graph.input, inputs, strict=False)}
    if not static:
        return model, list(inputs)
    frozen = ModelProto()
    frozen.CopyFrom(model)
    kept = [vi for vi in frozen.graph.input if vi.name not in static]
    del frozen.graph.input[:]
    frozen.graph.input.extend(kept)
    for name in sorted(static):
        frozen.graph.initializer.append(numpy_helper.from_array(values[name], name))
    return frozen, [values[vi.name] for vi in kept]


def _short(text: str, limit: int = 240) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def compare(expected: Sequence[np.ndarray], got: Sequence[np.ndarray], rtol: float, atol: float) -> str | None:
    """None when the outputs match as the ONNX backend runner checks them, else what differs."""
    if len(got) != len(expected):
        return f"{len(got)} outputs, expected {len(expected)}"
    for k, (want, have) in enumerate(zip(expected, got, strict=True)):
        want, have = np.asarray(want), np.asarray(have)
        if have.shape != want.shape or have.dtype != want.dtype:
            return f"output {k}: {have.dtype}{list(have.shape)}, expected {want.dtype}{list(want.shape)}"
        try:
            np.testing.assert_allclose(have, want, rtol=rtol, atol=atol)
        except AssertionError as e:
            lines = [ln.strip() for ln in str(e).splitlines() if ln.strip().startswith(("Mismatch", "Max "))]
            return f"output {k}: " + "; ".join(lines)
    return None


def run_case(case: Any, static: Set[str] = frozenset()) -> tuple[str, str]:
    """(category, detail) for one node test, the graph inputs `static` frozen (see
    `static_inputs`); the categories are in the module docstring."""
    from onnx import TensorProto, numpy_helper

    def arrays(values: Sequence[Any]) -> list[np.ndarray]:
        return [numpy_helper.to_array(v) if isinstance(v, TensorProto) else np.asarray(v) for v in values]

    for inputs, expected in case.data_sets:
        with np.errstate(all="ignore"):  # inf/nan results are part of some tests
            category, detail = _run_data_set(case, static, arrays(inputs), arrays(expected))
        if category != "pass":
            return category, detail
    return "pass", ""


def _run_data_set(
    case: Any, static: Set[str], inputs: Sequence[np.ndarray], expected: Sequence[np.ndarray]
) -> tuple[str, str]:
    import irc
    from irc.diagnostics import IRCError
    from irc.interpreter import find_entry
    from irc.symbol_table import symbol_name

    model, inputs = freeze_static_inputs(case.model, inputs, static)
    try:
        module = irc.import_onnx(model)
    except IRCError as e:
        return "unsupported", _short(e)
    except Exception as e:
        return "crash", _short(f"import: {type(e).__name__}: {e}")
    try:
        exe = irc.compile(module, target="cpu")
    except IRCError as e:
        return "backend", _short(e)
    except Exception as e:
        return "crash", _short(f"compile: {type(e).__name__}: {e}")
    try:
        got = exe[symbol_name(find_entry(module))].call_list(inputs)
    except Exception as e:
        return "crash", _short(f"run: {type(e).__name__}: {e}")
    diff = compare(expected, got, case.rtol, case.atol)
    return ("wrong", diff) if diff is not None else ("pass", "")


def worker() -> None:
    """Reads test names on stdin, answers one JSON line each on the original stdout."""
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything else printed goes to stderr, not into the protocol
    warnings.simplefilter("ignore")
    loaded = load_node_tests()
    cases, static = {c.name: c for c in loaded}, static_inputs(loaded)
    print(json.dumps({"ready": True}), file=proto)
    for line in sys.stdin:
        name = line.strip()
        start = time.perf_counter()
        try:
            category, detail = run_case(cases[name], static[name])
        except Exception:
            category, detail = "crash", _short("harness: " + traceback.format_exc().splitlines()[-1])
        seconds = time.perf_counter() - start
        fixed = static.get(name, frozenset())
        n_inputs = len(cases[name].model.graph.input) if name in cases else -1
        frozen = "all" if fixed and len(fixed) == n_inputs else "some" if fixed else ""
        answer = {"name": name, "category": category, "detail": detail, "seconds": seconds, "frozen": frozen}
        print(json.dumps(answer), file=proto)


# ----------------------------------------------------------------------------- the pool
class Worker:
    """One worker process; restarted after it dies."""

    def __init__(self, env: dict[str, str], startup_timeout: float) -> None:
        self.env, self.startup_timeout = env, startup_timeout
        self.proc: subprocess.Popen[str] | None = None

    def _start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=self.env,
            cwd=REPO,
        )
        if self._read(self.startup_timeout) is None:
            raise RuntimeError("a conformance worker did not start (run with --worker to see why)")

    def _read(self, timeout: float) -> dict[str, Any] | None:
        assert self.proc is not None
        assert self.proc.stdout is not None
        timer = threading.Timer(timeout, self.proc.kill)
        timer.start()
        try:
            line = self.proc.stdout.readline()
        finally:
            timer.cancel()
        return json.loads(line) if line else None

    def run(self, name: str, timeout: float) -> dict[str, Any]:
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        assert self.proc is not None
        assert self.proc.stdin is not None
        start = time.perf_counter()
        try:
            self.proc.stdin.write(name + "\n")
            self.proc.stdin.flush()
            answer = self._read(timeout)
        except BrokenPipeError:
            answer = None
        if answer is not None:
            return answer
        code = self.proc.wait()
        self.proc = None
        why = f"timed out after {timeout:.0f} s" if -code == 9 else f"worker died (exit status {code})"
        return {"name": name, "category": "crash", "detail": why, "seconds": time.perf_counter() - start, "frozen": ""}

    def close(self) -> None:
        if self.proc is not None and self.proc.stdin is not None:
            self.proc.stdin.close()
            self.proc.wait()


def run_all(names: Sequence[str], jobs: int, timeout: float, cache: bool, verbose: bool) -> dict[str, dict[str, Any]]:
    env = dict(os.environ)
    if not cache:
        env["IRC_NO_CACHE"] = "1"
    queue = list(reversed(names))
    results: dict[str, dict[str, Any]] = {}
    lock = threading.Lock()
    errors: list[BaseException] = []

    def loop() -> None:
        w = Worker(env, startup_timeout=300)
        try:
            while True:
                with lock:
                    if not queue:
                        return
                    name = queue.pop()
                r = w.run(name, timeout)
                with lock:
                    results[name] = r
                    if verbose:
                        extra = f"  {r['detail']}" if r["detail"] else ""
                        print(f"[{len(results)}/{len(names)}] {name}: {r['category']} ({r['seconds']:.2f} s){extra}")
        except BaseException as e:
            errors.append(e)
        finally:
            w.close()

    threads = [threading.Thread(target=loop) for _ in range(max(1, jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit(f"error: {errors[0]}")
    return results


# ----------------------------------------------------------------------------- the report
def read_expected(path: Path = EXPECTED) -> list[str]:
    if not path.exists():
        return []
    lines = (ln.strip() for ln in path.read_text().splitlines())
    return [ln for ln in lines if ln and not ln.startswith("#")]


def write_expected(passing: Iterable[str], path: Path = EXPECTED) -> None:
    head = (
        "# ONNX backend node tests that pass through irc.import_onnx + irc.compile(target='cpu').\n"
        "# tests/unit/test_onnx_conformance.py fails when one of them stops passing.\n"
        "# Regenerate with: .venv/bin/python benchmarks/onnx_conformance.py --update-expected\n"
    )
    path.write_text(head + "".join(f"{n}\n" for n in sorted(passing)))


def reason(category: str, detail: str) -> str:
    """`detail` without what is particular to one test, so that tests failing alike group."""
    if m := re.search(r"element types that the tensor dialect does not have: (.*)", detail):
        names = sorted(set(re.findall(r"(\w+): ", m.group(1))))
        return f"element type{'s' * (len(names) > 1)} {', '.join(names)} not in the tensor dialect"
    if m := re.search(r"that the importer does not support: (.*?): \d+ nodes?", detail):
        return f"the importer does not support {m.group(1)}"
    if category == "backend" and (m := re.search(r"element type '(\w+)' is not supported", detail)):
        return f"the CPU backend does not lower {m.group(1)}"
    return detail


def report(infos: Sequence[CaseInfo], ops: ImporterOps, results: dict[str, dict[str, Any]], meta: str) -> str:
    """The generated part of CONFORMANCE.md: summary, per-op table, the named exceptions."""
    by_op: dict[str, list[CaseInfo]] = defaultdict(list)
    for info in infos:
        if info.name in results:
            by_op[info.op].append(info)
    totals: Counter[str] = Counter(r["category"] for r in results.values())
    f32 = [i for i in infos if i.name in results and i.float32]
    f32_pass = sum(results[i.name]["category"] == "pass" for i in f32)
    out = [
        f"{meta}",
        "",
        f"In scope: **{len(results)}** of {len(infos)} node tests; **{totals['pass']} pass**, "
        + ", ".join(f"{totals[c]} {c}" for c in CATEGORIES[1:])
        + ". "
        f"Float32 tests: {f32_pass} of {len(f32)} pass.",
        "",
        "| op under test | in scope | pass | float32 in scope | float32 pass | unsupported | backend | wrong | crash |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for op in sorted(by_op):
        cs = by_op[op]
        cat = Counter(results[i.name]["category"] for i in cs)
        fl = [i for i in cs if i.float32]
        flp = sum(results[i.name]["category"] == "pass" for i in fl)
        label = op if op in ops.supported else f"{op} (expanded only)"
        out.append(
            f"| {label} | {len(cs)} | {cat['pass']} | {len(fl)} | {flp} | "
            + " | ".join(str(cat[c] or "") for c in CATEGORIES[1:])
            + " |"
        )
    out += ["", "### Exceptions: in-scope tests that do not pass", ""]
    groups: dict[tuple[str, str, str], list[CaseInfo]] = defaultdict(list)
    for op in sorted(by_op):
        for i in by_op[op]:
            r = results[i.name]
            if r["category"] != "pass":
                groups[op, r["category"], reason(r["category"], r["detail"])].append(i)
    if not groups:
        out.append("None.")
    for (op, category, why), cs in groups.items():
        names = ", ".join(f"`{i.name}`" + ("" if i.float32 else f" ({'/'.join(sorted(i.dtypes))})") for i in cs)
        out.append(f"- {op}, **{category}**: {why.replace('|', '/')}: {names}")
    frozen = sorted(n for n, r in results.items() if r["category"] == "pass" and r["frozen"])
    folded = [n for n in frozen if results[n]["frozen"] == "all"]
    out += [
        "",
        "### Frozen inputs",
        "",
        f"{len(frozen)} of the passing tests ran with attribute-like graph inputs frozen into initializers. "
        f"In {len(folded)} of them every graph input is frozen, so the importer evaluates the whole "
        "graph and these check its constant evaluation, not generated code: "
        + (", ".join(f"`{n}`" for n in folded) or "none")
        + ".",
        "",
        "### Out of scope",
        "",
        f"{len(infos) - len(results)} tests use an op type the importer does not handle, or test one that it "
        f"evaluates only on constants ({', '.join(sorted(ops.constant_only))}). "
        f"SUPPORTED_OPS has {len(ops.supported)} op types: {', '.join(sorted(ops.supported))}.",
    ]
    return "\n".join(out)


def write_markdown(generated: str, path: Path = CONFORMANCE_MD) -> None:
    text = path.read_text() if path.exists() else f"# ONNX conformance\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        text += f"\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{BEGIN}\n{generated}\n{END}{tail}")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per test before it counts as a crash")
    ap.add_argument("--only", default="", help="comma-separated op types (ops under test) to run")
    ap.add_argument("--no-cache", action="store_true", help="compile without irc.compile's disk cache")
    ap.add_argument("--no-write", action="store_true", help="do not rewrite CONFORMANCE.md")
    ap.add_argument("--update-expected", action="store_true", help="rewrite the expected-pass list")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every test as it finishes")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker()
        return 0

    ops = ImporterOps.load()
    infos = case_infos(load_node_tests())
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    scope = [i for i in infos if ops.in_scope(i) and (not only or i.op in only)]
    print(f"{len(scope)} of {len(infos)} node tests in scope; {args.jobs} worker(s)")
    start = time.perf_counter()
    results = run_all([i.name for i in scope], args.jobs, args.timeout, not args.no_cache, args.verbose)
    wall = time.perf_counter() - start
    busy = sum(r["seconds"] for r in results.values())

    totals = Counter(r["category"] for r in results.values())
    print(", ".join(f"{totals[c]} {c}" for c in CATEGORIES) + f"; {wall:.0f} s wall, {busy:.0f} s in tests")
    passing = {n for n, r in results.items() if r["category"] == "pass"}
    expected = set(read_expected())
    run_names = set(results)
    regressions = sorted((expected & run_names) - passing)
    new = sorted(passing - expected)
    for n in regressions:
        print(f"REGRESSION {n}: {results[n]['category']}: {results[n]['detail']}")
    if new:
        print(f"{len(new)} passing test(s) not in {EXPECTED.relative_to(REPO)}")

    import onnx

    meta = (
        f"Generated by `benchmarks/onnx_conformance.py` with onnx {onnx.__version__} "
        f"({len(infos)} node tests), {time.strftime('%Y-%m-%d')}."
    )
    if not args.no_write and not only:
        write_markdown(report(infos, ops, results, meta))
        print(f"wrote {CONFORMANCE_MD.relative_to(REPO)}")
    if args.update_expected:
        if only:
            raise SystemExit("error: --update-expected needs the full run (no --only)")
        write_expected(passing)
        print(f"wrote {EXPECTED.relative_to(REPO)} ({len(passing)} tests)")
        return 0
    return 1 if regressions else 0


if __name__ == "__main__":
    sys.exit(main())
