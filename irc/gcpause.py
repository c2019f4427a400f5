"""Pausing Python's cyclic garbage collector around phases that make no cyclic garbage.

Parsing, verifying and printing a large module allocate many objects that all stay alive;
the collector's full passes over them would cost 10-30% of those phases.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
