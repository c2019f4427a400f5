"""A contextual lexer built from the terminals of grammar.lark.

For each LALR state it compiles one alternation of just the terminals that state accepts
(cached by the set), so keywords such as `to` or `module` are keywords only where the
grammar expects them, and `4x` lexes as a shape prefix only inside `tensor<...>`.
Identifier-like string terminals (keywords) are not put in the regex: an identifier is
matched and retyped when the state accepts that keyword.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

SKIP = re.compile(r"(?:\s+|//[^\n]*)*")
_IDENT = re.compile(r"[A-Za-z_][\w$.]*\Z")
_ID_TERMINALS = ("DOTTED_ID", "BARE_ID")


class TerminalTable:
    """Terminal definitions taken from the Lark grammar, and the per-state regexes."""

    def __init__(self, terminals: Iterable) -> None:
        self.patterns: dict[str, str] = {}
        self.order: dict[str, tuple] = {}
        self.keywords: dict[str, str] = {}  # keyword text -> terminal name
        self.literal: dict[str, str] = {}  # terminal name -> literal text, for messages
        for index, term in enumerate(terminals):
            pattern = term.pattern
            if pattern.type == "str":
                self.literal[term.name] = pattern.value
                if _IDENT.match(pattern.value):
                    self.keywords[pattern.value] = term.name
                    continue
                regex = re.escape(pattern.value)
                key = (-term.priority, 0, -len(pattern.value), index)
            else:
                regex = pattern.to_regexp()
                key = (-term.priority, 1, 0, index)
            self.patterns[term.name] = regex
            self.order[term.name] = key
        self._cache: dict[frozenset[str], tuple[re.Pattern[str], dict[str, str]]] = {}

    def for_state(self, accepted: frozenset[str]) -> re.Pattern[str]:
        """The regex of the terminals in `accepted`. Accepted keywords come first, each as a
        whole identifier (`to` but not `total`); identifiers are then matched as usual, so a
        non-keyword identifier still reads as one token in error messages."""
        found = self._cache.get(accepted)
        if found is not None:
            return found
        keywords = sorted((text, name) for text, name in self.keywords.items() if name in accepted)
        names = [n for n in accepted if n in self.patterns]
        if keywords:
            names.extend(n for n in _ID_TERMINALS if n not in names)
        names.sort(key=lambda n: self.order[n])
        alternatives = [rf"(?P<{name}>{re.escape(text)}(?![\w$.]))" for text, name in keywords]
        alternatives += [f"(?P<{n}>{self.patterns[n]})" for n in names]
        found = re.compile("|".join(alternatives))
        self._cache[accepted] = found
        return found

    def describe(self, name: str) -> str:
        if name == "$END":
            return "end of input"
        if name in self.literal:
            return f"'{self.literal[name]}'"
        return _DESCRIPTIONS.get(name, name.lower())


_DESCRIPTIONS = {
    "SSA_DEFS": "result list ('%x =')",
    "VALUE": "SSA value",
    "GENERIC_NAME": "generic operation name",
    "STRING": "string",
    "BLOCK_ID": "block label",
    "SYMBOL": "symbol reference",
    "ATTR_ALIAS_DEF": "attribute alias definition",
    "TYPE_ALIAS_DEF": "type alias definition",
    "DIALECT_ATTR": "dialect attribute",
    "DIALECT_TYPE": "dialect type",
    "ATTR_ALIAS": "attribute alias",
    "TYPE_ALIAS": "type alias",
    "DENSE_BODY": "dense<...>",
    "DENSE_RESOURCE": "dense_resource<...>",
    "ARRAY_BODY": "array<...>",
    "DIMS": "shape",
    "HEX": "hexadecimal integer",
    "FLOAT": "float",
    "INT": "integer",
    "DOTTED_ID": "operation name",
    "BARE_ID": "identifier",
}
