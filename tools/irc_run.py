"""irc-run: execute a function of a .gir (or .onnx) file on numpy arrays.

irc-run model.gir --interpret --print                      random inputs (--seed N), print the outputs
irc-run model.gir --interpret --input x=x.npy --out y.npz  inputs from files, outputs to an .npz
irc-run model.gir --interpret --inputs in.npz --entry f
irc-run model.gir --target cpu --benchmark 100             JIT-compile for this CPU, time 100 calls
irc-run model.onnx --inputs in.npz --out out.npz           an ONNX model, imported on the fly
irc-run model.onnx --input-shape x=1x3x224x224             fix an input's symbolic dims

Inputs are named after the function's arguments (`%x` is `x`); outputs after each result's
`irc.name` result attribute, else `result0`, `result1`, ... The same seed gives the same
random inputs for `--interpret` and `--target cpu`, so their outputs can be compared.
`--target cpu` (the default) compiles with `irc.compile` (the `cpu` pipeline when the file has
tensor ops); `--benchmark N` then prints the median and minimum time per call and the memory
plan's totals. The OpenCL target comes later.

A `.onnx` file is imported first (`irc.import_onnx`, needs the `onnx` package); its inputs
and outputs keep their ONNX names (in --input, --inputs and --out), as do the arguments of a
.gir file written by `irc-translate --import-onnx` (their `irc.name` argument attributes).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from irc.diagnostics import Diagnostic, IRCError, Severity, SourceManager
from irc.location import FileLineColLoc, Location
from tools.common import read_input, run_tool

COMMAND_LINE = "<command line>"


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="irc-run",
        description="Execute a function of a .gir file on numpy arrays.",
    )
    ap.add_argument("input", nargs="?", default="-", help="input file, or - for stdin (default)")
    ap.add_argument("--interpret", action="store_true", help="run with the numpy reference interpreter")
    ap.add_argument("--target", choices=("cpu", "opencl"), default="cpu", help="compile for this target (default cpu)")
    ap.add_argument("--entry", default=None, help="function to run (default: the only public one, else main)")
    ap.add_argument(
        "--input",
        dest="inputs_one",
        action="append",
        default=[],
        metavar="NAME=FILE.npy",
        help="the array of one argument (repeatable)",
    )
    ap.add_argument("--inputs", default=None, metavar="FILE.npz", help="arrays of arguments, keyed by argument name")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random inputs of arguments not given (default 0)")
    ap.add_argument("--out", default=None, metavar="FILE.npz", help="write the outputs to an .npz, keyed by name")
    ap.add_argument("--print", dest="print_outputs", action="store_true", help="print each output's values")
    ap.add_argument("--benchmark", type=int, default=0, metavar="N", help="run N more times and report the time")
    ap.add_argument("--allow-unregistered-dialect", action="store_true")
    ap.add_argument(
        "--input-shape",
        action="append",
        default=[],
        metavar="NAME=DxDx...",
        help="for a .onnx file: the static shape of an input with symbolic dims (repeatable)",
    )
    return ap


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return run_tool("irc-run", lambda sources: _main(args, sources))


def _error(message: str, location: Location | None = None) -> IRCError:
    return IRCError(Diagnostic(Severity.ERROR, message, location or FileLineColLoc(COMMAND_LINE, 1, 1)))


def _main(args: argparse.Namespace, sources: SourceManager) -> int:
    if not args.interpret and args.target != "cpu":
        raise _error("the OpenCL backend is not built yet (use --target cpu, or --interpret for the numpy reference)")
    import numpy as np

    from dialects import default_context
    from irc.interpreter import check_inputs, find_entry, interpret, result_names
    from irc.verifier import verify
    from textual_ir.parser import parse_module

    if args.input.lower().endswith(".onnx"):
        module = _import_onnx(args)
    else:
        if args.input_shape:
            raise _error("--input-shape applies to .onnx files")
        name, text = read_input(args.input)
        sources.add(name, text)
        module = parse_module(text, name, default_context(args.allow_unregistered_dialect))
    verify(module)
    try:
        func = find_entry(module, args.entry)
    except ValueError as err:
        raise _error(str(err), module.location) from None
    args.aliases = _aliases(func)
    if not args.interpret:
        return _run_cpu(args, module, func, np)
    arrays = _inputs(args, _specs(func), np)
    try:
        check_inputs(func, arrays)
    except ValueError as err:
        raise _error(str(err), func.location) from None
    entry = func.get_attr("sym_name").value
    try:
        outputs = interpret(module, *arrays, entry=entry)
    except ValueError as err:
        raise _error(str(err), func.location) from None
    if args.benchmark > 0:
        _benchmark(args.benchmark, lambda: interpret(module, *arrays, entry=entry))
    _report(args, result_names(func), outputs, np)
    return 0


def _import_onnx(args: argparse.Namespace) -> Any:
    from irc.frontend.onnx import import_onnx
    from tools.irc_translate import input_shapes

    return import_onnx(args.input, input_shapes(args.input_shape))


def _aliases(func: Any) -> dict[str, str]:
    """Argument names by their `irc.name` argument attribute (the ONNX input names)."""
    from irc.attributes import ArrayAttr, DictionaryAttr, StringAttr
    from irc.interpreter import argument_names

    arg_attrs = func.get_attr("arg_attrs")
    if not isinstance(arg_attrs, ArrayAttr):
        return {}
    out = {}
    for entry, name in zip(arg_attrs.elements, argument_names(func), strict=True):
        alias = entry.get("irc.name") if isinstance(entry, DictionaryAttr) else None
        if isinstance(alias, StringAttr):
            out[alias.value] = name
    return out


def _run_cpu(args: argparse.Namespace, module: Any, func: Any, np: Any) -> int:
    """Compile for this CPU, run the entry function, report (and time) it."""
    from irc.api import compile as compile_module
    from irc.symbol_table import symbol_name

    exe = compile_module(_entry_only(module, func), "cpu")
    fn = exe[symbol_name(func)]
    arrays = _inputs(args, [(p.name, p.shape, np.dtype(fn._dtypes[p.slot])) for p in fn.signature.inputs], np)
    try:
        outputs = fn.call_list(arrays)
    except ValueError as err:
        raise _error(str(err), func.location) from None
    _report(args, fn.output_names, outputs, np)
    if args.benchmark > 0:
        _benchmark_cpu(args.benchmark, lambda: fn.call_list(arrays), fn.memory_plan)
    return 0


def _entry_only(module: Any, entry: Any) -> Any:
    """A clone of `module` in which every function but the entry is private, so that the
    pipeline drops what the entry does not call (a broken helper does not stop the run)."""
    from irc.attributes import StringAttr
    from irc.traits import CallableOp

    clone = module.clone()
    index = list(module.body.ops).index(entry)
    for k, op in enumerate(clone.body.ops):
        if k != index and op.has_trait(CallableOp) and op.regions and op.regions[0].blocks:
            op.properties["sym_visibility"] = StringAttr("private")
    return clone


def _benchmark_cpu(runs: int, fn: Any, plan: dict[str, int]) -> None:
    import statistics

    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    median = statistics.median(times)
    sys.stdout.flush()  # the printed outputs come first when both streams go to a terminal
    sys.stderr.write(f"benchmark: {runs} runs, median {median * 1e3:.3f} ms, min {min(times) * 1e3:.3f} ms\n")
    if plan:
        sys.stderr.write(
            f"memory plan: arena {plan.get('arena_size', 0)} bytes, naive {plan.get('naive_size', 0)} bytes, "
            f"lower bound {plan.get('lower_bound', 0)} bytes\n"
        )
    else:
        sys.stderr.write("memory plan: no temporaries\n")


def _report(args: argparse.Namespace, names: list[str], outputs: list[Any], np: Any) -> None:
    if args.out is not None:
        _save(args.out, dict(zip(names, outputs, strict=True)), np)
    if args.print_outputs:
        _print_outputs(names, outputs, np)
    elif args.out is None:
        for out_name, arr in zip(names, outputs, strict=True):
            sys.stdout.write(f"{out_name}: shape {tuple(arr.shape)}, dtype {arr.dtype}\n")


# ----------------------------------------------------------------------------- inputs
def _specs(func: Any) -> list[tuple[str, tuple[int, ...], Any]]:
    """(name, shape, dtype) of each argument of a function of the (unlowered) module."""
    from irc.interpreter import argument_names, array_spec

    types = func.get_attr("function_type").value.inputs
    return [(n, *array_spec(t)) for n, t in zip(argument_names(func), types, strict=True)]


def _inputs(args: argparse.Namespace, specs: list[tuple[str, tuple[int, ...], Any]], np: Any) -> list[Any]:
    """One array per argument: from --input / --inputs, else random (seeded)."""
    names = [n for n, _, _ in specs]
    given: dict[str, Any] = {}
    if args.inputs is not None:
        with _open_array_file(args.inputs, np) as data:
            for key in data.files:
                name = _known(key, names, args.aliases)
                given[name] = data[key]
    for item in args.inputs_one:
        key, eq, path = item.partition("=")
        if not eq or not key or not path:
            raise _error(f"--input expects NAME=FILE.npy, got '{item}'")
        name = _known(key if key in args.aliases else key.removeprefix("%"), names, args.aliases)
        given[name] = _load_npy(path, np)
    rng = np.random.default_rng(args.seed)
    return [given[n] if n in given else _random(shape, dtype, rng, np) for n, shape, dtype in specs]


def _known(name: str, names: list[str], aliases: dict[str, str]) -> str:
    """The argument called `name`: its own name, or its ONNX name (`aliases`)."""
    if name in aliases:
        return aliases[name]
    if name not in names:
        shown = list(aliases) if aliases else names
        listing = ", ".join(f"'{n}'" for n in shown) or "none"
        raise _error(f"no argument named '{name}' (the arguments are: {listing})")
    return name


def _open_array_file(path: str, np: Any) -> Any:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise _error(f"could not read '{path}': {err}") from None


def _load_npy(path: str, np: Any) -> Any:
    data = _open_array_file(path, np)
    if not isinstance(data, np.ndarray):
        data.close()
        raise _error(f"'{path}' is an .npz archive; --input expects one array (.npy); use --inputs")
    return data


def _random(shape: tuple[int, ...], dtype: Any, rng: Any, np: Any) -> Any:
    """A random array: normal floats, small non-negative ints, fair booleans."""
    if dtype.kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    if dtype.kind == "b":
        return rng.random(shape) < 0.5
    return rng.integers(0, 4, size=shape).astype(dtype)


# ----------------------------------------------------------------------------- outputs
def _save(path: str, arrays: dict[str, Any], np: Any) -> None:
    try:
        with open(path, "wb") as f:
            np.savez(f, **arrays)
    except OSError as err:
        raise _error(f"could not write '{path}': {err.strerror or err}") from None


def _print_outputs(names: list[str], outputs: list[Any], np: Any) -> None:
    for out_name, arr in zip(names, outputs, strict=True):
        sys.stdout.write(f"{out_name}: shape {tuple(arr.shape)}, dtype {arr.dtype}\n")
        sys.stdout.write(np.array2string(arr, precision=6, separator=", ") + "\n")
    sys.stdout.flush()


def _benchmark(runs: int, fn: Any) -> None:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    mean = sum(times) / len(times)
    sys.stderr.write(f"benchmark: {runs} runs, mean {mean * 1e3:.3f} ms, min {min(times) * 1e3:.3f} ms\n")


if __name__ == "__main__":
    sys.exit(main())
