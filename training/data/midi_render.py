"""Sampled real instruments: notes written as a Standard MIDI File, rendered by fluidsynth.

Pitch tracking is judged on sampled recordings of real instruments (the FluidR3 General MIDI
soundfont, a Debian package) rather than on synthetic tones only, with the MIDI note as ground
truth; the drum kits of Debian's soundfonts are extra real kits for the drum models
(training.data.soundfont_drums). The MIDI writer is a few lines of the file format (format 0,
one track), so no MIDI library is needed; fluidsynth renders offline, faster than real time,
with reverb and chorus off (a string pickup hears neither, and a reverb tail would blur where
one note ends).
"""

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
"""FluidR3 General MIDI soundfont from Debian's fluid-soundfont-gm package."""

TICKS_PER_QUARTER = 480
US_PER_QUARTER = 480_000
"""Tempo such that one tick is exactly one millisecond."""


@dataclass(frozen=True)
class Note:
    """One note of the score: MIDI pitch (69 = A4 = 440 Hz) and velocity 1..127, times in s."""

    pitch: int
    velocity: int
    onset_s: float
    duration_s: float

    @property
    def offset_s(self) -> float:
        return self.onset_s + self.duration_s


def note_sequence(
    pitches: range | list[int], duration_s: float, gap_s: float, velocities: tuple[int, ...]
) -> list[Note]:
    """Isolated notes one after another, each followed by gap_s of silence for its release;
    velocities cycle so that every register is heard at several dynamics."""
    return [
        Note(pitch, velocities[i % len(velocities)], i * (duration_s + gap_s), duration_s)
        for i, pitch in enumerate(pitches)
    ]


DRUM_CHANNEL = 9
"""General MIDI's percussion channel (0-based; "channel 10"): its program selects a drum kit
(a bank-128 preset) and each note is one instrument of the kit."""


def write_midi(
    path: Path, program: int, notes: list[Note], release_s: float, channel: int = 0
) -> None:
    """Write notes on one channel (0-based) with General MIDI program (0-based: 24 = nylon
    guitar; on DRUM_CHANNEL, the kit: 0 = Standard).

    Each note's release is cut by All Sound Off release_s after its note-off: some FluidR3
    presets (steel guitar) ring on for seconds and would sound under the next note.
    """
    if not 0 <= channel <= 15:
        raise ValueError(f"MIDI channel must be in 0..15, got {channel}")
    note_on, note_off, control = 0x90 | channel, 0x80 | channel, 0xB0 | channel
    events: list[tuple[int, bytes]] = [(0, bytes([0xC0 | channel, program]))]
    for note in notes:
        events.append((_ticks(note.onset_s), bytes([note_on, note.pitch, note.velocity])))
        events.append((_ticks(note.offset_s), bytes([note_off, note.pitch, 64])))
        events.append((_ticks(note.offset_s + release_s), bytes([control, 120, 0])))
    events.sort(key=lambda event: (event[0], event[1][0] == note_on))  # ons last at a tick
    track = bytearray(b"\x00\xff\x51\x03" + US_PER_QUARTER.to_bytes(3, "big"))
    now = 0
    for tick, message in events:
        track += _variable_length(tick - now) + message
        now = tick
    track += b"\x00\xff\x2f\x00"
    header = b"MThd" + (6).to_bytes(4, "big") + bytes([0, 0, 0, 1])
    header += TICKS_PER_QUARTER.to_bytes(2, "big")
    path.write_bytes(header + b"MTrk" + len(track).to_bytes(4, "big") + bytes(track))


def fluidsynth_available() -> bool:
    """Whether the fluidsynth program and the FluidR3 soundfont are installed."""
    return shutil.which("fluidsynth") is not None and SOUNDFONT.is_file()


def fluidsynth_version() -> str:
    """The renderer's version line, e.g. "FluidSynth runtime version 2.3.1"."""
    result = subprocess.run(["fluidsynth", "--version"], check=True, capture_output=True)
    return result.stdout.decode().splitlines()[0].strip()


def render(midi_path: Path, wav_path: Path, sample_rate_hz: int) -> np.ndarray:
    """Render a MIDI file offline with FluidR3 and return it as mono.

    Returns:
        float32 samples, shape [frames]: the mean of fluidsynth's two channels.
    """
    return render_stereo(midi_path, wav_path, sample_rate_hz).mean(axis=1)


def render_stereo(
    midi_path: Path, wav_path: Path, sample_rate_hz: int, soundfont: Path = SOUNDFONT
) -> np.ndarray:
    """Render a MIDI file offline with fluidsynth (reverb and chorus off) into wav_path.

    Returns:
        float32 samples, shape [frames, 2], as the soundfont pans them.
    """
    subprocess.run(
        ["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-r", str(sample_rate_hz),
         "-F", str(wav_path), str(soundfont), str(midi_path)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    stereo, rate_hz = soundfile.read(wav_path, dtype="float32", always_2d=True)
    if rate_hz != sample_rate_hz:
        raise RuntimeError(f"{wav_path}: fluidsynth wrote {rate_hz} Hz, asked {sample_rate_hz}")
    return stereo


def _ticks(time_s: float) -> int:
    return round(time_s * 1e6 * TICKS_PER_QUARTER / US_PER_QUARTER)


def _variable_length(value: int) -> bytes:
    """MIDI variable-length quantity: 7 bits per byte, most significant first."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))
