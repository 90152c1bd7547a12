"""The instrument assembled: source, hit path, outputs, status, signals; then the engine runs.

The command line (firmware/cli.py) turns flags and a board profile into RunSettings; this module
builds every part from them, in an order where anything that can fail on bad input fails before
the first period is read, and closes every part on the way out (event log flushed, OSC queue
drained, watchdog told), whether the run ends, is stopped by SIGTERM/SIGINT, or fails.
"""

import logging
import signal
from contextlib import ExitStack, closing
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from firmware.audio_io import AlsaCapture, AlsaPlayback, AudioConfig
from firmware.board import BoardProfile
from firmware.bundle_store import store_of
from firmware.engine import Engine, EngineStats, Source
from firmware.events import EventLog
from firmware.features import FeatureConfig
from firmware.hit_model import HitModel
from firmware.hit_path import HitPath
from firmware.live_calibration import LiveCalibration
from firmware.model_watch import BundleWatcher
from firmware.onset import HitDetector
from firmware.osc import OscConfig, OscControlServer, OscSender
from firmware.realtime import apply_realtime
from firmware.replay import WavReplay, WavSink
from firmware.voice import VoiceConfig, VoicePath
from firmware.watchdog import Notifier

log = logging.getLogger("hitar")
gestures_log = logging.getLogger("hitar.gestures")


@dataclass(frozen=True)
class RunSettings:
    """Everything a run is started with, after the command line's overrides."""

    profile: BoardProfile
    audio: AudioConfig
    osc: OscConfig
    model: Path
    input: Path | None = None
    """A recording to replay instead of ALSA capture."""
    realtime: bool = True
    """With input: pace the replay to the wall clock (False: as fast as possible)."""
    events: Path | None = None
    print_gestures: bool = False
    max_seconds: float | None = None
    voice: VoiceConfig | None = None
    """The FM voice, or None for the hit path alone."""
    output: Path | None = None
    """With a voice: write it to this WAV instead of the ALSA playback device."""


class StopRequest:
    """A SIGTERM/SIGINT handler: stops the engine after its current period, or, when the
    signal comes before the engine exists, keeps it from starting."""

    def __init__(self) -> None:
        self.requested = False
        self.engine: Engine | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
        if self.engine is not None:
            self.engine.stop()

    def install(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self)


def load_model(settings: RunSettings) -> tuple[FeatureConfig, HitModel]:
    """The hit model, checked against the firmware's own feature parameters."""
    features = FeatureConfig(sample_rate_hz=settings.audio.sample_rate_hz)
    return features, HitModel(settings.model, features)


def run(
    settings: RunSettings, stop: StopRequest, source: Source | None = None
) -> EngineStats | None:
    """Build the instrument, play until the source ends or stop, close everything.

    Args:
        source: read periods from it instead of opening the recording or the ALSA device that
            settings name; it needs close(), which run calls. The soak (bench/soak/run_firmware.py)
            passes a looped recording that loses periods as an overrunning device does.
    """
    features, model = load_model(settings)
    log.info("board %s: %s", settings.profile.name, settings.profile.description)
    calibration = f"; player calibration of {', '.join(model.offsets)}" if model.offsets else ""
    log.info("model %s (%s%s)", model.bundle.path, model.model.runtime, calibration)
    audio = settings.audio
    with ExitStack() as stack:
        if source is None:
            source = _open_source(settings, model)
        source = stack.enter_context(closing(source))
        sender = stack.enter_context(closing(OscSender(settings.osc)))
        class_names = tuple(name for names in model.classes.values() for name in names)
        controls = (
            stack.enter_context(closing(OscControlServer(settings.osc, class_names=class_names)))
            if settings.osc.control_port
            else None
        )
        events = (
            stack.enter_context(closing(EventLog(settings.events)))
            if settings.events is not None
            else None
        )
        voice = playback = None
        if settings.voice is not None:
            voice = stack.enter_context(
                closing(VoicePath(settings.voice, audio.sample_rate_hz, audio.period_frames))
            )
            playback = stack.enter_context(closing(_open_playback(settings)))
            log.info("voice: slot %d, %s", voice.slot, voice.patch.display_name)
        notifier = stack.enter_context(closing(Notifier()))
        reporter = StatusReporter(events, notifier)
        hit_path = HitPath(
            HitDetector(settings.profile.detector, audio.sample_rate_hz),
            model,
            features,
            audio.sample_rate_hz,
            audio.period_frames,
        )
        calibration = stack.enter_context(
            closing(
                LiveCalibration(
                    lambda: hit_path.model,
                    hit_path.replace_model,
                    lambda event, detail: sender.send(
                        f"{settings.osc.prefix}/calibration", event, detail
                    ),
                    store_of(settings.model),
                )
            )
        )
        engine = Engine(
            source=source,
            sample_rate_hz=audio.sample_rate_hz,
            period_frames=audio.period_frames,
            hit_path=hit_path,
            prefix=settings.osc.prefix,
            osc=sender,
            events=events,
            controls=controls,
            on_gesture=(lambda g: gestures_log.info(g.describe()))
            if settings.print_gestures
            else None,
            on_status=reporter,
            status_interval_s=settings.osc.status_interval_s,
            max_frames=None
            if settings.max_seconds is None
            else round(settings.max_seconds * audio.sample_rate_hz),
            voice=voice,
            playback=playback,
            calibration=calibration if controls is not None else None,
        )
        watcher = stack.enter_context(
            closing(
                BundleWatcher(
                    settings.model,
                    lambda path: HitModel(path, features),
                    hit_path.replace_model,
                )
            )
        )
        engine.extra_status = lambda: {
            "model_reloads": watcher.reloads,
            "model_failures": watcher.failures,
            "calibration_fits": calibration.fits,
            "calibration_failures": calibration.failures,
            **(_voice_status(voice) if voice is not None else {}),
        }
        stop.engine = engine
        if stop.requested:
            return None
        if settings.input is None:
            # Last, so that the OSC and event-log threads started above keep normal priority
            # and no CPU pinning: only the audio loop (this thread) runs SCHED_FIFO.
            for warning in apply_realtime(settings.profile.realtime):
                log.warning(warning)
        notifier.ready(f"playing on {settings.profile.name}")
        stats = engine.run()
        notifier.stopping(f"stopped after {stats.frames / audio.sample_rate_hz:.1f} s")
        log.info(
            "stopped after %.1f s of audio: %d gestures, %d xruns",
            stats.frames / audio.sample_rate_hz,
            stats.gestures,
            source.xruns,
        )
        return stats


def _open_source(settings: RunSettings, model: HitModel) -> AlsaCapture | WavReplay:
    if settings.input is not None:
        return WavReplay(
            settings.input,
            settings.audio.period_frames,
            model.bundle.sample_rate_hz,
            realtime=settings.realtime,
        )
    return AlsaCapture(settings.audio)


def _open_playback(settings: RunSettings) -> AlsaPlayback | WavSink:
    if settings.output is not None:
        return WavSink(settings.output, settings.audio.sample_rate_hz, 1)
    return AlsaPlayback(settings.audio)


def _voice_status(voice: VoicePath) -> dict:
    return {
        "voice_on": int(voice.enabled),
        "voice_slot": voice.slot,
        "voice_failures": voice.patch_load_failures,
    }


class StatusReporter:
    """Once per status interval (never per period): the event log, the service watchdog, and
    the log (the journal) when a kind of fault starts or stops: a fault that lasts is reported
    once when it begins and once when it ends, not every interval."""

    FAULTS = (
        "xruns",
        "osc_errors",
        "osc_dropped",
        "controls_rejected",
        "model_failures",
        "voice_failures",
    )

    def __init__(self, events: EventLog | None, notifier: Notifier) -> None:
        self.events = events
        self.notifier = notifier
        self._totals = dict.fromkeys(self.FAULTS, 0)
        self._active: set[str] = set()

    def __call__(self, status: dict) -> None:
        for fault in self.FAULTS:
            total = status.get(fault, 0)
            new, self._totals[fault] = total - self._totals[fault], total
            if new and fault not in self._active:
                self._active.add(fault)
                log.warning("%s: %d at %.1f s", fault, new, status["time_s"])
            elif not new and fault in self._active:
                self._active.discard(fault)
                log.info("%s stopped at %.1f s (%d in all)", fault, status["time_s"], total)
        if self.events is not None:
            self.events.log(status)
        self.notifier.watchdog(
            f"load {status['load']:.1%} (peak {status['load_peak']:.1%}), "
            f"hits {status['hits']}, faults: {', '.join(sorted(self._active)) or 'none'}"
        )
