"""Survives a gig, in short: the soak of bench/soak on 48 s of audio (the 8 s test session
looped six times, at most 4x real time so that the faults have wall time to happen), every fault
injected at least once, against the real firmware process, real OSC peers on loopback, the real
bundle store and interpreter, and a real sd_notify socket. Then the pieces the soak stands on:
its overrun source, and what a crash does to the process and to the service."""

import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile
from numpy.testing import assert_array_equal

from bench.soak import report
from bench.soak.checks import checks
from bench.soak.config import Session, SoakConfig
from bench.soak.peers import control_burst, free_udp_port
from bench.soak.run import run_soak
from bench.soak.source import (
    OverrunConfig,
    OverrunSource,
    near_overrun,
    overrun_schedule,
    to_engine_frames,
)
from firmware.replay import WavReplay
from tests.osc_peers import wait_for

REPO = Path(__file__).resolve().parents[1]
SHORT = SoakConfig(
    loops=6,
    overruns=OverrunConfig(mean_interval_s=3.0, max_lost_periods=3, seed=11),
    speed=4.0,
    outages_at_s=(4.0, 28.0),
    outage_min_s=1.0,
    bursts_at_s=(10.0, 36.0),
    burst_malformed=30,
    burst_valid=5,
    swaps=((14.0, "valid"), (20.0, "manifest")),
    rss_interval_s=0.2,
    fault_timeout_s=10.0,
)

slow_soak = pytest.mark.slow
"""Tests that share the short soak: about 20 s, once per module."""


@pytest.fixture(scope="module")
def session(recording):
    return Session(
        path=recording.path,
        frames=len(recording.audio),
        sample_rate_hz=recording.sample_rate_hz,
        onsets=recording.onsets,
        hands=tuple(recording.hands),
        locations=tuple(recording.locations),
    )


@pytest.fixture(scope="module")
def soak(session, tmp_path_factory):
    results = run_soak(SHORT, session, tmp_path_factory.mktemp("soak"))
    return results, {check["check"]: check for check in checks(results)}


def passed(verdicts, name):
    verdict = verdicts[name]
    assert verdict["passed"], verdict["detail"]


@slow_soak
def test_the_firmware_plays_through_every_fault_and_exits_cleanly(soak):
    results, verdicts = soak
    passed(verdicts, "no crash")
    kinds = {fault["kind"] for fault in results["faults"]}
    assert kinds == {"outage", "burst", "swap:valid", "swap:manifest"}
    assert results["expected"]["xruns"] >= 5


@slow_soak
def test_every_gesture_is_in_the_event_log_in_order(soak, session):
    results, verdicts = soak
    passed(verdicts, "event log is valid JSON")
    passed(verdicts, "no gesture lost")
    passed(verdicts, "gestures in order")
    assert results["event_log"]["hits_logged"] >= 0.9 * SHORT.loops * len(session.onsets)


@slow_soak
def test_status_lines_cover_the_whole_run(soak):
    results, verdicts = soak
    passed(verdicts, "status lines through the whole run")
    assert results["event_log"]["status_lines"] == 48


@slow_soak
def test_every_fault_shows_in_the_status_counters(soak):
    results, verdicts = soak
    passed(verdicts, "every injected fault counted in the status")
    expected = results["expected"]
    assert results["final_status"]["xruns"] == expected["xruns"]
    assert (
        expected["engine_frames"]
        == 6 * results["session"]["seconds"] * 48_000 - (expected["lost_frames"])
    )


@slow_soak
def test_the_receiver_going_away_is_counted_and_delivery_resumes(soak):
    results, verdicts = soak
    passed(verdicts, "receiver outages: errors counted while away, delivery after each return")
    phases = results["osc_phases"]
    assert len(phases) == 3 and all(phase["hits"] > 0 for phase in phases)


@slow_soak
def test_malformed_controls_are_rejected_and_valid_ones_applied(soak):
    results, verdicts = soak
    passed(verdicts, "control bursts: every malformed message rejected, every valid one applied")
    bursts = [fault for fault in results["faults"] if fault["kind"] == "burst"]
    assert all(fault["error_replies"] == SHORT.burst_malformed for fault in bursts)


@slow_soak
def test_a_valid_bundle_is_taken_and_a_corrupt_one_refused_while_playing(soak):
    _, verdicts = soak
    passed(verdicts, "model swaps: each counted, logged, and gestures go on after it")
    passed(verdicts, "every loop classifies each hit as the first loop did")


@slow_soak
def test_faults_are_named_in_the_journal_and_the_service_status(soak):
    _, verdicts = soak
    passed(verdicts, "faults named in the journal and in systemd's STATUS line")
    passed(verdicts, "watchdog fed: READY, pings less than WatchdogSec apart, STOPPING")


@slow_soak
def test_every_loop_detects_as_a_clean_pass_does(soak):
    results, verdicts = soak
    passed(verdicts, "every loop detects within the known misses")
    passed(verdicts, "detection as good in the last loop as in the first")
    loops = results["detection"]["loops"]
    assert sum(loop["near_overruns"] for loop in loops) < sum(loop["scored"] for loop in loops)


@slow_soak
def test_memory_stays_flat(soak):
    results, verdicts = soak
    passed(verdicts, "memory flat after warm-up")
    assert results["memory"]["after_warmup"] >= 20


@slow_soak
def test_the_report_states_the_figures(soak):
    results, _ = soak
    text = report({**results, "checks": checks(results)})
    assert text.startswith("## Soak: survives a gig")
    assert f"xruns {results['final_status']['xruns']}" in text
    assert "| **FAIL** |" not in text


@pytest.fixture
def noise_file(tmp_path):
    path = tmp_path / "noise.wav"
    data = np.random.default_rng(3).uniform(-1, 1, (10_000, 6)).astype(np.float32)
    soundfile.write(path, data, 48_000, subtype="FLOAT")
    return path, data


def test_overruns_lose_exactly_the_scheduled_frames_and_are_counted(noise_file):
    path, data = noise_file
    loops, period = 3, 64
    schedule = overrun_schedule(OverrunConfig(0.01, 3, 5), loops * len(data), period, 48_000)
    assert len(schedule) >= 10
    assert np.all(schedule[:, 0] % period == 0) and np.all(schedule[:, 1] % period == 0)
    assert np.all(schedule[1:, 0] > schedule[:-1, 0] + schedule[:-1, 1])
    replay = WavReplay(path, period, 48_000, realtime=False, loops=loops)
    source = OverrunSource(replay, schedule)
    out = np.zeros((period, 6), np.float32)
    blocks = []
    while frames := source.read(out):
        blocks.append(out[:frames].copy())
    source.close()
    stream = np.tile(data, (loops, 1))
    kept = ~near_overrun(np.arange(len(stream)), schedule, 0, 0)
    assert_array_equal(np.concatenate(blocks), stream[kept])
    assert source.xruns == len(schedule)
    engine = to_engine_frames(np.flatnonzero(kept), schedule)
    assert_array_equal(engine, np.arange(kept.sum()))


def soak_command(*args, recording, events, control_port=0):
    """The soak's firmware process on the test recording; OSC to a port nobody listens on."""
    return [
        sys.executable,
        "-m",
        "bench.soak.run_firmware",
        *map(str, args),
        "--",
        "run",
        "--input",
        str(recording),
        "--events",
        str(events),
        "--control-port",
        str(control_port),
        "--osc",
        f"127.0.0.1:{free_udp_port()}",
        "--fast",
        "--period-frames",
        "64",
    ]


def read_log(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize(("failure", "status"), [("crash", 1), ("device", 2)])
def test_a_failure_mid_run_exits_non_zero_with_the_event_log_flushed(
    recording, tmp_path, failure, status
):
    """systemd restarts the service on a non-zero exit (Restart=on-failure): a bug (a
    traceback, status 1) and a lost device (one line, status 2) both must exit non-zero, and
    what was logged up to then must be on disk, whole."""
    events = tmp_path / "events.jsonl"
    command = soak_command(
        "--fail-at-s", 5, "--failure", failure, recording=recording.path, events=events
    )
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == status, result.stderr
    if failure == "crash":
        assert "Traceback" in result.stderr and "RuntimeError: injected crash" in result.stderr
    else:
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "soak capture device: gone" in errors[0]
    logged = read_log(events)
    onsets = [event["onset_sample"] for event in logged if event["type"] == "hit"]
    assert onsets and max(onsets) < 5 * 48_000
    assert [event["time_s"] for event in logged if event["type"] == "status"] == [1, 2, 3, 4]


def test_sigterm_amid_faults_stops_within_the_service_stop_timeout(recording, tmp_path):
    """systemctl stop sends SIGTERM and kills after TimeoutStopSec=5s: with overruns coming,
    the OSC receiver unreachable and a control flood just sent, the firmware must still stop
    in time, exit 0, and leave a complete event log ending with a status line."""
    events, control_port = tmp_path / "events.jsonl", free_udp_port()
    command = soak_command(
        "--loops", 3, "--speed", 1, "--overrun-every-s", 0.5,
        recording=recording.path, events=events, control_port=control_port,
    )  # fmt: skip
    process = subprocess.Popen(command, cwd=REPO, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: events.is_file() and events.read_text().count("status") >= 2, 60)
        control_burst(control_port, "/hitar", malformed=200, valid=20)
        process.send_signal(signal.SIGTERM)
        signalled_s = time.monotonic()
        _, stderr = process.communicate(timeout=20)
    finally:
        process.kill()
    assert time.monotonic() - signalled_s < 5.0
    assert process.returncode == 0, stderr
    logged = read_log(events)
    final = logged[-1]
    assert final["type"] == "status" and final["xruns"] > 0 and final["osc_errors"] > 0
    assert final["hits"] == sum(event["type"] == "hit" for event in logged)
    assert final["time_s"] < 3 * len(recording.audio) / recording.sample_rate_hz


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze missing")
def test_the_service_unit_restarts_on_failure_and_verifies(tmp_path):
    """What can be checked without systemd running: the rendered unit passes systemd-analyze
    verify, restarts on failure, and no exit status is exempted from that."""
    (tmp_path / "venv" / "bin").mkdir(parents=True)
    (tmp_path / "venv" / "bin" / "python").symlink_to(sys.executable)
    template = (REPO / "board" / "hitar.service").read_text()
    unit = (
        template.replace("@PREFIX@", str(tmp_path))
        .replace("@BOARD@", "pi4-octo")
        .replace("@USER@", "root")
    )
    path = tmp_path / "hitar.service"
    path.write_text(unit)
    verified = subprocess.run(
        ["systemd-analyze", "verify", str(path)], capture_output=True, text=True, check=False
    )
    assert (verified.returncode, verified.stderr) == (0, "")
    settings = dict(re.findall(r"^(\w+)=(.*)$", unit, re.MULTILINE))
    assert settings["Restart"] == "on-failure"
    assert "RestartPreventExitStatus" not in settings and "SuccessExitStatus" not in settings
    assert settings["WatchdogSec"] == "5s"
