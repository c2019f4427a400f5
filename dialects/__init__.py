"""The dialects of gir, one module each. Modules load on first use of their name."""

from irc.context import DialectRegistry

DIALECT_MODULES = {
    "builtin": "dialects.builtin",
    "func": "dialects.func",
    "arith": "dialects.arith",
    "tensor": "dialects.tensor",
    "loop": "dialects.loop",
    "memref": "dialects.memref",
    "math": "dialects.math",
    "vector": "dialects.vector",
    "test": "dialects.test",
}

REGISTRY = DialectRegistry(DIALECT_MODULES)


def default_context(allow_unregistered: bool = False):
    """A context with every dialect of this project (each imported on first use)."""
    from irc.context import Context

    return Context(REGISTRY, allow_unregistered)
