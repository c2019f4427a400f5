"""Diagnostics: located errors, notes and warnings, rendered as `file:line:col: error: ...`.

A diagnostic carries a location attribute; rendering looks the file up in a `SourceManager`
to show the offending line with a caret under the column.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator

import attrs

from irc.location import Location, UnknownLoc, file_location


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"
    REMARK = "remark"


@attrs.define(eq=False)
class Diagnostic:
    """One message at one location, with notes attached (MLIR's attachNote)."""

    severity: Severity
    message: str
    location: Location = attrs.field(factory=UnknownLoc)
    notes: list[Diagnostic] = attrs.field(factory=list)

    def attach_note(self, message: str, location: Location | None = None) -> Diagnostic:
        note = Diagnostic(Severity.NOTE, message, location if location is not None else self.location)
        self.notes.append(note)
        return note

    def all(self) -> Iterator[Diagnostic]:
        yield self
        yield from self.notes


class IRCError(Exception):
    """An error with a located diagnostic. Tools render it and exit 1."""

    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


def error(message: str, location: Location | None = None) -> IRCError:
    return IRCError(Diagnostic(Severity.ERROR, message, location if location is not None else UnknownLoc()))


class SourceManager:
    """Keeps the text of every parsed buffer so diagnostics can quote the line."""

    def __init__(self) -> None:
        self._lines: dict[str, list[str]] = {}
        self._line_offset: dict[str, int] = {}

    def add(self, filename: str, text: str, line_offset: int = 0) -> None:
        self._lines[filename] = text.splitlines()
        self._line_offset[filename] = line_offset

    def line(self, filename: str, line: int) -> str | None:
        lines = self._lines.get(filename)
        if lines is None:
            return None
        index = line - 1 - self._line_offset.get(filename, 0)
        if 0 <= index < len(lines):
            return lines[index]
        return None

    def render(self, diag: Diagnostic) -> str:
        return "\n".join(self._render_one(d) for d in diag.all())

    def _render_one(self, diag: Diagnostic) -> str:
        loc = file_location(diag.location)
        if loc is None:
            # A location with no file position (`loc("name")`) is shown as written, like MLIR.
            where = "<unknown>:0:0" if isinstance(diag.location, UnknownLoc) else str(diag.location)
            return f"{where}: {diag.severity.value}: {diag.message}"
        head = f"{loc.filename}:{loc.line}:{loc.column}: {diag.severity.value}: {diag.message}"
        text = self.line(loc.filename, loc.line)
        if text is None:
            return head
        caret_col = max(loc.column - 1, 0)
        prefix = "".join(c if c == "\t" else " " for c in text[:caret_col])
        return f"{head}\n{text}\n{prefix}^"
