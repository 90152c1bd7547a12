"""What every benchmark shares: a description of the machine, timing summaries, and a fresh
process for work whose result must not depend on what ran before it.

The machine is shared and noisy: figures are medians and high percentiles, with the load
average at the time, so that a reader can judge how much to trust a p99.
"""

import datetime
import multiprocessing
import os
import platform
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from training.resources import keep_freed_memory

SIMD_FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile")
"""CPU instruction sets that TensorFlow's (oneDNN's) and numpy's kernels are chosen by. Trained
figures differ between hosts of this shared workstation that report the same CPU name
(docs/HIT_MODELS.md, Known limits): these and the microcode are recorded so that a reader can
tell whether two runs shared a host's kind."""


def machine() -> dict:
    """The CPU (name, microcode, SIMD_FLAGS it has), core count, Python and numpy versions,
    date and load average."""
    try:
        cpuinfo = cpu_fields(Path("/proc/cpuinfo").read_text())
    except OSError:
        cpuinfo = {}
    flags = set(cpuinfo.get("flags", "").split())
    return {
        "cpu": cpuinfo.get("model name") or platform.processor() or platform.machine(),
        "microcode": cpuinfo.get("microcode", ""),
        "simd": [flag for flag in SIMD_FLAGS if flag in flags],
        "arch": platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "date": datetime.date.today().isoformat(),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def cpu_fields(cpuinfo: str) -> dict[str, str]:
    """The fields of the first processor in /proc/cpuinfo's text (name: value per line)."""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        name, _, value = line.partition(":")
        fields.setdefault(name.strip(), value.strip())
    return fields


def in_fresh_process(function: Callable[..., Any], *args: Any) -> Any:
    """function(*args), run in a new Python interpreter (spawned, not forked) and returned.

    Why: a benchmark's figure should be the one its command-line equivalent gives, and a
    command starts in a fresh process. Nothing the benchmark ran before can then reach the
    model, whether or not it would have (once suspected, ruled out on one host:
    docs/HIT_MODELS.md, Known limits). The child keeps its freed memory as `python -m
    training` does (training.resources), which changes its time, not its numbers. function
    must be importable by name (module level) and args picklable; an exception in the child
    is raised here.
    """
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=1, mp_context=context, initializer=keep_freed_memory
    ) as pool:
        return pool.submit(function, *args).result()


def describe_machine(info: dict) -> str:
    """One line for a report: 'CPU (arch; SIMD), N cores, Python x, numpy y, date, load z'.
    Results stored before the SIMD flags were recorded describe without them."""
    simd = f"; {' '.join(info['simd'])}, microcode {info['microcode']}" if "simd" in info else ""
    return (
        f"{info['cpu']} ({info['arch']}{simd}), {info['cores']} cores, Python {info['python']}, "
        f"numpy {info['numpy']}, {info['date']}, 1-min load average {info['load_average_1min']}"
    )


def timing_stats(values: np.ndarray) -> dict:
    """Median, p99, max and count of a set of timings (in whatever unit they come)."""
    values = np.asarray(values, dtype=float)
    return {
        "median": float(np.median(values)),
        "p99": float(np.percentile(values, 99)),
        "max": float(values.max()),
        "count": int(values.size),
    }
