"""`python -m firmware run` end to end, as a user runs it: a real process, real OSC peers
(python-osc and liblo's oscdump), the real ALSA library, the shipped bundle; and every bad input
as one line on stderr with exit status 2, or, for what the firmware can play through, a clean
run that counts the fault."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile
from pythonosc.udp_client import SimpleUDPClient

from firmware.bundle import MANIFEST_NAME, MODEL_NAME
from tests.osc_peers import Receiver, free_udp_port, needs_liblo, wait_for

REPO = Path(__file__).resolve().parents[1]
ASOUNDRC = REPO / "tests" / "alsa" / "asoundrc"


def firmware(*args, env=None, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "firmware", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def read_events(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def one_line_error(result, *fragments):
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def osc_run(recording, tmp_path_factory):
    """One fast run over the recording, sending to a python-osc server on loopback."""
    receiver = Receiver()
    events = tmp_path_factory.mktemp("run") / "events.jsonl"
    result = firmware(
        "run",
        "--input",
        recording.path,
        "--fast",
        "--osc",
        f"127.0.0.1:{receiver.port}",
        "--control-port",
        "0",
        "--events",
        events,
        "--print",
        "--period-frames",
        "64",
    )
    wait_for(lambda: sum(a == "/hitar/status" for a, _ in receiver.messages) >= 8, 2.0)
    receiver.close()
    return result, read_events(events), receiver.messages


def test_gestures_reach_an_osc_server_with_their_types(osc_run):
    result, events, messages = osc_run
    assert result.returncode == 0, result.stderr
    hits = [e for e in events if e["type"] == "hit"]
    sent = [args for address, args in messages if address == "/hitar/hit"]
    assert len(sent) == len(hits) > 0
    for args, event in zip(sent, hits, strict=True):
        hand, hand_p, location, _, x, y, velocity, onset_s, latency_ms = args
        assert (hand, location) == (event["hand"], event["location"])
        assert hand_p == pytest.approx(event["hand_p"][hand], abs=1e-4)
        assert [x, y] == pytest.approx(event["embedding"], abs=1e-4)
        assert onset_s == pytest.approx(event["onset_sample"] / 48_000, abs=1e-6)
        assert 0 <= velocity <= 1 and 0 < latency_ms <= 1000 * (480 + 64) / 48_000
    probabilities = [args for address, args in messages if address == "/hitar/hit/hand_p"]
    assert all(len(p) == 4 and sum(p) == pytest.approx(1, abs=0.02) for p in probabilities)


def test_status_messages_and_event_log_agree(osc_run):
    _, events, messages = osc_run
    statuses = [e for e in events if e["type"] == "status"]
    sent = [args for address, args in messages if address == "/hitar/status"]
    assert len(sent) == len(statuses) == 8
    assert [s[3] for s in sent] == [s["hits"] for s in statuses]


def test_print_shows_one_readable_line_per_gesture(osc_run):
    result, events, _ = osc_run
    lines = result.stdout.splitlines()
    assert len(lines) == sum(e["type"] == "hit" for e in events)
    assert all(" ms" in line and "vel" in line for line in lines)


@needs_liblo
def test_oscdump_receives_the_gestures(recording):
    port = free_udp_port()
    dump = subprocess.Popen(["oscdump", "-L", str(port)], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.3)
        result = firmware(
            "run",
            "--input",
            recording.path,
            "--fast",
            "--seconds",
            "3",
            "--osc",
            f"127.0.0.1:{port}",
            "--control-port",
            "0",
        )
        assert result.returncode == 0, result.stderr
        time.sleep(0.3)
    finally:
        dump.terminate()
        output, _ = dump.communicate(timeout=5)
    lines = [line[line.index("/") :] for line in output.splitlines()]  # after the time tag
    hits = [line for line in lines if line.startswith("/hitar/hit ")]
    assert hits and all(line.startswith("/hitar/hit sfsffffff ") for line in hits)


def test_alsa_capture_sees_the_samples_and_finds_the_hits(recording, tmp_path):
    """The firmware reads a 6-channel S32_LE capture PCM (ALSA's file plugin with infile)."""
    raw = tmp_path / "capture.raw"
    seconds = 4
    frames = seconds * recording.sample_rate_hz
    samples = np.round(recording.audio[:frames] * (2**31 - 1)).astype("<i4")
    raw.write_bytes(samples.tobytes())
    profile = tmp_path / "test-board.toml"
    profile.write_text(
        'description = "ALSA file plugin over null"\n[audio]\n'
        f'capture_device = "hitar_capture:\'{raw}\'"\nplayback_device = "null"\n'
        'sample_format = "S32_LE"\n'
    )
    events = tmp_path / "events.jsonl"
    result = firmware(
        "run",
        "--board",
        profile,
        "--seconds",
        seconds,
        "--events",
        events,
        "--control-port",
        "0",
        env={"ALSA_CONFIG_PATH": str(ASOUNDRC)},
    )
    assert result.returncode == 0, result.stderr
    onsets = [e["onset_sample"] for e in read_events(events) if e["type"] == "hit"]
    truth = recording.onsets[recording.onsets < frames - 600]
    assert len(onsets) == len(truth)
    assert np.max(np.abs(np.array(onsets) - truth)) < 96


def test_missing_alsa_device_is_one_line(tmp_path):
    result = firmware(
        "run",
        "--device",
        "no_such_pcm",
        "--control-port",
        "0",
        env={"ALSA_CONFIG_PATH": str(ASOUNDRC)},
    )
    one_line_error(result, "no_such_pcm")


def write_wav(path, channels, rate_hz):
    soundfile.write(path, np.zeros((rate_hz, channels), np.float32), rate_hz, subtype="FLOAT")
    return path


def test_wav_with_too_few_channels_is_one_line(tmp_path):
    result = firmware("run", "--input", write_wav(tmp_path / "two.wav", 2, 48_000), "--fast")
    one_line_error(result, "two.wav", "2 channels")


def test_wav_at_another_rate_is_one_line(tmp_path):
    result = firmware("run", "--input", write_wav(tmp_path / "cd.wav", 6, 44_100), "--fast")
    one_line_error(result, "cd.wav", "44100 Hz", "48000 Hz")


@pytest.fixture
def bundle_copy(hit_bundle, tmp_path):
    copy = tmp_path / "bundle"
    shutil.copytree(hit_bundle, copy)
    return copy


def rewrite_manifest(bundle, change):
    manifest = json.loads((bundle / MANIFEST_NAME).read_text())
    change(manifest)
    (bundle / MANIFEST_NAME).write_text(json.dumps(manifest))


def test_truncated_model_is_one_line(bundle_copy, recording):
    model = bundle_copy / MODEL_NAME
    model.write_bytes(model.read_bytes()[:1000])
    from firmware.bundle import sha256_file

    rewrite_manifest(bundle_copy, lambda m: m.update(sha256=sha256_file(model)))
    result = firmware("run", "--input", recording.path, "--fast", "--model", bundle_copy)
    one_line_error(result, "model.tflite", "not a usable TFLite model")


def test_corrupt_model_fails_its_checksum_in_one_line(bundle_copy, recording):
    model = bundle_copy / MODEL_NAME
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    result = firmware("run", "--input", recording.path, "--fast", "--model", bundle_copy)
    one_line_error(result, "model.tflite", "checksum")


def test_bundle_for_other_features_is_refused_in_one_line(bundle_copy, recording):
    rewrite_manifest(bundle_copy, lambda m: m["features"].update(n_bands=32))
    result = firmware("run", "--input", recording.path, "--fast", "--model", bundle_copy)
    one_line_error(result, "features.n_bands is 32, firmware uses 40")


def test_bundle_for_another_rate_is_refused_in_one_line(bundle_copy, recording):
    rewrite_manifest(bundle_copy, lambda m: m["features"].update(sample_rate_hz=44_100))
    result = firmware("run", "--input", recording.path, "--fast", "--model", bundle_copy)
    one_line_error(result, "features.sample_rate_hz is 44100, firmware uses 48000")


@pytest.mark.parametrize("host", ["127.0.0.1", "no.such.host.invalid"])
def test_unreachable_osc_peer_keeps_playing_and_counts(recording, tmp_path, host):
    events = tmp_path / "events.jsonl"
    port = free_udp_port()
    result = firmware(
        "run",
        "--input",
        recording.path,
        "--fast",
        "--osc",
        f"{host}:{port}",
        "--control-port",
        "0",
        "--events",
        events,
    )
    assert result.returncode == 0, result.stderr
    logged = read_events(events)
    hits = [e for e in logged if e["type"] == "hit"]
    assert len(hits) >= len(recording.onsets) - 2
    assert logged[-1]["type"] == "status" and logged[-1]["osc_errors"] > 0
    warnings = [line for line in result.stderr.splitlines() if host in line]
    assert 1 <= len(warnings) <= 2


def test_sigterm_stops_cleanly_and_flushes_the_event_log(recording, tmp_path):
    events = tmp_path / "events.jsonl"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "firmware",
            "run",
            "--input",
            str(recording.path),
            "--events",
            str(events),
            "--control-port",
            "0",
            "--osc",
            f"127.0.0.1:{free_udp_port()}",
        ],
        cwd=REPO,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Stop it once it has played for two seconds (its second status line): the time it takes
    # to start depends on the machine's load.
    assert wait_for(
        lambda: events.exists() and events.read_text().count('"type": "status"') >= 2, 30.0
    )
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    logged = read_events(events)
    assert any(e["type"] == "hit" for e in logged)
    assert logged[-1]["type"] == "status"  # the final snapshot, after the last gesture
    assert 2.0 <= logged[-1]["time_s"] < 7.0


def test_calibrate_controls_reach_a_running_firmware_and_are_answered(recording, tmp_path):
    """Real time, as on stage: name a class at start, every hit after it is labelled and
    reported; fit with one class only is refused over OSC and in the status log."""
    receiver = Receiver()
    control_port = free_udp_port()
    events = tmp_path / "events.jsonl"
    process = subprocess.Popen(
        [
            sys.executable, "-m", "firmware", "run", "--input", str(recording.path),
            "--events", str(events), "--control-port", str(control_port),
            "--osc", f"127.0.0.1:{receiver.port}",
        ],
        cwd=REPO, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        client = SimpleUDPClient("127.0.0.1", control_port)

        def calibration():
            return [args for address, args in receiver.messages if address == "/hitar/calibration"]

        assert wait_for(lambda: events.exists(), 30.0)
        client.send_message("/hitar/control/calibrate", "heel")
        assert wait_for(lambda: sum(e == "hit" for e, _ in calibration()) >= 2, 15.0)
        client.send_message("/hitar/control/calibrate", "fit")
        assert wait_for(lambda: any(e == "error" for e, _ in calibration()), 5.0)
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
        receiver.close()
    assert process.returncode == 0, stderr
    replies = [args for address, args in receiver.messages if address == "/hitar/calibration"]
    assert replies[0] == ("labelling", "hand heel: play it now")
    assert [d.split(" (")[0] for e, d in replies if e == "hit"][:2] == ["heel 1", "heel 2"]
    error = next(d for e, d in replies if e == "error")
    assert error.startswith("not fitted, labelled hits kept: task 'hand': class 'thumb' has 0")
    assert read_events(events)[-1]["calibration_failures"] == 1


def test_bad_osc_address_is_one_line():
    one_line_error(firmware("run", "--osc", "localhost", "--dry-run"), "HOST:PORT")


def test_dry_run_checks_profile_and_model(hit_bundle):
    result = firmware("run", "--dry-run", "--model", hit_bundle)
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stderr


def test_help_and_boards_tell_the_truth():
    help_text = firmware("run", "--help").stdout
    for option in ("--input", "--fast", "--device", "--osc", "--events", "--model", "--board"):
        assert option in help_text
    boards = firmware("boards")
    assert boards.returncode == 0 and "desktop" in boards.stdout


def test_voice_renders_the_pickup_to_a_wav_next_to_the_hit_path(tmp_path):
    """The demo session: body hits throughout, strings in its second half only."""
    demo = tmp_path / "demo"
    simulate = subprocess.run(
        [sys.executable, "-m", "training", "simulate", "--demo", "--out", str(demo)],
        cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert simulate.returncode == 0, simulate.stderr
    output, events = tmp_path / "voice.wav", tmp_path / "events.jsonl"
    result = firmware(
        "run", "--input", demo / "demo.wav", "--fast", "--voice", "--output", output,
        "--period-frames", "64", "--control-port", "0", "--events", events,
        "--osc", f"127.0.0.1:{free_udp_port()}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    voice, rate_hz = soundfile.read(output, dtype="float32")
    assert rate_hz == 48_000 and voice.shape == (20 * 48_000,)
    half = voice.shape[0] // 2
    quiet, playing = (float(np.sqrt(np.mean(part**2))) for part in (voice[:half], voice[half:]))
    assert playing > 0.05 and playing > 20 * quiet
    logged = read_events(events)
    assert sum(e["type"] == "hit" for e in logged) >= 55
    assert logged[-1]["voice_on"] == 1 and logged[-1]["voice_failures"] == 0


def test_voice_flags_without_the_voice_are_one_line(recording):
    one_line_error(firmware("run", "--input", recording.path, "--patch", "3"), "--patch needs")
    one_line_error(
        firmware("run", "--input", recording.path, "--fast", "--voice"), "--fast with the voice"
    )
    one_line_error(
        firmware("run", "--input", recording.path, "--voice", "--patch", "40", "--dry-run"),
        "--patch",
    )
