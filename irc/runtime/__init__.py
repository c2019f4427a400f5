"""Runtimes: `irc.runtime.cpu` runs JIT-compiled code on numpy arrays."""
