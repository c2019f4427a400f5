"""gir's core IR. Kept cheap to import: `irc.interpret` loads the interpreter (and numpy) on first use."""

from __future__ import annotations


def interpret(module: object, *arrays: object, entry: str | None = None) -> list:
    """Run a function of `module` with numpy; see `irc.interpreter.interpret`."""
    from irc.interpreter import interpret as _interpret

    return _interpret(module, *arrays, entry=entry)


def compile(module: object, target: str = "cpu", pipeline: str | None = None, **options: object) -> object:
    """Compile `module` for `target` (default "cpu"); see `irc.api.compile`."""
    from irc.api import compile as _compile

    return _compile(module, target, pipeline, **options)


def import_onnx(model: object, shapes: object = None, **options: object) -> object:
    """The tensor-dialect module of an ONNX model (a path, bytes or an onnx.ModelProto); see
    `irc.frontend.onnx.import_onnx`. Needs the optional `onnx` package."""
    from irc.frontend.onnx import import_onnx as _import_onnx

    return _import_onnx(model, shapes, **options)
