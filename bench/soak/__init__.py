"""Survives a gig: hours of audio through the real firmware process, with faults injected while
it plays, and every property a gig needs checked afterwards.

The firmware runs as a process of its own (bench/soak/run_firmware.py: `python -m firmware run` with
a looped recording as its input) against real peers on loopback, and these faults come while it
plays:

- overruns: the source loses 1..3 periods now and then (a Poisson process, mean interval in
  SoakConfig.overruns), as an overrunning capture device does, counted in `xruns`;
- the OSC receiver (a python-osc server) goes away and comes back on the same port, several
  times: the firmware must keep playing, count errors while it is away, deliver again after;
- bursts of malformed control messages, with some valid ones mixed in, to the control port;
- the hit model replaced through the bundle store's `current` symlink: valid bundles (installed
  by firmware.bundle_store, reload counted) and corrupt ones (symlink swapped by hand to a
  damaged copy: refused, counted, the old model keeps playing).

Checks (`failed_checks`): a clean exit and no traceback; the event log all valid JSON, gestures
in order and none lost (each status's hit count equals the gestures logged before it); status
lines through the whole run; every injected fault counted in the status, and named in the
journal and in systemd's STATUS line; watchdog pings never more than WatchdogSec apart;
detection in every loop within the detector's known misses (a clean pass over the recording),
and as good in the last loop as in the first; resident memory flat after warm-up.

Run: `.venv/bin/python -m bench soak` (about two hours of audio: SoakConfig's defaults).
"""

from bench.soak.checks import checks
from bench.soak.config import SESSION_SECONDS, SESSION_SEED, WORKDIR, SoakConfig
from bench.soak.report import report
from bench.soak.run import run_soak, simulated_session

__all__ = ["measure", "report"]


def measure() -> dict:
    session = simulated_session(WORKDIR / "session", SESSION_SECONDS, SESSION_SEED)
    results = run_soak(SoakConfig(), session, WORKDIR / "run")
    results["checks"] = checks(results)
    return results
