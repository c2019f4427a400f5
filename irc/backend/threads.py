"""CPU threads for `loop.parallel`: the work estimate the code generator uses, the process-wide
thread pool that generated code calls, and the thread count.

Generated code (see `irc.backend.llvm`, `_outline_parallel`) outlines the body of a top-level
`loop.parallel` into `task(ptr ctx, i64 begin, i64 end)` over the flattened iteration space and
calls

    void __irc_parallel_for(ptr task, ptr ctx, i64 total, i64 n)

which runs `task(ctx, b_k, e_k)` for `n` contiguous chunks `[b_k, e_k)` of `[0, total)` (chunk k
on worker k-1, chunk 0 on the calling thread) and returns when all are done. `n` is at most
the module's `@__irc_num_threads`, an i32 global (1 in the object file) that the runtime sets at
load time from `num_threads()`.

The pool is LLVM IR too (`POOL_IR`), compiled once per process into its own MCJIT engine; its
entry point is registered with `llvm.add_symbol`, so every JIT-loaded object resolves to the
same pool. Workers are pthreads started on demand (never more than the largest `n` asked for),
created with all signals blocked, and sleep on a condition variable between jobs after a
short spin. One job runs at a time: a `__irc_parallel_for` that finds the pool busy (a parallel
loop reached from inside another one's body through `func.call`, or two executables called
from two Python threads at once) runs its whole range on the calling thread; so nothing can
deadlock and no thread waits for a pool it occupies. After `fork` the child starts with an
empty pool (`os.register_at_fork`).
"""

from __future__ import annotations

import ctypes
import os
import signal
import threading
from typing import Any

# A top-level loop.parallel is run on threads when (trip count) x (estimated ops per iteration)
# reaches this. A dispatch costs ~0.1 us when the workers are still spinning from the previous
# one and 5-30 us when they must be woken; 2^16 scalar ops take a few microseconds on one core
# (vectorized), so smaller loops stay on the calling thread.
MIN_PARALLEL_WORK = 1 << 16
# Iterations of a nested loop whose trip count is not a constant, for the estimate.
UNKNOWN_TRIP_COUNT = 16
MAX_THREADS = 1024

PARALLEL_FOR = "__irc_parallel_for"
NUM_THREADS_GLOBAL = "__irc_num_threads"


# ----------------------------------------------------------------------------- thread count
def _cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def num_threads() -> int:
    """Threads a parallel loop may use: `IRC_NUM_THREADS` when set (a positive integer; it may
    exceed the cores, which only tests want), else the CPUs this process may run on."""
    env = os.environ.get("IRC_NUM_THREADS", "").strip()
    if env:
        try:
            n = int(env)
        except ValueError:
            n = 0
        if n < 1:
            raise ValueError(f"IRC_NUM_THREADS must be a positive integer, got '{env}'")
        return min(n, MAX_THREADS)
    return min(_cpus(), MAX_THREADS)


# ----------------------------------------------------------------------------- work estimate
def work_estimate(block: Any) -> int:
    """Ops one iteration of a loop body runs: nested loops count their bodies times their trip
    count (UNKNOWN_TRIP_COUNT when it is not constant); vector ops count their lanes."""
    from irc.types import VectorType

    total = 0
    for op in block.ops:
        if op.regions:
            inner = sum(work_estimate(b) for r in op.regions for b in r.blocks)
            trips = 1
            bounds = op.constant_bounds() if hasattr(op, "constant_bounds") else None
            for bound in bounds or ():
                if bound is None:
                    trips *= UNKNOWN_TRIP_COUNT
                else:
                    lb, ub, step = bound
                    trips *= max(0, -(-(ub - lb) // step)) if step > 0 else 0
            total += 1 + trips * inner
        else:
            lanes = 1
            for v in (*op.results, *op.operands):
                if isinstance(v.type, VectorType) and v.type.has_static_shape:
                    lanes = max(lanes, v.type.num_elements if hasattr(v.type, "num_elements") else _prod(v.type.shape))
            total += lanes
        if total >= 1 << 40:
            return 1 << 40
    return max(total, 1)


def _prod(shape: Any) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def min_parallel_trips(work_per_iteration: int) -> int:
    """The smallest trip count worth splitting over threads (at least 2)."""
    return max(2, -(-MIN_PARALLEL_WORK // max(1, work_per_iteration)))


# ----------------------------------------------------------------------------- the pool
# How long a thread polls for the next job (a worker) or for the workers to finish (the caller)
# before it sleeps on a condition variable: TSC cycles on x86 (2^19: about 0.2 ms), polls
# elsewhere. Consecutive parallel loops (the ops of one call, or calls in a loop) then start in
# well under a microsecond instead of a futex wake-up (5-50 us, more on a VM). Not when there
# are more threads than CPUs: spinning would take the CPU from the threads with work.
SPIN_CYCLES = 1 << 19
SPIN_PAUSE_CYCLES = 1 << 14  # the first part of it (about 6 us) polls without yielding


def pool_ir() -> str:
    """The pool's LLVM IR (see the module docstring). Workers get their index and the job
    generation at creation packed in their argument (index | generation << 16)."""
    sig_setmask = int(getattr(signal, "SIG_SETMASK", 2))
    x86 = _is_x86()
    spin_budget = SPIN_CYCLES if x86 else SPIN_CYCLES // 64
    spin_until_ne = _spin_ir("spin_until_ne", "ne", "differs from %old", x86)
    spin_zero = _spin_ir("spin_zero", "eq", "equals %old", x86)
    return f"""
@mutex = internal global [128 x i8] zeroinitializer, align 64
@work_cv = internal global [128 x i8] zeroinitializer, align 64
@done_cv = internal global [128 x i8] zeroinitializer, align 64
@busy = internal global i32 0, align 64
@gen = internal global i64 0, align 64
@job_fn = internal global ptr null, align 8
@job_ctx = internal global ptr null, align 8
@job_total = internal global i64 0, align 8
@job_n = internal global i64 0, align 8
@remaining = internal global i64 0, align 64
@nworkers = internal global i64 0, align 64
@ncpu = internal global i64 1, align 64
@spin_budget = internal global i64 0, align 64

declare i32 @pthread_mutex_init(ptr, ptr) nounwind
declare i32 @pthread_cond_init(ptr, ptr) nounwind
declare i32 @pthread_mutex_lock(ptr) nounwind
declare i32 @pthread_mutex_unlock(ptr) nounwind
declare i32 @pthread_cond_wait(ptr, ptr) nounwind
declare i32 @pthread_cond_broadcast(ptr) nounwind
declare i32 @pthread_cond_signal(ptr) nounwind
declare i32 @pthread_create(ptr, ptr, ptr, ptr) nounwind
declare i32 @pthread_detach(i64) nounwind
declare i32 @sigfillset(ptr) nounwind
declare i32 @pthread_sigmask(i32, ptr, ptr) nounwind
declare void @llvm.x86.sse2.pause() nounwind
declare i64 @llvm.readcyclecounter() nounwind
declare i32 @sched_yield() nounwind

define void @__irc_pool_init(i64 %ncpu) nounwind {{
  store i64 %ncpu, ptr @ncpu, align 64
  call i32 @pthread_mutex_init(ptr @mutex, ptr null)
  call i32 @pthread_cond_init(ptr @work_cv, ptr null)
  call i32 @pthread_cond_init(ptr @done_cv, ptr null)
  store atomic i64 0, ptr @nworkers seq_cst, align 64
  store atomic i64 0, ptr @remaining seq_cst, align 64
  store atomic i32 0, ptr @busy seq_cst, align 64
  ret void
}}

; chunk k of n over [0, total): [k*q + min(k, r), (k+1)*q + min(k+1, r)) with q, r = divmod(total, n)
define internal i64 @chunk_begin(i64 %k, i64 %total, i64 %n) nounwind alwaysinline {{
  %q = udiv i64 %total, %n
  %r = urem i64 %total, %n
  %kq = mul i64 %k, %q
  %lt = icmp ult i64 %k, %r
  %m = select i1 %lt, i64 %k, i64 %r
  %b = add i64 %kq, %m
  ret i64 %b
}}

{spin_until_ne}
define internal ptr @worker(ptr %arg) nounwind {{
entry:
  %a = ptrtoint ptr %arg to i64
  %idx = and i64 %a, 65535
  %seen0 = lshr i64 %a, 16
  %k = add i64 %idx, 1
  br label %idle
idle:
  %seen = phi i64 [ %seen0, %entry ], [ %g, %done ]
  call i1 @spin_until_ne(ptr @gen, i64 %seen)
  call i32 @pthread_mutex_lock(ptr @mutex)
  br label %wait
wait:
  %g = load atomic i64, ptr @gen monotonic, align 64
  %same = icmp eq i64 %g, %seen
  br i1 %same, label %sleep, label %job
sleep:
  call i32 @pthread_cond_wait(ptr @work_cv, ptr @mutex)
  br label %wait
job:
  %fn = load ptr, ptr @job_fn, align 8
  %ctx = load ptr, ptr @job_ctx, align 8
  %total = load i64, ptr @job_total, align 8
  %n = load i64, ptr @job_n, align 8
  call i32 @pthread_mutex_unlock(ptr @mutex)
  %part = icmp ult i64 %k, %n
  br i1 %part, label %run, label %done
run:
  %b = call i64 @chunk_begin(i64 %k, i64 %total, i64 %n)
  %k1 = add i64 %k, 1
  %e = call i64 @chunk_begin(i64 %k1, i64 %total, i64 %n)
  call void %fn(ptr %ctx, i64 %b, i64 %e)
  %left = atomicrmw sub ptr @remaining, i64 1 acq_rel, align 64
  %last = icmp eq i64 %left, 1
  br i1 %last, label %wake, label %done
wake:
  call i32 @pthread_mutex_lock(ptr @mutex)
  call i32 @pthread_cond_signal(ptr @done_cv)
  call i32 @pthread_mutex_unlock(ptr @mutex)
  br label %done
done:
  br label %idle
}}

define void @{PARALLEL_FOR}(ptr %fn, ptr %ctx, i64 %total, i64 %n_asked) nounwind {{
entry:
  %tid = alloca [4 x i64], align 16
  %all = alloca [64 x i64], align 16
  %old = alloca [64 x i64], align 16
  %wider = icmp sgt i64 %n_asked, %total
  %n = select i1 %wider, i64 %total, i64 %n_asked
  %few = icmp sle i64 %n, 1
  br i1 %few, label %alone, label %claim
claim:
  %cx = cmpxchg ptr @busy, i32 0, i32 1 acquire monotonic, align 64
  %got = extractvalue {{ i32, i1 }} %cx, 1
  br i1 %got, label %grow, label %alone
alone:
  call void %fn(ptr %ctx, i64 0, i64 %total)
  ret void
grow:
  %have = load atomic i64, ptr @nworkers monotonic, align 64
  %need = sub i64 %n, 1
  %short = icmp ult i64 %have, %need
  br i1 %short, label %spawn_setup, label %ready
spawn_setup:
  %g0 = load atomic i64, ptr @gen monotonic, align 64
  %gbits = shl i64 %g0, 16
  call i32 @sigfillset(ptr %all)
  call i32 @pthread_sigmask(i32 {sig_setmask}, ptr %all, ptr %old)
  br label %spawn
spawn:
  %w = phi i64 [ %have, %spawn_setup ], [ %w1, %spawned ]
  %packed = or i64 %w, %gbits
  %argp = inttoptr i64 %packed to ptr
  %rc = call i32 @pthread_create(ptr %tid, ptr null, ptr @worker, ptr %argp)
  %ok = icmp eq i32 %rc, 0
  br i1 %ok, label %spawned, label %spawn_end
spawned:
  %t = load i64, ptr %tid, align 16
  call i32 @pthread_detach(i64 %t)
  %w1 = add i64 %w, 1
  store atomic i64 %w1, ptr @nworkers monotonic, align 64
  %again = icmp ult i64 %w1, %need
  br i1 %again, label %spawn, label %spawn_end
spawn_end:
  call i32 @pthread_sigmask(i32 {sig_setmask}, ptr %old, ptr null)
  br label %ready
ready:
  %nw = load atomic i64, ptr @nworkers monotonic, align 64
  %cap = add i64 %nw, 1
  %fits = icmp ult i64 %n, %cap
  %m = select i1 %fits, i64 %n, i64 %cap
  %solo = icmp sle i64 %m, 1
  br i1 %solo, label %release_alone, label %start
release_alone:
  store atomic i32 0, ptr @busy release, align 64
  call void %fn(ptr %ctx, i64 0, i64 %total)
  ret void
start:
  %m1 = sub i64 %m, 1
  store atomic i64 %m1, ptr @remaining monotonic, align 64
  %cpus = load i64, ptr @ncpu, align 64
  %over = icmp ugt i64 %m, %cpus
  %spins = select i1 %over, i64 0, i64 {spin_budget}
  store atomic i64 %spins, ptr @spin_budget monotonic, align 64
  call i32 @pthread_mutex_lock(ptr @mutex)
  store ptr %fn, ptr @job_fn, align 8
  store ptr %ctx, ptr @job_ctx, align 8
  store i64 %total, ptr @job_total, align 8
  store i64 %m, ptr @job_n, align 8
  %gc = load atomic i64, ptr @gen monotonic, align 64
  %gn = add i64 %gc, 1
  store atomic i64 %gn, ptr @gen release, align 64
  call i32 @pthread_cond_broadcast(ptr @work_cv)
  call i32 @pthread_mutex_unlock(ptr @mutex)
  %e0 = call i64 @chunk_begin(i64 1, i64 %total, i64 %m)
  call void %fn(ptr %ctx, i64 0, i64 %e0)
  %r1 = call i1 @spin_zero(ptr @remaining, i64 0)
  br i1 %r1, label %finish, label %block
block:
  call i32 @pthread_mutex_lock(ptr @mutex)
  br label %block_wait
block_wait:
  %r2 = load atomic i64, ptr @remaining acquire, align 64
  %fin2 = icmp eq i64 %r2, 0
  br i1 %fin2, label %block_end, label %block_sleep
block_sleep:
  call i32 @pthread_cond_wait(ptr @done_cv, ptr @mutex)
  br label %block_wait
block_end:
  call i32 @pthread_mutex_unlock(ptr @mutex)
  br label %finish
finish:
  store atomic i32 0, ptr @busy release, align 64
  ret void
}}

{spin_zero}
"""


def _spin_ir(name: str, pred: str, what: str, x86: bool) -> str:
    """`i1 @name(ptr %p, i64 %old)`: polls `*p` until it {what} (1) or the spin budget is spent
    (0). The clock is the time-stamp counter on x86, else a count of polls. The first
    SPIN_PAUSE_CYCLES poll with `pause`; later polls call `sched_yield`: the thread we wait for
    may have been woken onto this very CPU (Linux places a woken thread near its waker), and
    would otherwise wait for the spin to end."""
    pause = "call void @llvm.x86.sse2.pause()" if x86 else ""
    start = "call i64 @llvm.readcyclecounter()" if x86 else "add i64 0, 0"
    now = "call i64 @llvm.readcyclecounter()" if x86 else "add i64 %n, 1"
    gentle = SPIN_PAUSE_CYCLES if x86 else SPIN_PAUSE_CYCLES // 64
    return f"""
; Polls `ptr` until it {what} (returns 1) or the spin budget is spent (returns 0).
define internal i1 @{name}(ptr %p, i64 %old) nounwind {{
entry:
  %limit = load atomic i64, ptr @spin_budget monotonic, align 64
  %start = {start}
  br label %loop
loop:
  %n = phi i64 [ %start, %entry ], [ %now, %next ]
  %v = load atomic i64, ptr %p acquire, align 64
  %hit = icmp {pred} i64 %v, %old
  br i1 %hit, label %yes, label %wait
wait:
  %elapsed = sub i64 %n, %start
  %early = icmp ult i64 %elapsed, {gentle}
  br i1 %early, label %pause, label %yield
pause:
  {pause}
  br label %next
yield:
  call i32 @sched_yield()
  br label %next
next:
  %now = {now}
  %spent = sub i64 %now, %start
  %more = icmp ult i64 %spent, %limit
  br i1 %more, label %loop, label %no
yes:
  ret i1 1
no:
  ret i1 0
}}
"""


def _is_x86() -> bool:
    import platform

    return platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")


_lock = threading.Lock()
_pool: dict[str, Any] = {}


def ensure_pool() -> int:
    """Compiles and starts the process's pool once; registers `__irc_parallel_for` for the
    JIT's symbol resolution. Returns its address."""
    if "address" in _pool:
        return _pool["address"]
    with _lock:
        if "address" in _pool:
            return _pool["address"]
        import ctypes.util

        import llvmlite.binding as llvm

        from irc.backend.llvm import host_target_machine

        tm = host_target_machine()
        path = ctypes.util.find_library("pthread")
        if path is not None:  # glibc < 2.34 keeps pthread_* out of libc
            try:
                llvm.load_library_permanently(path)
            except RuntimeError:
                pass
        mod = llvm.parse_assembly(pool_ir())
        mod.triple = tm.triple
        mod.data_layout = str(tm.target_data)
        mod.verify()
        engine = llvm.create_mcjit_compiler(mod, tm)
        engine.finalize_object()
        init_fn = ctypes.CFUNCTYPE(None, ctypes.c_int64)(engine.get_function_address("__irc_pool_init"))

        def init() -> None:
            init_fn(_cpus())

        init()
        address = engine.get_function_address(PARALLEL_FOR)
        llvm.add_symbol(PARALLEL_FOR, address)
        # The workers run this engine's code until the process ends: never free it (also not
        # at interpreter shutdown, when module globals are cleared).
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(engine))
        _pool["engine"] = engine
        _pool["init"] = init_fn
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=init)
        _pool["address"] = address
        return address


def parallel_for_function() -> Any:
    """`__irc_parallel_for` as a ctypes function (for tests and measurements)."""
    task = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64)
    fn = ctypes.CFUNCTYPE(None, task, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64)(ensure_pool())
    return task, fn
