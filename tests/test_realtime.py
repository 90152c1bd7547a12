"""Real-time settings, applied for real in a child process (so that the test runner itself never
runs SCHED_FIFO), under the real kernel limits that limits.d and the service would set."""

import json
import os
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from firmware.realtime import RealtimeConfig, apply_realtime

REPO = Path(__file__).resolve().parents[1]
NOBODY = 65534
RTPRIO, MEMLOCK = resource.RLIMIT_RTPRIO, resource.RLIMIT_MEMLOCK

CHILD = textwrap.dedent(
    """
    import json, os, resource, sys
    from firmware.realtime import RealtimeConfig, apply_realtime

    setup = json.loads(sys.argv[1])
    for which, limit in (("RLIMIT_RTPRIO", setup["rtprio"]), ("RLIMIT_MEMLOCK", setup["memlock"])):
        if limit is not None:
            resource.setrlimit(getattr(resource, which), (limit, limit))
    if setup["uid"] is not None:  # everything is imported: drop root, keep the limits
        os.setgroups([])
        os.setgid(setup["uid"])
        os.setuid(setup["uid"])
    warnings = apply_realtime(RealtimeConfig(**setup["config"]))
    with open("/proc/self/status") as status:
        locked_kb = next(int(line.split()[1]) for line in status if line.startswith("VmLck"))
    print(json.dumps({
        "warnings": warnings,
        "policy": os.sched_getscheduler(0),
        "priority": os.sched_getparam(0).sched_priority,
        "cpus": sorted(os.sched_getaffinity(0)),
        "locked_kb": locked_kb,
    }))
    """
)


def run_child(
    config: dict, rtprio: int | None = None, memlock: int | None = None, as_nobody: bool = False
) -> dict:
    """Apply config in a fresh interpreter, with the given limits (None: as inherited)."""
    setup = {"config": config, "rtprio": rtprio, "memlock": memlock}
    setup["uid"] = NOBODY if as_nobody else None
    result = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(setup)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_granted_settings_are_applied() -> None:
    """As root (CAP_SYS_NICE, CAP_IPC_LOCK) or under limits like those setup.sh installs."""
    cpu = min(os.sched_getaffinity(0))
    rtprio, memlock = (resource.getrlimit(limit)[0] for limit in (RTPRIO, MEMLOCK))
    if os.geteuid() != 0 and (rtprio < 10 or memlock != resource.RLIM_INFINITY):
        pytest.skip(f"not root, rtprio limit {rtprio}, memlock limit {memlock}: nothing to grant")
    config = {"cpu_affinity": [cpu], "rt_priority": 10, "lock_memory": True}
    report = run_child(config)
    assert report["warnings"] == []
    assert report["policy"] == os.SCHED_FIFO
    assert report["priority"] == 10
    assert report["cpus"] == [cpu]
    assert report["locked_kb"] > 1000


def test_refused_settings_become_one_line_warnings_and_the_process_goes_on() -> None:
    config = {"cpu_affinity": [4095], "rt_priority": 50, "lock_memory": True}
    report = run_child(config, rtprio=0, memlock=65536, as_nobody=os.geteuid() == 0)
    warnings = report["warnings"]
    assert len(warnings) == 3
    assert all("\n" not in line and line.startswith("realtime: ") for line in warnings)
    assert "cpu_affinity" in warnings[0] and "[4095]" in warnings[0]
    assert "SCHED_FIFO priority 50" in warnings[1] and "rtprio limit 0" in warnings[1]
    assert "memlock limit 65536" in warnings[2]
    assert report["policy"] == os.SCHED_OTHER
    assert report["cpus"] == sorted(os.sched_getaffinity(0))
    assert report["locked_kb"] == 0


def test_default_config_changes_nothing() -> None:
    before = (os.sched_getscheduler(0), os.sched_getaffinity(0))
    assert apply_realtime(RealtimeConfig()) == []
    assert (os.sched_getscheduler(0), os.sched_getaffinity(0)) == before


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"rt_priority": 100}, "rt_priority must be in 0..99"),
        ({"rt_priority": -1}, "rt_priority must be in 0..99"),
        ({"cpu_affinity": (0, -1)}, "negative CPU"),
        ({"cpu_affinity": (1, 1)}, "repeats a CPU"),
    ],
)
def test_out_of_range_settings_are_refused(fields: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RealtimeConfig(**fields)
