"""Notes of the string pickup, hop by hop: the envelope model's explicit inputs.

A DX7 patch's operator levels are a function of the note's key, its velocity and the time since
its key-on (and, in a release, since its key-off). Given only pitch and loudness, the envelope
model has to find the onsets, remember the velocity and count time in its recurrent state, and a
GRU counts time poorly: its error grows with the age of the note. This module does that part
with plain DSP, once, for the board and for training (`note_inputs` runs the same class over a
whole sequence), and hands the network the variables the envelope generators themselves use:

    inputs per hop, float32 [N_INPUTS]:
      0 pitch     normalised pitch of the tracker (firmware.pitch.normalised_pitch)
      1 loudness  the tracker's loudness in [0, 1]
      2 key       the note's key (nearest semitone, held through vibrato) / 127; 0 until voiced
      3 velocity  the note's loudness estimate: mean loudness over its ages velocity_hops
      4 age       seconds since the note's onset, up to max_age_s
      5 onset     exp(-age / onset_ms): 1 at an onset, fading (a note-on flag the GRU can read)

Onsets (a new note restarts the DX7 envelopes) come from three cues:

- from silence: the first hop after silence (the board resets everything on silence);
- loudness: a rise of rise_db within rise_hops, or a fall of fall_db within fall_hops that
  settles on a plateau (a re-attack on a softer note), on the loudness smoothed over one period
  of the note (the tracker's 8-hop RMS ripples at the period of low notes);
- pitch: the pitch leaves the key by more than departure_semitones and stays on one new key for
  confirm_hops; the onset is dated back to where it left the old key (a glide's start, as on a
  keyboard), less the tracker's lag.

Each onset is dated back to where its cue began (where the loudness left its floor or crossed
half its fall, where the pitch left the old key), so the age is within a few hops of the true
key-on. After an onset the cues rest for settle_ms (an attack or a glide is one note, not
several); a key change in that time corrects the key. Velocity is then averaged over the
note's velocity_hops window, after the attack has settled.

Real-time: all state is a few scalars and two short rings allocated in the constructor; per hop
`process` does a few dozen scalar operations and fills a preallocated array.
"""

import math
from dataclasses import dataclass

import numpy as np

from firmware.pitch import A4_HZ, MIDI_A4, MIDI_RANGE, normalised_pitch

N_INPUTS = 6
"""Model inputs per hop: pitch, loudness, key, velocity, age, onset."""
INPUT_NAMES = ("pitch", "loudness", "key", "velocity", "age", "onset")
LOUDNESS_RANGE_DB = 70.0
"""Loudness 0..1 spans 70 dB (firmware.pitch.LOUDNESS_FLOOR_DB): dB thresholds are converted."""
HALF_ENERGY_DB = 3.0
RISE_START_SHARE = 0.25


@dataclass(frozen=True)
class NoteConfig:
    """Parameters of the note tracker; a voice bundle records them (the model learnt on them)."""

    settle_ms: float = 60.0
    """After an onset, no new onset for this long (an attack or a glide is one note)."""
    rise_db: float = 2.0
    """A rise of the period-smoothed loudness by more than this within rise_hops is an onset."""
    rise_hops: int = 8
    fall_db: float = 6.0
    """A fall by more than this within fall_hops, ending on a plateau, is an onset."""
    fall_hops: int = 24
    flat_db: float = 0.75
    """A plateau: the smoothed loudness moved less than this over the last flat_hops."""
    flat_hops: int = 3
    departure_semitones: float = 0.5
    """Pitch further than this from the note's key is heading for another key..."""
    confirm_hops: int = 3
    """...and becomes a new note once it has stayed on one key for this many hops."""
    pitch_lag_ms: float = 1.3
    """The pitch tracker goes on reporting the old key for about this long, plus half a period
    of the new note, after a key change: a pitch onset is dated back by as much."""
    velocity_hops: tuple[int, int] = (20, 40)
    """Ages (hops) over which the loudness is averaged into the velocity estimate: after the
    attack and the RMS window, before a decay has gone far."""
    max_age_s: float = 2.0
    """The age input stops here (longer notes hold their sustain)."""
    onset_ms: float = 20.0
    """Time constant of the onset input."""
    max_smoothing_hops: int = 12
    """Longest period smoothing (a period of 62 Hz at 48 kHz / 64)."""

    def __post_init__(self) -> None:
        if self.settle_ms < 0 or self.max_age_s <= 0 or self.onset_ms <= 0:
            raise ValueError(
                f"need settle_ms >= 0, max_age_s > 0, onset_ms > 0; got {self.settle_ms}, "
                f"{self.max_age_s}, {self.onset_ms}"
            )
        if min(self.rise_hops, self.fall_hops, self.flat_hops, self.confirm_hops) < 1:
            raise ValueError("rise_hops, fall_hops, flat_hops and confirm_hops must be >= 1")
        if self.flat_hops > self.fall_hops:
            raise ValueError(f"flat_hops {self.flat_hops} must not exceed fall_hops")
        if min(self.rise_db, self.fall_db, self.flat_db, self.departure_semitones) <= 0:
            raise ValueError("rise_db, fall_db, flat_db and departure_semitones must be > 0")
        if len(self.velocity_hops) != 2:
            raise ValueError(f"velocity_hops {self.velocity_hops}: expected [first, stop]")
        first, stop = self.velocity_hops
        if not 0 <= first < stop:
            raise ValueError(f"velocity_hops {self.velocity_hops}: expected 0 <= first < stop")
        if self.max_smoothing_hops < 1:
            raise ValueError(f"max_smoothing_hops {self.max_smoothing_hops}, expected >= 1")


class NoteTracker:
    """Onsets, key, velocity and age of the pickup's notes, one hop at a time."""

    def __init__(self, config: NoteConfig, frame_rate_hz: float) -> None:
        if frame_rate_hz <= 0:
            raise ValueError(f"frame_rate_hz {frame_rate_hz}, expected > 0")
        self.config = config
        self.frame_rate_hz = frame_rate_hz
        self._settle_hops = round(config.settle_ms * 1e-3 * frame_rate_hz)
        self._max_age_hops = round(config.max_age_s * frame_rate_hz)
        self._onset_decay = math.exp(-1.0 / (config.onset_ms * 1e-3 * frame_rate_hz))
        self._rise = config.rise_db / LOUDNESS_RANGE_DB
        self._fall = config.fall_db / LOUDNESS_RANGE_DB
        self._flat = config.flat_db / LOUDNESS_RANGE_DB
        self._raw = [0.0] * config.max_smoothing_hops
        self._smooth = [0.0] * config.fall_hops
        self._out = np.zeros(N_INPUTS, np.float32)
        self.onsets = 0
        """Onsets since construction (all cues), for status and tests."""
        self.reset()

    def reset(self) -> None:
        """Silence: no note; the next non-silent hop is an onset."""
        self._active = False
        self._key = 0
        self._period_hops = 1
        self._age = 0
        self._since_onset = 0
        self._filled = 0
        self._off_key = 0
        self._candidate = 0
        self._stable = 0
        self._velocity_sum = 0.0
        self._velocity_count = 0
        self._velocity_from = 0
        self._out.fill(0.0)

    def process(self, f0_hz: float, loudness: float) -> np.ndarray:
        """One hop of the tracker's output.

        Args:
            f0_hz: pitch in Hz, 0 when unvoiced.
            loudness: in [0, 1]; (0, 0) is silence, which resets the tracker.

        Returns:
            The model's inputs, float32 [N_INPUTS] (see the module doc): a buffer overwritten
            by the next call; zeros on silence.
        """
        if f0_hz == 0.0 and loudness == 0.0:
            if self._active:
                self.reset()
            return self._out
        if not self._active:
            self._active = True
            self._start_note(0)
        else:
            self._age += 1
            self._since_onset += 1
            self._off_key += 1
        smoothed = self._push(loudness)
        if self._since_onset >= self._settle_hops:
            age = self._loudness_onset(smoothed)
            if age >= 0:
                self._start_note(age)
        if f0_hz > 0.0:
            self._follow_pitch(f0_hz)
        self._estimate_velocity(loudness)
        out = self._out
        out[0] = normalised_pitch(f0_hz)
        out[1] = loudness
        out[2] = self._key / MIDI_RANGE
        out[3] = self._velocity_sum / self._velocity_count if self._velocity_count else smoothed
        out[4] = min(self._age, self._max_age_hops) / self.frame_rate_hz
        out[5] = self._onset_decay**self._age
        return out

    def _start_note(self, age: int) -> None:
        """An onset age hops ago."""
        self._age = age
        self._since_onset = 0
        self._velocity_sum = 0.0
        self._velocity_count = 0
        self._velocity_from = max(self.config.velocity_hops[0], age)
        self.onsets += 1

    def _push(self, loudness: float) -> float:
        """Add a hop's loudness to the rings; returns the loudness averaged over one period of
        the note (fewer hops while the note is younger than that)."""
        raw = self._raw
        raw.pop(0)
        raw.append(loudness)
        self._filled += 1
        count = min(self._period_hops, self._filled, len(raw))
        smoothed = sum(raw[-count:]) / count
        self._smooth.pop(0)
        self._smooth.append(smoothed)
        return smoothed

    def _loudness_onset(self, smoothed: float) -> int:
        """Age of an onset the loudness shows at this hop, or -1 for none.

        A rise is dated at its start, the hop after the last one within a quarter of the rise
        threshold of the minimum before it (on a flat floor the minimum itself can be any hop
        of it). A fall is dated where it
        crossed half its depth in energy (3 dB down): the tracker's RMS window then holds
        about as many hops of the new note as of the old, so that crossing trails the onset
        by half the window, which is where the damped end of the old note (the dip) puts the
        start of the fall ahead of it; corrected for the period smoothing's delay.
        """
        config = self.config
        history = self._smooth
        span = min(self._filled, len(history))
        delay = (self._period_hops - 1) // 2
        rising = history[-min(span, config.rise_hops + 1) : -1]
        if rising:
            low = min(rising)
            if smoothed - low > self._rise:
                floor = low + RISE_START_SHARE * self._rise
                start = len(rising) - 1
                while rising[start] > floor:
                    start -= 1
                return len(rising) - start - 1
        window = history[-span:]
        high = max(window)
        peak = _last_index(window, high)
        flat = window[-config.flat_hops :]
        if (
            high - smoothed > self._fall
            and peak < span - config.flat_hops
            and max(flat) - min(flat) < self._flat
        ):
            half = high - HALF_ENERGY_DB / LOUDNESS_RANGE_DB
            crossing = next(i for i in range(peak, span) if window[i] <= half)
            return span - 1 - crossing + delay
        return -1

    def _follow_pitch(self, f0_hz: float) -> None:
        """Key from the pitch; a pitch that settles on another key starts a note, dated from
        the last hop the pitch was on the old key (unvoiced hops between count)."""
        midi = MIDI_A4 + 12.0 * math.log2(f0_hz / A4_HZ)
        nearest = min(127, max(0, round(midi)))
        if self._key == 0:
            self._set_key(nearest)
            return
        if abs(midi - self._key) <= self.config.departure_semitones:
            self._off_key = 0
            self._stable = 0
            return
        if nearest != self._candidate:
            self._candidate = nearest
            self._stable = 0
        self._stable += 1
        if self._stable >= self.config.confirm_hops:
            self._set_key(nearest)
            if self._since_onset >= self._settle_hops:
                self._start_note(self._off_key - 1 + self._pitch_lag_hops())
            self._off_key = 0
            self._stable = 0

    def _pitch_lag_hops(self) -> int:
        """Hops the pitch tracker goes on reporting the old key after a change: about
        pitch_lag_ms and half a period of the new note."""
        return round(self.config.pitch_lag_ms * 1e-3 * self.frame_rate_hz + self._period_hops / 2)

    def _set_key(self, key: int) -> None:
        self._key = key
        period_hops = self.frame_rate_hz / (A4_HZ * 2.0 ** ((key - MIDI_A4) / 12.0))
        self._period_hops = min(self.config.max_smoothing_hops, max(1, round(period_hops)))

    def _estimate_velocity(self, loudness: float) -> None:
        first, stop = self.config.velocity_hops
        if self._age >= self._velocity_from and self._velocity_count < stop - first:
            self._velocity_sum += loudness
            self._velocity_count += 1


def _last_index(values: list[float], value: float) -> int:
    """Index of the last occurrence of value in values."""
    return len(values) - 1 - values[::-1].index(value)


def note_inputs(
    f0_hz: np.ndarray, loudness: np.ndarray, config: NoteConfig, frame_rate_hz: float
) -> np.ndarray:
    """The model's inputs for a whole sequence, hop by hop through a fresh NoteTracker:
    exactly what the board computes (training and evaluation use this).

    Args:
        f0_hz: float32 [frames], the pitch tracker's f0 (0 unvoiced).
        loudness: float32 [frames], its loudness.

    Returns:
        float32 [frames, N_INPUTS].
    """
    if f0_hz.shape != loudness.shape or f0_hz.ndim != 1:
        raise ValueError(f"f0_hz {f0_hz.shape} and loudness {loudness.shape}: expected [frames]")
    tracker = NoteTracker(config, frame_rate_hz)
    out = np.zeros((f0_hz.shape[0], N_INPUTS), np.float32)
    for frame, (f0, level) in enumerate(zip(f0_hz.tolist(), loudness.tolist(), strict=True)):
        out[frame] = tracker.process(f0, level)
    return out
