"""Dialects and the context that finds them by name, lazily.

`irc/` knows no concrete dialect: a `DialectRegistry` maps dialect names to the module that
defines them (see `dialects/__init__.py`) and imports a module the first time its name is
seen, so start-up only pays for what a file uses.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from irc.ir import Operation


@attrs.define(eq=False)
class Dialect:
    """A namespace of ops plus parsers for its `#dialect.name<...>` attributes and types."""

    name: str
    ops: Iterable[type[Operation]] = ()
    attribute_parsers: dict[str, Callable[[str | None], Any]] = attrs.field(factory=dict)
    type_parsers: dict[str, Callable[[str | None], Any]] = attrs.field(factory=dict)
    ops_by_name: dict[str, type[Operation]] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.ops = tuple(self.ops)
        self.ops_by_name = {op.name: op for op in self.ops}


class DialectRegistry:
    """Dialect name -> module path; the module's `DIALECT` is loaded on first use."""

    def __init__(self, modules: dict[str, str]):
        self._modules = dict(modules)
        self._loaded: dict[str, Dialect] = {}

    def names(self) -> list[str]:
        return sorted(self._modules)

    def get(self, name: str) -> Dialect | None:
        dialect = self._loaded.get(name)
        if dialect is not None:
            return dialect
        module = self._modules.get(name)
        if module is None:
            return None
        dialect = importlib.import_module(module).DIALECT
        self._loaded[name] = dialect
        return dialect


@attrs.define(eq=False)
class Context:
    registry: DialectRegistry
    allow_unregistered: bool = False

    def lookup_op(self, name: str) -> type[Operation] | None:
        dialect_name, _, _ = name.partition(".")
        dialect = self.registry.get(dialect_name)
        if dialect is None:
            return None
        return dialect.ops_by_name.get(name)

    def dialect(self, name: str) -> Dialect | None:
        return self.registry.get(name)
