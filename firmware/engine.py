"""The engine: one loop that owns the period clock and runs the hit (and voice) paths.

Real-time rules for everything reached from `process_period` (the per-period path):
- no allocation of large arrays: the input block, the ring and the hit window are preallocated;
- no file system, no logging above debug, nothing that may block: gestures, events and status
  leave through the OSC sender's and the event log's bounded, non-blocking queues;
- work per hit is bounded (one feature computation and one inference) and measured.
Once per status interval (not per period) the engine builds a status snapshot and hands it on.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from firmware.controls import CALIBRATE, Control
from firmware.gesture import Gesture
from firmware.hit_path import HitPath
from firmware.layout import N_CHANNELS, PICKUP_CHANNEL

STATUS_ARGUMENTS = (
    "load",
    "load_peak",
    "xruns",
    "hits",
    "latency_ms",
    "time_s",
    "osc_dropped",
    "osc_errors",
    "controls_rejected",
    "model_reloads",
    "model_failures",
    "voice_failures",
)
"""The `{prefix}/status` message's arguments, in order (docs/OSC.md)."""

VOICE_CONTROLS: dict[str, Callable[["Voice", float | int], None]] = {
    "voice": lambda voice, value: voice.set_enabled(bool(value)),
    "patch": lambda voice, value: voice.set_patch(int(value)),
    "input_gain_db": lambda voice, value: voice.set_input_gain_db(float(value)),
    "output_gain_db": lambda voice, value: voice.set_output_gain_db(float(value)),
}
"""Controls that go to the voice path (validated ranges in firmware/controls.py)."""


class Source(Protocol):
    """What the engine reads periods from: AlsaCapture or WavReplay."""

    xruns: int

    def read(self, out: np.ndarray) -> int: ...


class GestureSink(Protocol):
    """OscSender: non-blocking send, with counters of what it could not deliver."""

    dropped: int
    errors: int

    def send(self, address: str, *args: int | float | str) -> bool: ...


class EventSink(Protocol):
    def log(self, event: dict) -> None: ...


class AudioSink(Protocol):
    """Where the voice goes: AlsaPlayback or WavSink."""

    def write(self, block: np.ndarray) -> None: ...


class Voice(Protocol):
    """VoicePath: pickup periods in, synth periods out, with live controls."""

    def process(self, pickup: np.ndarray, out: np.ndarray) -> None: ...
    def set_enabled(self, on: bool) -> None: ...
    def set_patch(self, slot: int) -> None: ...
    def set_input_gain_db(self, db: float) -> None: ...
    def set_output_gain_db(self, db: float) -> None: ...


class Calibration(Protocol):
    """LiveCalibration: calibrate controls in, labelled gestures kept."""

    def command(self, value: str) -> None: ...
    def observe(self, gesture: Gesture) -> None: ...


class ControlSource(Protocol):
    """OscControlServer: validated controls, and a count of the rejected ones."""

    rejected: int

    def poll(self) -> Control | None: ...


@dataclass
class PeriodTimes:
    """Processing time of every period, ns, in a preallocated ring: for status and benches."""

    capacity: int = 1 << 16
    ns: np.ndarray = field(init=False)
    count: int = 0

    def __post_init__(self) -> None:
        self.ns = np.zeros(self.capacity, np.int64)

    def add(self, elapsed_ns: int) -> None:
        self.ns[self.count % self.capacity] = elapsed_ns
        self.count += 1

    def recent(self, periods: int) -> np.ndarray:
        """The last min(periods, stored) times, ns (a copy; oldest first not guaranteed)."""
        periods = min(periods, self.count, self.capacity)
        end = self.count % self.capacity
        if periods <= end:
            return self.ns[end - periods : end].copy()
        return np.concatenate([self.ns[self.capacity - (periods - end) :], self.ns[:end]])


@dataclass
class EngineStats:
    periods: int = 0
    frames: int = 0
    gestures: int = 0
    controls: int = 0
    last_latency_ms: float = 0.0


class Engine:
    """Reads periods from a source and runs the paths on them until the source ends or stop."""

    def __init__(
        self,
        source: Source,
        sample_rate_hz: int,
        period_frames: int,
        hit_path: HitPath | None,
        prefix: str = "/hitar",
        osc: GestureSink | None = None,
        events: EventSink | None = None,
        controls: ControlSource | None = None,
        on_gesture: Callable[[Gesture], None] | None = None,
        on_status: Callable[[dict], None] | None = None,
        status_interval_s: float = 1.0,
        max_frames: int | None = None,
        extra_status: Callable[[], dict] | None = None,
        voice: Voice | None = None,
        playback: AudioSink | None = None,
        calibration: Calibration | None = None,
    ) -> None:
        self.source = source
        self.sample_rate_hz = sample_rate_hz
        self.period_frames = period_frames
        self.hit_path = hit_path
        self.prefix = prefix
        self.osc = osc
        self.events = events
        self.controls = controls
        self.on_gesture = on_gesture
        self.on_status = on_status
        self.status_interval_frames = max(1, round(status_interval_s * sample_rate_hz))
        self.extra_status = extra_status
        """Counters of parts outside the engine (e.g. model reloads), merged into status."""
        self.max_frames = max_frames
        """Stop after this many input frames (None: until the source ends or stop())."""
        self.voice = voice
        self.playback = playback
        self.calibration = calibration
        """Gets the calibrate controls and every gesture (None: calibrate is ignored)."""
        self.stats = EngineStats()
        self.times = PeriodTimes()
        self._block = np.zeros((period_frames, N_CHANNELS), np.float32)
        self._pickup = np.zeros(period_frames, np.float32)
        self._voice_out = np.zeros(period_frames, np.float32)
        self._stopping = False
        self._next_status_frame = self.status_interval_frames

    def stop(self) -> None:
        """Ask the loop to end after the current period (safe from a signal handler)."""
        self._stopping = True

    def run(self) -> EngineStats:
        """The loop: read, process, repeat; returns when the source ends or stop() is called."""
        xruns = self.source.xruns
        while not self._stopping:
            frames = self.source.read(self._block)
            if frames <= 0:
                break
            if self.source.xruns != xruns and self.hit_path is not None:
                xruns = self.source.xruns
                self.hit_path.mark_discontinuity()
            started_ns = time.perf_counter_ns()
            self.process_period(self._block[:frames])
            self.times.add(time.perf_counter_ns() - started_ns)
            if self.stats.frames >= self._next_status_frame:
                self._next_status_frame += self.status_interval_frames
                self.report_status()
            if self.max_frames is not None and self.stats.frames >= self.max_frames:
                break
        if self.stats.frames > self._next_status_frame - self.status_interval_frames:
            self.report_status()  # the final snapshot, when the last interval was cut short
        return self.stats

    def process_period(self, block: np.ndarray) -> None:
        """Everything done per period. Block: float32 [frames, 6]."""
        self.stats.periods += 1
        self.stats.frames += block.shape[0]
        if self.controls is not None:
            control = self.controls.poll()
            if control is not None:
                self.apply_control(control)
        if self.hit_path is not None:
            for gesture in self.hit_path.process(block):
                self.emit(gesture)
        if self.voice is not None:
            frames = block.shape[0]
            self._pickup[:frames] = block[:, PICKUP_CHANNEL]
            self._pickup[frames:] = 0.0
            self.voice.process(self._pickup, self._voice_out)
            if self.playback is not None:
                self.playback.write(self._voice_out[:frames])

    def emit(self, gesture: Gesture) -> None:
        """Hand a gesture to the non-blocking outputs."""
        self.stats.gestures += 1
        self.stats.last_latency_ms = gesture.latency_ms
        if self.osc is not None:
            for address, args in gesture.osc_messages(self.prefix):
                self.osc.send(address, *args)
        if self.events is not None:
            self.events.log(gesture.to_event())
        if self.on_gesture is not None:
            self.on_gesture(gesture)
        if self.calibration is not None:
            self.calibration.observe(gesture)

    def apply_control(self, control: Control) -> None:
        """A validated control message from OSC, applied between periods."""
        self.stats.controls += 1
        if control.name == "threshold" and self.hit_path is not None:
            self.hit_path.detector.set_sensitivity(float(control.value))
        elif control.name == "retrigger_ms" and self.hit_path is not None:
            self.hit_path.detector.set_dead_time_ms(float(control.value))
        elif self.voice is not None and control.name in VOICE_CONTROLS:
            VOICE_CONTROLS[control.name](self.voice, control.value)
        elif control.name == CALIBRATE and self.calibration is not None:
            self.calibration.command(str(control.value))
        elif control.name == "status_interval_s":
            self.status_interval_frames = max(1, round(float(control.value) * self.sample_rate_hz))
            self._next_status_frame = self.stats.frames + self.status_interval_frames

    def status(self) -> dict:
        """A snapshot of the engine's health: load, xruns, latency, counters."""
        periods = max(1, self.status_interval_frames // self.period_frames)
        recent_ns = self.times.recent(periods)
        period_ns = 1e9 * self.period_frames / self.sample_rate_hz
        load = float(recent_ns.mean() / period_ns) if recent_ns.size else 0.0
        peak = float(recent_ns.max() / period_ns) if recent_ns.size else 0.0
        return {
            "type": "status",
            "frame": self.stats.frames,
            "time_s": round(self.stats.frames / self.sample_rate_hz, 3),
            "load": round(load, 4),
            "load_peak": round(peak, 4),
            "xruns": int(self.source.xruns) + int(getattr(self.playback, "xruns", 0)),
            "hits": self.stats.gestures,
            "latency_ms": round(self.stats.last_latency_ms, 3),
            "controls": self.stats.controls,
            "masked_onsets": self.hit_path.masked_onsets if self.hit_path is not None else 0,
            "controls_rejected": self.controls.rejected if self.controls is not None else 0,
            "osc_dropped": self.osc.dropped if self.osc is not None else 0,
            "osc_errors": self.osc.errors if self.osc is not None else 0,
            **(self.extra_status() if self.extra_status is not None else {}),
        }

    def report_status(self) -> None:
        """Send the status over OSC and to the status callback (logging, watchdog)."""
        status = self.status()
        if self.osc is not None:
            self.osc.send(
                f"{self.prefix}/status", *(status.get(key, 0) for key in STATUS_ARGUMENTS)
            )
        if self.on_status is not None:
            self.on_status(status)
