"""The CPU runtime: JIT-compiled functions that take and return numpy arrays.

`CPUExecutable.build(lowered_module)` translates the module to LLVM (irc.backend.llvm), compiles
it to an object for this CPU, loads the object into an MCJIT execution engine and looks up
each function's entry point `__irc_call_<name>(void **args)` (see irc.backend.abi). Calls go
through ctypes, which releases the GIL for the duration of the call.

- Inputs are checked against the lowered signature (shape and dtype; ValueError naming the
  argument). Non-contiguous, misaligned or byte-swapped arrays are copied; an input that
  overlaps another one is copied too, so that every buffer the code sees is distinct (the
  generated code marks them `noalias`).
- Outputs are 64-byte aligned arrays owned by the caller. Their memory comes from a pool per
  executable: when the caller drops an output array (and every view of it), its memory goes
  back to the pool and a later call reuses it, so steady-state calls do not page-fault fresh
  memory (what ONNX Runtime's arena achieves). `BufferPool.MAX_CACHED_BYTES` bounds the pool.
- The arena (the argument marked `irc.arena`) is allocated once per executable and reused by
  every call: an executable is not thread-safe; use one per thread.
- Parallel loops run on threads (see irc.backend.threads): as many as `IRC_NUM_THREADS` says
  when the executable is built, else the CPUs this process may run on; `exe.num_threads`
  reads and changes it.
- Object code is cached on disk, keyed by the sha256 of the lowered module's text, the CPU
  name and features, the llvmlite version and the code generator's sources:
  `$XDG_CACHE_HOME/gir` or `~/.cache/gir`; `IRC_NO_CACHE=1` turns the cache off. A hit skips
  translation, LLVM's optimizer and code generation.
- Globals of at least `EXTERNAL_GLOBAL_BYTES` are not compiled into the object: the code reads
  their address from a pointer slot that the runtime fills with an array it owns, so big
  weights go neither through LLVM nor into the cache.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from irc.attributes import numpy_dtype
from irc.backend import abi, threads
from irc.ir import Operation

ALIGNMENT = 64
EXTERNAL_GLOBAL_BYTES = 1 << 20
_CALL = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


# ----------------------------------------------------------------------------- cache
def cache_dir() -> Path | None:
    """Where compiled objects are kept, or None when IRC_NO_CACHE is set."""
    if os.environ.get("IRC_NO_CACHE", "") not in ("", "0"):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "gir"


def _backend_digest() -> str:
    """Hash of the code generator's sources: a changed backend never reuses stale objects."""
    import irc.backend.llvm as llvm_backend

    h = hashlib.sha256()
    folder = Path(llvm_backend.__file__).parent
    for name in ("abi.py", "cpu_math.py", "llvm.py", "threads.py"):
        h.update((folder / name).read_bytes())
    return h.hexdigest()


def _load_cached(key: str) -> bytes | None:
    folder = cache_dir()
    if folder is None:
        return None
    try:
        return (folder / f"{key}.o").read_bytes()
    except OSError:
        return None


def _store_cached(key: str, data: bytes) -> None:
    folder = cache_dir()
    if folder is None:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, folder / f"{key}.o")
    except OSError:
        pass  # a read-only or full disk only costs the next compile its time


# ----------------------------------------------------------------------------- arrays
def aligned_empty(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """An uninitialized C-contiguous array whose data is 64-byte aligned."""
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(nbytes + ALIGNMENT, dtype=np.uint8)
    offset = (-raw.ctypes.data) % ALIGNMENT
    return raw[offset : offset + nbytes].view(dtype).reshape(shape)


class BufferPool:
    """Recycles output memory: `take(shape, dtype)` gives an aligned array whose memory returns
    to the pool when the array (and every view of it) is gone."""

    MAX_CACHED_BYTES = 1 << 30

    def __init__(self) -> None:
        self._free: dict[int, list[np.ndarray]] = {}
        self._cached = 0

    def take(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        free = self._free.get(nbytes)
        if free:
            raw = free.pop()
            self._cached -= nbytes
        else:
            raw = aligned_empty((max(nbytes, 1),), np.dtype(np.uint8))
        lease = _Lease(raw, self, shape, dtype)
        return np.asarray(lease)

    def give_back(self, raw: np.ndarray) -> None:
        nbytes = raw.nbytes if raw.nbytes > 1 else 0
        if self._cached + nbytes > self.MAX_CACHED_BYTES:
            return
        self._free.setdefault(nbytes, []).append(raw)
        self._cached += nbytes


class _Lease:
    """The base object of a pooled output array (numpy keeps it alive through
    `__array_interface__`); its end returns the memory to the pool."""

    __slots__ = ("__array_interface__", "pool", "raw")

    def __init__(self, raw: np.ndarray, pool: BufferPool, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.raw, self.pool = raw, pool
        self.__array_interface__ = {
            "shape": tuple(shape),
            "typestr": dtype.str,
            "data": (_address(raw), False),
            "version": 3,
        }

    def __del__(self) -> None:
        try:
            self.pool.give_back(self.raw)
        except Exception:  # interpreter shutdown: nothing to give back to
            pass


def _address(arr: np.ndarray) -> int:
    return arr.__array_interface__["data"][0]


# ----------------------------------------------------------------------------- functions
class CompiledFunction:
    """One compiled function: `f(x, y)` or `f(x=..., y=...)` returns its outputs (one array,
    or a tuple when there are several)."""

    def __init__(self, exe: CPUExecutable, sig: abi.Signature, address: int) -> None:
        self.exe = exe
        self.signature = sig
        self.name = sig.name
        self._fn = _CALL(address)
        self._slots = np.zeros(len(sig.params), dtype=np.uintp)
        self._slots_ptr = self._slots.ctypes.data
        self._dtypes = {p.slot: numpy_dtype(p.element_type) for p in sig.params}

    @property
    def input_names(self) -> list[str]:
        return [p.name for p in self.signature.inputs]

    @property
    def output_names(self) -> list[str]:
        return [p.name for p in self.signature.outputs]

    @property
    def memory_plan(self) -> dict[str, int]:
        """`arena_size`, `naive_size`, `lower_bound` in bytes (those the plan recorded)."""
        return dict(self.signature.plan)

    def __call__(self, *arrays: Any, **named: Any) -> Any:
        outs = self.call_list(self._bind(arrays, named))
        return outs[0] if len(outs) == 1 else tuple(outs)

    def _bind(self, arrays: Sequence[Any], named: Mapping[str, Any]) -> list[Any]:
        inputs = self.signature.inputs
        names = [p.name for p in inputs]
        if len(arrays) > len(inputs):
            raise ValueError(
                f"@{self.name} takes {len(inputs)} argument(s) ({', '.join('%' + n for n in names)}), "
                f"but {len(arrays)} were given"
            )
        values: dict[str, Any] = dict(zip(names, arrays, strict=False))
        for key, value in named.items():
            if key not in names:
                raise ValueError(f"@{self.name} has no argument named '{key}' (the arguments are: {', '.join(names)})")
            if key in values:
                raise ValueError(f"argument %{key} of @{self.name} given twice")
            values[key] = value
        missing = [n for n in names if n not in values]
        if missing:
            raise ValueError(f"@{self.name}: missing argument(s) {', '.join('%' + n for n in missing)}")
        return [values[n] for n in names]

    def call_list(self, arrays: Sequence[Any]) -> list[np.ndarray]:
        """Runs the function on the inputs in order; the outputs in order."""
        sig = self.signature
        slots = self._slots
        keep: list[np.ndarray] = []
        pool = self.exe._pool
        for p, given in zip(sig.inputs, arrays, strict=True):
            arr = self._check(p, given, keep)
            keep.append(arr)
            slots[p.slot] = _address(arr)
        outputs = []
        for p in sig.outputs:
            out = pool.take(p.shape, self._dtypes[p.slot])
            outputs.append(out)
            slots[p.slot] = _address(out)
        arena = sig.arena
        if arena is not None:
            slots[arena.slot] = self.exe._arena_address
        self._fn(self._slots_ptr)
        return outputs

    def _check(self, p: abi.Param, given: Any, others: list[np.ndarray]) -> np.ndarray:
        dtype = self._dtypes[p.slot]
        if isinstance(given, bool | int | float) and not isinstance(given, np.generic):
            given = np.asarray(given, dtype=dtype)
        arr = np.asarray(given)
        if arr.shape != p.shape or arr.dtype.newbyteorder("=") != dtype:
            raise ValueError(
                f"argument %{p.name} of @{self.name}: expected an array of shape {p.shape} and dtype {dtype}, "
                f"got an array of shape {arr.shape} and dtype {arr.dtype}"
            )
        arr = np.require(arr, dtype=dtype, requirements=("C_CONTIGUOUS", "ALIGNED"))
        if any(np.may_share_memory(arr, o) for o in others):
            arr = arr.copy()
        return arr


# ----------------------------------------------------------------------------- executable
class CPUExecutable:
    """The compiled functions of a lowered module: `exe.main(x)`, `exe["main"](x)`,
    `exe.run("main", {"x": x})`. Not thread-safe (the arena is shared by all calls)."""

    def __init__(self) -> None:
        raise TypeError("use CPUExecutable.build(lowered_module) or irc.compile(...)")

    @classmethod
    def build(cls, module: Operation, *, opt_level: int = 3, use_cache: bool = True) -> CPUExecutable:
        """Compiles a lowered module (func/arith/math/memref/loop/vector only)."""
        import llvmlite
        import llvmlite.binding as llvm

        from dialects import func, memref
        from irc.backend import llvm as backend
        from textual_ir.printer import print_op

        self = object.__new__(cls)
        self._pool = BufferPool()
        self.module = module
        self.info: dict[str, Any] = {}
        funcs = [op for op in module.body.ops if isinstance(op, func.FuncOp) and not op.is_declaration]
        sigs = [abi.signature(f) for f in funcs]
        globals_ = [op for op in module.body.ops if isinstance(op, memref.GlobalOp)]
        external = frozenset(
            g.sym_name.value for g in globals_ if memref.byte_size(g.memref_type) >= EXTERNAL_GLOBAL_BYTES
        )

        t0 = time.perf_counter()
        cpu, features = backend.host_cpu()
        h = hashlib.sha256()
        for part in (print_op(module), cpu, features, llvmlite.__version__, _backend_digest(), str(opt_level)):
            h.update(part.encode())
            h.update(b"\0")
        for g in globals_:
            if g.sym_name.value in external:
                h.update(g.sym_name.value.encode() + b"=external\0")
        key = h.hexdigest()
        obj = _load_cached(key) if use_cache else None
        self.cache_hit = obj is not None
        if obj is None:
            ref = backend.compile_module(module, opt_level, external)
            obj = backend.host_target_machine().emit_object(ref)
            if use_cache:
                _store_cached(key, obj)
        self.info["compile_s"] = time.perf_counter() - t0
        self.info["cache"] = "hit" if self.cache_hit else ("miss" if use_cache and cache_dir() else "off")
        self.key = key

        # One engine per executable; it owns its own target machine.
        target = llvm.Target.from_default_triple()
        tm = target.create_target_machine(cpu=cpu, features=features, opt=opt_level, reloc="pic", codemodel="default")
        empty = llvm.parse_assembly("")
        empty.triple = tm.triple
        self._engine = llvm.create_mcjit_compiler(empty, tm)
        self._object = llvm.ObjectFileRef.from_data(obj)
        self._engine.add_object_file(self._object)
        threads.ensure_pool()  # parallel loops call the process's pool (__irc_parallel_for)
        self._engine.finalize_object()
        self._num_threads_address = self._engine.get_global_value_address(threads.NUM_THREADS_GLOBAL)
        self.num_threads = threads.num_threads()

        self._globals: list[np.ndarray] = []
        for g in globals_:
            name = g.sym_name.value
            if name not in external:
                continue
            data = np.frombuffer(backend.global_bytes(g), dtype=np.uint8)
            buf = aligned_empty(data.shape, np.dtype(np.uint8))
            buf[...] = data
            self._globals.append(buf)
            slot = self._engine.get_global_value_address(backend.global_slot_symbol(name))
            ctypes.c_void_p.from_address(slot).value = _address(buf)

        arena_bytes = max([s.arena.byte_size for s in sigs if s.arena is not None], default=0)
        self.arena_size = arena_bytes
        self._arena = aligned_empty((max(arena_bytes, 1),), np.dtype(np.uint8))
        self._arena_address = _address(self._arena)

        self.functions: dict[str, CompiledFunction] = {}
        for sig in sigs:
            address = self._engine.get_function_address(sig.wrapper_name)
            if not address:
                raise RuntimeError(f"the compiled object has no entry point for @{sig.name}")
            self.functions[sig.name] = CompiledFunction(self, sig, address)
        return self

    # -- threads
    @property
    def num_threads(self) -> int:
        """Threads a parallel loop of this executable may use: `IRC_NUM_THREADS` when the
        executable was built, else the CPUs this process may run on. Settable."""
        return self._num_threads

    @num_threads.setter
    def num_threads(self, n: int) -> None:
        n = int(n)
        if n < 1:
            raise ValueError(f"num_threads must be at least 1, got {n}")
        self._num_threads = n
        if self._num_threads_address:
            ctypes.c_int32.from_address(self._num_threads_address).value = n

    # -- access
    def __getitem__(self, name: str) -> CompiledFunction:
        fn = self.functions.get(name.removeprefix("@"))
        if fn is None:
            raise KeyError(f"no function @{name.removeprefix('@')} (functions: {', '.join(self.functions)})")
        return fn

    def __getattr__(self, name: str) -> CompiledFunction:
        functions = self.__dict__.get("functions")
        if functions is not None and name in functions:
            return functions[name]
        raise AttributeError(name)

    def __contains__(self, name: str) -> bool:
        return name.removeprefix("@") in self.functions

    def run(self, name: str, inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Runs `name` on inputs keyed by argument name; the outputs keyed by output name."""
        fn = self[name]
        outs = fn.call_list(fn._bind((), inputs))
        return dict(zip(fn.output_names, outs, strict=True))

    def memory_plan(self, name: str) -> dict[str, int]:
        return self[name].memory_plan
