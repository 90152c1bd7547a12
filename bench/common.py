"""What every benchmark shares: a description of the machine, and timing summaries.

The machine is shared and noisy: figures are medians and high percentiles, with the load
average at the time, so that a reader can judge how much to trust a p99.
"""

import datetime
import os
import platform
from pathlib import Path

import numpy as np


def machine() -> dict:
    """The CPU, core count, Python and numpy versions, date and load average."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "arch": platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "date": datetime.date.today().isoformat(),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def describe_machine(info: dict) -> str:
    """One line for a report: 'CPU (arch), N cores, Python x, numpy y, date, load z'."""
    return (
        f"{info['cpu']} ({info['arch']}), {info['cores']} cores, Python {info['python']}, "
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
