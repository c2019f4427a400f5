"""Frontends: other formats read into gir's IR. `irc.frontend.onnx` imports ONNX models (with
the optional `onnx` package). Nothing here is imported until a frontend is used."""
