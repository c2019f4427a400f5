"""gir's core IR. Kept cheap to import: `irc.interpret` loads the interpreter (and numpy) on first use."""

from __future__ import annotations


def interpret(module: object, *arrays: object, entry: str | None = None) -> list:
    """Run a function of `module` with numpy; see `irc.interpreter.interpret`."""
    from irc.interpreter import interpret as _interpret

    return _interpret(module, *arrays, entry=entry)
