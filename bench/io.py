"""What the I/O edges cost the audio loop: per-period ALSA and replay overhead, OSC and event log
call times, OSC delivery latency, and how much a flood of bad control messages disturbs a loop.

Run: `.venv/bin/python -m bench.io` (prints the Markdown section). `make bench` calls
measure() and report(). ALSA figures use ALSA's null device, which never waits for a clock:
they are the pure cost of pyalsaaudio's call plus the conversion, not of waiting for audio.
"""

import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import soundfile

from bench.common import describe_machine, machine, timing_stats
from firmware.audio_io import AlsaCapture, AlsaPlayback, AudioConfig
from firmware.events import EventLog
from firmware.osc import MAX_CONTROL_PACKETS_PER_S, OscConfig, OscControlServer, OscSender
from firmware.replay import WavReplay

PERIOD = 64
RATE_HZ = 48_000
PERIOD_US = 1e6 * PERIOD / RATE_HZ

FLOOD_SCRIPT = """
import sys, time
from pythonosc.udp_client import SimpleUDPClient
client = SimpleUDPClient("127.0.0.1", int(sys.argv[1]))
end_s, sent = time.monotonic() + float(sys.argv[2]), 0
while time.monotonic() < end_s:
    client.send_message("/hitar/control/nope", sent)
    sent += 1
print(sent)
"""


def measure() -> dict:
    """Every figure of this bench, as plain JSON-able values (times in µs unless named)."""
    results = {"machine": machine(), "period_frames": PERIOD, "sample_rate_hz": RATE_HZ}
    results["alsa"] = _alsa()
    with tempfile.TemporaryDirectory() as folder:
        results["replay"] = _replay(Path(folder))
        results["event_log_call_us"] = _event_log(Path(folder))
    results["osc"] = _osc()
    results["control_flood"] = _control_flood()
    return results


def report(results: dict) -> str:
    """The results as a Markdown section."""
    alsa, replay, osc, flood = (results[k] for k in ("alsa", "replay", "osc", "control_flood"))
    rows = [
        ("AlsaCapture.read, S32_LE 6 ch (null device)", alsa["capture_read_us"]),
        ("AlsaPlayback.write, S32_LE 2 ch (null device)", alsa["playback_write_us"]),
        ("WavReplay.read, unpaced, 6 ch float WAV", replay["fast_read_us"]),
        ("OscSender.send (the caller's side)", osc["send_call_us"]),
        ("EventLog.log (the caller's side)", results["event_log_call_us"]),
    ]
    lines = [
        "## I/O edges",
        "",
        "Command: `.venv/bin/python -m bench.io` (bench/io.py). "
        f"Machine: {describe_machine(results['machine'])}. One period is "
        f"{PERIOD} frames at {RATE_HZ} Hz = {PERIOD_US:.0f} µs.",
        "",
        "| per call | median µs | p99 µs | median share of a period |",
        "| --- | --- | --- | --- |",
        *(
            f"| {name} | {t['median']:.1f} | {t['p99']:.1f} | {t['median'] / PERIOD_US:.2%} |"
            for name, t in rows
        ),
        "",
        f"- Paced replay of {replay['paced_s']:.1f} s of audio took "
        f"{replay['paced_wall_s']:.3f} s (ratio {replay['paced_ratio']:.4f}).",
        f"- OSC delivery, send() to receipt by a UDP socket on loopback: median "
        f"{osc['delivery_ms']['median']:.3f} ms, p99 {osc['delivery_ms']['p99']:.3f} ms "
        f"({osc['delivery_messages']} messages).",
        f"- A loop waking every period and doing {flood['work_us']} µs of numpy work, wake-up "
        f"lateness p99: {flood['quiet_late_us']['p99']:.0f} µs quiet; "
        f"{flood['flood_late_us']['p99']:.0f} µs while another process floods the control "
        f"port ({flood['flood_sent']} bad messages in {flood['seconds']:.1f} s, "
        f"{flood['flood_read']} read under the {flood['cap']} packets/s cap); "
        f"{flood['uncapped_late_us']['p99']:.0f} µs under the same flood without the cap "
        f"({flood['uncapped_sent']} sent, {flood['uncapped_read']} read).",
    ]
    return "\n".join(lines) + "\n"


def _alsa() -> dict:
    capture = AlsaCapture(AudioConfig(capture_device="null", period_frames=PERIOD))
    playback = AlsaPlayback(AudioConfig(playback_device="null", period_frames=PERIOD))
    out = np.zeros((PERIOD, 6), np.float32)
    block = np.zeros(PERIOD, np.float32)
    results = {
        "capture_read_us": _time_calls(lambda: capture.read(out), 20_000),
        "playback_write_us": _time_calls(lambda: playback.write(block), 20_000),
    }
    capture.close()
    playback.close()
    return results


def _replay(folder: Path) -> dict:
    path = folder / "bench.wav"
    noise = np.random.default_rng(0).uniform(-1, 1, (10 * RATE_HZ, 6)).astype(np.float32)
    soundfile.write(path, noise, RATE_HZ, subtype="FLOAT")
    out = np.zeros((PERIOD, 6), np.float32)
    with WavReplay(path, PERIOD, RATE_HZ, realtime=False) as replay:
        fast = _time_calls(lambda: replay.read(out), len(noise) // PERIOD - 1)
    paced_s = 2.0
    soundfile.write(path, noise[: int(paced_s * RATE_HZ)], RATE_HZ, subtype="FLOAT")
    with WavReplay(path, PERIOD, RATE_HZ, realtime=True) as replay:
        started = time.monotonic()
        while replay.read(out):
            pass
        wall_s = time.monotonic() - started
    return {
        "fast_read_us": fast,
        "paced_s": paced_s,
        "paced_wall_s": wall_s,
        "paced_ratio": wall_s / paced_s,
    }


def _event_log(folder: Path) -> dict:
    log = EventLog(folder / "events.jsonl")
    event = {"type": "hit", "onset_sample": 123456, "hand": "heel", "hand_p": {"heel": 0.9}}
    timing = _time_calls(lambda: log.log(event), 5_000)
    log.close()
    return timing


def _osc() -> dict:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        sink.settimeout(1.0)
        sender = OscSender(OscConfig(port=sink.getsockname()[1], queue_size=20_000))
        drained = threading.Thread(target=_drain, args=(sink, 10_000))
        drained.start()
        send_call = _time_calls(lambda: sender.send("/hitar/hit", "heel", 0.9, 3, 0.25), 10_000)
        drained.join()
        delivery_ms = []
        for i in range(500):
            started = time.perf_counter()
            sender.send("/hitar/hit", i)
            sink.recv(1024)
            delivery_ms.append(1e3 * (time.perf_counter() - started))
            time.sleep(0.002)
        sender.close()
    return {
        "send_call_us": send_call,
        "delivery_ms": timing_stats(np.array(delivery_ms)),
        "delivery_messages": len(delivery_ms),
    }


def _drain(sock: socket.socket, count: int) -> None:
    for _ in range(count):
        try:
            sock.recv(1024)
        except TimeoutError:
            return


def _control_flood(work_us: int = 200, seconds: float = 2.0) -> dict:
    """Wake-up lateness of a period loop: quiet, during a flood of bad control messages from
    another process, and during the same flood with the server's packet cap lifted."""
    flood_s = seconds + 0.5
    results: dict = {"work_us": work_us, "seconds": flood_s, "cap": MAX_CONTROL_PACKETS_PER_S}
    for case, cap in (("quiet", None), ("flood", MAX_CONTROL_PACKETS_PER_S), ("uncapped", 10**9)):
        config = OscConfig(control_host="127.0.0.1", control_port=_free_port())
        server = OscControlServer(config, max_packets_per_s=cap or MAX_CONTROL_PACKETS_PER_S)
        if cap is None:
            results["quiet_late_us"] = _period_loop(server, work_us, seconds)
        else:
            command = [sys.executable, "-c", FLOOD_SCRIPT, str(server.port), str(flood_s)]
            flood = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
            time.sleep(0.3)  # the flooding interpreter starts
            results[f"{case}_late_us"] = _period_loop(server, work_us, seconds)
            results[f"{case}_sent"] = int(flood.communicate()[0])
            results[f"{case}_read"] = server.rejected
        server.close()
    return results


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _period_loop(server: OscControlServer, work_us: int, seconds: float) -> dict:
    """Sleep to each period's deadline, poll controls, burn work_us: lateness of each wake."""
    period_s = PERIOD / RATE_HZ
    block = np.random.default_rng(0).standard_normal((PERIOD, 6)).astype(np.float32)
    late_us = []
    start_s = time.perf_counter()
    for k in range(1, int(seconds / period_s)):
        deadline_s = start_s + k * period_s
        wait_s = deadline_s - time.perf_counter()
        if wait_s > 0:
            time.sleep(wait_s)
        late_us.append(1e6 * (time.perf_counter() - deadline_s))
        server.poll()
        busy_until = time.perf_counter() + work_us * 1e-6
        while time.perf_counter() < busy_until:
            np.fft.rfft(block, axis=0)
    return timing_stats(np.array(late_us))


def _time_calls(call, count: int) -> dict:
    times_ns = np.empty(count, np.int64)
    for i in range(count):
        started = time.perf_counter_ns()
        call()
        times_ns[i] = time.perf_counter_ns() - started
    return timing_stats(times_ns / 1e3)


if __name__ == "__main__":
    print(report(measure()))
