"""What the command-line tools share: reading input, reporting located errors, exit codes."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from irc.diagnostics import Diagnostic, IRCError, Severity, SourceManager
from irc.location import FileLineColLoc


def read_input(path: str) -> tuple[str, str]:
    """(display name, text) of a file or `-` (stdin). Raises a located IRCError."""
    if path == "-":
        data = sys.stdin.buffer.read()
        name = "<stdin>"
    else:
        name = path
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as err:
            raise IRCError(
                Diagnostic(
                    Severity.ERROR, f"could not open input file: {err.strerror or err}", FileLineColLoc(name, 1, 1)
                )
            ) from None
    try:
        # A UTF-8 byte order mark (as some Windows editors write) is not part of the text.
        return name, data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as err:
        text = data.decode("utf-8", errors="replace")
        line = data[: err.start].count(b"\n") + 1
        col = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        raise IRCError(
            Diagnostic(Severity.ERROR, "input is not valid UTF-8", FileLineColLoc(name, line, col))
        ) from _Text(name, text)


class _Text(Exception):
    """Carries the text of an unreadable file so its error can still quote the line."""

    def __init__(self, name: str, text: str) -> None:
        super().__init__(name)
        self.name, self.text = name, text


def run_tool(prog: str, body: Callable[[SourceManager], int]) -> int:
    """Run `body`, turning located errors into `file:line:col: error: ...` and exit 1.

    Unexpected exceptions (compiler bugs) are reported in one line with exit 2, never as a
    traceback, unless IRC_DEBUG is set.
    """
    sources = SourceManager()
    try:
        return body(sources)
    except IRCError as err:
        cause = err.__cause__
        if isinstance(cause, _Text):
            sources.add(cause.name, cause.text)
        sys.stderr.write(sources.render(err.diagnostic) + "\n")
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except RecursionError:
        sys.stderr.write(f"{prog}: error: input is nested too deeply\n")
        return 1
    except Exception as err:
        if os.environ.get("IRC_DEBUG"):
            raise
        sys.stderr.write(f"{prog}: internal error: {type(err).__name__}: {err} (set IRC_DEBUG=1 for a traceback)\n")
        return 2


def write_output(path: str | None, text: str) -> None:
    if path is None or path == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as err:
        raise IRCError(
            Diagnostic(Severity.ERROR, f"could not open output file: {err.strerror or err}", FileLineColLoc(path, 1, 1))
        ) from None
