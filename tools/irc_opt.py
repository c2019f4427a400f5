"""irc-opt: parse a .gir file, run passes, print the result (after MLIR's mlir-opt).

irc-opt model.gir --pass-pipeline='builtin.module(canonicalize,cse)'
irc-opt model.gir --canonicalize --cse -o out.gir
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Any

from irc.diagnostics import Diagnostic, IRCError, Severity, SourceManager
from irc.location import FileLineColLoc, file_location
from tools.common import read_input, run_tool, write_output

VERSION = "0.1.0"
SPLIT_MARKER = re.compile(r"^// -----\s*$", re.M)


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="irc-opt",
        description="Parse a .gir file, run a pass pipeline and print the result.",
        epilog="Pass flags: --<pass-name>[=<options>] for every pass of --list-passes.",
    )
    ap.add_argument("input", nargs="?", default="-", help="input file, or - for stdin (default)")
    ap.add_argument("-o", dest="output", default=None, help="output file (default: stdout)")
    ap.add_argument("--pass-pipeline", default=None, help="textual pipeline, e.g. 'builtin.module(cse)'")
    ap.add_argument("--split-input-file", action="store_true", help="split the input at '// -----' lines")
    ap.add_argument("--verify-diagnostics", action="store_true", help="check 'expected-error' comments")
    ap.add_argument("--print-ir-before", action="append", default=[], metavar="PASS")
    ap.add_argument("--print-ir-after", action="append", default=[], metavar="PASS")
    ap.add_argument("--print-ir-before-all", action="store_true")
    ap.add_argument("--print-ir-after-all", action="store_true")
    ap.add_argument("--print-ir-after-change", action="store_true")
    ap.add_argument("--print-ir-after-failure", action="store_true")
    ap.add_argument("--print-generic", action="store_true", help="print ops in the generic form")
    ap.add_argument("--print-debuginfo", action="store_true", help="print locations")
    ap.add_argument("--timing", action="store_true", help="report the time of each pass")
    ap.add_argument("--pass-statistics", action="store_true", help="report pass statistics")
    ap.add_argument("--list-passes", action="store_true", help="list the passes and exit")
    ap.add_argument("--dump-pass-pipeline", action="store_true", help="print the pipeline with every option")
    ap.add_argument("--disable-verify", action="store_true", help="do not verify after parsing and each pass")
    ap.add_argument("--allow-unregistered-dialect", action="store_true")
    ap.add_argument(
        "--print-memory-plan",
        action="store_true",
        help="before the IR, print as comments the memory plan of each function planned by allocate-buffers: "
        "per buffer its bytes, arena offset, live range [first, last top-level op] and in-place source, "
        "then arena bytes, naive sum and lower bound",
    )
    ap.add_argument("--view-graph", action="store_true", help="print each function's data flow as Graphviz DOT")
    ap.add_argument("--version", action="store_true")
    return ap


def main(argv: list[str] | None = None) -> int:
    args, extra = _parser().parse_known_args(argv)
    return run_tool("irc-opt", lambda sources: _main(args, extra, sources))


# ----------------------------------------------------------------------------- pipeline
def _build_pipeline(args: argparse.Namespace, extra: list[str], sources: SourceManager):
    import passes
    from irc.pass_manager import PIPELINE_FILE, OpPassManager, make_pass, parse_pipeline

    flags: list[tuple[str, str | None]] = []
    for item in extra:
        if not item.startswith("--"):
            raise IRCError(
                Diagnostic(Severity.ERROR, f"unexpected argument '{item}'", FileLineColLoc("<command line>", 1, 1))
            )
        name, eq, value = item[2:].partition("=")
        if passes.get_pass(name) is None:
            raise IRCError(
                Diagnostic(
                    Severity.ERROR,
                    f"unknown option or pass '--{name}' (see --help and --list-passes)",
                    FileLineColLoc("<command line>", 1, 1),
                )
            )
        flags.append((name, value if eq else None))
    if args.pass_pipeline is not None and flags:
        raise IRCError(
            Diagnostic(
                Severity.ERROR,
                "--pass-pipeline cannot be combined with pass flags",
                FileLineColLoc("<command line>", 1, 1),
            )
        )
    if args.pass_pipeline is not None:
        text = passes.PIPELINES.get(args.pass_pipeline, args.pass_pipeline)
        sources.add(PIPELINE_FILE, text)
        return parse_pipeline(text, passes.get_pass)
    pm = OpPassManager("builtin.module")
    for name, value in flags:
        cls = passes.get_pass(name)
        options: dict[str, Any] = {}
        if value:
            target = _flag_pass(name, value, sources)
        else:
            target = make_pass(cls, options)
        if cls.anchor is not None and cls.anchor != "builtin.module":
            pm.nest(cls.anchor).add(target)
        else:
            pm.add(target)
    return pm


def _flag_pass(name: str, value: str, sources: SourceManager):
    """The pass of `--name=options`; errors point into the flag as the user wrote it."""
    import passes
    from irc.pass_manager import PIPELINE_FILE, parse_pipeline

    flag = f"--{name}={value}"
    sources.add(PIPELINE_FILE, flag)
    braced = value.startswith("{") and value.endswith("}")
    body = value[1:-1] if braced else value
    # Columns of `name{body}` map onto `--name=value`: the body starts after `--name=` (and
    # after a `{` the user wrote).
    shift = len(f"--{name}=") + (1 if braced else 0) - (len(name) + 1)
    try:
        sub = parse_pipeline(f"{name}{{{body}}}", passes.get_pass)
    except IRCError as err:
        loc = err.diagnostic.location
        if isinstance(loc, FileLineColLoc) and loc.filename == PIPELINE_FILE:
            col = min(max(loc.column + shift, 1), len(flag) + 1)
            err.diagnostic.location = FileLineColLoc(PIPELINE_FILE, loc.line, col)
        raise
    (p,) = list(sub.passes())
    return p


# ----------------------------------------------------------------------------- main
def _main(args: argparse.Namespace, extra: list[str], sources: SourceManager) -> int:
    if args.version:
        sys.stdout.write(_version_text())
        return 0
    if args.list_passes:
        import passes

        for cls in passes.all_passes():
            sys.stdout.write(f"  --{cls.name:<24} {cls.summary()}\n")
            for field in cls.options():
                default = field.default
                sys.stdout.write(f"      {field.name.replace('_', '-')}={_fmt(default)}\n")
        return 0
    pipeline = _build_pipeline(args, extra, sources)
    _check_pass_names(args)
    if args.dump_pass_pipeline:
        sys.stderr.write(f"Pass Manager with {sum(1 for _ in pipeline.passes())} passes:\n")
        sys.stderr.write(pipeline.pipeline_text() + "\n\n")
    name, text = read_input(args.input)
    sources.add(name, text)
    chunks = _split(text) if args.split_input_file else [(text, 0)]
    outputs: list[str] = []
    status = 0
    timing = _Timer() if args.timing else None
    for chunk, line_offset in chunks:
        if args.verify_diagnostics:
            ok, out = _run_verify_diagnostics(args, pipeline, chunk, name, line_offset, sources)
            if not ok:
                status = 1
            if out is not None:
                outputs.append(out)
            continue
        if not args.split_input_file:
            outputs.append(_process(args, pipeline, chunk, name, line_offset, timing))
            continue
        # Like mlir-opt: an error in one chunk is reported, and the other chunks still run.
        try:
            outputs.append(_process(args, pipeline, chunk, name, line_offset, timing))
        except IRCError as err:
            sys.stderr.write(sources.render(err.diagnostic) + "\n")
            status = 1
    joiner = "// -----\n"
    write_output(args.output, joiner.join(outputs))
    if timing is not None:
        sys.stderr.write(timing.report())
    return status


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        return ",".join(map(str, value))
    return str(value)


def _split(text: str) -> list[tuple[str, int]]:
    chunks, start, line = [], 0, 0
    for m in SPLIT_MARKER.finditer(text):
        chunks.append((text[start : m.start()], line))
        line += text.count("\n", start, m.end()) + (0 if m.end() < len(text) and text[m.end()] != "\n" else 1)
        start = m.end() + 1
    chunks.append((text[start:], line))
    return chunks


class _Timer:
    def __init__(self) -> None:
        self.rows: list[tuple[int, str, float]] = []
        self.total = 0.0

    def add(self, depth: int, name: str, seconds: float) -> None:
        for i, (d, n, s) in enumerate(self.rows):
            if d == depth and n == name:
                self.rows[i] = (d, n, s + seconds)
                return
        self.rows.append((depth, name, seconds))

    def report(self) -> str:
        total = self.total or 1e-12
        lines = [
            "===" + "-" * 73 + "===",
            " " * 25 + "... Execution time report ...",
            "===" + "-" * 73 + "===",
            f"  Total Execution Time: {self.total:.4f} seconds",
            "",
            "  ----Wall Time----  ----Name----",
        ]
        for depth, name, seconds in self.rows:
            lines.append(f"  {seconds:8.4f} ({100 * seconds / total:5.1f}%)  {'  ' * depth}{name}")
        lines.append(f"  {self.total:8.4f} (100.0%)  Total")
        return "\n".join(lines) + "\n"


def _process(args, pipeline, text: str, name: str, line_offset: int, timer: _Timer | None) -> str:
    import time

    from dialects import default_context
    from irc.pass_manager import Instrumentation, PassManager
    from irc.verifier import verify
    from textual_ir.parser import parse_module
    from textual_ir.printer import print_op

    ctx = default_context(args.allow_unregistered_dialect)
    t0 = time.perf_counter()
    module = parse_module(text, name, ctx, line_offset)
    t1 = time.perf_counter()
    if not args.disable_verify:
        verify(module)
    t2 = time.perf_counter()

    def printer(op):
        return print_op(op, generic=args.print_generic, debuginfo=args.print_debuginfo)

    instr = Instrumentation(
        print_before=_pass_names(args.print_ir_before) | ({"all"} if args.print_ir_before_all else set()),
        print_after=_pass_names(args.print_ir_after),
        print_after_all=args.print_ir_after_all,
        print_after_change=args.print_ir_after_change,
        print_after_failure=args.print_ir_after_failure,
        timing=timer is not None,
        statistics=args.pass_statistics,
        stream=sys.stderr,
        printer=printer,
    )
    pm = PassManager(pipeline, ctx, verify=not args.disable_verify, instrumentation=instr)
    pm.run(module)
    t3 = time.perf_counter()
    plan = ""
    if args.print_memory_plan:
        from passes.allocate_buffers import memory_plan_report

        plan = memory_plan_report(module)
    if args.view_graph:
        from tools.view_graph import module_to_dot

        out = module_to_dot(module)
    else:
        out = printer(module)
    out = plan + out
    t4 = time.perf_counter()
    if timer is not None:
        timer.add(0, "Parser", t1 - t0)
        timer.add(0, "Verifier", t2 - t1)
        for depth, pname, seconds in instr.times:
            timer.add(depth, pname, seconds)
        timer.add(0, "Output", t4 - t3)
        timer.total += t4 - t0
    if args.pass_statistics:
        sys.stderr.write(_statistics_report(instr.stats))
    return out


def _pass_names(values: list[str]) -> set[str]:
    """`--print-ir-after=cse,canonicalize --print-ir-after=dce` -> {"cse", "canonicalize", "dce"}."""
    return {name.strip() for value in values for name in value.split(",") if name.strip()}


def _check_pass_names(args: argparse.Namespace) -> None:
    """Unknown names in --print-ir-before/after are errors, not dumps that never come."""
    import passes

    for flag, values in (("--print-ir-before", args.print_ir_before), ("--print-ir-after", args.print_ir_after)):
        for name in sorted(_pass_names(values)):
            if name != "all" and passes.get_pass(name) is None:
                raise IRCError(
                    Diagnostic(
                        Severity.ERROR,
                        f"'{name}' in {flag} is not a registered pass (see --list-passes)",
                        FileLineColLoc("<command line>", 1, 1),
                    )
                )


def _statistics_report(stats) -> str:
    lines = ["===" + "-" * 73 + "===", " " * 25 + "... Pass statistics report ...", "===" + "-" * 73 + "==="]
    merged: dict[tuple[int, str], tuple[dict[str, int], type | None]] = {}
    for depth, name, counters, cls in stats:
        key = (depth, name)
        total, _ = merged.get(key, ({}, cls))
        for k, v in counters.items():
            total[k] = total.get(k, 0) + v
        merged[key] = (total, cls)
    for (depth, name), (counters, cls) in merged.items():
        lines.append("  " * depth + name)
        if cls is None:
            continue
        for stat, desc in cls.statistics.items():
            lines.append("  " * (depth + 1) + f"(S) {counters.get(stat, 0)} {stat} - {desc}")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- diagnostics
_EXPECTED = re.compile(r"//\s*expected-(error|warning|note|remark)(-re)?\s*(?:@([+-]\d+|above|below))?\s*\{\{(.*?)\}\}")


class _Expected:
    def __init__(self, severity: str, regex: bool, line: int, message: str, comment_line: int, col: int) -> None:
        self.severity, self.regex, self.line, self.message = severity, regex, line, message
        self.comment_line, self.col = comment_line, col
        self.matched = False

    def matches(self, diag: Diagnostic, line: int) -> bool:
        if self.matched or diag.severity.value != self.severity or line != self.line:
            return False
        if self.regex:
            return re.search(self.message, diag.message) is not None
        return self.message in diag.message


def _expectations(text: str, line_offset: int) -> list[_Expected]:
    out = []
    lines = text.split("\n")
    for index, line in enumerate(lines):
        for m in _EXPECTED.finditer(line):
            here = index + 1 + line_offset
            where = m.group(3)
            if where is None:
                target = here
            elif where == "above":
                target = here - 1
            elif where == "below":
                target = here + 1
            else:
                target = here + int(where)
            out.append(_Expected(m.group(1), bool(m.group(2)), target, m.group(4), here, m.start() + 1))
    return out


def _run_verify_diagnostics(args, pipeline, text: str, name: str, line_offset: int, sources: SourceManager):
    expected = _expectations(text, line_offset)
    emitted: list[Diagnostic] = []
    out = None
    try:
        out = _process(args, pipeline, text, name, line_offset, None)
    except IRCError as err:
        emitted.extend(err.diagnostic.all())
    ok = True
    for diag in emitted:
        loc = file_location(diag.location)
        line = loc.line if loc is not None and loc.filename == name else -1
        match = next((e for e in expected if e.matches(diag, line)), None)
        if match is None:
            ok = False
            sys.stderr.write(
                sources.render(
                    Diagnostic(Severity.ERROR, f"unexpected {diag.severity.value}: {diag.message}", diag.location)
                )
                + "\n"
            )
        else:
            match.matched = True
    for e in expected:
        if not e.matched:
            ok = False
            sys.stderr.write(
                sources.render(
                    Diagnostic(
                        Severity.ERROR,
                        f'expected {e.severity} "{e.message}" was not produced',
                        FileLineColLoc(name, e.comment_line, e.col),
                    )
                )
                + "\n"
            )
    return ok, (out if not emitted else None)


def _version_text() -> str:
    import platform

    lines = [f"gir irc-opt {VERSION}", f"  Python {platform.python_version()} ({platform.machine()})"]
    try:
        import llvmlite.binding as llvm

        features = llvm.get_host_cpu_features().flatten()
        simd = [f for f in ("sse4.2", "avx", "avx2", "fma", "avx512f", "neon") if f"+{f}" in features]
        lines.append(f"  CPU: {llvm.get_host_cpu_name()} ({', '.join(simd) or 'no SIMD extensions found'})")
    except Exception as err:
        lines.append(f"  CPU: unknown ({err})")
    lines.append("  BLAS: not probed (the CPU backend arrives in a later release)")
    try:
        import pyopencl as cl

        platforms = cl.get_platforms()
        if not platforms:
            lines.append("  OpenCL: no platforms")
        for plat in platforms:
            devices = ", ".join(d.name.strip() for d in plat.get_devices())
            lines.append(f"  OpenCL: {plat.name.strip()}: {devices or 'no devices'}")
    except Exception as err:
        lines.append(f"  OpenCL: unavailable ({type(err).__name__})")
    return "\n".join(lines) + "\n"


def cli() -> None:
    """The `irc-opt` command: `main`, then exit without tearing down the IR object by object
    (freeing a large module costs as much as printing it; the process ends anyway)."""
    status = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        pass
    os._exit(status)


if __name__ == "__main__":
    cli()
