"""How training's processes use memory and threads: settings that change no float, only time.

Every epoch draws freshly augmented features for some 5,000 hits through arrays of 70-150 MB
that live for one step of the pipeline, in a background thread. glibc gives blocks that large
back to the kernel when they are freed (mmap and munmap; and a thread's arena cannot hold more
than 64 MB anyway), so every epoch faults in and zeroes about a gigabyte of new pages: a fifth
of the default's training CPU went to the kernel's clear_page (perf, 2026-12-03). One arena,
no mmap and no trimming keep freed blocks in the process for the next epoch.

The simulator's worker processes gain the same way, and from one BLAS thread each: two
workers on two cores, each with a BLAS pool of two threads, spent 40 % more CPU time on the
same sessions (73 against 52 s for 12 of them) contending for the cores.

`python -m training` applies both. `python -m bench` applies the first only in the fresh
processes it trains in (bench.common.in_fresh_process), as the commands they stand for do: its
firmware figures are measured under the allocator the board runs with, and the rebuild it
times runs `python -m training`, with both.

Neither setting changes the arithmetic: the simulation caches and the default bundle come out
byte-identical (docs/HIT_MODELS.md, "Rebuilding the default").
"""

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
M_ARENA_MAX = -8
"""mallopt parameters, from glibc's malloc.h."""

KEEP_FREED_MEMORY = ((M_ARENA_MAX, 1), (M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, 2**31 - 1))
"""One arena shared by every thread, no block handed to mmap, the heap's top never trimmed."""


def keep_freed_memory() -> bool:
    """Make glibc keep freed memory for reuse rather than return it to the kernel.

    Call it first thing in a process, before any thread starts: glibc fixes the number of
    arenas when a second thread first allocates. Worker processes forked later inherit it.

    Returns:
        Whether it applied: False where the C library has no mallopt (not glibc).
    """
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        log.debug("no mallopt in this C library: memory is managed by its defaults")
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    accepted = [mallopt(parameter, value) == 1 for parameter, value in KEEP_FREED_MEMORY]
    return all(accepted)


def one_blas_thread() -> None:
    """Limit BLAS to one thread in this process: the initializer of worker pools that
    already use one process per core."""
    # Here, not at the top: threadpoolctl is a training extra, every `python -m training`
    # command imports this module, and `simulate` needs nothing beyond the runtime install.
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
