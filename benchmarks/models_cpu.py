"""Whole-model CPU speed of gir, side by side with ONNX Runtime and PyTorch (one process).

A benchmark, not a test. The five models of benchmarks/export_models.py (MLP, LeNet-5,
ResNet-18, a MobileNetV2-style network, a transformer encoder block) are exported from PyTorch
(or, without PyTorch, built with onnx.helper; the PyTorch column is then empty) into a
temporary folder at each batch size. For each model and batch:

- compile: `irc.import_onnx` -> the `cpu` pipeline (`irc.api.lower`) -> LLVM and the JIT
  (`CPUExecutable.build(..., use_cache=False)`, and IRC_NO_CACHE=1 for the whole run), timed
  phase by phase; the arena size is the executable's planned temporary memory;
- each runner's output is checked against ONNX Runtime's first (max |diff| / max |y| printed);
- each thread count: gir with IRC_NUM_THREADS (`exe.num_threads`), ONNX Runtime with `intra_op_num_threads`
  (all graph optimizations on, its default), PyTorch with `torch.set_num_threads` under
  `torch.inference_mode()`. The runners alternate call by call so that load on a shared machine
  hits them alike; the median time per call is reported.

    .venv/bin/python benchmarks/models_cpu.py [--models mlp,resnet18] [--batches 1,8]
                                              [--threads 1,all] [--repeat 10] [--builder torch|onnx]
"""

from __future__ import annotations

import os

os.environ["IRC_NO_CACHE"] = "1"  # compile times are measured cold; see also use_cache=False below
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # numpy only converts inputs here; keep it from spawning threads

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import export_models as em  # noqa: E402

import irc  # noqa: E402


def _have_torch() -> bool:
    return importlib.util.find_spec("torch") is not None


def _median_ms(fns: dict[str, Callable[[], Any]], repeat: int, warmup: int, budget_s: float) -> dict[str, float]:
    """Median time per call of each function (ms), calls interleaved; fewer than `repeat`
    rounds when the round takes long (at least 3 rounds, about `budget_s` in all)."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    start = time.perf_counter()
    for r in range(repeat):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
        if r >= 2 and time.perf_counter() - start > budget_s:
            break
    return {k: statistics.median(v) * 1e3 for k, v in times.items()}


def _compile(path: Path) -> tuple[Any, str, dict[str, float]]:
    from irc.api import lower
    from irc.interpreter import find_entry
    from irc.runtime.cpu import CPUExecutable
    from irc.symbol_table import symbol_name

    t0 = time.perf_counter()
    module = irc.import_onnx(str(path))
    t1 = time.perf_counter()
    lowered = lower(module)
    t2 = time.perf_counter()
    exe = CPUExecutable.build(lowered, use_cache=False)
    t3 = time.perf_counter()
    phases = {"import": t1 - t0, "passes": t2 - t1, "llvm": t3 - t2, "total": t3 - t0}
    return exe, symbol_name(find_entry(module)), phases


def _ort_session(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _rel(out: np.ndarray, ref: np.ndarray) -> float:
    return float(np.abs(out - ref).max() / max(np.abs(ref).max(), 1e-30))


def bench_model(name: str, batch: int, builder: str, threads: list[int], folder: Path, args: Any) -> list[dict]:
    path = em.write(name, folder, batch, builder)
    x = em.sample_input(name, batch)
    exe, entry, phases = _compile(path)
    fn = exe[entry]
    arena = exe.arena_size
    torch_mod = None
    if builder == "torch":
        import torch

        torch_mod = em.torch_module(name)
        tx = torch.from_numpy(x)
    rows = []
    for t in threads:
        os.environ["IRC_NUM_THREADS"] = str(t)  # read when an executable is built ...
        if hasattr(exe, "num_threads"):
            exe.num_threads = t  # ... and settable on a built one
        sess = _ort_session(path, t)
        ref = sess.run([em.OUTPUT], {em.INPUT: x})[0]
        runners: dict[str, Callable[[], Any]] = {
            "gir": lambda: fn(x),
            "onnxrt": lambda sess=sess: sess.run([em.OUTPUT], {em.INPUT: x}),
        }
        errors = {"gir": _rel(fn(x), ref)}
        if torch_mod is not None:
            import torch

            torch.set_num_threads(t)

            def run_torch(torch=torch) -> Any:
                with torch.inference_mode():
                    return torch_mod(tx)

            errors["torch"] = _rel(run_torch().numpy(), ref)
            runners["torch"] = run_torch
        ms = _median_ms(runners, args.repeat, args.warmup, args.budget)
        row = {
            "model": name,
            "batch": batch,
            "threads": t,
            **ms,
            "compile": phases,
            "arena": arena,
            "errors": errors,
        }
        rows.append(row)
        _print_row(row)
    return rows


HEADER = (
    "| model | batch | threads | gir ms | onnxrt ms | torch ms | gir/onnxrt | gir/torch | "
    "compile s (import + passes + LLVM) | arena KiB | max err vs onnxrt |"
)


def _print_row(r: dict) -> None:
    c = r["compile"]
    torch_ms = f"{r['torch']:.2f}" if "torch" in r else "-"
    vs_torch = f"{r['gir'] / r['torch']:.2f}" if "torch" in r else "-"
    err = r["errors"]["gir"]
    print(
        f"| {r['model']} | {r['batch']} | {r['threads']} | {r['gir']:.2f} | {r['onnxrt']:.2f} | {torch_ms} | "
        f"{r['gir'] / r['onnxrt']:.2f} | {vs_torch} | {c['total']:.2f} ({c['import']:.2f} + {c['passes']:.2f} + "
        f"{c['llvm']:.2f}) | {r['arena'] / 1024:.0f} | {err:.1e} |",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=",".join(em.MODELS), help="comma-separated (default: all five)")
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--threads", default="1,all", help="comma-separated thread counts; 'all' = every core")
    ap.add_argument("--repeat", type=int, default=20, help="timed rounds (default 20)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--budget", type=float, default=20.0, help="seconds of timed rounds per row, at most")
    ap.add_argument("--builder", choices=("torch", "onnx"), default="torch" if _have_torch() else "onnx")
    args = ap.parse_args(argv)
    cores = os.cpu_count() or 1
    threads = sorted({cores if t == "all" else int(t) for t in args.threads.split(",")})
    models = args.models.split(",")
    for m in models:
        if m not in em.MODELS:
            ap.error(f"unknown model '{m}' (known: {', '.join(em.MODELS)})")
    if args.builder == "torch" and not _have_torch():
        ap.error("--builder torch needs PyTorch")

    import onnxruntime

    versions = f"onnxruntime {onnxruntime.__version__}"
    if args.builder == "torch":
        import torch

        versions += f", torch {torch.__version__}"
    print(
        f"# {platform.processor() or platform.machine()}, {cores} cores, Python {platform.python_version()}, {versions}"
    )
    print(f"# models from the '{args.builder}' builder; IRC_NO_CACHE=1; median ms per call")
    print(HEADER)
    print("|" + "---|" * HEADER.count(" | ") + "---|")
    with tempfile.TemporaryDirectory(prefix="gir-models-") as tmp:
        for name in models:
            for batch in (int(b) for b in args.batches.split(",")):
                bench_model(name, batch, args.builder, threads, Path(tmp), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
