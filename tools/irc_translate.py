"""irc-translate: emit LLVM IR, assembly, objects or OpenCL C (arrives with the backends)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    sys.stderr.write("irc-translate: not built yet (it comes with the CPU and OpenCL backends)\n")
    return 1


if __name__ == "__main__":
    sys.exit(main())
