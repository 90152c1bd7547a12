"""training.resources: freed memory is reused without faulting pages in again, and the
simulator's workers run BLAS on one thread. Each setting is process-wide, so each check runs
in a fresh Python process, beside a control without the setting."""

import json
import os
import resource
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

from training.resources import one_blas_thread


def refault_share() -> float:
    """Share of a 200 MB array's pages faulted in again when it is allocated a second time in
    this process (about 1 under glibc's defaults, which hand so large a block back)."""
    pages = 200 * 2**20 // resource.getpagesize()
    np.ones(50 * 2**20, dtype=np.float32)  # 200 MB, freed at once
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    np.ones(50 * 2**20, dtype=np.float32)
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / pages


REFAULT_SCRIPT = """
import json, sys
from tests.test_resources import refault_share
from training.resources import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "keep" else None
print(json.dumps({"applied": applied, "share": refault_share()}))
"""


def _refault_share(mode: str) -> dict:
    """refault_share() in a fresh interpreter, with keep_freed_memory (mode "keep") or without."""
    # 4 kB pages, so that the fault count measures the pages touched afresh.
    env = {**os.environ, "NUMPY_MADVISE_HUGEPAGE": "0"}
    result = subprocess.run(
        [sys.executable, "-c", REFAULT_SCRIPT, mode],
        capture_output=True, text=True, check=True, env=env,
    )  # fmt: skip
    return json.loads(result.stdout)


def test_freed_memory_is_reused_without_faulting_pages_in_again():
    kept = _refault_share("keep")
    if not kept["applied"]:
        pytest.skip("this C library has no mallopt")
    control = _refault_share("default")
    assert control["share"] > 0.9, "glibc's defaults should hand a 200 MB block back"
    assert kept["share"] < 0.01


def _blas_threads() -> list[int]:
    import numpy  # noqa: F401  (loads the BLAS library threadpoolctl inspects)
    from threadpoolctl import threadpool_info

    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: BLAS has one thread anyway")
def test_simulation_workers_run_blas_on_one_thread():
    with ProcessPoolExecutor(max_workers=1) as pool:
        unlimited = pool.submit(_blas_threads).result()
    with ProcessPoolExecutor(max_workers=1, initializer=one_blas_thread) as pool:
        limited = pool.submit(_blas_threads).result()
    assert unlimited, "numpy loads no BLAS that threadpoolctl knows"
    if max(unlimited) == 1:
        pytest.skip("BLAS runs one thread here already (OPENBLAS_NUM_THREADS?)")
    assert limited == [1] * len(unlimited)
