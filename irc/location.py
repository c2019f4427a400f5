"""Location attributes: where an operation came from (MLIR's `loc(...)`)."""

from __future__ import annotations

import attrs


class Location:
    """Base of all location attributes."""

    __slots__ = ()


@attrs.frozen(cache_hash=True)
class UnknownLoc(Location):
    def __str__(self) -> str:
        return "loc(unknown)"


@attrs.frozen(cache_hash=True)
class FileLineColLoc(Location):
    filename: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"loc({_quote(self.filename)}:{self.line}:{self.column})"


@attrs.frozen(cache_hash=True)
class NameLoc(Location):
    name: str
    child: Location | None = None

    def __str__(self) -> str:
        if self.child is None or isinstance(self.child, UnknownLoc):
            return f"loc({_quote(self.name)})"
        return f"loc({_quote(self.name)}({_inner(self.child)}))"


@attrs.frozen(cache_hash=True)
class CallSiteLoc(Location):
    callee: Location
    caller: Location

    def __str__(self) -> str:
        return f"loc(callsite({_inner(self.callee)} at {_inner(self.caller)}))"


@attrs.frozen(cache_hash=True)
class FusedLoc(Location):
    locations: tuple[Location, ...] = attrs.field(converter=tuple)
    metadata: object | None = None

    def __str__(self) -> str:
        meta = "" if self.metadata is None else f"<{self.metadata}>"
        return f"loc(fused{meta}[{', '.join(_inner(loc) for loc in self.locations)}])"


def _quote(text: str) -> str:
    from irc.attributes import quote_string

    return quote_string(text)


def _inner(loc: Location) -> str:
    """The text of a location without the surrounding `loc(...)`."""
    text = str(loc)
    return text[4:-1]


def file_location(loc: Location | None) -> FileLineColLoc | None:
    """The first file:line:col position a location refers to, if any."""
    if loc is None:
        return None
    if isinstance(loc, FileLineColLoc):
        return loc
    if isinstance(loc, NameLoc):
        return file_location(loc.child)
    if isinstance(loc, CallSiteLoc):
        return file_location(loc.callee) or file_location(loc.caller)
    if isinstance(loc, FusedLoc):
        for inner in loc.locations:
            found = file_location(inner)
            if found is not None:
                return found
    return None
