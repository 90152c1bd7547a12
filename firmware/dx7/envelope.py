"""DX7 envelope generators: the operator output levels (OL) that a patch produces for a sequence
of notes, frame by frame. These are the envelope model's training targets and drive the synth
for a patch's "true render".

The behaviour follows the DX7 as reverse-engineered in Music Synthesizer for Android and Dexed
(``env.cc``, ``dx7note.cc``, Apache-2.0): levels live on a log scale in "microsteps" of about
0.0235 dB (1/256 of a doubling), kept in Q24 fixed point (1 << 24 = one doubling). A falling
stage is a straight line in that log scale (exponential decay of amplitude); a rising stage
first jumps to about -48 dB below full scale, then climbs with a speed proportional to its
distance from a ceiling 17 doublings up (the DX7's fast, concave attack). Stage speeds come from
rates 0..99 plus keyboard rate scaling; a stage whose level does not change waits for a
time measured on a DX7 instead. Output level, keyboard level scaling and velocity move the whole
envelope up or down on the log scale.

The EG is updated once per frame, as the DX7 and Dexed update theirs once per 64-sample block;
speeds are scaled so that a stage lasts the same time at any frame rate. Not modelled: the LFO
(amplitude modulation) and the pitch EG, which act on pitch and are the pitch tracker's business
in this instrument.

Unit of the output: linear operator output level ``OL = 2 ** (level / 2**24 - 14)``, between 0
and 2 (OL 2 = output level 99 at EG level 99). The synth adds ``2 * pi * OL * sin(...)`` radians
to the phase of the operators it modulates, and a carrier outputs ``OL * sin(...)``.
"""

from collections.abc import Sequence

import numpy as np

from firmware.dx7.notes import NoteEvent, sorted_notes
from firmware.dx7.patch import N_OPERATORS, Operator, Patch

NATIVE_RATE_HZ = 44_100.0
"""Rate at which the DX7's timing tables were measured."""
NATIVE_BLOCK = 64
"""Samples per EG update in MSFA/Dexed; rates are calibrated to it at NATIVE_RATE_HZ."""
NATIVE_FRAME_RATE_HZ = NATIVE_RATE_HZ / NATIVE_BLOCK

Q24 = 1 << 24
OL_OFFSET_DOUBLINGS = 14
"""OL = 2 ** (level_q24 / Q24 - 14): a full-scale EG (about 15 doublings) gives OL 2."""

_LEVEL_LUT = (0, 5, 9, 13, 17, 20, 23, 25, 27, 29, 31, 33, 35, 37, 39, 41, 42, 43, 45, 46)
"""Scaled value of output/EG levels 0..19 (from 20 on: level + 28), as measured on a DX7."""

_STATIC_SAMPLES = (
    1764000, 1764000, 1411200, 1411200, 1190700, 1014300, 992250, 882000, 705600, 705600,
    584325, 507150, 502740, 441000, 418950, 352800, 308700, 286650, 253575, 220500, 220500,
    176400, 145530, 145530, 125685, 110250, 110250, 88200, 88200, 74970, 61740, 61740, 55125,
    48510, 44100, 37485, 31311, 30870, 27562, 27562, 22050, 18522, 17640, 15435, 14112, 13230,
    11025, 9261, 9261, 7717, 6615, 6615, 5512, 5512, 4410, 3969, 3969, 3439, 2866, 2690, 2249,
    1984, 1896, 1808, 1411, 1367, 1234, 1146, 926, 837, 837, 705, 573, 573, 529, 441, 441,
)  # fmt: skip
"""Duration at 44.1 kHz of a stage that does not change level, for rates 0..76 (measured on a
DX7 by the MSFA authors); from rate 77 on it is 20 * (99 - rate) samples."""

_VELOCITY_CURVE = (
    0, 70, 86, 97, 106, 114, 121, 126, 132, 138, 142, 148, 152, 156, 160, 163, 166, 170, 173,
    174, 178, 181, 184, 186, 189, 190, 194, 196, 198, 200, 202, 205, 206, 209, 211, 214, 216,
    218, 220, 222, 224, 225, 227, 229, 230, 232, 233, 235, 237, 238, 240, 241, 242, 243, 244,
    246, 246, 248, 249, 250, 251, 252, 253, 254,
)  # fmt: skip
"""Velocity response by velocity // 2; 239 (velocity about 100) is the neutral point."""

_EXP_SCALING = (
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 14, 16, 19, 23, 27, 33, 39, 47, 56, 66, 80, 94, 110, 126,
    142, 158, 174, 190, 206, 222, 238, 250,
)  # fmt: skip
"""Exponential keyboard level scaling curve by group of three keys from the break point."""

_ATTACK_FLOOR = 1716 << 16
"""A rising stage starts no lower than this (about 6.7 doublings, -50 dB below full scale)."""
_ATTACK_CEILING_DOUBLINGS = 17


def scale_output_level(level: int) -> int:
    """An output or EG level 0..99 on the DX7's internal 0..127 scale (0.75 dB per step)."""
    return _LEVEL_LUT[level] if level < 20 else level + 28


def velocity_offset(velocity: int, sensitivity: int) -> int:
    """Change of an operator's level in microsteps for a key velocity 0..127 at sensitivity 0..7:
    0 at velocity about 100, negative below, slightly positive above."""
    response = _VELOCITY_CURVE[max(0, min(127, velocity)) >> 1] - 239
    return ((sensitivity * response + 7) >> 3) << 4


def rate_scaling_offset(key: int, sensitivity: int) -> int:
    """Quarter-octave rate steps added to every EG stage for a key 0..127 (faster up high)."""
    group = min(31, max(0, key // 3 - 7))
    return (sensitivity * group) >> 3


def level_scaling_offset(key: int, op: Operator) -> int:
    """Keyboard level scaling of an operator for a key, in steps of the 0..127 level scale."""
    offset = key - op.break_point - 17
    if offset >= 0:
        return _scale_curve((offset + 1) // 3, op.right_depth, op.right_curve)
    return _scale_curve((1 - offset) // 3, op.left_depth, op.left_curve)


def _scale_curve(group: int, depth: int, curve: int) -> int:
    """Level change for a distance in groups of three keys, a depth 0..99 and a curve 0..3."""
    if curve in (0, 3):  # linear
        scale = (group * depth * 329) >> 12
    else:
        scale = (_EXP_SCALING[min(group, len(_EXP_SCALING) - 1)] * depth * 329) >> 15
    return -scale if curve < 2 else scale


def operator_out_level(op: Operator, key: int, velocity: int) -> int:
    """An operator's output level for one note in microsteps: output level, keyboard level
    scaling and velocity together, the offset its EG levels sit on."""
    level = min(127, scale_output_level(op.output_level) + level_scaling_offset(key, op))
    return max(0, (level << 5) + velocity_offset(velocity, op.velocity_sensitivity))


def ol_from_level(level_q24: int) -> float:
    """Linear operator output level OL from an EG level in Q24 doublings."""
    return 2.0 ** (level_q24 / Q24 - OL_OFFSET_DOUBLINGS)


class EnvelopeGenerator:
    """One operator's four-stage EG, stepped once per frame.

    key_on starts the attack (stage 1) from the current level, stages 1..3 run to L3, which is
    held while the key is down; key_off starts the release (stage 4) towards L4.
    """

    def __init__(self, rates: Sequence[int], levels: Sequence[int], frame_rate_hz: float) -> None:
        if frame_rate_hz <= 0:
            raise ValueError(f"frame_rate_hz {frame_rate_hz}, expected > 0")
        self._rates = tuple(rates)
        self._levels = tuple(levels)
        self._speed_q24 = int(NATIVE_FRAME_RATE_HZ / frame_rate_hz * Q24)
        self._native_samples_per_frame = NATIVE_RATE_HZ / frame_rate_hz
        self._out_level = 0
        self._rate_scaling = 0
        self.reset()

    def reset(self) -> None:
        """Silence: level 0, no stage running."""
        self.level_q24 = 0
        self._stage = 4
        self._down = False
        self._target_q24 = 0
        self._rising = False
        self._increment = 0
        self._static_samples = 0.0

    def key_on(self, out_level: int, rate_scaling: int) -> None:
        """Start the attack from the current level.

        Args:
            out_level: the note's operator level in microsteps (operator_out_level).
            rate_scaling: the note's rate offset (rate_scaling_offset).
        """
        self._out_level = out_level
        self._rate_scaling = rate_scaling
        self._down = True
        self._enter(0)

    def key_off(self) -> None:
        """Start the release from the current level."""
        if self._down:
            self._down = False
            self._enter(3)

    def step(self) -> int:
        """Advance one frame; returns the level in Q24 doublings at the frame's end."""
        if self._static_samples:
            self._static_samples -= self._native_samples_per_frame
            if self._static_samples <= 0:
                self._static_samples = 0.0
                self._enter(self._stage + 1)
        if self._stage < 3 or (self._stage == 3 and not self._down):
            if self._static_samples:
                pass
            elif self._rising:
                level = max(self.level_q24, _ATTACK_FLOOR)
                level += (((_ATTACK_CEILING_DOUBLINGS << 24) - level) >> 24) * self._increment
                self._finish_if(level, level >= self._target_q24)
            else:
                level = self.level_q24 - self._increment
                self._finish_if(level, level <= self._target_q24)
        return self.level_q24

    def _finish_if(self, level: int, reached: bool) -> None:
        if reached:
            self.level_q24 = self._target_q24
            self._enter(self._stage + 1)
        else:
            self.level_q24 = level

    def _enter(self, stage: int) -> None:
        """Set up stage 0..3 (R1/L1 .. R4/L4); stage 4 is the end of the release."""
        self._stage = stage
        if stage > 3:
            return
        level = self._levels[stage]
        microsteps = ((scale_output_level(level) >> 1) << 6) + self._out_level - 4256
        self._target_q24 = max(16, microsteps) << 16
        self._rising = self._target_q24 > self.level_q24
        rate = min(63, ((self._rates[stage] * 41) >> 6) + self._rate_scaling)
        increment = (4 + (rate & 3)) << (2 + 6 + (rate >> 2))
        self._increment = (increment * self._speed_q24) >> 24
        delay = stage == 0 and level == 0
        if self._target_q24 == self.level_q24 or delay:
            static_rate = min(99, self._rates[stage] + self._rate_scaling)
            if static_rate < len(_STATIC_SAMPLES):
                samples = _STATIC_SAMPLES[static_rate] // (20 if delay else 1)
            else:
                samples = 20 * (99 - static_rate)
            self._static_samples = float(samples)
        else:
            self._static_samples = 0.0


class PatchEnvelopes:
    """The six EGs of a patch, playing one note at a time (a mono voice)."""

    def __init__(self, patch: Patch, frame_rate_hz: float) -> None:
        self._patch = patch
        self._egs = [
            EnvelopeGenerator(op.rates, op.levels, frame_rate_hz) for op in patch.operators
        ]

    def reset(self) -> None:
        for eg in self._egs:
            eg.reset()

    def note_on(self, key: int, velocity: int) -> None:
        """Start a note; key is the played MIDI note, the patch's transpose is added here."""
        key = max(0, min(127, key + self._patch.transpose))
        for op, eg in zip(self._patch.operators, self._egs, strict=True):
            rate_scaling = rate_scaling_offset(key, op.rate_scaling)
            eg.key_on(operator_out_level(op, key, velocity), rate_scaling)

    def note_off(self) -> None:
        for eg in self._egs:
            eg.key_off()

    def step(self, out: np.ndarray) -> None:
        """Advance one frame and write the six output levels (OL, OP1 first) into out [6]."""
        for index, eg in enumerate(self._egs):
            out[index] = ol_from_level(eg.step())


def operator_levels(
    patch: Patch, notes: Sequence[NoteEvent], n_frames: int, frame_rate_hz: float
) -> np.ndarray:
    """The operator output levels a patch's EGs produce for a note sequence.

    A note that starts while another is held takes over the voice (legato): the EGs restart
    their attack from where they are. A release runs until the next note starts.

    Args:
        patch: the voice.
        notes: key presses on the frame grid; no two may start on the same frame.
        n_frames: length of the result; notes beyond it are cut.
        frame_rate_hz: EG updates per second (sample rate / hop, e.g. 48000 / 64 = 750).

    Returns:
        float32 OL, shape [n_frames, 6], OP1 first; frame k holds the levels reached at the end
        of frame k, the values the synth ramps to across block k.
    """
    envelopes = PatchEnvelopes(patch, frame_rate_hz)
    levels = np.zeros((n_frames, N_OPERATORS), dtype=np.float32)
    starts = {note.start_frame: note for note in sorted_notes(notes)}
    playing: NoteEvent | None = None
    for frame in range(n_frames):
        if frame in starts:
            playing = starts[frame]
            envelopes.note_on(playing.key, playing.velocity)
        elif playing is not None and frame == playing.stop_frame:
            envelopes.note_off()
        envelopes.step(levels[frame])
    return levels
