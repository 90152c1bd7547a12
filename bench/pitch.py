"""Benchmark of the pickup's pitch and loudness tracker (firmware/pitch.py).

Three questions, each answered by code anyone can rerun (`python -m bench.pitch`):

- Speed: time of PitchTracker.process per 64-sample hop on a real guitar render, median and
  99th percentile, against the voice path's share of real time.
- Latency: how long after a pitch change (a note from silence, or a jump between notes of a
  synthetic harmonic tone) the output is within 50 cents of the new pitch and stays there;
  and the same on the real renders from the moment each note's sound starts (which adds the
  instrument's attack: a pluck is noise before it is a period).
- Accuracy on real instruments: FluidR3 General MIDI renders (fluidsynth) of nylon and steel
  guitar, violin and flute across their ranges, one note per semitone at three velocities,
  scored against the MIDI pitch.

Scoring definitions:
- Sustained frames: hops ending between 50 ms after a note-on and its note-off (the release
  is excluded). Notes the soundfont renders silent (sustained RMS under -70 dBFS) are left
  out and counted.
- Accuracy: sustained frames that are voiced and within 50 cents of the MIDI pitch, over all
  sustained frames (an unvoiced frame counts as a miss).
- Voicing recall: voiced sustained frames over sustained frames.
- Gross error rate: voiced sustained frames more than 50 cents off, over voiced ones.
- Median cents error: median absolute error of voiced sustained frames.
"""

import hashlib
import json
import math
import os
import statistics
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import soundfile
from scipy.signal import resample_poly

from bench.common import describe_machine, machine
from firmware.layout import SAMPLE_RATE_HZ
from firmware.pitch import PitchConfig, PitchTracker, track
from training.data.midi_render import (
    SOUNDFONT,
    Note,
    fluidsynth_available,
    fluidsynth_version,
    note_sequence,
    render,
    write_midi,
)

BUILD_DIR = Path(__file__).resolve().parents[1] / "build" / "bench" / "pitch"
NOTE_S = 1.0
GAP_S = 0.5
RELEASE_S = 0.3
"""Release kept after each note-off before All Sound Off; the gap leaves 0.2 s of silence."""
VELOCITIES = (50, 80, 110)
SETTLE_S = 0.05
"""Sustained frames start this long after note-on."""
PEAK_DBFS = -6.0
"""Each render is scaled so that its loudest sample peaks here, as a player sets input gain."""
SILENT_NOTE_DBFS = -70.0
CENTS_TOLERANCE = 50.0
SPEED_SECONDS = 20.0
"""Seconds of the steel guitar render timed hop by hop."""
STEADY_S = 0.02
"""Latency: the output must stay within tolerance for this long after it first gets there."""


@dataclass(frozen=True)
class Instrument:
    """A General MIDI program (0-based) and the MIDI range it is played over."""

    program: int
    lowest: int
    highest: int


INSTRUMENTS = {
    "nylon guitar": Instrument(program=24, lowest=40, highest=83),  # E2..B5, 19 frets
    "steel guitar": Instrument(program=25, lowest=40, highest=84),  # E2..C6, 20 frets
    "violin": Instrument(program=40, lowest=55, highest=96),  # G3..C7
    "flute": Instrument(program=73, lowest=60, highest=96),  # C4..C7
}

DRUMKIT = Path("/usr/share/hydrogen/data/drumkits/ColomboAcousticDrumkit")
"""Real acoustic drum recordings (Debian's hydrogen-drumkits): hits the voice must not play."""
PERCUSSION = {  # file patterns in DRUMKIT; toms are pitched, for contrast
    "hi-hats": "hihat-*.flac",
    "crashes": "crash*__crash*.flac",
    "snares": "snare-*.flac",
    "rim clicks": "stick-rim-*.flac",
    "toms (pitched)": "tom-*.flac",
}

LATENCY_CASES_HZ = (
    (0.0, 82.41),  # silence -> E2, the lowest open string
    (0.0, 110.0),  # A2
    (0.0, 329.63),  # E4
    (0.0, 659.26),  # E5
    (0.0, 1318.51),  # E6
    (82.41, 110.0),  # a fourth up on the low strings
    (110.0, 82.41),  # and down
    (329.63, 440.0),  # a fourth up in the middle
    (440.0, 329.63),
    (659.26, 698.46),  # a semitone up high
)


def midi_hz(pitch: float) -> float:
    return 440.0 * 2.0 ** ((pitch - 69.0) / 12.0)


def instrument_notes(instrument: Instrument) -> list[Note]:
    return note_sequence(
        range(instrument.lowest, instrument.highest + 1), NOTE_S, GAP_S, VELOCITIES
    )


def instrument_render(name: str, instrument: Instrument, rate_hz: int) -> np.ndarray:
    """Mono render of an instrument's notes, scaled to PEAK_DBFS; cached in BUILD_DIR under
    the hash of its MIDI file, so that a changed score is rendered again."""
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    midi_path = BUILD_DIR / f"{name.replace(' ', '_')}.mid"
    write_midi(midi_path, instrument.program, instrument_notes(instrument), RELEASE_S)
    digest = hashlib.sha256(midi_path.read_bytes()).hexdigest()[:12]
    wav_path = midi_path.with_name(f"{midi_path.stem}_{rate_hz}_{digest}.wav")
    if wav_path.exists():
        signal, _ = soundfile.read(wav_path, dtype="float32")
    else:
        signal = render(midi_path, BUILD_DIR / "fluidsynth_out.wav", rate_hz)
        signal *= np.float32(10.0 ** (PEAK_DBFS / 20.0) / np.max(np.abs(signal)))
        soundfile.write(wav_path, signal, rate_hz, subtype="FLOAT")
    return signal


def hop_end_s(n_hops: int, config: PitchConfig, rate_hz: int) -> np.ndarray:
    """Time in s at which each hop's output is available: the end of the hop."""
    return (np.arange(n_hops) + 1) * config.hop_samples / rate_hz


def cents(f0_hz: np.ndarray, reference_hz: float | np.ndarray) -> np.ndarray:
    """Signed error in cents; unvoiced (0 Hz) frames give -inf."""
    with np.errstate(divide="ignore"):
        return 1200.0 * np.log2(f0_hz / reference_hz)


def score_instrument(
    signal: np.ndarray, notes: list[Note], config: PitchConfig, rate_hz: int
) -> dict:
    """Accuracy figures of one instrument's render (definitions in the module doc)."""
    f0_hz, _ = track(signal, config, rate_hz)
    times_s = hop_end_s(f0_hz.shape[0], config, rate_hz)
    reference_hz = np.zeros_like(f0_hz)
    silent_notes = []
    onset_latencies_ms = []
    for note in notes:
        sustained = (times_s >= note.onset_s + SETTLE_S) & (times_s <= note.offset_s)
        start, stop = (round(t * rate_hz) for t in (note.onset_s + SETTLE_S, note.offset_s))
        rms = float(np.sqrt(np.mean(signal[start:stop].astype(np.float64) ** 2)))
        if 20.0 * math.log10(max(rms, 1e-12)) < SILENT_NOTE_DBFS:
            silent_notes.append(note.pitch)
            continue
        reference_hz[sustained] = midi_hz(note.pitch)
        sound_s = sound_onset_s(signal, note, rate_hz)
        during = np.flatnonzero((times_s > sound_s) & (times_s <= note.offset_s))
        settled = first_settled(f0_hz[during], midi_hz(note.pitch), config, rate_hz)
        if settled is not None:
            onset_latencies_ms.append(1e3 * (times_s[during[settled]] - sound_s))
    sustained = reference_hz > 0
    voiced = sustained & (f0_hz > 0)
    error = np.abs(cents(f0_hz[voiced], reference_hz[voiced]))
    good = int(np.sum(error <= CENTS_TOLERANCE))
    return {
        "notes": len(notes) - len(silent_notes),
        "silent_notes_left_out": silent_notes,
        "sustained_frames": int(sustained.sum()),
        "accuracy": good / int(sustained.sum()),
        "voicing_recall": int(voiced.sum()) / int(sustained.sum()),
        "gross_error_rate": 1.0 - good / max(1, int(voiced.sum())),
        "median_abs_cents": float(np.median(error)),
        "onset_latency_ms_median": statistics.median(onset_latencies_ms),
        "onset_latency_ms_p90": float(np.percentile(onset_latencies_ms, 90)),
        "onsets_never_settled": len(notes) - len(silent_notes) - len(onset_latencies_ms),
    }


def sound_onset_s(signal: np.ndarray, note: Note, rate_hz: int) -> float:
    """When a note's sound starts: its first sample above 1 % (-40 dB) of the note's peak.
    FluidR3's samples start a few ms after note-on; the tracker cannot be blamed for that."""
    start, stop = round(note.onset_s * rate_hz), round(note.offset_s * rate_hz)
    magnitude = np.abs(signal[start:stop])
    return note.onset_s + int(np.argmax(magnitude >= 0.01 * magnitude.max())) / rate_hz


def first_settled(
    f0_hz: np.ndarray, target_hz: float, config: PitchConfig, rate_hz: int
) -> int | None:
    """Index of the first hop from which f0 is within tolerance of target for STEADY_S."""
    steady_hops = max(1, round(STEADY_S * rate_hz / config.hop_samples))
    within = np.abs(cents(f0_hz, target_hz)) <= CENTS_TOLERANCE
    runs = np.convolve(within, np.ones(steady_hops, dtype=int), mode="valid")
    settled = np.flatnonzero(runs == steady_hops)
    return int(settled[0]) if settled.shape[0] else None


def harmonic_tone(
    f0_hz: np.ndarray, rate_hz: int, n_harmonics: int = 8, amplitude: float = 0.25
) -> np.ndarray:
    """A phase-continuous tone with harmonics k at 1/k amplitude following f0_hz per sample
    (0 Hz is silence). Returns float32, shape [samples]."""
    phase = 2.0 * np.pi * np.cumsum(f0_hz) / rate_hz
    tone = sum(np.sin(k * phase) / k for k in range(1, n_harmonics + 1))
    return (amplitude * tone * (f0_hz > 0)).astype(np.float32)


def step_latency_ms(
    before_hz: float, after_hz: float, config: PitchConfig, rate_hz: int
) -> float | None:
    """Time from a pitch change (at a sample off the hop grid) until the tracker's output is
    within 50 cents of the new pitch and stays there for STEADY_S."""
    change_sample = rate_hz // 2 + 17
    f0_hz = np.full(rate_hz, after_hz)
    f0_hz[:change_sample] = before_hz
    estimate_hz, _ = track(harmonic_tone(f0_hz, rate_hz), config, rate_hz)
    first_hop = change_sample // config.hop_samples
    settled = first_settled(estimate_hz[first_hop:], after_hz, config, rate_hz)
    if settled is None:
        return None
    end_sample = (first_hop + settled + 1) * config.hop_samples
    return 1e3 * (end_sample - change_sample) / rate_hz


def speed(signal: np.ndarray, config: PitchConfig, rate_hz: int) -> dict:
    """Per-hop time of PitchTracker.process in microseconds over a real signal."""
    tracker = PitchTracker(config, rate_hz)
    n_hops = signal.shape[0] // config.hop_samples
    hops = signal[: n_hops * config.hop_samples].reshape(n_hops, config.hop_samples)
    elapsed_ns = np.zeros(n_hops, dtype=np.int64)
    cpu_ns = np.zeros(n_hops, dtype=np.int64)
    voiced = 0
    load_before = os.getloadavg()[0]
    for index, hop in enumerate(hops):
        start, start_cpu = time.perf_counter_ns(), time.thread_time_ns()
        f0_hz, _ = tracker.process(hop)
        cpu_ns[index] = time.thread_time_ns() - start_cpu
        elapsed_ns[index] = time.perf_counter_ns() - start
        voiced += f0_hz > 0
    hop_us = 1e6 * config.hop_samples / rate_hz
    return {
        "hops": n_hops,
        "voiced_fraction": voiced / n_hops,
        "median_us": float(np.median(elapsed_ns)) / 1e3,
        "p99_us": float(np.percentile(elapsed_ns, 99)) / 1e3,
        "cpu_median_us": float(np.median(cpu_ns)) / 1e3,
        "hop_us": hop_us,
        "median_share_of_real_time": float(np.median(elapsed_ns)) / 1e3 / hop_us,
        "load_average": max(load_before, os.getloadavg()[0]),
        "cpu_count": os.cpu_count(),
    }


def noise_false_voicing(config: PitchConfig, rate_hz: int) -> float:
    """Fraction of voiced hops on 5 s of white noise at -30 dBFS RMS (should be 0)."""
    noise = np.random.default_rng(0).standard_normal(5 * rate_hz) * 10.0 ** (-30.0 / 20.0)
    f0_hz, _ = track(noise.astype(np.float32), config, rate_hz)
    return float(np.mean(f0_hz > 0))


def percussion_voicing(config: PitchConfig, rate_hz: int) -> dict | str:
    """Fraction of hops above the gate that come out voiced, per kind of drum recording (each
    file scaled to peak at PEAK_DBFS, resampled to rate_hz)."""
    if not DRUMKIT.is_dir():
        return f"skipped: {DRUMKIT} is missing (Debian package hydrogen-drumkits)"
    results = {}
    for kind, pattern in PERCUSSION.items():
        voiced = sounding = 0
        for path in sorted(DRUMKIT.glob(pattern)):
            stereo, file_rate_hz = soundfile.read(path, dtype="float32", always_2d=True)
            mono = stereo.mean(axis=1)
            divisor = math.gcd(rate_hz, file_rate_hz)
            mono = resample_poly(mono, rate_hz // divisor, file_rate_hz // divisor)
            mono *= 10.0 ** (PEAK_DBFS / 20.0) / np.max(np.abs(mono))
            f0_hz, loudness = track(mono.astype(np.float32), config, rate_hz)
            voiced += int(np.sum(f0_hz > 0))
            sounding += int(np.sum(loudness > 0))
        results[kind] = {"voiced_fraction": voiced / sounding, "hops_above_gate": sounding}
    return results


def measure() -> dict:
    """Run every measurement with the default PitchConfig at 48 kHz (renders when missing)."""
    config = PitchConfig()
    rate_hz = SAMPLE_RATE_HZ
    results: dict = {
        "config": asdict(config),
        "sample_rate_hz": rate_hz,
        "machine": machine(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "latency_ms": [
            {
                "from_hz": before,
                "to_hz": after,
                "ms": step_latency_ms(before, after, config, rate_hz),
            }
            for before, after in LATENCY_CASES_HZ
        ],
        "noise_false_voicing": noise_false_voicing(config, rate_hz),
        "percussion_voicing": percussion_voicing(config, rate_hz),
    }
    if not fluidsynth_available():
        results["instruments"] = "skipped: fluidsynth or the FluidR3 soundfont is missing"
        return results
    renders = {
        name: instrument_render(name, instrument, rate_hz)
        for name, instrument in INSTRUMENTS.items()
    }
    results["renderer"] = f"{fluidsynth_version()}, {SOUNDFONT.name}"
    steel = renders["steel guitar"]
    results["speed"] = speed(steel[: round(SPEED_SECONDS * rate_hz)], config, rate_hz)
    results["instruments"] = {
        name: score_instrument(renders[name], instrument_notes(instrument), config, rate_hz)
        for name, instrument in INSTRUMENTS.items()
    }
    return results


def report(results: dict) -> str:
    """A Markdown section with the command, the figures, the machine and the date."""
    lines = [
        "## Pitch and loudness tracker (`firmware/pitch.py`)",
        "",
        "Command: `python -m bench.pitch` (renders with fluidsynth into build/bench/pitch/).",
        f"Machine: {describe_machine(results['machine'])}.",
        f"Sample rate {results['sample_rate_hz']} Hz, default `PitchConfig`: "
        + ", ".join(f"{key} {value}" for key, value in results["config"].items())
        + ".",
        "",
    ]
    if "speed" in results:
        s = results["speed"]
        lines += [
            f"Speed, `PitchTracker.process` per {results['config']['hop_samples']}-sample hop "
            f"over {s['hops']} hops of the steel guitar render ({s['voiced_fraction']:.0%} "
            f"voiced): median {s['median_us']:.1f} µs (thread CPU time {s['cpu_median_us']:.1f} "
            f"µs), p99 {s['p99_us']:.1f} µs; the median is "
            f"{s['median_share_of_real_time']:.1%} of the {s['hop_us']:.0f} µs hop. Load "
            f"average {s['load_average']:.1f} on {s['cpu_count']} CPUs while measuring.",
            "",
        ]
    lines += [
        "Latency from a pitch change of a harmonic tone until the output is within 50 cents "
        f"and stays there {STEADY_S * 1e3:.0f} ms:",
        "",
        "| from | to | latency |",
        "| --- | --- | --- |",
    ]
    for case in results["latency_ms"]:
        source = "silence" if case["from_hz"] == 0 else f"{case['from_hz']:.1f} Hz"
        value = "never" if case["ms"] is None else f"{case['ms']:.1f} ms"
        lines.append(f"| {source} | {case['to_hz']:.1f} Hz | {value} |")
    lines += ["", f"Voiced hops on white noise at -30 dBFS: {results['noise_false_voicing']:.2%}."]
    percussion = results["percussion_voicing"]
    if isinstance(percussion, str):
        lines += ["", f"Percussion: {percussion}."]
    else:
        lines += [
            "",
            f"Voiced hops (of those above the gate) on real drum recordings ({DRUMKIT.name}, "
            "hydrogen-drumkits), which reach the pickup when the body is hit:",
            "",
            "| recordings | hops above gate | voiced |",
            "| --- | --- | --- |",
        ]
        lines += [
            f"| {kind} | {figures['hops_above_gate']} | {figures['voiced_fraction']:.1%} |"
            for kind, figures in percussion.items()
        ]
    instruments = results["instruments"]
    if isinstance(instruments, str):
        lines += ["", f"Real instruments: {instruments}."]
        return "\n".join(lines) + "\n"
    lines += [
        "",
        f"Real instruments ({results['renderer']}, one note per semitone, velocities "
        f"{', '.join(map(str, VELOCITIES))}, {NOTE_S:.0f} s each; sustained frames from "
        f"{SETTLE_S * 1e3:.0f} ms after note-on to note-off; 50-cent tolerance against the "
        "MIDI pitch; onset latency from the note's first sample at 1 % of its peak until "
        f"the output is within 50 cents for {STEADY_S * 1e3:.0f} ms, the attack included):",
        "",
        "| instrument | MIDI range | notes | accuracy | voicing recall | gross errors "
        "| median error | onset latency median / p90 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, figures in instruments.items():
        instrument = INSTRUMENTS[name]
        left_out = figures["silent_notes_left_out"]
        notes = f"{figures['notes']}" + (f" ({len(left_out)} silent left out)" if left_out else "")
        lines.append(
            f"| {name} | {instrument.lowest}-{instrument.highest} | {notes} "
            f"| {figures['accuracy']:.2%} | {figures['voicing_recall']:.2%} "
            f"| {figures['gross_error_rate']:.2%} | {figures['median_abs_cents']:.1f} cents "
            f"| {figures['onset_latency_ms_median']:.1f} / {figures['onset_latency_ms_p90']:.1f}"
            " ms |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    measured = measure()
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    (BUILD_DIR / "results.json").write_text(json.dumps(measured, indent=2))
    print(report(measured))
