"""What the envelope model learns from: phrases a player might play into the string pickup.

A phrase starts and ends in silence and holds one to a few notes. Each has two faces:

- its *score*: NoteEvents on the frame grid (one frame per hop), from which the patch's own
  envelope generators make the training targets (`firmware.dx7.operator_levels`);
- its *pickup signal*: a harmonic tone whose pitch follows the notes and whose loudness contour
  is a trapezoid scaled by velocity (attack, sustain, release), the network's inputs being what
  the firmware's tracker makes of it (see training/voice/dataset.py).

Velocity is not an input of the network: it reaches it only as loudness, through a fixed map
(`peak_db`): a note of velocity v peaks at ``top_db - range_db * (1 - v / 127)`` dBFS RMS on the
pickup, linear in dB like a DX7's velocity response. The board's input gain is set so that the
player's hardest notes reach top_db.

What varies, and what the network must learn to tell apart:

- note-on from silence: loudness (and a few hops later pitch) appear;
- legato: the pitch moves to another key (a step, or a glide) with a short level change; the
  new note retriggers the envelopes from where they are, as on a DX7 in mono mode;
- re-attack: the level dips (the finger or pick damping the string) and rises again fast
  (under `reattack_ms`), on the same key or another: a new note;
- swell: the level rises or falls slowly mid-note (`swell_s`): no new note, the velocity stays;
- a sustain that decays (a string does) or holds (a bow, an e-bow);
- vibrato and small detuning: the key is the nearest semitone;
- note-off: the level falls away (`release_ms`); the envelopes release.

Every random draw comes from the generator passed in, so a phrase set is a function of its seed.
"""

import math
from dataclasses import dataclass

import numpy as np

from firmware.dx7 import NoteEvent, midi_to_hz


@dataclass(frozen=True)
class PhraseConfig:
    """The distribution phrases are drawn from. Ranges are (low, high), both inclusive."""

    keys: tuple[int, int] = (38, 88)
    """MIDI keys: drop-D low D (D2) to the 24th fret of the high E string (E6)."""
    velocities: tuple[int, int] = (16, 127)
    top_db: float = -10.0
    """Sustain RMS level in dBFS of a note of velocity 127."""
    range_db: float = 40.0
    """A note of velocity v peaks range_db * (1 - v / 127) below top_db."""
    notes_per_phrase: tuple[int, int] = (1, 4)
    hold_s: tuple[float, float] = (0.12, 1.5)
    """Time from a note's start to the next note or the note-off (log-uniform)."""
    attack_ms: tuple[float, float] = (1.0, 25.0)
    """Rise time of a note from silence (log-uniform); legato and re-attacks rise faster."""
    reattack_ms: tuple[float, float] = (1.0, 8.0)
    reattack_share: float = 0.4
    """Share of note changes inside a phrase that are re-attacks (the rest are legato)."""
    dip_db: tuple[float, float] = (10.0, 40.0)
    """Level drop before a re-attack (never below floor_db)."""
    dip_ms: tuple[float, float] = (2.0, 8.0)
    glide_share: float = 0.25
    """Share of legato changes that glide instead of stepping."""
    glide_ms: tuple[float, float] = (20.0, 80.0)
    leap_semitones: int = 12
    """Largest pitch change between consecutive notes."""
    decay_share: float = 0.5
    """Share of notes whose sustain decays (the rest hold their level)."""
    decay_db_per_s: tuple[float, float] = (2.0, 24.0)
    swell_share: float = 0.3
    swell_db: tuple[float, float] = (-9.0, 9.0)
    swell_s: tuple[float, float] = (0.2, 0.8)
    """Duration of a swell (a raised cosine in dB)."""
    vibrato_share: float = 0.2
    vibrato_cents: tuple[float, float] = (5.0, 25.0)
    vibrato_hz: tuple[float, float] = (4.0, 7.0)
    detune_cents: float = 10.0
    """Largest mistuning of a note: the key is still the nearest semitone."""
    release_ms: tuple[float, float] = (20.0, 600.0)
    """Time for the level to fall release_depth_db after the note-off (log-uniform)."""
    release_depth_db: float = 80.0
    floor_db: float = -60.0
    """Dips and swells stay above this level inside a phrase, so that the tracker's silence
    (loudness 0, the board's state reset) only ever comes after the last note."""
    tail_ms: float = 40.0
    """Digital silence after the release, long enough for the tracker to report silence."""
    max_partials: int = 10
    partial_tilt: tuple[float, float] = (0.7, 1.8)
    """Partial k of the pickup tone has amplitude k ** -tilt."""


@dataclass(frozen=True)
class Phrase:
    """One phrase: the score on the frame grid and the pickup signal's controls per sample."""

    notes: tuple[NoteEvent, ...]
    """Frames counted from the phrase's first sample; the first note starts at frame 0."""
    n_frames: int
    f0_hz: np.ndarray
    """Pitch of the string, float64 [n_frames * hop_samples]; held through the release."""
    rms: np.ndarray
    """RMS level of the pickup tone (full scale 1.0), float64 [n_frames * hop_samples]."""


def peak_db(velocity: int, config: PhraseConfig) -> float:
    """The sustain level in dBFS RMS of a note of this velocity (0..127) on the pickup."""
    return config.top_db - config.range_db * (1.0 - velocity / 127.0)


def make_phrase(
    rng: np.random.Generator, config: PhraseConfig, hop_samples: int, sample_rate_hz: int
) -> Phrase:
    """Draw one phrase (see the module doc for what varies)."""
    frame_rate_hz = sample_rate_hz / hop_samples
    n_notes = int(rng.integers(config.notes_per_phrase[0], config.notes_per_phrase[1] + 1))
    key = int(rng.integers(config.keys[0], config.keys[1] + 1))
    notes: list[NoteEvent] = []
    f0_parts: list[np.ndarray] = []
    rms_parts: list[np.ndarray] = []
    reattacks = [bool(rng.random() < config.reattack_share) for _ in range(n_notes - 1)]
    level = 0.0
    pitch_hz = 0.0
    frame = 0
    for index in range(n_notes):
        reattack = index > 0 and reattacks[index - 1]
        if index:
            key = _next_key(rng, key, config, allow_same=reattack)
        velocity = int(rng.integers(config.velocities[0], config.velocities[1] + 1))
        hold_frames = max(2, round(_log_uniform(rng, config.hold_s) * frame_rate_hz))
        f0, rms = _note_controls(
            rng, config, key, velocity, level, pitch_hz, index, reattack,
            hold_frames * hop_samples, sample_rate_hz,
        )  # fmt: skip
        if index < n_notes - 1 and reattacks[index]:
            _dip_end(rng, config, rms, sample_rate_hz)
        stop = frame + hold_frames
        notes.append(NoteEvent(key, velocity, frame, stop))
        f0_parts.append(f0)
        rms_parts.append(rms)
        level, pitch_hz, frame = float(rms[-1]), float(f0[-1]), stop
    release = _release(rng, config, level, pitch_hz, hop_samples, sample_rate_hz)
    f0_parts.append(release[0])
    rms_parts.append(release[1])
    f0_hz = np.concatenate(f0_parts)
    rms = np.concatenate(rms_parts)
    return Phrase(tuple(notes), f0_hz.shape[0] // hop_samples, f0_hz, rms)


def _note_controls(
    rng: np.random.Generator,
    config: PhraseConfig,
    key: int,
    velocity: int,
    level: float,
    pitch_hz: float,
    index: int,
    reattack: bool,
    n_samples: int,
    sample_rate_hz: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Pitch and RMS level, float64 [n_samples] each, of one held note from its start.

    The level rises linearly from where the last note left it (0 for the first) to the
    velocity's peak, then decays or holds, with an optional swell; the pitch steps or glides
    from the last note's, mistuned and with optional vibrato.
    """
    t_s = np.arange(n_samples) / sample_rate_hz
    peak = 10.0 ** (peak_db(velocity, config) / 20.0)
    if index == 0:
        rise_ms = _log_uniform(rng, config.attack_ms)
    else:
        rise_ms = _log_uniform(rng, config.reattack_ms)
    rise = min(n_samples, max(1, round(rise_ms * 1e-3 * sample_rate_hz)))
    gain_db = np.zeros(n_samples)
    if rng.random() < config.decay_share:
        gain_db -= rng.uniform(*config.decay_db_per_s) * np.maximum(t_s - rise_ms * 1e-3, 0.0)
    duration_s = n_samples / sample_rate_hz
    swell_s = rng.uniform(*config.swell_s)
    if rng.random() < config.swell_share and duration_s > swell_s + 0.1:
        start_s = rng.uniform(0.1, duration_s - swell_s)
        inside = (t_s >= start_s) & (t_s < start_s + swell_s)
        shape = 0.5 - 0.5 * np.cos(2.0 * np.pi * (t_s[inside] - start_s) / swell_s)
        gain_db[inside] += rng.uniform(*config.swell_db) * shape
    floor = 10.0 ** (config.floor_db / 20.0)
    rms = np.maximum(peak * 10.0 ** (gain_db / 20.0), floor)
    rms[:rise] = level + (rms[rise - 1] - level) * np.arange(1, rise + 1) / rise

    target_hz = midi_to_hz(key + rng.uniform(-1.0, 1.0) * config.detune_cents / 100.0)
    f0_hz = np.full(n_samples, target_hz)
    if index and not reattack and rng.random() < config.glide_share:
        glide = min(n_samples, round(_log_uniform(rng, config.glide_ms) * 1e-3 * sample_rate_hz))
        f0_hz[:glide] = pitch_hz * (target_hz / pitch_hz) ** (np.arange(1, glide + 1) / glide)
    if rng.random() < config.vibrato_share:
        cents = rng.uniform(*config.vibrato_cents)
        rate_hz = rng.uniform(*config.vibrato_hz)
        f0_hz *= 2.0 ** (cents / 1200.0 * np.sin(2.0 * np.pi * rate_hz * t_s))
    return f0_hz, rms


def _dip_end(
    rng: np.random.Generator, config: PhraseConfig, rms: np.ndarray, sample_rate_hz: int
) -> None:
    """Damp the end of a note in place before a re-attack: a fall of dip_db over dip_ms."""
    length = min(rms.shape[0] // 2, round(rng.uniform(*config.dip_ms) * 1e-3 * sample_rate_hz))
    if length < 1:
        return
    ramp_db = rng.uniform(*config.dip_db) * np.arange(1, length + 1) / length
    floor = 10.0 ** (config.floor_db / 20.0)
    rms[-length:] = np.maximum(rms[-length:] * 10.0 ** (-ramp_db / 20.0), floor)


def _release(
    rng: np.random.Generator,
    config: PhraseConfig,
    level: float,
    pitch_hz: float,
    hop_samples: int,
    sample_rate_hz: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Pitch and level after the note-off: a fall in dB, then silence, whole hops in all."""
    release = max(1, round(_log_uniform(rng, config.release_ms) * 1e-3 * sample_rate_hz))
    tail = round(config.tail_ms * 1e-3 * sample_rate_hz)
    n_samples = -(-(release + tail) // hop_samples) * hop_samples
    rms = np.zeros(n_samples)
    fall_db = config.release_depth_db * np.arange(1, release + 1) / release
    rms[:release] = level * 10.0 ** (-fall_db / 20.0)
    return np.full(n_samples, pitch_hz), rms


def _next_key(rng: np.random.Generator, key: int, config: PhraseConfig, allow_same: bool) -> int:
    """A key within leap_semitones of the last, inside the key range; the same key only for a
    re-attack (half of them)."""
    if allow_same and rng.random() < 0.5:
        return key
    low = max(config.keys[0], key - config.leap_semitones)
    high = min(config.keys[1], key + config.leap_semitones)
    choices = [k for k in range(low, high + 1) if k != key]
    return int(rng.choice(choices))


def _log_uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return math.exp(rng.uniform(math.log(bounds[0]), math.log(bounds[1])))


def pickup_signal(
    phrase: Phrase, rng: np.random.Generator, config: PhraseConfig, sample_rate_hz: int
) -> np.ndarray:
    """The phrase as a pickup might hear it: a harmonic tone at the phrase's pitch whose RMS
    follows the phrase's level. Partial k has amplitude k ** -tilt (tilt drawn per phrase) and a
    random phase; none lies above 0.45 of the sample rate at the phrase's highest pitch.

    Returns:
        float32 samples, shape [n_frames * hop_samples], full scale 1.0.
    """
    highest_hz = float(phrase.f0_hz.max())
    n_partials = max(1, min(config.max_partials, int(0.45 * sample_rate_hz / highest_hz)))
    k = np.arange(1, n_partials + 1)
    weights = k ** -rng.uniform(*config.partial_tilt)
    weights /= math.sqrt(float(np.sum(weights**2)) / 2.0)  # RMS 1 for a steady tone
    offsets = rng.uniform(0.0, 2.0 * np.pi, n_partials)
    phase = 2.0 * np.pi * np.cumsum(phrase.f0_hz) / sample_rate_hz
    tone = np.zeros_like(phase)
    for weight, partial, offset in zip(weights, k, offsets, strict=True):
        tone += weight * np.sin(partial * phase + offset)
    return (tone * phrase.rms).astype(np.float32)
