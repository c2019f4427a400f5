"""Code generators: `irc.backend.llvm` (CPU, through llvmlite) and the lowered ABI they share
(`irc.backend.abi`). Nothing here is imported until a backend is used."""
