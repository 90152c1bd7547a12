"""The faults a soak injects from outside the firmware process, each one waiting until the
firmware's status (read from its event log) shows it counted: the OSC receiver going away and
coming back, bursts of control messages, bundles swapped in through the `current` symlink.
(Overruns come from inside, from the source: bench/soak/source.py.)"""

import json
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.soak.config import PREFIX, VALID, SoakConfig
from bench.soak.peers import EventTail, OscPeer, control_burst
from firmware.bundle import MANIFEST_NAME, MODEL_NAME, sha256_file
from firmware.bundle_store import BundleStore
from firmware.cli import DEFAULT_MODEL


@dataclass
class LiveRun:
    """The live parts of one soak: the firmware process and what watches it."""

    config: SoakConfig
    process: subprocess.Popen
    tail: EventTail
    osc_port: int
    control_port: int
    store: BundleStore
    workdir: Path
    peers: list[OscPeer] = field(default_factory=list)
    faults: list[dict] = field(default_factory=list)

    def wait(self, condition: Callable[[dict], bool], timeout_s: float) -> bool:
        """Poll the event log until condition(latest status) holds; False on timeout or when
        the firmware has exited."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if condition(self.tail.poll()):
                return True
            if self.process.poll() is not None:
                return condition(self.tail.poll())
            time.sleep(0.02)
        return False

    def count(self, key: str) -> int:
        return int(self.tail.status.get(key, 0))


def plan(config: SoakConfig) -> list[tuple[float, str, Callable[[LiveRun], dict]]]:
    """The faults in the order they come: (seconds of audio, kind, inject(run) -> record)."""
    steps = [(at_s, "outage", _outage) for at_s in config.outages_at_s]
    steps += [(at_s, "burst", _burst) for at_s in config.bursts_at_s]
    for number, (at_s, kind) in enumerate(config.swaps, start=1):
        steps.append((at_s, f"swap:{kind}", lambda run, n=number, k=kind: _swap(run, n, k)))
    return sorted(steps, key=lambda step: step[0])


def _outage(run: LiveRun) -> dict:
    """The receiver goes away until the status has counted errors (and outage_min_s has
    passed), then comes back on the same port; it must receive again."""
    errors_before = run.count("osc_errors")
    run.peers[-1].close()
    gone_s = time.monotonic()
    counted = run.wait(
        lambda status: (
            status.get("osc_errors", 0) > errors_before
            and time.monotonic() - gone_s >= run.config.outage_min_s
        ),
        run.config.fault_timeout_s,
    )
    errors = run.count("osc_errors") - errors_before
    back_at_s = run.tail.time_s
    peer = OscPeer(run.osc_port)
    back_s = time.monotonic()
    run.peers.append(peer)
    run.wait(lambda status: peer.first_s is not None, run.config.fault_timeout_s)
    return {
        "errors_counted": errors if counted else 0,
        "away_wall_s": round(back_s - gone_s, 2),
        "back_at_s": back_at_s,
        "phase": len(run.peers) - 1,
        "first_message_after_return_s": None
        if peer.first_s is None
        else round(peer.first_s - back_s, 3),
    }


def _burst(run: LiveRun) -> dict:
    """Malformed control messages with valid ones mixed in; the status must count them all."""
    config = run.config
    rejected, accepted = run.count("controls_rejected"), run.count("controls")
    replies = control_burst(run.control_port, PREFIX, config.burst_malformed, config.burst_valid)
    run.wait(
        lambda status: (
            status.get("controls_rejected", 0) >= rejected + config.burst_malformed
            and status.get("controls", 0) >= accepted + config.burst_valid
        ),
        config.fault_timeout_s,
    )
    return {
        "malformed_sent": config.burst_malformed,
        "valid_sent": config.burst_valid,
        "rejected_counted": run.count("controls_rejected") - rejected,
        "applied_counted": run.count("controls") - accepted,
        "error_replies": replies,
    }


def _swap(run: LiveRun, number: int, kind: str) -> dict:
    """A new bundle made current while playing: a valid one through the bundle store, or a
    damaged copy by replacing the `current` symlink by hand (the store would refuse it)."""
    key = "model_reloads" if kind == VALID else "model_failures"
    before = run.count(key)
    if kind == VALID:
        run.store.install(bundle_copy(run.workdir, number))
    else:
        broken = bundle_copy(run.workdir, number)
        _damage(broken, kind)
        staged = run.store.current_link.with_name("current.soak")
        staged.symlink_to(broken.resolve())
        staged.replace(run.store.current_link)
    seen = run.wait(lambda status: status.get(key, 0) > before, run.config.fault_timeout_s)
    return {"counted_as": key, "counted": seen, "seen_at_s": run.tail.time_s}


def bundle_copy(workdir: Path, number: int) -> Path:
    """A copy of the shipped bundle whose manifest says it is soak version `number` (the
    store installs a bundle only when its manifest differs from the current one's)."""
    copy = workdir / "incoming" / f"soak-{number}"
    shutil.copytree(DEFAULT_MODEL, copy)
    manifest = json.loads((copy / MANIFEST_NAME).read_text())
    manifest["version"] = f"{manifest.get('version', '')}+soak{number}"
    (copy / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2))
    return copy


def _damage(bundle: Path, kind: str) -> None:
    """Damage a bundle copy in place as config.DAMAGES describes kind."""
    model, manifest_path = bundle / MODEL_NAME, bundle / MANIFEST_NAME
    if kind in ("manifest", "checksum"):
        path = manifest_path if kind == "manifest" else model
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
        return
    manifest = json.loads(manifest_path.read_text())
    if kind == "truncated":
        model.write_bytes(model.read_bytes()[:1000])
        manifest["sha256"] = sha256_file(model)
    else:
        manifest["features"]["n_bands"] += 8
    manifest_path.write_text(json.dumps(manifest))
