"""irc-run: compile and execute a function (arrives with the tensor dialect and CPU backend)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    sys.stderr.write("irc-run: not built yet (it comes with the tensor dialect and the CPU backend)\n")
    return 1


if __name__ == "__main__":
    sys.exit(main())
