"""Real-time settings of the audio thread: CPU pinning, SCHED_FIFO priority, locked memory.

A board profile's [realtime] table asks for them; the firmware applies them once at start from
the thread that runs the period loop. Being refused (no rtprio limit, no memlock limit, a CPU
that does not exist) is not fatal: each refusal comes back as a one-line warning saying what to
change, and the firmware keeps playing with ordinary scheduling. ``board/setup.sh`` installs
the limits (limits.d and the service's LimitRTPRIO/LimitMEMLOCK) that make them granted.
"""

import ctypes
import os
import resource
from dataclasses import dataclass

MAX_RT_PRIORITY = 99
"""Highest SCHED_FIFO priority on Linux; 1 is the lowest."""

_MCL_CURRENT = 1
_MCL_FUTURE = 2
"""mlockall flags as in <sys/mman.h> on x86 and ARM Linux."""


@dataclass(frozen=True)
class RealtimeConfig:
    """What the audio thread asks of the scheduler; the defaults change nothing."""

    cpu_affinity: tuple[int, ...] = ()
    """CPUs the audio thread may run on (0-based); empty leaves the affinity as it is."""
    rt_priority: int = 0
    """SCHED_FIFO priority 1..99; 0 keeps ordinary (SCHED_OTHER) scheduling."""
    lock_memory: bool = False
    """mlockall(current and future): no page fault on the audio path."""

    def __post_init__(self) -> None:
        if not 0 <= self.rt_priority <= MAX_RT_PRIORITY:
            raise ValueError(f"rt_priority must be in 0..{MAX_RT_PRIORITY}, got {self.rt_priority}")
        if any(cpu < 0 for cpu in self.cpu_affinity):
            raise ValueError(f"cpu_affinity holds a negative CPU: {self.cpu_affinity}")
        if len(set(self.cpu_affinity)) != len(self.cpu_affinity):
            raise ValueError(f"cpu_affinity repeats a CPU: {self.cpu_affinity}")


def apply_realtime(config: RealtimeConfig) -> list[str]:
    """Apply config to the calling thread (affinity, scheduling) and the process (memory).

    Linux applies affinity and scheduling to the calling thread only; threads started after
    this call inherit them. So call it from the period loop's thread after the helper threads
    (OSC sender, event log) are started, so that they keep ordinary priority.

    Returns:
        One line per setting that was refused, naming the setting and the fix; empty when
        everything asked for was applied.
    """
    warnings = []
    if config.cpu_affinity:
        warnings += _pin(config.cpu_affinity)
    if config.rt_priority:
        warnings += _schedule_fifo(config.rt_priority)
    if config.lock_memory:
        warnings += _lock_memory()
    return warnings


def _pin(cpus: tuple[int, ...]) -> list[str]:
    try:
        os.sched_setaffinity(0, cpus)
    except OSError as error:
        available = sorted(os.sched_getaffinity(0))
        return [
            f"realtime: cannot pin the audio thread to CPUs {list(cpus)} ({error.strerror}); "
            f"this machine offers CPUs {available}: fix [realtime] cpu_affinity"
        ]
    return []


def _schedule_fifo(priority: int) -> list[str]:
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except OSError as error:
        limit = resource.getrlimit(resource.RLIMIT_RTPRIO)[0]
        return [
            f"realtime: SCHED_FIFO priority {priority} refused ({error.strerror}, rtprio limit "
            f"{_limit_text(limit)}): run as the hitar service or raise rtprio in limits.d"
        ]
    return []


def _lock_memory() -> list[str]:
    # With MCL_FUTURE under a finite memlock limit, later allocations past the limit would
    # fail: lock only when the limit is unlimited or the process may ignore it (root).
    limit = resource.getrlimit(resource.RLIMIT_MEMLOCK)[0]
    if limit != resource.RLIM_INFINITY and os.geteuid() != 0:
        return [
            f"realtime: memory not locked (memlock limit {_limit_text(limit)}, needs unlimited): "
            "run as the hitar service or set memlock unlimited in limits.d"
        ]
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mlockall(_MCL_CURRENT | _MCL_FUTURE) != 0:
        code = ctypes.get_errno()
        return [f"realtime: mlockall refused ({os.strerror(code)})"]
    return []


def _limit_text(limit: int) -> str:
    return "unlimited" if limit == resource.RLIM_INFINITY else str(limit)
