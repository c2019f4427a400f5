"""Parse + verify + print throughput of gir, side by side with xdsl-opt and mlir-opt.

A benchmark, not a test: it generates one function of N arith ops (constants, addf/mulf/subf
on f32, addi/muli on i32, cmpi, select), then times

  (a) gir in process: `parse_module`, `verify`, `print_op`, each phase and the total;
  (b) the `irc-opt` command on the file (wall time minus its start-up on an empty module);
  (c) `xdsl-opt` on the same file (skipped if not found);
  (d) `mlir-opt` on the same file (skipped if not found);

and the start-up of each tool (median over runs on an empty module). Per-op times are in µs.

    .venv/bin/python benchmarks/parse_print.py [--ops 20000] [--repeat 3] [--startup-runs 10]
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

EMPTY_MODULE = "module {\n}\n"


# ----------------------------------------------------------------------------- input
def generate(num_ops: int) -> str:
    """One `func.func` with `num_ops` arith ops in a fixed, realistic mix (deterministic)."""
    lines = ["func.func @bench(%a: f32, %b: f32, %x: i32, %y: i32) -> (f32, i32) {"]
    floats = ["%a", "%b"]
    ints = ["%x", "%y"]
    bools: list[str] = []
    count = 0
    k = 0
    preds = ("eq", "ne", "slt", "sle", "sgt", "sge", "ult", "ule", "ugt", "uge")
    while count < num_ops:
        k += 1
        name = f"%v{count}"
        kind = k % 10
        if kind == 0:
            lines.append(f"  {name} = arith.constant {k % 97}.5 : f32")
            floats.append(name)
        elif kind == 1:
            lines.append(f"  {name} = arith.constant {k % 1000} : i32")
            ints.append(name)
        elif kind in (2, 3, 4):
            op = ("arith.addf", "arith.mulf", "arith.subf")[kind - 2]
            lines.append(f"  {name} = {op} {floats[-1]}, {floats[-2 - k % 3 if len(floats) > 4 else 0]} : f32")
            floats.append(name)
        elif kind in (5, 6):
            op = ("arith.addi", "arith.muli")[kind - 5]
            lines.append(f"  {name} = {op} {ints[-1]}, {ints[-2 - k % 3 if len(ints) > 4 else 0]} : i32")
            ints.append(name)
        elif kind in (7, 8):
            lines.append(f"  {name} = arith.cmpi {preds[k % len(preds)]}, {ints[-1]}, {ints[-2]} : i32")
            bools.append(name)
        else:
            if not bools:
                lines.append(f"  {name} = arith.cmpi slt, {ints[-1]}, {ints[-2]} : i32")
                bools.append(name)
            else:
                lines.append(f"  {name} = arith.select {bools[-1]}, {ints[-1]}, {ints[-2]} : i32")
                ints.append(name)
        count += 1
    lines.append(f"  func.return {floats[-1]}, {ints[-1]} : f32, i32")
    lines.append("}")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- tools
def find_tool(names: list[str], extra_paths: list[str]) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    for path in extra_paths:
        if os.path.exists(path):
            return path
    return None


def wall(cmd: list[str], runs: int) -> tuple[float, float, str]:
    """Median and minimum wall time (s) of `runs` runs of `cmd`, and the output of the last one."""
    times = []
    out = ""
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
        out = proc.stdout
    return statistics.median(times), min(times), out


# ----------------------------------------------------------------------------- gir in process
def gir_in_process(text: str, repeat: int) -> dict[str, float]:
    from dialects import default_context
    from irc.verifier import verify
    from textual_ir.parser import parse_module
    from textual_ir.printer import print_op

    best: dict[str, float] = {}
    for _ in range(repeat):
        # Start each run from the same heap: the last run's module would otherwise make the
        # cyclic GC's full collections during this one slower (and the numbers noisy).
        module = out = None
        gc.collect()
        ctx = default_context()
        t0 = time.perf_counter()
        module = parse_module(text, "bench.gir", ctx)
        t1 = time.perf_counter()
        verify(module)
        t2 = time.perf_counter()
        out = print_op(module)
        t3 = time.perf_counter()
        assert out.count("\n") >= text.count("\n")
        for key, value in (("parse", t1 - t0), ("verify", t2 - t1), ("print", t3 - t2), ("total", t3 - t0)):
            best[key] = min(best.get(key, value), value)
    return best


# ----------------------------------------------------------------------------- main
def machine_info() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ops", type=int, default=20000, help="number of arith ops in the function")
    ap.add_argument("--repeat", type=int, default=5, help="runs per measurement (the best is kept)")
    ap.add_argument("--startup-runs", type=int, default=10, help="runs for the start-up medians")
    ap.add_argument("--keep", default=None, help="also write the generated file here")
    args = ap.parse_args()

    text = generate(args.ops)
    n = args.ops
    tmp = Path(tempfile.mkdtemp(prefix="gir-bench-"))
    bench_file = tmp / "bench.mlir"
    empty_file = tmp / "empty.mlir"
    bench_file.write_text(text)
    empty_file.write_text(EMPTY_MODULE)
    if args.keep:
        Path(args.keep).write_text(text)

    bin_dir = Path(sys.executable).parent
    tools = {
        "irc-opt": find_tool([], [str(bin_dir / "irc-opt"), str(REPO / ".venv/bin/irc-opt")])
        or shutil.which("irc-opt"),
        "xdsl-opt": find_tool(["xdsl-opt"], ["/tmp/venv0/bin/xdsl-opt"]),
        "mlir-opt": find_tool(["mlir-opt", "mlir-opt-22"], ["/usr/lib/llvm-22/bin/mlir-opt"]),
    }

    print(f"machine: {machine_info()}")
    print(f"input:   {n} arith ops in one func.func, {len(text) / 1e6:.2f} MB ({bench_file})")
    print()

    gir = gir_in_process(text, args.repeat)
    print(f"gir in process (best of {args.repeat}):")
    for key in ("parse", "verify", "print", "total"):
        print(f"  {key:<7} {gir[key] * 1e3:9.1f} ms  {gir[key] / n * 1e6:7.2f} µs/op")
    print()

    rows: list[tuple[str, float | None, float | None, float | None]] = []
    rows.append(("gir (in process)", None, gir["total"], gir["total"] / n * 1e6))
    per_op: dict[str, float] = {"gir (in process)": gir["total"] / n * 1e6}
    startups: dict[str, float] = {}
    for name, path in tools.items():
        if path is None:
            print(f"{name}: not found, skipped")
            continue
        startup, startup_min, _ = wall([path, str(empty_file)], args.startup_runs)
        _, total, out = wall([path, str(bench_file)], args.repeat)
        if out.count("\n") < n:
            print(f"{name}: output has only {out.count(chr(10))} lines")
        # Minimums for the per-op figure: on a shared machine they are what is least disturbed.
        work = max(total - startup_min, 0.0)
        startups[name] = startup
        per_op[name] = work / n * 1e6
        rows.append((name, startup, total, per_op[name]))

    print()
    print("start-up: median of --startup-runs on an empty module; file: best of --repeat;")
    print("µs/op: (best file time - best start-up) / ops for the tools, best of --repeat in process for gir")
    print(f"{'tool':<18} {'start-up ms':>12} {'file ms':>10} {'µs/op':>8} {'x gir':>7}")
    base = per_op["gir (in process)"]
    for name, startup, total, us in rows:
        s = f"{startup * 1e3:12.1f}" if startup is not None else f"{'-':>12}"
        t = f"{total * 1e3:10.1f}" if total is not None else f"{'-':>10}"
        print(f"{name:<18} {s} {t} {us:8.2f} {us / base:7.2f}")
    print()
    if "xdsl-opt" in per_op:
        print(f"xdsl-opt / gir (in process) per op: {per_op['xdsl-opt'] / base:.2f}x")
        if "irc-opt" in per_op:
            print(f"xdsl-opt / irc-opt per op:          {per_op['xdsl-opt'] / per_op['irc-opt']:.2f}x")
    if "mlir-opt" in per_op:
        print(f"gir (in process) / mlir-opt per op: {base / per_op['mlir-opt']:.2f}x")
    if "irc-opt" in startups:
        print(f"irc-opt start-up: {startups['irc-opt'] * 1e3:.0f} ms (target < 150 ms)")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
