"""irc-translate: lower a .gir file and write LLVM IR, assembly or an object file; import ONNX.

irc-translate model.gir --emit=llvm-ir             optimized LLVM IR (-O3, this CPU) on stdout
irc-translate model.gir --emit=llvm-ir -O0         the translation as it is, before LLVM's passes
irc-translate model.gir --emit=asm -o model.s      assembly for this CPU
irc-translate model.gir --emit=obj -o model.o      an ELF/Mach-O object (entry points `__irc_call_<f>`)
irc-translate --import-onnx model.onnx -o model.gir   the model in the tensor dialect (needs `onnx`)
irc-translate --import-onnx m.onnx --input-shape x=1x3x224x224   fix an input's symbolic dims

A file that still has tensor ops runs through the `cpu` pipeline first, as `irc.compile` does;
`--pass-pipeline` runs another pipeline (a name of `passes.PIPELINES`, or pipeline text)
instead. A file at the loop level is translated as it is.
"""

from __future__ import annotations

import argparse
import sys

from irc.diagnostics import Diagnostic, IRCError, Severity, SourceManager
from irc.location import FileLineColLoc
from tools.common import read_input, run_tool, write_output

EMITS = ("llvm-ir", "asm", "obj", "opencl")


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="irc-translate", description="Translate a .gir file to LLVM IR, assembly or an object."
    )
    ap.add_argument("input", nargs="?", default="-", help="input file, or - for stdin (default)")
    ap.add_argument("--emit", choices=EMITS, default="llvm-ir", help="what to write (default llvm-ir)")
    ap.add_argument("-o", dest="output", default=None, help="output file (default stdout)")
    ap.add_argument("-O", dest="opt_level", type=int, choices=(0, 1, 2, 3), default=3, help="LLVM optimization level")
    ap.add_argument("--pass-pipeline", default=None, help="gir pipeline to run first (default: cpu when needed)")
    ap.add_argument("--allow-unregistered-dialect", action="store_true")
    ap.add_argument("--import-onnx", metavar="MODEL.onnx", default=None, help="import an ONNX model; print its .gir")
    ap.add_argument(
        "--input-shape",
        action="append",
        default=[],
        metavar="NAME=DxDx...",
        help="with --import-onnx: the static shape of an input with symbolic dims (repeatable)",
    )
    return ap


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return run_tool("irc-translate", lambda sources: _main(args, sources))


def _main(args: argparse.Namespace, sources: SourceManager) -> int:
    if args.import_onnx is not None:
        return _import_onnx(args)
    if args.input_shape:
        raise _command_line_error("--input-shape needs --import-onnx")
    if args.emit == "opencl":
        raise IRCError(
            Diagnostic(Severity.ERROR, "the OpenCL backend is not built yet", FileLineColLoc("<command line>", 1, 1))
        )
    from dialects import default_context
    from irc.api import lower
    from irc.backend import llvm
    from irc.verifier import verify
    from textual_ir.parser import parse_module

    name, text = read_input(args.input)
    sources.add(name, text)
    module = parse_module(text, name, default_context(args.allow_unregistered_dialect))
    verify(module)
    lowered = lower(module, args.pass_pipeline)
    if args.emit == "llvm-ir":
        write_output(args.output, llvm.emit_llvm_ir(lowered, args.opt_level))
    elif args.emit == "asm":
        write_output(args.output, llvm.emit_assembly(lowered, args.opt_level))
    else:
        _write_bytes(args.output, llvm.emit_object(lowered, args.opt_level))
    return 0


def _import_onnx(args: argparse.Namespace) -> int:
    """Print the tensor-dialect module of an ONNX model."""
    if args.input != "-":
        raise _command_line_error("give either an input file or --import-onnx, not both")
    from irc.frontend.onnx import import_onnx
    from textual_ir.printer import print_op

    module = import_onnx(args.import_onnx, input_shapes(args.input_shape))
    write_output(args.output, print_op(module))
    return 0


def input_shapes(options: list[str]) -> dict[str, tuple[int, ...]]:
    """The --input-shape options as a dict (a located command-line error when malformed)."""
    from irc.frontend.onnx import parse_input_shape

    shapes = {}
    for text in options:
        try:
            name, shape = parse_input_shape(text)
        except ValueError as err:
            raise _command_line_error(str(err)) from None
        shapes[name] = shape
    return shapes


def _command_line_error(message: str) -> IRCError:
    return IRCError(Diagnostic(Severity.ERROR, message, FileLineColLoc("<command line>", 1, 1)))


def _write_bytes(path: str | None, data: bytes) -> None:
    if path is None or path == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        with open(path, "wb") as f:
            f.write(data)
    except OSError as err:
        raise IRCError(
            Diagnostic(Severity.ERROR, f"could not open output file: {err.strerror or err}", FileLineColLoc(path, 1, 1))
        ) from None


if __name__ == "__main__":
    sys.exit(main())
